namespace Pipeline.Replay.Real;

/// <summary>Extent paths of move_page_tables(), as written to <c>mremap_moves.path</c>.</summary>
public static class MovePaths
{
    /// <summary>move_normal_pud(): a whole PMD table moved by one PUD entry.</summary>
    public const string NormalPud = "NORMAL_PUD";
    /// <summary>move_normal_pmd(): a whole PTE table moved by one PMD entry.</summary>
    public const string NormalPmd = "NORMAL_PMD";
    /// <summary>move_ptes(): entries moved one by one under both PTLs.</summary>
    public const string Pte = "PTE";
    /// <summary>move_huge_pmd(): a PMD-mapped THP moved.</summary>
    public const string HpagePmd = "HPAGE_PMD";
    /// <summary>move_huge_pud(): a PUD-mapped huge page moved.</summary>
    public const string HpagePud = "HPAGE_PUD";
    /// <summary>Nothing to move: the source PUD or PMD is none.</summary>
    public const string Skipped = "none";
}

/// <summary>
/// One mremap() call with its prediction: a row of the <c>mremaps</c> table. Property order and
/// <see cref="Columns"/> give the column order.
/// </summary>
/// <param name="TsNs">ts_ns: timestamp of sys_enter_mremap.</param>
/// <param name="Seq">seq: row id of the sys_enter_mremap event.</param>
/// <param name="Pid">pid: the calling thread.</param>
/// <param name="OldAddr">old_addr.</param>
/// <param name="OldLen">old_len as passed.</param>
/// <param name="NewAddr">new_addr as requested.</param>
/// <param name="NewLen">new_len as passed.</param>
/// <param name="Flags">flags (MREMAP_MAYMOVE 1, MREMAP_FIXED 2, MREMAP_DONTUNMAP 4).</param>
/// <param name="Ret">ret of sys_exit_mremap (-errno on failure); null when the exit was not seen.</param>
/// <param name="DurationNs">duration_ns: exit minus entry; null when the exit was not seen.</param>
/// <param name="ResultAddr">result_addr: where the range is now; null on failure.</param>
/// <param name="PudMoves">pud_moves: NORMAL_PUD extents.</param>
/// <param name="PmdMoves">pmd_moves: NORMAL_PMD extents.</param>
/// <param name="PteExtents">pte_extents: move_ptes() extents.</param>
/// <param name="HugeMoves">huge_moves: HPAGE_PMD and HPAGE_PUD extents.</param>
/// <param name="MovedBytes">moved_bytes: bytes of page-table coverage moved (non-skipped extents; a realigned head counts 2 MiB).</param>
/// <param name="Alignment">alignment: 'aligned', 'mutual' or 'none' (old vs destination, mod 2 MiB).</param>
/// <param name="Realigned">realigned: try_realign_addr() moved the start down to the PMD boundary.</param>
/// <param name="NeedRmapLocks">need_rmap_locks as copy_vma() set it.</param>
/// <param name="Undecided">undecided: the prediction needed state from before the trace that was missing.</param>
/// <param name="UndecidedReason">undecided_reason.</param>
public sealed record MremapCall(
    long TsNs,
    long Seq,
    int Pid,
    ulong OldAddr,
    ulong OldLen,
    ulong NewAddr,
    ulong NewLen,
    ulong Flags,
    long? Ret,
    long? DurationNs,
    ulong? ResultAddr,
    int PudMoves,
    int PmdMoves,
    int PteExtents,
    int HugeMoves,
    ulong MovedBytes,
    string Alignment,
    bool Realigned,
    bool NeedRmapLocks,
    bool Undecided,
    string? UndecidedReason)
{
    /// <summary>Column names of the <c>mremaps</c> table, in property order.</summary>
    public static IReadOnlyList<string> Columns { get; } =
    [
        "ts_ns", "seq", "pid", "old_addr", "old_len", "new_addr", "new_len", "flags", "ret", "duration_ns",
        "result_addr", "pud_moves", "pmd_moves", "pte_extents", "huge_moves", "moved_bytes", "alignment",
        "realigned", "need_rmap_locks", "undecided", "undecided_reason",
    ];
}

/// <summary>One extent of move_page_tables(): a row of the <c>mremap_moves</c> table.</summary>
/// <param name="Seq">seq of the call's sys_enter_mremap.</param>
/// <param name="ExtentIndex">extent_index, 0-based within the call.</param>
/// <param name="OldStart">old_start.</param>
/// <param name="NewStart">new_start.</param>
/// <param name="Length">length in bytes.</param>
/// <param name="Path">path: one of <see cref="MovePaths"/>.</param>
/// <param name="Reason">reason: why that path.</param>
public sealed record MremapExtent(long Seq, int ExtentIndex, ulong OldStart, ulong NewStart, ulong Length, string Path, string Reason)
{
    /// <summary>Column names of the <c>mremap_moves</c> table, in property order.</summary>
    public static IReadOnlyList<string> Columns { get; } =
        ["seq", "extent_index", "old_start", "new_start", "length", "path", "reason"];
}
