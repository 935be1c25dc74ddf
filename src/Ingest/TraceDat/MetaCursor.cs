using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;
using Pipeline.Storage;

namespace Pipeline.Ingest.TraceDat;

/// <summary>
/// Sequential reader for trace.dat metadata (a range of the file, or a decompressed section payload). Every
/// length is checked against what is left before anything is allocated; errors name the section and offset.
/// </summary>
internal sealed class MetaCursor
{
    private readonly Stream _stream;
    private readonly long _end;
    private readonly string _fileName;
    private readonly long? _sectionFileOffset;
    private readonly byte[] _scratch = new byte[8];
    private long _position;

    /// <param name="stream">File or decompressed payload.</param>
    /// <param name="position">Start.</param>
    /// <param name="end">Exclusive end (file length, or section end).</param>
    /// <param name="fileName">For messages.</param>
    /// <param name="bigEndian">File byte order.</param>
    /// <param name="section">Section name for messages.</param>
    /// <param name="sectionFileOffset">For decompressed payloads: where the section is in the file.</param>
    public MetaCursor(Stream stream, long position, long end, string fileName, bool bigEndian, string section, long? sectionFileOffset = null)
    {
        _stream = stream;
        _position = position;
        _end = end;
        _fileName = fileName;
        BigEndian = bigEndian;
        Section = section;
        _sectionFileOffset = sectionFileOffset;
    }

    public bool BigEndian { get; set; }

    public string Section { get; set; }

    public long Position => _position;

    public long Remaining => _end - _position;

    public byte ReadU8() => Fill(1, "a byte")[0];

    public ushort ReadU16()
    {
        var s = Fill(2, "a u16");
        return BigEndian ? BinaryPrimitives.ReadUInt16BigEndian(s) : BinaryPrimitives.ReadUInt16LittleEndian(s);
    }

    public uint ReadU32()
    {
        var s = Fill(4, "a u32");
        return BigEndian ? BinaryPrimitives.ReadUInt32BigEndian(s) : BinaryPrimitives.ReadUInt32LittleEndian(s);
    }

    public ulong ReadU64()
    {
        var s = Fill(8, "a u64");
        return BigEndian ? BinaryPrimitives.ReadUInt64BigEndian(s) : BinaryPrimitives.ReadUInt64LittleEndian(s);
    }

    /// <summary>Reads a length-prefixed block after checking the length against the cap and what is left.</summary>
    public byte[] ReadBytes(ulong count, long cap, string what)
    {
        CheckLength(count, cap, what);
        var bytes = new byte[count];
        ReadInto(bytes, what);
        return bytes;
    }

    public string ReadText(ulong count, long cap, string what) => Encoding.UTF8.GetString(ReadBytes(count, cap, what));

    public void Skip(ulong count, string what)
    {
        CheckLength(count, long.MaxValue, what);
        _position += (long)count;
    }

    public void CheckLength(ulong count, long cap, string what)
    {
        if (count > (ulong)cap)
        {
            Fail($"{what}: length {count} exceeds the limit of {cap} bytes");
        }
        if (count > (ulong)Math.Max(0, Remaining))
        {
            Fail($"{what}: length {count} runs past the end ({Remaining} bytes left)");
        }
    }

    public string ReadCString(int maxLength, string what)
    {
        var sb = new StringBuilder();
        long start = _position;
        while (true)
        {
            if (Remaining <= 0)
            {
                _position = start;
                Fail($"{what}: no terminating NUL before the end");
            }
            byte b = ReadU8();
            if (b == 0)
            {
                return sb.ToString();
            }
            if (sb.Length >= maxLength)
            {
                _position = start;
                Fail($"{what}: no terminating NUL within {maxLength} bytes");
            }
            sb.Append((char)b);
        }
    }

    public void Expect(string literal, string what)
    {
        long start = _position;
        var bytes = Fill(literal.Length, what);
        for (int i = 0; i < literal.Length; i++)
        {
            if (bytes[i] != (byte)literal[i])
            {
                _position = start;
                Fail($"expected {what} ({Printable(Encoding.ASCII.GetBytes(literal))}), found {Printable(bytes)}");
            }
        }
    }

    /// <summary>Reads a fixed-size tag (e.g. the 10-byte <c>flyrecord\0</c>) and returns it.</summary>
    public byte[] ReadTag(int length, string what)
    {
        var tag = new byte[length];
        ReadInto(tag, what);
        return tag;
    }

    [DoesNotReturn]
    public void Fail(string message) => throw Error(message);

    public TraceFormatException Error(string message)
    {
        if (_sectionFileOffset is long sectionOffset)
        {
            return new TraceFormatException(_fileName, sectionOffset, "byte",
                $"section '{Section}' (at file offset {sectionOffset}), offset {_position} of its decompressed payload: {message}");
        }
        return new TraceFormatException(_fileName, _position, "byte", $"section '{Section}': {message}");
    }

    public static string Printable(ReadOnlySpan<byte> bytes)
    {
        var sb = new StringBuilder("'");
        foreach (byte b in bytes)
        {
            if (b is >= 0x20 and < 0x7f && b != (byte)'\'')
            {
                sb.Append((char)b);
            }
            else
            {
                sb.Append("\\x").Append(b.ToString("x2", CultureInfo.InvariantCulture));
            }
        }
        return sb.Append('\'').ToString();
    }

    private ReadOnlySpan<byte> Fill(int count, string what)
    {
        var span = _scratch.AsSpan(0, Math.Min(count, 8));
        if (count > 8)
        {
            span = new byte[count];
        }
        ReadInto(span, what);
        return span;
    }

    private void ReadInto(Span<byte> destination, string what)
    {
        if (destination.Length > Remaining)
        {
            Fail($"expected {what} ({destination.Length} bytes), found {Math.Max(0, Remaining)} bytes before the end");
        }
        if (_stream.Position != _position)
        {
            _stream.Position = _position;
        }
        int read = _stream.ReadAtLeast(destination, destination.Length, throwOnEndOfStream: false);
        if (read < destination.Length)
        {
            _position += read;
            Fail($"expected {what} ({destination.Length} bytes), the data ends after {read}");
        }
        _position += destination.Length;
    }
}
