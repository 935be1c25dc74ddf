using System.Text;

namespace Pipeline.Storage.Tests;

/// <summary>docs/schema.md documents every column of events.parquet exactly as EventSchema defines it.</summary>
public sealed class SchemaDocTests
{
    private const string Begin = "<!-- columns:begin (generated from EventSchema; SchemaDocTests checks it) -->";
    private const string End = "<!-- columns:end -->";

    [SkippableFact]
    public void SchemaDoc_ColumnTable_MatchesEventSchema()
    {
        var path = FindDoc();
        var text = File.ReadAllText(path).Replace("\r", "", StringComparison.Ordinal);
        int start = text.IndexOf(Begin, StringComparison.Ordinal);
        int end = text.IndexOf(End, StringComparison.Ordinal);
        Assert.True(start >= 0 && end > start, $"{path} lacks the generated column table markers.");

        var expected = ColumnTable();
        var actual = text[(start + Begin.Length)..end];
        if (actual != expected)
        {
            var actualPath = path + ".actual.txt";
            File.WriteAllText(actualPath, text[..(start + Begin.Length)] + expected + text[end..]);
            Assert.Fail($"The column table of {path} does not match EventSchema; the expected document is saved in {actualPath}.");
        }
    }

    private static string ColumnTable()
    {
        var sb = new StringBuilder("\n| # | column | type | meaning |\n|---|---|---|---|\n");
        foreach (var column in EventSchema.Columns)
        {
            sb.Append("| ").Append(column.Ordinal).Append(" | `").Append(column.Name).Append("` | ").Append(column.SqlType)
              .Append(" | ").Append(column.Description.Replace("|", "\\|", StringComparison.Ordinal)).Append(" |\n");
        }
        return sb.ToString();
    }

    private static string FindDoc()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "docs", "schema.md");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        throw new FileNotFoundException($"docs/schema.md not found above {AppContext.BaseDirectory}.");
    }
}
