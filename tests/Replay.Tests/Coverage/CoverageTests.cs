using Pipeline.Ingest;
using Pipeline.Replay.Coverage;
using Pipeline.Replay.Runner;
using Pipeline.Storage;
using Pipeline.Storage.DuckDb;

namespace Pipeline.Replay.Tests.Coverage;

/// <summary>A fact that needs <c>shared/corpus</c> (skipped, with the reason, on clones without it).</summary>
public sealed class CorpusFactAttribute : FactAttribute
{
    public CorpusFactAttribute()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (Directory.Exists(Path.Combine(dir.FullName, "shared", "corpus")))
            {
                return;
            }
        }
        Skip = "shared/corpus is not above the test directory (a clone without the shared corpus)";
    }
}

/// <summary>Coverage verdicts (docs/coverage.md) on the scenario library and on a real recorded trace.</summary>
public sealed class CoverageTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "coverage-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    /// <summary>A recorded trace of the repository (tests/data) ingested into a dataset of its own.</summary>
    private TraceDataset Ingest(string relative)
    {
        string output = Path.Combine(_dir, Path.GetFileName(relative).Split('.')[0]);
        TraceIngestor.Run(new IngestOptions { Inputs = [Real.TestEvents.CorpusFile(relative)], Output = output });
        return DatasetCatalog.Resolve([output]).Single();
    }

    public static TheoryData<string> Scenarios() => [.. ScenarioLibrary.All.Select(s => s.Name)];

    [SkippableTheory]
    [MemberData(nameof(Scenarios))]
    public void OpCoverage_EveryScenario_ChecksItsOwnRaceAndIsBlindToRacesWithoutActors(string name)
    {
        var scenario = ScenarioLibrary.Get(name);
        var coverage = new OpCoverage();
        foreach (var op in scenario.Build().Ops)
        {
            coverage.Observe(op);
        }

        var verdicts = coverage.Build().ToDictionary(c => c.Race);

        Assert.Equal(["R1", "R2", "R3", "R4", "R5", "R6"], verdicts.Keys.Order());
        var own = verdicts[scenario.Race];
        Assert.True(own.Verdict == CoverageVerdict.Checked, $"{name}: {own.Race} {own.VerdictName}: {own.Why}");
        // Every actor was seen, or, of actors that play the same part (R1's rmap walker or another mm's file zap), one.
        var rule = CoverageRules.Of(scenario.Race);
        Assert.All(rule.Actors.GroupBy(a => a.Or ?? a.Name), group => Assert.True(
            own.Actors.Any(a => group.Any(g => g.Name == a.Name) && a.Count > 0 && a.ExampleSeq >= 0),
            $"{name}: {string.Join(" or ", group.Select(g => g.Name))}: {string.Join(", ", own.Actors.Select(a => $"{a.Name} {a.Count}"))}"));
        Assert.Null(own.RecordCommand);
        // Every op is visible in an op trace: a race is blind only when none of its actors is there.
        Assert.All(verdicts.Values.Where(v => v.Verdict == CoverageVerdict.Blind), v => Assert.All(v.Actors, a => Assert.Equal(0, a.Count)));
    }

    [SkippableFact]
    public void OpCoverage_MoverAndWalkerOnDifferentMms_IsPartialNotChecked()
    {
        var coverage = new OpCoverage();
        coverage.Observe(new Op { Kind = OpKind.MremapMovePmd, Mm = 1, Seq = 10 });
        coverage.Observe(new Op { Kind = OpKind.TtuWalk, Mm = 2, Seq = 11 });

        var r1 = coverage.Build().Single(c => c.Race == "R1");

        Assert.Equal(CoverageVerdict.Partial, r1.Verdict);
        Assert.Equal(0, r1.CommonMms);
        Assert.Contains("never ran on the same mm", r1.Why, StringComparison.Ordinal);
    }

    /// <summary>
    /// A system-wide recording holds every process's mm: a checked race says whose mm its actors met on (by process, not
    /// only a count of mms), so that a lab engineer sees whether it was the workload or some other process of the machine.
    /// </summary>
    [SkippableFact]
    public void Build_ActorsMetOnMmsOfNamedProcesses_TheReasonAndTheVerdictNameThem()
    {
        var tracker = new CoverageTracker();
        tracker.Actor("R4", CoverageRules.Munlock, 3, 100);
        tracker.Actor("R4", CoverageRules.MlockedWalker, 3, 120);
        tracker.Actor("R4", CoverageRules.Munlock, 5, 130);
        tracker.Actor("R1", CoverageRules.PmdMover, 1, 10);
        tracker.Actor("R1", CoverageRules.RmapWalker, 1, 11);
        tracker.Actor("R1", CoverageRules.PmdMover, 2, 12);
        tracker.Actor("R1", CoverageRules.RmapWalker, 2, 13);
        var owners = new Dictionary<int, MmProcess> { [1] = new(1, 4242, "mover"), [3] = new(3, 77, "gpg-agent"), [5] = new(5, 9, "other") };

        var byRace = tracker.Build(null, processOf: mm => owners.GetValueOrDefault(mm)).ToDictionary(c => c.Race);

        var r4 = byRace["R4"];
        Assert.Equal(CoverageVerdict.Checked, r4.Verdict);
        Assert.Equal([new MmProcess(3, 77, "gpg-agent")], r4.CommonProcesses);
        Assert.Contains("met on 1 mm (pid 77 gpg-agent), nothing skipped", r4.Why, StringComparison.Ordinal);
        // Two common mms, one of them owned by no process the trace names (a kernel thread's, say): only the named one.
        var r1 = byRace["R1"];
        Assert.Equal(2, r1.CommonMms);
        Assert.Equal([new MmProcess(1, 4242, "mover")], r1.CommonProcesses);
        Assert.Contains("met on 2 mms (pid 4242 mover), nothing skipped", r1.Why, StringComparison.Ordinal);
        // Op traces name no process.
        Assert.Empty(tracker.Build(null).Single(c => c.Race == "R4").CommonProcesses);
    }

    [SkippableFact]
    public void RecordLine_ExtraEvents_AreAddedToTheMmSetOnce()
    {
        string line = CoverageTracker.RecordLine(["kmem:mm_page_free", "syscalls:sys_enter_vmsplice", "migrate:mm_migrate_pages", "syscalls:sys_enter_vmsplice"]);

        Assert.Equal("mmtrace record -o DATASET --events mm,syscalls:sys_enter_vmsplice -- COMMAND", line);
    }

    [CorpusFact]
    public void Run_RecordedKhugepagedTrace_LowersTheCollapseAndSaysWhatIsMissing()
    {
        string output = Path.Combine(_dir, "ds");
        TraceIngestor.Run(new IngestOptions { Inputs = [Real.TestEvents.CorpusFile("recorded/ftrace-text/mm_trace.txt")], Output = output });
        var dataset = DatasetCatalog.Resolve([output]).Single();

        var result = DatasetReplay.Run(dataset, KernelProfile.Parse("latest", []), Arch.X86);

        var byRace = result.Coverage.ToDictionary(c => c.Race);
        // The khugepaged collapse of the recording (isolate status=succeeded at 526.290410) is lowered, not skipped.
        var r2 = byRace["R2"];
        Assert.Equal(1, r2.Actors.Single(a => a.Name == CoverageRules.Collapse).Count);
        Assert.Empty(r2.Gaps);
        // GUP-fast cannot be seen without the syscalls that do it: blind, with a record line that asks for them.
        Assert.Equal(CoverageVerdict.Blind, r2.Verdict);
        Assert.False(r2.Actors.Single(a => a.Name == CoverageRules.LocklessWalker).Visible);
        Assert.Contains("syscalls:sys_enter_vmsplice", r2.RecordCommand, StringComparison.Ordinal);
        Assert.StartsWith("mmtrace record -o DATASET --events mm,", r2.RecordCommand, StringComparison.Ordinal);
        // No mlock and no exec was recorded (the event list had neither): blind, never checked.
        Assert.Equal(CoverageVerdict.Blind, byRace["R4"].Verdict);
        Assert.Equal(CoverageVerdict.Blind, byRace["R5"].Verdict);
        Assert.Contains("sched:sched_process_exec", byRace["R5"].MissingEvents);
        // R3's checked try_to_unmap has no tracepoint at all.
        Assert.Equal(CoverageVerdict.Blind, byRace["R3"].Verdict);
        Assert.Contains("no tracepoint", byRace["R3"].Why, StringComparison.Ordinal);
        // Recording more would not change that: no record line (it offered migrate:* events before 7 December 2026).
        Assert.Null(byRace["R3"].RecordCommand);
        Assert.NotEqual(CoverageVerdict.Checked, byRace["R1"].Verdict);

        using var database = DuckDbDatabase.Open();
        using var connection = database.Connect();
        string path = Path.Combine(result.Run!.Directory, DatasetReplay.CoverageTable + ".parquet").Replace("'", "''", StringComparison.Ordinal);
        using var reader = connection.Query($"SELECT race, verdict, actor_counts[1], record_command IS NULL FROM read_parquet('{path}') ORDER BY race");
        var rows = new List<(string, string, long, bool)>();
        while (reader.Read())
        {
            rows.Add((reader.GetString(0), reader.GetString(1), reader.GetInt64(2), reader.GetBoolean(3)));
        }
        Assert.Equal(result.Coverage.Select(c => (c.Race, c.VerdictName, c.Actors[0].Count, c.RecordCommand is null)), rows);
    }

    /// <summary>
    /// The same recording as a dataset of <c>mmtrace record</c> made with R2's own record line: the recorder enabled
    /// every tracepoint R2's actors need (meta.json <c>enabled_events</c>) and the GUP-fast syscalls never fired. The
    /// lockless walker was recorded and did not run, which is not "not recorded": R2 is partial, says that everything
    /// was recorded, and offers no record line (recording the same events again would show nothing more).
    /// </summary>
    [CorpusFact]
    public void Run_RecordingThatEnabledTheActorsTracepoints_SaysTheMissingActorDidNotRunNotThatItWasNotRecorded()
    {
        string output = Path.Combine(_dir, "ds");
        TraceIngestor.Run(new IngestOptions { Inputs = [Real.TestEvents.CorpusFile("recorded/ftrace-text/mm_trace.txt")], Output = output });
        var dataset = DatasetCatalog.Resolve([output]).Single();
        var r2Rule = CoverageRules.Of("R2");
        var enabled = r2Rule.Actors.SelectMany(a => a.Events.SelectMany(e => e.Split('|')).Concat(a.Helpful)).ToList();
        Assert.Contains(enabled, e => !dataset.Meta.EventCounts.ContainsKey(e));
        (dataset.Meta with { EnabledEvents = enabled }).Write(output);
        dataset = DatasetCatalog.Resolve([output]).Single();
        Assert.Equal(enabled.Distinct().Count(), dataset.Meta.EnabledEvents!.Count);

        var r2 = DatasetReplay.Run(dataset, KernelProfile.Parse("latest", []), Arch.X86).Coverage.Single(c => c.Race == "R2");

        Assert.Equal(CoverageVerdict.Partial, r2.Verdict);
        var walker = r2.Actors.Single(a => a.Name == CoverageRules.LocklessWalker);
        Assert.True(walker.Visible);
        Assert.Equal(0, walker.Count);
        Assert.Equal("no lockless walker in the trace, though every tracepoint the race's actors need was recorded: what is missing did not run", r2.Why);
        Assert.Empty(r2.MissingEvents);
        Assert.Null(r2.RecordCommand);
    }

    /// <summary>
    /// A bug report's khugepaged trace (the lines of a mail asking why a collapse with swapped-out pages fails): the
    /// collapses gave up, one at isolation and one before it, and the trace lacks the faults and allocations the model
    /// lowers a collapse from. Coverage must say both, not "0 collapses" and "none of the tracepoints".
    /// </summary>
    [SkippableFact]
    public void Run_CollapsesThatTheKernelGaveUp_AreSeenNotCountedAndTheMissingTracepointsNamed()
    {
        string input = Path.Combine(_dir, "khugepaged.txt");
        Directory.CreateDirectory(_dir);
        File.WriteAllText(input, """
            # tracer: nop
            #
                  khugepaged-265   [002] ...1  1007.308366: mm_collapse_huge_page_swapin: mm=000000007c6cc479, swapped_in=64, referenced=448, ret=1
                  khugepaged-265   [002] ...2  1007.308403: mm_collapse_huge_page_isolate: scan_pfn=0x1faa6ee, none_or_zero=0, referenced=60, writable=0, status=not_suitable_page_count
                  khugepaged-265   [002] ...1  1007.308404: mm_collapse_huge_page: mm=000000007c6cc479, isolated=0, status=failed
                  khugepaged-265   [002] ...1  1007.308405: mm_khugepaged_scan_pmd: mm=000000007c6cc479, scan_pfn=0x1fafa45, writable=1, referenced=448, none_or_zero=0, status=succeeded, unmapped=64
                  khugepaged-265   [002] ...1  1007.328249: mm_collapse_huge_page: mm=000000007c6cc479, isolated=0, status=alloc_huge_page_fail
                      mmwork-300   [000] ...1  1007.330000: page_fault_user: address=0x7f0000001000 ip=0x401000 error_code=0x6

            """);
        string output = Path.Combine(_dir, "khugepaged");
        TraceIngestor.Run(new IngestOptions { Inputs = [input], Output = output });
        var dataset = DatasetCatalog.Resolve([output]).Single();

        var result = DatasetReplay.Run(dataset, KernelProfile.Parse("latest", []), Arch.X86);

        var r2 = result.Coverage.Single(c => c.Race == "R2");
        Assert.Equal(CoverageVerdict.Blind, r2.Verdict);
        Assert.Equal(0, r2.Actors.Single(a => a.Name == CoverageRules.Collapse).Count);
        Assert.Empty(r2.Gaps);
        Assert.Equal(
            [
                new CoverageNote("collapse that the kernel gave up (huge_memory:mm_collapse_huge_page status=alloc_huge_page_fail): no table changed", 1, 4),
                new CoverageNote("collapse that the kernel gave up (huge_memory:mm_collapse_huge_page_isolate status=not_suitable_page_count): no table changed", 1, 1),
            ],
            r2.Notes);
        Assert.Equal(2, result.Lowering!.CollapsesFailed);
        Assert.Equal(
            "the trace holds huge_memory:mm_collapse_huge_page_isolate but not kmem:mm_page_alloc, which the model also needs to see the collapse",
            r2.Why);
        Assert.Contains("kmem:mm_page_alloc", r2.MissingEvents);
        // A race whose actor shows only in faults, allocations or frees: what is lacking, not "holds a fault but …".
        Assert.Equal(
            "the trace lacks syscalls:sys_enter_mremap, syscalls:sys_exit_mremap and kmem:mm_page_alloc, which show the pmd-moving mremap",
            result.Coverage.Single(c => c.Race == "R1").Why);
        // Races none of whose tracepoints were recorded keep the plain reason.
        Assert.StartsWith("the trace holds none of the tracepoints that show the file collapse retract", result.Coverage.Single(c => c.Race == "R6").Why, StringComparison.Ordinal);

        using var database = DuckDbDatabase.Open();
        using var connection = database.Connect();
        string path = Path.Combine(result.Run!.Directory, DatasetReplay.CoverageTable + ".parquet").Replace("'", "''", StringComparison.Ordinal);
        using var reader = connection.Query($"SELECT note_counts[1], note_example_seqs[2], len(note_texts) FROM read_parquet('{path}') WHERE race = 'R2'");
        Assert.True(reader.Read());
        Assert.Equal((1L, 1L, 2L), (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2)));
    }

    /// <summary>
    /// A recording that lost events: <c>ls -R</c> exec'd under a 96 KiB-per-CPU, non-overwriting buffer (kernel text,
    /// <c>entries-in-buffer/entries-written: 6122/6992</c>). The exec and its stack shift were recorded whole, which on a
    /// trace that lost nothing is checked (the same events without the loss are), but 870 events were dropped after
    /// the buffer filled: R5 is partial and every race's reason names the loss.
    /// </summary>
    [SkippableFact]
    public void Run_TraceThatLostEvents_HasNoCheckedRaceAndEveryReasonNamesTheLoss()
    {
        string output = Path.Combine(_dir, "overrun");
        TraceIngestor.Run(new IngestOptions { Inputs = [Real.TestEvents.CorpusFile("recorded/ftrace-text/exec_ls_overrun.txt.gz")], Output = output });
        var dataset = DatasetCatalog.Resolve([output]).Single();
        Assert.Equal(870, dataset.Meta.LostEvents);

        var coverage = DatasetReplay.Run(dataset, KernelProfile.Parse("latest", []), Arch.X86).Coverage;

        Assert.DoesNotContain(coverage, c => c.Verdict == CoverageVerdict.Checked);
        var r5 = coverage.Single(c => c.Race == "R5");
        Assert.Equal(CoverageVerdict.Partial, r5.Verdict);
        Assert.Equal(1, r5.Actors.Single().Count);
        Assert.Empty(r5.Gaps);
        Assert.All(coverage, c => Assert.Contains("870 events were lost (ring-buffer overrun)", c.Why, StringComparison.Ordinal));
        Assert.NotNull(r5.RecordCommand);
    }

    /// <summary>
    /// A lab script's recording of <c>tests/workloads/raceactors.c</c> (the instance's <c>trace</c> file, no
    /// <c>record-tgid</c>): the GUP-fast thread <c>pinner</c> opens its file <c>O_DIRECT</c> before it first locks the
    /// process' mm, so until then the lowering keeps it as a process of its own. It then reads the file 32 times
    /// (<c>pread64</c>, each a <c>pin_user_pages_fast</c> of the mm) and vmsplices 32 times. Before 7 December 2026 the
    /// O_DIRECT fd stayed with the thread's provisional process when it joined the mover's by mm pointer, and coverage
    /// counted 32 lockless walks (the vmsplices) instead of 64; the same happened on default <c>perf script</c> output,
    /// which prints no tgid.
    /// </summary>
    [SkippableFact]
    public void Run_ThreadWithoutTgidOpensODirectBeforeItJoinsItsProcess_EveryDirectReadIsALocklessWalk()
    {
        var dataset = Ingest("recorded/ftrace-text/raceactors_pinner_notgid.txt");
        Assert.Equal(32, dataset.Meta.EventCounts["syscalls:sys_enter_pread64"]);
        Assert.Equal(32, dataset.Meta.EventCounts["syscalls:sys_enter_vmsplice"]);

        var r2 = DatasetReplay.Run(dataset, KernelProfile.Parse("latest", []), Arch.X86).Coverage.Single(c => c.Race == "R2");

        var walker = r2.Actors.Single(a => a.Name == CoverageRules.LocklessWalker);
        Assert.Equal(64, walker.Count);
        // All on the process' one mm (the mover's, which the pinner joined), not on the thread's provisional one.
        Assert.Equal(1, walker.Mms);
    }

    /// <summary>
    /// A lab script's recording of <c>tests/workloads/remapactors.c</c> (kernel text; its reservation mmap and the
    /// overlap and fixed-back calls with the populate before them, tests/data/README.md): mremap(A, 4M, 4M,
    /// MAYMOVE|FIXED, A + 2M) fails with -EINVAL, then mremap(A + 2M, 2M, 2M, MAYMOVE|FIXED, A) moves the VMA's second
    /// half onto its first. mremap_to() unmaps the target first (do_munmap frees its PTE table), so the kernel moves one
    /// PMD (no page table was allocated inside the call). Before 7 December 2026 the failed call made the source unknown
    /// (the move was undecided) and the lowering left the target's table linked, so the move was lowered as move_ptes
    /// and R1 saw no PMD-moving mremap.
    /// </summary>
    [SkippableFact]
    public void Run_FixedMoveOntoAPopulatedTarget_IsLoweredAsThePmdMoveTheKernelMade()
    {
        var result = DatasetReplay.Run(Ingest("recorded/ftrace-text/remapactors_fixed_back.txt.gz"), KernelProfile.Parse("latest", []), Arch.X86);

        Assert.Equal(0, result.UndecidedMremaps);
        var r1 = result.Coverage.Single(c => c.Race == "R1");
        Assert.Equal(1, r1.Actors.Single(a => a.Name == CoverageRules.PmdMover).Count);
        Assert.Empty(r1.Gaps);
        Assert.Empty(result.Findings);
    }

    /// <summary>
    /// Cut from the lab recording of raceactors: the mover's faults, allocations and frees after its exec, its fork of
    /// the puncher, and the puncher's exit with the frees of its teardown. Pages the mover mapped before the fork were
    /// shared with the child (copied PTEs, which the lowering does not make); the mover's own mappings of some of them
    /// went by paths the trace does not show (a COW break in kernel mode), so the child's exit dropped their last
    /// reference. Before 7 December 2026 each such free was taken for a hole punch by another mm: an R1 file zapper of the
    /// mover's mm (8 here, with ttu_* walk ops and an exposure conflict), which could make R1 look checked beside any
    /// PMD move. A task past its sched_process_exit frees only its own mm's teardown: implied unmaps, no walker.
    /// </summary>
    [SkippableFact]
    public void Run_ChildExitFreesPagesItSharedSinceTheFork_IsNoZapOfTheParentsMm()
    {
        var dataset = Ingest("recorded/ftrace-text/raceactors_child_exit.txt");
        Assert.Equal(1, dataset.Meta.EventCounts["sched:sched_process_exit"]);

        var result = DatasetReplay.Run(dataset, KernelProfile.Parse("latest", []), Arch.X86);

        var r1 = result.Coverage.Single(c => c.Race == "R1");
        Assert.Equal(0, r1.Actors.Single(a => a.Name == CoverageRules.FileZapper).Count);
        Assert.Equal(0, result.Lowering!.ZapsOfAnotherMm);
        Assert.True(result.Lowering.ImpliedUnmaps > 0);
    }

    /// <summary>
    /// Cut from a lab recording of remapactors: a 4 MiB MADV_HUGEPAGE range backed by two THPs (order-9 faults) moved
    /// with MAYMOVE|FIXED, two HPAGE_PMD extents (move_huge_pmd: the huge entry moves under both PMD locks and is
    /// flushed before they drop, so no rmap walker finds it half-moved; R1 is move_normal_pmd's table move without the
    /// rmap locks). Before 7 December 2026 they were "R1 actor ops skipped", and R1 (and R6) said partial for moves that
    /// are none of their actors; now they are notes, not gaps.
    /// </summary>
    [SkippableFact]
    public void Run_ThpMovedWhole_IsANoteNotAnR1Gap()
    {
        var result = DatasetReplay.Run(Ingest("recorded/ftrace-text/remapactors_thp.txt"), KernelProfile.Parse("latest", []), Arch.X86);

        Assert.Equal(0, result.UndecidedMremaps);
        foreach (var race in result.Coverage.Where(c => c.Race is "R1" or "R6"))
        {
            Assert.Empty(race.Gaps);
            var note = Assert.Single(race.Notes);
            Assert.StartsWith("HPAGE_PMD extent: a huge page moved whole", note.Text, StringComparison.Ordinal);
            Assert.Equal(2, note.Count);
            Assert.NotEqual(CoverageVerdict.Partial, race.Verdict);
        }
    }

    [CorpusFact]
    public void Run_ExecsWithoutTheirExecveEntry_AreBlindAndSayWhyEachStackWasUndecided()
    {
        // Five sched_process_exec events and nothing else: the stack placement cannot be decided for any of them.
        string output = Path.Combine(_dir, "execs");
        TraceIngestor.Run(new IngestOptions { Inputs = [Real.TestEvents.CorpusFile("recorded/raw-pages/dataloc_trace_before_raw_read.txt")], Output = output });
        var dataset = DatasetCatalog.Resolve([output]).Single();

        var r5 = DatasetReplay.Run(dataset, KernelProfile.Parse("latest", []), Arch.X86).Coverage.Single(c => c.Race == "R5");

        Assert.Equal(CoverageVerdict.Blind, r5.Verdict);
        Assert.Equal(0, r5.Actors.Single().Count);
        Assert.Contains("syscalls:sys_enter_execve", r5.MissingEvents);
        var gap = Assert.Single(r5.Gaps, g => g.Reason.Contains("without a traced sys_enter_execve", StringComparison.Ordinal));
        Assert.Equal(5, gap.Count);
        Assert.True(gap.ExampleSeq >= 0);
        // sys_enter_execve is in the recorder's mm set: recording with it is enough.
        Assert.Equal("mmtrace record -o DATASET --events mm -- COMMAND", r5.RecordCommand);
    }
}
