using System.Buffers.Binary;
using Pipeline.Ingest.TraceDat;

namespace Pipeline.Ingest.Tests.TraceDat;

public class RingBufferPageReaderTests
{
    private static byte[] Page(string file, int index) =>
        File.ReadAllBytes(TraceDatCorpus.Recorded("raw-pages", file)).AsSpan(index * 4096, 4096).ToArray();

    [SkippableFact]
    public void Constructor_LostCountStored_ReadsCountAfterData()
    {
        var reader = new RingBufferPageReader(Page("overrun_cpu1.bin", 0), 0, HeaderPage.Default64, bigEndian: false);
        Assert.True(reader.MissedEvents);
        Assert.Equal(15329, reader.LostEvents);
        Assert.Equal(0xfe4, reader.CommittedSize);
        Assert.Equal(686283329891UL, reader.PageTimestamp);
    }

    [SkippableFact]
    public void Constructor_LostWithoutRoom_ReportsUnknownCount()
    {
        var reader = new RingBufferPageReader(Page("overrun_cpu0.bin", 0), 0, HeaderPage.Default64, bigEndian: false);
        Assert.True(reader.MissedEvents);
        Assert.Equal(-1, reader.LostEvents);
        Assert.Equal(0xfec, reader.CommittedSize);
    }

    [SkippableFact]
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

    [SkippableFact]
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

    [SkippableFact]
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

    [SkippableFact]
    public void Constructor_CommitLargerThanPage_ReportsCorruption()
    {
        var page = Page("timeext_cpu1.bin", 0);
        BinaryPrimitives.WriteUInt64LittleEndian(page.AsSpan(8), 0x7ffffff);
        var reader = new RingBufferPageReader(page, 0, HeaderPage.Default64, bigEndian: false);
        Assert.False(reader.MoveNext());
        Assert.Contains("commit size", reader.Error, StringComparison.Ordinal);
    }

    /// <summary>Builds a page from (type_len, delta, array words..., payload words...) items.</summary>
    private static byte[] SyntheticPage(ulong timestamp, bool bigEndian, params uint[][] items)
    {
        var page = new byte[4096];
        int at = 16;
        foreach (var item in items)
        {
            uint typeLen = item[0], delta = item[1];
            uint word = bigEndian ? (typeLen << 27) | delta : (delta << 5) | typeLen;
            Write32(page, at, word, bigEndian);
            at += 4;
            foreach (uint extra in item.Skip(2))
            {
                Write32(page, at, extra, bigEndian);
                at += 4;
            }
        }
        if (bigEndian)
        {
            BinaryPrimitives.WriteUInt64BigEndian(page, timestamp);
            BinaryPrimitives.WriteUInt64BigEndian(page.AsSpan(8), (ulong)(at - 16));
        }
        else
        {
            BinaryPrimitives.WriteUInt64LittleEndian(page, timestamp);
            BinaryPrimitives.WriteUInt64LittleEndian(page.AsSpan(8), (ulong)(at - 16));
        }
        return page;
    }

    private static void Write32(byte[] page, int at, uint value, bool bigEndian)
    {
        if (bigEndian)
        {
            BinaryPrimitives.WriteUInt32BigEndian(page.AsSpan(at), value);
        }
        else
        {
            BinaryPrimitives.WriteUInt32LittleEndian(page.AsSpan(at), value);
        }
    }

    private static List<ulong> Times(byte[] page, bool bigEndian, out string? error)
    {
        var reader = new RingBufferPageReader(page, 0, HeaderPage.Default64, bigEndian);
        var times = new List<ulong>();
        while (reader.MoveNext())
        {
            times.Add(reader.Timestamp);
        }
        error = reader.Error;
        return times;
    }

    [SkippableTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void MoveNext_AbsoluteTimeStampAndPadding_FollowTheKernelRules(bool bigEndian)
    {
        var page = SyntheticPage(1000, bigEndian,
            [2, 5, 0xaaaa, 0xbbbb],     // data, 8 bytes, +5          -> 1005
            [31, 7, 2],                 // TIME_STAMP (2 << 27) | 7   -> 268435463
            [1, 3, 0xcccc],             // data, +3                   -> 268435466
            [29, 9, 8, 0],              // discarded event: its delta counts (+9)
            [1, 1, 0xdddd],             // data, +1                   -> 268435476
            [29, 1, 8, 0],              // end-of-page filler: delta 1 ignored
            [30, 10, 1],                // TIME_EXTEND (1 << 27) + 10
            [1, 0, 0xeeee],             // data                       -> 268435476 + 134217738
            [29, 0]);                   // padding with delta 0: rest of page unused
        var times = Times(page, bigEndian, out string? error);
        Assert.Null(error);
        Assert.Equal([1005UL, (2UL << 27) + 10, (2UL << 27) + 20, (2UL << 27) + 20 + (1UL << 27) + 10], times);
    }

    [SkippableFact]
    public void MoveNext_TimeStampBelowRunningTime_KeepsTheTopBits()
    {
        // Running time has bits above the 59 a TIME_STAMP carries: they are kept, and a wrap adds 1 << 59.
        ulong start = (1UL << 60) + 100;
        var page = SyntheticPage(start, false, [31, 50, 0], [1, 0, 0x1]);
        var times = Times(page, false, out _);
        Assert.Equal([(1UL << 60) + (1UL << 59) + 50], times);
    }

    [SkippableFact]
    public void MoveNext_LongRecordWithBadLength_ReportsCorruption()
    {
        var page = SyntheticPage(0, false, [0, 0, 2, 0]);
        var times = Times(page, false, out string? error);
        Assert.Empty(times);
        Assert.Contains("long event length 2", error, StringComparison.Ordinal);
    }
}
