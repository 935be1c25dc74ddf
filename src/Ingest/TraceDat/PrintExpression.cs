using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;

namespace Pipeline.Ingest.TraceDat;

/// <summary>The value of a print-fmt expression: an integer, a string, or "cannot evaluate".</summary>
internal readonly struct PrintValue
{
    private PrintValue(long integer, string? text, bool isError)
    {
        Integer = integer;
        Text = text;
        IsError = isError;
    }

    public long Integer { get; }

    public string? Text { get; }

    public bool IsError { get; }

    public bool IsText => Text is not null;

    public static PrintValue Error { get; } = new(0, null, true);

    public static PrintValue Of(long value) => new(value, null, false);

    public static PrintValue Of(string value) => new(0, value, false);
}

/// <summary>What an expression reads from the record: a payload span and the byte order of the traced machine.</summary>
internal readonly ref struct RecordContext
{
    public RecordContext(ReadOnlySpan<byte> record, bool bigEndian)
    {
        Record = record;
        BigEndian = bigEndian;
    }

    public ReadOnlySpan<byte> Record { get; }

    public bool BigEndian { get; }

    /// <summary>True when there is no record (constant folding of table entries at parse time).</summary>
    public bool IsEmpty => Record.IsEmpty;
}

/// <summary>A node of a print-fmt argument expression (the C subset the kernel's TP_printk arguments use).</summary>
internal abstract class PrintExpr
{
    public abstract PrintValue Evaluate(in RecordContext context);

    /// <summary>Adds the fields this expression reads; returns false if it reads something else than fields and constants.</summary>
    public virtual void CollectFields(HashSet<FormatField> fields)
    {
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static long ReadScalar(ReadOnlySpan<byte> record, int offset, int size, bool signed, bool bigEndian)
    {
        var s = record.Slice(offset, size);
        switch (size)
        {
            case 1:
                return signed ? (sbyte)s[0] : s[0];
            case 2:
            {
                ushort v = bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(s) : BinaryPrimitives.ReadUInt16LittleEndian(s);
                return signed ? (short)v : v;
            }
            case 4:
            {
                uint v = bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(s) : BinaryPrimitives.ReadUInt32LittleEndian(s);
                return signed ? (int)v : v;
            }
            default:
                return bigEndian ? BinaryPrimitives.ReadInt64BigEndian(s[..8]) : BinaryPrimitives.ReadInt64LittleEndian(s[..8]);
        }
    }
}

internal sealed class ConstantExpr(PrintValue value) : PrintExpr
{
    public PrintValue Value { get; } = value;

    public override PrintValue Evaluate(in RecordContext context) => Value;
}

internal sealed class ErrorExpr : PrintExpr
{
    public override PrintValue Evaluate(in RecordContext context) => PrintValue.Error;
}

internal sealed class FieldExpr(FormatField field) : PrintExpr
{
    public FormatField Field { get; } = field;

    public override void CollectFields(HashSet<FormatField> fields) => fields.Add(Field);

    public override PrintValue Evaluate(in RecordContext context)
    {
        if (context.IsEmpty)
        {
            return PrintValue.Error;
        }
        if (Field.Layout == FieldLayout.Scalar)
        {
            if (Field.Size is not (1 or 2 or 4 or 8) || Field.Offset + Field.Size > context.Record.Length)
            {
                return PrintValue.Error;
            }
            return PrintValue.Of(ReadScalar(context.Record, Field.Offset, Field.Size, Field.IsSigned, context.BigEndian));
        }
        // REC->buf of a char array prints like __get_str.
        return Field.IsString ? new ArrayFieldExpr(Field, ArrayFieldUse.Text).Evaluate(context) : PrintValue.Error;
    }
}

internal sealed class UnaryExpr(char op, PrintExpr operand) : PrintExpr
{
    public override void CollectFields(HashSet<FormatField> fields) => operand.CollectFields(fields);

    public override PrintValue Evaluate(in RecordContext context)
    {
        var v = operand.Evaluate(context);
        if (v.IsError || v.IsText)
        {
            return op == '!' && v.IsText ? PrintValue.Of(0) : PrintValue.Error;
        }
        return op switch
        {
            '-' => PrintValue.Of(unchecked(-v.Integer)),
            '~' => PrintValue.Of(~v.Integer),
            '!' => PrintValue.Of(v.Integer == 0 ? 1 : 0),
            _ => v,
        };
    }
}

internal sealed class CastExpr(int size, bool signed, PrintExpr operand) : PrintExpr
{
    public override void CollectFields(HashSet<FormatField> fields) => operand.CollectFields(fields);

    public override PrintValue Evaluate(in RecordContext context)
    {
        var v = operand.Evaluate(context);
        if (v.IsError || v.IsText)
        {
            return v;
        }
        long x = v.Integer;
        return PrintValue.Of(size switch
        {
            1 => signed ? (sbyte)x : (byte)x,
            2 => signed ? (short)x : (ushort)x,
            4 => signed ? (int)x : (uint)x,
            _ => x,
        });
    }
}

internal sealed class BinaryExpr(string op, PrintExpr left, PrintExpr right) : PrintExpr
{
    public override void CollectFields(HashSet<FormatField> fields)
    {
        left.CollectFields(fields);
        right.CollectFields(fields);
    }

    public override PrintValue Evaluate(in RecordContext context)
    {
        var l = left.Evaluate(context);
        if (l.IsError)
        {
            return l;
        }
        if (op == "&&" || op == "||")
        {
            bool lt = l.IsText || l.Integer != 0;
            if (op == "&&" && !lt)
            {
                return PrintValue.Of(0);
            }
            if (op == "||" && lt)
            {
                return PrintValue.Of(1);
            }
            var r2 = right.Evaluate(context);
            return r2.IsError ? r2 : PrintValue.Of(r2.IsText || r2.Integer != 0 ? 1 : 0);
        }
        var r = right.Evaluate(context);
        if (r.IsError || l.IsText || r.IsText)
        {
            return PrintValue.Error;
        }
        long a = l.Integer, b = r.Integer;
        switch (op)
        {
            case "+": return PrintValue.Of(unchecked(a + b));
            case "-": return PrintValue.Of(unchecked(a - b));
            case "*": return PrintValue.Of(unchecked(a * b));
            case "/": return b == 0 ? PrintValue.Error : PrintValue.Of((long)((ulong)a / (ulong)b));
            case "%": return b == 0 ? PrintValue.Error : PrintValue.Of((long)((ulong)a % (ulong)b));
            case "<<": return PrintValue.Of(b is < 0 or > 63 ? 0 : a << (int)b);
            case ">>": return PrintValue.Of(b is < 0 or > 63 ? 0 : (long)((ulong)a >> (int)b));
            case "&": return PrintValue.Of(a & b);
            case "|": return PrintValue.Of(a | b);
            case "^": return PrintValue.Of(a ^ b);
            case "==": return PrintValue.Of(a == b ? 1 : 0);
            case "!=": return PrintValue.Of(a != b ? 1 : 0);
            case "<": return PrintValue.Of(a < b ? 1 : 0);
            case ">": return PrintValue.Of(a > b ? 1 : 0);
            case "<=": return PrintValue.Of(a <= b ? 1 : 0);
            case ">=": return PrintValue.Of(a >= b ? 1 : 0);
            default: return PrintValue.Error;
        }
    }
}

internal sealed class TernaryExpr(PrintExpr condition, PrintExpr whenTrue, PrintExpr whenFalse) : PrintExpr
{
    public override void CollectFields(HashSet<FormatField> fields)
    {
        condition.CollectFields(fields);
        whenTrue.CollectFields(fields);
        whenFalse.CollectFields(fields);
    }

    public override PrintValue Evaluate(in RecordContext context)
    {
        var c = condition.Evaluate(context);
        if (c.IsError)
        {
            return c;
        }
        return (c.IsText || c.Integer != 0) ? whenTrue.Evaluate(context) : whenFalse.Evaluate(context);
    }
}

/// <summary><c>__print_symbolic(value, {v, "name"}, ...)</c>: the name of the first exact match, else <c>0x%lx</c>.</summary>
internal sealed class PrintSymbolicExpr(PrintExpr value, (long Value, string Name)[] table) : PrintExpr
{
    public IReadOnlyList<(long Value, string Name)> Table => table;

    public override void CollectFields(HashSet<FormatField> fields) => value.CollectFields(fields);

    public override PrintValue Evaluate(in RecordContext context)
    {
        var v = value.Evaluate(context);
        if (v.IsError || v.IsText)
        {
            return PrintValue.Error;
        }
        foreach (var (key, name) in table)
        {
            if (key == v.Integer)
            {
                return PrintValue.Of(name);
            }
        }
        return PrintValue.Of("0x" + v.Integer.ToString("x", CultureInfo.InvariantCulture));
    }
}

/// <summary>
/// <c>__print_flags(value, "delim", {mask, "name"}, ...)</c> as the kernel's trace_print_flags_seq: names of
/// masks fully set, in table order, clearing their bits; leftover bits as <c>0x%lx</c>.
/// </summary>
internal sealed class PrintFlagsExpr(PrintExpr value, string delimiter, (long Mask, string Name)[] table) : PrintExpr
{
    public override void CollectFields(HashSet<FormatField> fields) => value.CollectFields(fields);

    public override PrintValue Evaluate(in RecordContext context)
    {
        var v = value.Evaluate(context);
        if (v.IsError || v.IsText)
        {
            return PrintValue.Error;
        }
        ulong flags = (ulong)v.Integer;
        var sb = new StringBuilder();
        foreach (var (maskValue, name) in table)
        {
            if (flags == 0)
            {
                break;
            }
            ulong mask = (ulong)maskValue;
            if (mask == 0 || (flags & mask) != mask)
            {
                continue;
            }
            flags &= ~mask;
            if (sb.Length > 0)
            {
                sb.Append(delimiter);
            }
            sb.Append(name);
        }
        if (flags != 0)
        {
            if (sb.Length > 0)
            {
                sb.Append(delimiter);
            }
            sb.Append("0x").Append(flags.ToString("x", CultureInfo.InvariantCulture));
        }
        return PrintValue.Of(sb.ToString());
    }
}

/// <summary>What a helper macro makes of an array field.</summary>
internal enum ArrayFieldUse
{
    /// <summary><c>__get_str(field)</c> and friends: the text.</summary>
    Text,
    /// <summary><c>__get_dynamic_array_len(field)</c>: the byte length.</summary>
    Length,
    /// <summary><c>__get_cpumask(field)</c> / <c>__get_bitmask(field)</c>: the kernel's <c>%*pb</c> rendering.</summary>
    Bitmap,
}

/// <summary>A helper macro applied to an array field (<c>__get_str</c>, <c>__get_dynamic_array_len</c>, <c>__get_cpumask</c>).</summary>
internal sealed class ArrayFieldExpr(FormatField field, ArrayFieldUse use) : PrintExpr
{
    public override void CollectFields(HashSet<FormatField> fields) => fields.Add(field);

    public override PrintValue Evaluate(in RecordContext context)
    {
        if (context.IsEmpty)
        {
            return PrintValue.Error;
        }
        var bytes = RecordFields.GetArrayBytes(field, context.Record, context.BigEndian);
        if (bytes.IsError)
        {
            return PrintValue.Error;
        }
        return use switch
        {
            ArrayFieldUse.Text => PrintValue.Of(RecordFields.DecodeString(bytes.Span(context.Record))),
            ArrayFieldUse.Length => PrintValue.Of(bytes.Length),
            _ => PrintValue.Of(RecordFields.FormatBitmap(bytes.Span(context.Record), context.BigEndian)),
        };
    }
}
