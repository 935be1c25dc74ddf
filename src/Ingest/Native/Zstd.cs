using System.Runtime.InteropServices;

namespace Pipeline.Ingest.Native;

/// <summary>
/// Thin P/Invoke layer over the system's <c>libzstd.so.1</c>: one decompression context, whole-frame
/// decompression into a buffer whose size the caller knows (trace.dat stores every chunk's uncompressed size).
/// </summary>
internal sealed partial class ZstdDecompressor : IDisposable
{
    private const string Library = "libzstd.so.1";

    private nint _context;

    public ZstdDecompressor()
    {
        try
        {
            _context = ZSTD_createDCtx();
        }
        catch (DllNotFoundException e)
        {
            throw new InvalidOperationException(
                $"This trace.dat is zstd-compressed and {Library} could not be loaded ({e.Message}). Install the zstd library (e.g. apt-get install libzstd1).", e);
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
            result = ZSTD_decompressDCtx(_context, dst, (nuint)destination.Length, src, (nuint)source.Length);
        }
        if (ZSTD_isError(result) != 0)
        {
            error = Marshal.PtrToStringAnsi(ZSTD_getErrorName(result)) ?? "unknown zstd error";
            return -1;
        }
        error = null;
        return (int)result;
    }

    public void Dispose()
    {
        if (_context != 0)
        {
            _ = ZSTD_freeDCtx(_context);
            _context = 0;
        }
    }

    [LibraryImport(Library)]
    private static partial nint ZSTD_createDCtx();

    [LibraryImport(Library)]
    private static partial nuint ZSTD_freeDCtx(nint context);

    [LibraryImport(Library)]
    private static unsafe partial nuint ZSTD_decompressDCtx(nint context, byte* dst, nuint dstCapacity, byte* src, nuint srcSize);

    [LibraryImport(Library)]
    private static partial uint ZSTD_isError(nuint code);

    [LibraryImport(Library)]
    private static partial nint ZSTD_getErrorName(nuint code);
}
