using System.CommandLine;
using System.Globalization;
using Pipeline.Ingest.Live;

namespace Pipeline.Cli;

/// <summary><c>mmtrace record -o DATASET [--events mm|LIST] [--buffer-kb N] [--system-wide] -- CMD ARGS…</c>.</summary>
internal static class RecordCommand
{
    public static Command Create(Option<bool> verbose)
    {
        var output = new Option<string>("--output", "-o") { Description = "Dataset directory to write.", Required = true };
        var events = new Option<string>("--events")
        {
            Description = "A comma-separated list of system:event names or globs; 'mm' stands for the mm event set (tlb, mmap_lock, kmem, syscalls, exceptions, huge_memory, sched, ipi, csd, …) and may be combined with others (mm,syscalls:sys_enter_vmsplice).",
            DefaultValueFactory = _ => "mm",
        };
        var bufferKb = new Option<int>("--buffer-kb")
        {
            Description = "Per-CPU ring-buffer size in KiB, of each instance (machine-wide, and the command's own). The buffers are drained to disk while the command runs, so this only has to hold a burst; events that overflow it are lost and counted.",
            DefaultValueFactory = _ => 16384,
        };
        bufferKb.Validators.Add(result =>
        {
            if (result.GetValue(bufferKb) is < 4 or > 4 * 1024 * 1024)
            {
                result.AddError("--buffer-kb must be between 4 and 4194304.");
            }
        });
        var systemWide = new Option<bool>("--system-wide")
        {
            Description = "Record the syscall, user page-fault and exec events of every process, not only of the command and the processes and threads it starts (the other events are always machine-wide).",
        };
        var command = new Argument<string[]>("COMMAND")
        {
            Description = "The command to run while recording (after '--').",
            Arity = ArgumentArity.OneOrMore,
        };
        var record = new Command("record", "Record a command's mm events in private tracefs instances and ingest them (needs root and tracefs). The buffers are drained to disk while the command runs; syscalls, user page faults and execs are recorded for the command and the processes and threads it starts only, unless --system-wide (docs/recording.md).")
        {
            output, events, bufferKb, systemWide, command,
        };
        record.SetAction(parse => CommandRunner.Run(parse, verbose, cancellationToken =>
        {
            var eventList = parse.GetValue(events)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var result = LiveRecorder.Record(new RecordOptions
            {
                Output = parse.GetValue(output)!,
                Command = parse.GetValue(command)!,
                Events = eventList,
                BufferSizeKb = parse.GetValue(bufferKb),
                SystemWide = parse.GetValue(systemWide),
            }, Console.Error, cancellationToken);
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"wrote {parse.GetValue(output)}: {result.Events:N0} events, {result.LostEvents:N0} lost, {result.EnabledEvents.Count} events enabled; command exited with {result.CommandExitCode}"));
            if (result.Instances.FirstOrDefault(i => i.Role == "command") is { } filtered)
            {
                // Said at record time, where a lab engineer who recorded beside a workload started elsewhere can still act on it.
                // A count of event names, said as a share of the enabled ones: "2 per-process events" beside "1,114 events"
                // read as two events recorded.
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {filtered.Events.Count} of the {result.EnabledEvents.Count} events enabled (syscalls, user page faults, exec) are recorded for the command and its descendants only: a workload started outside it needs --system-wide"));
            }
            foreach (var instance in result.Instances.Where(i => i.Lost > 0 || parse.GetValue(verbose)))
            {
                // Which buffer overflowed and where: a larger --buffer-kb helps the CPUs that lost events.
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {instance.Role} instance ({instance.Events.Count} events): {instance.Lost:N0} lost; ") + string.Join(", ", instance.Stats.Select(c =>
                        string.Create(CultureInfo.InvariantCulture, $"cpu{c.Cpu} overrun {c.Overrun}, commit overrun {c.CommitOverrun}, dropped {c.DroppedEvents}, read {c.ReadEvents}"))));
            }
            if (result.Truncated is not null)
            {
                Console.Error.WriteLine($"warning: {result.Truncated}");
            }
            return ExitCodes.Success;
        }));
        return record;
    }
}
