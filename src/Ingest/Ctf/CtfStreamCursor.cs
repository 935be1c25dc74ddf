using System.Globalization;
using System.Text;
using Pipeline.Ingest.Catalog;
using Pipeline.Storage;

namespace Pipeline.Ingest.Ctf;

/// <summary>What the reader knows about tasks across streams: LTTng kernel streams carry no pid, so the
/// current task of each CPU follows its sched_switch events.</summary>
internal sealed class CtfTaskState
{
    public Dictionary<int, (int Tid, string Comm)> CurrentByCpu { get; } = [];

    public Dictionary<int, string> CommByTid { get; } = [];

    /// <summary>Thread-group id of each thread, from LTTng statedump and fork events.</summary>
    public Dictionary<int, int> TgidByTid { get; } = [];

    /// <summary>Legacy lttng (&lt; 2.6) exit_syscall names, by thread: the entry seen last.</summary>
    public Dictionary<int, string> PendingExit { get; } = [];

    public HashSet<int> Cpus { get; } = [];

    public Utf8Cache<string> Strings { get; } = new(s => s, 4096, 64);
}

/// <summary>
/// Reads one stream file packet by packet (only the current packet is in memory) and decodes its events,
/// one at a time, into <see cref="Row"/>.
/// </summary>
internal sealed class CtfStreamCursor : IDisposable
{
    /// <summary>Largest packet the reader accepts (LTTng sub-buffers are at most a few MiB).</summary>
    public const long MaxPacketBytes = 256L << 20;

    private const int ProbeBytes = 4096;
    private const ulong NoId = ulong.MaxValue;

    private readonly CtfMetadata _metadata;
    private readonly CtfTaskState _tasks;
    private readonly IngestDiagnostics _diagnostics;
    private readonly FileStream _file;
    private readonly CtfBitReader _reader;
    private readonly CtfClock _clock;
    private readonly Dictionary<CtfStreamClass, StreamPlan> _streamPlans = [];
    private byte[] _buffer = new byte[ProbeBytes];
    private long _nextPacketOffset;
    private long _packetOffset;
    private StreamPlan? _stream;
    private int _packetCpu;
    private ulong? _lastDiscarded;
    private bool _finished;

    // Per-event header values.
    private int _tid;
    private int _fallbackTid;
    private string? _comm;

    public CtfStreamCursor(string path, int index, CtfMetadata metadata, CtfClock clock, CtfTaskState tasks, IngestDiagnostics diagnostics)
    {
        Path = path;
        Index = index;
        _metadata = metadata;
        _tasks = tasks;
        _diagnostics = diagnostics;
        _reader = new CtfBitReader(metadata.SlotCount);
        _clock = clock;
        _file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
    }

    /// <summary>The stream file.</summary>
    public string Path { get; }

    /// <summary>Position of the stream among the trace's streams (file name order): the merge's tie-break.</summary>
    public int Index { get; }

    /// <summary>The decoded event, valid after <see cref="MoveNext"/> returned true.</summary>
    public EventRow Row { get; } = new();

    public void Dispose() => _file.Dispose();

    /// <summary>Decodes the next event into <see cref="Row"/>; false at the end of the stream.</summary>
    public bool MoveNext()
    {
        while (!_finished)
        {
            if (_stream is null || _reader.Position >= _reader.End)
            {
                if (!LoadPacket())
                {
                    _finished = true;
                    return false;
                }
                continue;
            }
            long start = _reader.Position;
            try
            {
                DecodeEvent();
                if (_reader.Position == start)
                {
                    // An event class that occupies no bits would never let the packet end.
                    throw new CtfDecodeException("expected an event of at least one bit, found an empty event header and payload", start);
                }
                return true;
            }
            catch (CtfDecodeException e)
            {
                Row.Clear();
                _diagnostics.Malformed(Path, _packetOffset + (start / 8), "byte",
                    $"CTF event in the packet at byte {_packetOffset}: {e.Message}; the rest of the packet is skipped.");
                _reader.Position = _reader.End;
            }
        }
        return false;
    }

    private bool LoadPacket()
    {
        _stream = null;
        while (true)
        {
            _packetOffset = _nextPacketOffset;
            long remaining = _file.Length - _packetOffset;
            if (remaining <= 0)
            {
                return false;
            }
            int probe = (int)Math.Min(remaining, ProbeBytes);
            _file.Position = _packetOffset;
            _file.ReadExactly(_buffer, 0, probe);
            _reader.Reset(_buffer, probe * 8L);
            _reader.UpdateClock = false;
            StreamPlan stream;
            try
            {
                stream = DecodePacketPreamble();
            }
            catch (CtfDecodeException e)
            {
                return Fatal($"CTF packet header/context: {e.Message}");
            }
            long headerBits = _reader.Position;
            long packetBits = stream.PacketSize is { } ps ? (long)Math.Min(_reader.Slots[ps.Slot], (ulong)long.MaxValue) : remaining * 8;
            long contentBits = stream.ContentSize is { } cs ? (long)Math.Min(_reader.Slots[cs.Slot], (ulong)long.MaxValue) : packetBits;
            if (packetBits % 8 != 0 || packetBits < headerBits || packetBits / 8 > MaxPacketBytes)
            {
                return Fatal(string.Create(CultureInfo.InvariantCulture,
                    $"CTF packet context: expected packet_size a multiple of 8 between {headerBits} and {MaxPacketBytes * 8} bits, found {packetBits}; the next packet cannot be located"));
            }
            long packetBytes = packetBits / 8;
            if (packetBytes > remaining)
            {
                string cut = string.Create(CultureInfo.InvariantCulture,
                    $"CTF packet context: packet_size is {packetBytes} bytes but only {remaining} bytes are left in the file (truncated stream)");
                if (_diagnostics.Strict)
                {
                    return Fatal(cut);
                }
                // A stream cut short (copied while the tracer wrote it, a full disk): the events in the bytes that are
                // there are kept, as trace.dat keeps those of a page cut by the end of the file. The event the cut
                // runs through is reported by the decoder, and the stream ends with this packet.
                _diagnostics.Truncated ??= string.Create(CultureInfo.InvariantCulture, $"{Path}: byte {_packetOffset}: {cut}; the events in those bytes are kept");
                packetBytes = remaining;
                packetBits = remaining * 8;
                contentBits = Math.Min(contentBits, packetBits);
            }
            _nextPacketOffset = _packetOffset + packetBytes;
            if (contentBits < headerBits || contentBits > packetBits)
            {
                _diagnostics.Malformed(Path, _packetOffset, "byte", string.Create(CultureInfo.InvariantCulture,
                    $"CTF packet context: expected content_size between {headerBits} and packet_size {packetBits} bits, found {contentBits}; packet skipped."));
                continue;
            }
            if (packetBytes > _buffer.Length)
            {
                var larger = new byte[Math.Max(packetBytes, _buffer.Length * 2L)];
                _buffer.AsSpan(0, probe).CopyTo(larger);
                _buffer = larger;
            }
            if (packetBytes > probe)
            {
                _file.ReadExactly(_buffer, probe, (int)(packetBytes - probe));
            }
            _reader.Reset(_buffer, contentBits);
            _reader.Position = headerBits;
            if (stream.TimestampBegin is { } tb)
            {
                _reader.Clock = _reader.Slots[tb.Slot];
            }
            if (stream.EventsDiscarded is { } ed)
            {
                ulong discarded = _reader.Slots[ed.Slot];
                // events_discarded is a running count per stream; each packet adds its increase.
                if (discarded > (_lastDiscarded ?? 0))
                {
                    _diagnostics.LostEvents += (long)(discarded - (_lastDiscarded ?? 0));
                }
                _lastDiscarded = discarded;
            }
            ulong packetCpu = stream.CpuId is { } cpu ? _reader.Slots[cpu.Slot] : 0;
            if (packetCpu >= TraceLimits.MaxCpus)
            {
                _diagnostics.Malformed(Path, _packetOffset, "byte", string.Create(CultureInfo.InvariantCulture,
                    $"CTF packet context: expected cpu_id below {TraceLimits.MaxCpus} (Linux's NR_CPUS limit), found {packetCpu}; packet skipped."));
                continue;
            }
            _packetCpu = (int)packetCpu;
            _stream = stream;
            return true;
        }
    }

    private StreamPlan DecodePacketPreamble()
    {
        var header = _metadata.PacketHeader;
        long streamId = -1;
        if (header is not null)
        {
            _reader.Skip(header, -1);
            if (header.Find("magic") is { } magic && _reader.Slots[magic.Slot] != CtfMetadata.StreamMagic)
            {
                throw new CtfDecodeException(string.Create(CultureInfo.InvariantCulture,
                    $"expected packet magic 0x{CtfMetadata.StreamMagic:X8}, found 0x{_reader.Slots[magic.Slot]:X8}"), 0);
            }
            if (header.Find("stream_id") is { } id)
            {
                streamId = (long)_reader.Slots[id.Slot];
            }
        }
        CtfStreamClass? streamClass;
        if (streamId < 0)
        {
            streamClass = _metadata.Streams.Count == 1 ? _metadata.Streams.Values.First() : null;
        }
        else
        {
            _metadata.Streams.TryGetValue(streamId, out streamClass);
        }
        if (streamClass is null)
        {
            throw new CtfDecodeException(string.Create(CultureInfo.InvariantCulture,
                $"expected a stream_id declared in the metadata ({string.Join(", ", _metadata.Streams.Keys)}), found {streamId}"), 0);
        }
        if (!_streamPlans.TryGetValue(streamClass, out var plan))
        {
            plan = new StreamPlan(streamClass);
            _streamPlans[streamClass] = plan;
        }
        if (streamClass.PacketContext is { } context)
        {
            _reader.Skip(context, -1);
        }
        return plan;
    }

    private bool Fatal(string message)
    {
        _diagnostics.Malformed(Path, _packetOffset, "byte", message + "; the rest of this stream is skipped.");
        _diagnostics.Truncated ??= string.Create(CultureInfo.InvariantCulture, $"{Path}: byte {_packetOffset}: {message}");
        return false;
    }

    private void DecodeEvent()
    {
        var stream = _stream!;
        long start = _reader.Position;
        long id = 0;
        if (stream.Class.EventHeader is { } header)
        {
            foreach (var nested in stream.NestedIds)
            {
                _reader.Slots[nested.Slot] = NoId;
            }
            _reader.UpdateClock = true;
            _reader.Skip(header, -1);
            _reader.UpdateClock = false;
            foreach (var field in stream.IdFields)
            {
                if (_reader.Slots[field.Slot] != NoId)
                {
                    id = (long)_reader.Slots[field.Slot];
                }
            }
        }
        _tid = int.MinValue;
        _fallbackTid = int.MinValue;
        _comm = null;
        var row = Row;
        row.Cpu = _packetCpu;
        EmitFields(stream.EventContext, row);
        if (!stream.Class.Events.TryGetValue(id, out var eventClass))
        {
            throw new CtfDecodeException(string.Create(CultureInfo.InvariantCulture,
                $"expected an event id declared for stream {stream.Class.Id}, found {id}"), start);
        }
        var plan = CtfEventPlan.For(eventClass);
        if (plan.Context.Length > 0)
        {
            EmitFields(plan.Context, row);
        }
        if (eventClass.Fields is { } fields)
        {
            _reader.Align(fields.Alignment);
            EmitFields(plan.Payload, row);
        }
        row.TsNs = _clock.ToNs(_reader.Clock);
        row.SrcPos = _packetOffset + (start / 8);
        row.Event = plan.Canonical;
        _tasks.Cpus.Add(row.Cpu);
        ResolveTask(plan, row);
    }

    private void ResolveTask(CtfEventPlan plan, EventRow row)
    {
        int tid = _tid != int.MinValue ? _tid : _fallbackTid;
        string? comm = _comm;
        bool haveCurrent = _tasks.CurrentByCpu.TryGetValue(row.Cpu, out var current);
        if (plan.IsSchedSwitch)
        {
            int prev = row.IsSet(PrevPid) ? (int)row.GetInt64(PrevPid) : (haveCurrent ? current.Tid : -1);
            string? prevComm = row.GetText(PrevComm);
            if (tid == int.MinValue)
            {
                tid = prev;
            }
            comm ??= prevComm;
            if (prevComm is not null)
            {
                _tasks.CommByTid[prev] = prevComm;
            }
            if (row.IsSet(NextPid))
            {
                int next = (int)row.GetInt64(NextPid);
                string nextComm = row.GetText(NextComm) ?? (_tasks.CommByTid.TryGetValue(next, out var c) ? c : "<...>");
                _tasks.CommByTid[next] = nextComm;
                _tasks.CurrentByCpu[row.Cpu] = (next, nextComm);
            }
        }
        if (tid == int.MinValue)
        {
            tid = haveCurrent ? current.Tid : -1;
            comm ??= haveCurrent ? current.Comm : null;
        }
        comm ??= _tasks.CommByTid.TryGetValue(tid, out var known) ? known : "<...>";
        foreach (var (tidField, tgidField) in plan.ThreadGroups)
        {
            _tasks.TgidByTid[unchecked((int)_reader.Slots[tidField.Slot])] = unchecked((int)_reader.Slots[tgidField.Slot]);
        }
        row.Pid = tid;
        row.Comm = comm;
        if (row.Tgid is null && tid >= 0 && _tasks.TgidByTid.TryGetValue(tid, out int tgid))
        {
            row.Tgid = tgid;
        }
        switch (plan.Syscall)
        {
            case SyscallRole.LegacyEntry when tid >= 0:
                _tasks.PendingExit[tid] = plan.LegacyExit!;
                break;
            case SyscallRole.LegacyExit when tid >= 0 && _tasks.PendingExit.Remove(tid, out var exitName):
                row.Event = exitName;
                break;
        }
    }

    private static readonly int PrevPid = Ordinal("prev_pid");
    private static readonly int PrevComm = Ordinal("prev_comm");
    private static readonly int NextPid = Ordinal("next_pid");
    private static readonly int NextComm = Ordinal("next_comm");

    private static int Ordinal(string name) => EventSchema.TryGetField(name, out var column)
        ? column.Ordinal
        : throw new InvalidOperationException($"Event schema has no {name} column.");

    private void EmitFields(CtfFieldPlan[] plans, EventRow row)
    {
        foreach (var plan in plans)
        {
            var type = plan.Field.Type;
            switch (type)
            {
                case CtfInteger integer:
                    EmitInteger(plan, integer, _reader.ReadInteger(integer, plan.Field.Slot), null, row);
                    break;
                case CtfEnum enumeration:
                    {
                        ulong raw = _reader.ReadInteger(enumeration.Container, plan.Field.Slot);
                        EmitInteger(plan, enumeration.Container, raw, enumeration.LabelOf(unchecked((long)raw)), row);
                        break;
                    }
                case CtfString:
                    EmitText(plan, _reader.ReadString(), row);
                    break;
                case CtfArray { Element: CtfInteger { Size: 8, IsText: true } } chars:
                    EmitText(plan, TrimNul(_reader.ReadBytes(chars.Length)), row);
                    break;
                case CtfSequence { Element: CtfInteger { Size: 8, IsText: true } } chars:
                    EmitText(plan, TrimNul(_reader.ReadBytes(_reader.SequenceLength(chars))), row);
                    break;
                default:
                    {
                        var text = new StringBuilder();
                        Format(type, plan.Field.Slot, text);
                        if (plan.Target is FieldTarget.Column or FieldTarget.Arg)
                        {
                            row.AddArg(plan.Name, text.ToString());
                        }
                        break;
                    }
            }
        }
    }

    private static ReadOnlySpan<byte> TrimNul(ReadOnlySpan<byte> bytes)
    {
        int nul = bytes.IndexOf((byte)0);
        return nul < 0 ? bytes : bytes[..nul];
    }

    private void EmitInteger(CtfFieldPlan plan, CtfInteger type, ulong raw, string? label, EventRow row)
    {
        switch (plan.Target)
        {
            case FieldTarget.Tid:
                _tid = unchecked((int)raw);
                break;
            case FieldTarget.TidFallback:
                _fallbackTid = unchecked((int)raw);
                break;
            case FieldTarget.Tgid:
                row.Tgid = unchecked((int)raw);
                break;
            case FieldTarget.Cpu:
                if (raw >= TraceLimits.MaxCpus)
                {
                    throw new CtfDecodeException(string.Create(CultureInfo.InvariantCulture,
                        $"expected a cpu below {TraceLimits.MaxCpus} (Linux's NR_CPUS limit), found {raw}"), _reader.Position);
                }
                row.Cpu = (int)raw;
                break;
            case FieldTarget.Skip:
                break;
            case FieldTarget.Column:
                switch (plan.Kind)
                {
                    case ColumnKind.UInt64:
                        row.SetUInt64(plan.Ordinal, raw);
                        break;
                    case ColumnKind.Int64:
                    case ColumnKind.Int32:
                        row.SetInt64(plan.Ordinal, unchecked((long)raw));
                        break;
                    case ColumnKind.Bool:
                        row.SetBool(plan.Ordinal, raw != 0);
                        break;
                    default:
                        row.SetText(plan.Ordinal, label ?? (plan.Name == "prev_state"
                            ? CtfEventNames.TaskState(unchecked((long)raw))
                            : FormatInteger(type, raw)));
                        break;
                }
                break;
            default:
                row.AddArg(plan.Name, label ?? FormatInteger(type, raw));
                break;
        }
    }

    private void EmitText(CtfFieldPlan plan, ReadOnlySpan<byte> utf8, EventRow row)
    {
        string text = _tasks.Strings.Get(utf8);
        switch (plan.Target)
        {
            case FieldTarget.Comm:
                _comm = text;
                break;
            case FieldTarget.Column when plan.Kind == ColumnKind.Text:
                row.SetText(plan.Ordinal, text);
                break;
            case FieldTarget.Skip:
                break;
            default:
                row.AddArg(plan.Name, text);
                break;
        }
    }

    private static string FormatInteger(CtfInteger type, ulong raw) => type.Base switch
    {
        16 => string.Concat("0x", raw.ToString("x", CultureInfo.InvariantCulture)),
        _ when type.Signed => unchecked((long)raw).ToString(CultureInfo.InvariantCulture),
        _ => raw.ToString(CultureInfo.InvariantCulture),
    };

    // Compound values (integer arrays, nested structs, variants) are rare in kernel payloads: printed for args.
    private void Format(CtfType type, int slot, StringBuilder text)
    {
        switch (type)
        {
            case CtfInteger integer:
                text.Append(FormatInteger(integer, _reader.ReadInteger(integer, slot)));
                break;
            case CtfEnum enumeration:
                {
                    ulong raw = _reader.ReadInteger(enumeration.Container, slot);
                    text.Append(enumeration.LabelOf(unchecked((long)raw)) ?? FormatInteger(enumeration.Container, raw));
                    break;
                }
            case CtfFloat floating:
                text.Append(_reader.ReadFloat(floating).ToString("R", CultureInfo.InvariantCulture));
                break;
            case CtfString:
                text.Append(Encoding.UTF8.GetString(_reader.ReadString()));
                break;
            case CtfArray { Element: CtfInteger { Size: 8, IsText: true } } chars:
                text.Append(Encoding.UTF8.GetString(TrimNul(_reader.ReadBytes(chars.Length))));
                break;
            case CtfSequence { Element: CtfInteger { Size: 8, IsText: true } } chars:
                text.Append(Encoding.UTF8.GetString(TrimNul(_reader.ReadBytes(_reader.SequenceLength(chars)))));
                break;
            case CtfArray array:
                FormatElements(array.Element, array.Length, text);
                break;
            case CtfSequence sequence:
                FormatElements(sequence.Element, _reader.SequenceLength(sequence), text);
                break;
            case CtfStruct structure:
                _reader.Align(structure.Alignment);
                text.Append('{');
                for (int i = 0; i < structure.Fields.Count; i++)
                {
                    var field = structure.Fields[i];
                    text.Append(i == 0 ? "" : ", ").Append(field.Name.TrimStart('_')).Append(" = ");
                    Format(field.Type, field.Slot, text);
                }
                text.Append('}');
                break;
            case CtfVariant variant:
                Format(_reader.SelectOption(variant), -1, text);
                break;
        }
    }

    private void FormatElements(CtfType element, long count, StringBuilder text)
    {
        _reader.CheckCount(count);
        text.Append('[');
        for (long i = 0; i < count; i++)
        {
            if (i > 0)
            {
                text.Append(", ");
            }
            Format(element, -1, text);
        }
        text.Append(']');
    }

    /// <summary>Per stream class: the packet-context fields the reader uses and the event header's id fields.</summary>
    private sealed class StreamPlan
    {
        public StreamPlan(CtfStreamClass streamClass)
        {
            Class = streamClass;
            var context = streamClass.PacketContext;
            PacketSize = context?.Find("packet_size");
            ContentSize = context?.Find("content_size");
            TimestampBegin = context?.Find("timestamp_begin");
            EventsDiscarded = context?.Find("events_discarded");
            CpuId = context?.Find("cpu_id");
            EventContext = CtfFieldPlan.Build(streamClass.EventContext, "", isContext: true);
            if (streamClass.EventHeader is { } header)
            {
                CollectIds(header, IdFields, NestedIds, nested: false);
            }
        }

        public CtfStreamClass Class { get; }

        public CtfField? PacketSize { get; }

        public CtfField? ContentSize { get; }

        public CtfField? TimestampBegin { get; }

        public CtfField? EventsDiscarded { get; }

        public CtfField? CpuId { get; }

        public CtfFieldPlan[] EventContext { get; }

        /// <summary>Header fields named id, outermost first: LTTng's extended header repeats the id in a variant.</summary>
        public List<CtfField> IdFields { get; } = [];

        /// <summary>The id fields inside variants, reset before each header so an unchosen option does not count.</summary>
        public List<CtfField> NestedIds { get; } = [];

        private static void CollectIds(CtfType type, List<CtfField> ids, List<CtfField> nestedIds, bool nested)
        {
            switch (type)
            {
                case CtfStruct structure:
                    foreach (var field in structure.Fields)
                    {
                        if (field.Name == "id" && field.Type is CtfInteger or CtfEnum)
                        {
                            ids.Add(field);
                            if (nested)
                            {
                                nestedIds.Add(field);
                            }
                        }
                        CollectIds(field.Type, ids, nestedIds, nested);
                    }
                    break;
                case CtfVariant variant:
                    foreach (var option in variant.Options)
                    {
                        CollectIds(option.Type, ids, nestedIds, nested: true);
                    }
                    break;
            }
        }
    }
}
