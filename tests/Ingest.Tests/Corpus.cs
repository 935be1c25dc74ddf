namespace Pipeline.Ingest.Tests;

/// <summary>Finds the shared corpus: the first ancestor of the test binaries that holds <c>shared/corpus</c>.</summary>
internal static class Corpus
{
    private static readonly Lazy<string> s_root = new(Locate);

    /// <summary>Whether a <c>shared/corpus</c> directory is above the test binaries.</summary>
    public static bool Available => Find() is not null;

    /// <summary>The <c>shared/corpus</c> directory.</summary>
    public static string Root => s_root.Value;

    /// <summary>A corpus file by its path under <c>shared/corpus</c> (e.g. <c>recorded/ftrace-text/mm_trace.txt</c>).</summary>
    public static string File(string relative) => Path.Combine(Root, relative);

    private static string Locate() =>
        Find() ?? throw new DirectoryNotFoundException($"No shared/corpus above {AppContext.BaseDirectory}; clone shared/ beside the repository.");

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
