using System.Globalization;
using System.Text.Json;

namespace Pipeline.Cli.Tests.Views;

/// <summary>
/// <c>mmtrace export --perfetto</c> against the rules of the Chrome trace-event format that Perfetto's JSON
/// importer enforces: every record has ph/pid/tid (and ts unless metadata), B/E balance and nest per track, X has a
/// non-negative dur and X slices on a track nest or are disjoint, each flow id has one start and one finish in
/// time order and every step lies on a slice of its track, every pid and (pid, tid) used is named.
/// </summary>
public sealed class PerfettoExportTests
{
    [CorpusFact]
    public void Export_RecordedTrace_FollowsTheFormatAndShowsSyscallsLocksFaultsFlushes()
    {
        using var dir = new TempDir();
        string ds = ShowTests.Dataset(dir);
        Assert.Equal(0, Mmtrace.Run("replay", ds).ExitCode);
        var export = Mmtrace.Run("export", ds, "--perfetto", dir["t.json"]);
        Assert.True(export.ExitCode == 0, export.ToString());
        // Events without a track are counted by kind, not left out without a word.
        long untracked = Count(ds, "NOT (event LIKE 'syscalls:%' OR event LIKE 'exceptions:page_fault%' OR event LIKE 'mmap_lock:%' OR event = 'tlb:tlb_flush' OR event LIKE 'ipi:%')");
        Assert.True(untracked > 0);
        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"  no track for {untracked:N0} events of "), export.Stdout, StringComparison.Ordinal);

        using var doc = JsonDocument.Parse(File.ReadAllBytes(dir["t.json"]));
        var events = doc.RootElement.GetProperty("traceEvents").EnumerateArray().ToList();
        CheckFormat(events);

        // One instant per page fault and per TLB flush of the trace, on the CPU that took it.
        Assert.Equal(Count(ds, "event LIKE 'exceptions:page_fault%'"), events.Count(e => Str(e, "name") == "page fault"));
        Assert.Equal(Count(ds, "event = 'tlb:tlb_flush'"), events.Count(e => Str(e, "cat") == "tlb"));
        // Both mremap calls of mmwork as syscall slices carrying the replay's prediction.
        var mremaps = events.Where(e => Str(e, "ph") == "B" && Str(e, "name") == "mremap").ToList();
        Assert.Equal(2, mremaps.Count);
        Assert.All(mremaps, m => Assert.Equal(25561, m.GetProperty("tid").GetInt32()));
        Assert.Equal("0x7fa026fa9000", mremaps[0].GetProperty("args").GetProperty("addr").GetString());
        Assert.True(mremaps[0].GetProperty("args").TryGetProperty("predicted_pte_extents", out _));
        // mmap_lock holds as slices on the holder's thread, as many as successful acquisitions whose release is in the trace.
        Assert.Contains(events, e => Str(e, "ph") == "B" && Str(e, "name") == "mmap_lock held (write)");
        Assert.Contains(events, e => Str(e, "ph") == "M" && Str(e, "name") == "thread_name" && e.GetProperty("args").GetProperty("name").GetString() == "CPU 1");
    }

    [SkippableFact]
    public void Export_SynthesizedRace_FindingSliceAndFlowThroughItsWitness()
    {
        using var dir = new TempDir();
        Assert.Equal(0, Mmtrace.Run("synth", "r1-pmd", "-o", dir["r1.txt"]).ExitCode);
        Assert.Equal(0, Mmtrace.Run("ingest", dir["r1.txt"], "-o", dir["r1"]).ExitCode);
        Assert.Equal(1, Mmtrace.Run("replay", dir["r1"], "--profile", "v5.13").ExitCode);
        var export = Mmtrace.Run("export", dir["r1"], "--perfetto", dir["r1.json"]);
        Assert.True(export.ExitCode == 0, export.ToString());

        using var doc = JsonDocument.Parse(File.ReadAllBytes(dir["r1.json"]));
        var events = doc.RootElement.GetProperty("traceEvents").EnumerateArray().ToList();
        CheckFormat(events);
        var finding = Assert.Single(events, e => Str(e, "ph") == "X" && Str(e, "cat") == "finding");
        Assert.Equal("I1 R1 (critical)", Str(finding, "name"));
        // The witness (seqs 20, 22, 23, 25, 27) as one flow: s, three t, f, across CPUs 2, 1, 3, 2, 2.
        var flow = events.Where(e => Str(e, "cat") == "witness").ToList();
        Assert.Equal(["s", "t", "t", "t", "f"], flow.Select(e => Str(e, "ph")));
        Assert.Equal([2, 1, 3, 2, 2], flow.Select(e => e.GetProperty("tid").GetInt32()));
        Assert.Single(events, e => Str(e, "ph") == "i" && Str(e, "s") == "g");

        var refused = Mmtrace.Run("export", Path.GetDirectoryName(dir["r1"])!, "--perfetto", dir["x.json"]);
        Assert.NotEqual(0, refused.ExitCode);
        Assert.False(File.Exists(dir["x.json"]));
    }

    /// <summary>
    /// A lab script's recording of raceactors (kernel text, cut to the mover and the puncher around the first R1 exposure
    /// window under v5.13; tests/data/README.md) with coverage's record line, which enables <c>sys_enter_pread64</c>,
    /// <c>read</c>, <c>close</c> and <c>fallocate</c> without their exits. Before 7 December 2026 the export opened a
    /// slice at each such entry that nothing closed (they nested every later slice of the thread until the end of the
    /// trace), skipped the thread track for a finding's witness events (the exposure's <c>sys_exit_mremap</c> left its
    /// mremap open to the end), and took munmap's <c>mmap_write_downgrade</c> (an acquisition for read with no
    /// start_locking, while the write hold is open) for a second, nested hold, so the write hold never ended.
    /// </summary>
    [SkippableFact]
    public void Export_LabRecording_EntriesWithoutExitsAreInstantsAndWitnessAndDowngradeCloseTheirSlices()
    {
        using var dir = new TempDir();
        string ds = dir["lab"];
        Assert.Equal(0, Mmtrace.Run("ingest", Mmtrace.Corpus("recorded/ftrace-text/raceactors_r1_window.txt.gz"), "-o", ds).ExitCode);
        var replay = Mmtrace.Run("replay", ds, "--profile", "v5.13", "--no-explore");
        Assert.True(replay.ExitCode == 1 && replay.Stdout.Contains(", 1 finding", StringComparison.Ordinal), replay.ToString());
        var export = Mmtrace.Run("export", ds, "--perfetto", dir["t.json"]);
        Assert.True(export.ExitCode == 0, export.ToString());

        using var doc = JsonDocument.Parse(File.ReadAllBytes(dir["t.json"]));
        var events = doc.RootElement.GetProperty("traceEvents").EnumerateArray().ToList();
        CheckFormat(events);
        // The entries whose syscall has no exit event in the trace are instants on the thread, and the summary says so.
        long preads = Count(ds, "event = 'syscalls:sys_enter_pread64'");
        Assert.True(preads > 0);
        Assert.Equal(preads, events.Count(e => Str(e, "ph") == "i" && Str(e, "name") == "pread64"));
        Assert.DoesNotContain(events, e => Str(e, "ph") == "B" && Str(e, "name") is "pread64" or "read" or "close" or "fallocate");
        Assert.Contains(" syscall entries are instants, not slices: the trace holds no exit event of those 4 syscalls (pread64 ", export.Stdout, StringComparison.Ordinal);
        // Every mremap whose exit is in the trace ends there, the witness's too: only the last, cut by the end of the
        // fixture, and the write hold it took, close at the trace's end.
        var closedAtEnd = events.Where(e => Str(e, "ph") == "E" && e.TryGetProperty("args", out var a) && a.TryGetProperty("closed_at_trace_end", out _))
            .Select(e => Str(e, "name")).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(["mmap_lock held (write)", "mremap"], closedAtEnd);
        Assert.Equal(Count(ds, "event = 'syscalls:sys_exit_mremap'"), events.Count(e => Str(e, "ph") == "E" && Str(e, "name") == "mremap") - 1);
        // munmap's downgrade: the write hold ends where the read hold begins.
        var downgrade = events.Single(e => Str(e, "ph") == "B" && Str(e, "name") == "mmap_lock held (read)"
            && events.Any(w => Str(w, "ph") == "E" && Str(w, "name") == "mmap_lock held (write)" && w.GetProperty("ts").GetDouble() == e.GetProperty("ts").GetDouble()));
        Assert.Equal(30913, downgrade.GetProperty("tid").GetInt32());
    }

    private static long Count(string ds, string where)
    {
        var q = Mmtrace.Run("query", ds, "--sql", $"SELECT count(*) FROM events WHERE {where}", "--format", "csv");
        Assert.True(q.ExitCode == 0, q.ToString());
        return long.Parse(q.Stdout.Split('\n')[1], CultureInfo.InvariantCulture);
    }

    private static string? Str(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    /// <summary>The format's rules; fails naming the record.</summary>
    internal static void CheckFormat(IReadOnlyList<JsonElement> events)
    {
        var processNames = new HashSet<long>();
        var threadNames = new HashSet<(long, long)>();
        var used = new HashSet<(long, long)>();
        var open = new Dictionary<(long, long), Stack<(string Name, double Ts)>>();
        var slices = new Dictionary<(long, long), List<(double Start, double End)>>();
        var flows = new Dictionary<long, List<(string Ph, double Ts, (long, long) Track)>>();
        foreach (var e in events)
        {
            string ph = Str(e, "ph") ?? throw new Xunit.Sdk.XunitException($"record without ph: {e}");
            long pid = e.GetProperty("pid").GetInt64();
            long tid = e.GetProperty("tid").GetInt64();
            var track = (pid, tid);
            if (ph == "M")
            {
                if (Str(e, "name") == "process_name") { processNames.Add(pid); }
                if (Str(e, "name") == "thread_name") { threadNames.Add(track); }
                continue;
            }
            used.Add(track);
            double ts = e.GetProperty("ts").GetDouble();
            switch (ph)
            {
                case "B":
                    if (!open.TryGetValue(track, out var s)) { open[track] = s = new(); }
                    Assert.True(s.Count == 0 || s.Peek().Ts <= ts, $"B before its parent began: {e}");
                    s.Push((Str(e, "name")!, ts));
                    break;
                case "E":
                    Assert.True(open.TryGetValue(track, out var st) && st.Count > 0, $"E without an open B on its track: {e}");
                    var top = st!.Pop();
                    Assert.True(top.Name == Str(e, "name"), $"E closes '{Str(e, "name")}' but the innermost open slice is '{top.Name}': {e}");
                    Assert.True(ts >= top.Ts, $"E before its B: {e}");
                    break;
                case "X":
                    double dur = e.GetProperty("dur").GetDouble();
                    Assert.True(dur >= 0, $"X with negative dur: {e}");
                    if (!slices.TryGetValue(track, out var list)) { slices[track] = list = []; }
                    list.Add((ts, ts + dur));
                    break;
                case "i":
                    Assert.Contains(Str(e, "s"), new[] { "t", "p", "g" });
                    break;
                case "s" or "t" or "f":
                    long id = e.GetProperty("id").GetInt64();
                    if (!flows.TryGetValue(id, out var steps)) { flows[id] = steps = []; }
                    steps.Add((ph, ts, track));
                    break;
                default:
                    throw new Xunit.Sdk.XunitException($"unexpected ph '{ph}': {e}");
            }
        }
        Assert.All(open, p => Assert.True(p.Value.Count == 0, $"{p.Value.Count} slices left open on {p.Key}"));
        foreach (var (track, list) in slices)
        {
            var sorted = list.OrderBy(x => x.Start).ThenByDescending(x => x.End).ToList();
            var stack = new Stack<double>();
            foreach (var (start, end) in sorted)
            {
                while (stack.Count > 0 && stack.Peek() < start) { stack.Pop(); }
                Assert.True(stack.Count == 0 || end <= stack.Peek(), $"X slices overlap without nesting on {track} at {start}");
                stack.Push(end);
            }
        }
        foreach (var (id, steps) in flows)
        {
            Assert.Equal(1, steps.Count(x => x.Ph == "s"));
            Assert.Equal(1, steps.Count(x => x.Ph == "f"));
            Assert.Equal("s", steps[0].Ph);
            Assert.Equal("f", steps[^1].Ph);
            for (int i = 1; i < steps.Count; i++)
            {
                Assert.True(steps[i].Ts >= steps[i - 1].Ts, $"flow {id} goes back in time");
            }
            Assert.All(steps, step => Assert.True(
                slices.TryGetValue(step.Track, out var l) && l.Any(x => x.Start <= step.Ts && step.Ts <= x.End),
                $"flow {id} step at {step.Ts} on {step.Track} has no slice to bind to"));
        }
        Assert.All(used, t => Assert.True(processNames.Contains(t.Item1), $"pid {t.Item1} has no process_name"));
        Assert.All(used, t => Assert.True(threadNames.Contains(t), $"track {t} has no thread_name"));
    }
}
