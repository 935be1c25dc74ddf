using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Pipeline.Ingest.Catalog;

namespace Pipeline.Ingest.TraceDat;

/// <summary>
/// pid → comm for the events of a binary trace, in the order they are merged: what the trace itself says about each
/// task (context switches, forks, new tasks, renames, execs, wakeups, exits) where it has said something, else the
/// <c>saved_cmdlines</c> text (<c>PID COMM</c> per line; COMM may contain spaces), else <see cref="Unknown"/>.
/// </summary>
/// <remarks>
/// saved_cmdlines is the kernel's best-effort cache of the last comm each pid slot had (docs/trace-formats.md,
/// "Where comm comes from"): it misses tasks and gives every earlier task of a reused pid the last one's comm. The
/// events below name a task's comm as it was when they fired, so a comm learned from them holds from that event on.
/// Comms are interned (<see cref="Utf8Cache{T}"/>): learning one allocates nothing once it has been seen, and a
/// lookup is one dictionary probe, or none when the pid is the previous event's.
/// </remarks>
internal sealed class CommTable
{
    public const string Unknown = "<...>";
    public const string Idle = "<idle>";

    // TASK_COMM_LEN - 1: __set_task_comm copies at most this many bytes.
    private const int CommBytes = 15;

    private readonly Dictionary<int, string> _saved = [];
    // saved_cmdlines' comms, overwritten by what the trace said.
    private readonly Dictionary<int, string> _current = [];
    // Pids whose task the trace saw exit and no task since be born under (see Free).
    private readonly HashSet<int> _exited = [];
    private readonly Utf8Cache<string> _interned = new(static s => s, 1024, CommBytes + 1);

    private int _lastPid;
    private string _lastComm = Idle;

    /// <summary>Pids saved_cmdlines names.</summary>
    public int Count => _saved.Count;

    public static CommTable Parse(ReadOnlySpan<byte> text)
    {
        var table = new CommTable();
        while (!text.IsEmpty)
        {
            int nl = text.IndexOf((byte)'\n');
            var line = nl < 0 ? text : text[..nl];
            text = nl < 0 ? default : text[(nl + 1)..];
            int space = line.IndexOf((byte)' ');
            if (space <= 0)
            {
                continue;
            }
            if (int.TryParse(line[..space], NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
            {
                var comm = line[(space + 1)..];
                if (!comm.IsEmpty && comm[^1] == (byte)'\r')
                {
                    comm = comm[..^1];
                }
                table._saved[pid] = Encoding.UTF8.GetString(comm);
            }
        }
        foreach (var (pid, comm) in table._saved)
        {
            table._current[pid] = comm;
        }
        return table;
    }

    /// <summary>The comm of <paramref name="pid"/> as of the events seen so far.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public string Lookup(int pid)
    {
        if (pid == 0)
        {
            return Idle;
        }
        // Consecutive events mostly come from the same task.
        if (pid == _lastPid)
        {
            return _lastComm;
        }
        string comm = _current.TryGetValue(pid, out var known) ? known : Unknown;
        _lastPid = pid;
        _lastComm = comm;
        return comm;
    }

    /// <summary>
    /// Applies what one event says about comms (<paramref name="source"/>: which fields, meaning what): before the
    /// event's own comm is looked up (sched_switch's prev_comm is the comm of the task it fired in), or after it for a
    /// source that fires before its change (<see cref="CommSource.AfterOwnRow"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Apply(CommSource source, ReadOnlySpan<byte> payload, int commonPid, bool bigEndian, bool afterOwnRow)
    {
        foreach (var update in source.Updates)
        {
            if (update.AfterOwnRow != afterOwnRow)
            {
                continue;
            }
            int pid = update.Pid is { } field
                ? field.Offset + field.Size <= payload.Length ? (int)PrintExpr.ReadScalar(payload, field.Offset, field.Size, true, bigEndian) : -1
                : commonPid;
            if (pid <= 0)
            {
                // The idle task keeps "<idle>" as the kernel's text shows it; a field outside the payload says nothing.
                continue;
            }
            if (update.Kind == CommUpdateKind.Free)
            {
                Free(pid);
                continue;
            }
            var slice = RecordFields.GetArrayBytes(update.Comm, payload, bigEndian);
            if (slice.IsError)
            {
                continue;
            }
            var bytes = slice.Span(payload);
            int nul = bytes.IndexOf((byte)0);
            if (nul >= 0)
            {
                bytes = bytes[..nul];
            }
            if (update.Kind == CommUpdateKind.Exec && !ExecComm(ref bytes))
            {
                continue;
            }
            if (bytes.IsEmpty)
            {
                continue;
            }
            if (update.Kind == CommUpdateKind.Birth)
            {
                _exited.Remove(pid);
            }
            else if (update.Kind == CommUpdateKind.Exit)
            {
                _exited.Add(pid);
            }
            Set(pid, _interned.Get(bytes));
        }
    }

    /// <summary>
    /// The comm begin_new_exec gives an exec'ing task from <c>bprm->filename</c>, the exec event's filename:
    /// <c>__set_task_comm(me, kbasename(bprm->filename), true)</c>, which keeps TASK_COMM_LEN - 1 = 15 bytes.
    /// False for an <c>execveat(fd, "", AT_EMPTY_PATH)</c> (fexecve): its filename is <c>/dev/fd/N</c>, and since
    /// 6.14 (543841d18060, backported to stable kernels) the comm is the file's dentry name, which the event lacks.
    /// </summary>
    internal static bool ExecComm(ref ReadOnlySpan<byte> filename)
    {
        ReadOnlySpan<byte> fdPrefix = "/dev/fd/"u8;
        if (filename.StartsWith(fdPrefix) && filename.Length > fdPrefix.Length && filename[fdPrefix.Length..].IndexOfAnyExceptInRange((byte)'0', (byte)'9') < 0)
        {
            return false;
        }
        int slash = filename.LastIndexOf((byte)'/');
        var name = filename[(slash + 1)..];
        filename = name.Length > CommBytes ? name[..CommBytes] : name;
        return true;
    }

    private void Set(int pid, string comm)
    {
        _current[pid] = comm;
        if (pid == _lastPid)
        {
            _lastComm = comm;
        }
    }

    /// <summary>
    /// sched_process_free: the task is gone, so a later task of its pid gets saved_cmdlines' comm until the trace names
    /// its own. The kernel frees the pid before this event (release_task, then an RCU callback fires it), so a fork
    /// may have reused the pid already: only a pid whose task the trace saw exit, and no task born under since, is
    /// forgotten.
    /// </summary>
    private void Free(int pid)
    {
        if (!_exited.Remove(pid))
        {
            return;
        }
        if (_saved.TryGetValue(pid, out var saved))
        {
            _current[pid] = saved;
        }
        else
        {
            _current.Remove(pid);
        }
        if (pid == _lastPid)
        {
            _lastComm = saved ?? Unknown;
        }
    }
}

/// <summary>What an event's pid/comm pair says.</summary>
internal enum CommUpdateKind : byte
{
    /// <summary>The task's comm now.</summary>
    Set,

    /// <summary>A task born under the pid (fork, new task, its first wakeup), with its comm.</summary>
    Birth,

    /// <summary>The task is exiting; it still runs (exit_mm, its last switch) until it is freed.</summary>
    Exit,

    /// <summary>The task struct is freed.</summary>
    Free,

    /// <summary>The comm is derived from the exec'd file name (<see cref="CommTable.ExecComm"/>).</summary>
    Exec,
}

/// <summary>
/// One pid field (null: the event's common_pid) and the comm field that names its comm; <paramref name="AfterOwnRow"/>:
/// the comm takes effect after the event (its own row still has the one before).
/// </summary>
internal sealed record CommUpdate(FormatField? Pid, FormatField Comm, CommUpdateKind Kind, bool AfterOwnRow);

/// <summary>
/// The events that name a task's comm and which of their fields do (include/trace/events/sched.h and task.h). All pid
/// fields are the kernel's task->pid, a thread id, as common_pid is. Left out on purpose: sched_process_wait (its comm
/// is the waiter's, its pid the waited-for child's).
/// </summary>
internal sealed class CommSource
{
    private CommSource(CommUpdate[] updates)
    {
        Updates = updates;
        AfterOwnRow = updates.Any(u => u.AfterOwnRow);
    }

    public CommUpdate[] Updates { get; }

    /// <summary>
    /// Whether an update applies after the event's own row (<see cref="CommUpdate.AfterOwnRow"/>): task_rename's
    /// newcomm, since <c>__set_task_comm</c> emits it before it copies.
    /// </summary>
    public bool AfterOwnRow { get; }

    /// <summary>The comm fields of <paramref name="format"/>, or null when its event names no comm (or lacks a field).</summary>
    public static CommSource? For(FormatFile format)
    {
        (string? Pid, string Comm, CommUpdateKind Kind, bool After)[]? pairs = format.FullName switch
        {
            // Fired by the switching-out task: prev is common_pid; next is the task switched in.
            "sched:sched_switch" => [("prev_pid", "prev_comm", CommUpdateKind.Set, false), ("next_pid", "next_comm", CommUpdateKind.Set, false)],
            // Fired by the parent in copy_process' caller (kernel_clone); the child has the parent's comm.
            "sched:sched_process_fork" => [("parent_pid", "parent_comm", CommUpdateKind.Set, false), ("child_pid", "child_comm", CommUpdateKind.Birth, false)],
            // Fired by the parent at the end of copy_process.
            "task:task_newtask" => [("pid", "comm", CommUpdateKind.Birth, false)],
            // __set_task_comm before it copies: prctl(PR_SET_NAME), /proc/PID/comm, kthreads, and exec (begin_new_exec,
            // before the exec event, with the exact comm). Kernels whose event has no pid field rename current.
            // Its own row has oldcomm (the comm until __set_task_comm copies), the comm is newcomm after it.
            "task:task_rename" => [(format.FindField("pid") is null ? null : "pid", "oldcomm", CommUpdateKind.Set, false),
                (format.FindField("pid") is null ? null : "pid", "newcomm", CommUpdateKind.Set, true)],
            // Fired by the exec'ing task after begin_new_exec; pid is its pid after de_thread (old_pid before).
            "sched:sched_process_exec" => [("pid", "filename", CommUpdateKind.Exec, false)],
            "sched:sched_wakeup_new" => [("pid", "comm", CommUpdateKind.Birth, false)],
            "sched:sched_wakeup" or "sched:sched_waking" or "sched:sched_migrate_task" or "sched:sched_pi_setprio"
                or "sched:sched_stat_wait" or "sched:sched_stat_sleep" or "sched:sched_stat_iowait" or "sched:sched_stat_blocked"
                or "sched:sched_stat_runtime" or "sched:sched_process_hang" or "sched:sched_kthread_stop" => [("pid", "comm", CommUpdateKind.Set, false)],
            "sched:sched_process_exit" => [("pid", "comm", CommUpdateKind.Exit, false)],
            "sched:sched_process_free" => [("pid", "comm", CommUpdateKind.Free, false)],
            _ => null,
        };
        if (pairs is null)
        {
            return null;
        }
        var updates = new List<CommUpdate>();
        foreach (var (pidName, commName, kind, after) in pairs)
        {
            FormatField? pid = pidName is null ? null : format.FindField(pidName);
            var comm = format.FindField(commName);
            if ((pidName is not null && pid is not { Layout: FieldLayout.Scalar, Size: 4 or 8 }) || comm is null || (!comm.IsString && kind != CommUpdateKind.Free))
            {
                continue;
            }
            updates.Add(new CommUpdate(pid, comm, kind, after));
        }
        return updates.Count == 0 ? null : new CommSource([.. updates]);
    }
}

/// <summary>
/// The kernel's 5-character irqs-off / need-resched / hardirq-softirq / preempt / migrate-disable column
/// (trace_print_lat_fmt), so rows from binary sources carry the same text as kernel <c>trace</c> output.
/// </summary>
internal sealed class IrqFlagsRenderer
{
    private const int IrqsOff = 0x01;
    private const int LazyOrNoSupport = 0x02;
    private const int NeedResched = 0x04;
    private const int HardIrq = 0x08;
    private const int SoftIrq = 0x10;
    private const int PreemptResched = 0x20;
    private const int Nmi = 0x40;
    private const int BhOff = 0x80;

    private readonly string?[] _cache = new string?[65536];
    private readonly bool _lazyPreemption;
    private readonly bool _migrateColumn;

    /// <param name="kernelRelease">The traced kernel's release: before 6.13 bit 0x02 meant IRQS_NOSUPPORT ('X'),
    /// before 5.13 there was no migrate-disable column. Unknown → current rules.</param>
    public IrqFlagsRenderer(string? kernelRelease)
    {
        var version = ParseVersion(kernelRelease);
        _lazyPreemption = version is null || version >= new Version(6, 13);
        _migrateColumn = version is null || version >= new Version(5, 13);
    }

    public string Render(byte flags, byte preemptCount)
    {
        int key = (flags << 8) | preemptCount;
        return _cache[key] ??= Build(flags, preemptCount);
    }

    private string Build(int flags, int pc)
    {
        Span<char> c = stackalloc char[5];
        bool irqsOff = (flags & IrqsOff) != 0;
        bool bhOff = (flags & BhOff) != 0;
        c[0] = irqsOff && bhOff ? 'D' : irqsOff ? 'd' : bhOff ? 'b'
            : !_lazyPreemption && (flags & LazyOrNoSupport) != 0 ? 'X' : '.';
        bool n = (flags & NeedResched) != 0;
        bool l = _lazyPreemption && (flags & LazyOrNoSupport) != 0;
        bool p = (flags & PreemptResched) != 0;
        c[1] = (n, l, p) switch
        {
            (true, true, true) => 'B',
            (true, false, true) => 'N',
            (false, true, true) => 'L',
            (true, true, false) => 'b',
            (true, false, false) => 'n',
            (false, false, true) => 'p',
            (false, true, false) => 'l',
            _ => '.',
        };
        bool nmi = (flags & Nmi) != 0;
        bool hard = (flags & HardIrq) != 0;
        bool soft = (flags & SoftIrq) != 0;
        c[2] = nmi && hard ? 'Z' : nmi ? 'z' : hard && soft ? 'H' : hard ? 'h' : soft ? 's' : '.';
        c[3] = Digit(pc & 0xf);
        c[4] = Digit(pc >> 4);
        return new string(_migrateColumn ? c : c[..4]);
    }

    private static char Digit(int value) => value == 0 ? '.' : "0123456789abcdef"[value];

    internal static Version? ParseVersion(string? release)
    {
        if (string.IsNullOrEmpty(release))
        {
            return null;
        }
        int i = 0;
        int major = ReadNumber(release, ref i);
        if (major < 0 || i >= release.Length || release[i] != '.')
        {
            return null;
        }
        i++;
        int minor = ReadNumber(release, ref i);
        return minor < 0 ? null : new Version(major, minor);
    }

    private static int ReadNumber(string s, ref int i)
    {
        int start = i;
        int value = 0;
        while (i < s.Length && char.IsAsciiDigit(s[i]) && i - start < 6)
        {
            value = value * 10 + (s[i++] - '0');
        }
        return i == start ? -1 : value;
    }
}
