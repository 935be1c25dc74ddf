namespace Pipeline.Replay;

/// <summary>Boolean attributes of an op (trace keys in brackets).</summary>
[Flags]
public enum OpFlags : uint
{
    /// <summary>No flag.</summary>
    None = 0,
    /// <summary>Write/exclusive mode (<c>mode=w</c>).</summary>
    Write = 1 << 0,
    /// <summary>Trylock (<c>try=1</c>).</summary>
    Try = 1 << 1,
    /// <summary>The trylock failed (<c>ok=0</c>).</summary>
    Failed = 1 << 2,
    /// <summary>Lockless read (<c>lockless=1</c>).</summary>
    Lockless = 1 << 3,
    /// <summary>TTU_SYNC / PVMW_SYNC requested by the caller (<c>sync=1</c>).</summary>
    Sync = 1 << 4,
    /// <summary>TTU_BATCH_FLUSH (<c>batch=1</c>).</summary>
    Batch = 1 << 5,
    /// <summary>The result feeds an assertion or irrevocable step (<c>assert=1</c>).</summary>
    Assert = 1 << 6,
    /// <summary>A flush that does NOT interrupt the target CPUs (<c>ipi=0</c>: broadcast TLBI, INVLPGB, paravirt).</summary>
    NoIpi = 1 << 7,
    /// <summary>A write access (<c>write=1</c>).</summary>
    WriteAccess = 1 << 8,
    /// <summary>copy_vma said need_rmap_locks (<c>need_rmap_locks=1</c>).</summary>
    NeedRmapLocks = 1 << 9,
    /// <summary>try_to_migrate: install a migration entry instead of clearing (<c>migrate=1</c>).</summary>
    Migrate = 1 << 10,
    /// <summary>Flush everything of the mm (<c>all=1</c>).</summary>
    All = 1 << 11,
    /// <summary>Flush freed page tables too (walk caches) (<c>tables=1</c>).</summary>
    FreedTables = 1 << 12,
    /// <summary>Mlocked set as a transfer from an Mlocked migration source (<c>transfer=1</c>).</summary>
    Transfer = 1 << 13,
    /// <summary>The op carries an expected entry value (<c>val</c>).</summary>
    HasValue = 1 << 14,

    // Internal flags of micro-ops produced by step expansion (not written to traces).
    /// <summary>Internal: the walker checks that the entry maps <c>pfn</c> (check_pte); otherwise it found nothing.</summary>
    CheckPfn = 1 << 15,
    /// <summary>Internal: the walker continues only if the VMA is VM_LOCKED.</summary>
    CheckLocked = 1 << 16,
    /// <summary>Internal: only when the page has no mapping left (clear_page_mlock in page_remove_rmap).</summary>
    IfUnmapped = 1 << 17,
    /// <summary>Internal: only when the step's trylock (<c>down_read_trylock</c>) succeeded: its unlock.</summary>
    IfTryHeld = 1 << 18,
    /// <summary>Internal: an entry that links no table makes the step skip what it would do with the table (not found).</summary>
    SkipUnlessTable = 1 << 19,
    /// <summary>Internal: the kernel checks the destination and falls back (WARN) when it is populated.</summary>
    CheckDst = 1 << 20,
    /// <summary>Internal: re-validate the source entry under the locks (6fa1066fc5d0).</summary>
    Recheck = 1 << 21,
    /// <summary>Internal: the table comes from the task's walker register.</summary>
    UseReg = 1 << 22,
    /// <summary>Internal: store the table read into the task's walker register.</summary>
    SaveReg = 1 << 23,
    /// <summary>Internal: skip when the walker decided to skip.</summary>
    IfNotSkip = 1 << 24,
    /// <summary>Internal: a lockless "none" makes the walker skip (no PVMW_SYNC).</summary>
    SkipIfNone = 1 << 25,
    /// <summary>Internal: a failed trylock makes the walker skip the rest of its work.</summary>
    AbortIfFailed = 1 << 26,
    /// <summary>Internal: the op was decided on a classification read made earlier in the step.</summary>
    Classified = 1 << 27,
    /// <summary>Internal: WARN_ON_ONCE instead of WARN_ON.</summary>
    WarnOnce = 1 << 28,
    /// <summary>Internal: only when the walker decided to skip (PVMW_SYNC take-and-drop).</summary>
    IfSkip = 1 << 29,
    /// <summary>Internal: only when the walker found the page (skip when it skipped or found something else).</summary>
    IfFound = 1 << 30,
    /// <summary>Internal: a nested lock of the same object as the previous one is not taken twice.</summary>
    Nested = 1u << 31,
}

/// <summary>Page-table level.</summary>
public enum Level : byte
{
    /// <summary>PTE table (entries map 4K).</summary>
    Pte = 0,
    /// <summary>PMD table (entries link PTE tables or map 2M).</summary>
    Pmd = 1,
    /// <summary>PUD table (entries link PMD tables or map 1G).</summary>
    Pud = 2,
    /// <summary>P4D table.</summary>
    P4d = 3,
    /// <summary>PGD (the mm's root).</summary>
    Pgd = 4,
}

/// <summary>Page flags the model tracks.</summary>
public enum PageFlag : byte
{
    /// <summary>PG_mlocked.</summary>
    Mlocked = 1,
    /// <summary>PG_unevictable.</summary>
    Unevictable = 2,
    /// <summary>PG_lru.</summary>
    Lru = 3,
}

/// <summary>How a table is freed.</summary>
public enum FreeMode : byte
{
    /// <summary>Immediately (pte_free).</summary>
    Now = 0,
    /// <summary>After an RCU grace period (tlb_remove_table / pte_free_defer).</summary>
    Rcu = 1,
    /// <summary>Through mmu_gather after its flush (modelled as immediate, after the flush op).</summary>
    Gather = 2,
}

/// <summary>VMA flags the model tracks.</summary>
[Flags]
public enum VmFlags : byte
{
    /// <summary>None.</summary>
    None = 0,
    /// <summary>VM_LOCKED.</summary>
    Locked = 1,
    /// <summary>A file-backed VMA (rmap through i_mmap).</summary>
    File = 2,
    /// <summary>The temporary exec stack.</summary>
    Stack = 4,
}

/// <summary>
/// One op: a primitive state change or a kernel step. A plain struct with public fields so that traces of
/// millions of ops are arrays, not object graphs. Which fields are meaningful depends on <see cref="Kind"/>
/// (see <see cref="OpSpec"/>); unused fields are zero.
/// </summary>
public struct Op
{
    /// <summary>Row id of the event the op came from (dataset <c>seq</c>); findings cite it.</summary>
    public long Seq;
    /// <summary>What the op does.</summary>
    public OpKind Kind;
    /// <summary>Page-table level (<c>level</c>).</summary>
    public Level Level;
    /// <summary>Page flag (<c>flag</c>), free mode (<c>free</c>), or VMA flags (<c>vmflags</c>, <c>set</c>, <c>clear</c>).</summary>
    public byte Sub;
    /// <summary>Boolean attributes.</summary>
    public OpFlags Flags;
    /// <summary>Task (thread id).</summary>
    public int Tid;
    /// <summary>CPU the task ran on.</summary>
    public int Cpu;
    /// <summary>Address-space id (<c>mm</c>).</summary>
    public int Mm;
    /// <summary>Table id (<c>table</c>), or for kernel steps the first spare table id they may allocate (<c>spare</c>).</summary>
    public int Table;
    /// <summary>Entry index inside <see cref="Table"/> (<c>idx</c>); meaningful only when <see cref="Table"/> is set (ids are positive).</summary>
    public int Index;
    /// <summary>rmap object (<c>rmap</c>), IPI id (<c>id</c>), or count (<c>n</c>).</summary>
    public int Obj;
    /// <summary>Virtual address (<c>va</c>; <c>old</c> for moves).</summary>
    public ulong Va;
    /// <summary>Destination address (<c>new</c>).</summary>
    public ulong NewVa;
    /// <summary>Length in bytes (<c>len</c>), or CPU mask (<c>cpus</c>) for IPIs.</summary>
    public ulong Len;
    /// <summary>Page frame number (<c>pfn</c>).</summary>
    public ulong Pfn;
    /// <summary>Entry value (<c>val</c>, see <see cref="EntryValue"/>) or page order (<c>order</c>).</summary>
    public long Value;

    /// <summary>Whether <paramref name="flag"/> is set.</summary>
    public readonly bool Has(OpFlags flag) => (Flags & flag) != 0;
}
