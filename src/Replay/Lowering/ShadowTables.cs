using System.Diagnostics;

namespace Pipeline.Replay.Lowering;

/// <summary>
/// The lowering's copy of one page-table page as the engine will hold it. The lowering emits an op only when
/// this copy says the engine accepts it, so the shadow and the engine never disagree.
/// </summary>
internal sealed class ShadowTable(int id, Level level, ulong baseVa)
{
    public readonly int Id = id;
    public readonly Level Level = level;
    /// <summary>First address the table covers (moves relink PTE tables, so it changes).</summary>
    public ulong Base = baseVa;
    /// <summary>
    /// The address space whose tree holds the table (set by its creator; a table never moves to another mm:
    /// moves relink it within one). <see cref="Mapping"/> reads it here rather than holding it per mapped frame.
    /// </summary>
    public ShadowMm Mm = null!;
    /// <summary>Child tables (levels above PTE), in chunks allocated on first use: see <see cref="SparseSlots{T}"/>.</summary>
    public readonly SparseSlots<ShadowTable?>? Children = level == Level.Pte ? null : new SparseSlots<ShadowTable?>();
    /// <summary>
    /// Leaf entries: pfn + 1, 0 for none (PTE tables, and huge PMD leaves). Read freely; write only through
    /// <see cref="SetLeaf"/> and <see cref="ClearLeaf"/>: a PTE or PMD table without leaves shares
    /// <see cref="s_noLeaves"/>, so the tables of processes that exited without a traced teardown (their pages
    /// freed, the tables left) cost their object, not 4 KiB of zeros each, and a PMD table, whose entries are
    /// nearly always links to PTE tables (<see cref="Children"/>), holds an array only while it maps a huge page.
    /// </summary>
    public ulong[]? Leaves { get; private set; } = level is Level.Pte or Level.Pmd ? s_noLeaves : null;
    /// <summary>Entries in use: leaves and linked children.</summary>
    public int Present;

    private static readonly ulong[] s_noLeaves = new ulong[512];

    /// <summary>Whether the table holds a leaf array of its own (not the shared zeros).</summary>
    public bool HoldsLeaves => Leaves is not null && !ReferenceEquals(Leaves, s_noLeaves);

    /// <summary>Writes leaf <paramref name="idx"/> (pfn + 1); <see cref="Present"/> is the caller's.</summary>
    public void SetLeaf(int idx, ulong value)
    {
        if (ReferenceEquals(Leaves, s_noLeaves))
        {
            Leaves = new ulong[512];
        }
        Leaves![idx] = value;
    }

    /// <summary>Clears leaf <paramref name="idx"/> and counts it out of <see cref="Present"/>.</summary>
    public void ClearLeaf(int idx)
    {
        Leaves![idx] = 0;
        Present--;
        // A PMD table's Present also counts its linked PTE tables, so only its leaves can say it has none left.
        if ((Level == Level.Pmd || Present == 0) && !Leaves.AsSpan().ContainsAnyExcept(0UL))
        {
            Leaves = s_noLeaves;
        }
    }

    public static int IndexOf(ulong va, Level level) => (int)((va >> (12 + (9 * (int)level))) & 511);

    public static ulong SizeOf(Level level) => 1UL << (12 + (9 * (int)level));
}

/// <summary>The lowering's view of one address space (an engine <c>mm</c>).</summary>
internal sealed class ShadowMm(int id, ShadowTable root, int owner)
{
    public readonly int Id = id;
    public readonly ShadowTable Root = root;
    /// <summary>Process key (tgid) whose mm this is, 0 when only a kernel thread named it.</summary>
    public int Owner = owner;
    /// <summary>The owner's name when this mm was torn down (null while it lives): its pid may go to another process later.</summary>
    public string? OwnerCommAtExit;
    public ulong Pointer;
    /// <summary>PTE tables stored under huge PMDs (THP deposit), by PMD-aligned address.</summary>
    public readonly Dictionary<ulong, ShadowTable> Deposits = [];
    /// <summary>Tasks holding this mm's mmap_lock: tid and mode.</summary>
    public readonly List<(int Tid, bool Write)> Holders = [];

    /// <summary>
    /// Where <paramref name="tid"/> is among <see cref="Holders"/>, -1 if it holds no mmap_lock of this mm. A loop, not
    /// FindIndex with a lambda: the lambda captured the task, an allocation on each lock event (docs/benchmarks.md, s26).
    /// </summary>
    public int HolderIndex(int tid)
    {
        for (int i = 0; i < Holders.Count; i++)
        {
            if (Holders[i].Tid == tid)
            {
                return i;
            }
        }
        return -1;
    }
    /// <summary>The VMAs the lowering told the engine about (vma_create), sorted, disjoint: only those mlock or exec needed.</summary>
    public readonly List<ShadowVma> Vmas = [];
    /// <summary>mlockall(MCL_FUTURE): new mappings are VM_LOCKED.</summary>
    public bool LockFuture;

    /// <summary>The engine VMA containing <paramref name="va"/>, if the lowering created one.</summary>
    public ShadowVma? VmaAt(ulong va)
    {
        foreach (var v in Vmas)
        {
            if (va >= v.Start && va < v.End)
            {
                return v;
            }
        }
        return null;
    }

    /// <summary>The table of level <paramref name="level"/> holding the entry of <paramref name="va"/>, if linked.</summary>
    public ShadowTable? Find(ulong va, Level level)
    {
        var t = Root;
        while (t.Level > level)
        {
            var child = t.Children![ShadowTable.IndexOf(va, t.Level)];
            if (child is null)
            {
                return null;
            }
            t = child;
        }
        return t;
    }
}

/// <summary>A VMA as the engine holds it (vma_create/vma_modify/vm_flags_write by the lowering).</summary>
internal sealed class ShadowVma(ulong start, ulong end, bool locked)
{
    public ulong Start = start;
    public ulong End = end;
    public bool Locked = locked;
}

/// <summary>
/// Where a pfn is mapped in the shadow: one slot (the lowering unmaps before it maps a pfn twice). One is held per
/// mapped frame (the lowering's pfn map), so it is two words: the mm is the table's.
/// </summary>
internal readonly struct Mapping
{
    public Mapping(ShadowMm mm, ShadowTable table, int index)
    {
        Debug.Assert(ReferenceEquals(table.Mm, mm), "A mapping names a table of another mm.");
        Table = table;
        Index = index;
    }

    public ShadowTable Table { get; }

    public int Index { get; }

    public ShadowMm Mm => Table.Mm;

    public ulong Va => Table.Base + ((ulong)Index * ShadowTable.SizeOf(Table.Level));
}
