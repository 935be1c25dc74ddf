using System.Globalization;
using System.Text;
using Pipeline.Ingest.Catalog;

namespace Pipeline.Ingest.Tests.Catalog;

/// <summary>Trace numbers parsed from their bytes: every byte value, and the 64-bit limits, give what the text says.</summary>
public sealed class AsciiNumberTests
{
    [Fact]
    public void TryParseHex_EveryByte_DigitsOnly()
    {
        for (int b = 0; b < 256; b++)
        {
            bool isHex = Uri.IsHexDigit((char)b);
            Assert.Equal(isHex, AsciiNumber.TryParseHex([(byte)b], out ulong value));
            Assert.Equal(isHex ? (ulong)Convert.ToInt32(((char)b).ToString(), 16) : 0UL, value);
            // In the middle of a number as well: one bad byte fails the whole number.
            Assert.Equal(isHex, AsciiNumber.TryParseHex([(byte)'7', (byte)b, (byte)'f'], out _));
        }
    }

    [Theory]
    [InlineData("ffffffffffffffff", true, ulong.MaxValue)]
    [InlineData("FFFFFFFFFFFFFFFF", true, ulong.MaxValue)]
    [InlineData("7ffd0c3faa08", true, 0x7ffd0c3faa08UL)]
    [InlineData("10000000000000000", false, 0UL)]
    [InlineData("", false, 0UL)]
    [InlineData("0x1", false, 0UL)]
    [InlineData("12g4", false, 0UL)]
    public void TryParseHex_Limits(string text, bool ok, ulong expected)
    {
        Assert.Equal(ok, AsciiNumber.TryParseHex(Encoding.ASCII.GetBytes(text), out ulong value));
        Assert.Equal(expected, value);
    }

    [Theory]
    [InlineData("0", true)]
    [InlineData("9999999999999999999", true)]
    [InlineData("10000000000000000000", true)]
    [InlineData("18446744073709551615", true)]
    [InlineData("18446744073709551616", false)]
    [InlineData("99999999999999999999", false)]
    [InlineData("000000000000000000001", false)]
    [InlineData("12a", false)]
    [InlineData("1 2", false)]
    [InlineData("", false)]
    [InlineData("-1", false)]
    public void TryParseDecimal_Limits(string text, bool ok)
    {
        Assert.Equal(ok, AsciiNumber.TryParseDecimal(Encoding.ASCII.GetBytes(text), out ulong value));
        Assert.Equal(ok ? ulong.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture) : 0UL, value);
    }
}
