using Pipeline.Replay.Real;
using static Pipeline.Replay.Tests.Real.TestEvents;

namespace Pipeline.Replay.Tests.Real;

// The engine has its own Vma (Pipeline.Replay.Vma); these tests are about the address-space model's.
using Vma = Pipeline.Replay.Real.Vma;

/// <summary>
/// move_page_tables() path prediction on hand-made layouts. Each test names the mm/mremap.c rule (function and
/// condition, v6.16 text) and the rule of docs/mremap-prediction.md ("Prediction rules") or section of docs/mm-model.md it checks.
/// </summary>
public sealed class MremapPredictorTests
{
    private static readonly PredictionProfile s_618 = PredictionProfile.Linux618;
    private static readonly PredictionProfile s_66 = PredictionProfile.ForKernel(6, 6);
    private static readonly ulong s_n = B + (4 * Gb);

    private static string[] Paths(MremapPrediction p) => [.. p.Extents.Select(e => e.Path)];

    // move_page_tables(): extent == PMD_SIZE and the old PMD is a table → move_pgt_entry(NORMAL_PMD);
    // move_normal_pmd() succeeds because the new PMD is none (docs/mremap-prediction.md rule 5).
    [SkippableTheory]
    [InlineData(2, 1)]
    [InlineData(4, 2)]
    public void Predict_FullyAligned_OneNormalPmdPer2M(int mib, int expectedPmdMoves)
    {
        ulong len = (ulong)mib * Mb;
        var space = Layout(true, Anon(B, B + len));

        var p = MremapPredictor.Predict(space, Fixed(B, len, s_n), s_618);

        Assert.Equal(Enumerable.Repeat(MovePaths.NormalPmd, expectedPmdMoves), Paths(p));
        Assert.Equal("aligned", p.Alignment);
        Assert.False(p.Realigned);
        Assert.False(p.Undecided);
        Assert.Equal(len, p.MovedBytes);
        Assert.Equal(PmdState.Table, p.After.GetPmd(s_n).State);
        Assert.Equal(PmdState.None, p.After.GetPmd(B).State);
        Assert.Null(p.After.FindVma(B));
        Assert.Equal(s_n, p.After.FindVma(s_n)!.Start);
    }

    // Before realignment (< v6.7): the unaligned head [A, next 2M) and the tail [E & PMD_MASK, E) go through
    // move_ptes(); every whole 2M in between is NORMAL_PMD (docs/mm-model.md §5.2).
    [SkippableFact]
    public void Predict_MutuallyAlignedWithoutRealign_HeadAndTailByMovePtes()
    {
        ulong a = B + 0x1000;
        var space = Layout(true, Anon(a, a + (4 * Mb)));

        var p = MremapPredictor.Predict(space, Fixed(a, 4 * Mb, s_n + 0x1000), s_66);

        Assert.Equal([MovePaths.Pte, MovePaths.NormalPmd, MovePaths.Pte], Paths(p));
        Assert.Equal("unaligned head", p.Extents[0].Reason);
        Assert.Equal(2 * Mb - 0x1000, p.Extents[0].Length);
        Assert.Equal(B + (2 * Mb), p.Extents[1].OldStart);
        Assert.Equal("tail shorter than 2 MiB", p.Extents[2].Reason);
        Assert.Equal(0x1000UL, p.Extents[2].Length);
        Assert.Equal("mutual", p.Alignment);
        Assert.False(p.Realigned);
    }

    // try_realign_addr() → can_realign_addr(): len_in >= PMD_SIZE - old_align, old_align != 0, old_align == new_align,
    // can_align_down() on both sides → old_addr/new_addr &= PMD_MASK; the head becomes a PMD move (docs/mremap-prediction.md rule 4).
    [SkippableFact]
    public void Predict_MutuallyAlignedWithRealign_HeadBecomesPmdMove()
    {
        ulong a = B + 0x1000;
        var space = Layout(true, Anon(a, a + (4 * Mb)));

        var p = MremapPredictor.Predict(space, Fixed(a, 4 * Mb, s_n + 0x1000), s_618);

        Assert.True(p.Realigned);
        Assert.Equal([MovePaths.NormalPmd, MovePaths.NormalPmd, MovePaths.Pte], Paths(p));
        Assert.Equal("realigned head (try_realign_addr)", p.Extents[0].Reason);
        Assert.Equal(B, p.Extents[0].OldStart);
        Assert.Equal(s_n, p.Extents[0].NewStart);
        // Only the start is realigned; the tail past the last boundary stays a move_ptes() extent.
        Assert.Equal(0x1000UL, p.Extents[2].Length);
    }

    // can_realign_addr(): "if (pmc->len_in < old_align_next) return false" — a move that does not reach the
    // next PMD boundary is never realigned.
    [SkippableFact]
    public void Predict_MutualButShorterThanBoundary_NoRealign()
    {
        ulong a = B + 0x1000;
        var space = Layout(true, Anon(a, a + Mb));

        var p = MremapPredictor.Predict(space, Fixed(a, Mb, s_n + 0x1000), s_618);

        Assert.False(p.Realigned);
        Assert.Equal([MovePaths.Pte], Paths(p));
    }

    // get_extent() bounds each extent by the next boundary of old AND new; with old ≢ new (mod 2M) no extent
    // is ever PMD_SIZE, so everything is move_ptes() (docs/mm-model.md §5.2: A ≢ N → never NORMAL_PMD).
    [SkippableFact]
    public void Predict_NotMutuallyAligned_AllPte()
    {
        var space = Layout(true, Anon(B, B + (4 * Mb)));

        var p = MremapPredictor.Predict(space, Fixed(B, 4 * Mb, s_n + 0x3000), s_618);

        Assert.All(p.Extents, e => Assert.Equal(MovePaths.Pte, e.Path));
        Assert.All(p.Extents, e => Assert.Equal("not mutually aligned", e.Reason));
        Assert.Equal(4 * Mb, p.MovedBytes);
        Assert.Equal("none", p.Alignment);
        Assert.Equal(0, p.Count(MovePaths.NormalPmd));
    }

    // can_align_down(): find_vma_intersection(mm, addr & PMD_MASK, vma->vm_start) must be NULL on the source side.
    [SkippableFact]
    public void Predict_VmaBelowSourceInSameRegion_BlocksRealign()
    {
        ulong a = B + 0x1000;
        var neighbour = Anon(B, a, anonVma: 7) with { Access = VmaAccess.Read };
        var space = Layout(true, neighbour, Anon(a, a + (4 * Mb)));

        var p = MremapPredictor.Predict(space, Fixed(a, 4 * Mb, s_n + 0x1000), s_618);

        Assert.False(p.Realigned);
        Assert.Equal(MovePaths.Pte, p.Extents[0].Path);
        // The neighbour keeps the source's first PTE table alive.
        Assert.Equal(PmdState.Table, p.After.GetPmd(B).State);
    }

    // can_align_down() on the destination: a VMA surviving in [N & PMD_MASK, N) blocks realign — MREMAP_FIXED
    // unmaps only [N, N+new_len) (docs/mremap-prediction.md rule 4: no VMA in [N & PMD_MASK, N) — the destination's preceding VMA matters).
    [SkippableFact]
    public void Predict_VmaBelowDestinationInSameRegion_BlocksRealign()
    {
        ulong a = B + 0x1000;
        var blocker = new Vma(s_n, s_n + 0x1000) { File = "fd:5", PgoffPages = 0, Access = VmaAccess.Read };
        var space = Layout(true, Anon(a, a + (4 * Mb)), blocker);

        var p = MremapPredictor.Predict(space, Fixed(a, 4 * Mb, s_n + 0x1000), s_618);

        Assert.False(p.Realigned);
        Assert.Equal([MovePaths.Pte, MovePaths.NormalPmd, MovePaths.Pte], Paths(p));
        Assert.NotNull(p.After.FindVma(s_n));
    }

    // move_page_tables(): extent == PUD_SIZE with HAVE_MOVE_PUD → move_pgt_entry(NORMAL_PUD) covers 512 PMDs;
    // without HAVE_MOVE_PUD (before c49dd3401802) the same move is 512 NORMAL_PMD (docs/mm-model.md §2.1; docs/mremap-prediction.md rule 5).
    [SkippableFact]
    public void Predict_OneGibMutuallyAligned_NormalPud()
    {
        var space = Layout(true, Anon(B, B + Gb));

        var withPud = MremapPredictor.Predict(space, Fixed(B, Gb, s_n), s_618);
        var withoutPud = MremapPredictor.Predict(space, Fixed(B, Gb, s_n), PredictionProfile.ForKernel(5, 10));

        Assert.Equal([MovePaths.NormalPud], Paths(withPud));
        Assert.Equal(Gb, withPud.MovedBytes);
        Assert.Equal(PmdState.Table, withPud.After.GetPmd(s_n + Gb - Mb).State);
        Assert.Equal(512, withoutPud.Count(MovePaths.NormalPmd));
    }

    // get_old_pmd(): pmd_none(*pmd) → NULL → "continue": nothing is moved for that extent.
    [SkippableFact]
    public void Predict_SourcePmdNone_Skipped()
    {
        var space = Layout(false, Anon(B, B + (4 * Mb)));
        space.SetPmd(B + (2 * Mb), PmdState.Table);

        var p = MremapPredictor.Predict(space, Fixed(B, 4 * Mb, s_n), s_618);

        Assert.Equal([MovePaths.Skipped, MovePaths.NormalPmd], Paths(p));
        Assert.Equal("source PMD none (get_old_pmd)", p.Extents[0].Reason);
        Assert.Equal(2 * Mb, p.MovedBytes);
    }

    // move_page_tables(): pmd_trans_huge(*old_pmd) && extent == HPAGE_PMD_SIZE → move_pgt_entry(HPAGE_PMD);
    // a partial extent splits the THP (split_huge_pmd) and moves PTEs.
    [SkippableFact]
    public void Predict_ThpMappedSource_HpagePmdOrSplit()
    {
        var space = Layout(true, Anon(B, B + (4 * Mb)));
        space.SetPmd(B, PmdState.Huge);
        space.SetPmd(B + (2 * Mb), PmdState.Huge);

        var whole = MremapPredictor.Predict(space, Fixed(B, 4 * Mb, s_n), s_618);
        var partial = MremapPredictor.Predict(space, Fixed(B, Mb, s_n), s_618);

        Assert.Equal([MovePaths.HpagePmd, MovePaths.HpagePmd], Paths(whole));
        Assert.Equal(PmdState.Huge, whole.After.GetPmd(s_n).State);
        Assert.Equal([MovePaths.Pte], Paths(partial));
        Assert.StartsWith("THP split", partial.Extents[0].Reason, StringComparison.Ordinal);
    }

    // mremap_at(): MREMAP_SHRINK unmaps [addr+new_len, addr+old_len) in place; MREMAP_EXPAND with
    // vrm_can_expand_in_place() grows the VMA — no page table moves at all.
    [SkippableFact]
    public void Predict_ShrinkAndGrowInPlace_NoMove()
    {
        var space = Layout(true, Anon(B, B + (4 * Mb)));

        var shrink = MremapPredictor.Predict(space, new MremapRequest(B, 4 * Mb, 2 * Mb, 0, 0, L(B)), s_618);
        var grow = MremapPredictor.Predict(shrink.After, new MremapRequest(B, 2 * Mb, 6 * Mb, MremapRequest.MayMove, 0, L(B)), s_618);

        Assert.Empty(shrink.Extents);
        Assert.Equal(B + (2 * Mb), shrink.After.FindVma(B)!.End);
        // free_pgtables(): the region left without any VMA loses its PTE table.
        Assert.Equal(PmdState.None, shrink.After.GetPmd(B + (2 * Mb)).State);
        Assert.Empty(grow.Extents);
        Assert.Equal(B + (6 * Mb), grow.After.FindVma(B)!.End);
        Assert.Equal(B, grow.ResultAddr);
    }

    // mremap_to(): MREMAP_FIXED → do_munmap(mm, new_addr, new_len) first, then move_vma(); the target VMA and
    // its tables are gone, so move_normal_pmd() finds the new PMD none.
    [SkippableFact]
    public void Predict_FixedOverExistingMapping_UnmapsTarget()
    {
        var target = new Vma(s_n, s_n + (2 * Mb)) { File = "fd:9", PgoffPages = 0 };
        var space = Layout(true, Anon(B, B + (2 * Mb)), target);

        var p = MremapPredictor.Predict(space, Fixed(B, 2 * Mb, s_n), s_618);

        Assert.Equal([MovePaths.NormalPmd], Paths(p));
        var moved = p.After.FindVma(s_n)!;
        Assert.Null(moved.File);
        Assert.Equal(B >> 12, moved.PgoffPages);
    }

    // move_normal_pmd(): "if (WARN_ON_ONCE(!pmd_none(*new_pmd))) return false;" → move_ptes() fallback (docs/mm-model.md §2.5, I5).
    // A MAYMOVE grow does not unmap the destination, so a table left linked there (here: hand-placed) survives.
    [SkippableFact]
    public void Predict_DestinationPmdPopulated_WarnFallbackToPte()
    {
        var space = Layout(true, Anon(B, B + (2 * Mb)));
        space.SetPmd(s_n, PmdState.Table);

        var p = MremapPredictor.Predict(space, new MremapRequest(B, 2 * Mb, 4 * Mb, MremapRequest.MayMove, 0, L(s_n)), s_618);

        Assert.Equal([MovePaths.Pte], Paths(p));
        Assert.Equal("destination PMD populated (WARN_ON_ONCE fallback)", p.Extents[0].Reason);
    }

    // A failed call changes nothing; mremap_to() may however have unmapped the MREMAP_FIXED target before failing
    // (do_munmap() precedes remap_is_valid()), so a failed FIXED call makes a mapped target unknown.
    [SkippableFact]
    public void Predict_Failed_NoChangeButFixedTargetUnknown()
    {
        var target = Anon(s_n, s_n + (2 * Mb), anonVma: 3);
        var space = Layout(true, Anon(B, B + (2 * Mb)), target);

        var plain = MremapPredictor.Predict(space, new MremapRequest(B, 2 * Mb, 8 * Mb, 0, 0, -12), s_618);
        var fixedFailed = MremapPredictor.Predict(space, Fixed(B, 2 * Mb, s_n) with { Ret = -14 }, s_618);

        Assert.Empty(plain.Extents);
        Assert.Null(plain.ResultAddr);
        Assert.Equal(space.Vmas, plain.After.Vmas);
        Assert.Null(fixedFailed.After.FindVma(s_n));
        Assert.True(fixedFailed.After.UnknownIntersects(s_n, s_n + 1));
        Assert.NotNull(fixedFailed.After.FindVma(B));
    }

    // A FIXED call whose destination overlaps its source is refused (-EINVAL) before mremap_to() unmaps anything:
    // remapactors' mremap(A, 4M, 4M, MAYMOVE|FIXED, A + 2M) left the 4 MiB VMA whole, and its next call, which moves
    // the VMA's second half onto its first, then moved one PMD. Before 7 December 2026 the failed call made the source's
    // second half unknown and that next call undecided ("page-table state of an address that existed before the trace").
    [SkippableFact]
    public void Predict_FailedFixedOntoItsOwnSource_UnmappedNothingAndTheNextMoveIsDecided()
    {
        var space = Layout(true, Anon(B, B + (4 * Mb)));

        var overlap = MremapPredictor.Predict(space, Fixed(B, 4 * Mb, B + (2 * Mb)) with { Ret = -22 }, s_618);

        Assert.Empty(overlap.Extents);
        Assert.False(overlap.After.UnknownIntersects(B, B + (4 * Mb)));
        Assert.Equal(space.Vmas, overlap.After.Vmas);
        var back = MremapPredictor.Predict(overlap.After, Fixed(B + (2 * Mb), 2 * Mb, B), s_618);
        Assert.False(back.Undecided, back.UndecidedReason);
        Assert.Equal([MovePaths.NormalPmd], Paths(back));
    }

    // copy_vma(): a new VMA → need_rmap_locks = false; merged into the preceding VMA →
    // need_rmap_locks = (new_vma->vm_pgoff <= vma->vm_pgoff) (docs/mm-model.md §1.3).
    [SkippableFact]
    public void Predict_MergeIntoPrecedingNeighbour_NeedRmapLocksWhenItsPgoffIsLower()
    {
        ulong srcPgoff = B >> 12;
        var source = new Vma(B, B + (4 * Mb)) { PgoffPages = srcPgoff, AnonVma = 1 };
        // Moving the upper half: its pgoff is srcPgoff + 512.
        var lowerPrev = new Vma(s_n - (2 * Mb), s_n) { PgoffPages = srcPgoff, AnonVma = 1 };
        var higherPrev = new Vma(s_n - Mb, s_n) { PgoffPages = srcPgoff + 256, AnonVma = 1 };

        var alone = MremapPredictor.Predict(Layout(true, source), Fixed(B + (2 * Mb), 2 * Mb, s_n), s_618);
        var lower = MremapPredictor.Predict(Layout(true, source, lowerPrev), Fixed(B + (2 * Mb), 2 * Mb, s_n), s_618);
        var higher = MremapPredictor.Predict(Layout(true, source, higherPrev), Fixed(B + (2 * Mb), 2 * Mb, s_n), s_618);

        Assert.False(alone.NeedRmapLocks);
        Assert.True(lower.NeedRmapLocks);
        Assert.Equal(s_n - (2 * Mb), lower.After.FindVma(s_n)!.Start);
        Assert.False(higher.NeedRmapLocks);
        Assert.Equal(s_n - Mb, higher.After.FindVma(s_n)!.Start);
    }

    // can_align_down(pmc, pmc->new, ...): vma->vm_start != addr_to_align → no realign; after copy_vma() merged
    // into the preceding VMA, new_vma->vm_start < N (docs/mremap-prediction.md rule 4: new_vma->vm_start == N).
    [SkippableFact]
    public void Predict_MergedIntoPrev_NoRealign()
    {
        ulong a = B + 0x1000;
        ulong srcPgoff = a >> 12;
        var source = new Vma(a, a + (4 * Mb)) { PgoffPages = srcPgoff, AnonVma = 1 };
        ulong n = s_n + 0x1000;
        var prev = new Vma(n - 0x1000, n) { PgoffPages = srcPgoff - 1, AnonVma = 1 };

        var p = MremapPredictor.Predict(Layout(true, source, prev), Fixed(a, 4 * Mb, n), s_618);

        Assert.False(p.Realigned);
        Assert.True(p.NeedRmapLocks);
        Assert.Equal(MovePaths.Pte, p.Extents[0].Path);
    }

    // relocate_vma_down(): move_page_tables(vma, old_start, vma, new_start, len, need_rmap_locks=false, for_stack=true)
    // with overlapping ranges. Without realign, the first move_ptes() leaves the emptied source table linked where
    // the next NORMAL_PMD wants to land → WARN_ON_ONCE fallback (docs/mm-model.md §2.5, seed 004).
    [SkippableFact]
    public void PredictStackShift_OverlapWithoutRealign_DestinationPopulatedFallback()
    {
        ulong bk = B + (64 * Mb);
        var stack = Anon(bk - 0x3000, bk + (4 * Mb));
        var space = Layout(true, stack);

        var p = MremapPredictor.PredictStackShift(space, stack, 2 * Mb, PredictionProfile.ForKernel(5, 8));

        Assert.Equal([MovePaths.Pte, MovePaths.Pte, MovePaths.Pte], Paths(p));
        Assert.Equal("unaligned head", p.Extents[0].Reason);
        Assert.Equal("destination PMD populated (WARN_ON_ONCE fallback)", p.Extents[1].Reason);
        Assert.Equal("destination PMD populated (WARN_ON_ONCE fallback)", p.Extents[2].Reason);
        Assert.False(p.NeedRmapLocks);
        Assert.Equal(bk - 0x3000 - (2 * Mb), p.After.Vmas.Single().Start);
        Assert.Equal(bk + (2 * Mb), p.After.Vmas.Single().End);
    }

    // can_align_down() with for_stack: "if (pmc->for_stack && addr_masked >= vma->vm_start) return true" — the
    // stack realigns, every extent is a PMD move and the WARN is avoided (b1e5a3dee255, docs/mm-model.md §2.5 "Fixes").
    [SkippableFact]
    public void PredictStackShift_WithRealign_AllPmdMoves()
    {
        ulong bk = B + (64 * Mb);
        var stack = Anon(bk - 0x3000, bk + (4 * Mb));
        var space = Layout(true, stack);

        var p = MremapPredictor.PredictStackShift(space, stack, 2 * Mb, s_618);

        Assert.True(p.Realigned);
        Assert.Equal([MovePaths.NormalPmd, MovePaths.NormalPmd, MovePaths.NormalPmd], Paths(p));
    }

    // Kirill's PATCHv2 (seed 004, not merged): skip the PMD move when the ranges overlap → all move_ptes().
    [SkippableFact]
    public void PredictStackShift_SkipPmdMoveOnOverlap_NoPmdMove()
    {
        ulong bk = B + (64 * Mb);
        var stack = Anon(bk - 0x3000, bk + (4 * Mb));
        var profile = PredictionProfile.ForKernel(5, 8) with { SkipPmdMoveOnOverlap = true };

        var p = MremapPredictor.PredictStackShift(Layout(true, stack), stack, 2 * Mb, profile);

        Assert.Equal(0, p.Count(MovePaths.NormalPmd));
        Assert.Contains(p.Extents, e => e.Reason.StartsWith("overlapping ranges", StringComparison.Ordinal));
    }

    // should_take_rmap_locks(): NORMAL_PMD/NORMAL_PUD → true (97113eb39fa7, the R1 fix); otherwise need_rmap_locks.
    [SkippableTheory]
    [InlineData(MovePaths.NormalPmd, false, 18, true)]
    [InlineData(MovePaths.NormalPmd, false, 13, false)]
    [InlineData(MovePaths.NormalPud, false, 18, true)]
    [InlineData(MovePaths.Pte, false, 18, false)]
    [InlineData(MovePaths.Pte, true, 18, true)]
    public void TakesRmapLocks_PerPath_FollowsShouldTakeRmapLocks(string path, bool needRmapLocks, int minor, bool expected)
    {
        var profile = PredictionProfile.ForKernel(minor == 18 ? 6 : 5, minor);

        Assert.Equal(expected, MremapPredictor.TakesRmapLocks(path, needRmapLocks, profile));
    }

    // d23cb648e365 (6.17): MREMAP_FIXED with old_len == new_len spans VMAs; each piece lands at N + (piece - A)
    // and unmaps only its own destination slice (docs/mremap-prediction.md rule 2).
    [SkippableFact]
    public void Predict_MultiVmaMove_PiecesMovedSeparatelyAndGapKept()
    {
        var first = Anon(B, B + (2 * Mb), anonVma: 1);
        var second = Anon(B + (4 * Mb), B + (6 * Mb), anonVma: 2);
        var inGap = new Vma(s_n + (2 * Mb), s_n + (4 * Mb)) { File = "fd:4", PgoffPages = 0 };
        var space = Layout(true, first, second, inGap);

        var p = MremapPredictor.Predict(space, Fixed(B, 6 * Mb, s_n), s_618);

        Assert.Equal([MovePaths.NormalPmd, MovePaths.NormalPmd], Paths(p));
        Assert.Equal(s_n + (4 * Mb), p.Extents[1].NewStart);
        Assert.Equal("fd:4", p.After.FindVma(s_n + (2 * Mb))!.File);
        Assert.NotNull(p.After.FindVma(s_n + (4 * Mb)));
    }

    // 6fa1066fc5d0: move_normal_pmd() re-reads the PMD under the locks; a concurrent collapse makes the NORMAL_PMD
    // prediction depend on timing the trace does not show (docs/mm-model.md §2.6).
    [SkippableFact]
    public void Predict_ConcurrentCollapse_Undecided()
    {
        var space = Layout(true, Anon(B, B + (2 * Mb)));

        var p = MremapPredictor.Predict(space, Fixed(B, 2 * Mb, s_n) with { ConcurrentCollapse = true }, s_618);

        Assert.True(p.Undecided);
        Assert.Contains("6fa1066fc5d0", p.UndecidedReason!, StringComparison.Ordinal);
    }

    // Unknown prior state: the source PMD of memory mapped before the trace may be none or a table.
    [SkippableFact]
    public void Predict_UnknownSource_UndecidedWithReason()
    {
        var space = AddressSpace.CreateUnknown();

        var p = MremapPredictor.Predict(space, Fixed(B, 2 * Mb, s_n), s_618);

        Assert.True(p.Undecided);
        Assert.Contains("existed before the trace", p.UndecidedReason!, StringComparison.Ordinal);
        Assert.False(p.After.UnknownIntersects(B, B + (2 * Mb)));
    }

    // move_vma() → dontunmap_complete(): with MREMAP_DONTUNMAP the source VMA stays (VM_LOCKED cleared), its page
    // tables having moved; the PMD move left the source slot none.
    [SkippableFact]
    public void Predict_DontUnmap_SourceStaysEmptyAndUnlocked()
    {
        var space = Layout(true, Anon(B, B + (2 * Mb)) with { Locked = true });

        var p = MremapPredictor.Predict(space, new MremapRequest(B, 2 * Mb, 2 * Mb, MremapRequest.MayMove | MremapRequest.DontUnmap, 0, L(s_n)), s_618);

        Assert.Equal([MovePaths.NormalPmd], Paths(p));
        var source = p.After.FindVma(B)!;
        Assert.False(source.Locked);
        Assert.Equal(PmdState.None, p.After.GetPmd(B).State);
        Assert.True(p.After.FindVma(s_n)!.Locked);
    }
}
