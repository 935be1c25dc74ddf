using System.Globalization;
using System.Text;

namespace Pipeline.Replay;

/// <summary>
/// Writes ops as ftrace text lines <c>comm-tid [cpu] ..... sec.usec: mmop_&lt;op&gt;: key=value …</c>, the form
/// lab traces (kprobes/BPF) produce, so synthetic and recorded traces go through the same ingest.
/// </summary>
public static class OpTraceWriter
{
    /// <summary>Writes every op of <paramref name="trace"/>, one line each, timestamps 1 µs apart.</summary>
    public static void Write(OpTrace trace, TextWriter writer)
    {
        ArgumentNullException.ThrowIfNull(trace);
        ArgumentNullException.ThrowIfNull(writer);
        var line = new StringBuilder(160);
        var ops = trace.Ops;
        for (int i = 0; i < ops.Length; i++)
        {
            line.Clear();
            AppendLine(line, ops[i], trace.CommOf(ops[i].Tid), i + 1);
            writer.Write(line);
            writer.Write('\n');
        }
    }

    /// <summary>Formats one op as a trace line (without newline); <paramref name="micros"/> is its timestamp in µs.</summary>
    public static string FormatLine(in Op op, string comm, long micros)
    {
        var line = new StringBuilder(160);
        AppendLine(line, op, comm, micros);
        return line.ToString();
    }

    /// <summary>The <c>key=value</c> part of an op, as written in traces.</summary>
    public static string FormatFields(in Op op)
    {
        var sb = new StringBuilder(96);
        AppendFields(sb, op);
        return sb.ToString();
    }

    private static void AppendLine(StringBuilder sb, in Op op, string comm, long micros)
    {
        var inv = CultureInfo.InvariantCulture;
        string task = comm + "-" + op.Tid.ToString(inv);
        sb.Append(task.PadLeft(22));
        sb.Append(" [").Append(op.Cpu.ToString("D3", inv)).Append("] ..... ");
        sb.Append((micros / 1_000_000).ToString(inv)).Append('.').Append((micros % 1_000_000).ToString("D6", inv));
        sb.Append(": ").Append(OpSpec.EventPrefix).Append(OpSpec.NameOf(op.Kind)).Append(':');
        int before = sb.Length;
        AppendFields(sb, op);
        if (sb.Length == before)
        {
            // ftrace prints nothing after the colon for field-less events; keep one space like it does.
            sb.Append(' ');
        }
    }

    /// <summary>Appends what <see cref="FormatFields"/> returns to <paramref name="sb"/>.</summary>
    internal static void AppendFields(StringBuilder sb, in Op op)
    {
        foreach (var rawKey in OpSpec.KeysOf(op.Kind))
        {
            if (rawKey == "@slot")
            {
                AppendSlot(sb, op);
                continue;
            }
            bool required = rawKey.EndsWith('!');
            string key = required ? rawKey[..^1] : rawKey;
            AppendKey(sb, op, key, required);
        }
    }

    private static void AppendSlot(StringBuilder sb, in Op op)
    {
        if (op.Table != 0)
        {
            PairInt(sb, "table", op.Table);
            if (op.Kind != OpKind.PtlLock && op.Kind != OpKind.PtlUnlock)
            {
                PairInt(sb, "idx", op.Index);
            }
            return;
        }
        PairInt(sb, "mm", op.Mm);
        PairHex(sb, "va", op.Va);
        if (op.Kind is OpKind.EntryRead or OpKind.PtlLock or OpKind.PtlUnlock)
        {
            Pair(sb, "level", OpSpec.LevelName(op.Level));
        }
    }

    private static void AppendKey(StringBuilder sb, in Op op, string key, bool required)
    {
        switch (key)
        {
            case "mm":
                if (required || op.Mm != 0)
                {
                    PairInt(sb, "mm", op.Mm);
                }
                break;
            case "va":
            case "old":
                if (required || op.Va != 0)
                {
                    PairHex(sb, key, op.Va);
                }
                break;
            case "new":
                PairHex(sb, "new", op.NewVa);
                break;
            case "len":
                if (required || op.Len != 0)
                {
                    PairHex(sb, "len", op.Len);
                }
                break;
            case "cpus":
                PairHex(sb, "cpus", op.Len);
                break;
            case "table":
            case "spare":
                if (required || op.Table != 0)
                {
                    PairInt(sb, key, op.Table);
                }
                break;
            case "level":
                if (required || op.Level != Level.Pte)
                {
                    Pair(sb, "level", OpSpec.LevelName(op.Level));
                }
                break;
            case "pfn":
                PairHex(sb, "pfn", op.Pfn);
                break;
            case "order":
                if (op.Value != 0)
                {
                    PairInt(sb, "order", op.Value);
                }
                break;
            case "rmap":
                if (required || op.Obj != 0)
                {
                    PairInt(sb, "rmap", op.Obj);
                }
                break;
            case "id":
                PairInt(sb, "id", op.Obj);
                break;
            case "n":
                if (op.Obj > 1)
                {
                    PairInt(sb, "n", op.Obj);
                }
                break;
            case "mode":
                Pair(sb, "mode", op.Has(OpFlags.Write) ? "w" : "r");
                break;
            case "try":
                if (op.Has(OpFlags.Try))
                {
                    Pair(sb, "try", "1");
                }
                break;
            case "ok":
                if (op.Has(OpFlags.Try))
                {
                    Pair(sb, "ok", op.Has(OpFlags.Failed) ? "0" : "1");
                }
                break;
            case "ipi":
                if (op.Has(OpFlags.NoIpi))
                {
                    Pair(sb, "ipi", "0");
                }
                break;
            case "val":
                if (op.Has(OpFlags.HasValue))
                {
                    Pair(sb, "val", EntryValue.Format(op.Value));
                }
                break;
            case "flag":
                Pair(sb, "flag", OpSpec.FlagName((PageFlag)op.Sub));
                break;
            case "free":
                if ((FreeMode)op.Sub != FreeMode.Now)
                {
                    Pair(sb, "free", (FreeMode)op.Sub == FreeMode.Rcu ? "rcu" : "gather");
                }
                break;
            case "vmflags":
                if (op.Sub != 0)
                {
                    Pair(sb, "vmflags", OpSpec.VmFlagsName((VmFlags)op.Sub));
                }
                break;
            case "set":
                if (op.Has(OpFlags.Write))
                {
                    Pair(sb, "set", OpSpec.VmFlagsName((VmFlags)op.Sub));
                }
                break;
            case "clear":
                if (!op.Has(OpFlags.Write))
                {
                    Pair(sb, "clear", OpSpec.VmFlagsName((VmFlags)op.Sub));
                }
                break;
            case "func":
                if (op.Sub != 0)
                {
                    Pair(sb, "func", OpSpec.FuncName(op.Sub));
                }
                break;
            default:
                var flag = BoolKey(key);
                if (flag != OpFlags.None && op.Has(flag))
                {
                    Pair(sb, key, "1");
                }
                break;
        }
    }

    /// <summary>The flag behind a boolean key written <c>key=1</c>, or None.</summary>
    internal static OpFlags BoolKey(string key) => key switch
    {
        "lockless" => OpFlags.Lockless,
        "sync" => OpFlags.Sync,
        "batch" => OpFlags.Batch,
        "assert" => OpFlags.Assert,
        "write" => OpFlags.WriteAccess,
        "need_rmap_locks" => OpFlags.NeedRmapLocks,
        "migrate" => OpFlags.Migrate,
        "all" => OpFlags.All,
        "tables" => OpFlags.FreedTables,
        "transfer" => OpFlags.Transfer,
        _ => OpFlags.None,
    };

    internal static string Hex(ulong value) => "0x" + value.ToString("x", CultureInfo.InvariantCulture);

    private static void Pair(StringBuilder sb, string key, string value) => sb.Append(' ').Append(key).Append('=').Append(value);

    // Formatted straight into the builder: ops.parquet formats every op's fields, and a string per number was most of that.
    private static void PairHex(StringBuilder sb, string key, ulong value) => sb.Append(CultureInfo.InvariantCulture, $" {key}=0x{value:x}");

    private static void PairInt(StringBuilder sb, string key, long value) => sb.Append(CultureInfo.InvariantCulture, $" {key}={value}");
}
