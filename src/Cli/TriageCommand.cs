using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using Pipeline.Ingest;
using Pipeline.Replay;
using Pipeline.Replay.Coverage;
using Pipeline.Replay.Runner;
using Pipeline.Replay.Triage;
using Pipeline.Storage;

namespace Pipeline.Cli;

/// <summary>
/// <c>mmtrace triage REPORT... [-o DATASET] [--emit-scenario DIR] [--format text|json] [--profile auto|P]</c>: the
/// post-mortem of kernel bug reports. Each report is ingested as a console log (crashes.parquet), each crash is
/// classified against R1–R6 (docs/triage.md), a race match is turned into a scenario with the report's values and
/// replayed under the report's kernel and with the fix; an ftrace dump with mm events is lowered and replayed.
/// </summary>
internal static class TriageCommand
{
    private static readonly Dictionary<string, string> s_recordEvents = new(StringComparer.Ordinal)
    {
        ["R1"] = "syscalls:sys_enter_mremap,syscalls:sys_exit_mremap,exceptions:page_fault_user,kmem:mm_page_alloc,kmem:mm_page_free,tlb:tlb_flush,migrate:*,vmscan:*,mmap_lock:*,sched:sched_switch",
        ["R2"] = "huge_memory:*,kmem:mm_page_alloc,kmem:mm_page_free,tlb:tlb_flush,exceptions:page_fault_user,mmap_lock:*,sched:sched_switch",
        ["R3"] = "thp:*,syscalls:sys_enter_munmap,syscalls:sys_exit_munmap,syscalls:sys_enter_madvise,syscalls:sys_exit_madvise,kmem:mm_page_alloc,kmem:mm_page_free,exceptions:page_fault_user,mmap_lock:*",
        ["R4"] = "syscalls:sys_enter_mlock,syscalls:sys_exit_mlock,syscalls:sys_enter_munlock,syscalls:sys_exit_munlock,pagemap:mm_lru_insertion,mmap:exit_mmap,sched:sched_process_exit,kmem:mm_page_free,exceptions:page_fault_user",
        ["R5"] = "syscalls:sys_enter_execve,syscalls:sys_exit_execve,sched:sched_process_exec,exceptions:page_fault_user,kmem:mm_page_alloc",
        ["R6"] = "huge_memory:*,syscalls:sys_enter_mremap,syscalls:sys_exit_mremap,mmap_lock:*,kmem:mm_page_free,exceptions:page_fault_user",
    };

    // Event systems whose events the lowering turns into ops (docs/lowering.md).
    private static readonly string[] s_mmSystems = ["kmem:", "huge_memory:", "tlb:", "mmap_lock:", "exceptions:", "mmop:", "mmap:", "pagemap:", "migrate:", "vmscan:", "thp:"];

    public static Command Create(Option<bool> verbose)
    {
        var reports = new Argument<string[]>("REPORT")
        {
            Description = "Kernel bug reports: console logs, syzkaller reports, mails quoting them (plain, .gz, .zst); a dataset that mmtrace ingest made of reports stands for them.",
            Arity = ArgumentArity.OneOrMore,
        };
        var output = new Option<string?>("-o", "--output") { Description = "Keep the ingested reports as this dataset (crashes.parquet, events, findings) for 'mmtrace query'." };
        var emit = new Option<string?>("--emit-scenario") { Description = "Write each scenario made from a report into this directory (op traces that 'mmtrace ingest' and 'replay' read)." };
        var format = new Option<string>("--format") { Description = "Output format.", DefaultValueFactory = _ => "text" };
        format.AcceptOnlyFromAmong("text", "json");
        var profile = ProfileArgument.CreateOption(ProfileSelector.Auto);

        var command = new Command("triage", "Classify the crashes of kernel bug reports against races R1-R6, make and replay a scenario from each match; exits 1 when a crash matches a race.")
        {
            reports, output, emit, format, profile,
        };
        command.SetAction(parse => CommandRunner.Run(parse, verbose, cancellationToken =>
        {
            var inputs = ReportsOf(parse.GetValue(reports)!);
            string? keep = parse.GetValue(output);
            string? emitDir = parse.GetValue(emit);
            string profileValue = parse.GetValue(profile)!;
            if (profileValue != ProfileSelector.Auto)
            {
                ProfileSelector.Resolve(profileValue, null);
            }
            string dataset = keep ?? Path.Combine(Path.GetTempPath(), "mmtrace-triage-" + Path.GetRandomFileName().Replace(".", "", StringComparison.Ordinal));
            try
            {
                var results = Run(inputs, dataset, emitDir, profileValue, cancellationToken);
                if (parse.GetValue(format) == "json")
                {
                    WriteJson(results);
                }
                else
                {
                    WriteText(results, keep);
                }
                return results.Any(r => r.Crashes.Any(c => c.Verdict.Class != "none")) ? ExitCodes.Findings : ExitCodes.Success;
            }
            finally
            {
                if (keep is null && Directory.Exists(dataset))
                {
                    Directory.Delete(dataset, recursive: true);
                }
            }
        }));
        return command;
    }

    /// <summary>
    /// The reports to triage: the inputs as given, but a dataset directory (what <c>mmtrace ingest</c> of a report
    /// wrote; its Parquet files are no report) stands for the reports its meta.json says it was ingested from.
    /// </summary>
    /// <exception cref="InvalidDataException">A dataset whose reports are not there any more.</exception>
    private static string[] ReportsOf(string[] inputs)
    {
        var reports = new List<string>();
        foreach (string input in inputs)
        {
            if (TraceIngestor.DatasetSources(input) is not { } sources)
            {
                reports.Add(input);
                continue;
            }
            var missing = sources.Where(x => !File.Exists(x)).ToList();
            if (sources.Count == 0 || missing.Count > 0)
            {
                throw new InvalidDataException(sources.Count == 0
                    ? $"'{input}' is an mmtrace dataset whose meta.json names no source file; triage reads the reports themselves: give the report files."
                    : $"'{input}' is an mmtrace dataset ingested from {string.Join(", ", sources.Select(x => $"'{x}'"))}, and {string.Join(", ", missing.Select(x => $"'{x}'"))} {(missing.Count == 1 ? "is" : "are")} not there any more; triage reads the reports themselves: give the report files.");
            }
            Console.Error.WriteLine($"triage: '{input}' is a dataset; triaging the report{(sources.Count == 1 ? "" : "s")} it was ingested from: {string.Join(", ", sources)}");
            reports.AddRange(sources);
        }
        return [.. reports];
    }

    private const string NoCrash = "no crash report in it (no WARNING, BUG, Oops, KASAN, Bad page state, stall or hung task header)";

    private sealed record CrashResult(CrashRecord Crash, CrashVerdict Verdict, RaceFacts? Race, ReportScenarioRun? Scenario, string? ScenarioFile);

    private sealed record ReportResult(
        string Report, string TraceId, string? Release, ProfileChoice? Choice, IReadOnlyList<CrashResult> Crashes,
        IReadOnlyDictionary<string, long> MmEvents, DatasetReplayResult? Replay, IReadOnlyList<DumpFix> Fixes, string RecordHint,
        long QuotedLinesDropped, long Malformed, TimeSpan Elapsed)
    {
        /// <summary>
        /// The kernel the report's scenarios and its dump replay under: the report's, or <c>none</c> (every race open)
        /// when it prints no release. Under <c>latest</c> every race is closed, so a dump of an unknown kernel would
        /// show no race whatever it holds.
        /// </summary>
        public KernelProfile Kernel => KernelOf(Choice);
    }

    /// <summary>The dump replayed again with the fix of a race it showed: whether the fix closes what the dump shows.</summary>
    /// <param name="Race">The race whose findings the dump showed.</param>
    /// <param name="Profile">The report's kernel with the race's fix.</param>
    /// <param name="Before">Findings of the race under the report's kernel.</param>
    /// <param name="WindowsBefore">What exploration made of the race's exposure windows under the report's kernel, per
    /// verdict: a fix that closes only refuted windows closes what no explored order reached anyway.</param>
    /// <param name="Replay">The replay under <paramref name="Profile"/> (its windows not explored: only its count is read).</param>
    private sealed record DumpFix(RaceFacts Race, KernelProfile Profile, int Before, IReadOnlyList<(string Verdict, int Count)> WindowsBefore, DatasetReplayResult Replay)
    {
        public int After => Replay.Findings.Count(f => f.Race == Race.Id);
    }

    private static List<ReportResult> Run(string[] inputs, string dataset, string? emitDir, string profileValue, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var summaries = TraceIngestor.Run(new IngestOptions { Inputs = inputs, Output = dataset, Format = "console" }, null, cancellationToken);
        // One report is written at the dataset itself (its id is the directory's name); several are trace=<id>/ partitions.
        var resolved = DatasetCatalog.Resolve([dataset]);
        var traces = resolved.ToDictionary(t => t.Id, StringComparer.Ordinal);
        TraceDataset TraceOf(TraceIngestSummary s) => resolved.Count == 1 ? resolved[0] : traces[s.TraceId];
        var ingestShare = clock.Elapsed / Math.Max(1, summaries.Count);
        if (emitDir is not null)
        {
            Directory.CreateDirectory(emitDir);
        }
        var results = new List<ReportResult>();
        foreach (var s in summaries)
        {
            var started = clock.Elapsed;
            cancellationToken.ThrowIfCancellationRequested();
            ProfileChoice? choice = profileValue == ProfileSelector.Auto
                ? ProfileSelector.ForRelease(s.KernelRelease)
                : ProfileSelector.Resolve(profileValue, s.KernelRelease);
            var crashes = new List<CrashResult>();
            foreach (CrashRecord crash in s.CrashRecords)
            {
                CrashVerdict verdict = CrashClassifier.Classify(crash, choice?.Profile);
                if (verdict.Class == "none" || verdict.Scenario is null)
                {
                    crashes.Add(new CrashResult(crash, verdict, null, null, null));
                    continue;
                }
                RaceFacts race = RaceFacts.Get(verdict.Class);
                // Without a release the scenario runs with every race open (profile none).
                var run = ReportScenario.Run(verdict.Scenario, race, crash, KernelOf(choice));
                string? file = null;
                if (emitDir is not null)
                {
                    file = Path.Combine(emitDir, string.Create(CultureInfo.InvariantCulture, $"{s.TraceId}-crash{crash.Index}-{verdict.Scenario}.txt"));
                    AtomicFile.WriteText(file, writer => OpTraceWriter.Write(run.Trace, writer));
                }
                crashes.Add(new CrashResult(crash, verdict, race, run, file));
            }
            var mm = s.EventCounts.Where(p => s_mmSystems.Any(m => p.Key.StartsWith(m, StringComparison.Ordinal)) || IsMmSyscall(p.Key))
                .ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
            DatasetReplayResult? replay = null;
            var fixes = new List<DumpFix>();
            if (mm.Count > 0)
            {
                // The dump replays under the same kernel as the scenarios: without a release, none (every race open).
                KernelProfile kernel = KernelOf(choice);
                replay = DatasetReplay.Run(TraceOf(s), kernel, Arch.X86, new DatasetReplayOptions(), cancellationToken);
                // What the dump shows of a race the kernel has open is replayed again with the race's fix: the
                // post-mortem's second question, whether the fix would have closed it (its own replay=… run).
                foreach (var race in RaceFacts.All)
                {
                    int before = replay.Findings.Count(f => f.Race == race.Id);
                    if (before > 0 && race.Fixed(kernel) is var fixedKernel && !ReferenceEquals(fixedKernel, kernel))
                    {
                        var windows = (replay.Windows?.Windows ?? []).Where(w => w.Exposure.Race == race.Id && w.Selected && !w.Capped)
                            .GroupBy(w => w.Verdict).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => (g.Key, g.Count())).ToList();
                        fixes.Add(new DumpFix(race, fixedKernel, before, windows,
                            DatasetReplay.Run(TraceOf(s), fixedKernel, Arch.X86, new DatasetReplayOptions { ExploreWindows = null }, cancellationToken)));
                    }
                }
            }
            var classes = crashes.Select(c => c.Verdict.Class).Where(c => c != "none").Distinct().Order(StringComparer.Ordinal).ToList();
            string events = classes.Count == 0 ? "mm" : string.Join(",", classes.SelectMany(c => s_recordEvents[c].Split(',')).Distinct());
            results.Add(new ReportResult(s.Input, s.TraceId, s.KernelRelease, choice, crashes, mm, replay, fixes, events, s.QuotedLinesDropped, s.Malformed,
                ingestShare + (clock.Elapsed - started)));
        }
        return results;
    }

    private static KernelProfile KernelOf(ProfileChoice? choice) => choice?.Profile ?? KernelProfile.None;

    private static bool IsMmSyscall(string name) =>
        name.StartsWith("syscalls:sys_", StringComparison.Ordinal)
        && (name.EndsWith("_mremap", StringComparison.Ordinal) || name.EndsWith("_mmap", StringComparison.Ordinal) || name.EndsWith("_munmap", StringComparison.Ordinal)
            || name.EndsWith("_madvise", StringComparison.Ordinal) || name.Contains("lock", StringComparison.Ordinal) || name.EndsWith("_execve", StringComparison.Ordinal));

    private static void WriteText(List<ReportResult> results, string? keep)
    {
        var o = Console.Out;
        foreach (var r in results)
        {
            o.WriteLine($"report {r.Report}");
            o.WriteLine(r.Choice is null
                ? "  kernel: the report prints no kernel release; fix status unknown, scenarios and any ftrace dump replay under profile none (every race open)"
                : $"  kernel: {r.Choice.Explanation}");
            if (r.QuotedLinesDropped > 0)
            {
                o.WriteLine(Invariant($"  {r.QuotedLinesDropped} trace line(s) in quoted mail text (an older message) left out of the timeline"));
            }
            if (r.Crashes.Count == 0)
            {
                o.WriteLine("  " + NoCrash);
            }
            foreach (var c in r.Crashes)
            {
                WriteCrash(o, c);
            }
            if (r.Replay is { } replay)
            {
                o.WriteLine(Invariant($"  ftrace dump: {replay.Dataset.Meta.Events:N0} events, {r.MmEvents.Values.Sum():N0} of them mm events ({string.Join(", ", r.MmEvents.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key} {p.Value}"))})"));
                if (r.Malformed > 0)
                {
                    o.WriteLine(Invariant($"    {r.Malformed:N0} line(s) of the log look like damaged trace output and were not read (meta.json malformed_samples names them)"));
                }
                // As replay: the coverage verdicts lead, so that "0 findings" says what the dump could show.
                o.WriteLine(Invariant($"    lowered into {replay.OpCount:N0} ops, replayed under {r.Kernel.Name}: {string.Join(", ", replay.Coverage.Select(c => c.Race + " " + c.VerdictName))}; {Findings(replay.Findings.Count)}"));
                if (CoverageTracker.LossText(replay.Dataset.Meta.LostEvents, replay.Dataset.Meta.Truncated) is { } loss)
                {
                    o.WriteLine($"      {loss}: no race is checked on this dump");
                }
                var coverage = new StringWriter { NewLine = "\n" };
                foreach (var c in replay.Coverage)
                {
                    ReplayCommand.WriteCoverage(coverage, c);
                }
                o.Write(Indent(coverage.ToString(), "    "));
                if (replay.Windows is { } windows)
                {
                    o.WriteLine("      exposure windows explored: " + windows.Tally());
                    foreach (string line in windows.VerdictLines())
                    {
                        o.WriteLine("        " + line);
                    }
                }
                foreach (var f in replay.Findings.Take(3))
                {
                    o.Write(Indent(WitnessRenderer.RenderTimeline(f), "    "));
                }
                if (replay.Findings.Count > 3)
                {
                    o.WriteLine(Invariant($"    {replay.Findings.Count - 3:N0} more not drawn here; every witness: mmtrace triage -o DATASET, then mmtrace query DATASET --sql \"SELECT * FROM findings\""));
                }
                foreach (var fix in r.Fixes)
                {
                    o.WriteLine(Invariant($"    with the fix of {fix.Race.Id} ({fix.Race.FixCommit}, --fix +{fix.Race.Fix}), the dump replayed under {fix.Profile.Name}: {fix.After} {fix.Race.Id} finding{(fix.After == 1 ? "" : "s")} (under {r.Kernel.Name}: {fix.Before}{WindowsOf(fix)}) — {(fix.After == 0 ? "the fix closes what the dump shows" : "the fix does not close all of it")}"));
                }
            }
            else
            {
                o.WriteLine("  ftrace dump: none with mm events in this report, so there is no timeline to replay; to capture one next time, run the reproducer under");
                o.WriteLine($"    mmtrace record -o DATASET --events {r.RecordHint} -- REPRODUCER");
            }
            o.WriteLine(Invariant($"  triaged in {r.Elapsed.TotalMilliseconds:F0} ms"));
            o.WriteLine();
        }
        if (keep is not null)
        {
            o.WriteLine($"dataset {keep}: crashes, events{(results.Any(r => r.Replay is not null) ? ", findings" : "")} (mmtrace query {keep} --sql \"SELECT * FROM crashes\")");
        }
    }

    private static void WriteCrash(TextWriter o, CrashResult c)
    {
        CrashRecord k = c.Crash;
        o.WriteLine(Invariant($"  crash {k.Index} (line {k.Line}{(k.QuoteDepth > 0 ? $", quoted at depth {k.QuoteDepth} from an older message" : "")}): {k.Title}"));
        var facts = new List<string> { $"kind {k.Kind}" };
        if (k.Comm is not null || k.Pid is not null)
        {
            facts.Add($"task {k.Comm ?? "?"}/{k.Pid?.ToString(CultureInfo.InvariantCulture) ?? "?"}");
        }
        if (k.Cpu is int cpu)
        {
            facts.Add(Invariant($"cpu {cpu}"));
        }
        if (k.RipSymbol is not null)
        {
            facts.Add(k.RipOffset is null ? $"RIP {k.RipSymbol}" : $"RIP {k.RipSymbol}+{k.RipOffset}/{k.RipSize}");
        }
        if (k.PagePfn is ulong pfn)
        {
            facts.Add(Invariant($"pfn 0x{pfn:x}"));
        }
        if (k.PageFlags is not null)
        {
            facts.Add($"flags {k.PageFlags}");
        }
        o.WriteLine("    " + string.Join(", ", facts));
        CrashVerdict v = c.Verdict;
        o.WriteLine(Invariant($"    class {v.Class} (confidence {v.Confidence:F2}){(c.Race is null ? "" : " — " + c.Race.Title)}"));
        o.WriteLine($"    what: {v.What}");
        foreach (string reason in v.Reasons)
        {
            o.WriteLine($"      - {reason}");
        }
        if (c.Race is { } race && c.Scenario is { } run)
        {
            o.WriteLine($"    kernels with {race.Id}: {race.Kernels}; fix {race.FixCommit} ({race.Fix}), first in {race.FixedIn}");
            o.WriteLine($"    this kernel ({run.Profile.Name}): {(race.OpenIn(run.Profile) ? "the fix is absent, the race is open" : "the race is closed (fix present or its code absent)")}");
            o.WriteLine($"    scenario {run.Name} from the report: {string.Join("; ", run.Instantiated)}{(c.ScenarioFile is null ? " (write it with --emit-scenario DIR)" : " -> " + c.ScenarioFile)}");
            o.WriteLine(Invariant($"    replayed under {run.Profile.Name}: {Summary(run.Findings)}"));
            foreach (var f in run.Findings.Take(1))
            {
                o.Write(Indent(WitnessRenderer.RenderTimeline(f), "      "));
            }
            if (!ReferenceEquals(run.FixedProfile, run.Profile))
            {
                o.WriteLine(Invariant($"    replayed under {run.FixedProfile.Name}: {Summary(run.FixedFindings)}{(run.FixedFindings.Count == 0 ? $" — {race.FixCommit} closes this interleaving" : "")}"));
            }
        }
    }

    private static string Summary(IReadOnlyList<Finding> findings) =>
        findings.Count == 0 ? "clean" : string.Join(", ", findings.GroupBy(f => f.Checker).Select(g => Invariant($"{g.Key} ×{g.Count()}"))) + $" ({findings[0].Message})";

    private static string Indent(string text, string prefix) =>
        string.Concat(text.Split('\n').Where(l => l.Length > 0).Select(l => prefix + l + "\n"));

    private static void WriteJson(List<ReportResult> results)
    {
        using var stream = Console.OpenStandardOutput();
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        json.WriteStartArray();
        foreach (var r in results)
        {
            if (r.Crashes.Count == 0)
            {
                // No crash (a dump taken by SysRq-z, a lab's console log): one object, so that its dump is not lost.
                json.WriteStartObject();
                json.WriteString("report", r.Report);
                json.WriteNull("crash_id");
                json.WriteString("class", "none");
                json.WriteStartArray("reasons");
                json.WriteStringValue(NoCrash);
                json.WriteEndArray();
                json.WriteString("kernel_release", r.Release);
                json.WriteString("profile", r.Choice?.Profile.Name);
                json.WriteString("profile_choice", r.Choice?.Explanation);
                WriteDump(json, r);
                json.WriteNumber("triage_ms", Math.Round(r.Elapsed.TotalMilliseconds, 1));
                json.WriteEndObject();
            }
            foreach (var c in r.Crashes)
            {
                CrashRecord k = c.Crash;
                json.WriteStartObject();
                json.WriteString("report", r.Report);
                json.WriteNumber("crash_id", k.Index);
                json.WriteNumber("line", k.Line);
                json.WriteNumber("quote_depth", k.QuoteDepth);
                json.WriteString("kind", k.Kind);
                json.WriteString("title", k.Title);
                json.WriteString("class", c.Verdict.Class);
                json.WriteNumber("confidence", c.Verdict.Confidence);
                json.WriteStartArray("reasons");
                foreach (string reason in c.Verdict.Reasons)
                {
                    json.WriteStringValue(reason);
                }
                json.WriteEndArray();
                json.WriteString("what", c.Verdict.What);
                json.WriteString("subsystem", c.Verdict.Subsystem);
                json.WriteString("kernel_release", k.KernelRelease ?? r.Release);
                json.WriteString("profile", r.Choice?.Profile.Name);
                json.WriteString("profile_choice", r.Choice?.Explanation);
                WriteOptional(json, "comm", k.Comm);
                WriteOptional(json, "pid", k.Pid);
                WriteOptional(json, "cpu", k.Cpu);
                if (k.PagePfn is ulong pfn)
                {
                    json.WriteNumber("pfn", pfn);
                }
                if (c.Race is { } race && c.Scenario is { } run)
                {
                    json.WriteStartObject("race");
                    json.WriteString("title", race.Title);
                    json.WriteString("kernels", race.Kernels);
                    json.WriteString("fix", race.Fix);
                    json.WriteString("fix_commit", race.FixCommit);
                    json.WriteString("fixed_in", race.FixedIn);
                    json.WriteBoolean("open_in_report_kernel", race.OpenIn(run.Profile));
                    json.WriteEndObject();
                    json.WriteStartObject("scenario");
                    json.WriteString("name", run.Name);
                    json.WriteString("file", c.ScenarioFile);
                    json.WriteStartArray("instantiated");
                    foreach (string note in run.Instantiated)
                    {
                        json.WriteStringValue(note);
                    }
                    json.WriteEndArray();
                    json.WriteString("profile", run.Profile.Name);
                    WriteFindings(json, "findings", run.Findings);
                    json.WriteString("fixed_profile", run.FixedProfile.Name);
                    WriteFindings(json, "fixed_findings", run.FixedFindings);
                    json.WriteEndObject();
                }
                else
                {
                    json.WriteNull("race");
                    json.WriteNull("scenario");
                }
                WriteDump(json, r);
                json.WriteNumber("triage_ms", Math.Round(r.Elapsed.TotalMilliseconds, 1));
                json.WriteEndObject();
            }
        }
        json.WriteEndArray();
        json.Flush();
        stream.WriteByte((byte)'\n');
    }

    /// <summary>The report's ftrace dump: what it held, the coverage of its replay, its findings, and each fix replayed on it.</summary>
    private static void WriteDump(Utf8JsonWriter json, ReportResult r)
    {
        json.WriteStartObject("ftrace");
        json.WriteNumber("mm_events", r.MmEvents.Values.Sum());
        if (r.Replay is { } replay)
        {
            // Every line of the dump is an event, a lost-events marker (counted in lost_events) or a malformed line.
            json.WriteNumber("events", replay.Dataset.Meta.Events);
            json.WriteNumber("lost_events", replay.Dataset.Meta.LostEvents);
            json.WriteNumber("malformed_lines", r.Malformed);
            json.WriteNumber("ops", replay.OpCount);
            json.WriteString("profile", r.Kernel.Name);
            json.WriteStartArray("coverage");
            foreach (var c in replay.Coverage)
            {
                ReplayCommand.WriteCoverageJson(json, c);
            }
            json.WriteEndArray();
            WriteFindings(json, "findings", replay.Findings);
            json.WriteStartArray("fixes");
            foreach (var fix in r.Fixes)
            {
                json.WriteStartObject();
                json.WriteString("race", fix.Race.Id);
                json.WriteString("fix", fix.Race.Fix);
                json.WriteString("commit", fix.Race.FixCommit);
                json.WriteString("profile", fix.Profile.Name);
                json.WriteNumber("findings_before", fix.Before);
                json.WriteNumber("findings_after", fix.After);
                json.WriteBoolean("closes", fix.After == 0);
                json.WriteStartObject("windows_before");
                foreach (var (verdict, count) in fix.WindowsBefore)
                {
                    json.WriteNumber(verdict, count);
                }
                json.WriteEndObject();
                WriteFindings(json, "findings", fix.Replay.Findings);
                json.WriteEndObject();
            }
            json.WriteEndArray();
        }
        else
        {
            json.WriteString("record_next_time", $"mmtrace record -o DATASET --events {r.RecordHint} -- REPRODUCER");
        }
        json.WriteEndObject();
    }

    private static void WriteFindings(Utf8JsonWriter json, string name, IReadOnlyList<Finding> findings)
    {
        json.WriteStartArray(name);
        foreach (var f in findings)
        {
            f.WriteJson(json);
        }
        json.WriteEndArray();
    }

    private static void WriteOptional(Utf8JsonWriter json, string name, string? value)
    {
        if (value is null)
        {
            json.WriteNull(name);
        }
        else
        {
            json.WriteString(name, value);
        }
    }

    private static void WriteOptional(Utf8JsonWriter json, string name, int? value)
    {
        if (value is int v)
        {
            json.WriteNumber(name, v);
        }
        else
        {
            json.WriteNull(name);
        }
    }

    /// <summary>", its exposure window: 1 refuted" for the fix line, or nothing when the race had no window explored.</summary>
    private static string WindowsOf(DumpFix fix)
    {
        int windows = fix.WindowsBefore.Sum(v => v.Count);
        return windows == 0 ? "" : Invariant(
            $", its {(windows == 1 ? "exposure window" : $"{windows} exposure windows explored")}: {string.Join(", ", fix.WindowsBefore.Select(v => Invariant($"{v.Count} {v.Verdict}")))}");
    }

    private static string Findings(int count) => Invariant($"{count:N0} finding{(count == 1 ? "" : "s")}");

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
