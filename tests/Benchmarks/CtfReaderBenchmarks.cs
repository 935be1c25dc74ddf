using BenchmarkDotNet.Attributes;
using Pipeline.Ingest.Ctf;
using Pipeline.Storage;

namespace Pipeline.Benchmarks;

/// <summary>
/// CTF ingest throughput on the corpus's many-threads LTTng kernel trace (8 streams, 8.4 MB, 240,644 events,
/// 181 event types), read from the page cache into a sink that only counts.
/// </summary>
[MemoryDiagnoser]
// The exe is Pipeline.Benchmarks, not Benchmarks: the out-of-process toolchain cannot find it, so run in process.
[InProcess]
public class CtfReaderBenchmarks
{
    private const long ManyThreadsEvents = 240_644;

    private string _manyThreads = "";

    [GlobalSetup]
    public void Setup()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "shared", "corpus", "public", "tracecompass-test-traces", "many-threads");
            if (Directory.Exists(candidate))
            {
                _manyThreads = candidate;
                break;
            }
        }
        if (_manyThreads.Length == 0)
        {
            throw new DirectoryNotFoundException($"No shared/corpus/public/tracecompass-test-traces/many-threads above {AppContext.BaseDirectory}.");
        }
        long events = ReadManyThreads();
        if (events != ManyThreadsEvents)
        {
            throw new InvalidOperationException($"many-threads gave {events} events, expected {ManyThreadsEvents}");
        }
    }

    /// <summary>Metadata parse plus all 8 streams merged: divide 240,644 by the mean for events/s.</summary>
    [Benchmark]
    public long ReadManyThreads()
    {
        var sink = new EventCounter();
        CtfReader.ReadDirectory(_manyThreads, sink, new IngestDiagnostics());
        return sink.Count;
    }

    private sealed class EventCounter : IEventSink
    {
        public long Count { get; private set; }

        public void Write(EventRow row) => Count++;
    }
}
