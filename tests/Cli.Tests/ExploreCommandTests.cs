using System.Text.Json;

namespace Pipeline.Cli.Tests;

public class ExploreCommandTests
{
    [SkippableFact]
    public void Explore_BenignScenarioUnderBuggyKernel_FindsTheRaceAndTheEmittedScheduleReplaysToIt()
    {
        using var dir = new TempDir();
        Assert.Equal(0, Mmtrace.Run("synth", "r1-pmd", "--benign", "-o", dir["benign.txt"]).ExitCode);
        Assert.Equal(0, Mmtrace.Run("ingest", dir["benign.txt"], "-o", dir["benign"]).ExitCode);
        // As written, the schedule is benign.
        Assert.Equal(0, Mmtrace.Run("replay", dir["benign"], "--profile", "v5.13").ExitCode);

        var explore = Mmtrace.Run("explore", dir["benign"], "--profile", "v5.13", "--emit-schedule", dir["witness.txt"]);

        Assert.True(explore.ExitCode == 1, explore.ToString());
        Assert.Contains("1 violation", explore.Stdout, StringComparison.Ordinal);
        Assert.Contains("I1 R1 (race, critical)", explore.Stdout, StringComparison.Ordinal);
        Assert.Contains("witness schedule: 2 preemptions", explore.Stdout, StringComparison.Ordinal);
        Assert.Equal(0, Mmtrace.Run("ingest", dir["witness.txt"], "-o", dir["witness"]).ExitCode);
        var replay = Mmtrace.Run("replay", dir["witness"], "--profile", "v5.13");
        Assert.True(replay.ExitCode == 1, replay.ToString());
        Assert.Contains("I1 R1 (race, critical)", replay.Stdout, StringComparison.Ordinal);

        var query = Mmtrace.Run("query", dir["benign"], "--sql",
            "SELECT checker, race, preemptions, strategy, bound, exhaustive FROM explorations", "--format", "csv");
        Assert.True(query.ExitCode == 0, query.ToString());
        Assert.Contains("I1,R1,2,dpor,2,true", query.Stdout, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Explore_FixedKernel_SaysNoViolationWithinTheBoundAndExitsZero()
    {
        using var dir = new TempDir();
        Assert.Equal(0, Mmtrace.Run("synth", "r2-anon", "--benign", "-o", dir["t.txt"]).ExitCode);
        Assert.Equal(0, Mmtrace.Run("ingest", dir["t.txt"], "-o", dir["ds"]).ExitCode);

        var explore = Mmtrace.Run("explore", dir["ds"], "--profile", "v6.1", "--bound", "3", "--emit-schedule", dir["w.txt"]);

        Assert.True(explore.ExitCode == 0, explore.ToString());
        Assert.Contains("no violation within 3 preemptions", explore.Stdout, StringComparison.Ordinal);
        Assert.False(File.Exists(dir["w.txt"]));
        var query = Mmtrace.Run("query", dir["ds"], "--sql", "SELECT count(*) AS n, count(checker) AS v, any_value(exhaustive) AS e FROM explorations", "--format", "csv");
        Assert.Contains("1,0,true", query.Stdout, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Explore_JsonAndPct_ListsViolationsWithCheckerRaceCpusAndSchedule()
    {
        using var dir = new TempDir();
        Assert.Equal(0, Mmtrace.Run("synth", "r3-pte", "--benign", "-o", dir["t.txt"]).ExitCode);
        Assert.Equal(0, Mmtrace.Run("ingest", dir["t.txt"], "-o", dir["ds"]).ExitCode);

        var explore = Mmtrace.Run("explore", dir["ds"], "--profile", "v5.12", "--strategy", "pct", "--budget", "300", "--seed", "5", "--format", "json");

        Assert.True(explore.ExitCode == 1, explore.ToString());
        using var doc = JsonDocument.Parse(explore.Stdout);
        var trace = doc.RootElement[0];
        Assert.Equal("pct", trace.GetProperty("strategy").GetString());
        Assert.Equal(300, trace.GetProperty("schedules").GetInt64());
        Assert.True(trace.GetProperty("pct_run_probability").GetDouble() > 0);
        var violation = trace.GetProperty("violations")[0];
        Assert.Equal("I3", violation.GetProperty("checker").GetString());
        Assert.Equal("R3", violation.GetProperty("race").GetString());
        Assert.True(violation.GetProperty("cpus").GetArrayLength() >= 2);
        Assert.True(violation.GetProperty("schedule").GetArrayLength() > 0);
        // Same seed, same output.
        var again = Mmtrace.Run("explore", dir["ds"], "--profile", "v5.12", "--strategy", "pct", "--budget", "300", "--seed", "5", "--format", "json");
        Assert.Equal(explore.Stdout, again.Stdout);
    }

    [SkippableFact]
    public void Explore_BadArguments_ExitTwoAndRealTraceWithoutExposuresExplainsIt()
    {
        using var dir = new TempDir();
        Assert.Equal(2, Mmtrace.Run("explore", "x", "--strategy", "random").ExitCode);
        Assert.Equal(0, Mmtrace.Run("synth", "r3-pte", "-o", dir["t.txt"]).ExitCode);
        Assert.Equal(0, Mmtrace.Run("ingest", dir["t.txt"], "-o", dir["ds"]).ExitCode);
        Assert.Equal(2, Mmtrace.Run("explore", dir["ds"], "--bound", "-1").ExitCode);
        Assert.Equal(2, Mmtrace.Run("explore", dir["ds"], "--profile", "v9.x").ExitCode);

        File.WriteAllText(dir["k.txt"], "            bash-100   [001] .....   10.000001: sys_enter_mremap: addr=0x1000\n");
        Assert.Equal(0, Mmtrace.Run("ingest", dir["k.txt"], "-o", dir["kernel"]).ExitCode);
        // A real trace: its exposure windows are explored (docs/exploration.md, "Real traces"); this one has none.
        var none = Mmtrace.Run("explore", dir["kernel"]);
        Assert.True(none.ExitCode == 0, none.ToString());
        Assert.Contains("real trace", none.Stdout, StringComparison.Ordinal);
        Assert.Contains("no exposure window", none.Stdout, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Explore_KernelRelease_PicksTheNearestLowerProfileAndSaysSo()
    {
        using var dir = new TempDir();
        Assert.Equal(0, Mmtrace.Run("synth", "r1-pmd", "--benign", "-o", dir["t.txt"]).ExitCode);
        Assert.Equal(0, Mmtrace.Run("ingest", dir["t.txt"], "-o", dir["ds"]).ExitCode);

        // 5.13.2 predates the stable backport of the rmap-locks fix (v5.13.3): the race is one interleaving away.
        var buggy = Mmtrace.Run("explore", dir["ds"], "--profile", "5.13.2");
        // 5.15 has it (v5.14 and later).
        var fixedKernel = Mmtrace.Run("explore", dir["ds"], "--profile", "v5.15");

        Assert.True(buggy.ExitCode == 1, buggy.ToString());
        Assert.Contains("v5.13", buggy.Stdout, StringComparison.Ordinal);
        Assert.True(fixedKernel.ExitCode == 0, fixedKernel.ToString());
        Assert.Contains("v5.14", fixedKernel.Stdout, StringComparison.Ordinal);
        Assert.Equal(2, Mmtrace.Run("explore", dir["ds"], "--profile", "v9.x").ExitCode);
    }
}
