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
        var command = new Command("report", "Write one self-contained HTML page per set of traces: header, findings with witness timelines, mremap, TLB shootdown, mmap_lock and page-fault charts.")
        {
            datasets, output,
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
                    summary = HtmlReport.Write(traces, writer, cancellationToken);
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
}
