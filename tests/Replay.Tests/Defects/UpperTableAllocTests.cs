namespace Pipeline.Replay.Tests.Defects;

/// <summary>
/// Issue 10: a move step allocates the destination's missing upper tables as move_page_tables' alloc_new_pmd /
/// alloc_new_pud do (pud_alloc + pmd_alloc under mm->page_table_lock, re-testing the entry), from its spare ids.
/// </summary>
public class UpperTableAllocTests
{
    private const ulong Page = 0x7e00_0020_1000;
    private const ulong Pfn = 0x8810;

    /// <summary>mm 5 (tables 100–104) with a page at <see cref="Page"/> and a VMA at <paramref name="dst"/>.</summary>
    private static VariantTrace Mapped(ulong dst, ulong dstLen)
    {
        return new VariantTrace()
            .Space("mremap-41", 1, 5, 100, Page & ~0x1f_ffffUL, rmap: 12)
            .Map("mremap-41", 1, 5, Page, Pfn)
            .Op("mremap-41", 1, "ctx_switch", "mm=5")
            .Op("mremap-41", 1, "mmap_lock", "mm=5 mode=w")
            .Op("mremap-41", 1, "vma_create", $"mm=5 va=0x{dst:x} len=0x{dstLen:x} rmap=12");
    }

    private static (ReplayEngine Engine, ReplayResult Result) Run(VariantTrace trace, string profile)
    {
        var engine = new ReplayEngine(KernelProfile.Parse(profile), Arch.X86);
        foreach (var op in trace.Load().Ops)
        {
            engine.Execute(op);
        }
        return (engine, engine.Finish());
    }

    // The destination lies in a 1G region no PMD table covers yet (and for the PUD move, a 512G region no PUD table
    // covers): each move must allocate them from spare=300 on, find the page at its new address and report nothing.
    [SkippableTheory]
    // NORMAL_PMD (v5.0+), and move_ptes before it: pmd_alloc takes 300, pte_alloc 301.
    [InlineData("latest", "mremap_move_pmd", "old=0x7e0000200000 new=0x7e00c0200000", 0x7e00_c020_1000UL, 300, Level.Pmd)]
    [InlineData("v4.3", "mremap_move_pmd", "old=0x7e0000200000 new=0x7e00c0200000", 0x7e00_c020_1000UL, 300, Level.Pmd)]
    [InlineData("latest", "move_ptes", "old=0x7e0000201000 new=0x7e00c0201000 len=0x1000", 0x7e00_c020_1000UL, 300, Level.Pmd)]
    // NORMAL_PUD (v5.13+): pud_alloc in another 512G takes 300; without HAVE_MOVE_PUD PMD by PMD: 300, then the PMD table 301.
    [InlineData("latest", "mremap_move_pud", "old=0x7e0000000000 new=0x7f0000000000", 0x7f00_0020_1000UL, 300, Level.Pud)]
    [InlineData("v5.10.46", "mremap_move_pud", "old=0x7e0000000000 new=0x7f0000000000", 0x7f00_0020_1000UL, 300, Level.Pud)]
    public void Run_MoveIntoARegionWithoutUpperTables_AllocatesThemFromSpare(string profile, string op, string keys, ulong newPage, int table, Level level)
    {
        ulong dst = op == "mremap_move_pud" ? 0x7f00_0000_0000UL : 0x7e00_c020_0000UL;
        var trace = Mapped(dst, op == "mremap_move_pud" ? 0x4000_0000UL : 0x20_0000UL)
            .Op("mremap-41", 1, op, $"mm=5 {keys} spare=300")
            .Op("mremap-41", 1, "mmap_unlock", "mm=5")
            .Op("mremap-41", 1, "access", $"mm=5 va=0x{newPage:x}");

        var (engine, result) = Run(trace, profile);

        Assert.True(result.Findings.Count == 0, VariantTrace.Describe(result));
        Assert.Equal(EntryValue.Leaf(Pfn), engine.EntryNow(5, newPage, Level.Pte));
        // The first spare is the table linked at the top of what was missing.
        Assert.Equal(EntryValue.Table(table), engine.EntryNow(5, newPage, level + 1));
    }

    [SkippableTheory]
    [InlineData("latest")]
    [InlineData("v5.8")]
    public void Run_ExecShiftIntoAnotherPudRegion_AllocatesPudPmdAndPteTablesInThatOrder(string profile)
    {
        // shift_arg_pages / relocate_vma_down call move_page_tables too: the stack page moves 0x40000000 down, into a
        // 512G region with no PUD table: pud_alloc takes 300, pmd_alloc 301, move_ptes' pte_alloc 302.
        const ulong newPage = Page - 0x4000_0000;
        var trace = new VariantTrace()
            .Space("exec-43", 1, 5, 100, Page & ~0x1f_ffffUL, "stack")
            .Map("exec-43", 1, 5, Page, Pfn)
            .Op("exec-43", 1, "ctx_switch", "mm=5")
            .Op("exec-43", 1, "exec_shift_stack", $"mm=5 old=0x{Page - 0x1000:x} new=0x{newPage - 0x1000:x} len=0x2000 spare=300");

        var (engine, result) = Run(trace, profile);

        Assert.True(result.Findings.Count == 0, VariantTrace.Describe(result));
        Assert.Equal(EntryValue.Leaf(Pfn), engine.EntryNow(5, newPage, Level.Pte));
        Assert.Equal(EntryValue.Table(302), engine.EntryNow(5, newPage, Level.Pmd));
        Assert.Equal(EntryValue.Table(301), engine.EntryNow(5, newPage, Level.Pud));
        Assert.Equal(EntryValue.Table(300), engine.EntryNow(5, newPage, Level.P4d));
    }

    [SkippableFact]
    public void Run_MoveWaitsForThePageTableLock_AndUsesThePmdTableTheHolderLinked()
    {
        // __pmd_alloc re-tests the PUD entry under mm->page_table_lock: a fault on CPU2 holds the lock and links its
        // own PMD table 200 there; the move waits, finds the entry populated and leaves its spare 300 unused.
        const ulong dst = 0x7e00_c020_0000;
        var trace = Mapped(dst, 0x20_0000)
            .Op("fault-42", 2, "ctx_switch", "mm=5")
            .Op("fault-42", 2, "ptl_lock", $"mm=5 va=0x{dst:x} level=pud")
            .Op("mremap-41", 1, "mremap_move_pmd", $"mm=5 old=0x7e0000200000 new=0x{dst:x} spare=300")
            .Op("fault-42", 2, "table_alloc", "table=200 level=pmd")
            .Op("fault-42", 2, "pud_populate", $"mm=5 va=0x{dst:x} table=200")
            .Op("fault-42", 2, "ptl_unlock", $"mm=5 va=0x{dst:x} level=pud")
            .Op("mremap-41", 1, "mmap_unlock", "mm=5")
            .Op("mremap-41", 1, "access", $"mm=5 va=0x{dst + 0x1000:x}");

        var (engine, result) = Run(trace, "latest");

        Assert.True(result.Findings.Count == 0, VariantTrace.Describe(result));
        Assert.Equal(EntryValue.Table(200), engine.EntryNow(5, dst, Level.Pud));
        Assert.Equal(EntryValue.Leaf(Pfn), engine.EntryNow(5, dst + 0x1000, Level.Pte));
        Assert.Null(engine.GetTable(300));
    }

    [SkippableFact]
    public void Run_MoveIntoARegionWithoutAPmdTableAndNoSpare_IsInconsistentInputNamingTheAllocation()
    {
        var trace = Mapped(0x7e00_c020_0000, 0x20_0000)
            .Op("mremap-41", 1, "mremap_move_pmd", "mm=5 old=0x7e0000200000 new=0x7e00c0200000");

        var result = trace.Run("latest");

        // The first finding names the allocation; the step's later micro-ops find no table either.
        var finding = result.Findings[0];
        Assert.Equal(FindingClass.Inconsistent, finding.Class);
        Assert.Contains("seq 18 (pmd_alloc): pmd_alloc: mm5 has no PMD table for 0x7e00c0200000 and the step has no spare= to allocate one", finding.Message, StringComparison.Ordinal);
    }
}
