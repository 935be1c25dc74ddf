using System.Globalization;
using System.Text;
using Pipeline.Ingest.Text;
using Pipeline.Storage;

namespace Pipeline.Ingest.Tests.Text;

public sealed class FtraceTextReaderTests
{
    private static readonly Dictionary<string, int> s_mmCounts = new(StringComparer.Ordinal)
    {
        ["exceptions:page_fault_user"] = 193,
        ["huge_memory:mm_collapse_huge_page"] = 1,
        ["huge_memory:mm_collapse_huge_page_isolate"] = 1,
        ["huge_memory:mm_khugepaged_scan_pmd"] = 17,
        ["kmem:mm_page_alloc"] = 190,
        ["kmem:mm_page_free"] = 1591,
        ["kmem:rss_stat"] = 760,
        ["mmap_lock:mmap_lock_acquire_returned"] = 88,
        ["mmap_lock:mmap_lock_released"] = 84,
        ["mmap_lock:mmap_lock_start_locking"] = 84,
        ["syscalls:sys_enter_mremap"] = 2,
        ["syscalls:sys_exit_mremap"] = 2,
        ["tlb:tlb_flush"] = 285,
    };

    public static TheoryData<string, int, long> CorpusFiles => new()
    {
        { "recorded/ftrace-text/mm_trace.txt", 3298, 0 },
        { "recorded/ftrace-text/mm_trace_noirq.txt", 3298, 0 },
        { "recorded/ftrace-text/mm_trace_tgid.txt", 3298, 0 },
        { "recorded/ftrace-text/mm_trace_latfmt.txt", 3298, 0 },
        { "recorded/ftrace-text/syscall_values_trace.txt", 4, 0 },
        { "recorded/ftrace-text/trace_pipe_lost.txt", 446, 111 },
        { "recorded/ftrace-text/overrun_trace.txt", 609, 29290 - 609 },
        { "recorded/ftrace-text/x86tsc_clock_trace.txt", 214, 0 },
        { "recorded/trace-cmd/mm_report.txt", 3298, 0 },
        { "recorded/trace-cmd/mm_report_t.txt", 3298, 0 },
        { "recorded/trace-cmd/mm_report_l.txt", 3298, 0 },
        { "recorded/trace-cmd/mm_report_R.txt", 3298, 0 },
        { "recorded/trace-cmd/mm_report_N.txt", 3298, 0 },
        { "recorded/trace-cmd/instance_x86tsc_report.txt", 214, 0 },
        { "recorded/raw-pages/overrun_trace_before_raw_read.txt", 4128, 116966 - 4128 },
        { "recorded/raw-pages/overrun_wrapped_v6_report.txt", 4128, 15329 },
        { "recorded/raw-pages/timeext_trace_before_raw_read.txt", 87, 0 },
        { "recorded/raw-pages/dataloc_trace_before_raw_read.txt", 5, 0 },
        { "public/tracecompass-incubator-ftrace/ftrace_syscalls.txt", 1052, 0 },
        { "public/tracecompass-incubator-ftrace/trace-android-sched-irq-syscall", 143, 912978 - 89484 },
        { "public/tracecompass-incubator-ftrace/trace-func-graph", 199, 0 },
        { "public/trappy/trace_sched.txt", 11, 0 },
        { "public/lisa/trace.txt", 2941, 0 },
    };

    [SkippableTheory]
    [MemberData(nameof(CorpusFiles))]
    public void Read_CorpusFile_AllEventsNoMalformedLines(string path, int events, long lost)
    {
        var (rows, diagnostics) = TextReading.ReadFile(new FtraceTextReader(), path, strict: true);

        Assert.Equal(events, rows.Count);
        Assert.Equal(0, diagnostics.MalformedCount);
        Assert.Equal(lost, diagnostics.LostEvents);
        Assert.All(rows, r => Assert.False(string.IsNullOrEmpty(r.Event)));
        Assert.Equal("ftrace", diagnostics.Format);
    }

    [SkippableTheory]
    [InlineData("recorded/ftrace-text/mm_trace.txt")]
    [InlineData("recorded/ftrace-text/mm_trace_latfmt.txt")]
    [InlineData("recorded/trace-cmd/mm_report.txt")]
    [InlineData("recorded/trace-cmd/mm_report_R.txt")]
    [InlineData("recorded/trace-cmd/mm_report_N.txt")]
    public void Read_MmGroup_PerEventCountsMatchTraceCmd(string path)
    {
        var (rows, _) = TextReading.ReadFile(new FtraceTextReader(), path);

        Assert.Equal(s_mmCounts, TextReading.CountByEvent(rows));
    }

    [SkippableFact]
    public void Read_PublicFiles_PerEventCountsMatchReadme()
    {
        var lisa = TextReading.CountByEvent(TextReading.ReadFile(new FtraceTextReader(), "public/lisa/trace.txt").Rows);
        // The 12 cpu_frequency_devlib the README counts with grep are the text of print (trace_marker) events.
        Assert.Equal(new Dictionary<string, int>(StringComparer.Ordinal)
        {
            ["sched:sched_switch"] = 1856, ["sched:sched_wakeup"] = 1068, ["ftrace:print"] = 14, ["sched:sched_overutilized"] = 3,
        }, lisa);
        var syscalls = TextReading.CountByEvent(TextReading.ReadFile(new FtraceTextReader(), "public/tracecompass-incubator-ftrace/ftrace_syscalls.txt").Rows);
        Assert.Equal(25, syscalls["syscalls:sys_enter_mmap"]);
        Assert.Equal(8, syscalls["syscalls:sys_enter_mprotect"]);
        Assert.Equal(3, syscalls["syscalls:sys_enter_brk"]);
        Assert.Equal(1, syscalls["syscalls:sys_enter_munmap"]);
        Assert.Equal(60, syscalls["sched:sched_switch"]);
        var android = TextReading.CountByEvent(TextReading.ReadFile(new FtraceTextReader(), "public/tracecompass-incubator-ftrace/trace-android-sched-irq-syscall").Rows);
        Assert.Equal(51, android["raw_syscalls:sys_enter"]);
        Assert.Equal(50, android["raw_syscalls:sys_exit"]);
        Assert.Equal(9, android["sched:sched_switch"]);
        Assert.Equal(5, android["sched:sched_wakeup"]);
        var graph = TextReading.CountByEvent(TextReading.ReadFile(new FtraceTextReader(), "public/tracecompass-incubator-ftrace/trace-func-graph").Rows);
        Assert.Equal(113, graph["ftrace:funcgraph_entry"]);
        Assert.Equal(86, graph["ftrace:funcgraph_exit"]);
    }

    [SkippableTheory]
    [InlineData("recorded/ftrace-text/mm_trace_noirq.txt")]
    [InlineData("recorded/ftrace-text/mm_trace_tgid.txt")]
    public void Read_LayoutVariants_SameEventsAsDefaultLayout(string path)
    {
        var expected = TextReading.ReadFile(new FtraceTextReader(), "recorded/ftrace-text/mm_trace.txt").Rows;
        var (actual, _) = TextReading.ReadFile(new FtraceTextReader(), path);

        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(Core(expected[i]), Core(actual[i]));
        }
        if (path.EndsWith("tgid.txt", StringComparison.Ordinal))
        {
            // "(-------)": the kernel had no tgid saved for the pid.
            Assert.Equal(41, actual.Count(r => r.Tgid is null));
            Assert.Equal(25561, actual[0].Tgid);
        }
        else
        {
            Assert.All(actual, r => Assert.Null(r.IrqFlags));
        }
    }

    [SkippableFact]
    public void Read_LatencyFormat_SameEventsWithTimesRelativeToBufferStart()
    {
        var expected = TextReading.ReadFile(new FtraceTextReader(), "recorded/ftrace-text/mm_trace.txt").Rows;
        var (actual, diagnostics) = TextReading.ReadFile(new FtraceTextReader(), "recorded/ftrace-text/mm_trace_latfmt.txt");

        Assert.Equal("6.18.44-fc-v657", diagnostics.KernelRelease);
        Assert.Equal(2, diagnostics.CpuCount);
        long offset = expected[0].TsNs - actual[0].TsNs;
        Assert.Equal(526_198_398_000 - 112_917_000, offset);
        for (int i = 0; i < expected.Count; i++)
        {
            // The latency clock truncates (ns - start) where the normal layout rounds ns: at most 1 µs apart.
            Assert.InRange(expected[i].TsNs - (actual[i].TsNs + offset), -1000, 1000);
            // Latency format cuts comms to 8 characters ("mm work-1" prints as "mm work-").
            Assert.StartsWith(actual[i].Comm, expected[i].Comm, StringComparison.Ordinal);
            Assert.Equal(Core(expected[i], withTime: false, withComm: false), Core(actual[i], withTime: false, withComm: false));
        }
    }

    [SkippableTheory]
    [InlineData("recorded/trace-cmd/mm_report.txt", false)]
    [InlineData("recorded/trace-cmd/mm_report_t.txt", true)]
    public void Read_TraceCmdReport_AgreesWithKernelTextOnNonPointerFields(string path, bool nanoseconds)
    {
        var kernel = TextReading.ReadFile(new FtraceTextReader(), "recorded/ftrace-text/mm_trace.txt").Rows;
        var (report, diagnostics) = TextReading.ReadFile(new FtraceTextReader(), path);

        Assert.False(diagnostics.PointersHashed);
        Assert.Equal(kernel.Count, report.Count);
        string[] pointerFields = ["mm"];
        for (int i = 0; i < kernel.Count; i++)
        {
            EventRow k = kernel[i];
            EventRow r = report[i];
            Assert.Equal((k.Event, k.Cpu, k.Pid, k.Comm), (r.Event, r.Cpu, r.Pid, r.Comm));
            // Both round to the nearest microsecond; -t keeps all nine digits.
            long reportUs = nanoseconds ? (r.TsNs + 500) / 1000 : r.TsNs / 1000;
            Assert.Equal(k.TsNs / 1000, reportUs);
            foreach (var column in EventSchema.Columns.Where(c => c.Ordinal >= EventSchema.FirstField && c.Ordinal < EventSchema.Args && !pointerFields.Contains(c.Name)))
            {
                Assert.Equal(k.FindField(column.Name), r.FindField(column.Name));
            }
        }
    }

    [SkippableFact]
    public void Read_KernelText_RecordsHeaderFacts()
    {
        var (_, diagnostics) = TextReading.ReadFile(new FtraceTextReader(), "recorded/ftrace-text/mm_trace.txt");

        Assert.Equal(2, diagnostics.CpuCount);
        Assert.True(diagnostics.PointersHashed);
        Assert.Equal(12, diagnostics.SkippedLines);
    }

    [SkippableFact]
    public void Read_RawCounterClock_KeepsTicks()
    {
        var (rows, _) = TextReading.ReadFile(new FtraceTextReader(), "recorded/ftrace-text/x86tsc_clock_trace.txt");

        Assert.Equal(1868526798228, rows[0].TsNs);
        Assert.Equal("d..1.", rows[0].IrqFlags);
    }

    [SkippableFact]
    public void Read_InstancePrefix_KeepsInstanceAndComm()
    {
        var rows = TextReading.Ftrace("cpus=2\nfmtspec:             bash-29465 [001]  1868.526798: tlb_flush:            pages=-1 reason=local mm shootdown (3)\n");

        EventRow row = Assert.Single(rows);
        Assert.Equal("bash", row.Comm);
        Assert.Equal(29465, row.Pid);
        Assert.Equal("fmtspec", row.FindField("instance"));
        Assert.Equal("-1", row.FindField("pages"));
        Assert.Equal("3", row.FindField("reason"));
    }

    [SkippableTheory]
    [InlineData("      spin-thr 2-25562   [000] d....   526.199773: page_fault_user: address=0x7fa0277e8f78 ip=0x7fa0278f68ea error_code=0x6", "spin-thr 2", 25562, 0)]
    [InlineData("   kworker/u8:3-events-77    [001] .....   526.199773: page_fault_user: address=0x1 ip=0x2 error_code=0x6", "kworker/u8:3-events", 77, 1)]
    [InlineData(" memfd:sealed-91-1420    [001] .....   526.199773: page_fault_user: address=0x1 ip=0x2 error_code=0x6", "memfd:sealed-91", 1420, 1)]
    [InlineData("           <...>-25563   [001] d..2.   526.343393: tlb_flush: pages:0 reason:flush on task switch (0)", "<...>", 25563, 1)]
    [InlineData("          <idle>-0       [1023] d..2. 123456.343393: tlb_flush: pages:0 reason:flush on task switch (0)", "<idle>", 0, 1023)]
    [InlineData("mm work--25561     0d..1. 113044us : tlb_flush: pages:-1 reason:flush on task switch (0)", "mm work-", 25561, 0)]
    public void Read_UnusualComms_SplitsCommPidCpu(string line, string comm, int pid, int cpu)
    {
        EventRow row = Assert.Single(TextReading.Ftrace(line + "\n"));

        Assert.Equal((comm, pid, cpu), (row.Comm, row.Pid, row.Cpu));
    }

    [SkippableFact]
    public void Read_StackTraceBlocks_AttachToPrecedingEventOfSameCpu()
    {
        const string text = """
                       bash-1     [001] d....   10.000001: page_fault_user: address=0x1 ip=0x2 error_code=0x6
                       bash-2     [000] d....   10.000002: page_fault_user: address=0x3 ip=0x4 error_code=0x6
                       bash-1     [001] d....   10.000003: <stack trace>
             => handle_mm_fault
             => do_user_addr_fault
                       bash-1     [001] d....   10.000004: <user stack trace>
             =>  <00007f785ae26289>
                       bash-2     [000] d....   10.000005: tlb_flush: pages:1 reason:local MM shootdown (3)
            """;

        var rows = TextReading.Ftrace(text);

        Assert.Equal(3, rows.Count);
        Assert.Equal(["handle_mm_fault", "do_user_addr_fault", "<00007f785ae26289>"], rows[0].Stack);
        Assert.Null(rows[1].Stack);
        Assert.Null(rows[2].Stack);
    }

    [SkippableFact]
    public void Read_OpTraceDialect_GivesMmopEventsWithTypedFields()
    {
        const string text = "       mm work-1-25561   [000] .....   526.198398: mmop_PteSet: mm=0x1234 address=0x7fa0279fcb70 pfn=0x118db0 level=pte write=true\n";

        EventRow row = Assert.Single(TextReading.Ftrace(text));

        Assert.Equal("mmop:PteSet", row.Event);
        Assert.Equal(0x1234UL, row.GetUInt64(Field("mm")));
        Assert.Equal(0x7fa0279fcb70UL, row.GetUInt64(Field("address")));
        Assert.Equal(0x118db0UL, row.GetUInt64(Field("pfn")));
        Assert.True(row.GetBool(Field("write")));
        Assert.Equal([new KeyValuePair<string, string>("level", "pte")], row.Args);
        Assert.Equal(526_198_398_000, row.TsNs);
    }

    [SkippableFact]
    public void Read_MalformedLine_ReportsFileLineAndExpectation()
    {
        const string text = "# tracer: nop\n           bash-1     [001] d....   10.000001: page_fault_user: address=0x1 ip=0x2 error_code=0x6\nthis is not a trace line\n";

        var (rows, diagnostics) = TextReading.ReadText(new FtraceTextReader(), text);

        Assert.Single(rows);
        Assert.Equal(1, diagnostics.MalformedCount);
        MalformedRecord record = Assert.Single(diagnostics.MalformedSamples);
        Assert.Equal(("input", 3L, "line"), (record.File, record.Position, record.PositionKind));
        Assert.Contains("expected an ftrace event line", record.Message, StringComparison.Ordinal);
        Assert.Contains("this is not a trace line", record.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// The numbers of the line prefix at their limits: the widest pid, CPU and timestamps that still fit are read
    /// exactly; one digit more makes the line malformed (reported with its line number), never a wrapped value.
    /// </summary>
    [SkippableTheory]
    [InlineData("bash-999999999 [001] d.... 10.000001: x: a=1", 10_000_001_000L, 999_999_999)]
    [InlineData("bash-1 [001] d.... 9223372036.854775807: x: a=1", long.MaxValue, 1)]
    [InlineData("bash-1 [001] d.... 9223372036854775807: x: a=1", long.MaxValue, 1)]
    [InlineData("bash-1 [001] d.... 0000000000000000000000012: x: a=1", -1L, 1)]
    [InlineData("bash-1 [001] d.... 00000000000000000012: x: a=1", 12L, 1)]
    [InlineData("bash-1 [001] d.... 10.123456789: x: a=1", 10_123_456_789L, 1)]
    [InlineData("bash-1 [001] d.... 10.1234567891: x: a=1", -1L, 1)]
    [InlineData("bash-1 [001] d.... 9223372036854775808: x: a=1", -1L, 1)]
    [InlineData("bash-1 [001] d.... 18446744073709551616: x: a=1", -1L, 1)]
    [InlineData("bash-1 [001] d.... 9223372037.000000000: x: a=1", -1L, 1)]
    [InlineData("bash-1000000000 [001] d.... 10.000001: x: a=1", -1L, 0)]
    [InlineData("bash-1 [1000000000] d.... 10.000001: x: a=1", -1L, 1)]
    public void Read_PrefixNumbersAtTheirLimits_ExactOrMalformed(string line, long tsNs, int pid)
    {
        var (rows, diagnostics) = TextReading.ReadText(new FtraceTextReader(), "bash-1 [000] d.... 1.000000: x: a=0\n" + line + "\n");

        if (tsNs < 0)
        {
            Assert.Single(rows);
            MalformedRecord record = Assert.Single(diagnostics.MalformedSamples);
            Assert.Equal(2L, record.Position);
        }
        else
        {
            Assert.Equal(0, diagnostics.MalformedCount);
            Assert.Equal((tsNs, pid), (rows[1].TsNs, rows[1].Pid));
        }
    }

    [SkippableFact]
    public void Read_StrictMode_ThrowsAtFirstMalformedLine()
    {
        const string text = "           bash-1     [001] d....   10.000001: page_fault_user: address=0x1\ngarbage\nmore garbage\n";

        var ex = Assert.Throws<TraceFormatException>(() => TextReading.ReadText(new FtraceTextReader(), text, strict: true));

        Assert.Equal(2, ex.Record.Position);
    }

    [SkippableTheory]
    [InlineData("recorded/trace-cmd/mm_v6_trimmed.dat")]
    [InlineData("recorded/perf/perf_script_ns.txt")]
    public void Read_OtherFormat_ThrowsNotFtraceText(string path)
    {
        var ex = Assert.Throws<TraceFormatException>(() => TextReading.ReadFile(new FtraceTextReader(), path));

        Assert.Contains("expected ftrace text", ex.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Read_SplitAtEveryBytePosition_SameRows()
    {
        byte[] sample = SampleLines(120);
        string expected = RenderAll(TextReading.Read(new FtraceTextReader(), new MemoryStream(sample)).Rows);

        for (int split = 1; split < sample.Length; split++)
        {
            var stream = new ChunkedStream(sample, sample.Length, split);
            Assert.Equal(expected, RenderAll(TextReading.Read(new FtraceTextReader(), stream).Rows));
        }
        Assert.Equal(expected, RenderAll(TextReading.Read(new FtraceTextReader(), new ChunkedStream(sample, 1)).Rows));
    }

    [SkippableFact]
    [UseCulture("fr-FR")]
    public void Read_UnderFrenchCulture_SameRows()
    {
        Assert.Equal("fr-FR", CultureInfo.CurrentCulture.Name);
        var french = TextReading.ReadFile(new FtraceTextReader(), "recorded/trace-cmd/mm_report_t.txt").Rows;
        var frenchConsole = TextReading.ReadFile(new ConsoleLogReader(), "public/lkml-mail/C66E1309-2069-495B-BACD-7F3282C6EC7D@nvidia.com.eml").Rows;

        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        var invariant = TextReading.ReadFile(new FtraceTextReader(), "recorded/trace-cmd/mm_report_t.txt").Rows;
        var invariantConsole = TextReading.ReadFile(new ConsoleLogReader(), "public/lkml-mail/C66E1309-2069-495B-BACD-7F3282C6EC7D@nvidia.com.eml").Rows;

        Assert.Equal(RenderAll(invariant), RenderAll(french));
        Assert.Equal(RenderAll(invariantConsole), RenderAll(frenchConsole));
        Assert.Equal(526_198_398_079, french[0].TsNs);
    }

    [SkippableFact]
    public void Read_LineLongerThanLimit_CountedAndNextLineRead()
    {
        string text = new string('x', Utf8LineReader.MaxLineLength + 100) + "\n           bash-1     [001] d....   10.000001: page_fault_user: address=0x1 ip=0x2 error_code=0x6\n";

        var (rows, diagnostics) = TextReading.ReadText(new FtraceTextReader(), text);

        Assert.Equal(2, Assert.Single(rows).SrcPos);
        MalformedRecord record = Assert.Single(diagnostics.MalformedSamples);
        Assert.Equal(1, record.Position);
        Assert.Contains("a line shorter than", record.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Read_RandomlyDamagedLines_NeverThrowsOrHangs()
    {
        byte[] sample = SampleLines(400);
        var random = new Random(1234);
        var work = Task.Run(() =>
        {
            for (int round = 0; round < 200; round++)
            {
                byte[] damaged = (byte[])sample.Clone();
                for (int k = 0; k < 40; k++)
                {
                    damaged[random.Next(damaged.Length)] = Alphabet[random.Next(Alphabet.Length)];
                }
                var (rows, diagnostics) = TextReading.Read(new FtraceTextReader(), new MemoryStream(damaged));
                Assert.InRange(rows.Count + diagnostics.MalformedCount, 300, 500);
                Assert.All(rows, r => Assert.NotEqual("", r.Event));
                TextReading.Read(new ConsoleLogReader(), new MemoryStream(damaged));
            }
        });

        // The work is bounded (200 rounds); the watchdog only turns a real hang into a failure, so it allows minutes.
        Assert.Same(work, await Task.WhenAny(work, Task.Delay(TimeSpan.FromMinutes(10))));
        await work;
    }

    [SkippableTheory]
    [InlineData("              sc-1   [000] .....   1.000001: sys_mremap(addr:")]
    [InlineData("              sc-1   [000] .....   1.000001: ")]
    [InlineData("              sc-1   [000] .....   1.000001:")]
    [InlineData("-1 [0] x 1.1: ")]
    [InlineData("a-99999999999999999999 [0] ..... 1.1: x: y")]
    [InlineData("a-1 [99999999999] ..... 1.1: x: y")]
    [InlineData("a-1 [0] ..... 99999999999999999999.999999: x: y")]
    [InlineData("CPU:1 [LOST 99999999999999999999999 EVENTS]")]
    [InlineData("           bash-1     [001] d....   10.000001: sys_foo")]
    [InlineData("           bash-1     [001] d....   10.000001: name:value")]
    public void Read_TruncatedOrOverflowingLine_DoesNotThrow(string line)
    {
        var (rows, diagnostics) = TextReading.ReadText(new FtraceTextReader(), line + "\n");

        Assert.Equal(1, rows.Count + diagnostics.MalformedCount + diagnostics.SkippedLines);
        Assert.All(rows, r => Assert.NotEqual("", r.Event));
    }

    private static ReadOnlySpan<byte> Alphabet => " -[]():.=>0123456789xabcdef#<\n\r"u8;

    private static int Field(string name) => EventSchema.TryGetField(name, out var c) ? c.Ordinal : throw new ArgumentException(name);

    private static string Core(EventRow row, bool withTime = true, bool withComm = true)
    {
        var copy = row.Clone();
        copy.SrcPos = 0;
        copy.IrqFlags = null;
        copy.Tgid = null;
        if (!withTime)
        {
            copy.TsNs = 0;
        }
        if (!withComm)
        {
            copy.Comm = "";
        }
        return TextReading.Render(copy, withPosition: false);
    }

    private static string RenderAll(List<EventRow> rows) => string.Join("\n", rows.Select(r => TextReading.Render(r)));

    private static byte[] SampleLines(int lines)
    {
        string[] all = File.ReadAllLines(Corpus.File("recorded/ftrace-text/mm_trace.txt"));
        return Encoding.UTF8.GetBytes(string.Join("\n", all.Take(lines)) + "\n");
    }
}

/// <summary>
/// A stream that returns at most <c>chunk</c> bytes per read and never reads across byte <c>split</c>, to cut
/// lines at chosen positions.
/// </summary>
internal sealed class ChunkedStream(byte[] data, int chunk, int split = 0) : Stream
{
    private int _position;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => data.Length;

    public override long Position { get => _position; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count)
    {
        int limit = _position < split ? split : data.Length;
        int n = Math.Min(Math.Min(count, chunk), limit - _position);
        Array.Copy(data, _position, buffer, offset, n);
        _position += n;
        return n;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
