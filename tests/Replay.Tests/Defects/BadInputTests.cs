namespace Pipeline.Replay.Tests.Defects;

/// <summary>Issue 9, defect 6: input that names no mapping the model knows is inconsistent, not a race.</summary>
public class BadInputTests
{
    [SkippableTheory]
    [InlineData("mm=8 va=0x7000000000", "has no PTE table there")]
    [InlineData("mm=3 va=0x7000001000", "which no mm_create introduced")]
    [InlineData("", "names no mapping")]
    public void Run_MlockedSetNamingNoKnownMapping_InconsistentInput(string mapping, string text)
    {
        // mm 8 exists with tables for 0x600000000000 only; 0x7000000000 has no PTE table.
        var result = new VariantTrace()
            .Space("t-5", 2, 8, 30, 0x6000_0000_0000, vmflags: "locked")
            .Op("t-5", 2, "page_alloc", "pfn=0x2200")
            .Op("t-5", 2, "flag_set", $"pfn=0x2200 flag=mlocked {mapping}".TrimEnd())
            .Op("t-5", 2, "flag_clear", "pfn=0x2200 flag=mlocked")
            .Run("v4.3");

        var finding = Assert.Single(result.Findings);
        Assert.Equal(FindingClass.Inconsistent, finding.Class);
        Assert.Equal("input", finding.Checker);
        Assert.Equal("inconsistent", finding.Race);
        Assert.Contains(text, finding.Message, StringComparison.Ordinal);
    }
}
