using Pipeline.Ingest.TraceDat;
using Pipeline.Storage;

namespace Pipeline.Ingest.Tests.TraceDat;

public class TraceDatStreamingTests
{
    private static readonly Lazy<byte[]> s_v6 = new(() => File.ReadAllBytes(TraceDatCorpus.Recorded("trace-cmd", "mm_v6_trimmed.dat")));

    [SkippableFact]
    public void RepeatPages_SyntheticFile_ReadsEveryCopyInOrder()
    {
        var bytes = TraceDatSynthesizer.RepeatPages(s_v6.Value, 3);
        var (rows, diagnostics, _) = TraceDatCorpus.Read(bytes, "x3.dat");
        Assert.Equal(3 * 3298, rows.Count);
        Assert.Null(diagnostics.Truncated);
        Assert.Equal(0, diagnostics.MalformedCount);
        for (int i = 1; i < rows.Count; i++)
        {
            Assert.True(rows[i - 1].TsNs <= rows[i].TsNs, $"row {i} goes back in time");
        }
    }

    [SkippableFact]
    public void Read_LargerFile_AllocatesPerEventNotPerFile()
    {
        var small = TraceDatSynthesizer.RepeatPages(s_v6.Value, 2);
        var large = TraceDatSynthesizer.RepeatPages(s_v6.Value, 22);
        long smallBytes = AllocatedWhileReading(small, out long smallEvents);
        long largeBytes = AllocatedWhileReading(large, out long largeEvents);
        Assert.Equal(11 * smallEvents, largeEvents);
        // Page buffers are per CPU and reused; what grows with the trace is only the args strings of each event.
        double perEvent = (double)(largeBytes - smallBytes) / (largeEvents - smallEvents);
        Assert.True(perEvent < 200, $"{perEvent:F0} bytes allocated per extra event");
    }

    private static long AllocatedWhileReading(byte[] file, out long events)
    {
        var sink = new CountingSink();
        using var stream = new MemoryStream(file, writable: false);
        long before = GC.GetAllocatedBytesForCurrentThread();
        new TraceDatReader().Read(stream, "synthetic.dat", sink, new IngestDiagnostics());
        events = sink.Count;
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }
}
