namespace Pipeline.Replay.Real;

/// <summary>Access bits of a VMA (the <c>rwx</c> of <c>/proc/PID/maps</c>, PROT_* of mmap/mprotect).</summary>
[Flags]
public enum VmaAccess
{
    /// <summary>PROT_NONE.</summary>
    None = 0,
    /// <summary>PROT_READ.</summary>
    Read = 1,
    /// <summary>PROT_WRITE.</summary>
    Write = 2,
    /// <summary>PROT_EXEC.</summary>
    Exec = 4,
}

/// <summary>THP advice on a VMA (VM_HUGEPAGE / VM_NOHUGEPAGE).</summary>
public enum HugePageAdvice
{
    /// <summary>Neither flag set.</summary>
    Default,
    /// <summary>MADV_HUGEPAGE (VM_HUGEPAGE).</summary>
    Huge,
    /// <summary>MADV_NOHUGEPAGE (VM_NOHUGEPAGE).</summary>
    NoHuge,
}

/// <summary>
/// One virtual memory area as far as the trace shows it. Addresses are byte addresses, <see cref="End"/>
/// exclusive. Immutable: the address space replaces a VMA with a modified copy (<c>with</c>).
/// </summary>
/// <param name="Start">vm_start.</param>
/// <param name="End">vm_end (exclusive).</param>
public sealed record Vma(ulong Start, ulong End)
{
    /// <summary>Access bits.</summary>
    public VmaAccess Access { get; init; } = VmaAccess.Read | VmaAccess.Write;

    /// <summary>MAP_SHARED (VM_SHARED/VM_MAYSHARE).</summary>
    public bool Shared { get; init; }

    /// <summary>Identity of the mapped file (e.g. <c>fd:3</c> or a maps path); null for anonymous memory.</summary>
    public string? File { get; init; }

    /// <summary>vm_pgoff in pages, or null when the trace cannot tell (seeded from nothing, moved from unknown state).</summary>
    public ulong? PgoffPages { get; init; }

    /// <summary>anon_vma identity: 0 none yet (never write-faulted), &gt;0 an id, <see cref="UnknownAnonVma"/> unknown.</summary>
    public long AnonVma { get; init; }

    /// <summary>VM_LOCKED (mlock, MAP_LOCKED).</summary>
    public bool Locked { get; init; }

    /// <summary>VM_HUGEPAGE / VM_NOHUGEPAGE.</summary>
    public HugePageAdvice HugePage { get; init; }

    /// <summary>Special mapping (VM_PFNMAP/VM_IO/hugetlb or a vdso-like area): never merged, never moved by PMD.</summary>
    public bool Special { get; init; }

    /// <summary>
    /// False when only the range is known (the VMA came from an unknown region or a snapshot line that lacks
    /// the attribute), so merge decisions involving it are undecided.
    /// </summary>
    public bool AttributesKnown { get; init; } = true;

    /// <summary>The path column of a maps snapshot, when seeded from one.</summary>
    public string? Name { get; init; }

    /// <summary>Value of <see cref="AnonVma"/> when the anon_vma is unknown.</summary>
    public const long UnknownAnonVma = -1;

    /// <summary>Length in bytes.</summary>
    public ulong Length => End - Start;

    /// <summary>Anonymous memory (no file).</summary>
    public bool IsAnonymous => File is null;

    /// <summary>Whether <paramref name="address"/> lies inside.</summary>
    public bool Contains(ulong address) => address >= Start && address < End;

    /// <summary>The pgoff of byte <paramref name="address"/> inside this VMA, if the pgoff is known.</summary>
    public ulong? PgoffAt(ulong address) => PgoffPages is { } p ? p + ((address - Start) >> AddressSpace.PageShift) : null;
}
