using System.Text.Json.Nodes;

namespace Pipeline.Cli.Tests.Views;

/// <summary>
/// Replays under several profiles kept side by side (replay=PROFILE@ARCH/ runs) and compared in SQL, and
/// <c>--pid</c>/<c>--from</c>/<c>--to</c> on replay and query, on the recorded trace.dat of <see cref="ShowTests"/>.
/// Its mremap calls, both by pid 25561: seq 581 (enter at 526.220191854, exit 587) and seq 780 (enter at
/// 526.220420815, exit 824 at 526.220463068).
/// </summary>
public sealed class ReplayRunsTests
{
    [CorpusFact]
    public void Replay_TwoProfilesOfARecordedTrace_BothRunsStayAndCompareInSql()
    {
        using var dir = new TempDir();
        string ds = ShowTests.Dataset(dir);

        Assert.Equal(0, Mmtrace.Run("replay", ds, "--profile", "v5.13").ExitCode);
        var second = Mmtrace.Run("replay", ds, "--profile", "latest", "--arch", "arm64");
        Assert.True(second.ExitCode == 0, second.ToString());
        Assert.Contains("tables in replay=latest@arm64/", second.Stdout, StringComparison.Ordinal);

        // The second replay kept the first's tables: each run in its own directory.
        Assert.True(File.Exists(Path.Combine(ds, "replay=v5.13@x86", "findings.parquet")));
        Assert.True(File.Exists(Path.Combine(ds, "replay=latest@arm64", "mremaps.parquet")));
        Assert.False(File.Exists(Path.Combine(ds, "findings.parquet")));

        // The comparison the README shows: one row per mremap call, each profile's prediction side by side.
        var compare = Csv(ds, """
            SELECT a.seq, a.profile, b.profile, a.undecided, b.undecided
            FROM mremaps a JOIN mremaps b ON a.trace = b.trace AND a.seq = b.seq
            WHERE a.profile = 'v5.13' AND b.profile = 'latest' ORDER BY a.seq
            """);
        Assert.Equal([["581", "v5.13", "latest", "true", "true"], ["780", "v5.13", "latest", "false", "false"]], compare);
        Assert.Equal(
            [["latest", "arm64", "6"], ["v5.13", "x86", "6"]],
            Csv(ds, "SELECT profile, arch, count(*) FROM coverage GROUP BY ALL ORDER BY ALL"));
        Assert.Equal(
            [["latest", "arm64", "true"], ["v5.13", "x86", "false"]],
            Csv(ds, "SELECT profile, arch, latest FROM replays ORDER BY profile"));
        // fixes names what the run had; v5.13 lacks the R1 fix (97113eb39fa7, v5.13.3).
        var fixes = Csv(ds, "SELECT profile, fixes FROM replays ORDER BY profile");
        Assert.Contains("rmap-locks-pmd-move", fixes[0][1], StringComparison.Ordinal);
        Assert.DoesNotContain("rmap-locks-pmd-move", fixes[1][1], StringComparison.Ordinal);

        // The same profile again replaces its own run only, and becomes the latest.
        Assert.Equal(0, Mmtrace.Run("replay", ds, "--profile", "v5.13").ExitCode);
        Assert.Equal(
            [["latest", "arm64", "2", "false"], ["v5.13", "x86", "2", "true"]],
            Csv(ds, "SELECT r.profile, r.arch, (SELECT count(*) FROM mremaps m WHERE m.profile = r.profile), r.latest FROM replays r ORDER BY r.profile"));
        Assert.Equal(2, Directory.GetDirectories(ds).Length);
    }

    [CorpusFact]
    public void Report_TwoRuns_ShowsTheLatestOrTheAskedProfileAndNamesAMissingOne()
    {
        using var dir = new TempDir();
        string ds = ShowTests.Dataset(dir);
        Assert.Equal(0, Mmtrace.Run("replay", ds, "--profile", "latest").ExitCode);
        Assert.Equal(0, Mmtrace.Run("replay", ds, "--profile", "v5.13").ExitCode);

        Assert.Equal(0, Mmtrace.Run("report", ds, "-o", dir["latest.html"]).ExitCode);
        Assert.Contains("replay under v5.13 (x86)", File.ReadAllText(dir["latest.html"]), StringComparison.Ordinal);
        Assert.Equal(0, Mmtrace.Run("report", ds, "--profile", "latest", "-o", dir["chosen.html"]).ExitCode);
        string chosen = File.ReadAllText(dir["chosen.html"]);
        Assert.Contains("replay under latest (x86)", chosen, StringComparison.Ordinal);
        Assert.Contains("other replays: v5.13 (x86)", chosen, StringComparison.Ordinal);
        // The coverage table shows the columns a reader scans, sentences at a readable width, and says how to see the rest.
        Assert.Contains("<table class=\"grid\" data-view=\"coverage\"><tr><th>profile</th><th>arch</th><th>race</th><th>verdict</th><th>why</th><th>actors</th>", chosen, StringComparison.Ordinal);
        Assert.Contains("<td>latest</td><td>x86</td><td>R1</td>", chosen, StringComparison.Ordinal);
        Assert.Contains("<td class=\"prose\">", chosen, StringComparison.Ordinal);
        Assert.Contains($"the main columns; all: <code>mmtrace query {Path.GetFullPath(ds)} --sql \"SELECT * FROM coverage\"</code>", chosen, StringComparison.Ordinal);

        var missing = Mmtrace.Run("export", ds, "--profile", "v6.1", "--perfetto", dir["t.json"]);
        Assert.Equal(3, missing.ExitCode);
        Assert.Contains("no replay under --profile v6.1; its replays: latest (x86), v5.13 (x86)", missing.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(dir["t.json"]));
    }

    [CorpusFact]
    public void Replay_PidFromTo_ReplaysTheWholeTraceAndReportsOnlyTheCallsInScope()
    {
        using var dir = new TempDir();
        string ds = ShowTests.Dataset(dir);
        var whole = JsonNode.Parse(Mmtrace.Run("replay", ds, "--format", "json").Stdout)![0]!;

        var scoped = Mmtrace.Run("replay", ds, "--pid", "25561", "--from", "526.2201", "--to", "526.2203", "--format", "json");
        Assert.True(scoped.ExitCode == 0, scoped.ToString());
        var run = JsonNode.Parse(scoped.Stdout)![0]!;
        // The model saw every event (its state at --from is built by what came before), reported the first call only.
        Assert.Equal((long)whole["ops"]!, (long)run["ops"]!);
        Assert.Equal(1, (int)run["mremaps"]!);
        Assert.Equal(1, (int)run["out_of_scope_mremaps"]!);
        Assert.Equal(526_220_100_000L, (long)run["scope"]!["from_ns"]!);
        Assert.Equal([["581"]], Csv(ds, "SELECT seq FROM mremaps"));
        Assert.Equal([["581"]], Csv(ds, "SELECT DISTINCT seq FROM mremap_moves"));
        Assert.Equal([["25561", "526220100000", "526220300000"]], Csv(ds, "SELECT scope_pid, scope_from_ns, scope_to_ns FROM replays"));

        // Another process: none of the calls; the text says what was left out.
        var other = Mmtrace.Run("replay", ds, "--pid", "1");
        Assert.True(other.ExitCode == 0, other.ToString());
        Assert.Contains("reported within --pid 1 (the whole trace was replayed): 0 findings and 2 mremap calls outside left out", other.Stdout, StringComparison.Ordinal);
        Assert.Empty(Csv(ds, "SELECT seq FROM mremaps"));

        var backwards = Mmtrace.Run("replay", ds, "--from", "527s", "--to", "526s");
        Assert.Equal(2, backwards.ExitCode);
        Assert.Contains("--from is after --to", backwards.Stderr, StringComparison.Ordinal);
    }

    [CorpusFact]
    public void Query_PidFromTo_FiltersEventsAndWhatRefersToThem()
    {
        using var dir = new TempDir();
        string ds = ShowTests.Dataset(dir);
        Assert.Equal(0, Mmtrace.Run("replay", ds, "--keep-ops").ExitCode);
        string[] scope = ["--pid", "25561", "--from", "526.220191854", "--to", "526.2203"];

        // The same events 'mmtrace show' lists for the same options.
        var shown = Mmtrace.Run(["show", ds, .. scope]).Stdout.Split('\n').Count(l => l.Length > 0 && char.IsAsciiDigit(l.TrimStart()[0]));
        var events = Csv(ds, "SELECT count(*), min(seq), bool_and(pid = 25561 OR tgid = 25561) FROM events", scope);
        Assert.Equal([[shown.ToString(System.Globalization.CultureInfo.InvariantCulture), "581", "true"]], events);
        Assert.True(shown > 10);

        Assert.Equal([["581"]], Csv(ds, "SELECT seq FROM mremaps", scope));
        // ops of the scoped events only; the whole trace's are in schema unscoped.
        var ops = Csv(ds, "SELECT count(*), min(seq) >= 581, (SELECT count(*) FROM unscoped.ops) FROM ops", scope);
        Assert.True(long.Parse(ops[0][0], System.Globalization.CultureInfo.InvariantCulture) > 0);
        Assert.Equal("true", ops[0][1]);
        Assert.True(long.Parse(ops[0][2], System.Globalization.CultureInfo.InvariantCulture) > long.Parse(ops[0][0], System.Globalization.CultureInfo.InvariantCulture));
        // processes and threads are derived from the scoped events.
        Assert.Equal([["25561"]], Csv(ds, "SELECT DISTINCT tgid FROM threads", ["--pid", "25561"]));

        // A view that cannot be filtered is said to be whole.
        var coverage = Mmtrace.Run(["query", ds, "--sql", "SELECT count(*) FROM coverage", .. scope]);
        Assert.True(coverage.ExitCode == 0, coverage.ToString());
        Assert.Contains("note: coverage", coverage.Stderr, StringComparison.Ordinal);
        Assert.Equal("", Mmtrace.Run(["query", ds, "--sql", "SELECT 1 FROM events LIMIT 1", .. scope]).Stderr);
    }

    [SkippableFact]
    public void ReplayAndQuery_Pid_KeepTheFindingsWithAWitnessEventOfThatProcess()
    {
        using var dir = new TempDir();
        // A workload that obeys the kernel's locking with three races injected, each between other threads.
        Assert.Equal(0, Mmtrace.Run("synth", "random", "--ops", "20000", "--inject", "R1,R2,R4", "-o", dir["w.txt"]).ExitCode);
        Assert.Equal(0, Mmtrace.Run("ingest", dir["w.txt"], "-o", dir["ds"]).ExitCode);
        string ds = dir["ds"];
        Assert.Equal(1, Mmtrace.Run("replay", ds, "--profile", "none").ExitCode);
        // Which pids each finding's witness holds, from the whole run.
        var witnesses = Csv(ds, """
            SELECT f.race, array_to_string(list_sort(list(DISTINCT e.pid)), ' ') FROM findings f, unnest(f.seqs) s(seq) JOIN events e ON e.trace = f.trace AND e.seq = s.seq
            GROUP BY f.race ORDER BY f.race
            """);
        Assert.Equal(["R1", "R2", "R4"], witnesses.Select(w => w[0]));
        string pid = witnesses[1][1].Split(' ')[0];
        Assert.DoesNotContain(witnesses, w => w[0] != "R2" && w[1].Split(' ').Contains(pid));

        Assert.Equal([["R2"]], Csv(ds, "SELECT race FROM findings", ["--pid", pid]));

        var scoped = Mmtrace.Run("replay", ds, "--profile", "none", "--pid", pid);
        Assert.Equal(1, scoped.ExitCode);
        Assert.Contains("1 finding\n", scoped.Stdout, StringComparison.Ordinal);
        Assert.Contains("2 findings and 0 mremap calls outside left out", scoped.Stdout, StringComparison.Ordinal);
        Assert.Equal([["R2"]], Csv(ds, "SELECT race FROM findings"));

        // Nothing of the races in scope: exit 0, all three said to be outside.
        var none = Mmtrace.Run("replay", ds, "--profile", "none", "--pid", "999999");
        Assert.True(none.ExitCode == 0, none.ToString());
        Assert.Contains("3 findings and 0 mremap calls outside left out", none.Stdout, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Replay_DatasetWithTablesOfAnOlderMmtrace_KeepsThemAsTheirOwnRun()
    {
        using var dir = new TempDir();
        Assert.Equal(0, Mmtrace.Run("synth", "r1-pmd", "-o", dir["r1.txt"]).ExitCode);
        Assert.Equal(0, Mmtrace.Run("ingest", dir["r1.txt"], "-o", dir["ds"]).ExitCode);
        string ds = dir["ds"];
        Assert.Equal(1, Mmtrace.Run("replay", ds, "--profile", "v5.13").ExitCode);
        // What an mmtrace before runs left: the tables at the top of the dataset, no run.json.
        string run = Path.Combine(ds, "replay=v5.13@x86");
        foreach (string file in Directory.GetFiles(run, "*.parquet"))
        {
            File.Move(file, Path.Combine(ds, Path.GetFileName(file)));
        }
        Directory.Delete(run, recursive: true);
        Assert.Equal([["v5.13", "R1"]], Csv(ds, "SELECT profile, race FROM findings"));

        var latest = Mmtrace.Run("replay", ds, "--profile", "latest");
        Assert.True(latest.ExitCode == 0, latest.ToString());
        Assert.Contains("kept as run replay=v5.13@x86/", latest.Stdout, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(ds, "findings.parquet")));
        Assert.Equal([["latest", "0"], ["v5.13", "1"]], Csv(ds, "SELECT r.profile, count(f.race) FROM replays r LEFT JOIN findings f USING (profile) GROUP BY ALL ORDER BY ALL"));
    }

    /// <summary>The rows of a query as CSV fields (header dropped); fails the test on a non-zero exit.</summary>
    private static List<string[]> Csv(string ds, string sql, string[]? extra = null)
    {
        var result = Mmtrace.Run(["query", ds, "--format", "csv", "--sql", sql, .. extra ?? []]);
        Assert.True(result.ExitCode == 0, result.ToString());
        return [.. result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(l => l.Split(','))];
    }
}
