using System.Globalization;
using System.Text.RegularExpressions;
using Pipeline.Replay.Real;
using Pipeline.Storage;
using static Pipeline.Replay.Tests.Real.TestEvents;

namespace Pipeline.Replay.Tests.Real;

/// <summary>
/// The tracker on the mmwork run of <c>shared/corpus/recorded/ftrace-text/mm_trace.txt</c> (<c>mmwork 64 2</c>:
/// mmap 64 pages, mremap to 128 pages with MREMAP_MAYMOVE, mremap back to 64 in place, munmap). The text reader
/// belongs to another project, so the few line shapes needed here are turned into EventRows by a regex.
/// </summary>
public sealed partial class AddressSpaceTrackerTests
{
    private const int MmworkPid = 25561;
    private const ulong MmapResult = 0x7fa026fa9000;
    private const ulong MovedTo = 0x7fa026f29000;

    [GeneratedRegex(@"^\s*(?<comm>.+?)-(?<pid>\d+)\s+\[(?<cpu>\d+)\]\s+\S+\s+(?<sec>\d+)\.(?<usec>\d{6}):\s+(?<rest>.*)$")]
    private static partial Regex LineRegex();

    [GeneratedRegex(@"^(?<k>\w+): (?<v>\S+)$")]
    private static partial Regex ArgRegex();

    /// <summary>The mmwork thread's sys_mremap, page_fault_user and mmap_lock lines as EventRows (seq = line - 1).</summary>
    private static List<EventRow> CorpusRows()
    {
        var rows = new List<EventRow>();
        long lineNo = 0;
        foreach (string line in File.ReadLines(CorpusFile("recorded/ftrace-text/mm_trace.txt")))
        {
            lineNo++;
            var m = LineRegex().Match(line);
            if (!m.Success || int.Parse(m.Groups["pid"].Value, CultureInfo.InvariantCulture) != MmworkPid)
            {
                continue;
            }
            long ts = (long.Parse(m.Groups["sec"].Value, CultureInfo.InvariantCulture) * 1_000_000_000)
                + (long.Parse(m.Groups["usec"].Value, CultureInfo.InvariantCulture) * 1000);
            string rest = m.Groups["rest"].Value;
            EventRow? row = null;
            if (rest.StartsWith("sys_mremap(", StringComparison.Ordinal))
            {
                var fields = rest["sys_mremap(".Length..^1].Split(", ")
                    .Select(a => ArgRegex().Match(a))
                    .Select(a => (a.Groups["k"].Value, L(Num(a.Groups["v"].Value))))
                    .ToArray();
                row = Row("syscalls:sys_enter_mremap", lineNo - 1, ts, MmworkPid, fields);
            }
            else if (rest.StartsWith("sys_mremap -> ", StringComparison.Ordinal))
            {
                row = Row("syscalls:sys_exit_mremap", lineNo - 1, ts, MmworkPid, ("ret", L(Num(rest["sys_mremap -> ".Length..]))));
            }
            else if (rest.StartsWith("page_fault_user: ", StringComparison.Ordinal))
            {
                var kv = rest["page_fault_user: ".Length..].Split(' ').Select(p => p.Split('=')).ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);
                row = Row("exceptions:page_fault_user", lineNo - 1, ts, MmworkPid,
                    ("address", L(Num(kv["address"]))), ("error_code", L(Num(kv["error_code"]))));
            }
            else if (rest.StartsWith("mmap_lock_", StringComparison.Ordinal))
            {
                string name = rest[..rest.IndexOf(':', StringComparison.Ordinal)];
                string mm = rest[(rest.IndexOf("mm=", StringComparison.Ordinal) + 3)..].Split(' ')[0];
                row = Row("mmap_lock:" + name, lineNo - 1, ts, MmworkPid, ("mm", L(ulong.Parse(mm, NumberStyles.HexNumber, CultureInfo.InvariantCulture))));
            }
            if (row is not null)
            {
                rows.Add(row);
            }
        }
        return rows;
    }

    private static ulong Num(string text) => text.StartsWith("0x", StringComparison.Ordinal)
        ? ulong.Parse(text.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture)
        : ulong.Parse(text, CultureInfo.InvariantCulture);

    /// <summary>The corpus rows plus the mmap and munmap mmwork.c makes (syscalls other than mremap were not traced).</summary>
    private static List<EventRow> WithMmapAndMunmap(List<EventRow> corpus)
    {
        var first = corpus[0];
        var lastExit = corpus.Last(r => r.Event == "syscalls:sys_exit_mremap");
        var rows = new List<EventRow>
        {
            Row("syscalls:sys_enter_mmap", -2, first.TsNs - 2000, MmworkPid,
                ("addr", 0), ("len", 64 * 4096), ("prot", 3), ("flags", 0x22), ("fd", -1), ("off", 0)),
            Row("syscalls:sys_exit_mmap", -1, first.TsNs - 1000, MmworkPid, ("ret", L(MmapResult))),
        };
        rows.AddRange(corpus);
        rows.Add(Row("syscalls:sys_enter_munmap", lastExit.Seq + 1, lastExit.TsNs + 1000, MmworkPid, ("addr", L(MovedTo)), ("len", 64 * 4096)));
        rows.Add(Row("syscalls:sys_exit_munmap", lastExit.Seq + 2, lastExit.TsNs + 2000, MmworkPid, ("ret", 0)));
        return rows;
    }

    [SkippableFact]
    public void Analyze_MmworkWithMmap_256KiBMoveIsPteOnlyAndShrinkIsInPlace()
    {
        var (calls, extents) = MremapAnalyzer.Analyze(WithMmapAndMunmap(CorpusRows()), PredictionProfile.Linux618, seed: null);

        Assert.Equal(2, calls.Count);
        var grow = calls[0];
        Assert.Equal(593, grow.Seq);
        Assert.Equal(MmapResult, grow.OldAddr);
        Assert.Equal(0x40000UL, grow.OldLen);
        Assert.Equal(0x80000UL, grow.NewLen);
        Assert.Equal(MovedTo, grow.ResultAddr);
        Assert.Equal(60_000, grow.DurationNs);
        // 64 pages = 256 KiB inside one 2 MiB region, offsets 0x1a9000 vs 0x129000: one move_ptes() extent.
        Assert.Equal(0, grow.PmdMoves);
        Assert.Equal(1, grow.PteExtents);
        Assert.Equal(0x40000UL, grow.MovedBytes);
        Assert.Equal("none", grow.Alignment);
        Assert.False(grow.Realigned);
        Assert.False(grow.NeedRmapLocks);
        var only = Assert.Single(extents);
        Assert.Equal((grow.Seq, 0, MmapResult, MovedTo, 0x40000UL, MovePaths.Pte, "not mutually aligned"),
            (only.Seq, only.ExtentIndex, only.OldStart, only.NewStart, only.Length, only.Path, only.Reason));
        // The process was running before the trace: whether a VMA ends right below the destination is unknown,
        // which only leaves need_rmap_locks open.
        Assert.True(grow.Undecided);
        Assert.Contains("copy_vma merge", grow.UndecidedReason!, StringComparison.Ordinal);

        var shrink = calls[1];
        Assert.Equal(MovedTo, shrink.ResultAddr);
        Assert.Equal(0, shrink.PteExtents + shrink.PmdMoves);
        Assert.False(shrink.Undecided);
    }

    [SkippableFact]
    public void Process_MmworkWithMmap_StateFollowsEachCall()
    {
        var tracker = new AddressSpaceTracker(PredictionProfile.Linux618);
        var rows = WithMmapAndMunmap(CorpusRows());
        int firstShrink = rows.FindIndex(r => r.Event == "syscalls:sys_enter_mremap" && r.FindField("flags") == "0");

        foreach (var row in rows.Take(firstShrink))
        {
            tracker.Process(row);
        }
        var space = tracker.SpaceOf(MmworkPid)!;
        var moved = space.FindVma(MovedTo)!;
        Assert.Equal(MovedTo + 0x80000, moved.End);
        Assert.Null(space.FindVma(MmapResult + 0x40000));
        Assert.Equal(MmapResult >> 12, moved.PgoffPages);
        Assert.Equal(PmdState.Table, space.GetPmd(MovedTo).State);

        foreach (var row in rows.Skip(firstShrink))
        {
            tracker.Process(row);
        }
        tracker.Finish();
        space = tracker.SpaceOf(MmworkPid)!;
        Assert.Null(space.FindVma(MovedTo));
        // mmap, two mremaps, munmap.
        Assert.Equal(4, tracker.Statistics.SyscallsApplied);
        Assert.Equal(0, tracker.Statistics.UnpairedExits);
        Assert.Equal(0, tracker.Statistics.FaultsOutsideVmas);
    }

    [SkippableFact]
    public void Analyze_MmworkCorpusLinesOnly_PathDecidedRmapLocksUndecided()
    {
        var (calls, extents) = MremapAnalyzer.Analyze(CorpusRows(), PredictionProfile.Linux618, seed: null);

        Assert.Equal(2, calls.Count);
        Assert.Equal(MovePaths.Pte, Assert.Single(extents).Path);
        Assert.True(calls[0].Undecided);
    }

    [SkippableFact]
    public void Analyze_MmworkWithSeed_FullyDecided()
    {
        // A snapshot as `cat /proc/25561/maps` would have given before tracing (abridged), with the mmwork area free.
        const string Maps = """
            55a45ed4f000-55a45ed50000 r--p 00000000 08:01 1311 /root/mmwork
            55a45ed50000-55a45ed51000 r-xp 00001000 08:01 1311 /root/mmwork
            55a46f1d2000-55a46f1f3000 rw-p 00000000 00:00 0 [heap]
            7fa026600000-7fa026e00000 rw-p 00000000 00:00 0
            7fa027800000-7fa0279d6000 r-xp 00028000 08:01 2101 /usr/lib/x86_64-linux-gnu/libc.so.6
            7ffd2b5e1000-7ffd2b602000 rw-p 00000000 00:00 0 [stack]
            """;
        var seed = MapsSnapshot.Parse(new StringReader(Maps), MmworkPid);

        var (calls, _) = MremapAnalyzer.Analyze(WithMmapAndMunmap(CorpusRows()), PredictionProfile.Linux618, seed);

        Assert.All(calls, c => Assert.False(c.Undecided, c.UndecidedReason));
        Assert.Equal(1, calls[0].PteExtents);
    }

    [SkippableFact]
    public void Process_FailedMremap_ChangesNothing()
    {
        var tracker = new AddressSpaceTracker(PredictionProfile.Linux618);
        var calls = new List<MremapCall>();
        tracker.MremapCompleted = (c, _) => calls.Add(c);
        tracker.Process(Row("syscalls:sys_enter_mmap", 0, 0, 7, ("addr", 0), ("len", L(4 * Mb)), ("prot", 3), ("flags", 0x22), ("fd", -1), ("off", 0)));
        tracker.Process(Row("syscalls:sys_exit_mmap", 1, 10, 7, ("ret", L(B))));
        tracker.Process(Row("syscalls:sys_enter_mremap", 2, 20, 7, ("addr", L(B)), ("old_len", L(4 * Mb)), ("new_len", L(8 * Mb)), ("flags", 0), ("new_addr", 0)));
        tracker.Process(Row("syscalls:sys_exit_mremap", 3, 25, 7, ("ret", -12)));

        var c = Assert.Single(calls);
        Assert.Equal(-12, c.Ret);
        Assert.Null(c.ResultAddr);
        Assert.Equal(0, c.PteExtents + c.PmdMoves);
        Assert.Equal(B + (4 * Mb), tracker.SpaceOf(7)!.FindVma(B)!.End);
        Assert.Equal(1, tracker.Statistics.FailedSyscalls);
    }

    // Threads of one process share an mm: without tgid, the mm pointer of mmap_lock events taken inside a syscall
    // merges the second thread into the first one's address space.
    [SkippableFact]
    public void Process_SecondThreadSameMm_SharesAddressSpace()
    {
        var tracker = new AddressSpaceTracker(PredictionProfile.Linux618);
        const long Mm = 0x36eb11cf;
        tracker.Process(Row("syscalls:sys_enter_mmap", 0, 0, 100, ("addr", 0), ("len", L(2 * Mb)), ("prot", 3), ("flags", 0x22), ("fd", -1), ("off", 0)));
        tracker.Process(Row("mmap_lock:mmap_lock_acquire_returned", 1, 1, 100, ("mm", Mm)));
        tracker.Process(Row("syscalls:sys_exit_mmap", 2, 2, 100, ("ret", L(B))));
        tracker.Process(Row("syscalls:sys_enter_munmap", 3, 3, 101, ("addr", L(B)), ("len", L(Mb))));
        tracker.Process(Row("mmap_lock:mmap_lock_acquire_returned", 4, 4, 101, ("mm", Mm)));
        tracker.Process(Row("syscalls:sys_exit_munmap", 5, 5, 101, ("ret", 0)));

        Assert.Same(tracker.SpaceOf(100), tracker.SpaceOf(101));
        Assert.Equal(B + Mb, tracker.SpaceOf(100)!.FindVma(B + Mb)!.Start);
        Assert.Null(tracker.SpaceOf(100)!.FindVma(B));
        Assert.Equal(1, tracker.Statistics.MmAliases);
    }

    // MADV_HUGEPAGE + a first fault followed by an order-9 allocation → the PMD maps a THP; a later 2 MiB move is
    // HPAGE_PMD. MADV_COLLAPSE (25) success makes every aligned 2 MiB region in range PMD-mapped.
    [SkippableFact]
    public void Process_ThpFaultAndCollapse_TrackedAsHuge()
    {
        var tracker = new AddressSpaceTracker(PredictionProfile.Linux618);
        var calls = new List<(MremapCall Call, IReadOnlyList<MremapExtent> Extents)>();
        tracker.MremapCompleted = (c, e) => calls.Add((c, e));
        long seq = 0;
        void Ev(string name, params (string, long)[] f) => tracker.Process(Row(name, seq++, seq * 100, 9, f));
        Ev("syscalls:sys_enter_mmap", ("addr", 0), ("len", L(4 * Mb)), ("prot", 3), ("flags", 0x22), ("fd", -1), ("off", 0));
        Ev("syscalls:sys_exit_mmap", ("ret", L(B)));
        Ev("syscalls:sys_enter_madvise", ("start", L(B)), ("len", L(4 * Mb)), ("behavior", 14));
        Ev("syscalls:sys_exit_madvise", ("ret", 0));
        Ev("exceptions:page_fault_user", ("address", L(B + 0x10)), ("error_code", 6));
        Ev("kmem:mm_page_alloc", ("pfn", 0x1000), ("order", 9));
        Ev("exceptions:page_fault_user", ("address", L(B + (2 * Mb))), ("error_code", 6));
        Assert.Equal(PmdState.Huge, tracker.SpaceOf(9)!.GetPmd(B).State);
        Assert.Equal(PmdState.Unknown, tracker.SpaceOf(9)!.GetPmd(B + (2 * Mb)).State);
        Ev("syscalls:sys_enter_madvise", ("start", L(B)), ("len", L(4 * Mb)), ("behavior", 25));
        Ev("syscalls:sys_exit_madvise", ("ret", 0));
        Ev("syscalls:sys_enter_mremap", ("addr", L(B)), ("old_len", L(4 * Mb)), ("new_len", L(4 * Mb)), ("flags", 3), ("new_addr", L(B + Gb)));
        Ev("syscalls:sys_exit_mremap", ("ret", L(B + Gb)));

        var (call, extents) = Assert.Single(calls);
        Assert.Equal(2, call.HugeMoves);
        Assert.All(extents, e => Assert.Equal(MovePaths.HpagePmd, e.Path));
        // Only the destination's neighbours (mapped before the trace) are unknown; the paths are decided.
        Assert.Equal("copy_vma merge with a destination neighbour of unknown attributes", call.UndecidedReason);
    }

    // raceactors' R1 phase (tests/workloads/raceactors.c): a 4 MiB shared file mapping from file offset 0 moves back
    // and forth between two 2 MiB-aligned places. The place below is the lowest mapping the trace made, so what lies
    // under it predates the trace. copy_vma could only merge the moved VMA into a prev whose page offsets end at 0,
    // which no VMA's do, and the places' other sides are holes the trace unmapped: need_rmap_locks is false, decided.
    // Before, every move down was undecided ("copy_vma merge with a destination neighbour of unknown attributes"),
    // 1,568 of 3,135 mremaps of a recording, which kept R1's coverage partial under the profiles without the fix.
    [SkippableFact]
    public void Process_WholeFileMappingMovedAboveUnknownMemory_DecidesThatCopyVmaDoesNotMerge()
    {
        var tracker = new AddressSpaceTracker(PredictionProfile.Linux618);
        var calls = new List<MremapCall>();
        tracker.MremapCompleted = (c, _) => calls.Add(c);
        long seq = 0;
        void Ev(string name, params (string, long)[] f) => tracker.Process(Row(name, seq++, seq * 100, 9, f));
        ulong a = B + (6 * Mb), b = B;
        // aligned_map twice (6 MiB, the tail past 4 MiB unmapped), the second place unmapped, the file mapped over the first.
        Ev("syscalls:sys_enter_mmap", ("addr", 0), ("len", L(6 * Mb)), ("prot", 3), ("flags", 0x22), ("fd", -1), ("off", 0));
        Ev("syscalls:sys_exit_mmap", ("ret", L(a)));
        Ev("syscalls:sys_enter_munmap", ("addr", L(a + (4 * Mb))), ("len", L(2 * Mb)));
        Ev("syscalls:sys_exit_munmap", ("ret", 0));
        Ev("syscalls:sys_enter_mmap", ("addr", 0), ("len", L(6 * Mb)), ("prot", 3), ("flags", 0x22), ("fd", -1), ("off", 0));
        Ev("syscalls:sys_exit_mmap", ("ret", L(b)));
        Ev("syscalls:sys_enter_munmap", ("addr", L(b + (4 * Mb))), ("len", L(2 * Mb)));
        Ev("syscalls:sys_exit_munmap", ("ret", 0));
        Ev("syscalls:sys_enter_munmap", ("addr", L(b)), ("len", L(4 * Mb)));
        Ev("syscalls:sys_exit_munmap", ("ret", 0));
        Ev("syscalls:sys_enter_mmap", ("addr", L(a)), ("len", L(4 * Mb)), ("prot", 3), ("flags", 0x11), ("fd", 6), ("off", 0));
        Ev("syscalls:sys_exit_mmap", ("ret", L(a)));
        for (ulong off = 0; off < 4 * Mb; off += 0x1000)
        {
            Ev("exceptions:page_fault_user", ("address", L(a + off)), ("error_code", 6));
        }
        foreach (var (from, to) in new[] { (a, b), (b, a), (a, b) })
        {
            Ev("syscalls:sys_enter_mremap", ("addr", L(from)), ("old_len", L(4 * Mb)), ("new_len", L(4 * Mb)), ("flags", 3), ("new_addr", L(to)));
            Ev("syscalls:sys_exit_mremap", ("ret", L(to)));
        }

        Assert.Equal(3, calls.Count);
        Assert.All(calls, c =>
        {
            Assert.False(c.Undecided, c.UndecidedReason);
            Assert.False(c.NeedRmapLocks);
            Assert.Equal(2, c.PmdMoves);
        });
        // What made the moves down hard: the memory right under the lower place is not known to the tracker.
        Assert.True(tracker.SpaceOf(9)!.UnknownIntersects(b - 1, b));
    }

    [SkippableFact]
    public void Finish_MremapWithoutExit_ReportedUndecided()
    {
        var tracker = new AddressSpaceTracker(PredictionProfile.Linux618);
        var calls = new List<MremapCall>();
        tracker.MremapCompleted = (c, _) => calls.Add(c);
        tracker.Process(Row("syscalls:sys_enter_mremap", 5, 50, 3, ("addr", L(B)), ("old_len", L(Mb)), ("new_len", L(2 * Mb)), ("flags", 1), ("new_addr", 0)));
        tracker.Finish();

        var c = Assert.Single(calls);
        Assert.Null(c.Ret);
        Assert.Null(c.DurationNs);
        Assert.True(c.Undecided);
        Assert.Equal(1, tracker.Statistics.UnfinishedCalls);
    }

    // exec gives the process a new mm whose layout the trace does not show; fork copies the parent's layout.
    [SkippableFact]
    public void Process_ForkThenExec_ChildCopiesThenForgets()
    {
        var tracker = new AddressSpaceTracker(PredictionProfile.Linux618);
        tracker.Process(Row("syscalls:sys_enter_mmap", 0, 0, 20, ("addr", 0), ("len", L(2 * Mb)), ("prot", 3), ("flags", 0x22), ("fd", -1), ("off", 0)));
        tracker.Process(Row("syscalls:sys_exit_mmap", 1, 1, 20, ("ret", L(B))));
        tracker.Process(Row("exceptions:page_fault_user", 2, 2, 20, ("address", L(B)), ("error_code", 6)));
        tracker.Process(Row("sched:sched_process_fork", 3, 3, 20, ("parent_pid", 20), ("child_pid", 21)));

        var child = tracker.SpaceOf(21)!;
        Assert.NotSame(tracker.SpaceOf(20), child);
        Assert.Equal(B, child.FindVma(B)!.Start);
        Assert.NotEqual(tracker.SpaceOf(20)!.FindVma(B)!.AnonVma, child.FindVma(B)!.AnonVma);
        Assert.Equal(PmdState.Table, child.GetPmd(B).State);

        tracker.Process(Row("sched:sched_process_exec", 4, 4, 21, ("old_pid", 21)));

        Assert.Null(tracker.SpaceOf(21)!.FindVma(B));
        Assert.True(tracker.SpaceOf(21)!.UnknownIntersects(B, B + 1));
        Assert.NotNull(tracker.SpaceOf(20)!.FindVma(B));
    }
}
