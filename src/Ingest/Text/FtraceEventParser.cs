using System.Runtime.CompilerServices;
using Pipeline.Ingest.Catalog;
using Pipeline.Storage;

namespace Pipeline.Ingest.Text;

/// <summary>
/// Turns one parsed ftrace line (<see cref="FtraceLine"/>) into an event row: header fields, canonical event name
/// and payload. Pure apart from its string caches, so each parsing thread has its own; the stateful part of a
/// trace (stack blocks, markers, the write window) stays in <see cref="FtraceTextCore"/>.
/// </summary>
internal sealed class FtraceEventParser
{
    private static readonly ArgName s_ip = new("ip");
    private static readonly ArgName s_parentIp = new("parent_ip");
    private static readonly ArgName s_ret = new("ret");

    private readonly PayloadParser _payloads = new();
    private readonly Utf8Cache<string> _strings = new(s => s, 4096, 64);
    private readonly Utf8Cache<string> _events = new(s => EventCatalog.Canonical(s), 1024, 96);
    private readonly Utf8Cache<string> _syscallEnter = new(s => EventCatalog.SyscallEnter(s), 512, 64);
    private readonly Utf8Cache<string> _syscallExit = new(s => EventCatalog.SyscallExit(s), 512, 64);

    // The last few event names TryWrite looked up (bytes, length, canonical string; length 0 when the slot is
    // empty), replaced in turn: trace.txt's four commonest events make 98 % of its lines.
    private const int RecentEvents = 4;
    private const int RecentEventBytes = 64;
    private readonly byte[] _recentEventBytes = new byte[RecentEvents * RecentEventBytes];
    private readonly int[] _recentEventLengths = new int[RecentEvents];
    private readonly string[] _recentEvents = ["", "", "", ""];
    private int _nextRecentEvent;

    // The comm and the flags TryWrite looked up last: most lines have those of the line before (a task's run of
    // events), so each is compared with the last one before the cache is asked.
    private LastKey _lastComm;
    private LastKey _lastFlags;

    /// <summary>A <c>&lt;stack trace&gt;</c> entry: it belongs to the event before it, which only the sequential pass knows.</summary>
    public static bool IsStackTrace(ReadOnlySpan<byte> body) =>
        body.StartsWith("<stack trace>"u8) || body.StartsWith("<user stack trace>"u8);

    /// <summary>
    /// False for a body that cannot be an event: a cut <c>&lt;user </c> or other damaged marker, or a body with
    /// no <c>name:</c>.
    /// </summary>
    public static bool LooksLikeEvent(ReadOnlySpan<byte> body) =>
        !body.IsEmpty && body[0] != (byte)'<'
        && (body.IndexOf((byte)':') >= 0 || body.IndexOf(" <-"u8) >= 0 || body.StartsWith("sys_"u8));

    /// <summary>The string for a UTF-8 span, shared when it repeats.</summary>
    public string Intern(ReadOnlySpan<byte> utf8) => _strings.Get(utf8);

    /// <summary>Fills <paramref name="row"/> from <paramref name="line"/>; false when the body is not an event after all.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public bool Fill(ref FtraceLine line, long lineNumber, EventRow row)
    {
        ReadOnlySpan<byte> body = line.Body;
        row.TsNs = line.TsNs;
        row.Cpu = line.Cpu;
        row.Pid = line.Pid;
        row.Tgid = line.HasTgid ? line.Tgid : null;
        row.Comm = _strings.Get(line.Comm);
        row.IrqFlags = line.Flags.IsEmpty ? null : _strings.Get(line.Flags);
        row.SrcPos = lineNumber;
        if (!line.Instance.IsEmpty)
        {
            row.AddArg("instance", _strings.Get(line.Instance));
        }
        if (body.StartsWith("sys_"u8) && TrySyscall(row, body))
        {
            return true;
        }
        int colon = body.IndexOf(": "u8);
        if (colon <= 0)
        {
            if (body.Length > 1 && body[^1] == (byte)':')
            {
                colon = body.Length - 1;
            }
            else
            {
                // The function tracer prints "func <-parent" with no event name.
                int arrow = body.IndexOf(" <-"u8);
                if (arrow <= 0)
                {
                    return false;
                }
                row.Event = _events.Get("function"u8);
                AddArg(row, s_ip, body[..arrow]);
                AddArg(row, s_parentIp, body[(arrow + 3)..]);
                return true;
            }
        }
        if (IsUnresolvedIp(body[..colon]))
        {
            // trace_printk records whose ip did not resolve print "0: …" (or "0x…: …"): damaged, not an event name.
            return false;
        }
        row.Event = _events.Get(body[..colon]);
        _payloads.Parse(row, body[Math.Min(colon + 2, body.Length)..]);
        return true;
    }

    /// <summary>
    /// Writes the event of <paramref name="line"/> straight into a new row of <paramref name="segment"/> when it is
    /// the usual kind, a <c>name: field=value …</c> line whose payload has its event's known shape
    /// (<see cref="PayloadParser.TryWriteKnownShape"/>): the row holds what <see cref="Fill"/> would put into an
    /// <see cref="EventRow"/>. False, with nothing written, for any other line (then <see cref="Fill"/> takes it).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public bool TryWrite(ref FtraceLine line, long lineNumber, EventSegment segment)
    {
        ReadOnlySpan<byte> body = line.Body;
        if (!line.Instance.IsEmpty || body.StartsWith("sys_"u8))
        {
            return false;
        }
        // When the body starts with a recent event's "name: ", that is where the search for the first ": " would
        // stop (the name holds none, and its last byte and the ':' after it are not one), and the name passed the
        // checks below when it was looked up: the search, the checks and the lookup are skipped.
        string? ev = null;
        int colon = 0;
        for (int i = 0; i < RecentEvents; i++)
        {
            int n = _recentEventLengths[i];
            if (n > 0 && body.Length > n + 1 && body[n] == (byte)':' && body[n + 1] == (byte)' '
                && body.StartsWith(_recentEventBytes.AsSpan(i * RecentEventBytes, n)))
            {
                colon = n;
                ev = _recentEvents[i];
                break;
            }
        }
        if (ev is null)
        {
            colon = body.IndexOf(": "u8);
            if (colon <= 0 || IsUnresolvedIp(body[..colon]))
            {
                return false;
            }
            ev = _events.Get(body[..colon]);
            RememberEvent(body[..colon], ev);
        }
        var header = new Header(this, lineNumber, ev, line.TsNs, line.Cpu, line.Pid, line.HasTgid ? line.Tgid : null, line.Comm, line.Flags);
        return _payloads.TryWriteKnownShape(segment, ev, body[Math.Min(colon + 2, body.Length)..], ref header);
    }

    private void RememberEvent(ReadOnlySpan<byte> name, string ev)
    {
        if (name.Length > RecentEventBytes)
        {
            return;
        }
        int slot = _nextRecentEvent;
        _nextRecentEvent = (slot + 1) % RecentEvents;
        name.CopyTo(_recentEventBytes.AsSpan(slot * RecentEventBytes));
        _recentEventLengths[slot] = name.Length;
        _recentEvents[slot] = ev;
    }

    // _strings.Get(key), first compared with the last key of its kind: a key of up to 16 bytes is the same bytes
    // when its length and its two words are (Utf8Cache's Words), so no hash and no table slot are touched.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private string Remembered(ref LastKey last, ReadOnlySpan<byte> key)
    {
        if (key.Length > 16)
        {
            return _strings.Get(key);
        }
        Utf8Cache<string>.Words(key, out ulong head, out ulong tail);
        if (last.Value is { } value && last.Length == key.Length && last.Head == head && last.Tail == tail)
        {
            return value;
        }
        value = _strings.Get(key);
        last = new LastKey(head, tail, key.Length, value);
        return value;
    }

    private readonly record struct LastKey(ulong Head, ulong Tail, int Length, string? Value);

    /// <summary>A line's header fields, for the segment's row once its payload matched.</summary>
    private readonly ref struct Header : PayloadParser.IRowStart
    {
        private readonly FtraceEventParser _parser;
        private readonly long _lineNumber;
        private readonly string _event;
        private readonly long _tsNs;
        private readonly int _cpu;
        private readonly int _pid;
        private readonly int? _tgid;
        private readonly ReadOnlySpan<byte> _comm;
        private readonly ReadOnlySpan<byte> _flags;

        public Header(FtraceEventParser parser, long lineNumber, string ev, long tsNs, int cpu, int pid, int? tgid, ReadOnlySpan<byte> comm, ReadOnlySpan<byte> flags)
        {
            _parser = parser;
            _lineNumber = lineNumber;
            _event = ev;
            _tsNs = tsNs;
            _cpu = cpu;
            _pid = pid;
            _tgid = tgid;
            _comm = comm;
            _flags = flags;
        }

        public void Begin(EventSegment segment) =>
            segment.BeginRow(_tsNs, _lineNumber, _cpu, _pid, _tgid, _parser.Remembered(ref _parser._lastComm, _comm), _event,
                _flags.IsEmpty ? null : _parser.Remembered(ref _parser._lastFlags, _flags));
    }

    // Both forms start with a digit, so a name that does not (almost every one) is neither.
    private static bool IsUnresolvedIp(ReadOnlySpan<byte> name) =>
        name.IsEmpty
        || ((uint)(name[0] - '0') <= 9
            && (name.IndexOfAnyExceptInRange((byte)'0', (byte)'9') < 0 || (name.Length > 2 && name[0] == (byte)'0' && name[1] == (byte)'x')));

    // Kernel text prints syscall events in their own form: "sys_mremap(addr: 0x…, …)" and "sys_mremap -> 0x…".
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private bool TrySyscall(EventRow row, ReadOnlySpan<byte> body)
    {
        int i = 4;
        while (i < body.Length && (IsIdent(body[i])))
        {
            i++;
        }
        ReadOnlySpan<byte> name = body[4..i];
        if (name.IsEmpty || i >= body.Length)
        {
            return false;
        }
        if (body[i] == (byte)'(')
        {
            int close = body.LastIndexOf((byte)')');
            row.Event = _syscallEnter.Get(name);
            _payloads.ParseSyscallArguments(row, close > i ? body[(i + 1)..close] : body[(i + 1)..]);
            return true;
        }
        if (body[i..].StartsWith(" -> "u8))
        {
            row.Event = _syscallExit.Get(name);
            if (!PayloadParser.TryParseSyscallReturn(row, body[(i + 4)..]))
            {
                AddArg(row, s_ret, body[(i + 4)..]);
            }
            return true;
        }
        return false;
    }

    // Into the row's args JSON as bytes when plain (no string made), else as a shared string.
    private void AddArg(EventRow row, ArgName name, ReadOnlySpan<byte> value)
    {
        if (!row.TryAddArgUtf8(name, value))
        {
            row.AddArg(name.Name, _strings.Get(value));
        }
    }

    private static bool IsIdent(byte b) => (uint)((b | 0x20) - 'a') <= 'z' - 'a' || (uint)(b - '0') <= 9 || b == (byte)'_';
}
