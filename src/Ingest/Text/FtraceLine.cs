using System.Runtime.CompilerServices;
using Pipeline.Ingest.Catalog;

namespace Pipeline.Ingest.Text;

/// <summary>The prefix fields of one ftrace text event line, as offsets into the line.</summary>
internal ref struct FtraceLine
{
    public ReadOnlySpan<byte> Instance;
    public ReadOnlySpan<byte> Comm;
    public ReadOnlySpan<byte> Flags;
    public ReadOnlySpan<byte> Body;
    public int Pid;
    public int Tgid;
    public bool HasTgid;
    public int Cpu;
    public long TsNs;

    /// <summary>Latency layout (kernel <c>latency-format</c>, console dumps): the time is µs since the buffer reset.</summary>
    public bool Latency;

    /// <summary>
    /// Parses the prefix of every ftrace text layout: kernel <c>trace</c>/<c>trace_pipe</c> (optional tgid and
    /// flags columns), kernel latency format, <c>trace-cmd report</c> (optional <c>instance:</c> prefix, optional
    /// flags, <c>-l</c>). The pid is the last <c>-digits</c> that is followed by the CPU column, which is right
    /// for comms with spaces, dashes and digits (<c>spin-thr 2</c>, <c>a-1-2</c>, <c>mm work-</c>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool TryParse(ReadOnlySpan<byte> line, out FtraceLine result) =>
        // Kernel text right-aligns the comm in 16 columns: a vector search skips the padding.
        TryParse(line, line.IndexOfAnyExcept((byte)' '), out result);

    /// <summary>
    /// <see cref="TryParse(ReadOnlySpan{byte}, out FtraceLine)"/> for a caller that has already found the line's
    /// first byte other than a space (<paramref name="start"/>, -1 for none), so the padding is searched once.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool TryParse(ReadOnlySpan<byte> line, int start, out FtraceLine result)
    {
        result = default;
        if (start < 0)
        {
            start = line.Length;
        }
        int searchFrom = start + 1;
        while (searchFrom < line.Length)
        {
            int dashRel = line[searchFrom..].IndexOf((byte)'-');
            if (dashRel < 0)
            {
                return false;
            }
            int dash = searchFrom + dashRel;
            searchFrom = dash + 1;
            if (TryParseAfterDash(line, dash, ref result))
            {
                ReadOnlySpan<byte> comm = line[start..dash];
                int instanceEnd = IndexOfColonSpace(comm);
                if (instanceEnd > 0)
                {
                    result.Instance = comm[..instanceEnd];
                    comm = comm[(instanceEnd + 2)..].TrimStart((byte)' ');
                }
                result.Comm = comm;
                return true;
            }
        }
        return false;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool TryParseAfterDash(ReadOnlySpan<byte> line, int dash, ref FtraceLine r)
    {
        int p = dash + 1;
        if (!ReadInt(line, ref p, out int pid))
        {
            return false;
        }
        int spaces = SkipSpaces(line, ref p);
        if (p >= line.Length)
        {
            return false;
        }
        r.HasTgid = false;
        r.Tgid = 0;
        byte c = line[p];
        if (c == (byte)'(' && spaces > 0)
        {
            int close = line[p..].IndexOf((byte)')');
            if (close < 0)
            {
                return false;
            }
            ReadOnlySpan<byte> tgid = line[(p + 1)..(p + close)].Trim((byte)' ');
            if (AsciiNumber.TryParseDecimal(tgid, out ulong t) && t <= int.MaxValue)
            {
                r.HasTgid = true;
                r.Tgid = (int)t;
            }
            else if (tgid.IndexOfAnyExcept((byte)'-') >= 0)
            {
                return false;
            }
            p += close + 1;
            if (SkipSpaces(line, ref p) == 0 || p >= line.Length)
            {
                return false;
            }
            c = line[p];
            if (c != (byte)'[')
            {
                return false;
            }
        }
        if (c == (byte)'[' && spaces > 0)
        {
            p++;
            // A CPU at or beyond NR_CPUS is damage: the line is malformed, not stored with an impossible CPU.
            if (!ReadInt(line, ref p, out int cpu) || cpu >= TraceLimits.MaxCpus || p >= line.Length || line[p] != (byte)']')
            {
                return false;
            }
            p++;
            r.Cpu = cpu;
            SkipSpaces(line, ref p);
            int tokenEnd = IndexOfSpace(line, p);
            if (tokenEnd < 0)
            {
                return false;
            }
            ReadOnlySpan<byte> token = line.Slice(p, tokenEnd);
            if (token.Length > 0 && token[^1] == (byte)':')
            {
                r.Flags = default;
            }
            else
            {
                if (token.Length is < 3 or > 8)
                {
                    return false;
                }
                r.Flags = token;
                p += tokenEnd;
                SkipSpaces(line, ref p);
            }
            r.Latency = false;
        }
        else if (spaces > 0 && (uint)(c - '0') <= 9)
        {
            // Latency layout: the CPU number is glued to the flags ("0d..1.").
            if (!ReadInt(line, ref p, out int cpu) || cpu >= TraceLimits.MaxCpus)
            {
                return false;
            }
            int flagsEnd = line[p..].IndexOf((byte)' ');
            if (flagsEnd is < 3 or > 8)
            {
                return false;
            }
            r.Cpu = cpu;
            r.Flags = line.Slice(p, flagsEnd);
            p += flagsEnd;
            SkipSpaces(line, ref p);
            r.Latency = true;
        }
        else
        {
            return false;
        }
        if (!ReadTimestamp(line, ref p, ref r))
        {
            return false;
        }
        r.Pid = pid;
        r.Body = line[p..];
        return true;
    }

    // "526.198398: ", "526.198398079: ", "1868526798228: " or, in latency layout, "112917us+: " / "413720925us : ".
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool ReadTimestamp(ReadOnlySpan<byte> line, ref int p, ref FtraceLine r)
    {
        int s = p;
        ulong whole = Digits(line, ref p);
        if (p == s || (p - s > 19 && !AsciiNumber.TryParseDecimal(line[s..p], out whole)))
        {
            return false;
        }
        ulong ns;
        if (p < line.Length && line[p] == (byte)'.')
        {
            int f = ++p;
            ulong frac = Digits(line, ref p);
            int digits = p - f;
            if (digits is 0 or > 9)
            {
                return false;
            }
            for (int i = digits; i < 9; i++)
            {
                frac *= 10;
            }
            if (whole > long.MaxValue / 1_000_000_000L)
            {
                return false;
            }
            ns = (whole * 1_000_000_000UL) + frac;
        }
        else if (p + 1 < line.Length && line[p] == (byte)'u' && line[p + 1] == (byte)'s')
        {
            p += 2;
            if (whole > long.MaxValue / 1000L)
            {
                return false;
            }
            ns = whole * 1000UL;
            if (p < line.Length && line[p] != (byte)':')
            {
                p++; // delay mark: '$', '@', '*', '#', '!', '+' or ' '
            }
        }
        else
        {
            // Non-nanosecond clocks (x86-tsc, counter) print the raw counter; keep the ticks.
            if (whole > long.MaxValue)
            {
                return false;
            }
            ns = whole;
            if (r.Latency && p < line.Length && line[p] == (byte)' ')
            {
                p++;
            }
        }
        if (p + 1 >= line.Length || line[p] != (byte)':' || line[p + 1] != (byte)' ')
        {
            if (p + 1 == line.Length && line[p] == (byte)':')
            {
                p++;
                r.TsNs = unchecked((long)ns);
                return true;
            }
            return false;
        }
        p += 2;
        r.TsNs = unchecked((long)ns);
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool ReadInt(ReadOnlySpan<byte> line, ref int p, out int value)
    {
        int s = p;
        ulong v = Digits(line, ref p);
        value = 0;
        if (p == s || p - s > 9)
        {
            return false;
        }
        value = (int)v;
        return true;
    }

    /// <summary>
    /// Reads the digits at <paramref name="p"/> (moving it past them) and returns their value, which is exact for
    /// up to 19 digits (callers check the count; beyond it the value wraps).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Digits(ReadOnlySpan<byte> line, ref int p)
    {
        ulong v = 0;
        while (p < line.Length)
        {
            uint d = (uint)(line[p] - '0');
            if (d > 9)
            {
                break;
            }
            v = unchecked((v * 10) + d);
            p++;
        }
        return v;
    }

    // comm.IndexOf(": "u8) for a comm (16 bytes at most from the kernel): a byte loop, since a vector search's
    // set-up costs more than the few bytes it would skip (a trace-cmd instance prefix is the rare case).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int IndexOfColonSpace(ReadOnlySpan<byte> comm)
    {
        for (int i = 0; i + 1 < comm.Length; i++)
        {
            if (comm[i] == (byte)':' && comm[i + 1] == (byte)' ')
            {
                return i;
            }
        }
        return -1;
    }

    // line[p..].IndexOf((byte)' '): the flags column ("d..1." and the like) ends within a few bytes, so the first
    // 16 are looked at one by one and only a longer token (a timestamp when there are no flags) takes the search.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int IndexOfSpace(ReadOnlySpan<byte> line, int p)
    {
        ReadOnlySpan<byte> rest = line[p..];
        int head = Math.Min(rest.Length, 16);
        for (int i = 0; i < head; i++)
        {
            if (rest[i] == (byte)' ')
            {
                return i;
            }
        }
        int more = rest[head..].IndexOf((byte)' ');
        return more < 0 ? -1 : head + more;
    }

    private static int SkipSpaces(ReadOnlySpan<byte> line, ref int p)
    {
        int s = p;
        while (p < line.Length && line[p] == (byte)' ')
        {
            p++;
        }
        return p - s;
    }
}
