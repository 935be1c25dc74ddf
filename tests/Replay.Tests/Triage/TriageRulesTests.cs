using Pipeline.Ingest.Text;
using Pipeline.Replay.Triage;
using Pipeline.Storage;

namespace Pipeline.Replay.Tests.Triage;

/// <summary>
/// The classification rules for the races no public crash log shows (R1, R2, R6), on reports written the way the
/// kernel prints them (KASAN report layout of mm/kasan/report.c, syzbot symbolization), plus the cases that must not
/// match: the same functions only as '?' frames, or on a report that is not about memory safety.
/// </summary>
public sealed class TriageRulesTests
{
    private const string KasanGupFast = """
        ==================================================================
        BUG: KASAN: use-after-free in gup_fast_pte_range mm/gup.c:2780 [inline]
        BUG: KASAN: use-after-free in gup_fast_pmd_range+0x9a1/0xb20 mm/gup.c:3050
        Read of size 8 at addr ffff888024d5b008 by task syz.1.33/6021

        CPU: 0 UID: 0 PID: 6021 Comm: syz.1.33 Not tainted 6.0.0-syzkaller #0
        Call Trace:
         <TASK>
         kasan_report+0xd9/0x110 mm/kasan/report.c:601
         gup_fast_pmd_range+0x9a1/0xb20 mm/gup.c:3050
         gup_fast_pgd_range mm/gup.c:3109 [inline]
         lockless_pages_from_mm+0x1c1/0x2f0 mm/gup.c:3170
         internal_get_user_pages_fast+0x1b9/0x330 mm/gup.c:3220
         </TASK>

        Allocated by task 6013:
         kasan_save_stack+0x33/0x60 mm/kasan/common.c:47
         __pte_alloc+0x4f/0x3a0 mm/memory.c:430

        Freed by task 31:
         kasan_save_stack+0x33/0x60 mm/kasan/common.c:47
         tlb_remove_table_rcu+0x80/0xa0 mm/mmu_gather.c:228
         rcu_do_batch kernel/rcu/tree.c:2568 [inline]

        The buggy address belongs to the physical page:
        page: refcount:1 mapcount:0 mapping:0000000000000000 index:0x0 pfn:0x24d5b
        flags: 0xfff00000000000(node=0|zone=1|lastcpupid=0x7ff)
        page_type: f2(table)
        ==================================================================
        """;

    private const string KasanRetract = """
        BUG: KASAN: use-after-free in move_pgt_entry mm/mremap.c:520 [inline]
        BUG: KASAN: use-after-free in move_page_tables+0x1b5e/0x1d10 mm/mremap.c:600
        Write of size 8 at addr ffff88802a1b3c40 by task poc/5931
        CPU: 1 UID: 0 PID: 5931 Comm: poc Not tainted 6.10.0 #1
        Call Trace:
         <TASK>
         move_page_tables+0x1b5e/0x1d10 mm/mremap.c:600
         move_vma+0x4c1/0xd50 mm/mremap.c:700
         </TASK>

        Freed by task 25:
         kasan_save_stack+0x33/0x60 mm/kasan/common.c:47
         pte_free_defer+0x12/0x40 mm/pgtable-generic.c:250
         retract_page_tables mm/khugepaged.c:1745 [inline]
         collapse_file+0x2f1/0x3a0 mm/khugepaged.c:2140
        """;

    private const string KasanMoveWithMigration = """
        BUG: KASAN: use-after-free in move_normal_pmd+0x2a0/0x300
        Read of size 8 at addr ffff88803b2c1000 by task mremap-stress/812
        CPU: 3 PID: 812 Comm: mremap-stress Not tainted 5.10.0 #7
        Call Trace:
         move_normal_pmd+0x2a0/0x300
         move_page_tables+0x5d1/0x8b0
         move_vma.isra.0+0x1c0/0x4f0
        Freed by task 77:
         free_pages+0x10/0x20
         migrate_pages+0x6a1/0xe50
         compact_zone+0x9c3/0x11e0
        """;

    private const string GupOnlyAsUnreliable = """
        BUG: kernel NULL pointer dereference, address: 0000000000000010
        Oops: 0000 [#1] SMP NOPTI
        CPU: 2 PID: 300 Comm: fio Not tainted 6.1.0 #1
        RIP: 0010:blk_mq_submit_bio+0x11/0x200
        Call Trace:
         ? get_user_pages_fast+0x20/0x40
         ? gup_pte_range+0x100/0x200
         submit_bio_noacct+0x1c0/0x500
         blkdev_direct_IO+0x2a0/0x600
        """;

    [SkippableFact]
    public void R2_UseAfterFreeOfATableUnderGupFast()
    {
        var (crash, verdict) = Classify(KasanGupFast);

        Assert.Equal(("R2", "use-after-free", "gup_fast_pte_range"), (verdict.Class, crash.SanitizerKind, crash.Function));
        Assert.Contains(verdict.Reasons, r => r.Contains("tlb_remove_table_rcu in the free stack", StringComparison.Ordinal));
        // 6.0 lacks 2ba99c5e0881 (v6.1): the race is open there.
        Assert.Contains(verdict.Reasons, r => r.Contains("without its fix 2ba99c5e0881", StringComparison.Ordinal));
        Assert.Equal("r2-anon", verdict.Scenario);
        Assert.True(verdict.Confidence >= 0.9);
    }

    [SkippableFact]
    public void R6_TableFreedByRetractUnderMremapsMove()
    {
        var (_, verdict) = Classify(KasanRetract);

        Assert.Equal("R6", verdict.Class);
        Assert.Contains(verdict.Reasons, r => r.Contains("retract_page_tables", StringComparison.Ordinal) && r.Contains("move_pgt_entry", StringComparison.Ordinal));
        Assert.Equal("r6-retract", verdict.Scenario);
    }

    [SkippableFact]
    public void R1_UseAfterFreeThroughPmdMoveWithMigrationFree()
    {
        var (_, verdict) = Classify(KasanMoveWithMigration);

        Assert.Equal("R1", verdict.Class);
        Assert.Contains(verdict.Reasons, r => r.Contains("migrate_pages", StringComparison.Ordinal));
        Assert.Contains(verdict.Reasons, r => r.Contains("without its fix 97113eb39fa7", StringComparison.Ordinal));
        Assert.Equal("r1-pmd", verdict.Scenario);
    }

    [SkippableFact]
    public void None_WhenTheRaceFunctionsAreOnlyUnreliableFrames()
    {
        var (crash, verdict) = Classify(GupOnlyAsUnreliable);

        Assert.Equal(("none", "oops"), (verdict.Class, crash.Kind));
        Assert.Single(Read(GupOnlyAsUnreliable).Crashes);
        Assert.Contains(verdict.Reasons, r => r.Contains("only as an unreliable '?' frame", StringComparison.Ordinal));
        Assert.Equal("block", verdict.Subsystem);
    }

    [SkippableFact]
    public void R1_SameReportOnAKernelWithTheFix_LowerConfidenceAndSaysSo()
    {
        string fixedKernel = KasanMoveWithMigration.Replace("5.10.0 #7", "5.15.0 #7", StringComparison.Ordinal);

        var (_, open) = Classify(KasanMoveWithMigration);
        var (_, closed) = Classify(fixedKernel);

        Assert.Equal("R1", closed.Class);
        Assert.True(closed.Confidence < open.Confidence);
        Assert.Contains(closed.Reasons, r => r.Contains("already has the fix 97113eb39fa7", StringComparison.Ordinal));
    }

    [SkippableFact]
    public void None_SlabObjectFreedUnderMremap_IsALifetimeBugNotR1()
    {
        string slab = KasanMoveWithMigration.Replace("BUG: KASAN: use-after-free in", "BUG: KASAN: slab-use-after-free in", StringComparison.Ordinal)
            .Replace(" free_pages+0x10/0x20", " kmem_cache_free+0x10/0x20", StringComparison.Ordinal);

        var (_, verdict) = Classify(slab);

        Assert.Equal("none", verdict.Class);
        Assert.Contains(verdict.Reasons, r => r.Contains("object lifetime bug", StringComparison.Ordinal));
    }

    private static (CrashRecord Crash, CrashVerdict Verdict) Classify(string text)
    {
        IngestDiagnostics diagnostics = Read(text);
        CrashRecord crash = diagnostics.Crashes[0];
        return (crash, CrashClassifier.Classify(crash, ProfileSelector.ForRelease(crash.KernelRelease)?.Profile));
    }

    private static IngestDiagnostics Read(string text)
    {
        var diagnostics = new IngestDiagnostics();
        using var stream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(text + "\n"));
        new ConsoleLogReader().Read(stream, "report", new NullSink(), diagnostics);
        return diagnostics;
    }

    private sealed class NullSink : IEventSink
    {
        public void Write(EventRow row)
        {
        }
    }
}
