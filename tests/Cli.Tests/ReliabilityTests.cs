using System.Diagnostics;
using System.Text.Json;

namespace Pipeline.Cli.Tests;

/// <summary>
/// The guarantees of README's "Reliability" section, tried the hard way: signals delivered to a real mmtrace
/// process in each phase of an ingest, a writer killed outright, two writers at once, pipes as input.
/// </summary>
public sealed class ReliabilityTests
{
    private const string TraceA =
        "          a-1     [000] .....     1.000000: tlb_flush: pages:1 reason:local MM shootdown (3)\n" +
        "          a-1     [000] .....     1.000100: tlb_flush: pages:2 reason:local MM shootdown (3)\n";

    private const string TraceB =
        "          b-2     [001] .....     2.000000: tlb_flush: pages:4 reason:remote shootdown (1)\n" +
        "          b-2     [001] .....     2.000100: tlb_flush: pages:5 reason:remote shootdown (1)\n" +
        "          b-2     [001] .....     2.000200: tlb_flush: pages:6 reason:remote shootdown (1)\n";

    /// <summary>A dataset made from trace A, and trace B written beside it.</summary>
    private static TempDir WithDatasetA()
    {
        var dir = new TempDir();
        File.WriteAllText(dir["a.txt"], TraceA);
        File.WriteAllText(dir["b.txt"], TraceB);
        var first = Mmtrace.Run("ingest", dir["a.txt"], "-o", dir["ds"]);
        Assert.True(first.ExitCode == 0, first.ToString());
        return dir;
    }

    private static long Events(string dataset) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(dataset, "meta.json"))).RootElement.GetProperty("events").GetInt64();

    /// <summary>Everything beside the user's files: temporary, parked or lock entries of a writer.</summary>
    private static string[] Hidden(TempDir dir) =>
        Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName).Where(n => n!.StartsWith('.')).Select(n => n!).Order(StringComparer.Ordinal).ToArray();

    [SkippableTheory]
    [InlineData("parse", MmtraceChild.SigInt)]
    [InlineData("write", MmtraceChild.SigHup)]
    [InlineData("precommit", MmtraceChild.SigTerm)]
    [InlineData("precommit", MmtraceChild.SigInt)]
    public void Signal_BeforeTheSwap_InterruptedNothingWrittenOldDatasetIntact(string phase, int signal)
    {
        using var dir = WithDatasetA();
        byte[] before = File.ReadAllBytes(dir["ds/events.parquet"]);

        using var child = new MmtraceChild(phase, "ingest", dir["b.txt"], "-o", dir["ds"], "--force");
        child.WaitPaused(phase);
        child.Interrupt(signal);
        var result = child.Finish();

        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Contains("mmtrace: interrupted; nothing was written.", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(".tmp-", result.Stderr, StringComparison.Ordinal);
        Assert.Equal(before, File.ReadAllBytes(dir["ds/events.parquet"]));
        Assert.Equal(2, Events(dir["ds"]));
        Assert.Empty(Hidden(dir));
    }

    [SkippableFact]
    public void CtrlC_DuringTheSwap_NewDatasetWholeAndNothingLeft()
    {
        using var dir = WithDatasetA();

        using var child = new MmtraceChild("commit", "ingest", dir["b.txt"], "-o", dir["ds"], "--force");
        child.WaitPaused("commit");
        child.Interrupt(MmtraceChild.SigInt);
        var result = child.Finish();

        // Past the last check the swap is one step and completes: the new dataset stands whole.
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(3, Events(dir["ds"]));
        Assert.True(File.Exists(dir["ds/events.parquet"]));
        Assert.Contains("3", Mmtrace.Run("query", dir["ds"], "--sql", "SELECT count(*) AS n FROM events", "--format", "csv").Stdout, StringComparison.Ordinal);
        Assert.Empty(Hidden(dir));
    }

    [SkippableFact]
    public void DatasetPath_NeverMissing_InTheMiddleOfTheSwap()
    {
        using var dir = WithDatasetA();
        using var child = new MmtraceChild("swap", "ingest", dir["b.txt"], "-o", dir["ds"], "--force");
        child.WaitPaused("swap");

        // The first step of the swap is done: the path already names the new dataset (two renames left it missing).
        Assert.Equal(3, Events(dir["ds"]));
        Assert.True(File.Exists(dir["ds/events.parquet"]));
        var result = child.Finish();
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(3, Events(dir["ds"]));
        Assert.Empty(Hidden(dir));
    }

    [SkippableFact]
    public void SigKill_LeavesTheOldDataset_AndTheNextRunSweepsTheLeftovers()
    {
        using var dir = WithDatasetA();
        using (var child = new MmtraceChild("write", "ingest", dir["b.txt"], "-o", dir["ds"], "--force"))
        {
            child.WaitPaused("write");
            child.Signal(MmtraceChild.SigKill);
            Assert.NotEqual(0, child.Finish().ExitCode);
            Assert.Contains(Hidden(dir), n => n.StartsWith($".ds.tmp-{child.Pid}-", StringComparison.Ordinal));
        }
        Assert.Equal(2, Events(dir["ds"]));

        var next = Mmtrace.Run("ingest", dir["a.txt"], "-o", dir["ds"]);

        Assert.True(next.ExitCode == 0, next.ToString());
        Assert.Empty(Hidden(dir));
    }

    [SkippableFact]
    public void CrashBetweenFallbackRenames_NextWriterPutsThePreviousDatasetBack()
    {
        using var dir = WithDatasetA();
        // What the two-rename fallback leaves when killed between its renames: the dataset parked, the path empty.
        const int deadPid = 2147483646;
        Directory.Move(dir["ds"], dir[$".ds.old-{deadPid}-abc"]);
        File.WriteAllText(dir["bad.txt"], "garbage line\n");

        var failed = Mmtrace.Run("ingest", dir["bad.txt"], "-o", dir["ds"], "--format", "ftrace", "--strict", "--force");

        Assert.Equal(3, failed.ExitCode);
        Assert.Equal(2, Events(dir["ds"]));
        Assert.Empty(Hidden(dir));
    }

    [SkippableFact]
    public void SecondWriter_FailsClearly_FirstWriterCompletes()
    {
        using var dir = WithDatasetA();
        using var first = new MmtraceChild("write", "ingest", dir["a.txt"], "-o", dir["ds"]);
        first.WaitPaused("write");

        var second = Mmtrace.Run("ingest", dir["b.txt"], "-o", dir["ds"], "--force");

        Assert.Equal(3, second.ExitCode);
        Assert.Contains("is being written by another mmtrace process", second.Stderr, StringComparison.Ordinal);
        var result = first.Finish();
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(2, Events(dir["ds"]));
        Assert.Empty(Hidden(dir));
    }

    [SkippableFact]
    public void Overwrite_OtherTrace_NeedsForce_SameInputReplaces()
    {
        using var dir = WithDatasetA();

        var refused = Mmtrace.Run("ingest", dir["b.txt"], "-o", dir["ds"]);
        Assert.Equal(3, refused.ExitCode);
        Assert.Contains("refusing to replace", refused.Stderr, StringComparison.Ordinal);
        Assert.Contains("--force", refused.Stderr, StringComparison.Ordinal);
        Assert.Equal(2, Events(dir["ds"]));

        Assert.Equal(0, Mmtrace.Run("ingest", dir["a.txt"], "-o", dir["ds"]).ExitCode);
        var forced = Mmtrace.Run("ingest", dir["b.txt"], "-o", dir["ds"], "--force");
        Assert.True(forced.ExitCode == 0, forced.ToString());
        Assert.Equal(3, Events(dir["ds"]));
    }

    [SkippableFact]
    public void Pipe_StdinAndFifo_AreIngested()
    {
        using var dir = new TempDir();
        using (var child = new MmtraceChild(null, "ingest", "/dev/stdin", "-o", dir["ds"], "--name", "piped"))
        {
            child.Stdin.Write(TraceB);
            var result = child.Finish();
            Assert.True(result.ExitCode == 0, result.ToString());
        }
        Assert.Equal(3, Events(dir["ds/trace=piped"]));
        // --name gives the trace its id as the partition trace=piped/.
        Assert.Contains("\"path\": \"/dev/stdin\"", File.ReadAllText(dir["ds/trace=piped/meta.json"]), StringComparison.Ordinal);

        using (var mkfifo = Process.Start("mkfifo", [dir["fifo"]]))
        {
            mkfifo.WaitForExit();
            Assert.Equal(0, mkfifo.ExitCode);
        }
        using var fifoChild = new MmtraceChild(null, "ingest", dir["fifo"], "-o", dir["ds2"]);
        using (var writer = new StreamWriter(dir["fifo"]))
        {
            writer.Write(TraceA);
        }
        var fifo = fifoChild.Finish();
        Assert.True(fifo.ExitCode == 0, fifo.ToString());
        Assert.Equal(2, Events(dir["ds2"]));
        Assert.Empty(Hidden(dir));
    }

    [ChattrFact]
    public void PreviousDatasetUndeletable_CommitSucceedsWithAWarning()
    {
        using var dir = WithDatasetA();
        Chattr("+i", dir["ds/meta.json"]);
        try
        {
            var result = Mmtrace.Run("ingest", dir["b.txt"], "-o", dir["ds"], "--force");

            Assert.True(result.ExitCode == 0, result.ToString());
            Assert.Contains("the new dataset is in place", result.Stderr, StringComparison.Ordinal);
            Assert.Equal(3, Events(dir["ds"]));
        }
        finally
        {
            foreach (var meta in Directory.EnumerateFiles(dir.Path, "meta.json", SearchOption.AllDirectories))
            {
                Chattr("-i", meta);
            }
        }
    }

    [ChattrFact]
    public void ParentNotWritable_ClearErrorNothingChanged()
    {
        using var dir = WithDatasetA();
        Chattr("+i", dir.Path);
        try
        {
            var result = Mmtrace.Run("ingest", dir["a.txt"], "-o", dir["ds"]);

            Assert.Equal(3, result.ExitCode);
            Assert.Contains("is not writable", result.Stderr, StringComparison.Ordinal);
            Assert.Contains("Nothing was changed", result.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            Chattr("-i", dir.Path);
        }
        Assert.Equal(2, Events(dir["ds"]));
        Assert.Empty(Hidden(dir));
    }

    internal static void Chattr(string flag, string path)
    {
        using var p = Process.Start(new ProcessStartInfo("chattr", [flag, path]) { RedirectStandardError = true })!;
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"chattr {flag} {path}: {p.StandardError.ReadToEnd()}");
    }
}

/// <summary>Runs where the immutable flag can be set (root with CAP_LINUX_IMMUTABLE on ext4/xfs/btrfs/tmpfs):
/// the only way a root test can make a directory or file refuse changes.</summary>
public sealed class ChattrFactAttribute : FactAttribute
{
    private static readonly string? s_skip = Probe();

    public ChattrFactAttribute()
    {
        if (s_skip is not null)
        {
            Skip = s_skip;
        }
    }

    private static string? Probe()
    {
        var dir = Directory.CreateTempSubdirectory("mmtrace-chattr-").FullName;
        try
        {
            var file = Path.Combine(dir, "f");
            File.WriteAllText(file, "x");
            using var set = Process.Start(new ProcessStartInfo("chattr", ["+i", file]) { RedirectStandardError = true, RedirectStandardOutput = true });
            set!.WaitForExit();
            if (set.ExitCode != 0)
            {
                return "chattr +i is not permitted here (needs root with CAP_LINUX_IMMUTABLE on a file system that supports it).";
            }
            using var clear = Process.Start("chattr", ["-i", file]);
            clear.WaitForExit();
            return null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "chattr is not installed.";
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
