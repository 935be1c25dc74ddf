using System.Globalization;
using System.Text.RegularExpressions;
using Pipeline.Ingest.TraceDat;
using Pipeline.Storage;

namespace Pipeline.Ingest.Tests.TraceDat;

/// <summary>
/// The comm of each event of a binary trace is its task's at that time, from what the trace says (forks, execs, exits),
/// not saved_cmdlines' last comm of the pid: on <c>raw-pages/comms</c> (tests/data/README.md), a pid used by two
/// processes one after the other and a process that execs under another name.
/// </summary>
public sealed partial class CommTrackingTests
{
    private const int Reused = 20000;
    private const int Execing = 20050;

    [SkippableFact]
    public void Read_ReusedPidAndExecMidTrace_GiveEachEventTheCommOfItsTaskThen()
    {
        var rows = ReadCapture();
        var kernel = KernelLines();

        // The kernel's own text of the buffer takes every comm from saved_cmdlines: the last process of each pid.
        Assert.Equal(kernel.Select(k => k.Pid), rows.Select(r => r.Pid));
        Assert.Equal(["beta", "delta-with-a-lo"], kernel.Where(k => k.Pid is Reused or Execing).Select(k => k.Comm).Distinct());
        // alpha's exec, its 8 mmaps and its exit, then beta's under the same pid; gamma (a shell) execs and maps itself,
        // then execs delta-with-a-long-name (a comm keeps 15 bytes), which maps itself and exits.
        Assert.Equal(
            [(Reused, "alpha", 10), (Reused, "beta", 10), (Execing, "gamma", 9), (Execing, "delta-with-a-lo", 10)],
            Runs(rows.Where(r => r.Pid is Reused or Execing)));
        Assert.Equal(["alpha", "beta", "gamma", "delta-with-a-lo"], rows.Where(r => r.Event == "sched:sched_process_exec").Select(r => r.Comm));
        // The parent that forks them is in no saved_cmdlines line of the capture: its comm comes from the fork event.
        Assert.All(rows.Where(r => r.Event == "sched:sched_process_fork"), r => Assert.Equal("record-comms-fi", r.Comm));
    }

    private static List<(int Pid, string Comm, int Count)> Runs(IEnumerable<EventRow> rows)
    {
        var runs = new List<(int Pid, string Comm, int Count)>();
        foreach (var row in rows)
        {
            if (runs.Count > 0 && runs[^1].Pid == row.Pid && runs[^1].Comm == row.Comm)
            {
                runs[^1] = (row.Pid, row.Comm, runs[^1].Count + 1);
            }
            else
            {
                runs.Add((row.Pid, row.Comm, 1));
            }
        }
        return runs;
    }

    private static List<EventRow> ReadCapture()
    {
        string directory = TraceDatCorpus.Recorded("raw-pages", "comms");
        var sink = new CollectingSink();
        var streams = new[] { 0, 1 }.Select(cpu => new RawCpuCapture(cpu, File.OpenRead(Path.Combine(directory, $"cpu{cpu}.bin")), $"cpu{cpu}.bin")).ToList();
        try
        {
            new RawPagesReader(TraceEventFormats.FromDirectory(Path.Combine(directory, "formats")), new RawPagesOptions
            {
                SavedCmdlines = File.ReadAllText(Path.Combine(directory, "saved_cmdlines")),
                SavedTgids = File.ReadAllText(Path.Combine(directory, "saved_tgids")),
                Clock = "local",
                KernelRelease = "6.18.44-fc-v1300",
            }).Read(streams, "comms", sink, new IngestDiagnostics());
        }
        finally
        {
            streams.ForEach(s => s.Data.Dispose());
        }
        return sink.Rows;
    }

    private static List<(string Comm, int Pid)> KernelLines() =>
        File.ReadLines(TraceDatCorpus.Recorded("raw-pages", "comms", "trace_before_raw_read.txt"))
            .Select(l => KernelLine().Match(l))
            .Where(m => m.Success)
            .Select(m => (m.Groups["comm"].Value, int.Parse(m.Groups["pid"].Value, CultureInfo.InvariantCulture)))
            .ToList();

    // "            beta-20000   (  20000) [000] ..... 20166.685300: sys_mmap(…)": record-tgid's column after the pid.
    [GeneratedRegex(@"^\s*(?<comm>.*?)-(?<pid>\d+)\s+\(\s*(?:\d+|-+)\)\s+\[\d+\]")]
    private static partial Regex KernelLine();
}
