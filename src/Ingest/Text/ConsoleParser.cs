using Pipeline.Ingest.Catalog;
using System.Text;
using Pipeline.Storage;

namespace Pipeline.Ingest.Text;

/// <summary>Per-line state machine of <see cref="ConsoleLogReader"/> over lines already decoded from mail.</summary>
internal sealed class ConsoleParser
{
    private static readonly int s_pfn = EventSchema.TryGetField("pfn", out EventColumn? column) ? column.Ordinal : throw new InvalidOperationException("no pfn column");
    // ftrace_dump's latency format prints the comm "%8.8s" (kernel/trace/trace_output.c, lat_print_generic).
    private const int DumpCommWidth = 8;

    private static readonly byte[] s_dashes = "---------------------------------"u8.ToArray();

    private readonly FtraceTextCore _core;
    private readonly IngestDiagnostics _diagnostics;
    private readonly CrashCollector _crashes;
    private bool _inDump;
    private bool _dumpStarted;
    private bool _stopped;
    private EventRow? _crash;
    private long _crashLine;
    private bool _inCallTrace;
    private bool _inTask;

    public ConsoleParser(FtraceTextCore core, IngestDiagnostics diagnostics, string fileName)
    {
        _core = core;
        _diagnostics = diagnostics;
        _crashes = new CrashCollector(fileName, diagnostics);
    }

    /// <summary>Takes one line of the log; <paramref name="quoteDepth"/> is its mail quote depth (0 outside mails).</summary>
    public void Line(ReadOnlySpan<byte> line, long lineNumber, int quoteDepth = 0)
    {
        if (KmsgText(line) is int text and > 0 && line[text..].IndexOf((byte)'\\') >= 0)
        {
            // A /dev/kmsg record escapes its newlines (and every other control byte and '\\') as \xNN: it is one record
            // of several lines, as dmesg prints it (an ftrace dump's "CPU:1 [LOST 36276 EVENTS]" and the entry after
            // it; an event whose print format ends in a newline). Each line gets the record's prefix. A '\\' that starts
            // no escape (a record cut inside one, "…\x0" at the end of a capture) is damage: the line it is in is
            // counted malformed, the lines before it are read.
            byte[] unescaped = KmsgUnescape(line, text, out int damaged);
            int start = text;
            for (int nl = unescaped.AsSpan(start).IndexOf((byte)'\n'); ; nl = unescaped.AsSpan(start).IndexOf((byte)'\n'))
            {
                int end = nl < 0 ? unescaped.Length : start + nl;
                byte[] part = [.. unescaped.AsSpan(0, text), .. unescaped.AsSpan(start, end - start)];
                if (damaged >= start && damaged < end)
                {
                    if (!_stopped)
                    {
                        _core.Malformed(lineNumber, "a /dev/kmsg record whose every '\\' starts an escape \\xNN", part);
                    }
                }
                else
                {
                    LineCore(part, lineNumber, quoteDepth);
                }
                if (nl < 0)
                {
                    return;
                }
                start = end + 1;
            }
        }
        LineCore(line, lineNumber, quoteDepth);
    }

    private void LineCore(ReadOnlySpan<byte> line, long lineNumber, int quoteDepth)
    {
        if (_stopped)
        {
            _diagnostics.SkippedLines++;
            return;
        }
        // syzkaller reports repeat the crash, without printk prefixes, after a "REPORT:" line.
        if (line.SequenceEqual("REPORT:"u8))
        {
            _stopped = true;
            _diagnostics.SkippedLines++;
            return;
        }
        if (quoteDepth > 0 && line.Length > 1 && line[0] == (byte)' ' && (line[1] == (byte)'[' || line[1] == (byte)'<'))
        {
            // "> [  10.000001] …": the space after the quote mark is the mail's, not the console's.
            line = line[1..];
        }
        ReadOnlySpan<byte> body = StripPrefixes(line, out long tsNs, out int cpu, out int pid, out bool prefixed, out bool cpuCaller);
        if (!prefixed && GluedRecord(line) is int glued and > 0)
        {
            // Firmware or a boot loader left its last line unterminated (a serial console capture): the kernel's first
            // record follows on the same line.
            _diagnostics.SkippedLines++;
            body = StripPrefixes(line[glued..], out tsNs, out cpu, out pid, out prefixed, out cpuCaller);
        }
        if (tsNs == StampOverflow)
        {
            _core.Malformed(lineNumber, "a printk stamp of at most 9223372036.854775807 seconds (9223372036854775 microseconds in a /dev/kmsg record)", line);
            return;
        }
        bool crashHeader = !_inDump && _crashes.Wants(body) && _crashes.Line(
            Encoding.UTF8.GetString(body), prefixed ? tsNs : null, pid, cpuCaller ? cpu : -1, lineNumber, quoteDepth);
        if (quoteDepth > 0)
        {
            // Quoted text is an older message: its crash report is kept (above, with its quote depth), its trace
            // lines are not events of this message's timeline.
            if (FtraceLine.TryParse(body, out _))
            {
                _diagnostics.QuotedLinesDropped++;
            }
            else
            {
                _diagnostics.SkippedLines++;
            }
            return;
        }
        if (_crash is not null && (_crash.SrcPos != _crashLine || !_core.IsPending(_crash)))
        {
            // Written out (and its row reused) while other events went by: its stack can no longer be added.
            _crash = null;
            _inCallTrace = false;
        }
        if (_inCallTrace && CallTraceLine(body))
        {
            return;
        }
        if (body.StartsWith("Dumping ftrace "u8))
        {
            _inDump = true;
            _dumpStarted = false;
            _diagnostics.SkippedLines++;
            return;
        }
        if (_inDump && (body.SequenceEqual(s_dashes) || body.Trim((byte)' ').SequenceEqual("(ftrace buffer empty)"u8)))
        {
            _inDump = !_dumpStarted && body[0] == (byte)'-';
            _dumpStarted = true;
            _diagnostics.SkippedLines++;
            return;
        }
        if (crashHeader && TryCrashHeader(body, tsNs, cpu, pid, lineNumber))
        {
            return;
        }
        if (body.SequenceEqual("Call Trace:"u8))
        {
            _inCallTrace = _crash is not null;
            _inTask = false;
            _core.SetStackTarget(_crash);
            _diagnostics.SkippedLines++;
            return;
        }
        if (_crash is not null && body.StartsWith("CPU: "u8))
        {
            CrashContext(body);
        }
        if (_inDump && FtraceLine.TryParse(body, out FtraceLine entry) && entry.Latency && entry.Comm.Length > DumpCommWidth)
        {
            // ftrace_dump prints the comm "%8.8s": a wider one holds another writer's text before the entry (a
            // /dev/kmsg record whose prefix is damaged, "0,411,-1,-;    init-1 …", read whole as the comm).
            _core.Malformed(lineNumber, "an ftrace dump line 'comm-pid cpu+flags time: event: payload' whose comm has at most 8 bytes (%8.8s)", line);
            return;
        }
        TraceLineKind kind = _core.Process(body, lineNumber);
        switch (kind)
        {
            case TraceLineKind.Event:
            case TraceLineKind.StackFrame:
                return;
            case TraceLineKind.Unrecognized when _inDump || LooksLikeDamagedTrace(line):
                _core.Malformed(lineNumber, _inDump || prefixed ? "an ftrace dump line 'comm-pid cpu+flags time: event: payload'" : "a console line with a printk prefix '[ seconds.micros] '", line);
                return;
            default:
                _diagnostics.SkippedLines++;
                return;
        }
    }

    /// <summary>Counts a line cut at <see cref="Utf8LineReader.MaxLineLength"/> as malformed.</summary>
    public void Truncated(ReadOnlySpan<byte> line, long lineNumber) => _core.Truncated(line, lineNumber);

    /// <summary>Writes what is left and returns the number of events produced.</summary>
    public long Finish()
    {
        _crashes.Finish();
        _core.Flush();
        return _core.Events;
    }

    // An interleaved console splices one printk into another: what is left has a frame arrow or a latency
    // timestamp but no intact prefix.
    private static bool LooksLikeDamagedTrace(ReadOnlySpan<byte> line)
    {
        // A stack frame's arrow " => func+0x…/0x…" stands after a blank; "==>" is prose or a payload (sched_switch's
        // "prev_state=S ==> next_comm=…", e820's "usable ==> reserved" at boot), not a frame.
        for (int at = line.IndexOf("=> "u8); at >= 0; at = NextArrow(line, at))
        {
            if (at == 0 || line[at - 1] == (byte)' ')
            {
                return true;
            }
        }
        // A latency timestamp "123us" + delay mark + ": " left in a line that did not parse.
        for (int at = line.IndexOf("us"u8); at >= 0 && at + 4 < line.Length; at = NextUs(line, at))
        {
            if (at > 0 && (uint)(line[at - 1] - '0') <= 9 && line[at + 3] == (byte)':' && line[at + 4] == (byte)' ')
            {
                return true;
            }
        }
        return false;
    }

    private static int NextArrow(ReadOnlySpan<byte> line, int at)
    {
        int next = line[(at + 3)..].IndexOf("=> "u8);
        return next < 0 ? -1 : at + 3 + next;
    }

    private static int NextUs(ReadOnlySpan<byte> line, int at)
    {
        int next = line[(at + 2)..].IndexOf("us"u8);
        return next < 0 ? -1 : at + 2 + next;
    }

    private bool CallTraceLine(ReadOnlySpan<byte> body)
    {
        if (body.Length > 0 && body[0] == (byte)' ')
        {
            ReadOnlySpan<byte> frame = body.Trim((byte)' ');
            if (frame.SequenceEqual("</TASK>"u8))
            {
                EndCallTrace();
            }
            else if (frame.SequenceEqual("<TASK>"u8))
            {
                _inTask = true;
            }
            else if (!(frame.Length > 2 && frame[0] == (byte)'<' && frame[^1] == (byte)'>'))
            {
                _core.AddFrame(_core.Intern(frame));
            }
            _diagnostics.SkippedLines++;
            return true;
        }
        if (_inTask)
        {
            // Register dumps of the user part ("RIP: 0033:…") sit inside <TASK> … </TASK>.
            _diagnostics.SkippedLines++;
            return true;
        }
        EndCallTrace();
        return false;
    }

    private void EndCallTrace()
    {
        _inCallTrace = false;
        _inTask = false;
        _crash = null;
        _core.SetStackTarget(null);
    }

    private bool TryCrashHeader(ReadOnlySpan<byte> body, long tsNs, int cpu, int pid, long lineNumber)
    {
        ReadOnlySpan<byte> text = body.StartsWith("watchdog: "u8) ? body[10..] : body.StartsWith("NMI watchdog: "u8) ? body[14..] : body;
        string? name = null;
        if (text.StartsWith("BUG: Bad page state"u8))
        {
            name = ConsoleEvents.BadPageState;
        }
        else if (text.StartsWith("BUG: "u8) || text.StartsWith("kernel BUG at "u8))
        {
            name = ConsoleEvents.Bug;
        }
        else if (text.StartsWith("WARNING: "u8))
        {
            name = ConsoleEvents.Warning;
        }
        else if (text.StartsWith("general protection fault"u8) || text.StartsWith("Oops: general protection fault"u8))
        {
            name = ConsoleEvents.GeneralProtectionFault;
        }
        else if (text.StartsWith("Oops: "u8))
        {
            name = ConsoleEvents.Oops;
        }
        if (name is null)
        {
            return false;
        }
        EventRow row = _core.NextRow();
        row.Event = name;
        row.TsNs = tsNs;
        row.Cpu = cpu;
        row.Pid = pid;
        row.SrcPos = lineNumber;
        row.AddArg(ConsoleEvents.HeaderArg, _core.Intern(body));
        // ts_ns of a crash header is printk time, not the ftrace dump's trace clock: say so on the row.
        row.AddArg(ConsoleEvents.ClockArg, ConsoleEvents.PrintkClock);
        if (_crashes.Current is { PagePfn: ulong pfn })
        {
            row.SetUInt64(s_pfn, pfn);
        }
        _crash = row;
        _crashLine = lineNumber;
        _inCallTrace = false;
        _core.SetStackTarget(null);
        return true;
    }

    // "CPU: 1 UID: 0 PID: 5827 Comm: syz-executor187 Not tainted …" names the task of the crash above.
    private void CrashContext(ReadOnlySpan<byte> body)
    {
        if (ReadNumberAfter(body, "CPU: "u8) is int cpu)
        {
            _crash!.Cpu = cpu;
        }
        if (ReadNumberAfter(body, "PID: "u8) is int pid)
        {
            _crash!.Pid = pid;
        }
        int comm = body.IndexOf(" Comm: "u8);
        if (comm >= 0)
        {
            ReadOnlySpan<byte> rest = body[(comm + 7)..];
            int end = rest.IndexOf((byte)' ');
            _crash!.Comm = _core.Intern(end < 0 ? rest : rest[..end]);
        }
    }

    private static int? ReadNumberAfter(ReadOnlySpan<byte> body, ReadOnlySpan<byte> key)
    {
        int at = body.IndexOf(key);
        if (at < 0)
        {
            return null;
        }
        ReadOnlySpan<byte> rest = body[(at + key.Length)..];
        int end = rest.IndexOfAnyExceptInRange((byte)'0', (byte)'9');
        ReadOnlySpan<byte> digits = end < 0 ? rest : rest[..end];
        return digits.Length is > 0 and < 10 && AsciiNumber.TryParseDecimal(digits, out ulong v) ? (int)v : null;
    }

    /// <summary>
    /// Where the message of a <c>/dev/kmsg</c> record starts (after the <c>;</c> of
    /// <c>LEVEL,SEQ,MICROSECONDS,FLAGS[,KEY=VALUE…];</c>), or -1 when <paramref name="line"/> is not one.
    /// </summary>
    internal static int KmsgText(ReadOnlySpan<byte> line)
    {
        int semicolon = line.Length > 64 ? line[..64].IndexOf((byte)';') : line.IndexOf((byte)';');
        if (semicolon < 7 || (uint)(line[0] - '0') > 9)
        {
            return -1;
        }
        ReadOnlySpan<byte> fields = line[..semicolon];
        int numbers = 0;
        foreach (Range range in fields.Split((byte)','))
        {
            ReadOnlySpan<byte> field = fields[range];
            if (numbers < 3)
            {
                if (field.IsEmpty || !AsciiNumber.IsDigits(field))
                {
                    return -1;
                }
                numbers++;
            }
            else if (numbers == 3)
            {
                // The flags: '-', or 'c' for a continuation (older kernels), '+' for a fragment.
                if (field.Length != 1 || field[0] is not ((byte)'-' or (byte)'c' or (byte)'+'))
                {
                    return -1;
                }
                numbers++;
            }
        }
        return numbers == 4 ? semicolon + 1 : -1;
    }

    /// <summary>The record with its escapes undone; <paramref name="damaged"/>: where in it the first '\\' that starts no
    /// escape \xNN landed, or -1.</summary>
    private static byte[] KmsgUnescape(ReadOnlySpan<byte> line, int text, out int damaged)
    {
        var output = new byte[line.Length];
        line[..text].CopyTo(output);
        int n = text;
        damaged = -1;
        for (int i = text; i < line.Length; i++)
        {
            if (line[i] == (byte)'\\' && i + 3 < line.Length && line[i + 1] == (byte)'x' && Hex(line[i + 2]) is int hi and >= 0 && Hex(line[i + 3]) is int lo and >= 0)
            {
                output[n++] = (byte)((hi << 4) | lo);
                i += 3;
            }
            else
            {
                if (line[i] == (byte)'\\' && damaged < 0)
                {
                    damaged = n;
                }
                output[n++] = line[i];
            }
        }
        return output[..n];
    }

    private static int Hex(byte b) => b switch
    {
        >= (byte)'0' and <= (byte)'9' => b - '0',
        >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
        _ => -1,
    };

    /// <summary>
    /// Where a printk record starts inside a line that another writer began, or -1: after the terminal control sequences
    /// (ESC …) that firmware and boot loaders print on a serial console (SeaBIOS clears the screen with <c>ESC c</c>,
    /// <c>ESC [2J</c>), or at the kernel's banner (<c>[    0.000000] Linux version …</c>), the first record a boot prints,
    /// which is the one glued to a boot loader's unterminated "… ok".
    /// </summary>
    internal static int GluedRecord(ReadOnlySpan<byte> line)
    {
        int escape = line.LastIndexOf((byte)0x1B);
        for (int at = line.IndexOf((byte)'['); at > 0; at = line[(at + 1)..].IndexOf((byte)'[') is int next and >= 0 ? at + 1 + next : -1)
        {
            if (at <= escape)
            {
                continue;
            }
            ReadOnlySpan<byte> rest = StripPrefixes(line[at..], out _, out _, out _, out bool prefixed, out _);
            if (prefixed && (escape >= 0 || rest.StartsWith("Linux version "u8)))
            {
                return at;
            }
        }
        return -1;
    }

    /// <summary>The <c>tsNs</c> of <see cref="StripPrefixes"/> for a printk stamp past 64-bit nanoseconds (a bit flip, a
    /// /dev/kmsg microseconds field of 16 or more digits): the kernel's clock never gets there.</summary>
    internal const long StampOverflow = long.MinValue;

    /// <summary>
    /// Strips a log collector's prefix (syslog, journalctl, <c>dmesg -T</c>, ISO or CI clock times:
    /// <see cref="ConsoleLogPrefix"/>), <c>&lt;N&gt;</c> syslog levels, the printk time <c>[ 1234.567890]</c> and a
    /// caller id (<c>[ T1043]</c> task, <c>[    C2]</c> CPU) plus the one space printk adds.
    /// </summary>
    internal static ReadOnlySpan<byte> StripPrefixes(ReadOnlySpan<byte> line, out long tsNs, out int cpu, out int pid, out bool prefixed, out bool cpuCaller)
    {
        cpuCaller = false;
        tsNs = 0;
        cpu = 0;
        pid = 0;
        prefixed = false;
        if (KmsgText(line) is int text and > 0)
        {
            // "6,339,5140900,-[,caller=T1];message": level and facility, sequence number, microseconds, flags.
            ReadOnlySpan<byte> fields = line[..(text - 1)];
            int c1 = fields.IndexOf((byte)',');
            int c2 = c1 + 1 + fields[(c1 + 1)..].IndexOf((byte)',');
            int c3 = c2 + 1 + fields[(c2 + 1)..].IndexOf((byte)',');
            // KmsgText checked the field is digits: one that does not parse has more than 20 of them.
            prefixed = true;
            tsNs = AsciiNumber.TryParseDecimal(fields[(c2 + 1)..c3], out ulong usec) && usec <= long.MaxValue / 1000UL
                ? (long)usec * 1000
                : StampOverflow;
            int caller = fields.IndexOf(",caller="u8);
            if (caller > 0 && caller + 9 < fields.Length)
            {
                ReadOnlySpan<byte> id = fields[(caller + 9)..];
                int idEnd = id.IndexOf((byte)',');
                if (AsciiNumber.TryParseDecimal(idEnd < 0 ? id : id[..idEnd], out ulong n) && n <= int.MaxValue)
                {
                    if (fields[caller + 8] == (byte)'T')
                    {
                        pid = (int)n;
                    }
                    else if (fields[caller + 8] == (byte)'C')
                    {
                        cpu = (int)n;
                        cpuCaller = true;
                    }
                }
            }
            return line[text..];
        }
        line = line[ConsoleLogPrefix.Length(line, out _)..];
        if (line.StartsWith("** "u8) && line.IndexOf(" printk messages dropped ** "u8) is int dropped and > 0)
        {
            // printk's "** 93 printk messages dropped ** " runs into the next message's line.
            line = line[(dropped + 28)..];
        }
        if (line.Length > 2 && line[0] == (byte)'<')
        {
            int close = line.IndexOf((byte)'>');
            if (close > 1 && close < 5 && AsciiNumber.IsDigits(line[1..close]))
            {
                line = line[(close + 1)..];
            }
        }
        if (line.Length < 3 || line[0] != (byte)'[')
        {
            return line;
        }
        int end = line.IndexOf((byte)']');
        if (end < 0)
        {
            return line;
        }
        ReadOnlySpan<byte> time = line[1..end].Trim((byte)' ');
        int dot = time.IndexOf((byte)'.');
        if (dot <= 0 || !AsciiNumber.IsDigits(time[..dot]) || !AsciiNumber.TryParseDecimal(time[(dot + 1)..], out ulong frac) || time.Length - dot - 1 > 9)
        {
            return line;
        }
        for (int i = time.Length - dot - 1; i < 9; i++)
        {
            frac *= 10;
        }
        tsNs = AsciiNumber.TryParseDecimal(time[..dot], out ulong sec) && sec <= (ulong)((long.MaxValue - (long)frac) / 1_000_000_000L)
            ? ((long)sec * 1_000_000_000L) + (long)frac
            : StampOverflow;
        prefixed = true;
        line = line[(end + 1)..];
        if (line.Length > 2 && line[0] == (byte)'[')
        {
            int close = line.IndexOf((byte)']');
            ReadOnlySpan<byte> caller = close > 0 ? line[1..close].Trim((byte)' ') : default;
            if (caller.Length > 1 && (caller[0] == (byte)'T' || caller[0] == (byte)'C') && AsciiNumber.TryParseDecimal(caller[1..], out ulong id) && id <= int.MaxValue)
            {
                if (caller[0] == (byte)'T')
                {
                    pid = (int)id;
                }
                else
                {
                    cpu = (int)id;
                    cpuCaller = true;
                }
                line = line[(close + 1)..];
            }
        }
        return line.Length > 0 && line[0] == (byte)' ' ? line[1..] : line;
    }
}
