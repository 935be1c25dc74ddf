using System.Globalization;
using Pipeline.Replay.Real;
using Pipeline.Storage;

namespace Pipeline.Replay.Tests.Real;

// The engine has its own Vma (Pipeline.Replay.Vma); these tests are about the address-space model's.
using Vma = Pipeline.Replay.Real.Vma;

/// <summary>Builds EventRows and hand-made layouts for the Real tests.</summary>
internal static class TestEvents
{
    public const ulong Mb = 1UL << 20;
    public const ulong Gb = 1UL << 30;

    /// <summary>A 1 GiB-aligned base far from everything else.</summary>
    public const ulong B = 0x7f00_0000_0000UL;

    public static EventRow Row(string ev, long seq, long tsNs, int pid, params (string Name, long Value)[] fields)
    {
        var row = new EventRow { Seq = seq, TsNs = tsNs, Pid = pid, Comm = "test", Event = ev };
        foreach (var (name, value) in fields)
        {
            if (EventSchema.TryGetField(name, out var column))
            {
                row.SetInt64(column.Ordinal, value);
            }
            else
            {
                row.AddArg(name, value.ToString(CultureInfo.InvariantCulture));
            }
        }
        return row;
    }

    public static long L(ulong value) => unchecked((long)value);

    /// <summary>A faulted private anonymous VMA as mmap would create it (pgoff = start >> 12).</summary>
    public static Vma Anon(ulong start, ulong end, long anonVma = 1) =>
        new(start, end) { PgoffPages = start >> 12, AnonVma = anonVma };

    /// <summary>A known layout; every 2 MiB region touched by a VMA has a PTE table unless <paramref name="populated"/> is false.</summary>
    public static AddressSpace Layout(bool populated, params Vma[] vmas)
    {
        var space = AddressSpace.CreateEmpty();
        foreach (var v in vmas)
        {
            space.Insert(v, merge: false);
            if (populated)
            {
                space.SetPmdRange(v.Start, v.End, PmdState.Table);
            }
        }
        return space;
    }

    public static MremapRequest Fixed(ulong oldAddr, ulong len, ulong newAddr) =>
        new(oldAddr, len, len, MremapRequest.MayMove | MremapRequest.Fixed, newAddr, L(newAddr));

    /// <summary>A corpus file (<see cref="Pipeline.Tests.Shared.TestCorpus"/>); skips the test when a public sample is absent.</summary>
    public static string CorpusFile(string relative) => Pipeline.Tests.Shared.TestCorpus.File(relative);
}
