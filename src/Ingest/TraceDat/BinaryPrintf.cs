using System.Globalization;
using System.Text;

namespace Pipeline.Ingest.TraceDat;

/// <summary>
/// Formats a <c>trace_printk</c> (<c>ftrace:bprint</c>) record: the format string comes from the printk formats
/// saved with the trace, the arguments from the record's <c>buf</c>, packed as the kernel's vbin_printf packs
/// them (8-byte values 4-byte aligned, smaller ones aligned to their size, strings inline with their NUL).
/// </summary>
internal static class BinaryPrintf
{
    public static string Format(string format, ReadOnlySpan<byte> args, bool bigEndian)
    {
        var segments = new List<object>();
        PrintFormat.SplitFormat(format, segments);
        var sb = new StringBuilder();
        int at = 0;
        foreach (var segment in segments)
        {
            if (segment is string literal)
            {
                sb.Append(literal);
                continue;
            }
            var conversion = (PrintConversion)segment;
            if (conversion.WidthFromArgument && TryRead(args, ref at, 4, bigEndian, out long width))
            {
                conversion = conversion with { Width = (int)Math.Clamp(width, 0, 4096) };
            }
            if (conversion.PrecisionFromArgument && TryRead(args, ref at, 4, bigEndian, out long precision))
            {
                conversion = conversion with { Precision = (int)Math.Clamp(precision, -1, 4096) };
            }
            if (conversion.Conversion == 's')
            {
                if (at >= args.Length)
                {
                    return sb.Append("[truncated arguments]").ToString();
                }
                int nul = args[at..].IndexOf((byte)0);
                int length = nul < 0 ? args.Length - at : nul;
                sb.Append(PrintFormat.FormatValue(conversion, PrintValue.Of(Encoding.UTF8.GetString(args.Slice(at, length)))));
                at += length + 1;
                continue;
            }
            int size = conversion.Conversion switch
            {
                'p' => 8,
                'c' => 1,
                _ => conversion.Length switch
                {
                    "hh" => 1,
                    "h" => 2,
                    "l" or "ll" or "z" or "j" or "t" or "L" => 8,
                    _ => 4,
                },
            };
            if (!TryRead(args, ref at, size, bigEndian, out long value))
            {
                return sb.Append("[truncated arguments]").ToString();
            }
            sb.Append(PrintFormat.FormatValue(conversion, PrintValue.Of(value)));
        }
        return sb.ToString();
    }

    private static bool TryRead(ReadOnlySpan<byte> args, ref int at, int size, bool bigEndian, out long value)
    {
        int alignment = Math.Min(size, 4);
        at = (at + alignment - 1) / alignment * alignment;
        if (at + size > args.Length)
        {
            value = 0;
            return false;
        }
        // 8-byte values are stored as the two u32 halves of the u64 in memory order: a plain u64 read.
        value = PrintExpr.ReadScalar(args, at, size, signed: false, bigEndian);
        at += size;
        return true;
    }

    /// <summary>
    /// Parses <c>printk_formats</c> text: <c>0xADDR : "format"</c> per line, C escapes inside the quotes.
    /// </summary>
    public static Dictionary<ulong, string> ParsePrintkFormats(ReadOnlySpan<byte> text)
    {
        var formats = new Dictionary<ulong, string>();
        foreach (var rawLine in Encoding.UTF8.GetString(text).Split('\n'))
        {
            var line = rawLine.AsSpan().Trim();
            int colon = line.IndexOf(" : ", StringComparison.Ordinal);
            if (colon < 0 || !line.StartsWith("0x", StringComparison.Ordinal))
            {
                continue;
            }
            if (!ulong.TryParse(line[2..colon], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong address))
            {
                continue;
            }
            var quoted = line[(colon + 3)..].Trim();
            if (quoted.Length >= 2 && quoted[0] == '"' && quoted[^1] == '"')
            {
                formats[address] = Unescape(quoted[1..^1]);
            }
        }
        return formats;
    }

    private static string Unescape(ReadOnlySpan<char> s)
    {
        var sb = new StringBuilder(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] != '\\' || i + 1 >= s.Length)
            {
                sb.Append(s[i]);
                continue;
            }
            sb.Append(PrintExprParser.Unescape(s[++i]));
        }
        return sb.ToString();
    }
}
