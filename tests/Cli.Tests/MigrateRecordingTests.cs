using System.Globalization;
using System.Text.Json.Nodes;

namespace Pipeline.Cli.Tests;

/// <summary>
/// A migration recorded with its per-PTE remap (docs/lowering.md, "Migration"): <c>tests/data/recorded/datasets/migrate_collapse</c>
/// is <c>tests/workloads/migcollapse.c</c> (pid 12681) under <c>mmtrace record</c> with the mm set and
/// <c>migrate:set_migration_pte</c>, <c>migrate:remove_migration_pte</c> (<c>scripts/record-migrate-fixture.sh</c>, 7
/// December 2026, this machine's 6.18): it populates a 2 MiB range of small pages, compacts memory until a page of the
/// range has moved, and collapses the range with MADV_COLLAPSE. The compaction, run in the workload's own context,
/// migrated 646 pages of the machine, one of them the workload's.
/// </summary>
public sealed class MigrateRecordingTests
{
    [SkippableFact]
    public void Replay_PageMigratedBeforeTheCollapse_IsRemappedAndTheCollapseUnmapsItAtItsNewPage()
    {
        using var dir = new TempDir();
        string dataset = dir["migrate_collapse"];
        Directory.CreateDirectory(dataset);
        foreach (string file in Directory.GetFiles(Mmtrace.Corpus("recorded/datasets/migrate_collapse")))
        {
            File.Copy(file, Path.Combine(dataset, Path.GetFileName(file)));
        }

        var replay = Mmtrace.Run("replay", dataset, "--format", "json", "--no-explore", "--keep-ops");

        Assert.True(replay.ExitCode == 0, replay.ToString());
        var trace = JsonNode.Parse(replay.Stdout)![0]!;
        var lowering = trace["lowering"]!;
        long Counter(string name) => lowering[name]!.GetValue<long>();
        // The workload's page: its PTE became a migration entry and the new page was mapped there. The other 645 are
        // other processes' pages, which the model does not map (their faults were not recorded): counted, not lowered.
        Assert.Equal((1L, 1L, 645L, 645L), (Counter("migration_entries_set"), Counter("migration_remaps"), Counter("migration_entries_unknown"), Counter("migration_remaps_unknown")));
        Assert.Equal((0L, 0L, 0L), (Counter("migration_remaps_ambiguous"), Counter("migration_remaps_stale"), Counter("migration_events_malformed")));
        Assert.Equal((1L, 0L), (Counter("collapses"), Counter("collapses_skipped")));
        Assert.Empty(trace["findings"]!.AsArray());

        // The collapse clears all 512 PTEs of the range, the migrated one at its new page. Before the remap was lowered
        // the model lost that page at the compaction's free of the old one, and the collapse cleared 511.
        string Query(string sql)
        {
            var q = Mmtrace.Run("query", dataset, "--format", "csv", "--sql", sql);
            Assert.True(q.ExitCode == 0, q.ToString());
            return q.Stdout.Split('\n')[1].Trim();
        }
        const string collapse = "seq BETWEEN (SELECT seq FROM events WHERE event = 'huge_memory:mm_collapse_huge_page_isolate') AND (SELECT seq FROM events WHERE event = 'huge_memory:mm_collapse_huge_page')";
        Assert.Equal("512", Query($"SELECT count(*) FROM ops WHERE op = 'pte_clear' AND {collapse}"));
        string remapped = Query("SELECT o.pfn FROM ops o JOIN events e USING (seq) WHERE o.op = 'pte_set' AND e.event = 'migrate:remove_migration_pte'");
        Assert.Equal("1", Query($"SELECT count(*) FROM ops WHERE op = 'map_dec' AND pfn = {ulong.Parse(remapped, CultureInfo.InvariantCulture)} AND {collapse}"));
    }
}
