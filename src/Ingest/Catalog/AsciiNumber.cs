using System.Runtime.CompilerServices;
namespace Pipeline.Ingest.Catalog;

/// <summary>Culture-free integer parsing over ASCII bytes, as trace text prints numbers.</summary>
internal static class AsciiNumber
{
    /// <summary>Unsigned decimal digits only, no sign; fails on overflow or an empty span.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool TryParseDecimal(ReadOnlySpan<byte> s, out ulong value)
    {
        value = 0;
        if (s.IsEmpty || s.Length > 20)
        {
            return false;
        }
        ulong v = 0;
        if (s.Length < 20)
        {
            // Nineteen digits cannot overflow 64 bits: no check per digit.
            foreach (byte b in s)
            {
                uint d = (uint)(b - '0');
                if (d > 9)
                {
                    return false;
                }
                v = (v * 10) + d;
            }
            value = v;
            return true;
        }
        foreach (byte b in s)
        {
            uint d = (uint)(b - '0');
            if (d > 9)
            {
                return false;
            }
            ulong next = unchecked((v * 10) + d);
            if (v > ulong.MaxValue / 10 || next < v * 10)
            {
                return false;
            }
            v = next;
        }
        value = v;
        return true;
    }

    /// <summary>Hex digits only (no prefix), at most 16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool TryParseHex(ReadOnlySpan<byte> s, out ulong value)
    {
        value = 0;
        if (s.IsEmpty || s.Length > 16)
        {
            return false;
        }
        ulong v = 0;
        ReadOnlySpan<byte> digits = HexValues;
        foreach (byte b in s)
        {
            uint d = digits[b];
            if (d == NotHex)
            {
                return false;
            }
            v = (v << 4) | d;
        }
        value = v;
        return true;
    }

    /// <summary><c>0x</c>-prefixed hex, else decimal; a leading <c>-</c> gives the two's complement.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool TryParseInteger(ReadOnlySpan<byte> s, out ulong value)
    {
        bool negative = false;
        if (!s.IsEmpty && s[0] == (byte)'-')
        {
            negative = true;
            s = s[1..];
        }
        bool ok = HasHexPrefix(s) ? TryParseHex(s[2..], out value) : TryParseDecimal(s, out value);
        if (ok && negative)
        {
            value = unchecked(0UL - value);
        }
        return ok;
    }

    /// <summary>Whether <paramref name="s"/> starts with <c>0x</c> or <c>0X</c>.</summary>
    public static bool HasHexPrefix(ReadOnlySpan<byte> s) => s.Length > 2 && s[0] == (byte)'0' && (s[1] | 0x20) == (byte)'x';

    private const byte NotHex = 0xFF;

    // Every byte's hex value, NotHex for the bytes that are not hex digits: one load per digit instead of range tests.
    private static ReadOnlySpan<byte> HexValues =>
    [
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 10, 11, 12, 13, 14, 15, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 10, 11, 12, 13, 14, 15, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    ];

    /// <summary>The value of a hex digit, or -1.</summary>
    public static int HexDigit(byte b)
    {
        uint d = (uint)(b - '0');
        if (d <= 9)
        {
            return (int)d;
        }
        uint l = (uint)((b | 0x20) - 'a');
        return l <= 5 ? (int)l + 10 : -1;
    }

    /// <summary>Whether every byte is a decimal digit (and there is at least one).</summary>
    public static bool IsDigits(ReadOnlySpan<byte> s)
    {
        if (s.IsEmpty)
        {
            return false;
        }
        foreach (byte b in s)
        {
            if ((uint)(b - '0') > 9)
            {
                return false;
            }
        }
        return true;
    }
}
