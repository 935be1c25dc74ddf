using System.Globalization;
using Pipeline.Ingest.TraceDat;
using Pipeline.Storage;

namespace Pipeline.Ingest.Tests.TraceDat;

/// <summary>
/// A trace.dat's numeric args are kept as numbers with an <see cref="ArgNumberFormat"/> and printed by the events
/// writer: the text must be exactly what the decoder printed before (its print-fmt conversion through
/// <see cref="PrintFormat.FormatInteger"/>, 0–1023 of a bare %d/%u from its small-number table).
/// </summary>
public sealed class ArgNumberFormatTests
{
    private static readonly long[] s_values =
    [
        0, 1, 9, 10, 127, 128, 200, 255, 256, 1023, 1024, 4095, 65535, 65536, -1, -2, -127, -128, -129, -1023, -1024,
        short.MinValue, short.MaxValue, int.MinValue, int.MaxValue, uint.MaxValue, 0x1_0000_0000, long.MinValue, long.MaxValue,
        unchecked((long)0xffff888012345678UL), 0x7fff_1234_5000,
    ];

    public static TheoryData<string, string, char, string> Conversions()
    {
        var data = new TheoryData<string, string, char, string>();
        foreach (char conversion in "diuxXp")
        {
            foreach (string length in new[] { "hh", "h", "", "l", "ll", "z" })
            {
                foreach (string flags in new[] { "", "#" })
                {
                    foreach (string prefix in new[] { "", "0x", "pfn=" })
                    {
                        data.Add(flags, length, conversion, prefix);
                    }
                }
            }
        }
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Conversions))]
    public void DirectNumberFormat_EveryValue_PrintsWhatTheConversionPrints(string flags, string length, char conversion, string prefix)
    {
        var printf = new PrintConversion(flags, 0, -1, length, conversion, "", 0);
        ArgNumberFormat? format = EventDecoder.DirectNumberFormat(printf, prefix);

        Assert.NotNull(format);
        foreach (long value in s_values)
        {
            string expected = prefix.Length == 0 && conversion is 'd' or 'i' or 'u' && (ulong)value < 1024
                ? value.ToString(CultureInfo.InvariantCulture)
                : prefix + PrintFormat.FormatInteger(printf, value);
            Assert.Equal(expected, format.Format(value));
        }
    }

    [SkippableTheory]
    [InlineData(8, -1)]
    [InlineData(0, 3)]
    [InlineData(0, 0)]
    public void DirectNumberFormat_WidthOrPrecision_LeftToTheStringPath(int width, int precision)
    {
        // %8lu pads and %.3d zero-fills: those stay strings made by FormatInteger.
        Assert.Null(EventDecoder.DirectNumberFormat(new PrintConversion("", width, precision, "l", 'u', "", 0), ""));
    }

    [SkippableFact]
    public void DirectNumberFormat_PrefixNeedingJsonEscape_LeftToTheStringPath()
    {
        Assert.Null(EventDecoder.DirectNumberFormat(new PrintConversion("", 0, -1, "l", 'u', "", 0), "a\"b"));
        Assert.Null(EventDecoder.DirectNumberFormat(new PrintConversion("", 0, -1, "", 'd', "", 0), "µ="));
    }

    [SkippableFact]
    public void Write_DestinationShorterThanMaxLength_Throws()
    {
        var format = new ArgNumberFormat(ArgNumberStyle.Signed, 64, "size=");
        var small = new byte[format.MaxLength - 20];

        Assert.Throws<ArgumentException>(() => format.Write(small, long.MinValue));
    }

    [SkippableFact]
    public void EventRowArgs_NumericAmongText_PrintedInPlaceInOrder()
    {
        var row = new EventRow();
        row.AddArg("instance", "bench");
        row.AddArg("mm_id", -7919, new ArgNumberFormat(ArgNumberStyle.Unsigned, 32));
        row.AddArg("curr", 1, new ArgNumberFormat(ArgNumberStyle.Signed, 32, smallAsIs: true));
        row.AddArg("member", "MM_ANONPAGES");
        row.AddArg("size", -16384, new ArgNumberFormat(ArgNumberStyle.Signed, 64));

        EventRow copy = row.Clone();

        string[] expected = ["instance=bench", "mm_id=4294959377", "curr=1", "member=MM_ANONPAGES", "size=-16384"];
        Assert.Equal(expected, row.Args.Select(a => $"{a.Key}={a.Value}"));
        Assert.Equal(expected, copy.Args.Select(a => $"{a.Key}={a.Value}"));
        Assert.Equal("4294959377", row.FindField("mm_id"));
        row.Clear();
        Assert.Empty(row.Args);
    }
}
