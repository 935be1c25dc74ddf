using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace Pipeline.Ingest.Live;

/// <summary>Result of running an external program.</summary>
/// <param name="ExitCode">Process exit code.</param>
/// <param name="StandardOutput">Everything it printed on stdout.</param>
/// <param name="StandardError">Everything it printed on stderr.</param>
public sealed record ToolResult(int ExitCode, string StandardOutput, string StandardError);

/// <summary>Runs the external tools of a live recording (cc, trace-cmd, perf, the workload) with a time limit.</summary>
internal static partial class ToolProcess
{
    /// <summary>
    /// The time limit of every tool run: generous, because it only turns a hang into a failure, and the machines
    /// that run the live tests are shared with other builds (a compile or a <c>perf script</c> that takes seconds
    /// alone took minutes at load 40). The work itself is bounded by the tools' arguments.
    /// </summary>
    public static readonly TimeSpan Limit = TimeSpan.FromMinutes(15);

    /// <summary>How long a tool gets after SIGINT to finish cleanly (perf writes its file, trace-cmd its output).</summary>
    private static readonly TimeSpan s_grace = TimeSpan.FromMinutes(1);

    private const int SigInt = 2;

    /// <summary>Full path of <paramref name="name"/> on PATH, or null.</summary>
    public static string? FindOnPath(string name)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var path = Path.Combine(dir, name);
            if (File.Exists(path))
            {
                return path;
            }
        }
        return null;
    }

    /// <summary>
    /// Runs <paramref name="file"/> to completion; on timeout interrupts it (SIGINT, as Ctrl-C would), and kills
    /// its whole process tree only if it is still there a minute later, so nothing is left running; then throws.
    /// </summary>
    /// <exception cref="TimeoutException">The program ran longer than <paramref name="timeout"/>.</exception>
    public static ToolResult Run(string file, IEnumerable<string> arguments, TimeSpan timeout, string? standardOutputPath = null)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {file}.");
        var stderr = process.StandardError.ReadToEndAsync();
        Task<string> stdout;
        if (standardOutputPath is null)
        {
            stdout = process.StandardOutput.ReadToEndAsync();
        }
        else
        {
            stdout = CopyToFileAsync(process.StandardOutput.BaseStream, standardOutputPath);
        }
        if (!process.WaitForExit(timeout))
        {
            _ = Kill(process.Id, SigInt);
            if (!process.WaitForExit(s_grace))
            {
                process.Kill(entireProcessTree: true);
            }
            process.WaitForExit();
            throw new TimeoutException($"{Path.GetFileName(file)} {string.Join(' ', start.ArgumentList)} did not finish within {timeout.TotalSeconds:0} s and was killed.");
        }
        process.WaitForExit();
        return new ToolResult(process.ExitCode, stdout.GetAwaiter().GetResult(), stderr.GetAwaiter().GetResult());
    }

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);

    private static async Task<string> CopyToFileAsync(Stream source, string path)
    {
        await using var file = File.Create(path);
        await source.CopyToAsync(file).ConfigureAwait(false);
        return "";
    }
}
