namespace Pipeline.Replay.Real;

/// <summary>The arguments and result of one mremap() call.</summary>
/// <param name="OldAddr">addr.</param>
/// <param name="OldLen">old_len.</param>
/// <param name="NewLen">new_len.</param>
/// <param name="Flags">flags.</param>
/// <param name="NewAddr">new_addr (requested).</param>
/// <param name="Ret">Return value: the new address, or -errno.</param>
public sealed record MremapRequest(ulong OldAddr, ulong OldLen, ulong NewLen, ulong Flags, ulong NewAddr, long Ret)
{
    /// <summary>MREMAP_MAYMOVE.</summary>
    public const ulong MayMove = 1;
    /// <summary>MREMAP_FIXED.</summary>
    public const ulong Fixed = 2;
    /// <summary>MREMAP_DONTUNMAP.</summary>
    public const ulong DontUnmap = 4;

    /// <summary>
    /// A THP collapse of the same mm (khugepaged or MADV_COLLAPSE on another thread) ran between entry and
    /// exit, so a PMD could change between the unlocked classification and the PMD locks (docs/mm-model.md §2.6).
    /// </summary>
    public bool ConcurrentCollapse { get; init; }
}

/// <summary>One predicted extent of move_page_tables().</summary>
/// <param name="OldStart">Source start.</param>
/// <param name="NewStart">Destination start.</param>
/// <param name="Length">Bytes.</param>
/// <param name="Path">One of <see cref="MovePaths"/>.</param>
/// <param name="Reason">Why.</param>
public sealed record PredictedExtent(ulong OldStart, ulong NewStart, ulong Length, string Path, string Reason);

/// <summary>The prediction for one mremap() call (or one exec stack shift).</summary>
public sealed class MremapPrediction
{
    /// <summary>The address space after the call.</summary>
    public required AddressSpace After { get; init; }

    /// <summary>Extents in the order move_page_tables() visits them (pieces of a multi-VMA move in order).</summary>
    public required IReadOnlyList<PredictedExtent> Extents { get; init; }

    /// <summary>Where the range is after the call; null on failure.</summary>
    public ulong? ResultAddr { get; init; }

    /// <summary>need_rmap_locks from copy_vma() (true if any piece needed them).</summary>
    public bool NeedRmapLocks { get; init; }

    /// <summary>try_realign_addr() realigned the start of (any piece of) the move.</summary>
    public bool Realigned { get; init; }

    /// <summary>'aligned', 'mutual' or 'none'.</summary>
    public required string Alignment { get; init; }

    /// <summary>Why the prediction depends on state the trace did not show; null when decided.</summary>
    public string? UndecidedReason { get; init; }

    /// <summary>Whether the prediction needed missing state.</summary>
    public bool Undecided => UndecidedReason is not null;

    /// <summary>Number of extents with path <paramref name="path"/>.</summary>
    public int Count(string path) => Extents.Count(e => string.Equals(e.Path, path, StringComparison.Ordinal));

    /// <summary>Bytes covered by extents that moved something.</summary>
    public ulong MovedBytes => Extents.Where(e => !string.Equals(e.Path, MovePaths.Skipped, StringComparison.Ordinal))
        .Aggregate(0UL, (sum, e) => sum + e.Length);
}

/// <summary>
/// Predicts the path move_page_tables() takes for each extent of an mremap() from the arguments, the
/// result and the address space before the call (docs/mremap-prediction.md, "Prediction rules"; mm/mremap.c at v6.16).
/// </summary>
public static class MremapPredictor
{
    /// <summary>
    /// Predicts one call. <paramref name="before"/> is not modified; the returned prediction carries the
    /// state after the call.
    /// </summary>
    public static MremapPrediction Predict(AddressSpace before, MremapRequest call, PredictionProfile profile)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(call);
        ArgumentNullException.ThrowIfNull(profile);
        return PredictInPlace(before.Clone(), call, profile);
    }

    /// <summary>
    /// Whether a failed MREMAP_FIXED call was refused for its arguments, before <c>mremap_to()</c>'s <c>do_munmap()</c>
    /// of the target: an address not page-aligned, MREMAP_DONTUNMAP with a size change, or a destination that overlaps
    /// the source (<c>addr + old_len &gt; new_addr &amp;&amp; new_addr + new_len &gt; addr</c>, -EINVAL). Those checks
    /// come first in every kernel since 2.6 (do_mremap/mremap_to, and check_mremap_params since 6.16); the errors that
    /// remain (no VMA at the source, a move across VMAs, locked or commit limits) come after the unmap.
    /// </summary>
    internal static bool RefusedBeforeUnmap(ulong oldAddr, ulong oldLen, ulong newAddr, ulong newLen, bool dontUnmap) =>
        oldAddr % AddressSpace.PageSize != 0
        || newAddr % AddressSpace.PageSize != 0
        || (dontUnmap && oldLen != newLen)
        || (oldAddr + oldLen > newAddr && newAddr + newLen > oldAddr);

    /// <summary>As <see cref="Predict"/>, but updates <paramref name="after"/> (the state before the call) in place.</summary>
    internal static MremapPrediction PredictInPlace(AddressSpace after, MremapRequest call, PredictionProfile profile)
    {
        var notes = new UndecidedNotes();
        var extents = new List<PredictedExtent>();
        ulong oldLen = AddressSpace.AlignUp(call.OldLen, AddressSpace.PageSize);
        ulong newLen = AddressSpace.AlignUp(call.NewLen, AddressSpace.PageSize);
        ulong a = call.OldAddr;
        bool isFixed = (call.Flags & MremapRequest.Fixed) != 0;
        bool dontUnmap = (call.Flags & MremapRequest.DontUnmap) != 0;

        if (call.Ret < 0)
        {
            // mremap_to() unmaps the destination before remap_is_valid() and vma_lookup() can still fail, so a
            // failed MREMAP_FIXED may have removed what was at the target; say so instead of guessing. A call refused
            // for its arguments alone failed before that unmap, and the target is as it was.
            if (isFixed && newLen != 0 && !RefusedBeforeUnmap(call.OldAddr, oldLen, call.NewAddr, newLen, dontUnmap)
                && after.AnyVmaIntersects(call.NewAddr, call.NewAddr + newLen))
            {
                after.MarkUnknown(call.NewAddr, call.NewAddr + newLen);
            }
            return new MremapPrediction
            {
                After = after,
                Extents = extents,
                Alignment = AlignmentOf(a, call.NewAddr),
            };
        }

        ulong result = unchecked((ulong)call.Ret);
        bool needRmapLocks = false;
        bool realigned = false;
        if (!isFixed && !dontUnmap)
        {
            if (newLen <= oldLen)
            {
                // mremap_at(): MREMAP_NO_RESIZE is a no-op, MREMAP_SHRINK unmaps the tail in place.
                after.Unmap(a + newLen, a + oldLen);
                return Done(after, extents, result, false, false, AlignmentOf(a, result), notes);
            }
            if (result == a)
            {
                GrowInPlace(after, a, oldLen, newLen);
                return Done(after, extents, result, false, false, AlignmentOf(a, result), notes);
            }
            Move(after, a, oldLen, result, newLen, dontUnmap: false, profile, call, extents, notes, ref needRmapLocks, ref realigned);
            return Done(after, extents, result, needRmapLocks, realigned, AlignmentOf(a, result), notes);
        }

        // mremap_to(): vrm_move_only() (FIXED, old_len == new_len) may span several VMAs since 6.17.
        if (isFixed && oldLen == newLen && profile.MultiVmaMove && !after.UnknownIntersects(a, a + oldLen)
            && after.VmasIntersecting(a, a + oldLen).Skip(1).Any())
        {
            foreach (var piece in after.VmasIntersecting(a, a + oldLen).ToList())
            {
                ulong ps = Math.Max(piece.Start, a);
                ulong pe = Math.Min(piece.End, a + oldLen);
                ulong dest = result + (ps - a);
                // Each piece unmaps only its own destination slice; gaps at the destination stay mapped.
                after.Unmap(dest, dest + (pe - ps));
                Move(after, ps, pe - ps, dest, pe - ps, dontUnmap, profile, call, extents, notes, ref needRmapLocks, ref realigned);
            }
            return Done(after, extents, result, needRmapLocks, realigned, AlignmentOf(a, result), notes);
        }

        if (isFixed)
        {
            after.Unmap(result, result + newLen);
        }
        if (newLen < oldLen)
        {
            after.Unmap(a + newLen, a + oldLen);
            oldLen = newLen;
        }
        Move(after, a, oldLen, result, newLen, dontUnmap, profile, call, extents, notes, ref needRmapLocks, ref realigned);
        return Done(after, extents, result, needRmapLocks, realigned, AlignmentOf(a, result), notes);
    }

    /// <summary>
    /// Predicts the exec-time stack shift: relocate_vma_down() (formerly shift_arg_pages()) calls
    /// move_page_tables(vma, old_start, vma, old_start - shift, length, need_rmap_locks=false, for_stack=true)
    /// on a VMA first expanded to cover both ranges, which overlap whenever shift &lt; length (docs/mm-model.md §2.5).
    /// </summary>
    public static MremapPrediction PredictStackShift(AddressSpace space, Vma stack, ulong shift, PredictionProfile profile)
    {
        ArgumentNullException.ThrowIfNull(space);
        ArgumentNullException.ThrowIfNull(stack);
        ArgumentNullException.ThrowIfNull(profile);
        var after = space.Clone();
        var notes = new UndecidedNotes();
        var extents = new List<PredictedExtent>();
        ulong oldStart = stack.Start;
        ulong newStart = oldStart - shift;
        ulong length = stack.Length;
        // vma_expand() to [new_start, old_end) before the move.
        var expanded = stack with { Start = newStart, PgoffPages = stack.PgoffPages is { } p ? p - (shift >> AddressSpace.PageShift) : null };
        after.Replace(stack, expanded);
        bool realign = profile.Realign && CanRealign(after, oldStart, newStart, length, expanded, expanded, forStack: true, notes);
        Simulate(after, oldStart, newStart, length, realign, overlapping: shift < length, concurrentCollapse: false, profile, extents, notes);
        // vma_shrink() to [new_start, new_end) and free_pgd_range() over what the stack left.
        ulong newEnd = stack.End - shift;
        after.Replace(expanded, expanded with { End = newEnd });
        after.Unmap(newEnd, stack.End);
        return new MremapPrediction
        {
            After = after,
            Extents = extents,
            ResultAddr = newStart,
            NeedRmapLocks = false,
            Realigned = realign,
            Alignment = AlignmentOf(oldStart, newStart),
            UndecidedReason = notes.Text,
        };
    }

    /// <summary>
    /// Whether move_pgt_entry()/move_ptes() take the rmap locks for an extent: should_take_rmap_locks()
    /// forces them for NORMAL_PMD/NORMAL_PUD since 97113eb39fa7, otherwise need_rmap_locks decides.
    /// </summary>
    public static bool TakesRmapLocks(string path, bool needRmapLocks, PredictionProfile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        if (string.Equals(path, MovePaths.Skipped, StringComparison.Ordinal))
        {
            return false;
        }
        bool normal = string.Equals(path, MovePaths.NormalPmd, StringComparison.Ordinal)
            || string.Equals(path, MovePaths.NormalPud, StringComparison.Ordinal);
        return needRmapLocks || (normal && profile.RmapLocksOnPmdMove);
    }

    /// <summary>'aligned' (both 2 MiB-aligned), 'mutual' (same offset in 2 MiB) or 'none'.</summary>
    public static string AlignmentOf(ulong oldAddr, ulong newAddr)
    {
        ulong mask = AddressSpace.PmdSize - 1;
        if ((oldAddr & mask) == 0 && (newAddr & mask) == 0)
        {
            return "aligned";
        }
        return (oldAddr & mask) == (newAddr & mask) ? "mutual" : "none";
    }

    private static MremapPrediction Done(AddressSpace after, List<PredictedExtent> extents, ulong result, bool needRmapLocks,
        bool realigned, string alignment, UndecidedNotes notes) => new()
        {
            After = after,
            Extents = extents,
            ResultAddr = result,
            NeedRmapLocks = needRmapLocks,
            Realigned = realigned,
            Alignment = alignment,
            UndecidedReason = notes.Text,
        };

    private static void GrowInPlace(AddressSpace after, ulong a, ulong oldLen, ulong newLen)
    {
        var vma = after.FindVma(a);
        if (vma is null)
        {
            // The source was never seen; the new tail is mapped now, with attributes we cannot know.
            after.MarkUnknown(a + oldLen, a + newLen);
            return;
        }
        // vma_merge_extend(): the VMA grows over the free tail (vma_expandable() checked it was free).
        after.Replace(vma, vma with { End = a + newLen });
    }

    private static void Move(AddressSpace after, ulong a, ulong len, ulong n, ulong newLen, bool dontUnmap, PredictionProfile profile,
        MremapRequest call, List<PredictedExtent> extents, UndecidedNotes notes, ref bool needRmapLocks, ref bool realigned)
    {
        var src = after.FindVma(a);
        bool srcKnown = src is not null;
        if (src is null)
        {
            // Mapped before the trace: its attributes only matter where a rule reads them (merge, realign),
            // and those rules add their own note.
            if (!after.UnknownIntersects(a, a + len))
            {
                notes.Add($"no VMA at 0x{a:x} in the tracked state although the call succeeded");
            }
            src = new Vma(a, a + len) { AttributesKnown = false, AnonVma = Vma.UnknownAnonVma, PgoffPages = null };
        }

        // copy_vma(): an anonymous VMA that never faulted takes the pgoff of its new place, to merge more often.
        ulong? pgoff = src.IsAnonymous && src.AnonVma == 0 && !src.Shared ? n >> AddressSpace.PageShift : src.PgoffAt(a);
        var moved = src with { Start = n, End = n + newLen, PgoffPages = pgoff, Name = src.Name };
        needRmapLocks |= CopyVmaNeedsRmapLocks(after, src, moved, notes);
        // copy_vma() inserts (or merges) the new VMA before move_page_tables(); the source VMA still exists.
        var newVma = after.Insert(moved, merge: true);
        bool realign = profile.Realign && CanRealign(after, a, n, len, srcKnown ? after.FindVma(a) : null, newVma, forStack: false, notes);
        realigned |= realign;
        Simulate(after, a, n, len, realign, overlapping: false, call.ConcurrentCollapse, profile, extents, notes);

        if (dontUnmap)
        {
            // dontunmap_complete(): the source stays mapped, emptied, with VM_LOCKED cleared.
            after.Modify(a, a + len, v => v with { Locked = false });
        }
        else
        {
            after.Unmap(a, a + len);
        }
    }

    /// <summary>
    /// copy_vma(): merge with the destination's neighbours (vma_merge_new_range) or a new VMA.
    /// need_rmap_locks = false for a new VMA, else new_vma->vm_pgoff &lt;= vma->vm_pgoff (docs/mm-model.md §1.3).
    /// </summary>
    private static bool CopyVmaNeedsRmapLocks(AddressSpace space, Vma src, Vma moved, UndecidedNotes notes)
    {
        var prev = space.VmaEndingAt(moved.Start);
        var next = space.VmaStartingAt(moved.End);
        // can_vma_merge_after() (v5.13 mm/mmap.c, 6.x mm/vma.c) merges into prev only when prev->vm_pgoff +
        // vma_pages(prev) equals the new VMA's pgoff, and no VMA's page offsets wrap around (mmap refuses an
        // overflowing offset + length with EOVERFLOW, mremap's resize with EINVAL). So a VMA that starts at file page
        // 0 (a whole-file mapping moved whole) merges with no prev, whatever a mapping from before the trace is there.
        bool noPrevMerge = moved.PgoffPages == 0;
        var mergePrev = prev is not null && !noPrevMerge ? AddressSpace.CanMerge(prev, moved) : Tristate.No;
        var mergeNext = next is not null ? AddressSpace.CanMerge(moved, next) : Tristate.No;
        if ((prev is null && !noPrevMerge && space.UnknownIntersects(moved.Start - 1, moved.Start))
            || (next is null && space.UnknownIntersects(moved.End, moved.End + 1))
            || mergePrev == Tristate.Unknown || mergeNext == Tristate.Unknown)
        {
            notes.Add("copy_vma merge with a destination neighbour of unknown attributes");
        }
        if (mergePrev == Tristate.Yes)
        {
            if (prev!.PgoffPages is { } pp && src.PgoffPages is { } sp)
            {
                return pp <= sp;
            }
            notes.Add("vm_pgoff unknown for need_rmap_locks");
            return true;
        }
        if (mergeNext == Tristate.Yes)
        {
            if (moved.PgoffPages is { } mp && src.PgoffPages is { } sp)
            {
                return mp <= sp;
            }
            notes.Add("vm_pgoff unknown for need_rmap_locks");
            return true;
        }
        return false;
    }

    /// <summary>
    /// can_realign_addr() with can_align_down() on both sides (docs/mremap-prediction.md, rule 4 "Realign").
    /// <paramref name="srcVma"/> null means the source VMA is unknown.
    /// </summary>
    private static bool CanRealign(AddressSpace space, ulong a, ulong n, ulong len, Vma? srcVma, Vma newVma, bool forStack, UndecidedNotes notes)
    {
        ulong offMask = AddressSpace.PmdSize - 1;
        ulong oldAlign = a & offMask;
        // "only perform this realignment if the end of the range ... reaches or crosses the page table boundary"
        if (len < AddressSpace.PmdSize - oldAlign || oldAlign == 0 || oldAlign != (n & offMask))
        {
            return false;
        }
        if (srcVma is null)
        {
            notes.Add("realign: source vm_start unknown");
            return false;
        }
        return CanAlignDown(space, srcVma, a, forStack, notes) && CanAlignDown(space, newVma, n, forStack, notes);
    }

    /// <summary>can_align_down(): addr must be vm_start (unless for_stack) and [addr &amp; PMD_MASK, vm_start) hold no VMA.</summary>
    private static bool CanAlignDown(AddressSpace space, Vma vma, ulong addr, bool forStack, UndecidedNotes notes)
    {
        ulong masked = addr & AddressSpace.PmdMask;
        if (!forStack && vma.Start != addr)
        {
            return false;
        }
        if (forStack && masked >= vma.Start)
        {
            return true;
        }
        if (space.AnyVmaIntersects(masked, vma.Start))
        {
            return false;
        }
        if (space.UnknownIntersects(masked, vma.Start))
        {
            notes.Add("realign: whether a VMA lies below the start within its 2 MiB region is unknown");
            return false;
        }
        return true;
    }

    private static ulong GetExtent(ulong o, ulong n, ulong end, ulong size)
    {
        ulong mask = ~(size - 1);
        // get_extent(): bounded by the next boundary of old, of new, and the end; overflow wraps harmlessly.
        ulong extent = unchecked(((o + size) & mask) - o);
        extent = Math.Min(extent, end - o);
        return Math.Min(extent, unchecked(((n + size) & mask) - n));
    }

    /// <summary>The loop of move_page_tables() over the population of <paramref name="space"/>, updating it.</summary>
    private static void Simulate(AddressSpace space, ulong oldAddr, ulong newAddr, ulong len, bool realign, bool overlapping,
        bool concurrentCollapse, PredictionProfile profile, List<PredictedExtent> extents, UndecidedNotes notes)
    {
        ulong end = oldAddr + len;
        ulong o = oldAddr;
        ulong n = newAddr;
        if (realign)
        {
            o &= AddressSpace.PmdMask;
            n &= AddressSpace.PmdMask;
        }
        bool mutual = ((oldAddr ^ newAddr) & (AddressSpace.PmdSize - 1)) == 0;
        while (o < end)
        {
            ulong extent = GetExtent(o, n, end, AddressSpace.PudSize);
            // A populated PMD at o proves the PUD is populated; only scan the 1 GiB region when it is not.
            var pud = space.GetPmd(o).State is PmdState.Table or PmdState.Huge ? PmdState.Table : space.PudState(o);
            string? pudNote = null;
            if (pud == PmdState.None)
            {
                Emit(extents, o, n, extent, MovePaths.Skipped, "source PUD none (get_old_pud)");
                o += extent;
                n += extent;
                continue;
            }
            if (pud == PmdState.HugePud && extent == AddressSpace.PudSize)
            {
                if (space.PudState(n) is PmdState.None or PmdState.Unknown)
                {
                    Emit(extents, o, n, extent, MovePaths.HpagePud, "PUD-mapped huge page, full 1 GiB extent (move_huge_pud)");
                    MoveKeys(space, o, n, AddressSpace.PudSize, PmdState.HugePud);
                }
                else
                {
                    Emit(extents, o, n, extent, MovePaths.Skipped, "destination PUD populated: move_huge_pud WARN_ON_ONCE, nothing moved");
                }
                o += extent;
                n += extent;
                continue;
            }
            if (profile.MovePud && extent == AddressSpace.PudSize)
            {
                if (pud == PmdState.Unknown)
                {
                    notes.Add($"source PUD at 0x{o:x}: {FirstUnknownReason(space, o, AddressSpace.PudSize)}");
                }
                var destPud = space.PudState(n);
                if (profile.SkipPmdMoveOnOverlap && overlapping)
                {
                    pudNote = "overlapping ranges: PUD move skipped (seed 004 PATCHv2); ";
                }
                else if (destPud is PmdState.Table or PmdState.Huge or PmdState.HugePud)
                {
                    pudNote = "destination PUD populated (WARN_ON_ONCE fallback in move_normal_pud); ";
                }
                else
                {
                    if (destPud == PmdState.Unknown)
                    {
                        notes.Add($"destination PUD at 0x{n:x}: {FirstUnknownReason(space, n, AddressSpace.PudSize)}");
                    }
                    Emit(extents, o, n, extent, MovePaths.NormalPud, "1 GiB mutually aligned extent, destination PUD none (move_normal_pud)");
                    MoveKeys(space, o, n, AddressSpace.PudSize, null);
                    o += extent;
                    n += extent;
                    continue;
                }
            }

            extent = GetExtent(o, n, end, AddressSpace.PmdSize);
            var src = space.GetPmd(o);
            if (src.State == PmdState.Unknown)
            {
                notes.Add($"source PMD at 0x{o & AddressSpace.PmdMask:x}: {src.Reason}");
            }
            if (src.State == PmdState.None)
            {
                Emit(extents, o, n, extent, MovePaths.Skipped, pudNote + "source PMD none (get_old_pmd)");
                o += extent;
                n += extent;
                continue;
            }
            string prefix = pudNote ?? "";
            if (src.State is PmdState.Huge or PmdState.HugePud)
            {
                if (extent == AddressSpace.PmdSize && space.GetPmd(n).State is PmdState.None or PmdState.Unknown)
                {
                    Emit(extents, o, n, extent, MovePaths.HpagePmd, prefix + "THP-mapped source PMD, full 2 MiB extent (move_huge_pmd)");
                    space.SetPmd(n, PmdState.Huge);
                    space.SetPmd(o, PmdState.None);
                    o += extent;
                    n += extent;
                    continue;
                }
                // split_huge_pmd() leaves a PTE table (the deposited one) behind, then move_ptes().
                prefix += extent == AddressSpace.PmdSize
                    ? "THP split (destination PMD populated); "
                    : "THP split (partial extent); ";
                space.SetPmd(o, PmdState.Table);
            }
            else if (profile.MovePmd && extent == AddressSpace.PmdSize)
            {
                var dest = space.GetPmd(n);
                if (profile.SkipPmdMoveOnOverlap && overlapping)
                {
                    prefix += "overlapping ranges: PMD move skipped (seed 004 PATCHv2); ";
                }
                else if (dest.State is PmdState.Table or PmdState.Huge or PmdState.HugePud)
                {
                    prefix += "destination PMD populated (WARN_ON_ONCE fallback); ";
                }
                else
                {
                    if (dest.State == PmdState.Unknown)
                    {
                        notes.Add($"destination PMD at 0x{n & AddressSpace.PmdMask:x}: {dest.Reason}");
                    }
                    if (concurrentCollapse)
                    {
                        notes.Add(profile.PmdRecheckUnderLocks
                            ? "a THP collapse of this mm ran concurrently: the re-read under the PMD locks may refuse the move (6fa1066fc5d0)"
                            : "a THP collapse of this mm ran concurrently: without the re-read under the PMD locks a retracted PMD may be moved (before 6fa1066fc5d0)");
                    }
                    string why = realign && o == (oldAddr & AddressSpace.PmdMask) && (oldAddr & (AddressSpace.PmdSize - 1)) != 0
                        ? "realigned head (try_realign_addr)"
                        : "2 MiB extent, source PMD is a table, destination PMD none (move_normal_pmd)";
                    Emit(extents, o, n, extent, MovePaths.NormalPmd, prefix + why);
                    space.SetPmd(n, src.State == PmdState.Unknown ? PmdState.Unknown : PmdState.Table, src.Reason);
                    space.SetPmd(o, PmdState.None);
                    o += extent;
                    n += extent;
                    continue;
                }
            }
            string reason = prefix.Length > 0 ? prefix.TrimEnd(' ', ';')
                : !mutual ? "not mutually aligned"
                : (o & (AddressSpace.PmdSize - 1)) != 0 ? "unaligned head"
                : extent < AddressSpace.PmdSize ? "tail shorter than 2 MiB"
                : "CONFIG_HAVE_MOVE_PMD off";
            Emit(extents, o, n, extent, MovePaths.Pte, reason);
            // pte_alloc() links a table at the destination; the emptied source table stays linked.
            space.SetPmd(n, PmdState.Table);
            o += extent;
            n += extent;
        }
    }

    private static void MoveKeys(AddressSpace space, ulong o, ulong n, ulong size, PmdState? forced)
    {
        for (ulong off = 0; off < size; off += AddressSpace.PmdSize)
        {
            var s = space.GetPmd(o + off);
            space.SetPmd(n + off, forced ?? s.State, s.Reason);
            space.SetPmd(o + off, PmdState.None);
        }
    }

    private static string FirstUnknownReason(AddressSpace space, ulong address, ulong size)
    {
        ulong s = address & ~(size - 1);
        for (ulong a = s; a < s + size; a += AddressSpace.PmdSize)
        {
            var info = space.GetPmd(a);
            if (info.State == PmdState.Unknown)
            {
                return info.Reason ?? AddressSpace.UnknownBeforeTrace;
            }
        }
        return AddressSpace.UnknownBeforeTrace;
    }

    private static void Emit(List<PredictedExtent> extents, ulong o, ulong n, ulong length, string path, string reason)
    {
        // Coalesce runs of skipped extents so a sparse 100 GiB move stays a handful of rows.
        if (extents.Count > 0 && string.Equals(path, MovePaths.Skipped, StringComparison.Ordinal))
        {
            var last = extents[^1];
            if (string.Equals(last.Path, path, StringComparison.Ordinal) && string.Equals(last.Reason, reason, StringComparison.Ordinal)
                && last.OldStart + last.Length == o && last.NewStart + last.Length == n)
            {
                extents[^1] = last with { Length = last.Length + length };
                return;
            }
        }
        extents.Add(new PredictedExtent(o, n, length, path, reason));
    }
}

/// <summary>Distinct reasons why a prediction depends on missing state.</summary>
internal sealed class UndecidedNotes
{
    private readonly List<string> _notes = [];

    public void Add(string note)
    {
        if (!_notes.Contains(note, StringComparer.Ordinal))
        {
            _notes.Add(note);
        }
    }

    public string? Text => _notes.Count == 0 ? null : string.Join("; ", _notes);
}
