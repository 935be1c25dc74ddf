namespace Pipeline.Replay.Tests.Defects;

/// <summary>Issue 9, defect 2: one race instance (checker, mm, page or table, causing op) gives one finding.</summary>
public class OneFindingPerInstanceTests
{
    private const ulong Va = 0x5555_0000_0000;
    private const ulong Page = Va + 0x3000;

    /// <summary>R4 truncate variant: reclaim on CPU2 sets Mlocked after truncation on CPU0 unmapped the page.</summary>
    private static VariantTrace MlockAfterTruncate()
    {
        return new VariantTrace()
            .Space("reclaim-900", 2, 7, 60, Va, vmflags: "locked|file", rmap: 4)
            .Map("reclaim-900", 2, 7, Page, 0x7700)
            .Op("reclaim-900", 2, "ctx_switch", "mm=0")
            .Op("trunc-901", 0, "ctx_switch", "mm=0")
            .Op("reclaim-900", 2, "ttu_start", "pfn=0x7700 rmap=4")
            .Op("reclaim-900", 2, "ttu_mlock_check", $"mm=7 va=0x{Page:x} pfn=0x7700")
            // unmap_mapping_range holds the file's i_mmap (rmap 5) for read; reclaim walks the COWed page's anon_vma.
            .Op("trunc-901", 0, "rmap_lock", "rmap=5 mode=r")
            .Op("trunc-901", 0, "zap_clear", $"mm=7 va=0x{Page:x}")
            .Op("trunc-901", 0, "zap_finish", $"mm=7 va=0x{Page:x} pfn=0x7700")
            .Op("trunc-901", 0, "rmap_unlock", "rmap=5")
            .Op("reclaim-900", 2, "ttu_mlock_set", $"mm=7 va=0x{Page:x} pfn=0x7700")
            .Op("reclaim-900", 2, "ttu_mlock_page", $"mm=7 va=0x{Page:x} pfn=0x7700")
            .Op("reclaim-900", 2, "ttu_end", "pfn=0x7700 rmap=4")
            .Op("trunc-901", 0, "ref_put", "pfn=0x7700")
            .Op("trunc-901", 0, "page_free", "pfn=0x7700");
    }

    [SkippableTheory]
    [InlineData(Arch.X86)]
    [InlineData(Arch.Arm64)]
    public void Run_RacyMlockThenFree_OneFindingWithTheFreeInItsWitness(Arch arch)
    {
        var result = MlockAfterTruncate().Run("v4.3", arch);

        var finding = Assert.Single(result.Findings);
        Assert.Equal("I4", finding.Checker);
        Assert.Equal(FindingClass.Race, finding.Class);
        Assert.Contains("sets PG_mlocked", finding.Message, StringComparison.Ordinal);
        Assert.True(finding.Witness.Steps[^1].Op == "page_free", finding.ToJson());
        Assert.Contains("Bad page state (mlocked)", finding.Witness.Outcome, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Run_RacyMlockOfAStillMappedPage_OneFindingWithTheQuiescentOutcome()
    {
        // exit's munlock clears VM_LOCKED and PG_mlocked between reclaim's check and its set; the page
        // stays mapped (by mm 7) and Mlocked at the end: cause and outcome are one finding.
        var result = new VariantTrace()
            .Space("kswapd1-910", 1, 7, 60, Va, vmflags: "locked", rmap: 4)
            .Map("kswapd1-910", 1, 7, Page, 0x7700)
            .Op("kswapd1-910", 1, "ctx_switch", "mm=0")
            .Op("exit-911", 3, "ctx_switch", "mm=7")
            .Op("kswapd1-910", 1, "ttu_start", "pfn=0x7700 rmap=4")
            .Op("kswapd1-910", 1, "ttu_mlock_check", $"mm=7 va=0x{Page:x} pfn=0x7700")
            .Op("kswapd1-910", 1, "ttu_mlock_set", $"mm=7 va=0x{Page:x} pfn=0x7700")
            .Op("exit-911", 3, "vm_flags_write", $"mm=7 va=0x{Va:x} clear=locked")
            .Op("exit-911", 3, "ptl_lock", $"mm=7 va=0x{Page:x} level=pte")
            .Op("exit-911", 3, "entry_read", $"mm=7 va=0x{Page:x} level=pte")
            .Op("exit-911", 3, "ptl_unlock", $"mm=7 va=0x{Page:x} level=pte")
            .Op("exit-911", 3, "flag_clear", "pfn=0x7700 flag=mlocked")
            .Op("kswapd1-910", 1, "ttu_mlock_page", $"mm=7 va=0x{Page:x} pfn=0x7700")
            .Op("kswapd1-910", 1, "ttu_end", "pfn=0x7700 rmap=4")
            .Run("v4.3");

        var finding = Assert.Single(result.Findings);
        Assert.Equal("I4", finding.Checker);
        Assert.Contains("at the end of the trace", finding.Witness.Outcome, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Run_TwoCpusKeepEntriesOfOneFreedPage_OneI1Finding()
    {
        // The page is unmapped and freed without any flush while CPU1 and CPU2 both hold its translation.
        var result = new VariantTrace()
            .Space("a-1", 1, 2, 10, Va)
            .Map("a-1", 1, 2, Page, 0x6100)
            .Op("a-1", 1, "ctx_switch", "mm=2")
            .Op("b-2", 2, "ctx_switch", "mm=2")
            .Op("a-1", 1, "access", $"mm=2 va=0x{Page:x}")
            .Op("b-2", 2, "access", $"mm=2 va=0x{Page:x} write=1")
            .Op("c-3", 3, "ptl_lock", $"mm=2 va=0x{Page:x} level=pte")
            .Op("c-3", 3, "pte_clear", $"mm=2 va=0x{Page:x}")
            .Op("c-3", 3, "map_dec", "pfn=0x6100")
            .Op("c-3", 3, "ptl_unlock", $"mm=2 va=0x{Page:x} level=pte")
            .Op("c-3", 3, "page_free", "pfn=0x6100")
            .Run("latest");

        var finding = Assert.Single(result.Findings);
        Assert.Equal("I1", finding.Checker);
        Assert.Equal([1, 2, 3], finding.Cpus);
        Assert.Contains("CPU2 also holds", finding.Witness.Outcome, StringComparison.Ordinal);
    }
}
