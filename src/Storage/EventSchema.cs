using System.Collections.Frozen;

namespace Pipeline.Storage;

/// <summary>How a column of <c>events.parquet</c> is stored.</summary>
public enum ColumnKind
{
    /// <summary>BIGINT.</summary>
    Int64,
    /// <summary>UBIGINT: addresses, pointers, pfns, lengths, flag words.</summary>
    UInt64,
    /// <summary>INTEGER.</summary>
    Int32,
    /// <summary>BOOLEAN.</summary>
    Bool,
    /// <summary>VARCHAR (UTF-8).</summary>
    Text,
    /// <summary>VARCHAR[] (a stack trace, one frame per element).</summary>
    TextList,
}

/// <summary>One column of the event table.</summary>
/// <param name="Name">Column name; for typed payload columns, the kernel's own format-file field name.</param>
/// <param name="Kind">Storage type.</param>
/// <param name="Ordinal">Position in <see cref="EventSchema.Columns"/>.</param>
/// <param name="Description">One line for docs/schema.md.</param>
public sealed record EventColumn(string Name, ColumnKind Kind, int Ordinal, string Description)
{
    /// <summary>The DuckDB type name of this column.</summary>
    public string SqlType => Kind switch
    {
        ColumnKind.Int64 => "BIGINT",
        ColumnKind.UInt64 => "UBIGINT",
        ColumnKind.Int32 => "INTEGER",
        ColumnKind.Bool => "BOOLEAN",
        ColumnKind.Text => "VARCHAR",
        ColumnKind.TextList => "VARCHAR[]",
        _ => throw new InvalidOperationException($"Unknown column kind {Kind}."),
    };
}

/// <summary>
/// The schema of <c>events.parquet</c>: one row per trace event, whatever the source format.
/// The header columns come first, then typed payload columns named after the kernel's format-file
/// fields of the mm events, then <c>args</c> (every other field, as a JSON object of strings) and
/// <c>stack</c>.
/// </summary>
public static class EventSchema
{
    /// <summary>Bumped whenever a column is added, removed or changes meaning.</summary>
    public const int Version = 1;

    /// <summary>
    /// CPU ids are 0 up to this, exclusive: Linux's largest NR_CPUS (x86 MAXSMP, powerpc). Readers report larger
    /// ids as damage; the replay model holds every CPU below it, so one rule serves op traces and real traces.
    /// </summary>
    public const int MaxCpus = 8192;

    // Header columns: fixed ordinals.
    public const int Seq = 0;
    public const int TsNs = 1;
    public const int Cpu = 2;
    public const int Pid = 3;
    public const int Tgid = 4;
    public const int Comm = 5;
    public const int Event = 6;
    public const int IrqFlags = 7;
    public const int SrcPos = 8;

    /// <summary>First typed payload column.</summary>
    public const int FirstField = 9;

    private static readonly (string Name, ColumnKind Kind, string Description)[] s_definitions =
    [
        ("seq", ColumnKind.Int64, "Row id: position of the event in the trace after the per-CPU merge and the reorder window (0-based). Ops and findings refer to it; replay reads events in `seq` order."),
        ("ts_ns", ColumnKind.Int64, "Timestamp in ns on the trace clock (µs precision when the source text has 6 decimals)."),
        ("cpu", ColumnKind.Int32, "CPU that recorded the event."),
        ("pid", ColumnKind.Int32, "Thread id (kernel pid) of the current task; 0 for idle."),
        ("tgid", ColumnKind.Int32, "Thread-group id when the source has it (record-tgid, perf pid/tid), else NULL."),
        ("comm", ColumnKind.Text, "Task name as the source resolved it ('<...>' when unknown)."),
        ("event", ColumnKind.Text, "Canonical 'system:name' (e.g. 'tlb:tlb_flush'); an unknown text-only name keeps an empty system (':name')."),
        ("irq_flags", ColumnKind.Text, "The 5-character irqs-off/need-resched/hardirq/preempt/migrate column when the source has it, else NULL."),
        ("src_pos", ColumnKind.Int64, "Where the event came from: 1-based line number for text, byte offset of the record for binary sources."),

        // syscalls (mremap, mmap, munmap, mprotect, madvise, brk, mlock, munlock)
        ("addr", ColumnKind.UInt64, "syscalls: addr (mremap, mmap, munmap)."),
        ("old_len", ColumnKind.UInt64, "syscalls: mremap old_len."),
        ("new_len", ColumnKind.UInt64, "syscalls: mremap new_len."),
        ("flags", ColumnKind.UInt64, "syscalls: flags argument (mremap, mmap, mlock2)."),
        ("new_addr", ColumnKind.UInt64, "syscalls: mremap new_addr."),
        ("ret", ColumnKind.Int64, "syscalls: return value of sys_exit_*, signed (-errno on failure)."),
        ("start", ColumnKind.UInt64, "syscalls: start (mprotect, madvise, mlock, munlock)."),
        ("len", ColumnKind.UInt64, "syscalls: len / len_in (mmap, munmap, mprotect, madvise, mlock, munlock)."),
        ("prot", ColumnKind.UInt64, "syscalls: prot (mmap, mprotect)."),
        ("behavior", ColumnKind.Int64, "syscalls: madvise behavior."),
        ("fd", ColumnKind.Int64, "syscalls: mmap fd."),
        ("off", ColumnKind.UInt64, "syscalls: mmap off (pgoff in bytes)."),
        ("brk", ColumnKind.UInt64, "syscalls: brk argument."),

        // exceptions
        ("address", ColumnKind.UInt64, "exceptions:page_fault_*: faulting address."),
        ("ip", ColumnKind.UInt64, "exceptions:page_fault_*: instruction pointer."),
        ("error_code", ColumnKind.UInt64, "exceptions:page_fault_*: x86 error code (1 P, 2 W, 4 U, 0x10 I)."),

        // kmem
        ("pfn", ColumnKind.UInt64, "kmem/huge_memory: page frame number (scan_pfn for khugepaged events)."),
        ("order", ColumnKind.Int64, "kmem: allocation order."),
        ("gfp_flags", ColumnKind.Text, "kmem:mm_page_alloc: GFP flags as the kernel prints them (symbolic)."),
        ("migratetype", ColumnKind.Int64, "kmem:mm_page_alloc: migrate type."),

        // tlb
        ("pages", ColumnKind.Int64, "tlb:tlb_flush: pages flushed, -1 for a full flush."),
        ("reason", ColumnKind.Int64, "tlb:tlb_flush: reason number (0 task switch, 1 remote shootdown, 2 local shootdown, 3 local MM shootdown, 4 remote IPI send, 5 remote wrong CPU)."),

        // mmap_lock, huge_memory
        ("mm", ColumnKind.UInt64, "mmap_lock/huge_memory/mmap: mm_struct pointer (hashed in kernel text, real in binary sources)."),
        ("memcg_id", ColumnKind.UInt64, "mmap_lock: memcg id."),
        ("write", ColumnKind.Bool, "mmap_lock: write (exclusive) acquisition."),
        ("success", ColumnKind.Bool, "mmap_lock_acquire_returned: whether the lock was taken."),
        ("status", ColumnKind.Text, "huge_memory: SCAN_* status as the kernel prints it (symbolic)."),
        ("isolated", ColumnKind.Int64, "huge_memory:mm_collapse_huge_page: isolated."),
        ("referenced", ColumnKind.Int64, "huge_memory: referenced."),
        ("none_or_zero", ColumnKind.Int64, "huge_memory: none_or_zero."),
        ("unmapped", ColumnKind.Int64, "huge_memory: unmapped."),

        // sched
        ("prev_comm", ColumnKind.Text, "sched:sched_switch: prev_comm."),
        ("prev_pid", ColumnKind.Int64, "sched:sched_switch: prev_pid."),
        ("prev_state", ColumnKind.Text, "sched:sched_switch: prev_state as printed."),
        ("next_comm", ColumnKind.Text, "sched:sched_switch: next_comm."),
        ("next_pid", ColumnKind.Int64, "sched:sched_switch: next_pid."),

        ("args", ColumnKind.Text, "Every payload field without a typed column, as a JSON object of strings in source order; NULL when none."),
        ("stack", ColumnKind.TextList, "Kernel/user stack attached to the event ('<stack trace>' blocks, perf callchains), innermost first; NULL when none."),
    ];

    /// <summary>All columns, in table order.</summary>
    public static IReadOnlyList<EventColumn> Columns { get; } =
        s_definitions.Select((d, i) => new EventColumn(d.Name, d.Kind, i, d.Description)).ToArray();

    /// <summary>Ordinal of <c>args</c>.</summary>
    public static int Args { get; } = IndexOf("args");

    /// <summary>Ordinal of <c>stack</c>.</summary>
    public static int Stack { get; } = IndexOf("stack");

    private static readonly FrozenDictionary<string, EventColumn> s_fields =
        Columns.Where(c => c.Ordinal >= FirstField && c.Ordinal < Args).ToFrozenDictionary(c => c.Name, StringComparer.Ordinal);

    private static readonly FrozenDictionary<string, EventColumn>.AlternateLookup<ReadOnlySpan<char>> s_fieldsBySpan =
        s_fields.GetAlternateLookup<ReadOnlySpan<char>>();

    /// <summary>
    /// The typed payload column for a format-file field name, if there is one
    /// (<c>len_in</c> maps to <c>len</c>, <c>scan_pfn</c> to <c>pfn</c>).
    /// </summary>
    public static bool TryGetField(ReadOnlySpan<char> fieldName, out EventColumn column)
    {
        if (s_fieldsBySpan.TryGetValue(fieldName, out column!))
        {
            return true;
        }
        if (fieldName.SequenceEqual("len_in"))
        {
            column = s_fields["len"];
            return true;
        }
        if (fieldName.SequenceEqual("scan_pfn"))
        {
            column = s_fields["pfn"];
            return true;
        }
        return false;
    }

    /// <summary>The SQL column list for CREATE TABLE.</summary>
    public static string CreateTableSql(string table) =>
        $"CREATE TABLE {table} ({string.Join(", ", Columns.Select(c => $"\"{c.Name}\" {c.SqlType}"))})";

    private static int IndexOf(string name)
    {
        for (int i = 0; i < s_definitions.Length; i++)
        {
            if (s_definitions[i].Name == name)
            {
                return i;
            }
        }
        throw new InvalidOperationException($"Column {name} is missing from the event schema.");
    }
}
