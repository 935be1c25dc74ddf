using System.Buffers;
using Pipeline.Storage.Native;

namespace Pipeline.Ingest.Native;

/// <summary>
/// Streaming zstd decompression through the system's <c>libzstd.so.1</c> (ZstdSharp is not served by this
/// machine's NuGet). Reads <c>.zst</c> inputs frame after frame with bounded memory.
/// </summary>
public sealed class ZstdDecompressionStream : ForwardReadStream
{
    private readonly Stream _inner;
    private readonly bool _leaveOpen;
    private readonly byte[] _input;
    private nint _context;
    private int _inputPosition;
    private int _inputLength;
    private bool _innerDone;
    private bool _frameOpen;

    /// <summary>Wraps <paramref name="inner"/>, which holds one or more zstd frames.</summary>
    public ZstdDecompressionStream(Stream inner, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(inner);
        _inner = inner;
        _leaveOpen = leaveOpen;
        try
        {
            _context = ZstdNative.ZSTD_createDStream();
        }
        catch (DllNotFoundException e)
        {
            throw new IOException("Cannot read a zstd-compressed input: the system library libzstd.so.1 was not found (install the 'libzstd1' package).", e);
        }
        if (_context == 0)
        {
            throw new OutOfMemoryException("ZSTD_createDStream failed.");
        }
        Check(ZstdNative.ZSTD_initDStream(_context), "ZSTD_initDStream");
        _input = ArrayPool<byte>.Shared.Rent((int)Math.Min(ZstdNative.ZSTD_DStreamInSize(), 1 << 20));
    }

    /// <summary>Compressed bytes consumed so far (for error offsets and progress).</summary>
    public long CompressedPosition { get; private set; }

    /// <inheritdoc />
    public override unsafe int Read(Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_context == 0, this);
        if (buffer.IsEmpty)
        {
            return 0;
        }
        while (true)
        {
            if (_inputPosition == _inputLength && !_innerDone)
            {
                _inputLength = _inner.Read(_input, 0, _input.Length);
                _inputPosition = 0;
                _innerDone = _inputLength == 0;
            }
            if (_inputPosition == _inputLength && _innerDone)
            {
                if (_frameOpen)
                {
                    throw new CompressedDataException($"the zstd data ends inside a frame at compressed byte {CompressedPosition}: the file is truncated", CompressedPosition);
                }
                return 0;
            }
            fixed (byte* input = _input)
            fixed (byte* output = buffer)
            {
                var inBuffer = new ZstdNative.Buffer { Data = input, Size = (nuint)_inputLength, Position = (nuint)_inputPosition };
                var outBuffer = new ZstdNative.Buffer { Data = output, Size = (nuint)buffer.Length, Position = 0 };
                nuint hint = ZstdNative.ZSTD_decompressStream(_context, ref outBuffer, ref inBuffer);
                if (ZstdNative.ZSTD_isError(hint) != 0)
                {
                    long at = CompressedPosition + (long)inBuffer.Position - _inputPosition;
                    throw new CompressedDataException($"the zstd data is damaged near compressed byte {at}: {ZstdNative.ErrorText(hint)}", at);
                }
                CompressedPosition += (long)inBuffer.Position - _inputPosition;
                _inputPosition = (int)inBuffer.Position;
                _frameOpen = hint != 0;
                if (outBuffer.Position > 0)
                {
                    return (int)outBuffer.Position;
                }
            }
        }
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (_context != 0)
        {
            _ = ZstdNative.ZSTD_freeDStream(_context);
            _context = 0;
            ArrayPool<byte>.Shared.Return(_input);
            if (disposing && !_leaveOpen)
            {
                _inner.Dispose();
            }
        }
        base.Dispose(disposing);
    }

    private static void Check(nuint code, string function)
    {
        if (ZstdNative.ZSTD_isError(code) != 0)
        {
            throw new InvalidDataException($"{function} failed: {ZstdNative.ErrorText(code)}.");
        }
    }
}
