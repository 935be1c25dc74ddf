using Pipeline.Ingest.TraceDat;
using Pipeline.Storage;

namespace Pipeline.Ingest.Tests.TraceDat;

/// <summary>trace.dat files of the corpus (<see cref="Pipeline.Tests.Shared.TestCorpus"/>) and a reader that collects rows.</summary>
internal static class TraceDatCorpus
{
    public static string PathOf(params string[] parts) => Pipeline.Tests.Shared.TestCorpus.File(parts);

    public static string Recorded(params string[] parts) => PathOf(["recorded", .. parts]);

    /// <summary>Reads a trace.dat (from a file or bytes) into cloned rows.</summary>
    public static (List<EventRow> Rows, IngestDiagnostics Diagnostics, TraceDatSummary Summary) Read(string path, bool strict = false)
        => Read(File.ReadAllBytes(path), Path.GetFileName(path), strict);

    /// <param name="bytes">The file.</param>
    /// <param name="name">Its name in messages.</param>
    /// <param name="strict">Damage throws instead of being reported.</param>
    /// <param name="readAhead">Compressed chunks read on the read-ahead thread (the default) or on the caller's.</param>
    /// <param name="workerChunkLimit">Chunks the read-ahead thread reads at most; the caller's thread reads the rest.</param>
    public static (List<EventRow> Rows, IngestDiagnostics Diagnostics, TraceDatSummary Summary) Read(byte[] bytes, string name, bool strict = false, bool readAhead = true,
        long workerChunkLimit = long.MaxValue)
    {
        var sink = new CollectingSink();
        var diagnostics = new IngestDiagnostics { Strict = strict };
        using var stream = new MemoryStream(bytes, writable: false);
        var summary = new TraceDatReader { ReadAhead = readAhead, ReadAheadWorkerChunkLimit = workerChunkLimit }.ReadDetailed(stream, name, sink, diagnostics);
        return (sink.Rows, diagnostics, summary);
    }

    /// <summary>Reads a trace.dat's rows into <paramref name="sink"/> (its exceptions propagate).</summary>
    public static TraceDatSummary ReadInto(byte[] bytes, string name, IEventSink sink)
    {
        using var stream = new MemoryStream(bytes, writable: false);
        return new TraceDatReader().ReadDetailed(stream, name, sink, new IngestDiagnostics());
    }
}

/// <summary>Keeps a copy of every row.</summary>
internal sealed class CollectingSink : IEventSink
{
    public List<EventRow> Rows { get; } = [];

    public void Write(EventRow row) => Rows.Add(row.Clone());
}

/// <summary>Counts rows without keeping them.</summary>
internal sealed class CountingSink : IEventSink
{
    public long Count { get; private set; }

    public void Write(EventRow row) => Count++;
}
