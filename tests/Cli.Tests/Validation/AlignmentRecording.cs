using System.Globalization;
using System.Text.Json;
using Pipeline.Ingest.Live;

namespace Pipeline.Cli.Tests.Validation;

/// <summary>One <c>call=N ...</c> line of <c>tests/workloads/mremap_align.c</c>: what the workload did and expects.</summary>
/// <param name="Index">call=N, 0-based.</param>
/// <param name="Class">class=: aligned, mutual, realign, realign-midvma, realign-dstvma, none.</param>
/// <param name="OldAddr">old=.</param>
/// <param name="NewAddr">new=.</param>
/// <param name="Length">len=.</param>
/// <param name="ExpectPmd">expect_pmd=: mutually aligned full 2 MiB extents (after any realign).</param>
/// <param name="Realign">realign=: whether the layout lets try_realign_addr() move the start down.</param>
/// <param name="Nanoseconds">ns=: the workload's own clock_gettime() around the syscall.</param>
internal sealed record WorkloadCall(int Index, string Class, ulong OldAddr, ulong NewAddr, ulong Length, int ExpectPmd, bool Realign, long Nanoseconds)
{
    public static WorkloadCall Parse(string line)
    {
        var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(f => f.Split('=', 2))
            .ToDictionary(kv => kv[0], kv => kv.Length == 2 ? kv[1] : throw new FormatException($"Expected key=value in '{line}', found '{kv[0]}'."), StringComparer.Ordinal);
        return new WorkloadCall(
            int.Parse(fields["call"], NumberStyles.None, CultureInfo.InvariantCulture),
            fields["class"],
            ulong.Parse(fields["old"].AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture),
            ulong.Parse(fields["new"].AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture),
            ulong.Parse(fields["len"], NumberStyles.None, CultureInfo.InvariantCulture),
            int.Parse(fields["expect_pmd"], NumberStyles.None, CultureInfo.InvariantCulture),
            fields["realign"] == "1",
            long.Parse(fields["ns"], NumberStyles.None, CultureInfo.InvariantCulture));
    }
}

/// <summary>
/// One live recording of <c>mremap_align</c> under <c>mmtrace record</c>, replayed with <c>mmtrace replay</c>
/// (profile latest), made once for all validation tests and only when one of them runs.
/// </summary>
public sealed class AlignmentRecording : IDisposable
{
    /// <summary>Rounds of the 30 calls: 5 gives 5 samples per (class, size) for the latency medians.</summary>
    internal const int Rounds = 5;

    /// <summary>
    /// What the tracker and the kernel witness need: the VMA syscalls, faults (PTE-table population), page
    /// allocations (the witness: page-table pages), process lifetime and TLB flushes. A short list keeps the
    /// system-wide recording of a busy machine far from the ring-buffer limit.
    /// </summary>
    internal static readonly string[] Events =
    [
        .. new[] { "mremap", "mmap", "munmap", "madvise", "mprotect", "brk" }
            .SelectMany(s => new[] { $"syscalls:sys_enter_{s}", $"syscalls:sys_exit_{s}" }),
        "exceptions:page_fault_user",
        "kmem:mm_page_alloc",
        "sched:sched_process_exec",
        "sched:sched_process_fork",
        "sched:sched_process_exit",
        "tlb:tlb_flush",
    ];

    private readonly string _directory = Directory.CreateTempSubdirectory("mmtrace-validation-").FullName;

    private string? _workloadDirectory;

    private AlignmentRecording()
    {
        // A failed build, recording or replay must not leave the temp directories behind: the fixture never
        // gets an instance to dispose.
        try
        {
            var executable = Workload.Build(Workload.Source("mremap_align.c"));
            _workloadDirectory = Path.GetDirectoryName(executable)!;
            var record = Mmtrace.Run("record", "-o", Dataset, "--events", string.Join(',', Events), "--buffer-kb", "65536",
                "--", executable, Rounds.ToString(CultureInfo.InvariantCulture));
            if (record.ExitCode != 0 || !record.Stdout.Contains("command exited with 0", StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"mmtrace record of mremap_align failed: {record}");
            }
            var lines = record.Stdout.Split('\n');
            Calls = lines.Where(l => l.StartsWith("call=", StringComparison.Ordinal)).Select(WorkloadCall.Parse).ToList();
            var summary = lines.Single(l => l.StartsWith("mremap_align pid=", StringComparison.Ordinal));
            Pid = int.Parse(summary.Split(' ')[1]["pid=".Length..], NumberStyles.None, CultureInfo.InvariantCulture);
            using (var meta = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dataset, "meta.json"))))
            {
                LostEvents = meta.RootElement.GetProperty("lost_events").GetInt64();
            }
            Replay = Mmtrace.Run("replay", Dataset, "--profile", "latest");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The recorded dataset (with mremaps.parquet after the replay).</summary>
    public string Dataset => Path.Combine(_directory, "ds");

    /// <summary>The workload's process id.</summary>
    public int Pid { get; }

    /// <summary>Events the ring buffer lost (they would hide faults from the tracker).</summary>
    public long LostEvents { get; }

    internal IReadOnlyList<WorkloadCall> Calls { get; } = [];

    internal Mmtrace.Result Replay { get; } = new(-1, "", "");

    internal static AlignmentRecording Record() => new();

    /// <summary>Runs SQL on the dataset and returns the CSV rows (header first).</summary>
    internal IReadOnlyList<string[]> Query(string sql)
    {
        var result = Mmtrace.Run("query", Dataset, "--sql", sql, "--format", "csv");
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"query failed: {result}");
        }
        return result.Stdout.Replace("\r", "", StringComparison.Ordinal).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(',')).ToList();
    }

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
        if (_workloadDirectory is not null && Directory.Exists(_workloadDirectory))
        {
            Directory.Delete(_workloadDirectory, recursive: true);
        }
    }
}

/// <summary>Records lazily, so skipped tests never touch tracefs.</summary>
public sealed class AlignmentRecordingFixture : IDisposable
{
    private readonly Lazy<AlignmentRecording> _recording = new(AlignmentRecording.Record);

    public AlignmentRecording Recording => _recording.Value;

    public void Dispose()
    {
        if (_recording.IsValueCreated)
        {
            _recording.Value.Dispose();
        }
    }
}

/// <summary>
/// Tests that create tracefs instances run one at a time: <c>PipelineTests.Record_Command_RecordsOrRefusesClearly</c>
/// checks that no <c>mmtrace-*</c> instance is left, which a parallel recording would break.
/// </summary>
[CollectionDefinition(Name)]
public sealed class LiveTraceFsCollection
{
    public const string Name = "Live tracefs (Cli)";
}
