using System.Text.Json;

namespace Pipeline.Cli.Tests.Views;

/// <summary>SQL that is pleasant to use, on a real recorded trace: hex and humanized tables, exact CSV/JSON, names.</summary>
public sealed class QueryPresentationTests
{
    private static Mmtrace.Result Query(string ds, string sql, params string[] more)
    {
        var result = Mmtrace.Run(["query", ds, "--sql", sql, .. more]);
        Assert.True(result.ExitCode == 0, result.ToString());
        return result;
    }

    [CorpusFact]
    public void Query_Table_HexAddressesAndHumanBytes_RawAndCsvExact()
    {
        using var dir = new TempDir();
        string ds = ShowTests.Dataset(dir);
        // Before replay there is no mremaps view, and the message says what to run.
        var missing = Mmtrace.Run("query", ds, "--sql", "SELECT * FROM findings");
        Assert.Equal(3, missing.ExitCode);
        Assert.Contains($"no findings yet: run `mmtrace replay {ds}` first", missing.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("sqlite_master", missing.Stderr, StringComparison.Ordinal);

        var replay = Mmtrace.Run("replay", ds);
        Assert.Equal(0, replay.ExitCode);
        Assert.Contains("1 of the 2 mremap calls are undecided", replay.Stdout, StringComparison.Ordinal);
        Assert.Contains("--maps PID=FILE", replay.Stdout, StringComparison.Ordinal);

        const string sql = "SELECT seq, old_addr, old_len, new_len, moved_bytes, duration_ns FROM mremaps ORDER BY seq";
        var table = Query(ds, sql).Stdout;
        Assert.Matches(@"581\s+0x7fa026fa9000\s+256 KiB\s+512 KiB\s+256 KiB\s+59979", table);
        Assert.Matches(@"780\s+0x7fa026f29000\s+512 KiB\s+256 KiB\s+0 B\s+42253", table);
        var raw = Query(ds, sql, "--raw").Stdout;
        Assert.Matches(@"581\s+140325825449984\s+262144\s+524288\s+262144\s+59979", raw);
        var csv = Query(ds, sql, "--format", "csv").Stdout;
        Assert.Contains("581,140325825449984,262144,524288,262144,59979", csv, StringComparison.Ordinal);

        // Pointers in hex in the table (mm), numbers as numbers and quotes as \" in JSON.
        Assert.Matches(@"0xffff[0-9a-f]{12}", Query(ds, "SELECT DISTINCT mm FROM events WHERE event LIKE 'mmap_lock:%'").Stdout);
        var json = Query(ds, "SELECT comm || ' \"quoted\"' AS who, count(*) AS n, sum(seq) AS total FROM events WHERE pid = 25561 GROUP BY comm", "--format", "json").Stdout;
        Assert.DoesNotContain("\\u0022", json, StringComparison.Ordinal);
        Assert.Contains("mm work-1 \\\"quoted\\\"", json, StringComparison.Ordinal);
        using var doc = JsonDocument.Parse(json);
        var row = doc.RootElement[0];
        Assert.Equal(JsonValueKind.Number, row.GetProperty("n").ValueKind);
        Assert.Equal(1041, row.GetProperty("n").GetInt64());
        Assert.Equal(JsonValueKind.Number, row.GetProperty("total").ValueKind); // sum() is a HUGEINT

        // pmd_move_hit_rate reports huge-PMD moves in their own columns, per replay run: the moving call once under each
        // profile, not once for every run counted together.
        var rate = Mmtrace.Run("query", ds, "--name", "pmd_move_hit_rate", "--format", "csv");
        Assert.StartsWith("trace,profile,arch,alignment,size_bucket,calls,pmd_calls,pmd_call_pct,huge_pmd_calls,huge_pmd_call_pct,", rate.Stdout, StringComparison.Ordinal);
        Assert.Equal(0, Mmtrace.Run("replay", ds, "--profile", "v4.3").ExitCode);
        string[] Rows(string name) => [.. Mmtrace.Run("query", ds, "--name", name, "--format", "csv").Stdout
            .Replace("\r", "", StringComparison.Ordinal).Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(l => string.Join(',', l.Split(',').Take(6)))];
        Assert.Equal(["ds,latest,x86,none,<2M,1", "ds,v4.3,x86,none,<2M,1"], Rows("pmd_move_hit_rate"));
        Assert.Equal(["ds,latest,x86,pte,<2M,1", "ds,latest,x86,none,<2M,1", "ds,v4.3,x86,pte,<2M,1", "ds,v4.3,x86,none,<2M,1"], Rows("mremap_latency"));
    }

    [CorpusFact]
    public void Query_Views_NoReservedOrDuplicateColumns_ProcessesThreadsAndLookups()
    {
        using var dir = new TempDir();
        var ingest = Mmtrace.Run("ingest", Mmtrace.Corpus("recorded/ftrace-text/mm_trace.txt"), Mmtrace.Corpus("recorded/trace-cmd/mm_v7_zstd_full.dat"), "-o", dir["ds"]);
        Assert.True(ingest.ExitCode == 0, ingest.ToString());
        Assert.Equal(0, Mmtrace.Run("replay", dir["ds"]).ExitCode);
        string ds = dir["ds"];
        // Ops are kept only on request, and the message says how.
        var noOps = Mmtrace.Run("query", ds, "--sql", "SELECT * FROM ops");
        Assert.Equal(3, noOps.ExitCode);
        Assert.Contains($"no ops yet: run `mmtrace replay --keep-ops {ds}` first", noOps.Stderr, StringComparison.Ordinal);
        Assert.Equal(0, Mmtrace.Run("replay", ds, "--keep-ops").ExitCode);

        // No column is a reserved word (events.order is page_order) and no view repeats trace (trace_1).
        var reserved = Query(ds, """
            SELECT table_name, column_name FROM duckdb_columns() c JOIN duckdb_keywords() k ON k.keyword_name = c.column_name
            WHERE k.keyword_category = 'reserved' AND NOT c.internal
            """, "--format", "csv").Stdout;
        Assert.Equal("table_name,column_name\n", reserved.Replace("\r", "", StringComparison.Ordinal));
        var traceColumns = Query(ds, "SELECT table_name, count(*) FROM duckdb_columns() WHERE column_name LIKE 'trace%' AND NOT internal GROUP BY ALL HAVING count(*) > 1", "--format", "csv").Stdout;
        Assert.Equal("table_name,count_star()\n", traceColumns.Replace("\r", "", StringComparison.Ordinal));
        foreach (var view in new[] { "ops", "mremaps", "mremap_moves" })
        {
            Assert.StartsWith("trace,", Query(ds, $"SELECT * FROM {view} LIMIT 1", "--format", "csv").Stdout, StringComparison.Ordinal);
        }
        Assert.Contains("mm_v7_zstd_full,9,2", Query(ds, "SELECT trace, page_order, count(*) FROM events WHERE page_order = 9 GROUP BY ALL ORDER BY 1", "--format", "csv").Stdout, StringComparison.Ordinal);

        // threads and processes: mmwork's main thread in both traces, with its events counted.
        var threads = Query(ds, "SELECT trace, pid, comms, events FROM threads WHERE pid = 25561 ORDER BY trace", "--format", "csv").Stdout;
        Assert.Contains("mm_trace,25561,[mm work-1],1041", threads, StringComparison.Ordinal);
        Assert.Contains("mm_v7_zstd_full,25561,[mm work-1],1041", threads, StringComparison.Ordinal);
        var processes = Query(ds, "SELECT trace, tgid, comm, threads, events FROM processes WHERE tgid = 25561 ORDER BY trace", "--format", "csv").Stdout;
        Assert.Contains("mm_trace,25561,mm work-1,1,1041", processes, StringComparison.Ordinal);

        // The tlb_flush reason lookup names every reason the trace holds.
        var reasons = Query(ds, "SELECT r.name, count(*) AS n FROM events e JOIN tlb_flush_reason r USING (reason) WHERE e.trace = 'mm_trace' GROUP BY ALL ORDER BY n DESC", "--format", "csv").Stdout;
        Assert.Contains("flush on task switch,254", reasons, StringComparison.Ordinal);
        var unnamed = Query(ds, "SELECT count(*) FROM events e ANTI JOIN tlb_flush_reason r USING (reason) WHERE e.event = 'tlb:tlb_flush'", "--format", "csv").Stdout;
        Assert.Equal("count_star()\n0\n", unnamed.Replace("\r", "", StringComparison.Ordinal));

        var nosuch = Mmtrace.Run("query", ds, "--sql", "SELECT * FROM coverage_of_things");
        Assert.Equal(3, nosuch.ExitCode);
        Assert.Contains("no view named 'coverage_of_things': the views here are coverage, events, findings, mremap_moves, mremaps, ops, processes, replays, threads, tlb_flush_reason", nosuch.Stderr, StringComparison.Ordinal);
    }
}
