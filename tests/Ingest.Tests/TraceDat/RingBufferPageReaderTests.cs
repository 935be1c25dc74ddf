using System.Buffers.Binary;
using Pipeline.Ingest.TraceDat;

namespace Pipeline.Ingest.Tests.TraceDat;

public class RingBufferPageReaderTests
{
    private static byte[] Page(string file, int index) =>
        File.ReadAllBytes(TraceDatCorpus.Recorded("raw-pages", file)).AsSpan(index * 4096, 4096).ToArray();

    [Fact]
    public void Constructor_LostCountStored_ReadsCountAfterData()
    {
        var reader = new RingBufferPageReader(Page("overrun_cpu1.bin", 0), 0, HeaderPage.Default64, bigEndian: false);
        Assert.True(reader.MissedEvents);
        Assert.Equal(15329, reader.LostEvents);
        Assert.Equal(0xfe4, reader.CommittedSize);
        Assert.Equal(686283329891UL, reader.PageTimestamp);
    }

    [Fact]
    public void Constructor_LostWithoutRoom_ReportsUnknownCount()
    {
        var reader = new RingBufferPageReader(Page("overrun_cpu0.bin", 0), 0, HeaderPage.Default64, bigEndian: false);
        Assert.True(reader.MissedEvents);
        Assert.Equal(-1, reader.LostEvents);
        Assert.Equal(0xfec, reader.CommittedSize);
    }

    [Fact]
    public void MoveNext_TimeExtendPage_AddsExtendedDeltas()
    {
        var reader = new RingBufferPageReader(Page("timeext_cpu1.bin", 0), 1000, HeaderPage.Default64, bigEndian: false);
        var times = new List<ulong>();
        long extendedEventOffset = 0;
        ulong beforeExtend = 0, afterExtend = 0;
        while (reader.MoveNext())
        {
            if (reader.RecordOffset == 1000 + 16 + 2352 + 8)
            {
                extendedEventOffset = reader.RecordOffset;
                beforeExtend = times[^1];
                afterExtend = reader.Timestamp;
            }
            times.Add(reader.Timestamp);
            Assert.Equal(188, BinaryPrimitives.ReadUInt16LittleEndian(reader.Payload));
        }
        Assert.Null(reader.Error);
        Assert.Equal(87, times.Count);
        Assert.Equal(700707087299UL, times[0]);
        Assert.Equal(700707379906UL, times[1]);
        Assert.NotEqual(0, extendedEventOffset);
        Assert.True(afterExtend - beforeExtend >= 170883915UL, $"delta {afterExtend - beforeExtend}");
    }

    [Fact]
    public void MoveNext_TypeLenZeroRecord_PayloadExcludesLengthWord()
    {
        var reader = new RingBufferPageReader(Page("overrun_cpu1.bin", 4), 4 * 4096, HeaderPage.Default64, bigEndian: false);
        bool found = false;
        while (reader.MoveNext())
        {
            if (reader.RecordOffset == 4 * 4096 + 16 + 352)
            {
                found = true;
                Assert.Equal(320, reader.Payload.Length);
                Assert.Equal(5, BinaryPrimitives.ReadUInt16LittleEndian(reader.Payload));
                Assert.Equal((byte)'M', reader.Payload[16]);
                Assert.Equal(16 + 352 + 8, reader.PayloadOffset);
            }
        }
        Assert.True(found);
    }

    [Fact]
    public void MoveNext_EventRunningPastCommit_StopsWithOffset()
    {
        var page = Page("timeext_cpu1.bin", 0);
        // Shrink the committed size into the middle of the second event (events are 28 bytes each).
        BinaryPrimitives.WriteUInt64LittleEndian(page.AsSpan(8), 40);
        var reader = new RingBufferPageReader(page, 5000, HeaderPage.Default64, bigEndian: false);
        int count = 0;
        while (reader.MoveNext())
        {
            count++;
        }
        Assert.Equal(1, count);
        Assert.Contains("runs past the committed size 40", reader.Error, StringComparison.Ordinal);
        Assert.Equal(5000 + 16 + 28, reader.ErrorOffset);
    }

    [Fact]
    public void Constructor_CommitLargerThanPage_ReportsCorruption()
    {
        var page = Page("timeext_cpu1.bin", 0);
        BinaryPrimitives.WriteUInt64LittleEndian(page.AsSpan(8), 0x7ffffff);
        var reader = new RingBufferPageReader(page, 0, HeaderPage.Default64, bigEndian: false);
        Assert.False(reader.MoveNext());
        Assert.Contains("commit size", reader.Error, StringComparison.Ordinal);
    }
}
