using BenchmarkDotNet.Attributes;
using Pipeline.Ingest.TraceDat;
using Pipeline.Storage;

namespace Pipeline.Benchmarks;

/// <summary>
/// trace.dat ingest throughput: a v6 file built in memory from the corpus file's real pages repeated
/// <see cref="Copies"/> times (3298 events per copy), read into a sink that only counts.
/// </summary>
[MemoryDiagnoser]
// The exe is Pipeline.Benchmarks, not Benchmarks: the out-of-process toolchain cannot find it, so run in process.
[InProcess]
public class TraceDatBenchmarks
{
    private byte[] _v6 = [];
    private byte[] _v7Zstd = [];

    /// <summary>Copies of the mm group's 27 pages (300 copies ≈ 1 M events, 33 MB).</summary>
    [Params(300)]
    public int Copies { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        string trimmed = BenchmarkCorpus.File("recorded", "trace-cmd", "mm_v6_trimmed.dat");
        _v6 = TraceDatSynthesizer.RepeatPages(File.ReadAllBytes(trimmed), Copies);
        _v7Zstd = File.ReadAllBytes(BenchmarkCorpus.File("recorded", "trace-cmd", "mm_v7_zstd_full.dat"));
        long events = ReadV6();
        if (events != 3298L * Copies)
        {
            throw new InvalidOperationException($"synthetic file gave {events} events, expected {3298L * Copies}");
        }
    }

    /// <summary>Events per operation: divide by the mean time for events/s.</summary>
    [Benchmark]
    public long ReadV6() => Read(_v6);

    /// <summary>The full v7 zstd corpus file (3298 events, 2 MB of event formats to parse first).</summary>
    [Benchmark]
    public long ReadV7ZstdFull() => Read(_v7Zstd);

    private static long Read(byte[] file)
    {
        var sink = new CountingSink();
        using var stream = new MemoryStream(file, writable: false);
        new TraceDatReader().Read(stream, "bench.dat", sink, new IngestDiagnostics());
        return sink.Count;
    }

    private sealed class CountingSink : IEventSink
    {
        public long Count { get; private set; }

        public void Write(EventRow row) => Count++;
    }
}
