using System.Globalization;
using System.Text;

namespace Pipeline.Ingest.TraceDat;

/// <summary>One <c>%...</c> conversion of a print fmt string.</summary>
internal sealed record PrintConversion(string Flags, int Width, int Precision, string Length, char Conversion, string PointerExtension, int ArgumentIndex)
{
    /// <summary>Width given by a <c>*</c> argument (read before the value).</summary>
    public bool WidthFromArgument { get; init; }

    /// <summary>Precision given by a <c>.*</c> argument (read before the value).</summary>
    public bool PrecisionFromArgument { get; init; }

    public bool LeftAlign => Flags.Contains('-', StringComparison.Ordinal);

    public bool ZeroPad => Flags.Contains('0', StringComparison.Ordinal);

    public bool Alternate => Flags.Contains('#', StringComparison.Ordinal);
}

/// <summary>
/// A parsed <c>print fmt</c>: the C format string split into literals and conversions, and the argument
/// expressions (with <c>__print_symbolic</c>/<c>__print_flags</c> tables evaluated). Used to render a field as
/// the kernel prints it, so symbolic values (huge_memory status, gfp_flags) agree with kernel text.
/// </summary>
public sealed partial class PrintFormat
{
    private readonly List<object> _segments; // string literal or PrintConversion
    private readonly List<PrintExpr> _arguments;

    private PrintFormat(string formatString, List<object> segments, List<PrintExpr> arguments, bool isComplete)
    {
        FormatString = formatString;
        _segments = segments;
        _arguments = arguments;
        IsComplete = isComplete;
    }

    /// <summary>The format string (escapes resolved).</summary>
    public string FormatString { get; }

    /// <summary>Whether the whole print fmt was understood (otherwise only some fields can be rendered).</summary>
    public bool IsComplete { get; }

    /// <summary>Number of argument expressions.</summary>
    public int ArgumentCount => _arguments.Count;

    internal static PrintFormat Parse(string text, FormatFile owner)
    {
        var segments = new List<object>();
        var arguments = new List<PrintExpr>();
        if (string.IsNullOrWhiteSpace(text))
        {
            return new PrintFormat("", segments, arguments, false);
        }
        var parser = new PrintExprParser(text, owner);
        string format;
        bool complete = true;
        try
        {
            format = parser.ParseFormatString();
            while (parser.TryConsumeComma())
            {
                arguments.Add(parser.ParseArgument());
            }
            complete = parser.AtEnd;
        }
        catch (FormatException)
        {
            return new PrintFormat("", segments, arguments, false);
        }
        complete &= SplitFormat(format, segments);
        return new PrintFormat(format, segments, arguments, complete);
    }

    /// <summary>
    /// Renders <paramref name="fieldName"/> as the kernel prints it: the conversions whose arguments read that field
    /// and no other, concatenated when they are adjacent in the format (sched_switch <c>prev_state=%s%s</c>).
    /// Returns null when the print fmt does not print the field on its own.
    /// </summary>
    /// <param name="fieldName">Format-file field name.</param>
    /// <param name="record">The event payload (starting at <c>common_type</c>).</param>
    /// <param name="bigEndian">Byte order of the traced machine.</param>
    public string? RenderField(string fieldName, ReadOnlySpan<byte> record, bool bigEndian)
    {
        var rendering = GetRendering(fieldName, includeHexPrefix: false);
        return rendering?.Render(record, bigEndian);
    }

    /// <summary>
    /// Literal <c>name=number</c> pairs in the format text that no conversion follows, e.g. <c>order=0</c> in
    /// <c>"page=%p pfn=0x%lx order=0"</c>.
    /// </summary>
    internal IEnumerable<(string Name, string Value)> ConstantFields()
    {
        for (int i = 0; i < _segments.Count; i++)
        {
            if (_segments[i] is not string literal)
            {
                continue;
            }
            bool conversionFollows = i + 1 < _segments.Count && _segments[i + 1] is PrintConversion;
            foreach (System.Text.RegularExpressions.Match match in ConstantPattern().Matches(literal))
            {
                // "val=1%d" is not a constant: the number continues in the conversion.
                if (conversionFollows && match.Index + match.Length == literal.Length)
                {
                    continue;
                }
                yield return (match.Groups[1].Value, match.Groups[2].Value);
            }
        }
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"(?:^|[\s,])([A-Za-z_]\w*)=(-?[0-9]+)(?=$|[\s,])")]
    private static partial System.Text.RegularExpressions.Regex ConstantPattern();

    /// <summary>The conversions that print one field alone, or null.</summary>
    internal FieldRendering? GetRendering(string fieldName, bool includeHexPrefix)
    {
        var fields = new HashSet<FormatField>();
        var picked = new List<(PrintConversion Conversion, PrintExpr Argument)>();
        int lastSegment = -1;
        string prefix = "";
        for (int i = 0; i < _segments.Count; i++)
        {
            if (_segments[i] is not PrintConversion conversion || conversion.ArgumentIndex >= _arguments.Count)
            {
                continue;
            }
            var argument = _arguments[conversion.ArgumentIndex];
            fields.Clear();
            argument.CollectFields(fields);
            if (fields.Count != 1 || !fields.Any(f => f.Name == fieldName))
            {
                continue;
            }
            if (picked.Count > 0 && lastSegment != i - 1)
            {
                // Printed in two places (tlb_flush: "reason:%s (%d)"): no single rendering.
                return null;
            }
            if (picked.Count == 0 && includeHexPrefix && i > 0 && _segments[i - 1] is string literal
                && literal.EndsWith("0x", StringComparison.Ordinal) && conversion.Conversion is 'x' or 'X')
            {
                prefix = "0x";
            }
            picked.Add((conversion, argument));
            lastSegment = i;
        }
        return picked.Count == 0 ? null : new FieldRendering(prefix, picked.ToArray());
    }

    /// <summary>Splits a C format string into literal strings and <see cref="PrintConversion"/>s; false if something was not understood.</summary>
    internal static bool SplitFormat(string format, List<object> segments)
    {
        var literal = new StringBuilder();
        int argument = 0;
        int i = 0;
        bool ok = true;
        while (i < format.Length)
        {
            char c = format[i];
            if (c != '%')
            {
                literal.Append(c);
                i++;
                continue;
            }
            if (i + 1 < format.Length && format[i + 1] == '%')
            {
                literal.Append('%');
                i += 2;
                continue;
            }
            int start = i++;
            var flags = new StringBuilder();
            while (i < format.Length && "-+ #0".Contains(format[i], StringComparison.Ordinal))
            {
                flags.Append(format[i++]);
            }
            int width = 0;
            bool widthStar = false, precisionStar = false;
            if (i < format.Length && format[i] == '*')
            {
                widthStar = true;
                argument++;
                i++;
            }
            while (i < format.Length && char.IsAsciiDigit(format[i]))
            {
                width = Math.Min(width * 10 + (format[i++] - '0'), 4096);
            }
            int precision = -1;
            if (i < format.Length && format[i] == '.')
            {
                i++;
                precision = 0;
                if (i < format.Length && format[i] == '*')
                {
                    precisionStar = true;
                    argument++;
                    i++;
                }
                while (i < format.Length && char.IsAsciiDigit(format[i]))
                {
                    precision = Math.Min(precision * 10 + (format[i++] - '0'), 4096);
                }
            }
            int lengthStart = i;
            while (i < format.Length && "hlLzjt".Contains(format[i], StringComparison.Ordinal))
            {
                i++;
            }
            string length = format[lengthStart..i];
            if (i >= format.Length)
            {
                literal.Append(format.AsSpan(start));
                ok = false;
                break;
            }
            char conv = format[i++];
            string extension = "";
            if (conv == 'p')
            {
                int extStart = i;
                while (i < format.Length && char.IsAsciiLetterOrDigit(format[i]))
                {
                    i++;
                }
                extension = format[extStart..i];
            }
            if (!"diouxXcsp".Contains(conv, StringComparison.Ordinal))
            {
                ok = false;
            }
            if (literal.Length > 0)
            {
                segments.Add(literal.ToString());
                literal.Clear();
            }
            segments.Add(new PrintConversion(flags.ToString(), width, precision, length, conv, extension, argument)
            {
                WidthFromArgument = widthStar,
                PrecisionFromArgument = precisionStar,
            });
            argument++;
        }
        if (literal.Length > 0)
        {
            segments.Add(literal.ToString());
        }
        return ok;
    }

    /// <summary>Formats an integer the way printf does for <paramref name="conversion"/>.</summary>
    internal static string FormatInteger(PrintConversion conversion, long value)
    {
        string digits;
        bool negative = false;
        switch (conversion.Conversion)
        {
            case 'd':
            case 'i':
            {
                long v = conversion.Length switch
                {
                    "hh" => (sbyte)value,
                    "h" => (short)value,
                    "" => (int)value,
                    _ => value,
                };
                negative = v < 0;
                digits = negative ? ((ulong)(-(v + 1)) + 1).ToString(CultureInfo.InvariantCulture) : v.ToString(CultureInfo.InvariantCulture);
                break;
            }
            case 'u':
                digits = Truncate(conversion.Length, value).ToString(CultureInfo.InvariantCulture);
                break;
            case 'x':
            case 'X':
                digits = Truncate(conversion.Length, value).ToString(conversion.Conversion == 'x' ? "x" : "X", CultureInfo.InvariantCulture);
                if (conversion.Alternate && value != 0)
                {
                    digits = "0x" + digits;
                }
                break;
            case 'o':
                digits = Convert.ToString(unchecked((long)Truncate(conversion.Length, value)), 8);
                break;
            case 'c':
                digits = ((char)(byte)value).ToString();
                break;
            case 'p':
                // libtraceevent prints the real pointer; the kernel hashes plain %p.
                digits = "0x" + ((ulong)value).ToString("x", CultureInfo.InvariantCulture);
                break;
            default:
                digits = value.ToString(CultureInfo.InvariantCulture);
                break;
        }
        if (conversion.Precision > digits.Length && conversion.Conversion is not ('c' or 'p'))
        {
            digits = new string('0', conversion.Precision - digits.Length) + digits;
        }
        string sign = negative ? "-" : "";
        int total = sign.Length + digits.Length;
        if (conversion.Width <= total)
        {
            return sign + digits;
        }
        if (conversion.LeftAlign)
        {
            return (sign + digits).PadRight(conversion.Width);
        }
        if (conversion.ZeroPad && conversion.Precision < 0)
        {
            return sign + new string('0', conversion.Width - total) + digits;
        }
        return (sign + digits).PadLeft(conversion.Width);
    }

    internal static string FormatValue(PrintConversion conversion, PrintValue value)
    {
        if (value.IsText)
        {
            string text = value.Text!;
            if (conversion.Precision >= 0 && text.Length > conversion.Precision)
            {
                text = text[..conversion.Precision];
            }
            return conversion.Width <= text.Length ? text
                : conversion.LeftAlign ? text.PadRight(conversion.Width) : text.PadLeft(conversion.Width);
        }
        if (conversion.Conversion == 's')
        {
            // %s of a NULL pointer (e.g. print_symbolic fallbacks) prints as the kernel does.
            return value.Integer == 0 ? "(null)" : "0x" + value.Integer.ToString("x", CultureInfo.InvariantCulture);
        }
        return FormatInteger(conversion, value.Integer);
    }

    private static ulong Truncate(string length, long value) => length switch
    {
        "hh" => (byte)value,
        "h" => (ushort)value,
        "" => (uint)value,
        _ => (ulong)value,
    };
}

/// <summary>The conversions that print one field; renders them from a record.</summary>
internal sealed class FieldRendering
{
    private readonly string _prefix;
    private readonly (PrintConversion Conversion, PrintExpr Argument)[] _parts;

    public FieldRendering(string prefix, (PrintConversion Conversion, PrintExpr Argument)[] parts)
    {
        _prefix = prefix;
        _parts = parts;
        if (parts.Length == 1 && parts[0].Conversion.Conversion is 'd' or 'i' or 'u' or 'x' or 'X' or 'p')
        {
            SimpleConversion = parts[0].Conversion;
            SimplePrefix = prefix;
            IsDirect = parts[0].Argument is FieldExpr;
        }
    }

    /// <summary>Set when the single conversion formats the bare field value (fast path: no evaluation).</summary>
    public bool IsDirect { get; }

    public PrintConversion? SimpleConversion { get; }

    public string SimplePrefix { get; } = "";

    /// <summary>Renders the field, or null when an argument cannot be evaluated for this record.</summary>
    public string? Render(ReadOnlySpan<byte> record, bool bigEndian)
    {
        var context = new RecordContext(record, bigEndian);
        if (_parts.Length == 1)
        {
            var v = _parts[0].Argument.Evaluate(context);
            return v.IsError ? null : _prefix + PrintFormat.FormatValue(_parts[0].Conversion, v);
        }
        var sb = new StringBuilder(_prefix);
        foreach (var (conversion, argument) in _parts)
        {
            var v = argument.Evaluate(context);
            if (v.IsError)
            {
                return null;
            }
            sb.Append(PrintFormat.FormatValue(conversion, v));
        }
        return sb.ToString();
    }
}
