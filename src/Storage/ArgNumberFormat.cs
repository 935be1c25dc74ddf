using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;

namespace Pipeline.Storage;

/// <summary>How the digits of an <see cref="ArgNumberFormat"/> are written.</summary>
public enum ArgNumberStyle : byte
{
    /// <summary>Signed decimal of the value sign-extended from <see cref="ArgNumberFormat.Bits"/>.</summary>
    Signed,

    /// <summary>Unsigned decimal of the value's low <see cref="ArgNumberFormat.Bits"/>.</summary>
    Unsigned,

    /// <summary>Lower-case hexadecimal of the value's low <see cref="ArgNumberFormat.Bits"/>.</summary>
    Hex,

    /// <summary>Upper-case hexadecimal of the value's low <see cref="ArgNumberFormat.Bits"/>.</summary>
    HexUpper,
}

/// <summary>
/// How a binary reader prints a numeric payload field that goes to <see cref="EventRow.Args"/> (a printf integer
/// conversion without width or precision, after a fixed ASCII prefix such as <c>0x</c>). A row keeps such an arg
/// as the number and this format (<see cref="EventRow.AddArg(string, long, ArgNumberFormat)"/>) instead of a
/// string: the events writer prints it straight into the <c>args</c> JSON on its encoder thread, so the reader's
/// thread neither formats nor allocates it. <see cref="Format"/> gives the same text for everyone else.
/// </summary>
public sealed class ArgNumberFormat
{
    /// <summary>Longest text a value can take besides the prefix: 20 decimal digits and a sign.</summary>
    private const int MaxDigits = 21;

    private readonly byte[] _prefix;

    /// <summary>
    /// A format printing <paramref name="style"/> digits of the value's low <paramref name="bits"/> bits after
    /// <paramref name="prefix"/>.
    /// </summary>
    /// <param name="style">Decimal (signed or not) or hexadecimal.</param>
    /// <param name="bits">8, 16, 32 or 64: the C length modifier's width (hh, h, none, l/ll).</param>
    /// <param name="prefix">Printable ASCII without <c>"</c> or <c>\</c> (it is copied into JSON unescaped).</param>
    /// <param name="hexPrefixWhenNonZero">C's <c>#</c> flag: <c>0x</c> before the digits unless the (untruncated) value is 0.</param>
    /// <param name="smallAsIs">
    /// Values 0–1023 are printed in decimal as they are, whatever the bits (what the trace.dat reader has always
    /// done for a bare <c>%d</c>/<c>%u</c>; kept so outputs do not change).
    /// </param>
    /// <exception cref="ArgumentException">A prefix that would need escaping, or bits other than 8, 16, 32, 64.</exception>
    public ArgNumberFormat(ArgNumberStyle style, int bits, string prefix = "", bool hexPrefixWhenNonZero = false, bool smallAsIs = false)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        if (bits is not (8 or 16 or 32 or 64))
        {
            throw new ArgumentException($"bits must be 8, 16, 32 or 64, not {bits}", nameof(bits));
        }
        if (!IsPlainAscii(prefix))
        {
            throw new ArgumentException($"prefix '{prefix}' is not printable ASCII free of '\"' and '\\'", nameof(prefix));
        }
        Style = style;
        Bits = bits;
        Prefix = prefix;
        HexPrefixWhenNonZero = hexPrefixWhenNonZero;
        SmallAsIs = smallAsIs;
        _prefix = Encoding.ASCII.GetBytes(prefix);
    }

    public ArgNumberStyle Style { get; }

    public int Bits { get; }

    public string Prefix { get; }

    public bool HexPrefixWhenNonZero { get; }

    public bool SmallAsIs { get; }

    /// <summary>Bytes <see cref="Write"/> may need.</summary>
    public int MaxLength => _prefix.Length + 2 + MaxDigits;

    /// <summary>Whether <paramref name="prefix"/> can be a prefix: printable ASCII, nothing JSON escapes.</summary>
    public static bool IsPlainAscii(string prefix)
    {
        foreach (char c in prefix)
        {
            if (c < 0x20 || c >= 0x7F || c == '"' || c == '\\')
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>The text of <paramref name="value"/>.</summary>
    public string Format(long value)
    {
        Span<byte> bytes = stackalloc byte[MaxLength];
        return Encoding.ASCII.GetString(bytes[..Write(bytes, value)]);
    }

    /// <summary>Writes the ASCII text of <paramref name="value"/> to <paramref name="destination"/> (at least <see cref="MaxLength"/> bytes); returns its length.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public int Write(Span<byte> destination, long value)
    {
        _prefix.CopyTo(destination);
        int at = _prefix.Length;
        int written;
        bool ok;
        if (SmallAsIs && (ulong)value < 1024)
        {
            ok = ((ulong)value).TryFormat(destination[at..], out written, default, CultureInfo.InvariantCulture);
        }
        else
        {
            switch (Style)
            {
                case ArgNumberStyle.Signed:
                    long signed = Bits switch
                    {
                        8 => (sbyte)value,
                        16 => (short)value,
                        32 => (int)value,
                        _ => value,
                    };
                    ok = signed.TryFormat(destination[at..], out written, default, CultureInfo.InvariantCulture);
                    break;
                case ArgNumberStyle.Unsigned:
                    ok = Truncate(value).TryFormat(destination[at..], out written, default, CultureInfo.InvariantCulture);
                    break;
                default:
                    if (HexPrefixWhenNonZero && value != 0)
                    {
                        destination[at++] = (byte)'0';
                        destination[at++] = (byte)'x';
                    }
                    ok = Truncate(value).TryFormat(destination[at..], out written, Style == ArgNumberStyle.Hex ? "x" : "X", CultureInfo.InvariantCulture);
                    break;
            }
        }
        if (!ok)
        {
            throw new ArgumentException($"destination of {destination.Length} bytes is shorter than MaxLength ({MaxLength})", nameof(destination));
        }
        return at + written;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong Truncate(long value) => Bits == 64 ? (ulong)value : (ulong)value & ((1UL << Bits) - 1);
}
