namespace Pipeline.Replay.Tests;

/// <summary>A fact on the shared corpus: skipped, with the reason, when no <c>shared/corpus</c> is above the tests (CI clones).</summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class CorpusFactAttribute : FactAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> when the corpus is absent.</summary>
    public CorpusFactAttribute()
    {
        if (Root is null)
        {
            Skip = "shared/corpus is not above the test binaries (clone shared/ beside the repository to run this test)";
        }
    }

    /// <summary>The <c>shared/corpus</c> directory, or null.</summary>
    public static string? Root { get; } = Find();

    private static string? Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "shared", "corpus");
            if (Directory.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }
}
