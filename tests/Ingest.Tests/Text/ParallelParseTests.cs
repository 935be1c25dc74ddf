using System.Text;
using Pipeline.Ingest.Text;
using Pipeline.Storage;

namespace Pipeline.Ingest.Tests.Text;

/// <summary>
/// Event lines parsed on worker threads (<see cref="ParallelLineParser"/>) must give exactly what one thread gives:
/// the same rows in the same order, stacks on the same events, the same diagnostics and the same first error.
/// </summary>
public sealed class ParallelParseTests : ParallelEquivalenceTests
{
    private static readonly FtraceTextReader s_sequential = new() { ParsingThreads = 1 };

    // Parallel from the second line, with more parsing threads than cores, so batches finish out of order.
    private static readonly FtraceTextReader s_parallel = new() { SequentialLines = 1, ParsingThreads = 3 };

    private protected override ITraceReader Sequential => s_sequential;

    private protected override ITraceReader Parallel => s_parallel;

    public static TheoryData<string> CorpusTexts => new(FtraceTextReaderTests.CorpusFiles.Select(row => (string)row[0]));

    [SkippableTheory]
    [MemberData(nameof(CorpusTexts))]
    public void Read_CorpusFile_ParallelSameAsSequential(string path)
    {
        var sequential = TextReading.ReadFile(s_sequential, path);
        var parallel = TextReading.ReadFile(s_parallel, path);

        Assert.Equal(Describe(sequential), Describe(parallel));
    }

    [SkippableFact]
    public void Read_StacksMarkersAndDamageAcrossBatches_ParallelSameAsSequential()
    {
        byte[] input = MixedTrace(12_000);

        var sequential = TextReading.Read(s_sequential, new MemoryStream(input));
        var parallel = TextReading.Read(s_parallel, new MemoryStream(input));

        Assert.True(sequential.Rows.Count(r => r.Stack is not null) > 50, "the sample has stacks, some across batch boundaries");
        Assert.True(sequential.Diagnostics.MalformedCount > 20);
        Assert.Equal(Describe(sequential), Describe(parallel));
    }

    [SkippableFact]
    public void Read_LongRunsOfEventsIntoTheEventsWriter_SameFileAsSequentialRows()
    {
        // Runs of events longer than a batch: a batch whose lines are all events keeps its last ones in its segment
        // until the next batch shows they are final, a stack in that batch's first 32 lines sends them back to rows.
        // Stacks every 301 lines fall at every place in the 256-line batches, each 20 lines after the event of its
        // CPU it belongs to (so that event must still be a row waiting for it), some across a batch boundary.
        string[] events = [.. File.ReadAllLines(Corpus.File("recorded/ftrace-text/mm_trace.txt")).Where(l => !l.StartsWith('#'))];
        var text = new StringBuilder();
        for (int i = 0; i < 30_000; i++)
        {
            text.Append(events[i % events.Length]).Append('\n');
            if (i % 301 == 0)
            {
                text.Append("          mmwork-1     [003] d..1. 7090.000000: fault: address=0x").Append(i).Append(" n=1\n");
            }
            if (i % 301 == 20)
            {
                text.Append("          mmwork-1     [003] d..1. 7090.000000: <stack trace>\n => handle_mm_fault+0x1a4/0x600\n");
            }
        }

        var (segments, rows) = WriteBoth(Encoding.UTF8.GetBytes(text.ToString()));

        Assert.True(segments > 50, $"{segments} segments");
        Assert.True(rows > 1_000, $"{rows} rows: the events before each stack went row by row");
    }

    [SkippableFact]
    public void Read_EventNamesAlikeInRunsIntoTheEventsWriter_SameFileAsSequentialRows()
    {
        // The worker remembers its last few event names and takes a body that starts with one of them followed by
        // ": " as that event without searching: names of the same length and payload shape, names that are prefixes
        // of each other, a name ending in ':', more names than it remembers, a name too long to remember, unresolved
        // ips ("0: ", "0x…: ") and a name followed by ':' without the space must come out as a sequential read makes
        // them. Lines led by a tab and a space (the padding found once) go along.
        string[] names =
        [
            "test_aaa", "test_bbb", "mm_page_alloc", "mm_page_alloc_zone_locked", "odd:", "test_ccc", "mm_page_al",
            "test_ddd", new string('e', 70),
        ];
        string[] notEvents = ["0: ", "0x1234: ", "test_aaa:", "mm_page_alloc:"];
        var text = new StringBuilder();
        for (int i = 0; i < 20_000; i++)
        {
            string name = i % 301 == 300 ? notEvents[(i / 301) % notEvents.Length] : names[(i / (1 + (i % 3))) % names.Length] + ": ";
            text.Append(i % 50 == 7 ? "\t mmwork-1     [001] d..1. 7090." : "          mmwork-1     [001] d..1. 7090.")
                .Append((i % 1_000_000).ToString("D6", System.Globalization.CultureInfo.InvariantCulture)).Append(": ")
                .Append(name).Append("x=").Append(i).Append(" page=0x").Append(i * 64).Append('\n');
        }

        var (segments, rows) = WriteBoth(Encoding.UTF8.GetBytes(text.ToString()));

        Assert.True(segments > 50, $"{segments} segments");
        Assert.True(rows > 0, $"{rows} rows");
    }

    /// <summary>
    /// The line reader hands whole blocks of lines to the workers, which find the lines themselves: lines longer than
    /// the limit (cut, counted, the rest skipped), <c>\r\n</c> endings, blank lines, a bare <c>\r</c> line and a last
    /// line without its newline must come out as a line-by-line read gives them, whatever sizes the reads have.
    /// </summary>
    [SkippableTheory]
    [InlineData(0)]
    [InlineData(4096)]
    [InlineData(65_537)]
    public void Read_LongLinesCrLfBlankLinesAndUnterminatedEnd_ParallelSameAsSequential(int chunk)
    {
        string[] events = [.. File.ReadAllLines(Corpus.File("recorded/ftrace-text/mm_trace.txt")).Where(l => !l.StartsWith('#'))];
        var text = new StringBuilder();
        for (int i = 0; i < 3_000; i++)
        {
            text.Append(events[i % events.Length]).Append(i % 5 == 0 ? "\r\n" : "\n");
            if (i % 700 == 350)
            {
                // Over the limit by a little and by more than a read, once right after a blank and a bare '\r' line.
                text.Append("\n\r\n").Append('x', Utf8LineReader.MaxLineLength + (i % 1400 == 350 ? 3 : 70_000)).Append('\n');
            }
            if (i % 900 == 0)
            {
                // Exactly at the limit (a whole line or cut, depending on where the reads end: both ways must agree).
                text.Append('y', Utf8LineReader.MaxLineLength).Append('\n');
            }
        }
        text.Append(events[0]);
        byte[] input = Encoding.UTF8.GetBytes(text.ToString());

        var sequential = TextReading.Read(s_sequential, new MemoryStream(input));
        var parallel = TextReading.Read(s_parallel, chunk == 0 ? new MemoryStream(input) : new ChunkedStream(input, chunk));

        Assert.Equal(3_001, sequential.Rows.Count);
        Assert.True(sequential.Diagnostics.MalformedCount >= 4, $"the long lines are malformed: {sequential.Diagnostics.MalformedCount}");
        Assert.Equal(Describe(sequential), Describe(parallel));
    }

    /// <summary>
    /// Corpus event lines with, every few hundred lines, a stack block (some right at batch edges: 1024 lines are four 256-line batches), a
    /// lost-events marker, a header line, a damaged line and an event-looking line that is not an event.
    /// </summary>
    private protected override byte[] MixedInput(int lines) => MixedTrace(lines);

    private static byte[] MixedTrace(int lines)
    {
        string[] events = [.. File.ReadAllLines(Corpus.File("recorded/ftrace-text/mm_trace.txt")).Where(l => !l.StartsWith('#'))];
        var text = new StringBuilder();
        int written = 0;
        for (int i = 0; written < lines; i++)
        {
            string line = events[i % events.Length];
            text.Append(line).Append('\n');
            written++;
            if (written % 1024 is 1023 or 0 || i % 97 == 0)
            {
                // A stack of the event just written (same CPU), possibly the first lines of the next batch.
                int cpuStart = line.IndexOf('[', StringComparison.Ordinal);
                string cpu = line.Substring(cpuStart + 1, 3);
                text.Append(line.AsSpan(0, cpuStart)).Append('[').Append(cpu).Append("] d..1. 7090.000000: <stack trace>\n");
                text.Append(" => do_user_addr_fault+0x1a4/0x600\n => exc_page_fault+0x6c/0x150\n");
                written += 3;
            }
            if (i % 151 == 0)
            {
                // An event on CPU 3, which the recording's other events never use, ...
                int cpuStart = line.IndexOf('[', StringComparison.Ordinal);
                text.Append(line.AsSpan(0, cpuStart)).Append("[003]").Append(line.AsSpan(cpuStart + 5)).Append('\n');
                written++;
            }
            if (i % 151 == 20)
            {
                // ... and its stack 20 event lines later: it goes to the latest waiting event of that CPU, so far
                // back (rows wait for a stack in a window of 32).
                text.Append("          mmwork-1     [003] d..1. 7090.000000: <stack trace>\n => handle_mm_fault+0x1a4/0x600\n");
                written += 2;
            }
            if (i % 7 == 3)
            {
                // Payloads a worker must not write straight into a segment's columns as they stand: one that sets a
                // typed column twice (len_in is len: the row keeps the last), and values JSON must escape.
                text.Append("          mmwork-7     [001] d..1. 7090.000001: test_dup_len: addr=0x1000 len=")
                    .Append(i).Append(" len_in=").Append(2 * i).Append(" flags=3\n");
                text.Append("          mmwork-7     [000] d..1. 7090.000002: test_quoted: name=caf\u00e9 path=\"/x ").Append(i).Append("\" n=1\n");
                written += 2;
            }
            if (i % 389 == 0)
            {
                text.Append("CPU:1 [LOST 17 EVENTS]\n");
                text.Append("# tracer: nop\n");
                text.Append("garbage line that is not an event\n");
                text.Append("           bash-1     [001] d....   10.000001: no_colon_here\n");
                text.Append(" => frame_without_stack+0x1/0x2\n");
                written += 5;
            }
        }
        return Encoding.UTF8.GetBytes(text.ToString());
    }
}

/// <summary>Serves <c>data</c> in small reads and throws an <see cref="IOException"/> once <c>failAt</c> bytes were read.</summary>
internal sealed class FailingStream(byte[] data, int failAt) : Stream
{
    private int _position;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => _position; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count)
    {
        if (_position >= failAt)
        {
            throw new IOException($"device error at byte {_position}");
        }
        int n = Math.Min(Math.Min(count, 4096), failAt - _position);
        Array.Copy(data, _position, buffer, offset, n);
        _position += n;
        return n;
    }

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
