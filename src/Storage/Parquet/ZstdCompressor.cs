using Pipeline.Storage.Native;
using static Pipeline.Storage.Native.ZstdNative;

namespace Pipeline.Storage.Parquet;

/// <summary>
/// zstd compression of Parquet pages through the system's <c>libzstd.so.1</c> (ZstdSharp is not served by this
/// machine's NuGet; the same library decompresses trace.dat v7). One context per encoding thread.
/// </summary>
internal sealed class ZstdCompressor : IDisposable
{
    private readonly int _level;
    private nint _context;

    public ZstdCompressor(int level)
    {
        _level = level;
        _context = ZSTD_createCCtx();
        if (_context == 0)
        {
            throw new InvalidOperationException($"{Library} could not allocate a compression context.");
        }
    }

    /// <summary>Appends the zstd frame of <paramref name="source"/> to <paramref name="output"/>; returns its length.</summary>
    public unsafe int Compress(ReadOnlySpan<byte> source, ByteBuffer output)
    {
        ObjectDisposedException.ThrowIf(_context == 0, this);
        nuint bound = ZSTD_compressBound((nuint)source.Length);
        Span<byte> destination = output.GetSpan(checked((int)bound));
        nuint written;
        fixed (byte* src = source)
        fixed (byte* dst = destination)
        {
            written = ZSTD_compressCCtx(_context, dst, (nuint)destination.Length, src, (nuint)source.Length, _level);
        }
        if (ZSTD_isError(written) != 0)
        {
            throw new InvalidOperationException($"zstd compression of a {source.Length}-byte Parquet page failed: {ErrorText(written)}.");
        }
        output.Advance((int)written);
        return (int)written;
    }

    public void Dispose()
    {
        if (_context != 0)
        {
            ZSTD_freeCCtx(_context);
            _context = 0;
        }
    }
}
