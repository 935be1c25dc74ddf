namespace Pipeline.Replay.Workloads;

/// <summary>A lock as the generator's scheduler sees it: one writer or many readers, and whether a writer waits (rwsem fairness).</summary>
internal sealed class SimLock
{
    public int Writer;
    public int Readers;
    public bool WriterWaiting;

    public bool CanTake(bool write) => Writer == 0 && (write ? Readers == 0 : !WriterWaiting);
}

/// <summary>A page-table page the generator created (PTE tables carry their entries).</summary>
internal sealed class SimTable
{
    public int Id;
    public readonly SimLock Lock = new();
    // PTE tables only: pfn mapped by each entry (0 = none).
    public ulong[]? Pfns;
    public int Present;
}

/// <summary>What one 2M slot of an mm holds.</summary>
internal sealed class SimSlot
{
    public SimVma? Vma;
    public SimTable? Pte;
    public ulong HugePfn;
    public int Deposited;
    // Reservation counts per mode (see Reserve).
    public int F;
    public int G;
    public int C;
    public int X;
    // --contend only: S a THP split (kswapd), Z MADV_DONTNEED zapping a THP; the two may overlap (R3's actors).
    public int S;
    public int Z;
    // A split has reserved the slot and not yet emitted its isolation reference (ref_get).
    public bool SplitRefPending;
    // A split's walk found the THP mapped: it unmaps it, so no zap may decide to zap it any more.
    public bool SplitWalked;
    // Zaps that decided to clear this THP and have not yet emitted zap_clear: the split's walk waits for them.
    public int ZapPending;
    // khugepaged retracted this slot's (empty, file) PTE table: an mremap of it reads the none PMD and skips (R6's mover).
    public bool Retracted;
}

internal sealed class SimVma
{
    public ulong Start;
    public ulong End;
    public VmFlags Flags;
    public int Rmap;
    public SimLock RmapLock = null!;
    public readonly SimLock Lock = new();
    public bool Locked => (Flags & VmFlags.Locked) != 0;
}

internal sealed class SimPage
{
    public ulong Pfn;
    public int Mm;
    public ulong Va;
    public SimVma? Vma;
    public bool Mlocked;
    public int ListIndex = -1;
    public bool Reclaiming;
}

internal sealed class SimMm
{
    // Two 1G regions (PUD entries 1 and 2), 512 slots of 2M each.
    public const ulong Base = 0x4000_0000UL;
    public const int SlotCount = 1024;
    public const ulong SlotSize = 1UL << 21;

    public int Id;
    public int Pgd;
    public int P4d;
    public int Pud;
    public readonly SimTable[] Pmd = new SimTable[2];
    public readonly SimLock MmapLock = new();
    public readonly SimLock PageTableLock = new();
    public readonly List<SimVma> Vmas = [];
    public readonly SimSlot[] Slots = new SimSlot[SlotCount];
    public readonly List<SimTask> Threads = [];
    public bool Ready;
    public bool Dying;
    // --contend only: the slot a THP split works on (-1: none), and whether khugepaged retracted a table here.
    public int Splitting = -1;
    public bool HasRetracted;

    public SimMm()
    {
        for (int i = 0; i < Slots.Length; i++)
        {
            Slots[i] = new SimSlot();
        }
    }

    public static int SlotOf(ulong va) => (int)((va - Base) >> 21);

    public static ulong SlotVa(int slot) => Base + ((ulong)slot << 21);

    public SimTable PmdOf(int slot) => Pmd[slot >> 9];
}

internal enum TaskKind : byte
{
    User,
    Kswapd,
    Khugepaged,
    Rcu,
}

/// <summary>What the next op of a task must wait for before the scheduler may emit it.</summary>
internal enum WaitKind : byte
{
    None,
    // An IPI flush of mm WaitMm: no other CPU running that mm may have IRQs off.
    IrqOffOnMmCpus,
    // smp_call_function / unlinking a table: no other CPU may have IRQs off.
    IrqOffAnywhere,
    // rcu_gp_end: no CPU inside an IRQ-off section.
    Sections,
}

/// <summary>The next op of a task with what it needs and does to locks and CPU state.</summary>
internal struct Pending
{
    public Op Op;
    public SimLock? Acquire;
    public bool AcquireWrite;
    public SimLock? Release;
    // Locks a kernel step takes and drops inside itself (they must be free when the step runs).
    public SimLock? Momentary1;
    public SimLock? Momentary2;
    public SimLock? Momentary3;
    public bool Momentary1Write;
    public WaitKind Wait;
    public int WaitMm;
    public sbyte Irq;
    public bool SetsLoadedMm;
    // --contend only: an order the kernel gets from state the generator does not lock (a page reference another
    // task still has to drop, a zap that decided to clear an entry): the op waits while this returns false.
    public Func<bool>? Guard;
}

internal sealed class SimTask
{
    public int Tid;
    public string Comm = "";
    public int Cpu;
    public TaskKind Kind;
    public SimMm? Mm;
    public IEnumerator<bool>? Activity;
    public Pending Pending;
    public readonly List<(SimMm Mm, int Slot, char Mode)> Reserved = [];
}

internal sealed class SimCpu
{
    public int Id;
    public int LoadedMm;
    public bool IrqOff;
    public SimTask? Current;
    public readonly List<SimTask> Tasks = [];
}
