using System.Globalization;
using Pipeline.Ingest.TraceDat;
using Pipeline.Storage;

namespace Pipeline.Ingest.Tests.TraceDat;

public class TraceDatReaderTests
{
    public static TheoryData<string> MmFiles => new()
    {
        "mm_v6_trimmed.dat",
        "mm_v7_trimmed_nocomp.dat",
        "mm_v7_trimmed_zstd.dat",
        "mm_v7_zstd_full.dat",
    };

    [SkippableTheory]
    [MemberData(nameof(MmFiles))]
    public void Read_MmGroupFile_EventCountsMatchTraceCmdReport(string file)
    {
        var (rows, diagnostics, _) = TraceDatCorpus.Read(TraceDatCorpus.Recorded("trace-cmd", file));
        var report = TraceCmdReport.Parse(TraceDatCorpus.Recorded("trace-cmd", "mm_report.txt"));

        Assert.Equal(3298, report.Count);
        Assert.Equal(3298, rows.Count);
        var expected = report.GroupBy(l => l.Name).ToDictionary(g => g.Key, g => g.Count());
        var actual = rows.GroupBy(r => r.Event[(r.Event.IndexOf(':', StringComparison.Ordinal) + 1)..]).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(expected.OrderBy(p => p.Key, StringComparer.Ordinal), actual.OrderBy(p => p.Key, StringComparer.Ordinal));
        Assert.Equal(0, diagnostics.MalformedCount);
        Assert.Null(diagnostics.Truncated);
    }

    [SkippableTheory]
    [MemberData(nameof(MmFiles))]
    public void Read_MmGroupFile_TimeCpuEventSequenceEqualsReportT(string file)
    {
        var (rows, _, _) = TraceDatCorpus.Read(TraceDatCorpus.Recorded("trace-cmd", file));
        var report = TraceCmdReport.Parse(TraceDatCorpus.Recorded("trace-cmd", "mm_report_t.txt"));

        Assert.Equal(report.Count, rows.Count);
        for (int i = 0; i < report.Count; i++)
        {
            var r = rows[i];
            var expected = $"{report[i].TimeNs} [{report[i].Cpu}] {report[i].Pid} {report[i].Name}";
            var actual = $"{r.TsNs} [{r.Cpu}] {r.Pid} {r.Event[(r.Event.IndexOf(':', StringComparison.Ordinal) + 1)..]}";
            Assert.True(expected == actual, $"row {i}: expected '{expected}', got '{actual}'");
        }
    }

    [SkippableFact]
    public void Read_V6AndV7Variants_GiveIdenticalRows()
    {
        var baseline = Describe(TraceDatCorpus.Read(TraceDatCorpus.Recorded("trace-cmd", "mm_v7_zstd_full.dat")).Rows);
        foreach (var file in new[] { "mm_v6_trimmed.dat", "mm_v7_trimmed_nocomp.dat", "mm_v7_trimmed_zstd.dat" })
        {
            var other = Describe(TraceDatCorpus.Read(TraceDatCorpus.Recorded("trace-cmd", file)).Rows);
            Assert.Equal(baseline, other);
        }
    }

    [SkippableFact]
    public void Read_UnderFrenchAndFinnishCultures_GivesTheSameRows()
    {
        string path = TraceDatCorpus.Recorded("trace-cmd", "mm_v7_trimmed_zstd.dat");
        var expected = Describe(TraceDatCorpus.Read(path).Rows);
        var original = CultureInfo.CurrentCulture;
        try
        {
            foreach (var culture in new[] { "fr-FR", "fi-FI" })
            {
                CultureInfo.CurrentCulture = CultureInfo.GetCultureInfo(culture);
                Assert.Equal(expected, Describe(TraceDatCorpus.Read(path).Rows));
            }
        }
        finally
        {
            CultureInfo.CurrentCulture = original;
        }
    }

    [SkippableFact]
    public void Read_MmV7Full_TypedFieldsEqualRawReportValues()
    {
        var (rows, _, _) = TraceDatCorpus.Read(TraceDatCorpus.Recorded("trace-cmd", "mm_v7_zstd_full.dat"));
        var report = TraceCmdReport.Parse(TraceDatCorpus.Recorded("trace-cmd", "mm_report_R.txt"));
        Assert.Equal(report.Count, rows.Count);
        int compared = 0;
        for (int i = 0; i < rows.Count; i++)
        {
            foreach (var (name, raw) in report[i].RawFields())
            {
                if (!EventSchema.TryGetField(name, out var column) || column.Kind == ColumnKind.Text)
                {
                    continue;
                }
                ulong expected = raw.StartsWith("0x", StringComparison.Ordinal)
                    ? ulong.Parse(raw.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture)
                    : unchecked((ulong)long.Parse(raw, CultureInfo.InvariantCulture));
                Assert.True(rows[i].IsSet(column.Ordinal), $"row {i} {rows[i].Event}: {name} not set");
                ulong actual = column.Kind == ColumnKind.Bool ? (rows[i].GetBool(column.Ordinal) ? 1UL : 0UL) : rows[i].GetUInt64(column.Ordinal);
                Assert.True(expected == actual, $"row {i} {rows[i].Event}: {name} expected {raw}, got 0x{actual:x}");
                compared++;
            }
        }
        Assert.True(compared > 5800, $"only {compared} typed values compared");

        var mmapLock = rows.First(r => r.Event == "mmap_lock:mmap_lock_acquire_returned");
        Assert.Equal(0xffff888109e6cb00UL, mmapLock.GetUInt64(Ordinal("mm")));
        Assert.True(mmapLock.GetBool(Ordinal("success")));
        var exit = rows.First(r => r.Event == "syscalls:sys_exit_mremap");
        Assert.Equal(0x7fa026f29000L, exit.GetInt64(Ordinal("ret")));
        var flush = rows.First(r => r.Event == "tlb:tlb_flush");
        Assert.Equal(-1L, flush.GetInt64(Ordinal("pages")));
    }

    [SkippableFact]
    public void Read_MmV7Full_ArgsRenderedAsThePrintFmtPrintsThem()
    {
        var (rows, _, _) = TraceDatCorpus.Read(TraceDatCorpus.Recorded("trace-cmd", "mm_v7_zstd_full.dat"));
        var rss = rows.First(r => r.Event == "kmem:rss_stat");
        Assert.Equal(
            [new("mm_id", "921375183"), new("curr", "0"), new("member", "MM_ANONPAGES"), new("size", "4096")],
            rss.Args);
        var enter = rows.First(r => r.Event == "syscalls:sys_enter_mremap");
        Assert.Equal([new("__syscall_nr", "25")], enter.Args);
        Assert.Equal(0x7fa026fa9000UL, enter.GetUInt64(Ordinal("addr")));
        Assert.Equal(0x40000UL, enter.GetUInt64(Ordinal("old_len")));
    }

    [SkippableFact]
    public void Read_MmV7Full_SymbolicTextAndIrqFlagsEqualKernelText()
    {
        var (rows, _, _) = TraceDatCorpus.Read(TraceDatCorpus.Recorded("trace-cmd", "mm_v7_zstd_full.dat"));
        var kernel = KernelTrace.Parse(TraceDatCorpus.Recorded("ftrace-text", "mm_trace.txt"));
        Assert.Equal(kernel.Count, rows.Count);
        int symbolic = 0;
        for (int i = 0; i < rows.Count; i++)
        {
            var row = rows[i];
            var line = kernel[i];
            Assert.True(KernelTrace.RoundToMicroseconds(row.TsNs) == line.Time && row.Cpu == line.Cpu && row.Pid == line.Pid,
                $"row {i}: {row.TsNs} [{row.Cpu}] {row.Pid} vs kernel {line.Time} [{line.Cpu}] {line.Pid}");
            Assert.True(line.Flags == row.IrqFlags, $"row {i} {row.Event}: irq_flags '{row.IrqFlags}' vs kernel '{line.Flags}'");
            string? expected = Extract(line.Body, "gfp_flags=") ?? Extract(line.Body, "status=");
            if (expected is not null)
            {
                string column = line.Body.Contains("gfp_flags=", StringComparison.Ordinal) ? "gfp_flags" : "status";
                Assert.Equal(expected, row.GetText(Ordinal(column)));
                symbolic++;
            }
        }
        Assert.True(symbolic >= 190 + 19, $"only {symbolic} symbolic values compared");
    }

    [SkippableFact]
    public void Read_MmV7Full_RecordsFactsInDiagnostics()
    {
        var (rows, diagnostics, summary) = TraceDatCorpus.Read(TraceDatCorpus.Recorded("trace-cmd", "mm_v7_zstd_full.dat"));
        Assert.Equal("tracedat", diagnostics.Format);
        Assert.Equal(2, diagnostics.CpuCount);
        Assert.Equal("6.18.44-fc-v657", diagnostics.KernelRelease);
        Assert.Equal("local", diagnostics.Clock);
        Assert.False(diagnostics.PointersHashed);
        Assert.Equal(0, diagnostics.LostEvents);
        Assert.Equal(7, summary.Version);
        Assert.Equal("zstd", summary.Compression);
        Assert.Equal([""], summary.Buffers);
        Assert.Equal(3298, summary.EventCount);
        Assert.Contains(rows, r => r.Comm == "khugepaged");
        Assert.All(rows.Where(r => r.Pid == 25561), r => Assert.Equal("mm work-1", r.Comm));
    }

    [SkippableFact]
    public void Read_InstanceFile_NamesTheBufferAndKeepsRawTicks()
    {
        var (rows, diagnostics, summary) = TraceDatCorpus.Read(TraceDatCorpus.Recorded("trace-cmd", "instance_x86tsc_v7_zstd.dat"));
        var report = TraceCmdReport.Parse(TraceDatCorpus.Recorded("trace-cmd", "instance_x86tsc_report.txt"));
        var kernel = KernelTrace.Parse(TraceDatCorpus.Recorded("ftrace-text", "x86tsc_clock_trace.txt"));

        Assert.Equal(214, report.Count);
        Assert.Equal(report.Count, rows.Count);
        Assert.Equal(["fmtspec"], summary.Buffers);
        Assert.All(rows, r => Assert.Equal(new KeyValuePair<string, string>("instance", "fmtspec"), r.Args[0]));
        // trace-cmd saved the clock as "local" although the instance counted TSC ticks: ts_ns holds the ticks, as trace-cmd shows them.
        Assert.Equal("local", diagnostics.Clock);
        Assert.Equal(kernel.Select(k => (k.Time, k.Cpu, k.Flags)), rows.Select(r => (r.TsNs, r.Cpu, r.IrqFlags!)));
        Assert.Equal(report.Select(l => l.Name), rows.Select(r => r.Event[(r.Event.IndexOf(':', StringComparison.Ordinal) + 1)..]));
    }

    [SkippableFact]
    public void Read_WrappedOverrunV6_CountsEventsAndDroppedMarkers()
    {
        var (rows, diagnostics, summary) = TraceDatCorpus.Read(TraceDatCorpus.Recorded("raw-pages", "overrun_wrapped_v6.dat"));
        var report = TraceCmdReport.Parse(TraceDatCorpus.Recorded("raw-pages", "overrun_wrapped_v6_report.txt"));

        Assert.Equal(4128, report.Count);
        Assert.Equal(report.Select(l => (l.TimeNs / 1000, l.Cpu, l.Name)), rows.Select(r => (KernelTrace.RoundToMicroseconds(r.TsNs), r.Cpu, r.Event[(r.Event.IndexOf(':', StringComparison.Ordinal) + 1)..])));
        Assert.Equal(15329, summary.LostEventsByCpu[1].Counted);
        Assert.Equal(0, summary.LostEventsByCpu[1].UncountedPages);
        Assert.Equal(1, summary.LostEventsByCpu[0].UncountedPages);
        Assert.Equal(15329 + 1, diagnostics.LostEvents);
        var marker = rows.First(r => r.Event == "ftrace:print" && r.FindField("buf")!.StartsWith('M'));
        Assert.Equal(new string('M', 300) + "\n", marker.FindField("buf"));
    }

    [SkippableFact]
    public void Read_TrappyV6FromAnotherMachine_ReadsSchedSwitchFields()
    {
        var (rows, diagnostics, _) = TraceDatCorpus.Read(TraceDatCorpus.PathOf("public", "trappy", "raw_trace.dat"));

        Assert.Equal(757, rows.Count);
        Assert.Equal(755, rows.Count(r => r.Event == "sched:sched_switch"));
        Assert.Equal(2, rows.Count(r => r.Event == "ftrace:bprint"));
        Assert.Equal(6, diagnostics.CpuCount);
        Assert.Equal("local", diagnostics.Clock);
        var first = rows.First(r => r.Event == "sched:sched_switch");
        Assert.Equal(106439675591340L, first.TsNs);
        Assert.Equal("trace-cmd", first.GetText(Ordinal("prev_comm")));
        Assert.Equal(4734L, first.GetInt64(Ordinal("prev_pid")));
        Assert.Equal("migration/2", first.GetText(Ordinal("next_comm")));
        Assert.Equal(18L, first.GetInt64(Ordinal("next_pid")));
        // The switch fired in trace-cmd's task, which exec'd ls later: saved_cmdlines (and trace-cmd report) say "ls",
        // prev_comm says what the task was called then.
        Assert.Equal("trace-cmd", first.Comm);
        // Kernels of that age printed a preempted task (TASK_STATE_MAX, 1024) as "R+".
        Assert.Equal("R+", first.GetText(Ordinal("prev_state")));
        // trace_printk: the format comes from the saved printk formats, the text from the packed arguments
        // (bprint's "u32 buf; size:0" is an old kernel's bracketless flexible array).
        var bprints = rows.Where(r => r.Event == "ftrace:bprint").ToList();
        Assert.Equal("fig: cpu=%d\n gid=%d\n", bprints[0].FindField("fmt"));
        Assert.Equal(["fig: cpu=0\n gid=4\n", "fig: cpu=5\n gid=1\n"], bprints.Select(r => r.FindField("buf")));
    }

    [SkippableTheory]
    [InlineData("recorded/trace-cmd/mm_v6_trimmed.dat", 3298)]
    [InlineData("recorded/trace-cmd/mm_v7_trimmed_nocomp.dat", 3298)]
    [InlineData("recorded/trace-cmd/mm_v7_trimmed_zstd.dat", 3298)]
    [InlineData("recorded/trace-cmd/mm_v7_zstd_full.dat", 3298)]
    [InlineData("recorded/trace-cmd/instance_x86tsc_v7_zstd.dat", 214)]
    [InlineData("recorded/raw-pages/overrun_wrapped_v6.dat", 4128)]
    [InlineData("public/trappy/raw_trace.dat", 757)]
    public void Read_EveryCorpusFileInStrictMode_ReadsWithoutComplaint(string file, int events)
    {
        var (rows, diagnostics, _) = TraceDatCorpus.Read(TraceDatCorpus.PathOf(file.Split('/')), strict: true);
        Assert.Equal(events, rows.Count);
        Assert.Equal(0, diagnostics.MalformedCount);
        Assert.Null(diagnostics.Truncated);
    }

    [SkippableFact]
    public void Read_CancelledToken_StopsWithCancellation()
    {
        using var stream = File.OpenRead(TraceDatCorpus.Recorded("trace-cmd", "mm_v6_trimmed.dat"));
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() =>
            new TraceDatReader().Read(stream, "mm.dat", new CountingSink(), new IngestDiagnostics(), cancelled.Token));
    }

    [SkippableFact]
    public void Read_NotATraceDat_ThrowsNamingTheMagic()
    {
        var e = Assert.Throws<TraceFormatException>(() => TraceDatCorpus.Read("# tracer: nop\n"u8.ToArray(), "text.txt"));
        Assert.Contains("magic", e.Message, StringComparison.Ordinal);
        Assert.Equal(0, e.Record.Position);
    }

    [SkippableFact]
    public void Read_NonSeekableStream_ReadsAllEvents()
    {
        var bytes = File.ReadAllBytes(TraceDatCorpus.Recorded("trace-cmd", "mm_v7_trimmed_zstd.dat"));
        var sink = new CountingSink();
        new TraceDatReader().Read(new ForwardOnlyStream(bytes), "pipe", sink, new IngestDiagnostics());
        Assert.Equal(3298, sink.Count);
    }

    internal static int Ordinal(string column)
    {
        Assert.True(EventSchema.TryGetField(column, out var c));
        return c.Ordinal;
    }

    private static string? Extract(string body, string key)
    {
        int at = body.IndexOf(key, StringComparison.Ordinal);
        if (at < 0)
        {
            return null;
        }
        var rest = body[(at + key.Length)..];
        int end = rest.IndexOfAny([' ', ',']);
        return end < 0 ? rest : rest[..end];
    }

    private static List<string> Describe(List<EventRow> rows) => rows.Select(r =>
        string.Create(CultureInfo.InvariantCulture, $"{r.TsNs} {r.Cpu} {r.Pid} {r.Comm} {r.Event} {r.IrqFlags} ")
        + string.Join(",", EventSchema.Columns.Where(c => c.Ordinal >= EventSchema.FirstField && c.Ordinal < EventSchema.Args && r.IsSet(c.Ordinal)).Select(c => c.Name + "=" + r.FindField(c.Name)))
        + " " + string.Join(",", r.Args)).ToList();
}

/// <summary>A stream that cannot seek (a pipe).</summary>
internal sealed class ForwardOnlyStream(byte[] data) : Stream
{
    private readonly MemoryStream _inner = new(data, writable: false);

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, Math.Min(count, 1000));

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
