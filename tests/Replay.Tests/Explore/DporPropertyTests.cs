using System.Globalization;
using Pipeline.Replay.Explore;
using Pipeline.Replay.Workloads;

namespace Pipeline.Replay.Tests.Explore;

/// <summary>
/// DPOR against naive preemption-bounded enumeration on small random programs (issue 10): within the bound DPOR must
/// reach every interleaving naive enumeration reaches, and the same violations with the same fewest preemptions.
/// </summary>
public sealed class DporPropertyTests
{
    private const int Programs = 60;
    // Naive enumeration of a program is capped; a program over the cap is left out (counted, and most must fit).
    private const long NaiveBudget = 20_000;

    public static TheoryData<string> Profiles() => new() { "latest", "none", "v5.13" };

    [SkippableTheory]
    [MemberData(nameof(Profiles))]
    public void Dpor_SmallRandomPrograms_ReachWhatNaiveEnumerationReaches(string profile)
    {
        var kernel = KernelProfile.Parse(profile);
        var disagreements = new List<string>();
        int compared = 0;
        for (ulong seed = 1; seed <= Programs; seed++)
        {
            var trace = RandomProgram(seed);
            var naiveTraces = new Dictionary<ulong, string>();
            var naive = new Explorer(trace, kernel, Arch.X86, new ExploreOptions { Bound = 2, Strategy = ExploreStrategy.Naive, Budget = NaiveBudget })
            {
                OnNewTrace = (t, tasks, p) => naiveTraces.TryAdd(t, $"{string.Concat(tasks.Select(k => k.ToString(CultureInfo.InvariantCulture)))} ({p})"),
            }.Run();
            if (!naive.Exhaustive)
            {
                continue;
            }
            compared++;
            var dporTraces = new HashSet<ulong>();
            var dpor = new Explorer(trace, kernel, Arch.X86, new ExploreOptions { Bound = 2 }) { OnNewTrace = (t, _, _) => dporTraces.Add(t) }.Run();
            var missed = naiveTraces.Where(e => !dporTraces.Contains(e.Key)).Select(e => e.Value).Order(StringComparer.Ordinal).ToList();
            var naiveViolations = naive.Violations.Select(v => $"{v.Key}@{v.Preemptions}").Order(StringComparer.Ordinal);
            var dporViolations = dpor.Violations.Select(v => $"{v.Key}@{v.Preemptions}").Order(StringComparer.Ordinal);
            bool agree = dpor.Exhaustive && missed.Count == 0 && dporTraces.Count == naiveTraces.Count && naiveViolations.SequenceEqual(dporViolations);
            if (!agree)
            {
                disagreements.Add($"seed {seed}: DPOR {dporTraces.Count} interleavings, naive {naiveTraces.Count}, missed {missed.Count} "
                    + $"({string.Join(", ", missed.Take(3))}); violations naive [{string.Join(", ", naiveViolations)}] dpor [{string.Join(", ", dporViolations)}]");
            }
        }
        Assert.True(disagreements.Count == 0, $"{disagreements.Count} of {compared} programs disagree under {profile}:\n{string.Join("\n", disagreements)}");
        // 30 of the 60 fit (the others preempt the 35-op setup in too many places for the cap).
        Assert.True(compared >= Programs / 2, $"only {compared} of {Programs} programs fit naive enumeration's budget");
    }

    /// <summary>
    /// A setup task building two mms (mm 1: two PTE tables under one PMD table, three mapped pages, the two source VMAs and
    /// two destination VMAs in the next gigabyte; mm 2: one PTE table, one page), then 2–3 tasks on their own CPUs, each
    /// switching to mm 1 or 2 and running 3–6 ops drawn from: accesses, TLB flushes, a PTE-lock section reading an entry,
    /// a GUP-fast lockless read in an IRQ-off section, an mmap_lock read section, and (mm 1) each PMD move at most once.
    /// </summary>
    internal static OpTrace RandomProgram(ulong seed)
    {
        var rng = new Random((int)seed);
        var b = new OpTraceBuilder();
        const string setup = "setup-100";
        MmWithOnePteTable(b, setup, mm: 1, pgd: 1);
        b.Op(setup, 0, "table_alloc", "table=6 level=pte");
        b.Op(setup, 0, "pmd_populate", "mm=1 va=0x400000 table=6");
        var pages1 = new[] { (0x5000, 0x201000), (0x6000, 0x401000), (0x7000, 0x202000) };
        foreach (var (pfn, va) in pages1)
        {
            b.Op(setup, 0, "page_alloc", $"pfn=0x{pfn:x}");
            b.Op(setup, 0, "pte_set", $"mm=1 va=0x{va:x} pfn=0x{pfn:x}");
        }
        MmWithOnePteTable(b, setup, mm: 2, pgd: 11);
        b.Op(setup, 0, "page_alloc", "pfn=0x8000");
        b.Op(setup, 0, "pte_set", "mm=2 va=0x201000 pfn=0x8000");
        b.Op(setup, 0, "vma_create", "mm=1 va=0x200000 len=0x200000 rmap=1");
        b.Op(setup, 0, "vma_create", "mm=1 va=0x400000 len=0x200000 rmap=2");
        b.Op(setup, 0, "vma_create", "mm=2 va=0x200000 len=0x200000 rmap=3");
        b.Op(setup, 0, "vma_create", "mm=1 va=0x40200000 len=0x200000 rmap=1");
        b.Op(setup, 0, "vma_create", "mm=1 va=0x40400000 len=0x200000 rmap=2");

        int tasks = rng.Next(2, 4);
        var programs = new List<(string Comm, int Cpu, string Kind, string Args)>[tasks];
        var moved = new bool[2];
        for (int t = 0; t < tasks; t++)
        {
            string comm = $"task-{101 + t}";
            int cpu = t + 1;
            int mm = rng.Next(3) == 0 ? 2 : 1;
            var ops = new List<(string, int, string, string)> { (comm, cpu, "ctx_switch", $"mm={mm}") };
            int length = rng.Next(3, 7);
            while (ops.Count - 1 < length)
            {
                string va = mm == 2 ? "0x201000" : $"0x{pages1[rng.Next(pages1.Length)].Item2:x}";
                int room = length - (ops.Count - 1);
                int pick = rng.Next(6);
                if (room < 3 && pick is >= 2 and <= 4)
                {
                    pick = pick == 4 ? 5 : pick - 2;
                }
                switch (pick)
                {
                    case 0:
                        ops.Add((comm, cpu, "access", $"mm={mm} va={va}" + (rng.Next(2) == 0 ? " write=1" : "")));
                        break;
                    case 1:
                        ops.Add((comm, cpu, "tlb_flush", $"mm={mm} all=1"));
                        break;
                    case 2:
                        ops.Add((comm, cpu, "ptl_lock", $"mm={mm} va={va} level=pte"));
                        ops.Add((comm, cpu, "entry_read", $"mm={mm} va={va} level=pte"));
                        ops.Add((comm, cpu, "ptl_unlock", $"mm={mm} va={va} level=pte"));
                        break;
                    case 3:
                        ops.Add((comm, cpu, "irq_disable", ""));
                        ops.Add((comm, cpu, "entry_read", $"mm={mm} va={va} level=pte lockless=1"));
                        ops.Add((comm, cpu, "irq_enable", ""));
                        break;
                    case 4:
                        ops.Add((comm, cpu, "mmap_lock", $"mm={mm} mode=r"));
                        ops.Add((comm, cpu, "access", $"mm={mm} va={va}"));
                        ops.Add((comm, cpu, "mmap_unlock", $"mm={mm}"));
                        break;
                    default:
                        int which = rng.Next(2);
                        if (mm == 1 && !moved[which])
                        {
                            moved[which] = true;
                            ops.Add(which == 0
                                ? (comm, cpu, "mremap_move_pmd", "mm=1 old=0x200000 new=0x40200000 spare=20")
                                : (comm, cpu, "mremap_move_pmd", "mm=1 old=0x400000 new=0x40400000 spare=30"));
                        }
                        break;
                }
            }
            programs[t] = ops;
        }
        // The recorded order: the tasks' ops interleaved at random (each task's own order kept).
        var next = new int[tasks];
        while (next.Select((n, t) => n < programs[t].Count).Any(x => x))
        {
            int t = rng.Next(tasks);
            if (next[t] < programs[t].Count)
            {
                var (comm, cpu, kind, args) = programs[t][next[t]++];
                b.Op(comm, cpu, kind, args);
            }
        }
        return b.Load();
    }

    /// <summary>An mm whose tables pgd, pgd+1 … pgd+4 reach down to a PTE table covering 0x200000.</summary>
    private static void MmWithOnePteTable(OpTraceBuilder b, string comm, int mm, int pgd)
    {
        b.Op(comm, 0, "mm_create", $"mm={mm} table={pgd}");
        foreach (var (offset, level, parent) in new[] { (1, "p4d", "pgd"), (2, "pud", "p4d"), (3, "pmd", "pud"), (4, "pte", "pmd") })
        {
            b.Op(comm, 0, "table_alloc", $"table={pgd + offset} level={level}");
            b.Op(comm, 0, $"{parent}_populate", $"mm={mm} va=0x201000 table={pgd + offset}");
        }
    }
}
