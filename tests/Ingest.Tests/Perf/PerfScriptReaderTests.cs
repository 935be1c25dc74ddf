using System.Text;
using Pipeline.Ingest.Catalog;
using Pipeline.Ingest.Perf;
using Pipeline.Ingest.Tests.Text;
using Pipeline.Storage;

namespace Pipeline.Ingest.Tests.Perf;

public sealed class PerfScriptReaderTests
{
    private const string RecordedPerf = "recorded/perf/";

    public static TheoryData<string, int, string> CorpusCounts => new()
    {
        // Counts from the corpus READMEs: 896 samples in mm_perf.data, printed five ways.
        { RecordedPerf + "perf_script_ns.txt", 896, "kmem:rss_stat=252 kmem:mm_page_free=162 exceptions:page_fault_user=128 kmem:mm_page_alloc=119 mmap_lock:mmap_lock_acquire_returned=65 mmap_lock:mmap_lock_released=62 mmap_lock:mmap_lock_start_locking=62 tlb:tlb_flush=42 syscalls:sys_enter_mremap=2 syscalls:sys_exit_mremap=2" },
        { RecordedPerf + "perf_script_us.txt", 896, "kmem:rss_stat=252 kmem:mm_page_free=162 exceptions:page_fault_user=128 kmem:mm_page_alloc=119 mmap_lock:mmap_lock_acquire_returned=65 mmap_lock:mmap_lock_released=62 mmap_lock:mmap_lock_start_locking=62 tlb:tlb_flush=42 syscalls:sys_enter_mremap=2 syscalls:sys_exit_mremap=2" },
        { RecordedPerf + "perf_script_F_pid_tid.txt", 896, "kmem:rss_stat=252 kmem:mm_page_free=162 exceptions:page_fault_user=128 kmem:mm_page_alloc=119 mmap_lock:mmap_lock_acquire_returned=65 mmap_lock:mmap_lock_released=62 mmap_lock:mmap_lock_start_locking=62 tlb:tlb_flush=42 syscalls:sys_enter_mremap=2 syscalls:sys_exit_mremap=2" },
        { RecordedPerf + "perf_script_F_time_event_trace.txt", 896, "kmem:rss_stat=252 kmem:mm_page_free=162 exceptions:page_fault_user=128 kmem:mm_page_alloc=119 mmap_lock:mmap_lock_acquire_returned=65 mmap_lock:mmap_lock_released=62 mmap_lock:mmap_lock_start_locking=62 tlb:tlb_flush=42 syscalls:sys_enter_mremap=2 syscalls:sys_exit_mremap=2" },
        { RecordedPerf + "perf_script_F_ip_sym.txt", 896, "kmem:rss_stat=252 kmem:mm_page_free=162 exceptions:page_fault_user=128 kmem:mm_page_alloc=119 mmap_lock:mmap_lock_acquire_returned=65 mmap_lock:mmap_lock_released=62 mmap_lock:mmap_lock_start_locking=62 tlb:tlb_flush=42 syscalls:sys_enter_mremap=2 syscalls:sys_exit_mremap=2" },
        { "public/damo/perf.data.script", 10260, "damon:damon_aggregated=10260" },
        { "public/flamegraph/perf-cycles-instructions-01.txt", 444, ":instructions=333 :cycles=111" },
        { "public/flamegraph/perf-dd-stacks-01.txt", 11, ":cpu-clock=11" },
        { "public/flamegraph/perf-java-faults-01.txt", 23, ":page-faults=23" },
    };

    public static TheoryData<string> CorpusFileNames
    {
        get
        {
            var data = new TheoryData<string>();
            foreach (var row in CorpusCounts)
            {
                data.Add((string)row[0]);
            }
            return data;
        }
    }

    [SkippableTheory]
    [MemberData(nameof(CorpusCounts))]
    public void Read_CorpusFile_NoMalformedLinesAndReadmeCounts(string file, int expectedEvents, string expectedPerEvent)
    {
        var (rows, diagnostics) = ReadCorpus(file);

        Assert.Empty(diagnostics.MalformedSamples);
        Assert.Equal(0, diagnostics.MalformedCount);
        Assert.Equal(expectedEvents, rows.Count);
        Assert.Equal(expectedPerEvent, PerEventCounts(rows));
        Assert.Equal("perf", diagnostics.Format);
    }

    [SkippableFact]
    public void Read_DefaultLayout_MapsHeaderColumnsAndKeepsSourceLine()
    {
        var (rows, _) = ReadCorpus(RecordedPerf + "perf_script_ns.txt");

        var enter = rows.First(r => r.Event == "syscalls:sys_enter_mremap");
        Assert.Equal("mm work-1", enter.Comm);
        Assert.Equal(29497, enter.Pid);
        Assert.Null(enter.Tgid);
        Assert.Equal(0, enter.Cpu);
        Assert.Equal(724_919_279_137L, enter.TsNs);
        Assert.Equal(LineOf(RecordedPerf + "perf_script_ns.txt", "724.919279137:"), enter.SrcPos);
        Assert.Null(enter.Stack);

        var swapper = rows.First(r => r.Comm == "swapper");
        Assert.Equal(0, swapper.Pid);
    }

    [SkippableFact]
    public void Read_PidTidColumns_TidIsPidAndPidIsTgid()
    {
        var (rows, _) = ReadCorpus(RecordedPerf + "perf_script_F_pid_tid.txt");

        var spin = rows.First(r => r.Comm == "spin-thr 2");
        Assert.Equal(29499, spin.Pid);
        Assert.Equal(29497, spin.Tgid);
        Assert.All(rows, r => Assert.NotNull(r.Tgid));
    }

    [SkippableFact]
    public void Read_TimeEventTraceOnly_LeavesAbsentColumnsUnknown()
    {
        var (rows, _) = ReadCorpus(RecordedPerf + "perf_script_F_time_event_trace.txt");

        Assert.All(rows, r =>
        {
            Assert.Equal("<...>", r.Comm);
            Assert.Equal(-1, r.Pid);
            Assert.Equal(-1, r.Cpu);
            Assert.Null(r.Tgid);
        });
        Assert.Equal(724_892_814_147L, rows[0].TsNs);
    }

    [SkippableFact]
    public void Read_MmVariants_AgreeOnEventsPayloadsAndMicroseconds()
    {
        var ns = ReadCorpus(RecordedPerf + "perf_script_ns.txt").Rows;
        string[] variants = ["perf_script_us.txt", "perf_script_F_pid_tid.txt", "perf_script_F_time_event_trace.txt", "perf_script_F_ip_sym.txt"];

        foreach (var variant in variants)
        {
            var rows = ReadCorpus(RecordedPerf + variant).Rows;
            Assert.Equal(ns.Count, rows.Count);
            for (int i = 0; i < ns.Count; i++)
            {
                var (a, b) = (ns[i], rows[i]);
                string where = $"{variant} event {i} (line {b.SrcPos})";
                Assert.True(a.Event == b.Event, where);
                Assert.True(a.TsNs / 1000 == b.TsNs / 1000, $"{where}: {a.TsNs} vs {b.TsNs}");
                Assert.True(FieldsOf(a) == FieldsOf(b), $"{where}: '{FieldsOf(a)}' vs '{FieldsOf(b)}'");
                if (b.Pid >= 0)
                {
                    Assert.True(a.Pid == b.Pid && a.Cpu == b.Cpu && a.Comm == b.Comm, where);
                }
            }
        }
    }

    [SkippableFact]
    public void Read_InlineIpSym_BecomesOneFrameStackAndLeavesPayloadClean()
    {
        var (rows, _) = ReadCorpus(RecordedPerf + "perf_script_F_ip_sym.txt", new PerfScriptReader { RawPayloads = true });
        var parsed = ReadCorpus(RecordedPerf + "perf_script_F_ip_sym.txt").Rows;

        Assert.All(rows, r => Assert.Single(r.Stack!));
        Assert.Equal("ffffffff8161f78b __alloc_frozen_pages_noprof", rows[0].Stack![0]);
        Assert.Equal("page=0x13da1a pfn=0x13da1a order=0 migratetype=0 gfp_flags=GFP_HIGHUSER|__GFP_ACCOUNT", PayloadOf(rows[0]));
        Assert.Equal("GFP_HIGHUSER|__GFP_ACCOUNT", parsed[0].FindField("gfp_flags"));
        var exit = parsed.First(r => r.Event == "syscalls:sys_exit_mremap");
        Assert.Equal(0x7f5bc6403000L, exit.GetInt64(FieldOrdinal("ret")));
        Assert.Equal("7f5bc6d70a00 __GI___mremap", exit.Stack![0]);
    }

    [SkippableFact]
    public void Read_TracepointPayloads_SplitIntoTypedColumnsAndArgs()
    {
        var (rows, _) = ReadCorpus(RecordedPerf + "perf_script_ns.txt");

        var enter = rows.First(r => r.Event == "syscalls:sys_enter_mremap");
        Assert.Equal(0x7f5bc6443000UL, enter.GetUInt64(FieldOrdinal("addr")));
        Assert.Equal(0x20000UL, enter.GetUInt64(FieldOrdinal("old_len")));
        Assert.Equal(0x40000UL, enter.GetUInt64(FieldOrdinal("new_len")));
        Assert.Equal(1UL, enter.GetUInt64(FieldOrdinal("flags")));
        Assert.Equal(0UL, enter.GetUInt64(FieldOrdinal("new_addr")));
        Assert.Empty(enter.Args);

        var exit = rows.First(r => r.Event == "syscalls:sys_exit_mremap");
        Assert.Equal(0x7f5bc6403000L, exit.GetInt64(FieldOrdinal("ret")));

        var flush = rows.First(r => r.Event == "tlb:tlb_flush" && r.Comm == "memfd:sealed-91");
        Assert.Equal(-1L, flush.GetInt64(FieldOrdinal("pages")));
        Assert.Equal(0L, flush.GetInt64(FieldOrdinal("reason")));

        var lockRow = rows.First(r => r.Event == "mmap_lock:mmap_lock_acquire_returned");
        Assert.Equal(0xffff888109e68c80UL, lockRow.GetUInt64(FieldOrdinal("mm")));
        Assert.True(lockRow.IsSet(FieldOrdinal("success")) && lockRow.GetBool(FieldOrdinal("success")));

        var rss = rows.First(r => r.Event == "kmem:rss_stat");
        Assert.Equal("MM_FILEPAGES", rss.FindField("type"));
        Assert.All(rows, r => Assert.Null(r.FindField("payload")));
    }

    [SkippableFact]
    public void Read_FlamegraphStacks_KeepsFramesInnermostFirst()
    {
        var (rows, _) = ReadCorpus("public/flamegraph/perf-dd-stacks-01.txt");

        var first = rows[0];
        Assert.Equal("dd", first.Comm);
        Assert.Equal(29776, first.Pid);
        Assert.Equal(-1, first.Cpu);
        Assert.Equal(666_709_771_979_000L, first.TsNs);
        Assert.Equal(":cpu-clock", first.Event);
        Assert.Equal("10101010", first.FindField("period"));
        Assert.NotNull(first.Stack);
        Assert.Equal("414b3b fsnotify (/lib/modules/4.1.0-virtual/build/vmlinux)", first.Stack[0]);
        Assert.Equal("3d6b4c vfs_read (/lib/modules/4.1.0-virtual/build/vmlinux)", first.Stack[1]);
        Assert.Equal([6, 6, 7, 2, 4, 7, 6, 6, 2, 4, 2], rows.Select(r => r.Stack!.Count));
    }

    [SkippableFact]
    public void Read_HeaderComments_RecordKernelAndCpuCount()
    {
        var (rows, diagnostics) = ReadCorpus("public/flamegraph/perf-cycles-instructions-01.txt");

        Assert.Equal("4.13.0-rc1", diagnostics.KernelRelease);
        Assert.Equal(8, diagnostics.CpuCount);
        Assert.Equal(["993 main (/root/noploop)"], rows[0].Stack!);
        Assert.True(diagnostics.SkippedLines > 20);
    }

    [SkippableFact]
    [UseCulture("fr-FR")]
    public void Read_UnderFrenchCulture_NumbersAndTimesReadInvariantly()
    {
        // fr-FR writes "724,892814147" and groups digits with spaces: nothing may go through the culture.
        var (rows, diagnostics) = ReadCorpus(RecordedPerf + "perf_script_us.txt");

        Assert.Equal(0, diagnostics.MalformedCount);
        Assert.Equal(896, rows.Count);
        Assert.Equal(724_892_814_000L, rows[0].TsNs);
        var enter = rows.First(r => r.Event == "syscalls:sys_enter_mremap");
        Assert.Equal(0x40000UL, enter.GetUInt64(FieldOrdinal("new_len")));
        Assert.Equal("7f5bc6443000", enter.GetUInt64(FieldOrdinal("addr")).ToString("x", System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("6107", rows.First(r => r.Event == "mmap_lock:mmap_lock_start_locking").FindField("memcg_id"));
    }

    [SkippableFact]
    public void Read_MalformedLines_CountedWithLineNumbersAndNeighboursKept()
    {
        const string text =
            "            perf 29495 [001]   724.892814147:                        kmem:mm_page_alloc: page=0x13da1a order=0\n" +
            "this line is not a perf sample\n" +
            "            perf 29495 [001]   724.892860186:                exceptions:page_fault_user: address=0x7f3e647ad408\n" +
            "\t          414b3b fsnotify (vmlinux)\n" +
            "\n" +
            "\t          3d6b4c vfs_read (vmlinux)\n" +
            "            perf 29495 [00x]   724.892866515: tlb:tlb_flush: pages:-1\n";
        var diagnostics = new IngestDiagnostics();
        var sink = new ListSink();

        new PerfScriptReader().Read(new MemoryStream(Encoding.UTF8.GetBytes(text)), "bad.txt", sink, diagnostics);

        Assert.Equal(2, sink.Rows.Count);
        Assert.Equal(["414b3b fsnotify (vmlinux)"], sink.Rows[1].Stack!);
        Assert.Equal(3, diagnostics.MalformedCount);
        Assert.Equal([2L, 6L, 7L], diagnostics.MalformedSamples.Select(m => m.Position));
        Assert.All(diagnostics.MalformedSamples, m => Assert.Equal("bad.txt", m.File));
        Assert.Contains("expected '<event>:'", diagnostics.MalformedSamples[0].Message, StringComparison.Ordinal);
        Assert.Contains("without a sample line", diagnostics.MalformedSamples[1].Message, StringComparison.Ordinal);
        Assert.Contains("[<cpu>]", diagnostics.MalformedSamples[2].Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A tid or pid/tid column whose digits overflow pid_t is a malformed line, counted and named; it was read as the
    /// end of the comm ("perf 99999999999" with tid -1), silently.
    /// </summary>
    [SkippableFact]
    public void Read_TidBeyondPidT_MalformedNotPartOfTheComm()
    {
        var bytes = Encoding.UTF8.GetBytes(
            "            perf 29495 [001]   724.892814147: kmem:mm_page_alloc: pfn=0x13da1a order=0\n" +
            "            perf 99999999999 [001]   724.892860186: kmem:mm_page_alloc: pfn=0x13da1b order=0\n" +
            "            perf 29495/99999999999 [001]   724.892860187: kmem:mm_page_alloc: pfn=0x13da1c order=0\n" +
            "            perf 29495 [001]   724.892866515: kmem:mm_page_alloc: pfn=0x13da1d order=0\n");
        var diagnostics = new IngestDiagnostics();
        var sink = new ListSink();

        new PerfScriptReader().Read(new MemoryStream(bytes), "pid.txt", sink, diagnostics);

        Assert.Equal([("perf", 29495), ("perf", 29495)], sink.Rows.Select(r => (r.Comm, r.Pid)));
        Assert.Equal(2, diagnostics.MalformedCount);
        Assert.Equal([2L, 3L], diagnostics.MalformedSamples.Select(m => m.Position));
        Assert.Contains("expected a tid (or pid/tid) that fits pid_t (0..2147483647), found '99999999999'", diagnostics.MalformedSamples[0].Message, StringComparison.Ordinal);
        Assert.Contains("found '29495/99999999999'", diagnostics.MalformedSamples[1].Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Read_StrictMode_ThrowsNamingFileAndLine()
    {
        var bytes = Encoding.UTF8.GetBytes("  perf 1 [000] 1.000001: tlb:tlb_flush: pages:0\ngarbage\n");

        var ex = Assert.Throws<TraceFormatException>(() =>
            new PerfScriptReader().Read(new MemoryStream(bytes), "strict.txt", new ListSink(), new IngestDiagnostics { Strict = true }));

        Assert.Equal("strict.txt", ex.Record.File);
        Assert.Equal(2, ex.Record.Position);
        Assert.StartsWith("strict.txt:line 2:", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A binary file read with --format perf is refused at the line of its first NUL byte, not turned into samples
    /// (a trace.dat's format files read as 'event: payload' lines made 152 events of it).
    /// </summary>
    [SkippableTheory]
    [InlineData("recorded/trace-cmd/mm_v6_trimmed.dat")]
    [InlineData("recorded/perf/mm_perf.data")]
    public void Read_BinaryFile_RefusedAsNotPerfText(string path)
    {
        var ex = Assert.Throws<TraceFormatException>(() => TextReading.ReadFile(new PerfScriptReader(), path));

        Assert.Equal(Path.GetFileName(path), ex.Record.File);
        Assert.Equal(1, ex.Record.Position);
        Assert.Contains("expected perf script text, found binary data (a NUL byte)", ex.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Read_SplitAtEveryByte_SameRows()
    {
        var bytes = SmallSample();
        var expected = ReadStream(new MemoryStream(bytes)).Select(Describe).ToList();
        Assert.Equal(5, expected.Count);

        for (int split = 0; split <= bytes.Length; split++)
        {
            var rows = ReadStream(new ChunkedStream(bytes, int.MaxValue, split));
            Assert.True(expected.SequenceEqual(rows.Select(Describe)), $"split at byte {split}");
        }
        var oneByte = ReadStream(new ChunkedStream(bytes, 1));
        Assert.Equal(expected, oneByte.Select(Describe));
    }

    /// <summary>
    /// The time is the first space-separated token that reads as <c>secs.frac:</c>; colons before it, inside a comm
    /// (<c>kworker/u8:2</c>) or ending a word of one (<c>a: b</c>, <c>x 1:</c>), are not it.
    /// </summary>
    [SkippableFact]
    public void Read_CommsWithColons_TimeIsTheFirstTimeToken()
    {
        var bytes = Encoding.UTF8.GetBytes(
            "  kworker/u8:2 11 [000] 1.000001: tlb:tlb_flush: pages:0 reason:flush on task switch (0)\n" +
            "  a: b 12 [001] 2.000002: tlb:tlb_flush: pages:1 reason:flush on task switch (0)\n" +
            "  x 1: :: 13 [001] 3.000003: tlb:tlb_flush: pages:2 reason:flush on task switch (0)\n");

        var rows = ReadStream(new MemoryStream(bytes));

        Assert.Equal(["kworker/u8:2", "a: b", "x 1: ::"], rows.Select(r => r.Comm));
        Assert.Equal([1_000_001_000L, 2_000_002_000L, 3_000_003_000L], rows.Select(r => r.TsNs));
        Assert.Equal([11, 12, 13], rows.Select(r => r.Pid));
    }

    [SkippableFact]
    public void Read_NoTrailingNewlineAndCrLf_LastEventKept()
    {
        var bytes = Encoding.UTF8.GetBytes("  a 1 [000] 1.000001: tlb:tlb_flush: pages:0 reason:flush on task switch (0)\r\n  b 2 [001] 1.000002: tlb:tlb_flush: pages:1 reason:remote shootdown (1)");

        var rows = ReadStream(new MemoryStream(bytes));

        Assert.Equal(["a", "b"], rows.Select(r => r.Comm));
        Assert.Equal("0", rows[0].FindField("pages"));
        Assert.Equal("1", rows[1].FindField("pages"));
    }

    [SkippableFact]
    public void Read_LineOverOneMegabyte_CountedAndNextLineKept()
    {
        var text = "  a 1 [000] 1.000001: tlb:tlb_flush: " + new string('x', (1 << 20) + 10) + "\n  b 2 [001] 1.000002: tlb:tlb_flush: pages:1 reason:remote shootdown (1)\n";
        var diagnostics = new IngestDiagnostics();
        var sink = new ListSink();

        new PerfScriptReader().Read(new MemoryStream(Encoding.UTF8.GetBytes(text)), "long.txt", sink, diagnostics);

        Assert.Equal(["b"], sink.Rows.Select(r => r.Comm));
        Assert.Equal(2, sink.Rows[0].SrcPos);
        Assert.Equal(1, diagnostics.MalformedCount);
        Assert.Equal(1, diagnostics.MalformedSamples[0].Position);
        Assert.Contains("longer than", diagnostics.MalformedSamples[0].Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Read_Cancelled_Throws()
    {
        var bytes = File.ReadAllBytes(Corpus.File("public/damo/perf.data.script"));
        using var cts = new CancellationTokenSource();
        cts.Cancel();

        Assert.Throws<OperationCanceledException>(() =>
            new PerfScriptReader().Read(new MemoryStream(bytes), "damo", new ListSink(), new IngestDiagnostics(), cts.Token));
    }

    internal static byte[] SmallSample()
    {
        var lines = File.ReadLines(Corpus.File(RecordedPerf + "perf_script_F_pid_tid.txt")).Take(3)
            .Concat(File.ReadLines(Corpus.File("public/flamegraph/perf-dd-stacks-01.txt")).Take(12));
        return Encoding.UTF8.GetBytes(string.Join('\n', lines) + "\n");
    }

    [SkippableTheory]
    [InlineData("8192")]
    [InlineData("9000")]
    [InlineData("2147483647")]
    public void Read_CpuBeyondNrCpus_MalformedNotStored(string cpu)
    {
        var text = "            perf 29495 [001]   724.892814147:   tlb:tlb_flush: pages=1 reason=0\n" +
                   $"            perf 29495 [{cpu}]   724.892814200:   tlb:tlb_flush: pages=2 reason=0\n";
        var diagnostics = new IngestDiagnostics();
        var sink = new ListSink();
        new PerfScriptReader().Read(new MemoryStream(Encoding.UTF8.GetBytes(text)), "cpu.txt", sink, diagnostics);

        var row = Assert.Single(sink.Rows);
        Assert.Equal(1, row.Cpu);
        Assert.Equal(1, diagnostics.MalformedCount);
        Assert.Contains("expected a cpu below 8192", diagnostics.MalformedSamples[0].Message, StringComparison.Ordinal);
        Assert.Equal(2, diagnostics.MalformedSamples[0].Position);
    }

    internal static (List<EventRow> Rows, IngestDiagnostics Diagnostics) ReadCorpus(string relative, ITraceReader? reader = null)
    {
        var path = Corpus.File(relative);
        var diagnostics = new IngestDiagnostics();
        var sink = new ListSink();
        using var stream = File.OpenRead(path);
        (reader ?? new PerfScriptReader()).Read(stream, path, sink, diagnostics);
        return (sink.Rows, diagnostics);
    }

    internal static string? PayloadOf(EventRow row) => row.FindField(PayloadParser.WholePayloadKey);

    /// <summary>Every payload field the row has, typed columns first, formatted invariantly.</summary>
    internal static string FieldsOf(EventRow row)
    {
        var typed = EventSchema.Columns.Where(c => c.Ordinal >= EventSchema.FirstField && c.Ordinal < EventSchema.Args && row.IsSet(c.Ordinal))
            .Select(c => $"{c.Name}={row.FindField(c.Name)}");
        return string.Join(',', typed.Concat(row.Args.Select(a => $"{a.Key}={a.Value}")));
    }

    private static int FieldOrdinal(string name) =>
        EventSchema.TryGetField(name, out var column) ? column.Ordinal : throw new InvalidOperationException($"no column {name}");

    private static List<EventRow> ReadStream(Stream stream)
    {
        var sink = new ListSink();
        var diagnostics = new IngestDiagnostics { Strict = true };
        new PerfScriptReader().Read(stream, "sample", sink, diagnostics);
        return sink.Rows;
    }

    private static string PerEventCounts(List<EventRow> rows) =>
        string.Join(' ', rows.GroupBy(r => r.Event).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key}={g.Count()}"));

    private static long LineOf(string relative, string needle) =>
        File.ReadLines(Corpus.File(relative)).Select((l, i) => (l, i)).First(x => x.l.Contains(needle, StringComparison.Ordinal)).i + 1;

    internal static string Describe(EventRow r) =>
        $"{r.SrcPos}|{r.TsNs}|{r.Cpu}|{r.Pid}|{r.Tgid}|{r.Comm}|{r.Event}|{FieldsOf(r)}|{(r.Stack is null ? "-" : string.Join(';', r.Stack))}";
}
