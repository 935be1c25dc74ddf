using System.Text;
using Pipeline.Ingest.Text;
using Pipeline.Storage;

namespace Pipeline.Ingest.Tests.Text;

public sealed class ConsoleLogReaderTests
{
    private const string Syzkaller = "public/syzkaller-report-testdata/";
    private const string Tglx = "public/lkml-mail/alpine.DEB.2.21.1907021400350.1802@nanos.tec.linutronix.de.eml";
    private const string ZiYan = "public/lkml-mail/C66E1309-2069-495B-BACD-7F3282C6EC7D@nvidia.com.eml";

    public static TheoryData<string, string, string, int, string> CrashReports => new()
    {
        { "352", ConsoleEvents.Bug, "kernel BUG at mm/page_alloc.c:3112!", 1043, "compaction_alloc+0xd05/0x2970" },
        { "576", ConsoleEvents.Bug, "kernel BUG at mm/internal.h:400!", 28126, "page_mkclean+0x21c/0x2b0" },
        { "725", ConsoleEvents.BadPageState, "BUG: Bad page state in process syz-executor209  pfn:7deea", 5098, "bad_page+0x14c/0x170" },
        { "738", ConsoleEvents.GeneralProtectionFault, "Oops: general protection fault, probably for non-canonical address 0xdffffc0000000004: 0000 [#1] SMP KASAN PTI", 5827, "do_syscall_64+0xf3/0x230" },
    };

    [SkippableTheory]
    [MemberData(nameof(CrashReports))]
    public void Read_SyzkallerReport_CrashHeaderWithCallTrace(string file, string expectedEvent, string header, int pid, string frame)
    {
        var (rows, diagnostics) = TextReading.ReadFile(new ConsoleLogReader(), Syzkaller + file, strict: true);

        EventRow crash = rows[0];
        Assert.Equal(expectedEvent, crash.Event);
        Assert.Equal(header, crash.FindField(ConsoleEvents.HeaderArg));
        Assert.Equal(pid, crash.Pid);
        Assert.NotNull(crash.Stack);
        Assert.Contains(frame, crash.Stack);
        Assert.Equal(0, diagnostics.MalformedCount);
        Assert.Equal("console", diagnostics.Format);
    }

    [SkippableFact]
    public void Read_Report352_BugThenLockdepWarning()
    {
        var (rows, _) = TextReading.ReadFile(new ConsoleLogReader(), Syzkaller + "352");

        Assert.Equal([ConsoleEvents.Bug, ConsoleEvents.Warning], rows.Select(r => r.Event));
        Assert.Equal(1_191_678_706_000, rows[0].TsNs);
        Assert.Equal("kcompactd0", rows[0].Comm);
    }

    [SkippableFact]
    public void Read_Report350_SoftLockupAndGarbageDumpLinesAreMalformed()
    {
        var (rows, diagnostics) = TextReading.ReadFile(new ConsoleLogReader(), Syzkaller + "350");

        EventRow lockup = Assert.Single(rows);
        Assert.Equal(ConsoleEvents.Bug, lockup.Event);
        Assert.Equal(2, lockup.Cpu);
        Assert.Equal("smp_call_function_many+0x8d5/0xb10", lockup.Stack![0]);
        Assert.Equal(ConsoleEvents.PrintkClock, lockup.FindField(ConsoleEvents.ClockArg));
        // The dump: 35 latency-format lines "syz-exec-31490   2...1 413720925us : 0: }D" are trace_printk records whose
        // ip did not resolve ("0") with a garbage message: counted as malformed, not events named ":0".
        Assert.Equal(35, diagnostics.MalformedCount);
        Assert.Equal(234L, diagnostics.MalformedSamples[0].Position);
        Assert.Contains("0: }D", diagnostics.MalformedSamples[0].Message, StringComparison.Ordinal);
        CrashRecord crash = Assert.Single(diagnostics.Crashes);
        Assert.Equal(("soft_lockup", 2, 4888, "syz-executor4", "4.20.0-next-20190102+"), (crash.Kind, crash.Cpu, crash.Pid, crash.Comm, crash.KernelRelease));
        Assert.Equal("4.20.0-next-20190102+", diagnostics.KernelRelease);
    }

    [SkippableFact]
    public void Read_QuotedPrintableMail_DecodesKhugepagedTrace()
    {
        var (rows, diagnostics) = TextReading.ReadFile(new ConsoleLogReader(), ZiYan, strict: true);

        // 42 lines of the pasted trace; the one quoted ("> >>") line is from the earlier mail: counted, not an event.
        Assert.Equal(42, rows.Count);
        Assert.Equal(1, diagnostics.QuotedLinesDropped);
        Assert.Equal(48, diagnostics.CpuCount);
        Assert.Equal(new Dictionary<string, int>(StringComparer.Ordinal)
        {
            ["huge_memory:mm_collapse_huge_page_swapin"] = 1,
            ["huge_memory:mm_collapse_huge_page_isolate"] = 1,
            ["huge_memory:mm_collapse_huge_page"] = 1,
            ["huge_memory:mm_khugepaged_scan_pmd"] = 39,
        }, TextReading.CountByEvent(rows));
        Assert.Equal(("khugepaged", 265, 2, 1_007_308_366_000L), (rows[0].Comm, rows[0].Pid, rows[0].Cpu, rows[0].TsNs));
        EventRow collapse = rows.Single(r => r.Event == "huge_memory:mm_collapse_huge_page");
        Assert.Equal("failed", collapse.FindField("status"));
        Assert.Equal(0x7c6cc479UL, collapse.GetUInt64(Ordinal("mm")));
        Assert.All(rows, r => Assert.Equal(265, r.Pid));
    }

    [SkippableFact]
    public void Read_InterleavedConsoleMail_CountsDamagedLines()
    {
        var (rows, diagnostics) = TextReading.ReadFile(new ConsoleLogReader(), Tglx);

        Assert.Equal(8, rows.Count);
        // Lines 70-71: a user stack with no event before it in the excerpt; 83-84: a stack marker cut to "<user ";
        // 101-102: printk prefixes spliced by another CPU ("-UU-52.776811]"); 106: a frame after the "...." elision.
        Assert.Equal(7, diagnostics.MalformedCount);
        Assert.Equal([70L, 71, 83, 84, 101, 102, 106], diagnostics.MalformedSamples.Select(m => m.Position));
        EventRow clone = rows.Single(r => r.Event == "syscalls:sys_exit_clone");
        Assert.Equal(0x495, clone.GetInt64(Ordinal("ret")));
        Assert.Equal(["do_syscall_64", "entry_SYSCALL_64_after_hwframe", "<00007f785ae26289>TS]"], clone.Stack);
        EventRow fault = rows.First(r => r.Event == "exceptions:page_fault_user");
        Assert.Equal((1, 1, "systemd", 346_277_984_000L, 7UL), (fault.Pid, fault.Cpu, fault.Comm, fault.TsNs, fault.GetUInt64(Ordinal("error_code"))));
    }

    [SkippableFact]
    public void Read_DumpWithPrintkPrefixesAndLostMarker_ParsesLatencyLines()
    {
        const string text = """
            [  527.101010] Dumping ftrace buffer:
            [  527.101012] ---------------------------------
            [  527.101015] mm work--25561     0..... 112917us+: mm_page_alloc: page=00000000ab2f0c83 pfn=0x118db0 order=0 migratetype=0 gfp_flags=GFP_KERNEL_ACCOUNT|__GFP_ZERO|__GFP_COMP
            [  527.101020] CPU:1 [LOST 111 EVENTS]
            [  527.101025] <0>garbled dump line
            [  527.101030] ---------------------------------
            [  527.101040] some other message
            """;

        var (rows, diagnostics) = TextReading.ReadText(new ConsoleLogReader(), text);

        EventRow row = Assert.Single(rows);
        Assert.Equal(("kmem:mm_page_alloc", 25561, 0, 112_917_000L, 0x118db0UL), (row.Event, row.Pid, row.Cpu, row.TsNs, row.GetUInt64(Ordinal("pfn"))));
        Assert.Equal(111, diagnostics.LostEvents);
        Assert.Equal(5L, Assert.Single(diagnostics.MalformedSamples).Position);
    }

    [SkippableFact]
    public void Read_CallTraceAfterManyDumpEvents_NotAttachedToAReusedRow()
    {
        var sb = new StringBuilder("[   10.000000] WARNING: CPU: 0 PID: 1 at mm/mremap.c:211 move_page_tables+0x5b0/0x5d0\n");
        for (int i = 0; i < 100; i++)
        {
            sb.Append("[   10.000100] mm work--25561     0..... ").Append(100 + i).Append("us : tlb_flush: pages:1 reason:local MM shootdown (3)\n");
        }
        sb.Append("[   10.000200] Call Trace:\n[   10.000201]  move_page_tables+0x5b0/0x5d0\n");

        var (rows, _) = TextReading.ReadText(new ConsoleLogReader(), sb.ToString());

        Assert.Equal(101, rows.Count);
        Assert.Equal(ConsoleEvents.Warning, rows[0].Event);
        Assert.All(rows, r => Assert.Null(r.Stack));
    }

    /// <summary>
    /// A printk stamp past 64-bit nanoseconds (a /dev/kmsg microseconds field of 16 or more digits, a bit flip in a
    /// dmesg stamp's seconds) is damage, counted with its line: before, the multiplication wrapped and the crash it
    /// stamped became a row at a negative (or a small, wrong) time, uncounted.
    /// </summary>
    [SkippableTheory]
    [InlineData("4,300,9223372036854776,-;")]
    [InlineData("4,300,18446744073709551615,-;")]
    [InlineData("4,300,123456789012345678901,-;")]
    [InlineData("[9223372037.000000] ")]
    [InlineData("[18446744073.709551] ")]
    public void Read_PrintkStampPastNanosecondRange_CountedMalformed(string stamp)
    {
        string text = "4,299,5269031,-;Linux version 6.1.0-57-amd64 (debian-kernel@lists.debian.org)\n"
            + "\n" + stamp + "WARNING: CPU: 0 PID: 1 at mm/mremap.c:211 move_page_tables+0x5b0/0x5d0\n"
            + "4,301,5269300,-;BUG: Bad page state in process init  pfn:7deea\n";

        var (rows, diagnostics) = TextReading.ReadText(new ConsoleLogReader(), text);

        EventRow bug = Assert.Single(rows);
        Assert.Equal((ConsoleEvents.BadPageState, 5_269_300_000L), (bug.Event, bug.TsNs));
        var sample = Assert.Single(diagnostics.MalformedSamples);
        Assert.Equal(3L, sample.Position);
        Assert.Contains("expected a printk stamp of at most 9223372036.854775807 seconds", sample.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A /dev/kmsg record of a dump whose prefix is damaged (a bit flip in its microseconds, "-1") is no kmsg record:
    /// before, the whole prefix was read as the entry's comm ("0,411,-1,-;    init") and the event kept, uncounted.
    /// ftrace_dump prints the comm "%8.8s", so a wider one is counted malformed with its line.
    /// </summary>
    [SkippableFact]
    public void Read_KmsgDumpRecordWithDamagedPrefix_CountedNotReadAsComm()
    {
        const string text = """
            0,386,5269031,-;Dumping ftrace buffer:
            0,387,5269255,-;---------------------------------
            0,388,5270937,-;    init-1         1d.... 1632342us : page_fault_user: address=0x7fffcc32f108 ip=0x52e7c8 error_code=0x7
            0,389,-1,-;    init-1         1..... 1632753us : mmap_lock_start_locking: mm=00000000dad0409c memcg_path=/ write=false
            0,390,5271500,-;mm work--25561     0..... 1632800us : mmap_lock_released: mm=00000000dad0409c memcg_path=/ write=false
            0,391,5271600,-;---------------------------------
            """;

        var (rows, diagnostics) = TextReading.ReadText(new ConsoleLogReader(), text);

        Assert.Equal([("init", 1_632_342_000L), ("mm work-", 1_632_800_000L)], rows.Select(r => (r.Comm, r.TsNs)));
        var sample = Assert.Single(diagnostics.MalformedSamples);
        Assert.Equal(4L, sample.Position);
        Assert.Contains("whose comm has at most 8 bytes", sample.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A binary file read as console text (a trace.dat with --format console, a dataset's events.parquet that
    /// triage took for a report) is refused at its first line, not read as a log without crashes.
    /// </summary>
    [SkippableFact]
    public void Read_BinaryFile_RefusedAsNotConsoleText()
    {
        var ex = Assert.Throws<TraceFormatException>(() => TextReading.ReadFile(new ConsoleLogReader(), "recorded/trace-cmd/mm_v6_trimmed.dat"));

        Assert.Equal("mm_v6_trimmed.dat", ex.Record.File);
        Assert.Equal(1, ex.Record.Position);
        Assert.Contains("expected console text", ex.Message, StringComparison.Ordinal);
        Assert.Contains("found binary data (a NUL byte)", ex.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Read_MailSplitAtEveryChunkSize_SameRows()
    {
        byte[] mail = File.ReadAllBytes(Corpus.File(ZiYan));
        string expected = Render(TextReading.Read(new ConsoleLogReader(), new MemoryStream(mail)).Rows);

        foreach (int chunk in new[] { 1, 2, 3, 5, 64, 77, 1000 })
        {
            Assert.Equal(expected, Render(TextReading.Read(new ConsoleLogReader(), new ChunkedStream(mail, chunk)).Rows));
        }
    }

    private static string Render(List<EventRow> rows) => string.Join("\n", rows.Select(r => TextReading.Render(r)));

    private static int Ordinal(string field) => EventSchema.TryGetField(field, out var c) ? c.Ordinal : throw new ArgumentException(field);
}
