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

    [SkippableTheory]
    [InlineData(250)]
    [InlineData(400)]
    [InlineData(500)]
    [InlineData(667)]
    [InlineData(800)]
    [InlineData(950)]
    public void Read_InputFailsMidway_SameLinesThenSameError(int failAtPerMille)
    {
        // Where the failure falls relative to the lines read ahead (a batch's block of lines, the reader's buffer)
        // differs from offset to offset: every whole line before it must reach the sink, none after it.
        byte[] input = MixedInput(9_000);
        int failAt = (int)((long)input.Length * failAtPerMille / 1000);
        var sequentialSink = new ListSink();
        var parallelSink = new ListSink();

        var sequential = Assert.Throws<IOException>(() => Sequential.Read(new FailingStream(input, failAt), "input", sequentialSink, new IngestDiagnostics()));
        var parallel = Assert.Throws<IOException>(() => Parallel.Read(new FailingStream(input, failAt), "input", parallelSink, new IngestDiagnostics()));

        Assert.Equal(sequential.Message, parallel.Message);
        Assert.True(sequentialSink.Rows.Count > 1_000);
        Assert.Equal(sequentialSink.Rows.Select(r => TextReading.Render(r)), parallelSink.Rows.Select(r => TextReading.Render(r)));
    }

    [SkippableFact]
    public void Read_SinkFailsMidway_ItsErrorAndNothingHandedToItAfterwards()
    {
        // The parsing threads hand the batches to the sink themselves, whichever finishes the next one due: the sink
        // must still be called by one thread at a time, in order, and once it throws, Read must throw that exception
        // and no thread may call the sink again (a worker that finished a later batch must not feed it).
        byte[] input = MixedInput(40_000);
        var expected = new ListSink();
        Sequential.Read(new MemoryStream(input), "input", expected, new IngestDiagnostics());
        var sink = new FailingSink(failAtRow: expected.Rows.Count / 2);

        var error = Assert.Throws<IOException>(() => Parallel.Read(new MemoryStream(input), "input", sink, new IngestDiagnostics()));

        Assert.Same(sink.Thrown, error);
        Assert.Equal(0, sink.CallsAfterFailure);
        Assert.Equal(1, sink.MostAtOnce);
        Assert.True(sink.Segments > 10, $"{sink.Segments} segments");
        Assert.InRange(sink.RowsTaken, expected.Rows.Count / 2, expected.Rows.Count / 2 + 256);
    }

    [SkippableFact]
    public void Read_IntoTheEventsWriter_ParallelSegmentsSameFileAsSequentialRows()
    {
        // Into the real writer the parallel read hands runs of events over as segments the workers filled
        // (EventSegment); the file must be byte for byte the one the sequential read's rows make, with row groups of
        // 1,000 rows cut inside segments.
        var (segments, rows) = WriteBoth(MixedInput(40_000));

        Assert.True(segments > 10, $"{segments} segments: the runs of events went to the writer as segments");
        Assert.True(rows > 100, $"{rows} rows: the lines around stacks and damage went row by row");
    }

    /// <summary>
    /// Reads <paramref name="input"/> into an events writer sequentially and in parallel; asserts the two files are
    /// the same bytes and returns how many segments and single rows the parallel read wrote.
    /// </summary>
    private protected (long Segments, long Rows) WriteBoth(byte[] input)
    {
        string directory = Path.Combine(Path.GetTempPath(), $"mmtrace-segments-{Guid.NewGuid():N}");
        Directory.CreateDirectory(directory);
        try
        {
            var options = new Storage.Parquet.EventParquetOptions { RowGroupSize = 1_000, Threads = 2 };
            string sequential = Path.Combine(directory, "sequential.parquet");
            string parallel = Path.Combine(directory, "parallel.parquet");
            var rows = new CountingSink(new Storage.Parquet.EventParquetWriter(sequential, options));
            var segments = new CountingSink(new Storage.Parquet.EventParquetWriter(parallel, options));

            Sequential.Read(new MemoryStream(input), "input", rows, new IngestDiagnostics());
            Parallel.Read(new MemoryStream(input), "input", segments, new IngestDiagnostics());
            rows.Complete();
            segments.Complete();

            Assert.Equal(0, rows.Segments);
            Assert.Equal(rows.Rows, segments.Rows + segments.SegmentRows);
            Assert.Equal(File.ReadAllBytes(sequential), File.ReadAllBytes(parallel));
            return (segments.Segments, segments.Rows);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>Forwards to an events writer, counting rows and segments.</summary>
    private sealed class CountingSink(Storage.Parquet.EventParquetWriter writer) : IEventSegmentSink
    {
        public long Rows { get; private set; }

        public long Segments { get; private set; }

        public long SegmentRows { get; private set; }

        public bool TakesSegments => true;

        public void Write(EventRow row)
        {
            writer.Write(row);
            Rows++;
        }

        public void Write(EventSegment segment)
        {
            writer.Write(segment);
            Segments++;
            SegmentRows += segment.Count;
        }

        public void Complete()
        {
            writer.Complete();
            writer.Dispose();
        }
    }

    /// <summary>
    /// Counts the rows and throws at row <paramref name="failAtRow"/>; counts calls after that
    /// and calls that overlap. Sleeps now and then, so the parsing threads get ahead of it.
    /// </summary>
    private sealed class FailingSink(int failAtRow) : IEventSegmentSink
    {
        private int _inside;
        private int _mostAtOnce;
        private int _callsAfterFailure;
        private int _calls;

        public int RowsTaken { get; private set; }

        public int Segments { get; private set; }

        public IOException? Thrown { get; private set; }

        public int CallsAfterFailure => Volatile.Read(ref _callsAfterFailure);

        public int MostAtOnce => Volatile.Read(ref _mostAtOnce);

        public bool TakesSegments => true;

        public void Write(EventRow row) => Take(1);

        public void Write(EventSegment segment)
        {
            Segments++;
            Take(segment.Count);
        }

        private void Take(int rows)
        {
            int inside = Interlocked.Increment(ref _inside);
            try
            {
                InterlockedMax(ref _mostAtOnce, inside);
                if (Thrown is not null)
                {
                    Interlocked.Increment(ref _callsAfterFailure);
                    return;
                }
                if (++_calls % 50 == 0)
                {
                    Thread.Sleep(1);
                }
                RowsTaken += rows;
                if (RowsTaken >= failAtRow)
                {
                    Thrown = new IOException("No space left on device");
                    throw Thrown;
                }
            }
            finally
            {
                Interlocked.Decrement(ref _inside);
            }
        }

        private static void InterlockedMax(ref int target, int value)
        {
            int seen = Volatile.Read(ref target);
            while (value > seen && Interlocked.CompareExchange(ref target, value, seen) is int before && before != seen)
            {
                seen = before;
            }
        }
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
