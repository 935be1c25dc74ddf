namespace Pipeline.Replay.Tests.Defects;

/// <summary>Issue 9, defect 1: I3 judges the mapcount and PTE the asserting walker observes, not an op pattern.</summary>
public class I3ObservedStateTests
{
    private const ulong Va = 0x7f0000000000;
    private const ulong Page = Va + 0x5000;

    private static VariantTrace Setup(bool decrementFirst)
    {
        // zap_pte_range on CPU0 clears the PTE; split's unmap_page on CPU3 (no TTU_SYNC) peeks locklessly.
        var t = new VariantTrace()
            .Space("zap-77", 0, 3, 40, Va, rmap: 9)
            .Map("zap-77", 0, 3, Page, 0x9100)
            .Op("zap-77", 0, "ctx_switch", "mm=3")
            .Op("split-78", 3, "ctx_switch", "mm=0")
            .Op("zap-77", 0, "zap_clear", $"mm=3 va=0x{Page:x}");
        if (decrementFirst)
        {
            // page_remove_rmap ran before the walker looked: the mapcount it reads is already 0.
            t.Op("zap-77", 0, "map_dec", "pfn=0x9100");
        }
        t.Op("split-78", 3, "ttu_start", "pfn=0x9100 rmap=9 assert=1")
            .Op("split-78", 3, "ttu_walk", $"mm=3 va=0x{Page:x} pfn=0x9100")
            .Op("split-78", 3, "ttu_unmap", $"mm=3 va=0x{Page:x} pfn=0x9100")
            .Op("split-78", 3, "ttu_end", "pfn=0x9100 rmap=9 assert=1");
        if (decrementFirst)
        {
            t.Op("zap-77", 0, "ptl_unlock", $"mm=3 va=0x{Page:x} level=pte")
                .Op("zap-77", 0, "tlb_flush", $"mm=3 va=0x{Page:x} len=0x1000");
        }
        else
        {
            t.Op("zap-77", 0, "zap_finish", $"mm=3 va=0x{Page:x} pfn=0x9100");
        }
        return t.Op("zap-77", 0, "ref_put", "pfn=0x9100").Op("zap-77", 0, "page_free", "pfn=0x9100");
    }

    [SkippableFact]
    public void Run_MapcountAlreadyZeroWhenAsserted_NoI3()
    {
        // The writer's section is still open, but !page_mapcount holds: the assertion cannot fire.
        var result = Setup(decrementFirst: true).Run("v5.10.46");

        Assert.True(result.Findings.Count == 0, VariantTrace.Describe(result));
    }

    [SkippableFact]
    public void Run_MapcountStillOneWhenAsserted_I3NamesTheObservedState()
    {
        var result = Setup(decrementFirst: false).Run("v5.10.46", Arch.Arm64);

        var finding = Assert.Single(result.Findings);
        Assert.Equal("I3", finding.Checker);
        Assert.Equal(0x9100UL, finding.Pfn);
        Assert.Contains("returns 1", finding.Message, StringComparison.Ordinal);
        Assert.Equal([0, 3], finding.Cpus);
    }

    [SkippableFact]
    public void Run_MapcountStillOneUnderTtuSync_Clean()
    {
        var result = Setup(decrementFirst: false).Run("v5.10.47");

        Assert.True(result.Findings.Count == 0, VariantTrace.Describe(result));
    }
}
