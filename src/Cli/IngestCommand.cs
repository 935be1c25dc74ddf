using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Pipeline.Ingest;
using Pipeline.Storage;

namespace Pipeline.Cli;

/// <summary><c>mmtrace ingest INPUT... -o DATASET [--format …] [--name ID] [--strict]</c>.</summary>
internal static class IngestCommand
{
    public static Command Create(Option<bool> verbose)
    {
        var inputs = new Argument<string[]>("INPUT")
        {
            Description = "Trace files: ftrace text (also systrace HTML and op traces), trace.dat v6/v7, perf script text, console logs, or a CTF trace directory; .gz and .zst are read transparently; a pipe (/dev/stdin, <(…), a FIFO) is spooled to disk first.",
            Arity = ArgumentArity.OneOrMore,
        };
        var output = new Option<string>("--output", "-o")
        {
            Description = "Dataset directory to write. One input: a trace dataset there; several: one trace=<id>/ partition each.",
            Required = true,
        };
        var format = new Option<string>("--format")
        {
            Description = "Input format; auto detects it from the content, not the file name.",
            DefaultValueFactory = _ => "auto",
        };
        format.AcceptOnlyFromAmong(["auto", .. FormatDetector.Formats]);
        var name = new Option<string?>("--name") { Description = "Trace id for a single input (default: the file name)." };
        var strict = new Option<bool>("--strict") { Description = "Stop at the first malformed record instead of counting it." };
        var force = new Option<bool>("--force") { Description = "Replace an existing dataset made from other inputs (its traces and replay findings are lost)." };
        var shard = ShardOption.Create();

        var command = new Command("ingest", "Read traces into a Parquet dataset (events.parquet + meta.json).")
        {
            inputs, output, format, name, strict, force, shard,
        };
        command.SetAction(parse => CommandRunner.Run(parse, verbose, cancellationToken =>
        {
            var options = new IngestOptions
            {
                Inputs = parse.GetValue(inputs)!,
                Output = parse.GetValue(output)!,
                Format = parse.GetValue(format)!,
                Name = parse.GetValue(name),
                Strict = parse.GetValue(strict),
                Force = parse.GetValue(force),
                Warn = message => Console.Error.WriteLine($"mmtrace: warning: {message}"),
                Shard = ShardOption.Parse(parse.GetValue(shard)),
            };
            var bar = Console.IsErrorRedirected ? null : new ProgressLine();
            var stopwatch = Stopwatch.StartNew();
            var summaries = TraceIngestor.Run(options, bar, cancellationToken);
            bar?.Finish();
            if (summaries.Count == 0)
            {
                Console.Out.WriteLine($"shard {options.Shard}: none of the {options.Inputs.Count} inputs is in this shard; nothing written");
                return ExitCodes.Success;
            }
            PrintSummary(summaries, options.Output, stopwatch.Elapsed);
            return ExitCodes.Success;
        }));
        return command;
    }

    private static void PrintSummary(IReadOnlyList<TraceIngestSummary> summaries, string output, TimeSpan elapsed)
    {
        var o = Console.Out;
        long totalEvents = 0, totalBytes = 0;
        foreach (var s in summaries)
        {
            totalEvents += s.Events;
            totalBytes += s.Bytes;
            o.WriteLine(Invariant($"{s.Input} ({s.Format}) -> trace '{s.TraceId}': {s.Events:N0} events, {s.LostEvents:N0} lost, {s.Malformed:N0} malformed"));
            foreach (var (name, count) in s.EventCounts.OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal))
            {
                o.WriteLine(Invariant($"  {count,12:N0}  {name}"));
            }
            foreach (var record in s.MalformedSamples)
            {
                Console.Error.WriteLine($"  malformed: {record}");
            }
            if (s.Malformed > s.MalformedSamples.Count)
            {
                Console.Error.WriteLine(Invariant($"  … and {s.Malformed - s.MalformedSamples.Count:N0} more malformed records (counted in meta.json)"));
            }
            if (s.Order is { } order)
            {
                PrintOrder(order);
            }
            if (s.Crashes > 0)
            {
                o.WriteLine(Invariant($"  {s.Crashes:N0} crash report(s) -> crashes.parquet (kernel {s.KernelRelease ?? "release not printed"}); classify them with 'mmtrace triage'"));
            }
            if (s.QuotedLinesDropped > 0)
            {
                Console.Error.WriteLine(Invariant($"  {s.QuotedLinesDropped:N0} trace line(s) in quoted mail text (an older message) left out of the events (quoted_lines_dropped in meta.json)"));
            }
            if (s.Truncated is not null)
            {
                Console.Error.WriteLine($"  warning: input damaged, events after the damage are missing: {s.Truncated}");
            }
        }
        double seconds = Math.Max(elapsed.TotalSeconds, 1e-9);
        o.WriteLine(Invariant($"wrote {output}: {totalEvents:N0} events from {totalBytes / 1048576.0:F1} MiB in {seconds:F2} s ({totalEvents / seconds / 1e6:F2} M events/s)"));
    }

    /// <summary>Out-of-order events: put in place by the reorder window, or (beyond it) the whole trace sorted.</summary>
    private static void PrintOrder(EventOrder order)
    {
        if (order.Reordered > 0)
        {
            Console.Out.WriteLine(Invariant($"  {order.Reordered:N0} events came out of time order (late by up to {order.ReorderedMaxNs / 1000.0:F3} µs) and were put in place by the reorder window"));
        }
        if (order.BeyondWindow > 0)
        {
            Console.Error.WriteLine(Invariant($"  note: {order.BeyondWindow:N0} events came later than the reorder window (late by up to {order.BeyondWindowMaxNs / 1000.0:F3} µs); the whole trace was sorted on disk"));
        }
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    /// <summary>A one-line progress bar on stderr: bytes, percentage, events/s.</summary>
    private sealed class ProgressLine : IProgress<IngestProgress>
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private long _lastDraw = -1000;

        public void Report(IngestProgress value)
        {
            long now = _clock.ElapsedMilliseconds;
            if (now - _lastDraw < 100 && value.BytesRead < value.TotalBytes)
            {
                return;
            }
            _lastDraw = now;
            double fraction = value.TotalBytes == 0 ? 1 : (double)value.BytesRead / value.TotalBytes;
            int filled = (int)(fraction * 30);
            double rate = value.Events / Math.Max(_clock.Elapsed.TotalSeconds, 1e-3);
            var line = string.Create(CultureInfo.InvariantCulture,
                $"\r{Path.GetFileName(value.File)} [{new string('#', filled)}{new string('.', 30 - filled)}] {fraction * 100,5:F1}% {value.BytesRead / 1048576.0:F1}/{value.TotalBytes / 1048576.0:F1} MiB {value.Events:N0} events {rate / 1e6:F2} M/s ");
            Console.Error.Write(line);
        }

        public void Finish() => Console.Error.WriteLine();
    }
}
