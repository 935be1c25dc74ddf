using System.Diagnostics;
using Pipeline.Ingest.TraceDat;
using Pipeline.Storage;

namespace Pipeline.Ingest.Live;

/// <summary>What <c>mmtrace record</c> was asked to do.</summary>
public sealed record RecordOptions
{
    /// <summary>Dataset directory to write.</summary>
    public required string Output { get; init; }

    /// <summary>The command to run while recording, and its arguments.</summary>
    public required IReadOnlyList<string> Command { get; init; }

    /// <summary>A list of <c>system:event</c> names or globs; the entry "mm" stands for <see cref="MmEventSet.All"/>.</summary>
    public IReadOnlyList<string> Events { get; init; } = ["mm"];

    /// <summary>Per-CPU ring buffer size.</summary>
    public int BufferSizeKb { get; init; } = 16384;
}

/// <summary>What a recording produced.</summary>
public sealed record RecordResult(
    int CommandExitCode,
    long Events,
    long LostEvents,
    IReadOnlyList<string> EnabledEvents,
    IReadOnlyList<string> MissingEvents,
    string? Truncated);

/// <summary>
/// Records a command into a private tracefs instance and ingests the per-CPU raw buffers directly (the
/// trace.dat page reader over <c>trace_pipe_raw</c>), so nothing goes through text. The instance is removed on
/// success, error and Ctrl-C.
/// </summary>
public static class LiveRecorder
{
    /// <summary>Runs <see cref="RecordOptions.Command"/> under tracing and writes the dataset.</summary>
    /// <exception cref="IOException">tracefs is not writable here, or the command cannot be started.</exception>
    public static RecordResult Record(RecordOptions options, TextWriter? log = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Command.Count == 0)
        {
            throw new ArgumentException("Give the command to record after '--'.", nameof(options));
        }
        if (!TraceFsInstance.IsAvailable(out var reason))
        {
            throw new IOException($"Cannot record: {reason}");
        }
        var root = TraceFsInstance.FindOrMountTraceFs();
        // "mm" may stand alone or lead a list (what coverage's record lines ask for: mm plus the events a race needs):
        // entries of the mm set this kernel lacks are skipped with a note, explicit entries must exist.
        IReadOnlyList<string> present = options.Events;
        IReadOnlyList<string> missing = [];
        if (options.Events.Contains("mm"))
        {
            var (mmPresent, mmMissing) = MmEventSet.ForKernel(root);
            present = [.. mmPresent, .. options.Events.Where(e => e != "mm" && !mmPresent.Contains(e))];
            missing = mmMissing;
        }
        foreach (var name in missing)
        {
            log?.WriteLine($"record: this kernel has no event {name}; recording without it");
        }

        using var dataset = DatasetWriter.Create(options.Output);
        using var trace = dataset.BeginTrace();
        var capture = Path.Combine(dataset.TemporaryDirectory, ".capture");
        int exitCode;
        IReadOnlyList<string> enabled;
        TraceFsCapture files;
        using (var instance = TraceFsInstance.Create(present, new TraceFsOptions { BufferSizeKb = options.BufferSizeKb }))
        {
            enabled = instance.EnabledEvents;
            instance.Start();
            exitCode = RunCommand(options.Command, cancellationToken);
            instance.Stop();
            cancellationToken.ThrowIfCancellationRequested();
            files = instance.Capture(capture);
        }

        var diagnostics = new IngestDiagnostics();
        var formats = TraceEventFormats.FromDirectory(Path.GetDirectoryName(files.HeaderPagePath)!);
        var streams = files.RawCpuPaths.Select((path, cpu) => new RawCpuCapture(cpu, File.OpenRead(path), Path.GetFileName(path))).ToList();
        try
        {
            var reader = new RawPagesReader(formats, new RawPagesOptions
            {
                SavedCmdlines = File.ReadAllText(files.SavedCmdlinesPath),
                SavedTgids = files.SavedTgidsPath is { } tgids ? File.ReadAllText(tgids) : null,
                Clock = "local",
                KernelRelease = File.ReadAllText("/proc/sys/kernel/osrelease").Trim(),
            });
            reader.Read(streams, capture, trace.Events, diagnostics, cancellationToken);
        }
        finally
        {
            streams.ForEach(s => s.Data.Dispose());
        }
        // Events the ring buffer overwrote before we read it show in the per-CPU stats, not in the pages.
        long overrun = files.Stats.Sum(s => s.Lost);
        diagnostics.LostEvents = Math.Max(diagnostics.LostEvents, overrun);
        diagnostics.CpuCount ??= files.Stats.Count;
        diagnostics.Clock ??= "local";
        Directory.Delete(capture, recursive: true);

        DatasetMeta meta = trace.Complete(diagnostics, []);
        dataset.Commit();
        return new RecordResult(exitCode, meta.Events, diagnostics.LostEvents, enabled, missing, diagnostics.Truncated);
    }

    private static int RunCommand(IReadOnlyList<string> command, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(command[0]) { UseShellExecute = false };
        foreach (var argument in command.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new IOException($"Could not start '{command[0]}'.");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new IOException($"Could not start '{command[0]}': {e.Message}", e);
        }
        using (process)
        using (cancellationToken.Register(() =>
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Already exited.
            }
        }))
        {
            process.WaitForExit();
            return process.ExitCode;
        }
    }
}
