namespace Pipeline.Ingest.Tests.Ctf;

/// <summary><c>mmtrace ingest</c> on a CTF trace directory: detection, ids, dataset counts.</summary>
public sealed class CtfIngestTests : IDisposable
{
    private readonly string _output = Path.Combine(Path.GetTempPath(), "ctf-ingest-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_output))
        {
            Directory.Delete(_output, recursive: true);
        }
    }

    [SkippableFact]
    public void Run_TraceDirectoryAuto_DetectsCtfAndWritesAllEvents()
    {
        var summaries = TraceIngestor.Run(new IngestOptions { Inputs = [CtfTraces.PerfTaskset2 + Path.DirectorySeparatorChar], Output = _output });

        var summary = Assert.Single(summaries);
        Assert.Equal("ctf", summary.Format);
        Assert.Equal("perf-taskset2", summary.TraceId);
        Assert.Equal(1500, summary.Events);
        Assert.Equal(562, summary.EventCounts["sched:sched_switch"]);
        Assert.Equal(0, summary.Malformed);
    }

    [SkippableFact]
    public void Run_MetadataFileWithFormatCtf_NamesTraceAfterDirectory()
    {
        var summaries = TraceIngestor.Run(new IngestOptions
        {
            Inputs = [Path.Combine(CtfTraces.Bug446190, "metadata")],
            Output = _output,
            Format = "ctf",
        });

        var summary = Assert.Single(summaries);
        Assert.Equal("bug446190", summary.TraceId);
        Assert.Equal(31_556, summary.Events);
        Assert.Equal(504, summary.EventCounts["kmem:mm_page_alloc"]);
        // metadata plus the four channel0_N streams.
        Assert.Equal(1_122_872 - (128 + 184 + 128 + 128), summary.Bytes);
    }

    [SkippableFact]
    public void Run_DirectoryWithoutMetadata_FileNotFound()
    {
        var empty = Directory.CreateTempSubdirectory("ctf-empty-");
        try
        {
            Assert.Throws<FileNotFoundException>(() => TraceIngestor.Run(new IngestOptions { Inputs = [empty.FullName], Output = _output }));
        }
        finally
        {
            empty.Delete();
        }
    }
}
