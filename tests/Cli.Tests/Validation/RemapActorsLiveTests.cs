using System.Globalization;
using System.Text.Json;
using Pipeline.Ingest.Live;
using Pipeline.Ingest.Tests.Live;
using Pipeline.Replay.Coverage;

namespace Pipeline.Cli.Tests.Validation;

/// <summary>
/// The real kernel: <c>tests/workloads/remapactors.c</c> makes the mremap shapes raceactors does not (MREMAP_DONTUNMAP and
/// a move on from the VMA it leaves, MREMAP_FIXED onto a populated mapping, onto an overlapping range and onto the first
/// half of its own VMA, a THP-backed move), a fork child that exits with a range mlocked, and an exec of itself. It prints
/// what each call should move; recorded with <c>mmtrace record</c>'s default set, every prediction, the lowered PMD moves
/// and the R4/R5 actors must say the same (docs/validation.md, "Recordings made by other tools").
/// </summary>
[Collection(LiveTraceFsCollection.Name)]
public sealed class RemapActorsLiveTests
{
    [LiveFact(NeedsCompiler = true)]
    public void Record_RemapActors_EveryMremapPredictionAndActorCountIsWhatTheWorkloadDid()
    {
        using var dir = new TempDir();
        string executable = Workload.Build(Workload.Source("remapactors.c"));
        using var built = new TempDir(Path.GetDirectoryName(executable)!);
        string dataset = dir["ds"];
        // mmtrace record's default event set: mremap and the address-space syscalls, faults, allocations, exec, exit.
        var record = Mmtrace.Run("record", "-o", dataset, "--", executable);
        Assert.True(record.ExitCode == 0 && record.Stdout.Contains("command exited with 0", StringComparison.Ordinal), record.ToString());
        var calls = record.Stdout.Split('\n').Where(l => l.StartsWith("call=", StringComparison.Ordinal))
            .Select(l => l.Split(' ').Select(f => f.Split('=', 2)).ToDictionary(kv => kv[0], kv => kv[1])).ToList();
        Assert.Equal(6, calls.Count);
        Assert.Contains(record.Stdout.Split('\n'), l => l.StartsWith("remapactors exec-tail pid=", StringComparison.Ordinal));

        var replay = Mmtrace.Run("replay", dataset, "--format", "json");
        Assert.True(replay.ExitCode == 0, replay.ToString());
        var rows = Mmtrace.Run("query", dataset, "--format", "csv", "--raw", "--sql",
            "SELECT old_addr, new_addr, ret, pmd_moves, huge_moves, pte_extents, undecided FROM mremaps WHERE profile = 'latest' ORDER BY seq");
        Assert.True(rows.ExitCode == 0, rows.ToString());
        var predicted = rows.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(l => l.Split(',')).ToList();
        Assert.Equal(calls.Count, predicted.Count);
        for (int i = 0; i < calls.Count; i++)
        {
            var (call, p) = (calls[i], predicted[i]);
            string what = $"{call["kind"]}: {string.Join(' ', call.Select(kv => kv.Key + "=" + kv.Value))} / predicted {string.Join(',', p)}";
            Assert.True(ulong.Parse(p[0], CultureInfo.InvariantCulture) == Hex(call["old"]) && ulong.Parse(p[1], CultureInfo.InvariantCulture) == Hex(call["new"]), what);
            if (call["ret"].StartsWith('-'))
            {
                // overlap: -EINVAL, nothing moved.
                Assert.True(p[2] == call["ret"] && p[3] == "0" && p[4] == "0" && p[5] == "0", what);
                continue;
            }
            Assert.True(p[3] == call["expect_pmd"] && p[4] == call["expect_hpage"] && p[5] == "0" && p[6] == "false", what);
        }

        using var json = JsonDocument.Parse(replay.Stdout);
        var coverage = json.RootElement[0].GetProperty("coverage").EnumerateArray().ToDictionary(c => c.GetProperty("race").GetString()!, c => c);
        // Every NORMAL_PMD extent lowered as a PMD move (the FIXED ones onto a populated target too); the huge ones skipped.
        Assert.Equal(calls.Sum(c => int.Parse(c["expect_pmd"], CultureInfo.InvariantCulture)), Count(coverage["R1"], CoverageRules.PmdMover));
        // The parent's munlock and the child's exit with the range locked; the exec that started the workload and its own.
        Assert.Equal(2, Count(coverage["R4"], CoverageRules.Munlock));
        Assert.Equal(2, Count(coverage["R5"], CoverageRules.StackShift));
        Assert.Equal("checked", coverage["R5"].GetProperty("verdict").GetString());
        // No walker ran: the child's exit frees pages it shared with its parent since the fork, which is not a zap of the
        // parent's mm.
        Assert.Equal(0, Count(coverage["R1"], CoverageRules.FileZapper));
    }

    private static long Count(JsonElement race, string actor) =>
        race.GetProperty("actors").EnumerateArray().Single(a => a.GetProperty("name").GetString() == actor).GetProperty("count").GetInt64();

    private static ulong Hex(string value) => ulong.Parse(value.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture);

}
