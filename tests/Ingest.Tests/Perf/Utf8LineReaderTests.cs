using System.Text;
using Pipeline.Ingest.Perf;

namespace Pipeline.Ingest.Tests.Perf;

public sealed class Utf8LineReaderTests
{
    [Fact]
    public void TryReadLine_LinesLongerThanBuffer_BufferGrowsAndLinesIntact()
    {
        var long1 = new string('a', 100);
        var long2 = new string('b', 300);
        var bytes = Encoding.UTF8.GetBytes($"{long1}\n{long2}\r\nshort");
        using var reader = new Utf8LineReader(new ChunkedStream(bytes, 0, chunkSize: 7), bufferSize: 16);

        var lines = new List<string>();
        while (reader.TryReadLine(out var line))
        {
            lines.Add(Encoding.UTF8.GetString(line));
        }

        Assert.Equal([long1, long2, "short"], lines);
        Assert.Equal(3, reader.LineNumber);
    }

    [Fact]
    public void TryReadLine_LineOverLimit_ReportedAndSkippedWithoutHoldingIt()
    {
        var bytes = new byte[Utf8LineReader.MaxLineBytes + 10 + 6];
        bytes.AsSpan(0, Utf8LineReader.MaxLineBytes + 10).Fill((byte)'x');
        "\nnext\n"u8.CopyTo(bytes.AsSpan(Utf8LineReader.MaxLineBytes + 10));
        using var reader = new Utf8LineReader(new MemoryStream(bytes));

        Assert.True(reader.TryReadLine(out _));
        Assert.True(reader.LastLineTooLong);
        Assert.True(reader.TryReadLine(out var next));
        Assert.False(reader.LastLineTooLong);
        Assert.Equal("next", Encoding.UTF8.GetString(next));
        Assert.Equal(2, reader.LineNumber);
        Assert.False(reader.TryReadLine(out _));
    }
}
