namespace Pipeline.Cli.Tests;

/// <summary>
/// Issue 13's fresh-machine promise, checked by the suite itself: <c>scripts/fresh-clone.sh</c> clones the committed
/// HEAD into a temporary directory with no <c>shared/</c> corpus above it, shadows npm/npx/node with stubs that fail,
/// and there builds and runs <c>./mmtrace demo</c>, which must exit 0.
/// </summary>
public sealed class FreshCloneTests
{
    [SkippableFact]
    public void FreshClone_WithoutNodeOrSharedCorpus_BuildsAndRunsTheDemo()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "scripts/fresh-clone.sh is a bash script for Linux");
        string? repository = SingleFileTests.Ancestor("Pipeline.sln");
        Skip.If(repository is null, "no Pipeline.sln above the test binaries: not run from a clone");
        Skip.IfNot(Directory.Exists(Path.Combine(repository!, ".git")) || File.Exists(Path.Combine(repository!, ".git")),
            $"{repository} is not a git checkout: the script clones the committed HEAD");
        Skip.IfNot(Environment.GetEnvironmentVariable("PATH")?.Split(':').Any(d => File.Exists(Path.Combine(d, "git"))) == true,
            "git is not on PATH");

        var result = SingleFileTests.Run("bash", new Dictionary<string, string?>(), Path.Combine(repository!, "scripts", "fresh-clone.sh"));

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("npm and node unavailable, no shared/ corpus", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("./mmtrace demo exited 0", result.Stderr, StringComparison.Ordinal);
        Assert.EndsWith("fresh-clone: ok", result.Stderr.TrimEnd(), StringComparison.Ordinal);
    }
}
