using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using Pipeline.Storage;
using Pipeline.Storage.DuckDb;

namespace Pipeline.Analyze.Export;

/// <summary>What <see cref="PerfettoExport.Write"/> wrote.</summary>
/// <param name="Events">Trace events read from the dataset.</param>
/// <param name="Records">JSON records written (slices, instants, flows, metadata).</param>
/// <param name="Findings">Findings drawn as markers with flows.</param>
/// <param name="UnmatchedEnds">Exits, releases and acquisitions with no open begin on their thread (the trace started inside them).</param>
/// <param name="ClosedAtEnd">Slices still open when the trace ended, closed at its last timestamp.</param>
/// <param name="EntriesWithoutExitEvent">Syscall entries drawn as instants because the trace holds no exit event of
/// that syscall at all (a recorder that enabled only <c>sys_enter_NAME</c>), by syscall name.</param>
public sealed record PerfettoSummary(long Events, long Records, int Findings, long UnmatchedEnds, long ClosedAtEnd,
    IReadOnlyDictionary<string, long> EntriesWithoutExitEvent)
{
    /// <summary>
    /// The events of <paramref name="meta"/> that the export draws no track for (page allocations and frees, filemap,
    /// huge_memory, …), by name, most frequent first; a finding's witness events are drawn whatever their name.
    /// </summary>
    public static IEnumerable<KeyValuePair<string, long>> Untracked(DatasetMeta meta) =>
        meta.EventCounts.Where(e => !PerfettoExport.HasTrack(e.Key)).OrderByDescending(e => e.Value).ThenBy(e => e.Key, StringComparer.Ordinal);
}

/// <summary>
/// <c>mmtrace export --perfetto</c>: the Chrome trace-event JSON format (the "JSON Object Format" of the
/// Trace Event Format document) that ui.perfetto.dev and chrome://tracing open.
/// <list type="bullet">
/// <item>A process "CPUs" with one track per CPU: page faults, TLB flushes and IPIs as instants, op-trace ops
/// (<c>mmop:*</c>) and every op of a finding's witness as zero-length slices (flows need a slice to bind to).</item>
/// <item>A process per thread group with a track per thread: syscalls (enter to exit), mmap_lock waits
/// (start_locking to acquire_returned) and holds (to released) as B/E slices (a syscall whose exit event the trace does
/// not hold at all, because its recorder enabled only the entry, is an instant: a slice would stay open to the end of
/// the trace and nest every later one inside it); mremap syscalls carry the
/// predicted moves of <c>mremaps</c> when replay wrote it. Slices live on thread tracks, not CPU tracks: a
/// task sleeps inside a syscall while others run on its CPU, so per-CPU slices would not nest.</item>
/// <item>A process "findings" with each finding (and exposure window) as a slice from its first to its last
/// witness op, lanes so that slices on one track never overlap, a global instant at its first op, and a
/// flow (<c>s</c> … <c>t</c> … <c>f</c>) through the ops of its witness.</item>
/// </list>
/// B/E slices nest per track by construction: an end closes the begins opened above it on that track first
/// (a lost event must not leave the track unbalanced) and everything still open is closed at the last
/// timestamp. Events stream from DuckDB in seq order and records stream out through a Utf8JsonWriter:
/// memory holds the open slices, the findings and the mremap predictions, not the trace.
/// </summary>
public static class PerfettoExport
{
    /// <summary>pid of the "CPUs" process; far above any kernel pid (PID_MAX_LIMIT is 2^22).</summary>
    public const int CpuProcessId = 1_000_000_000;

    /// <summary>pid of the "findings" process.</summary>
    public const int FindingsProcessId = 1_000_000_001;

    // The events drawn on a track: names that start with one of these (the events query's filter, and HasTrack).
    private static readonly string[] s_tracked = ["syscalls:", "exceptions:page_fault", "mmap_lock:", "tlb:tlb_flush", "ipi:", "mmop:"];

    /// <summary>Whether the export draws events named <paramref name="name"/> (the filter of its events query).</summary>
    public static bool HasTrack(string name) => s_tracked.Any(p => name.StartsWith(p, StringComparison.Ordinal));

    private static readonly JsonWriterOptions s_options = new()
    {
        Indented = false,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>Writes <paramref name="trace"/> as trace-event JSON to <paramref name="output"/>.</summary>
    /// <param name="trace">The trace.</param>
    /// <param name="output">The JSON.</param>
    /// <param name="runs">Which replay run's findings and mremaps to mark (the latest by default).</param>
    /// <param name="cancellationToken">Stops between events.</param>
    public static PerfettoSummary Write(TraceDataset trace, Stream output, RunSelection? runs = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(trace);
        using var runner = QueryRunner.Open([trace.Directory], runs: runs ?? RunSelection.Latest);
        var views = ViewNames(runner);
        var findings = views.Contains("findings") ? ReadFindings(runner) : [];
        var mremaps = views.Contains("mremaps") ? ReadMremaps(runner) : [];
        var withExit = SyscallsWithExitEvent(trace.Meta);
        var flows = new Dictionary<long, List<(int Finding, int Index)>>();
        for (int f = 0; f < findings.Count; f++)
        {
            for (int i = 0; i < findings[f].Seqs.Count; i++)
            {
                if (!flows.TryGetValue(findings[f].Seqs[i], out var list))
                {
                    list = [];
                    flows.Add(findings[f].Seqs[i], list);
                }
                list.Add((f, i));
            }
        }

        using var json = new Utf8JsonWriter(output, s_options);
        var state = new ExportState(json);
        json.WriteStartObject();
        json.WriteString("displayTimeUnit", "ns");
        json.WriteStartObject("otherData");
        json.WriteString("trace", trace.Id);
        json.WriteString("format", trace.Meta.Format ?? "");
        json.WriteString("kernel", trace.Meta.KernelRelease ?? "");
        json.WriteString("source", string.Join(", ", trace.Meta.Sources.Select(s => Path.GetFileName(s.Path))));
        json.WriteEndObject();
        json.WriteStartArray("traceEvents");
        state.ProcessName(CpuProcessId, "CPUs", sortIndex: 0);
        state.ProcessName(FindingsProcessId, "findings", sortIndex: 1);

        string witnessFilter = flows.Count == 0 ? "" : " OR seq IN (SELECT unnest(seqs) FROM findings)";
        string sql = "SELECT seq, ts_ns, cpu, pid, tgid, comm, event, address, ip, error_code, pages, reason, mm, \"write\", success, "
            + "addr, old_len, new_len, flags, new_addr, ret, start, len, args FROM events WHERE "
            + string.Join(" OR ", s_tracked.Select(p => $"starts_with(event, '{p}')")) + witnessFilter
            // In seq order, always: the scan alone keeps it, but the semi-join with the findings runs in parallel and gave
            // the events in another order on each run (a different file, slices closed at other places).
            + " ORDER BY seq";
        var witnessTs = new Dictionary<long, (long Ts, int Cpu)>();
        long events = 0;
        long lastTs = 0;
        using (var reader = runner.Query(sql))
        {
            var row = new Row(reader);
            while (reader.Read())
            {
                if ((events++ & 0xFFF) == 0)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                }
                row.Load();
                lastTs = Math.Max(lastTs, row.Ts);
                state.SeeThread(row);
                if (flows.TryGetValue(row.Seq, out var steps))
                {
                    witnessTs[row.Seq] = (row.Ts, row.Cpu);
                    state.OpSlice(row);
                    foreach (var (finding, index) in steps)
                    {
                        int last = findings[finding].Seqs.Count - 1;
                        state.Flow(row, finding + 1, index == 0 ? "s" : index == last ? "f" : "t");
                    }
                    if (!OnThreadTrack(row.Event))
                    {
                        continue;
                    }
                    // A syscall exit or lock event of a witness also ends (or begins) its slice on the thread's track: left
                    // out, the mremap of every R1 exposure stayed open to the end of the trace, nesting all that followed.
                }
                Dispatch(state, row, mremaps, withExit);
            }
        }
        state.CloseAll(lastTs);
        WriteFindings(state, findings, witnessTs);
        json.WriteEndArray();
        json.WriteEndObject();
        json.Flush();
        return new PerfettoSummary(events, state.Records, findings.Count, state.UnmatchedEnds, state.ClosedAtEnd, state.EntriesWithoutExitEvent);
    }

    /// <summary>
    /// The syscalls whose exit event the trace holds or its recorder enabled (meta.json <c>event_counts</c>,
    /// <c>enabled_events</c>): only those can end a slice.
    /// </summary>
    private static HashSet<string> SyscallsWithExitEvent(DatasetMeta meta)
    {
        const string Exit = "syscalls:sys_exit_";
        return [.. meta.EventCounts.Keys.Concat(meta.EnabledEvents ?? [])
            .Where(e => e.StartsWith(Exit, StringComparison.Ordinal)).Select(e => e[Exit.Length..])];
    }

    /// <summary>Events drawn on a thread's track (slices), as opposed to a CPU's (instants).</summary>
    private static bool OnThreadTrack(string e) =>
        e.StartsWith("syscalls:", StringComparison.Ordinal) || e.StartsWith("mmap_lock:", StringComparison.Ordinal);

    private static void Dispatch(ExportState state, Row row, Dictionary<long, MremapPrediction> mremaps, HashSet<string> withExit)
    {
        string e = row.Event;
        if (e.StartsWith("syscalls:sys_enter_", StringComparison.Ordinal) && !withExit.Contains(e["syscalls:sys_enter_".Length..]))
        {
            string name = e["syscalls:sys_enter_".Length..];
            state.ThreadInstant(row, name, "syscall", row.WriteSyscallArgs);
            state.EntriesWithoutExitEvent[name] = state.EntriesWithoutExitEvent.GetValueOrDefault(name) + 1;
        }
        else if (e.StartsWith("syscalls:sys_enter_", StringComparison.Ordinal))
        {
            string name = e["syscalls:sys_enter_".Length..];
            state.Begin(row, name, "syscall", name, w =>
            {
                row.WriteSyscallArgs(w);
                if (name == "mremap" && mremaps.TryGetValue(row.Seq, out var m))
                {
                    m.WriteArgs(w);
                }
            });
        }
        else if (e.StartsWith("syscalls:sys_exit_", StringComparison.Ordinal))
        {
            string name = e["syscalls:sys_exit_".Length..];
            state.End(row, name, w =>
            {
                if (row.Ret is long ret)
                {
                    w.WriteString("ret", ret >= 0 ? FieldFormat.Hex((ulong)ret) : ret.ToString(CultureInfo.InvariantCulture));
                }
            });
        }
        else if (e == "mmap_lock:mmap_lock_start_locking")
        {
            state.Begin(row, LockName("wait", row.Write), "mmap_lock", "wait:" + row.Mm, row.WriteLockArgs);
        }
        else if (e == "mmap_lock:mmap_lock_acquire_returned")
        {
            // mmap_read_trylock (the fault path's first try) and mmap_write_downgrade report an acquisition with no
            // start_locking before it: a wait ends here only when one is open, and the rest is not a lost begin.
            state.EndIfOpen(row, "wait:" + row.Mm);
            if (row.Success != false)
            {
                if (row.Write == false && state.IsInnermost(row, "held:" + row.Mm, LockName("held", true)))
                {
                    // mmap_write_downgrade: the write hold becomes a read hold, which one release ends.
                    state.End(row, "held:" + row.Mm, null);
                }
                state.Begin(row, LockName("held", row.Write), "mmap_lock", "held:" + row.Mm, row.WriteLockArgs);
            }
        }
        else if (e == "mmap_lock:mmap_lock_released")
        {
            state.End(row, "held:" + row.Mm, null);
        }
        else if (e.StartsWith("exceptions:page_fault", StringComparison.Ordinal))
        {
            state.CpuInstant(row, "page fault", "fault", w =>
            {
                w.WriteString("address", FieldFormat.Hex(row.Address ?? 0));
                w.WriteString("ip", FieldFormat.Hex(row.Ip ?? 0));
                w.WriteString("error_code", FieldFormat.Hex(row.ErrorCode ?? 0));
                w.WriteString("task", row.Task);
            });
        }
        else if (e == "tlb:tlb_flush")
        {
            string reason = FieldFormat.TlbFlushReason(row.Reason ?? -1);
            state.CpuInstant(row, "tlb_flush: " + reason, "tlb", w =>
            {
                w.WriteNumber("pages", row.Pages ?? 0);
                w.WriteNumber("reason", row.Reason ?? -1);
                w.WriteString("task", row.Task);
            });
        }
        else if (e.StartsWith("ipi:", StringComparison.Ordinal))
        {
            state.CpuInstant(row, e["ipi:".Length..], "ipi", row.WriteRawArgs);
        }
        else if (e.StartsWith("mmop:", StringComparison.Ordinal))
        {
            state.OpSlice(row);
        }
    }

    private static string LockName(string what, bool? write) => $"mmap_lock {what} ({(write == true ? "write" : "read")})";

    private static void WriteFindings(ExportState state, List<FindingMarker> findings, Dictionary<long, (long Ts, int Cpu)> witnessTs)
    {
        // Greedy lanes: a finding goes on the first lane whose last slice ended before it starts.
        var laneEnds = new List<long>();
        for (int f = 0; f < findings.Count; f++)
        {
            var finding = findings[f];
            var times = finding.Seqs.Where(witnessTs.ContainsKey).Select(s => witnessTs[s].Ts).ToList();
            if (times.Count == 0)
            {
                continue;
            }
            long start = times.Min();
            long end = times.Max();
            int lane = laneEnds.FindIndex(e => e < start);
            if (lane < 0)
            {
                lane = laneEnds.Count;
                laneEnds.Add(end);
                state.ThreadName(FindingsProcessId, lane, lane == 0 ? "findings" : $"findings ({lane + 1})");
            }
            laneEnds[lane] = end;
            state.Complete(FindingsProcessId, lane, start, end - start, finding.Title, "finding", finding.WriteArgs);
            state.GlobalInstant(start, finding.Title, finding.WriteArgs);
        }
    }

    private static HashSet<string> ViewNames(QueryRunner runner)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        using var reader = runner.Query("SELECT view_name FROM duckdb_views() WHERE NOT internal");
        while (reader.Read())
        {
            names.Add(reader.GetString(0));
        }
        return names;
    }

    private static List<FindingMarker> ReadFindings(QueryRunner runner)
    {
        var list = new List<FindingMarker>();
        using var reader = runner.Query(
            "SELECT finding_id, checker, coalesce(race, ''), class, severity, message, seqs, profile FROM findings ORDER BY finding_id");
        while (reader.Read())
        {
            var seqs = reader.IsNull(6) ? [] : ((System.Collections.IEnumerable)reader.GetValue(6)!).Cast<object?>().Where(o => o is not null).Select(o => Convert.ToInt64(o, CultureInfo.InvariantCulture)).ToList();
            list.Add(new FindingMarker(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3),
                reader.GetString(4), reader.GetString(5), reader.IsNull(7) ? "" : reader.GetString(7), seqs));
        }
        return list;
    }

    private static Dictionary<long, MremapPrediction> ReadMremaps(QueryRunner runner)
    {
        var map = new Dictionary<long, MremapPrediction>();
        using var reader = runner.Query(
            "SELECT seq, pud_moves, pmd_moves, pte_extents, huge_moves, moved_bytes, alignment, undecided FROM mremaps");
        while (reader.Read())
        {
            map[reader.GetInt64(0)] = new MremapPrediction(
                reader.IsNull(1) ? 0 : reader.GetInt64(1), reader.IsNull(2) ? 0 : reader.GetInt64(2),
                reader.IsNull(3) ? 0 : reader.GetInt64(3), reader.IsNull(4) ? 0 : reader.GetInt64(4),
                reader.IsNull(5) ? 0 : (long)reader.GetUInt64(5), reader.IsNull(6) ? "" : reader.GetString(6),
                !reader.IsNull(7) && reader.GetBoolean(7));
        }
        return map;
    }

    private sealed record FindingMarker(long Id, string Checker, string Race, string Class, string Severity, string Message, string Profile, List<long> Seqs)
    {
        public string Title => Class == "race" ? $"{Checker} {Race} ({Severity})" : $"{Checker} {Race} {Class}".Replace("  ", " ", StringComparison.Ordinal);

        public void WriteArgs(Utf8JsonWriter w)
        {
            w.WriteNumber("finding_id", Id);
            w.WriteString("class", Class);
            w.WriteString("profile", Profile);
            w.WriteString("message", Message);
            w.WriteString("seqs", string.Join(", ", Seqs));
        }
    }

    private sealed record MremapPrediction(long PudMoves, long PmdMoves, long PteExtents, long HugeMoves, long MovedBytes, string Alignment, bool Undecided)
    {
        public void WriteArgs(Utf8JsonWriter w)
        {
            w.WriteNumber("predicted_pud_moves", PudMoves);
            w.WriteNumber("predicted_pmd_moves", PmdMoves);
            w.WriteNumber("predicted_huge_pmd_moves", HugeMoves);
            w.WriteNumber("predicted_pte_extents", PteExtents);
            w.WriteString("moved", FieldFormat.Bytes(MovedBytes));
            w.WriteString("alignment", Alignment);
            if (Undecided)
            {
                w.WriteBoolean("undecided", true);
            }
        }
    }

    /// <summary>One event row, read by ordinal from the export's SELECT.</summary>
    private sealed class Row(DuckDbReader reader)
    {
        public long Seq;
        public long Ts;
        public int Cpu;
        public int Pid;
        public int Tgid;
        public string Comm = "";
        public string Event = "";
        public ulong? Address, Ip, ErrorCode, Mm;
        public long? Pages, Reason, Ret;
        public bool? Write, Success;

        public string Task => $"{Comm}-{Pid.ToString(CultureInfo.InvariantCulture)}";

        public void Load()
        {
            Seq = reader.GetInt64(0);
            Ts = reader.GetInt64(1);
            Cpu = reader.GetInt32(2);
            Pid = reader.GetInt32(3);
            Tgid = reader.IsNull(4) ? Pid : reader.GetInt32(4);
            Comm = reader.GetString(5);
            Event = reader.GetString(6);
            Address = U(7);
            Ip = U(8);
            ErrorCode = U(9);
            Pages = L(10);
            Reason = L(11);
            Mm = U(12);
            Write = reader.IsNull(13) ? null : reader.GetBoolean(13);
            Success = reader.IsNull(14) ? null : reader.GetBoolean(14);
            Ret = L(20);
        }

        private ulong? U(int o) => reader.IsNull(o) ? null : reader.GetUInt64(o);

        private long? L(int o) => reader.IsNull(o) ? null : reader.GetInt64(o);

        public void WriteSyscallArgs(Utf8JsonWriter w)
        {
            string[] names = ["addr", "old_len", "new_len", "flags", "new_addr"];
            for (int i = 0; i < names.Length; i++)
            {
                if (U(15 + i) is ulong v)
                {
                    w.WriteString(names[i], FieldFormat.Hex(v));
                }
            }
            if (U(21) is ulong start)
            {
                w.WriteString("start", FieldFormat.Hex(start));
            }
            if (U(22) is ulong len)
            {
                w.WriteString("len", FieldFormat.Hex(len));
            }
            WriteRawArgs(w);
        }

        public void WriteLockArgs(Utf8JsonWriter w)
        {
            w.WriteString("mm", FieldFormat.Hex(Mm ?? 0));
            w.WriteBoolean("write", Write == true);
        }

        /// <summary>The <c>args</c> JSON object's fields, as strings.</summary>
        public void WriteRawArgs(Utf8JsonWriter w)
        {
            if (reader.IsNull(23))
            {
                return;
            }
            var json = new Utf8JsonReader(reader.GetUtf8(23));
            if (!json.Read() || json.TokenType != JsonTokenType.StartObject)
            {
                return;
            }
            while (json.Read() && json.TokenType == JsonTokenType.PropertyName)
            {
                string key = json.GetString()!;
                if (!json.Read())
                {
                    break;
                }
                w.WriteString(key, json.TokenType == JsonTokenType.String ? json.GetString() : System.Text.Encoding.UTF8.GetString(json.ValueSpan));
            }
        }
    }

    /// <summary>The writer, the open B/E slices per thread track, and the names already declared.</summary>
    private sealed class ExportState(Utf8JsonWriter json)
    {
        private const int FlushBytes = 1 << 16;

        private readonly Dictionary<(int Pid, int Tid), List<(string Key, string Name)>> _open = [];
        private readonly HashSet<int> _cpus = [];
        private readonly Dictionary<int, string> _threads = [];
        private readonly HashSet<int> _processes = [];

        public long Records { get; private set; }

        public long UnmatchedEnds { get; private set; }

        public long ClosedAtEnd { get; private set; }

        public SortedDictionary<string, long> EntriesWithoutExitEvent { get; } = new(StringComparer.Ordinal);

        public void SeeThread(Row row)
        {
            if (_cpus.Add(row.Cpu))
            {
                ThreadName(PerfettoExport.CpuProcessId, row.Cpu, $"CPU {row.Cpu.ToString(CultureInfo.InvariantCulture)}");
            }
            if (!_processes.Contains(row.Tgid))
            {
                _processes.Add(row.Tgid);
                ProcessName(row.Tgid, row.Tgid == row.Pid ? row.Comm : $"tgid {row.Tgid.ToString(CultureInfo.InvariantCulture)}", sortIndex: null);
            }
            if (!_threads.TryGetValue(row.Pid, out var comm) || comm != row.Comm)
            {
                // A thread renamed by exec or prctl: thread_name takes the latest.
                _threads[row.Pid] = row.Comm;
                ThreadName(row.Tgid, row.Pid, row.Comm);
            }
        }

        public void ProcessName(int pid, string name, int? sortIndex)
        {
            Metadata("process_name", pid, 0, name);
            if (sortIndex is int index)
            {
                json.WriteStartObject();
                json.WriteString("ph", "M");
                json.WriteString("name", "process_sort_index");
                json.WriteNumber("pid", pid);
                json.WriteNumber("tid", 0);
                json.WriteStartObject("args");
                json.WriteNumber("sort_index", index);
                json.WriteEndObject();
                json.WriteEndObject();
                Records++;
            }
        }

        public void ThreadName(int pid, int tid, string name) => Metadata("thread_name", pid, tid, name);

        private void Metadata(string what, int pid, int tid, string name)
        {
            json.WriteStartObject();
            json.WriteString("ph", "M");
            json.WriteString("name", what);
            json.WriteNumber("pid", pid);
            json.WriteNumber("tid", tid);
            json.WriteStartObject("args");
            json.WriteString("name", name);
            json.WriteEndObject();
            json.WriteEndObject();
            Records++;
        }

        private void Head(string ph, string name, string category, int pid, int tid, long ts)
        {
            if (json.BytesPending > FlushBytes)
            {
                // A Utf8JsonWriter over a stream keeps everything until Flush: hand it on in pieces.
                json.Flush();
            }
            json.WriteStartObject();
            json.WriteString("ph", ph);
            json.WriteString("name", name);
            json.WriteString("cat", category);
            json.WriteNumber("pid", pid);
            json.WriteNumber("tid", tid);
            json.WriteNumber("ts", ts / 1000.0);
            Records++;
        }

        private void Args(Action<Utf8JsonWriter>? args)
        {
            if (args is not null)
            {
                json.WriteStartObject("args");
                args(json);
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }

        public void Begin(Row row, string name, string category, string key, Action<Utf8JsonWriter>? args)
        {
            var track = (row.Tgid, row.Pid);
            if (!_open.TryGetValue(track, out var stack))
            {
                stack = [];
                _open.Add(track, stack);
            }
            stack.Add((key, name));
            Head("B", name, category, row.Tgid, row.Pid, row.Ts);
            Args(args);
        }

        /// <summary>Whether the latest open slice under <paramref name="key"/> on the row's thread is named <paramref name="name"/>.</summary>
        public bool IsInnermost(Row row, string key, string name) =>
            _open.TryGetValue((row.Tgid, row.Pid), out var stack) && stack.FindLast(s => s.Key == key) is { Name: var n } && n == name;

        /// <summary><see cref="End"/> when a slice under <paramref name="key"/> is open on the row's thread; nothing otherwise.</summary>
        public void EndIfOpen(Row row, string key)
        {
            if (_open.TryGetValue((row.Tgid, row.Pid), out var stack) && stack.Exists(s => s.Key == key))
            {
                End(row, key, null);
            }
        }

        public void End(Row row, string key, Action<Utf8JsonWriter>? args)
        {
            var track = (row.Tgid, row.Pid);
            int at = _open.TryGetValue(track, out var stack) ? stack.FindLastIndex(s => s.Key == key) : -1;
            if (at < 0)
            {
                UnmatchedEnds++;
                return;
            }
            for (int i = stack!.Count - 1; i >= at; i--)
            {
                Head("E", stack[i].Name, "", track.Tgid, track.Pid, row.Ts);
                Args(i == at ? args : null);
            }
            stack.RemoveRange(at, stack.Count - at);
        }

        public void CloseAll(long ts)
        {
            foreach (var ((pid, tid), stack) in _open.OrderBy(p => p.Key))
            {
                for (int i = stack.Count - 1; i >= 0; i--)
                {
                    Head("E", stack[i].Name, "", pid, tid, ts);
                    Args(w => w.WriteBoolean("closed_at_trace_end", true));
                    ClosedAtEnd++;
                }
                stack.Clear();
            }
        }

        /// <summary>An instant on the thread's track.</summary>
        public void ThreadInstant(Row row, string name, string category, Action<Utf8JsonWriter>? args)
        {
            Head("i", name, category, row.Tgid, row.Pid, row.Ts);
            json.WriteString("s", "t");
            Args(args);
        }

        public void CpuInstant(Row row, string name, string category, Action<Utf8JsonWriter>? args)
        {
            Head("i", name, category, PerfettoExport.CpuProcessId, row.Cpu, row.Ts);
            json.WriteString("s", "t");
            Args(args);
        }

        public void OpSlice(Row row)
        {
            string name = row.Event.StartsWith("mmop:", StringComparison.Ordinal) ? row.Event["mmop:".Length..] : row.Event;
            Complete(PerfettoExport.CpuProcessId, row.Cpu, row.Ts, 0, name, "op", w =>
            {
                w.WriteNumber("seq", row.Seq);
                w.WriteString("task", row.Task);
                if (row.Address is ulong a)
                {
                    w.WriteString("address", FieldFormat.Hex(a));
                }
                if (row.Mm is ulong mm)
                {
                    w.WriteString("mm", FieldFormat.Hex(mm));
                }
                row.WriteRawArgs(w);
            });
        }

        public void Complete(int pid, int tid, long ts, long durNs, string name, string category, Action<Utf8JsonWriter>? args)
        {
            Head("X", name, category, pid, tid, ts);
            json.WriteNumber("dur", durNs / 1000.0);
            Args(args);
        }

        public void Flow(Row row, int id, string ph)
        {
            Head(ph, "witness", "witness", PerfettoExport.CpuProcessId, row.Cpu, row.Ts);
            json.WriteNumber("id", id);
            if (ph != "s")
            {
                // Bind to the enclosing slice (the op's), not the next one.
                json.WriteString("bp", "e");
            }
            Args(null);
        }

        public void GlobalInstant(long ts, string name, Action<Utf8JsonWriter>? args)
        {
            Head("i", name, "finding", FindingsProcessId, 0, ts);
            json.WriteString("s", "g");
            Args(args);
        }
    }
}
