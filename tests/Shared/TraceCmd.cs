using System.Globalization;

namespace Pipeline.Ingest.Live;

/// <summary>Wraps the <c>trace-cmd</c> program for turning a tracefs instance into a <c>trace.dat</c> file.</summary>
public static class TraceCmd
{
    /// <summary>Whether <c>trace-cmd</c> is on PATH and runs.</summary>
    public static bool IsAvailable(out string reason)
    {
        var path = ToolProcess.FindOnPath("trace-cmd");
        if (path is null)
        {
            reason = "trace-cmd is not on PATH (apt-get install trace-cmd).";
            return false;
        }
        try
        {
            var result = ToolProcess.Run(path, ["--version"], ToolProcess.Limit);
            var version = (result.StandardOutput + result.StandardError).Trim().Split('\n').FirstOrDefault(l => l.Contains("version", StringComparison.Ordinal));
            reason = version is null ? $"{path} did not print a version." : $"{path}: {version.Trim()}";
            return version is not null;
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or System.ComponentModel.Win32Exception)
        {
            reason = $"{path} does not run: {ex.Message}";
            return false;
        }
    }

    /// <summary>
    /// Runs <c>trace-cmd extract -B <paramref name="instanceName"/> -o <paramref name="outputPath"/></c>.
    /// trace-cmd consumes the instance's buffer and then removes the instance itself; when it was created by a
    /// <see cref="TraceFsInstance"/>, disposing that afterwards is a no-op. trace-cmd 3.1 also rewrites the
    /// top-level <c>buffer_size_kb</c> (an unexpanded "7 (expanded: 1408)" becomes 1410), so the top-level
    /// size, clock and <c>tracing_on</c> are restored afterwards if they changed.
    /// </summary>
    /// <returns>trace-cmd's output (stdout and stderr).</returns>
    /// <exception cref="InvalidOperationException">trace-cmd is missing, failed, or wrote no file.</exception>
    public static string Extract(string instanceName, string outputPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(instanceName);
        ArgumentException.ThrowIfNullOrEmpty(outputPath);
        var traceCmd = ToolProcess.FindOnPath("trace-cmd") ?? throw new InvalidOperationException("trace-cmd is not on PATH (apt-get install trace-cmd).");
        var root = TraceFsInstance.FindOrMountTraceFs();
        if (!Directory.Exists(Path.Combine(root, "instances", instanceName)))
        {
            throw new InvalidOperationException($"No tracefs instance '{instanceName}' under {root}/instances to extract.");
        }
        ToolResult result;
        using (TopLevelLock.Acquire())
        {
            var topLevel = TopLevelSettings.Read(root);
            try
            {
                result = ToolProcess.Run(traceCmd, ["extract", "-B", instanceName, "-o", Path.GetFullPath(outputPath)], ToolProcess.Limit);
            }
            finally
            {
                topLevel.RestoreIfChanged(root);
            }
        }
        var output = (result.StandardOutput + result.StandardError).Trim();
        if (result.ExitCode != 0 || !File.Exists(outputPath))
        {
            throw new InvalidOperationException($"trace-cmd extract -B {instanceName} -o {outputPath} failed (exit {result.ExitCode.ToString(CultureInfo.InvariantCulture)}): {output}");
        }
        return output;
    }

    /// <summary>
    /// The top-level settings trace-cmd is known to touch. Only what changed is written back, so a run that
    /// changes nothing writes nothing.
    /// </summary>
    private sealed record TopLevelSettings(string BufferSizeKb, string TracingOn, string Clock)
    {
        public static TopLevelSettings Read(string root) => new(
            File.ReadAllText(Path.Combine(root, "buffer_size_kb")).Trim(),
            File.ReadAllText(Path.Combine(root, "tracing_on")).Trim(),
            CurrentClock(File.ReadAllText(Path.Combine(root, "trace_clock"))));

        public void RestoreIfChanged(string root)
        {
            var now = Read(root);
            if (now.BufferSizeKb != BufferSizeKb)
            {
                // "7 (expanded: 1408)": the buffer was never allocated; the kernel cannot shrink back to that state,
                // so restore the size it would have had once used.
                int open = BufferSizeKb.IndexOf("(expanded: ", StringComparison.Ordinal);
                var size = open >= 0 ? BufferSizeKb[(open + 11)..].TrimEnd(')') : BufferSizeKb;
                if (size != now.BufferSizeKb)
                {
                    File.WriteAllText(Path.Combine(root, "buffer_size_kb"), size + "\n");
                }
            }
            if (now.Clock != Clock)
            {
                File.WriteAllText(Path.Combine(root, "trace_clock"), Clock + "\n");
            }
            if (now.TracingOn != TracingOn)
            {
                File.WriteAllText(Path.Combine(root, "tracing_on"), TracingOn + "\n");
            }
        }

        private static string CurrentClock(string clocks)
        {
            int open = clocks.IndexOf('[', StringComparison.Ordinal);
            int close = clocks.IndexOf(']', StringComparison.Ordinal);
            return open >= 0 && close > open ? clocks[(open + 1)..close] : clocks.Trim();
        }
    }
}

/// <summary>
/// Serializes, across test processes on one machine, the code that changes the tracefs top level for a moment
/// (trace-cmd extract turns <c>tracing_on</c> off while it reads, then the settings are restored) with the code
/// that checks the top level was left alone. Two test suites run side by side on a developer's machine (and test
/// assemblies run in parallel within one suite): without it one suite's check reads the other's transient
/// <c>tracing_on=0</c>. An advisory lock on a file in the temporary directory (.NET takes <c>flock</c> for
/// <see cref="FileShare.None"/>), re-entrant on the thread that holds it, released when the process dies.
/// </summary>
public static class TopLevelLock
{
    private static readonly object s_gate = new();
    private static FileStream? s_file;
    private static int s_depth;

    /// <summary>Waits for the machine-wide lock; dispose the result to release it.</summary>
    public static IDisposable Acquire()
    {
        Monitor.Enter(s_gate);
        try
        {
            if (s_depth == 0)
            {
                s_file = OpenExclusive(Path.Combine(Path.GetTempPath(), "mmtrace-tests-tracefs-toplevel.lock"));
            }
            s_depth++;
        }
        catch
        {
            Monitor.Exit(s_gate);
            throw;
        }
        return new Releaser();
    }

    private static FileStream OpenExclusive(string path)
    {
        // Bounded by attempts, not a clock: a holder records one workload (a few minutes on a loaded machine).
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (attempt < 18_000)
            {
                Thread.Sleep(100);
            }
        }
    }

    private sealed class Releaser : IDisposable
    {
        private bool _disposed;

        public void Dispose()
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            if (--s_depth == 0)
            {
                s_file!.Dispose();
                s_file = null;
            }
            Monitor.Exit(s_gate);
        }
    }
}
