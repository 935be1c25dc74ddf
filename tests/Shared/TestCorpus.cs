namespace Pipeline.Tests.Shared;

/// <summary>
/// Trace files the tests read, by their path under the corpus (<c>recorded/…</c> or <c>public/…</c>).
/// The traces this project recorded itself live in the repository (<c>tests/data/recorded</c>), so every clone
/// has them. The third-party public samples are not ours to redistribute: CI puts them in <c>shared/corpus/public</c>
/// beside the clone (the first ancestor of the test binaries holding <c>shared/corpus</c>), and a test that needs
/// one is skipped, naming the file, where they are absent. Tests that call this must be <c>[SkippableFact]</c> or
/// <c>[SkippableTheory]</c>.
/// </summary>
internal static class TestCorpus
{
    private static readonly Lazy<string?> s_repositoryData = new(() => Ancestor(Path.Combine("tests", "data")));
    private static readonly Lazy<string?> s_shared = new(() => Ancestor(Path.Combine("shared", "corpus")));

    /// <summary>Whether <c>shared/corpus</c> (the third-party samples) is beside the clone.</summary>
    public static bool SharedAvailable => s_shared.Value is not null;

    /// <summary>The file or directory <paramref name="relative"/> (e.g. <c>recorded/ftrace-text/mm_trace.txt</c>).</summary>
    /// <exception cref="Xunit.SkipException">A public sample, and <c>shared/corpus</c> is not beside the clone.</exception>
    /// <exception cref="FileNotFoundException">A recorded trace missing from the repository (a defect, not a skip).</exception>
    public static string File(string relative)
    {
        relative = relative.Replace('\\', '/');
        if (relative.StartsWith("recorded/", StringComparison.Ordinal))
        {
            string? data = s_repositoryData.Value;
            string? path = data is null ? null : Path.Combine(data, relative);
            if (path is not null && Exists(path))
            {
                return path;
            }
            throw new FileNotFoundException(
                $"Recorded trace {relative} is not in the repository's tests/data (looked above {AppContext.BaseDirectory}).", relative);
        }
        string? shared = s_shared.Value;
        string? candidate = shared is null ? null : Path.Combine(shared, relative);
        if (candidate is not null && Exists(candidate))
        {
            return candidate;
        }
        throw new Xunit.SkipException(shared is null
            ? $"Third-party sample {relative} unavailable: no shared/corpus beside the clone (CI puts the public samples there)."
            : $"Third-party sample {relative} is not in {shared}.");
    }

    /// <summary>
    /// The public kernel bug reports of the triage tests (<c>tests/Replay.Tests/Triage/Reports</c>, in the repository;
    /// their sources are in its SOURCES.md).
    /// </summary>
    public static string TriageReports =>
        Ancestor(Path.Combine("tests", "Replay.Tests", "Triage", "Reports"))
        ?? throw new DirectoryNotFoundException($"tests/Replay.Tests/Triage/Reports not found above {AppContext.BaseDirectory}");

    /// <summary>Like <see cref="File(string)"/> from path parts.</summary>
    public static string File(params string[] parts) => File(string.Join('/', parts));

    private static bool Exists(string path) => System.IO.File.Exists(path) || Directory.Exists(path);

    private static string? Ancestor(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, relative);
            if (Directory.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }
}
