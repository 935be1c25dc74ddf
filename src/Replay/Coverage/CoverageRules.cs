namespace Pipeline.Replay.Coverage;

/// <summary>One actor a race needs: what it is in the kernel and which tracepoints show it (docs/coverage.md).</summary>
/// <param name="Name">Short name used in reports and <c>coverage.parquet</c>.</param>
/// <param name="Kernel">The kernel path this actor is.</param>
/// <param name="Events">
/// Tracepoints a real trace needs to show the actor. Each entry must be in the trace; an entry may list
/// alternatives separated by <c>|</c> (any one of them is enough).
/// </param>
/// <param name="Helpful">Further tracepoints that make more of its instances visible (the record line asks for them too).</param>
/// <param name="Unseeable">Non-null when no tracepoint of a 6.x kernel shows this actor: why.</param>
/// <param name="Or">
/// The name of another actor of the same rule that plays the same part: the race needs one of them (counted on their
/// own lines), e.g. R1's walker is reclaim, migration or compaction, or another process's zap of a shared file.
/// </param>
public sealed record CoverageActor(string Name, string Kernel, IReadOnlyList<string> Events, IReadOnlyList<string> Helpful, string? Unseeable = null, string? Or = null);

/// <summary>A race's actors and how they must meet for the trace to have exercised it.</summary>
/// <param name="Race">R1…R6.</param>
/// <param name="Checker">I1…I6.</param>
/// <param name="Title">One line.</param>
/// <param name="Actors">The actors; all must be seen, on one common mm, for <see cref="CoverageVerdict.Checked"/>.</param>
public sealed record CoverageRule(string Race, string Checker, string Title, IReadOnlyList<CoverageActor> Actors);

/// <summary>
/// The actors of R1–R6 (docs/mm-model.md §2, the seeds) and the tracepoints that show them on a 6.x kernel
/// (docs/mm-model.md §5.4, §6). Real-trace instances are counted by <see cref="CoverageTracker"/> from what the lowering did; op-trace
/// instances from the ops (<see cref="OpCoverage"/>).
/// </summary>
public static class CoverageRules
{
    /// <summary>Actor names (stable: they are the values of <c>coverage.parquet</c>).</summary>
    public const string PmdMover = "pmd-moving mremap";
    /// <summary>Reclaim, migration or compaction unmapping a page through the rmap (try_to_unmap_one / try_to_migrate_one).</summary>
    public const string RmapWalker = "rmap walker";
    /// <summary>A task of another mm zapping the mm's PTEs of a shared file it truncates or punches (unmap_mapping_range).</summary>
    public const string FileZapper = "file zap by another mm";
    /// <summary>khugepaged or MADV_COLLAPSE collapsing a PTE table into a huge PMD.</summary>
    public const string Collapse = "collapse";
    /// <summary>GUP-fast: an IRQ-off walk of the page tables without mmap_lock.</summary>
    public const string LocklessWalker = "lockless walker";
    /// <summary>zap_pte_range / zap_huge_pmd (munmap, MADV_DONTNEED, exit).</summary>
    public const string Zap = "zap";
    /// <summary>try_to_unmap whose result is asserted (split_huge_page, memory-failure).</summary>
    public const string CheckedUnmap = "checked try_to_unmap";
    /// <summary>munlock, munlockall or exit_mmap of an mm with VM_LOCKED VMAs (or truncation of locked pages).</summary>
    public const string Munlock = "munlock/exit of locked pages";
    /// <summary>An rmap walker (reclaim, migration) reaching an mlocked page.</summary>
    public const string MlockedWalker = "rmap walker on mlocked pages";
    /// <summary>setup_arg_pages → relocate_vma_down (move_page_tables for_stack).</summary>
    public const string StackShift = "exec stack shift";
    /// <summary>collapse_file → retract_page_tables (file THP).</summary>
    public const string Retract = "file collapse retract";

    private static readonly string[] s_walkerContext =
    [
        "migrate:mm_migrate_pages_start", "migrate:mm_migrate_pages", "vmscan:mm_vmscan_direct_reclaim_begin",
        "vmscan:mm_vmscan_direct_reclaim_end", "vmscan:mm_vmscan_memcg_reclaim_begin", "vmscan:mm_vmscan_memcg_reclaim_end",
        "vmscan:mm_vmscan_kswapd_wake", "vmscan:mm_vmscan_kswapd_sleep", "compaction:mm_compaction_begin", "compaction:mm_compaction_end",
        "syscalls:sys_enter_madvise", "syscalls:sys_exit_madvise", "kmem:mm_page_free_batched",
    ];

    private static readonly CoverageActor s_pmdMover = new(PmdMover,
        "mremap → move_page_tables → move_normal_pmd/pud (NORMAL_PMD/NORMAL_PUD extents)",
        ["syscalls:sys_enter_mremap", "syscalls:sys_exit_mremap", "exceptions:page_fault_user", "kmem:mm_page_alloc"],
        ["syscalls:sys_enter_mmap", "syscalls:sys_exit_mmap", "syscalls:sys_enter_munmap", "syscalls:sys_exit_munmap", "sched:sched_switch",
            "filemap:mm_filemap_fault", "filemap:mm_filemap_add_to_page_cache", "filemap:mm_filemap_delete_from_page_cache"]);

    private static readonly CoverageActor s_walker = new(RmapWalker,
        "reclaim, migration or compaction: try_to_unmap_one / try_to_migrate_one clearing a PTE of the mm, seen as the free of a page the model maps there, by kswapd/kcompactd or a task inside reclaim, migration, compaction or MADV_PAGEOUT",
        ["kmem:mm_page_free", "exceptions:page_fault_user", "kmem:mm_page_alloc"],
        s_walkerContext);

    private static readonly CoverageActor s_fileZapper = new(FileZapper,
        "a truncation or hole punch of a shared file by a task of another mm (unmap_mapping_range → zap_page_range_single): walks this mm's tables at the address the file's VMA gives now, without its mmap_lock, clears the PTE and flushes that address; seen as that task's free of a page the model maps in this mm",
        ["kmem:mm_page_free", "exceptions:page_fault_user", "kmem:mm_page_alloc"],
        ["filemap:mm_filemap_fault", "filemap:mm_filemap_add_to_page_cache", "filemap:mm_filemap_delete_from_page_cache", "syscalls:sys_enter_fallocate"],
        Or: RmapWalker);

    /// <summary>The six races.</summary>
    public static IReadOnlyList<CoverageRule> All { get; } =
    [
        new("R1", "I1", "stale TLB after a PMD/PUD-moving mremap races an rmap walker", [s_pmdMover, s_walker, s_fileZapper]),
        new("R2", "I2", "collapse frees or reuses a table under a lockless (GUP-fast) walker",
        [
            new(Collapse, "khugepaged / MADV_COLLAPSE: collapse_huge_page (mm_collapse_huge_page_isolate status=succeeded)",
                ["huge_memory:mm_collapse_huge_page_isolate", "kmem:mm_page_alloc", "exceptions:page_fault_user"],
                ["huge_memory:mm_collapse_huge_page", "mmap_lock:mmap_lock_acquire_returned", "mmap_lock:mmap_lock_released", "syscalls:sys_enter_madvise", "syscalls:sys_exit_madvise"]),
            new(LocklessWalker, "GUP-fast (gup_fast → IRQ-off walk): vmsplice, or read/write on an O_DIRECT file into the mm's memory",
                ["syscalls:sys_enter_vmsplice|syscalls:sys_enter_pread64|syscalls:sys_enter_read|syscalls:sys_enter_preadv|syscalls:sys_enter_pwrite64|syscalls:sys_enter_write"],
                ["syscalls:sys_enter_openat", "syscalls:sys_exit_openat", "syscalls:sys_enter_close", "syscalls:sys_enter_vmsplice", "syscalls:sys_enter_pread64", "syscalls:sys_enter_read", "syscalls:sys_enter_preadv", "syscalls:sys_enter_pwrite64", "syscalls:sys_enter_write"]),
        ]),
        new("R3", "I3", "try_to_unmap's lockless check races zap_pte_range (early false result)",
        [
            new(Zap, "zap_pte_range / zap_huge_pmd under the PTE lock: munmap, MADV_DONTNEED/REMOVE",
                ["syscalls:sys_enter_munmap|syscalls:sys_enter_madvise", "exceptions:page_fault_user", "kmem:mm_page_alloc"],
                ["syscalls:sys_exit_munmap", "syscalls:sys_exit_madvise", "mmap:exit_mmap"]),
            new(CheckedUnmap, "split_huge_page → unmap_folio → try_to_unmap (result asserted), memory-failure",
                ["migrate:set_migration_pte|thp:set_migration_pmd"], ["migrate:remove_migration_pte", "thp:remove_migration_pmd"],
                Unseeable: "no tracepoint shows try_to_unmap or its per-VA walk with an mm: migrate:set_migration_pte/thp:set_migration_pmd name a VA but no mm, split_huge_page has no tracepoint, and kprobes/fentry on try_to_unmap_one are needed to see it"),
        ]),
        new("R4", "I4", "reclaim sets PG_mlocked outside the PTE lock while munlock/exit clears it",
        [
            new(Munlock, "munlock/munlockall (munlock_vma_pages_range) or exit_mmap (munlock_vma_pages_all) of an mm with VM_LOCKED VMAs",
                ["syscalls:sys_enter_mlock|syscalls:sys_enter_mlock2|syscalls:sys_enter_mlockall", "syscalls:sys_exit_mlock|syscalls:sys_exit_mlock2|syscalls:sys_exit_mlockall", "exceptions:page_fault_user", "kmem:mm_page_alloc"],
                ["syscalls:sys_enter_munlock", "syscalls:sys_exit_munlock", "syscalls:sys_enter_munlockall", "syscalls:sys_exit_munlockall", "mmap:exit_mmap", "sched:sched_process_exit"]),
            new(MlockedWalker, "reclaim or migration (try_to_unmap_one / try_to_migrate_one) reaching a page the model holds PG_mlocked, seen as its free by a walker, or a reclaimer's putback of a page of a VM_LOCKED VMA onto the unevictable list (try_to_unmap_one saw VM_LOCKED)",
                ["kmem:mm_page_free"], s_walkerContext),
        ]),
        new("R5", "I5", "exec's stack shift moves a PMD onto a populated destination",
        [
            new(StackShift, "execve → setup_arg_pages → relocate_vma_down (placement decided from the stack pages and the loader's first stack fault)",
                ["syscalls:sys_enter_execve", "sched:sched_process_exec", "exceptions:page_fault_user", "kmem:mm_page_alloc"],
                ["syscalls:sys_exit_execve", "mmap:exit_mmap", "mmap_lock:mmap_lock_acquire_returned"]),
        ]),
        new("R6", "I6", "file-THP retract_page_tables races a PMD-moving mremap",
        [
            new(Retract, "khugepaged / MADV_COLLAPSE on file or shmem: collapse_file → retract_page_tables",
                ["huge_memory:mm_khugepaged_collapse_file"], ["huge_memory:mm_khugepaged_scan_file"]),
            s_pmdMover,
        ]),
    ];

    /// <summary>The rule of <paramref name="race"/>.</summary>
    public static CoverageRule Of(string race) => All.First(r => r.Race == race);
}
