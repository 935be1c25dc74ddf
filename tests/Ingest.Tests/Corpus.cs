using Pipeline.Tests.Shared;

namespace Pipeline.Ingest.Tests;

/// <summary>Corpus files by their path under the corpus (see <see cref="TestCorpus"/>: recorded traces in the repository, public samples beside it).</summary>
internal static class Corpus
{
    /// <summary>Whether the third-party samples (<c>shared/corpus</c>) are beside the clone.</summary>
    public static bool Available => TestCorpus.SharedAvailable;

    /// <summary>A corpus file by its path (e.g. <c>recorded/ftrace-text/mm_trace.txt</c>); skips the test when a public sample is absent.</summary>
    public static string File(string relative) => TestCorpus.File(relative);
}
