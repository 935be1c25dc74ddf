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
        // A single trace is the dataset itself: its id is the output directory's name.
        Assert.Equal(Path.GetFileName(_output), summary.TraceId);
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
        // The id a partition of this input would get comes from the directory; written alone, the trace is the
        // dataset and its id the output directory's name.
        Assert.Equal(["bug446190"], TraceIngestor.AssignIds(new IngestOptions { Inputs = [Path.Combine(CtfTraces.Bug446190, "metadata")], Output = _output }));
        Assert.Equal(Path.GetFileName(_output), summary.TraceId);
        Assert.Equal(31_556, summary.Events);
        Assert.Equal(504, summary.EventCounts["kmem:mm_page_alloc"]);
        // metadata plus the four channel0_N streams.
        Assert.Equal(1_122_872 - (128 + 184 + 128 + 128), summary.Bytes);
    }

    [SkippableFact]
    public void Run_EmptyDirectory_SaysItIsNoCtfTraceAndHoldsNothing()
    {
        var empty = Directory.CreateTempSubdirectory("ctf-empty-");
        try
        {
            var error = Assert.Throws<InvalidDataException>(() => TraceIngestor.Run(new IngestOptions { Inputs = [empty.FullName], Output = _output }));
            Assert.Contains("is an empty directory, not a CTF trace (no 'metadata' file)", error.Message, StringComparison.Ordinal);
            Assert.False(Directory.Exists(_output));
        }
        finally
        {
            empty.Delete();
        }
    }
}
