namespace Pipeline.Replay.Tests.Defects;

/// <summary>Issue 9, defect 3: kernel steps take the locks the profile says, whatever optional keys the op carries.</summary>
public class KernelStepLockTests
{
    private const ulong Old = 0x7e00_0040_0000;
    private const ulong New = 0x7e00_c000_0000;

    /// <summary>R1 variant: migration on CPU0, mremap on CPU2, a user thread on CPU3; the move names no rmap object.</summary>
    private static VariantTrace MoveWithoutRmapKey(string moveKeys)
    {
        return new VariantTrace()
            .Space("mig-31", 0, 5, 100, Old, rmap: 12)
            .Map("mig-31", 0, 5, Old + 0x7000, 0x8810)
            // The destination's PMD table (another PUD entry of the same PUD table).
            .Op("mig-31", 0, "table_alloc", "table=110 level=pmd")
            .Op("mig-31", 0, "pud_populate", $"mm=5 va=0x{New:x} table=110")
            .Op("mremap-32", 2, "ctx_switch", "mm=5")
            .Op("mig-31", 0, "ctx_switch", "mm=0")
            .Op("user-33", 3, "ctx_switch", "mm=5")
            .Op("mremap-32", 2, "mmap_lock", "mm=5 mode=w")
            .Op("mig-31", 0, "ttu_start", "pfn=0x8810 rmap=12")
            .Op("mig-31", 0, "ttu_walk", $"mm=5 va=0x{Old + 0x7000:x} pfn=0x8810")
            .Op("mremap-32", 2, "vma_create", $"mm=5 va=0x{New:x} len=0x200000 rmap=12")
            .Op("mremap-32", 2, "mremap_move_pmd", $"mm=5 old=0x{Old:x} new=0x{New:x}{moveKeys}")
            .Op("user-33", 3, "access", $"mm=5 va=0x{New + 0x7000:x} write=1")
            .Op("mremap-32", 2, "mmap_unlock", "mm=5")
            .Op("mig-31", 0, "ttu_unmap", $"mm=5 va=0x{Old + 0x7000:x} pfn=0x8810 migrate=1")
            .Op("mig-31", 0, "ttu_end", "pfn=0x8810 rmap=12")
            .Op("mig-31", 0, "page_free", "pfn=0x8810")
            .Op("user-33", 3, "access", $"mm=5 va=0x{New + 0x7000:x}");
    }

    [SkippableTheory]
    [InlineData("latest", "")]
    [InlineData("v5.13.3", "")]
    [InlineData("latest", " rmap=12")]
    [InlineData("v5.13", " need_rmap_locks=1")]
    public void Run_MoveOfAVmaWithAnAnonVma_FixedKernelTakesItsRmapLock(string profile, string keys)
    {
        foreach (var arch in new[] { Arch.X86, Arch.Arm64 })
        {
            var result = MoveWithoutRmapKey(keys).Run(profile, arch);

            Assert.True(result.Findings.Count == 0, $"{profile}/{arch}: {VariantTrace.Describe(result)}");
            Assert.Empty(result.Unfinished);
        }
    }

    [SkippableTheory]
    [InlineData("v5.13", "")]
    [InlineData("v5.13", " rmap=12")]
    [InlineData("latest-rmap-locks-pmd-move", "")]
    public void Run_MoveOfAVmaWithAnAnonVma_BuggyKernelRacesWithTheWalk(string profile, string keys)
    {
        string name = profile.Split('-')[0];
        var fixes = profile.Contains('-', StringComparison.Ordinal) ? new[] { profile[name.Length..] } : null;
        var result = ReplayEngine.Run(MoveWithoutRmapKey(keys).Load(), KernelProfile.Parse(name, fixes), Arch.X86);

        var finding = Assert.Single(result.Findings);
        Assert.Equal("I1", finding.Checker);
        Assert.Equal(New + 0x7000, finding.Va);
    }
}
