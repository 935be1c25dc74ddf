using System.Globalization;
using System.Text.Json;
using Pipeline.Replay.Coverage;

namespace Pipeline.Cli.Tests.Validation;

/// <summary>
/// What a recording of <c>tests/workloads/raceactors.c</c> must give, whether the workload ran under <c>mmtrace record</c>
/// (<see cref="CoverageLiveTests"/>) or beside it with <c>--system-wide</c> (<see cref="CoverageBesideLiveTests"/>).
/// </summary>
internal static class RaceActorsVerdicts
{
    /// <summary>The events coverage asks for R1, R2 and R4: its own record line's <c>--events</c>, as a user would paste it.</summary>
    public static string RecordEvents()
    {
        var wanted = new[] { "R1", "R2", "R4" }
            .SelectMany(r => CoverageRules.Of(r).Actors)
            .SelectMany(a => a.Events.SelectMany(e => e.Split('|')).Concat(a.Helpful));
        string[] line = CoverageTracker.RecordLine(wanted).Split(' ');
        return line[Array.IndexOf(line, "--events") + 1];
    }

    /// <summary>
    /// R1, R2 and R4 checked on a recording of raceactors, whose summary line is <paramref name="summary"/>, with the only
    /// two exceptions the machine can force (another process's migration of the R2 range, a machine that cannot walk R4).
    /// </summary>
    public static void AssertR1R2R4Checked(string dataset, IReadOnlyDictionary<string, JsonElement> coverage, string summary)
    {
        // The workload's own ground truth (pagemap frames): R1's file pages are always pushed out (MADV_PAGEOUT of
        // clean file pages needs no swap), and a migration reaches the locked R4 pages in every run (compaction, or
        // when its scanners stop short of them, taking a memory block that holds some offline and online again), so
        // coverage must say checked for all three, and how many mlocked pages the walker freed is what it counted.
        var walked = summary.Split(' ').Select(f => f.Split('=')).Where(kv => kv.Length == 2)
            .ToDictionary(kv => kv[0], kv => long.Parse(kv[1], CultureInfo.InvariantCulture));
        Assert.True(walked["r1_walked"] > 0 && walked["collapses"] > 0, summary);
        // Only a machine without memory hotplug (or whose every block held an unmovable page) can leave R4 unwalked:
        // the workload then took no block offline, and coverage must say what the ground truth says.
        bool r4Unwalkable = walked["r4_walked"] == 0 && walked["r4_offlined"] == 0;
        Assert.True(walked["r4_walked"] > 0 || r4Unwalkable, summary);
        foreach (string race in new[] { "R1", "R2", "R4" })
        {
            var c = coverage[race];
            string verdict = c.GetProperty("verdict").GetString()!;
            string skipped = string.Join("; ", c.GetProperty("skipped").EnumerateArray().Select(g =>
                $"{g.GetProperty("count").GetInt64()}x {g.GetProperty("reason").GetString()} (seq {g.GetProperty("example_seq").GetInt64()})"));
            string message = string.Create(CultureInfo.InvariantCulture, $"{race}: {verdict}: {c.GetProperty("why").GetString()} [{skipped}] ({summary})");
            // Another process's compaction or memory offlining (a second copy of this test, say) can migrate the R2
            // range's pages between their faults and the collapse: the mm set records the migration brackets but
            // not the per-PTE remap, so the model no longer maps the collapse's scan_pfn and says so. That is partial,
            // rightly, and only then.
            if (race == "R2" && verdict == "partial" && c.GetProperty("skipped").EnumerateArray().ToList() is { Count: > 0 } gaps
                && gaps.All(g => g.GetProperty("reason").GetString()!.StartsWith("collapse whose scan_pfn the model does not map", StringComparison.Ordinal)))
            {
                long before = gaps.Max(g => g.GetProperty("example_seq").GetInt64());
                var foreign = Mmtrace.Run("query", dataset, "--format", "csv", "--sql", string.Create(CultureInfo.InvariantCulture,
                    $"SELECT count(*) FROM events WHERE event = 'migrate:mm_migrate_pages_start' AND tgid <> {walked["pid"]} AND seq < {before}"));
                Assert.True(foreign.ExitCode == 0 && long.Parse(foreign.Stdout.Split('\n')[1], CultureInfo.InvariantCulture) > 0, message + foreign);
                continue;
            }
            // Whose mms the actors met on: in a system-wide recording another process's may be among them (a process of
            // the machine, or another test's workload, that mlocked memory a compaction of this workload then migrated).
            bool metInWorkload = c.TryGetProperty("common_processes", out var processes)
                && processes.EnumerateArray().Any(p => p.GetProperty("pid").GetInt64() == walked["pid"]);
            if (race == "R4" && r4Unwalkable)
            {
                bool partial = verdict == "partial" && c.GetProperty("why").GetString()!.Contains("no rmap walker on mlocked pages", StringComparison.Ordinal);
                if (!partial && !(verdict == "checked" && !metInWorkload))
                {
                    Assert.Fail(message + Evidence(dataset, c));
                }
                continue;
            }
            if (verdict != "checked" || !metInWorkload)
            {
                Assert.Fail(message + Evidence(dataset, c));
            }
            Assert.True(c.GetProperty("common_mms").GetInt32() >= 1, message);
        }
    }

    /// <summary>
    /// For a failure's message: the event each actor of <paramref name="coverage"/> was first seen at (what the lowering
    /// took for that actor), so that a verdict the workload's ground truth contradicts says which event made it.
    /// </summary>
    private static string Evidence(string dataset, JsonElement coverage)
    {
        var seqs = coverage.GetProperty("actors").EnumerateArray()
            .Where(a => a.TryGetProperty("example_seq", out var seq) && seq.ValueKind == JsonValueKind.Number)
            .Select(a => a.GetProperty("example_seq").GetInt64().ToString(CultureInfo.InvariantCulture)).ToList();
        if (seqs.Count == 0)
        {
            return "";
        }
        var rows = Mmtrace.Run("query", dataset, "--format", "csv", "--sql",
            $"SELECT seq, ts_ns, cpu, pid, tgid, comm, event, pfn, reason FROM events WHERE seq IN ({string.Join(", ", seqs)}) ORDER BY seq");
        return "\nthe actors' first events:\n" + rows.Stdout + rows.Stderr;
    }
}
