using Pipeline.Ingest.Text;
using Pipeline.Replay.Triage;
using Pipeline.Storage;

namespace Pipeline.Replay.Tests.Triage;

/// <summary>
/// Real kernel bug reports (tests/Replay.Tests/Triage/Reports, sources in SOURCES.md; the shared corpus's syzkaller
/// reports and mails) triaged as a kernel developer reading them would: expected class, and the fields the verdict
/// must cite. Each expectation was reviewed against the report (SOURCES.md says why).
/// </summary>
public sealed class TriageTests
{
    public static TheoryData<string, string, string, string> RepositoryReports => new()
    {
        // file, expected class, kind, a reason the verdict must give
        { "r5-lkft-exec-stack-i386-5.8-rc4.txt", "R5", "warning", "reached from exec (setup_arg_pages" },
        { "r5-lkft-warning-5.8-rc5-no-trace.txt", "R5", "warning", "WARNING at mm/mremap.c:230 in move_page_tables" },
        { "r5-syzbot-move-page-tables-uffd-6.17-rc1.txt", "R5", "warning", "already has the fix" },
        { "r3-syzbot-split-huge-page-unmap-success-5.11-rc4-next.txt", "R3", "bug", "VM_BUG_ON_PAGE(!unmap_success)" },
        { "r4-trinity-bad-page-state-mlocked-4.4-rc3-next.txt", "R4", "bad_page_state", "mlocked in the page flags" },
        { "none-0day-bad-page-state-reserved-i386-5.7-rc1.txt", "none", "bad_page_state", "without mlocked/unevictable" },
        { "none-hisi-sas-bad-page-state-reserved-arm64-5.1-rc1.txt", "none", "bad_page_state", "without mlocked/unevictable" },
        { "none-compaction-vm-bug-on-page-pageslab-4.19.txt", "none", "bug", "mm/compaction" },
        { "none-vmalloc-huge-bad-page-state-tail-mapping-ppc-5.18-rc3.txt", "none", "bad_page_state", "corrupted mapping in tail page" },
        { "none-memory-failure-null-deref-3.13-rc4.txt", "none", "oops", "dequeue_hwpoisoned_huge_page" },
        { "none-hugetlb-vmemmap-bad-page-state-tail-mapping-6.15.txt", "none", "bad_page_state", "corrupted mapping in tail page" },
        { "none-syzbot-mremap-gpf-vrm-uncharge-6.14.txt", "none", "general_protection_fault", "no page-table move" },
        // Tried on 7 December 2026 (docs/triage.md, "Reports tried"): frame forms, log prefixes and R4's evidence.
        { "r4-ktsan-bad-page-state-mlocked-inlined-frames-4.2.txt", "R4", "bad_page_state", "Bad page state in free_pages_prepare" },
        { "none-libretech-bad-page-state-at-alloc-overwritten-arm64-5.19.txt", "none", "bad_page_state", "found bad when allocated" },
        { "none-rpi-bad-page-state-poisoned-struct-page-arm-4.9.txt", "none", "bad_page_state", "looks overwritten (refcount:-117901064)" },
        { "none-dentos-bad-page-state-slab-unindented-arm64-5.15.txt", "none", "bad_page_state", "Bad page state in __free_pages_ok" },
        { "none-fedora-journal-list-del-kswapd-5.13.txt", "none", "bug", "kernel BUG in __list_del_entry_valid.cold (lib/list_debug.c:51)" },
        { "none-aufs-dmesg-T-paging-request-arm64.txt", "none", "oops", "no R1–R6 symptom" },
        { "none-openbmc-ci-clock-oops-unlink-anon-vmas-arm-4.13.txt", "none", "oops", "oops in unlink_anon_vmas [mm/rmap]" },
        { "none-openmandriva-grep-syslog-unmap-single-vma-3.18.txt", "none", "oops", "oops in unmap_single_vma [mm/memory]" },
        { "none-minchan-mail-migrate-pages-bug-khugepaged-4.3-mm1.txt", "none", "bug", "kernel BUG in migrate_pages (mm/migrate.c:889)" },
        { "none-sasha-mail-decoded-do-read-fault-3.16-rc2-next.txt", "none", "oops", "oops in do_read_fault.isra.40 [mm/memory]" },
        { "none-mptcp-kasan-kernfs-caller-id-6.5.txt", "none", "kasan", "kernfs_test_super [fs/kernfs]" },
        { "none-libvfio-bad-page-map-hugetlbfs-5.4-rc8.txt", "none", "bad_page_map", "bad page map [mm/memory]" },
        { "none-syzbot-kasan-corrupted-alloc-pid-4.15-rc2-next.txt", "none", "kasan", "KASAN slab-out-of-bounds in __unwind_start" },
        { "none-syzbot-gpf-lock-word-sg-remove-request-4.4.txt", "none", "general_protection_fault", "general protection fault in sg_remove_request" },
        { "none-memory-failure-split-huge-zero-page-5.18-rc1.txt", "none", "bug", "on another assertion (page dumped because: VM_BUG_ON_PAGE(is_huge_zero_page(head)))" },
    };

    public static TheoryData<string, string, string, string> CorpusReports => new()
    {
        { "public/syzkaller-report-testdata/350", "none", "soft_lockup", "kernel/smp" },
        { "public/syzkaller-report-testdata/352", "none", "bug", "mm/page_alloc" },
        { "public/syzkaller-report-testdata/576", "none", "bug", "rmap_walk_file" },
        { "public/syzkaller-report-testdata/725", "none", "bad_page_state", "without mlocked/unevictable" },
        { "public/syzkaller-report-testdata/738", "none", "general_protection_fault", "no page-table move" },
    };

    [SkippableTheory]
    [MemberData(nameof(RepositoryReports))]
    public void Classify_PublicReport(string file, string expectedClass, string kind, string reason)
    {
        var (crash, verdict) = TriageFirst(Path.Combine(ReportsDirectory(), file));

        Assert.Equal(kind, crash.Kind);
        Assert.Equal(expectedClass, verdict.Class);
        Assert.Contains(verdict.Reasons.Append(verdict.What), r => r.Contains(reason, StringComparison.Ordinal));
        Assert.InRange(verdict.Confidence, 0.05, 0.95);
    }

    [CorpusFact]
    public void Classify_CorpusReports()
    {
        foreach (var row in CorpusReports)
        {
            string file = (string)row[0];
            var (crash, verdict) = TriageFirst(Pipeline.Tests.Shared.TestCorpus.File(file));
            Assert.True((string)row[1] == verdict.Class, $"{file}: expected {row[1]}, got {verdict.Class}: {string.Join("; ", verdict.Reasons)}");
            Assert.Equal((string)row[2], crash.Kind);
            Assert.True(verdict.Reasons.Append(verdict.What).Any(r => r.Contains((string)row[3], StringComparison.Ordinal)),
                $"{file}: no reason mentions '{row[3]}': {verdict.What}; {string.Join("; ", verdict.Reasons)}");
        }
    }

    [SkippableFact]
    public void SyzbotInlineHeaders_OneReportPerCrash()
    {
        var crashes = Read(Path.Combine(ReportsDirectory(), "r5-syzbot-move-page-tables-uffd-6.17-rc1.txt")).Crashes;

        // Three "WARNING … at mm/mremap.c:357" lines, one per inlined frame: one report, quoted from syzbot's mail.
        CrashRecord crash = Assert.Single(crashes);
        Assert.Equal(("move_normal_pmd", 1, "6.17.0-rc1-syzkaller-00004-g53e760d89498"), (crash.Function, crash.QuoteDepth, crash.KernelRelease));
        Assert.Contains(crash.Frames, f => f.Symbol == "mremap_to");
    }

    [SkippableTheory]
    [InlineData("none-syzbot-kernel-bug-folio-unlock-oops-line-6.15-next.txt", "kernel BUG at mm/filemap.c:1498!")]
    [InlineData("none-rpi-vmscan-bug-internal-error-oops-arm.txt", "kernel BUG at mm/vmscan.c:1341!")]
    public void DieLineAfterKernelBug_IsTheSameReport(string file, string title)
    {
        // die()'s "Oops: invalid opcode: 0000 [#1]" (x86 since 6.10) and "Internal error: Oops - BUG: 0 [#1]" (arm) follow
        // the "kernel BUG at" line of the BUG() that called it.
        CrashRecord crash = Assert.Single(Read(Path.Combine(ReportsDirectory(), file)).Crashes);

        Assert.Equal(("bug", title), (crash.Kind, crash.Title));
    }

    [SkippableFact]
    public void RegistersInsideTheCallTrace_FramesBelowContinueIt()
    {
        // panic_on_warn before 4.16: the trap's registers are printed between invalid_op and the interrupted frames.
        CrashRecord crash = Assert.Single(Read(Path.Combine(ReportsDirectory(), "none-syzbot-mail-warning-vm-enough-memory-ashmem-4.15-rc7-next.txt")).Crashes);

        Assert.Equal(("__vm_enough_memory", "__vm_enough_memory", 1), (crash.Function, crash.RipSymbol, crash.QuoteDepth));
        Assert.Equal(["invalid_op+0x22/0x40", "security_vm_enough_memory_mm+0x90/0xb0", "mmap_region+0x321/0x15a0"], crash.Frames.Skip(9).Take(3).Select(f => f.Text));
        Assert.Equal("entry_SYSCALL_64_fastpath+0x29/0xa0", crash.Frames[^1].Text);
    }

    [SkippableFact]
    public void SplitBugWithoutItsPageDump_R3OnlyLowAndSaysWhy()
    {
        // The quoted report lost the VM_BUG_ON_PAGE dump: the BUG in split_huge_page_to_list was an entry check on a
        // non-THP compound page (a packet ring reached from mbind), which the report itself cannot show.
        var (_, verdict) = TriageFirst(Path.Combine(ReportsDirectory(), "none-mbind-split-packet-ring-no-dump-4.9.txt"));

        Assert.Equal("R3", verdict.Class);
        Assert.InRange(verdict.Confidence, 0.45, 0.6);
        Assert.Contains(verdict.Reasons, r => r.Contains("no page dump names the failed assertion", StringComparison.Ordinal));
    }

    [SkippableTheory]
    [InlineData("none-syzbot-kasan-after-printk-dropped-4.9.txt", "kasan", "do_raw_write_lock")]        // "** 93 printk messages dropped ** [ t] BUG: KASAN: …"
    [InlineData("none-syzbot-nmi-watchdog-soft-lockup-4.9.txt", "soft_lockup", "change_mnt_propagation")] // "NMI watchdog: BUG: soft lockup - CPU#1 …"
    [InlineData("none-syzbot-hung-task-io-wait-arm64-frame-marks.txt", "hung_task", "__switch_to")]     // "blocked in I/O wait", arm64 "… (T)" frames
    public void KernelLineForms_AreReportsWithTheirSite(string file, string kind, string site)
    {
        CrashRecord crash = Assert.Single(Read(Path.Combine(ReportsDirectory(), file)).Crashes);

        Assert.Equal(kind, crash.Kind);
        Assert.Contains(site, new[] { crash.Function, crash.RipSymbol }.Concat(crash.Frames.Select(f => f.Symbol)));
    }

    [SkippableFact]
    public void ArmUnwindLines_AreTheCallTrace()
    {
        CrashRecord crash = Assert.Single(Read(Path.Combine(ReportsDirectory(), "none-rpi-bad-page-state-poisoned-struct-page-arm-4.9.txt")).Crashes);

        // "[<8010fb3c>] (unwind_backtrace) from [<8010c058>] (show_stack+0x20/0x24)": each line's caller is the next line's
        // callee. The line before the header belongs to an earlier report.
        Assert.Equal(["unwind_backtrace", "show_stack+0x20/0x24", "dump_stack+0xd4/0x118", "bad_page+0x108/0x16c"], crash.Frames.Select(f => f.Text));
        Assert.Equal((-117901064L, "0x78787878"), (crash.PageRefcount, crash.PageFlagsRaw));
    }

    [SkippableFact]
    public void Scenario_FromBadPageStateReport_CarriesTaskAndPfnAndFixClosesIt()
    {
        var (crash, verdict) = TriageFirst(Path.Combine(ReportsDirectory(), "r4-trinity-bad-page-state-mlocked-4.4-rc3-next.txt"));
        ProfileChoice choice = ProfileSelector.ForRelease(crash.KernelRelease)!;

        var run = ReportScenario.Run(verdict.Scenario!, RaceFacts.Get(verdict.Class), crash, choice.Profile);

        Assert.Equal(("r4-munlock", "v4.3"), (run.Name, run.Profile.Name));
        TaskInfo reporter = Assert.Single(run.Trace.Tasks, t => t.Tid == 4958);
        Assert.Equal(("trinity-subchil", 23), (reporter.Comm, reporter.Cpu));
        Assert.Contains(run.Trace.Ops.ToArray(), op => op.Pfn == 0x110600);
        Assert.NotEmpty(run.Findings);
        Assert.All(run.Findings, f => Assert.Equal(("I4", 0x110600UL), (f.Checker, f.Pfn)));
        Assert.Contains("trinity-subchil", WitnessRenderer.RenderTimeline(run.Findings[0]), StringComparison.Ordinal);
        Assert.Equal("v4.3+mlock-under-ptl", run.FixedProfile.Name);
        Assert.Empty(run.FixedFindings);
    }

    [SkippableFact]
    public void Scenario_WarningReport_ReplaysUnderTheReportsKernelOnly()
    {
        var (crash, verdict) = TriageFirst(Path.Combine(ReportsDirectory(), "r5-lkft-exec-stack-i386-5.8-rc4.txt"));

        var run = ReportScenario.Run(verdict.Scenario!, RaceFacts.Get("R5"), crash, ProfileSelector.ForRelease(crash.KernelRelease)!.Profile);

        Assert.Equal("v5.0", run.Profile.Name);
        Assert.Contains(run.Findings, f => f.Checker == "I5");
        Assert.Empty(run.FixedFindings);
        // The kernel after the realignment (v6.7) does not show it: the race is closed there.
        Assert.False(RaceFacts.Get("R5").OpenIn(KernelProfile.Parse("v6.7")));
    }

    [SkippableTheory]
    [InlineData("6.14.0-syzkaller-12456-gacc4d5ff0b61", "v6.12", false)]
    [InlineData("5.10.47", "v5.10.47", true)]
    [InlineData("5.10.100-lts", "v5.10.47", false)]
    [InlineData("5.11.0", "v5.11", true)]
    [InlineData("5.11.0-rc4-next-20210120-syzkaller", "v5.8", false)]
    [InlineData("5.13.5", "v5.13.3", false)]
    [InlineData("4.20.0-next-20190102+", "v4.4", false)]
    [InlineData("v6.14", "v6.12", false)]
    [InlineData("7.2.0", "v6.18", false)]
    [InlineData("3.13.0-rc4", "v4.3", false)]
    public void ProfileSelector_NearestLowerProfile(string release, string expected, bool exact)
    {
        ProfileChoice choice = ProfileSelector.ForRelease(release)!;

        Assert.Equal((expected, exact), (choice.Profile.Name, choice.Exact));
        Assert.Contains(expected, choice.Explanation, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void ProfileSelector_AutoWithoutRelease_SaysWhatToDo()
    {
        var e = Assert.Throws<ArgumentException>(() => ProfileSelector.Resolve("auto", null));
        Assert.Contains("kernel_release is null", e.Message, StringComparison.Ordinal);
        Assert.Equal("v6.12", ProfileSelector.Resolve("v6.14", null).Profile.Name);
        Assert.Throws<ArgumentException>(() => ProfileSelector.Resolve("banana", null));
    }

    private static (CrashRecord Crash, CrashVerdict Verdict) TriageFirst(string path)
    {
        IngestDiagnostics diagnostics = Read(path);
        CrashRecord crash = diagnostics.Crashes.Count > 0 ? diagnostics.Crashes[0] : throw new InvalidDataException($"{path}: no crash read");
        KernelProfile? profile = ProfileSelector.ForRelease(crash.KernelRelease ?? diagnostics.KernelRelease)?.Profile;
        return (crash, CrashClassifier.Classify(crash, profile));
    }

    private static IngestDiagnostics Read(string path)
    {
        var diagnostics = new IngestDiagnostics();
        using var stream = File.OpenRead(path);
        new ConsoleLogReader().Read(stream, path, new NullSink(), diagnostics);
        return diagnostics;
    }

    private static string ReportsDirectory() => Pipeline.Tests.Shared.TestCorpus.TriageReports;

    private sealed class NullSink : IEventSink
    {
        public void Write(EventRow row)
        {
        }
    }
}
