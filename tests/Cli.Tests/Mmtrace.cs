using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Pipeline.Cli.Tests;

/// <summary>Runs the built <c>mmtrace</c> the way a user does: a separate process, real arguments, exit code.</summary>
internal static partial class Mmtrace
{
    private const int SigInt = 2;

    /// <summary>
    /// How long a child may take before it counts as hung. Generous: the limit only turns a hang into a failure,
    /// and a machine shared with other builds is slow (every command's work is bounded by its input).
    /// </summary>
    internal static readonly TimeSpan Limit = TimeSpan.FromMinutes(15);

    /// <summary>How long a child gets after SIGINT to remove its tracefs instance and temporary files.</summary>
    private static readonly TimeSpan s_grace = TimeSpan.FromMinutes(2);

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
        if (!process.WaitForExit(Limit))
        {
            Stop(process);
            throw new TimeoutException($"mmtrace {string.Join(' ', args)} did not finish in {Limit.TotalMinutes} minutes.");
        }
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>
    /// Stops a running mmtrace without leaking kernel state: Ctrl-C first (SIGINT), on which <c>mmtrace record</c>
    /// removes its tracefs instance and every command its temporary files; only if it is still running after
    /// the grace period is it killed, and then the instances named after its pid are removed here.
    /// </summary>
    internal static void Stop(Process process)
    {
        if (process.HasExited)
        {
            return;
        }
        int pid = process.Id;
        _ = Kill(pid, SigInt);
        if (process.WaitForExit(s_grace))
        {
            return;
        }
        process.Kill(entireProcessTree: true);
        process.WaitForExit();
        RemoveTraceFsInstancesOf(pid);
    }

    /// <summary>
    /// Removes <c>instances/mmtrace-PID-*</c> (TraceFsInstance's naming) of a killed recorder: no handler runs on
    /// SIGKILL. rmdir of an instance directory is how tracefs deletes an instance.
    /// </summary>
    private static void RemoveTraceFsInstancesOf(int pid)
    {
        foreach (string root in (ReadOnlySpan<string>)["/sys/kernel/tracing", "/sys/kernel/debug/tracing"])
        {
            string instances = Path.Combine(root, "instances");
            if (!Directory.Exists(instances))
            {
                continue;
            }
            foreach (string directory in Directory.EnumerateDirectories(instances, $"mmtrace-{pid}-*"))
            {
                try
                {
                    Directory.Delete(directory, recursive: false);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    // Still busy or not ours to remove: the next `mmtrace record` sweeps instances of dead pids.
                }
            }
        }
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

    /// <summary>Takes over <paramref name="path"/> (a directory made elsewhere, e.g. a built workload's): deleted on dispose.</summary>
    public TempDir(string path) => Path = path;

    public string Path { get; }

    public string this[string name] => System.IO.Path.Combine(Path, name);

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
