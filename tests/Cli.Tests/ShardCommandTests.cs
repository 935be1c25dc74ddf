using System.Security.Cryptography;

namespace Pipeline.Cli.Tests;

/// <summary>
/// <c>mmtrace ingest|replay|explore --shard I/N</c> as a scheduler runs them: every shard with the same input list, into one
/// root; the root then holds exactly what one ingest and one replay over every input write, and query reads it.
/// </summary>
public sealed class ShardCommandTests
{
    // A run.json says when its replay ran: that line differs between any two runs, the rest must not.
    private static string[] Fingerprint(string root) =>
        [.. Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(root, f) + " " + Convert.ToHexStringLower(SHA256.HashData(Path.GetFileName(f) == "run.json"
                ? System.Text.Encoding.UTF8.GetBytes(string.Join("\n", File.ReadLines(f).Where(l => !l.Contains("\"replayed_at\"", StringComparison.Ordinal))))
                : File.ReadAllBytes(f))))
            .Order(StringComparer.Ordinal)];

    [SkippableFact]
    public void IngestAndReplay_ThreeShardsIntoOneRoot_SameDatasetAsOneRun()
    {
        using var dir = new TempDir();
        string[] scenarios = ["r1-pmd", "r2-anon", "r3-pte", "r4-truncate", "r5-exec-stack"];
        foreach (string s in scenarios)
        {
            var synth = Mmtrace.Run("synth", s, "-o", dir[s + ".txt"]);
            Assert.True(synth.ExitCode == 0, synth.ToString());
        }
        string[] inputs = [.. scenarios.Select(s => dir[s + ".txt"])];

        Assert.Equal(0, Mmtrace.Run(["ingest", .. inputs, "-o", dir["whole"]]).ExitCode);
        Assert.Equal(1, Mmtrace.Run("replay", dir["whole"], "--profile", "v5.13").ExitCode);
        for (int i = 0; i < 3; i++)
        {
            var ingest = Mmtrace.Run(["ingest", .. inputs, "-o", dir["sharded"], "--shard", $"{i}/3"]);
            Assert.True(ingest.ExitCode == 0, ingest.ToString());
        }
        for (int i = 0; i < 3; i++)
        {
            var replay = Mmtrace.Run("replay", dir["sharded"], "--profile", "v5.13", "--shard", $"{i}/3");
            Assert.True(replay.ExitCode is 0 or 1, replay.ToString());
        }

        Assert.Equal(Fingerprint(dir["whole"]), Fingerprint(dir["sharded"]));
        var counts = Mmtrace.Run("query", dir["sharded"], "--sql", "SELECT count(DISTINCT trace) AS n FROM events", "--format", "csv");
        Assert.Equal($"n\n{scenarios.Length}\n", counts.Stdout.Replace("\r", "", StringComparison.Ordinal));
    }

    [SkippableFact]
    public void Explore_ThreeShardsOfOneRoot_SameExplorationsAsOneRun()
    {
        using var dir = new TempDir();
        string[] scenarios = ["r1-pmd", "r2-anon", "r3-pte", "r4-truncate", "r6-retract"];
        foreach (string s in scenarios)
        {
            Assert.Equal(0, Mmtrace.Run("synth", s, "--benign", "-o", dir[s + ".txt"]).ExitCode);
        }
        string[] inputs = [.. scenarios.Select(s => dir[s + ".txt"])];
        Assert.Equal(0, Mmtrace.Run(["ingest", .. inputs, "-o", dir["whole"]]).ExitCode);
        Assert.Equal(0, Mmtrace.Run(["ingest", .. inputs, "-o", dir["sharded"]]).ExitCode);

        var whole = Mmtrace.Run("explore", dir["whole"], "--profile", "none", "--bound", "1");
        Assert.True(whole.ExitCode == 1, whole.ToString());
        int explored = 0;
        for (int i = 0; i < 3; i++)
        {
            var shard = Mmtrace.Run("explore", dir["sharded"], "--profile", "none", "--bound", "1", "--shard", $"{i}/3");
            Assert.True(shard.ExitCode is 0 or 1, shard.ToString());
            explored += shard.Stdout.Split('\n').Count(l => l.StartsWith("trace ", StringComparison.Ordinal) && l.Contains(" ops explored ", StringComparison.Ordinal));
        }

        // Every trace explored by exactly one shard; the rows (but their wall-clock times) are the single run's.
        Assert.Equal(scenarios.Length, explored);
        const string sql = "SELECT * EXCLUDE (elapsed_ms) FROM explorations ORDER BY ALL";
        var expected = Mmtrace.Run("query", dir["whole"], "--sql", sql, "--format", "csv");
        var actual = Mmtrace.Run("query", dir["sharded"], "--sql", sql, "--format", "csv");
        Assert.True(expected.ExitCode == 0, expected.ToString());
        Assert.Contains(",I3,R3,", expected.Stdout, StringComparison.Ordinal);
        Assert.Equal(expected.Stdout, actual.Stdout);
    }

    [SkippableFact]
    public void Ingest_BadShard_UsageError()
    {
        using var dir = new TempDir();
        Assert.Equal(0, Mmtrace.Run("synth", "r1-pmd", "-o", dir["r1.txt"]).ExitCode);

        var result = Mmtrace.Run("ingest", dir["r1.txt"], "-o", dir["ds"], "--shard", "3/3");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("expected I/N", result.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir["ds"]));
    }
}
