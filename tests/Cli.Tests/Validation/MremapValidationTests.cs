using System.Globalization;
using Pipeline.Ingest.Tests.Live;
using Xunit.Abstractions;

namespace Pipeline.Cli.Tests.Validation;

/// <summary>
/// The mremap PMD-move prediction (docs/mremap-prediction.md) against this machine's kernel: the workload
/// <c>tests/workloads/mremap_align.c</c> moves fully populated, THP-free anonymous ranges with controlled
/// alignment and prints, per call, how many full 2 MiB extents the rules of docs/mremap-prediction.md say move as NORMAL_PMD. The
/// recording under <c>mmtrace record</c> is replayed with <c>mmtrace replay</c>, and three things are checked:
/// the prediction equals the workload's count; the kernel's own page-table allocations inside each call show
/// the same count; and the measured latency per MiB separates PMD moves from PTE moves. See docs/validation.md.
/// </summary>
[Collection(LiveTraceFsCollection.Name)]
public sealed class MremapValidationTests : IClassFixture<AlignmentRecordingFixture>
{
    private const ulong Mib = 1024 * 1024;

    private readonly AlignmentRecordingFixture _fixture;
    private readonly ITestOutputHelper _output;

    public MremapValidationTests(AlignmentRecordingFixture fixture, ITestOutputHelper output)
    {
        _fixture = fixture;
        _output = output;
    }

    [LiveFact(NeedsCompiler = true)]
    public void Replay_AlignmentWorkload_PredictsTheWorkloadsPmdMovesForEveryCall()
    {
        var recording = _fixture.Recording;
        Assert.True(recording.Replay.ExitCode == 0, recording.Replay.ToString());
        Assert.True(recording.LostEvents == 0, $"{recording.LostEvents} events lost: faults may be missing, the comparison would be meaningless.");
        var rows = recording.Query(string.Create(CultureInfo.InvariantCulture, $"""
            SELECT old_addr, new_addr, old_len, pmd_moves, pte_extents, realigned, undecided, alignment, ret
            FROM mremaps WHERE pid = {recording.Pid} ORDER BY seq
            """)).Skip(1).ToList();

        Assert.Equal(AlignmentRecording.Rounds * 30, recording.Calls.Count);
        Assert.Equal(recording.Calls.Count, rows.Count);
        var mismatches = new List<string>();
        foreach (var (call, row) in recording.Calls.Zip(rows))
        {
            Assert.Equal(call.OldAddr, ulong.Parse(row[0], CultureInfo.InvariantCulture));
            Assert.Equal(call.NewAddr, ulong.Parse(row[1], CultureInfo.InvariantCulture));
            Assert.Equal(call.Length, ulong.Parse(row[2], CultureInfo.InvariantCulture));
            Assert.Equal((long)call.NewAddr, long.Parse(row[8], CultureInfo.InvariantCulture));
            int predicted = int.Parse(row[3], CultureInfo.InvariantCulture);
            bool realigned = row[5] == "true";
            if (predicted != call.ExpectPmd || realigned != call.Realign || row[6] != "false" || row[7] != ExpectedAlignment(call))
            {
                mismatches.Add($"call {call.Index} ({call.Class}, len {call.Length}): workload expects {call.ExpectPmd} PMD moves, realign {call.Realign}; "
                    + $"predicted {predicted} PMD / {row[4]} PTE extents, realigned {realigned}, undecided {row[6]}, alignment {row[7]}");
            }
        }
        Assert.True(mismatches.Count == 0, string.Join('\n', mismatches));
        _output.WriteLine($"{rows.Count} calls, {recording.Calls.Sum(c => c.ExpectPmd)} PMD moves predicted and expected, all decided");
    }

    [LiveFact(NeedsCompiler = true)]
    public void Record_AlignmentWorkload_KernelPageTableAllocationsShowTheSamePmdMoves()
    {
        // The kernel's own witness, independent of the model: move_ptes() needs a destination PTE table, which
        // pte_alloc() takes from the page allocator (GFP_PGTABLE_USER: GFP_KERNEL_ACCOUNT|__GFP_ZERO, order 0)
        // inside the syscall, while move_normal_pmd() reuses the source's table. Every destination 2 MiB region
        // is empty before the call and the PMD table above it exists (the layout guarantees both), so
        // PMD-moved regions = destination regions - page-table pages allocated during the call.
        var recording = _fixture.Recording;
        Assert.True(recording.LostEvents == 0, $"{recording.LostEvents} events lost.");
        var rows = recording.Query(string.Create(CultureInfo.InvariantCulture, $"""
            WITH calls AS (
                SELECT seq, pid, ts_ns, ts_ns + duration_ns AS end_ns,
                       (new_addr + old_len - 1) // 2097152 - new_addr // 2097152 + 1 AS regions
                FROM mremaps WHERE pid = {recording.Pid})
            SELECT c.regions - count(e.seq) AS kernel_pmd_moves, count(e.seq) AS page_tables
            FROM calls c LEFT JOIN events e
              ON e.pid = c.pid AND e.event = 'kmem:mm_page_alloc' AND e.page_order = 0
             AND e.gfp_flags LIKE 'GFP_KERNEL_ACCOUNT|__GFP_ZERO%' AND e.ts_ns BETWEEN c.ts_ns AND c.end_ns
            GROUP BY c.seq, c.regions ORDER BY c.seq
            """)).Skip(1).ToList();

        Assert.Equal(recording.Calls.Count, rows.Count);
        var mismatches = recording.Calls.Zip(rows)
            .Where(p => int.Parse(p.Second[0], CultureInfo.InvariantCulture) != p.First.ExpectPmd)
            .Select(p => $"call {p.First.Index} ({p.First.Class}, len {p.First.Length}): workload expects {p.First.ExpectPmd}, kernel allocated {p.Second[1]} page tables → {p.Second[0]} PMD moves")
            .ToList();
        Assert.True(mismatches.Count == 0, string.Join('\n', mismatches));
    }

    [LiveFact(NeedsCompiler = true)]
    public void Record_AlignmentWorkload_EveryLargeCallOfBothPathsHasItsDuration()
    {
        // Only calls of 8 MiB and more: PMD-moved are the aligned 16 MiB calls (8 NORMAL_PMD, nothing else), PTE-moved
        // the unaligned 8 MiB + 64 KiB and 16 MiB calls. What a user compares is their cost per MiB, so each must have
        // its duration (exit minus entry). How the two compare is the kernel's timing on this machine at this moment
        // (a preempted call on a busy machine takes milliseconds), so the medians are written out, never asserted.
        var recording = _fixture.Recording;
        var rows = recording.Query(string.Create(CultureInfo.InvariantCulture, $"""
            SELECT CASE WHEN pte_extents = 0 THEN 'pmd' ELSE 'pte' END AS path,
                   count(*), count(duration_ns) FILTER (WHERE duration_ns > 0),
                   median(duration_ns * 1048576.0 / old_len), min(duration_ns * 1048576.0 / old_len),
                   max(duration_ns * 1048576.0 / old_len)
            FROM mremaps
            WHERE pid = {recording.Pid} AND old_len >= {8 * Mib}
              AND ((pmd_moves > 0 AND pte_extents = 0) OR (pmd_moves = 0 AND pte_extents > 0))
            GROUP BY ALL ORDER BY path
            """)).Skip(1).ToDictionary(r => r[0], r => r[1..].Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray(), StringComparer.Ordinal);

        Assert.True(rows.ContainsKey("pmd") && rows.ContainsKey("pte"), "both paths must have calls of 8 MiB or more");
        foreach (var (path, r) in rows)
        {
            Assert.True(r[0] == r[1], string.Create(CultureInfo.InvariantCulture,
                $"{path}-moved calls of 8 MiB or more: {r[0]}, of which {r[1]} have a positive duration_ns"));
        }
        double pmd = rows["pmd"][2], pte = rows["pte"][2];
        _output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"ns/MiB, calls >= 8 MiB: PMD-moved n={rows["pmd"][0]} median {pmd:F0} [{rows["pmd"][3]:F0}..{rows["pmd"][4]:F0}], "
            + $"PTE-moved n={rows["pte"][0]} median {pte:F0} [{rows["pte"][3]:F0}..{rows["pte"][4]:F0}], ratio {pte / pmd:F2}"));
    }

    [LiveFact(NeedsCompiler = true)]
    public void Query_PmdMoveHitRate_AllAlignedNoneUnalignedOnTheWorkload()
    {
        var recording = _fixture.Recording;
        var result = Mmtrace.Run("query", recording.Dataset, "--name", "pmd_move_hit_rate", "--param",
            string.Create(CultureInfo.InvariantCulture, $"pid={recording.Pid}"), "--format", "csv");
        Assert.True(result.ExitCode == 0, result.ToString());
        var rows = result.Stdout.Replace("\r", "", StringComparison.Ordinal).Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(l => l.Split(',')).ToDictionary(r => $"{r[3]} {r[4]}", r => r, StringComparer.Ordinal);

        int rounds = AlignmentRecording.Rounds;
        // aligned: every call of 2 MiB or more moves whole PMDs; none: never; mutual 2-4M (the four mutual classes'
        // 2 MiB calls): only the realigned one.
        string n = rounds.ToString(CultureInfo.InvariantCulture);
        Assert.Equal([n, n, "100"], new[] { rows["aligned >=16M"][5], rows["aligned >=16M"][6], rows["aligned >=16M"][13] });
        Assert.Equal([n, n, "100"], new[] { rows["aligned 2-4M"][5], rows["aligned 2-4M"][6], rows["aligned 2-4M"][13] });
        Assert.Equal("0", rows["none 4-16M"][6]);
        Assert.Equal("0", rows["none >=16M"][6]);
        Assert.Equal((4 * rounds).ToString(CultureInfo.InvariantCulture), rows["mutual 2-4M"][5]);
        Assert.Equal(n, rows["mutual 2-4M"][6]);
        Assert.All(rows.Values, r => Assert.Equal(["latest", "x86", "0"], new[] { r[1], r[2], r[11] }));

        var latency = Mmtrace.Run("query", recording.Dataset, "--name", "mremap_latency", "--param",
            string.Create(CultureInfo.InvariantCulture, $"pid={recording.Pid}"), "--format", "csv");
        Assert.True(latency.ExitCode == 0, latency.ToString());
        Assert.Contains($"ds,latest,x86,pmd,>=16M,{rounds},", latency.Stdout, StringComparison.Ordinal);
        Assert.Contains($"ds,latest,x86,pte,>=16M,{rounds},", latency.Stdout, StringComparison.Ordinal);
        _output.WriteLine(result.Stdout);
        _output.WriteLine(latency.Stdout);
    }

    private static string ExpectedAlignment(WorkloadCall call) => call.Class switch
    {
        "aligned" => "aligned",
        "none" => "none",
        _ => "mutual",
    };
}
