using System.Collections.Concurrent;
using System.Collections.Frozen;

namespace Pipeline.Ingest.Catalog;

/// <summary>
/// Maps the bare event names that text outputs print (kernel <c>trace</c>, <c>trace-cmd report</c>, consoles)
/// to canonical <c>system:name</c> strings. Kernel text never prints the system, so the table below lists the
/// events of the systems the pipeline cares about (docs/mm-model.md §6.1 plus the names seen in the corpus).
/// Unknown names keep an empty system (<c>:name</c>) so nothing is dropped.
/// </summary>
public static class EventCatalog
{
    private const int MaxCachedUnknown = 4096;

    private static readonly (string System, string[] Names)[] s_systems =
    [
        ("tlb", ["tlb_flush"]),
        ("mmap", ["exit_mmap", "vm_unmapped_area", "vma_mas_szero", "vma_store"]),
        ("mmap_lock", ["mmap_lock_acquire_returned", "mmap_lock_released", "mmap_lock_start_locking"]),
        ("huge_memory", ["mm_collapse_huge_page", "mm_collapse_huge_page_isolate", "mm_collapse_huge_page_swapin",
            "mm_khugepaged_collapse_file", "mm_khugepaged_scan_file", "mm_khugepaged_scan_pmd"]),
        ("thp", ["remove_migration_pmd", "set_migration_pmd", "hugepage_set_pmd", "hugepage_set_pud",
            "hugepage_update_pmd", "hugepage_update_pud"]),
        ("kmem", ["kfree", "kmalloc", "kmem_cache_alloc", "kmem_cache_free", "mm_calculate_totalreserve_pages",
            "mm_page_alloc", "mm_page_alloc_extfrag", "mm_page_alloc_zone_locked", "mm_page_free",
            "mm_page_free_batched", "mm_page_pcpu_drain", "mm_setup_per_zone_lowmem_reserve",
            "mm_setup_per_zone_wmarks", "rss_stat", "mm_alloc_contig_migrate_range_info"]),
        ("filemap", ["mm_filemap_add_to_page_cache", "mm_filemap_delete_from_page_cache", "mm_filemap_fault",
            "mm_filemap_get_pages", "mm_filemap_map_pages", "filemap_set_wb_err", "file_check_and_advance_wb_err"]),
        ("migrate", ["mm_migrate_pages", "mm_migrate_pages_start", "remove_migration_pte", "set_migration_pte"]),
        ("vmscan", ["mm_shrink_slab_end", "mm_shrink_slab_start", "mm_vmscan_direct_reclaim_begin",
            "mm_vmscan_direct_reclaim_end", "mm_vmscan_kswapd_sleep", "mm_vmscan_kswapd_wake",
            "mm_vmscan_lru_isolate", "mm_vmscan_lru_shrink_active", "mm_vmscan_lru_shrink_inactive",
            "mm_vmscan_memcg_reclaim_begin", "mm_vmscan_memcg_reclaim_end",
            "mm_vmscan_memcg_softlimit_reclaim_begin", "mm_vmscan_memcg_softlimit_reclaim_end",
            "mm_vmscan_node_reclaim_begin", "mm_vmscan_node_reclaim_end", "mm_vmscan_reclaim_pages",
            "mm_vmscan_throttled", "mm_vmscan_wakeup_kswapd", "mm_vmscan_write_folio", "mm_vmscan_writepage"]),
        ("compaction", ["mm_compaction_begin", "mm_compaction_end", "mm_compaction_isolate_migratepages",
            "mm_compaction_isolate_freepages", "mm_compaction_migratepages", "mm_compaction_suitable",
            "mm_compaction_finished", "mm_compaction_deferred", "mm_compaction_defer_compaction",
            "mm_compaction_defer_reset", "mm_compaction_kcompactd_sleep", "mm_compaction_kcompactd_wake",
            "mm_compaction_try_to_compact_pages", "mm_compaction_wakeup_kcompactd", "mm_compaction_fast_isolate_freepages"]),
        ("exceptions", ["page_fault_kernel", "page_fault_user"]),
        ("pagemap", ["mm_lru_activate", "mm_lru_insertion"]),
        ("ipi", ["ipi_send_cpu", "ipi_send_cpumask", "ipi_raise", "ipi_entry", "ipi_exit"]),
        ("csd", ["csd_function_entry", "csd_function_exit", "csd_queue_cpu"]),
        ("sched", ["sched_switch", "sched_wakeup", "sched_wakeup_new", "sched_waking", "sched_migrate_task",
            "sched_process_fork", "sched_process_exec", "sched_process_exit", "sched_process_free",
            "sched_process_wait", "sched_process_hang", "sched_stat_runtime", "sched_stat_wait",
            "sched_stat_sleep", "sched_stat_iowait", "sched_stat_blocked", "sched_wake_idle_without_ipi",
            "sched_kthread_stop", "sched_kthread_stop_ret", "sched_kthread_work_execute_start",
            "sched_kthread_work_execute_end", "sched_kthread_work_queue_work", "sched_move_numa",
            "sched_stick_numa", "sched_swap_numa", "sched_pi_setprio", "sched_blocked_reason",
            "sched_load_avg_cpu", "sched_load_avg_task", "sched_load_avg_sg", "sched_contrib_scale_f",
            "sched_cpu_capacity", "sched_overutilized", "sched_prepare_exec", "sched_skip_cpuset_numa", "sched_skip_vma_numa",
            "sched_wait_task"]),
        ("task", ["task_newtask", "task_rename"]),
        ("irq", ["irq_handler_entry", "irq_handler_exit", "softirq_entry", "softirq_exit", "softirq_raise",
            "tasklet_entry", "tasklet_exit"]),
        ("preemptirq", ["irq_disable", "irq_enable", "preempt_disable", "preempt_enable"]),
        ("timer", ["timer_init", "timer_start", "timer_expire_entry", "timer_expire_exit", "timer_cancel",
            "hrtimer_init", "hrtimer_start", "hrtimer_expire_entry", "hrtimer_expire_exit", "hrtimer_cancel",
            "itimer_state", "itimer_expire", "tick_stop"]),
        ("workqueue", ["workqueue_queue_work", "workqueue_activate_work", "workqueue_execute_start",
            "workqueue_execute_end"]),
        ("power", ["cpu_idle", "cpu_frequency", "cpu_frequency_limits", "clock_set_rate", "clock_enable",
            "clock_disable", "suspend_resume", "cpu_idle_miss", "powernv_throttle"]),
        ("raw_syscalls", ["sys_enter", "sys_exit"]),
        ("ftrace", ["print", "bprint", "bputs", "function", "funcgraph_entry", "funcgraph_exit", "user_stack",
            "kernel_stack", "raw_data", "branch", "hwlat", "osnoise", "timerlat", "func_repeats"]),
    ];

    private static readonly FrozenDictionary<string, string> s_known = Build();

    private static readonly FrozenDictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> s_knownBySpan =
        s_known.GetAlternateLookup<ReadOnlySpan<char>>();

    private static readonly ConcurrentDictionary<string, string> s_derived = new(StringComparer.Ordinal);

    /// <summary>
    /// The canonical <c>system:name</c> of a bare event name as text outputs print it. Names that already carry
    /// a system (<c>kmem:mm_page_alloc</c>) are returned unchanged. Syscall and op-trace names are derived:
    /// <c>sys_enter_X</c>/<c>sys_exit_X</c> → <c>syscalls:…</c>, <c>mmop_X</c> → <c>mmop:X</c>, the trace_marker
    /// symbol <c>tracing_mark_write</c> → <c>ftrace:print</c>. Anything else becomes <c>:name</c>.
    /// </summary>
    /// <param name="name">The event name as printed.</param>
    /// <returns>A shared string instance for the canonical name.</returns>
    public static string Canonical(ReadOnlySpan<char> name)
    {
        if (s_knownBySpan.TryGetValue(name, out string? known))
        {
            return known;
        }
        var derivedLookup = s_derived.GetAlternateLookup<ReadOnlySpan<char>>();
        if (derivedLookup.TryGetValue(name, out string? derived))
        {
            return derived;
        }
        string result = Derive(name);
        if (s_derived.Count < MaxCachedUnknown)
        {
            s_derived.TryAdd(name.ToString(), result);
        }
        return result;
    }

    /// <summary>The canonical name of the kernel's syscall entry event for <paramref name="syscall"/> (e.g. <c>mremap</c>).</summary>
    public static string SyscallEnter(ReadOnlySpan<char> syscall) => Canonical(string.Concat("sys_enter_", syscall));

    /// <summary>The canonical name of the kernel's syscall exit event for <paramref name="syscall"/> (e.g. <c>mremap</c>).</summary>
    public static string SyscallExit(ReadOnlySpan<char> syscall) => Canonical(string.Concat("sys_exit_", syscall));

    /// <summary>Whether <paramref name="canonical"/> names a known system (not <c>:name</c>).</summary>
    public static bool IsKnown(string canonical) => canonical.Length > 0 && canonical[0] != ':';

    /// <summary>The bare name part of a canonical <c>system:name</c>.</summary>
    public static ReadOnlySpan<char> BareName(string canonical)
    {
        int colon = canonical.IndexOf(':', StringComparison.Ordinal);
        return colon < 0 ? canonical : canonical.AsSpan(colon + 1);
    }

    private static string Derive(ReadOnlySpan<char> name)
    {
        if (name.IndexOf(':') > 0)
        {
            return name.ToString();
        }
        if (name.StartsWith("sys_enter_") || name.StartsWith("sys_exit_"))
        {
            return string.Concat("syscalls:", name);
        }
        if (name.StartsWith("mmop_") && name.Length > 5)
        {
            return string.Concat("mmop:", name[5..]);
        }
        return string.Concat(":", name);
    }

    private static FrozenDictionary<string, string> Build()
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (system, names) in s_systems)
        {
            foreach (string name in names)
            {
                map.Add(name, string.Concat(system, ":", name));
            }
        }
        // trace_marker writes print as "<symbol of ip>: text" in kernel text; the symbol is always this one.
        map.Add("tracing_mark_write", "ftrace:print");
        return map.ToFrozenDictionary(StringComparer.Ordinal);
    }
}
