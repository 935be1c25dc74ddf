namespace Pipeline.Replay.Tests.Defects;

/// <summary>
/// Issue 9, defect 8: the flush's <c>tables=1</c>, <c>free=gather</c> and I1's relocation rule do what the
/// kernel does.
/// </summary>
public class FlushInputsTests
{
    private const ulong Va = 0x3000_0000_0000;

    /// <summary>
    /// CPU2 walks mm 6 (its paging-structure cache names PTE table 74), then either keeps running it or
    /// switches to a kernel thread; CPU0 unlinks the table, flushes and frees it.
    /// </summary>
    private static VariantTrace UnlinkAndFree(bool lazy, string flushKeys, string free = "")
    {
        var t = new VariantTrace()
            .Space("owner-60", 0, 6, 70, Va)
            .Map("owner-60", 0, 6, Va + 0x4000, 0x1400)
            .Op("cpu2-61", 2, "ctx_switch", "mm=6")
            .Op("cpu2-61", 2, "access", $"mm=6 va=0x{Va + 0x4000:x}");
        if (lazy)
        {
            t.Op("cpu2-61", 2, "ctx_switch", "mm=0");
        }
        t.Op("owner-60", 0, "ctx_switch", "mm=6")
            .Op("owner-60", 0, "ptl_lock", $"mm=6 va=0x{Va + 0x4000:x} level=pte")
            .Op("owner-60", 0, "pte_clear", $"mm=6 va=0x{Va + 0x4000:x}")
            .Op("owner-60", 0, "map_dec", "pfn=0x1400")
            .Op("owner-60", 0, "ptl_unlock", $"mm=6 va=0x{Va + 0x4000:x} level=pte")
            .Op("owner-60", 0, "ptl_lock", $"mm=6 va=0x{Va:x} level=pmd")
            .Op("owner-60", 0, "pmd_clear", $"mm=6 va=0x{Va:x}")
            .Op("owner-60", 0, "ptl_unlock", $"mm=6 va=0x{Va:x} level=pmd");
        if (free.Length > 0)
        {
            // mmu_gather: the table is handed over before tlb_finish_mmu's flush.
            t.Op("owner-60", 0, "table_free", $"table=74 {free}");
        }
        t.Op("owner-60", 0, "tlb_flush", $"mm=6 va=0x{Va:x} len=0x200000{flushKeys}");
        if (free.Length == 0)
        {
            t.Op("owner-60", 0, "table_free", "table=74");
        }
        return t.Op("owner-60", 0, "page_free", "pfn=0x1400");
    }

    [SkippableTheory]
    [InlineData(Arch.Arm64, false, "", 1)]
    [InlineData(Arch.Arm64, false, " tables=1", 0)]
    [InlineData(Arch.X86, true, "", 1)]
    [InlineData(Arch.X86, true, " tables=1", 0)]
    [InlineData(Arch.X86, false, "", 0)]
    public void Run_TableFreedAfterFlush_WalkCacheDroppedOnlyWhereFreedTablesReaches(Arch arch, bool lazy, string keys, int expected)
    {
        // arm64: without freed_tables the TLBI is last-level and leaves the walk cache; x86: INVLPG drops it
        // on CPUs running the mm, and freed_tables also interrupts the lazy CPU that still has the mm loaded.
        var result = UnlinkAndFree(lazy, keys).Run("latest", arch);

        Assert.True(result.Findings.Count == expected, VariantTrace.Describe(result));
        Assert.All(result.Findings, f =>
        {
            Assert.Equal("I1", f.Checker);
            Assert.Contains("paging-structure cache", f.Message, StringComparison.Ordinal);
        });
    }

    [SkippableFact]
    public void Run_GatherFreeBeforeTheFlush_FreedAfterTheFlush()
    {
        // The table is freed at the end of the mmu_gather, after the flush dropped CPU2's walk cache.
        var result = UnlinkAndFree(lazy: false, " tables=1", "free=gather").Run("latest", Arch.Arm64);

        Assert.True(result.Findings.Count == 0, VariantTrace.Describe(result));
    }

    [SkippableFact]
    public void Run_GatherFreeWithoutAFlush_InconsistentInput()
    {
        var result = new VariantTrace()
            .Space("owner-60", 0, 6, 70, Va)
            .Op("owner-60", 0, "pmd_clear", $"mm=6 va=0x{Va:x}")
            .Op("owner-60", 0, "table_free", "table=74 free=gather")
            .Run("latest");

        var finding = Assert.Single(result.Findings);
        Assert.Equal(FindingClass.Inconsistent, finding.Class);
        Assert.Contains("never flushed", finding.Message, StringComparison.Ordinal);
    }

    /// <summary>GUP-fast on CPU3 (IRQs off) and zap on CPU1 whose mmu_gather frees the PTE table.</summary>
    private static VariantTrace GupVersusGatherFree(string flushKeys)
    {
        return new VariantTrace()
            .Space("zap-81", 1, 2, 90, Va)
            .Op("gup-82", 3, "ctx_switch", "mm=2")
            .Op("zap-81", 1, "ctx_switch", "mm=2")
            .Op("gup-82", 3, "irq_disable")
            .Op("gup-82", 3, "entry_read", $"mm=2 va=0x{Va:x} level=pmd lockless=1")
            .Op("zap-81", 1, "ptl_lock", $"mm=2 va=0x{Va:x} level=pmd")
            .Op("zap-81", 1, "pmd_clear", $"mm=2 va=0x{Va:x}")
            .Op("zap-81", 1, "ptl_unlock", $"mm=2 va=0x{Va:x} level=pmd")
            .Op("zap-81", 1, "table_free", "table=94 free=gather")
            .Op("zap-81", 1, "tlb_flush", $"mm=2 va=0x{Va:x} len=0x200000 tables=1{flushKeys}")
            .Op("gup-82", 3, "entry_read", "table=94 idx=0 lockless=1")
            .Op("gup-82", 3, "irq_enable");
    }

    [SkippableFact]
    public void Run_GatherFreeAfterAnIpiFlush_TheIpiWaitsForGupFast()
    {
        // Without RCU table freeing the flush IPI is the synchronisation: it cannot finish while CPU3 has
        // IRQs off, so the table is freed only after GUP-fast's walk.
        var result = GupVersusGatherFree("").Run("latest", Arch.X86);

        Assert.True(result.Findings.Count == 0, VariantTrace.Describe(result));
        Assert.Empty(result.Unfinished);
    }

    [SkippableTheory]
    [InlineData(Arch.X86, " ipi=0")]
    [InlineData(Arch.Arm64, "")]
    public void Run_GatherFreeAfterAFlushWithoutIpi_I2(Arch arch, string keys)
    {
        var result = GupVersusGatherFree(keys).Run("latest", arch);

        var finding = Assert.Single(result.Findings);
        Assert.Equal("I2", finding.Checker);
        Assert.Equal("tlb_flush", finding.Witness.Steps.Last(s => s.Op != "entry_read").Op);
    }

    [SkippableFact]
    public void Run_PrimitiveMoveUnlockedBeforeItsFlush_NoFindingWithoutAFree()
    {
        // A lab trace of a pre-eb66ae030829 move_ptes: the PTL is dropped before the old range is flushed.
        // CPU2's entry for the old address is stale for a moment, which harms nothing unless the page is
        // freed while it is usable; I1 judges that free, not the unlock.
        var t = new VariantTrace()
            .Space("mremap-40", 0, 6, 70, Va)
            .Map("mremap-40", 0, 6, Va + 0x4000, 0x1400)
            .Op("cpu2-41", 2, "ctx_switch", "mm=6")
            .Op("cpu2-41", 2, "access", $"mm=6 va=0x{Va + 0x4000:x}")
            .Op("mremap-40", 0, "ptl_lock", $"mm=6 va=0x{Va + 0x4000:x} level=pte")
            .Op("mremap-40", 0, "pte_move", $"mm=6 old=0x{Va + 0x4000:x} new=0x{Va + 0x8000:x}")
            .Op("mremap-40", 0, "ptl_unlock", $"mm=6 va=0x{Va + 0x4000:x} level=pte");
        var clean = t.Run("latest");
        Assert.True(clean.Findings.Count == 0, VariantTrace.Describe(clean));

        // A walker then finds the page at its new address, unmaps and flushes that address only, and frees it.
        var freed = t.Op("reclaim-42", 3, "ptl_lock", $"mm=6 va=0x{Va + 0x8000:x} level=pte")
            .Op("reclaim-42", 3, "pte_clear", $"mm=6 va=0x{Va + 0x8000:x}")
            .Op("reclaim-42", 3, "tlb_flush", $"mm=6 va=0x{Va + 0x8000:x} len=0x1000")
            .Op("reclaim-42", 3, "map_dec", "pfn=0x1400")
            .Op("reclaim-42", 3, "ptl_unlock", $"mm=6 va=0x{Va + 0x8000:x} level=pte")
            .Op("reclaim-42", 3, "page_free", "pfn=0x1400")
            .Op("mremap-40", 0, "tlb_flush", $"mm=6 va=0x{Va + 0x4000:x} len=0x1000")
            .Run("latest");
        var finding = Assert.Single(freed.Findings);
        Assert.Equal("I1", finding.Checker);
        Assert.Equal(Va + 0x4000, finding.Va);
    }
}
