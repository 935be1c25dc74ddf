using Pipeline.Storage;

namespace Pipeline.Ingest.Text;

/// <summary>
/// The text readers' one check that the input is text at all: trace text, perf script output and console logs are
/// UTF-8 without NUL bytes, so a NUL where the reader has not yet seen anything of its format means a binary file
/// (a trace.dat, a perf.data, a Parquet file) read with a forced <c>--format</c> or handed to <c>triage</c>.
/// </summary>
internal static class BinaryInput
{
    /// <summary>Throws when <paramref name="line"/> holds a NUL byte, saying what was <paramref name="expected"/>.</summary>
    public static void Refuse(ReadOnlySpan<byte> line, long lineNumber, string fileName, string expected)
    {
        if (line.Contains((byte)0))
        {
            throw new TraceFormatException(fileName, lineNumber, "line", $"expected {expected}, found binary data (a NUL byte); with --format auto the format is told from the content (a trace.dat is read, a perf.data gets the command that converts it)");
        }
    }
}
