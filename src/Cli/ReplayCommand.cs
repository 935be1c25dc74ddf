using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Pipeline.Replay;
using Pipeline.Replay.Runner;
using Pipeline.Storage;

namespace Pipeline.Cli;

/// <summary><c>mmtrace replay DATASET... [--profile P] [--fix +NAME/-NAME]... [--arch x86|arm64] [--format text|json]</c>.</summary>
internal static class ReplayCommand
{
    public static Command Create(Option<bool> verbose)
    {
        var datasets = new Argument<string[]>("DATASET")
        {
            Description = "Trace datasets (or roots of trace=<id>/ partitions) to replay.",
            Arity = ArgumentArity.OneOrMore,
        };
        var profile = new Option<string>("--profile")
        {
            Description = $"Kernel profile: {string.Join(", ", KernelProfile.Names)}.",
            DefaultValueFactory = _ => "latest",
        };
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
        var format = new Option<string>("--format") { Description = "Output format.", DefaultValueFactory = _ => "text" };
        format.AcceptOnlyFromAmong("text", "json");

        var command = new Command("replay", "Replay datasets through the page-table/TLB engine; writes findings.parquet into each and exits 1 when there are findings.")
        {
            datasets, profile, fixes, arch, maps, format,
        };
        command.SetAction(parse => CommandRunner.Run(parse, verbose, cancellationToken =>
        {
            var kernel = KernelProfile.Parse(parse.GetValue(profile)!, parse.GetValue(fixes) ?? []);
            var flushArch = parse.GetValue(arch) == "arm64" ? Arch.Arm64 : Arch.X86;
            var traces = DatasetCatalog.Resolve(parse.GetValue(datasets)!);
            var seed = ReadMaps(parse.GetValue(maps));
            var results = traces.Select(t => DatasetReplay.Run(t, kernel, flushArch, seed, cancellationToken)).ToList();
            if (parse.GetValue(format) == "json")
            {
                WriteJson(results, kernel, flushArch);
            }
            else
            {
                WriteText(results, kernel, flushArch);
            }
            return results.Any(r => r.Findings.Count > 0) ? ExitCodes.Findings : ExitCodes.Success;
        }));
        return command;
    }

    private static void WriteText(IReadOnlyList<DatasetReplayResult> results, KernelProfile kernel, Arch arch)
    {
        var o = Console.Out;
        foreach (var r in results)
        {
            var head = string.Create(CultureInfo.InvariantCulture,
                $"trace {r.Dataset.Id}: {r.OpCount:N0} ops replayed under {kernel.Name} ({ArchName(arch)}), {r.Findings.Count} finding{(r.Findings.Count == 1 ? "" : "s")}");
            o.WriteLine(head);
            if (r.MalformedOps > 0)
            {
                o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {r.MalformedOps:N0} op lines could not be read; first: {r.Diagnostics.MalformedSamples.FirstOrDefault()}"));
            }
            if (r.Lowering is { } lowering)
            {
                o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {lowering.Events:N0} tracepoint events lowered into {lowering.Ops:N0} ops (ops.parquet), {r.Exposures.Count} exposure window{(r.Exposures.Count == 1 ? "" : "s")}; {r.Mremaps:N0} mremap calls analysed into mremaps/mremap_moves"));
                o.WriteLine("  lowering: " + lowering);
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
            foreach (var finding in r.Findings)
            {
                o.WriteLine();
                o.Write(WitnessRenderer.RenderTimeline(finding));
            }
            if (r.Findings.Count > 0)
            {
                o.WriteLine();
            }
        }
    }

    private static void WriteJson(IReadOnlyList<DatasetReplayResult> results, KernelProfile kernel, Arch arch)
    {
        using var stream = Console.OpenStandardOutput();
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        json.WriteStartArray();
        foreach (var r in results)
        {
            json.WriteStartObject();
            json.WriteString("trace", r.Dataset.Id);
            json.WriteString("profile", kernel.Name);
            json.WriteString("arch", ArchName(arch));
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
            json.WriteStartArray("findings");
            foreach (var finding in r.Findings)
            {
                finding.WriteJson(json);
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.Flush();
        stream.WriteByte((byte)'\n');
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
