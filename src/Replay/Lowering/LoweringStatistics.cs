namespace Pipeline.Replay.Lowering;

/// <summary>
/// What <see cref="TraceLowering"/> lowered and what it had to leave out because the trace lacks the state
/// (events before the trace, untraced allocations, lost events). Every skip is counted, never silent.
/// </summary>
public sealed class LoweringStatistics
{
    /// <summary>Events read.</summary>
    public long Events { get; internal set; }
    /// <summary>Ops emitted.</summary>
    public long Ops { get; internal set; }
    /// <summary>Events that produced at least one op.</summary>
    public long LoweredEvents { get; internal set; }
    /// <summary>User page faults lowered to a PTE (or huge PMD) set.</summary>
    public long FaultsMapped { get; internal set; }
    /// <summary>Faults that mapped a page-cache page (page_fault_user + mm_filemap_fault; the pfn from mm_filemap_add_to_page_cache).</summary>
    public long FileFaultsMapped { get; internal set; }
    /// <summary>filemap add, delete and fault events whose device, inode, offset, pfn or folio order is missing or not a number (not lowered).</summary>
    public long FilemapEventsSkipped { get; internal set; }
    /// <summary>Faults with no traced data-page allocation (zero page, page cache, swap-in, spurious, a page that was already mapped).</summary>
    public long FaultsWithoutPage { get; internal set; }
    /// <summary>
    /// Faults on a present entry (error code bit P) lowered as a TLB fill only: write notification or dirty tracking
    /// made the entry writable in place (no data page was copied).
    /// </summary>
    public long PresentFaultFills { get; internal set; }
    /// <summary>Allocations inside a fault on a present entry that are not a user page (the filesystem's page_mkwrite: GFP_NOFS): not the fault's page.</summary>
    public long PresentFaultOtherAllocs { get; internal set; }
    /// <summary>
    /// Frees by a task of another mm of a page the mm maps (a truncation or hole punch: unmap_mapping_range) lowered as
    /// the rmap walk re-resolved per schedule (ttu_start/ttu_walk/ttu_unmap/ttu_end) instead of an implied unmap.
    /// </summary>
    public long ZapsOfAnotherMm { get; internal set; }
    /// <summary>Huge-page faults whose PMD slot already held a PTE table in the model.</summary>
    public long HugeFaultsSkipped { get; internal set; }
    /// <summary>mm_page_free / mm_page_free_batched pairs of the batched path reporting one pfn twice.</summary>
    public long DuplicateFrees { get; internal set; }
    /// <summary>Allocations of a pfn the model still holds allocated (its free was not traced).</summary>
    public long AllocsOfAllocated { get; internal set; }
    /// <summary>Frees of pfns the model did not see allocated (allocated before the trace; emitted, counted).</summary>
    public long FreesOfUntracedPages { get; internal set; }
    /// <summary>Frees of pages still mapped in the model: the unmap (and its flush) the kernel must have done first was not traced and is inserted.</summary>
    public long ImpliedUnmaps { get; internal set; }
    /// <summary>
    /// Allocations of a frame the model still maps (a file fault mapped it from a page-cache entry whose delete was
    /// lost, after its free): the kernel unmapped it before freeing it, untraced, and page_alloc resets the mapcount,
    /// so the unmap (and its flush) is inserted before the page_alloc.
    /// </summary>
    public long MappedAtAlloc { get; internal set; }
    /// <summary>ctx_switch ops inserted because a task ran on a CPU without a traced sched_switch to it.</summary>
    public long ImpliedSwitches { get; internal set; }
    /// <summary>mmap_lock releases with no traced acquisition (taken before the trace).</summary>
    public long UnlocksWithoutLock { get; internal set; }
    /// <summary>mmap_lock acquisitions that contradict what the model holds (a lost release); not emitted.</summary>
    public long LockConflicts { get; internal set; }
    /// <summary>mmap_write_downgrade() observed (acquire_returned write=false while holding it for write).</summary>
    public long Downgrades { get; internal set; }
    /// <summary>tlb_flush events lowered to tlb_flush ops (initiator side: reasons 3 and 4).</summary>
    public long FlushesLowered { get; internal set; }
    /// <summary>tlb_flush events with no op: reason 0 (switch), 1/5 (remote acks), 2 (batched local part), 3 right after its 4.</summary>
    public long FlushesWithoutOp { get; internal set; }
    /// <summary>Initiator flushes whose mm could not be told (a kernel thread holding no mmap_lock).</summary>
    public long FlushesUnknownMm { get; internal set; }
    /// <summary>munmap calls lowered (zap, flush, table frees).</summary>
    public long Munmaps { get; internal set; }
    /// <summary>madvise(MADV_DONTNEED/MADV_REMOVE) calls lowered (zap and flush, tables kept).</summary>
    public long MadviseZaps { get; internal set; }
    /// <summary>mremap extents lowered as kernel steps (mremap_move_pmd/pud, move_ptes).</summary>
    public long MremapExtentsLowered { get; internal set; }
    /// <summary>mremap extents with nothing the model knows populated (or a destination that is not empty): no op.</summary>
    public long MremapExtentsSkipped { get; internal set; }
    /// <summary>Collapses lowered (collapse_flush, PTE isolation, deposit, huge PMD).</summary>
    public long Collapses { get; internal set; }
    /// <summary>Collapses whose region (no mapped scan pfn) or huge page (no order-9 allocation) the trace does not show.</summary>
    public long CollapsesSkipped { get; internal set; }
    /// <summary>Collapses the kernel gave up (isolate or collapse status other than succeeded): no table changed, nothing lowered.</summary>
    public long CollapsesFailed { get; internal set; }
    /// <summary>
    /// Collapses whose scan_pfn the model does not map (a migration moved the page and its remap was not traced),
    /// located instead by their MADV_COLLAPSE call's range, which covers one PMD: the call collapses that PMD only.
    /// </summary>
    public long CollapsesByMadviseRange { get; internal set; }
    /// <summary>set_migration_pte of a page the model maps at that address: lowered as try_to_migrate_one's rmap walk (ttu_start/ttu_walk/ttu_unmap migrate=1/ttu_end).</summary>
    public long MigrationEntriesSet { get; internal set; }
    /// <summary>set_migration_pte whose old page the model does not map at that address (another mm's page, a mapping from before the trace, the second mapping of a fork-shared page): no op.</summary>
    public long MigrationEntriesUnknown { get; internal set; }
    /// <summary>set_migration_pte whose entry, decoded as x86-64 and as arm64, names two pages the model maps at that address: no op.</summary>
    public long MigrationEntriesAmbiguous { get; internal set; }
    /// <summary>set_migration_pte of a page the model holds PG_mlocked: left to its free's implied unmap (the R4 walker).</summary>
    public long MigrationEntriesMlocked { get; internal set; }
    /// <summary>Migration entries whose remove_migration_pte did not come before their task's mm_migrate_pages (lost events).</summary>
    public long MigrationEntriesUnresolved { get; internal set; }
    /// <summary>remove_migration_pte lowered: the new page mapped where the model's entry was (pte_set + map_inc under the PTE lock).</summary>
    public long MigrationRemaps { get; internal set; }
    /// <summary>remove_migration_pte of an entry the model did not lower (no set before it in the task, or its old page unknown to the model): no op.</summary>
    public long MigrationRemapsUnknown { get; internal set; }
    /// <summary>remove_migration_pte where the task had entries of two different pages waiting at that address (two mms mapping different pages at one VA): not guessed, no op.</summary>
    public long MigrationRemapsAmbiguous { get; internal set; }
    /// <summary>remove_migration_pte whose entry's table or slot changed meanwhile in the model, or whose new page the model maps already: no op.</summary>
    public long MigrationRemapsStale { get; internal set; }
    /// <summary>remove_migration_pte of a PROT_NONE entry (its pfn's encoding differs per architecture): no op.</summary>
    public long MigrationRemapsNotPresent { get; internal set; }
    /// <summary>New pages of a remap the model held freed (compaction_alloc takes isolated free pages without mm_page_alloc): page_alloc emitted first.</summary>
    public long MigrationUntracedAllocs { get; internal set; }
    /// <summary>set/remove_migration_pte without an addr or a hexadecimal pte: not lowered.</summary>
    public long MigrationEventsMalformed { get; internal set; }
    /// <summary>exit_mmap lowered to mm_destroy.</summary>
    public long MmDestroyed { get; internal set; }
    /// <summary>exit_mmap events without an mm field whose task held no mmap_lock for write: nothing destroyed.</summary>
    public long ExitMmapsUnknownMm { get; internal set; }
    /// <summary>Forks whose child got the mm the parent's dup_mmap locked nested.</summary>
    public long ForkMms { get; internal set; }
    /// <summary>Successful mlock/mlock2/mlockall calls and mmap(MAP_LOCKED) (or under MCL_FUTURE) lowered.</summary>
    public long Mlocks { get; internal set; }
    /// <summary>Successful munlock/munlockall calls lowered.</summary>
    public long Munlocks { get; internal set; }
    /// <summary>VMAs created in the engine (vma_create) for mlocked ranges and exec stacks.</summary>
    public long VmasCreated { get; internal set; }
    /// <summary>PG_mlocked set (flag_set under the PTE lock) on pages the shadow maps in a VM_LOCKED range.</summary>
    public long PagesMlocked { get; internal set; }
    /// <summary>PG_mlocked cleared (munlock, exit, zap of the last mapping).</summary>
    public long PagesMunlocked { get; internal set; }
    /// <summary>PMD-mapped THPs in a locked range: not mlocked in the model.</summary>
    public long MlockHugeSkipped { get; internal set; }
    /// <summary>pagemap:mm_lru_insertion onto the unevictable list.</summary>
    public long UnevictableInsertions { get; internal set; }
    /// <summary>Unevictable insertions of pages the shadow does not map in a VM_LOCKED VMA (locked before the trace, SHM_LOCK, ramfs …): no op.</summary>
    public long UnevictableWithoutLockedVma { get; internal set; }
    /// <summary>Unevictable insertions by a reclaimer of a page in a VM_LOCKED VMA: try_to_unmap_one's mlock steps (ttu_mlock_*).</summary>
    public long ReclaimerMlocks { get; internal set; }
    /// <summary>Mlocked pages whose range mremap moved: the lowering does not follow VMAs across a move and clears the flag.</summary>
    public long MlocksForgotten { get; internal set; }
    /// <summary>sched_process_exec events: the process gets a new mm.</summary>
    public long Execs { get; internal set; }
    /// <summary>Exec stack shifts lowered (exec_shift_stack).</summary>
    public long ExecStackShifts { get; internal set; }
    /// <summary>Execs whose stack placement (old range and shift) the trace does not decide: no op.</summary>
    public long ExecStacksUndecided { get; internal set; }
    /// <summary>Events without a usable CPU (unknown, or at or beyond <see cref="Pipeline.Storage.EventSchema.MaxCpus"/>).</summary>
    public long CpuOutOfRange { get; internal set; }

    /// <summary>The counters as (name, value) pairs in a fixed order (for reports and tests).</summary>
    public IReadOnlyList<(string Name, long Value)> Counters =>
    [
        ("events", Events), ("ops", Ops), ("lowered_events", LoweredEvents), ("faults_mapped", FaultsMapped), ("file_faults_mapped", FileFaultsMapped), ("filemap_events_skipped", FilemapEventsSkipped),
        ("faults_without_page", FaultsWithoutPage), ("present_fault_fills", PresentFaultFills), ("present_fault_other_allocs", PresentFaultOtherAllocs), ("huge_faults_skipped", HugeFaultsSkipped), ("duplicate_frees", DuplicateFrees),
        ("allocs_of_allocated", AllocsOfAllocated), ("frees_of_untraced_pages", FreesOfUntracedPages), ("implied_unmaps", ImpliedUnmaps), ("zaps_of_another_mm", ZapsOfAnotherMm), ("mapped_at_alloc", MappedAtAlloc),
        ("implied_switches", ImpliedSwitches), ("unlocks_without_lock", UnlocksWithoutLock), ("lock_conflicts", LockConflicts),
        ("downgrades", Downgrades), ("flushes_lowered", FlushesLowered), ("flushes_without_op", FlushesWithoutOp),
        ("flushes_unknown_mm", FlushesUnknownMm), ("munmaps", Munmaps), ("madvise_zaps", MadviseZaps),
        ("mremap_extents_lowered", MremapExtentsLowered),
        ("mremap_extents_skipped", MremapExtentsSkipped), ("collapses", Collapses), ("collapses_skipped", CollapsesSkipped), ("collapses_failed", CollapsesFailed), ("collapses_by_madvise_range", CollapsesByMadviseRange),
        ("migration_entries_set", MigrationEntriesSet), ("migration_entries_unknown", MigrationEntriesUnknown), ("migration_entries_ambiguous", MigrationEntriesAmbiguous), ("migration_entries_mlocked", MigrationEntriesMlocked), ("migration_entries_unresolved", MigrationEntriesUnresolved), ("migration_remaps", MigrationRemaps), ("migration_remaps_unknown", MigrationRemapsUnknown), ("migration_remaps_ambiguous", MigrationRemapsAmbiguous), ("migration_remaps_stale", MigrationRemapsStale), ("migration_remaps_not_present", MigrationRemapsNotPresent), ("migration_untraced_allocs", MigrationUntracedAllocs), ("migration_events_malformed", MigrationEventsMalformed),
        ("mm_destroyed", MmDestroyed), ("fork_mms", ForkMms), ("exit_mmaps_unknown_mm", ExitMmapsUnknownMm), ("mlocks", Mlocks), ("munlocks", Munlocks), ("vmas_created", VmasCreated),
        ("pages_mlocked", PagesMlocked), ("pages_munlocked", PagesMunlocked), ("mlock_huge_skipped", MlockHugeSkipped), ("reclaimer_mlocks", ReclaimerMlocks),
        ("unevictable_insertions", UnevictableInsertions), ("unevictable_without_locked_vma", UnevictableWithoutLockedVma),
        ("mlocks_forgotten", MlocksForgotten), ("execs", Execs), ("exec_stack_shifts", ExecStackShifts),
        ("exec_stacks_undecided", ExecStacksUndecided), ("cpu_out_of_range", CpuOutOfRange),
    ];

    /// <summary>Non-zero counters as <c>name=value</c>, comma separated.</summary>
    public override string ToString() =>
        string.Join(", ", Counters.Where(c => c.Value != 0).Select(c => c.Name + "=" + c.Value.ToString(System.Globalization.CultureInfo.InvariantCulture)));
}
