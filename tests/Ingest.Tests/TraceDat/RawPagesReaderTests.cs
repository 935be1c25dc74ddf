using System.Text.RegularExpressions;
using Pipeline.Ingest.TraceDat;
using Pipeline.Storage;

namespace Pipeline.Ingest.Tests.TraceDat;

public partial class RawPagesReaderTests
{
    private static TraceEventFormats Formats() => TraceEventFormats.FromDirectory(TraceDatCorpus.Recorded("formats"));

    private static (List<EventRow> Rows, IngestDiagnostics Diagnostics, RawPagesSummary Summary) ReadRaw(params (int Cpu, string File)[] captures)
    {
        var sink = new CollectingSink();
        var diagnostics = new IngestDiagnostics();
        var streams = captures.Select(c => new RawCpuCapture(c.Cpu, File.OpenRead(TraceDatCorpus.Recorded("raw-pages", c.File)), c.File)).ToList();
        try
        {
            var summary = new RawPagesReader(Formats(), new RawPagesOptions { Clock = "local", KernelRelease = "6.18.44-fc-v657" })
                .Read(streams, "raw-pages", sink, diagnostics);
            return (sink.Rows, diagnostics, summary);
        }
        finally
        {
            streams.ForEach(s => s.Data.Dispose());
        }
    }

    [SkippableFact]
    public void Read_TimeExtendPage_Gives87EventsOfTheKernelText()
    {
        var (rows, diagnostics, _) = ReadRaw((1, "timeext_cpu1.bin"));
        var kernel = KernelTrace.Parse(TraceDatCorpus.Recorded("raw-pages", "timeext_trace_before_raw_read.txt"));

        Assert.Equal(87, kernel.Count);
        Assert.Equal(87, rows.Count);
        for (int i = 0; i < rows.Count; i++)
        {
            var m = TlbBody().Match(kernel[i].Body);
            Assert.True(m.Success, kernel[i].Body);
            var expected = $"{kernel[i].Time} {kernel[i].Cpu} {kernel[i].Pid} {kernel[i].Flags} pages={m.Groups[1].Value} reason={m.Groups[2].Value}";
            var actual = $"{KernelTrace.RoundToMicroseconds(rows[i].TsNs)} {rows[i].Cpu} {rows[i].Pid} {rows[i].IrqFlags} pages={rows[i].FindField("pages")} reason={rows[i].FindField("reason")}";
            Assert.Equal(expected, actual);
        }
        Assert.Equal(0, diagnostics.MalformedCount);
        Assert.Equal(2, diagnostics.CpuCount);
    }

    [SkippableFact]
    public void Read_DataLocPages_DecodeFilenameStrings()
    {
        var (rows, _, _) = ReadRaw((0, "dataloc_cpu0.bin"), (1, "dataloc_cpu1.bin"));
        var kernel = KernelTrace.Parse(TraceDatCorpus.Recorded("raw-pages", "dataloc_trace_before_raw_read.txt"));

        Assert.Equal(5, rows.Count);
        Assert.Equal(
            kernel.Select(k => $"{k.Time} [{k.Cpu}] {k.Pid} sched_process_exec: {k.Body[(k.Body.IndexOf(' ', StringComparison.Ordinal) + 1)..]}"),
            rows.Select(r => $"{KernelTrace.RoundToMicroseconds(r.TsNs)} [{r.Cpu}] {r.Pid} sched_process_exec: filename={r.FindField("filename")} pid={r.FindField("pid")} old_pid={r.FindField("old_pid")}"));
        Assert.All(rows, r => Assert.Equal("sched:sched_process_exec", r.Event));
    }

    [SkippableFact]
    public void Read_OverrunPages_MatchKernelTextAndCountLostEvents()
    {
        var (rows, diagnostics, summary) = ReadRaw((0, "overrun_cpu0.bin"), (1, "overrun_cpu1.bin"));
        var kernel = KernelTrace.Parse(TraceDatCorpus.Recorded("raw-pages", "overrun_trace_before_raw_read.txt"));

        Assert.Equal(kernel.Count, rows.Count);
        for (int i = 0; i < rows.Count; i++)
        {
            string name = rows[i].Event[(rows[i].Event.IndexOf(':', StringComparison.Ordinal) + 1)..];
            string expectedName = kernel[i].Body.StartsWith("sys_mremap", StringComparison.Ordinal)
                ? (kernel[i].Body.Contains("->", StringComparison.Ordinal) ? "sys_exit_mremap" : "sys_enter_mremap")
                : kernel[i].Body.StartsWith("tracing_mark_write:", StringComparison.Ordinal) ? "print" : kernel[i].Body[..kernel[i].Body.IndexOf(':', StringComparison.Ordinal)];
            Assert.Equal($"{kernel[i].Time} {kernel[i].Cpu} {kernel[i].Pid} {kernel[i].Flags} {expectedName}",
                $"{KernelTrace.RoundToMicroseconds(rows[i].TsNs)} {rows[i].Cpu} {rows[i].Pid} {rows[i].IrqFlags} {name}");
        }
        Assert.Equal(15329, summary.LostEventsByCpu[1].Counted);
        Assert.Equal(1, summary.LostEventsByCpu[0].UncountedPages);
        Assert.Equal(15330, diagnostics.LostEvents);
        Assert.Null(diagnostics.Truncated);
    }

    [SkippableFact]
    public void Read_CaptureEndingInPartialPage_KeepsWholePagesAndReportsTruncation()
    {
        var bytes = File.ReadAllBytes(TraceDatCorpus.Recorded("raw-pages", "overrun_cpu1.bin"));
        var sink = new CountingSink();
        var diagnostics = new IngestDiagnostics();
        using var partial = new MemoryStream(bytes, 0, 4096 * 3 + 100);
        new RawPagesReader(Formats()).Read([new RawCpuCapture(1, partial, "cpu1")], "partial", sink, diagnostics);

        var (full, _, _) = ReadRaw((1, "overrun_cpu1.bin"));
        int firstThreePages = full.Count(r => r.SrcPos < 4096 * 3);
        Assert.Equal(firstThreePages, sink.Count);
        Assert.Contains("partial page of 100 bytes", diagnostics.Truncated, StringComparison.Ordinal);
        Assert.Contains("byte 12288", diagnostics.Truncated, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Read_RandomBytes_CountsMalformedPagesWithoutCrashing()
    {
        var random = new Random(7);
        var noise = new byte[4096 * 64];
        random.NextBytes(noise);
        // Keep commit words small so the walker goes into the noise instead of rejecting every page at once.
        for (int page = 0; page < 64; page += 2)
        {
            noise[page * 4096 + 10] = 0;
            noise[page * 4096 + 11] = 0;
        }
        var diagnostics = new IngestDiagnostics();
        var summary = new RawPagesReader(Formats()).Read([new RawCpuCapture(0, new MemoryStream(noise), "noise")], "noise", new CountingSink(), diagnostics);
        Assert.True(diagnostics.MalformedCount >= 32, $"{diagnostics.MalformedCount} malformed");
        Assert.True(summary.EventCount < 64 * 50);
    }

    [SkippableFact]
    public void FromDirectory_CorpusFormats_LoadsEveryEvent()
    {
        var formats = Formats();
        Assert.Equal(22, formats.Events.Count);
        Assert.Equal(4096, formats.HeaderPage.PageSize);
        Assert.Equal("kmem:mm_page_alloc", formats.FindById(653)!.FullName);
    }

    [GeneratedRegex(@"pages:(-?\d+) reason:.*\((\d+)\)")]
    private static partial Regex TlbBody();
}
