namespace Pipeline.Replay.Tests.Defects;

/// <summary>Issue 9, defect 4: R4's mmap_sem trylock and its unlock are expanded under the same condition.</summary>
public class MlockTrylockTests
{
    private const ulong Va = 0x6000_0000_0000;

    private static VariantTrace Reclaim(string vmflags, bool mapped)
    {
        var t = new VariantTrace()
            .Space("kswapd0-70", 1, 4, 80, Va, vmflags: vmflags, rmap: 6);
        if (mapped)
        {
            t.Map("kswapd0-70", 1, 4, Va + 0x9000, 0x4400);
        }
        else
        {
            t.Op("kswapd0-70", 1, "page_alloc", "pfn=0x4400");
        }
        return t.Op("kswapd0-70", 1, "ctx_switch", "mm=0")
            .Op("kswapd0-70", 1, "ttu_start", "pfn=0x4400 rmap=6")
            .Op("kswapd0-70", 1, "ttu_mlock_check", $"mm=4 va=0x{Va + 0x9000:x} pfn=0x4400")
            .Op("kswapd0-70", 1, "ttu_mlock_set", $"mm=4 va=0x{Va + 0x9000:x} pfn=0x4400")
            .Op("kswapd0-70", 1, "ttu_mlock_page", $"mm=4 va=0x{Va + 0x9000:x} pfn=0x4400")
            .Op("kswapd0-70", 1, "ttu_end", "pfn=0x4400 rmap=6")
            // munmap takes the mmap_lock for write afterwards: it must be free.
            .Op("munmap-71", 2, "mmap_lock", "mm=4 mode=w")
            .Op("munmap-71", 2, "mmap_unlock", "mm=4");
    }

    [SkippableTheory]
    [InlineData("locked", true)]
    [InlineData("", true)]
    [InlineData("locked", false)]
    [InlineData("", false)]
    public void Run_CorrectTraceUnderV43_Clean(string vmflags, bool mapped)
    {
        foreach (var profile in new[] { "v4.3", "v4.4", "none" })
        {
            var result = Reclaim(vmflags, mapped).Run(profile);

            Assert.True(result.Findings.Count == 0, $"{profile}: {VariantTrace.Describe(result)}");
            Assert.Empty(result.Unfinished);
        }
    }

    [SkippableFact]
    public void Run_TrylockFailsUnderV43_NoUnlockAndNoSet()
    {
        // munmap holds the mmap_lock for write: the trylock fails, nothing is set, nothing is released.
        var result = new VariantTrace()
            .Space("kswapd0-70", 1, 4, 80, Va, vmflags: "locked", rmap: 6)
            .Map("kswapd0-70", 1, 4, Va + 0x9000, 0x4400)
            .Op("kswapd0-70", 1, "ctx_switch", "mm=0")
            .Op("munmap-71", 2, "mmap_lock", "mm=4 mode=w")
            .Op("kswapd0-70", 1, "ttu_start", "pfn=0x4400 rmap=6")
            .Op("kswapd0-70", 1, "ttu_mlock_check", $"mm=4 va=0x{Va + 0x9000:x} pfn=0x4400")
            .Op("kswapd0-70", 1, "ttu_mlock_set", $"mm=4 va=0x{Va + 0x9000:x} pfn=0x4400")
            .Op("kswapd0-70", 1, "ttu_mlock_page", $"mm=4 va=0x{Va + 0x9000:x} pfn=0x4400")
            .Op("kswapd0-70", 1, "ttu_end", "pfn=0x4400 rmap=6")
            .Op("munmap-71", 2, "mmap_unlock", "mm=4")
            .Run("v4.3");

        Assert.True(result.Findings.Count == 0, VariantTrace.Describe(result));
    }
}
