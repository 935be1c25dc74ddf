using System.Globalization;
using System.Text.RegularExpressions;
using Pipeline.Ingest.Live;
using Pipeline.Ingest.Perf;
using Pipeline.Ingest.Tests.Text;
using Pipeline.Storage;
using Xunit.Abstractions;

namespace Pipeline.Ingest.Tests.Live;

/// <summary>
/// Records the mm workload on this kernel and checks each capture is complete. The cross-format comparison
/// (the same events through the ftrace text, raw page, trace.dat and perf readers) extends this class.
/// </summary>
[Collection(LiveCollection.Name)]
public sealed partial class LiveRecordingTests(LiveRecordingFixture fixture, ITestOutputHelper output) : IClassFixture<LiveRecordingFixture>
{
    [LiveFact(NeedsCompiler = true)]
    public void Record_MmWorkload_TextHasTheWorkloadsMremapCalls()
    {
        var recording = fixture.Recording;
        output.WriteLine(recording.ToString());

        var text = File.ReadAllLines(recording.Capture.TraceTextPath);
        Assert.StartsWith("# tracer: nop", text[0], StringComparison.Ordinal);
        var pid = recording.Workload.Pid.ToString(CultureInfo.InvariantCulture);
        // Kernel text: "mmwork-1234 (1234) [000] ..... 12.345678: sys_mremap(addr: ...)" with record-tgid.
        var enter = text.Count(l => Regex.IsMatch(l, $@"-{pid}\s+\(\s*{pid}\)\s+\[\d+\].*: sys_mremap\("));
        var exit = text.Count(l => Regex.IsMatch(l, $@"-{pid}\s+\(\s*{pid}\)\s+\[\d+\].*: sys_mremap -> "));
        Assert.Equal(recording.Workload.Counts["mremap"], enter);
        Assert.Equal(recording.Workload.Counts["mremap"], exit);
        var munmaps = text.Count(l => l.Contains($"-{pid} ", StringComparison.Ordinal) && l.Contains(": sys_munmap(", StringComparison.Ordinal));
        // The dynamic loader unmaps too, before main: at least the workload's own calls.
        Assert.InRange(munmaps, recording.Workload.Counts["munmap"], recording.Workload.Counts["munmap"] + 8);
    }

    [LiveFact(NeedsCompiler = true)]
    public void Record_MmWorkload_RawCaptureIsComplete()
    {
        var recording = fixture.Recording;
        var capture = recording.Capture;

        Assert.Equal(Environment.ProcessorCount, capture.RawCpuPaths.Count);
        var sizes = capture.RawCpuPaths.Select(p => new FileInfo(p).Length).ToList();
        int pageSize = Environment.SystemPageSize;
        Assert.All(sizes, s => Assert.Equal(0, s % pageSize));
        Assert.True(sizes.Sum() > 0, "raw pages hold the recorded events");
        Assert.Contains("field: u64 timestamp", File.ReadAllText(capture.HeaderPagePath), StringComparison.Ordinal);
        Assert.Contains("type_len", File.ReadAllText(capture.HeaderEventPath), StringComparison.Ordinal);
        Assert.True(capture.FormatPaths.Count >= recording.EnabledEvents.Count, "globs expand to one format per event");
        foreach (var evt in capture.FormatPaths.Keys)
        {
            var format = File.ReadAllText(capture.FormatPaths[evt]);
            Assert.StartsWith($"name: {evt[(evt.IndexOf(':', StringComparison.Ordinal) + 1)..]}\nID: ", format, StringComparison.Ordinal);
            Assert.Contains("print fmt:", format, StringComparison.Ordinal);
        }
        Assert.Contains("syscalls:sys_enter_mremap", capture.FormatPaths.Keys);
        Assert.Contains("mmap_lock:mmap_lock_start_locking", capture.FormatPaths.Keys);
        Assert.Contains($"{recording.Workload.Pid} mmwork", File.ReadAllText(capture.SavedCmdlinesPath), StringComparison.Ordinal);
        Assert.Equal(Environment.ProcessorCount, capture.Stats.Count);
        output.WriteLine(string.Join("; ", capture.Stats.Select(s => $"cpu{s.Cpu}: {s.Entries} entries, {s.Lost} lost")));
        output.WriteLine($"events this kernel lacks: [{string.Join(", ", recording.MissingEvents)}]");
    }

    [LiveFact(NeedsCompiler = true)]
    public void Record_MmWorkload_InstancesRemovedAndTopLevelUntouched()
    {
        var recording = fixture.Recording;

        Assert.All(recording.InstancePaths, p => Assert.False(Directory.Exists(p), $"{p} left behind"));
        TraceFsInstanceTests.AssertNoInstanceOfThisProcess();
        Assert.Equal(recording.TopLevelBefore, LiveRecording.AllowLazyExpansion(recording.TopLevelBefore, recording.TopLevelAfter));
        // The top level is the machine's, not this test's: another test process's trace-cmd extract turns tracing_on
        // off while it reads (TopLevelLock keeps that out of these reads); a tracer outside the tests may also hold
        // it for a moment, so it is looked at again a bounded number of times; what stays changed is this test's
        // to explain.
        string root = TraceFsInstance.FindOrMountTraceFs();
        string now;
        using (TopLevelLock.Acquire())
        {
            now = LiveRecording.TopLevelSnapshot(root);
            for (int attempt = 0; attempt < 50 && LiveRecording.AllowLazyExpansion(recording.TopLevelBefore, now) != recording.TopLevelBefore; attempt++)
            {
                Thread.Sleep(200);
                now = LiveRecording.TopLevelSnapshot(root);
            }
        }
        Assert.Equal(recording.TopLevelBefore, LiveRecording.AllowLazyExpansion(recording.TopLevelBefore, now));
    }

    [LiveFact(NeedsCompiler = true, NeedsTraceCmd = true)]
    public void Record_MmWorkload_TraceCmdDatExtractedFromTwinInstance()
    {
        var recording = fixture.Recording;
        Assert.True(recording.TraceCmdDat is not null, $"trace-cmd is available but made no trace.dat: {recording.TraceCmdMissingReason}");

        var head = new byte[10];
        using (var file = File.OpenRead(recording.TraceCmdDat))
        {
            file.ReadExactly(head);
        }
        Assert.Equal("\u0017\bDtracing"u8.ToArray(), head);
        var pid = recording.Workload.Pid.ToString(CultureInfo.InvariantCulture);
        var twinText = File.ReadAllLines(recording.TraceCmdText!);
        Assert.Equal(recording.Workload.Counts["mremap"], twinText.Count(l => l.Contains($"-{pid} ", StringComparison.Ordinal) && l.Contains(": sys_mremap(", StringComparison.Ordinal)));
    }

    [LiveFact(NeedsCompiler = true, NeedsPerf = true)]
    public void Record_MmWorkload_PerfScriptReadsTheWorkloadsMremapCalls()
    {
        var recording = fixture.Recording;
        Assert.True(recording.PerfText is not null, $"perf is available but made no capture: {recording.PerfMissingReason}");

        var diagnostics = new IngestDiagnostics();
        var sink = new ListSink();
        using (var stream = File.OpenRead(recording.PerfText))
        {
            new PerfScriptReader().Read(stream, recording.PerfText, sink, diagnostics);
        }

        Assert.Equal(0, diagnostics.MalformedCount);
        int pid = recording.PerfWorkload!.Pid;
        var mine = sink.Rows.Where(r => r.Tgid == pid).ToList();
        Assert.Equal(recording.PerfWorkload.Counts["mremap"], mine.Count(r => r.Event == "syscalls:sys_enter_mremap"));
        Assert.Equal(recording.PerfWorkload.Counts["mremap"], mine.Count(r => r.Event == "syscalls:sys_exit_mremap"));
        Assert.InRange(mine.Count(r => r.Event == "syscalls:sys_enter_munmap"), recording.PerfWorkload.Counts["munmap"], recording.PerfWorkload.Counts["munmap"] + 8);
        // perf's forked child is "perf-exec" until it execs the workload, which then names itself "mmwork".
        Assert.All(mine.Where(r => r.Event.EndsWith("_mremap", StringComparison.Ordinal)), r => Assert.Equal("mmwork", r.Comm));
        Assert.True(mine.Select(r => r.TsNs).SequenceEqual(mine.Select(r => r.TsNs).Order()), "one thread's events are in time order");
    }
}
