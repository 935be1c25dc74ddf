using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Pipeline.Ingest;
using Pipeline.Replay;
using Pipeline.Replay.Explore;
using Pipeline.Replay.Runner;
using Pipeline.Replay.Workloads;
using Pipeline.Storage;

namespace Pipeline.Cli;

/// <summary>
/// <c>mmtrace demo</c>: the whole pipeline on the embedded scenarios. Synthesizes every seed race as an op trace,
/// ingests them as partitions of one dataset, replays each under no fix, the last kernel that had the race, the
/// first that fixed it, and every fix, prints the table of findings and one witness, and leaves the dataset
/// (with findings.parquet in replay=PROFILE@ARCH/) for 'mmtrace query'.
/// </summary>
internal static class DemoCommand
{
    public static Command Create(Option<bool> verbose)
    {
        var output = new Option<string>("--output", "-o")
        {
            Description = "Where to leave the demo dataset.",
            DefaultValueFactory = _ => DefaultDirectory(),
        };
        var format = new Option<string>("--format") { Description = "Output format: text (the table, legend and a witness) or json.", DefaultValueFactory = _ => "text" };
        format.AcceptOnlyFromAmong("text", "json");
        var command = new Command("demo", "Run the main job on the embedded scenarios: synthesize, ingest, replay under buggy and fixed kernels, print the findings.")
        {
            output, format,
        };
        command.SetAction(parse => CommandRunner.Run(parse, verbose, cancellationToken =>
        {
            var outcome = ProgressLine.While(bar => Run(parse.GetValue(output)!, bar, cancellationToken));
            if (parse.GetValue(format) == "json")
            {
                JsonOutput.Write(outcome.WriteJson);
            }
            else
            {
                outcome.WriteText(Console.Out);
            }
            return outcome.AllAsExpected ? ExitCodes.Success : ExitCodes.Findings;
        }));
        return command;
    }

    /// <summary>
    /// The demo's dataset is per user, so two users of one machine do not overwrite (or fail on) each other's:
    /// $XDG_CACHE_HOME/mmtrace/demo, else ~/.cache/mmtrace/demo, else the temp directory with the user's name.
    /// </summary>
    internal static string DefaultDirectory()
    {
        string? cache = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        if (string.IsNullOrEmpty(cache))
        {
            string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            cache = string.IsNullOrEmpty(home) ? null : Path.Combine(home, ".cache");
        }
        return cache is null
            ? Path.Combine(Path.GetTempPath(), $"mmtrace-demo-{Environment.UserName}")
            : Path.Combine(cache, "mmtrace", "demo");
    }

    /// <summary>What the race and checker names in the table stand for (src/Replay/Checkers, docs/profiles.md).</summary>
    internal static readonly (string Race, string Checker, string What, string Invariant)[] LegendEntries =
    [
        ("R1", "I1", "stale TLB entry after an mremap PMD/PUD move", "no usable TLB entry maps a page when it is freed"),
        ("R2", "I2", "khugepaged collapse vs GUP-fast", "a table is freed only after lockless walkers left"),
        ("R3", "I3", "try_to_unmap vs zap (PTE / THP)", "no irrevocable decision on a counter a writer is updating"),
        ("R4", "I4", "mlock vs munlock / truncate / exit", "Mlocked only with a VM_LOCKED mapping seen under the PTL"),
        ("R5", "I5", "exec stack shift: move_normal_pmd on overlap", "a table is linked from one slot; PMD moves need an empty one"),
        ("R6", "I6", "retract_page_tables vs move_page_tables", "a value read before a lock is re-read under it"),
    ];

    /// <summary>The legend as printed: each race beside the invariant checker that catches it.</summary>
    internal static readonly string[] Legend =
    [
        "Races and the invariant checker that catches each:",
        .. LegendEntries.Select(e => $"  {e.Race}  {e.What,-50}  {e.Checker}  {e.Invariant}"),
    ];

    /// <summary>Size of the demo's random workloads: large enough to mean something, small enough for a 30 s demo.</summary>
    private const long RandomOps = 100_000;
    private const string BenignScenario = "r1-pmd";

    private sealed record Row(Scenario Scenario, Arch Arch, string Buggy, string Fixed);

    /// <summary>One replay of a row: the profile, what fired, and whether that is what the scenario expects.</summary>
    private sealed record RunResult(string Profile, IReadOnlyList<Finding> Findings, bool AsExpected)
    {
        public string Cell() => DemoCommand.Cell(Profile, Findings, AsExpected);
    }

    /// <summary>A row of the table; <paramref name="Runs"/> has a slot per column (none, last buggy, first fixed, latest), null where not run.</summary>
    private sealed record TableRow(string Trace, string Race, string Arch, long? Ops, RunResult?[] Runs);

    /// <summary>An exploration of the benign order.</summary>
    private sealed record ExploreRow(string Trace, string Profile, int Bound, ExploreResult Result, Finding? Found, int? Preemptions, bool AsExpected);

    /// <summary>What the demo did, printed as text or JSON.</summary>
    private sealed record Outcome(
        string Output, int Scenarios, long Events, IReadOnlyList<TableRow> Rows, IReadOnlyList<ExploreRow> Explorations,
        Finding? Witness, string? WitnessUnder, string BenignBuggy, TimeSpan Elapsed)
    {
        public bool AllAsExpected => Rows.All(r => r.Runs.All(c => c is null || c.AsExpected)) && Explorations.All(e => e.AsExpected);

        public void WriteText(TextWriter o)
        {
            o.WriteLine(Invariant($"synthesized {Scenarios} scenarios and 2 random workloads and ingested them into {Output} ({Events:N0} op events)"));
            o.WriteLine();
            var table = Rows.Select(r => (string[])[r.Ops is { } ops ? Invariant($"{r.Trace} ({ops:N0} ops)") : r.Trace, r.Race, r.Arch,
                .. r.Runs.Select(c => c?.Cell() ?? "-")]).ToList();
            PrintTable(o, ["scenario", "race", "arch", "none", "last buggy", "first fixed", "latest"], table);
            o.WriteLine();
            foreach (var e in Explorations)
            {
                o.WriteLine(Invariant($"explore {e.Trace} under {e.Profile}: {e.Result.Schedules:N0} schedules, ")
                    + (e.Found is { } f ? Invariant($"{f.Checker} {f.Race} found {e.Preemptions} preemption(s) away") : e.Result.Coverage())
                    + (e.AsExpected ? "" : " !"));
            }
            o.WriteLine();
            o.WriteLine("Each cell: profile, then the checkers that fired (×count) or 'clean'; '!' marks a result the scenario did not expect.");
            o.WriteLine();
            foreach (var line in Legend)
            {
                o.WriteLine(line);
            }
            if (Witness is not null)
            {
                o.WriteLine();
                o.WriteLine($"Witness of {WitnessUnder}:");
                o.WriteLine();
                o.Write(WitnessRenderer.RenderTimeline(Witness));
            }
            o.WriteLine();
            o.WriteLine(Invariant($"done in {Elapsed.TotalSeconds:F1} s. Findings of the buggy runs are in {Output}/trace=*/replay=*/findings.parquet:"));
            o.WriteLine($"  ./mmtrace query {Output} --sql \"SELECT trace, profile, checker, race, severity, message FROM findings ORDER BY trace\"");
            o.WriteLine($"  ./mmtrace explore {Output}/trace={BenignScenario}-benign --profile {BenignBuggy}    # the exploration with its witness");
        }

        /// <summary>
        /// The same as JSON: rows with a run per column (profile, findings by checker, as expected), the
        /// explorations, the legend as race → (checker, what), and the witness finding.
        /// </summary>
        public void WriteJson(System.Text.Json.Utf8JsonWriter json)
        {
            string[] columns = ["none", "last_buggy", "first_fixed", "latest"];
            json.WriteStartObject();
            json.WriteString("dataset", Output);
            json.WriteNumber("scenarios", Scenarios);
            json.WriteNumber("events", Events);
            json.WriteBoolean("all_as_expected", AllAsExpected);
            json.WriteNumber("seconds", Math.Round(Elapsed.TotalSeconds, 3));
            json.WriteStartArray("rows");
            foreach (var r in Rows)
            {
                json.WriteStartObject();
                json.WriteString("trace", r.Trace);
                json.WriteString("race", r.Race);
                json.WriteString("arch", r.Arch);
                if (r.Ops is { } ops)
                {
                    json.WriteNumber("ops", ops);
                }
                for (int i = 0; i < columns.Length; i++)
                {
                    if (r.Runs[i] is not { } run)
                    {
                        json.WriteNull(columns[i]);
                        continue;
                    }
                    json.WriteStartObject(columns[i]);
                    json.WriteString("profile", run.Profile);
                    json.WriteStartObject("findings");
                    foreach (var g in run.Findings.GroupBy(f => f.Class == FindingClass.Race ? f.Checker : f.Class).OrderBy(g => g.Key, StringComparer.Ordinal))
                    {
                        json.WriteNumber(g.Key, g.Count());
                    }
                    json.WriteEndObject();
                    json.WriteBoolean("as_expected", run.AsExpected);
                    json.WriteEndObject();
                }
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteStartArray("explorations");
            foreach (var e in Explorations)
            {
                json.WriteStartObject();
                json.WriteString("trace", e.Trace);
                json.WriteString("profile", e.Profile);
                json.WriteNumber("bound", e.Bound);
                json.WriteNumber("schedules", e.Result.Schedules);
                json.WriteBoolean("exhaustive", e.Result.Exhaustive);
                json.WriteString("checker", e.Found?.Checker);
                json.WriteString("race", e.Found?.Race);
                if (e.Preemptions is { } preemptions)
                {
                    json.WriteNumber("preemptions", preemptions);
                }
                else
                {
                    json.WriteNull("preemptions");
                }
                json.WriteBoolean("as_expected", e.AsExpected);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteStartObject("legend");
            foreach (var (race, checker, what, invariant) in LegendEntries)
            {
                json.WriteStartObject(race);
                json.WriteString("race", what);
                json.WriteString("checker", checker);
                json.WriteString("invariant", invariant);
                json.WriteEndObject();
            }
            json.WriteEndObject();
            if (Witness is not null)
            {
                json.WriteString("witness_of", WitnessUnder);
                json.WritePropertyName("witness");
                Witness.WriteJson(json);
            }
            json.WriteEndObject();
        }
    }

    private static Outcome Run(string output, ProgressLine? bar, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var scratch = Directory.CreateTempSubdirectory("mmtrace-demo-");
        try
        {
            // 1. Synthesize every scenario as an op trace (ftrace text).
            bar?.Show("demo: synthesizing", null, "", force: true);
            var inputs = new List<string>();
            foreach (var scenario in ScenarioLibrary.All)
            {
                var path = Path.Combine(scratch.FullName, scenario.Name + ".txt");
                var trace = scenario.Build();
                AtomicFile.WriteText(path, writer => OpTraceWriter.Write(trace, writer));
                inputs.Add(path);
            }

            // A random workload generated for 'latest' that obeys the kernel's locking (no finding under 'none'
            // or 'latest', the two kernels it is replayed under here: both have every feature it uses), and the
            // same with every race injected (each found by its checker under 'none', none under 'latest'). A
            // workload for an older kernel is generated for that kernel ('mmtrace soak' checks them all).
            var random = new RandomWorkloadOptions { Cpus = 4, Ops = RandomOps, Seed = 1 }.For(KernelProfile.Latest);
            var injected = random with { Seed = 2, Inject = RandomWorkloadOptions.RaceIds };
            foreach (var (name, options) in new[] { ("random", random), ("random-injected", injected) })
            {
                var path = Path.Combine(scratch.FullName, name + ".txt");
                AtomicFile.WriteText(path, writer => RandomWorkload.Write(options, writer));
                inputs.Add(path);
            }

            // The same programs as r1-pmd in a benign order, for the exploration below.
            var benignPath = Path.Combine(scratch.FullName, BenignScenario + "-benign.txt");
            AtomicFile.WriteText(benignPath, writer => OpTraceWriter.Write(ScenarioLibrary.Get(BenignScenario).BuildBenign(), writer));
            inputs.Add(benignPath);

            // 2. Ingest them like any trace: one partition each.
            // Force: the inputs live in a fresh scratch directory each run, so a previous demo dataset at the output
            // never matches them by name; the demo's output directory is the demo's.
            var ingested = TraceIngestor.Run(new IngestOptions { Inputs = inputs, Output = output, Force = true }, bar?.ForIngest(), cancellationToken);
            long events = ingested.Sum(s => s.Events);

            // 3. Replay each under none, its last buggy kernel, its first fixed kernel and latest.
            var datasets = DatasetCatalog.Resolve([output]).ToDictionary(d => d.Id, StringComparer.Ordinal);
            var rows = new List<Row>();
            foreach (var scenario in ScenarioLibrary.All)
            {
                var (buggy, fixedProfile) = PickProfiles(scenario);
                if (scenario.MaskedOn.Contains(Arch.X86))
                {
                    rows.Add(new Row(scenario, Arch.X86, buggy, fixedProfile));
                    rows.Add(new Row(scenario, Arch.Arm64, buggy, fixedProfile));
                }
                else
                {
                    rows.Add(new Row(scenario, Arch.X86, buggy, fixedProfile));
                }
            }
            int replays = rows.Count * 4 + 4;
            int replayed = 0;
            void Step(string what)
            {
                bar?.Show("demo: " + what, (double)replayed / replays, Invariant($"{replayed}/{replays} replays"), force: true);
                replayed++;
            }

            var table = new List<TableRow>();
            Finding? shown = null;
            string? shownUnder = null;
            foreach (var group in rows.GroupBy(r => r.Scenario.Name))
            {
                var dataset = datasets[group.Key];
                var diagnostics = new IngestDiagnostics();
                var trace = DatasetReplay.LoadOps(dataset, diagnostics);
                (IReadOnlyList<Finding> Findings, Row Row)? written = null;
                foreach (var row in group)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    bool masked = row.Scenario.MaskedOn.Contains(row.Arch);
                    var cells = new List<RunResult?>();
                    IReadOnlyList<Finding>? buggyFindings = null;
                    foreach (var (profileName, expectFound) in new[] { ("none", !masked), (row.Buggy, !masked), (row.Fixed, false), ("latest", false) })
                    {
                        Step($"replay {row.Scenario.Name} under {profileName}");
                        var profile = KernelProfile.Parse(profileName);
                        var findings = ReplayEngine.Run(trace, profile, row.Arch).Findings;
                        bool found = findings.Any(f => f.Checker == row.Scenario.Checker && f.Class == FindingClass.Race);
                        bool ok = expectFound ? found : findings.Count == 0;
                        cells.Add(new RunResult(profileName, findings, ok));
                        if (profileName == row.Buggy && !masked)
                        {
                            buggyFindings = findings;
                            if (shown is null && findings.Count > 0)
                            {
                                shown = findings[0];
                                shownUnder = Invariant($"{row.Scenario.Name} under {profileName} ({ReplayCommand.ArchName(row.Arch)})");
                            }
                        }
                    }
                    table.Add(new TableRow(row.Scenario.Name, row.Scenario.Race, ReplayCommand.ArchName(row.Arch), null, [.. cells]));
                    if (buggyFindings is not null && written is null)
                    {
                        written = (buggyFindings, row);
                    }
                }
                var (keep, under) = written ?? ([], group.First());
                DatasetReplay.WriteFindings(dataset, keep, KernelProfile.Parse(under.Buggy), under.Arch);
            }

            foreach (var (name, races) in new[] { ("random", Array.Empty<string>()), ("random-injected", RandomWorkloadOptions.RaceIds.ToArray()) })
            {
                var dataset = datasets[name];
                var trace = DatasetReplay.LoadOps(dataset, new IngestDiagnostics());
                Step($"replay {name} under none");
                var none = ReplayEngine.Run(trace, KernelProfile.None, Arch.X86).Findings;
                Step($"replay {name} under latest");
                var latest = ReplayEngine.Run(trace, KernelProfile.Latest, Arch.X86).Findings;
                var foundRaces = none.Where(f => f.Class == FindingClass.Race).Select(f => f.Race).ToHashSet(StringComparer.Ordinal);
                bool noneOk = races.Length == 0 ? none.Count == 0 : races.All(foundRaces.Contains) && none.All(f => f.Class == FindingClass.Race);
                table.Add(new TableRow(name, races.Length == 0 ? "-" : "R1-R6", "x86", trace.Count,
                    [new RunResult("none", none, noneOk), null, null, new RunResult("latest", latest, latest.Count == 0)]));
                DatasetReplay.WriteFindings(dataset, none, KernelProfile.None, Arch.X86);
            }

            // 4. Explore the benign order: the race is one interleaving away under the buggy kernel, and the fix
            // closes it for every schedule within the bound.
            var benignDataset = datasets[BenignScenario + "-benign"];
            var benignScenario = ScenarioLibrary.Get(BenignScenario);
            var (benignBuggy, benignFixed) = PickProfiles(benignScenario);
            var explorations = new List<ExploreRow>();
            foreach (var (profileName, bound, expectFound) in new[] { (benignBuggy, 2, true), (benignFixed, 3, false) })
            {
                cancellationToken.ThrowIfCancellationRequested();
                bar?.Show($"demo: explore {BenignScenario}-benign under {profileName}", null, "", force: true);
                var explored = DatasetExplore.Run(benignDataset, KernelProfile.Parse(profileName), Arch.X86,
                    new ExploreOptions { Bound = bound, Progress = bar?.ForExplore($"{BenignScenario}-benign under {profileName}", null) }, cancellationToken).Result;
                var violation = explored.Violations.FirstOrDefault(v => v.Finding.Checker == benignScenario.Checker);
                bool ok = (violation is not null) == expectFound && explored.Exhaustive;
                explorations.Add(new ExploreRow(BenignScenario + "-benign", profileName, bound, explored,
                    violation is null ? null : explored.Violations[0].Finding, violation is null ? null : explored.Violations[0].Preemptions, ok));
            }
            return new Outcome(output, ScenarioLibrary.All.Count, events, table, explorations, shown, shownUnder, benignBuggy, clock.Elapsed);
        }
        finally
        {
            scratch.Delete(recursive: true);
        }
    }

    /// <summary>The last kernel with the race, and the first fixed kernel after it.</summary>
    private static (string Buggy, string Fixed) PickProfiles(Scenario scenario)
    {
        var buggy = scenario.BuggyProfiles.Where(p => p != "none").DefaultIfEmpty("none").Last();
        var fixedProfile = scenario.FixedProfiles
            .Where(p => p != "latest" && CompareVersions(p, buggy) > 0)
            .DefaultIfEmpty("latest")
            .First();
        return (buggy, fixedProfile);
    }

    private static int CompareVersions(string a, string b)
    {
        static int[] Parse(string v) => v.TrimStart('v').Split('.').Select(p => int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out int n) ? n : 0).ToArray();
        var (x, y) = (Parse(a), Parse(b));
        for (int i = 0; i < Math.Max(x.Length, y.Length); i++)
        {
            int c = (i < x.Length ? x[i] : 0).CompareTo(i < y.Length ? y[i] : 0);
            if (c != 0)
            {
                return c;
            }
        }
        return 0;
    }

    private static string Cell(string profile, IReadOnlyList<Finding> findings, bool asExpected)
    {
        var what = findings.Count == 0
            ? "clean"
            : string.Join(" ", findings.GroupBy(f => f.Class == FindingClass.Race ? f.Checker : f.Class).OrderBy(g => g.Key, StringComparer.Ordinal)
                .Select(g => Invariant($"{g.Key}×{g.Count()}")));
        return $"{profile}: {what}{(asExpected ? "" : " !")}";
    }

    private static void PrintTable(TextWriter o, string[] header, List<string[]> rows)
    {
        var widths = header.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToArray();
        o.WriteLine(string.Join("  ", header.Select((h, i) => h.PadRight(widths[i]))).TrimEnd());
        o.WriteLine(string.Join("  ", widths.Select(w => new string('-', w))));
        foreach (var row in rows)
        {
            o.WriteLine(string.Join("  ", row.Select((c, i) => c.PadRight(widths[i]))).TrimEnd());
        }
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
