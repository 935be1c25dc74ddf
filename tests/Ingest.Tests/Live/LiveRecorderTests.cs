using System.Diagnostics;
using System.Globalization;
using Pipeline.Ingest.Live;
using Pipeline.Storage;
using Pipeline.Storage.DuckDb;

namespace Pipeline.Ingest.Tests.Live;

/// <summary>
/// <c>mmtrace record</c> end to end: a recording longer than its ring buffer loses nothing (the buffers are drained
/// while the command runs), the per-process events are the command tree's only (another process's syscall storm is
/// not in the dataset, unless system-wide), and no instance survives a recording, a failure or a cancellation.
/// </summary>
[Collection(LiveCollection.Name)]
public sealed class LiveRecorderTests : IDisposable
{
    private const string ReadWrite = "syscalls:sys_enter_read,syscalls:sys_enter_write";
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "mmtrace-recorder-" + Guid.NewGuid().ToString("N"));

    public LiveRecorderTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [LiveFact]
    public void Record_LongerThanItsBuffer_LosesNoEvents()
    {
        // 2,000,000 syscall events (about 90 MB of ring buffer) through 2 MiB per CPU: read only at the end, the buffer
        // keeps its last 2 MiB and loses the rest. The writer is paced by the buffer itself, not by the scheduler: a dd
        // of 5,000 one-byte reads and writes (10,000 events, about 0.5 MB) at a time, then a wait until the instance's
        // buffers hold fewer than 2,000 unread events (per_cpu/cpuN/stats "entries"). However late the recorder's
        // readers get a CPU (a machine busy with other suites, a GC pause of the test host: a clean-clone CI run lost
        // 9,844-60,996 events in each of three unpaced attempts), the buffer never holds more than a fifth of its size,
        // so a loss means the readers did not drain it. Readers that never drain (no streaming) leave the count high:
        // the writer then waits at most 3,000 polls once, goes on unpaced and the test fails on the lost events.
        const int Chunk = 5_000;
        const int Chunks = 200;
        string instances = Path.Combine(TraceFsInstance.FindOrMountTraceFs(), "instances");
        string script = $$"""
            stats="{{instances}}/{{TraceFsInstance.NamePrefix}}{{Environment.ProcessId}}-*/per_cpu/cpu*/stats"
            set -- $stats
            [ -e "$1" ] || { echo "no instance at $stats" >&2; exit 4; }
            paced=1
            i=0
            while [ $i -lt {{Chunks}} ]; do
              dd if=/dev/zero of=/dev/null bs=1 count={{Chunk}} status=none || exit 3
              polls=0
              while [ $paced = 1 ]; do
                unread=$(cat $stats | awk '/^entries:/ { n += $2 } END { print n + 0 }')
                [ "$unread" -lt 2000 ] && break
                polls=$((polls + 1))
                if [ $polls -ge 3000 ]; then echo "the buffer was not drained: $unread events unread" >&2; paced=0; fi
                sleep 0.01
              done
              i=$((i + 1))
            done
            """;
        string output = Path.Combine(_directory, "paced");

        var result = LiveRecorder.Record(new RecordOptions
        {
            Output = output,
            Command = ["/bin/sh", "-c", script],
            Events = ReadWrite.Split(','),
            BufferSizeKb = 2048,
        });

        Assert.Equal(0, result.CommandExitCode);
        Assert.Equal(0, result.LostEvents);
        Assert.All(result.Instances, i => Assert.Equal(0, i.Lost));
        // Each dd is found by its one-byte reads, not by its comm: the kernel's saved_cmdlines is best effort (in one
        // run 6 of the 200 dd's were "<...>"), so the comm of a short-lived process may be unknown.
        var perPid = OneByteReadsAndWrites(output, comm: null);
        Assert.Equal(Chunks, perPid.Count(p => p.Value == (Chunk, Chunk)));
        Assert.Equal((long)Chunks * Chunk, perPid.Values.Sum(c => c.Reads));
        TraceFsInstanceTests.AssertNoInstanceOfThisProcess();
    }

    [LiveFact]
    public void Record_AnotherProcessesSyscallStorm_IsNotInTheDatasetButTheCommandTreesSyscallsAre()
    {
        using var storm = StartStorm();
        try
        {
            // The command forks two dd children (one in the background): event-fork follows them.
            string command = "dd if=/dev/zero of=/dev/null bs=1 count=3000 status=none & dd if=/dev/zero of=/dev/null bs=1 count=2000 status=none; wait";
            string filtered = Path.Combine(_directory, "filtered");
            var result = LiveRecorder.Record(new RecordOptions { Output = filtered, Command = ["/bin/sh", "-c", command], Events = ReadWrite.Split(','), BufferSizeKb = 4096 });
            string wide = Path.Combine(_directory, "wide");
            var wideResult = LiveRecorder.Record(new RecordOptions
            {
                Output = wide, Command = ["/bin/sh", "-c", command], Events = ReadWrite.Split(','), BufferSizeKb = 4096, SystemWide = true,
            });

            Assert.False(storm.HasExited, "the storm ran through both recordings");
            Assert.Equal(0, result.CommandExitCode);
            Assert.Equal(["command"], result.Instances.Select(i => i.Role));
            var commandTree = OneByteReadsAndWrites(filtered);
            Assert.DoesNotContain(storm.Id, commandTree.Keys);
            Assert.Equal([(2000, 2000), (3000, 3000)], commandTree.Values.Order());
            Assert.All(commandTree.Keys, pid => Assert.True(pid > 0));
            // The same command recorded system-wide: the storm is there (so it was running, and the filter kept it out).
            Assert.Equal(["machine-wide"], wideResult.Instances.Select(i => i.Role));
            var everyone = OneByteReadsAndWrites(wide);
            Assert.Contains(storm.Id, everyone.Keys);
            // Every process but the recorder: its readers' read() of trace_pipe_raw, a syscall per page, are not recorded
            // (what fires in interrupt context while a reader runs is another task's and is recorded). The recorder is this
            // process; another suite's recorder beside it has readers of the same name, and is recorded (108 of its
            // syscalls in one run).
            Assert.Equal(0, PerProcessEventsOfReaders(wide, Environment.ProcessId));
            // The storm fills the machine-wide buffer as fast as a CPU can; where the readers fell behind it (a busy
            // machine), events were lost and the command's counts cannot be exact. Machine-wide is every process's: a
            // dd of anything else running then (a second test suite's storm: 1,884 reads in one run) is there too, so
            // the command's two are looked for among them.
            if (wideResult.LostEvents == 0)
            {
                var counts = everyone.Where(p => p.Key != storm.Id).Select(p => p.Value).ToList();
                Assert.Contains((2000L, 2000L), counts);
                Assert.Contains((3000L, 3000L), counts);
            }
        }
        finally
        {
            storm.Kill();
            storm.WaitForExit();
        }
        TraceFsInstanceTests.AssertNoInstanceOfThisProcess();
    }

    [LiveFact]
    public void Record_ThreeHundredShortLivedProcesses_GivesEachItsTrueComm()
    {
        // 300 shells one after another, each exec'd by a name of its own (p1 … p300: symlinks to sh; an exec's comm is
        // the name it was exec'd by), each renaming itself "done" through /proc/PID/comm before it exits, as daemons and
        // thread pools name themselves. saved_cmdlines can only say "done" (the name at the last switch) or "<...>": the
        // comm of every event must come from the trace. The recorder adds task_newtask/task_rename, which the user did
        // not ask for, reads them for their comms and leaves them out of the dataset.
        string bin = Path.Combine(_directory, "bin");
        Directory.CreateDirectory(bin);
        for (int i = 1; i <= 300; i++)
        {
            File.CreateSymbolicLink(Path.Combine(bin, "p" + i.ToString(CultureInfo.InvariantCulture)), "/bin/sh");
        }
        string output = Path.Combine(_directory, "comms");
        string[] events = ["syscalls:sys_enter_mmap", "syscalls:sys_enter_write", "syscalls:sys_exit_write"];

        var result = LiveRecorder.Record(new RecordOptions
        {
            Output = output,
            Command = ["/bin/sh", "-c", $"for i in $(seq 300); do {bin}/p$i -c 'echo -n done > /proc/$$/comm'; done"],
            Events = events,
        });

        Assert.Equal(0, result.CommandExitCode);
        // Per pid in the order they ran: the comms of its events in time order, a comm once per run of equal ones.
        var comms = Strings(output, file => $"SELECT string_agg(comm, '|' ORDER BY ts_ns, seq) FROM read_parquet({file}) GROUP BY pid ORDER BY min(ts_ns)")
            .Select(row => row.Split('|'))
            .Select(runs => string.Join('|', runs.Where((c, i) => i == 0 || runs[i - 1] != c)))
            .ToList();
        // The shell, the $(seq 300) subshell once it exec'd seq, then the 300 in the order they ran: their mmaps and
        // the entry of the write that renames them under their own name, the write's exit as "done".
        Assert.Equal(["sh", "seq", .. Enumerable.Range(1, 300).Select(i => "p" + i.ToString(CultureInfo.InvariantCulture) + "|done")], comms);
        var recorded = Strings(output, file => $"SELECT DISTINCT event FROM read_parquet({file}) ORDER BY event");
        Assert.Equal(events.Order(StringComparer.Ordinal), recorded);
        Assert.Equal(events.Order(StringComparer.Ordinal), DatasetMeta.Read(output).EnabledEvents!);
        TraceFsInstanceTests.AssertNoInstanceOfThisProcess();
    }

    [LiveFact]
    public void Record_TaskRenameAskedFor_IsARowUnderTheOldCommAndTheRenameHoldsAfterIt()
    {
        // task_rename fires before __set_task_comm copies the new name: the task still has its old comm then.
        string output = Path.Combine(_directory, "rename");

        var result = LiveRecorder.Record(new RecordOptions
        {
            Output = output,
            Command = ["/bin/sh", "-c", "echo -n renamed > /proc/$$/comm"],
            Events = ["task:task_rename", "syscalls:sys_enter_write", "syscalls:sys_exit_write"],
        });

        Assert.Equal(0, result.CommandExitCode);
        // task_rename asked for is machine-wide (it is not per-process): other processes' renames are rows too, so the
        // command is found by its syscalls, which only its tree's are recorded.
        var rows = Strings(output, file =>
            $"SELECT event || ' ' || comm FROM read_parquet({file}) WHERE pid IN (SELECT pid FROM read_parquet({file}) WHERE event LIKE 'syscalls:%') ORDER BY seq");
        // The recorder's stopped wrapper exec'ing the command (/bin/sh) renames it sh → sh first; saved_cmdlines has
        // only "renamed" for the pid.
        Assert.Equal(["task:task_rename sh", "syscalls:sys_enter_write sh", "task:task_rename sh", "syscalls:sys_exit_write renamed"], rows);
    }

    [LiveFact(NeedsCompiler = true)]
    public void Record_Fexecve_GivesTheCommTheKernelSetNotTheDescriptorsNumber()
    {
        // fexecve's exec event names /dev/fd/N; the comm the kernel gives is the file's name (since 6.14), which the
        // exec event lacks: the comm must come from the task_rename the recorder adds, not from the event's basename.
        // The exec'd shell writes its own comm to a file: the truth, whatever the kernel's rule.
        string fexec = Workload.Build(Workload.Source("fexec.c"));
        string commFile = Path.Combine(_directory, "comm");
        string output = Path.Combine(_directory, "fexec");

        var result = LiveRecorder.Record(new RecordOptions
        {
            Output = output,
            Command = [fexec, "/bin/sh", "sh", "-c", $"cat /proc/$$/comm > {commFile}"],
            Events = ["sched:sched_process_exec", "syscalls:sys_enter_mmap"],
        });

        Assert.Equal(0, result.CommandExitCode);
        string truth = File.ReadAllText(commFile).TrimEnd('\n');
        // The exec by descriptor, and the comms of its task's events from it on (cat, its child, has a pid of its own).
        var comms = Strings(output, file =>
            $"SELECT DISTINCT e.comm FROM read_parquet({file}) e, " +
            $"(SELECT seq, pid FROM read_parquet({file}) WHERE event = 'sched:sched_process_exec' AND json_extract_string(args, '$.filename') LIKE '/dev/fd/%') x " +
            "WHERE e.pid = x.pid AND e.seq >= x.seq");
        Assert.Equal([truth], comms);
    }

    [LiveFact]
    public void Record_CommandNotFound_ThrowsNamingItAndLeavesNothing()
    {
        string output = Path.Combine(_directory, "missing");

        var ex = Assert.Throws<IOException>(() => LiveRecorder.Record(new RecordOptions { Output = output, Command = ["mmtrace-no-such-command"], Events = ReadWrite.Split(',') }));

        Assert.Contains("'mmtrace-no-such-command'", ex.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(output));
        TraceFsInstanceTests.AssertNoInstanceOfThisProcess();
    }

    [LiveFact]
    public void Record_CancelledWhileStreaming_RemovesBothInstancesAndWritesNoDataset()
    {
        string output = Path.Combine(_directory, "cancelled");
        using var cancellation = new CancellationTokenSource();
        var recording = Task.Run(() => LiveRecorder.Record(new RecordOptions
        {
            Output = output, Command = ["/bin/sleep", "600"], Events = ["tlb:tlb_flush", "syscalls:sys_enter_nanosleep", "syscalls:sys_enter_clock_nanosleep"], BufferSizeKb = 64,
        }, cancellationToken: cancellation.Token));
        string instances = Path.Combine(TraceFsInstance.FindOrMountTraceFs(), "instances");
        string pattern = string.Create(CultureInfo.InvariantCulture, $"{TraceFsInstance.NamePrefix}{Environment.ProcessId}-*");
        // Both instances exist and the command runs (its pid filter is set once it stopped itself): wait for that, bounded.
        for (int i = 0; i < 3000 && !(Directory.GetDirectories(instances, pattern).Length == 2 && SleepRunning()); i++)
        {
            Thread.Sleep(20);
        }
        Assert.Equal(2, Directory.GetDirectories(instances, pattern).Length);

        cancellation.Cancel();

        Assert.ThrowsAny<OperationCanceledException>(() => recording.GetAwaiter().GetResult());
        Assert.False(Directory.Exists(output));
        TraceFsInstanceTests.AssertNoInstanceOfThisProcess();
    }

    /// <summary>Whether a "sleep 600" child of this process runs (not stopped): the recorder resumed it.</summary>
    private static bool SleepRunning()
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                string stat = File.ReadAllText(Path.Combine(dir, "stat"));
                int close = stat.LastIndexOf(')');
                var fields = stat[(close + 2)..].Split(' ');
                if (stat.Contains("(sleep)", StringComparison.Ordinal) && fields[1] == Environment.ProcessId.ToString(CultureInfo.InvariantCulture) && fields[0] != "T")
                {
                    return true;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Gone meanwhile.
            }
        }
        return false;
    }

    private static Process StartStorm()
    {
        var start = new ProcessStartInfo("dd") { UseShellExecute = false, RedirectStandardError = true };
        foreach (var argument in new[] { "if=/dev/zero", "of=/dev/null", "bs=1", "status=none" })
        {
            start.ArgumentList.Add(argument);
        }
        var storm = Process.Start(start)!;
        // Running (not just forked) before the recording starts: wait until it has done some syscalls.
        for (int i = 0; i < 500 && ReadSyscalls(storm.Id) < 1000; i++)
        {
            Thread.Sleep(10);
        }
        return storm;
    }

    private static long ReadSyscalls(int pid)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid}/io").FirstOrDefault(l => l.StartsWith("syscr:", StringComparison.Ordinal));
            return line is null ? 0 : long.Parse(line.AsSpan(6).Trim(), CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return 0;
        }
    }

    /// <summary>The first column of <paramref name="sql"/> (given the quoted path of the dataset's events.parquet), row by row.</summary>
    private static List<string> Strings(string dataset, Func<string, string> sql)
    {
        using var connection = DuckDbConnection.OpenInMemory();
        string file = DatasetFiles.SqlLiteral(Path.GetFullPath(Path.Combine(dataset, "events.parquet")));
        var values = new List<string>();
        using var reader = connection.Query(sql(file));
        while (reader.Read())
        {
            values.Add(reader.GetString(0));
        }
        return values;
    }

    /// <summary>Syscall, user-fault and exec events of a dataset fired by the raw-buffer reader threads of process <paramref name="pid"/>.</summary>
    private static long PerProcessEventsOfReaders(string dataset, int pid) => long.Parse(Strings(dataset, file =>
        $"SELECT count(*)::VARCHAR FROM read_parquet({file}) WHERE comm LIKE 'trace_pipe_raw%' AND tgid = {pid.ToString(CultureInfo.InvariantCulture)} "
        + "AND (event LIKE 'syscalls:%' OR event LIKE 'raw_syscalls:%' OR event IN ('exceptions:page_fault_user', 'sched:sched_process_exec'))").Single(),
        CultureInfo.InvariantCulture);

    /// <summary>Per pid of a <c>dd</c>: its one-byte reads and writes (dd bs=1 makes exactly one of each per byte).</summary>
    private static Dictionary<int, (long Reads, long Writes)> OneByteReadsAndWrites(string dataset, string? comm = "dd")
    {
        using var connection = DuckDbConnection.OpenInMemory();
        string file = DatasetFiles.SqlLiteral(Path.GetFullPath(Path.Combine(dataset, "events.parquet")));
        var counts = new Dictionary<int, (long Reads, long Writes)>();
        using var reader = connection.Query(
            $"SELECT CAST(pid AS BIGINT), count(*) FILTER (WHERE event = 'syscalls:sys_enter_read'), count(*) FILTER (WHERE event = 'syscalls:sys_enter_write') " +
            $"FROM read_parquet({file}) WHERE {(comm is null ? "" : $"comm = {DatasetFiles.SqlLiteral(comm)} AND ")}json_extract_string(args, '$.count') = '0x00000001' GROUP BY pid");
        while (reader.Read())
        {
            counts[(int)reader.GetInt64(0)] = (reader.GetInt64(1), reader.GetInt64(2));
        }
        return counts;
    }
}
