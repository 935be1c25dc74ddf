using BenchmarkDotNet.Attributes;
using Pipeline.Replay;

namespace Pipeline.Benchmarks;

/// <summary>
/// Engine throughput on a generated workload that respects locking: many mms, each faulting pages in under
/// the PTL, touching them from its CPU, unmapping with a flush and freeing them, with an occasional whole-PMD
/// mremap (a kernel step) moving the PTE table between two PMD slots.
/// </summary>
[MemoryDiagnoser]
public class ReplayBenchmarks
{
    private Op[] _ops = [];

    /// <summary>Ops in the workload.</summary>
    [Params(1_000_000)]
    public int Ops { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _ops = Generate(Ops, mms: 64, seed: 1);
        var check = new ReplayEngine(KernelProfile.Latest, Arch.X86);
        foreach (ref readonly var op in _ops.AsSpan())
        {
            check.Execute(op);
        }
        var result = check.Finish();
        if (result.Findings.Count != 0)
        {
            // A correct workload must replay clean; anything else means the generator or the engine is wrong.
            throw new InvalidOperationException("Workload is not clean: " + result.Findings[0].Message);
        }
    }

    [Benchmark]
    public long Replay()
    {
        var engine = new ReplayEngine(KernelProfile.Latest, Arch.X86);
        foreach (ref readonly var op in _ops.AsSpan())
        {
            engine.Execute(op);
        }
        return engine.Finish().OpsExecuted;
    }

    /// <summary>Builds the workload (deterministic for a seed).</summary>
    public static Op[] Generate(int count, int mms, int seed)
    {
        var ops = new List<Op>(count + 64);
        var random = new Random(seed);
        const ulong a = 0x200000, b = 0x40200000;
        var baseVa = new ulong[mms + 1];
        var pteTable = new int[mms + 1];
        var cpuMm = new int[4];
        var cycles = new int[mms + 1];
        void Add(int mm, Op op)
        {
            op.Seq = ops.Count;
            op.Tid = 1000 + mm;
            op.Cpu = mm & 3;
            ops.Add(op);
        }
        for (int mm = 1; mm <= mms; mm++)
        {
            int t = mm * 8;
            Add(mm, new Op { Kind = OpKind.MmCreate, Mm = mm, Table = t });
            Add(mm, new Op { Kind = OpKind.TableAlloc, Table = t + 1, Level = Level.P4d });
            Add(mm, new Op { Kind = OpKind.PgdPopulate, Mm = mm, Va = a, Table = t + 1 });
            Add(mm, new Op { Kind = OpKind.TableAlloc, Table = t + 2, Level = Level.Pud });
            Add(mm, new Op { Kind = OpKind.P4dPopulate, Mm = mm, Va = a, Table = t + 2 });
            Add(mm, new Op { Kind = OpKind.TableAlloc, Table = t + 3, Level = Level.Pmd });
            Add(mm, new Op { Kind = OpKind.PudPopulate, Mm = mm, Va = a, Table = t + 3 });
            Add(mm, new Op { Kind = OpKind.TableAlloc, Table = t + 4, Level = Level.Pmd });
            Add(mm, new Op { Kind = OpKind.PudPopulate, Mm = mm, Va = b, Table = t + 4 });
            Add(mm, new Op { Kind = OpKind.TableAlloc, Table = t + 5, Level = Level.Pte });
            Add(mm, new Op { Kind = OpKind.PmdPopulate, Mm = mm, Va = a, Table = t + 5 });
            Add(mm, new Op { Kind = OpKind.VmaCreate, Mm = mm, Va = a, Len = b + 0x200000 - a, Obj = mm });
            baseVa[mm] = a;
            pteTable[mm] = t + 5;
        }
        while (ops.Count < count)
        {
            int mm = 1 + random.Next(mms);
            int cpu = mm & 3;
            if (cpuMm[cpu] != mm)
            {
                Add(mm, new Op { Kind = OpKind.CtxSwitch, Mm = mm });
                cpuMm[cpu] = mm;
            }
            if (++cycles[mm] % 64 == 0)
            {
                ulong from = baseVa[mm], to = from == a ? b : a;
                Add(mm, new Op { Kind = OpKind.MmapLock, Mm = mm, Flags = OpFlags.Write });
                Add(mm, new Op { Kind = OpKind.MremapMovePmd, Mm = mm, Va = from, NewVa = to, Obj = mm });
                Add(mm, new Op { Kind = OpKind.MmapUnlock, Mm = mm });
                baseVa[mm] = to;
                continue;
            }
            int idx = random.Next(512);
            ulong va = baseVa[mm] + ((ulong)idx << 12);
            ulong pfn = ((ulong)mm << 12) | (uint)idx;
            int table = pteTable[mm];
            Add(mm, new Op { Kind = OpKind.PageAlloc, Pfn = pfn });
            Add(mm, new Op { Kind = OpKind.PtlLock, Table = table });
            Add(mm, new Op { Kind = OpKind.PteSet, Table = table, Index = idx, Pfn = pfn });
            Add(mm, new Op { Kind = OpKind.MapInc, Pfn = pfn });
            Add(mm, new Op { Kind = OpKind.PtlUnlock, Table = table });
            Add(mm, new Op { Kind = OpKind.Access, Mm = mm, Va = va });
            Add(mm, new Op { Kind = OpKind.Access, Mm = mm, Va = va, Flags = OpFlags.WriteAccess });
            Add(mm, new Op { Kind = OpKind.PtlLock, Table = table });
            Add(mm, new Op { Kind = OpKind.PteClear, Table = table, Index = idx });
            Add(mm, new Op { Kind = OpKind.MapDec, Pfn = pfn });
            Add(mm, new Op { Kind = OpKind.TlbFlush, Mm = mm, Va = va, Len = 0x1000 });
            Add(mm, new Op { Kind = OpKind.PtlUnlock, Table = table });
            Add(mm, new Op { Kind = OpKind.RefPut, Pfn = pfn });
            Add(mm, new Op { Kind = OpKind.PageFree, Pfn = pfn });
        }
        return [.. ops];
    }
}
