namespace Pipeline.Replay;

/// <summary>
/// Every op the replay engine understands. Primitives change model state directly (docs/mm-model.md §3, docs/op-trace.md);
/// kernel steps are expanded into primitives by the selected <c>KernelProfile</c>.
/// The trace name of each kind is <c>mmop_&lt;name&gt;</c>, see <see cref="OpSpec"/> and docs/op-trace.md.
/// </summary>
public enum OpKind : byte
{
    /// <summary>Not an op (default value).</summary>
    None = 0,

    // ---- address spaces and CPUs
    /// <summary>mm_create: a new mm whose PGD is table <c>table</c>.</summary>
    MmCreate,
    /// <summary>mm_destroy: the mm and every table still linked into it go away.</summary>
    MmDestroy,
    /// <summary>ctx_switch: the op's CPU now runs <c>mm</c> (0 = kernel thread, lazy).</summary>
    CtxSwitch,

    // ---- locks
    /// <summary>mmap_lock: mmap_lock of <c>mm</c> in <c>mode</c>; <c>try=1</c> never waits, <c>ok</c> says whether it succeeded.</summary>
    MmapLock,
    /// <summary>mmap_unlock.</summary>
    MmapUnlock,
    /// <summary>vma_lock: per-VMA lock of the VMA containing <c>va</c>.</summary>
    VmaLock,
    /// <summary>vma_unlock.</summary>
    VmaUnlock,
    /// <summary>rmap_lock: anon_vma root rwsem or i_mmap_rwsem, identified by <c>rmap</c>.</summary>
    RmapLock,
    /// <summary>rmap_unlock.</summary>
    RmapUnlock,
    /// <summary>ptl_lock: the lock guarding the entries of a table (PTE lock, split PMD lock, or mm->page_table_lock for PUD).</summary>
    PtlLock,
    /// <summary>ptl_unlock.</summary>
    PtlUnlock,
    /// <summary>page_lock: folio lock of <c>pfn</c>.</summary>
    PageLock,
    /// <summary>page_unlock.</summary>
    PageUnlock,

    // ---- lockless sections, IPIs, RCU
    /// <summary>irq_disable: the op's CPU enters an IRQ-off section (GUP-fast).</summary>
    IrqDisable,
    /// <summary>irq_enable.</summary>
    IrqEnable,
    /// <summary>rcu_lock: rcu_read_lock on the op's CPU.</summary>
    RcuLock,
    /// <summary>rcu_unlock.</summary>
    RcuUnlock,
    /// <summary>ipi_send: IPI <c>id</c> sent to <c>cpus</c> (mask) with function <c>func</c>.</summary>
    IpiSend,
    /// <summary>ipi_handle: the op's CPU ran the handler of IPI <c>id</c>.</summary>
    IpiHandle,
    /// <summary>ipi_sync: smp_call_function(func, wait=1) to every other CPU; waits until none has IRQs off.</summary>
    IpiSync,
    /// <summary>rcu_gp_end: an RCU grace period completes; RCU-deferred table frees queued before it are released.</summary>
    RcuGpEnd,

    // ---- tables and entries
    /// <summary>table_alloc: a new empty table <c>table</c> at <c>level</c>.</summary>
    TableAlloc,
    /// <summary>table_free: table freed <c>free=now|rcu|gather</c>.</summary>
    TableFree,
    /// <summary>table_deposit: PTE table deposited under the huge PMD at <c>va</c> (THP pgtable deposit: the table is reused).</summary>
    TableDeposit,
    /// <summary>table_withdraw: the deposited table is taken back.</summary>
    TableWithdraw,
    /// <summary>entry_read: read of one entry; <c>lockless=1</c> for READ_ONCE peeks; optional <c>val</c> is checked.</summary>
    EntryRead,
    /// <summary>pte_set: PTE maps <c>pfn</c>.</summary>
    PteSet,
    /// <summary>pte_clear: PTE becomes none.</summary>
    PteClear,
    /// <summary>pte_set_swap: PTE becomes a swap or migration entry (non-present).</summary>
    PteSetSwap,
    /// <summary>pmd_populate: PMD entry links PTE table <c>table</c>.</summary>
    PmdPopulate,
    /// <summary>pmd_clear: PMD entry becomes none.</summary>
    PmdClear,
    /// <summary>pmd_set_huge: PMD entry maps a 2M page at <c>pfn</c>.</summary>
    PmdSetHuge,
    /// <summary>pud_populate: PUD entry links PMD table <c>table</c>.</summary>
    PudPopulate,
    /// <summary>pud_clear.</summary>
    PudClear,
    /// <summary>pud_set_huge: PUD entry maps a 1G page at <c>pfn</c>.</summary>
    PudSetHuge,
    /// <summary>p4d_populate: P4D entry links PUD table <c>table</c>.</summary>
    P4dPopulate,
    /// <summary>pgd_populate: PGD entry links P4D table <c>table</c>.</summary>
    PgdPopulate,
    /// <summary>pte_alloc: if the PMD entry of <c>va</c> is none, allocate PTE table <c>table</c> and link it there (pte_alloc).</summary>
    PteAlloc,
    /// <summary>pte_move: move one PTE from <c>old</c> to <c>new</c> (move_ptes inner loop); a non-present source is skipped.</summary>
    PteMove,
    /// <summary>pmd_move: move the whole PMD entry at <c>va</c> to <c>new</c> (read + clear + populate).</summary>
    PmdMove,
    /// <summary>pud_move: move the whole PUD entry.</summary>
    PudMove,

    // ---- TLB
    /// <summary>access: a user access from the op's CPU: TLB hit, else hardware walk and fill, else fault.</summary>
    Access,
    /// <summary>tlb_fill: a hardware fill of the translation of <c>va</c> (assumed, not observed).</summary>
    TlbFill,
    /// <summary>tlb_flush: flush of [va, va+len) (or <c>all=1</c>) of <c>mm</c> on every CPU running it.</summary>
    TlbFlush,
    /// <summary>tlb_batch_add: TTU_BATCH_FLUSH: defer the flush of <c>va</c> into this task's batch.</summary>
    TlbBatchAdd,
    /// <summary>tlb_batch_flush: arch_tlbbatch_flush of this task's batch.</summary>
    TlbBatchFlush,

    // ---- page frames
    /// <summary>page_alloc.</summary>
    PageAlloc,
    /// <summary>page_free.</summary>
    PageFree,
    /// <summary>ref_get.</summary>
    RefGet,
    /// <summary>ref_try_get: speculative reference (GUP-fast).</summary>
    RefTryGet,
    /// <summary>ref_put.</summary>
    RefPut,
    /// <summary>map_inc: mapcount +1.</summary>
    MapInc,
    /// <summary>map_dec: mapcount -1.</summary>
    MapDec,
    /// <summary>mapcount_read: <c>assert=1</c> when the result feeds an assertion or irrevocable step.</summary>
    MapcountRead,
    /// <summary>flag_set: TestSetPage&lt;flag&gt;.</summary>
    FlagSet,
    /// <summary>flag_clear: TestClearPage&lt;flag&gt;.</summary>
    FlagClear,
    /// <summary>flag_read.</summary>
    FlagRead,

    // ---- VMAs and rmap walks
    /// <summary>vma_create: VMA [va, va+len) with <c>vmflags</c> and rmap object <c>rmap</c>.</summary>
    VmaCreate,
    /// <summary>vma_modify: the VMA starting at <c>va</c> becomes [new, new+len).</summary>
    VmaModify,
    /// <summary>vma_remove.</summary>
    VmaRemove,
    /// <summary>vm_flags_write: <c>set</c>/<c>clear</c> VMA flags.</summary>
    VmFlagsWrite,
    /// <summary>vm_flags_read.</summary>
    VmFlagsRead,
    /// <summary>rmap_walk_begin: marker, an rmap walk for <c>pfn</c> starts (no lock).</summary>
    RmapWalkBegin,
    /// <summary>rmap_walk_end: marker.</summary>
    RmapWalkEnd,

    // ---- kernel steps (expanded by the profile)
    /// <summary>mremap_move_pmd: move_pgt_entry(NORMAL_PMD) for the extent at <c>va</c> → <c>new</c>.</summary>
    MremapMovePmd,
    /// <summary>mremap_move_pud: move_pgt_entry(NORMAL_PUD).</summary>
    MremapMovePud,
    /// <summary>move_ptes: PTE-by-PTE move of [va, va+len) to <c>new</c>.</summary>
    MovePtes,
    /// <summary>exec_shift_stack: shift_arg_pages/relocate_vma_down of the stack [va, va+len) down to <c>new</c>.</summary>
    ExecShiftStack,
    /// <summary>ttu_start: rmap_walk for try_to_unmap/try_to_migrate of <c>pfn</c> begins (rmap lock read).</summary>
    TtuStart,
    /// <summary>ttu_walk: page_vma_mapped_walk finds the PTE of <c>pfn</c> at <c>va</c>.</summary>
    TtuWalk,
    /// <summary>ttu_unmap: try_to_unmap_one clears (or migrates) the PTE and flushes.</summary>
    TtuUnmap,
    /// <summary>ttu_end: the rmap walk ends; <c>assert=1</c>: the caller asserts the page is unmapped.</summary>
    TtuEnd,
    /// <summary>ttu_mlock_check: try_to_unmap_one finds the page mapped in a VM_LOCKED VMA.</summary>
    TtuMlockCheck,
    /// <summary>ttu_mlock_set: out_mlock: mmap_sem trylock and VM_LOCKED re-test (before v4.4).</summary>
    TtuMlockSet,
    /// <summary>ttu_mlock_page: mlock_vma_page and up_read (before v4.4).</summary>
    TtuMlockPage,
    /// <summary>zap_clear: zap_pte_range/zap_huge_pmd clears the entry under its lock.</summary>
    ZapClear,
    /// <summary>zap_finish: page_remove_rmap (mapcount, clear_page_mlock) and unlock.</summary>
    ZapFinish,
    /// <summary>collapse_flush: khugepaged pmdp_collapse_flush of the PMD at <c>va</c>.</summary>
    CollapseFlush,
    /// <summary>retract_start: retract_page_tables begins (i_mmap lock read; before v6.5 also mmap_lock trylock).</summary>
    RetractStart,
    /// <summary>retract_pmd: retract_page_tables clears a file PMD and frees its PTE table.</summary>
    RetractPmd,
    /// <summary>retract_end: retract_page_tables drops its locks.</summary>
    RetractEnd,
}
