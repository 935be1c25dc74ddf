using System.Runtime.CompilerServices;
namespace Pipeline.Ingest.Perf;

/// <summary>
/// The pieces of one <c>perf script</c> sample line, as byte ranges of the line. perf prints the
/// selected <c>-F</c> fields in a fixed order (comm, pid/tid, [cpu], time, period, event, trace,
/// ip sym), dropping the unselected ones, so each piece is optional except the event.
/// </summary>
internal ref struct PerfLine
{
    public ReadOnlySpan<byte> Comm;
    public bool HasComm;
    public int Tid;
    public bool HasTid;
    public int Pid;
    public bool HasPid;
    public int Cpu;
    public bool HasCpu;
    public long TimeNs;
    public bool HasTime;
    public ReadOnlySpan<byte> Period;
    public ReadOnlySpan<byte> Event;
    public ReadOnlySpan<byte> Payload;
    public ReadOnlySpan<byte> InlineFrame;

    /// <summary>
    /// Splits <paramref name="line"/>; on failure <paramref name="error"/> says what was expected.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool TryParse(ReadOnlySpan<byte> line, out PerfLine parsed, out string? error)
    {
        parsed = default;
        error = null;

        // Anchor on the time token (digits '.' digits ':'): the comm before it is free text
        // (spaces, digits, colons: "mm work-1", "kworker/1:3"), so it cannot be tokenised from the left.
        int eventStart;
        if (FindTimeToken(line, out int timeStart, out int timeEnd))
        {
            if (!TryParseTime(line[timeStart..(timeEnd - 1)], out parsed.TimeNs))
            {
                error = $"time '{Show(line[timeStart..timeEnd])}' out of range";
                return false;
            }
            parsed.HasTime = true;
            if (!TryParsePrefix(line[..timeStart], ref parsed, out error))
            {
                return false;
            }
            eventStart = timeEnd;
        }
        else
        {
            // Without a time column (-F without time) the event follows the [cpu] column or starts the line.
            int cpuEnd = FindCpuToken(line);
            int prefixEnd = cpuEnd < 0 ? 0 : cpuEnd;
            if (cpuEnd >= 0 && !TryParsePrefix(line[..cpuEnd], ref parsed, out error))
            {
                return false;
            }
            eventStart = prefixEnd;
        }

        int pos = SkipSpaces(line, eventStart);
        int tokenEnd = TokenEnd(line, pos);

        // The sample period (hardware/software events: "10101010 cpu-clock:") precedes the event name.
        if (tokenEnd > pos && IsAllDigits(line[pos..tokenEnd]) && tokenEnd < line.Length)
        {
            parsed.Period = line[pos..tokenEnd];
            pos = SkipSpaces(line, tokenEnd);
            tokenEnd = TokenEnd(line, pos);
        }

        if (tokenEnd - pos < 2 || line[tokenEnd - 1] != (byte)':')
        {
            error = $"expected '<event>:' after the {(parsed.HasTime ? "time" : "header")} columns, found '{Show(line[pos..tokenEnd])}'";
            return false;
        }
        parsed.Event = line[pos..(tokenEnd - 1)];

        var payload = tokenEnd < line.Length ? line[(tokenEnd + 1)..] : [];
        payload = payload.TrimEnd((byte)' ');
        if (TrySplitInlineFrame(payload, out var rest, out var frame))
        {
            payload = rest;
            parsed.InlineFrame = frame;
        }
        parsed.Payload = payload;
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool FindTimeToken(ReadOnlySpan<byte> line, out int start, out int end)
    {
        // The first space-separated token that is a time. A time ends in ':', so only the tokens that end at a ':'
        // are looked at, in order: one search for the time's colon instead of one per token before it.
        int from = 0;
        while (true)
        {
            int colon = line[from..].IndexOf((byte)':');
            if (colon < 0)
            {
                break;
            }
            colon += from;
            from = colon + 1;
            if (from < line.Length && line[from] != (byte)' ')
            {
                continue;
            }
            int tokenStart = line[..colon].LastIndexOf((byte)' ') + 1;
            if (IsTimeToken(line[tokenStart..from]))
            {
                start = tokenStart;
                end = from;
                return true;
            }
        }
        start = end = -1;
        return false;
    }

    private static bool IsTimeToken(ReadOnlySpan<byte> token)
    {
        // secs.frac: — at least one digit on each side of the dot.
        if (token.Length < 4 || token[^1] != (byte)':')
        {
            return false;
        }
        int dot = token.IndexOf((byte)'.');
        return dot > 0 && dot < token.Length - 2
            && IsAllDigits(token[..dot])
            && IsAllDigits(token[(dot + 1)..^1]);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool TryParseTime(ReadOnlySpan<byte> text, out long ns)
    {
        int dot = text.IndexOf((byte)'.');
        var secs = text[..dot];
        var frac = text[(dot + 1)..];
        ns = 0;
        if (secs.Length > 10 || frac.Length > 9)
        {
            return false;
        }
        long s = 0;
        foreach (byte b in secs)
        {
            s = (s * 10) + (b - '0');
        }
        long f = 0;
        foreach (byte b in frac)
        {
            f = (f * 10) + (b - '0');
        }
        for (int i = frac.Length; i < 9; i++)
        {
            f *= 10;
        }
        ns = (s * 1_000_000_000L) + f;
        return true;
    }

    /// <summary>Parses "[comm] [pid/tid | tid] [[cpu]]" right to left.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool TryParsePrefix(ReadOnlySpan<byte> prefix, ref PerfLine parsed, out string? error)
    {
        error = null;
        var rest = prefix.TrimEnd((byte)' ');
        if (rest.Length > 0 && rest[^1] == (byte)']')
        {
            int open = rest.LastIndexOf((byte)'[');
            if (open < 0 || (open > 0 && rest[open - 1] != (byte)' ') || !TryParseInt(rest[(open + 1)..^1], out parsed.Cpu))
            {
                error = $"expected '[<cpu>]' before the time, found '{Show(rest)}'";
                return false;
            }
            if (parsed.Cpu >= TraceLimits.MaxCpus)
            {
                error = $"expected a cpu below {TraceLimits.MaxCpus} (Linux's NR_CPUS limit), found '{Show(rest[open..])}'";
                return false;
            }
            parsed.HasCpu = true;
            rest = rest[..open].TrimEnd((byte)' ');
        }

        int tokenStart = rest.LastIndexOf((byte)' ') + 1;
        var last = rest[tokenStart..];
        int slash = last.IndexOf((byte)'/');
        if (slash > 0 && TryParseInt(last[..slash], out int pid) && TryParseInt(last[(slash + 1)..], out int tid))
        {
            parsed.Pid = pid;
            parsed.HasPid = true;
            parsed.Tid = tid;
            parsed.HasTid = true;
            rest = rest[..tokenStart];
        }
        else if (last.Length > 0 && TryParseInt(last, out tid))
        {
            parsed.Tid = tid;
            parsed.HasTid = true;
            rest = rest[..tokenStart];
        }
        else if (IsPidColumn(last))
        {
            // Digits where perf prints the tid (or pid/tid) that do not fit pid_t: damage, not the end of the comm
            // (a comm is at most 15 bytes, and one of digits alone would have been read as the tid).
            error = $"expected a tid (or pid/tid) that fits pid_t (0..{int.MaxValue}), found '{Show(last)}'";
            return false;
        }

        var comm = rest.Trim((byte)' ');
        if (comm.Length > 0)
        {
            parsed.Comm = comm;
            parsed.HasComm = true;
        }
        return true;
    }

    private static int FindCpuToken(ReadOnlySpan<byte> line)
    {
        int pos = 0;
        while (pos < line.Length)
        {
            pos = SkipSpaces(line, pos);
            int tokenEnd = TokenEnd(line, pos);
            var token = line[pos..tokenEnd];
            if (token.Length >= 3 && token[0] == (byte)'[' && token[^1] == (byte)']' && IsAllDigits(token[1..^1]))
            {
                return tokenEnd;
            }
            if (token.Length > 0 && token[^1] == (byte)':')
            {
                return -1;
            }
            pos = tokenEnd;
        }
        return -1;
    }

    /// <summary>
    /// With <c>-F ...,ip,sym[,dso]</c> and no callchain, perf appends " %16lx sym[ (dso)]" to the trace text.
    /// The 16-wide, space-padded hex column is what tells it apart from payload text.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool TrySplitInlineFrame(ReadOnlySpan<byte> payload, out ReadOnlySpan<byte> rest, out ReadOnlySpan<byte> frame)
    {
        rest = payload;
        frame = default;
        var text = payload;
        if (text.Length > 0 && text[^1] == (byte)')')
        {
            int open = text.LastIndexOf(" ("u8);
            if (open < 0)
            {
                return false;
            }
            text = text[..open];
        }
        int symStart = text.LastIndexOf((byte)' ') + 1;
        if (symStart <= 17 || symStart == text.Length)
        {
            return false;
        }
        var address = text[(symStart - 17)..(symStart - 1)];
        if (text[symStart - 18] != (byte)' ')
        {
            return false;
        }
        var digits = address.TrimStart((byte)' ');
        if (digits.Length == 0 || !IsAllHex(digits))
        {
            return false;
        }
        frame = payload[(symStart - 1 - digits.Length)..];
        rest = payload[..(symStart - 18)].TrimEnd((byte)' ');
        return true;
    }

    // "12345" or "12345/12346": only digits, at most one slash between two runs of them.
    private static bool IsPidColumn(ReadOnlySpan<byte> token)
    {
        int slash = token.IndexOf((byte)'/');
        return slash < 0
            ? token.Length > 0 && token.IndexOfAnyExceptInRange((byte)'0', (byte)'9') < 0
            : IsPidColumn(token[..slash]) && slash + 1 < token.Length && token[(slash + 1)..].IndexOfAnyExceptInRange((byte)'0', (byte)'9') < 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool TryParseInt(ReadOnlySpan<byte> text, out int value)
    {
        value = 0;
        if (text.Length == 0 || text.Length > 10)
        {
            return false;
        }
        long v = 0;
        foreach (byte b in text)
        {
            if ((uint)(b - '0') > 9)
            {
                return false;
            }
            v = (v * 10) + (b - '0');
        }
        if (v > int.MaxValue)
        {
            return false;
        }
        value = (int)v;
        return true;
    }

    private static bool IsAllDigits(ReadOnlySpan<byte> text) =>
        text.Length > 0 && !text.ContainsAnyExceptInRange((byte)'0', (byte)'9');

    private static bool IsAllHex(ReadOnlySpan<byte> text)
    {
        foreach (byte b in text)
        {
            if (!char.IsAsciiHexDigitLower((char)b) && (uint)(b - '0') > 9)
            {
                return false;
            }
        }
        return true;
    }

    // perf pads its columns with runs of spaces (the comm to 16, the event name to 20): a vector search skips them.
    private static int SkipSpaces(ReadOnlySpan<byte> line, int pos)
    {
        int other = line[pos..].IndexOfAnyExcept((byte)' ');
        return other < 0 ? line.Length : pos + other;
    }

    private static int TokenEnd(ReadOnlySpan<byte> line, int pos)
    {
        int space = line[pos..].IndexOf((byte)' ');
        return space < 0 ? line.Length : pos + space;
    }

    /// <summary>Text of a byte range for an error message, cut to keep messages short.</summary>
    public static string Show(ReadOnlySpan<byte> bytes)
    {
        const int Max = 80;
        var text = System.Text.Encoding.UTF8.GetString(bytes.Length > Max ? bytes[..Max] : bytes);
        return bytes.Length > Max ? text + "..." : text;
    }
}
