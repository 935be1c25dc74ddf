namespace Pipeline.Replay.Real;

/// <summary>What occupies the PMD slot of one 2 MiB region.</summary>
public enum PmdState
{
    /// <summary>pmd_none: no page table (get_old_pmd returns NULL, the extent is skipped).</summary>
    None,
    /// <summary>A PTE table is linked.</summary>
    Table,
    /// <summary>A THP is mapped by the PMD (pmd_trans_huge).</summary>
    Huge,
    /// <summary>The region is part of a PUD-mapped huge page (pud_trans_huge; DAX only).</summary>
    HugePud,
    /// <summary>The trace does not tell.</summary>
    Unknown,
}

/// <summary>State of one PMD slot and, when <see cref="PmdState.Unknown"/>, why.</summary>
/// <param name="State">The slot's state.</param>
/// <param name="Reason">Why it is unknown (null otherwise).</param>
public readonly record struct PmdInfo(PmdState State, string? Reason);

/// <summary>Answer of a merge test that may depend on state the trace did not show.</summary>
public enum Tristate
{
    /// <summary>Certainly not.</summary>
    No,
    /// <summary>Certainly.</summary>
    Yes,
    /// <summary>Depends on state before the trace.</summary>
    Unknown,
}

/// <summary>
/// The address space of one process as far as a trace shows it: the VMA set, which ranges are unknown
/// (existed before the trace and were not seeded), and the PMD-level page-table population per 2 MiB region.
/// </summary>
public sealed class AddressSpace
{
    /// <summary>log2 of the base page size (x86-64).</summary>
    public const int PageShift = 12;
    /// <summary>Base page size.</summary>
    public const ulong PageSize = 1UL << PageShift;
    /// <summary>PMD_SIZE on x86-64 (4-level and 5-level).</summary>
    public const ulong PmdSize = 1UL << 21;
    /// <summary>PUD_SIZE on x86-64.</summary>
    public const ulong PudSize = 1UL << 30;
    /// <summary>PMD_MASK.</summary>
    public const ulong PmdMask = ~(PmdSize - 1);
    /// <summary>PUD_MASK.</summary>
    public const ulong PudMask = ~(PudSize - 1);

    internal const string UnknownBeforeTrace = "page-table state of an address that existed before the trace";
    internal const string UnknownFromSnapshot = "page-table population of a VMA seeded from a maps snapshot";

    private readonly List<Vma> _vmas;
    private readonly RangeSet _unknown;
    private readonly RangeSet _populationUnknown;
    private readonly Dictionary<ulong, PmdInfo> _pmds;
    // Explicit PMD entries per 1 GiB region, so "is this PUD empty" needs no scan of 512 slots.
    private readonly Dictionary<ulong, int> _pmdsPerPud;
    private long _nextAnonVma;

    private AddressSpace(List<Vma> vmas, RangeSet unknown, RangeSet populationUnknown, Dictionary<ulong, PmdInfo> pmds,
        Dictionary<ulong, int> pmdsPerPud, long nextAnonVma)
    {
        _vmas = vmas;
        _unknown = unknown;
        _populationUnknown = populationUnknown;
        _pmds = pmds;
        _pmdsPerPud = pmdsPerPud;
        _nextAnonVma = nextAnonVma;
    }

    /// <summary>A space about which nothing is known (a process already running when tracing began).</summary>
    public static AddressSpace CreateUnknown()
    {
        var unknown = new RangeSet();
        unknown.Add(0, ulong.MaxValue);
        return new AddressSpace([], unknown, new RangeSet(), [], [], 1);
    }

    /// <summary>A fully known space with nothing mapped (a hand-made layout, or the base of a snapshot).</summary>
    public static AddressSpace CreateEmpty() => new([], new RangeSet(), new RangeSet(), [], [], 1);

    /// <summary>The VMAs, sorted by start.</summary>
    public IReadOnlyList<Vma> Vmas => _vmas;

    /// <summary>Ranges whose content (mapped or not) is unknown.</summary>
    public IReadOnlyList<(ulong Start, ulong End)> UnknownRanges => _unknown.Ranges;

    /// <summary>A deep copy.</summary>
    public AddressSpace Clone() =>
        new([.. _vmas], _unknown.Clone(), _populationUnknown.Clone(), new Dictionary<ulong, PmdInfo>(_pmds),
            new Dictionary<ulong, int>(_pmdsPerPud), _nextAnonVma);

    /// <summary>A fresh anon_vma identity (anon_vma_prepare on first write fault).</summary>
    public long NewAnonVmaId() => _nextAnonVma++;

    /// <summary>The VMA containing <paramref name="address"/>, or null.</summary>
    public Vma? FindVma(ulong address)
    {
        int i = IndexAtOrAfter(address);
        return i < _vmas.Count && _vmas[i].Contains(address) ? _vmas[i] : null;
    }

    /// <summary>VMAs intersecting [start, end), in address order.</summary>
    public IEnumerable<Vma> VmasIntersecting(ulong start, ulong end)
    {
        for (int i = IndexAtOrAfter(start); i < _vmas.Count && _vmas[i].Start < end; i++)
        {
            yield return _vmas[i];
        }
    }

    /// <summary>find_vma_intersection(mm, start, end) != NULL, for the known part of the space.</summary>
    public bool AnyVmaIntersects(ulong start, ulong end)
    {
        if (start >= end)
        {
            return false;
        }
        int i = IndexAtOrAfter(start);
        return i < _vmas.Count && _vmas[i].Start < end;
    }

    /// <summary>Whether any part of [start, end) is unknown.</summary>
    public bool UnknownIntersects(ulong start, ulong end) => _unknown.Intersects(start, end);

    /// <summary>The VMA ending exactly at <paramref name="address"/>, or null.</summary>
    public Vma? VmaEndingAt(ulong address)
    {
        int i = IndexAtOrAfter(address);
        if (i > 0 && _vmas[i - 1].End == address)
        {
            return _vmas[i - 1];
        }
        return null;
    }

    /// <summary>The VMA starting exactly at <paramref name="address"/>, or null.</summary>
    public Vma? VmaStartingAt(ulong address)
    {
        int i = IndexAtOrAfter(address);
        return i < _vmas.Count && _vmas[i].Start == address ? _vmas[i] : null;
    }

    /// <summary>
    /// Inserts <paramref name="vma"/> after unmapping whatever overlaps it (MAP_FIXED semantics), marks its
    /// range known and, when <paramref name="merge"/>, merges it with compatible neighbours as
    /// vma_merge_new_range() would. Returns the VMA that now covers <paramref name="vma"/>'s start.
    /// </summary>
    public Vma Insert(Vma vma, bool merge)
    {
        ArgumentNullException.ThrowIfNull(vma);
        RemoveVmas(vma.Start, vma.End);
        _unknown.Remove(vma.Start, vma.End);
        int i = IndexAtOrAfter(vma.Start);
        _vmas.Insert(i, vma);
        if (merge)
        {
            i = MergeAround(i);
        }
        return _vmas[i];
    }

    /// <summary>
    /// munmap(start, end - start): removes the range (splitting VMAs), marks it known-free, and frees the PTE
    /// tables of 2 MiB regions left without any VMA, as free_pgtables() does between the neighbours' floor
    /// and ceiling.
    /// </summary>
    public void Unmap(ulong start, ulong end)
    {
        if (start >= end)
        {
            return;
        }
        RemoveVmas(start, end);
        _unknown.Remove(start, end);
        FreeEmptyTables(start, end);
    }

    /// <summary>Forgets everything about [start, end): VMAs inside are dropped and the range becomes unknown.</summary>
    public void MarkUnknown(ulong start, ulong end)
    {
        if (start >= end)
        {
            return;
        }
        RemoveVmas(start, end);
        _unknown.Add(start, end);
        ForgetPmds(start, end);
    }

    /// <summary>Marks the page-table population of [start, end) unknown (snapshot-seeded VMAs).</summary>
    public void MarkPopulationUnknown(ulong start, ulong end)
    {
        ulong s = start & PmdMask;
        ulong e = AlignUp(end, PmdSize);
        ForgetPmds(s, e);
        _populationUnknown.Add(s, e == 0 ? ulong.MaxValue : e);
    }

    /// <summary>
    /// Applies <paramref name="change"/> to the VMAs in [start, end), splitting them at the edges, then merges
    /// the changed pieces with their neighbours (vma_modify_flags and friends).
    /// </summary>
    public void Modify(ulong start, ulong end, Func<Vma, Vma> change)
    {
        ArgumentNullException.ThrowIfNull(change);
        SplitAt(start);
        SplitAt(end);
        int first = IndexAtOrAfter(start);
        int last = first;
        for (; last < _vmas.Count && _vmas[last].Start < end; last++)
        {
            _vmas[last] = change(_vmas[last]);
        }
        // Merge from the right so indices stay valid.
        for (int i = last - 1; i >= first && i >= 0; i--)
        {
            if (i < _vmas.Count)
            {
                MergeAround(i);
            }
        }
    }

    /// <summary>Replaces the VMA that starts at <paramref name="existing"/>'s start with <paramref name="replacement"/>.</summary>
    public void Replace(Vma existing, Vma replacement)
    {
        ArgumentNullException.ThrowIfNull(existing);
        ArgumentNullException.ThrowIfNull(replacement);
        int i = IndexAtOrAfter(existing.Start);
        if (i >= _vmas.Count || _vmas[i].Start != existing.Start)
        {
            throw new InvalidOperationException($"No VMA starts at 0x{existing.Start:x}.");
        }
        _vmas.RemoveAt(i);
        RemoveVmas(replacement.Start, replacement.End);
        _unknown.Remove(replacement.Start, replacement.End);
        _vmas.Insert(IndexAtOrAfter(replacement.Start), replacement);
    }

    /// <summary>The PMD slot state of the 2 MiB region containing <paramref name="address"/>.</summary>
    public PmdInfo GetPmd(ulong address)
    {
        ulong key = address >> 21;
        if (_pmds.TryGetValue(key, out var info))
        {
            return info;
        }
        ulong s = address & PmdMask;
        ulong e = s + PmdSize;
        if (e == 0)
        {
            e = ulong.MaxValue;
        }
        if (_unknown.Intersects(s, e))
        {
            return new PmdInfo(PmdState.Unknown, UnknownBeforeTrace);
        }
        if (_populationUnknown.Intersects(s, e))
        {
            return new PmdInfo(PmdState.Unknown, UnknownFromSnapshot);
        }
        return new PmdInfo(PmdState.None, null);
    }

    /// <summary>Sets the PMD slot state of the 2 MiB region containing <paramref name="address"/>.</summary>
    public void SetPmd(ulong address, PmdState state, string? reason = null)
    {
        ulong key = address >> 21;
        if (!_pmds.ContainsKey(key))
        {
            ref int count = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_pmdsPerPud, key >> 9, out _);
            count++;
        }
        _pmds[key] = new PmdInfo(state, state == PmdState.Unknown ? reason ?? UnknownBeforeTrace : null);
    }

    private void RemovePmd(ulong key)
    {
        if (_pmds.Remove(key))
        {
            ulong pud = key >> 9;
            if (--System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrNullRef(_pmdsPerPud, pud) == 0)
            {
                _pmdsPerPud.Remove(pud);
            }
        }
    }

    /// <summary>Sets every PMD slot of 2 MiB regions intersecting [start, end).</summary>
    public void SetPmdRange(ulong start, ulong end, PmdState state, string? reason = null)
    {
        for (ulong a = start & PmdMask; a < end && a >= (start & PmdMask); a += PmdSize)
        {
            SetPmd(a, state, reason);
        }
    }

    /// <summary>
    /// Whether a PUD slot (1 GiB region) holds a PMD table with anything in it, as far as known: <see cref="PmdState.Table"/>
    /// if some 2 MiB region in it is populated, <see cref="PmdState.HugePud"/> for a PUD-mapped page,
    /// <see cref="PmdState.Unknown"/> if part of it is unknown, else <see cref="PmdState.None"/>.
    /// </summary>
    internal PmdState PudState(ulong address)
    {
        ulong s = address & PudMask;
        ulong e = s + PudSize == 0 ? ulong.MaxValue : s + PudSize;
        bool unknown = false;
        if (_pmdsPerPud.ContainsKey(address >> 30))
        {
            ulong first = s >> 21;
            for (ulong k = first; k < first + 512; k++)
            {
                if (_pmds.TryGetValue(k, out var info))
                {
                    switch (info.State)
                    {
                        case PmdState.HugePud:
                            return PmdState.HugePud;
                        case PmdState.Table:
                        case PmdState.Huge:
                            return PmdState.Table;
                        case PmdState.Unknown:
                            unknown = true;
                            break;
                    }
                }
            }
        }
        // Regions without an explicit entry are unknown exactly where the default of GetPmd says so.
        return unknown || _unknown.Intersects(s, e) || _populationUnknown.Intersects(s, e) ? PmdState.Unknown : PmdState.None;
    }

    internal static ulong AlignUp(ulong value, ulong alignment) => (value + alignment - 1) & ~(alignment - 1);

    /// <summary>vma_merge compatibility of two adjacent VMAs (is_mergeable_vma, is_mergeable_anon_vma, pgoff contiguity).</summary>
    public static Tristate CanMerge(Vma prev, Vma next)
    {
        ArgumentNullException.ThrowIfNull(prev);
        ArgumentNullException.ThrowIfNull(next);
        if (prev.End != next.Start || prev.Special || next.Special)
        {
            return Tristate.No;
        }
        // Contiguous page offsets are needed whatever the other attributes (can_vma_merge_after/before), so offsets
        // known to differ decide the merge even for a VMA whose flags or file the trace does not show.
        if (prev.PgoffPages is not null && next.PgoffPages is not null && prev.PgoffAt(prev.End) != next.PgoffPages)
        {
            return Tristate.No;
        }
        if (!prev.AttributesKnown || !next.AttributesKnown)
        {
            return Tristate.Unknown;
        }
        if (prev.Access != next.Access || prev.Shared != next.Shared || prev.Locked != next.Locked
            || prev.HugePage != next.HugePage || !string.Equals(prev.File, next.File, StringComparison.Ordinal))
        {
            return Tristate.No;
        }
        // is_mergeable_anon_vma(): a VMA without an anon_vma merges with anything; otherwise they must share it.
        if (prev.AnonVma != 0 && next.AnonVma != 0)
        {
            if (prev.AnonVma == Vma.UnknownAnonVma || next.AnonVma == Vma.UnknownAnonVma)
            {
                return Tristate.Unknown;
            }
            if (prev.AnonVma != next.AnonVma)
            {
                return Tristate.No;
            }
        }
        if (prev.PgoffPages is null || next.PgoffPages is null)
        {
            return Tristate.Unknown;
        }
        return prev.PgoffAt(prev.End) == next.PgoffPages ? Tristate.Yes : Tristate.No;
    }

    private int MergeAround(int i)
    {
        if (i + 1 < _vmas.Count && CanMerge(_vmas[i], _vmas[i + 1]) == Tristate.Yes)
        {
            _vmas[i] = Merged(_vmas[i], _vmas[i + 1]);
            _vmas.RemoveAt(i + 1);
        }
        if (i > 0 && CanMerge(_vmas[i - 1], _vmas[i]) == Tristate.Yes)
        {
            _vmas[i - 1] = Merged(_vmas[i - 1], _vmas[i]);
            _vmas.RemoveAt(i);
            i--;
        }
        return i;
    }

    private static Vma Merged(Vma prev, Vma next) =>
        prev with { End = next.End, AnonVma = prev.AnonVma != 0 ? prev.AnonVma : next.AnonVma };

    private void SplitAt(ulong address)
    {
        int i = IndexAtOrAfter(address);
        if (i < _vmas.Count && _vmas[i].Start < address && _vmas[i].End > address)
        {
            var v = _vmas[i];
            _vmas[i] = v with { End = address };
            _vmas.Insert(i + 1, v with { Start = address, PgoffPages = v.PgoffAt(address) });
        }
    }

    private void RemoveVmas(ulong start, ulong end)
    {
        SplitAt(start);
        SplitAt(end);
        int i = IndexAtOrAfter(start);
        int n = 0;
        while (i + n < _vmas.Count && _vmas[i + n].Start < end)
        {
            n++;
        }
        _vmas.RemoveRange(i, n);
    }

    private void FreeEmptyTables(ulong start, ulong end)
    {
        ulong innerStart = AlignUp(start, PmdSize);
        ulong innerEnd = end & PmdMask;
        if (innerStart < innerEnd)
        {
            // Regions entirely inside the unmapped range hold no VMA any more.
            ForgetPmds(innerStart, innerEnd);
            _populationUnknown.Remove(innerStart, innerEnd);
        }
        foreach (ulong edge in (ReadOnlySpan<ulong>)[start & PmdMask, (end - 1) & PmdMask])
        {
            ulong e = edge + PmdSize;
            if (!AnyVmaIntersects(edge, e) && !_unknown.Intersects(edge, e))
            {
                RemovePmd(edge >> 21);
                _populationUnknown.Remove(edge, e);
            }
        }
    }

    private void ForgetPmds(ulong start, ulong end)
    {
        ulong first = start >> 21;
        ulong last = end == ulong.MaxValue ? ulong.MaxValue >> 21 : (end - 1) >> 21;
        if (last - first < (ulong)_pmds.Count)
        {
            for (ulong k = first; k <= last && k >= first; k++)
            {
                RemovePmd(k);
            }
            return;
        }
        foreach (ulong k in _pmds.Keys.Where(k => k >= first && k <= last).ToList())
        {
            RemovePmd(k);
        }
    }

    /// <summary>Index of the first VMA whose end is &gt; <paramref name="address"/>.</summary>
    private int IndexAtOrAfter(ulong address)
    {
        int lo = 0;
        int hi = _vmas.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_vmas[mid].End <= address)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }
        return lo;
    }
}
