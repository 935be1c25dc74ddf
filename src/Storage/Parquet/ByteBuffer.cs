using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Pipeline.Storage.Parquet;

/// <summary>A growable byte buffer that encoders append to; reused across pages and row groups.</summary>
internal sealed class ByteBuffer
{
    private byte[] _data;

    public ByteBuffer(int capacity = 4096) => _data = new byte[Math.Max(capacity, 16)];

    /// <summary>Bytes written.</summary>
    public int Length { get; private set; }

    /// <summary>The written bytes.</summary>
    public ReadOnlySpan<byte> Written => new(_data, 0, Length);

    /// <summary>The underlying array (valid up to <see cref="Length"/>).</summary>
    public byte[] Array => _data;

    public void Clear() => Length = 0;

    /// <summary>Drops the bytes written after the first <paramref name="length"/>.</summary>
    public void Truncate(int length)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, Length);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Length = length;
    }

    /// <summary>Takes <paramref name="data"/> as the buffer, its first <paramref name="length"/> bytes written (a rewrite in place that had to grow it).</summary>
    public void Assign(byte[] data, int length)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, data.Length);
        _data = data;
        Length = length;
    }

    /// <summary>Makes room for <paramref name="count"/> more bytes and returns them; <see cref="Advance"/> commits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Span<byte> GetSpan(int count)
    {
        if (Length + count > _data.Length)
        {
            Grow(count);
        }
        return new Span<byte>(_data, Length, count);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Advance(int count) => Length += count;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteByte(byte value)
    {
        if (Length == _data.Length)
        {
            Grow(1);
        }
        _data[Length++] = value;
    }

    public void Write(ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(GetSpan(bytes.Length));
        Length += bytes.Length;
    }

    public void WriteInt32LittleEndian(int value)
    {
        BinaryPrimitives.WriteInt32LittleEndian(GetSpan(4), value);
        Length += 4;
    }

    /// <summary>Overwrites 4 bytes at <paramref name="position"/> (a length prefix reserved earlier).</summary>
    public void PatchInt32LittleEndian(int position, int value) =>
        BinaryPrimitives.WriteInt32LittleEndian(new Span<byte>(_data, position, 4), value);

    /// <summary>ULEB128, as Parquet's RLE headers and Thrift's compact protocol use.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteVarUInt64(ulong value)
    {
        Span<byte> span = GetSpan(10);
        int i = 0;
        while (value >= 0x80)
        {
            span[i++] = (byte)(value | 0x80);
            value >>= 7;
        }
        span[i++] = (byte)value;
        Length += i;
    }

    /// <summary>Zigzag then ULEB128.</summary>
    public void WriteZigZag(long value) => WriteVarUInt64(unchecked((ulong)((value << 1) ^ (value >> 63))));

    private void Grow(int count)
    {
        long wanted = Math.Max((long)_data.Length * 2, (long)Length + count);
        if (wanted > System.Array.MaxLength)
        {
            wanted = (long)Length + count <= System.Array.MaxLength
                ? System.Array.MaxLength
                : throw new InvalidOperationException($"A Parquet page would exceed {System.Array.MaxLength} bytes.");
        }
        System.Array.Resize(ref _data, (int)wanted);
    }
}
