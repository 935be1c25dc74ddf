using System.CommandLine;
using System.CommandLine.Parsing;

namespace Pipeline.Cli;

internal static class Program
{
    private static int Main(string[] args)
    {
        // Before DuckDB and the encoders start threads: keeps the address space small enough for ulimit -v.
        Storage.Native.MallocArenas.Limit();
        var verbose = new Option<bool>("--verbose")
        {
            Description = "On errors, print the stack trace too; replay also prints the lowering's counters and every finding's witness (not five of each kind).",
            Recursive = true,
        };
        var root = new RootCommand("mmtrace: find memory-management races in Linux traces (ftrace, trace.dat, perf, console dumps).")
        {
            verbose,
        };
        root.Subcommands.Add(IngestCommand.Create(verbose));
        root.Subcommands.Add(QueryCommand.Create(verbose));
        root.Subcommands.Add(QueryCommand.CreateList());
        root.Subcommands.Add(RecordCommand.Create(verbose));
        root.Subcommands.Add(SynthCommand.Create(verbose));
        root.Subcommands.Add(ReplayCommand.Create(verbose));
        root.Subcommands.Add(ExploreCommand.Create(verbose));
        root.Subcommands.Add(TriageCommand.Create(verbose));
        root.Subcommands.Add(DemoCommand.Create(verbose));
        root.Subcommands.Add(SoakCommand.Create(verbose));
        root.Subcommands.Add(ShowCommand.Create(verbose));
        root.Subcommands.Add(ExportCommand.Create(verbose));
        root.Subcommands.Add(ReportCommand.Create(verbose));
        root.Subcommands.Add(CompletionCommand.Create(root));

        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var error in parse.Errors)
            {
                Console.Error.WriteLine($"mmtrace: {error.Message}");
            }
            Console.Error.WriteLine("Run 'mmtrace --help' (or 'mmtrace COMMAND --help') for usage.");
            return ExitCodes.Usage;
        }
        return parse.Invoke();
    }
}
