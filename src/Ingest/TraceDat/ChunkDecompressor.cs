using System.IO.Compression;
using Pipeline.Ingest.Native;

namespace Pipeline.Ingest.TraceDat;

/// <summary>Decompresses the blocks of a v7 trace.dat: zstd through libzstd, zlib through <see cref="ZLibStream"/>.</summary>
internal sealed class ChunkDecompressor : IDisposable
{
    private readonly ZstdDecompressor? _zstd;

    private ChunkDecompressor(string algorithm, ZstdDecompressor? zstd)
    {
        Algorithm = algorithm;
        _zstd = zstd;
    }

    public string Algorithm { get; }

    /// <summary>Null for <c>none</c>; throws for an algorithm trace-cmd does not define.</summary>
    public static ChunkDecompressor? Create(string algorithm, string file, long offset)
    {
        Validate(algorithm, file, offset);
        return algorithm switch
        {
            "zstd" => new ChunkDecompressor(algorithm, new ZstdDecompressor()),
            "zlib" => new ChunkDecompressor(algorithm, null),
            _ => null,
        };
    }

    /// <summary>Throws unless <paramref name="algorithm"/> is one trace-cmd writes.</summary>
    public static void Validate(string algorithm, string file, long offset)
    {
        if (algorithm is not ("none" or "" or "zstd" or "zlib"))
        {
            throw new Pipeline.Storage.TraceFormatException(file, offset, "byte",
                $"section 'file header': unknown compression algorithm '{algorithm}' (expected none, zstd or zlib).");
        }
    }

    /// <summary>Decompresses <paramref name="length"/> bytes of <paramref name="source"/>; returns bytes written or -1.</summary>
    public int Decompress(byte[] source, int length, Span<byte> destination, out string? error)
    {
        if (_zstd is not null)
        {
            return _zstd.Decompress(source.AsSpan(0, length), destination, out error);
        }
        try
        {
            using var input = new MemoryStream(source, 0, length, writable: false);
            using var zlib = new ZLibStream(input, CompressionMode.Decompress);
            int total = 0;
            while (total < destination.Length)
            {
                int n = zlib.Read(destination[total..]);
                if (n == 0)
                {
                    break;
                }
                total += n;
            }
            // A stream that still has data is longer than the size the file declared.
            Span<byte> probe = stackalloc byte[1];
            if (total == destination.Length && zlib.Read(probe) != 0)
            {
                error = "zlib stream is longer than the declared uncompressed size";
                return -1;
            }
            error = null;
            return total;
        }
        catch (InvalidDataException e)
        {
            error = "zlib: " + e.Message;
            return -1;
        }
    }

    public void Dispose() => _zstd?.Dispose();
}
