namespace Pipeline.Replay.Triage;

/// <summary>
/// What is known about one seed race: its symptom, the kernels that had it, the fix, and the scenario that shows it.
/// Versions are the profile table's (docs/profiles.md); "open" is decided from a profile's fixes and features.
/// </summary>
/// <param name="Id">R1 … R6.</param>
/// <param name="Title">One line: the race.</param>
/// <param name="Kernels">Which kernels had it.</param>
/// <param name="Fix">The fix as <c>--fix</c> names it.</param>
/// <param name="FixCommit">The fix's commit.</param>
/// <param name="FixedIn">First releases with the fix.</param>
/// <param name="ReporterTid">Per scenario: the task that reports the crash in the scenario (the report's task takes its place).</param>
/// <param name="VictimPfn">Per scenario: the page the symptom is about (the report's pfn takes its place), 0 when none.</param>
public sealed record RaceFacts(
    string Id,
    string Title,
    string Kernels,
    string Fix,
    string FixCommit,
    string FixedIn,
    IReadOnlyDictionary<string, int> ReporterTid,
    IReadOnlyDictionary<string, ulong> VictimPfn)
{
    /// <summary>Whether <paramref name="profile"/> has the race open (the code that makes it possible, without the fix).</summary>
    public bool OpenIn(KernelProfile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        return Id switch
        {
            "R1" => profile.Has(KernelFeature.MovePmd) && !profile.Has(KernelFix.RmapLocksPmdMove),
            "R2" => !profile.Has(KernelFix.TableFreeIpiSync),
            "R3" => !profile.Has(KernelFix.TtuSync),
            "R4" => !profile.Has(KernelFix.MlockUnderPtl),
            "R5" => profile.Has(KernelFeature.MovePmd) && !profile.Has(KernelFix.RealignPmd) && !profile.Has(KernelFix.SkipPmdMoveOnOverlap),
            "R6" => profile.Has(KernelFeature.RetractWithoutMmapLock) && !profile.Has(KernelFix.PmdRecheckUnderLocks),
            _ => false,
        };
    }

    /// <summary>
    /// <paramref name="profile"/> with this race's fix added (<c>v5.13+rmap-locks-pmd-move</c>), or the profile itself
    /// when it has the fix already; the profile's own +/- fixes are kept.
    /// </summary>
    public KernelProfile Fixed(KernelProfile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        return profile.Has(KernelProfile.FixByName(Fix)) ? profile : KernelProfile.Parse(BaseName(profile), [.. FixSuffixes(profile), "+" + Fix]);
    }

    /// <summary>The six seed races.</summary>
    public static IReadOnlyList<RaceFacts> All { get; } =
    [
        new("R1", "mremap moves a whole PMD/PUD table while an rmap walk (migration, reclaim) holds it: stale TLB entry, the page is used after it is freed",
            "v5.0 (2c91bd4a4e2e, PMD moves; PUD moves from v5.11) up to v5.13; fixed in v5.14 and 5.13.3",
            "rmap-locks-pmd-move", "97113eb39fa7", "v5.14, v5.13.3",
            new Dictionary<string, int> { ["r1-pmd"] = 103, ["r1-pud"] = 103 },
            new Dictionary<string, ulong> { ["r1-pmd"] = 0x5000, ["r1-pud"] = 0x5000 }),
        new("R2", "khugepaged collapse frees or reuses a PTE table while GUP-fast walks it locklessly (use-after-free of a page table)",
            "since THP collapse (ba76149f47d8, 2.6.38) up to v6.0; fixed in v6.1-rc8 (manual backports to older stable)",
            "table-free-ipi-sync", "2ba99c5e0881", "v6.1",
            new Dictionary<string, int> { ["r2-anon"] = 201, ["r2-file"] = 201 },
            new Dictionary<string, ulong> { ["r2-anon"] = 0x5000, ["r2-file"] = 0x5000 }),
        new("R3", "split_huge_page's unmap_page races a zap: try_to_unmap skips a just-cleared entry without the PTL and the mapcount check fails (VM_BUG_ON_PAGE(!unmap_success))",
            "since v4.6 (fec89c109f3a) up to v5.13-rc6 and 5.10.46; fixed in v5.13-rc7 and 5.10.47",
            "ttu-sync", "732ed55823fc", "v5.13, v5.10.47",
            new Dictionary<string, int> { ["r3-pte"] = 301, ["r3-thp"] = 301 },
            new Dictionary<string, ulong> { ["r3-pte"] = 0x5000, ["r3-thp"] = 0x8000 }),
        new("R4", "try_to_unmap_one sets PageMlocked outside the PTE lock while truncation or exit unmaps the page: it is freed Mlocked (Bad page state) or stays unevictable",
            "before v4.4 (mmap_sem trylock in try_to_unmap_one); fixed in v4.4",
            "mlock-under-ptl", "b87537d9e2fe", "v4.4",
            new Dictionary<string, int> { ["r4-truncate"] = 402, ["r4-munlock"] = 402 },
            new Dictionary<string, ulong> { ["r4-truncate"] = 0x5000, ["r4-munlock"] = 0x5000 }),
        new("R5", "move_normal_pmd finds its destination PMD populated when exec's shift_arg_pages moves the stack over itself (WARN in move_normal_pmd/move_page_tables)",
            "v5.0 (2c91bd4a4e2e) up to v6.6 (WARN_ON_ONCE from v5.8); closed by the PMD realignment of v6.7",
            "realign-pmd", "af8ca1c14906, b1e5a3dee255", "v6.7",
            new Dictionary<string, int> { ["r5-exec-stack"] = 501 },
            new Dictionary<string, ulong>()),
        new("R6", "retract_page_tables (khugepaged, file THP, no mmap_lock since v6.5) frees a PTE table that mremap's move_normal_pmd is moving: the new PMD points to a freed table",
            "v6.5 (1d65b771bc08) up to v6.11; fixed in v6.12 (and 6.11.y)",
            "pmd-recheck-under-locks", "6fa1066fc5d0", "v6.12",
            new Dictionary<string, int> { ["r6-retract"] = 601 },
            new Dictionary<string, ulong>()),
    ];

    /// <summary>The race called <paramref name="id"/>.</summary>
    public static RaceFacts Get(string id) => All.First(r => r.Id == id);

    private static string BaseName(KernelProfile profile) =>
        KernelProfile.Names.Where(n => profile.Name.StartsWith(n, StringComparison.Ordinal)).MaxBy(n => n.Length) ?? profile.Name;

    private static IEnumerable<string> FixSuffixes(KernelProfile profile)
    {
        string name = BaseName(profile);
        KernelProfile base0 = KernelProfile.Parse(name);
        foreach (string fix in KernelProfile.FixNamesOf(profile.Fixes & ~base0.Fixes))
        {
            yield return "+" + fix;
        }
        foreach (string fix in KernelProfile.FixNamesOf(base0.Fixes & ~profile.Fixes))
        {
            yield return "-" + fix;
        }
    }
}
