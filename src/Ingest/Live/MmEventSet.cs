namespace Pipeline.Ingest.Live;

/// <summary>The tracepoints an mm recording enables.</summary>
public static class MmEventSet
{
    /// <summary>
    /// The list the reference recordings used (<c>tr.sh setup</c> in the recorded corpus): TLB flushes, mremap,
    /// user page faults, page alloc/free, RSS, IPIs, the mmap lock and khugepaged.
    /// </summary>
    public static IReadOnlyList<string> Reference { get; } =
    [
        "tlb:tlb_flush",
        "syscalls:sys_enter_mremap",
        "syscalls:sys_exit_mremap",
        "exceptions:page_fault_user",
        "kmem:mm_page_free",
        "kmem:mm_page_alloc",
        "kmem:rss_stat",
        "ipi:ipi_send_cpumask",
        "mmap_lock:*",
        "huge_memory:*",
    ];

    /// <summary>The syscalls whose enter/exit pairs replay turns into address-space operations.</summary>
    public static IReadOnlyList<string> ReplaySyscalls { get; } =
    [
        "mmap", "munmap", "mprotect", "madvise", "brk", "mlock", "mlock2", "munlock", "mlockall", "munlockall", "exit_group", "execve",
    ];

    /// <summary>What replay of real traces needs beyond <see cref="Reference"/>: process lifetime, batched frees, cross-CPU calls, THP and migration, reclaim.</summary>
    public static IReadOnlyList<string> Replay { get; } =
    [
        .. ReplaySyscalls.SelectMany(s => new[] { $"syscalls:sys_enter_{s}", $"syscalls:sys_exit_{s}" }),
        "sched:sched_switch",
        "sched:sched_process_exec",
        "sched:sched_process_fork",
        "sched:sched_process_exit",
        "kmem:mm_page_free_batched",
        "mmap:exit_mmap",
        "csd:*",
        "ipi:ipi_send_cpu",
        "thp:*",
        // Migration's start and end bracket the frees of the pages it moved (the rmap-walker actor of R1/R4, docs/coverage.md);
        // set_migration_pte/remove_migration_pte fire per PTE of every migrated page system-wide (one compaction of a
        // fragmented 24 GiB machine: 12,060 of each), so the set leaves them out; the lowering follows a moved page
        // with them when a recording asks for them (docs/recording.md, "Migration's remap events").
        "migrate:mm_migrate_pages_start",
        "migrate:mm_migrate_pages",
        "vmscan:mm_vmscan_*",
        "pagemap:mm_lru_insertion",
    ];

    /// <summary>
    /// The events <c>mmtrace record</c> adds so that every event gets its task's comm from the trace: a new task's comm
    /// (<c>task_newtask</c>, fired by the parent) and every change of it (<c>task_rename</c>: exec, prctl, /proc/PID/comm).
    /// </summary>
    public static IReadOnlyList<string> CommEvents { get; } = ["task:task_newtask", "task:task_rename"];

    /// <summary><see cref="Reference"/> followed by <see cref="Replay"/>: the full mm event set.</summary>
    public static IReadOnlyList<string> All { get; } = [.. Reference, .. Replay];

    /// <summary>
    /// Splits <see cref="All"/> into what this kernel has and what it lacks (an entry or glob with no
    /// matching event under <c>events/</c>).
    /// </summary>
    /// <param name="traceFsRoot">tracefs mount point (see <see cref="TraceFsInstance.FindOrMountTraceFs"/>).</param>
    public static (IReadOnlyList<string> Present, IReadOnlyList<string> Missing) ForKernel(string traceFsRoot)
    {
        var present = new List<string>();
        var missing = new List<string>();
        foreach (var entry in All)
        {
            var (_, lacking) = TraceFsInstance.ResolveEvents(traceFsRoot, [entry]);
            (lacking.Count == 0 ? present : missing).Add(entry);
        }
        return (present, missing);
    }

    /// <summary>
    /// Whether <paramref name="systemAndName"/> (<c>system:name</c>) only ever fires in the context of the task it is
    /// about, and is lowered only together with other such events, so that a recording of a command needs it only
    /// from the command's own tasks: the syscall tracepoints (<c>syscalls:*</c>, <c>raw_syscalls:*</c>: a task's own
    /// system calls; kernel threads make none), <c>exceptions:page_fault_user</c> (a fault taken in user mode is the
    /// faulting task's own) and <c>sched:sched_process_exec</c> (fired by the exec'ing task; the lowering places an
    /// exec from its execve entry and the new image's first stack fault, both per-process, and without them an exec of
    /// another process would only be an undecided exec stack shift, R5 partial, in a process nobody recorded; the
    /// lowering follows an exec it did not see by the new mm pointer the process locks next).
    /// Everything else can fire in another context for the command's mm and stays machine-wide: TLB flushes and IPIs
    /// from other CPUs, page frees, RSS counters, the mmap lock and THP events from khugepaged, reclaim, compaction and
    /// migration from kswapd and other allocators, <c>exceptions:page_fault_kernel</c> from kernel threads working on a
    /// borrowed mm (io_uring workers, vhost), <c>mmap:exit_mmap</c> from whoever drops the last reference, context
    /// switches, and fork and exit (a fork is reported by the parent, which may be the recorder itself; exits let the
    /// lowering retire the pids of other processes whose frees it sees).
    /// </summary>
    public static bool IsPerProcess(string systemAndName)
    {
        ArgumentNullException.ThrowIfNull(systemAndName);
        return systemAndName.StartsWith("syscalls:", StringComparison.Ordinal)
            || systemAndName.StartsWith("raw_syscalls:", StringComparison.Ordinal)
            || systemAndName is "exceptions:page_fault_user" or "sched:sched_process_exec";
    }
}
