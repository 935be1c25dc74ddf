namespace Pipeline.Replay.Real;

/// <summary>
/// The kernel behaviours that change what <c>move_page_tables()</c> does, as plain switches. Independent of
/// the replay engine's kernel profile on purpose: a caller maps one onto the other.
/// </summary>
/// <param name="Realign">
/// try_realign_addr(): realign a mutually aligned start down to the PMD boundary
/// (af8ca1c14906/b1e5a3dee255, v6.7 by inference; docs/mm-model.md §2.5, "Fixes").
/// </param>
/// <param name="RmapLocksOnPmdMove">
/// should_take_rmap_locks() returns true for NORMAL_PMD/NORMAL_PUD whatever need_rmap_locks says
/// (97113eb39fa7, v5.14; docs/mm-model.md §2.1, "Fix"). False reproduces the R1 window.
/// </param>
/// <param name="SkipPmdMoveOnOverlap">
/// Kirill's unmerged PATCHv2 (seed 004): no PMD/PUD move when |old - new| &lt; len. Mainline: false.
/// </param>
/// <param name="MovePmd">CONFIG_HAVE_MOVE_PMD.</param>
/// <param name="MovePud">CONFIG_HAVE_MOVE_PUD (c49dd3401802).</param>
/// <param name="PmdRecheckUnderLocks">
/// move_normal_pmd() re-reads the old PMD under the PMD locks and gives up unless it is a present table
/// (6fa1066fc5d0, Oct 2024; docs/mm-model.md §2.6).
/// </param>
/// <param name="MultiVmaMove">
/// mremap(MREMAP_FIXED) with old_len == new_len may span several VMAs (d23cb648e365, v6.17 by inference;
/// docs/mremap-prediction.md, rule 2). False: a range spanning VMAs fails with -EFAULT.
/// </param>
public sealed record PredictionProfile(
    bool Realign,
    bool RmapLocksOnPmdMove,
    bool SkipPmdMoveOnOverlap,
    bool MovePmd,
    bool MovePud,
    bool PmdRecheckUnderLocks,
    bool MultiVmaMove)
{
    /// <summary>Mainline as of 6.17/6.18 on x86-64 (the reference machine of docs/mm-model.md).</summary>
    public static PredictionProfile Linux618 { get; } = ForKernel(6, 18);

    /// <summary>
    /// The switches for a mainline kernel release on x86-64 (HAVE_MOVE_PMD/PUD=y), from the version each
    /// change landed in. Versions marked "by inference" in docs/mm-model.md §7 are used as such.
    /// </summary>
    public static PredictionProfile ForKernel(int major, int minor)
    {
        int v = (major * 100) + minor;
        return new PredictionProfile(
            Realign: v >= 607,
            RmapLocksOnPmdMove: v >= 514,
            SkipPmdMoveOnOverlap: false,
            MovePmd: v >= 500,
            MovePud: v >= 511,
            PmdRecheckUnderLocks: v >= 612,
            MultiVmaMove: v >= 617);
    }
}
