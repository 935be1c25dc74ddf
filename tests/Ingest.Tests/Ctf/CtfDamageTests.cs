using System.Buffers.Binary;
using System.Text;
using Pipeline.Ingest.Ctf;
using Pipeline.Storage;

namespace Pipeline.Ingest.Tests.Ctf;

/// <summary>
/// Damaged copies of bug446190 (4 streams, one per CPU; 64-bit packet context fields at header offset 24:
/// timestamp_begin, timestamp_end, content_size at +40, packet_size at +48). channel0_1 holds three
/// packets, at bytes 0, 262144 and 290816.
/// </summary>
public sealed class CtfDamageTests : IDisposable
{
    private const long SecondPacket = 262_144;
    private const long ThirdPacket = 290_816;
    private readonly string _trace = CtfTraces.CopyToTemp(CtfTraces.Bug446190);

    public void Dispose() => Directory.Delete(_trace, recursive: true);

    // Events of CPU 1 from its second packet up to byte end: what is lost when that part is unreadable.
    private static long Cpu1EventsFromSecondPacket(long end = long.MaxValue)
    {
        var (sink, _) = CtfTraces.Read(CtfTraces.Bug446190, row => row.Cpu == 1 && row.SrcPos >= SecondPacket && row.SrcPos < end);
        Assert.NotEmpty(sink.Kept);
        return sink.Kept.Count;
    }

    /// <summary>
    /// A stream cut inside a packet keeps the events in the bytes that are there (as a trace.dat page cut by the end
    /// of the file does); the event the cut runs through is counted. The whole packet was dropped before: a stream
    /// of one packet (perf's CTF conversion writes one) lost all its events to a cut near its end.
    /// </summary>
    [SkippableFact]
    public void ReadDirectory_TruncatedStream_KeepsTheEventsBeforeTheCut()
    {
        const long Cut = 270_000;
        using (var stream = new FileStream(Path.Combine(_trace, "channel0_1"), FileMode.Open))
        {
            stream.SetLength(Cut);
        }
        long startedBeforeCut = Cpu1EventsFromSecondPacket(end: Cut);

        var (sink, diagnostics) = CtfTraces.Read(_trace);

        long kept = sink.Total - (31_556 - Cpu1EventsFromSecondPacket());
        Assert.InRange(kept, startedBeforeCut - 1, startedBeforeCut);
        Assert.True(kept > 100, $"kept {kept} events of the cut packet");
        Assert.Equal(startedBeforeCut - kept, diagnostics.MalformedCount);
        Assert.NotNull(diagnostics.Truncated);
        Assert.StartsWith(Path.Combine(_trace, "channel0_1") + ": byte 262144: CTF packet context: packet_size is 28672 bytes but only 7856 bytes are left", diagnostics.Truncated, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void ReadDirectory_TruncatedStreamStrict_ThrowsWithFileAndOffset()
    {
        using (var stream = new FileStream(Path.Combine(_trace, "channel0_1"), FileMode.Open))
        {
            stream.SetLength(270_000);
        }

        var error = Assert.Throws<TraceFormatException>(() => CtfTraces.Read(_trace, strict: true));

        Assert.EndsWith("channel0_1", error.Record.File, StringComparison.Ordinal);
        Assert.Equal(SecondPacket, error.Record.Position);
        Assert.Contains("channel0_1:byte 262144", error.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void ReadDirectory_CorruptPacketSize_StopsThatStreamOnly()
    {
        PatchUInt64("channel0_1", SecondPacket + 48, 12);

        var (sink, diagnostics) = CtfTraces.Read(_trace);

        Assert.Equal(31_556 - Cpu1EventsFromSecondPacket(), sink.Total);
        var record = Assert.Single(diagnostics.MalformedSamples);
        Assert.Equal(SecondPacket, record.Position);
        Assert.Contains("expected packet_size a multiple of 8", record.Message, StringComparison.Ordinal);
        Assert.Contains("found 12", record.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void ReadDirectory_HugePacketSize_BoundedBeforeAllocation()
    {
        PatchUInt64("channel0_2", 48, ulong.MaxValue - 7);

        var (sink, diagnostics) = CtfTraces.Read(_trace);

        Assert.Equal(1, diagnostics.MalformedCount);
        Assert.Equal(0L, diagnostics.MalformedSamples[0].Position);
        Assert.DoesNotContain(sink.Counts, kv => kv.Value < 0);
        Assert.True(sink.Total < 31_556);
    }

    [SkippableFact]
    public void ReadDirectory_ContentSizeBeyondPacket_SkipsPacketAndContinues()
    {
        PatchUInt64("channel0_1", SecondPacket + 40, (28_672 * 8) + 8);

        var (sink, diagnostics) = CtfTraces.Read(_trace);

        // The third packet (byte 290816) is read again after the skipped one.
        Assert.Equal(31_556 - Cpu1EventsFromSecondPacket(end: ThirdPacket), sink.Total);
        Assert.True(Cpu1EventsFromSecondPacket() > Cpu1EventsFromSecondPacket(end: ThirdPacket));
        var record = Assert.Single(diagnostics.MalformedSamples);
        Assert.Contains("packet skipped", record.Message, StringComparison.Ordinal);
        // The damage is confined to one packet: the stream was not cut short.
        Assert.Null(diagnostics.Truncated);
    }

    [SkippableFact]
    public void ReadDirectory_GarbageEventHeader_SkipsRestOfPacket()
    {
        var (intact, _) = CtfTraces.Read(CtfTraces.Bug446190, row => row.Cpu == 3);
        var victim = intact.Kept[100];
        using (var stream = new FileStream(Path.Combine(_trace, "channel0_3"), FileMode.Open))
        {
            stream.Position = victim.SrcPos;
            // id 0xFFFF selects the extended header, whose 32-bit id 0xFFFFFFFF names no event.
            stream.Write(Enumerable.Repeat((byte)0xFF, 16).ToArray());
        }

        var (sink, diagnostics) = CtfTraces.Read(_trace);

        long lost = intact.Kept.Count(r => r.SrcPos >= victim.SrcPos && r.SrcPos < 184_320);
        Assert.Equal(31_556 - lost, sink.Total);
        var record = Assert.Single(diagnostics.MalformedSamples);
        Assert.Equal(victim.SrcPos, record.Position);
        Assert.Contains("expected an event id declared for stream 0, found 4294967295", record.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void ReadDirectory_BadStreamMagic_NamesFileAndFoundValue()
    {
        PatchUInt64("channel0_0", 0, 0x1122334455667788);

        var (_, diagnostics) = CtfTraces.Read(_trace);

        var record = Assert.Single(diagnostics.MalformedSamples);
        Assert.EndsWith("channel0_0", record.File, StringComparison.Ordinal);
        Assert.Contains("expected packet magic 0xC1FC1FC1, found 0x55667788", record.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void ReadDirectory_MetadataPacketSizeTooLarge_ThrowsWithOffset()
    {
        var metadata = Path.Combine(_trace, "metadata");
        var bytes = File.ReadAllBytes(metadata);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(28), uint.MaxValue - 7);
        File.WriteAllBytes(metadata, bytes);

        var error = Assert.Throws<TraceFormatException>(() => CtfTraces.Read(_trace));

        Assert.EndsWith("metadata", error.Record.File, StringComparison.Ordinal);
        Assert.Equal((0L, "byte"), (error.Record.Position, error.Record.PositionKind));
        Assert.Contains("packet_size 4294967288", error.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void ReadDirectory_TsdlSyntaxError_ThrowsWithLine()
    {
        var trace = CtfTraces.CopyToTemp(CtfTraces.PerfTaskset2);
        try
        {
            var metadata = Path.Combine(trace, "metadata");
            var lines = File.ReadAllLines(metadata);
            int line = Array.FindIndex(lines, l => l.Contains("perf_tid;", StringComparison.Ordinal));
            lines[line] = lines[line].Replace("size = 32;", "size = ;", StringComparison.Ordinal);
            File.WriteAllLines(metadata, lines, new UTF8Encoding(false));

            var error = Assert.Throws<TraceFormatException>(() => CtfTraces.Read(trace));

            Assert.Equal((line + 1L, "line"), (error.Record.Position, error.Record.PositionKind));
            Assert.Contains("expected a value, found ';'", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(trace, recursive: true);
        }
    }

    [SkippableFact]
    public void ReadDirectory_NoMetadata_FileNotFound()
    {
        File.Delete(Path.Combine(_trace, "metadata"));

        Assert.Throws<FileNotFoundException>(() => CtfTraces.Read(Path.Combine(_trace, "metadata")));
    }

    private void PatchUInt64(string file, long offset, ulong value)
    {
        using var stream = new FileStream(Path.Combine(_trace, file), FileMode.Open);
        var bytes = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        stream.Position = offset;
        stream.Write(bytes);
    }
}
