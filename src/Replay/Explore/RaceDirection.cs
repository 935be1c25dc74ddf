namespace Pipeline.Replay.Explore;

/// <summary>
/// The preemptions a window's race needs first (docs/exploration.md, "Race-directed order"): a task stopped inside the
/// stretch of its program that the race opens — between the op that looked at the state without a lock and the op that
/// acts on what it saw — so that a task of the race's other side runs there. R1: a walker between its
/// <c>ttu_walk</c> (it found the table through the old PMD) and its <c>ttu_unmap</c> (it clears the entry in that
/// table and flushes the old address), for a mover still to move a PMD or PUD. R2: GUP-fast between its lockless entry
/// read and the end of its IRQ-off section, for a collapse still to flush. R4: a reclaimer between its VM_LOCKED check
/// and its PG_mlocked set, for a munlock or exit still to clear VM_LOCKED. The order only decides which alternatives
/// of a DPOR round run first; which run at all is not changed, so a refutation still covers the whole bound.
/// </summary>
internal sealed class RaceDirection
{
    // Per task, per program position (the index of the task's next op): whether the task is inside a stretch.
    private readonly bool[][] _inside;

    // Per task, the index of its last op of the race's other side (-1: none).
    private readonly int[] _lastOther;

    private RaceDirection(bool[][] inside, int[] lastOther)
    {
        _inside = inside;
        _lastOther = lastOther;
    }

    /// <summary>The direction for <paramref name="race"/> over the tasks' programs; null for a race without stretches
    /// (R3, R5, R6) or when no task has one and another task the other side.</summary>
    public static RaceDirection? For(string? race, Op[][] programs)
    {
        if (race is not ("R1" or "R2" or "R4"))
        {
            return null;
        }
        int n = programs.Length;
        var inside = new bool[n][];
        var lastOther = new int[n];
        bool any = false;
        for (int t = 0; t < n; t++)
        {
            var program = programs[t];
            inside[t] = new bool[program.Length + 1];
            lastOther[t] = -1;
            int open = -1;
            for (int k = 0; k < program.Length; k++)
            {
                var op = program[k];
                if (IsOtherSide(race, op))
                {
                    lastOther[t] = k;
                }
                if (open >= 0 && Closes(race, op.Kind))
                {
                    // Positions open+1 .. k: the opening op has run, the closing one has not.
                    for (int p = open + 1; p <= k; p++)
                    {
                        inside[t][p] = true;
                        any = true;
                    }
                    open = -1;
                }
                else if (open >= 0 && Abandons(race, op.Kind))
                {
                    open = -1;
                }
                if (Opens(race, op))
                {
                    open = k;
                }
            }
        }
        return any && lastOther.Any(k => k >= 0) ? new RaceDirection(inside, lastOther) : null;
    }

    /// <summary>
    /// The tasks among <paramref name="enabled"/> that a switch at this state runs in a stretch of the race: the task
    /// that ran last (<paramref name="last"/>) is inside one, and each of them still has an op of the other side ahead.
    /// </summary>
    public ulong Directed(int last, int[] pos, ulong enabled)
    {
        if (last < 0 || !_inside[last][pos[last]])
        {
            return 0;
        }
        ulong directed = 0;
        for (ulong rest = enabled & ~(1UL << last); rest != 0; rest &= rest - 1)
        {
            int u = System.Numerics.BitOperations.TrailingZeroCount(rest);
            if (pos[u] <= _lastOther[u])
            {
                directed |= 1UL << u;
            }
        }
        return directed;
    }

    private static bool Opens(string race, in Op op) => race switch
    {
        "R1" => op.Kind == OpKind.TtuWalk,
        "R2" => op.Kind == OpKind.EntryRead && op.Has(OpFlags.Lockless),
        _ => op.Kind == OpKind.TtuMlockCheck,
    };

    private static bool Closes(string race, OpKind kind) => race switch
    {
        "R1" => kind == OpKind.TtuUnmap,
        "R2" => kind is OpKind.IrqEnable or OpKind.RcuUnlock,
        _ => kind is OpKind.TtuMlockSet or OpKind.TtuMlockPage,
    };

    // The walk ended without reaching the closing op (it found nothing to unmap, or no VM_LOCKED).
    private static bool Abandons(string race, OpKind kind) => race != "R2" && kind == OpKind.TtuEnd;

    private static bool IsOtherSide(string race, in Op op) => race switch
    {
        "R1" or "R2" => OpTraceWindows.Role(race, op, assertingWalk: false) == 0,
        _ => OpTraceWindows.Role(race, op, assertingWalk: false) == 1,
    };
}
