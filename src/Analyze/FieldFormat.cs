using System.Globalization;

namespace Pipeline.Analyze;

/// <summary>
/// How people read mm fields: addresses, pointers and page frames in hex (as the kernel and trace-cmd print
/// them), byte counts with a binary unit, coded fields by name. Shared by <c>mmtrace show</c>, the table
/// output of <c>mmtrace query</c>, the Perfetto export and the HTML report so they agree.
/// </summary>
public static class FieldFormat
{
    // Columns of events, ops, findings, mremaps and mremap_moves that hold a virtual address, a pointer,
    // a page frame number or a flag word: hex is how the kernel prints them and how people compare them.
    private static readonly HashSet<string> s_hexColumns = new(StringComparer.Ordinal)
    {
        "addr", "new_addr", "old_addr", "result_addr", "start", "old_start", "new_start", "address", "ip",
        "error_code", "pfn", "mm", "brk", "off", "flags", "prot", "va", "new_va", "page",
    };

    // Columns that count bytes.
    private static readonly HashSet<string> s_byteColumns = new(StringComparer.Ordinal)
    {
        "old_len", "new_len", "len", "length", "moved_bytes", "pmd_bytes", "bytes",
    };

    /// <summary>Whether a column named <paramref name="column"/> holds an address, pointer, pfn or flag word.</summary>
    public static bool IsHex(string column) => s_hexColumns.Contains(column);

    /// <summary>Whether a column named <paramref name="column"/> counts bytes.</summary>
    public static bool IsBytes(string column) =>
        s_byteColumns.Contains(column) || column.EndsWith("_bytes", StringComparison.Ordinal);

    /// <summary><c>0x</c> and lower-case hex digits, as the kernel's <c>%lx</c> with a prefix.</summary>
    public static string Hex(ulong value) => "0x" + value.ToString("x", CultureInfo.InvariantCulture);

    /// <summary>A byte count with a binary unit: <c>90 MiB</c>, <c>1.5 KiB</c>, <c>1023 B</c>; exact multiples print without decimals.</summary>
    public static string Bytes(long value)
    {
        if (value < 0)
        {
            return "-" + Bytes(value == long.MinValue ? long.MaxValue : -value);
        }
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        int unit = 0;
        double scaled = value;
        while (scaled >= 1024 && unit < units.Length - 1)
        {
            scaled /= 1024;
            unit++;
        }
        if (unit == 0)
        {
            return value.ToString(CultureInfo.InvariantCulture) + " B";
        }
        bool exact = value % (1L << (10 * unit)) == 0;
        // Inexact values are cut (not rounded) to two decimals, so 4095 B reads 3.99 KiB, never 4 KiB.
        return (exact ? scaled : Math.Floor(scaled * 100) / 100).ToString(exact ? "0" : "0.0#", CultureInfo.InvariantCulture) + " " + units[unit];
    }

    /// <summary>The name of a <c>tlb:tlb_flush</c> reason (<c>enum tlb_flush_reason</c> in include/linux/mm_types.h).</summary>
    public static string TlbFlushReason(long reason) => reason switch
    {
        0 => "flush on task switch",
        1 => "remote shootdown",
        2 => "local shootdown",
        3 => "local mm shootdown",
        4 => "remote send ipi",
        5 => "remote wrong cpu",
        _ => "unknown",
    };

    /// <summary>A timestamp in ns as seconds with nine decimals, the way the listing prints it.</summary>
    public static string Seconds(long tsNs)
    {
        long seconds = Math.DivRem(tsNs, 1_000_000_000L, out long ns);
        if (ns < 0)
        {
            seconds--;
            ns += 1_000_000_000L;
        }
        return string.Create(CultureInfo.InvariantCulture, $"{seconds}.{ns:D9}");
    }

    /// <summary>
    /// Parses a time given on the command line: seconds as printed by the listing (<c>1234.5678</c>) or an
    /// integer with a unit (<c>ns</c>, <c>us</c>, <c>ms</c>, <c>s</c>). Exact: no floating point.
    /// </summary>
    /// <exception cref="FormatException">Not a time; names the text.</exception>
    public static long ParseTimeNs(string text)
    {
        var t = text.Trim();
        (string digits, decimal scale) = t switch
        {
            _ when t.EndsWith("ns", StringComparison.Ordinal) => (t[..^2], 1m),
            _ when t.EndsWith("us", StringComparison.Ordinal) => (t[..^2], 1_000m),
            _ when t.EndsWith("ms", StringComparison.Ordinal) => (t[..^2], 1_000_000m),
            _ when t.EndsWith('s') => (t[..^1], 1_000_000_000m),
            _ => (t, 1_000_000_000m),
        };
        if (!decimal.TryParse(digits, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out decimal value))
        {
            throw new FormatException($"'{text}' is not a time: expected seconds as the listing prints them (1234.567890) or a number with ns, us, ms or s.");
        }
        return (long)decimal.Truncate(value * scale);
    }
}
