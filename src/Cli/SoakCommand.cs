using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Pipeline.Replay;
using Pipeline.Replay.Workloads;
using static System.FormattableString;

namespace Pipeline.Cli;

/// <summary>
/// <c>mmtrace soak --seeds 11,12,13 --ops 5000000 [--cpus 8] [--profile NAME …] [--arch x86|arm64|both]</c>:
/// the model's own check that random workloads without injected races are race-free under every kernel they
/// are generated for. For each seed and profile the workload is generated for that profile's features and
/// streamed straight into one engine per architecture (nothing is written; memory is the engines' state).
/// </summary>
internal static class SoakCommand
{
    public static Command Create(Option<bool> verbose)
    {
        var seeds = new Option<string>("--seeds") { Description = "Comma-separated seeds (decimal), one workload each.", Required = true };
        var ops = new Option<long>("--ops") { Description = "Approximate ops per workload.", DefaultValueFactory = _ => 1_000_000 };
        var cpus = new Option<int>("--cpus") { Description = "CPUs (1-64).", DefaultValueFactory = _ => 8 };
        var profiles = new Option<string[]>("--profile")
        {
            Description = $"Profiles to replay under (repeatable); default every one: {string.Join(", ", KernelProfile.Names)}.",
        };
        var arch = new Option<string>("--arch") { Description = "Architecture(s).", DefaultValueFactory = _ => "both" };
        arch.AcceptOnlyFromAmong("x86", "arm64", "both");

        var command = new Command("soak", "Generate random workloads (no injected race) for each kernel profile and replay them under it; exits 1 on any finding.")
        {
            seeds, ops, cpus, profiles, arch,
        };
        command.SetAction(parse => CommandRunner.Run(parse, verbose, cancellationToken =>
        {
            var seedList = ParseSeeds(parse.GetValue(seeds)!);
            var names = parse.GetValue(profiles) is { Length: > 0 } given ? given : [.. KernelProfile.Names];
            var kernels = names.Select(n => KernelProfile.Parse(n)).ToList();
            Arch[] archs = parse.GetValue(arch) switch
            {
                "x86" => [Arch.X86],
                "arm64" => [Arch.Arm64],
                _ => [Arch.X86, Arch.Arm64],
            };
            var baseOptions = new RandomWorkloadOptions { Cpus = parse.GetValue(cpus), Ops = parse.GetValue(ops) };
            baseOptions.Validate();
            long total = 0;
            var clock = Stopwatch.StartNew();
            foreach (ulong seed in seedList)
            {
                foreach (var kernel in kernels)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var options = (baseOptions with { Seed = seed }).For(kernel);
                    var engines = archs.Select(a => new ReplayEngine(kernel, a)).ToArray();
                    var run = Stopwatch.StartNew();
                    long generated = RandomWorkload.Generate(options, new EngineSink(engines, cancellationToken));
                    foreach (var (engine, a) in engines.Zip(archs))
                    {
                        var result = engine.Finish();
                        total += result.Findings.Count;
                        string what = result.Findings.Count == 0
                            ? "clean"
                            : string.Join(" ", result.Findings.GroupBy(f => f.Class == FindingClass.Race ? f.Checker : f.Class)
                                .OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => Invariant($"{g.Key}×{g.Count()}")));
                        Console.Out.WriteLine(Invariant(
                            $"seed {seed} {kernel.Name,-9} {ReplayCommand.ArchName(a),-5} {generated,12:N0} ops {result.OpsExecuted,12:N0} executed  {what}  ({run.Elapsed.TotalSeconds:F1} s)"));
                    }
                }
            }
            Console.Out.WriteLine(Invariant($"{total} finding(s) in {seedList.Count * kernels.Count * archs.Length} replays, {clock.Elapsed.TotalSeconds:F0} s"));
            return total == 0 ? ExitCodes.Success : ExitCodes.Findings;
        }));
        return command;
    }

    private static List<ulong> ParseSeeds(string text)
    {
        var list = new List<ulong>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!ulong.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out ulong seed))
            {
                throw new UsageException($"--seeds expects comma-separated decimal numbers, found '{part}'.");
            }
            list.Add(seed);
        }
        if (list.Count == 0)
        {
            throw new UsageException("--seeds needs at least one seed.");
        }
        return list;
    }

    /// <summary>Feeds each generated op to every engine, in schedule order.</summary>
    private sealed class EngineSink(ReplayEngine[] engines, CancellationToken cancellationToken) : IOpSink
    {
        private readonly HashSet<int> _named = [];
        private long _count;

        public void Add(in Op op, string comm)
        {
            if ((++_count & 0xFFFF) == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }
            bool name = _named.Add(op.Tid);
            foreach (var engine in engines)
            {
                if (name)
                {
                    engine.NameTask(op.Tid, comm);
                }
                engine.Execute(op);
            }
        }
    }
}
