namespace Pipeline.Replay.Tests;

/// <summary>Reviewed golden files in <c>tests/Replay.Tests/golden</c>: compare, and leave the new text beside on a difference.</summary>
internal static class GoldenFile
{
    public static string Directory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "tests", "Replay.Tests", "golden");
            if (System.IO.Directory.Exists(candidate))
            {
                return candidate;
            }
        }
        throw new DirectoryNotFoundException($"tests/Replay.Tests/golden not found above {AppContext.BaseDirectory}");
    }

    /// <summary>
    /// Fails unless <paramref name="actual"/> equals golden/<paramref name="baselineName"/>; the new text is then
    /// written to golden/<paramref name="actualName"/> for review (and removed again once they agree).
    /// </summary>
    public static void AssertMatches(string baselineName, string actualName, string actual, string what)
    {
        string baseline = Path.Combine(Directory(), baselineName);
        string actualPath = Path.Combine(Directory(), actualName);
        string expected = File.Exists(baseline) ? File.ReadAllText(baseline) : "";
        if (expected != actual)
        {
            File.WriteAllText(actualPath, actual);
            Assert.Fail($"{what} differs from {Path.GetFullPath(baseline)}; the new one is in {Path.GetFullPath(actualPath)}. Review the difference; copy it over only if every change is right.");
        }
        if (File.Exists(actualPath))
        {
            File.Delete(actualPath);
        }
    }
}
