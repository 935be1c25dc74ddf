using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Pipeline.Ingest.Tests.TraceDat;

/// <summary>Variants no recorded file has (zlib, time options), built by rewriting corpus files.</summary>
public class TraceDatVariantTests
{
    private const int V6OptionsEnd = 68177; // the bare u16 0 that ends the v6 options
    private const int V6CpuTable = 68189;   // after "flyrecord\0"

    private static readonly Lazy<byte[]> s_v6 = new(() => File.ReadAllBytes(TraceDatCorpus.Recorded("trace-cmd", "mm_v6_trimmed.dat")));

    public static TheoryData<ushort, byte[], Func<long, long>> TimeOptions => new()
    {
        { 7, Encoding.ASCII.GetBytes("1000000000\0"), ts => ts + 1_000_000_000 },
        { 1, Encoding.ASCII.GetBytes("0x10\0"), ts => ts + 16_000 },
        { 14, Tsc2Nsec(mult: 3, shift: 1), ts => (long)((UInt128)(ulong)ts * 3 >> 1) },
    };

    [SkippableTheory]
    [MemberData(nameof(TimeOptions))]
    public void Read_V6WithTimeOption_AdjustsTimestampsAsTraceCmd(ushort option, byte[] data, Func<long, long> expected)
    {
        var baseline = TraceDatCorpus.Read(s_v6.Value, "base.dat").Rows;
        var (rows, _, _) = TraceDatCorpus.Read(InsertV6Option(s_v6.Value, option, data), "option.dat");
        Assert.Equal(baseline.Select(r => expected(r.TsNs)), rows.Select(r => r.TsNs));
    }

    [SkippableFact]
    public void Read_V7ZlibCompressedData_GivesTheSameRowsAsUncompressed()
    {
        var nocomp = File.ReadAllBytes(TraceDatCorpus.Recorded("trace-cmd", "mm_v7_trimmed_nocomp.dat"));
        var zlib = (byte[])nocomp.Clone();
        // "none\0\0" and "zlib\0\0" have the same length: the layout stays put.
        Encoding.ASCII.GetBytes("zlib").CopyTo(zlib, 18);
        // Flag the flyrecord section (at 68427) compressed, then rewrite each CPU's pages as one zlib chunk in place.
        BinaryPrimitives.WriteUInt16LittleEndian(zlib.AsSpan(68427 + 2), 1);
        const int bufferEntries = 180224 + 16 + 6 + 8 + 1 + 6 + 4 + 4; // options section, option header, BUFFER fields before the CPU list
        foreach (var (index, offset, size) in new[] { (0, 69632, 40960), (1, 110592, 69632) })
        {
            var compressed = new MemoryStream();
            using (var z = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
            {
                z.Write(nocomp, offset, size);
            }
            var chunk = compressed.ToArray();
            var target = zlib.AsSpan(offset, size);
            target.Clear();
            BinaryPrimitives.WriteUInt32LittleEndian(target, 1);
            BinaryPrimitives.WriteUInt32LittleEndian(target[4..], (uint)chunk.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(target[8..], (uint)size);
            chunk.CopyTo(target[12..]);
            int entry = bufferEntries + index * 20;
            Assert.Equal((uint)index, BinaryPrimitives.ReadUInt32LittleEndian(zlib.AsSpan(entry)));
            Assert.Equal((ulong)offset, BinaryPrimitives.ReadUInt64LittleEndian(zlib.AsSpan(entry + 4)));
            BinaryPrimitives.WriteUInt64LittleEndian(zlib.AsSpan(entry + 12), (ulong)(8 + chunk.Length));
        }

        var expected = TraceDatCorpus.Read(nocomp, "nocomp.dat").Rows;
        var (rows, diagnostics, summary) = TraceDatCorpus.Read(zlib, "zlib.dat");
        Assert.Equal("zlib", summary.Compression);
        Assert.Null(diagnostics.Truncated);
        Assert.Equal(expected.Select(r => (r.TsNs, r.Cpu, r.Event, r.Pid)), rows.Select(r => (r.TsNs, r.Cpu, r.Event, r.Pid)));
    }

    [SkippableFact]
    public void Read_V6WithInstanceBuffer_MergesBothBuffersAndNamesTheInstance()
    {
        // A BUFFER option pointing at a second flyrecord table (appended at the end) over a copy of the same pages
        // (each CPU's data has a range of its own: the reader refuses ranges that overlap).
        var name = Encoding.ASCII.GetBytes("inst\0");
        var data = new byte[8 + name.Length];
        name.CopyTo(data, 8);
        var file = InsertV6Option(s_v6.Value, 3, data);
        int tableStart = file.Length;
        BinaryPrimitives.WriteUInt64LittleEndian(file.AsSpan(V6OptionsEnd + 6), (ulong)tableStart);
        var appended = new byte[10 + 32];
        Encoding.ASCII.GetBytes("flyrecord\0").CopyTo(appended, 0);
        file.AsSpan(V6CpuTable + 6 + data.Length, 32).CopyTo(appended.AsSpan(10));
        file = [.. file, .. appended];
        for (int cpu = 0; cpu < 2; cpu++)
        {
            int entry = tableStart + 10 + (cpu * 16);
            int offset = (int)BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(entry));
            int size = (int)BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(entry + 8));
            int copyAt = file.Length;
            file = [.. file, .. file.AsSpan(offset, size)];
            BinaryPrimitives.WriteUInt64LittleEndian(file.AsSpan(entry), (ulong)copyAt);
        }

        var baseline = TraceDatCorpus.Read(s_v6.Value, "base.dat").Rows;
        var (rows, _, summary) = TraceDatCorpus.Read(file, "instance.dat");
        Assert.Equal(["", "inst"], summary.Buffers);
        Assert.Equal(2 * baseline.Count, rows.Count);
        // Equal timestamps on the same CPU: the top buffer (earlier stream) comes first.
        for (int i = 0; i < baseline.Count; i++)
        {
            Assert.Equal((baseline[i].TsNs, baseline[i].Event), (rows[2 * i].TsNs, rows[2 * i].Event));
            Assert.DoesNotContain(rows[2 * i].Args, a => a.Key == "instance");
            Assert.Equal((baseline[i].TsNs, baseline[i].Event), (rows[2 * i + 1].TsNs, rows[2 * i + 1].Event));
            Assert.Equal(new KeyValuePair<string, string>("instance", "inst"), rows[2 * i + 1].Args[0]);
        }
    }

    private static byte[] Tsc2Nsec(uint mult, uint shift)
    {
        var data = new byte[16];
        BinaryPrimitives.WriteUInt32LittleEndian(data, mult);
        BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(4), shift);
        return data;
    }

    /// <summary>Inserts an option before the v6 options terminator and moves the CPU data offsets by its size.</summary>
    private static byte[] InsertV6Option(byte[] v6, ushort id, byte[] data)
    {
        Assert.Equal(0, BinaryPrimitives.ReadUInt16LittleEndian(v6.AsSpan(V6OptionsEnd)));
        Assert.Equal("flyrecord\0", Encoding.ASCII.GetString(v6, V6OptionsEnd + 2, 10));
        var option = new byte[6 + data.Length];
        BinaryPrimitives.WriteUInt16LittleEndian(option, id);
        BinaryPrimitives.WriteUInt32LittleEndian(option.AsSpan(2), (uint)data.Length);
        data.CopyTo(option, 6);
        var result = new byte[v6.Length + option.Length];
        v6.AsSpan(0, V6OptionsEnd).CopyTo(result);
        option.CopyTo(result, V6OptionsEnd);
        v6.AsSpan(V6OptionsEnd).CopyTo(result.AsSpan(V6OptionsEnd + option.Length));
        for (int cpu = 0; cpu < 2; cpu++)
        {
            var entry = result.AsSpan(V6CpuTable + option.Length + cpu * 16);
            BinaryPrimitives.WriteUInt64LittleEndian(entry, BinaryPrimitives.ReadUInt64LittleEndian(entry) + (ulong)option.Length);
        }
        return result;
    }
}
