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
/// Each chunk is decompressed on its own (sizes bounded before anything is allocated). While the caller decodes
/// one chunk's pages, the next chunk is read and decompressed ahead on a pool thread (decompression is a fifth
/// of the reading thread's work on a zstd trace, and that thread is the one ingest waits for); the caller sees
/// the same blocks, and any damage at the same call, as when each chunk is read only when asked for.
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
    // The chunk after the one delivered: its own buffers (the delivered block stays valid until the next call).
    private Task<Decompressed>? _ahead;
    private byte[] _aheadCompressed = [];
    private byte[] _aheadPages = [];

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

    public override bool TryReadBlock(out PageBlock block)
    {
        block = default;
        if (Damage is not null)
        {
            return false;
        }
        if (_ahead is not null)
        {
            Decompressed ahead = _ahead.GetAwaiter().GetResult();
            _ahead = null;
            (_pages, _aheadPages) = (_aheadPages, _pages);
            (_compressed, _aheadCompressed) = (_aheadCompressed, _compressed);
            return Deliver(ahead, out block);
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
        if (CheckSizes(compressedSize, uncompressedSize, _end - _position) is { } problem)
        {
            return Fail(chunkOffset + problem.At, problem.Message);
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
        return Deliver(Decompress(_decompressor, _compressed, (int)compressedSize, _pages, (int)uncompressedSize, chunkOffset), out block);
    }

    public override void Dispose()
    {
        // The chunk ahead writes into this source's buffers: let it finish (its result, or damage, is not needed).
        if (_ahead is { } ahead)
        {
            _ahead = null;
            try
            {
                ahead.Wait();
            }
            catch (AggregateException)
            {
                // Its damage would have been reported at the next read, which will not come.
            }
        }
        base.Dispose();
    }

    /// <summary>What a chunk's header claims, checked before anything is allocated: null, or where (from the chunk start) and what is wrong.</summary>
    private (int At, string Message)? CheckSizes(uint compressedSize, uint uncompressedSize, long left)
    {
        if (compressedSize > left)
        {
            return (0, $"chunk of {compressedSize} compressed bytes runs past the end of this CPU's data ({Bytes(left)} bytes left)");
        }
        if (uncompressedSize == 0 || uncompressedSize > MaxChunkBytes)
        {
            return (4, $"chunk uncompressed size {uncompressedSize} is outside 1..{MaxChunkBytes}");
        }
        // Every CPU holds its current chunk: a lying size on many CPUs must not add up to gigabytes.
        if (uncompressedSize > (ulong)compressedSize * MaxRatio + (ulong)PageSize)
        {
            return (4, $"chunk claims {uncompressedSize} bytes from {compressedSize} compressed bytes (ratio above {MaxRatio})");
        }
        return null;
    }

    private static Decompressed Decompress(ChunkDecompressor decompressor, byte[] compressed, int compressedSize, byte[] pages, int uncompressedSize, long chunkOffset)
    {
        int produced = decompressor.Decompress(compressed, compressedSize, pages.AsSpan(0, uncompressedSize), out string? error);
        return new Decompressed(chunkOffset, uncompressedSize, produced, error);
    }

    /// <summary>Hands out a decompressed chunk's whole pages (or its damage), then starts on the next chunk.</summary>
    private bool Deliver(Decompressed chunk, out PageBlock block)
    {
        block = default;
        if (chunk.Produced < 0)
        {
            return Fail(chunk.Offset, $"{_decompressor.Algorithm} chunk does not decompress: {chunk.Error}");
        }
        if (chunk.Produced != chunk.Declared)
        {
            return Fail(chunk.Offset, $"chunk decompressed to {chunk.Produced} bytes, its header says {chunk.Declared}");
        }
        _chunksLeft--;
        int whole = chunk.Produced / PageSize * PageSize;
        if (whole != chunk.Produced)
        {
            // Deliver the whole pages first; the partial tail is reported on the next call.
            _chunksLeft = 0;
            _pendingDamage = new DataDamage(Section, chunk.Offset, $"chunk holds {chunk.Produced} bytes, not a whole number of {PageSize}-byte pages");
        }
        if (whole == 0)
        {
            return FlushPending();
        }
        block = new PageBlock(_pages, whole, chunk.Offset, exactOffsets: false);
        StartAhead();
        return true;
    }

    /// <summary>
    /// Reads the next chunk and starts its decompression, when it can be read whole and its sizes are believable.
    /// Anything else is left, untouched, to the next call, which meets the problem and reports it exactly as
    /// a read on demand does.
    /// </summary>
    private void StartAhead()
    {
        if (_chunksLeft == 0)
        {
            return;
        }
        long chunkOffset = _position;
        Span<byte> header = stackalloc byte[8];
        if (!TryReadAhead(chunkOffset, header))
        {
            return;
        }
        uint compressedSize = ReadU32(header);
        uint uncompressedSize = ReadU32(header[4..]);
        if (CheckSizes(compressedSize, uncompressedSize, _end - (chunkOffset + 8)) is not null)
        {
            return;
        }
        if (_aheadCompressed.Length < compressedSize)
        {
            _aheadCompressed = new byte[compressedSize];
        }
        if (!TryReadAhead(chunkOffset + 8, _aheadCompressed.AsSpan(0, (int)compressedSize)))
        {
            return;
        }
        if (_aheadPages.Length < uncompressedSize)
        {
            _aheadPages = new byte[uncompressedSize];
        }
        _position = chunkOffset + 8 + compressedSize;
        ChunkDecompressor decompressor = _decompressor;
        byte[] compressed = _aheadCompressed, pages = _aheadPages;
        int size = (int)compressedSize, declared = (int)uncompressedSize;
        _ahead = Task.Run(() => Decompress(decompressor, compressed, size, pages, declared, chunkOffset));
    }

    /// <summary>Reads <paramref name="destination"/> at <paramref name="offset"/> if this CPU's data holds it; false (nothing reported) otherwise.</summary>
    private bool TryReadAhead(long offset, Span<byte> destination)
    {
        if (Math.Min(_end, _fileLength) - offset < destination.Length)
        {
            return false;
        }
        _stream.Position = offset;
        return _stream.ReadAtLeast(destination, destination.Length, throwOnEndOfStream: false) == destination.Length;
    }

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
        _stream.Position = _position;
        int read = _stream.ReadAtLeast(destination, destination.Length, throwOnEndOfStream: false);
        if (read < destination.Length)
        {
            return Fail(_position + read, $"the file ends at byte {Bytes(_position + read)} inside the {what}");
        }
        _position += destination.Length;
        return true;
    }

    /// <summary>A chunk after decompression: its file offset, declared size, bytes produced (-1: failed, with <c>Error</c>).</summary>
    private readonly record struct Decompressed(long Offset, int Declared, int Produced, string? Error);
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
