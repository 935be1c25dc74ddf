using Pipeline.Ingest.Catalog;

namespace Pipeline.Ingest.Ctf;

/// <summary>How an event class takes part in syscall pairing for lttng-modules before 2.6.</summary>
internal enum SyscallRole
{
    None,
    /// <summary><c>sys_X</c>: entry of syscall X; the exit is the generic <c>exit_syscall</c>.</summary>
    LegacyEntry,
    /// <summary><c>exit_syscall</c>: named after the pending entry of the same thread.</summary>
    LegacyExit,
}

/// <summary>Maps CTF event and field names (LTTng, perf-converted) to the pipeline's canonical names.</summary>
internal static class CtfEventNames
{
    /// <summary>Canonical <c>system:name</c> of a CTF event class name, and its syscall role.</summary>
    public static (string Canonical, SyscallRole Role, string? LegacyExit) Map(string name)
    {
        if (name.Contains(':', StringComparison.Ordinal))
        {
            return (EventCatalog.Canonical(name), SyscallRole.None, null);
        }
        // lttng-modules >= 2.6: syscall_entry_X / syscall_exit_X (compat_ for 32-bit tasks on 64-bit kernels).
        foreach (var (prefix, target) in new[]
        {
            ("syscall_entry_", "sys_enter_"), ("syscall_exit_", "sys_exit_"),
            ("compat_syscall_entry_", "compat_sys_enter_"), ("compat_syscall_exit_", "compat_sys_exit_"),
        })
        {
            if (name.StartsWith(prefix, StringComparison.Ordinal))
            {
                var syscall = name.AsSpan(prefix.Length);
                if (syscall.SequenceEqual("unknown"))
                {
                    return (target.Contains("enter", StringComparison.Ordinal) ? "raw_syscalls:sys_enter" : "raw_syscalls:sys_exit", SyscallRole.None, null);
                }
                return (EventCatalog.Canonical(string.Concat("syscalls:", target, syscall)), SyscallRole.None, null);
            }
        }
        // lttng-modules < 2.6: sys_X is the entry, exit_syscall the exit of whatever syscall the thread is in.
        if (name == "exit_syscall")
        {
            return ("raw_syscalls:sys_exit", SyscallRole.LegacyExit, null);
        }
        if (name is "sys_unknown" or "compat_sys_unknown")
        {
            return ("raw_syscalls:sys_enter", SyscallRole.LegacyEntry, "raw_syscalls:sys_exit");
        }
        foreach (var (prefix, enter, exit) in new[] { ("sys_", "sys_enter_", "sys_exit_"), ("compat_sys_", "compat_sys_enter_", "compat_sys_exit_") })
        {
            if (name.StartsWith(prefix, StringComparison.Ordinal) && name.Length > prefix.Length)
            {
                var syscall = name.AsSpan(prefix.Length);
                return (EventCatalog.Canonical(string.Concat("syscalls:", enter, syscall)), SyscallRole.LegacyEntry,
                    EventCatalog.Canonical(string.Concat("syscalls:", exit, syscall)));
            }
        }
        var canonical = EventCatalog.Canonical(name);
        if (EventCatalog.IsKnown(canonical))
        {
            return (canonical, SyscallRole.None, null);
        }
        // LTTng prefixes some tracepoints with their system (kmem_kmalloc, timer_hrtimer_start, power_cpu_idle),
        // sometimes with the architecture too (x86_exceptions_page_fault_user).
        for (int underscore = name.IndexOf('_', StringComparison.Ordinal); underscore > 0; underscore = name.IndexOf('_', underscore + 1))
        {
            var stripped = EventCatalog.Canonical(name.AsSpan(underscore + 1));
            if (!EventCatalog.IsKnown(stripped))
            {
                continue;
            }
            var system = stripped.AsSpan(0, stripped.IndexOf(':', StringComparison.Ordinal));
            var prefix = name.AsSpan(0, underscore);
            if (prefix.SequenceEqual(system) || (prefix.EndsWith(system) && prefix[^(system.Length + 1)] == '_'))
            {
                return (stripped, SyscallRole.None, null);
            }
        }
        return (canonical, SyscallRole.None, null);
    }

    private static readonly string[] s_stateLetters = ["S", "D", "T", "t", "X", "Z"];

    /// <summary>
    /// sched_switch prev_state as the kernel prints it ("R", "S", "D", "S|D"...). LTTng records the number;
    /// only the six low state bits mean the same on every kernel version, so anything with higher bits
    /// (preemption, parked, idle: their values moved between releases) stays a number.
    /// </summary>
    public static string TaskState(long state)
    {
        if (state == 0)
        {
            return "R";
        }
        if ((state & ~0x3FL) != 0)
        {
            return state.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        if ((state & (state - 1)) == 0)
        {
            return s_stateLetters[System.Numerics.BitOperations.Log2((ulong)state)];
        }
        var letters = new List<string>();
        for (int bit = 0; bit < s_stateLetters.Length; bit++)
        {
            if ((state & (1L << bit)) != 0)
            {
                letters.Add(s_stateLetters[bit]);
            }
        }
        return string.Join('|', letters);
    }

    /// <summary>
    /// The kernel format-file name of a CTF field: LTTng prefixes every field with '_' (CTF identifiers may
    /// not clash with TSDL keywords) and names sched_switch's tids, and mmap's offset, its own way.
    /// </summary>
    public static string FieldName(string ctfName, string canonicalEvent)
    {
        string name = ctfName.StartsWith('_') ? ctfName[1..] : ctfName;
        if (canonicalEvent == "sched:sched_switch")
        {
            name = name switch
            {
                "prev_tid" => "prev_pid",
                "next_tid" => "next_pid",
                _ => name,
            };
        }
        else if (name == "offset" && canonicalEvent.EndsWith("_mmap", StringComparison.Ordinal))
        {
            name = "off";
        }
        return name;
    }
}
