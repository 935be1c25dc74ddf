using System.Buffers.Binary;
using System.Globalization;
using Pipeline.Ingest.TraceDat;
using Pipeline.Storage;

namespace Pipeline.Ingest.Tests.TraceDat;

/// <summary>
/// Compressed (v7) CPU data read and decompressed on the read-ahead thread (<see cref="ChunkReadAhead"/>) gives
/// the same rows, the same damage reports and the same failures as reading it chunk by chunk on the merge's thread.
/// </summary>
public sealed class ChunkReadAheadTests
{
    private static readonly Lazy<byte[]> s_v7Zstd = new(() => File.ReadAllBytes(TraceDatCorpus.Recorded("trace-cmd", "mm_v7_trimmed_zstd.dat")));

    /// <summary>Every column of a row as text.</summary>
    private static string Describe(EventRow row)
    {
        var parts = new List<string>
        {
            row.TsNs.ToString(CultureInfo.InvariantCulture), row.Cpu.ToString(CultureInfo.InvariantCulture), row.Pid.ToString(CultureInfo.InvariantCulture),
            row.Comm, row.Event, row.IrqFlags ?? "null", row.SrcPos.ToString(CultureInfo.InvariantCulture),
        };
        for (int c = EventSchema.FirstField; c < EventSchema.Args; c++)
        {
            if (row.IsSet(c))
            {
                parts.Add($"{EventSchema.Columns[c].Name}={row.FindField(EventSchema.Columns[c].Name)}");
            }
        }
        parts.AddRange(row.Args.Select(a => $"{a.Key}={a.Value}"));
        return string.Join(" ", parts);
    }

    private static (string[] Rows, string Diagnostics) ReadBoth(byte[] bytes, string name, bool readAhead, long workerChunkLimit = long.MaxValue)
    {
        var (rows, diagnostics, summary) = TraceDatCorpus.Read(bytes, name, readAhead: readAhead, workerChunkLimit: workerChunkLimit);
        string lost = string.Join(",", summary.LostEventsByCpu.OrderBy(p => p.Key).Select(p => $"{p.Key}:{p.Value.Counted}+{p.Value.UncountedPages}"));
        return ([.. rows.Select(Describe)], $"{diagnostics.Truncated} | malformed {diagnostics.MalformedCount} | lost {diagnostics.LostEvents} {lost} | events {summary.EventCount}");
    }

    [SkippableTheory]
    [InlineData("mm_v7_trimmed_zstd.dat")]
    [InlineData("mm_v7_zstd_full.dat")]
    [InlineData("instance_x86tsc_v7_zstd.dat")]
    public void Read_CompressedCorpusTrace_SameRowsWithAndWithoutReadAhead(string file)
    {
        byte[] bytes = File.ReadAllBytes(TraceDatCorpus.Recorded("trace-cmd", file));

        var ahead = ReadBoth(bytes, file, readAhead: true);
        var inline = ReadBoth(bytes, file, readAhead: false);

        Assert.NotEmpty(ahead.Rows);
        Assert.Equal(inline.Diagnostics, ahead.Diagnostics);
        Assert.Equal(inline.Rows, ahead.Rows);
    }

    [SkippableTheory]
    [InlineData(0, 4 + 8)]      // CPU 0's first chunk: its zstd frame magic
    [InlineData(1, 4 + 8)]      // CPU 1's first chunk
    [InlineData(1, 4)]          // CPU 1's first chunk header: compressed size
    [InlineData(0, 0)]          // CPU 0's chunk count
    public void Read_DamagedChunk_SameRowsAndReportWithAndWithoutReadAhead(int cpu, int at)
    {
        byte[] bytes = (byte[])s_v7Zstd.Value.Clone();
        int offset = (cpu == 0 ? 12288 : 24576) + at;
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(offset), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(offset)) ^ 0x5a5a5a5a);

        var ahead = ReadBoth(bytes, "damaged.dat", readAhead: true);
        var inline = ReadBoth(bytes, "damaged.dat", readAhead: false);

        Assert.Contains($"CPU {cpu}", ahead.Diagnostics, StringComparison.Ordinal);
        Assert.Equal(inline.Diagnostics, ahead.Diagnostics);
        Assert.Equal(inline.Rows, ahead.Rows);
    }

    /// <summary>
    /// A read-ahead thread that gets no core (both held by the encoders on a loaded machine) must not stall the merge:
    /// the merge reads the chunks it needs itself. Limit 0: the worker reads nothing; 3: it reads the first few
    /// chunks, the merge the rest, both threads then using the file. Reads on a task with a generous bound, since a
    /// merge that waits for the stalled worker never returns (as before the merge read chunks itself).
    /// </summary>
    [SkippableTheory]
    [InlineData("mm_v7_zstd_full.dat", 0)]
    [InlineData("mm_v7_zstd_full.dat", 3)]
    [InlineData("instance_x86tsc_v7_zstd.dat", 0)]
    [InlineData("instance_x86tsc_v7_zstd.dat", 1)]
    public void Read_WorkerGetsNoCore_MergeReadsTheChunksItselfAndRowsAreTheSame(string file, long workerChunks)
    {
        byte[] bytes = File.ReadAllBytes(TraceDatCorpus.Recorded("trace-cmd", file));

        var stalled = Task.Run(() => ReadBoth(bytes, file, readAhead: true, workerChunkLimit: workerChunks));
        Assert.True(stalled.Wait(TimeSpan.FromMinutes(2)), "the merge waited for a read-ahead worker that reads nothing more");
        var inline = ReadBoth(bytes, file, readAhead: false);

        Assert.NotEmpty(stalled.Result.Rows);
        Assert.Equal(inline.Diagnostics, stalled.Result.Diagnostics);
        Assert.Equal(inline.Rows, stalled.Result.Rows);
    }

    [SkippableTheory]
    [InlineData(0, 4 + 8, 0)]   // CPU 0's first chunk, read by the merge
    [InlineData(1, 4 + 8, 1)]   // CPU 1's first chunk, after the worker read one chunk
    [InlineData(1, 4, 0)]       // CPU 1's first chunk header
    [InlineData(0, 0, 0)]       // CPU 0's chunk count
    public void Read_DamagedChunkReadByTheMerge_SameRowsAndReportAsWithoutReadAhead(int cpu, int at, long workerChunks)
    {
        byte[] bytes = (byte[])s_v7Zstd.Value.Clone();
        int offset = (cpu == 0 ? 12288 : 24576) + at;
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(offset), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(offset)) ^ 0x5a5a5a5a);

        var stalled = Task.Run(() => ReadBoth(bytes, "damaged.dat", readAhead: true, workerChunkLimit: workerChunks));
        Assert.True(stalled.Wait(TimeSpan.FromMinutes(2)), "the merge waited for a read-ahead worker that reads nothing more");
        var inline = ReadBoth(bytes, "damaged.dat", readAhead: false);

        Assert.Contains($"CPU {cpu}", stalled.Result.Diagnostics, StringComparison.Ordinal);
        Assert.Equal(inline.Diagnostics, stalled.Result.Diagnostics);
        Assert.Equal(inline.Rows, stalled.Result.Rows);
    }

    [SkippableFact]
    public void Read_StreamFailsInChunkTheMergeReads_FailureReachesTheCaller()
    {
        // Reads that start in CPU 1's data fail; the metadata, read from the start and from the sections after the
        // CPU data, does not.
        byte[] bytes = s_v7Zstd.Value;
        using var stream = new FailingStream(bytes, failAt: 24576, failFromStart: true, failUntil: 24576 + 8192);
        var sink = new CollectingSink();
        var reader = new TraceDatReader { ReadAheadWorkerChunkLimit = 0 };

        var read = Task.Run(() => reader.ReadDetailed(stream, "failing.dat", sink, new IngestDiagnostics()));
        var e = Assert.Throws<AggregateException>(() => read.Wait(TimeSpan.FromMinutes(2)));

        // The merge reads every CPU's first chunk before its first row: the failure comes before any row.
        Assert.Equal("disk gone", Assert.IsType<IOException>(e.InnerException).Message);
        Assert.Empty(sink.Rows);
    }

    [SkippableFact]
    public void Read_StreamFailsInCpuData_FailureReachesTheCallerAndReadingStops()
    {
        // An I/O error on the read-ahead thread is the caller's error, at the point its rows would have come from.
        byte[] bytes = s_v7Zstd.Value;
        using var stream = new FailingStream(bytes, failAt: 24576 + 100);
        var sink = new CollectingSink();

        var e = Assert.Throws<IOException>(() => new TraceDatReader().ReadDetailed(stream, "failing.dat", sink, new IngestDiagnostics()));

        Assert.Equal("disk gone", e.Message);
        Assert.DoesNotContain(sink.Rows, r => r.Cpu == 1);
    }

    [SkippableFact]
    public void Read_SinkThrows_ReadAheadStopsAndTheErrorIsTheSinks()
    {
        var sink = new ThrowingSink(after: 10);

        var e = Assert.Throws<InvalidOperationException>(() => TraceDatCorpus.ReadInto(s_v7Zstd.Value, "stop.dat", sink));

        Assert.Equal("sink full", e.Message);
        Assert.Equal(10, sink.Count);
    }

    private sealed class ThrowingSink(int after) : IEventSink
    {
        public int Count { get; private set; }

        public void Write(EventRow row)
        {
            if (Count == after)
            {
                throw new InvalidOperationException("sink full");
            }
            Count++;
        }
    }

    /// <summary>
    /// A seekable file whose reads past <c>failAt</c> fail, like a disk that went away; with
    /// <c>failFromStart</c>, only the reads that start there or later, and before <c>failUntil</c>.
    /// </summary>
    private sealed class FailingStream(byte[] bytes, long failAt, bool failFromStart = false, long failUntil = long.MaxValue)
        : MemoryStream(bytes, writable: false)
    {
        public override int Read(Span<byte> buffer)
        {
            Check(buffer.Length);
            return base.Read(buffer);
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            Check(count);
            return base.Read(buffer, offset, count);
        }

        private void Check(int count)
        {
            if ((failFromStart ? Position : Position + count) >= failAt + (failFromStart ? 0 : 1) && Position < failUntil)
            {
                throw new IOException("disk gone");
            }
        }
    }
}
