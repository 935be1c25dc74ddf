using System.Globalization;
using System.Text.RegularExpressions;

namespace Pipeline.Ingest.TraceDat;

/// <summary>
/// The event-header description from <c>events/header_event</c>: bit widths of type_len/time_delta and the
/// type_len values of padding, TIME_EXTEND and TIME_STAMP. The page walker relies on the values every kernel
/// has used (5/27 bits, 29/30/31, data up to 28); anything else is rejected rather than misread.
/// </summary>
public sealed partial class HeaderEvent
{
    private HeaderEvent(int typeLenBits, int timeDeltaBits, int padding, int timeExtend, int timeStamp, int dataMaxTypeLen)
    {
        TypeLenBits = typeLenBits;
        TimeDeltaBits = timeDeltaBits;
        Padding = padding;
        TimeExtend = timeExtend;
        TimeStamp = timeStamp;
        DataMaxTypeLen = dataMaxTypeLen;
    }

    /// <summary>Bits of type_len (5).</summary>
    public int TypeLenBits { get; }

    /// <summary>Bits of time_delta (27).</summary>
    public int TimeDeltaBits { get; }

    /// <summary>type_len of padding (29).</summary>
    public int Padding { get; }

    /// <summary>type_len of TIME_EXTEND (30).</summary>
    public int TimeExtend { get; }

    /// <summary>type_len of an absolute TIME_STAMP (31).</summary>
    public int TimeStamp { get; }

    /// <summary>Largest type_len of a data event (28).</summary>
    public int DataMaxTypeLen { get; }

    /// <summary>Whether these are the values <see cref="RingBufferPageReader"/> decodes.</summary>
    public bool IsStandard => (TypeLenBits, TimeDeltaBits, Padding, TimeExtend, TimeStamp, DataMaxTypeLen) == (5, 27, 29, 30, 31, 28);

    /// <summary>Parses the text of <c>events/header_event</c>; missing lines take the standard values.</summary>
    /// <exception cref="FormatException">A value is not a number.</exception>
    public static HeaderEvent Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int Value(Regex pattern, int standard)
        {
            var m = pattern.Match(text);
            if (!m.Success)
            {
                return standard;
            }
            return int.TryParse(m.Groups[1].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out int v)
                ? v
                : throw new FormatException($"header_event: expected a number in '{m.Value.Trim()}'.");
        }
        return new HeaderEvent(
            Value(TypeLenBitsPattern(), 5),
            Value(TimeDeltaBitsPattern(), 27),
            Value(PaddingPattern(), 29),
            Value(TimeExtendPattern(), 30),
            Value(TimeStampPattern(), 31),
            Value(DataMaxPattern(), 28));
    }

    [GeneratedRegex(@"type_len\s*:\s*(\d+)\s*bits")]
    private static partial Regex TypeLenBitsPattern();

    [GeneratedRegex(@"time_delta\s*:\s*(\d+)\s*bits")]
    private static partial Regex TimeDeltaBitsPattern();

    [GeneratedRegex(@"padding\s*:\s*type\s*==\s*(\d+)")]
    private static partial Regex PaddingPattern();

    [GeneratedRegex(@"time_extend\s*:\s*type\s*==\s*(\d+)")]
    private static partial Regex TimeExtendPattern();

    [GeneratedRegex(@"time_stamp\s*:\s*type\s*==\s*(\d+)")]
    private static partial Regex TimeStampPattern();

    [GeneratedRegex(@"data max type_len\s*==\s*(\d+)")]
    private static partial Regex DataMaxPattern();
}
