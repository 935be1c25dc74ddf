using Pipeline.Storage;

namespace Pipeline.Ingest.Tests.Text;

/// <summary>
/// What every reader that parses lines on worker threads (ftrace text, perf script) must keep: the input read in
/// pieces, a strict read and an input that fails midway give exactly what one thread gives.
/// </summary>
public abstract class ParallelEquivalenceTests
{
    /// <summary>The reader on one thread.</summary>
    private protected abstract ITraceReader Sequential { get; }

    /// <summary>The reader parallel from the second line, with more parsing threads than cores, so batches finish out of order.</summary>
    private protected abstract ITraceReader Parallel { get; }

    /// <summary>About <paramref name="lines"/> lines of the format with the order-dependent lines (stacks, markers) and damage mixed in.</summary>
    private protected abstract byte[] MixedInput(int lines);

    [SkippableTheory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(4096)]
    [InlineData(65_537)]
    public void Read_InputArrivingInPieces_ParallelSameAsSequential(int chunk)
    {
        byte[] input = MixedInput(5_000);
        var sequential = TextReading.Read(Sequential, new MemoryStream(input));

        var parallel = TextReading.Read(Parallel, new ChunkedStream(input, chunk));

        Assert.Equal(Describe(sequential), Describe(parallel));
    }

    [SkippableFact]
    public void Read_Strict_ParallelStopsAtTheSameLine()
    {
        byte[] input = MixedInput(6_000);

        var sequential = Assert.Throws<TraceFormatException>(() => TextReading.Read(Sequential, new MemoryStream(input), strict: true));
        var parallel = Assert.Throws<TraceFormatException>(() => TextReading.Read(Parallel, new MemoryStream(input), strict: true));

        Assert.Equal(sequential.Message, parallel.Message);
    }

    [SkippableFact]
    public void Read_InputFailsMidway_SameLinesThenSameError()
    {
        byte[] input = MixedInput(9_000);
        int failAt = input.Length * 2 / 3;
        var sequentialSink = new ListSink();
        var parallelSink = new ListSink();

        var sequential = Assert.Throws<IOException>(() => Sequential.Read(new FailingStream(input, failAt), "input", sequentialSink, new IngestDiagnostics()));
        var parallel = Assert.Throws<IOException>(() => Parallel.Read(new FailingStream(input, failAt), "input", parallelSink, new IngestDiagnostics()));

        Assert.Equal(sequential.Message, parallel.Message);
        Assert.True(sequentialSink.Rows.Count > 1_000);
        Assert.Equal(sequentialSink.Rows.Select(r => TextReading.Render(r)), parallelSink.Rows.Select(r => TextReading.Render(r)));
    }

    /// <summary>Every row and every diagnostic, to compare two reads whole.</summary>
    private protected static string Describe((List<EventRow> Rows, IngestDiagnostics Diagnostics) read)
    {
        var d = read.Diagnostics;
        var lines = new List<string>
        {
            $"events={read.Rows.Count} malformed={d.MalformedCount} lost={d.LostEvents} skipped={d.SkippedLines} cpus={d.CpuCount} release={d.KernelRelease} hashed={d.PointersHashed}",
        };
        lines.AddRange(d.MalformedSamples.Select(m => $"malformed {m.File}:{m.Position} {m.Message}"));
        lines.AddRange(read.Rows.Select(r => TextReading.Render(r)));
        return string.Join("\n", lines);
    }
}
