using System.Globalization;

namespace Pipeline.Replay.Tests.Explore;

/// <summary>An op trace written op by op (one per microsecond, in the order written), for the explorer's window tests.</summary>
internal sealed class OpTraceBuilder
{
    private readonly List<string> _lines = [];

    /// <summary>The ops written so far: the index the next op gets.</summary>
    public int Count => _lines.Count;

    public void Op(string task, int cpu, string evt, string args) => _lines.Add(string.Create(CultureInfo.InvariantCulture,
        $"{task} [{cpu:D3}] ..... {(_lines.Count + 1) / 1e6:F6}: mmop_{evt}: {args}"));

    /// <summary>
    /// <paramref name="task"/>, on <paramref name="cpu"/>, creates mm <paramref name="mm"/> (PGD table 1) with a VMA at
    /// 0x200000 (rmap 1) and its P4D, PUD, PMD and PTE tables 2–5 down to the one that maps <paramref name="at"/>
    /// (0x200000..0x3fffff).
    /// </summary>
    public void CreateMmWithPteTable(string task, int cpu, int mm = 1, ulong at = 0x201000)
    {
        Op(task, cpu, "mm_create", $"mm={mm} table=1");
        Op(task, cpu, "vma_create", $"mm={mm} va=0x200000 len=0x200000 rmap=1");
        foreach (var (table, level, parent) in new[] { (2, "p4d", "pgd"), (3, "pud", "p4d"), (4, "pmd", "pud"), (5, "pte", "pmd") })
        {
            Op(task, cpu, "table_alloc", $"table={table} level={level}");
            Op(task, cpu, $"{parent}_populate", $"mm={mm} va=0x{at:x} table={table}");
        }
    }

    /// <summary>An rmap walker's unmap of page <paramref name="i"/> of <see cref="MapPagesThenLockForMove"/> (pfn 0x5000 + i at
    /// 0x201000 + i pages): <c>ttu_start</c>, <c>ttu_walk</c>, <c>ttu_unmap</c> (with <paramref name="unmapArgs"/>),
    /// <c>ttu_end</c>, <c>page_free</c>.</summary>
    public void UnmapPage(string walker, int cpu, int i, string unmapArgs = "")
    {
        string page = $"pfn=0x{0x5000 + i:x}";
        string at = $"mm=1 va=0x{0x201000 + (i * 0x1000):x} {page}";
        Op(walker, cpu, "ttu_start", $"{page} rmap=1");
        Op(walker, cpu, "ttu_walk", at);
        Op(walker, cpu, "ttu_unmap", unmapArgs.Length > 0 ? $"{at} {unmapArgs}" : at);
        Op(walker, cpu, "ttu_end", $"{page} rmap=1");
        Op(walker, cpu, "page_free", page);
    }

    /// <summary>
    /// <paramref name="mover"/>, on CPU1, maps <paramref name="pages"/> pages (pfn 0x5000 on) at 0x201000 on through the
    /// PTE table already there, makes PMD table 6 for 0x40200000, switches to mm 1 and takes its <c>mmap_lock</c> for
    /// write: an mremap about to move the PTE table.
    /// </summary>
    public void MapPagesThenLockForMove(string mover, int pages)
    {
        for (int i = 0; i < pages; i++)
        {
            Op(mover, 1, "page_alloc", $"pfn=0x{0x5000 + i:x}");
            Op(mover, 1, "pte_set", $"mm=1 va=0x{0x201000 + (i * 0x1000):x} pfn=0x{0x5000 + i:x}");
            Op(mover, 1, "map_inc", $"pfn=0x{0x5000 + i:x}");
        }
        Op(mover, 1, "table_alloc", "table=6 level=pmd");
        Op(mover, 1, "pud_populate", "mm=1 va=0x40200000 table=6");
        Op(mover, 1, "ctx_switch", "mm=1");
        Op(mover, 1, "mmap_lock", "mm=1 mode=w");
    }

    public OpTrace Load() => OpTraceLoader.Load(TraceText.ToRows(string.Join('\n', _lines)));
}
