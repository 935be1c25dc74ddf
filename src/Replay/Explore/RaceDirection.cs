namespace Pipeline.Replay.Explore;

/// <summary>
/// The preemptions a window's race needs first (docs/exploration.md, "Race-directed order"): a task stopped inside the
/// stretch of its program that the race opens — between the op that looked at the state without a lock and the op that
/// acts on what it saw — so that a task of the race's other side runs there. R1: a walker between its
/// <c>ttu_walk</c> (it found the table through the old PMD) and its <c>ttu_unmap</c> (it clears the entry in that
/// table and flushes the old address), for a mover still to move a PMD or PUD. R2: GUP-fast between its lockless entry
/// read and the end of its IRQ-off section, for a collapse still to flush. R3: a zapper between its <c>zap_clear</c>
/// (the entry is none, the PTL held) and its <c>zap_finish</c> (the mapcount decrement), for a split standing at its
/// asserting rmap walk (its <c>ttu_start</c> next, or inside it) with the peek still ahead. R4: a reclaimer between its VM_LOCKED check and its PG_mlocked set, for a munlock or exit still
/// to clear VM_LOCKED. R6: khugepaged's retract between its <c>retract_start</c> (it holds the file's rmap lock) and a
/// <c>retract_pmd</c> of its section (the PMD still holds the table), for a mover still to move that PMD: the move
/// classifies it and then waits for that lock. R3's and R6's stops are for the entries they name: a stop after a clear,
/// for the walk of that entry; before a retract's PMD, for the move of that PMD. The order only decides which
/// alternatives of a DPOR round run first; which run at all is not changed, so a refutation still covers the whole bound.
/// </summary>
internal sealed class RaceDirection
{
    // Per task, per program position (the index of the task's next op): whether the task is inside a stretch.
    private readonly bool[][] _inside;

    // Per task, the index of its last op of the race's other side (-1: none).
    private readonly int[] _lastOther;

    // R3 and R6: per task, per position inside a stretch, the entries the stop is for (R3: those the zapper cleared and
    // has not finished; R6: the PMDs the retract's section still clears); per task, its ops of the other side and the
    // entries each reaches. Null for R1, R2 and R4, whose stops are for any op of the other side.
    private readonly Entry[]?[][]? _entries;
    private readonly List<Reach>[]? _reaches;

    private RaceDirection(bool[][] inside, int[] lastOther, Entry[]?[][]? entries, List<Reach>[]? reaches)
    {
        _inside = inside;
        _lastOther = lastOther;
        _entries = entries;
        _reaches = reaches;
    }

    /// <summary>A page-table entry: a PTE or PMD of an mm, by the address its range starts at.</summary>
    private readonly record struct Entry(int Mm, Level Level, ulong Va);

    /// <summary>An op of the race's other side (program index <paramref name="Index"/>) and the entries of one level it
    /// looks at or moves: those of <paramref name="Mm"/> in [<paramref name="Lo"/>, <paramref name="Hi"/>). A switch is
    /// directed to it only from program position <paramref name="From"/> on (R3: the <c>ttu_start</c> of the split's
    /// rmap walk; R6: 0).</summary>
    private readonly record struct Reach(int From, int Index, int Mm, Level Level, ulong Lo, ulong Hi)
    {
        public bool Covers(in Entry e) => e.Mm == Mm && e.Level == Level && e.Va >= Lo && e.Va < Hi;
    }

    /// <summary>The direction for <paramref name="race"/> over the tasks' programs; null for a race without stretches
    /// (R5: one task) or when no task has one and another task the other side.</summary>
    public static RaceDirection? For(string? race, Op[][] programs)
    {
        if (race is not ("R1" or "R2" or "R3" or "R4" or "R6"))
        {
            return null;
        }
        bool keyed = race is "R3" or "R6";
        int n = programs.Length;
        var inside = new bool[n][];
        var lastOther = new int[n];
        var entries = keyed ? new Entry[]?[n][] : null;
        var reaches = keyed ? new List<Reach>[n] : null;
        bool any = false;
        for (int t = 0; t < n; t++)
        {
            var program = programs[t];
            inside[t] = new bool[program.Length + 1];
            lastOther[t] = -1;
            if (keyed)
            {
                entries![t] = new Entry[]?[program.Length + 1];
                reaches![t] = [];
            }
            // R3: inside an rmap walk whose ttu_start asserts its result (split_huge_page's unmap_page).
            bool asserting = false;
            int walkStart = 0;
            for (int k = 0; k < program.Length; k++)
            {
                var op = program[k];
                if (op.Kind == OpKind.TtuStart)
                {
                    asserting = op.Has(OpFlags.Assert);
                    walkStart = k;
                }
                if (IsOtherSide(race, op, asserting))
                {
                    lastOther[t] = k;
                    if (keyed)
                    {
                        reaches![t].Add(ReachOf(op, k, walkStart));
                    }
                }
                if (op.Kind == OpKind.TtuEnd)
                {
                    asserting = false;
                }
            }
            any |= race switch
            {
                "R3" => ZapStretches(program, inside[t], entries![t]),
                "R6" => RetractStretches(program, inside[t], entries![t]),
                _ => Stretches(race, program, inside[t]),
            };
        }
        return any && lastOther.Any(k => k >= 0) ? new RaceDirection(inside, lastOther, entries, reaches) : null;
    }

    /// <summary>
    /// The tasks among <paramref name="enabled"/> that a switch at this state runs in a stretch of the race: the task
    /// that ran last (<paramref name="last"/>) is inside one, and each of them still has an op of the other side ahead
    /// (R3, R6: one that reaches an entry the stop is for; R3: the task already at that op's rmap walk).
    /// </summary>
    public ulong Directed(int last, int[] pos, ulong enabled)
    {
        if (last < 0 || !_inside[last][pos[last]])
        {
            return 0;
        }
        var stop = _entries?[last][pos[last]];
        ulong directed = 0;
        for (ulong rest = enabled & ~(1UL << last); rest != 0; rest &= rest - 1)
        {
            int u = System.Numerics.BitOperations.TrailingZeroCount(rest);
            if (pos[u] <= _lastOther[u] && (stop is null || ReachesAhead(_reaches![u], pos[u], stop)))
            {
                directed |= 1UL << u;
            }
        }
        return directed;
    }

    // Whether a task at program position `at` has an op of the other side ahead, directed to from there, that reaches an
    // entry of the stop.
    private static bool ReachesAhead(List<Reach> reaches, int at, Entry[] stop)
    {
        foreach (var r in reaches)
        {
            if (r.Index < at || r.From > at)
            {
                continue;
            }
            foreach (var e in stop)
            {
                if (r.Covers(e))
                {
                    return true;
                }
            }
        }
        return false;
    }

    // R1, R2, R4: positions open+1 .. k, where the opening op (at open) has run and the closing one (at k) has not.
    private static bool Stretches(string race, Op[] program, bool[] inside)
    {
        bool any = false;
        int open = -1;
        for (int k = 0; k < program.Length; k++)
        {
            var op = program[k];
            if (open >= 0 && Closes(race, op.Kind))
            {
                Array.Fill(inside, true, open + 1, k - open);
                any = true;
                open = -1;
            }
            else if (open >= 0 && race != "R2" && op.Kind == OpKind.TtuEnd)
            {
                // The walk ended without reaching the closing op (it found nothing to unmap, or no VM_LOCKED).
                open = -1;
            }
            if (Opens(race, op))
            {
                open = k;
            }
        }
        return any;
    }

    // R3: after a zap_clear (the entry is none, the zapper holds its PTL) and up to its zap_finish (the mapcount
    // decrement), for the entries cleared and not yet finished: zap_pte_range may clear more entries of the table
    // before it finishes the first. A zap_finish ends the stop for the entry it names (or, naming none cleared, the
    // oldest).
    private static bool ZapStretches(Op[] program, bool[] inside, Entry[]?[] entries)
    {
        var cleared = new List<Entry>();
        Entry[]? current = null;
        bool any = false;
        for (int k = 0; k < program.Length; k++)
        {
            var op = program[k];
            if (op.Kind == OpKind.ZapClear)
            {
                cleared.Add(EntryOf(op));
                current = null;
            }
            else if (op.Kind == OpKind.ZapFinish && cleared.Count > 0)
            {
                int at = cleared.IndexOf(EntryOf(op));
                cleared.RemoveAt(Math.Max(at, 0));
                current = null;
            }
            if (cleared.Count > 0)
            {
                inside[k + 1] = true;
                entries[k + 1] = current ??= [.. cleared];
                any = true;
            }
        }
        return any;
    }

    // R6: after a retract_start (khugepaged holds the file's rmap lock, for read in the kernel) and up to each of its
    // section's retract_pmd (the PMD still links its PTE table), for the PMDs of the section's retract_pmd ops not run
    // yet: a move of one of them classifies it as a table and then waits for the rmap lock the retract holds.
    private static bool RetractStretches(Op[] program, bool[] inside, Entry[]?[] entries)
    {
        bool any = false;
        int open = -1;
        var pmds = new List<(int Index, Entry Pmd)>();
        for (int k = 0; k <= program.Length; k++)
        {
            bool ends = k == program.Length || program[k].Kind is OpKind.RetractEnd or OpKind.RetractStart;
            if (open >= 0 && ends)
            {
                // Positions up to the j-th retract_pmd stop for it and the ones after it.
                int from = open + 1;
                for (int j = 0; j < pmds.Count; j++)
                {
                    var rest = pmds.Skip(j).Select(p => p.Pmd).ToArray();
                    for (int p = from; p <= pmds[j].Index; p++)
                    {
                        inside[p] = true;
                        entries[p] = rest;
                        any = true;
                    }
                    from = pmds[j].Index + 1;
                }
                open = -1;
                pmds.Clear();
            }
            if (k == program.Length)
            {
                break;
            }
            if (program[k].Kind == OpKind.RetractStart)
            {
                open = k;
            }
            else if (open >= 0 && program[k].Kind == OpKind.RetractPmd)
            {
                pmds.Add((k, EntryOf(program[k])));
            }
        }
        return any;
    }

    // The entry a zap_clear or retract_pmd clears.
    private static Entry EntryOf(in Op op)
    {
        var level = op.Kind == OpKind.RetractPmd ? Level.Pmd : op.Level;
        return new Entry(op.Mm, level, op.Va & ~(ReplayEngine.SizeOf(level) - 1));
    }

    // R3: the split's walk looks at the entry that maps the page (a PTE, or a PMD for a THP); a switch is for it once the
    // split stands at the rmap walk (from its ttu_start on): before that, the split's next ops are work the race does not
    // need, and the zapper's stop is taken with the walk far away (on the contended workloads it delayed violations that
    // DPOR's own reversals found sooner). R6: a PMD move reaches the PMD of its old address, a PUD move every PMD under
    // its old PUD, from anywhere in the mover's program.
    private static Reach ReachOf(in Op op, int index, int walkStart)
    {
        if (op.Kind == OpKind.TtuWalk)
        {
            ulong size = ReplayEngine.SizeOf(op.Level);
            return new Reach(walkStart, index, op.Mm, op.Level, op.Va & ~(size - 1), (op.Va & ~(size - 1)) + size);
        }
        ulong span = ReplayEngine.SizeOf(op.Kind is OpKind.MremapMovePud or OpKind.PudMove ? Level.Pud : Level.Pmd);
        ulong lo = op.Va & ~(span - 1);
        return new Reach(0, index, op.Mm, Level.Pmd, lo, lo + span);
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

    // The task whose stop opens the stretch is role 0 of OpTraceWindows for R3, R4 and R6 (the zapper, the reclaimer,
    // the retract), role 1 for R1 and R2 (the walker, GUP-fast).
    private static bool IsOtherSide(string race, in Op op, bool assertingWalk) => race switch
    {
        "R1" or "R2" => OpTraceWindows.Role(race, op, assertingWalk) == 0,
        _ => OpTraceWindows.Role(race, op, assertingWalk) == 1,
    };
}
