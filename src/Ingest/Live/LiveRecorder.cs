using System.Diagnostics;
using Pipeline.Ingest.TraceDat;
using Pipeline.Storage;

namespace Pipeline.Ingest.Live;

/// <summary>What <c>mmtrace record</c> was asked to do.</summary>
public sealed record RecordOptions
{
    /// <summary>Dataset directory to write.</summary>
    public required string Output { get; init; }

    /// <summary>The command to run while recording, and its arguments.</summary>
    public required IReadOnlyList<string> Command { get; init; }

    /// <summary>A list of <c>system:event</c> names or globs; the entry "mm" stands for <see cref="MmEventSet.All"/>.</summary>
    public IReadOnlyList<string> Events { get; init; } = ["mm"];

    /// <summary>Per-CPU ring buffer size (of each instance).</summary>
    public int BufferSizeKb { get; init; } = 16384;

    /// <summary>
    /// Record the per-process events (<see cref="MmEventSet.IsPerProcess"/>: syscalls, user page faults, exec) of every process,
    /// not only of the command and its descendants.
    /// </summary>
    public bool SystemWide { get; init; }
}

/// <summary>What a recording produced.</summary>
/// <param name="CommandExitCode">The command's exit code.</param>
/// <param name="Events">Events written to the dataset.</param>
/// <param name="LostEvents">Events the kernel lost (overwritten or dropped before they were read).</param>
/// <param name="EnabledEvents">Every event enabled, in either instance.</param>
/// <param name="MissingEvents">Entries of the mm set this kernel lacks.</param>
/// <param name="Truncated">Damage that ended a CPU stream, or null.</param>
/// <param name="Instances">Each instance's role, events and per-CPU stats.</param>
public sealed record RecordResult(
    int CommandExitCode,
    long Events,
    long LostEvents,
    IReadOnlyList<string> EnabledEvents,
    IReadOnlyList<string> MissingEvents,
    string? Truncated,
    IReadOnlyList<RecordedInstance> Instances);

/// <summary>One tracefs instance of a recording.</summary>
/// <param name="Role">"machine-wide", or "command" (filtered to the command's process tree).</param>
/// <param name="Events">Its enabled events.</param>
/// <param name="Stats">Its per-CPU stats, read after tracing stopped and the buffers were drained.</param>
public sealed record RecordedInstance(string Role, IReadOnlyList<string> Events, IReadOnlyList<TraceCpuStats> Stats)
{
    /// <summary>Events this instance lost (overrun, commit overrun, dropped) over all CPUs.</summary>
    public long Lost => Stats.Sum(s => s.Lost);
}

/// <summary>
/// Records a command and ingests the per-CPU raw buffers directly (the trace.dat page reader over
/// <c>trace_pipe_raw</c>), so nothing goes through text. Per-CPU readers drain the buffers to disk while the command
/// runs (<see cref="TraceFsStreaming"/>), so the ring buffer only absorbs bursts. Unless
/// <see cref="RecordOptions.SystemWide"/>, the events only the command's own tasks fire in their own context
/// (<see cref="MmEventSet.IsPerProcess"/>) go to a second instance filtered to the command's process tree
/// (<c>set_event_pid</c> + <c>options/event-fork</c>), set before the command's first syscall; the two instances share
/// the clock and their streams are merged by timestamp. The instances are removed on success, error and Ctrl-C.
/// </summary>
public static class LiveRecorder
{
    /// <summary>Runs <see cref="RecordOptions.Command"/> under tracing and writes the dataset.</summary>
    /// <exception cref="IOException">tracefs is not writable here, or the command cannot be started.</exception>
    public static RecordResult Record(RecordOptions options, TextWriter? log = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Command.Count == 0)
        {
            throw new ArgumentException("Give the command to record after '--'.", nameof(options));
        }
        if (!TraceFsInstance.IsAvailable(out var reason))
        {
            throw new IOException($"Cannot record: {reason}");
        }
        string executable = ResolveExecutable(options.Command[0]);
        var root = TraceFsInstance.FindOrMountTraceFs();
        // "mm" may stand alone or lead a list (what coverage's record lines ask for: mm plus the events a race needs):
        // entries of the mm set this kernel lacks are skipped with a note, explicit entries must exist.
        IReadOnlyList<string> present = options.Events;
        IReadOnlyList<string> missing = [];
        if (options.Events.Contains("mm"))
        {
            var (mmPresent, mmMissing) = MmEventSet.ForKernel(root);
            present = [.. mmPresent, .. options.Events.Where(e => e != "mm" && !mmPresent.Contains(e))];
            missing = mmMissing;
        }
        foreach (var name in missing)
        {
            log?.WriteLine($"record: this kernel has no event {name}; recording without it");
        }
        var (resolved, unknown) = TraceFsInstance.ResolveEvents(root, present);
        if (unknown.Count > 0)
        {
            throw TraceFsInstance.MissingEventsError(root, unknown, nameof(options));
        }
        var perProcess = options.SystemWide ? [] : resolved.Where(MmEventSet.IsPerProcess).ToList();
        var machineWide = resolved.Except(perProcess, StringComparer.Ordinal).ToList();
        // The comm of every event from the trace, not only from saved_cmdlines (which misses tasks and misnames reused
        // pids): the task events name each new task's comm and every rename (exec's too). They are rare; when the user
        // did not ask for them they are read for their comms only and leave no row (docs/recording.md). They fire in the
        // parent's and the renaming task's context, so the command instance catches its tree's; without one they go
        // machine-wide. Neither instance is created for them alone.
        var commOnly = MmEventSet.CommEvents
            .Where(e => !resolved.Contains(e, StringComparer.Ordinal) && TraceFsInstance.ResolveEvents(root, [e]).Missing.Count == 0)
            .ToHashSet(StringComparer.Ordinal);
        (perProcess.Count > 0 ? perProcess : machineWide).AddRange(commOnly.Order(StringComparer.Ordinal));

        using var dataset = DatasetWriter.Create(options.Output);
        using var trace = dataset.BeginTrace();
        var capture = Path.Combine(dataset.TemporaryDirectory, ".capture");
        var instanceOptions = new TraceFsOptions { BufferSizeKb = options.BufferSizeKb };
        int exitCode;
        int commandPid = 0;
        var raw = new List<RawCpuCapturePath>();
        var instances = new List<RecordedInstance>();
        TraceFsMetadata metadata;
        {
            using var wide = machineWide.Count > 0 ? TraceFsInstance.Create(machineWide, instanceOptions) : null;
            using var command = perProcess.Count > 0 ? TraceFsInstance.Create(perProcess, instanceOptions) : null;
            using var wideStream = wide?.StartStreaming(Path.Combine(capture, "machine-wide"));
            using var commandStream = command?.StartStreaming(Path.Combine(capture, "command"));
            // The recorder's own syscalls and faults (its readers drain the pipes with a read() per page) are no workload:
            // without this a system-wide recording held 41,000–64,000 of the readers' own syscalls in a 2 s run
            // (docs/benchmarks.md, s37-lab). Only those events are filtered: what fires in interrupt context while a reader
            // is current is another task's and stays.
            wide?.ExcludeTasksFrom(machineWide.Where(MmEventSet.IsPerProcess), RecorderThreads());
            exitCode = RunCommand(executable, options.Command, wide, command, pid => commandPid = pid, cancellationToken);
            wide?.Stop();
            command?.Stop();
            cancellationToken.ThrowIfCancellationRequested();
            foreach (var (instance, stream, role) in new[] { (wide, wideStream, "machine-wide"), (command, commandStream, "command") })
            {
                if (instance is null)
                {
                    continue;
                }
                var paths = stream!.Finish();
                instances.Add(new RecordedInstance(role, instance.EnabledEvents.Where(e => !commOnly.Contains(e)).ToList(), instance.ReadStats()));
                raw.AddRange(paths.Select((path, cpu) => new RawCpuCapturePath(cpu, path, role)));
            }
            metadata = (wide ?? command)!.SaveMetadata(capture, resolved.Concat(commOnly));
        }

        var diagnostics = new IngestDiagnostics();
        var formats = TraceEventFormats.FromDirectory(Path.GetDirectoryName(metadata.HeaderPagePath)!);
        // Both instances' CPU streams in one merge: ties of a timestamp go to the lower CPU, then the machine-wide
        // instance (listed first), so the order is deterministic.
        var streams = raw.Select(r => new RawCpuCapture(r.Cpu, File.OpenRead(r.Path), $"{r.Role} {Path.GetFileName(r.Path)}")).ToList();
        try
        {
            var reader = new RawPagesReader(formats, new RawPagesOptions
            {
                SavedCmdlines = File.ReadAllText(metadata.SavedCmdlinesPath),
                SavedTgids = metadata.SavedTgidsPath is { } tgids ? File.ReadAllText(tgids) : null,
                Clock = "local",
                KernelRelease = File.ReadAllText("/proc/sys/kernel/osrelease").Trim(),
                CommOnlyEvents = commOnly,
            });
            reader.Read(streams, capture, trace.Events, diagnostics, cancellationToken);
        }
        finally
        {
            streams.ForEach(s => s.Data.Dispose());
        }
        // Events the ring buffer overwrote before we read them show in the per-CPU stats (and as missed-events flags of
        // the pages after them, which the reader counted): the larger of the two counts.
        long overrun = instances.Sum(i => i.Lost);
        diagnostics.LostEvents = Math.Max(diagnostics.LostEvents, overrun);
        diagnostics.CpuCount ??= instances.Count == 0 ? 0 : instances.Max(i => i.Stats.Count);
        diagnostics.Clock ??= "local";
        // What was enabled and never fired was recorded all the same: coverage tells "none ran" from "not recorded".
        diagnostics.EnabledEvents = instances.SelectMany(i => i.Events).ToHashSet(StringComparer.Ordinal);
        // Which events the other processes of the machine could not show: coverage tells "did not run" from "ran beside
        // the command, unrecorded" with it (docs/coverage.md, a workload recorded beside the command).
        if (instances.FirstOrDefault(i => i.Role == "command") is { } commandInstance)
        {
            diagnostics.ProcessFilter = new ProcessFilter(commandInstance.Events, commandPid, Environment.ProcessId);
        }
        Directory.Delete(capture, recursive: true);

        DatasetMeta meta = trace.Complete(diagnostics, []);
        dataset.Commit();
        return new RecordResult(exitCode, meta.Events, diagnostics.LostEvents, resolved, missing, diagnostics.Truncated, instances);
    }

    private sealed record RawCpuCapturePath(int Cpu, string Path, string Role);

    /// <summary>This process's threads now (<c>/proc/self/task</c>): the streaming readers are among them once started.</summary>
    private static IEnumerable<int> RecorderThreads() =>
        Directory.EnumerateDirectories("/proc/self/task")
            .Select(d => int.TryParse(Path.GetFileName(d), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int tid) ? tid : 0)
            .Where(tid => tid > 0);

    /// <summary>The command's executable as <c>execvp</c> would find it; an IOException naming it when there is none.</summary>
    private static string ResolveExecutable(string name)
    {
        if (name.Contains('/', StringComparison.Ordinal))
        {
            return File.Exists(name) ? name : throw new IOException($"Could not start '{name}': no such file.");
        }
        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/local/bin:/usr/bin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(directory, name);
            if (File.Exists(candidate) && (OperatingSystem.IsWindows() || (File.GetUnixFileMode(candidate) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0))
            {
                return candidate;
            }
        }
        throw new IOException($"Could not start '{name}': not found on PATH.");
    }

    /// <summary>
    /// Runs the command. With a per-process instance the command starts stopped (<c>sh -c 'kill -STOP $$; exec "$@"'</c>):
    /// once it is stopped its pid goes into the instance's filter (event-fork adds its children as they fork), both
    /// instances start, and SIGCONT lets it exec the command, so no syscall of the command runs before the filter holds
    /// it. The machine-wide instance starts then too, not before: the wrapper's own start (the recorder's fork, the exec
    /// of /bin/sh, whose syscall the filter could not see yet) would otherwise be in the trace as an exec the lowering
    /// cannot place; the trace begins with the stopped wrapper and the command's exec is recorded whole.
    /// </summary>
    private static int RunCommand(string executable, IReadOnlyList<string> command, TraceFsInstance? wide, TraceFsInstance? filtered, Action<int> started, CancellationToken cancellationToken)
    {
        if (filtered is null)
        {
            wide?.Start();
        }
        var start = filtered is null ? new ProcessStartInfo(executable) : new ProcessStartInfo("/bin/sh");
        start.UseShellExecute = false;
        if (filtered is not null)
        {
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add("kill -STOP $$; exec \"$@\"");
            start.ArgumentList.Add(command[0]);
            start.ArgumentList.Add(executable);
        }
        foreach (var argument in command.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new IOException($"Could not start '{command[0]}'.");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new IOException($"Could not start '{command[0]}': {e.Message}", e);
        }
        started(process.Id);
        using (process)
        using (cancellationToken.Register(() =>
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Already exited.
            }
        }))
        {
            try
            {
                if (filtered is not null)
                {
                    WaitUntilStopped(process, cancellationToken);
                    filtered.SetEventPidFilter([process.Id], followForks: true);
                    wide?.Start();
                    filtered.Start();
                    if (Libc.Kill(process.Id, Libc.SigCont) != 0)
                    {
                        int errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
                        throw new IOException($"Could not resume the command (pid {process.Id}): {Libc.ErrorText(errno)}.");
                    }
                }
                process.WaitForExit();
                return process.ExitCode;
            }
            catch
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                    process.WaitForExit();
                }
                throw;
            }
        }
    }

    /// <summary>Waits until the wrapper shell has stopped itself (state T in <c>/proc/PID/stat</c>).</summary>
    private static void WaitUntilStopped(Process process, CancellationToken cancellationToken)
    {
        string stat = $"/proc/{process.Id}/stat";
        var waited = Stopwatch.StartNew();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (process.HasExited)
            {
                throw new IOException($"The command's wrapper shell (/bin/sh, pid {process.Id}) exited with {process.ExitCode} before the command started.");
            }
            try
            {
                string text = File.ReadAllText(stat);
                // "PID (COMM) STATE ...": the comm may hold spaces and parentheses, the state follows the last ')'.
                int close = text.LastIndexOf(')');
                if (close > 0 && close + 2 < text.Length && text[close + 2] == 'T')
                {
                    return;
                }
            }
            catch (IOException)
            {
                // Gone between the checks: HasExited says so next time round.
            }
            // A busy machine may take a while to schedule the new shell; the bound only stops a wrapper that never stops.
            if (waited.Elapsed > TimeSpan.FromMinutes(1))
            {
                throw new IOException($"The command's wrapper shell (pid {process.Id}) did not stop itself within a minute.");
            }
            Thread.Sleep(1);
        }
    }
}
