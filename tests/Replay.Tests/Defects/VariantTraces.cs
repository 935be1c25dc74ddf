using System.Globalization;
using System.Text;

namespace Pipeline.Replay.Tests.Defects;

/// <summary>
/// Op traces written as ftrace text (the `mmop_*` lines a lab trace carries), independent of the scenario
/// library: other CPUs, addresses and table ids than the library uses, so a fix cannot lean on its layout.
/// </summary>
internal sealed class VariantTrace
{
    private readonly StringBuilder _text = new();
    private int _ts;

    /// <summary>One op line: <c>comm-tid [cpu] mmop_op: keys</c>.</summary>
    public VariantTrace Op(string task, int cpu, string op, string keys = "")
    {
        _ts++;
        _text.Append(CultureInfo.InvariantCulture,
            $"{task} [{cpu:D3}] ..... 0.{_ts:D6}: mmop_{op}: {keys}\n");
        return this;
    }

    /// <summary>
    /// mm <paramref name="mm"/> (PGD table <paramref name="pgd"/>, then tables pgd+1..pgd+4 down to a PTE table)
    /// with a VMA of 2M at <paramref name="va"/> (<paramref name="vmflags"/>, rmap object <paramref name="rmap"/>).
    /// </summary>
    public VariantTrace Space(string task, int cpu, int mm, int pgd, ulong va, string vmflags = "", int rmap = 0)
    {
        Op(task, cpu, "mm_create", $"mm={mm} table={pgd}");
        Op(task, cpu, "table_alloc", $"table={pgd + 1} level=p4d").Op(task, cpu, "pgd_populate", $"mm={mm} va=0x{va:x} table={pgd + 1}");
        Op(task, cpu, "table_alloc", $"table={pgd + 2} level=pud").Op(task, cpu, "p4d_populate", $"mm={mm} va=0x{va:x} table={pgd + 2}");
        Op(task, cpu, "table_alloc", $"table={pgd + 3} level=pmd").Op(task, cpu, "pud_populate", $"mm={mm} va=0x{va:x} table={pgd + 3}");
        Op(task, cpu, "table_alloc", $"table={pgd + 4} level=pte").Op(task, cpu, "pmd_populate", $"mm={mm} va=0x{va:x} table={pgd + 4}");
        string flags = vmflags.Length == 0 ? "" : $" vmflags={vmflags}";
        string r = rmap == 0 ? "" : $" rmap={rmap}";
        return Op(task, cpu, "vma_create", $"mm={mm} va=0x{va:x} len=0x200000{flags}{r}");
    }

    /// <summary>A page mapped at <paramref name="va"/> (alloc, pte_set under the PTL, map_inc).</summary>
    public VariantTrace Map(string task, int cpu, int mm, ulong va, ulong pfn)
    {
        Op(task, cpu, "page_alloc", $"pfn=0x{pfn:x}");
        Op(task, cpu, "ptl_lock", $"mm={mm} va=0x{va:x} level=pte");
        Op(task, cpu, "pte_set", $"mm={mm} va=0x{va:x} pfn=0x{pfn:x}");
        Op(task, cpu, "map_inc", $"pfn=0x{pfn:x}");
        return Op(task, cpu, "ptl_unlock", $"mm={mm} va=0x{va:x} level=pte");
    }

    public string Text => _text.ToString();

    public OpTrace Load() => OpTraceLoader.Load(TraceText.ToRows(Text));

    public ReplayResult Run(string profile, Arch arch = Arch.X86) => ReplayEngine.Run(Load(), KernelProfile.Parse(profile), arch);

    public static string Describe(ReplayResult result) =>
        string.Join("\n", result.Findings.Select(f => $"{f.Checker}/{f.Race}/{f.Class}: {f.Message}"));
}
