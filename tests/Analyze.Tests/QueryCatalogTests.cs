namespace Pipeline.Analyze.Tests;

public sealed class QueryCatalogTests
{
    [SkippableFact]
    public void All_EmbeddedQueries_HaveDescriptionsAndParse()
    {
        var names = QueryCatalog.All.Select(q => q.Name).ToList();

        Assert.Contains("event_counts", names);
        Assert.Contains("syscall_latency", names);
        Assert.Equal(names.Order(StringComparer.Ordinal), names);
        Assert.All(QueryCatalog.All, q => Assert.False(string.IsNullOrWhiteSpace(q.Description)));
    }

    [SkippableFact]
    public void Parse_ParameterLines_GiveNameDefaultAndDescription()
    {
        var query = QueryCatalog.Parse("q", "-- What it answers.\n-- param: min=5  only groups this big\n-- param: name=%\nSELECT 1;\n");

        Assert.Equal("What it answers.", query.Description);
        Assert.Equal([new QueryParameter("min", "5", "only groups this big"), new QueryParameter("name", "%", "")], query.Parameters);
    }

    [SkippableFact]
    public void Parse_NoDescription_ErrorNamesTheQuery()
    {
        var e = Assert.Throws<FormatException>(() => QueryCatalog.Parse("nodoc", "SELECT 1;"));

        Assert.Contains("'nodoc'", e.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Parse_BadParameterLine_ErrorShowsWhatWasFound()
    {
        var e = Assert.Throws<FormatException>(() => QueryCatalog.Parse("q", "-- d\n-- param: oops\nSELECT 1;"));

        Assert.Contains("found '-- param: oops'", e.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Get_UnknownName_ListsTheKnownOnes()
    {
        var e = Assert.Throws<KeyNotFoundException>(() => QueryCatalog.Get("nope"));

        Assert.Contains("event_counts", e.Message, StringComparison.Ordinal);
    }
}
