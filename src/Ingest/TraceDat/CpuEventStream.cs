using System.Runtime.CompilerServices;
namespace Pipeline.Ingest.TraceDat;

/// <summary>
/// The events of one CPU (of one buffer) in page order: decodes one page at a time into a small table of
/// (timestamp, payload position), so the merge can compare the heads of all CPUs cheaply.
/// </summary>
internal sealed class CpuEventStream : IDisposable
{
    private readonly PageSource _source;
    private readonly HeaderPage _layout;
    private readonly bool _bigEndian;
    private readonly ReadContext _context;
    private Entry[] _entries;
    private PageBlock _block;
    private int _nextPage;
    private int _pagesInBlock;
    private int _entryCount;
    private int _entryIndex;
    private bool _finished;

    public CpuEventStream(PageSource source, int cpu, int order, TraceEventFormats formats, ReadContext context, EventDecoder decoder)
    {
        _source = source;
        Cpu = cpu;
        Order = order;
        _layout = formats.HeaderPage;
        _bigEndian = formats.BigEndian;
        _context = context;
        Decoder = decoder;
        // Grown by doubling as pages need it (a 4 KiB page holds at most 511 events): thousands of CPUs with
        // little or no data cost little.
        _entries = new Entry[16];
    }

    public int Cpu { get; }

    /// <summary>Position in the merge's tie-break after the CPU (buffer order).</summary>
    public int Order { get; }

    /// <summary>The decoder for this stream's buffer (instances carry their name).</summary>
    public EventDecoder Decoder { get; }

    public ulong Timestamp { get; private set; }

    public long SourcePosition { get; private set; }

    public ReadOnlySpan<byte> Payload => _block.Buffer.AsSpan(_entries[_entryIndex].Start, _entries[_entryIndex].Length);

    /// <summary>Moves to the next event; false when the stream is exhausted (or ended by damage, already reported).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public bool MoveNext()
    {
        while (true)
        {
            if (++_entryIndex < _entryCount)
            {
                ref var e = ref _entries[_entryIndex];
                Timestamp = e.Timestamp;
                SourcePosition = e.SourcePosition;
                return true;
            }
            if (_finished || !LoadNextPage())
            {
                _finished = true;
                return false;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private bool LoadNextPage()
    {
        if (_nextPage >= _pagesInBlock)
        {
            if (!_source.TryReadBlock(out _block))
            {
                if (_source.Damage is { } damage)
                {
                    _context.Damage(damage);
                }
                return false;
            }
            _pagesInBlock = _block.Length / _source.PageSize;
            _nextPage = 0;
        }
        int pageStart = _nextPage * _source.PageSize;
        long pageOffset = _block.ExactOffsets ? _block.SourceOffset + pageStart : _block.SourceOffset;
        _nextPage++;
        var reader = new RingBufferPageReader(_block.Buffer.AsSpan(pageStart, _source.PageSize), pageOffset, _layout, _bigEndian);
        if (reader.MissedEvents)
        {
            _context.Lost(Cpu, reader.LostEvents);
        }
        int count = 0;
        while (reader.MoveNext())
        {
            if (count == _entries.Length)
            {
                Array.Resize(ref _entries, _entries.Length * 2);
            }
            ref var e = ref _entries[count++];
            e.Timestamp = reader.Timestamp;
            e.SourcePosition = _block.ExactOffsets ? reader.RecordOffset : _block.SourceOffset;
            e.Start = pageStart + reader.PayloadOffset;
            e.Length = reader.Payload.Length;
        }
        if (reader.Error is not null)
        {
            _context.Malformed(_block.ExactOffsets ? reader.ErrorOffset : _block.SourceOffset,
                $"section '{_source.Section}': corrupt page at {(_block.ExactOffsets ? "byte " + ReadContext.Offset(pageOffset) : "page " + ReadContext.Offset(_nextPage - 1) + " of the chunk at " + ReadContext.Offset(_block.SourceOffset))}: {reader.Error}; the rest of the page is skipped");
        }
        _entryCount = count;
        _entryIndex = -1;
        return true;
    }

    public void Dispose() => _source.Dispose();

    private struct Entry
    {
        public ulong Timestamp;
        public long SourcePosition;
        public int Start;
        public int Length;
    }
}
