using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Pipeline.Cli.Tests;

/// <summary>Runs the built <c>mmtrace</c> the way a user does: a separate process, real arguments, exit code.</summary>
internal static partial class Mmtrace
{
    private const int SigInt = 2;

    // Generous: the limit only turns a hang into a failure, and a busy machine is slow.
    private static readonly TimeSpan s_limit = TimeSpan.FromMinutes(15);

    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
    }

    /// <summary>The built mmtrace as a shell command (for tests that run it under a pseudo-terminal).</summary>
    public static string Command => $"dotnet '{Path.Combine(AppContext.BaseDirectory, "mmtrace.dll")}'";

    public static Result Run(params string[] args) => RunIn(Environment.CurrentDirectory, args);

    public static Result RunIn(string workingDirectory, params string[] args) => RunWith(workingDirectory, null, args);

    /// <summary>Runs with <paramref name="stdin"/> written to standard input (a pipe: not a terminal), then closed.</summary>
    public static Result RunWithInput(string stdin, params string[] args) => RunWith(Environment.CurrentDirectory, stdin, args);

    private static Result RunWith(string workingDirectory, string? stdin, string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "mmtrace.dll"));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start)!;
        if (stdin is not null)
        {
            process.StandardInput.Write(stdin);
        }
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(s_limit))
        {
            // Ctrl-C first: `mmtrace record` then removes its tracefs instance; a kill would leak it.
            _ = Kill(process.Id, SigInt);
            if (!process.WaitForExit(TimeSpan.FromSeconds(30)))
            {
                process.Kill(entireProcessTree: true);
            }
            throw new TimeoutException($"mmtrace {string.Join(' ', args)} did not finish in {s_limit.TotalMinutes} minutes.");
        }
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);

    /// <summary>A corpus file (<see cref="Pipeline.Tests.Shared.TestCorpus"/>); skips the test when a public sample is absent.</summary>
    public static string Corpus(string relative) => Pipeline.Tests.Shared.TestCorpus.File(relative);
}

/// <summary>A temporary directory removed after the test.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir() => Path = Directory.CreateTempSubdirectory("mmtrace-cli-test-").FullName;

    public string Path { get; }

    public string this[string name] => System.IO.Path.Combine(Path, name);

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
