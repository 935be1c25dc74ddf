using System.Text;
using Pipeline.Ingest.Ctf;
using Pipeline.Storage;

namespace Pipeline.Ingest.Tests.Ctf;

/// <summary>Metadata written to hurt the parser: types nested far deeper than any tracer writes.</summary>
public sealed class CtfHostileMetadataTests
{
    private const string Prelude = """
        /* CTF 1.8 */
        typealias integer { size = 8; align = 8; signed = false; } := uint8_t;
        trace { major = 1; minor = 8; byte_order = le; };

        """;

    [SkippableFact]
    public void ChainOfTwentyThousandStructs_ClearErrorNotAStackOverflow()
    {
        var text = new StringBuilder(Prelude).Append("struct s0 { uint8_t x; };\n");
        for (int i = 1; i < 20_000; i++)
        {
            text.Append(System.Globalization.CultureInfo.InvariantCulture, $"struct s{i} {{ struct s{i - 1} f; }};\n");
        }

        var e = Assert.Throws<TraceFormatException>(() => TsdlParser.Parse(text.ToString(), "metadata"));

        Assert.Contains("nested at most 64 deep", e.Message, StringComparison.Ordinal);
        Assert.Contains("metadata", e.Message, StringComparison.Ordinal);
        Assert.Contains("line 68", e.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void ThirtyThousandArraySuffixes_ClearErrorNotAStackOverflow()
    {
        var text = Prelude + "struct s { uint8_t x" + string.Concat(Enumerable.Repeat("[1]", 30_000)) + "; };\n";

        var e = Assert.Throws<TraceFormatException>(() => TsdlParser.Parse(text, "metadata"));

        Assert.Contains("arrays nested at most 64 deep", e.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void NestingWithinTheLimit_StillParses()
    {
        var text = new StringBuilder(Prelude).Append("struct s0 { uint8_t x[2][3]; };\n");
        for (int i = 1; i < 40; i++)
        {
            text.Append(System.Globalization.CultureInfo.InvariantCulture, $"struct s{i} {{ struct s{i - 1} f; uint8_t y; }};\n");
        }

        var metadata = TsdlParser.Parse(text.ToString(), "metadata");

        Assert.NotNull(metadata);
    }
}
