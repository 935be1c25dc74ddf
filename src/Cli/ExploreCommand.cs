using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Pipeline.Replay;
using Pipeline.Replay.Coverage;
using Pipeline.Replay.Explore;
using Pipeline.Storage;
using Pipeline.Storage.DuckDb;

namespace Pipeline.Cli;

/// <summary>
/// <c>mmtrace explore DATASET... [--profile P] [--fix ±NAME]... [--arch x86|arm64] [--bound K] [--strategy dpor|pct]
/// [--budget SCHEDULES] [--time SECONDS] [--seed S] [--state-cache-mb M] [--work-list-mb M] [--emit-schedule FILE] [--windows] [--window N]... [--shard I/N] [--format text|json]</c>.
/// </summary>
internal static class ExploreCommand
{
    public static Command Create(Option<bool> verbose)
    {
        var datasets = new Argument<string[]>("DATASET")
        {
            Description = "Datasets holding op traces (or roots of trace=<id>/ partitions) whose programs are explored.",
            Arity = ArgumentArity.OneOrMore,
        };
        var profile = ProfileArgument.CreateOption("latest");
        var fixes = new Option<string[]>("--fix")
        {
            Description = $"+NAME adds a fix to the profile, -NAME removes one (write --fix=-NAME). Fixes: {string.Join(", ", KernelProfile.FixNames.Select(f => f.Name))}.",
        };
        var arch = new Option<string>("--arch") { Description = "Flush scope: x86 or arm64.", DefaultValueFactory = _ => "x86" };
        arch.AcceptOnlyFromAmong("x86", "arm64");
        var bound = new Option<int>("--bound")
        {
            Description = "Preemption bound K (dpor: every schedule with at most K preemptions; pct: bugs of depth K+1).",
            DefaultValueFactory = _ => 2,
        };
        var strategy = new Option<string>("--strategy")
        {
            Description = "dpor: systematic, exhaustive within the bound; pct: probabilistic concurrency testing.",
            DefaultValueFactory = _ => "dpor",
        };
        strategy.AcceptOnlyFromAmong("dpor", "pct");
        var budget = new Option<long?>("--budget") { Description = "Stop after this many schedules (pct: runs; default 1000); per window for a real trace's exposure windows and with --windows (default 2000)." };
        var time = new Option<double?>("--time") { Description = "Stop after this many seconds (checked between schedules)." };
        var stateCache = new Option<long>("--state-cache-mb")
        {
            Description = "dpor: memory cap of the explored-state table in MiB (beyond it the oldest states are forgotten: less pruning, same coverage).",
            DefaultValueFactory = _ => ExploreOptions.DefaultStateCacheBytes >> 20,
        };
        var workList = new Option<long>("--work-list-mb")
        {
            Description = "dpor: memory cap in MiB of the work list kept for the next preemption bound (reached: the search stops after the current bound and says so).",
            DefaultValueFactory = _ => ExploreOptions.DefaultWorkListBytes >> 20,
        };
        var seed = new Option<ulong>("--seed") { Description = "Seed of pct's random priorities.", DefaultValueFactory = _ => 1 };
        var emit = new Option<string?>("--emit-schedule")
        {
            Description = "FILE: write the witness schedule with the fewest preemptions as an op trace ('mmtrace ingest' + 'mmtrace replay' reproduce it).",
        };
        var windows = new Option<bool>("--windows")
        {
            Description = "Op traces: explore each window where two actors of a race meet on one mm (the cone around them, from the state the recorded prefix leaves; --budget per window, default 2000) instead of the whole trace.",
        };
        var only = new Option<int[]>("--window")
        {
            Description = "N: explore window N only (repeatable), numbered as the output and replay's exposure windows number them; the others are listed as not explored. Implies --windows.",
        };
        var format = new Option<string>("--format") { Description = "Output format.", DefaultValueFactory = _ => "text" };
        format.AcceptOnlyFromAmong("text", "json");
        var shard = ShardOption.Create();

        var command = new Command("explore",
            "Explore other schedules of an op trace's per-task programs (preemption-bounded DPOR or PCT) under a kernel profile; "
            + "prints each distinct violation with its witness, writes explorations.parquet into each dataset, exits 1 on a violation.")
        {
            datasets, profile, fixes, arch, bound, strategy, budget, time, seed, stateCache, workList, emit, windows, only, shard, format,
        };
        command.SetAction(parse => CommandRunner.Run(parse, verbose, cancellationToken =>
        {
            int k = parse.GetValue(bound);
            if (k < 0)
            {
                throw new UsageException($"--bound must be 0 or more, found {k}.");
            }
            if (parse.GetValue(budget) is < 1)
            {
                throw new UsageException("--budget must be at least 1.");
            }
            foreach (var (name, mb) in new[] { ("--state-cache-mb", parse.GetValue(stateCache)), ("--work-list-mb", parse.GetValue(workList)) })
            {
                if (mb is < 1 or > 1L << 30)
                {
                    throw new UsageException($"{name} must be a number of MiB from 1 to {1L << 30}, found {mb}.");
                }
            }
            if (parse.GetValue(time) is { } seconds && !(seconds > 0))
            {
                throw new UsageException("--time must be a positive number of seconds.");
            }
            string profileValue = parse.GetValue(profile)!;
            string[] fixList = parse.GetValue(fixes) ?? [];
            if (profileValue != ProfileSelector.Auto)
            {
                // A bad profile, release or fix name is a usage error, reported before any dataset is opened.
                ProfileArgument.Resolve(profileValue, fixList, null);
            }
            var flushArch = parse.GetValue(arch) == "arm64" ? Arch.Arm64 : Arch.X86;
            var options = new ExploreOptions
            {
                Strategy = parse.GetValue(strategy) == "pct" ? ExploreStrategy.Pct : ExploreStrategy.Dpor,
                Bound = k,
                Budget = parse.GetValue(budget),
                Time = parse.GetValue(time) is { } s ? TimeSpan.FromSeconds(s) : null,
                Seed = parse.GetValue(seed),
                Windows = parse.GetValue(windows) || parse.GetValue(only) is { Length: > 0 },
                OnlyWindows = parse.GetValue(only) is { Length: > 0 } selected ? selected.ToHashSet() : null,
                StateCacheBytes = parse.GetValue(stateCache) << 20,
                WorkListBytes = parse.GetValue(workList) << 20,
            };
            if (parse.GetValue(emit) is { } target)
            {
                // Before the search, which may run for hours.
                AtomicFile.CheckTarget(target);
            }
            var share = ShardOption.Parse(parse.GetValue(shard));
            var traces = DatasetCatalog.Resolve(parse.GetValue(datasets)!);
            if (share is not null)
            {
                // As replay: this shard's traces only; each writes explorations.parquet into its own partition.
                traces = [.. traces.Where(t => share.Contains(t.Id))];
            }
            // As replay does: 'auto' or a release picks each trace's profile, and the command says which.
            var choices = traces.Select(t => ProfileArgument.Resolve(profileValue, fixList, t.Meta.KernelRelease)).ToList();
            for (int i = 0; i < traces.Count; i++)
            {
                if (!choices[i].Exact || choices[i].Release is not null)
                {
                    Console.Out.WriteLine($"trace {traces[i].Id}: {choices[i].Explanation}");
                }
            }
            long? scheduleBudget = options.Budget ?? (options.Strategy == ExploreStrategy.Pct ? ExploreOptions.DefaultPctRuns : null);
            var results = ProgressLine.While(bar => traces.Select((t, i) => DatasetExplore.Run(t, choices[i].Profile, flushArch,
                options with { Progress = bar?.ForExplore(t.Id, scheduleBudget) }, cancellationToken)).ToList());
            if (parse.GetValue(emit) is { } file)
            {
                EmitSchedule(results, choices.Select(c => c.Profile).ToList(), file);
            }
            if (parse.GetValue(format) == "json")
            {
                WriteJson(results);
            }
            else
            {
                WriteText(results, parse.GetValue(emit));
            }
            return results.Any(r => r.Result.Violations.Count > 0) ? ExitCodes.Findings : ExitCodes.Success;
        }));
        return command;
    }

    /// <summary>Writes the witness with the fewest preemptions (first found on ties) as an op trace (written whole or not at all).</summary>
    private static void EmitSchedule(IReadOnlyList<DatasetExploreResult> results, IReadOnlyList<KernelProfile> profiles, string file)
    {
        // A real trace's witness needs the state its window starts from: the recorded prefix, then the schedule.
        var window = results.Select((r, i) => (r, i)).Where(x => x.r.Windows is not null)
            .SelectMany(x => x.r.Windows!.Windows.Where(w => w.Witness is not null).Select(w => (x.r, x.i, w)))
            .OrderBy(x => x.w.Witness!.Preemptions).FirstOrDefault();
        if (window.w is not null)
        {
            AtomicFile.WriteText(file, writer => DatasetExplore.EmitWindowSchedule(window.r.Dataset, profiles[window.i], window.w, writer));
            return;
        }
        var best = results.SelectMany(r => r.Result.Violations).OrderBy(v => v.Preemptions).FirstOrDefault();
        if (best is null)
        {
            return;
        }
        AtomicFile.WriteText(file, writer => OpTraceWriter.Write(best.ToTrace(), writer));
    }

    private static void WriteText(IReadOnlyList<DatasetExploreResult> results, string? emitted)
    {
        var o = Console.Out;
        var inv = CultureInfo.InvariantCulture;
        foreach (var r in results)
        {
            var x = r.Result;
            if (r.Windows is { } windows)
            {
                WriteWindows(r, windows);
                continue;
            }
            o.WriteLine(string.Create(inv,
                $"trace {r.Dataset.Id}: {x.Tasks} tasks, {x.ProgramOps:N0} ops explored under {x.Profile.Name} ({ReplayCommand.ArchName(x.Arch)}), {x.Options}: "
                + $"{x.Schedules:N0} schedule{(x.Schedules == 1 ? "" : "s")} ({x.Complete:N0} to the end, {x.Pruned:N0} stopped at an explored state, {x.Asleep:N0} stopped with every runnable task asleep, {x.Infeasible:N0} infeasible, {x.Deadlocked:N0} deadlocked; {x.Refused:N0} ops refused where tried) in {x.Elapsed.TotalSeconds:0.00} s, "
                + $"{x.Violations.Count} violation{(x.Violations.Count == 1 ? "" : "s")}"));
            if (r.MalformedOps > 0)
            {
                o.WriteLine(string.Create(inv, $"  {r.MalformedOps:N0} op lines could not be read and are not part of the programs"));
            }
            o.WriteLine("  " + x.Coverage());
            foreach (var line in r.OpWindows ?? [])
            {
                o.WriteLine("  " + line);
            }
            WriteExamples(x);
            foreach (var v in x.Violations)
            {
                o.WriteLine();
                o.Write(WitnessRenderer.RenderTimeline(v.Finding));
                o.WriteLine(string.Create(inv, $"witness schedule: {v.Preemptions} preemption{(v.Preemptions == 1 ? "" : "s")}, schedule #{v.FoundInSchedule:N0}, {v.Schedule.Count} ops (tid:seq): {v.ScheduleText()}"));
            }
            if (x.Violations.Count > 0)
            {
                o.WriteLine();
            }
        }
        if (emitted is not null)
        {
            o.WriteLine(results.Any(r => r.Result.Violations.Count > 0)
                ? $"witness schedule written to {emitted} (mmtrace ingest {emitted} -o DIR && mmtrace replay DIR --profile ... reproduces it)"
                : $"no violation: {emitted} not written");
        }
    }

    /// <summary>The first infeasible and deadlocked schedule and the first refused op, each a rule the model may lack.</summary>
    private static void WriteExamples(ExploreResult x)
    {
        var o = Console.Out;
        if (x.InfeasibleExample is { } why)
        {
            o.WriteLine("  first infeasible schedule: " + why);
        }
        if (x.DeadlockExample is { } waits)
        {
            o.WriteLine("  first deadlocked schedule: " + waits);
        }
        if (x.RefusedExample is { } refused)
        {
            o.WriteLine("  first op refused (its task waited, another ran): " + refused);
        }
    }

    /// <summary>A real trace: one line per exposure window with its verdict, then each confirmed window's witness.</summary>
    private static void WriteWindows(DatasetExploreResult r, RealTraceExploreResult windows)
    {
        var o = Console.Out;
        var inv = CultureInfo.InvariantCulture;
        var x = r.Result;
        o.WriteLine(string.Create(inv,
            $"trace {r.Dataset.Id}: real trace, {windows.Events:N0} events lowered into {windows.Ops:N0} ops; {windows.Windows.Count} exposure window{(windows.Windows.Count == 1 ? "" : "s")} under {x.Profile.Name} ({ReplayCommand.ArchName(x.Arch)}): {windows.Tally()}; "
            + $"{x.Options with { Windows = true }}; {x.Schedules:N0} schedule{(x.Schedules == 1 ? "" : "s")} ({x.Infeasible:N0} infeasible, {x.Deadlocked:N0} deadlocked) in {windows.Elapsed.TotalSeconds:0.00} s"));
        if (windows.Windows.Count == 0 && r.Dataset.Meta.ProcessFilter is { } recorded)
        {
            // No window may mean a workload beside the recorded command, whose syscalls and faults were not recorded.
            using var connection = DuckDbConnection.OpenInMemory();
            if (CommandFilter.Read(connection, r.Dataset.EventsFile(connection), recorded) is { Outside.Count: > 0 } filter)
            {
                o.WriteLine("  " + filter.SummaryLine());
            }
        }
        foreach (string line in windows.VerdictLines())
        {
            o.WriteLine("  " + line);
        }
        WriteExamples(x);
        foreach (var w in windows.Windows)
        {
            if (w.Result is not { } run)
            {
                continue;
            }
            foreach (var v in run.Violations)
            {
                o.WriteLine();
                o.WriteLine(string.Create(inv, $"window {w.Index}:"));
                o.Write(WitnessRenderer.RenderTimeline(v.Finding));
                o.WriteLine(string.Create(inv, $"witness schedule: {v.Preemptions} preemption{(v.Preemptions == 1 ? "" : "s")}, schedule #{v.FoundInSchedule:N0}, {v.Schedule.Count} ops (tid:seq): {v.ScheduleText()}"));
            }
        }
    }

    private static void WriteJson(IReadOnlyList<DatasetExploreResult> results)
    {
        using var stream = Console.OpenStandardOutput();
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        json.WriteStartArray();
        foreach (var r in results)
        {
            var x = r.Result;
            json.WriteStartObject();
            json.WriteString("trace", r.Dataset.Id);
            json.WriteString("profile", x.Profile.Name);
            json.WriteString("arch", ReplayCommand.ArchName(x.Arch));
            json.WriteString("strategy", x.Options.StrategyName);
            json.WriteNumber("bound", x.Options.Bound);
            json.WriteNumber("seed", x.Options.Seed);
            json.WriteNumber("tasks", x.Tasks);
            json.WriteNumber("ops", x.ProgramOps);
            json.WriteNumber("schedules", x.Schedules);
            json.WriteNumber("infeasible", x.Infeasible);
            json.WriteNumber("deadlocked", x.Deadlocked);
            json.WriteNumber("refused", x.Refused);
            json.WriteNumber("interleavings", x.DistinctTraces);
            json.WriteBoolean("exhaustive", x.Exhaustive);
            if (x.StoppedBy is { } stop)
            {
                json.WriteString("stopped_by", stop);
                json.WriteNumber("pending_alternatives", x.PendingAlternatives);
            }
            else
            {
                json.WriteNull("stopped_by");
            }
            if (x.Options.Strategy == ExploreStrategy.Pct)
            {
                json.WriteNumber("pct_run_probability", x.PctRunProbability);
            }
            json.WriteString("coverage", x.Coverage());
            if (r.Windows is { } windows)
            {
                json.WriteStartArray("windows");
                foreach (var w in windows.Windows)
                {
                    w.WriteJson(json);
                }
                json.WriteEndArray();
            }
            json.WriteStartArray("violations");
            foreach (var v in x.Violations)
            {
                var f = v.Finding;
                json.WriteStartObject();
                json.WriteString("checker", f.Checker);
                json.WriteString("race", f.Race);
                json.WriteString("severity", f.Severity);
                json.WriteStartArray("cpus");
                foreach (int cpu in f.Cpus)
                {
                    json.WriteNumberValue(cpu);
                }
                json.WriteEndArray();
                json.WriteNumber("mm", f.Mm);
                json.WriteString("va", "0x" + f.Va.ToString("x", CultureInfo.InvariantCulture));
                json.WriteString("pfn", "0x" + f.Pfn.ToString("x", CultureInfo.InvariantCulture));
                json.WriteNumber("preemptions", v.Preemptions);
                json.WriteNumber("found_in_schedule", v.FoundInSchedule);
                json.WriteStartArray("schedule");
                foreach (var op in v.Schedule)
                {
                    json.WriteStartObject();
                    json.WriteNumber("tid", op.Tid);
                    json.WriteNumber("seq", op.Seq);
                    json.WriteEndObject();
                }
                json.WriteEndArray();
                json.WritePropertyName("finding");
                f.WriteJson(json);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.Flush();
        stream.WriteByte((byte)'\n');
    }
}
