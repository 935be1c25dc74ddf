using System.CommandLine;
using System.Globalization;
using System.Text;
using Pipeline.Analyze;
using Pipeline.Analyze.Listing;
using Pipeline.Storage;

namespace Pipeline.Cli;

/// <summary><c>mmtrace show DATASET [--pid P] [--cpu C] [--from T] [--to T] [--around SEQ[:N]] [--event GLOB]</c>.</summary>
internal static class ShowCommand
{
    public static Command Create(Option<bool> verbose)
    {
        var datasets = new Argument<string[]>("DATASET")
        {
            Description = "Trace datasets (or roots of trace=<id>/ partitions); several traces are listed one after another.",
            Arity = ArgumentArity.OneOrMore,
        };
        var scope = ScopeOptions.Create("events");
        var cpu = new Option<int?>("--cpu") { Description = "Only events recorded on this CPU." };
        var around = new Option<string?>("--around") { Description = "SEQ[:N]: the N events (default 10) on each side of event SEQ (a finding's seqs, a query's seq)." };
        var events = new Option<string?>("--event") { Description = "Only events whose name matches GLOB (tlb:*, *mremap*, page_fault_*)." };

        var command = new Command("show", "List the events of a trace, one line each like 'trace-cmd report' (hex addresses and pfns, the payload).")
        {
            datasets, scope.Pid, cpu, scope.From, scope.To, around, events,
        };
        command.SetAction(parse => CommandRunner.Run(parse, verbose, cancellationToken =>
        {
            var range = scope.Parse(parse);
            var filter = new ListingFilter
            {
                Pid = range.Pid,
                Cpu = parse.GetValue(cpu),
                FromNs = range.FromNs,
                ToNs = range.ToNs,
                EventGlob = parse.GetValue(events),
            };
            if (parse.GetValue(around) is { } aroundText)
            {
                var (seq, n) = ParseAround(aroundText);
                filter = filter with { AroundSeq = seq, AroundCount = n };
            }
            var traces = DatasetCatalog.Resolve(parse.GetValue(datasets)!);
            using var stdout = OpenStdout();
            using var output = new StreamWriter(stdout, new UTF8Encoding(false), 1 << 16) { AutoFlush = false };
            try
            {
                foreach (var trace in traces)
                {
                    if (traces.Count > 1)
                    {
                        output.Write($"# trace {trace.Id}\n");
                    }
                    EventListing.Write(trace, filter, output, cancellationToken);
                }
                output.Flush();
            }
            catch (IOException e) when (IsBrokenPipe(e))
            {
                // The reader went away (| head): that is how a listing ends, not an error.
            }
            return ExitCodes.Success;
        }));
        return command;
    }

    /// <summary>
    /// A pipe on fd 1 as a FileStream, not Console's stream: the console stream swallows EPIPE, so a listing piped
    /// into <c>head</c> would run to its end; this one stops at the first write after the reader left. A regular
    /// file keeps Console's stream: a FileStream writes it at its own position (pwrite) and would leave the shared
    /// offset behind, so whatever the shell writes next to the same file would overwrite the listing.
    /// </summary>
    private static Stream OpenStdout()
    {
        var pipe = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(1, ownsHandle: false), FileAccess.Write, 1);
        if (!pipe.CanSeek)
        {
            return pipe;
        }
        pipe.Dispose();
        return Console.OpenStandardOutput();
    }

    /// <summary>EPIPE: the process reading stdout exited. .NET ignores SIGPIPE and reports it as this IOException.</summary>
    private static bool IsBrokenPipe(IOException e) =>
        (e.HResult & 0xFFFF) == 32 || e.Message.Contains("Broken pipe", StringComparison.OrdinalIgnoreCase);

    internal static (long Seq, int Count) ParseAround(string text)
    {
        int colon = text.IndexOf(':', StringComparison.Ordinal);
        var seqText = colon < 0 ? text : text[..colon];
        int count = 10;
        if (!long.TryParse(seqText, NumberStyles.None, CultureInfo.InvariantCulture, out long seq)
            || (colon >= 0 && !int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out count)))
        {
            throw new UsageException($"--around expects SEQ[:N] (event seq, events on each side), found '{text}'.");
        }
        return (seq, count);
    }
}
