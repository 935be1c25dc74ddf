using System.Globalization;
using Pipeline.Ingest.Live;

namespace Pipeline.Ingest.Tests.Live;

/// <summary>
/// One live recording of the mm workload, made once per test run, in every form this machine can produce:
/// <list type="bullet">
/// <item>instance A: <c>trace</c> text, per-CPU <c>trace_pipe_raw</c> pages, header and format files, cmdlines, stats
/// (<see cref="Capture"/>);</item>
/// <item>instance B, recording the same events over the same window: its <c>trace</c> text
/// (<see cref="TraceCmdText"/>) and a <c>trace-cmd extract -B</c> .dat (<see cref="TraceCmdDat"/>) when trace-cmd
/// is installed;</item>
/// <item>a separate run under <c>perf record</c> and its <c>perf script --ns</c> text (<see cref="PerfText"/>).</item>
/// </list>
/// The cross-format comparison (text vs raw vs .dat vs perf) builds on these paths.
/// </summary>
public sealed class LiveRecording : IDisposable
{
    /// <summary>Workload arguments: 64 pages, 4 rounds, THP step on.</summary>
    public static readonly string[] WorkloadArguments = ["64", "4", "1"];

    private LiveRecording(string directory)
    {
        Directory = directory;
    }

    public string Directory { get; }

    public string WorkloadExecutable { get; private set; } = "";

    public IReadOnlyList<string> EnabledEvents { get; private set; } = [];

    public IReadOnlyList<string> MissingEvents { get; private set; } = [];

    public IReadOnlyList<string> InstancePaths { get; private set; } = [];

    /// <summary>The workload run recorded by the tracefs instances.</summary>
    public WorkloadSummary Workload { get; private set; } = new(0, new Dictionary<string, long>());

    public TraceFsCapture Capture { get; private set; } = null!;

    public string? TraceCmdText { get; private set; }

    public string? TraceCmdDat { get; private set; }

    /// <summary>Why there is no .dat, when there is none.</summary>
    public string? TraceCmdMissingReason { get; private set; }

    public string? PerfText { get; private set; }

    /// <summary>The workload run recorded by perf (a second run: different pid).</summary>
    public WorkloadSummary? PerfWorkload { get; private set; }

    public string? PerfMissingReason { get; private set; }

    /// <summary>Top-level tracefs settings before and after everything above.</summary>
    public string TopLevelBefore { get; private set; } = "";

    public string TopLevelAfter { get; private set; } = "";

    public static LiveRecording Record()
    {
        var recording = new LiveRecording(System.IO.Directory.CreateTempSubdirectory("mmtrace-live-").FullName);
        try
        {
            recording.Run();
            return recording;
        }
        catch
        {
            recording.Dispose();
            throw;
        }
    }

    private void Run()
    {
        // Held from the first look at the top level to the last, so that another test process's trace-cmd extract
        // (which turns tracing_on off for a moment) cannot fall between the two snapshots.
        using var topLevelLock = TopLevelLock.Acquire();
        var root = TraceFsInstance.FindOrMountTraceFs();
        TopLevelBefore = TopLevelSnapshot(root);
        WorkloadExecutable = Pipeline.Ingest.Live.Workload.Build(Pipeline.Ingest.Live.Workload.Source("mmwork.c"));
        var (present, missing) = MmEventSet.ForKernel(root);
        EnabledEvents = present;
        MissingEvents = missing;

        // Other test assemblies run beside this one and fault, allocate and free pages by the million: only this
        // process and its children (the workload) are recorded, into a buffer roomy enough that nothing of the
        // workload is overwritten (with 4 MiB and no filter, CI once lost the workload's first events).
        var options = new TraceFsOptions { BufferSizeKb = 32768 };
        bool traceCmd = TraceCmd.IsAvailable(out var traceCmdReason);
        using (var a = TraceFsInstance.Create(present, options))
        using (var b = traceCmd ? TraceFsInstance.Create(present, options) : null)
        {
            InstancePaths = b is null ? [a.Path] : [a.Path, b.Path];
            // The filter is by thread id: every thread of this process (the workload is forked from whichever).
            int[] threads = [.. System.IO.Directory.GetDirectories("/proc/self/task").Select(t => int.Parse(Path.GetFileName(t), CultureInfo.InvariantCulture))];
            a.SetEventPidFilter(threads, followForks: true);
            b?.SetEventPidFilter(threads, followForks: true);
            a.Start();
            b?.Start();
            Workload = Pipeline.Ingest.Live.Workload.Run(WorkloadExecutable, WorkloadArguments);
            a.Stop();
            b?.Stop();

            Capture = a.Capture(Path.Combine(Directory, "tracefs"));
            if (b is not null)
            {
                TraceCmdText = Path.Combine(Directory, "tracecmd-instance-trace.txt");
                b.CopyTraceText(TraceCmdText);
                TraceCmdDat = Path.Combine(Directory, "trace.dat");
                TraceCmd.Extract(b.Name, TraceCmdDat);
            }
            else
            {
                TraceCmdMissingReason = traceCmdReason;
            }
        }

        if (PerfRecorder.IsAvailable(out var perfReason))
        {
            var data = Path.Combine(Directory, "perf.data");
            PerfText = Path.Combine(Directory, "perf.txt");
            // perf record -a keeps every process's syscalls; on a machine busy with another suite its per-CPU buffers
            // can overflow ("lost N chunks"), and the tests compare the workload's exact counts: record again (at most
            // three times) until one recording is complete.
            for (int attempt = 1; ; attempt++)
            {
                var result = PerfRecorder.Record(present, data, WorkloadExecutable, WorkloadArguments);
                PerfWorkload = WorkloadSummary.Parse(result.StandardOutput);
                if (!PerfRecorder.LostEvents(PerfRecorder.Script(data, PerfText)) || attempt == 3)
                {
                    break;
                }
            }
        }
        else
        {
            PerfMissingReason = perfReason;
        }
        TopLevelAfter = TopLevelSnapshot(root);
    }

    /// <summary>Top-level settings a recording must leave alone.</summary>
    internal static string TopLevelSnapshot(string root)
    {
        string[] files = ["tracing_on", "current_tracer", "trace_clock", "buffer_size_kb", "set_event", "set_event_pid", "events/enable", "options/record-tgid", "options/irq-info", "options/event-fork"];
        return string.Join('\n', files.Select(f => $"{f}={File.ReadAllText(Path.Combine(root, f)).Trim()}"));
    }

    /// <summary>
    /// The top-level ring buffer of a freshly booted kernel is not allocated until tracing first needs it: its
    /// <c>buffer_size_kb</c> reads <c>7 (expanded: 1408)</c>. Any tracing on the machine (another process, the
    /// kernel's own expansion when an instance is used) may allocate it, after which it reads the allocated size,
    /// rounded by the ring buffer to whole sub-buffers. That is not a setting a recording changed, so an
    /// <paramref name="after"/> snapshot whose only difference is that allocation (within 16 KiB of the promised
    /// size) is mapped back to <paramref name="before"/>'s text; any other difference is left for the caller to see.
    /// </summary>
    internal static string AllowLazyExpansion(string before, string after)
    {
        const string key = "buffer_size_kb=";
        var b = before.Split('\n');
        var a = after.Split('\n');
        if (b.Length != a.Length)
        {
            return after;
        }
        for (int i = 0; i < b.Length; i++)
        {
            if (!b[i].StartsWith(key, StringComparison.Ordinal) || !a[i].StartsWith(key, StringComparison.Ordinal))
            {
                continue;
            }
            var promised = System.Text.RegularExpressions.Regex.Match(b[i], @"^buffer_size_kb=\d+ \(expanded: (\d+)\)$");
            if (promised.Success
                && long.TryParse(a[i].AsSpan(key.Length), NumberStyles.None, CultureInfo.InvariantCulture, out long allocated)
                && Math.Abs(allocated - long.Parse(promised.Groups[1].ValueSpan, CultureInfo.InvariantCulture)) <= 16)
            {
                a[i] = b[i];
            }
        }
        return string.Join('\n', a);
    }

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
            if (WorkloadExecutable.Length > 0)
            {
                System.IO.Directory.Delete(Path.GetDirectoryName(WorkloadExecutable)!, recursive: true);
            }
        }
        catch (IOException)
        {
            // Temp files only; the OS cleans them eventually.
        }
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"recording in {Directory}: workload pid {Workload.Pid}, {EnabledEvents.Count} events, missing [{string.Join(", ", MissingEvents)}]");
}

/// <summary>Records lazily, so skipped tests never touch tracefs.</summary>
public sealed class LiveRecordingFixture : IDisposable
{
    private readonly Lazy<LiveRecording> _recording = new(LiveRecording.Record);

    public LiveRecording Recording => _recording.Value;

    public void Dispose()
    {
        if (_recording.IsValueCreated)
        {
            _recording.Value.Dispose();
        }
    }
}
