using Pipeline.Ingest.TraceDat;
using Pipeline.Storage;

namespace Pipeline.Ingest.Tests.TraceDat;

/// <summary>Finds <c>shared/corpus</c> by walking up from the test binaries (CI clones <c>shared/</c> beside the repo).</summary>
internal static class TraceDatCorpus
{
    private static readonly Lazy<string> s_root = new(FindRoot);

    public static string Root => s_root.Value;

    public static string PathOf(params string[] parts) => Path.Combine([Root, .. parts]);

    public static string Recorded(params string[] parts) => PathOf(["recorded", .. parts]);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "shared", "corpus");
            if (Directory.Exists(candidate))
            {
                return candidate;
            }
        }
        throw new DirectoryNotFoundException($"No shared/corpus above {AppContext.BaseDirectory}.");
    }

    /// <summary>Reads a trace.dat (from a file or bytes) into cloned rows.</summary>
    public static (List<EventRow> Rows, IngestDiagnostics Diagnostics, TraceDatSummary Summary) Read(string path, bool strict = false)
        => Read(File.ReadAllBytes(path), Path.GetFileName(path), strict);

    public static (List<EventRow> Rows, IngestDiagnostics Diagnostics, TraceDatSummary Summary) Read(byte[] bytes, string name, bool strict = false)
    {
        var sink = new CollectingSink();
        var diagnostics = new IngestDiagnostics { Strict = strict };
        using var stream = new MemoryStream(bytes, writable: false);
        var summary = new TraceDatReader().ReadDetailed(stream, name, sink, diagnostics);
        return (sink.Rows, diagnostics, summary);
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
