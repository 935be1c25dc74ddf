namespace Pipeline.Replay;

/// <summary>One extent of an exec stack shift: moved as a whole PMD, or PTE by PTE.</summary>
/// <param name="OldVa">Source start.</param>
/// <param name="NewVa">Destination start.</param>
/// <param name="Length">Bytes.</param>
/// <param name="PmdMove">Whether <c>move_pgt_entry(NORMAL_PMD)</c> is tried for it.</param>
internal readonly record struct ShiftExtent(ulong OldVa, ulong NewVa, ulong Length, bool PmdMove);

/// <summary>
/// How <c>relocate_vma_down</c> → <c>move_page_tables(…, for_stack=true)</c> splits an exec stack shift into
/// extents under a kernel profile (docs/mm-model.md §2.5): PMD moves need the move-pmd feature and, with Kirill's
/// unmerged patch, no overlap; with realign-pmd (v6.7) a mutually aligned start is realigned down to its PMD
/// boundary. The engine expands <c>exec_shift_stack</c> from it and the lowering mirrors the same plan.
/// </summary>
internal static class StackShiftPlan
{
    private const ulong PmdSize = 1UL << 21;

    public static IEnumerable<ShiftExtent> Extents(KernelProfile profile, ulong oldVa, ulong newVa, ulong len)
    {
        ulong oldEnd = oldVa + len;
        bool overlap = oldVa - newVa < len;
        bool pmdMoves = profile.Has(KernelFeature.MovePmd) && !(overlap && profile.Has(KernelFix.SkipPmdMoveOnOverlap));
        if (pmdMoves && profile.Has(KernelFix.RealignPmd))
        {
            // try_realign_addr with for_stack: both ends mutually aligned, so start the move at the PMD boundary below.
            ulong off = oldVa & (PmdSize - 1);
            if (off != 0 && off == (newVa & (PmdSize - 1)) && len >= PmdSize - off)
            {
                oldVa -= off;
                newVa -= off;
            }
        }
        while (oldVa < oldEnd)
        {
            ulong extent = Math.Min(Math.Min(NextBoundary(oldVa) - oldVa, NextBoundary(newVa) - newVa), oldEnd - oldVa);
            yield return new ShiftExtent(oldVa, newVa, extent, pmdMoves && extent == PmdSize);
            oldVa += extent;
            newVa += extent;
        }
    }

    private static ulong NextBoundary(ulong va) => (va + PmdSize) & ~(PmdSize - 1);
}
