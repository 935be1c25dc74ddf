using System.Globalization;

namespace Pipeline.Replay;

/// <summary>What a page-table entry holds.</summary>
public enum EntryKind : byte
{
    /// <summary>pte_none / pmd_none.</summary>
    None = 0,
    /// <summary>Links a lower-level table.</summary>
    Table = 1,
    /// <summary>Maps a page (4K in a PTE, 2M in a PMD, 1G in a PUD).</summary>
    Leaf = 2,
    /// <summary>Non-present swap or migration entry.</summary>
    Swap = 3,
}

/// <summary>
/// Encoding of an entry value in a <see cref="long"/>: kind in the low 3 bits, payload (table id or pfn) above.
/// Text form: <c>none</c>, <c>tbl:7</c>, <c>leaf:0x1a2</c>, <c>swap:0x5</c>.
/// </summary>
public static class EntryValue
{
    /// <summary>The none entry.</summary>
    public const long None = 0;

    /// <summary>An entry linking table <paramref name="table"/>.</summary>
    public static long Table(int table) => ((long)table << 3) | (long)EntryKind.Table;

    /// <summary>An entry mapping <paramref name="pfn"/>.</summary>
    public static long Leaf(ulong pfn) => ((long)pfn << 3) | (long)EntryKind.Leaf;

    /// <summary>A swap/migration entry.</summary>
    public static long Swap(ulong payload) => ((long)payload << 3) | (long)EntryKind.Swap;

    /// <summary>The kind of <paramref name="value"/>.</summary>
    public static EntryKind KindOf(long value) => (EntryKind)(value & 7);

    /// <summary>Table id or pfn.</summary>
    public static long Payload(long value) => value >>> 3;

    /// <summary>Text form.</summary>
    public static string Format(long value) => KindOf(value) switch
    {
        EntryKind.None => "none",
        EntryKind.Table => "tbl:" + Payload(value).ToString(CultureInfo.InvariantCulture),
        EntryKind.Leaf => "leaf:0x" + Payload(value).ToString("x", CultureInfo.InvariantCulture),
        _ => "swap:0x" + Payload(value).ToString("x", CultureInfo.InvariantCulture),
    };

    /// <summary>Parses the text form; false when malformed.</summary>
    public static bool TryParse(string text, out long value)
    {
        value = 0;
        if (text == "none")
        {
            return true;
        }
        int colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0 || !OpSpec.TryParseNumber(text.AsSpan(colon + 1), out ulong payload))
        {
            return false;
        }
        switch (text.AsSpan(0, colon))
        {
            case "tbl":
                value = Table((int)payload);
                return true;
            case "leaf":
                value = Leaf(payload);
                return true;
            case "swap":
                value = Swap(payload);
                return true;
            default:
                return false;
        }
    }
}
