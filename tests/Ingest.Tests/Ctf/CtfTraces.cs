using Pipeline.Ingest.Ctf;
using Pipeline.Storage;

namespace Pipeline.Ingest.Tests.Ctf;

/// <summary>The CTF traces of the public corpus and a sink that keeps what the reader wrote.</summary>
internal static class CtfTraces
{
    public static string Bug446190 => Corpus.File("public/tracecompass-test-traces/bug446190");

    public static string ManyThreads => Corpus.File("public/tracecompass-test-traces/many-threads");

    public static string PerfTaskset2 => Corpus.File("public/tracecompass-test-traces/perf-taskset2");

    /// <summary>Reads a trace directory; <paramref name="keep"/> selects the rows to copy.</summary>
    public static (CollectingSink Sink, IngestDiagnostics Diagnostics) Read(string path, Func<EventRow, bool>? keep = null, bool strict = false)
    {
        var sink = new CollectingSink(keep ?? (_ => false));
        var diagnostics = new IngestDiagnostics { Strict = strict };
        CtfReader.ReadDirectory(path, sink, diagnostics);
        return (sink, diagnostics);
    }

    /// <summary>Copies a corpus trace directory (metadata and streams) to a fresh temporary directory.</summary>
    public static string CopyToTemp(string source)
    {
        var target = Path.Combine(Path.GetTempPath(), "ctf-test-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(target);
        foreach (var file in Directory.GetFiles(source))
        {
            var copy = Path.Combine(target, Path.GetFileName(file));
            File.Copy(file, copy);
            File.SetAttributes(copy, FileAttributes.Normal);
        }
        return target;
    }
}

/// <summary>Counts events by name, checks the timestamp order, and keeps copies of selected rows.</summary>
internal sealed class CollectingSink(Func<EventRow, bool> keep) : IEventSink
{
    public Dictionary<string, long> Counts { get; } = new(StringComparer.Ordinal);

    public List<EventRow> Kept { get; } = [];

    public long Total { get; private set; }

    public long OutOfOrder { get; private set; }

    public long FirstTs { get; private set; } = long.MinValue;

    private long _lastTs = long.MinValue;

    public void Write(EventRow row)
    {
        Total++;
        Counts[row.Event] = Counts.GetValueOrDefault(row.Event) + 1;
        if (row.TsNs < _lastTs)
        {
            OutOfOrder++;
        }
        if (FirstTs == long.MinValue)
        {
            FirstTs = row.TsNs;
        }
        _lastTs = row.TsNs;
        if (keep(row))
        {
            Kept.Add(row.Clone());
        }
    }
}
