using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Pipeline.Replay;
using Pipeline.Replay.Coverage;
using Pipeline.Replay.Runner;
using Pipeline.Storage;

namespace Pipeline.Cli;

/// <summary><c>mmtrace replay DATASET... [--profile P] [--fix +NAME/-NAME]... [--arch x86|arm64] [--pid P] [--from T] [--to T] [--format text|json]</c>.</summary>
internal static class ReplayCommand
{
    public static Command Create(Option<bool> verbose)
    {
        var datasets = new Argument<string[]>("DATASET")
        {
            Description = "Trace datasets (or roots of trace=<id>/ partitions) to replay.",
            Arity = ArgumentArity.OneOrMore,
        };
        var profile = ProfileArgument.CreateOption("latest");
        var fixes = new Option<string[]>("--fix")
        {
            Description = $"+NAME adds a fix to the profile, -NAME removes one (write --fix=-NAME). Fixes: {string.Join(", ", KernelProfile.FixNames.Select(f => f.Name))}.",
        };
        var arch = new Option<string>("--arch")
        {
            Description = "Flush scope: x86 (batched reclaim flush is a full flush) or arm64 (one address per page).",
            DefaultValueFactory = _ => "x86",
        };
        arch.AcceptOnlyFromAmong("x86", "arm64");
        var maps = new Option<string?>("--maps")
        {
            Description = "[PID=]FILE: a /proc/PID/maps snapshot taken right before tracing (cat /proc/PID/maps > FILE); it seeds the address space the mremap prediction starts from, so calls that depend on earlier mappings are decided.",
        };
        var keepOps = new Option<bool>("--keep-ops")
        {
            Description = "Keep the ops lowered from a real trace as ops.parquet (about two per event; off by default because writing them costs more than the replay).",
        };
        var noExplore = new Option<bool>("--no-explore")
        {
            Description = "Do not explore the exposure windows of a real trace (by default each gets a verdict: confirmed, refuted or undecided, 100 schedules per window, at most 16 windows; docs/exploration.md).",
        };
        var format = new Option<string>("--format") { Description = "Output format.", DefaultValueFactory = _ => "text" };
        var shard = ShardOption.Create();
        format.AcceptOnlyFromAmong("text", "json");
        // The whole trace is replayed either way: the model's state at --from is built by what came before.
        var scope = ScopeOptions.Create("report findings and mremap calls with an event");

        var command = new Command("replay", "Replay datasets through the page-table/TLB engine; writes findings, coverage and mremaps into each dataset's replay=PROFILE@ARCH/ (other profiles' runs stay) and exits 1 when there are findings.")
        {
            datasets, profile, fixes, arch, maps, keepOps, noExplore, scope.Pid, scope.From, scope.To, shard, format,
        };
        command.SetAction(parse => CommandRunner.Run(parse, verbose, cancellationToken =>
        {
            string profileValue = parse.GetValue(profile)!;
            string[] fixList = parse.GetValue(fixes) ?? [];
            var flushArch = parse.GetValue(arch) == "arm64" ? Arch.Arm64 : Arch.X86;
            if (profileValue != ProfileSelector.Auto)
            {
                // A bad profile or fix name is a usage error, reported before any dataset is opened.
                ProfileArgument.Resolve(profileValue, fixList, null);
            }
            var traces = DatasetCatalog.Resolve(parse.GetValue(datasets)!);
            if (ShardOption.Parse(parse.GetValue(shard)) is { } share)
            {
                traces = [.. traces.Where(t => share.Contains(t.Id))];
            }
            // Resolved before any replay, so a trace without a release fails 'auto' before anything is written.
            var choices = traces.Select(t => ProfileArgument.Resolve(profileValue, fixList, t.Meta.KernelRelease)).ToList();
            var options = new DatasetReplayOptions { Maps = ReadMaps(parse.GetValue(maps)), KeepOps = parse.GetValue(keepOps), Scope = scope.Parse(parse) };
            if (parse.GetValue(noExplore))
            {
                options = options with { ExploreWindows = null };
            }
            var results = ProgressLine.While(bar => traces.Select((t, i) => DatasetReplay.Run(t, choices[i].Profile, flushArch, options with { Progress = bar?.ForReplay() }, cancellationToken)).ToList());
            if (parse.GetValue(format) == "json")
            {
                WriteJson(results, choices, flushArch);
            }
            else
            {
                WriteText(results, choices, flushArch, parse.GetValue(verbose));
            }
            return results.Any(r => r.Findings.Count > 0) ? ExitCodes.Findings : ExitCodes.Success;
        }));
        return command;
    }

    private static void WriteText(IReadOnlyList<DatasetReplayResult> results, IReadOnlyList<ProfileChoice> choices, Arch arch, bool verbose)
    {
        var o = Console.Out;
        for (int i = 0; i < results.Count; i++)
        {
            var r = results[i];
            var kernel = choices[i].Profile;
            if (!choices[i].Exact || choices[i].Release is not null)
            {
                o.WriteLine($"trace {r.Dataset.Id}: {choices[i].Explanation}");
            }
            // The verdicts lead: "0 findings" means little without what the trace could show (docs/coverage.md).
            var head = string.Create(CultureInfo.InvariantCulture,
                $"trace {r.Dataset.Id}: {string.Join(", ", r.Coverage.Select(c => c.Race + " " + c.VerdictName))}; {r.OpCount:N0} ops replayed under {kernel.Name} ({ArchName(arch)}), {r.Findings.Count} finding{(r.Findings.Count == 1 ? "" : "s")}");
            o.WriteLine(head);
            if (r.Lowering is not null && CoverageTracker.LossText(r.Dataset.Meta.LostEvents, r.Dataset.Meta.Truncated) is { } loss)
            {
                // A trace that lost events has no checked race: say it once, with the remedy, before the verdicts' reasons.
                o.WriteLine($"  {loss}: no race is checked on this trace; record again with a larger --buffer-kb or fewer events");
            }
            if (r.CommandFilter is { Outside.Count: > 0 } filter)
            {
                // The workload ran beside the command, not under it: say once what the trace cannot show of it.
                o.WriteLine("  " + filter.SummaryLine());
            }
            WriteRun(o, r);
            foreach (var c in r.Coverage)
            {
                WriteCoverage(o, c);
            }
            if (r.MalformedOps > 0)
            {
                o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {r.MalformedOps:N0} op lines could not be read; first: {r.Diagnostics.MalformedSamples.FirstOrDefault()}"));
            }
            if (r.Lowering is { } lowering)
            {
                o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {lowering.Events:N0} tracepoint events lowered into {lowering.Ops:N0} ops{(r.OpsKept ? " (ops.parquet)" : "")}, {r.Exposures.Count} exposure window{(r.Exposures.Count == 1 ? "" : "s")}; {r.Mremaps:N0} mremap calls analysed into mremaps/mremap_moves"));
                if (r.Windows is { } windows)
                {
                    o.WriteLine("  exposure windows explored: " + windows.Tally());
                    foreach (string line in windows.VerdictLines())
                    {
                        o.WriteLine("    " + line);
                    }
                }
                else if (r.Exposures.Count > 0)
                {
                    o.WriteLine("  exposure windows not explored (--no-explore): 'mmtrace explore' gives each a verdict");
                }
                if (verbose)
                {
                    o.WriteLine("  lowering: " + lowering);
                }
                if (r.UndecidedMremaps > 0)
                {
                    o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"  {r.UndecidedMremaps:N0} of the {r.Mremaps:N0} mremap calls are undecided (column undecided_reason): the mappings around them predate the trace; --maps PID=FILE with a /proc/PID/maps snapshot taken before tracing decides them"));
                }
            }
            else if (r.IgnoredEvents > 0)
            {
                o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {r.IgnoredEvents:N0} events that are not ops were ignored"));
            }
            WriteWitnesses(o, r, kernel.Name, ArchName(arch), verbose);
        }
    }

    /// <summary>Witnesses printed per kind of finding (checker, race, class) unless --verbose; the rest are counted.</summary>
    internal const int WitnessesPerKind = 5;

    /// <summary>
    /// Each finding's witness, in the findings' order; past <see cref="WitnessesPerKind"/> of one kind (a real trace can
    /// hold a hundred exposures of one race, each with the same shape) a line per kind counts the rest and says where
    /// every witness is. <paramref name="all"/> (--verbose) prints them all.
    /// </summary>
    private static void WriteWitnesses(TextWriter o, DatasetReplayResult r, string profile, string arch, bool all)
    {
        var shown = new Dictionary<(string, string, string), int>();
        foreach (var finding in r.Findings)
        {
            var kind = (finding.Checker, finding.Race, finding.Class);
            int seen = shown.GetValueOrDefault(kind);
            shown[kind] = seen + 1;
            if (all || seen < WitnessesPerKind)
            {
                o.WriteLine();
                o.Write(WitnessRenderer.RenderTimeline(finding));
            }
        }
        if (r.Findings.Count > 0)
        {
            o.WriteLine();
        }
        foreach (var ((checker, race, cls), count) in shown)
        {
            if (!all && count > WitnessesPerKind)
            {
                o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{count - WitnessesPerKind:N0} more {checker} {race} ({cls}) findings not drawn here (--verbose draws them all); every witness is in findings.parquet: "
                    + $"mmtrace query {r.Dataset.Directory} --sql \"SELECT seqs, message, witness FROM findings WHERE profile = '{profile}' AND arch = '{arch}' AND checker = '{checker}' AND class = '{cls}'\", or mmtrace report"));
            }
        }
    }

    /// <summary>Where the tables went, what the scope left out, and tables of an older mmtrace kept as a run.</summary>
    private static void WriteRun(TextWriter o, DatasetReplayResult r)
    {
        if (r.Run is { } run)
        {
            string scoped = run.Scope.IsWhole ? "" : string.Create(CultureInfo.InvariantCulture,
                $"; reported within {run.Scope} (the whole trace was replayed): {r.OutOfScopeFindings} finding{(r.OutOfScopeFindings == 1 ? "" : "s")} and {r.OutOfScopeMremaps:N0} mremap call{(r.OutOfScopeMremaps == 1 ? "" : "s")} outside left out, coverage is the whole trace's");
            o.WriteLine($"  tables in {Path.GetFileName(run.Directory)}/{scoped}");
        }
        if (r.Adopted is { } adopted)
        {
            o.WriteLine($"  the replay tables an older mmtrace left in the dataset are kept as run {Path.GetFileName(adopted.Directory)}/");
        }
    }

    private static void WriteJson(IReadOnlyList<DatasetReplayResult> results, IReadOnlyList<ProfileChoice> choices, Arch arch)
    {
        using var stream = Console.OpenStandardOutput();
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        json.WriteStartArray();
        for (int i = 0; i < results.Count; i++)
        {
            var r = results[i];
            json.WriteStartObject();
            json.WriteString("trace", r.Dataset.Id);
            json.WriteString("profile", choices[i].Profile.Name);
            json.WriteString("profile_choice", choices[i].Explanation);
            json.WriteString("kernel_release", r.Dataset.Meta.KernelRelease);
            json.WriteString("arch", ArchName(arch));
            if (r.Run is { } run)
            {
                json.WriteString("run", Path.GetFileName(run.Directory));
                json.WriteStartObject("scope");
                WriteOptional(json, "pid", run.Scope.Pid);
                WriteOptional(json, "from_ns", run.Scope.FromNs);
                WriteOptional(json, "to_ns", run.Scope.ToNs);
                json.WriteEndObject();
                json.WriteNumber("out_of_scope_findings", r.OutOfScopeFindings);
                json.WriteNumber("out_of_scope_mremaps", r.OutOfScopeMremaps);
            }
            json.WriteNumber("ops", r.OpCount);
            json.WriteNumber("ignored_events", r.IgnoredEvents);
            json.WriteNumber("malformed_ops", r.MalformedOps);
            json.WriteNumber("mremaps", r.Mremaps);
            json.WriteNumber("undecided_mremaps", r.UndecidedMremaps);
            if (r.Lowering is { } lowering)
            {
                json.WriteStartObject("lowering");
                foreach (var (name, value) in lowering.Counters)
                {
                    json.WriteNumber(name, value);
                }
                json.WriteEndObject();
            }
            if (r.CommandFilter is { } filter)
            {
                // What a recording of a command (without --system-wide) recorded of the other processes' own events: nothing.
                json.WriteStartObject("process_filter");
                json.WriteNumber("command_pid", filter.CommandPid);
                json.WriteStartArray("events");
                foreach (string e in filter.Events.Order(StringComparer.Ordinal))
                {
                    json.WriteStringValue(e);
                }
                json.WriteEndArray();
                json.WriteNumber("command_rss_changes", filter.TreeRssChanges);
                json.WriteStartArray("beside");
                foreach (var p in filter.Outside)
                {
                    json.WriteStartObject();
                    json.WriteNumber("pid", p.Pid);
                    json.WriteString("comm", p.Comm);
                    json.WriteNumber("rss_changes", p.RssChanges);
                    json.WriteEndObject();
                }
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteStartArray("coverage");
            foreach (var c in r.Coverage)
            {
                WriteCoverageJson(json, c);
            }
            json.WriteEndArray();
            json.WriteStartArray("findings");
            foreach (var finding in r.Findings)
            {
                finding.WriteJson(json);
            }
            json.WriteEndArray();
            if (r.Windows is { } windows)
            {
                json.WriteStartArray("windows");
                foreach (var w in windows.Windows)
                {
                    w.WriteJson(json);
                }
                json.WriteEndArray();
            }
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.Flush();
        stream.WriteByte((byte)'\n');
    }

    private static void WriteOptional(Utf8JsonWriter json, string name, long? value)
    {
        if (value is long v)
        {
            json.WriteNumber(name, v);
        }
        else
        {
            json.WriteNull(name);
        }
    }

    internal static void WriteCoverage(TextWriter o, RaceCoverage c)
    {
        var actors = string.Join(", ", c.Actors.Select(a => string.Create(CultureInfo.InvariantCulture,
            $"{a.Name} {a.Count:N0}{(a.ExampleSeq >= 0 ? $" (e.g. seq {a.ExampleSeq})" : "")}{(a.Visible ? "" : " [not recorded]")}")));
        o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {c.Race} {c.VerdictName}: {c.Why}; {actors}"));
        foreach (var g in c.Gaps)
        {
            o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"     skipped {g.Count:N0}: {g.Reason} (e.g. seq {g.ExampleSeq})"));
        }
        foreach (var n in c.Notes)
        {
            o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"     seen {n.Count:N0}: {n.Text} (e.g. seq {n.ExampleSeq})"));
        }
        if (c.RecordCommand is { } record)
        {
            o.WriteLine("     record next time: " + record);
        }
    }

    internal static void WriteCoverageJson(Utf8JsonWriter json, RaceCoverage c)
    {
        json.WriteStartObject();
        json.WriteString("race", c.Race);
        json.WriteString("checker", c.Checker);
        json.WriteString("verdict", c.VerdictName);
        json.WriteString("why", c.Why);
        json.WriteStartArray("actors");
        foreach (var a in c.Actors)
        {
            json.WriteStartObject();
            json.WriteString("name", a.Name);
            json.WriteNumber("count", a.Count);
            if (a.ExampleSeq >= 0)
            {
                json.WriteNumber("example_seq", a.ExampleSeq);
            }
            json.WriteNumber("mms", a.Mms);
            json.WriteBoolean("visible", a.Visible);
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteNumber("common_mms", c.CommonMms);
        if (c.CommonProcesses.Count > 0)
        {
            json.WriteStartArray("common_processes");
            foreach (var p in c.CommonProcesses)
            {
                json.WriteStartObject();
                json.WriteNumber("mm", p.Mm);
                json.WriteNumber("pid", p.Pid);
                json.WriteString("comm", p.Comm);
                json.WriteEndObject();
            }
            json.WriteEndArray();
        }
        WriteTallies(json, "skipped", "reason", c.Gaps.Select(g => (g.Reason, g.Count, g.ExampleSeq)));
        WriteTallies(json, "notes", "text", c.Notes.Select(n => (n.Text, n.Count, n.ExampleSeq)));
        json.WriteStartArray("missing_events");
        foreach (var e in c.MissingEvents)
        {
            json.WriteStringValue(e);
        }
        json.WriteEndArray();
        if (c.RecordCommand is { } record)
        {
            json.WriteString("record_command", record);
        }
        json.WriteEndObject();
    }

    /// <summary>An array of <c>{KEY: text, count, example_seq}</c> objects (coverage's skipped ops and notes).</summary>
    private static void WriteTallies(Utf8JsonWriter json, string name, string key, IEnumerable<(string Text, long Count, long ExampleSeq)> tallies)
    {
        json.WriteStartArray(name);
        foreach (var (text, count, exampleSeq) in tallies)
        {
            json.WriteStartObject();
            json.WriteString(key, text);
            json.WriteNumber("count", count);
            json.WriteNumber("example_seq", exampleSeq);
            json.WriteEndObject();
        }
        json.WriteEndArray();
    }

    /// <summary>Reads <c>--maps [PID=]FILE</c>.</summary>
    private static Pipeline.Replay.Real.MapsSnapshot? ReadMaps(string? value)
    {
        if (value is null)
        {
            return null;
        }
        int? pid = null;
        var path = value;
        int equals = value.IndexOf('=', StringComparison.Ordinal);
        if (equals > 0)
        {
            if (!int.TryParse(value.AsSpan(0, equals), NumberStyles.None, CultureInfo.InvariantCulture, out int parsed))
            {
                throw new UsageException($"--maps expects [PID=]FILE, found '{value}'.");
            }
            pid = parsed;
            path = value[(equals + 1)..];
        }
        using var reader = new StreamReader(path);
        return Pipeline.Replay.Real.MapsSnapshot.Parse(reader, pid, path);
    }

    internal static string ArchName(Arch arch) => arch == Arch.X86 ? "x86" : "arm64";
}
