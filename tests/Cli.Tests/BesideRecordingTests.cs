using System.Text.Json.Nodes;

namespace Pipeline.Cli.Tests;

/// <summary>
/// A lab's workload recorded beside <c>mmtrace record</c>, not under it (docs/recording.md, "Recording beside a lab
/// harness"): <c>tests/data/recorded/datasets/beside_lab</c> is <c>raceactors 6</c> (pid 13862, its main thread named
/// <c>mover</c>) started by a harness of its own and recorded without <c>--system-wide</c> by a command that only waited
/// for it (pid 14151, <c>tail --pid</c>), with every tracepoint of coverage's record lines for R1, R2 and R4
/// (<c>scripts/record-beside-fixture.sh</c>). The workload's syscalls and user faults are not in it: coverage must not
/// say that its actors did not run, and must say what would record them.
/// </summary>
public sealed class BesideRecordingTests
{
    private const int WorkloadPid = 13862;

    private static string Fixture(TempDir dir)
    {
        string copy = dir["beside_lab"];
        Directory.CreateDirectory(copy);
        foreach (string file in Directory.GetFiles(Mmtrace.Corpus("recorded/datasets/beside_lab")))
        {
            File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        }
        return copy;
    }

    private static Dictionary<string, JsonNode> Coverage(JsonNode trace) =>
        trace["coverage"]!.AsArray().ToDictionary(c => c!["race"]!.GetValue<string>(), c => c!);

    [SkippableFact]
    public void Replay_WorkloadBesideTheCommand_SaysItsActorsWereNotRecordedAndAsksForSystemWide()
    {
        using var dir = new TempDir();
        string dataset = Fixture(dir);

        var replay = Mmtrace.Run("replay", dataset, "--format", "json", "--no-explore");

        Assert.True(replay.ExitCode == 0, replay.ToString());
        var trace = JsonNode.Parse(replay.Stdout)![0]!;
        var beside = trace["process_filter"]!["beside"]!.AsArray();
        Assert.Equal(WorkloadPid, beside[0]!["pid"]!.GetValue<int>());
        Assert.Equal("mover", beside[0]!["comm"]!.GetValue<string>());
        Assert.Equal(14151, trace["process_filter"]!["command_pid"]!.GetValue<int>());
        var coverage = Coverage(trace);
        foreach (var (race, verdict, unrecorded) in new[]
        {
            ("R1", "blind", "its mremap calls and user page faults were not recorded"),
            ("R2", "partial", "its vmsplice/pread64/read/preadv/pwrite64/write calls and user page faults were not recorded"),
            ("R4", "blind", "its mlock/mlock2/mlockall calls and user page faults were not recorded"),
        })
        {
            var c = coverage[race];
            string why = c["why"]!.GetValue<string>();
            Assert.True(c["verdict"]!.GetValue<string>() == verdict, $"{race}: {c}");
            // Every tracepoint was enabled, so before 7 December 2026 this said "what is missing did not run" and offered no
            // record line: false of the workload, whose actors ran beside the command unrecorded.
            Assert.DoesNotContain("did not run", why, StringComparison.Ordinal);
            Assert.Contains("syscalls, user page faults and execs were recorded for the command's processes only, and mover (pid 13862) changed its own memory beside them: " + unrecorded, why, StringComparison.Ordinal);
            Assert.StartsWith("mmtrace record -o DATASET --system-wide --events mm,", c["record_command"]!.GetValue<string>(), StringComparison.Ordinal);
        }
        // The command's own exec was recorded whole: checked, with no word about the processes beside it.
        Assert.Equal("checked", coverage["R5"]["verdict"]!.GetValue<string>());
        Assert.DoesNotContain("command's processes", coverage["R5"]["why"]!.GetValue<string>(), StringComparison.Ordinal);

        var text = Mmtrace.Run("replay", dataset, "--no-explore");
        Assert.Contains("  syscalls, user page faults and execs were recorded for the command's processes only (pid 14151 and its descendants: 240 changes of their own RSS); processes beside them changed their own memory as much or more (kmem:rss_stat curr=1): mover (pid 13862, 600); their syscalls and faults are not in the trace: record with --system-wide, or run the workload as mmtrace record's command\n",
            text.Stdout, StringComparison.Ordinal);
        // explore finds no window, and says why there may be none.
        var explore = Mmtrace.Run("explore", dataset);
        Assert.True(explore.ExitCode == 0 && explore.Stdout.Contains("0 exposure windows", StringComparison.Ordinal)
            && explore.Stdout.Contains("\n  syscalls, user page faults and execs were recorded for the command's processes only (pid 14151", StringComparison.Ordinal), explore.ToString());
        // The HTML report says how the trace was recorded, beside its coverage table.
        var report = Mmtrace.Run("report", dataset, "-o", dir["report.html"]);
        Assert.True(report.ExitCode == 0, report.ToString());
        Assert.Contains("for pid 14151&#39;s process tree only: a workload beside it needs --system-wide", File.ReadAllText(dir["report.html"]), StringComparison.Ordinal);
        // The coverage view holds the same reasons and record lines.
        var view = Mmtrace.Run("query", dataset, "--format", "csv", "--sql", "SELECT count(*) FROM coverage WHERE record_command LIKE '%--system-wide%' AND why LIKE '%mover (pid 13862)%'");
        Assert.True(view.ExitCode == 0 && view.Stdout.Split('\n')[1].Trim() == "4", view.ToString());
    }

    /// <summary>
    /// The same recording as if the workload had been the command (its pid the root of the filter): nothing beside the
    /// command's tree changed its memory as much, so what is missing did not run there, and coverage says so, within the
    /// command's processes, without --system-wide.
    /// </summary>
    [SkippableFact]
    public void Replay_NothingBusierBesideTheCommand_SaysTheActorDidNotRunInTheCommandsProcesses()
    {
        using var dir = new TempDir();
        string dataset = Fixture(dir);
        var meta = JsonNode.Parse(File.ReadAllText(Path.Combine(dataset, "meta.json")))!;
        meta["process_filter"]!["command_pid"] = WorkloadPid;
        File.WriteAllText(Path.Combine(dataset, "meta.json"), meta.ToJsonString());

        var replay = Mmtrace.Run("replay", dataset, "--format", "json", "--no-explore");

        Assert.True(replay.ExitCode == 0, replay.ToString());
        var trace = JsonNode.Parse(replay.Stdout)![0]!;
        Assert.Empty(trace["process_filter"]!["beside"]!.AsArray());
        var r4 = Coverage(trace)["R4"];
        Assert.EndsWith("in the trace, though every tracepoint the race's actors need was recorded: what is missing did not run in the command's processes (their syscalls, user page faults and execs were recorded, no other process's)",
            r4["why"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Null(r4["record_command"]);
        Assert.DoesNotContain("were recorded for the command's processes only", Mmtrace.Run("replay", dataset, "--no-explore").Stdout, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Replay_ProcessFilterWithoutACommandPid_IsBadInputNamingTheFile()
    {
        using var dir = new TempDir();
        string dataset = Fixture(dir);
        var meta = JsonNode.Parse(File.ReadAllText(Path.Combine(dataset, "meta.json")))!;
        meta["process_filter"]!.AsObject().Remove("command_pid");
        File.WriteAllText(Path.Combine(dataset, "meta.json"), meta.ToJsonString());

        var replay = Mmtrace.Run("replay", dataset, "--no-explore");

        Assert.Equal(3, replay.ExitCode);
        Assert.Contains(Path.Combine(dataset, "meta.json") + ": process_filter needs events (a list) and command_pid and recorder_pid above 0; found events present, command_pid 0, recorder_pid", replay.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(dataset, "replay=latest@x86")));
    }

    [SkippableFact]
    public void Replay_ProcessFilterWithANullEvent_IsBadInputNamingTheFile()
    {
        // A hand-edited or damaged meta.json: before, the null reached the coverage query and replay crashed (exit 1,
        // a NullReferenceException's stack).
        using var dir = new TempDir();
        string dataset = Fixture(dir);
        var meta = JsonNode.Parse(File.ReadAllText(Path.Combine(dataset, "meta.json")))!;
        meta["process_filter"]!["events"]!.AsArray().Add(null);
        File.WriteAllText(Path.Combine(dataset, "meta.json"), meta.ToJsonString());

        var replay = Mmtrace.Run("replay", dataset, "--no-explore");

        Assert.Equal(3, replay.ExitCode);
        Assert.Contains(Path.Combine(dataset, "meta.json") + ": process_filter needs events (a list) and command_pid and recorder_pid above 0; found events with 1 null or empty entry, command_pid 14151", replay.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(dataset, "replay=latest@x86")));
    }
}
