using System.Text.RegularExpressions;

namespace Pipeline.Replay.Tests;

public partial class OpSpecTests
{
    [GeneratedRegex("`(mmop_[a-z0-9_]+:[^`]*)`")]
    private static partial Regex Example();

    private static string Docs()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "docs", "op-trace.md");
            if (File.Exists(candidate))
            {
                return File.ReadAllText(candidate);
            }
        }
        throw new FileNotFoundException("docs/op-trace.md not found above " + AppContext.BaseDirectory);
    }

    [SkippableFact]
    public void Docs_EveryOpHasAnExampleThatLoads()
    {
        var examples = Example().Matches(Docs()).Select(m => m.Groups[1].Value).ToList();
        var lines = string.Join('\n', examples.Select((e, i) => $"doc-1 [000] ..... 0.{i + 1:D6}: {e}"));

        var trace = OpTraceLoader.Load(TraceText.ToRows(lines));

        var documented = trace.Ops.ToArray().Select(op => op.Kind).ToHashSet();
        foreach (var (kind, name, _) in OpSpec.All)
        {
            Assert.True(documented.Contains(kind), $"docs/op-trace.md has no loadable example for mmop_{name}");
        }
    }

    [SkippableFact]
    public void TryGetKind_EveryName_RoundTrips()
    {
        foreach (var (kind, name, step) in OpSpec.All)
        {
            Assert.True(OpSpec.TryGetKind(name, out var found));
            Assert.Equal(kind, found);
            Assert.Equal(step, OpSpec.IsKernelStep(kind));
        }
    }

    [SkippableTheory]
    [InlineData("none", 0L)]
    [InlineData("tbl:7", (7L << 3) | 1)]
    [InlineData("leaf:0x1a", (0x1aL << 3) | 2)]
    [InlineData("swap:0x5", (5L << 3) | 3)]
    public void EntryValue_TextForm_RoundTrips(string text, long value)
    {
        Assert.True(EntryValue.TryParse(text, out long parsed));
        Assert.Equal(value, parsed);
        Assert.Equal(text, EntryValue.Format(value));
    }

    [SkippableTheory]
    [InlineData("tbl")]
    [InlineData("leaf:zz")]
    [InlineData("pmd:0x1")]
    public void EntryValue_Malformed_Rejected(string text)
    {
        Assert.False(EntryValue.TryParse(text, out _));
    }
}
