using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Pipeline.Ingest.Live;
using Pipeline.Ingest.Tests.Live;

namespace Pipeline.Cli.Tests.Validation;

/// <summary>
/// The lab setup end to end on the real kernel (docs/recording.md, "Recording beside a lab harness"): a harness of its own
/// (its own session, not a child of the recorder) starts <c>tests/workloads/raceactors.c</c> once the recording has
/// begun, and <c>mmtrace record</c> runs beside it a command that only waits for it (<c>tail --pid</c>), with the events
/// of coverage's record lines. Without <c>--system-wide</c> the workload's syscalls and faults are not recorded: coverage
/// must say so for R1, R2 and R4 and give record lines with <c>--system-wide</c>; with it, R1, R2 and R4 are checked as
/// when the workload runs under record (<see cref="CoverageLiveTests"/>).
/// </summary>
[Collection(LiveTraceFsCollection.Name)]
public sealed class CoverageBesideLiveTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("mmtrace-beside-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [LiveFact(NeedsCompiler = true)]
    public void Record_WorkloadStartedBesideTheCommand_CoverageSaysWhatWasNotRecordedAndSystemWideChecksIt()
    {
        string executable = Workload.Build(Workload.Source("raceactors.c"));
        try
        {
            // Without --system-wide: the workload's actors ran, unrecorded.
            var (filtered, summary) = RecordBeside(executable, "filtered", systemWide: false);
            int pid = int.Parse(summary.Split(' ').Single(f => f.StartsWith("pid=", StringComparison.Ordinal))[4..], CultureInfo.InvariantCulture);
            var replay = Mmtrace.Run("replay", filtered, "--format", "json", "--no-explore");
            Assert.True(replay.ExitCode == 0, replay.ToString());
            using (var json = JsonDocument.Parse(replay.Stdout))
            {
                var trace = json.RootElement[0];
                // Other processes of a busy machine may be beside the command too; the workload is among them.
                Assert.Contains(trace.GetProperty("process_filter").GetProperty("beside").EnumerateArray(), p => p.GetProperty("pid").GetInt32() == pid);
                var coverage = trace.GetProperty("coverage").EnumerateArray().ToDictionary(c => c.GetProperty("race").GetString()!, c => c);
                foreach (string race in new[] { "R1", "R2", "R4" })
                {
                    var c = coverage[race];
                    string why = c.GetProperty("why").GetString()!;
                    Assert.True(c.GetProperty("verdict").GetString() != "checked" && why.Contains("syscalls, user page faults and execs were recorded for the command's processes only", StringComparison.Ordinal)
                        && !why.Contains("did not run", StringComparison.Ordinal), $"{race}: {c} ({summary})");
                    Assert.StartsWith("mmtrace record -o DATASET --system-wide --events mm", c.GetProperty("record_command").GetString(), StringComparison.Ordinal);
                }
            }

            // With --system-wide, the same lab setup: checked, as under record.
            var (wide, wideSummary) = RecordBeside(executable, "wide", systemWide: true);
            using (var meta = JsonDocument.Parse(File.ReadAllText(Path.Combine(wide, "meta.json"))))
            {
                Assert.True(meta.RootElement.GetProperty("lost_events").GetInt64() == 0, "the recording lost events");
                Assert.False(meta.RootElement.TryGetProperty("process_filter", out _));
            }
            var wideReplay = Mmtrace.Run("replay", wide, "--format", "json", "--no-explore");
            Assert.True(wideReplay.ExitCode == 0, $"latest must find nothing on a healthy kernel: {wideReplay}");
            using var wideJson = JsonDocument.Parse(wideReplay.Stdout);
            Assert.False(wideJson.RootElement[0].TryGetProperty("process_filter", out _));
            RaceActorsVerdicts.AssertR1R2R4Checked(wide, wideJson.RootElement[0].GetProperty("coverage").EnumerateArray()
                .ToDictionary(c => c.GetProperty("race").GetString()!, c => c), wideSummary);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(executable)!, recursive: true);
        }
    }

    /// <summary>
    /// Starts the lab harness in a session of its own (it writes its pid, waits for a file, then execs the workload) and
    /// records beside it a command that creates that file and waits for the workload to exit. Returns the dataset and the
    /// workload's summary line. The harness and whatever it started are killed if still there, whatever happened.
    /// </summary>
    private (string Dataset, string Summary) RecordBeside(string executable, string name, bool systemWide)
    {
        string work = Path.Combine(_directory, name);
        Directory.CreateDirectory(work);
        string pidFile = Path.Combine(work, "pid");
        string go = Path.Combine(work, "go");
        string output = Path.Combine(work, "out");
        string harness = Path.Combine(work, "lab.sh");
        File.WriteAllText(harness, $"echo $$ > '{pidFile}'\nwhile [ ! -e '{go}' ]; do sleep 0.05; done\nexec '{executable}' 6 > '{output}' 2>&1 < /dev/null\n");
        var start = new ProcessStartInfo("setsid") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("/bin/sh");
        start.ArgumentList.Add(harness);
        using var setsid = Process.Start(start) ?? throw new InvalidOperationException("setsid did not start");
        int pid = 0;
        try
        {
            // The harness is scheduled when the machine gets to it; the bound only stops a harness that never ran.
            var waited = Stopwatch.StartNew();
            while (!File.Exists(pidFile) || !int.TryParse(File.ReadAllText(pidFile).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out pid))
            {
                Assert.True(waited.Elapsed < TimeSpan.FromMinutes(2), "the lab harness did not start");
                Thread.Sleep(10);
            }
            string dataset = Path.Combine(work, "ds");
            var args = new List<string> { "record", "-o", dataset, "--events", RaceActorsVerdicts.RecordEvents(), "--buffer-kb", "131072" };
            if (systemWide)
            {
                args.Add("--system-wide");
            }
            args.AddRange(["--", "/bin/sh", "-c", string.Create(CultureInfo.InvariantCulture, $"touch '{go}'; exec tail --pid={pid} -f /dev/null")]);
            var record = Mmtrace.Run([.. args]);
            Assert.True(record.ExitCode == 0 && record.Stdout.Contains("command exited with 0", StringComparison.Ordinal), record.ToString());
            // The recorder says at once what a filtered recording leaves out, while the engineer can still record again.
            Assert.True(systemWide != record.Stdout.Contains("events enabled (syscalls, user page faults, exec) are recorded for the command and its descendants only: a workload started outside it needs --system-wide", StringComparison.Ordinal), record.Stdout);
            string summary = File.ReadAllLines(output).SingleOrDefault(l => l.StartsWith("raceactors pid=", StringComparison.Ordinal))
                ?? throw new Xunit.Sdk.XunitException($"the workload wrote no summary: {File.ReadAllText(output)}");
            return (dataset, summary);
        }
        finally
        {
            Kill(pid);
            setsid.WaitForExit();
        }
    }

    /// <summary>Kills the harness's process (the workload it exec'd) and its children, when still there.</summary>
    private static void Kill(int pid)
    {
        if (pid <= 0)
        {
            return;
        }
        try
        {
            using var process = Process.GetProcessById(pid);
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
        catch (ArgumentException)
        {
            // Exited already.
        }
        catch (InvalidOperationException)
        {
            // Exited between the look-up and the kill.
        }
    }
}
