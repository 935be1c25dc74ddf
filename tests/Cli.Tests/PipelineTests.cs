using System.Text.Json;

namespace Pipeline.Cli.Tests;

/// <summary>The commands end to end on real traces: ingest, query, synth, replay, demo, record.</summary>
[Collection(Validation.LiveTraceFsCollection.Name)]
public sealed class PipelineTests
{
    [SkippableFact]
    public void Ingest_KernelTrace_WritesDatasetAndSummary()
    {
        using var dir = new TempDir();
        var result = Mmtrace.Run("ingest", Mmtrace.Corpus("recorded/ftrace-text/mm_trace.txt"), "-o", dir["ds"]);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("3,298 events, 0 lost, 0 malformed", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("1,591  kmem:mm_page_free", result.Stdout, StringComparison.Ordinal);
        Assert.True(File.Exists(dir["ds/events.parquet"]));
        using var meta = JsonDocument.Parse(File.ReadAllText(dir["ds/meta.json"]));
        Assert.Equal(3298, meta.RootElement.GetProperty("events").GetInt64());
        Assert.Equal("ftrace", meta.RootElement.GetProperty("format").GetString());
        Assert.Single(Directory.GetFileSystemEntries(dir.Path));
    }

    [SkippableFact]
    public void Ingest_SeveralFormats_OnePartitionEachAndOneQuerySpansThem()
    {
        using var dir = new TempDir();
        var ingest = Mmtrace.Run("ingest",
            Mmtrace.Corpus("recorded/ftrace-text/mm_trace.txt"),
            Mmtrace.Corpus("recorded/trace-cmd/mm_v7_zstd_full.dat"),
            Mmtrace.Corpus("recorded/perf/perf_script_ns.txt"),
            "-o", dir["ds"]);
        Assert.True(ingest.ExitCode == 0, ingest.ToString());

        var query = Mmtrace.Run("query", dir["ds"], "--sql", "SELECT trace, count(*) AS n FROM events GROUP BY trace ORDER BY trace", "--format", "csv");

        Assert.True(query.ExitCode == 0, query.ToString());
        Assert.Equal("trace,n\nmm_trace,3298\nmm_v7_zstd_full,3298\nperf_script_ns,896\n", query.Stdout.Replace("\r", "", StringComparison.Ordinal));
    }

    [SkippableFact]
    public void Query_EveryNamedQuery_RunsOnARealTrace()
    {
        using var dir = new TempDir();
        Assert.Equal(0, Mmtrace.Run("ingest", Mmtrace.Corpus("recorded/ftrace-text/mm_trace.txt"), "-o", dir["ds"]).ExitCode);
        // The mremap queries read the mremaps view, which replay writes for traces with mremap calls (this one has 2).
        Assert.Equal(0, Mmtrace.Run("replay", dir["ds"]).ExitCode);
        var names = Mmtrace.Run("queries").Stdout.Split('\n').Where(l => l.Length > 0 && !char.IsWhiteSpace(l[0])).Select(l => l.Split(' ')[0]);

        foreach (var name in names)
        {
            var result = Mmtrace.Run("query", dir["ds"], "--name", name, "--format", "json");
            Assert.True(result.ExitCode == 0, $"{name}: {result}");
            using var json = JsonDocument.Parse(result.Stdout);
            Assert.Equal(JsonValueKind.Array, json.RootElement.ValueKind);
        }
        var shootdowns = Mmtrace.Run("query", dir["ds"], "--name", "tlb_shootdown_latency", "--format", "csv");
        // mm_trace.txt: the one remote shootdown (reason 1) follows the other CPU's IPI send (reason 4) by 19 µs.
        Assert.Contains("ds,1,1,0,19000,19000,19000,19000", shootdowns.Stdout, StringComparison.Ordinal);
        var tlb = Mmtrace.Run("query", dir["ds"], "--name", "tlb_flush_reasons", "--format", "csv");
        Assert.Contains("ds,0,flush on task switch,254,36,", tlb.Stdout, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Query_HostileParameter_StaysData()
    {
        using var dir = new TempDir();
        Assert.Equal(0, Mmtrace.Run("ingest", Mmtrace.Corpus("recorded/ftrace-text/mm_trace.txt"), "-o", dir["ds"]).ExitCode);

        var result = Mmtrace.Run("query", dir["ds"], "--name", "syscall_latency", "--param", "syscall=x'; DROP TABLE events; --", "--format", "csv");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("trace,syscall,calls,failed,p50_ns,p90_ns,p99_ns,max_ns\n", result.Stdout.Replace("\r", "", StringComparison.Ordinal));
        Assert.Equal(0, Mmtrace.Run("query", dir["ds"], "--sql", "SELECT count(*) FROM events").ExitCode);
    }

    /// <summary>A misspelt parameter is a usage error naming the ones the query takes, in the user's words only (before,
    /// .NET's " (Parameter 'parameters')" ended the line).</summary>
    [SkippableFact]
    public void Query_UnknownParameter_UsageErrorNamesTheKnownOnes()
    {
        using var dir = new TempDir();
        Assert.Equal(0, Mmtrace.Run("ingest", Mmtrace.Corpus("recorded/ftrace-text/mm_trace.txt"), "-o", dir["ds"]).ExitCode);

        var result = Mmtrace.Run("query", dir["ds"], "--name", "pmd_move_hit_rate", "--param", "pidd=3");

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Equal("mmtrace: Query 'pmd_move_hit_rate' has no parameter 'pidd'; it takes pid.\n", result.Stderr.Replace("\r", "", StringComparison.Ordinal));
        Assert.Empty(result.Stdout);
    }

    [SkippableFact]
    public void Query_BadSql_ExitsThreeWithDuckDbsMessage()
    {
        using var dir = new TempDir();
        Assert.Equal(0, Mmtrace.Run("ingest", Mmtrace.Corpus("recorded/ftrace-text/mm_trace.txt"), "-o", dir["ds"]).ExitCode);

        var result = Mmtrace.Run("query", dir["ds"], "--sql", "SELEC event FROM events");

        Assert.Equal(3, result.ExitCode);
        Assert.Contains("Parser Error", result.Stderr, StringComparison.Ordinal);
        Assert.Single(result.Stderr.TrimEnd().Split('\n'));
    }

    [SkippableFact]
    public void Ingest_NotATrace_ExitsThreeNamingTheFileAndLeavesNothing()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["notes.txt"], "Dear diary,\nno trace today.\n");

        var result = Mmtrace.Run("ingest", dir["notes.txt"], "-o", dir["ds"]);

        Assert.Equal(3, result.ExitCode);
        Assert.Contains("notes.txt", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("cannot tell the trace format", result.Stderr, StringComparison.Ordinal);
        Assert.Equal([dir["notes.txt"]], Directory.GetFileSystemEntries(dir.Path));
    }

    [SkippableFact]
    public void Ingest_FailureOverExistingDataset_LeavesItUntouched()
    {
        using var dir = new TempDir();
        Assert.Equal(0, Mmtrace.Run("ingest", Mmtrace.Corpus("recorded/ftrace-text/mm_trace.txt"), "-o", dir["ds"]).ExitCode);
        var before = File.ReadAllBytes(dir["ds/events.parquet"]);
        File.WriteAllText(dir["bad.txt"], "comm-1 [000] ..... 1.000000: tlb_flush: pages:1 reason:local MM shootdown (3)\ngarbage line\n");

        var result = Mmtrace.Run("ingest", dir["bad.txt"], "-o", dir["ds"], "--strict", "--format", "ftrace", "--force");

        Assert.Equal(3, result.ExitCode);
        Assert.Contains("bad.txt", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("line 2", result.Stderr, StringComparison.Ordinal);
        Assert.Equal(before, File.ReadAllBytes(dir["ds/events.parquet"]));
        Assert.Equal(new[] { dir["bad.txt"], dir["ds"] }.Order(StringComparer.Ordinal), Directory.GetFileSystemEntries(dir.Path).Order(StringComparer.Ordinal));
    }

    [SkippableFact]
    public void Replay_SynthesizedRace_FindsItUnderTheBuggyKernelOnlyAndWritesFindings()
    {
        using var dir = new TempDir();
        Assert.Equal(0, Mmtrace.Run("synth", "r1-pmd", "-o", dir["r1.txt"]).ExitCode);
        Assert.Equal(0, Mmtrace.Run("ingest", dir["r1.txt"], "-o", dir["ds"]).ExitCode);

        var buggy = Mmtrace.Run("replay", dir["ds"], "--profile", "v5.13");
        Assert.True(buggy.ExitCode == 1, buggy.ToString());
        Assert.Contains("I1 R1 (race, critical)", buggy.Stdout, StringComparison.Ordinal);
        Assert.Contains("CPU1 (mremap-101)", buggy.Stdout, StringComparison.Ordinal);
        var findings = Mmtrace.Run("query", dir["ds"], "--sql", "SELECT checker, race, profile FROM findings", "--format", "csv");
        Assert.Equal("checker,race,profile\nI1,R1,v5.13\n", findings.Stdout.Replace("\r", "", StringComparison.Ordinal));

        var fixedByOneCommit = Mmtrace.Run("replay", dir["ds"], "--profile", "v5.13", "--fix", "+rmap-locks-pmd-move");
        Assert.True(fixedByOneCommit.ExitCode == 0, fixedByOneCommit.ToString());
        var latest = Mmtrace.Run("replay", dir["ds"], "--profile", "latest");
        Assert.Equal(0, latest.ExitCode);
        // Each replay is a run of its own: the buggy kernel's finding stays beside the two clean runs.
        Assert.Equal("profile,findings\nlatest,0\nv5.13,1\nv5.13+rmap-locks-pmd-move,0\n",
            Mmtrace.Run("query", dir["ds"], "--sql", "SELECT r.profile, count(f.race) AS findings FROM replays r LEFT JOIN findings f USING (trace, profile, arch) GROUP BY ALL ORDER BY ALL", "--format", "csv")
                .Stdout.Replace("\r", "", StringComparison.Ordinal));
    }

    [SkippableFact]
    public void Replay_SameInputTwice_ByteIdenticalFindings()
    {
        using var dir = new TempDir();
        Assert.Equal(0, Mmtrace.Run("synth", "r4-truncate", "-o", dir["r4.txt"]).ExitCode);
        Assert.Equal(0, Mmtrace.Run("ingest", dir["r4.txt"], "-o", dir["ds"]).ExitCode);

        var first = Mmtrace.Run("replay", dir["ds"], "--profile", "none", "--format", "json");
        var second = Mmtrace.Run("replay", dir["ds"], "--profile", "none", "--format", "json");

        Assert.Equal(1, first.ExitCode);
        Assert.Contains("\"checker\": \"I4\"", first.Stdout, StringComparison.Ordinal);
        Assert.Equal(first.Stdout, second.Stdout);
    }

    [SkippableFact]
    public void Demo_EveryScenarioAsExpected()
    {
        using var dir = new TempDir();
        var result = Mmtrace.Run("demo", "-o", dir["demo"]);

        Assert.True(result.ExitCode == 0, result.ToString());
        foreach (var scenario in new[] { "r1-pmd", "r1-pud", "r2-anon", "r2-file", "r3-pte", "r3-thp", "r4-truncate", "r4-munlock", "r5-exec-stack", "r6-retract" })
        {
            Assert.Matches($"(?m)^{scenario} ", result.Stdout);
        }
        Assert.DoesNotContain(" !", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("Witness of r1-pmd", result.Stdout, StringComparison.Ordinal);
        Assert.True(Directory.GetDirectories(dir["demo"], "trace=*").Length >= 10);
        // The legend names every race and checker the table shows.
        for (int i = 1; i <= 6; i++)
        {
            Assert.Matches($"(?m)^  R{i}  .+  I{i}  ", result.Stdout);
        }
    }

    [SkippableFact]
    public async Task Demo_DefaultDirectory_IsPerUser()
    {
        using var dir = new TempDir();
        var start = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "mmtrace.dll"));
        start.ArgumentList.Add("demo");
        start.Environment["XDG_CACHE_HOME"] = dir["cache"];
        using var process = System.Diagnostics.Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        string output = await stdout + await stderr;
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, output);
        Assert.True(Directory.GetDirectories(dir["cache/mmtrace/demo"], "trace=*").Length >= 10);
    }

    [SkippableFact]
    public void Record_Command_RecordsOrRefusesClearly()
    {
        using var dir = new TempDir();
        var result = Mmtrace.Run("record", "-o", dir["rec"], "--events", "syscalls:sys_enter_mremap,syscalls:sys_exit_mremap,tlb:tlb_flush", "--buffer-kb", "1024", "--", "/bin/sleep", "0.2");

        if (!Pipeline.Ingest.Live.TraceFsInstance.IsAvailable(out var reason))
        {
            Assert.Equal(3, result.ExitCode);
            Assert.Contains("Cannot record", result.Stderr, StringComparison.Ordinal);
            Assert.False(Directory.Exists(dir["rec"]));
            return;
        }
        Assert.True(result.ExitCode == 0, result.ToString());
        // Which of the enabled events are the command's only, as a share of them, not as a count of events recorded.
        Assert.Contains("wrote " + dir["rec"] + ": ", result.Stdout, StringComparison.Ordinal);
        Assert.Contains(", 3 events enabled; command exited with 0\n  2 of the 3 events enabled (syscalls, user page faults, exec) are recorded for the command and its descendants only: a workload started outside it needs --system-wide",
            result.Stdout.Replace("\r", "", StringComparison.Ordinal), StringComparison.Ordinal);
        using var meta = JsonDocument.Parse(File.ReadAllText(dir["rec/meta.json"]));
        Assert.Equal("trace_pipe_raw", meta.RootElement.GetProperty("format").GetString());
        Assert.True(meta.RootElement.GetProperty("events").GetInt64() > 0);
        // Instances are named mmtrace-<pid>-<random>: one whose process has exited was left behind. (Other test
        // assemblies may be recording at the same time in instances of their own, live processes.)
        var root = Pipeline.Ingest.Live.TraceFsInstance.FindOrMountTraceFs();
        var leaked = Directory.GetDirectories(Path.Combine(root, "instances"), "mmtrace-*")
            .Where(d => Path.GetFileName(d).Split('-') is [_, var pid, ..] && !Directory.Exists(Path.Combine("/proc", pid)))
            .ToList();
        Assert.Empty(leaked);
    }
}

/// <summary>Random workloads through the whole pipeline: text, ingest, replay.</summary>
public sealed class RandomWorkloadPipelineTests
{
    [SkippableFact]
    public void SynthRandom_NoInjection_ReplaysCleanUnderEveryKernel()
    {
        using var dir = new TempDir();
        var synth = Mmtrace.Run("synth", "random", "--cpus", "4", "--ops", "50000", "--seed", "7", "-o", dir["w.txt"]);
        Assert.True(synth.ExitCode == 0, synth.ToString());
        Assert.Equal(0, Mmtrace.Run("ingest", dir["w.txt"], "-o", dir["ds"]).ExitCode);

        foreach (var (profile, arch) in new[] { ("none", "x86"), ("latest", "x86"), ("none", "arm64"), ("v5.13", "x86") })
        {
            var replay = Mmtrace.Run("replay", dir["ds"], "--profile", profile, "--arch", arch);
            Assert.True(replay.ExitCode == 0, $"{profile}/{arch}: {replay}");
        }
    }

    [SkippableFact]
    public void SynthRandom_Injected_EachRaceFoundUnderNoneAndNoneUnderLatest()
    {
        using var dir = new TempDir();
        Assert.Equal(0, Mmtrace.Run("synth", "random", "--cpus", "4", "--ops", "30000", "--seed", "3", "--inject", "R1,R2,R3,R4,R5,R6", "-o", dir["w.txt"]).ExitCode);
        Assert.Equal(0, Mmtrace.Run("ingest", dir["w.txt"], "-o", dir["ds"]).ExitCode);

        var none = Mmtrace.Run("replay", dir["ds"], "--profile", "none");
        Assert.Equal(1, none.ExitCode);
        var races = Mmtrace.Run("query", dir["ds"], "--sql", "SELECT DISTINCT race FROM findings WHERE class = 'race' ORDER BY race", "--format", "csv");
        Assert.Equal("race\nR1\nR2\nR3\nR4\nR5\nR6\n", races.Stdout.Replace("\r", "", StringComparison.Ordinal));

        var latest = Mmtrace.Run("replay", dir["ds"], "--profile", "latest");
        Assert.True(latest.ExitCode == 0, latest.ToString());
    }

    [SkippableFact]
    public void SynthRandom_BadInject_UsageError()
    {
        using var dir = new TempDir();
        var result = Mmtrace.Run("synth", "random", "--inject", "R9", "-o", dir["w.txt"]);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("R9", result.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(dir["w.txt"]));
    }
}

/// <summary><c>mmtrace replay --maps</c>: a /proc/PID/maps snapshot seeding the mremap prediction.</summary>
public sealed class ReplayMapsTests
{
    [SkippableFact]
    public void Replay_MapsSnapshot_ReadAndBadLinesNamed()
    {
        using var dir = new TempDir();
        Assert.Equal(0, Mmtrace.Run("ingest", Mmtrace.Corpus("recorded/ftrace-text/mm_trace.txt"), "-o", dir["ds"]).ExitCode);
        File.WriteAllText(dir["maps.txt"], "55a45ed4f000-55a45ed50000 r--p 00000000 08:01 1311 /root/mmwork\n7fa026fa9000-7fa026fe9000 rw-p 00000000 00:00 0\n");
        File.WriteAllText(dir["bad.txt"], "55a45ed4f000-55a45ed50000 r--p 00000000 08:01 1311 /root/mmwork\n7fa026fa9000 rw-p 00000000 00:00 0\n");

        var good = Mmtrace.Run("replay", dir["ds"], "--maps", "25561=" + dir["maps.txt"]);
        var bad = Mmtrace.Run("replay", dir["ds"], "--maps", dir["bad.txt"]);
        var usage = Mmtrace.Run("replay", dir["ds"], "--maps", "pid=" + dir["maps.txt"]);

        Assert.True(good.ExitCode == 0, good.ToString());
        Assert.Equal(3, bad.ExitCode);
        Assert.Contains("bad.txt", bad.Stderr, StringComparison.Ordinal);
        Assert.Contains("line 2", bad.Stderr, StringComparison.Ordinal);
        Assert.Equal(2, usage.ExitCode);
        // The calls are still there and the source mapping of the grow is now known (its address is in the seed).
        var calls = Mmtrace.Run("query", dir["ds"], "--sql", "SELECT count(*) AS calls FROM mremaps", "--format", "csv");
        Assert.Equal("calls\n2\n", calls.Stdout.Replace("\r", "", StringComparison.Ordinal));
    }
}
