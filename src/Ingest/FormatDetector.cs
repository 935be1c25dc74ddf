using System.Text;

namespace Pipeline.Ingest;

/// <summary>Recognises a trace format from its first bytes (trace-formats.md §1.5), never from its file name.</summary>
public static class FormatDetector
{
    /// <summary>How many leading bytes <see cref="Detect"/> wants to see.</summary>
    public const int HeadSize = 64 * 1024;

    /// <summary>The formats <c>--format</c> accepts besides <c>auto</c>.</summary>
    public static IReadOnlyList<string> Formats { get; } = ["ftrace", "tracedat", "perf", "console", "ctf"];

    private static ReadOnlySpan<byte> TraceDatMagic => [0x17, 0x08, 0x44, (byte)'t', (byte)'r', (byte)'a', (byte)'c', (byte)'i', (byte)'n', (byte)'g'];

    /// <summary>
    /// Returns the format of a trace whose (decompressed) start is <paramref name="head"/>, or null with
    /// <paramref name="reason"/> saying what was found instead.
    /// </summary>
    public static string? Detect(ReadOnlySpan<byte> head, out string reason)
    {
        reason = "";
        if (head.StartsWith(TraceDatMagic))
        {
            return "tracedat";
        }
        // CTF metadata: packetized (magic 0x75D11D57, either byte order) or plain TSDL text.
        if (head.StartsWith((ReadOnlySpan<byte>)[0x57, 0x1D, 0xD1, 0x75]) || head.StartsWith((ReadOnlySpan<byte>)[0x75, 0xD1, 0x1D, 0x57]) || head.StartsWith("/* CTF 1."u8))
        {
            return "ctf";
        }
        if (head.StartsWith("PERFILE2"u8))
        {
            reason = "this is a binary perf.data file; convert it with 'perf script --ns -F comm,tid,pid,cpu,time,event,trace,ip,sym > FILE.txt' and ingest the text";
            return null;
        }
        var text = Encoding.UTF8.GetString(head);
        bool sawConsoleDump = text.Contains("Dumping ftrace buffer:", StringComparison.Ordinal)
            || text.Contains("Dumping ftrace instance", StringComparison.Ordinal);
        int ftraceLines = 0, perfLines = 0, consoleLines = 0, lines = 0;
        bool sawTracerHeader = false, sawCpusHeader = false, sawMail = false;
        foreach (var rawLine in text.Split('\n'))
        {
            var line = rawLine.TrimEnd('\r');
            if (line.Length == 0)
            {
                continue;
            }
            lines++;
            if (lines == 1 && (line.StartsWith("cpus=", StringComparison.Ordinal) || line.StartsWith("version = ", StringComparison.Ordinal)))
            {
                sawCpusHeader = true;
            }
            if (line.StartsWith("# tracer:", StringComparison.Ordinal))
            {
                sawTracerHeader = true;
            }
            if (lines <= 30 && (line.StartsWith("From:", StringComparison.Ordinal) || line.StartsWith("Message-ID:", StringComparison.OrdinalIgnoreCase)
                || line.StartsWith("Subject:", StringComparison.Ordinal)))
            {
                sawMail = true;
            }
            if (LooksLikePrintk(line))
            {
                consoleLines++;
            }
            else if (LooksLikePerf(line))
            {
                perfLines++;
            }
            else if (LooksLikeFtrace(line))
            {
                ftraceLines++;
            }
            if (lines >= 2000)
            {
                break;
            }
        }
        if (sawConsoleDump || (sawMail && ftraceLines == 0 && perfLines == 0) || (consoleLines > 0 && consoleLines >= ftraceLines && consoleLines >= perfLines))
        {
            return "console";
        }
        if (sawTracerHeader || sawCpusHeader)
        {
            return "ftrace";
        }
        if (perfLines > 0 && perfLines >= ftraceLines)
        {
            return "perf";
        }
        if (ftraceLines > 0)
        {
            return "ftrace";
        }
        reason = lines == 0
            ? "the input is empty"
            : "no line looks like ftrace ('comm-pid [cpu] ... ts: event: ...'), perf script ('comm pid [cpu] ts: sys:event:'), a console log ('[  t] ...') or a trace.dat header";
        return null;
    }

    // "[  352.756926] ..." printk timestamps.
    private static bool LooksLikePrintk(string line)
    {
        var s = line.AsSpan().TrimStart();
        if (s.Length < 4 || s[0] != '[')
        {
            return false;
        }
        int close = s.IndexOf(']');
        if (close < 3)
        {
            return false;
        }
        var inner = s[1..close].Trim();
        int dot = inner.IndexOf('.');
        return dot > 0 && IsDigits(inner[..dot]) && IsDigits(inner[(dot + 1)..]);
    }

    // "comm  1234 [001] 123.456789: sys:event: payload" (perf script).
    private static bool LooksLikePerf(string line)
    {
        int bracket = FindCpuBracket(line, out int close);
        if (bracket < 0)
        {
            return false;
        }
        // perf puts a space between the pid and the CPU bracket; ftrace joins comm-pid and has
        // either the irq flags or the timestamp after the bracket.
        var before = line.AsSpan(0, bracket).TrimEnd();
        int space = before.LastIndexOf(' ');
        var pidPart = space < 0 ? before : before[(space + 1)..];
        int slash = pidPart.IndexOf('/');
        var pid = slash < 0 ? pidPart : pidPart[..slash];
        if (!IsDigits(pid) || (slash >= 0 && !IsDigits(pidPart[(slash + 1)..])))
        {
            return false;
        }
        if (space < 0 && slash < 0)
        {
            return false;
        }
        var after = line.AsSpan(close + 1).TrimStart();
        int colon = after.IndexOf(':');
        if (colon <= 0 || !IsTimestamp(after[..colon]))
        {
            return false;
        }
        // perf names events 'system:event:'; ftrace prints 'event: ' with a space after the colon.
        var rest = after[(colon + 1)..].TrimStart();
        int systemColon = rest.IndexOf(':');
        if (systemColon <= 0 || systemColon + 1 >= rest.Length || rest[..systemColon].IndexOf(' ') >= 0)
        {
            return false;
        }
        var name = rest[(systemColon + 1)..];
        int nameColon = name.IndexOf(':');
        return nameColon > 0 && name[..nameColon].IndexOf(' ') < 0;
    }

    // "comm-1234 [001] d..1. 123.456789: event: payload" and trace-cmd report lines.
    private static bool LooksLikeFtrace(string line)
    {
        int bracket = FindCpuBracket(line, out int close);
        if (bracket < 0)
        {
            return line.StartsWith("CPU:", StringComparison.Ordinal) || line.StartsWith("##### CPU", StringComparison.Ordinal);
        }
        var after = line.AsSpan(close + 1);
        int colon = after.IndexOf(": ");
        if (colon < 0)
        {
            return false;
        }
        var fields = after[..colon].Trim();
        int lastSpace = fields.LastIndexOf(' ');
        var ts = lastSpace < 0 ? fields : fields[(lastSpace + 1)..];
        return IsTimestamp(ts);
    }

    private static int FindCpuBracket(string line, out int close)
    {
        close = -1;
        for (int start = line.IndexOf('[', StringComparison.Ordinal); start >= 0; start = line.IndexOf('[', start + 1))
        {
            int end = line.IndexOf(']', start + 1);
            if (end < 0)
            {
                return -1;
            }
            if (end - start - 1 is >= 1 and <= 4 && IsDigits(line.AsSpan(start + 1, end - start - 1)))
            {
                close = end;
                return start;
            }
        }
        return -1;
    }

    private static bool IsTimestamp(ReadOnlySpan<char> s)
    {
        int dot = s.IndexOf('.');
        return dot < 0 ? IsDigits(s) : IsDigits(s[..dot]) && IsDigits(s[(dot + 1)..]);
    }

    private static bool IsDigits(ReadOnlySpan<char> s)
    {
        if (s.IsEmpty)
        {
            return false;
        }
        foreach (char c in s)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }
        return true;
    }
}
