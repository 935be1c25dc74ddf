using System.Text;
using Pipeline.Ingest.Catalog;
using Pipeline.Ingest.Text;

namespace Pipeline.Ingest;

/// <summary>Recognises a trace format from its first bytes (docs/trace-formats.md §2), never from its file name.</summary>
public static class FormatDetector
{
    /// <summary>How many leading bytes <see cref="Detect"/> wants to see.</summary>
    public const int HeadSize = 64 * 1024;

    /// <summary>The formats <c>--format</c> accepts besides <c>auto</c>.</summary>
    public static IReadOnlyList<string> Formats { get; } = ["ftrace", "tracedat", "perf", "console", "ctf"];

    private static ReadOnlySpan<byte> TraceDatMagic => [0x17, 0x08, 0x44, (byte)'t', (byte)'r', (byte)'a', (byte)'c', (byte)'i', (byte)'n', (byte)'g'];

    /// <summary>Whether a file starts with perf.data's magic (<c>PERFILE2</c>).</summary>
    public static bool IsPerfData(ReadOnlySpan<byte> head) => head.StartsWith("PERFILE2"u8);

    /// <summary>
    /// The one instruction mmtrace gives for a binary perf.data, wherever it meets one: the fields the perf
    /// script reader wants, naming the file when it is known.
    /// </summary>
    public static string PerfDataAdvice(string? path)
    {
        string input = path ?? "FILE";
        string text = path is null ? "FILE.txt" : Path.ChangeExtension(path, ".txt");
        return $"this is a binary perf.data file, which mmtrace does not read; convert it with 'perf script -i {input} --ns -F comm,tid,pid,cpu,time,event,trace,ip,sym > {text}' and ingest the text";
    }

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
        if (IsPerfData(head))
        {
            reason = PerfDataAdvice(null);
            return null;
        }
        if (SystraceHtmlStream.IsSystrace(head))
        {
            return "ftrace";
        }
        if (head.StartsWith((ReadOnlySpan<byte>)[0xC1, 0x1F, 0xFC, 0xC1]) || head.StartsWith((ReadOnlySpan<byte>)[0xC1, 0xFC, 0x1F, 0xC1]))
        {
            reason = "this is one stream file of a CTF trace; ingest the trace directory (the one holding 'metadata') or its metadata file";
            return null;
        }
        if (LooksBinary(head))
        {
            reason = head.Length >= 4096 && head.Length % 4096 == 0
                ? "it is binary; if these are raw ring-buffer pages (per_cpu/cpuN/trace_pipe_raw) they need the kernel's header_page and format files: record with 'mmtrace record' or 'trace-cmd extract' instead"
                : "it is binary and not a trace.dat (no \\x17\\x08Dtracing magic)";
            return null;
        }
        var text = Encoding.UTF8.GetString(head);
        if (text.Contains("Tracing meta data in file", StringComparison.Ordinal))
        {
            reason = "this is 'trace-cmd dump' output (a description of a trace.dat), not a trace; ingest the .dat itself";
            return null;
        }
        bool sawConsoleDump = text.Contains("Dumping ftrace buffer:", StringComparison.Ordinal)
            || text.Contains("Dumping ftrace instance", StringComparison.Ordinal);
        int ftraceLines = 0, perfLines = 0, consoleLines = 0, lines = 0, crashHeaders = 0, crashContext = 0;
        bool sawTracerHeader = false, sawCpusHeader = false, sawMail = false;
        int mailHeaders = 0;
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
            if (lines <= 3 && IsMailHeader(line))
            {
                mailHeaders++;
                sawMail = mailHeaders >= 3 || line.StartsWith("From ", StringComparison.Ordinal);
            }
            // The console checks read the line as the console reader does, as UTF-8 bytes: encoded once for both.
            byte[] bytes = Encoding.UTF8.GetBytes(line);
            switch (CrashReportLine(bytes))
            {
                case CrashLine.Header:
                    crashHeaders++;
                    break;
                case CrashLine.Context:
                    crashContext++;
                    break;
                default:
                    break;
            }
            if (LooksLikePrintk(bytes))
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
        // A mail (RFC 822 headers first) is read by the console reader, which decodes quoted-printable bodies. A crash
        // report pasted without printk stamps is a console log too: a header the kernel prints at the start of a line
        // ("BUG: ", "WARNING: ", "kernel BUG at ", "Oops: ", …) with the lines that follow one (the task line, "Call Trace:",
        // the RIP/pc line); ftrace and perf script lines never start that way.
        if (sawMail || sawConsoleDump || (crashHeaders > 0 && crashContext > 0) || (consoleLines > 0 && consoleLines >= ftraceLines && consoleLines >= perfLines))
        {
            return "console";
        }
        if (perfLines > 0 && perfLines >= ftraceLines)
        {
            return "perf";
        }
        if (sawTracerHeader || sawCpusHeader)
        {
            return "ftrace";
        }
        if (perfLines > 0)
        {
            return "perf";
        }
        if (ftraceLines > 0)
        {
            return "ftrace";
        }
        reason = lines == 0
            ? "the input is empty"
            : "no line looks like ftrace ('comm-pid [cpu] ... ts: event: ...'), perf script ('comm pid [cpu] ts: sys:event:'), a console log ('[  t] ...', a syslog 'host kernel: ' line, a /dev/kmsg record '6,339,5140900,-;...', or a crash report's 'BUG:'/'WARNING:'/'Oops:' line with its 'Call Trace:' or task line) or a trace.dat header";
        return null;
    }

    // "[  352.756926] ..." printk timestamps, also behind a log collector's prefix; a syslog/journal "host kernel: "
    // line and dmesg -T's "[Tue Jan 24 19:21:10 2023] " are console lines by themselves.
    private static bool LooksLikePrintk(ReadOnlySpan<byte> bytes)
    {
        if (ConsoleParser.KmsgText(bytes) > 0)
        {
            // A /dev/kmsg record: "6,339,5140900,-;message".
            return true;
        }
        int prefix = ConsoleLogPrefix.Length(bytes, out var kind);
        // A syslog line names its clock and host before "kernel: "; a bare "kernel: " at the start is too common in other
        // text ("kernel: 6.18" in a notes file) to count alone: what follows it must look like the kernel's line.
        if ((kind is ConsoleLogPrefix.Kind.Syslog && prefix > "kernel: ".Length) || kind is ConsoleLogPrefix.Kind.HumanTime)
        {
            return true;
        }
        var s = bytes[prefix..].TrimStart(" \t"u8);
        if (s.Length < 4 || s[0] != (byte)'[')
        {
            return false;
        }
        int close = s.IndexOf((byte)']');
        if (close < 3)
        {
            return false;
        }
        var inner = s[1..close].Trim((byte)' ');
        int dot = inner.IndexOf((byte)'.');
        return dot > 0 && AsciiNumber.IsDigits(inner[..dot]) && AsciiNumber.IsDigits(inner[(dot + 1)..]);
    }

    private enum CrashLine
    {
        None,
        Header,
        Context,
    }

    private static readonly byte[][] s_crashHeaders =
    [
        .. new[] { "BUG: ", "kernel BUG at ", "WARNING: ", "Oops: ", "Oops [#", "Unable to handle kernel ", "general protection fault", "Internal error: Oops" }
            .Select(Encoding.ASCII.GetBytes),
    ];

    private static readonly byte[][] s_crashContext =
    [
        .. new[] { "Call Trace:", "Call trace:", "RIP: 0010:", "EIP: ", "NIP: ", "pc : ", "PC is at ", "Hardware name: ", "page dumped because: " }
            .Select(Encoding.ASCII.GetBytes),
    ];

    // A line of a crash report as the kernel starts it (lib/bug.c, __warn, die(), dump_stack), mail quoting, a log
    // collector's prefix, the printk stamp and indentation aside.
    private static CrashLine CrashReportLine(ReadOnlySpan<byte> line)
    {
        var s = ConsoleParser.StripPrefixes(line.TrimStart(" >\t"u8), out _, out _, out _, out _, out _).TrimStart(" \t"u8);
        foreach (var header in s_crashHeaders)
        {
            if (s.StartsWith(header))
            {
                return CrashLine.Header;
            }
        }
        foreach (var context in s_crashContext)
        {
            if (s.StartsWith(context))
            {
                return CrashLine.Context;
            }
        }
        return IsTaskLine(s) ? CrashLine.Context : CrashLine.None;
    }

    // "CPU: 2 PID: 7107 Comm: trinity-c9 Not tainted 4.2.0" / "CPU: 1 UID: 0 PID: 1059 Comm: …": dump_stack's task line.
    private static bool IsTaskLine(ReadOnlySpan<byte> s) =>
        s.StartsWith("CPU: "u8) && s.IndexOf(" PID: "u8) > 0 && s.IndexOf(" Comm: "u8) > 0;

    // perf script: "comm  1234 [001] 123.456789: sys:event: payload", "comm 1234/1234 [001] …",
    // "comm 1234 123.456789:   10101010 cpu-clock: " (no CPU column) and "  123.456789:  sys:event: " (-F time,event,trace).
    // ftrace joins comm and pid with a dash ("comm-1234 [001]"), perf separates them with spaces.
    private static bool LooksLikePerf(string line)
    {
        var s = line.AsSpan().Trim();
        int tsColon = s.IndexOf(": ");
        if (tsColon < 0)
        {
            return false;
        }
        var before = s[..tsColon];
        int lastSpace = before.LastIndexOf(' ');
        if (!IsTimestamp(lastSpace < 0 ? before : before[(lastSpace + 1)..]) || before.IndexOf('.') < 0)
        {
            return false;
        }
        var rest = s[(tsColon + 2)..].TrimStart();
        if (lastSpace < 0)
        {
            return IsSystemEvent(rest);
        }
        // The token before the timestamp (or before "[cpu]") must be a pid or pid/tid preceded by a space.
        var head = before[..lastSpace].TrimEnd();
        if (head.Length > 0 && head[^1] == ']')
        {
            int open = head.LastIndexOf('[');
            if (open < 0 || !IsDigits(head[(open + 1)..^1]))
            {
                return false;
            }
            head = head[..open].TrimEnd();
        }
        int space = head.LastIndexOf(' ');
        if (space < 0)
        {
            return false;
        }
        var pid = head[(space + 1)..];
        int slash = pid.IndexOf('/');
        bool pidOk = slash < 0 ? IsDigits(pid) : IsDigits(pid[..slash]) && IsDigits(pid[(slash + 1)..]);
        if (!pidOk)
        {
            return false;
        }
        // Tracepoints print "sys:event:"; sampling events print "PERIOD name:" or "name:".
        if (IsSystemEvent(rest))
        {
            return true;
        }
        int sp = rest.IndexOf(' ');
        var first = sp < 0 ? rest : rest[..sp];
        if (IsDigits(first) && sp > 0)
        {
            rest = rest[sp..].TrimStart();
            sp = rest.IndexOf(' ');
            first = sp < 0 ? rest : rest[..sp];
        }
        return first.Length > 1 && first[^1] == ':';
    }

    private static bool IsSystemEvent(ReadOnlySpan<char> rest)
    {
        int systemColon = rest.IndexOf(':');
        if (systemColon <= 0 || systemColon + 1 >= rest.Length || rest[..systemColon].IndexOf(' ') >= 0 || rest[systemColon + 1] == ' ')
        {
            return false;
        }
        var name = rest[(systemColon + 1)..];
        int nameColon = name.IndexOf(':');
        return nameColon > 0 && name[..nameColon].IndexOf(' ') < 0;
    }

    // RFC 822 header line: "Name: value" with a token name (Return-Path, X-Original-To, Message-ID, …), or an mbox "From " line.
    private static bool IsMailHeader(string line)
    {
        if (line.StartsWith("From ", StringComparison.Ordinal))
        {
            return true;
        }
        int colon = line.IndexOf(": ", StringComparison.Ordinal);
        if (colon <= 0 || !char.IsAsciiLetter(line[0]))
        {
            return false;
        }
        foreach (char c in line.AsSpan(0, colon))
        {
            if (!char.IsAsciiLetterOrDigit(c) && c != '-')
            {
                return false;
            }
        }
        return true;
    }

    // Text traces are UTF-8 without NUL bytes; a NUL in the first few KiB means a binary file.
    private static bool LooksBinary(ReadOnlySpan<byte> head) => head[..Math.Min(head.Length, 8192)].IndexOf((byte)0) >= 0;

    // "comm-1234 [001] d..1. 123.456789: event: payload" and trace-cmd report lines.
    private static bool LooksLikeFtrace(string line)
    {
        int bracket = FindCpuBracket(line, out int close);
        if (bracket < 0)
        {
            return (line.StartsWith("CPU:", StringComparison.Ordinal) && !IsTaskLine(Encoding.UTF8.GetBytes(line))) || line.StartsWith("##### CPU", StringComparison.Ordinal);
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
