using System.Buffers.Binary;
using Pipeline.Storage;

namespace Pipeline.Ingest.Tests.TraceDat;

public class TraceDatDamageTests
{
    private const int V6Cpu0Data = 69632;
    private const int V6Cpu1Data = 110592;

    private static readonly Lazy<byte[]> s_v6 = new(() => File.ReadAllBytes(TraceDatCorpus.Recorded("trace-cmd", "mm_v6_trimmed.dat")));
    private static readonly Lazy<byte[]> s_v7Zstd = new(() => File.ReadAllBytes(TraceDatCorpus.Recorded("trace-cmd", "mm_v7_trimmed_zstd.dat")));
    private static readonly Lazy<byte[]> s_v7NoComp = new(() => File.ReadAllBytes(TraceDatCorpus.Recorded("trace-cmd", "mm_v7_trimmed_nocomp.dat")));

    [SkippableTheory]
    [InlineData(5, "file header")]
    [InlineData(20, "headers")]
    [InlineData(300, "headers")]
    [InlineData(30000, "events format")]
    [InlineData(67703, "cpus")]
    [InlineData(68195, "flyrecord")]
    public void Read_V6TruncatedInMetadata_ThrowsNamingSectionAndOffset(int length, string section)
    {
        var e = Assert.Throws<TraceFormatException>(() => TraceDatCorpus.Read(s_v6.Value[..length], "cut.dat"));
        Assert.Contains($"section '{section}'", e.Message, StringComparison.Ordinal);
        Assert.InRange(e.Record.Position, 0, length);
        Assert.Equal("cut.dat", e.Record.File);
    }

    [SkippableFact]
    public void Read_V6TruncatedMidPage_KeepsEventsBeforeTheDamage()
    {
        var full = TraceDatCorpus.Read(s_v6.Value, "full.dat").Rows;
        int cut = V6Cpu1Data + 5 * 4096 + 1234;
        var (rows, diagnostics, _) = TraceDatCorpus.Read(s_v6.Value[..cut], "cut.dat");

        // CPU 0 is whole; CPU 1 keeps its first five pages.
        Assert.Equal(full.Where(r => r.Cpu == 0).Select(r => r.SrcPos), rows.Where(r => r.Cpu == 0).Select(r => r.SrcPos));
        Assert.Equal(full.Where(r => r.Cpu == 1 && r.SrcPos < V6Cpu1Data + 5 * 4096).Select(r => r.SrcPos), rows.Where(r => r.Cpu == 1).Select(r => r.SrcPos));
        Assert.NotNull(diagnostics.Truncated);
        Assert.Contains("section 'flyrecord CPU 1'", diagnostics.Truncated, StringComparison.Ordinal);
        Assert.Contains($"byte {cut}:", diagnostics.Truncated, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Read_V6TruncatedMidPageStrict_Throws()
    {
        int cut = V6Cpu1Data + 5 * 4096 + 1234;
        var e = Assert.Throws<TraceFormatException>(() => TraceDatCorpus.Read(s_v6.Value[..cut], "cut.dat", strict: true));
        Assert.Contains("section 'flyrecord CPU 1'", e.Message, StringComparison.Ordinal);
        Assert.Equal(cut, e.Record.Position);
    }

    [SkippableFact]
    public void Read_V6TruncatedBeforeCpu1_KeepsCpu0()
    {
        var (rows, diagnostics, _) = TraceDatCorpus.Read(s_v6.Value[..V6Cpu1Data], "cut.dat");
        Assert.Equal(1102, rows.Count);
        Assert.All(rows, r => Assert.Equal(0, r.Cpu));
        Assert.Contains("CPU 1 data at offset 110592", diagnostics.Truncated, StringComparison.Ordinal);
    }

    /// <summary>A CPU count of 0 left the flyrecord table empty and the file's 110 KiB of pages unread: 0 events, no word.</summary>
    [SkippableFact]
    public void Read_V6CpuCountZero_ThrowsNamingTheField()
    {
        var bytes = (byte[])s_v6.Value.Clone();
        int options = bytes.AsSpan(67000).IndexOf("options  "u8) + 67000;
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(options - 4), 0);

        var e = Assert.Throws<TraceFormatException>(() => TraceDatCorpus.Read(bytes, "cpus.dat"));

        Assert.Contains("section 'cpus'", e.Message, StringComparison.Ordinal);
        Assert.Contains("CPU count 0; expected the recording machine's CPU count (1 or more)", e.Message, StringComparison.Ordinal);
        Assert.Equal("cpus.dat", e.Record.File);
        Assert.InRange(e.Record.Position, options - 4, options);
    }

    [SkippableFact]
    public void Read_V6CpuSizeBeyondFile_ReadsToTheEndAndReportsIt()
    {
        var bytes = (byte[])s_v6.Value.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(68189 + 16 + 8), 1UL << 50); // CPU 1 size
        var (rows, diagnostics, _) = TraceDatCorpus.Read(bytes, "size.dat");
        Assert.Equal(3298, rows.Count);
        Assert.Contains("section 'flyrecord CPU 1'", diagnostics.Truncated, StringComparison.Ordinal);
        Assert.Contains($"the file ends at byte {bytes.Length}", diagnostics.Truncated, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Read_V6PageTimestampAtOrAbove2Pow63_MalformedNeverNegative()
    {
        var bytes = (byte[])s_v6.Value.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(V6Cpu0Data), (1UL << 63) + 5);
        var full = TraceDatCorpus.Read(s_v6.Value, "full.dat").Rows;
        int onPage = full.Count(r => r.SrcPos >= V6Cpu0Data && r.SrcPos < V6Cpu0Data + 4096);

        var (rows, diagnostics, _) = TraceDatCorpus.Read(bytes, "ts.dat");

        Assert.All(rows, r => Assert.True(r.TsNs >= 0, $"negative ts_ns {r.TsNs}"));
        Assert.Equal(full.Count - onPage, rows.Count);
        Assert.Equal(onPage, diagnostics.MalformedCount);
        Assert.Contains("2^63", diagnostics.MalformedSamples[0].Message, StringComparison.Ordinal);
        var e = Assert.Throws<TraceFormatException>(() => TraceDatCorpus.Read(bytes, "ts.dat", strict: true));
        Assert.Contains("2^63", e.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Read_V6CpusSharingOneRange_RefusedBeforeAllocating()
    {
        // CPU 1 declared over CPU 0's pages: each CPU would buffer the same bytes again (160 CPUs: 2.6 GiB).
        var bytes = (byte[])s_v6.Value.Clone();
        bytes.AsSpan(68189, 16).CopyTo(bytes.AsSpan(68189 + 16));

        var e = Assert.Throws<TraceFormatException>(() => TraceDatCorpus.Read(bytes, "shared.dat"));

        Assert.Contains("the data of CPU 1", e.Message, StringComparison.Ordinal);
        Assert.Contains("overlaps that of CPU 0", e.Message, StringComparison.Ordinal);
        Assert.Equal(V6Cpu0Data, e.Record.Position);
    }

    [SkippableFact]
    public void Read_V6With8192Cpus_ReadsTheCpusThatHaveData()
    {
        // The header says 8,192 CPUs (Linux's largest NR_CPUS); two have pages, the rest are empty.
        var v6 = s_v6.Value;
        const int cpusAt = 67700, tableAt = 68189, cpus = 8192;
        int dataAt = (tableAt + (cpus * 16) + 4095) / 4096 * 4096;
        var bytes = new byte[dataAt + (v6.Length - V6Cpu0Data)];
        v6.AsSpan(0, tableAt).CopyTo(bytes);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(cpusAt), cpus);
        for (int cpu = 0; cpu < 2; cpu++)
        {
            ulong offset = BinaryPrimitives.ReadUInt64LittleEndian(v6.AsSpan(tableAt + (cpu * 16)));
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(tableAt + (cpu * 16)), offset - V6Cpu0Data + (ulong)dataAt);
            v6.AsSpan(tableAt + (cpu * 16) + 8, 8).CopyTo(bytes.AsSpan(tableAt + (cpu * 16) + 8));
        }
        v6.AsSpan(V6Cpu0Data).CopyTo(bytes.AsSpan(dataAt));

        var (rows, diagnostics, _) = TraceDatCorpus.Read(bytes, "many.dat");

        Assert.Equal(TraceDatCorpus.Read(v6, "full.dat").Rows.Count, rows.Count);
        Assert.Equal(0, diagnostics.MalformedCount);
    }

    [SkippableFact]
    public void Read_V7TruncatedBeforeTrailingOptions_ThrowsNamingOptions()
    {
        // trace-cmd writes the BUFFER option after the data: without it the pages cannot be located.
        var bytes = s_v7NoComp.Value;
        var e = Assert.Throws<TraceFormatException>(() => TraceDatCorpus.Read(bytes[..(180224 + 20)], "cut.dat"));
        Assert.Contains("section 'options'", e.Message, StringComparison.Ordinal);
        Assert.Equal(180224 + 16, e.Record.Position);
    }

    [SkippableFact]
    public void Read_V7ZstdCorruptChunk_ReportsDecompressionErrorAndKeepsOtherCpu()
    {
        var bytes = (byte[])s_v7Zstd.Value.Clone();
        int cpu1 = FindCpuOffset(bytes, cpu: 1);
        // Break the zstd frame magic of the first chunk.
        bytes[cpu1 + 4 + 8] ^= 0x5a;
        var (rows, diagnostics, _) = TraceDatCorpus.Read(bytes, "corrupt.dat");
        Assert.Equal(1102, rows.Count(r => r.Cpu == 0));
        Assert.Contains("section 'flyrecord CPU 1'", diagnostics.Truncated, StringComparison.Ordinal);
        Assert.Contains("zstd", diagnostics.Truncated, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Read_V7ZstdHugeChunkSize_IsBoundedBeforeAllocation()
    {
        var bytes = (byte[])s_v7Zstd.Value.Clone();
        int cpu0 = FindCpuOffset(bytes, cpu: 0);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(cpu0 + 8), 0xfffffff0); // uncompressed size of chunk 0
        var (rows, diagnostics, _) = TraceDatCorpus.Read(bytes, "huge.dat");
        Assert.Equal(0, rows.Count(r => r.Cpu == 0));
        Assert.Contains("outside 1..", diagnostics.Truncated, StringComparison.Ordinal);
        Assert.Contains($"byte {cpu0 + 8}", diagnostics.Truncated, StringComparison.Ordinal);
    }

    [SkippableTheory]
    [InlineData(30, 8, "header_page text: length")]
    [InlineData(469, 4, "format count")]
    public void Read_V6HugeLengthField_FailsWithoutAllocating(int offset, int width, string expected)
    {
        var bytes = (byte[])s_v6.Value.Clone();
        if (width == 8)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(offset), 0x7fff_ffff_ffff_fff0);
        }
        else
        {
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(offset), 0xfffffff0);
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<TraceFormatException>(() => TraceDatCorpus.Read(bytes, "huge.dat"));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 64L << 20, "allocated more than 64 MiB");
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Read_V7SectionSizePastEnd_ThrowsNamingSection()
    {
        var bytes = (byte[])s_v7NoComp.Value.Clone();
        // The first section (headers, id 16) starts at 32: its u64 size is at 40.
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(40), 1UL << 40);
        var e = Assert.Throws<TraceFormatException>(() => TraceDatCorpus.Read(bytes, "size.dat"));
        Assert.Contains("section 'headers'", e.Message, StringComparison.Ordinal);
        Assert.Equal(48, e.Record.Position);
    }

    [SkippableFact]
    public void Read_V6CorruptPageInMiddle_CountsMalformedAndContinues()
    {
        var bytes = (byte[])s_v6.Value.Clone();
        // Page 3 of CPU 0: a commit word larger than the page.
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(V6Cpu0Data + 3 * 4096 + 8), 0x7ffffff);
        var full = TraceDatCorpus.Read(s_v6.Value, "full.dat").Rows;
        var (rows, diagnostics, _) = TraceDatCorpus.Read(bytes, "page.dat");
        int lost = full.Count(r => r.SrcPos >= V6Cpu0Data + 3 * 4096 && r.SrcPos < V6Cpu0Data + 4 * 4096);
        Assert.Equal(full.Count - lost, rows.Count);
        Assert.Equal(1, diagnostics.MalformedCount);
        Assert.Contains("commit size", diagnostics.MalformedSamples[0].Message, StringComparison.Ordinal);
        Assert.Null(diagnostics.Truncated);
    }

    /// <summary>Deterministic mutation fuzzing: byte flips and truncations never crash, hang or escape as another exception.</summary>
    [SkippableTheory]
    [InlineData("v6", 1)]
    [InlineData("v7zstd", 2)]
    [InlineData("v7nocomp", 3)]
    public async Task Read_RandomlyDamagedFiles_NeverCrash(string which, int seed)
    {
        var original = which switch
        {
            "v6" => s_v6.Value,
            "v7zstd" => s_v7Zstd.Value,
            _ => s_v7NoComp.Value,
        };
        var random = new Random(seed);
        var task = Task.Run(() =>
        {
            for (int i = 0; i < 150; i++)
            {
                var bytes = (byte[])original.Clone();
                if (i % 5 == 4)
                {
                    bytes = bytes[..random.Next(bytes.Length)];
                }
                else
                {
                    // Half of the runs aim at the metadata (headers, formats, options) rather than the pages.
                    int range = i % 2 == 0 ? bytes.Length : Math.Min(bytes.Length, 69000);
                    for (int k = random.Next(1, 6); k > 0; k--)
                    {
                        bytes[random.Next(range)] = (byte)random.Next(256);
                    }
                }
                ReadTolerant(bytes, $"{which}#{i}");
            }
        });
        // The work is bounded (150 reads); the watchdog only turns a real hang into a failure, so it allows minutes.
        Assert.Same(task, await Task.WhenAny(task, Task.Delay(TimeSpan.FromMinutes(10))));
        await task;
    }

    [SkippableFact]
    public async Task Read_FlippedZstdFrameHeader_DoesNotHang()
    {
        // Regression shape from fuzzing: a chunk whose frame header claims a huge content size.
        var bytes = (byte[])s_v7Zstd.Value.Clone();
        int cpu0 = FindCpuOffset(bytes, cpu: 0);
        bytes[cpu0 + 4 + 8 + 4] = 0xff;
        bytes[cpu0 + 4 + 8 + 5] = 0xff;
        var task = Task.Run(() => ReadTolerant(bytes, "frame.dat"));
        // One bounded read; the watchdog only turns a real hang into a failure, so it allows minutes.
        Assert.Same(task, await Task.WhenAny(task, Task.Delay(TimeSpan.FromMinutes(10))));
        await task;
    }

    private static void ReadTolerant(byte[] bytes, string name)
    {
        try
        {
            _ = TraceDatCorpus.Read(bytes, name);
        }
        catch (TraceFormatException)
        {
        }
    }

    /// <summary>CPU data offsets of mm_v7_trimmed_zstd.dat, from its BUFFER option (trace-cmd dump: (0, 12288), (1, 24576)).</summary>
    private static int FindCpuOffset(byte[] bytes, int cpu)
    {
        int offset = cpu == 0 ? 12288 : 24576;
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(offset)) is 1 or 2 ? 1u : 0u);
        return offset;
    }
}
