using System.Globalization;
using Pipeline.Ingest.Perf;
using Pipeline.Ingest.Tests.Text;
using Pipeline.Ingest.Text;
using Pipeline.Ingest.TraceDat;
using Pipeline.Storage;

namespace Pipeline.Ingest.Tests.Live;

/// <summary>
/// The same live recording through every reader: the kernel's <c>trace</c> text against the trace.dat that
/// <c>trace-cmd extract</c> made of the same buffer, and against the raw per-CPU pages; perf's capture of a
/// second run against the workload's own counts.
/// </summary>
public sealed partial class LiveRecordingTests
{
    // Fields that are real values in both renderings (pointers are hashed in kernel text, so mm/ip are left out).
    private static readonly string[] s_comparableFields =
        ["addr", "old_len", "new_len", "flags", "new_addr", "ret", "len", "prot", "address", "error_code", "pfn", "order", "pages", "reason", "write", "success"];

    [LiveFact(NeedsCompiler = true, NeedsTraceCmd = true)]
    public void Record_MmWorkload_TextAndTraceDatAgreeRowForRow()
    {
        var recording = fixture.Recording;
        Assert.True(recording.TraceCmdDat is not null, $"trace-cmd is needed for this test: {recording.TraceCmdMissingReason}");

        var text = Read(new FtraceTextReader(), recording.TraceCmdText!);
        var dat = Read(new TraceDatReader(), recording.TraceCmdDat!);

        AssertSameRows(text, dat, "trace text", "trace.dat");
        Assert.Contains(dat, r => r.Event == "syscalls:sys_enter_mremap" && r.Pid == recording.Workload.Pid);
    }

    [LiveFact(NeedsCompiler = true)]
    public void Record_MmWorkload_TextAndRawPagesAgreeRowForRow()
    {
        var recording = fixture.Recording;
        var capture = recording.Capture;
        var text = Read(new FtraceTextReader(), capture.TraceTextPath);

        var formats = TraceEventFormats.FromDirectory(Path.GetDirectoryName(capture.HeaderPagePath)!);
        var streams = capture.RawCpuPaths.Select((p, cpu) => new RawCpuCapture(cpu, File.OpenRead(p), Path.GetFileName(p))).ToList();
        var sink = new ListSink();
        var diagnostics = new IngestDiagnostics();
        try
        {
            new RawPagesReader(formats, new RawPagesOptions { SavedCmdlines = File.ReadAllText(capture.SavedCmdlinesPath), Clock = "local" })
                .Read(streams, "raw", sink, diagnostics);
        }
        finally
        {
            streams.ForEach(s => s.Data.Dispose());
        }
        Assert.Equal(0, diagnostics.MalformedCount);
        AssertSameRows(text, sink.Rows, "trace text", "raw pages");
    }

    [LiveFact(NeedsCompiler = true, NeedsPerf = true)]
    public void Record_MmWorkload_PerfNamesEventsLikeTheOtherReaders()
    {
        var recording = fixture.Recording;
        Assert.True(recording.PerfText is not null, $"perf is needed for this test: {recording.PerfMissingReason}");
        var perf = Read(new PerfScriptReader(), recording.PerfText!);
        var text = Read(new FtraceTextReader(), recording.Capture.TraceTextPath);

        int perfPid = recording.PerfWorkload!.Pid;
        var perfWorkloadEvents = perf.Where(r => r.Pid == perfPid).Select(r => r.Event).ToHashSet(StringComparer.Ordinal);
        var textWorkloadEvents = text.Where(r => r.Pid == recording.Workload.Pid).Select(r => r.Event).ToHashSet(StringComparer.Ordinal);
        // Both runs are the same program with the same arguments: the syscall events they produce are named alike.
        var perfSyscalls = perfWorkloadEvents.Where(e => e.StartsWith("syscalls:", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
        var textSyscalls = textWorkloadEvents.Where(e => e.StartsWith("syscalls:", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(textSyscalls, perfSyscalls);
        Assert.Equal(recording.PerfWorkload.Counts["mremap"], perf.Count(r => r.Pid == perfPid && r.Event == "syscalls:sys_exit_mremap"));
    }

    private static List<EventRow> Read(ITraceReader reader, string path)
    {
        var sink = new ListSink();
        var diagnostics = new IngestDiagnostics();
        using (var stream = File.OpenRead(path))
        {
            reader.Read(stream, path, sink, diagnostics);
        }
        Assert.True(diagnostics.MalformedCount == 0, $"{path}: {diagnostics.MalformedCount} malformed, first: {diagnostics.MalformedSamples.FirstOrDefault()}");
        return sink.Rows;
    }

    /// <summary>
    /// Kernel text rounds to the µs ((ns + 500) / 1000, docs/trace-formats.md §1); binary readers keep ns. Rows are
    /// compared in (µs, cpu) order because equal-µs events of different CPUs may be printed in either order.
    /// </summary>
    private static void AssertSameRows(List<EventRow> text, List<EventRow> binary, string textName, string binaryName)
    {
        Assert.Equal(
            text.GroupBy(r => r.Event).ToDictionary(g => g.Key, g => g.Count()).OrderBy(p => p.Key, StringComparer.Ordinal),
            binary.GroupBy(r => r.Event).ToDictionary(g => g.Key, g => g.Count()).OrderBy(p => p.Key, StringComparer.Ordinal));

        static long Micros(long ns) => (ns + 500) / 1000;
        var left = text.Select((r, i) => (Row: r, Key: (Micros(r.TsNs), r.Cpu, i))).OrderBy(x => x.Key).Select(x => x.Row).ToList();
        var right = binary.Select((r, i) => (Row: r, Key: (Micros(r.TsNs), r.Cpu, i))).OrderBy(x => x.Key).Select(x => x.Row).ToList();
        Assert.Equal(left.Count, right.Count);
        for (int i = 0; i < left.Count; i++)
        {
            var (a, b) = (left[i], right[i]);
            string where = string.Create(CultureInfo.InvariantCulture, $"row {i}: {textName} line {a.SrcPos} vs {binaryName} byte {b.SrcPos}");
            Assert.True(a.Event == b.Event, $"{where}: event {a.Event} vs {b.Event}");
            Assert.True(a.Cpu == b.Cpu && a.Pid == b.Pid, $"{where}: cpu/pid {a.Cpu}/{a.Pid} vs {b.Cpu}/{b.Pid}");
            Assert.True(Micros(a.TsNs) == Micros(b.TsNs), $"{where}: ts {a.TsNs} vs {b.TsNs}");
            foreach (var field in s_comparableFields)
            {
                var (x, y) = (a.FindField(field), b.FindField(field));
                Assert.True(x == y, $"{where} ({a.Event}): {field} = {x ?? "null"} vs {y ?? "null"}");
            }
        }
    }
}
