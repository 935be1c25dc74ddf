using Pipeline.Storage.Parquet;

namespace Pipeline.Storage.Tests;

/// <summary>
/// The word-at-a-time bit packing of DELTA_BINARY_PACKED miniblocks and hybrid bit-packed runs gives the bytes of
/// a plain one-value-at-a-time bit writer in Parquet's order (LSB first), for every width and for series whose
/// last block and last group are partly filled; and the vector min/max statistics agree with a plain loop.
/// </summary>
public sealed class EncodingsTests
{
    /// <summary>DELTA_BINARY_PACKED as parquet-format's Encodings.md spells it, one bit at a time.</summary>
    private static byte[] ReferenceDelta(long[] values)
    {
        var bytes = new List<byte>();
        void VarUInt(ulong v) => AddVarUInt(bytes, v);
        void ZigZag(long v) => VarUInt(unchecked((ulong)((v << 1) ^ (v >> 63))));
        VarUInt(128);
        VarUInt(4);
        VarUInt((ulong)values.Length);
        ZigZag(values.Length == 0 ? 0 : values[0]);
        for (int b = 1; b < values.Length; b += 128)
        {
            int count = Math.Min(128, values.Length - b);
            var deltas = new ulong[128];
            long min = long.MaxValue;
            for (int k = 0; k < count; k++)
            {
                long d = unchecked(values[b + k] - values[b + k - 1]);
                deltas[k] = unchecked((ulong)d);
                min = Math.Min(min, d);
            }
            ZigZag(min);
            int miniblocks = (count + 31) / 32;
            var widths = new int[4];
            for (int m = 0; m < miniblocks; m++)
            {
                ulong or = 0;
                for (int k = m * 32; k < Math.Min(count, (m + 1) * 32); k++)
                {
                    deltas[k] = unchecked(deltas[k] - (ulong)min);
                    or |= deltas[k];
                }
                widths[m] = 64 - System.Numerics.BitOperations.LeadingZeroCount(or);
            }
            bytes.AddRange(widths.Select(w => (byte)w));
            var bits = new List<bool>();
            for (int m = 0; m < miniblocks; m++)
            {
                for (int k = m * 32; k < (m + 1) * 32 && widths[m] > 0; k++)
                {
                    ulong v = k < count ? deltas[k] : 0;
                    for (int i = 0; i < widths[m]; i++)
                    {
                        bits.Add(((v >> i) & 1) != 0);
                    }
                }
            }
            bytes.AddRange(Pack(bits));
        }
        return [.. bytes];
    }

    private static void AddVarUInt(List<byte> bytes, ulong v)
    {
        for (; v >= 0x80; v >>= 7)
        {
            bytes.Add((byte)(v | 0x80));
        }
        bytes.Add((byte)v);
    }

    private static IEnumerable<byte> Pack(List<bool> bits)
    {
        for (int i = 0; i < bits.Count; i += 8)
        {
            int b = 0;
            for (int k = 0; k < 8 && i + k < bits.Count; k++)
            {
                b |= bits[i + k] ? 1 << k : 0;
            }
            yield return (byte)b;
        }
    }

    public static TheoryData<int, int> Series() => new()
    {
        { 0, 1 }, { 1, 1 }, { 2, 2 }, { 129, 3 }, { 257, 4 }, { 300, 5 }, { 1000, 6 }, { 4097, 7 },
    };

    [Theory]
    [MemberData(nameof(Series))]
    public void WriteDeltaBinaryPacked_EveryWidth_SameBytesAsBitByBit(int length, int seed)
    {
        var random = new Random(seed);
        foreach (int maxWidth in new[] { 0, 1, 3, 7, 8, 13, 31, 32, 33, 47, 56, 57, 63, 64 })
        {
            // Deltas of up to maxWidth bits, with occasional jumps of the full range (timestamps, offsets, extremes).
            var values = new long[length];
            long v = random.Next();
            for (int i = 0; i < length; i++)
            {
                ulong delta = maxWidth == 0 ? 0 : (ulong)random.NextInt64() & (maxWidth == 64 ? ulong.MaxValue : (1UL << maxWidth) - 1);
                v = unchecked(v + (long)delta);
                values[i] = i % 97 == 50 ? (random.Next(2) == 0 ? long.MinValue : long.MaxValue) : v;
            }
            var output = new ByteBuffer(16);

            Encodings.WriteDeltaBinaryPacked(output, values);

            Assert.Equal(ReferenceDelta(values), output.Written.ToArray());
        }
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(3, 3)]
    [InlineData(7, 4)]
    [InlineData(12, 5)]
    [InlineData(17, 6)]
    [InlineData(31, 7)]
    public void WriteHybrid_BitPackedRuns_SameBytesAsBitByBit(int width, int seed)
    {
        var random = new Random(seed);
        foreach (int length in new[] { 1, 5, 8, 9, 63 * 8 + 3, 1000, 5003 })
        {
            // Mostly varying values, so that runs are bit-packed, with some repeats long enough for RLE runs.
            var values = new int[length];
            int max = width == 31 ? int.MaxValue : (1 << width) - 1;
            for (int i = 0; i < length; i++)
            {
                values[i] = i % 50 < 40 ? random.Next(max) : values[Math.Max(0, i - 1)];
            }
            var output = new ByteBuffer(16);

            Encodings.WriteHybrid(output, values, width);

            Assert.Equal(ReferenceHybrid(values, width), output.Written.ToArray());
        }
    }

    /// <summary>The hybrid as the writer lays it out (runs of 8+ repeats as RLE, else groups of 8), one bit at a time.</summary>
    private static byte[] ReferenceHybrid(int[] values, int width)
    {
        var bytes = new List<byte>();
        void VarUInt(ulong v) => AddVarUInt(bytes, v);
        bool Repeats(int at) => at + 8 <= values.Length && values.Skip(at).Take(8).All(x => x == values[at]);
        for (int i = 0; i < values.Length;)
        {
            int run = values.Skip(i).TakeWhile(x => x == values[i]).Count();
            if (run >= 8)
            {
                VarUInt((ulong)run << 1);
                bytes.AddRange(BitConverter.GetBytes(values[i]).Take((width + 7) / 8));
                i += run;
                continue;
            }
            // Groups of 8 until a run of 8 repeats starts, at most 63 groups.
            int start = i;
            int groups = 1;
            while (start + groups * 8 < values.Length && groups < 63 && !Repeats(start + groups * 8))
            {
                groups++;
            }
            i = Math.Min(start + groups * 8, values.Length);
            VarUInt(((ulong)groups << 1) | 1);
            var bits = new List<bool>();
            for (int k = start; k < start + groups * 8; k++)
            {
                int v = k < values.Length ? values[k] : 0;
                for (int b = 0; b < width; b++)
                {
                    bits.Add(((v >> b) & 1) != 0);
                }
            }
            bytes.AddRange(Pack(bits));
        }
        return [.. bytes];
    }

    [Theory]
    [InlineData(1, false)]
    [InlineData(7, true)]
    [InlineData(8, false)]
    [InlineData(33, true)]
    [InlineData(1001, false)]
    [InlineData(1001, true)]
    public void MinMax_SignedAndUnsigned_SameAsPlainLoop(int length, bool unsigned)
    {
        var random = new Random(length);
        var longs = Enumerable.Range(0, length).Select(i => i == length / 2 ? long.MinValue : random.NextInt64(long.MinValue, long.MaxValue)).ToArray();
        var ints = longs.Select(x => (int)x).ToArray();

        var (min, max) = EventRowGroupEncoder.MinMax(longs, unsigned ? long.MinValue : 0);
        var (imin, imax) = EventRowGroupEncoder.MinMax<int>(ints, 0);

        Assert.Equal(unsigned ? (long)longs.Min(x => (ulong)x) : longs.Min(), min);
        Assert.Equal(unsigned ? (long)longs.Max(x => (ulong)x) : longs.Max(), max);
        Assert.Equal(ints.Min(), imin);
        Assert.Equal(ints.Max(), imax);
    }
}
