using System.Text.Json;

namespace Pipeline.Cli.Tests;

public class ExploreCommandTests
{
    [SkippableFact]
    public void Explore_BenignScenarioUnderBuggyKernel_FindsTheRaceAndTheEmittedScheduleReplaysToIt()
    {
        using var dir = new TempDir();
        Assert.Equal(0, Mmtrace.Run("synth", "r1-pmd", "--benign", "-o", dir["benign.txt"]).ExitCode);
        Assert.Equal(0, Mmtrace.Run("ingest", dir["benign.txt"], "-o", dir["benign"]).ExitCode);
        // As written, the schedule is benign.
        Assert.Equal(0, Mmtrace.Run("replay", dir["benign"], "--profile", "v5.13").ExitCode);

        var explore = Mmtrace.Run("explore", dir["benign"], "--profile", "v5.13", "--emit-schedule", dir["witness.txt"]);

        Assert.True(explore.ExitCode == 1, explore.ToString());
        Assert.Contains("1 violation", explore.Stdout, StringComparison.Ordinal);
        Assert.Contains("I1 R1 (race, critical)", explore.Stdout, StringComparison.Ordinal);
        Assert.Contains("witness schedule: 2 preemptions", explore.Stdout, StringComparison.Ordinal);
        Assert.Equal(0, Mmtrace.Run("ingest", dir["witness.txt"], "-o", dir["witness"]).ExitCode);
        var replay = Mmtrace.Run("replay", dir["witness"], "--profile", "v5.13");
        Assert.True(replay.ExitCode == 1, replay.ToString());
        Assert.Contains("I1 R1 (race, critical)", replay.Stdout, StringComparison.Ordinal);

        var query = Mmtrace.Run("query", dir["benign"], "--sql",
            "SELECT checker, race, preemptions, strategy, bound, exhaustive FROM explorations", "--format", "csv");
        Assert.True(query.ExitCode == 0, query.ToString());
        Assert.Contains("I1,R1,2,dpor,2,true", query.Stdout, StringComparison.Ordinal);
    }

    /// <summary>
    /// An --emit-schedule path that cannot be written (a directory, or in one that does not exist) is refused before the
    /// search, naming the path: before, the search ran to its end and then failed on the temporary file beside the path
    /// ("Could not find a part of the path '/nonexistent/.x.txt.tmp-hgnafu2z.ftr'"), explorations.parquet rewritten.
    /// </summary>
    [SkippableFact]
    public void Explore_EmitScheduleToAPathThatCannotBeWritten_RefusedBeforeTheSearchNamingIt()
    {
        using var dir = new TempDir();
        Assert.Equal(0, Mmtrace.Run("synth", "r1-pmd", "--benign", "-o", dir["benign.txt"]).ExitCode);
        Assert.Equal(0, Mmtrace.Run("ingest", dir["benign.txt"], "-o", dir["benign"]).ExitCode);

        var missing = Mmtrace.Run("explore", dir["benign"], "--profile", "v5.13", "--emit-schedule", dir["no/such/witness.txt"]);
        var directory = Mmtrace.Run("explore", dir["benign"], "--profile", "v5.13", "--emit-schedule", dir.Path);

        Assert.True(missing.ExitCode == 3, missing.ToString());
        Assert.StartsWith($"mmtrace: {dir["no/such/witness.txt"]}: cannot be written: its directory {dir["no/such"]} does not exist.", missing.Stderr, StringComparison.Ordinal);
        Assert.True(directory.ExitCode == 3, directory.ToString());
        Assert.StartsWith($"mmtrace: {dir.Path}: is a directory; expected a file to write.", directory.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(dir["benign"], "explorations.parquet")));
    }

    [SkippableFact]
    public void Explore_RandomWorkloadByWindows_FindsARaceWhoseEmittedScheduleReplaysOnlyWhereItIsOpen()
    {
        // A 1,000-op contended workload (seed 7, generated for none): by windows, a THP split's walk meets a zap's open
        // PMD-lock section (I3). The emitted file (the recorded prefix, then the window's witness) replays to it under
        // none and v5.12 and to nothing under v5.13 (TTU_SYNC, 732ed55823fc) and latest. (Seed 9 under v5.13 gave an I2
        // here until 7 December 2026: a GUP-fast section that never read the collapsed table, no race.)
        using var dir = new TempDir();
        var explore = ExploreContendedWorkload(dir, seed: "7", profile: "none", budget: "2000");

        Assert.True(explore.ExitCode == 1, explore.ToString());
        Assert.Contains("I3 R3 (race, error)", explore.Stdout, StringComparison.Ordinal);
        Assert.Contains("window 1 R3 mm1", explore.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("I2 R2", explore.Stdout, StringComparison.Ordinal);
        // The windows summed: each stopped at its budget after covering bound 0 (one window bound 1), so the run as
        // a whole covered bound 0 and says why it stopped.
        Assert.Contains("stopped by --budget after 6,000 schedules: every schedule within 0 preemptions covered", explore.Stdout, StringComparison.Ordinal);
        AssertWitnessReplays(dir, "I3 R3 (race, error)", open: ["none", "v5.12"], closed: ["v5.13", "latest"]);
    }

    [SkippableFact]
    public void Explore_RandomWorkloadByWindows_FindsAnR6ThatV612Closes()
    {
        // Seed 10 generated for v6.6 (retract_page_tables without mmap_lock, no re-check in move_normal_pmd): in the
        // window of the mremap that moves mm1's PMD of 0xae800000, khugepaged's retract of that table may run between
        // the move's lockless classification and its locks. The search meets it in the window's fifth schedule, with
        // no preemption; the emitted file replays to the I6 under v6.6 and v6.11 and to nothing under v6.12, the
        // release of 6fa1066fc5d0 (the re-check under the locks).
        using var dir = new TempDir();
        var explore = ExploreContendedWorkload(dir, seed: "10", profile: "v6.6", budget: "10");

        Assert.True(explore.ExitCode == 1, explore.ToString());
        Assert.Contains("I6 R6 (race, critical)", explore.Stdout, StringComparison.Ordinal);
        Assert.Contains("R1 mm1 seq 622..951: cone 6 tasks, 278 ops; 10 schedules, 1 violation (I6 R6)", explore.Stdout, StringComparison.Ordinal);
        AssertWitnessReplays(dir, "I6 R6 (race, critical)", open: ["v6.6", "v6.11"], closed: ["v6.12", "latest"]);
    }

    /// <summary>
    /// Ingests the emitted <c>witness.txt</c> and replays it: exit 1 with <paramref name="finding"/> under every
    /// profile in <paramref name="open"/>, exit 0 under every one in <paramref name="closed"/>.
    /// </summary>
    private static void AssertWitnessReplays(TempDir dir, string finding, string[] open, string[] closed)
    {
        Assert.Equal(0, Mmtrace.Run("ingest", dir["witness.txt"], "-o", dir["witness"]).ExitCode);
        foreach (var profile in open)
        {
            var buggy = Mmtrace.Run("replay", dir["witness"], "--profile", profile, "--no-explore");
            Assert.True(buggy.ExitCode == 1, buggy.ToString());
            Assert.Contains(finding, buggy.Stdout, StringComparison.Ordinal);
        }
        foreach (var profile in closed)
        {
            var fixedKernel = Mmtrace.Run("replay", dir["witness"], "--profile", profile, "--no-explore");
            Assert.True(fixedKernel.ExitCode == 0, fixedKernel.ToString());
        }
    }

    /// <summary>
    /// A 1,000-op <c>--contend</c> workload generated for <paramref name="profile"/>, ingested into <c>ds</c> and explored
    /// by windows under the same profile; the witness goes to <c>witness.txt</c>.
    /// </summary>
    private static Mmtrace.Result ExploreContendedWorkload(TempDir dir, string seed, string profile, string budget, params string[] more)
    {
        Assert.Equal(0, Mmtrace.Run("synth", "random", "--cpus", "4", "--ops", "1000", "--seed", seed, "--profile", profile, "--contend", "-o", dir["w.txt"]).ExitCode);
        Assert.Equal(0, Mmtrace.Run("ingest", dir["w.txt"], "-o", dir["ds"]).ExitCode);
        return Mmtrace.Run(["explore", dir["ds"], "--profile", profile, "--windows", "--budget", budget, "--emit-schedule", dir["witness.txt"], .. more]);
    }

    [SkippableFact]
    public void Explore_WindowOption_ExploresTheSelectedWindowsOnlyAndNamesOneThatDoesNotExist()
    {
        // Seed 7's workload under none (the test above): window 1 is the zap-vs-split window that reaches I3.
        // Selected alone it is found the same, with the budget spent on it only; the other windows are not explored.
        using var dir = new TempDir();

        var one = ExploreContendedWorkload(dir, seed: "7", profile: "none", budget: "2000", "--window", "1");

        Assert.True(one.ExitCode == 1, one.ToString());
        Assert.Contains("I3 R3 (race, error)", one.Stdout, StringComparison.Ordinal);
        Assert.Matches(@"window 1 R3 mm1 seq \d+\.\.\d+: cone \d+ tasks, [\d,]+ ops", one.Stdout);
        Assert.Matches(@"window 0 .*not explored: --window selects 1", one.Stdout);
        Assert.DoesNotContain("6,000 schedules", one.Stdout, StringComparison.Ordinal);
        AssertWitnessReplays(dir, "I3 R3 (race, error)", open: ["none"], closed: ["latest"]);

        // A window the trace does not have is a usage error that says how many there are.
        var missing = Mmtrace.Run("explore", dir["ds"], "--profile", "none", "--window", "1", "--window", "40");
        Assert.Equal(2, missing.ExitCode);
        Assert.Matches(@"--window 40: there are 3 windows, numbered 0 to 2", missing.Stderr);
    }

    [SkippableFact]
    public void Explore_FixedKernel_SaysNoViolationWithinTheBoundAndExitsZero()
    {
        using var dir = new TempDir();
        Assert.Equal(0, Mmtrace.Run("synth", "r2-anon", "--benign", "-o", dir["t.txt"]).ExitCode);
        Assert.Equal(0, Mmtrace.Run("ingest", dir["t.txt"], "-o", dir["ds"]).ExitCode);

        var explore = Mmtrace.Run("explore", dir["ds"], "--profile", "v6.1", "--bound", "3", "--emit-schedule", dir["w.txt"]);

        Assert.True(explore.ExitCode == 0, explore.ToString());
        Assert.Contains("no violation within 3 preemptions", explore.Stdout, StringComparison.Ordinal);
        Assert.False(File.Exists(dir["w.txt"]));
        var query = Mmtrace.Run("query", dir["ds"], "--sql", "SELECT count(*) AS n, count(checker) AS v, any_value(exhaustive) AS e FROM explorations", "--format", "csv");
        Assert.Contains("1,0,true", query.Stdout, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Explore_JsonAndPct_ListsViolationsWithCheckerRaceCpusAndSchedule()
    {
        using var dir = new TempDir();
        Assert.Equal(0, Mmtrace.Run("synth", "r3-pte", "--benign", "-o", dir["t.txt"]).ExitCode);
        Assert.Equal(0, Mmtrace.Run("ingest", dir["t.txt"], "-o", dir["ds"]).ExitCode);

        var explore = Mmtrace.Run("explore", dir["ds"], "--profile", "v5.12", "--strategy", "pct", "--budget", "300", "--seed", "5", "--format", "json");

        Assert.True(explore.ExitCode == 1, explore.ToString());
        using var doc = JsonDocument.Parse(explore.Stdout);
        var trace = doc.RootElement[0];
        Assert.Equal("pct", trace.GetProperty("strategy").GetString());
        Assert.Equal(300, trace.GetProperty("schedules").GetInt64());
        Assert.True(trace.GetProperty("pct_run_probability").GetDouble() > 0);
        var violation = trace.GetProperty("violations")[0];
        Assert.Equal("I3", violation.GetProperty("checker").GetString());
        Assert.Equal("R3", violation.GetProperty("race").GetString());
        Assert.True(violation.GetProperty("cpus").GetArrayLength() >= 2);
        Assert.True(violation.GetProperty("schedule").GetArrayLength() > 0);
        // Same seed, same output.
        var again = Mmtrace.Run("explore", dir["ds"], "--profile", "v5.12", "--strategy", "pct", "--budget", "300", "--seed", "5", "--format", "json");
        Assert.Equal(explore.Stdout, again.Stdout);
    }

    [SkippableFact]
    public void Explore_MemoryCaps_AreMiBFromOneAndSmallCapsFindTheSame()
    {
        // docs/exploration.md, "Memory": the caps change how much is pruned or kept, not what is found
        // (ExplorerTests.Dpor_TinyStateCache_* forces the table's cap on every scenario).
        using var dir = new TempDir();
        Assert.Equal(0, Mmtrace.Run("synth", "r1-pmd", "--benign", "-o", dir["t.txt"]).ExitCode);
        Assert.Equal(0, Mmtrace.Run("ingest", dir["t.txt"], "-o", dir["ds"]).ExitCode);

        var zero = Mmtrace.Run("explore", dir["ds"], "--state-cache-mb", "0");
        Assert.Equal(2, zero.ExitCode);
        Assert.Contains("--state-cache-mb must be a number of MiB from 1", zero.Stderr, StringComparison.Ordinal);
        Assert.Equal(2, Mmtrace.Run("explore", dir["ds"], "--work-list-mb", "-5").ExitCode);

        var small = Mmtrace.Run("explore", dir["ds"], "--profile", "v5.13", "--state-cache-mb", "1", "--work-list-mb", "1", "--format", "json");
        var usual = Mmtrace.Run("explore", dir["ds"], "--profile", "v5.13", "--format", "json");
        Assert.True(small.ExitCode == 1, small.ToString());
        Assert.Equal(usual.ExitCode, small.ExitCode);
        using var a = JsonDocument.Parse(small.Stdout);
        using var b = JsonDocument.Parse(usual.Stdout);
        static string Found(JsonDocument d) => string.Join(",", d.RootElement[0].GetProperty("violations").EnumerateArray()
            .Select(v => $"{v.GetProperty("checker").GetString()}@{v.GetProperty("preemptions").GetInt32()}"));
        Assert.Equal(Found(b), Found(a));
    }

    [SkippableFact]
    public void Explore_BadArguments_ExitTwoAndRealTraceWithoutExposuresExplainsIt()
    {
        using var dir = new TempDir();
        Assert.Equal(2, Mmtrace.Run("explore", "x", "--strategy", "random").ExitCode);
        Assert.Equal(0, Mmtrace.Run("synth", "r3-pte", "-o", dir["t.txt"]).ExitCode);
        Assert.Equal(0, Mmtrace.Run("ingest", dir["t.txt"], "-o", dir["ds"]).ExitCode);
        Assert.Equal(2, Mmtrace.Run("explore", dir["ds"], "--bound", "-1").ExitCode);
        Assert.Equal(2, Mmtrace.Run("explore", dir["ds"], "--profile", "v9.x").ExitCode);

        File.WriteAllText(dir["k.txt"], "            bash-100   [001] .....   10.000001: sys_enter_mremap: addr=0x1000\n");
        Assert.Equal(0, Mmtrace.Run("ingest", dir["k.txt"], "-o", dir["kernel"]).ExitCode);
        // A real trace: its exposure windows are explored (docs/exploration.md, "Real traces"); this one has none.
        var none = Mmtrace.Run("explore", dir["kernel"]);
        Assert.True(none.ExitCode == 0, none.ToString());
        Assert.Contains("real trace", none.Stdout, StringComparison.Ordinal);
        Assert.Contains("no exposure window", none.Stdout, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Explore_KernelRelease_PicksTheNearestLowerProfileAndSaysSo()
    {
        using var dir = new TempDir();
        Assert.Equal(0, Mmtrace.Run("synth", "r1-pmd", "--benign", "-o", dir["t.txt"]).ExitCode);
        Assert.Equal(0, Mmtrace.Run("ingest", dir["t.txt"], "-o", dir["ds"]).ExitCode);

        // 5.13.2 predates the stable backport of the rmap-locks fix (v5.13.3): the race is one interleaving away.
        var buggy = Mmtrace.Run("explore", dir["ds"], "--profile", "5.13.2");
        // 5.15 has it (v5.14 and later).
        var fixedKernel = Mmtrace.Run("explore", dir["ds"], "--profile", "v5.15");

        Assert.True(buggy.ExitCode == 1, buggy.ToString());
        Assert.Contains("v5.13", buggy.Stdout, StringComparison.Ordinal);
        Assert.True(fixedKernel.ExitCode == 0, fixedKernel.ToString());
        Assert.Contains("v5.14", fixedKernel.Stdout, StringComparison.Ordinal);
        Assert.Equal(2, Mmtrace.Run("explore", dir["ds"], "--profile", "v9.x").ExitCode);
    }
    /// <summary>
    /// A process with an mlocked range exits while kswapd runs (ftrace text as a 6.x kernel prints it): kswapd puts a
    /// page of the range back onto the unevictable list (its try_to_unmap_one saw VM_LOCKED and mlocked it) between
    /// sched_process_exit and exit_mmap. As recorded the mlock comes before exit_mmap's munlock: benign.
    /// </summary>
    private static string ExitDuringReclaimMlock(bool putback = true)
    {
        var t = KernelText.TwoPagesMapped();
        t.Syscall("mlock", "start: 0x7f0000000000, len: 0x2000", "0x0");
        t.Line("kswapd0-50", 1, "mm_vmscan_kswapd_wake: nid=0 order=0");
        t.Line("mmwork-100", 0, "sched_process_exit: comm=mmwork pid=100 prio=120");
        if (putback)
        {
            t.Line("kswapd0-50", 1, "mm_lru_insertion: folio=0000000022222223 pfn=0x2001 lru=4 flags=Mab");
        }
        t.Line("mmwork-100", 0, $"exit_mmap: mm={KernelText.Mm} mt=0000000055555555", after: 20);
        t.Line("kswapd0-50", 1, "mm_vmscan_kswapd_sleep: nid=0");
        return t.ToString();
    }

    /// <summary>
    /// A 2 MiB-aligned range with two pages moves to another 2 MiB boundary (one NORMAL_PMD extent) while kcompactd,
    /// which takes no mmap_lock of the mm, frees one of its pages between the mremap's lock acquisition and release.
    /// </summary>
    private static string PmdMoveDuringCompactionFree()
    {
        var t = KernelText.TwoPagesMapped();
        t.Line("mmwork-100", 0, "sys_mremap(addr: 0x7f0000000000, old_len: 0x200000, new_len: 0x200000, flags: 3, new_addr: 0x7f0040000000)");
        t.Line("mmwork-100", 0, $"mmap_lock_acquire_returned: mm={KernelText.Mm} memcg_id=1 write=true success=true");
        t.Line("kcompactd0-51", 1, "mm_page_free: page=0000000022222223 pfn=0x2001 order=0");
        t.Line("mmwork-100", 0, "tlb_flush: pages:-1 reason:local MM shootdown (3)");
        t.Line("mmwork-100", 0, $"mmap_lock_released: mm={KernelText.Mm} memcg_id=1 write=true");
        t.Line("mmwork-100", 0, "sys_mremap -> 0x7f0040000000");
        return t.ToString();
    }

    /// <summary>
    /// raceactors' R1 shape: another process (puncher-200, a hole punch of the shared file: unmap_mapping_range) frees a
    /// page of mmwork's mm inside the PMD move's lock hold; after the move, mmwork writes to that page's new address and
    /// takes a write-protect fault (error code P|W|U, a present entry), during which ext4's page_mkwrite allocates a
    /// GFP_NOFS page.
    /// </summary>
    private static string HolePunchDuringPmdMove()
    {
        var t = KernelText.TwoPagesMapped();
        t.Line("mmwork-100", 0, "sys_mremap(addr: 0x7f0000000000, old_len: 0x200000, new_len: 0x200000, flags: 3, new_addr: 0x7f0040000000)");
        t.Line("mmwork-100", 0, $"mmap_lock_acquire_returned: mm={KernelText.Mm} memcg_id=1 write=true success=true");
        t.Line("puncher-200", 1, "mm_page_free: page=0000000022222223 pfn=0x2001 order=0");
        t.Line("mmwork-100", 0, "tlb_flush: pages:-1 reason:local MM shootdown (3)");
        t.Line("mmwork-100", 0, $"mmap_lock_released: mm={KernelText.Mm} memcg_id=1 write=true");
        t.Line("mmwork-100", 0, "sys_mremap -> 0x7f0040000000");
        t.Line("mmwork-100", 0, "page_fault_user: address=0x7f0040001000 ip=0x401000 error_code=0x7");
        t.Line("mmwork-100", 0, "mm_page_alloc: page=0000000022222224 pfn=0x9000 order=0 migratetype=0 gfp_flags=GFP_NOFS|__GFP_RECLAIMABLE|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP");
        t.Line("mmwork-100", 0, "tlb_flush: pages:0 reason:flush on task switch (0)");
        return t.ToString();
    }

    /// <summary>An ftrace text trace as a 6.x kernel prints it, one event line at a time, 1 µs apart unless told.</summary>
    private sealed class KernelText
    {
        public const string Mm = "0000000036eb11cf";
        private const string UserPage = "migratetype=1 gfp_flags=GFP_HIGHUSER_MOVABLE|__GFP_ZERO|__GFP_COMP";
        private readonly System.Text.StringBuilder _text = new();
        private long _micros = 1_000_000;

        /// <summary>mmwork-100 on CPU0 maps 2 MiB at 0x7f0000000000 and faults its first two pages in (pfn 0x2000, 0x2001).</summary>
        public static KernelText TwoPagesMapped()
        {
            var t = new KernelText();
            t.Syscall("mmap", "addr: 0, len: 0x200000, prot: 3, flags: 0x22, fd: 0xffffffffffffffff, off: 0", "0x7f0000000000");
            foreach (var (va, pfn) in new[] { ("7f0000000000", "2000"), ("7f0000001000", "2001") })
            {
                t.Line("mmwork-100", 0, $"page_fault_user: address=0x{va} ip=0x401000 error_code=0x6");
                t.Line("mmwork-100", 0, $"mm_page_alloc: page=0000000022222222 pfn=0x{pfn} order=0 {UserPage}");
            }
            return t;
        }

        public void Line(string task, int cpu, string body, long after = 1)
        {
            _micros += after;
            _text.Append(task.PadLeft(22)).Append(" [").Append(cpu.ToString("D3", System.Globalization.CultureInfo.InvariantCulture))
                .Append("] ..... ").Append(System.Globalization.CultureInfo.InvariantCulture, $"{_micros / 1_000_000}.{_micros % 1_000_000:D6}: ")
                .Append(body).Append('\n');
        }

        /// <summary>A syscall of mmwork-100 that takes its mm's mmap_lock for write.</summary>
        public void Syscall(string call, string args, string ret)
        {
            Line("mmwork-100", 0, $"sys_{call}({args})");
            Line("mmwork-100", 0, $"mmap_lock_acquire_returned: mm={Mm} memcg_id=1 write=true success=true");
            Line("mmwork-100", 0, $"mmap_lock_released: mm={Mm} memcg_id=1 write=true");
            Line("mmwork-100", 0, $"sys_{call} -> {ret}");
        }

        public override string ToString() => _text.ToString();
    }

    [SkippableFact]
    public void RealTrace_ReclaimMlockDuringExit_ConfirmedUnderV43AndTheEmittedScheduleReplaysToIt()
    {
        using var dir = new TempDir();

        // Replay explores the exposure window itself: a reordering one preemption away reaches I4. v4.4 sets PG_mlocked
        // under the PTE lock that saw VM_LOCKED (b87537d9e2fe): no window in the recording, and the same interleaving is
        // harmless there.
        var (_, again) = AssertWindowConfirmedAndReproduced(dir, ExitDuringReclaimMlock(), "v4.3", "v4.4",
            "window 0 I4 R4 mm1 seq 12..15: CONFIRMED: I4 R4 reached", "I4 R4 (race, error)",
            "kswapd0-50 sets PG_mlocked on pfn 0x2001 without the PTE lock");
        Assert.Contains("kswapd0-50 sets PG_mlocked on pfn 0x2001 without the PTE lock (under the mmap_sem trylock), but the VMA", again.Stdout, StringComparison.Ordinal);
    }

    /// <summary>
    /// Ingests <paramref name="trace"/> into dir/ds. Under <paramref name="buggy"/> replay reports one window, explored
    /// and confirmed (<paramref name="windowLine"/>); explore's witness and the replay of its emitted schedule (the
    /// prefix, every op before the window in recorded order, then the witness, from an empty model) both show
    /// <paramref name="race"/> and <paramref name="explained"/>. Under <paramref name="fixedProfile"/> the recording has no
    /// window and the witness replays with no finding. Returns explore's and the witness replay's output.
    /// </summary>
    private static (Mmtrace.Result Explore, Mmtrace.Result Again) AssertWindowConfirmedAndReproduced(TempDir dir, string trace, string buggy,
        string fixedProfile, string windowLine, string race, string explained)
    {
        File.WriteAllText(dir["trace.txt"], trace);
        Assert.Equal(0, Mmtrace.Run("ingest", dir["trace.txt"], "-o", dir["ds"]).ExitCode);
        var replay = Mmtrace.Run("replay", dir["ds"], "--profile", buggy);
        Assert.True(replay.ExitCode == 1, replay.ToString());
        Assert.Contains("exposure windows explored: 1 confirmed", replay.Stdout, StringComparison.Ordinal);
        Assert.Contains(windowLine, replay.Stdout, StringComparison.Ordinal);

        var explore = Mmtrace.Run("explore", dir["ds"], "--profile", buggy, "--emit-schedule", dir["witness.txt"]);
        Assert.True(explore.ExitCode == 1, explore.ToString());
        Assert.Contains(race, explore.Stdout, StringComparison.Ordinal);
        Assert.Contains(explained, explore.Stdout, StringComparison.Ordinal);
        Assert.Equal(0, Mmtrace.Run("ingest", dir["witness.txt"], "-o", dir["witness"]).ExitCode);
        var again = Mmtrace.Run("replay", dir["witness"], "--profile", buggy);
        Assert.True(again.ExitCode == 1, again.ToString());
        Assert.Contains(race, again.Stdout, StringComparison.Ordinal);
        Assert.Contains(explained, again.Stdout, StringComparison.Ordinal);

        var fixedReplay = Mmtrace.Run("replay", dir["ds"], "--profile", fixedProfile);
        Assert.True(fixedReplay.ExitCode == 0, fixedReplay.ToString());
        Assert.Contains("0 exposure windows", fixedReplay.Stdout, StringComparison.Ordinal);
        var fixedWitness = Mmtrace.Run("replay", dir["witness"], "--profile", fixedProfile);
        Assert.True(fixedWitness.ExitCode == 0, fixedWitness.ToString());
        Assert.Contains("0 findings", fixedWitness.Stdout, StringComparison.Ordinal);
        return (explore, again);
    }

    /// <summary>
    /// Two windows of one exposure explore the same program from the same start state, so the search runs once and the
    /// second window reports the first one's result with a note (docs/exploration.md, "Real traces": windows that repeat
    /// a search; raceactors ds1's R2 windows 78-83 were one search run six times). A window of the same exposure that
    /// starts earlier has another start state and more ops, and is explored on its own.
    /// </summary>
    [SkippableFact]
    public void RealTrace_IdenticalWindows_AreExploredOnceAndAWindowWithAnotherStartIsExploredAgain()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["trace.txt"], ExitDuringReclaimMlock());
        Assert.Equal(0, Mmtrace.Run("ingest", dir["trace.txt"], "-o", dir["ds"]).ExitCode);
        var dataset = Assert.Single(Pipeline.Storage.DatasetCatalog.Resolve([dir["ds"]]));
        var profile = Pipeline.Replay.KernelProfile.Parse("v4.3");
        var options = new Pipeline.Replay.Explore.ExploreOptions();
        var alone = Pipeline.Replay.Explore.DatasetExplore.RunWindows(dataset, profile, Pipeline.Replay.Arch.X86, options, exposures: null);
        var only = Assert.Single(alone.Windows);
        Assert.Equal("confirmed", only.Verdict);
        // Seq 12 is exit_mmap's window start; from seq 4 on, the mlock syscall's ops are inside the window instead of
        // in its start state.
        var exposure = only.Exposure;
        var earlier = exposure with { Seqs = [exposure.Seqs.Min() - 8, .. exposure.Seqs] };

        var run = Pipeline.Replay.Explore.DatasetExplore.RunWindows(dataset, profile, Pipeline.Replay.Arch.X86, options, [exposure, exposure, earlier]);

        Assert.Equal(3, run.Windows.Count);
        var (first, repeat, other) = (run.Windows[0], run.Windows[1], run.Windows[2]);
        Assert.Null(first.RepeatOf);
        Assert.Equal(only.Reason, first.Reason);
        Assert.Equal(0, repeat.RepeatOf);
        Assert.Same(first.Result, repeat.Result);
        Assert.Equal(first.Verdict, repeat.Verdict);
        Assert.Same(first.Witness, repeat.Witness);
        Assert.Equal("repeats window 0's search (same start, ops, cone and race; explored once, schedules shared): " + first.Reason, repeat.Reason);
        Assert.Null(other.RepeatOf);
        Assert.NotNull(other.Result);
        Assert.NotSame(first.Result, other.Result);
        Assert.True(other.ConeOps > first.ConeOps, $"{other.ConeOps} vs {first.ConeOps}");
        Assert.Contains("(1 repeats an earlier window's search, explored once)", run.Tally(), StringComparison.Ordinal);
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            repeat.WriteJson(json);
        }
        Assert.Equal(0, JsonDocument.Parse(buffer.ToArray()).RootElement.GetProperty("repeats_window").GetInt32());
    }

    [SkippableFact]
    public void RealTrace_ExitDuringReclaimWithoutAnMlockingWalker_RefutedOverTheOpsShownOnly()
    {
        using var dir = new TempDir();

        // kswapd ran across the exit, but the trace shows it mlocking nothing: nothing of R4's walker to reorder.
        AssertOneWindowRefutedOverTheOpsShown(dir, ExitDuringReclaimMlock(putback: false), "v4.3", "R4",
            "over the ops shown only: no reclaimer mlocked a page of the mm inside the window");
    }

    /// <summary>Ingests <paramref name="trace"/> into dir/ds; replay under <paramref name="profile"/> reports one window of <paramref name="race"/>, refuted with <paramref name="caveat"/>.</summary>
    private static void AssertOneWindowRefutedOverTheOpsShown(TempDir dir, string trace, string profile, string race, string caveat)
    {
        File.WriteAllText(dir["trace.txt"], trace);
        Assert.Equal(0, Mmtrace.Run("ingest", dir["trace.txt"], "-o", dir["ds"]).ExitCode);

        var replay = Mmtrace.Run("replay", dir["ds"], "--profile", profile);

        Assert.True(replay.ExitCode == 1, replay.ToString());
        Assert.Contains("exposure windows explored: 1 refuted", replay.Stdout, StringComparison.Ordinal);
        Assert.Contains("REFUTED: no feasible interleaving within 2 preemptions reaches " + race, replay.Stdout, StringComparison.Ordinal);
        Assert.Contains(caveat, replay.Stdout, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void RealTrace_PmdMoveDuringALocklessWalkersFree_RefutedOverTheOpsShownOnlyAndNoWindowUnderLatest()
    {
        using var dir = new TempDir();

        // The free is inside the move's lock hold and nothing orders it against the move, yet no reordering of the ops
        // the trace shows reaches I1: the TLB fill through the new address that R1 needs leaves no event. The verdict
        // must say that its refutation covers only those ops.
        AssertOneWindowRefutedOverTheOpsShown(dir, PmdMoveDuringCompactionFree(), "v5.13", "R1",
            "over the ops shown only: the walker's frees keep the table and address of the recorded order");

        var fixedReplay = Mmtrace.Run("replay", dir["ds"], "--profile", "latest");
        Assert.True(fixedReplay.ExitCode == 0, fixedReplay.ToString());
        Assert.Contains("0 exposure windows", fixedReplay.Stdout, StringComparison.Ordinal);
    }

    /// <summary>
    /// The R1 window of a lockless walker confirmed end to end (docs/exploration.md, "Real traces"): the hole punch's
    /// zap is lowered as an rmap walk re-resolved per schedule, the write-protect fault after the move as a TLB fill
    /// through the tables as the schedule has them, and the window extends to that fill. Before, the free was an implied
    /// clear with the recorded table and address, the fault mapped ext4's GFP_NOFS page in place of the file page, and
    /// the window (ending at the mremap exit) was refuted "over the ops shown only".
    /// </summary>
    /// <summary>The same window with a budget too small to reach the race: undecided, and the output says how to go on.</summary>
    [SkippableFact]
    public void RealTrace_WindowTheBudgetCutShort_IsUndecidedAndTheOutputSaysHowToGoOn()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["trace.txt"], HolePunchDuringPmdMove());
        Assert.Equal(0, Mmtrace.Run("ingest", dir["trace.txt"], "-o", dir["ds"]).ExitCode);

        var explore = Mmtrace.Run("explore", dir["ds"], "--profile", "v5.13", "--budget", "2");

        Assert.True(explore.ExitCode == 0, explore.ToString());
        Assert.Contains("window 0 I1 R1 mm1 seq 10..16: UNDECIDED: R1 not reached in the schedules covered: stopped by --budget after 2 schedules", explore.Stdout, StringComparison.Ordinal);
        Assert.Contains("to go on with the search the budget cut short: explore again with --window 0 and a larger --budget (this run: 2 schedules per window), or --strategy pct to sample it instead", explore.Stdout, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void RealTrace_HolePunchByAnotherProcessDuringThePmdMove_ConfirmedUnderV513AndTheEmittedScheduleReplaysToIt()
    {
        using var dir = new TempDir();

        // The walk found table 5 through the old PMD before the move, the fill went through the new PMD after it, and
        // the walker then cleared the entry and flushed only the old address. The window runs from the walker's free
        // (seq 10) past the mremap exit (13) to the fill through the new address (16). With the rmap locks on the PMD
        // move (97113eb39fa7) the recording has no window and the witness order is harmless (the move waits for the walk).
        var (explore, _) = AssertWindowConfirmedAndReproduced(dir, HolePunchDuringPmdMove(), "v5.13", "latest",
            "window 0 I1 R1 mm1 seq 10..16: CONFIRMED: I1 R1 reached", "I1 R1 (race, critical)",
            "pfn 0x2001 is freed while CPU0 still holds a usable 4K TLB entry 0x7f0040001000 -> pfn 0x2001");
        Assert.Contains("puncher-200 unmapped it through 0x7f0000001000 and flushed", explore.Stdout, StringComparison.Ordinal);

        // No reordering of the witness's ops reaches a violation under latest: a walk after the move finds the page where
        // the move put it (the lowered trace has no VMA of the file mapping; the tables say where).
        var fixedExplore = Mmtrace.Run("explore", dir["witness"], "--profile", "latest");
        Assert.True(fixedExplore.ExitCode == 0, fixedExplore.ToString());
        Assert.Contains("no violation within 2 preemptions", fixedExplore.Stdout, StringComparison.Ordinal);
    }
}
