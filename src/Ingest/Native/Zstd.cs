using Pipeline.Storage.Native;

namespace Pipeline.Ingest.Native;

/// <summary>
/// Thin P/Invoke layer over the system's <c>libzstd.so.1</c>: one decompression context, whole-frame
/// decompression into a buffer whose size the caller knows (trace.dat stores every chunk's uncompressed size).
/// </summary>
internal sealed class ZstdDecompressor : IDisposable
{
    private nint _context;

    public ZstdDecompressor()
    {
        try
        {
            _context = ZstdNative.ZSTD_createDCtx();
        }
        catch (DllNotFoundException e)
        {
            throw new InvalidOperationException(
                $"This trace.dat is zstd-compressed and {ZstdNative.Library} could not be loaded ({e.Message}). Install the zstd library (e.g. apt-get install libzstd1).", e);
        }
        if (_context == 0)
        {
            throw new InvalidOperationException("ZSTD_createDCtx failed (out of memory).");
        }
    }

    /// <summary>
    /// Decompresses <paramref name="source"/> (one or more complete zstd frames) into <paramref name="destination"/>.
    /// Returns the number of bytes written, or -1 with <paramref name="error"/> set. zstd never writes past
    /// the destination capacity, so a lying frame header cannot overrun the buffer.
    /// </summary>
    public unsafe int Decompress(ReadOnlySpan<byte> source, Span<byte> destination, out string? error)
    {
        ObjectDisposedException.ThrowIf(_context == 0, this);
        nuint result;
        fixed (byte* src = source)
        fixed (byte* dst = destination)
        {
            result = ZstdNative.ZSTD_decompressDCtx(_context, dst, (nuint)destination.Length, src, (nuint)source.Length);
        }
        if (ZstdNative.ZSTD_isError(result) != 0)
        {
            error = ZstdNative.ErrorText(result);
            return -1;
        }
        error = null;
        return (int)result;
    }

    public void Dispose()
    {
        if (_context != 0)
        {
            _ = ZstdNative.ZSTD_freeDCtx(_context);
            _context = 0;
        }
    }
}
