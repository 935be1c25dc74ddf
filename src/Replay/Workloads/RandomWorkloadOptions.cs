using System.Globalization;

namespace Pipeline.Replay.Workloads;

/// <summary>What <see cref="RandomWorkload"/> generates.</summary>
public sealed record RandomWorkloadOptions
{
    /// <summary>Race ids <c>--inject</c> accepts (docs/mm-model.md §2.1–§2.6).</summary>
    public static IReadOnlyList<string> RaceIds { get; } = ["R1", "R2", "R3", "R4", "R5", "R6"];

    /// <summary>Number of CPUs (1–64; injection needs at least 2).</summary>
    public int Cpus { get; init; } = 4;

    /// <summary>Approximate number of ops: the random phase stops at this count, then every process exits.</summary>
    public long Ops { get; init; } = 100_000;

    /// <summary>Seed: the same options give byte-identical output.</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>
    /// Whether mremap moves whole mutually aligned PTE tables (<c>mremap_move_pmd</c>, HAVE_MOVE_PMD, v5.0+).
    /// Turn it off to describe an older kernel: every extent then moves PTE by PTE (<c>move_ptes</c>), and the
    /// trace replays the same under profiles without the move-pmd feature (v4.3, v4.4).
    /// </summary>
    public bool PmdMoves { get; init; } = true;

    /// <summary>
    /// Contention mode (<c>synth random --contend</c>): mappings cover whole, aligned 2M slots and mremap keeps the
    /// alignment, so mremap moves whole PTE tables and khugepaged finds slots to collapse; khugepaged runs five times
    /// as often; reclaim may hold pages of VM_LOCKED VMAs (try_to_unmap_one's mlock path, R4's walker) and, for kernels
    /// before v4.4, exit_mmap takes no mmap_sem; kswapd splits THPs (split_huge_page's asserted unmap) while
    /// MADV_DONTNEED may zap them; khugepaged retracts empty file PTE tables, which a later mremap of the range
    /// classifies. The actors of R1 (a PMD move and an rmap walker), R2 (a collapse and GUP-fast),
    /// R3 (the split's walk and the zap), R4 (that walker and munlock/exit) and R6 (the retract and a PMD move) then meet on one
    /// mm, in turn as the kernel's exclusion lets them (docs/exploration.md, "Random workloads"); without it a
    /// 1,000-op workload rarely holds a PMD move and never a collapse.
    /// </summary>
    public bool Contend { get; init; }

    /// <summary>
    /// Whether try_to_unmap_one mlocks a page of a VM_LOCKED VMA under the PTE lock (b87537d9e2fe, v4.4). Without
    /// it (v4.3 and older) the walker drops the PTE lock, takes mmap_sem by trylock, re-tests VM_LOCKED and mlocks
    /// the page there, so the generator holds the mm's mmap_lock for read from <c>ttu_mlock_set</c> to
    /// <c>ttu_mlock_page</c>. Only reclaim under <see cref="Contend"/> meets VM_LOCKED VMAs.
    /// </summary>
    public bool MlockUnderPtl { get; init; } = true;

    /// <summary>
    /// Whether khugepaged's <c>retract_page_tables</c> runs without mmap_lock (1d65b771bc08, v6.5). Without it the
    /// retract takes the mm's mmap_lock by write trylock, which the generator records only when the lock is free.
    /// Only khugepaged under <see cref="Contend"/> retracts (R6's retract).
    /// </summary>
    public bool RetractWithoutMmapLock { get; init; } = true;

    /// <summary>Races to inject (each once), by id <c>R1</c>…<c>R6</c>.</summary>
    public IReadOnlyList<string> Inject { get; init; } = [];

    /// <summary>Parses a comma-separated race list (<c>R1,R3</c>, case-insensitive; empty means none).</summary>
    /// <exception cref="ArgumentException">An id is not R1–R6.</exception>
    public static IReadOnlyList<string> ParseInject(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return [];
        }
        var result = new List<string>();
        foreach (var raw in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string id = raw.ToUpperInvariant();
            if (!RaceIds.Contains(id))
            {
                throw new ArgumentException($"Unknown race '{raw}' in --inject '{text}'; expected a comma-separated list of {string.Join(", ", RaceIds)}.", nameof(text));
            }
            if (!result.Contains(id))
            {
                result.Add(id);
            }
        }
        return result;
    }

    /// <summary>
    /// These options for a workload that <paramref name="profile"/>'s kernel can run: the generator follows the
    /// profile's features (today: mremap moves whole PTE tables only with <see cref="KernelFeature.MovePmd"/>),
    /// so the uninjected workload replays clean under that profile. A workload generated for one kernel is not a
    /// valid trace of another: a PMD move generated for v5.0+ leaves the table at the new address, which a
    /// pre-5.0 kernel never does.
    /// </summary>
    public RandomWorkloadOptions For(KernelProfile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        return this with
        {
            PmdMoves = profile.Has(KernelFeature.MovePmd),
            MlockUnderPtl = profile.Has(KernelFix.MlockUnderPtl),
            RetractWithoutMmapLock = profile.Has(KernelFeature.RetractWithoutMmapLock),
        };
    }

    /// <summary>Checks the options; throws <see cref="ArgumentException"/> naming the bad one.</summary>
    public void Validate()
    {
        if (Cpus is < 1 or > 64)
        {
            throw new ArgumentException($"cpus must be 1..64, found {Cpus.ToString(CultureInfo.InvariantCulture)}.", nameof(Cpus));
        }
        if (Ops < 1)
        {
            throw new ArgumentException($"ops must be at least 1, found {Ops.ToString(CultureInfo.InvariantCulture)}.", nameof(Ops));
        }
        ArgumentNullException.ThrowIfNull(Inject);
        foreach (var id in Inject)
        {
            if (!RaceIds.Contains(id))
            {
                throw new ArgumentException($"Unknown race '{id}' to inject; expected one of {string.Join(", ", RaceIds)}.", nameof(Inject));
            }
        }
        if (Inject.Count > 0 && Cpus < 2)
        {
            throw new ArgumentException("Injected races need at least 2 CPUs.", nameof(Cpus));
        }
    }
}
