using System.CommandLine;
using Pipeline.Replay;

namespace Pipeline.Cli;

/// <summary><c>mmtrace synth --list</c>, <c>mmtrace synth SCENARIO -o FILE</c>.</summary>
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

        var command = new Command("synth", "Write a race scenario as an op trace (ftrace text that 'mmtrace ingest' reads).")
        {
            scenario, list, output,
        };
        command.SetAction(parse => CommandRunner.Run(parse, verbose, _ =>
        {
            if (parse.GetValue(list))
            {
                PrintList();
                return ExitCodes.Success;
            }
            var name = parse.GetValue(scenario) ?? throw new UsageException("Name a scenario (see 'mmtrace synth --list') or give --list.");
            var path = parse.GetValue(output) ?? throw new UsageException("Give the op-trace file to write with -o FILE.");
            var trace = ScenarioLibrary.Get(name).Build();
            AtomicFile.WriteText(path, writer => OpTraceWriter.Write(trace, writer));
            Console.Out.WriteLine($"wrote {path}: {trace.Count} ops, {trace.Tasks.Count} tasks");
            return ExitCodes.Success;
        }));
        return command;
    }

    private static void PrintList()
    {
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
    public static void WriteText(string path, Action<TextWriter> write)
    {
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
