using System.CommandLine;
using Pipeline.Replay;
using Pipeline.Replay.Workloads;

namespace Pipeline.Cli;

/// <summary>
/// <c>mmtrace synth --list</c>, <c>mmtrace synth SCENARIO -o FILE</c>,
/// <c>mmtrace synth random --cpus N --ops M --seed S [--profile NAME] [--inject R1,R3,…] [--contend] -o FILE</c>.
/// </summary>
internal static class SynthCommand
{
    public static Command Create(Option<bool> verbose)
    {
        var scenario = new Argument<string?>("SCENARIO")
        {
            Description = "A scenario of the library (see --list).",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var list = new Option<bool>("--list") { Description = "List the scenarios with their races and profiles." };
        var output = new Option<string?>("--output", "-o") { Description = "Op-trace file to write (ftrace text of mmop_* lines)." };
        var cpus = new Option<int>("--cpus") { Description = "random: CPUs (1-64).", DefaultValueFactory = _ => 4 };
        var ops = new Option<long>("--ops") { Description = "random: approximate number of ops.", DefaultValueFactory = _ => 100_000 };
        var seed = new Option<ulong>("--seed") { Description = "random: seed; the same options give byte-identical output.", DefaultValueFactory = _ => 1 };
        var benign = new Option<bool>("--benign") { Description = "scenario: the same programs in a benign schedule (the race does not happen in that order; 'mmtrace explore' finds it)." };
        var profile = new Option<string>("--profile")
        {
            Description = "random: the kernel the workload is for; the generator follows its features (no PMD moves before v5.0), so the workload replays clean under it.",
            DefaultValueFactory = _ => "latest",
        };
        var format = new Option<string>("--format") { Description = "--list output: text, or json.", DefaultValueFactory = _ => "text" };
        format.AcceptOnlyFromAmong("text", "json");
        var contend = new Option<bool>("--contend") { Description = "random: map whole aligned 2M slots and collapse more often, so PMD-moving mremaps, collapses, rmap walkers and GUP-fast meet on one mm, let reclaim hold pages of VM_LOCKED VMAs, have kswapd split THPs that MADV_DONTNEED zaps and khugepaged retract file tables that mremap then moves (R1, R2, R3, R4 and R6 actors for 'mmtrace explore --windows')." };
        var inject = new Option<string?>("--inject") { Description = $"random: races to inject, comma-separated ({string.Join(",", RandomWorkloadOptions.RaceIds)})." };

        var command = new Command("synth", "Write a race scenario, or a random workload that obeys the kernel's locking ('random'), as an op trace (ftrace text that 'mmtrace ingest' reads).")
        {
            scenario, list, output, cpus, ops, seed, profile, inject, contend, benign, format,
        };
        command.SetAction(parse => CommandRunner.Run(parse, verbose, _ =>
        {
            if (parse.GetValue(list))
            {
                if (parse.GetValue(format) == "json")
                {
                    JsonOutput.Write(WriteListJson);
                }
                else
                {
                    PrintList();
                }
                return ExitCodes.Success;
            }
            var name = parse.GetValue(scenario) ?? throw new UsageException("Name a scenario (see 'mmtrace synth --list') or give --list.");
            var path = parse.GetValue(output) ?? throw new UsageException("Give the op-trace file to write with -o FILE.");
            if (name == "random")
            {
                var options = new RandomWorkloadOptions
                {
                    Cpus = parse.GetValue(cpus),
                    Ops = parse.GetValue(ops),
                    Seed = parse.GetValue(seed),
                    Inject = RandomWorkloadOptions.ParseInject(parse.GetValue(inject)),
                    Contend = parse.GetValue(contend),
                }.For(KernelProfile.Parse(parse.GetValue(profile)!));
                options.Validate();
                long written = 0;
                AtomicFile.WriteText(path, writer => written = RandomWorkload.Write(options, writer));
                Console.Out.WriteLine($"wrote {path}: {written} ops on {options.Cpus} CPUs, seed {options.Seed}"
                    + (options.Inject.Count > 0 ? $", injected {string.Join(",", options.Inject)}" : ", no race injected"));
                return ExitCodes.Success;
            }
            var trace = parse.GetValue(benign) ? ScenarioLibrary.Get(name).BuildBenign() : ScenarioLibrary.Get(name).Build();
            AtomicFile.WriteText(path, writer => OpTraceWriter.Write(trace, writer));
            Console.Out.WriteLine($"wrote {path}: {trace.Count} ops, {trace.Tasks.Count} tasks");
            return ExitCodes.Success;
        }));
        return command;
    }

    /// <summary>The list as JSON: 'random' first (its injectable races), then each scenario with its race, checker and profiles.</summary>
    private static void WriteListJson(System.Text.Json.Utf8JsonWriter json)
    {
        static void Strings(System.Text.Json.Utf8JsonWriter json, string name, IEnumerable<string> values)
        {
            json.WriteStartArray(name);
            foreach (var value in values)
            {
                json.WriteStringValue(value);
            }
            json.WriteEndArray();
        }
        json.WriteStartArray();
        json.WriteStartObject();
        json.WriteString("name", "random");
        json.WriteString("description", "a random workload of several mms that obeys the kernel's locking; --inject adds races");
        Strings(json, "inject", RandomWorkloadOptions.RaceIds);
        json.WriteEndObject();
        foreach (var s in ScenarioLibrary.All)
        {
            json.WriteStartObject();
            json.WriteString("name", s.Name);
            json.WriteString("race", s.Race);
            json.WriteString("checker", s.Checker);
            json.WriteString("description", s.Description);
            Strings(json, "buggy", s.BuggyProfiles);
            Strings(json, "fixed", s.FixedProfiles);
            Strings(json, "masked_on", s.MaskedOn.Select(a => a.ToString().ToLowerInvariant()));
            json.WriteEndObject();
        }
        json.WriteEndArray();
    }

    private static void PrintList()
    {
        Console.Out.WriteLine($"{"random",-16} a random workload of several mms that obeys the kernel's locking; --inject adds races ({string.Join(",", RandomWorkloadOptions.RaceIds)})");
        foreach (var s in ScenarioLibrary.All)
        {
            Console.Out.WriteLine($"{s.Name,-16} {s.Race} ({s.Checker})  buggy: {string.Join(" ", s.BuggyProfiles)}  fixed: {string.Join(" ", s.FixedProfiles)}"
                + (s.MaskedOn.Count > 0 ? $"  masked on: {string.Join(" ", s.MaskedOn.Select(a => a.ToString().ToLowerInvariant()))}" : ""));
            Console.Out.WriteLine($"{"",-16} {s.Description}");
        }
    }
}

/// <summary>Writes a file through a temporary name and a rename, so no partial file is ever left behind.</summary>
internal static class AtomicFile
{
    /// <summary>
    /// Throws unless <paramref name="path"/> can be written: its directory exists and it is not one. A command that
    /// works long before it writes (explore's --emit-schedule) checks first; the error names the path given, not the
    /// temporary file beside it that the write would have failed on.
    /// </summary>
    /// <exception cref="IOException">Names the path and what is wrong with it.</exception>
    public static void CheckTarget(string path)
    {
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full))
        {
            throw new IOException($"{path}: is a directory; expected a file to write.");
        }
        if (Path.GetDirectoryName(full) is { } directory && !Directory.Exists(directory))
        {
            throw new IOException($"{path}: cannot be written: its directory {directory} does not exist.");
        }
    }

    public static void WriteText(string path, Action<TextWriter> write)
    {
        CheckTarget(path);
        var full = Path.GetFullPath(path);
        var temporary = Path.Combine(Path.GetDirectoryName(full)!, "." + Path.GetFileName(full) + ".tmp-" + Path.GetRandomFileName());
        try
        {
            using (var writer = new StreamWriter(temporary, append: false, new System.Text.UTF8Encoding(false)))
            {
                writer.NewLine = "\n";
                write(writer);
            }
            File.Move(temporary, full, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }
}
