using System.Globalization;

namespace Pipeline.Ingest.Live;

/// <summary>Wraps <c>perf record</c> / <c>perf script</c> for a tracepoint recording of one command.</summary>
public static class PerfRecorder
{
    /// <summary>The <c>-F</c> selection <see cref="Script"/> uses by default: every header column plus the trace text.</summary>
    public const string DefaultFields = "comm,pid,tid,cpu,time,event,trace";

    /// <summary>
    /// Whether <c>perf</c> is on PATH and can see tracepoints (a perf built without libtraceevent, or one
    /// that cannot read tracefs, lists none).
    /// </summary>
    public static bool IsAvailable(out string reason)
    {
        var perf = ToolProcess.FindOnPath("perf");
        if (perf is null)
        {
            reason = "perf is not on PATH.";
            return false;
        }
        try
        {
            var result = ToolProcess.Run(perf, ["list", "tracepoint"], ToolProcess.Limit);
            if (!result.StandardOutput.Contains("Tracepoint event", StringComparison.Ordinal))
            {
                reason = $"{perf} lists no tracepoints (built without libtraceevent, or tracefs unreadable): {result.StandardError.Trim()}";
                return false;
            }
            reason = $"{perf} sees tracepoints.";
            return true;
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or System.ComponentModel.Win32Exception)
        {
            reason = $"{perf} does not run: {ex.Message}";
            return false;
        }
    }

    /// <summary>
    /// Runs <c>perf record -e E1 -e E2 ... -a -m 4096 -o <paramref name="dataPath"/> -- <paramref name="command"/> ARGS</c>:
    /// every CPU, for as long as the command runs.
    /// </summary>
    /// <returns>perf's result; its standard output is the command's.</returns>
    /// <exception cref="InvalidOperationException">perf failed; the message names an event perf rejected when it said so.</exception>
    public static ToolResult Record(IEnumerable<string> events, string dataPath, string command, params string[] arguments)
    {
        ArgumentNullException.ThrowIfNull(events);
        var perf = ToolProcess.FindOnPath("perf") ?? throw new InvalidOperationException("perf is not on PATH.");
        var args = new List<string> { "record" };
        foreach (var evt in events)
        {
            args.Add("-e");
            args.Add(evt);
        }
        // 16 MiB per CPU (perf's default is 512 KiB): -a keeps every process's events, and a busy machine fills less.
        args.AddRange(["-a", "-m", "4096", "-o", Path.GetFullPath(dataPath), "--", command]);
        args.AddRange(arguments);
        var result = ToolProcess.Run(perf, args, ToolProcess.Limit);
        if (result.ExitCode != 0 || !File.Exists(dataPath))
        {
            throw new InvalidOperationException(
                $"perf record failed (exit {result.ExitCode.ToString(CultureInfo.InvariantCulture)}); perf said: {result.StandardError.Trim()}");
        }
        return result;
    }

    /// <summary>
    /// Whether perf script's warnings say the recording lost events: "Processed N events and lost M chunks!" (records
    /// perf could not write) or "… and lost X%!" (samples the kernel dropped).
    /// </summary>
    public static bool LostEvents(string scriptWarnings) =>
        scriptWarnings.Contains(" and lost ", StringComparison.Ordinal);

    /// <summary>Runs <c>perf script -i <paramref name="dataPath"/> -F <paramref name="fields"/> --ns</c> into <paramref name="textPath"/>.</summary>
    /// <returns>perf's warnings (standard error), e.g. print-fmt helpers its libtraceevent lacks.</returns>
    /// <exception cref="InvalidOperationException">perf script failed.</exception>
    public static string Script(string dataPath, string textPath, string fields = DefaultFields)
    {
        var perf = ToolProcess.FindOnPath("perf") ?? throw new InvalidOperationException("perf is not on PATH.");
        var result = ToolProcess.Run(perf, ["script", "-i", Path.GetFullPath(dataPath), "-F", fields, "--ns"], ToolProcess.Limit, standardOutputPath: textPath);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"perf script -i {dataPath} failed (exit {result.ExitCode.ToString(CultureInfo.InvariantCulture)}): {result.StandardError.Trim()}");
        }
        return result.StandardError.Trim();
    }
}
