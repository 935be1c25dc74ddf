using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Pipeline.Ingest.TraceDat;

/// <summary>
/// Walks the events of one ring-buffer sub-buffer ("page") as <c>trace_pipe_raw</c> and trace.dat store it:
/// page header (timestamp, commit word with the missed-events flags and the stored lost count), then event
/// headers (type_len: data, padding, TIME_EXTEND, absolute TIME_STAMP, type_len 0 long records). Tracks the
/// absolute offset of every record in its source.
/// </summary>
public ref struct RingBufferPageReader
{
    private const uint TypeLenPadding = 29;
    private const uint TypeLenTimeExtend = 30;
    private const uint TypeLenTimeStamp = 31;
    private const uint MissedEventsFlag = 0x80000000;
    private const uint MissedStoredFlag = 0x40000000;
    private const uint CommitSizeMask = 0x07ffffff;

    private readonly ReadOnlySpan<byte> _data;
    private readonly long _dataFileOffset;
    private readonly bool _bigEndian;
    private readonly int _dataOffset;
    private int _position;
    private ulong _timestamp;

    /// <summary>Starts reading a page.</summary>
    /// <param name="page">The whole sub-buffer (header included).</param>
    /// <param name="fileOffset">Offset of the page's first byte in its source (for positions and errors).</param>
    /// <param name="layout">Page layout from header_page.</param>
    /// <param name="bigEndian">Byte order of the traced machine.</param>
    public RingBufferPageReader(ReadOnlySpan<byte> page, long fileOffset, HeaderPage layout, bool bigEndian)
    {
        ArgumentNullException.ThrowIfNull(layout);
        _bigEndian = bigEndian;
        _dataOffset = layout.DataOffset;
        PayloadOffset = 0;
        Error = null;
        ErrorOffset = 0;
        Timestamp = 0;
        Payload = default;
        RecordOffset = 0;
        LostEvents = 0;
        _position = 0;
        if (page.Length < layout.DataOffset)
        {
            _data = default;
            _dataFileOffset = fileOffset;
            PageTimestamp = 0;
            CommittedSize = 0;
            MissedEvents = false;
            Fail(fileOffset, $"page of {page.Length} bytes is shorter than its {layout.DataOffset}-byte header");
            return;
        }
        PageTimestamp = ReadU64(page);
        ulong commit = layout.CommitSize == 8 ? ReadU64(page[layout.CommitOffset..]) : ReadU32(page[layout.CommitOffset..]);
        // On 64-bit kernels the flags are added to a signed long: the upper word is all ones. Mask the low word.
        uint low = (uint)commit;
        int size = (int)(low & CommitSizeMask);
        MissedEvents = (low & MissedEventsFlag) != 0;
        _timestamp = PageTimestamp;
        _dataFileOffset = fileOffset + layout.DataOffset;
        var data = page[layout.DataOffset..];
        if (size > data.Length)
        {
            _data = default;
            CommittedSize = 0;
            Fail(fileOffset + layout.CommitOffset, $"commit size {size} is larger than the page's {data.Length} data bytes (commit word 0x{commit:x})");
            return;
        }
        CommittedSize = size;
        _data = data[..size];
        if (MissedEvents)
        {
            LostEvents = -1;
            if ((low & MissedStoredFlag) != 0 && size + layout.LongSize <= data.Length)
            {
                long stored = layout.LongSize == 8 ? (long)ReadU64(data[size..]) : ReadU32(data[size..]);
                LostEvents = stored > 0 ? stored : -1;
            }
        }
    }

    /// <summary>Timestamp of the page (time base of its first event), in trace-clock units.</summary>
    public ulong PageTimestamp { get; }

    /// <summary>Committed data bytes (commit word bits 0-26).</summary>
    public int CommittedSize { get; }

    /// <summary>Whether events were lost before this page (commit bit 31).</summary>
    public bool MissedEvents { get; }

    /// <summary>Events lost before this page: the stored count, -1 when lost but not counted, 0 when none.</summary>
    public long LostEvents { get; }

    /// <summary>Timestamp of the current event (raw trace-clock units).</summary>
    public ulong Timestamp { get; private set; }

    /// <summary>Payload of the current event, starting at <c>common_type</c> (may include alignment padding).</summary>
    public ReadOnlySpan<byte> Payload { get; private set; }

    /// <summary>Offset of the current payload from the start of the page span.</summary>
    public int PayloadOffset { get; private set; }

    /// <summary>Offset of the current event's header word in the source.</summary>
    public long RecordOffset { get; private set; }

    /// <summary>Set when the page is corrupt; the walk stops there.</summary>
    public string? Error { get; private set; }

    /// <summary>Source offset of the corruption.</summary>
    public long ErrorOffset { get; private set; }

    /// <summary>Advances to the next data event; false at the end of the committed data or on corruption.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public bool MoveNext()
    {
        var data = _data;
        while (_position < data.Length)
        {
            int at = _position;
            if (data.Length - at < 4)
            {
                return Fail(_dataFileOffset + at, $"{data.Length - at} stray bytes at the end of the committed data");
            }
            uint word = ReadU32(data[at..]);
            uint typeLen, delta;
            if (_bigEndian)
            {
                typeLen = word >> 27;
                delta = word & 0x07ffffff;
            }
            else
            {
                typeLen = word & 0x1f;
                delta = word >> 5;
            }
            if (typeLen - 1 < 28)
            {
                int length = (int)typeLen * 4;
                if (length > data.Length - at - 4)
                {
                    return Fail(_dataFileOffset + at, $"event of {length} bytes runs past the committed size {data.Length}");
                }
                _timestamp += delta;
                Emit(at, at + 4, length);
                _position = at + 4 + length;
                return true;
            }
            if (data.Length - at < 8)
            {
                if (typeLen == TypeLenPadding && delta == 0)
                {
                    _position = data.Length;
                    return false;
                }
                return Fail(_dataFileOffset + at, $"item of type {typeLen} needs 8 bytes, {data.Length - at} left");
            }
            uint array0 = ReadU32(data[(at + 4)..]);
            switch (typeLen)
            {
                case 0:
                {
                    // The length word counts itself.
                    if (array0 < 4 || array0 - 4 > (uint)(data.Length - at - 8))
                    {
                        return Fail(_dataFileOffset + at, $"long event length {array0} is invalid for the {data.Length - at - 8} bytes left");
                    }
                    _timestamp += delta;
                    Emit(at, at + 8, (int)array0 - 4);
                    _position = at + 8 + (int)array0 - 4;
                    return true;
                }
                case TypeLenPadding:
                    if (delta == 0)
                    {
                        _position = data.Length;
                        return false;
                    }
                    if (array0 > (uint)(data.Length - at - 4))
                    {
                        return Fail(_dataFileOffset + at, $"padding of {array0} bytes runs past the committed size {data.Length}");
                    }
                    // A discarded event keeps its delta (the next event is relative to it); the end-of-page filler has delta 1.
                    if (delta > 1)
                    {
                        _timestamp += delta;
                    }
                    _position = at + 4 + (int)array0;
                    break;
                case TypeLenTimeExtend:
                    _timestamp += ((ulong)array0 << 27) + delta;
                    _position = at + 8;
                    break;
                default:
                {
                    ulong absolute = ((ulong)array0 << 27) | delta;
                    ulong msb = _timestamp & 0xF800000000000000UL;
                    if (msb != 0)
                    {
                        absolute |= msb;
                        if (absolute < _timestamp)
                        {
                            absolute += 1UL << 59;
                        }
                    }
                    _timestamp = absolute;
                    _position = at + 8;
                    break;
                }
            }
        }
        return false;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Emit(int header, int payloadStart, int length)
    {
        Timestamp = _timestamp;
        Payload = _data.Slice(payloadStart, length);
        PayloadOffset = _dataOffset + payloadStart;
        RecordOffset = _dataFileOffset + header;
    }

    private bool Fail(long offset, string message)
    {
        Error = message;
        ErrorOffset = offset;
        _position = int.MaxValue;
        return false;
    }

    private readonly uint ReadU32(ReadOnlySpan<byte> s) =>
        _bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(s) : BinaryPrimitives.ReadUInt32LittleEndian(s);

    private readonly ulong ReadU64(ReadOnlySpan<byte> s) =>
        _bigEndian ? BinaryPrimitives.ReadUInt64BigEndian(s) : BinaryPrimitives.ReadUInt64LittleEndian(s);
}
