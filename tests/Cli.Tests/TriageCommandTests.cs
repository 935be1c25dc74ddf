using System.Globalization;
using System.Text.Json;
using static System.FormattableString;

namespace Pipeline.Cli.Tests;

/// <summary><c>mmtrace triage</c> and <c>--profile auto</c> as a user runs them, on public reports kept in the repository.</summary>
public sealed class TriageCommandTests
{
    [SkippableFact]
    public void Triage_BadPageStateMlocked_JsonVerdictScenarioFileAndDataset()
    {
        using var dir = new TempDir();
        string report = Report("r4-trinity-bad-page-state-mlocked-4.4-rc3-next.txt");

        var result = Mmtrace.Run("triage", report, "--format", "json", "--emit-scenario", dir["sc"], "-o", dir["ds"]);

        Assert.True(result.ExitCode == 1, result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        JsonElement crash = Assert.Single(json.RootElement.EnumerateArray());
        Assert.Equal("R4", crash.GetProperty("class").GetString());
        Assert.Equal("bad_page_state", crash.GetProperty("kind").GetString());
        Assert.Equal("4.4.0-rc3-next-20151203-sasha-00025-gf813aca-dirty", crash.GetProperty("kernel_release").GetString());
        Assert.Equal("v4.3", crash.GetProperty("profile").GetString());
        Assert.InRange(crash.GetProperty("confidence").GetDouble(), 0.5, 0.95);
        Assert.Contains(crash.GetProperty("reasons").EnumerateArray(), r => r.GetString()!.Contains("mlocked", StringComparison.Ordinal));
        Assert.True(crash.GetProperty("race").GetProperty("open_in_report_kernel").GetBoolean());
        JsonElement scenario = crash.GetProperty("scenario");
        string file = scenario.GetProperty("file").GetString()!;
        Assert.True(File.Exists(file), file);
        Assert.NotEmpty(scenario.GetProperty("findings").EnumerateArray());
        Assert.Empty(scenario.GetProperty("fixed_findings").EnumerateArray());
        Assert.StartsWith("mmtrace record -o DATASET --events ", crash.GetProperty("ftrace").GetProperty("record_next_time").GetString(), StringComparison.Ordinal);

        // The emitted scenario is an op trace: it ingests and replays with the race under 4.3 and without it under 4.4.
        Assert.Equal(0, Mmtrace.Run("ingest", file, "-o", dir["r4"]).ExitCode);
        Assert.Equal(1, Mmtrace.Run("replay", dir["r4"], "--profile", "v4.3").ExitCode);
        Assert.Equal(0, Mmtrace.Run("replay", dir["r4"], "--profile", "v4.4").ExitCode);
        // The kept dataset answers SQL over its crashes.
        var query = Mmtrace.Run("query", dir["ds"], "--sql", "SELECT kind, page_pfn, page_flags FROM crashes", "--format", "csv");
        Assert.Equal("kind,page_pfn,page_flags\nbad_page_state,1115648,uptodate|head|swapbacked|mlocked\n", query.Stdout.Replace("\r", "", StringComparison.Ordinal));
    }

    /// <summary>
    /// README's "post-mortem that starts from a kernel bug report", run as written on the report it quotes: every
    /// command reads what the one before wrote. Before, its third line ingested <c>sc/report-crash0-r4-munlock.txt</c>,
    /// a file triage never writes (the scenario is named after the trace id, the dataset's name: <c>rep-crash0-…</c>):
    /// "Input … does not exist", exit 3.
    /// </summary>
    [SkippableFact]
    public void Readme_PostMortemFromABugReport_RunsAsWritten()
    {
        using var dir = new TempDir();
        File.Copy(Report("r4-trinity-bad-page-state-mlocked-4.4-rc3-next.txt"), dir["report.txt"]);
        var commands = ReadmeCommands("## A post-mortem that starts from a kernel bug report");

        var results = commands.Select(c => (Command: string.Join(' ', c), Result: Mmtrace.RunIn(dir.Path, c[1..]))).ToList();

        Assert.Equal(4, results.Count);
        Assert.True(results[0].Result.ExitCode == 1, results[0].ToString()); // the crash matches R4
        Assert.Contains("bad_page_state", results[1].Result.Stdout, StringComparison.Ordinal);
        Assert.True(results[2].Result.ExitCode == 0, results[2].ToString());
        Assert.True(results[3].Result.ExitCode == 0, results[3].ToString()); // clean under 4.4, which has the fix
        Assert.Contains("replayed under v4.4 (x86), 0 findings", results[3].Result.Stdout, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Triage_ReportThatIsNoRace_TextNamesItAndExitsZero()
    {
        var result = Mmtrace.Run("triage", Report("none-compaction-vm-bug-on-page-pageslab-4.19.txt"));

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("class none", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("kernel 4.19.109-27 has no profile of its own; picked the nearest lower, v4.4", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("[mm/compaction]", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("mmtrace record -o DATASET --events mm -- REPRODUCER", result.Stdout, StringComparison.Ordinal);
    }

    /// <summary>
    /// What ingest's summary tells a user to do with a report's crashes: triage the dataset. Its Parquet files are no
    /// report (before, each was read as a console log: "no crash report in it"); the dataset stands for its report.
    /// </summary>
    [SkippableFact]
    public void Triage_DatasetOfAReport_TriagesTheReportItWasIngestedFromOrSaysItIsGone()
    {
        using var dir = new TempDir();
        string report = dir["report.txt"];
        File.Copy(Report("none-compaction-vm-bug-on-page-pageslab-4.19.txt"), report);
        var ingest = Mmtrace.Run("ingest", report, "--format", "console", "-o", dir["ds"]);
        Assert.Contains($"classify them with 'mmtrace triage {report}'", ingest.Stdout, StringComparison.Ordinal);

        var result = Mmtrace.Run("triage", dir["ds"]);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains($"triage: '{dir["ds"]}' is a dataset; triaging the report it was ingested from: {report}", result.Stderr, StringComparison.Ordinal);
        Assert.Contains($"report {report}", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("class none", result.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain(".parquet", result.Stdout, StringComparison.Ordinal);

        File.Delete(report);
        var gone = Mmtrace.Run("triage", dir["ds"]);
        Assert.True(gone.ExitCode == 3, gone.ToString());
        Assert.Contains($"is an mmtrace dataset ingested from '{report}', and '{report}' is not there any more", gone.Stderr, StringComparison.Ordinal);
        // Ingest refuses a dataset as input instead of reading its files as traces.
        var again = Mmtrace.Run("ingest", dir["ds"], "-o", dir["ds2"]);
        Assert.True(again.ExitCode == 3, again.ToString());
        Assert.Contains("is an mmtrace dataset (it holds meta.json), not a trace", again.Stderr, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void ReplayProfileAuto_FromMetaKernelRelease_SaysWhichProfile()
    {
        using var dir = new TempDir();
        Assert.Equal(0, Mmtrace.Run("ingest", Report("r5-lkft-exec-stack-i386-5.8-rc4.txt"), "-o", dir["ds"]).ExitCode);

        var auto = Mmtrace.Run("replay", dir["ds"], "--profile", "auto");
        var release = Mmtrace.Run("replay", dir["ds"], "--profile", "v6.14");

        Assert.True(auto.ExitCode == 0, auto.ToString());
        Assert.Contains("kernel 5.8.0-rc4 has no profile of its own; picked the nearest lower, v5.0", auto.Stdout, StringComparison.Ordinal);
        Assert.Contains("replayed under v5.0", auto.Stdout, StringComparison.Ordinal);
        Assert.True(release.ExitCode == 0, release.ToString());
        Assert.Contains("kernel v6.14 has no profile of its own; picked the nearest lower, v6.12", release.Stdout, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void ReplayProfileAuto_TraceWithoutRelease_UsageErrorNamesTheFix()
    {
        using var dir = new TempDir();
        Assert.Equal(0, Mmtrace.Run("synth", "r1-pmd", "-o", dir["r1.txt"]).ExitCode);
        Assert.Equal(0, Mmtrace.Run("ingest", dir["r1.txt"], "-o", dir["ds"]).ExitCode);

        var result = Mmtrace.Run("replay", dir["ds"], "--profile", "auto");

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("kernel_release is null", result.Stderr, StringComparison.Ordinal);
    }

    /// <summary>
    /// A lab's console log where SysRq-z dumped the ftrace buffer of a real recording (raceactors, the lines around its
    /// first R1 exposure window) on a 5.13 kernel: no crash, but the dump is the evidence. Triage must say what the dump
    /// could show (coverage per race, as replay does: before, "1 finding(s)" alone), the window's exploration verdict,
    /// and whether the race's fix closes what the dump shows; in JSON too (before, a report without a crash gave []).
    /// </summary>
    [SkippableFact]
    public void Triage_SysrqDumpOfARealRecording_CoverageWindowVerdictAndTheFixReplayedOnTheDump()
    {
        using var dir = new TempDir();
        var (text, json) = TriageR1WindowDump(dir, "5.13.0");

        Assert.True(text.ExitCode == 0, text.ToString());
        Assert.Contains("kernel 5.13.0 -> profile v5.13", text.Stdout, StringComparison.Ordinal);
        Assert.Contains("replayed under v5.13: R1 ", text.Stdout, StringComparison.Ordinal);
        Assert.Contains("      R4 blind: ", text.Stdout, StringComparison.Ordinal);
        Assert.Contains("exposure windows explored: ", text.Stdout, StringComparison.Ordinal);
        Assert.Contains("with the fix of R1 (97113eb39fa7, --fix +rmap-locks-pmd-move), the dump replayed under v5.13+rmap-locks-pmd-move: 0 R1 findings (under v5.13: ", text.Stdout, StringComparison.Ordinal);
        Assert.Contains(", its exposure window: 1 ", text.Stdout, StringComparison.Ordinal);
        Assert.True(json.ExitCode == 0, json.ToString());
        using var doc = JsonDocument.Parse(json.Stdout);
        JsonElement report = Assert.Single(doc.RootElement.EnumerateArray());
        Assert.Equal("none", report.GetProperty("class").GetString());
        Assert.Equal("v5.13", report.GetProperty("profile").GetString());
        JsonElement dump = report.GetProperty("ftrace");
        Assert.Equal(["R1", "R2", "R3", "R4", "R5", "R6"], dump.GetProperty("coverage").EnumerateArray().Select(c => c.GetProperty("race").GetString()));
        Assert.NotEqual("blind", dump.GetProperty("coverage")[0].GetProperty("verdict").GetString());
        int r1 = dump.GetProperty("findings").EnumerateArray().Count(f => f.GetProperty("race").GetString() == "R1");
        Assert.True(r1 > 0, json.Stdout);
        JsonElement fix = Assert.Single(dump.GetProperty("fixes").EnumerateArray());
        Assert.Equal(("R1", "v5.13+rmap-locks-pmd-move", r1, 0, true),
            (fix.GetProperty("race").GetString(), fix.GetProperty("profile").GetString(), fix.GetProperty("findings_before").GetInt32(),
             fix.GetProperty("findings_after").GetInt32(), fix.GetProperty("closes").GetBoolean()));
        // What exploration made of the R1 windows the fix closes: every one has a verdict.
        Assert.Equal(r1, fix.GetProperty("windows_before").EnumerateObject().Sum(v => v.Value.GetInt32()));
    }

    /// <summary>
    /// A dump in a report that prints no kernel release (a pasted excerpt without the boot banner): the fix status is
    /// unknown, so the dump replays as the scenarios do, under <c>none</c> with every race open, and the R1 that the
    /// dump shows is found. Before, the dump replayed under <c>latest</c>, where every race is fixed: "0 findings" on a
    /// dump that shows a stale-TLB race, while the line above said "every race open".
    /// </summary>
    [SkippableFact]
    public void Triage_DumpWithoutKernelRelease_ReplaysWithEveryRaceOpenAndFindsWhatItShows()
    {
        using var dir = new TempDir();
        var (text, json) = TriageR1WindowDump(dir, release: null);

        Assert.True(text.ExitCode == 0, text.ToString());
        Assert.Contains("the report prints no kernel release; fix status unknown, scenarios and any ftrace dump replay under profile none (every race open)", text.Stdout, StringComparison.Ordinal);
        Assert.Contains("replayed under none: R1 ", text.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("replayed under latest", text.Stdout, StringComparison.Ordinal);
        using var doc = JsonDocument.Parse(json.Stdout);
        JsonElement report = Assert.Single(doc.RootElement.EnumerateArray());
        Assert.Equal(JsonValueKind.Null, report.GetProperty("profile").ValueKind);
        JsonElement dump = report.GetProperty("ftrace");
        Assert.Equal("none", dump.GetProperty("profile").GetString());
        int r1 = dump.GetProperty("findings").EnumerateArray().Count(f => f.GetProperty("race").GetString() == "R1");
        Assert.True(r1 > 0, json.Stdout);
        JsonElement fix = Assert.Single(dump.GetProperty("fixes").EnumerateArray());
        Assert.Equal(("R1", 0, true), (fix.GetProperty("race").GetString(), fix.GetProperty("findings_after").GetInt32(), fix.GetProperty("closes").GetBoolean()));
    }

    private const string RealDumpConsole = "recorded/console/sysrq_dumpactors_6.1.console.txt.zst";
    private const string RealDumpDmesg = "recorded/console/sysrq_dumpactors_6.1.dmesg.txt.zst";
    private const string RealDumpKmsg = "recorded/console/sysrq_dumpactors_6.1.kmsg.txt.zst";

    /// <summary>
    /// A real kernel's SysRq-z dump (Debian's 6.1.0-57 in a VM, scripts/record-sysrq-fixture.sh) of
    /// tests/workloads/dumpactors.c as the serial console captured it: firmware output before the kernel's banner on
    /// the banner's line, CRLF line ends, every dump line with one printk stamp, a blank continuation line after each
    /// <c>exit_mmap</c> (its print format ends in a newline). What a user must get: the kernel named (before: "prints no
    /// kernel release", the banner glued to SeaBIOS's output), every event line of the dump an event and nothing
    /// malformed, and coverage as the workload's actors justify: its one PMD-moving mremap, its collapse, its two
    /// munlock/exit and two exec stack shifts lowered (before: 6.1 takes mmap_lock in every fault, between the fault
    /// event and its page, and the lowering lost the page of 1,144 faults: no PMD move, the collapse skipped), no
    /// finding under the report's kernel nor under latest.
    /// </summary>
    [SkippableFact]
    public void Triage_RealSysrqDumpOnASerialConsole_KernelNamedEveryEventLineReadActorsLowered()
    {
        using var dir = new TempDir();
        string log = Unpack(Mmtrace.Corpus(RealDumpConsole), dir["console.txt"]);

        var text = Mmtrace.Run("triage", log, "-o", dir["ds"]);
        var latest = Mmtrace.Run("triage", log, "--profile", "latest");
        var json = Mmtrace.Run("triage", log, "--format", "json");

        Assert.True(text.ExitCode == 0, text.ToString());
        Assert.Contains("kernel: kernel 6.1.0-57-amd64 -> profile v6.1", text.Stdout, StringComparison.Ordinal);
        var meta = JsonDocument.Parse(File.ReadAllText(dir["ds/meta.json"])).RootElement;
        Assert.Equal((DumpEventLines(log), 0L, 0L), (meta.GetProperty("events").GetInt64(), meta.GetProperty("lost_events").GetInt64(), meta.GetProperty("malformed_count").GetInt64()));
        Assert.Contains(Invariant($"  ftrace dump: {DumpEventLines(log):N0} events, "), text.Stdout, StringComparison.Ordinal);
        Assert.Contains("replayed under v6.1: R1 partial, R2 blind, R3 blind, R4 partial, R5 checked, R6 blind; 0 findings", text.Stdout, StringComparison.Ordinal);
        Assert.Contains("R1 partial: no rmap walker or file zap by another mm in the trace; pmd-moving mremap 1 ", text.Stdout, StringComparison.Ordinal);
        Assert.Contains("; collapse 1 ", text.Stdout, StringComparison.Ordinal);
        Assert.Contains("munlock/exit of locked pages 2 ", text.Stdout, StringComparison.Ordinal);
        Assert.Contains("R5 checked: every exec stack shift was lowered and replayed; exec stack shift 2 ", text.Stdout, StringComparison.Ordinal);
        Assert.True(latest.ExitCode == 0, latest.ToString());
        Assert.Contains("replayed under latest: R1 partial, R2 blind, R3 blind, R4 partial, R5 checked, R6 blind; 0 findings", latest.Stdout, StringComparison.Ordinal);
        using var doc = JsonDocument.Parse(json.Stdout);
        JsonElement dump = Assert.Single(doc.RootElement.EnumerateArray()).GetProperty("ftrace");
        Assert.Equal((DumpEventLines(log), 0L, 0L, 0),
            (dump.GetProperty("events").GetInt64(), dump.GetProperty("lost_events").GetInt64(), dump.GetProperty("malformed_lines").GetInt64(), dump.GetProperty("findings").GetArrayLength()));
        Assert.Equal(["partial", "blind", "blind", "partial", "checked", "blind"], dump.GetProperty("coverage").EnumerateArray().Select(c => c.GetProperty("verdict").GetString()));
    }

    private const string RealWalkersConsole = "recorded/console/sysrq_dumpwalkers_6.1.console.txt.zst";
    private const string RealWalkersWorkload = "recorded/console/sysrq_dumpwalkers_6.1.workload.txt";

    /// <summary>
    /// A real kernel's SysRq-z dump (Debian's 6.1.0-57 in a VM booted with movablecore=512M) of
    /// <c>tests/workloads/dumpactors.c walkers</c>: a PMD-moving mremap, 64 mlocked pages, the memory block holding both taken offline
    /// and online again (offline_pages migrates every page through the rmap: the walker of R1 and of R4), a munlock, a
    /// MADV_COLLAPSE and vmsplice over the collapsed range (GUP-fast: R2's lockless walker). What the post-mortem user
    /// must get from the console log alone: R1, R2 and R4 checked, met in the workload's process, the walker on
    /// mlocked pages counted as many times as the workload's pagemap saw locked pages move, and no finding under the
    /// report's kernel (6.1 has every fix these races need).
    /// </summary>
    [SkippableFact]
    public void Triage_RealSysrqDumpWithRmapWalkers_ChecksR1R2R4InTheWorkloadsProcess()
    {
        using var dir = new TempDir();
        string log = Unpack(Mmtrace.Corpus(RealWalkersConsole), dir["console.txt"]);
        // "dumpactors walkers pid=95 move=… moved_pages=388 locked_pages=64 offlined=1 collapse=0 vmspliced=2097152"
        var truth = File.ReadLines(Mmtrace.Corpus(RealWalkersWorkload)).Single(l => l.StartsWith("dumpactors walkers pid=", StringComparison.Ordinal))
            .Split(' ').Select(f => f.Split('=')).Where(kv => kv.Length == 2).ToDictionary(kv => kv[0], kv => kv[1]);
        Assert.Equal(("1", "0"), (truth["offlined"], truth["collapse"]));

        var json = Mmtrace.Run("triage", log, "--format", "json");

        Assert.True(json.ExitCode == 0, json.ToString());
        using var doc = JsonDocument.Parse(json.Stdout);
        JsonElement report = Assert.Single(doc.RootElement.EnumerateArray());
        Assert.Equal("v6.1", report.GetProperty("profile").GetString());
        JsonElement dump = report.GetProperty("ftrace");
        Assert.Equal((DumpEventLines(log), 0L, 0L, 0),
            (dump.GetProperty("events").GetInt64(), dump.GetProperty("lost_events").GetInt64(), dump.GetProperty("malformed_lines").GetInt64(), dump.GetProperty("findings").GetArrayLength()));
        var coverage = dump.GetProperty("coverage").EnumerateArray().ToDictionary(c => c.GetProperty("race").GetString()!);
        foreach (string race in new[] { "R1", "R2", "R4" })
        {
            var c = coverage[race];
            Assert.True(c.GetProperty("verdict").GetString() == "checked", c.ToString());
            var process = Assert.Single(c.GetProperty("common_processes").EnumerateArray());
            Assert.Equal(int.Parse(truth["pid"], CultureInfo.InvariantCulture), process.GetProperty("pid").GetInt32());
        }
        long Actor(string race, string name) =>
            coverage[race].GetProperty("actors").EnumerateArray().Single(a => a.GetProperty("name").GetString() == name).GetProperty("count").GetInt64();
        Assert.Equal(long.Parse(truth["locked_pages"], CultureInfo.InvariantCulture), Actor("R4", "rmap walker on mlocked pages"));
        Assert.Equal((1L, 1L), (Actor("R1", "pmd-moving mremap"), Actor("R2", "collapse")));
        // The migration walked the moved range's pages that changed frame (and what else of the mm that block held).
        Assert.True(Actor("R1", "rmap walker") >= long.Parse(truth["moved_pages"], CultureInfo.InvariantCulture), coverage["R1"].ToString());
    }

    /// <summary>
    /// The same boot's <c>dmesg</c>, run after the dump: it holds the KERN_DEBUG boot lines the console did not print, among
    /// them e820's "usable ==&gt; reserved", which was counted as a damaged trace line (a stack frame's "=&gt; "). Every
    /// event line is read, nothing is malformed, and the kernel's task events have their system (<c>task:</c>; before,
    /// ":task_newtask").
    /// </summary>
    [SkippableFact]
    public void Ingest_RealSysrqDumpInDmesg_EveryEventLineReadNothingMalformed()
    {
        using var dir = new TempDir();
        string log = Unpack(Mmtrace.Corpus(RealDumpDmesg), dir["dmesg.txt"]);

        var ingest = Mmtrace.Run("ingest", log, "-o", dir["ds"]);

        Assert.True(ingest.ExitCode == 0, ingest.ToString());
        var meta = JsonDocument.Parse(File.ReadAllText(dir["ds/meta.json"])).RootElement;
        Assert.Equal((DumpEventLines(log), 0L, "6.1.0-57-amd64"),
            (meta.GetProperty("events").GetInt64(), meta.GetProperty("malformed_count").GetInt64(), meta.GetProperty("kernel_release").GetString()));
        var counts = meta.GetProperty("event_counts");
        Assert.Equal((2L, 2L), (counts.GetProperty("task:task_newtask").GetInt64(), counts.GetProperty("task:task_rename").GetInt64()));
    }

    /// <summary>
    /// The same boot's <c>/dev/kmsg</c> (<c>LEVEL,SEQ,MICROSECONDS,FLAGS;message</c>, newlines inside a record escaped
    /// as <c>\x0a</c>): before, the release was not read (the banner's line starts with "5,0,0,-;"), and a record of
    /// two lines (a 256 KiB run's <c>CPU:1 [LOST 36276 EVENTS]</c> with the entry after it) was neither the loss nor
    /// the event. Now the dump reads as from dmesg: the same events, the release, the loss.
    /// </summary>
    [SkippableFact]
    public void Ingest_RealSysrqDumpFromDevKmsg_ReadsAsFromDmesgWithItsLostEvents()
    {
        using var dir = new TempDir();
        string kmsg = Unpack(Mmtrace.Corpus(RealDumpKmsg), dir["kmsg.txt"]);
        string dmesg = Unpack(Mmtrace.Corpus(RealDumpDmesg), dir["dmesg.txt"]);
        File.WriteAllText(dir["lost.txt"],
            "0,389,5408301,-;Dumping ftrace buffer:\n0,390,5408524,-;---------------------------------\n"
            + "0,505,5409092,-;CPU:1 [LOST 36276 EVENTS]\\x0a     exe-95        1d..3. 1807116us : mm_lru_insertion: folio=0000000029b6599d pfn=0x390f lru=0 flags=Ma bd \n");

        var all = Mmtrace.Run("ingest", kmsg, "-o", dir["ds"]);
        var lost = Mmtrace.Run("ingest", dir["lost.txt"], "-o", dir["lost"]);

        Assert.True(all.ExitCode == 0, all.ToString());
        var meta = JsonDocument.Parse(File.ReadAllText(dir["ds/meta.json"])).RootElement;
        Assert.Equal((DumpEventLines(dmesg), 0L, "6.1.0-57-amd64"),
            (meta.GetProperty("events").GetInt64(), meta.GetProperty("malformed_count").GetInt64(), meta.GetProperty("kernel_release").GetString()));
        Assert.True(lost.ExitCode == 0, lost.ToString());
        var lostMeta = JsonDocument.Parse(File.ReadAllText(dir["lost/meta.json"])).RootElement;
        Assert.Equal((1L, 36276L, 0L), (lostMeta.GetProperty("events").GetInt64(), lostMeta.GetProperty("lost_events").GetInt64(), lostMeta.GetProperty("malformed_count").GetInt64()));
    }

    /// <summary>
    /// A /dev/kmsg capture cut inside a record's escape (<c>…bd \x0</c>: the kernel escapes every '\' and control byte,
    /// so a '\' that starts no <c>\xNN</c> is damage): the record's first line (the loss) is read, the damaged line is
    /// counted malformed with its line number. Before, the cut escape stayed in the text and the damaged event line was
    /// read as an event, uncounted.
    /// </summary>
    [SkippableFact]
    public void Ingest_KmsgRecordCutInsideAnEscape_ReadsTheLossAndCountsTheDamagedLine()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["cut.txt"],
            "0,389,5408301,-;Dumping ftrace buffer:\n0,390,5408524,-;---------------------------------\n"
            + "0,505,5409092,-;CPU:1 [LOST 36276 EVENTS]\\x0a     exe-95        1d..3. 1807116us : mm_lru_insertion: folio=0000000029b6599d pfn=0x390f lru=0 flags=Ma bd \\x0\n");

        var cut = Mmtrace.Run("ingest", dir["cut.txt"], "-o", dir["cut"]);

        Assert.True(cut.ExitCode == 0, cut.ToString());
        var meta = JsonDocument.Parse(File.ReadAllText(dir["cut/meta.json"])).RootElement;
        Assert.Equal((0L, 36276L, 1L), (meta.GetProperty("events").GetInt64(), meta.GetProperty("lost_events").GetInt64(), meta.GetProperty("malformed_count").GetInt64()));
        var sample = meta.GetProperty("malformed_samples")[0];
        Assert.Equal(3L, sample.GetProperty("position").GetInt64());
        Assert.Contains("a /dev/kmsg record whose every '\\' starts an escape \\xNN", sample.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    /// <summary>Writes <paramref name="zst"/> decompressed to <paramref name="path"/> (a log as a user has it) and returns the path.</summary>
    private static string Unpack(string zst, string path)
    {
        using var input = new Pipeline.Ingest.Native.ZstdDecompressionStream(File.OpenRead(zst));
        using var output = File.Create(path);
        input.CopyTo(output);
        return path;
    }

    /// <summary>
    /// The event lines of the ftrace dump in <paramref name="log"/>, counted independently of the reader: the lines
    /// between "Dumping ftrace buffer:" and the closing dashes that hold more than their printk stamp, less
    /// <c>CPU:N [LOST M EVENTS]</c> markers.
    /// </summary>
    private static long DumpEventLines(string log)
    {
        long n = 0;
        int state = 0;
        foreach (string raw in File.ReadLines(log))
        {
            string line = raw.TrimEnd('\r');
            int stamp = line.IndexOf("] ", StringComparison.Ordinal);
            string body = stamp >= 0 && line.StartsWith('[') ? line[(stamp + 2)..] : line;
            if (state == 0 && body == "Dumping ftrace buffer:")
            {
                state = 1;
            }
            else if (state == 1 && body == "---------------------------------")
            {
                state = 2;
            }
            else if (state == 2 && body == "---------------------------------")
            {
                return n;
            }
            else if (state == 2 && body.Trim().Length > 0 && !body.StartsWith("CPU:", StringComparison.Ordinal))
            {
                n++;
            }
        }
        throw new InvalidDataException($"{log}: no whole ftrace dump");
    }

    /// <summary>
    /// <paramref name="trace"/> (a tracefs <c>trace</c> file, gzip) as a console log where SysRq-z dumped it: a boot
    /// banner naming <paramref name="release"/>, then ftrace_dump's lines: printk stamps, the latency format (comm cut
    /// to 8 characters, CPU, flags, microseconds since the first event; a real kernel counts from the buffer's last reset, which the reader cannot tell apart).
    /// </summary>
    /// <summary>Triage (text and JSON) of a SysRq-z dump of the recorded R1 window, with a banner naming <paramref name="release"/> or none.</summary>
    private static (Mmtrace.Result Text, Mmtrace.Result Json) TriageR1WindowDump(TempDir dir, string? release)
    {
        string log = dir["console.log"];
        File.WriteAllText(log, SysrqDump(Mmtrace.Corpus("recorded/ftrace-text/raceactors_r1_window.txt.gz"), release));
        return (Mmtrace.Run("triage", log), Mmtrace.Run("triage", log, "--format", "json"));
    }

    private static string SysrqDump(string trace, string? release)
    {
        using var reader = new StreamReader(new System.IO.Compression.GZipStream(File.OpenRead(trace), System.IO.Compression.CompressionMode.Decompress));
        var line = new System.Text.RegularExpressions.Regex(@"^\s*(?<comm>.+)-(?<pid>\d+)\s+\[(?<cpu>\d+)\]\s+(?<flags>\S+)\s+(?<ts>\d+\.\d+): (?<rest>.*)$");
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        var sb = new System.Text.StringBuilder();
        if (release is not null)
        {
            sb.Append(inv, $"[    0.000000] Linux version {release} (builder@lab) (gcc (Debian 10.2.1-6) 10.2.1 20210110) #1 SMP PREEMPT\n");
        }
        sb.Append("[ 4021.500000] sysrq: Dump ftrace buffer\n[ 4021.500001] Dumping ftrace buffer:\n[ 4021.500002] ---------------------------------\n");
        decimal? first = null;
        int n = 0;
        for (string? l = reader.ReadLine(); l is not null; l = reader.ReadLine())
        {
            if (line.Match(l) is not { Success: true } m)
            {
                continue;
            }
            decimal ts = decimal.Parse(m.Groups["ts"].Value, inv);
            first ??= ts;
            string comm = m.Groups["comm"].Value.Trim();
            comm = comm.Length > 8 ? comm[..8] : comm;
            long us = (long)decimal.Round((ts - first.Value) * 1_000_000m);
            sb.Append(inv, $"[{4021.5m + 0.000003m + n++ * 0.000001m,12:F6}] {comm,8}-{m.Groups["pid"].Value,-7} {int.Parse(m.Groups["cpu"].Value, inv),3}{m.Groups["flags"].Value} {us,4}us : {m.Groups["rest"].Value}\n");
        }
        sb.Append("[ 4022.000000] ---------------------------------\n");
        return sb.ToString();
    }

    private static string Report(string name) => RepoFile("tests/Replay.Tests/Triage/Reports/" + name);

    private static string RepoFile(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, relative);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        throw new FileNotFoundException($"{relative} not found above {AppContext.BaseDirectory}");
    }

    /// <summary>The commands of a README code block, each split into its arguments ("…" quoting), without comments; <c>&amp;&amp;</c> separates commands.</summary>
    private static List<string[]> ReadmeCommands(string heading)
    {
        string readme = File.ReadAllText(RepoFile("README.md"));
        int at = readme.IndexOf(heading, StringComparison.Ordinal);
        Assert.True(at >= 0, $"README.md has no '{heading}'");
        int start = readme.IndexOf("```sh\n", at, StringComparison.Ordinal) + "```sh\n".Length;
        string block = readme[start..readme.IndexOf("```", start, StringComparison.Ordinal)];
        var commands = new List<string[]>();
        foreach (string line in block.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var words = System.Text.RegularExpressions.Regex.Matches(line, "\"(?<w>[^\"]*)\"|(?<w>[^\\s\"]+)").Select(m => m.Groups["w"].Value).ToList();
            int comment = words.IndexOf("#");
            words = comment >= 0 ? words[..comment] : words;
            for (int i = words.IndexOf("&&"); i >= 0; i = words.IndexOf("&&"))
            {
                commands.Add([.. words[..i]]);
                words = words[(i + 1)..];
            }
            commands.Add([.. words]);
        }
        return commands;
    }
}
