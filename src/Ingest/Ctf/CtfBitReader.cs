using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;

namespace Pipeline.Ingest.Ctf;

/// <summary>A packet's bytes could not hold the field being decoded.</summary>
internal sealed class CtfDecodeException(string message, long bitPosition) : Exception(message)
{
    /// <summary>Bit offset in the packet where decoding stopped.</summary>
    public long BitPosition { get; } = bitPosition;
}

/// <summary>
/// Bit-level decoder over one packet (CTF 1.8 §4.1): fields start at their alignment, integers of any width
/// up to 64 bits are read in their own byte order, and every read is checked against the packet's content size.
/// Integer values land in <see cref="Slots"/> so sequences and variants can find their length and tag.
/// </summary>
internal sealed class CtfBitReader(int slotCount)
{
    private byte[] _buffer = [];
    private long _position;
    private long _end;

    /// <summary>Last value of every declared field, indexed by <see cref="CtfField.Slot"/>.</summary>
    public ulong[] Slots { get; } = new ulong[Math.Max(1, slotCount)];

    /// <summary>Current clock value (cycles), updated by clock-mapped integers while <see cref="UpdateClock"/> is set.</summary>
    public ulong Clock;

    /// <summary>Whether clock-mapped integers advance <see cref="Clock"/> (event headers do; timestamp_end does not).</summary>
    public bool UpdateClock;

    public long Position
    {
        get => _position;
        set => _position = value;
    }

    public long End => _end;

    public void Reset(byte[] buffer, long endBits)
    {
        _buffer = buffer;
        _end = endBits;
        _position = 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Align(int bits)
    {
        if (bits > 1)
        {
            long aligned = (_position + bits - 1) & ~((long)bits - 1);
            if (aligned > _end)
            {
                ThrowOverrun(aligned - _position, "alignment padding");
            }
            _position = aligned;
        }
    }

    /// <summary>Reads an integer's raw bits (zero-extended), aligned first.</summary>
    public ulong ReadRaw(CtfInteger type)
    {
        Align(type.Align);
        int size = type.Size;
        long position = _position;
        if (position + size > _end)
        {
            ThrowOverrun(size, "an integer");
        }
        _position = position + size;
        int index = (int)(position >> 3);
        bool little = type.ByteOrder != CtfByteOrder.Big;
        if ((position & 7) == 0)
        {
            switch (size)
            {
                case 8:
                    return _buffer[index];
                case 16:
                    return little ? BinaryPrimitives.ReadUInt16LittleEndian(_buffer.AsSpan(index)) : BinaryPrimitives.ReadUInt16BigEndian(_buffer.AsSpan(index));
                case 32:
                    return little ? BinaryPrimitives.ReadUInt32LittleEndian(_buffer.AsSpan(index)) : BinaryPrimitives.ReadUInt32BigEndian(_buffer.AsSpan(index));
                case 64:
                    return little ? BinaryPrimitives.ReadUInt64LittleEndian(_buffer.AsSpan(index)) : BinaryPrimitives.ReadUInt64BigEndian(_buffer.AsSpan(index));
            }
        }
        return ReadBitfield(index, (int)(position & 7), size, little);
    }

    // Little-endian bitfields count bits from the least significant bit of the first byte, big-endian ones
    // from the most significant bit (CTF 1.8 §4.1.5).
    private ulong ReadBitfield(int index, int shift, int size, bool little)
    {
        int bytes = (shift + size + 7) >> 3;
        UInt128 accumulator = 0;
        if (little)
        {
            for (int i = 0; i < bytes; i++)
            {
                accumulator |= (UInt128)_buffer[index + i] << (8 * i);
            }
            accumulator >>= shift;
        }
        else
        {
            for (int i = 0; i < bytes; i++)
            {
                accumulator = (accumulator << 8) | _buffer[index + i];
            }
            accumulator >>= (bytes * 8) - shift - size;
        }
        ulong mask = size == 64 ? ulong.MaxValue : (1UL << size) - 1;
        return (ulong)accumulator & mask;
    }

    /// <summary>Reads an integer and stores it (sign-extended when signed) in its slot; advances the clock if mapped.</summary>
    public ulong ReadInteger(CtfInteger type, int slot)
    {
        ulong raw = ReadRaw(type);
        if (type.Signed && type.Size < 64)
        {
            int unused = 64 - type.Size;
            raw = unchecked((ulong)((long)(raw << unused) >> unused));
        }
        if (slot >= 0)
        {
            Slots[slot] = raw;
        }
        if (type.ClockName is not null && UpdateClock)
        {
            AdvanceClock(raw, type.Size);
        }
        return raw;
    }

    // A clock field narrower than 64 bits holds the low bits of the clock; a smaller value than the
    // current low bits means the counter wrapped once since the previous event (CTF 1.8 §8).
    private void AdvanceClock(ulong value, int size)
    {
        if (size >= 64)
        {
            Clock = value;
            return;
        }
        ulong mask = (1UL << size) - 1;
        ulong low = Clock & mask;
        ulong next = (Clock & ~mask) | (value & mask);
        if ((value & mask) < low)
        {
            next += 1UL << size;
        }
        Clock = next;
    }

    public double ReadFloat(CtfFloat type)
    {
        var integer = new CtfInteger { Size = type.Size, Align = type.Align, ByteOrder = type.ByteOrder };
        ulong raw = ReadRaw(integer);
        return type.Size == 32 ? BitConverter.Int32BitsToSingle((int)raw) : BitConverter.Int64BitsToDouble((long)raw);
    }

    /// <summary>The bytes of a NUL-terminated string (without the NUL); the reader moves past the NUL.</summary>
    public ReadOnlySpan<byte> ReadString()
    {
        Align(8);
        int start = (int)(_position >> 3);
        int endByte = (int)(_end >> 3);
        int length = _buffer.AsSpan(start, endByte - start).IndexOf((byte)0);
        if (length < 0)
        {
            ThrowOverrun((endByte - start + 1) * 8L, "a NUL-terminated string");
        }
        _position = (start + length + 1) * 8L;
        return _buffer.AsSpan(start, length);
    }

    /// <summary>The bytes of <paramref name="count"/> byte-aligned 8-bit elements (a char array).</summary>
    public ReadOnlySpan<byte> ReadBytes(long count)
    {
        Align(8);
        if (count < 0 || count > (_end - _position) / 8)
        {
            ThrowOverrun(count * 8, "a byte array");
        }
        int start = (int)(_position >> 3);
        _position += count * 8;
        return _buffer.AsSpan(start, (int)count);
    }

    /// <summary>Decodes a value without formatting it, filling slots (used for headers, contexts and nested fields).</summary>
    public void Skip(CtfType type, int slot)
    {
        switch (type)
        {
            case CtfInteger integer:
                ReadInteger(integer, slot);
                break;
            case CtfEnum enumeration:
                ReadInteger(enumeration.Container, slot);
                break;
            case CtfString:
                ReadString();
                break;
            case CtfFloat floating:
                ReadFloat(floating);
                break;
            case CtfStruct structure:
                Align(structure.Alignment);
                foreach (var field in structure.Fields)
                {
                    Skip(field.Type, field.Slot);
                }
                break;
            case CtfVariant variant:
                Skip(SelectOption(variant), -1);
                break;
            case CtfArray array:
                SkipElements(array.Element, array.Length);
                break;
            case CtfSequence sequence:
                SkipElements(sequence.Element, SequenceLength(sequence));
                break;
        }
    }

    private void SkipElements(CtfType element, long count)
    {
        if (element is CtfInteger { Size: 8 } && element.Alignment <= 8)
        {
            ReadBytes(count);
            return;
        }
        CheckCount(count);
        for (long i = 0; i < count; i++)
        {
            Skip(element, -1);
        }
    }

    public long SequenceLength(CtfSequence sequence)
    {
        long count = unchecked((long)Slots[sequence.LengthSlot]);
        CheckCount(count);
        return count;
    }

    // Every element takes at least one bit, so a count beyond the bits left is damage, caught before looping.
    public void CheckCount(long count)
    {
        if (count < 0 || count > _end - _position)
        {
            throw new CtfDecodeException(string.Create(CultureInfo.InvariantCulture,
                $"expected an array length that fits the {_end - _position} bits left in the packet, found {count}"), _position);
        }
    }

    public CtfType SelectOption(CtfVariant variant)
    {
        long tag = unchecked((long)Slots[variant.TagSlot]);
        return variant.Select(tag) ?? throw new CtfDecodeException(string.Create(CultureInfo.InvariantCulture,
            $"expected a variant tag '{variant.Tag}' value that selects an option, found {tag}"), _position);
    }

    public static string Utf8(ReadOnlySpan<byte> bytes)
    {
        int nul = bytes.IndexOf((byte)0);
        return Encoding.UTF8.GetString(nul < 0 ? bytes : bytes[..nul]);
    }

    [DoesNotReturn]
    private void ThrowOverrun(long bits, string what) =>
        throw new CtfDecodeException(string.Create(CultureInfo.InvariantCulture,
            $"expected {what} of {bits} bits within the packet content ({_end - _position} bits left)"), _position);
}
