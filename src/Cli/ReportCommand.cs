using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Pipeline.Analyze.Report;
using Pipeline.Storage;

namespace Pipeline.Cli;

/// <summary><c>mmtrace report DATASET... -o FILE.html</c>.</summary>
internal static class ReportCommand
{
    public static Command Create(Option<bool> verbose)
    {
        var datasets = new Argument<string[]>("DATASET")
        {
            Description = "Trace datasets (or roots of trace=<id>/ partitions); several traces are shown side by side.",
            Arity = ArgumentArity.OneOrMore,
        };
        var output = new Option<string>("-o", "--output")
        {
            Description = "The HTML file to write (self-contained: opens without network).",
            Required = true,
        };
        var run = new Option<string?>("--profile")
        {
            Description = "Show the replay run under this profile (as 'mmtrace query DS --sql \"SELECT * FROM replays\"' lists them, e.g. v5.13 or latest+ttu-sync); default: the latest run.",
        };
        var command = new Command("report", "Write one self-contained HTML page per set of traces: header, findings with witness timelines, mremap, TLB shootdown, mmap_lock and page-fault charts.")
        {
            datasets, output, run,
        };
        command.SetAction(parse => CommandRunner.Run(parse, verbose, cancellationToken =>
        {
            var started = Stopwatch.StartNew();
            var traces = DatasetCatalog.Resolve(parse.GetValue(datasets)!);
            string target = Path.GetFullPath(parse.GetValue(output)!);
            string temp = target + ".tmp-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
            ReportSummary summary;
            try
            {
                using (var writer = new StreamWriter(temp, append: false, new UTF8Encoding(false), 1 << 16))
                {
                    summary = HtmlReport.Write(traces, writer, Selection(parse.GetValue(run)), cancellationToken);
                }
                File.Move(temp, target, overwrite: true);
            }
            finally
            {
                File.Delete(temp);
            }
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"wrote {parse.GetValue(output)}: {summary.Traces} trace{(summary.Traces == 1 ? "" : "s")}, {summary.Charts} charts, {summary.Findings} finding{(summary.Findings == 1 ? "" : "s")} in {started.Elapsed.TotalSeconds:0.00} s"));
            return ExitCodes.Success;
        }));
        return command;
    }

    /// <summary>The run a report or an export shows: the latest, or the latest under <paramref name="profile"/>.</summary>
    internal static RunSelection Selection(string? profile) => profile is null ? RunSelection.Latest : RunSelection.OfProfile(profile);
}
