using System.Collections.Frozen;

namespace Pipeline.Replay;

/// <summary>Architecture: sets TLB flush scope and mechanism.</summary>
public enum Arch
{
    /// <summary>x86-64: shootdowns by IPI to <c>mm_cpumask</c>; the batched reclaim flush is a full flush of the union cpumask.</summary>
    X86,
    /// <summary>arm64: broadcast TLBI (no IPI); batched reclaim issues one TLBI per page at add time and the batch flush is only a barrier.</summary>
    Arm64,
}

/// <summary>Fixes a profile may contain (<c>--fix +NAME/-NAME</c>).</summary>
[Flags]
public enum KernelFix
{
    /// <summary>No fix.</summary>
    None = 0,
    /// <summary>97113eb39fa7: always take the rmap locks around NORMAL_PMD/NORMAL_PUD moves (R1).</summary>
    RmapLocksPmdMove = 1 << 0,
    /// <summary>2ba99c5e0881: tlb_remove_table_sync_one() after pmdp_collapse_flush (R2).</summary>
    TableFreeIpiSync = 1 << 1,
    /// <summary>732ed55823fc: TTU_SYNC from unmap_page, PVMW_SYNC takes the PTL (R3).</summary>
    TtuSync = 1 << 2,
    /// <summary>b87537d9e2fe: mlock_vma_page under the PTE lock, no mmap_sem trylock (R4).</summary>
    MlockUnderPtl = 1 << 3,
    /// <summary>Kirill's unmerged PATCHv2 (July 2020): no PMD move when source and destination overlap (R5).</summary>
    SkipPmdMoveOnOverlap = 1 << 4,
    /// <summary>f81fdd0c4ab7: the populated-destination check becomes WARN_ON_ONCE (R5: quieter, not fixed).</summary>
    WarnOnOnce = 1 << 5,
    /// <summary>af8ca1c14906 + b1e5a3dee255: realign mutually aligned moves down to a PMD boundary, also for the exec stack (R5).</summary>
    RealignPmd = 1 << 6,
    /// <summary>6fa1066fc5d0: re-check pmd_present and !pmd_leaf under the locks in move_normal_pmd (R6).</summary>
    PmdRecheckUnderLocks = 1 << 7,
}

/// <summary>Code a kernel has that makes a race possible at all.</summary>
[Flags]
public enum KernelFeature
{
    /// <summary>No feature.</summary>
    None = 0,
    /// <summary>2c91bd4a4e2e (v5.0): mremap moves whole PMD entries (HAVE_MOVE_PMD).</summary>
    MovePmd = 1 << 0,
    /// <summary>c49dd3401802 (v5.11): mremap moves whole PUD entries (HAVE_MOVE_PUD).</summary>
    MovePud = 1 << 1,
    /// <summary>1d65b771bc08 (v6.5): retract_page_tables runs without mmap_lock.</summary>
    RetractWithoutMmapLock = 1 << 2,
    /// <summary>
    /// d23cb648e365 (v6.17 by inference): a MREMAP_FIXED move with unchanged size may span several VMAs and is
    /// done VMA by VMA (the mremap prediction reads this; without it such a call fails with -EFAULT).
    /// </summary>
    MultiVmaMremap = 1 << 3,
    /// <summary>
    /// fec89c109f3a (v4.6 by inference): split_huge_page's unmap_page checks the result of try_to_unmap
    /// (VM_BUG_ON_PAGE(!unmap_success), a !page_mapcount assertion); before it no caller asserted, so R3 has no
    /// consequence.
    /// </summary>
    SplitUnmapAssert = 1 << 4,
}

/// <summary>
/// A seed race as the profiles see it: the checker that reports it, the kernel features that make it possible
/// and the fixes that close it (any one of them). This is the one place that says which fix closes which race;
/// the engine's step expansions implement each fix's mechanism, and the scenario golden is checked against it.
/// </summary>
/// <param name="Id">R1…R6.</param>
/// <param name="Checker">I1…I6.</param>
/// <param name="Requires">Features that must all be present for the race to exist.</param>
/// <param name="ClosedBy">Fixes of which any one closes it.</param>
/// <param name="Summary">One line, in kernel terms.</param>
public sealed record KernelRace(string Id, string Checker, KernelFeature Requires, KernelFix ClosedBy, string Summary);

/// <summary>
/// A kernel as far as the replay model is concerned: which of the seed races' fixes and enabling features it
/// has. Kernel steps (<c>mremap_move_pmd</c>, <c>ttu_walk</c>, …) expand differently per profile. See docs/profiles.md.
/// </summary>
public sealed class KernelProfile
{
    private static readonly (string Name, KernelFix Fix, string Commit, string Version)[] s_fixes =
    [
        ("rmap-locks-pmd-move", KernelFix.RmapLocksPmdMove, "97113eb39fa7", "v5.14, v5.13.3"),
        ("table-free-ipi-sync", KernelFix.TableFreeIpiSync, "2ba99c5e0881", "v6.1-rc8"),
        ("ttu-sync", KernelFix.TtuSync, "732ed55823fc", "v5.13-rc7, v5.10.47"),
        ("mlock-under-ptl", KernelFix.MlockUnderPtl, "b87537d9e2fe", "v4.4"),
        ("skip-pmd-move-on-overlap", KernelFix.SkipPmdMoveOnOverlap, "(unmerged PATCHv2, 2020-07-15)", "never merged"),
        ("warn-on-once", KernelFix.WarnOnOnce, "f81fdd0c4ab7", "v5.8"),
        ("realign-pmd", KernelFix.RealignPmd, "af8ca1c14906, b1e5a3dee255", "v6.7"),
        ("pmd-recheck-under-locks", KernelFix.PmdRecheckUnderLocks, "6fa1066fc5d0", "v6.12"),
    ];

    private const KernelFeature AllFeatures = KernelFeature.MovePmd | KernelFeature.MovePud | KernelFeature.RetractWithoutMmapLock
        | KernelFeature.MultiVmaMremap | KernelFeature.SplitUnmapAssert;
    private const KernelFix Merged = KernelFix.RmapLocksPmdMove | KernelFix.TableFreeIpiSync | KernelFix.TtuSync
        | KernelFix.MlockUnderPtl | KernelFix.WarnOnOnce | KernelFix.RealignPmd | KernelFix.PmdRecheckUnderLocks;

    private static readonly FrozenDictionary<string, KernelProfile> s_named = BuildNamed();

    private KernelProfile(string name, KernelFix fixes, KernelFeature features, string description)
    {
        Name = name;
        Fixes = fixes;
        Features = features;
        Description = description;
    }

    /// <summary>Profile name (with any <c>+fix</c>/<c>-fix</c> adjustments appended).</summary>
    public string Name { get; }

    /// <summary>Fixes present.</summary>
    public KernelFix Fixes { get; }

    /// <summary>Features present.</summary>
    public KernelFeature Features { get; }

    /// <summary>One line: what the kernel has.</summary>
    public string Description { get; }

    /// <summary>Whether <paramref name="fix"/> is in.</summary>
    public bool Has(KernelFix fix) => (Fixes & fix) == fix;

    /// <summary>Whether <paramref name="feature"/> is in.</summary>
    public bool Has(KernelFeature feature) => (Features & feature) == feature;

    /// <summary>No fix at all, every feature: every seed race is open.</summary>
    public static KernelProfile None => s_named["none"];

    /// <summary>Every merged fix (mainline today); the unmerged skip-pmd-move-on-overlap is not included.</summary>
    public static KernelProfile Latest => s_named["latest"];

    /// <summary>The seed races: which features open them and which fixes close them (docs/profiles.md).</summary>
    public static IReadOnlyList<KernelRace> Races { get; } =
    [
        new("R1", "I1", KernelFeature.MovePmd, KernelFix.RmapLocksPmdMove,
            "NORMAL_PMD/PUD mremap vs try_to_unmap_one: a stale TLB entry under the new address survives the free"),
        new("R2", "I2", KernelFeature.None, KernelFix.TableFreeIpiSync,
            "khugepaged collapse vs GUP-fast: the PTE table is freed or reused under a lockless walker"),
        new("R3", "I3", KernelFeature.SplitUnmapAssert, KernelFix.TtuSync,
            "try_to_unmap without TTU_SYNC vs zap_pte_range: the asserting caller sees a false failure"),
        new("R4", "I4", KernelFeature.None, KernelFix.MlockUnderPtl,
            "try_to_unmap_one's mlock under the mmap_sem trylock vs munlock or truncation: a page left Mlocked"),
        new("R5", "I5", KernelFeature.MovePmd, KernelFix.RealignPmd | KernelFix.SkipPmdMoveOnOverlap,
            "shift_arg_pages: move_normal_pmd finds its destination populated, WARNs and falls back"),
        new("R6", "I6", KernelFeature.MovePmd | KernelFeature.RetractWithoutMmapLock, KernelFix.PmdRecheckUnderLocks,
            "move_page_tables classifies the PMD before its locks; retract_page_tables clears it in between"),
    ];

    /// <summary>Whether race <paramref name="id"/> (R1…R6) exists in this kernel: its features are in and no fix of it is.</summary>
    /// <exception cref="ArgumentException">Unknown race id.</exception>
    public bool IsOpen(string id)
    {
        foreach (var race in Races)
        {
            if (race.Id == id)
            {
                return Has(race.Requires) && (Fixes & race.ClosedBy) == 0;
            }
        }
        throw new ArgumentException($"Unknown race '{id}'; expected one of: {string.Join(", ", Races.Select(r => r.Id))}.", nameof(id));
    }

    /// <summary>Profile names in order.</summary>
    public static IReadOnlyList<string> Names { get; } =
    [
        "none", "v4.3", "v4.4", "v5.0", "v5.8", "v5.10.46", "v5.10.47", "v5.11", "v5.12", "v5.13", "v5.13.3", "v5.14",
        "v6.0", "v6.1", "v6.5", "v6.6", "v6.7", "v6.11", "v6.12", "v6.18", "latest",
    ];

    /// <summary>Fix names for <c>--fix</c>, with commit and first version.</summary>
    public static IEnumerable<(string Name, KernelFix Fix, string Commit, string Version)> FixNames => s_fixes;

    /// <summary>
    /// A profile by name, adjusted by <paramref name="fixes"/> entries <c>+NAME</c> (add) or <c>-NAME</c> (remove).
    /// </summary>
    /// <exception cref="ArgumentException">Unknown profile or fix name; the message lists the valid ones.</exception>
    public static KernelProfile Parse(string name, IEnumerable<string>? fixes = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (!s_named.TryGetValue(name, out var profile))
        {
            throw new ArgumentException($"Unknown kernel profile '{name}'; expected one of: {string.Join(", ", Names)}.", nameof(name));
        }
        if (fixes is null)
        {
            return profile;
        }
        var set = profile.Fixes;
        var suffix = new List<string>();
        foreach (var raw in fixes)
        {
            if (raw.Length < 2 || (raw[0] != '+' && raw[0] != '-'))
            {
                throw new ArgumentException($"Fix '{raw}' must be +NAME or -NAME.", nameof(fixes));
            }
            var fix = FixByName(raw[1..]);
            set = raw[0] == '+' ? set | fix : set & ~fix;
            suffix.Add(raw);
        }
        return suffix.Count == 0 ? profile : new KernelProfile(profile.Name + string.Concat(suffix), set, profile.Features, profile.Description);
    }

    /// <summary>The fix called <paramref name="name"/>.</summary>
    public static KernelFix FixByName(string name)
    {
        foreach (var f in s_fixes)
        {
            if (f.Name == name)
            {
                return f.Fix;
            }
        }
        throw new ArgumentException($"Unknown fix '{name}'; expected one of: {string.Join(", ", s_fixes.Select(f => f.Name))}.", nameof(name));
    }

    /// <summary>Names of the fixes in <paramref name="fixes"/>.</summary>
    public static IEnumerable<string> FixNamesOf(KernelFix fixes) => s_fixes.Where(f => (fixes & f.Fix) != 0).Select(f => f.Name);

    /// <inheritdoc />
    public override string ToString() => Name;

    private static FrozenDictionary<string, KernelProfile> BuildNamed()
    {
        const KernelFeature Pmd = KernelFeature.MovePmd | KernelFeature.SplitUnmapAssert;
        const KernelFeature PmdPud = Pmd | KernelFeature.MovePud;
        const KernelFeature F65 = PmdPud | KernelFeature.RetractWithoutMmapLock;
        const KernelFix F44 = KernelFix.MlockUnderPtl;
        const KernelFix F58 = F44 | KernelFix.WarnOnOnce;
        const KernelFix F513 = F58 | KernelFix.TtuSync;
        const KernelFix F5133 = F513 | KernelFix.RmapLocksPmdMove;
        const KernelFix F61 = F5133 | KernelFix.TableFreeIpiSync;
        const KernelFix F67 = F61 | KernelFix.RealignPmd;
        const KernelFix F612 = F67 | KernelFix.PmdRecheckUnderLocks;
        var list = new (string, KernelFix, KernelFeature, string)[]
        {
            ("none", KernelFix.None, AllFeatures, "no fix, every feature: all seed races open"),
            ("v4.3", KernelFix.None, KernelFeature.None, "mmap_sem trylock before mlock_vma_page (R4 open); no PMD move yet"),
            ("v4.4", F44, KernelFeature.None, "b87537d9e2fe: mlock under the PTE lock"),
            ("v5.0", F44, Pmd, "2c91bd4a4e2e: PMD moves (R1 PMD, R5 with a plain WARN_ON)"),
            ("v5.8", F58, Pmd, "PMD moves (v5.0, 2c91bd4a4e2e: R1, R5 open); f81fdd0c4ab7 WARN_ON_ONCE"),
            ("v5.10.46", F58, Pmd, "as v5.8; split's unmap_page without TTU_SYNC (R3 open)"),
            ("v5.10.47", F58 | KernelFix.TtuSync, Pmd, "732ed55823fc backported: TTU_SYNC"),
            ("v5.11", F58, PmdPud, "c49dd3401802: PUD moves (R1 PMD and PUD)"),
            ("v5.12", F58, PmdPud, "PUD moves (c49dd3401802, v5.11); R1 (PMD, PUD), R3 open"),
            ("v5.13", F513, PmdPud, "732ed55823fc (v5.13-rc7): TTU_SYNC; R1 open"),
            ("v5.13.3", F5133, PmdPud, "97113eb39fa7 backported: rmap locks around PMD/PUD moves"),
            ("v5.14", F5133, PmdPud, "97113eb39fa7: rmap locks around PMD/PUD moves"),
            ("v6.0", F5133, PmdPud, "R2 (collapse vs GUP-fast) open"),
            ("v6.1", F61, PmdPud, "2ba99c5e0881 (v6.1-rc8): IPI sync before freeing/reusing collapsed tables"),
            ("v6.5", F61, F65, "1d65b771bc08: retract_page_tables without mmap_lock (R6 open); R5 open"),
            ("v6.6", F61, F65, "retract_page_tables without mmap_lock (1d65b771bc08, v6.5): R6 open; no realign: R5 open"),
            ("v6.7", F67, F65, "af8ca1c14906/b1e5a3dee255: PMD realign incl. the exec stack"),
            ("v6.11", F67, F65, "R6 still open"),
            ("v6.12", F612, F65, "6fa1066fc5d0: move_normal_pmd re-checks the PMD under the locks"),
            ("v6.18", F612, AllFeatures, "every merged fix; mremap moves of several VMAs (d23cb648e365, v6.17)"),
            ("latest", Merged, AllFeatures, "every merged fix (mainline)"),
        };
        return list.ToFrozenDictionary(p => p.Item1, p => new KernelProfile(p.Item1, p.Item2, p.Item3, p.Item4), StringComparer.Ordinal);
    }
}
