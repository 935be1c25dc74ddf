using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;

namespace Pipeline.Ingest.TraceDat;

/// <summary>A run of whole pages of one CPU, in a buffer owned by the source (valid until the next read).</summary>
internal readonly struct PageBlock(byte[] buffer, int length, long sourceOffset, bool exactOffsets)
{
    public byte[] Buffer { get; } = buffer;

    public int Length { get; } = length;

    /// <summary>Offset of the first page in the file (or in the raw stream).</summary>
    public long SourceOffset { get; } = sourceOffset;

    /// <summary>False for decompressed chunks: <see cref="SourceOffset"/> is then the chunk's file offset for every page.</summary>
    public bool ExactOffsets { get; } = exactOffsets;
}

/// <summary>Damage found while reading a CPU's data: where, in which part, and what.</summary>
internal sealed record DataDamage(string Section, long Offset, string Message);

/// <summary>
/// Produces the pages of one CPU stream block by block, so memory stays at one block per CPU whatever the
/// trace size. A source that meets damage stops and reports it through <see cref="Damage"/>.
/// </summary>
internal abstract class PageSource : IDisposable
{
    protected PageSource(int pageSize, string section)
    {
        PageSize = pageSize;
        Section = section;
    }

    public int PageSize { get; }

    public string Section { get; }

    public DataDamage? Damage { get; protected set; }

    public abstract bool TryReadBlock(out PageBlock block);

    public virtual void Dispose()
    {
    }

    protected bool Fail(long offset, string message)
    {
        Damage = new DataDamage(Section, offset, message);
        return false;
    }

    protected static string Bytes(long n) => n.ToString(CultureInfo.InvariantCulture);
}

/// <summary>Uncompressed CPU data: a byte range of a seekable file, read 16 pages at a time.</summary>
internal sealed class FileRangePageSource : PageSource
{

    private readonly Stream _stream;
    private readonly long _declaredEnd;
    private readonly int _blockBytes;
    private long _end;
    private byte[] _buffer = [];
    private long _position;

    // pagesPerBlock: fewer pages per read when there are many CPUs, to bound memory.
    public FileRangePageSource(Stream stream, long offset, long size, long fileLength, int pageSize, int pagesPerBlock, string section)
        : base(pageSize, section)
    {
        _stream = stream;
        _position = offset;
        _declaredEnd = offset + size;
        _end = Math.Min(_declaredEnd, fileLength);
        // Allocated at the first whole page, no larger than the bytes the file really holds for this CPU: CPUs
        // whose sizes lie (or point past the end) cost nothing, so memory follows the file, not its header.
        _blockBytes = (int)Math.Min((long)pageSize * pagesPerBlock, Math.Max(pageSize, _end - offset));
    }

    public override bool TryReadBlock(out PageBlock block)
    {
        block = default;
        if (Damage is not null)
        {
            return false;
        }
        long remaining = _end - _position;
        if (remaining < PageSize)
        {
            if (_end < _declaredEnd)
            {
                return Fail(_end, $"the file ends at byte {Bytes(_end)}, {Bytes(_declaredEnd - _end)} bytes before the end of this CPU's data (declared to end at {Bytes(_declaredEnd)})");
            }
            if (remaining > 0)
            {
                return Fail(_position, $"CPU data ends with a partial page of {Bytes(remaining)} bytes (page size {PageSize})");
            }
            return false;
        }
        if (_buffer.Length == 0)
        {
            _buffer = new byte[_blockBytes];
        }
        int pages = (int)Math.Min(remaining / PageSize, _buffer.Length / PageSize);
        int length = pages * PageSize;
        _stream.Position = _position;
        int read = _stream.ReadAtLeast(_buffer.AsSpan(0, length), length, throwOnEndOfStream: false);
        if (read < length)
        {
            // The stream is shorter than it claimed: deliver the whole pages we have, then report.
            int whole = read / PageSize * PageSize;
            if (whole == 0)
            {
                return Fail(_position + read, $"the file ends at byte {Bytes(_position + read)} inside this CPU's data");
            }
            _end = _position + whole;
            length = whole;
        }
        block = new PageBlock(_buffer, length, _position, exactOffsets: true);
        _position += length;
        return true;
    }
}

/// <summary>
/// Compressed v7 CPU data: u32 chunk count, then { u32 compressed size, u32 uncompressed size, bytes } per chunk.
/// Each chunk is decompressed on its own (sizes bounded before anything is allocated).
/// </summary>
internal sealed class ChunkedPageSource : PageSource
{
    /// <summary>Largest uncompressed chunk accepted (trace-cmd writes 10 pages per chunk).</summary>
    internal const int MaxChunkBytes = 64 << 20;

    /// <summary>Largest compression ratio believed (real trace pages compress about 5:1).</summary>
    private const int MaxRatio = 1024;

    private readonly Stream _stream;
    private readonly long _end;
    private readonly long _fileLength;
    private readonly ChunkDecompressor _decompressor;
    private readonly bool _bigEndian;
    private long _position;
    private uint _chunksLeft;
    private bool _started;
    private byte[] _compressed = [];
    private byte[] _pages = [];
    private DataDamage? _pendingDamage;

    public ChunkedPageSource(Stream stream, long offset, long size, long fileLength, int pageSize, ChunkDecompressor decompressor, bool bigEndian, string section)
        : base(pageSize, section)
    {
        _bigEndian = bigEndian;
        _stream = stream;
        _position = offset;
        // The stored size counts the chunks, not the leading u32 chunk count.
        _end = offset + 4 + size;
        _fileLength = fileLength;
        _decompressor = decompressor;
    }

    /// <summary>
    /// Set when more than one thread reads the file through these sources (<see cref="ChunkReadAhead"/>): a seek and
    /// its read are done under it. The sources of one stream share it.
    /// </summary>
    internal object? StreamGate { get; set; }

    public override bool TryReadBlock(out PageBlock block) => TryReadBlock(out block, _decompressor);

    /// <summary>Reads the next chunk, decompressing it with <paramref name="decompressor"/> (one per thread).</summary>
    internal bool TryReadBlock(out PageBlock block, ChunkDecompressor decompressor)
    {
        block = default;
        if (Damage is not null)
        {
            return false;
        }
        Span<byte> header = stackalloc byte[8];
        if (!_started)
        {
            _started = true;
            if (!ReadExact(header[..4], "chunk count"))
            {
                return false;
            }
            _chunksLeft = ReadU32(header);
            if (_chunksLeft > (ulong)(_end - _position) / 8)
            {
                return Fail(_position - 4, $"chunk count {_chunksLeft} cannot fit in the {Bytes(_end - _position)} bytes of this CPU's data");
            }
        }
        if (_chunksLeft == 0)
        {
            return FlushPending();
        }
        long chunkOffset = _position;
        if (!ReadExact(header, "chunk header"))
        {
            return false;
        }
        uint compressedSize = ReadU32(header);
        uint uncompressedSize = ReadU32(header[4..]);
        if (compressedSize > _end - _position)
        {
            return Fail(chunkOffset, $"chunk of {compressedSize} compressed bytes runs past the end of this CPU's data ({Bytes(_end - _position)} bytes left)");
        }
        if (uncompressedSize == 0 || uncompressedSize > MaxChunkBytes)
        {
            return Fail(chunkOffset + 4, $"chunk uncompressed size {uncompressedSize} is outside 1..{MaxChunkBytes}");
        }
        // Every CPU holds its current chunk: a lying size on many CPUs must not add up to gigabytes.
        if (uncompressedSize > (ulong)compressedSize * MaxRatio + (ulong)PageSize)
        {
            return Fail(chunkOffset + 4, $"chunk claims {uncompressedSize} bytes from {compressedSize} compressed bytes (ratio above {MaxRatio})");
        }
        if (_compressed.Length < compressedSize)
        {
            _compressed = new byte[compressedSize];
        }
        if (!ReadExact(_compressed.AsSpan(0, (int)compressedSize), "compressed chunk"))
        {
            return false;
        }
        if (_pages.Length < uncompressedSize)
        {
            _pages = new byte[uncompressedSize];
        }
        int produced = decompressor.Decompress(_compressed, (int)compressedSize, _pages.AsSpan(0, (int)uncompressedSize), out string? error);
        if (produced < 0)
        {
            return Fail(chunkOffset, $"{decompressor.Algorithm} chunk does not decompress: {error}");
        }
        if (produced != uncompressedSize)
        {
            return Fail(chunkOffset, $"chunk decompressed to {produced} bytes, its header says {uncompressedSize}");
        }
        _chunksLeft--;
        int whole = produced / PageSize * PageSize;
        if (whole != produced)
        {
            // Deliver the whole pages first; the partial tail is reported on the next call.
            _chunksLeft = 0;
            _pendingDamage = new DataDamage(Section, chunkOffset, $"chunk holds {produced} bytes, not a whole number of {PageSize}-byte pages");
        }
        if (whole == 0)
        {
            return FlushPending();
        }
        block = new PageBlock(_pages, whole, chunkOffset, exactOffsets: false);
        return true;
    }

    /// <summary>
    /// Gives the source another buffer for the chunks it decompresses next (grown as needed), so the block it
    /// returned last stays intact while <see cref="ChunkReadAhead"/> holds it.
    /// </summary>
    internal void ReplacePages(byte[] pages) => _pages = pages;

    private uint ReadU32(ReadOnlySpan<byte> s) =>
        _bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(s) : BinaryPrimitives.ReadUInt32LittleEndian(s);

    private bool FlushPending()
    {
        if (_pendingDamage is not null)
        {
            Damage = _pendingDamage;
            _pendingDamage = null;
        }
        return false;
    }

    private bool ReadExact(Span<byte> destination, string what)
    {
        long available = Math.Min(_end, _fileLength) - _position;
        if (available < destination.Length)
        {
            long at = Math.Min(_end, _fileLength);
            return Fail(_position, _fileLength < _end && at == _fileLength
                ? $"the file ends at byte {Bytes(_fileLength)} inside the {what} ({Bytes(_end - _fileLength)} bytes of this CPU's data missing)"
                : $"{what} of {destination.Length} bytes runs past the end of this CPU's data");
        }
        int read;
        if (StreamGate is { } gate)
        {
            lock (gate)
            {
                read = ReadAt(destination);
            }
        }
        else
        {
            read = ReadAt(destination);
        }
        if (read < destination.Length)
        {
            return Fail(_position + read, $"the file ends at byte {Bytes(_position + read)} inside the {what}");
        }
        _position += destination.Length;
        return true;
    }

    private int ReadAt(Span<byte> destination)
    {
        _stream.Position = _position;
        return _stream.ReadAtLeast(destination, destination.Length, throwOnEndOfStream: false);
    }
}

/// <summary>A raw <c>trace_pipe_raw</c> capture: a sequential stream of pages (need not be seekable).</summary>
internal sealed class RawStreamPageSource : PageSource
{
    private const int PagesPerBlock = 16;

    private readonly Stream _stream;
    private readonly byte[] _buffer;
    private long _position;

    public RawStreamPageSource(Stream stream, int pageSize, string section)
        : base(pageSize, section)
    {
        _stream = stream;
        _buffer = ArrayPool<byte>.Shared.Rent(pageSize * PagesPerBlock);
    }

    public override bool TryReadBlock(out PageBlock block)
    {
        block = default;
        if (Damage is not null)
        {
            return false;
        }
        int want = _buffer.Length / PageSize * PageSize;
        int read = _stream.ReadAtLeast(_buffer.AsSpan(0, want), want, throwOnEndOfStream: false);
        int whole = read / PageSize * PageSize;
        if (whole < read)
        {
            Fail(_position + whole, $"the capture ends with a partial page of {read - whole} bytes (page size {PageSize})");
        }
        if (whole == 0)
        {
            return false;
        }
        block = new PageBlock(_buffer, whole, _position, exactOffsets: true);
        _position += whole;
        return true;
    }

    public override void Dispose() => ArrayPool<byte>.Shared.Return(_buffer);
}
