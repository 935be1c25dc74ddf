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
        // --format is the input's; a user asking for a JSON summary by habit is told the option that does it.
        format.Validators.Add(result =>
        {
            if (result.Tokens.Any(t => t.Value is "json" or "text"))
            {
                result.AddError("ingest's --format names the input format; for the summary as JSON give --summary-format json.");
            }
        });
        var summaryFormat = new Option<string>("--summary-format")
        {
            Description = "How the summary prints: text, or json (numbers as numbers) for scripts.",
            DefaultValueFactory = _ => "text",
        };
        summaryFormat.AcceptOnlyFromAmong("text", "json");
        var name = new Option<string?>("--name")
        {
            Description = "Trace id for a single input, written as the partition trace=ID/ under the output (without it a single trace is written at the output, and its id is the output directory's name).",
        };
        var strict = new Option<bool>("--strict") { Description = "Stop at the first malformed record instead of counting it." };
        var force = new Option<bool>("--force") { Description = "Replace an existing dataset made from other inputs (its traces and replay findings are lost)." };
        var shard = ShardOption.Create();

        var command = new Command("ingest", "Read traces into a Parquet dataset (events.parquet + meta.json).")
        {
            inputs, output, format, summaryFormat, name, strict, force, shard,
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
            var stopwatch = Stopwatch.StartNew();
            var summaries = ProgressLine.While(bar => TraceIngestor.Run(options, bar?.ForIngest(), cancellationToken));
            if (parse.GetValue(summaryFormat) == "json")
            {
                JsonOutput.Write(json => WriteJson(json, summaries, options, stopwatch.Elapsed));
                return ExitCodes.Success;
            }
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
                o.WriteLine(Invariant($"  {s.Crashes:N0} crash report(s) -> crashes.parquet (kernel {s.KernelRelease ?? "release not printed"}); classify them with 'mmtrace triage {s.Input}'"));
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

    /// <summary>
    /// The summary as one JSON object: the dataset, totals, and per trace its real id, counts (numbers), event
    /// counts by name, order repairs, crashes and the malformed samples (which text output prints on stderr).
    /// </summary>
    private static void WriteJson(System.Text.Json.Utf8JsonWriter json, IReadOnlyList<TraceIngestSummary> summaries, IngestOptions options, TimeSpan elapsed)
    {
        json.WriteStartObject();
        json.WriteString("output", options.Output);
        if (options.Shard is { } shard)
        {
            json.WriteString("shard", shard.ToString());
        }
        json.WriteNumber("events", summaries.Sum(s => s.Events));
        json.WriteNumber("bytes", summaries.Sum(s => s.Bytes));
        json.WriteNumber("seconds", Math.Round(elapsed.TotalSeconds, 3));
        json.WriteStartArray("traces");
        foreach (var s in summaries)
        {
            json.WriteStartObject();
            json.WriteString("trace", s.TraceId);
            json.WriteString("input", s.Input);
            json.WriteString("format", s.Format);
            json.WriteString("kernel_release", s.KernelRelease);
            json.WriteNumber("events", s.Events);
            json.WriteNumber("lost_events", s.LostEvents);
            json.WriteNumber("malformed", s.Malformed);
            json.WriteNumber("bytes", s.Bytes);
            json.WriteStartObject("event_counts");
            foreach (var (name, count) in s.EventCounts.OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal))
            {
                json.WriteNumber(name, count);
            }
            json.WriteEndObject();
            json.WriteNumber("reordered", s.Order?.Reordered ?? 0);
            json.WriteNumber("beyond_reorder_window", s.Order?.BeyondWindow ?? 0);
            json.WriteNumber("crashes", s.Crashes);
            json.WriteNumber("quoted_lines_dropped", s.QuotedLinesDropped);
            json.WriteString("truncated", s.Truncated);
            json.WriteStartArray("malformed_samples");
            foreach (var record in s.MalformedSamples)
            {
                json.WriteStartObject();
                json.WriteString("file", record.File);
                json.WriteString("position_kind", record.PositionKind);
                json.WriteNumber("position", record.Position);
                json.WriteString("message", record.Message);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteEndObject();
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
}
