using System.Text;
using Pipeline.Ingest.Text;

namespace Pipeline.Ingest.Tests.Text;

/// <summary>The line reader the text readers share: blocks of lines and single lines must agree, also when the input fails.</summary>
public sealed class Utf8LineReaderTests
{
    /// <summary>
    /// A stream that fails midway: taking the lines in blocks (as the parallel readers do, a batch asking for the
    /// lines it still has room for) must hand out every whole line before the failure, as taking them one by one
    /// does, and then throw the same error. Lines of 20 to 140 bytes, 4 KiB reads, failures at many offsets and
    /// block sizes, so the failure falls with whole lines still in the buffer that a block did not take.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(256)]
    public void TryReadBlock_InputFailsMidway_EveryWholeLineBeforeTheFailureThenTheError(int maxLines)
    {
        var text = new StringBuilder();
        for (int i = 0; i < 3_000; i++)
        {
            text.Append("line ").Append(i).Append(' ').Append('x', i * 37 % 120).Append(i % 5 == 0 ? "\r\n" : "\n");
        }
        byte[] input = Encoding.UTF8.GetBytes(text.ToString());

        int checkedPoints = 0;
        for (int failAt = 1_000; failAt < input.Length; failAt += 9_973)
        {
            var (singleLines, singleError) = ReadLines(input, failAt, blocks: 0);
            var (blockLines, blockError) = ReadLines(input, failAt, blocks: maxLines);

            Assert.Equal(Encoding.UTF8.GetString(input, 0, failAt).Split('\n')[..^1].Select(l => l.TrimEnd('\r')), singleLines);
            Assert.Equal(singleLines, blockLines);
            Assert.Equal(singleError, blockError);
            checkedPoints++;
        }
        Assert.True(checkedPoints > 10);
    }

    // The lines read (with TryReadBlock taking up to `blocks` lines at a time when blocks > 0, TryReadLine
    // otherwise and whenever a block is refused) until the stream throws, and the error's message.
    private static (List<string> Lines, string Error) ReadLines(byte[] input, int failAt, int blocks)
    {
        var reader = new Utf8LineReader(new FailingStream(input, failAt));
        var lines = new List<string>();
        try
        {
            while (true)
            {
                if (blocks > 0 && reader.TryReadBlock(blocks, out ReadOnlySpan<byte> block, out int count))
                {
                    string[] split = Encoding.UTF8.GetString(block).Split('\n');
                    Assert.Equal(count + 1, split.Length);
                    lines.AddRange(split[..^1].Select(l => l.TrimEnd('\r')));
                    Assert.Equal(lines.Count, reader.LineNumber);
                }
                else if (reader.TryReadLine(out ReadOnlySpan<byte> line))
                {
                    lines.Add(Encoding.UTF8.GetString(line));
                }
                else
                {
                    Assert.Fail("the input ended without the failure");
                }
            }
        }
        catch (IOException error)
        {
            return (lines, error.Message);
        }
    }
}
