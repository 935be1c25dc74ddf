using System.Buffers;
using System.Runtime.InteropServices;

namespace Pipeline.Ingest.Native;

/// <summary>Damage inside compressed input, at a byte offset of the compressed file.</summary>
public sealed class CompressedDataException(string message, long offset) : IOException(message)
{
    /// <summary>Offset in the compressed file where the damage was found.</summary>
    public long Offset { get; } = offset;
}

/// <summary>
/// Streaming gzip decompression through the system's zlib (<c>libz.so.1</c>). .NET's GZipStream ends quietly
/// when the file is cut short and reports damage without an offset; zlib says where each member ends, so a
/// truncated file (input ending inside a member, trailer included) and damage are reported at their compressed
/// byte offset. Members written one after another (<c>cat a.gz b.gz</c>) are read as one stream, as gzip does.
/// </summary>
public sealed unsafe partial class GzipDecompressionStream : ForwardReadStream
{
    private const string Library = "libz.so.1";
    private const int ZOk = 0;
    private const int ZStreamEnd = 1;
    private const int ZBufError = -5;
    private const int GzipWindowBits = 15 + 16;

    private readonly Stream _inner;
    private readonly byte[] _input;
    private ZStream* _stream;
    private int _inputPosition;
    private int _inputLength;
    private bool _innerDone;
    private bool _memberOpen;

    /// <summary>Wraps <paramref name="inner"/>, which holds one or more gzip members.</summary>
    public GzipDecompressionStream(Stream inner)
    {
        ArgumentNullException.ThrowIfNull(inner);
        _inner = inner;
        // zlib keeps a pointer back to the z_stream and checks it on every call: it must not move.
        _stream = (ZStream*)NativeMemory.AllocZeroed((nuint)sizeof(ZStream));
        int status;
        try
        {
            status = inflateInit2_(_stream, GzipWindowBits, "1.2.11", sizeof(ZStream));
        }
        catch (DllNotFoundException e)
        {
            NativeMemory.Free(_stream);
            _stream = null;
            throw new IOException("Cannot read a gzip-compressed input: the system library libz.so.1 was not found (install the 'zlib1g' package).", e);
        }
        if (status != ZOk)
        {
            NativeMemory.Free(_stream);
            _stream = null;
            throw new IOException($"zlib inflateInit2 failed with status {status}.");
        }
        _input = ArrayPool<byte>.Shared.Rent(1 << 16);
    }

    /// <summary>Compressed bytes consumed so far.</summary>
    public long CompressedPosition { get; private set; }

    /// <inheritdoc />
    public override int Read(Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_stream is null, this);
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
                if (_memberOpen)
                {
                    throw new CompressedDataException($"the gzip data ends inside a member at compressed byte {CompressedPosition}: the file is truncated", CompressedPosition);
                }
                return 0;
            }
            if (!_memberOpen && _input[_inputPosition] != 0x1f)
            {
                throw new CompressedDataException($"expected a gzip member (magic 1f 8b) at compressed byte {CompressedPosition}, found 0x{_input[_inputPosition]:x2}: damaged data or trailing garbage", CompressedPosition);
            }
            fixed (byte* input = _input)
            fixed (byte* output = buffer)
            {
                _stream->NextIn = input + _inputPosition;
                _stream->AvailIn = (uint)(_inputLength - _inputPosition);
                _stream->NextOut = output;
                _stream->AvailOut = (uint)buffer.Length;
                _memberOpen = true;
                int status = inflate(_stream, 0);
                int consumed = (int)(_stream->NextIn - (input + _inputPosition));
                int produced = buffer.Length - (int)_stream->AvailOut;
                if (status is not (ZOk or ZStreamEnd or ZBufError))
                {
                    string why = _stream->Message is null ? $"zlib status {status}" : Marshal.PtrToStringAnsi((nint)_stream->Message) ?? $"zlib status {status}";
                    throw new CompressedDataException($"the gzip data is damaged near compressed byte {CompressedPosition + consumed}: {why}", CompressedPosition + consumed);
                }
                CompressedPosition += consumed;
                _inputPosition += consumed;
                if (status == ZStreamEnd)
                {
                    // The member and its CRC-32/length trailer checked out; another member may follow.
                    _memberOpen = false;
                    _ = inflateReset(_stream);
                }
                if (produced > 0)
                {
                    return produced;
                }
            }
        }
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (_stream is not null)
        {
            _ = inflateEnd(_stream);
            NativeMemory.Free(_stream);
            _stream = null;
            ArrayPool<byte>.Shared.Return(_input);
            if (disposing)
            {
                _inner.Dispose();
            }
        }
        base.Dispose(disposing);
    }

    /// <summary>zlib's <c>z_stream</c> on LP64 (uInt 32-bit, uLong 64-bit).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct ZStream
    {
        public byte* NextIn;
        public uint AvailIn;
        public nuint TotalIn;
        public byte* NextOut;
        public uint AvailOut;
        public nuint TotalOut;
        public byte* Message;
        public nint State;
        public nint Alloc;
        public nint Free;
        public nint Opaque;
        public int DataType;
        public nuint Adler;
        public nuint Reserved;
    }

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int inflateInit2_(ZStream* stream, int windowBits, string version, int streamSize);

    [LibraryImport(Library)]
    private static partial int inflate(ZStream* stream, int flush);

    [LibraryImport(Library)]
    private static partial int inflateReset(ZStream* stream);

    [LibraryImport(Library)]
    private static partial int inflateEnd(ZStream* stream);
}
