using System.Globalization;
using System.Net;
using System.Text;
using Pipeline.Storage;
using ScottPlot;

namespace Pipeline.Analyze.Report;

/// <summary>What <see cref="HtmlReport.Write"/> put in the page.</summary>
/// <param name="Traces">Traces reported, side by side.</param>
/// <param name="Charts">Charts drawn (all traces).</param>
/// <param name="Findings">Findings listed (all traces).</param>
public sealed record ReportSummary(int Traces, int Charts, int Findings);

/// <summary>
/// <c>mmtrace report</c>: one self-contained HTML page (inline CSS, inline SVG charts from ScottPlot, a few
/// lines of inline script; nothing fetched at view time) with, per trace and side by side: where it came from,
/// its span and events by kind, the tables other commands added (coverage verdicts, explorations, crashes) when
/// present, the findings with their witness as a per-CPU timeline, the mremap PMD-move hit rate by alignment and
/// size, mremap latency against size coloured by how it moved, the TLB shootdown latency CDF, mmap_lock wait
/// and page faults per process. The numbers come from DuckDB aggregates over the Parquet files, so the page
/// costs what the aggregates cost, not a pass over the events in .NET.
/// </summary>
public static class HtmlReport
{
    /// <summary>Findings per trace drawn with a witness chart; the rest show the text witness only.</summary>
    public const int MaxWitnessCharts = 40;

    /// <summary>Findings listed per trace.</summary>
    public const int MaxFindings = 200;

    /// <summary>Columns of sentences in those tables.</summary>
    private static readonly HashSet<string> s_prose = new(StringComparer.Ordinal) { "why", "verdict_reason", "message", "record_command" };

    /// <summary>Rows shown of each table other commands add; the page says how many more there are and how to see them.</summary>
    public const int MaxTableRows = 100;

    /// <summary>
    /// Tables other commands add to a dataset, shown when present: the columns a reader scans (those the view has, so a
    /// table an older mmtrace wrote still shows), in this order; null shows every column. The rest, and every row, are
    /// a <c>mmtrace query</c> away.
    /// </summary>
    private static readonly (string View, string Title, string[]? Columns, string[] Order)[] s_optionalTables =
    [
        ("coverage", "Coverage verdicts", ["profile", "arch", "race", "verdict", "why", "actors", "actor_counts", "record_command"], ["race"]),
        ("explorations", "Explorations", ["profile", "arch", "strategy", "bound", "window_index", "window_race", "window_start_seq",
            "window_end_seq", "verdict", "schedules", "interleavings", "stopped_by", "checker", "race", "preemptions", "verdict_reason", "message"],
            ["profile", "arch", "window_index", "violation"]),
        ("crashes", "Crashes", null, []),
    ];

    /// <summary>Writes the report of <paramref name="traces"/> to <paramref name="output"/>.</summary>
    /// <param name="traces">The traces, side by side.</param>
    /// <param name="output">The page.</param>
    /// <param name="runs">Which replay run's findings, coverage and mremaps to show (the latest by default).</param>
    /// <param name="cancellationToken">Stops between traces.</param>
    public static ReportSummary Write(IReadOnlyList<TraceDataset> traces, TextWriter output, RunSelection? runs = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(traces);
        runs ??= RunSelection.Latest;
        var sections = new List<string>();
        int charts = 0;
        int findings = 0;
        for (int t = 0; t < traces.Count; t++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var section = new TraceSection(traces[t], $"t{t.ToString(CultureInfo.InvariantCulture)}", runs);
            sections.Add(section.Render());
            charts += section.ChartCount;
            findings += section.Findings;
        }

        output.Write("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>mmtrace report: ");
        output.Write(Enc(string.Join(", ", traces.Select(t => t.Id))));
        output.Write("</title>\n<style>");
        output.Write(Css);
        output.Write("</style></head><body>\n<header><h1>mmtrace report</h1><p>");
        output.Write(Enc(string.Create(CultureInfo.InvariantCulture,
            $"{traces.Count} trace{(traces.Count == 1 ? "" : "s")}, {findings} finding{(findings == 1 ? "" : "s")}, {charts} charts. Written by mmtrace {DatasetMeta.DefaultToolVersion}; select a finding to see its witness.")));
        output.Write("</p></header>\n<main class=\"traces\">\n");
        foreach (var s in sections)
        {
            output.Write(s);
        }
        output.Write("</main>\n<script>");
        output.Write(Script);
        output.Write("</script>\n</body></html>\n");
        return new ReportSummary(traces.Count, charts, findings);
    }

    internal static string Enc(string? text) => WebUtility.HtmlEncode(text ?? "");

    /// <summary>One trace's column of the page.</summary>
    private sealed class TraceSection(TraceDataset trace, string prefix, RunSelection runs)
    {
        private readonly StringBuilder _html = new();
        private QueryRunner _runner = null!;
        private HashSet<string> _views = null!;
        private int _chartIndex;

        public int ChartCount { get; private set; }

        public int Findings { get; private set; }

        public string Render()
        {
            using var runner = QueryRunner.Open([trace.Directory], runs: runs);
            _runner = runner;
            _views = ViewNames();
            _html.Append("<section class=\"trace\" data-trace=\"").Append(Enc(trace.Id)).Append("\">\n<h2>").Append(Enc(trace.Id)).Append("</h2>\n");
            Header();
            foreach (var (view, title, columns, order) in s_optionalTables)
            {
                if (_views.Contains(view))
                {
                    GenericTable(view, title, columns, order);
                }
            }
            FindingsList();
            MremapHitRate();
            MremapLatency();
            ShootdownCdf();
            LockWait();
            PageFaults();
            _html.Append("</section>\n");
            return _html.ToString();
        }

        private HashSet<string> ViewNames()
        {
            var names = new HashSet<string>(StringComparer.Ordinal);
            using var reader = _runner.Query("SELECT view_name FROM duckdb_views() WHERE NOT internal");
            while (reader.Read())
            {
                names.Add(reader.GetString(0));
            }
            return names;
        }

        private List<object?[]> Rows(string sql)
        {
            var rows = new List<object?[]>();
            using var reader = _runner.Query(sql);
            while (reader.Read())
            {
                var row = new object?[reader.FieldCount];
                for (int i = 0; i < row.Length; i++)
                {
                    row[i] = reader.IsNull(i) ? null : reader.GetValue(i);
                }
                rows.Add(row);
            }
            return rows;
        }

        private static double D(object? v) => v is null ? 0 : Convert.ToDouble(v, CultureInfo.InvariantCulture);

        private static long L(object? v) => v is null ? 0 : Convert.ToInt64(v, CultureInfo.InvariantCulture);

        /// <summary>What a recording without --system-wide recorded of the other processes: nothing of their own events.</summary>
        private static string Filtered(ProcessFilter? filter) => filter is null ? "" : string.Create(CultureInfo.InvariantCulture,
            $"; {filter.Events.Count} of them, the syscalls, user page faults and exec, for pid {filter.CommandPid}'s process tree only: a workload beside it needs --system-wide");

        private void Header()
        {
            var meta = trace.Meta;
            var span = Rows("SELECT min(ts_ns), max(ts_ns) FROM events")[0];
            long first = L(span[0]);
            long last = L(span[1]);
            _html.Append("<table class=\"facts\">");
            Fact("source", meta.Sources.Count > 0 ? string.Join(", ", meta.Sources.Select(s => $"{Path.GetFileName(s.Path)} ({FieldFormat.Bytes(s.Size)})"))
                : meta.EnabledEvents is { } enabled ? $"recorded by mmtrace record ({enabled.Count} tracepoints enabled{Filtered(meta.ProcessFilter)})" : "no input file recorded");
            Fact("format", meta.Format ?? "unknown");
            Fact("kernel", meta.KernelRelease ?? "not recorded");
            Fact("CPUs", meta.CpuCount?.ToString(CultureInfo.InvariantCulture) ?? "not recorded");
            Fact("clock", meta.Clock ?? "not recorded");
            Fact("span", span[0] is null ? "no events" : string.Create(CultureInfo.InvariantCulture,
                $"{FieldFormat.Seconds(first)} – {FieldFormat.Seconds(last)} ({(last - first) / 1e6:0.###} ms)"));
            Fact("events", string.Create(CultureInfo.InvariantCulture, $"{meta.Events:N0} ({meta.LostEvents:N0} lost, {meta.MalformedCount:N0} malformed)"));
            _html.Append("</table>\n<details class=\"kinds\"><summary>events by kind (")
                .Append(meta.EventCounts.Count.ToString(CultureInfo.InvariantCulture)).Append(")</summary><table>");
            foreach (var (name, count) in meta.EventCounts.OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal))
            {
                _html.Append("<tr><td class=\"num\">").Append(count.ToString("N0", CultureInfo.InvariantCulture)).Append("</td><td>").Append(Enc(name)).Append("</td></tr>");
            }
            _html.Append("</table></details>\n");
        }

        private void Fact(string name, string value) =>
            _html.Append("<tr><th>").Append(Enc(name)).Append("</th><td>").Append(Enc(value)).Append("</td></tr>");

        private void GenericTable(string view, string title, string[]? columns, string[] order)
        {
            var has = Rows($"SELECT column_name FROM (DESCRIBE {view})").Select(r => (string)r[0]!).ToHashSet(StringComparer.Ordinal);
            string select = columns is null ? "* EXCLUDE (trace)" : string.Join(", ", columns.Where(has.Contains));
            string orderBy = string.Join(", ", order.Where(has.Contains));
            long total = L(Rows($"SELECT count(*) FROM {view}")[0][0]);
            using var reader = _runner.Query(string.Create(CultureInfo.InvariantCulture,
                $"SELECT {select} FROM {view}{(orderBy.Length == 0 ? "" : " ORDER BY " + orderBy)} LIMIT {MaxTableRows}"));
            _html.Append("<h3>").Append(Enc(title)).Append("</h3><div class=\"scroll\"><table class=\"grid\" data-view=\"").Append(view).Append("\"><tr>");
            for (int i = 0; i < reader.FieldCount; i++)
            {
                _html.Append("<th>").Append(Enc(reader.GetName(i))).Append("</th>");
            }
            _html.Append("</tr>");
            while (reader.Read())
            {
                _html.Append("<tr>");
                for (int i = 0; i < reader.FieldCount; i++)
                {
                    // Sentences get a readable width; the table scrolls sideways instead of wrapping them a word per line.
                    _html.Append(s_prose.Contains(reader.GetName(i)) ? "<td class=\"prose\">" : "<td>")
                        .Append(Enc(reader.IsNull(i) ? "" : ResultFormatter.FormatCell(reader.GetValue(i)))).Append("</td>");
                }
                _html.Append("</tr>");
            }
            _html.Append("</table></div>\n");
            if (total > MaxTableRows || columns is not null)
            {
                string shown = total > MaxTableRows
                    ? string.Create(CultureInfo.InvariantCulture, $"the first {MaxTableRows} of {total:N0} rows{(columns is null ? "" : ", the main columns")}")
                    : "the main columns";
                _html.Append("<p class=\"none\">").Append(Enc(shown)).Append("; all: <code>mmtrace query ").Append(Enc(trace.Directory))
                    .Append(" --sql \"SELECT * FROM ").Append(view).Append("\"</code></p>\n");
            }
        }

        private void FindingsList()
        {
            _html.Append("<h3>Findings</h3>\n");
            if (!_views.Contains("findings"))
            {
                _html.Append("<p class=\"none\">not replayed yet: run <code>mmtrace replay ").Append(Enc(trace.Id)).Append("</code>.</p>\n");
                return;
            }
            var all = trace.Runs();
            if (runs.Choose(trace.Id, all) is [var run])
            {
                _html.Append("<p class=\"run\">replay under ").Append(Enc(run.Profile)).Append(" (").Append(Enc(run.Arch)).Append("), ")
                    .Append(Enc(run.ReplayedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture)))
                    .Append(run.Scope.IsWhole ? "" : ", reported within " + Enc(run.Scope.ToString()));
                if (all.Count > 1)
                {
                    _html.Append("; other replays: ").Append(Enc(string.Join(", ", all.Where(r => r != run).Select(r => r.Profile + " (" + r.Arch + ")"))))
                        .Append(" (<code>mmtrace report --profile P</code>)");
                }
                _html.Append("</p>\n");
            }
            var rows = Rows($"SELECT finding_id, profile, checker, coalesce(race, ''), class, severity, message, witness, seqs FROM findings ORDER BY finding_id LIMIT {MaxFindings}");
            long total = L(Rows("SELECT count(*) FROM findings")[0][0]);
            if (rows.Count == 0)
            {
                _html.Append("<p class=\"none\">no findings under the last replay.</p>\n");
                return;
            }
            _html.Append("<table class=\"grid findings\"><tr><th>#</th><th>profile</th><th>checker</th><th>race</th><th>class</th><th>severity</th><th>what happened</th></tr>\n");
            var panels = new StringBuilder();
            foreach (var row in rows)
            {
                string id = $"{prefix}-f{L(row[0]).ToString(CultureInfo.InvariantCulture)}";
                _html.Append("<tr class=\"finding ").Append(Enc((string?)row[5])).Append("\" tabindex=\"0\" data-witness=\"").Append(id).Append("\">");
                foreach (int c in new[] { 0, 1, 2, 3, 4, 5, 6 })
                {
                    _html.Append("<td>").Append(Enc(row[c] is null ? "" : ResultFormatter.FormatCell(row[c]))).Append("</td>");
                }
                _html.Append("</tr>\n");
                panels.Append("<div class=\"witness\" id=\"").Append(id).Append("\" hidden><h4>witness of finding ")
                    .Append(L(row[0]).ToString(CultureInfo.InvariantCulture)).Append(": ").Append(Enc($"{row[2]} {row[3]} ({row[5]})")).Append("</h4>");
                if (Findings < MaxWitnessCharts && row[8] is System.Collections.IEnumerable seqs)
                {
                    var list = seqs.Cast<object?>().Where(o => o is not null).Select(L).ToList();
                    if (WitnessChart(list, $"finding {L(row[0]).ToString(CultureInfo.InvariantCulture)}: ops of the witness per CPU") is { } chart)
                    {
                        panels.Append("<div class=\"zoom\"><button type=\"button\" data-zoom=\"1.5\">+</button><button type=\"button\" data-zoom=\"0.6667\">−</button></div>");
                        panels.Append(Figure(chart, "witness-chart"));
                    }
                }
                panels.Append("<pre>").Append(Enc((string?)row[7])).Append("</pre></div>\n");
                Findings++;
            }
            _html.Append("</table>\n");
            if (total > rows.Count)
            {
                _html.Append("<p class=\"none\">").Append((total - rows.Count).ToString("N0", CultureInfo.InvariantCulture))
                    .Append(" more: <code>mmtrace query ").Append(Enc(trace.Directory)).Append(" --sql \"SELECT * FROM findings\"</code></p>");
            }
            _html.Append(panels);
        }

        private Chart? WitnessChart(List<long> seqs, string title)
        {
            if (seqs.Count == 0)
            {
                return null;
            }
            var rows = Rows($"SELECT seq, ts_ns, cpu, event, comm, pid FROM events WHERE seq IN ({string.Join(", ", seqs.Select(s => s.ToString(CultureInfo.InvariantCulture)))}) ORDER BY seq");
            if (rows.Count == 0)
            {
                return null;
            }
            long t0 = rows.Min(r => L(r[1]));
            var ops = rows.Select(r =>
            {
                string name = (string)r[3]!;
                int colon = name.IndexOf(':', StringComparison.Ordinal);
                return ((L(r[1]) - t0) / 1000.0, (int)L(r[2]), $"{name[(colon + 1)..]} #{L(r[0]).ToString(CultureInfo.InvariantCulture)}");
            }).ToList();
            return Charts.Witness(NextId(), title, ops);
        }

        private void MremapHitRate()
        {
            _html.Append("<h3>mremap PMD-move hit rate</h3>\n");
            if (!NeedMremaps())
            {
                return;
            }
            var rows = Rows("""
                SELECT alignment,
                       CASE WHEN least(old_len, new_len) < 2097152 THEN 0 WHEN least(old_len, new_len) < 4194304 THEN 1
                            WHEN least(old_len, new_len) < 16777216 THEN 2 ELSE 3 END AS bucket,
                       count(*), count(*) FILTER (WHERE pmd_moves + pud_moves > 0), count(*) FILTER (WHERE huge_moves > 0)
                FROM mremaps WHERE ret >= 0 AND result_addr IS DISTINCT FROM old_addr
                GROUP BY ALL ORDER BY 1, 2
                """);
            if (rows.Count == 0)
            {
                _html.Append("<p class=\"none\">no mremap call moved its range.</p>\n");
                return;
            }
            string[] bucketNames = ["<2M", "2-4M", "4-16M", "≥16M"];
            var buckets = rows.Select(r => (int)L(r[1])).Distinct().Order().ToList();
            var alignments = rows.Select(r => (string)r[0]!).Distinct().OrderBy(a => a switch { "aligned" => 0, "mutual" => 1, _ => 2 }).ToList();
            var groups = new List<string>();
            var pmd = new List<double>();
            var huge = new List<double>();
            foreach (var a in alignments)
            {
                foreach (var b in buckets)
                {
                    var r = rows.FirstOrDefault(x => (string)x[0]! == a && (int)L(x[1]) == b);
                    if (r is null)
                    {
                        continue;
                    }
                    groups.Add($"{a} {bucketNames[b]} (n={L(r[2])})");
                    pmd.Add(100.0 * L(r[3]) / L(r[2]));
                    huge.Add(100.0 * L(r[4]) / L(r[2]));
                }
            }
            var chart = Charts.GroupedBars(NextId(), "calls that moved a whole PMD, by alignment and size", groups,
                [("NORMAL_PMD / PUD", Colors.C0, pmd.ToArray()), ("huge PMD", Colors.C2, huge.ToArray())], "% of moving calls");
            _html.Append(Figure(chart, "chart"));
        }

        private void MremapLatency()
        {
            _html.Append("<h3>mremap latency against size</h3>\n");
            if (!NeedMremaps())
            {
                return;
            }
            // At most 5,000 calls (every k-th by seq): the scatter keeps its shape, the page its size.
            var rows = Rows("""
                WITH c AS (
                    SELECT least(old_len, new_len) AS length, duration_ns,
                           CASE WHEN (pmd_moves + pud_moves > 0)::INT + (huge_moves > 0)::INT + (pte_extents > 0)::INT > 1 THEN 'mixed'
                                WHEN pmd_moves + pud_moves > 0 THEN 'NORMAL_PMD'
                                WHEN huge_moves > 0 THEN 'huge PMD'
                                WHEN pte_extents > 0 THEN 'PTE' ELSE 'none' END AS kind,
                           row_number() OVER (ORDER BY seq) AS n, count(*) OVER () AS total
                    FROM mremaps WHERE duration_ns IS NOT NULL AND ret >= 0)
                SELECT length, duration_ns, kind FROM c WHERE (n - 1) % greatest(1, ceil(total / 5000.0)::BIGINT) = 0
                """);
            if (rows.Count == 0)
            {
                _html.Append("<p class=\"none\">no successful mremap call with both enter and exit in the trace.</p>\n");
                return;
            }
            var series = Charts.MoveKinds.Select(k => (k.Kind, k.Color,
                    rows.Where(r => (string)r[2]! == k.Kind).Select(r => D(r[0])).ToArray(),
                    rows.Where(r => (string)r[2]! == k.Kind).Select(r => D(r[1]) / 1000.0).ToArray()))
                .ToList();
            _html.Append(Figure(Charts.Scatter(NextId(), "mremap latency by size, coloured by how it moved", series, "length moved", "µs (enter to exit)", logBytesX: true), "chart"));
        }

        private bool NeedMremaps()
        {
            if (_views.Contains("mremaps"))
            {
                return true;
            }
            long calls = L(Rows("SELECT count(*) FROM events WHERE event = 'syscalls:sys_enter_mremap'")[0][0]);
            _html.Append("<p class=\"none\">").Append(calls == 0
                ? "no mremap calls in this trace."
                : Enc($"{calls:N0} mremap calls, not analysed yet: run `mmtrace replay {trace.Id}`.")).Append("</p>\n");
            return false;
        }

        private void ShootdownCdf()
        {
            _html.Append("<h3>TLB shootdown latency</h3>\n");
            // As queries/tlb_shootdown_latency.sql: each remote flush pairs with the latest IPI send of another CPU
            // within 1 ms before it; a shootdown lasts until its last remote flush.
            var latencies = Rows("""
                WITH sends AS (SELECT seq, ts_ns, cpu FROM events WHERE event = 'tlb:tlb_flush' AND reason = 4),
                remotes AS (SELECT seq, ts_ns, cpu FROM events WHERE event = 'tlb:tlb_flush' AND reason IN (1, 5)),
                matched AS (
                    SELECT r.seq AS remote, s.seq AS send, r.ts_ns - s.ts_ns AS latency_ns,
                           row_number() OVER (PARTITION BY r.seq ORDER BY s.ts_ns DESC, s.seq DESC) AS rank
                    FROM remotes r JOIN sends s ON s.cpu <> r.cpu AND s.ts_ns <= r.ts_ns AND r.ts_ns - s.ts_ns <= 1000000)
                SELECT max(latency_ns) FROM matched WHERE rank = 1 GROUP BY send ORDER BY 1
                """).Select(r => D(r[0]) / 1000.0).ToArray();
            if (latencies.Length == 0)
            {
                _html.Append("<p class=\"none\">no TLB shootdowns (tlb_flush reason 4 followed by a remote flush) in this trace.</p>\n");
                return;
            }
            _html.Append(Figure(Charts.Cdf(NextId(), "IPI send to last remote flush", [("shootdowns", Colors.C0, latencies)], "µs"), "chart"));
        }

        private void LockWait()
        {
            _html.Append("<h3>mmap_lock wait</h3>\n");
            var rows = Rows("""
                WITH l AS (
                    SELECT event, ts_ns, "write", lead(event) OVER w AS next_event, lead(ts_ns) OVER w AS next_ts
                    FROM events WHERE event IN ('mmap_lock:mmap_lock_start_locking', 'mmap_lock:mmap_lock_acquire_returned')
                    WINDOW w AS (PARTITION BY pid ORDER BY ts_ns, seq))
                SELECT "write", next_ts - ts_ns FROM l
                WHERE event = 'mmap_lock:mmap_lock_start_locking' AND next_event = 'mmap_lock:mmap_lock_acquire_returned'
                ORDER BY 2
                """);
            if (rows.Count == 0)
            {
                _html.Append("<p class=\"none\">no mmap_lock acquisitions (mmap_lock:mmap_lock_start_locking, _acquire_returned) in this trace.</p>\n");
                return;
            }
            var read = rows.Where(r => r[0] is false).Select(r => D(r[1]) / 1000.0).ToArray();
            var write = rows.Where(r => r[0] is true).Select(r => D(r[1]) / 1000.0).ToArray();
            _html.Append(Figure(Charts.Cdf(NextId(), "start_locking to acquire_returned", [("read", Colors.C0, read), ("write", Colors.C3, write)], "µs"), "chart"));
        }

        private void PageFaults()
        {
            _html.Append("<h3>Page faults per process</h3>\n");
            var rows = Rows("""
                SELECT coalesce(tgid, pid) AS process, arg_max(comm, ts_ns) AS comm, count(*) AS faults
                FROM events WHERE event LIKE 'exceptions:page_fault%'
                GROUP BY 1 ORDER BY faults DESC, process LIMIT 20
                """);
            if (rows.Count == 0)
            {
                _html.Append("<p class=\"none\">no page faults (exceptions:page_fault_*) in this trace.</p>\n");
                return;
            }
            rows.Reverse(); // horizontal bars draw bottom-up: the largest on top
            _html.Append(Figure(Charts.Bars(NextId(), "page faults per process (top 20)",
                rows.Select(r => $"{r[1]}-{L(r[0])}").ToList(), rows.Select(r => D(r[2])).ToList(), "faults", horizontal: true), "chart"));
        }

        private string NextId() => $"{prefix}-c{(_chartIndex++).ToString(CultureInfo.InvariantCulture)}";

        private string Figure(Chart chart, string cssClass)
        {
            ChartCount++;
            var legend = string.Concat(chart.Legend.Select(l => $"<li><span style=\"background:{l.Color}\"></span>{Enc(l.Name)}</li>"));
            return $"<figure class=\"{cssClass}\" id=\"{chart.Id}\" data-marks=\"{chart.Marks.ToString(CultureInfo.InvariantCulture)}\"><div class=\"svg\" role=\"img\" aria-label=\"{Enc(chart.Title)}\">{chart.Svg}</div>{(legend.Length == 0 ? "" : $"<ul class=\"legend\">{legend}</ul>")}</figure>\n";
        }
    }

    private const string Css = """
        body{font:14px/1.4 "DejaVu Sans",sans-serif;margin:0;color:#222;background:#fafafa}
        header{padding:12px 20px;background:#243b55;color:#fff}header h1{margin:0 0 4px;font-size:20px}header p{margin:0}
        .traces{display:grid;grid-template-columns:repeat(auto-fit,minmax(620px,1fr));gap:16px;padding:16px}
        .trace{background:#fff;border:1px solid #ddd;border-radius:6px;padding:12px;min-width:0}
        .trace h2{margin:0 0 8px;font-size:18px}.trace h3{margin:18px 0 6px;font-size:15px;border-bottom:1px solid #eee}
        table{border-collapse:collapse}.facts th{text-align:left;padding-right:12px;color:#555;font-weight:normal}
        .grid td,.grid th{border:1px solid #e3e3e3;padding:2px 6px;vertical-align:top;text-align:left}.grid td.prose{min-width:36em}
        .num{text-align:right;padding-right:8px}.none{color:#777;font-style:italic}
        .scroll{overflow-x:auto}.findings tr.finding{cursor:pointer}.findings tr.finding:hover{background:#eef4ff}
        .findings tr.selected{background:#dbe8ff}.findings tr.critical td:nth-child(6){color:#b00;font-weight:bold}
        .witness{border-left:3px solid #c33;margin:8px 0;padding:4px 8px;background:#fff8f8}
        .witness pre{overflow-x:auto;font-size:12px}
        figure{margin:8px 0}figcaption{font-size:12px;color:#555}.svg{overflow:auto;max-width:100%}
        .zoom button{margin-right:4px}
        .legend{list-style:none;margin:2px 0 0 48px;padding:0;font-size:12px}.legend li{display:inline-block;margin-right:14px}
        .legend span{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}
        """;

    private const string Script = """
        document.querySelectorAll('tr.finding').forEach(function (row) {
          function show() {
            var panel = document.getElementById(row.dataset.witness);
            var open = !panel.hidden;
            row.closest('section').querySelectorAll('.witness').forEach(function (p) { p.hidden = true; });
            row.closest('table').querySelectorAll('tr.finding').forEach(function (r) { r.classList.remove('selected'); });
            if (!open) { panel.hidden = false; row.classList.add('selected'); }
          }
          row.addEventListener('click', show);
          row.addEventListener('keydown', function (e) { if (e.key === 'Enter') { show(); } });
          // report.html#open=ID opens a finding's witness (a link to it; the README's screenshot).
          if (location.hash === '#open=' + row.dataset.witness) { show(); window.scrollTo(0, 0); }
        });
        document.querySelectorAll('.zoom button').forEach(function (b) {
          b.addEventListener('click', function () {
            var svg = b.parentElement.nextElementSibling.querySelector('svg');
            var w = svg.width.baseVal.value, h = svg.height.baseVal.value;
            if (!svg.getAttribute('viewBox')) { svg.setAttribute('viewBox', '0 0 ' + w + ' ' + h); }
            var k = parseFloat(b.dataset.zoom);
            svg.setAttribute('width', w * k); svg.setAttribute('height', h * k);
          });
        });
        """;
}
