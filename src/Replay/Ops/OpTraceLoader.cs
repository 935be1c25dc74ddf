using System.Globalization;
using Pipeline.Storage;

namespace Pipeline.Replay;

/// <summary>
/// Turns ingested events into an <see cref="OpTrace"/>: every <c>mmop:&lt;op&gt;</c> event becomes one op whose
/// <see cref="Op.Seq"/> is the event's row id, so findings cite dataset rows. Other events are counted in
/// <see cref="OpTrace.IgnoredEvents"/>. Values are read with <see cref="EventRow.FindField"/> (typed columns
/// print decimal, args as written); decimal and 0x-hex are both accepted.
/// </summary>
public static class OpTraceLoader
{
    /// <summary>Loads ops; the first malformed op event throws <see cref="TraceFormatException"/>.</summary>
    public static OpTrace Load(IEnumerable<EventRow> rows) =>
        Load(rows, new IngestDiagnostics { Strict = true }, "<events>");

    /// <summary>
    /// Loads ops; malformed op events (unknown op, missing or unparsable key) are reported through
    /// <paramref name="diagnostics"/> against <paramref name="source"/> and the row's source position, and skipped.
    /// </summary>
    public static OpTrace Load(IEnumerable<EventRow> rows, IngestDiagnostics diagnostics, string source)
    {
        var ops = new List<Op>();
        var comms = new Dictionary<int, string>();
        long ignored = ForEach(rows, diagnostics, source, (in Op op, string comm) =>
        {
            ops.Add(op);
            comms.TryAdd(op.Tid, comm);
        });
        return new OpTrace(ops, comms, ignored);
    }

    /// <summary>Receives one op and the comm of its task.</summary>
    public delegate void OpHandler(in Op op, string comm);

    /// <summary>
    /// Streams the ops of <paramref name="rows"/> to <paramref name="handler"/> in row order without keeping them, so
    /// a trace of any length replays in the memory of the engine's state. Malformed op events are reported through
    /// <paramref name="diagnostics"/> and skipped. Returns the number of non-op events (ignored).
    /// </summary>
    public static long ForEach(IEnumerable<EventRow> rows, IngestDiagnostics diagnostics, string source, OpHandler handler)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(diagnostics);
        ArgumentNullException.ThrowIfNull(handler);
        long ignored = 0;
        foreach (var row in rows)
        {
            string ev = row.Event;
            if (!ev.StartsWith(OpSpec.EventSystem + ":", StringComparison.Ordinal))
            {
                ignored++;
                continue;
            }
            string name = ev[(OpSpec.EventSystem.Length + 1)..];
            string? error = TryParse(row, name, out var op);
            if (error is not null)
            {
                diagnostics.Malformed(source, row.SrcPos, "line", $"event seq {row.Seq.ToString(CultureInfo.InvariantCulture)} mmop_{name}: {error}");
                continue;
            }
            handler(op, row.Comm);
        }
        return ignored;
    }

    /// <summary>Parses one row into an op; returns an error text (expected vs found) or null.</summary>
    public static string? TryParse(EventRow row, string name, out Op op)
    {
        op = new Op { Seq = row.Seq, Tid = row.Pid, Cpu = row.Cpu };
        if ((uint)row.Cpu >= EventSchema.MaxCpus)
        {
            return $"cpu {row.Cpu.ToString(CultureInfo.InvariantCulture)} is outside 0..{(EventSchema.MaxCpus - 1).ToString(CultureInfo.InvariantCulture)} (Linux's largest NR_CPUS)";
        }
        if (!OpSpec.TryGetKind(name, out var kind))
        {
            return $"unknown op '{name}' (expected one of the mmop_ names in docs/op-trace.md)";
        }
        op.Kind = kind;
        foreach (var rawKey in OpSpec.KeysOf(kind))
        {
            string? error = rawKey == "@slot" ? ParseSlot(row, ref op) : ParseKey(row, rawKey, ref op);
            if (error is not null)
            {
                return error;
            }
        }
        return CheckMoveRanges(op);
    }

    /// <summary>
    /// Moves the kernel cannot make: mremap(2) refuses a destination that overlaps the source (EINVAL), so its
    /// <c>move_ptes</c>, NORMAL_PMD and NORMAL_PUD steps never overlap; only exec moves a range over itself, and only
    /// down (<c>relocate_vma_down</c>, formerly <c>shift_arg_pages</c>).
    /// </summary>
    private static string? CheckMoveRanges(in Op op)
    {
        ulong size = op.Kind switch
        {
            OpKind.MremapMovePmd => 1UL << 21,
            OpKind.MremapMovePud => 1UL << 30,
            OpKind.MovePtes => op.Len,
            _ => 0,
        };
        ulong distance = op.NewVa > op.Va ? op.NewVa - op.Va : op.Va - op.NewVa;
        if (size != 0 && distance < size)
        {
            return $"old=0x{op.Va:x} and new=0x{op.NewVa:x} overlap (0x{distance:x} apart, the move spans 0x{size:x}): mremap(2) refuses "
                + "overlapping ranges (EINVAL); a stack moved over itself by exec is exec_shift_stack";
        }
        if (op.Kind == OpKind.ExecShiftStack && (op.NewVa >= op.Va || op.Len == 0))
        {
            return op.Len == 0
                ? "len=0: exec shifts a stack of at least one page"
                : $"new=0x{op.NewVa:x} is not below old=0x{op.Va:x}: exec only shifts the stack down (relocate_vma_down)";
        }
        return null;
    }

    private static string? ParseSlot(EventRow row, ref Op op)
    {
        string? table = row.FindField("table");
        if (table is not null)
        {
            if (!OpSpec.TryParseNumber(table, out ulong t) || t == 0 || t > int.MaxValue)
            {
                return $"key 'table': expected a positive table id, found '{table}'";
            }
            op.Table = (int)t;
            if (op.Kind is not (OpKind.PtlLock or OpKind.PtlUnlock))
            {
                return ParseKey(row, "idx!", ref op);
            }
            return null;
        }
        string? error = ParseKey(row, "mm!", ref op) ?? ParseKey(row, "va!", ref op);
        if (error is not null)
        {
            return "expected either table=+idx= or mm=+va=: " + error;
        }
        if (op.Kind is OpKind.EntryRead or OpKind.PtlLock or OpKind.PtlUnlock)
        {
            return ParseKey(row, "level!", ref op);
        }
        return null;
    }

    private static string? ParseKey(EventRow row, string rawKey, ref Op op)
    {
        bool required = rawKey.EndsWith('!');
        string key = required ? rawKey[..^1] : rawKey;
        string? text = row.FindField(key);
        if (text is null)
        {
            if (key == "set" || key == "clear")
            {
                if (key == "clear" && !op.Has(OpFlags.Write) && op.Sub == 0)
                {
                    return "expected 'set=' or 'clear=' with VMA flags, found neither";
                }
                return null;
            }
            return required ? $"missing required key '{key}'" : null;
        }
        ulong number;
        switch (key)
        {
            case "mm":
                if (!TryInt(text, out op.Mm))
                {
                    return Bad(key, "an mm id", text);
                }
                return null;
            case "va":
            case "old":
                return OpSpec.TryParseNumber(text, out op.Va) ? null : Bad(key, "an address", text);
            case "new":
                return OpSpec.TryParseNumber(text, out op.NewVa) ? null : Bad(key, "an address", text);
            case "len":
            case "cpus":
                return OpSpec.TryParseNumber(text, out op.Len) ? null : Bad(key, "a number", text);
            case "pfn":
                return OpSpec.TryParseNumber(text, out op.Pfn) ? null : Bad(key, "a pfn", text);
            case "table":
            case "spare":
                if (!TryInt(text, out op.Table) || op.Table <= 0)
                {
                    return Bad(key, "a positive table id", text);
                }
                return null;
            case "idx":
                if (!TryInt(text, out op.Index) || op.Index > 511)
                {
                    return Bad(key, "an entry index 0..511", text);
                }
                return null;
            case "rmap":
            case "id":
            case "n":
                return TryInt(text, out op.Obj) ? null : Bad(key, "a number", text);
            case "order":
                if (!OpSpec.TryParseNumber(text, out number) || number > 18)
                {
                    return Bad(key, "an order 0..18", text);
                }
                op.Value = (long)number;
                return null;
            case "level":
                if (!OpSpec.TryParseLevel(text, out op.Level))
                {
                    return Bad(key, "pte|pmd|pud|p4d|pgd", text);
                }
                return null;
            case "mode":
                if (text == "w")
                {
                    op.Flags |= OpFlags.Write;
                }
                else if (text != "r")
                {
                    return Bad(key, "r or w", text);
                }
                return null;
            case "ok":
                if (!TryBool(text, out bool ok))
                {
                    return Bad(key, "0 or 1", text);
                }
                if (!ok)
                {
                    op.Flags |= OpFlags.Failed;
                }
                return null;
            case "try":
                return SetBool(ref op, key, text, OpFlags.Try);
            case "ipi":
                if (!TryBool(text, out bool ipi))
                {
                    return Bad(key, "0 or 1", text);
                }
                if (!ipi)
                {
                    op.Flags |= OpFlags.NoIpi;
                }
                return null;
            case "val":
                if (!EntryValue.TryParse(text, out op.Value))
                {
                    return Bad(key, "none, tbl:ID, leaf:PFN or swap:X", text);
                }
                op.Flags |= OpFlags.HasValue;
                return null;
            case "flag":
                if (!OpSpec.TryParseFlag(text, out var flag))
                {
                    return Bad(key, "mlocked|unevictable|lru", text);
                }
                op.Sub = (byte)flag;
                return null;
            case "free":
                switch (text)
                {
                    case "now": op.Sub = (byte)FreeMode.Now; return null;
                    case "rcu": op.Sub = (byte)FreeMode.Rcu; return null;
                    case "gather": op.Sub = (byte)FreeMode.Gather; return null;
                    default: return Bad(key, "now|rcu|gather", text);
                }
            case "vmflags":
            case "set":
            case "clear":
                if (!OpSpec.TryParseVmFlags(text, out var vmFlags))
                {
                    return Bad(key, "VMA flags like locked|file", text);
                }
                op.Sub = (byte)vmFlags;
                if (key == "set")
                {
                    op.Flags |= OpFlags.Write;
                }
                return null;
            case "func":
                op.Sub = OpSpec.ParseFunc(text);
                return null;
            default:
                var boolFlag = OpTraceWriter.BoolKey(key);
                return boolFlag == OpFlags.None ? $"unknown key '{key}'" : SetBool(ref op, key, text, boolFlag);
        }
    }

    private static string? SetBool(ref Op op, string key, string text, OpFlags flag)
    {
        if (!TryBool(text, out bool value))
        {
            return Bad(key, "0 or 1", text);
        }
        if (value)
        {
            op.Flags |= flag;
        }
        return null;
    }

    private static bool TryBool(string text, out bool value)
    {
        switch (text)
        {
            case "1":
            case "true":
                value = true;
                return true;
            case "0":
            case "false":
                value = false;
                return true;
            default:
                value = false;
                return false;
        }
    }

    private static bool TryInt(string text, out int value)
    {
        if (OpSpec.TryParseNumber(text, out ulong number) && number <= int.MaxValue)
        {
            value = (int)number;
            return true;
        }
        value = 0;
        return false;
    }

    private static string Bad(string key, string expected, string found) => $"key '{key}': expected {expected}, found '{found}'";
}
