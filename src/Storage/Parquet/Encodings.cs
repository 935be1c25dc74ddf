using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace Pipeline.Storage.Parquet;

/// <summary>
/// Parquet value and level encodings (parquet-format Encodings.md): the RLE/bit-packing hybrid for levels and
/// dictionary indices, DELTA_BINARY_PACKED for 64-bit integers that grow (row ids, timestamps, line numbers),
/// bit-packed PLAIN booleans.
/// </summary>
internal static class Encodings
{
    /// <summary>A repeat this long or longer becomes an RLE run; shorter ones stay in bit-packed groups.</summary>
    private const int MinRleRun = 8;

    /// <summary>Bit-packed runs are cut at 63 groups so that each header fits one byte, as parquet-mr does.</summary>
    private const int MaxGroupsPerRun = 63;

    private const int DeltaBlockSize = 128;
    private const int DeltaMiniblocks = 4;
    private const int DeltaMiniblockSize = DeltaBlockSize / DeltaMiniblocks;

    /// <summary>Bits needed for values up to <paramref name="max"/> (0 for 0).</summary>
    public static int BitWidth(ulong max) => 64 - BitOperations.LeadingZeroCount(max);

    /// <summary>
    /// RLE/bit-packing hybrid of 1-bit levels given as a bitmap (bit r of byte r/8 is level r, LSB first, the
    /// layout of a bit-packed run): whole bytes of 0x00 or 0xFF become RLE runs, the rest is copied as
    /// bit-packed groups. <paramref name="count"/> is the number of levels; the last byte may be partial.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void WriteBitmapLevels(ByteBuffer output, ReadOnlySpan<byte> bitmap, int count)
    {
        int bytes = (count + 7) / 8;
        int fullBytes = count / 8;
        int i = 0;
        while (i < bytes)
        {
            byte b = bitmap[i];
            if (i < fullBytes && (b == 0 || b == 0xFF))
            {
                int j = i + 1;
                while (j < fullBytes && bitmap[j] == b)
                {
                    j++;
                }
                if (j - i >= 2 || j == fullBytes)
                {
                    output.WriteVarUInt64((ulong)(j - i) * 8 << 1);
                    output.WriteByte((byte)(b & 1));
                    i = j;
                    continue;
                }
            }
            // Literal bytes until the next run of two or more 0x00/0xFF bytes (or the end).
            int start = i;
            i++;
            while (i < bytes && i - start < MaxGroupsPerRun)
            {
                byte c = bitmap[i];
                if (i + 1 < fullBytes && (c == 0 || c == 0xFF) && bitmap[i + 1] == c)
                {
                    break;
                }
                i++;
            }
            output.WriteVarUInt64(((ulong)(i - start) << 1) | 1);
            output.Write(bitmap[start..i]);
        }
    }

    /// <summary>RLE/bit-packing hybrid of small non-negative values (levels, dictionary indices) at <paramref name="width"/> bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void WriteHybrid(ByteBuffer output, ReadOnlySpan<int> values, int width)
    {
        int byteWidth = (width + 7) / 8;
        int n = values.Length;
        int i = 0;
        while (i < n)
        {
            int run = RunLength(values, i);
            if (run >= MinRleRun)
            {
                output.WriteVarUInt64((ulong)run << 1);
                int value = values[i];
                for (int b = 0; b < byteWidth; b++)
                {
                    output.WriteByte((byte)(value >> (8 * b)));
                }
                i += run;
                continue;
            }
            int start = i;
            int groups = 0;
            do
            {
                groups++;
                i += 8;
            }
            while (i < n && groups < MaxGroupsPerRun && !StartsRun(values, i));
            output.WriteVarUInt64(((ulong)groups << 1) | 1);
            int end = Math.Min(i, n);
            // Groups of 8 values of `width` bits are `width` bytes each; the last group is padded with zeros.
            int bytes = groups * width;
            PackBits(values[start..end], groups * 8, width, output.GetSpan(bytes));
            output.Advance(bytes);
            i = end;
        }
    }

    /// <summary>DELTA_BINARY_PACKED of <paramref name="values"/> (blocks of 128, 4 miniblocks of 32).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void WriteDeltaBinaryPacked(ByteBuffer output, ReadOnlySpan<long> values)
    {
        output.WriteVarUInt64(DeltaBlockSize);
        output.WriteVarUInt64(DeltaMiniblocks);
        output.WriteVarUInt64((ulong)values.Length);
        output.WriteZigZag(values.IsEmpty ? 0 : values[0]);
        Span<ulong> deltas = stackalloc ulong[DeltaBlockSize];
        Span<byte> widths = stackalloc byte[DeltaMiniblocks];
        for (int b = 1; b < values.Length; b += DeltaBlockSize)
        {
            int count = Math.Min(DeltaBlockSize, values.Length - b);
            long min = long.MaxValue;
            for (int k = 0; k < count; k++)
            {
                long d = unchecked(values[b + k] - values[b + k - 1]);
                deltas[k] = unchecked((ulong)d);
                min = Math.Min(min, d);
            }
            output.WriteZigZag(min);
            int miniblocks = (count + DeltaMiniblockSize - 1) / DeltaMiniblockSize;
            widths.Clear();
            for (int m = 0; m < miniblocks; m++)
            {
                ulong max = 0;
                int end = Math.Min(count, (m + 1) * DeltaMiniblockSize);
                for (int k = m * DeltaMiniblockSize; k < end; k++)
                {
                    deltas[k] = unchecked(deltas[k] - (ulong)min);
                    max |= deltas[k];
                }
                widths[m] = (byte)BitWidth(max);
            }
            output.Write(widths);
            for (int m = 0; m < miniblocks; m++)
            {
                int width = widths[m];
                if (width == 0)
                {
                    continue;
                }
                // 32 values of `width` bits are exactly 4 * width bytes: each miniblock starts on a byte.
                int bytes = 4 * width;
                // A last miniblock that is partly used is padded with zeros.
                int from = m * DeltaMiniblockSize;
                PackBits<ulong>(deltas[from..Math.Min(count, from + DeltaMiniblockSize)], DeltaMiniblockSize, width, output.GetSpan(bytes));
                output.Advance(bytes);
            }
        }
    }


    /// <summary>
    /// Bit-packs <paramref name="values"/> (below 2^<paramref name="width"/>, width 1..64) and zeros up to
    /// <paramref name="count"/> values, LSB first, into <c>count * width / 8</c> bytes (whole bytes: count is 32 for
    /// a delta miniblock, a multiple of 8 for hybrid groups). What <see cref="BitWriter"/> makes of them, eight bytes
    /// at a time instead of one: the delta columns (3 values per event) and the dictionary indices of every row
    /// group went through it byte by byte.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackBits<T>(ReadOnlySpan<T> values, int count, int width, Span<byte> destination)
        where T : unmanaged, IBinaryInteger<T>
    {
        ulong mask = width == 64 ? ulong.MaxValue : (1UL << width) - 1;
        ulong acc = 0;
        int bits = 0;
        int at = 0;
        for (int k = 0; k < count; k++)
        {
            ulong v = k < values.Length ? ulong.CreateTruncating(values[k]) & mask : 0;
            acc |= v << bits;
            bits += width;
            if (bits >= 64)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(destination[at..], acc);
                at += 8;
                bits -= 64;
                // The bits of v that did not fit (none when it ended exactly at the word's end).
                acc = bits == 0 ? 0 : v >> (width - bits);
            }
        }
        for (; bits > 0; bits -= 8)
        {
            destination[at++] = (byte)acc;
            acc >>= 8;
        }
    }

    /// <summary>PLAIN booleans: one bit each, LSB first.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void WriteBooleans(ByteBuffer output, ReadOnlySpan<long> values)
    {
        var bits = new BitWriter(output);
        foreach (long value in values)
        {
            bits.Put(value != 0 ? 1UL : 0UL, 1);
        }
        bits.Flush();
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int RunLength(ReadOnlySpan<int> values, int start)
    {
        int value = values[start];
        int i = start + 1;
        while (i < values.Length && values[i] == value)
        {
            i++;
        }
        return i - start;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool StartsRun(ReadOnlySpan<int> values, int start)
    {
        if (start + MinRleRun > values.Length)
        {
            return false;
        }
        int value = values[start];
        for (int k = 1; k < MinRleRun; k++)
        {
            if (values[start + k] != value)
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Packs values LSB first into bytes (Parquet's bit-packing order).</summary>
    private ref struct BitWriter(ByteBuffer output)
    {
        private ulong _acc;
        private int _bits;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Put(ulong value, int width)
        {
            if (width > 56)
            {
                Put(value & 0xFFFF_FFFF, 32);
                Put(value >> 32, width - 32);
                return;
            }
            _acc |= (value & ((1UL << width) - 1)) << _bits;
            _bits += width;
            while (_bits >= 8)
            {
                output.WriteByte((byte)_acc);
                _acc >>= 8;
                _bits -= 8;
            }
        }

        public void Flush()
        {
            if (_bits > 0)
            {
                output.WriteByte((byte)_acc);
                _acc = 0;
                _bits = 0;
            }
        }
    }
}
