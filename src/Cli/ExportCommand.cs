using System.CommandLine;
using System.Globalization;
using Pipeline.Analyze.Export;
using Pipeline.Storage;

namespace Pipeline.Cli;

/// <summary><c>mmtrace export DATASET --perfetto FILE.json</c>.</summary>
internal static class ExportCommand
{
    public static Command Create(Option<bool> verbose)
    {
        var dataset = new Argument<string>("DATASET") { Description = "One trace dataset (a partition root with several traces: name one, DATASET/trace=ID)." };
        var perfetto = new Option<string>("--perfetto")
        {
            Description = "Write Chrome trace-event JSON for ui.perfetto.dev and chrome://tracing to FILE.json.",
            Required = true,
        };
        var run = new Option<string?>("--profile")
        {
            Description = "Show the replay run under this profile (as 'mmtrace query DS --sql \"SELECT * FROM replays\"' lists them, e.g. v5.13 or latest+ttu-sync); default: the latest run.",
        };
        var command = new Command("export", "Export a trace as a timeline: per-CPU tracks (faults, TLB flushes, IPIs, ops), per-thread syscalls and mmap_lock holds, findings with flows through their witness.")
        {
            dataset, perfetto, run,
        };
        command.SetAction(parse => CommandRunner.Run(parse, verbose, cancellationToken =>
        {
            var traces = DatasetCatalog.Resolve([parse.GetValue(dataset)!]);
            if (traces.Count != 1)
            {
                throw new UsageException($"'{parse.GetValue(dataset)}' holds {traces.Count} traces ({string.Join(", ", traces.Select(t => t.Id))}); export one: {Path.Combine(parse.GetValue(dataset)!, "trace=" + traces[0].Id)}.");
            }
            string target = Path.GetFullPath(parse.GetValue(perfetto)!);
            string temp = target + ".tmp-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
            PerfettoSummary summary;
            try
            {
                using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
                {
                    summary = PerfettoExport.Write(traces[0], file, ReportCommand.Selection(parse.GetValue(run)), cancellationToken);
                }
                File.Move(temp, target, overwrite: true);
            }
            finally
            {
                File.Delete(temp);
            }
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"wrote {parse.GetValue(perfetto)}: {summary.Events:N0} events as {summary.Records:N0} trace records, {summary.Findings} finding{(summary.Findings == 1 ? "" : "s")} with witness flows; open it in ui.perfetto.dev or chrome://tracing"));
            var untracked = PerfettoSummary.Untracked(traces[0].Meta).ToList();
            if (untracked.Count > 0)
            {
                // Nothing left out without a word: the events that have no track, by name.
                var inv = CultureInfo.InvariantCulture;
                string kinds = string.Join(", ", untracked.Take(5).Select(e => string.Create(inv, $"{e.Key} {e.Value:N0}"))) + (untracked.Count > 5 ? ", …" : "");
                Console.Out.WriteLine(string.Create(inv,
                    $"  no track for {untracked.Sum(e => e.Value):N0} events of {untracked.Count} other kind{(untracked.Count == 1 ? "" : "s")} (except where a finding's witness holds them): {kinds}; mmtrace query {traces[0].Directory} --name event_counts lists them"));
            }
            if (summary.EntriesWithoutExitEvent.Count > 0)
            {
                // A recorder that enabled only a syscall's entry (coverage's record lines ask for sys_enter_read, …): the
                // entries are instants, not slices left open to the end of the trace.
                var inv = CultureInfo.InvariantCulture;
                var names = summary.EntriesWithoutExitEvent.OrderByDescending(e => e.Value).ThenBy(e => e.Key, StringComparer.Ordinal).ToList();
                string list = string.Join(", ", names.Take(5).Select(e => string.Create(inv, $"{e.Key} {e.Value:N0}"))) + (names.Count > 5 ? ", …" : "");
                Console.Out.WriteLine(string.Create(inv,
                    $"  {names.Sum(e => e.Value):N0} syscall entries are instants, not slices: the trace holds no exit event of {(names.Count == 1 ? "that syscall" : $"those {names.Count} syscalls")} ({list})"));
            }
            if (summary.UnmatchedEnds > 0 || summary.ClosedAtEnd > 0)
            {
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {summary.UnmatchedEnds:N0} exits/releases had no begin in the trace (it started inside them); {summary.ClosedAtEnd:N0} slices were still open at its end and close there"));
            }
            return ExitCodes.Success;
        }));
        return command;
    }
}
