using System.Globalization;
using Pipeline.Replay.Lowering;
using Pipeline.Replay.Real;
using Pipeline.Storage;
using Pipeline.Storage.DuckDb;

namespace Pipeline.Replay.Runner;

/// <summary>What replaying one trace dataset produced.</summary>
/// <param name="Dataset">The dataset.</param>
/// <param name="Result">The engine's result (null when the trace held no ops).</param>
/// <param name="OpCount">Op lines (<c>mmop:*</c> events) replayed.</param>
/// <param name="IgnoredEvents">Events that are not ops (tracepoints of a real trace).</param>
/// <param name="MalformedOps">Op lines that could not be read (counted, with the first few in <paramref name="Diagnostics"/>).</param>
/// <param name="Mremaps">mremap calls analysed from syscall events (real traces).</param>
/// <param name="Diagnostics">Malformed op lines.</param>
public sealed record DatasetReplayResult(
    TraceDataset Dataset,
    ReplayResult? Result,
    long OpCount,
    long IgnoredEvents,
    long MalformedOps,
    int Mremaps,
    IngestDiagnostics Diagnostics)
{
    /// <summary>What the lowering of a real trace (tracepoint events) produced and skipped; null for op traces.</summary>
    public LoweringStatistics? Lowering { get; init; }

    /// <summary>Exposure windows found in a real trace (class <c>exposure</c>).</summary>
    public IReadOnlyList<Finding> Exposures { get; init; } = [];

    /// <summary>Findings (the engine's, then exposure windows), empty when nothing was replayed.</summary>
    public IReadOnlyList<Finding> Findings => Exposures.Count == 0 ? Result?.Findings ?? [] : [.. Result?.Findings ?? [], .. Exposures];
}

/// <summary>
/// Replays the datasets <c>mmtrace replay</c> names: op traces (<c>mmop:*</c> events) go through the engine and
/// their findings are written as <c>findings.parquet</c>; mremap calls of real traces are analysed into
/// <c>mremaps.parquet</c> and <c>mremap_moves.parquet</c> (the predicted page-table moves per extent).
/// Each file is replaced atomically.
/// </summary>
public static class DatasetReplay
{
    /// <summary>Findings table name (and file name without extension).</summary>
    public const string FindingsTable = "findings";

    /// <summary>Replays one dataset under <paramref name="profile"/> on <paramref name="arch"/> and writes its tables.</summary>
    /// <param name="dataset">The dataset to replay; its tables are replaced atomically.</param>
    /// <param name="profile">Kernel profile (fixes and features).</param>
    /// <param name="arch">Flush scope.</param>
    /// <param name="maps">A <c>/proc/PID/maps</c> snapshot taken before tracing: seeds the address space the mremap
    /// prediction starts from, so calls that depend on mappings made before the trace are decided.</param>
    /// <param name="cancellationToken">Stops between events.</param>
    public static DatasetReplayResult Run(TraceDataset dataset, KernelProfile profile, Arch arch, MapsSnapshot? maps = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(profile);
        using var database = DuckDbDatabase.Open();
        using var connection = database.Connect();
        var eventsPath = Path.Combine(dataset.Directory, DatasetFiles.EventsFile);

        // Op traces stream straight into the engine (schedule = row order): memory is the engine's state, not the trace.
        var diagnostics = new IngestDiagnostics();
        var engine = new ReplayEngine(profile, arch);
        var named = new HashSet<int>();
        long opCount = 0;
        // meta.json's per-event counts say whether there are ops at all: a real trace is not read twice.
        bool hasOps = dataset.Meta.EventCounts.Keys.Any(k => k.StartsWith(OpSpec.EventSystem + ":", StringComparison.Ordinal));
        long ignoredEvents = !hasOps ? dataset.Meta.Events : OpTraceLoader.ForEach(EventReader.ReadEvents(connection, eventsPath), diagnostics, eventsPath, (in Op op, string comm) =>
        {
            if (named.Add(op.Tid))
            {
                engine.NameTask(op.Tid, comm);
            }
            engine.Execute(op);
            if ((++opCount & 0xFFFF) == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }
        });
        cancellationToken.ThrowIfCancellationRequested();
        TraceLowering? lowering = null;
        ReplayResult? result;
        if (opCount == 0 && ignoredEvents > 0)
        {
            // A real trace: lower its tracepoint events into ops (docs/lowering.md), replayed as they are made and
            // kept as ops.parquet.
            // Its own connection: the events are still streaming from the first one while ops are appended.
            using var opsConnection = database.Connect();
            using var opsWriter = new LoweredOps.Writer(opsConnection);
            (result, lowering) = TraceLowering.LowerAndReplay(EventReader.ReadEvents(connection, eventsPath), profile, arch, opsWriter);
            cancellationToken.ThrowIfCancellationRequested();
            opsWriter.Complete(Path.Combine(dataset.Directory, LoweredOps.FileName));
            opCount = lowering.Statistics.Ops;
        }
        else
        {
            result = opCount > 0 ? engine.Finish() : null;
        }
        IReadOnlyList<Finding> exposures = lowering?.Exposures ?? [];
        IReadOnlyList<Finding> findings = [.. result?.Findings ?? [], .. exposures];
        WriteFindings(findings, profile, arch, dataset.Directory);

        int mremaps = 0;
        long ignored = ignoredEvents;
        if (lowering is not null)
        {
            ignored = lowering.Statistics.Events;
            var (calls, extents) = MremapAnalyzer.Analyze(EventReader.ReadEvents(connection, eventsPath), ToPrediction(profile), seed: maps);
            WriteMremaps(calls, extents, dataset.Directory);
            mremaps = calls.Count;
        }
        return new DatasetReplayResult(dataset, result, opCount, ignored, diagnostics.MalformedCount, mremaps, diagnostics)
        {
            Lowering = lowering?.Statistics,
            Exposures = exposures,
        };
    }

    /// <summary>Loads the op trace of a dataset (its <c>mmop:*</c> events).</summary>
    public static OpTrace LoadOps(TraceDataset dataset, IngestDiagnostics diagnostics)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        using var database = DuckDbDatabase.Open();
        using var connection = database.Connect();
        var eventsPath = Path.Combine(dataset.Directory, DatasetFiles.EventsFile);
        return OpTraceLoader.Load(EventReader.ReadEvents(connection, eventsPath), diagnostics, eventsPath);
    }

    /// <summary>Writes <c>findings.parquet</c> of a dataset (replacing it atomically).</summary>
    public static void WriteFindings(TraceDataset dataset, IReadOnlyList<Finding> findings, KernelProfile profile, Arch arch)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        WriteFindings(findings, profile, arch, dataset.Directory);
    }

    /// <summary>The mremap prediction rules a kernel profile implies.</summary>
    public static PredictionProfile ToPrediction(KernelProfile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        bool multiVma = profile.Name == "latest" || VersionAtLeast(profile.Name, 6, 17);
        return new PredictionProfile(
            Realign: profile.Has(KernelFix.RealignPmd),
            RmapLocksOnPmdMove: profile.Has(KernelFix.RmapLocksPmdMove),
            SkipPmdMoveOnOverlap: profile.Has(KernelFix.SkipPmdMoveOnOverlap),
            MovePmd: profile.Has(KernelFeature.MovePmd),
            MovePud: profile.Has(KernelFeature.MovePud),
            PmdRecheckUnderLocks: profile.Has(KernelFix.PmdRecheckUnderLocks),
            MultiVmaMove: multiVma);
    }

    private static bool VersionAtLeast(string name, int major, int minor)
    {
        var parts = name.TrimStart('v').Split('.');
        return parts.Length >= 2
            && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int a)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int b)
            && (a > major || (a == major && b >= minor));
    }

    private static void WriteFindings(IReadOnlyList<Finding> findings, KernelProfile profile, Arch arch, string directory)
    {
        string fixes = string.Join(",", KernelProfile.FixNamesOf(profile.Fixes));
        string archName = arch == Arch.X86 ? "x86" : "arm64";
        new ParquetTable()
            .Int64("finding_id", findings.Select((_, i) => (long)i))
            .String("profile", findings.Select(_ => profile.Name))
            .String("fixes", findings.Select(_ => fixes))
            .String("arch", findings.Select(_ => archName))
            .String("checker", findings.Select(f => f.Checker))
            .String("race", findings.Select(f => f.Race))
            .String("class", findings.Select(f => f.Class))
            .String("severity", findings.Select(f => f.Severity))
            .Int32List("cpus", findings.Select(f => f.Cpus))
            .Int64("mm", findings.Select(f => (long)f.Mm))
            .UInt64("va", findings.Select(f => f.Va))
            .UInt64("pfn", findings.Select(f => f.Pfn))
            .Int64List("seqs", findings.Select(f => f.Seqs))
            .String("message", findings.Select(f => f.Message))
            .String("witness", findings.Select(WitnessRenderer.RenderTimeline))
            .String("witness_json", findings.Select(f => f.ToJson()))
            .Write(Path.Combine(directory, FindingsTable + ".parquet"));
    }

    private static void WriteMremaps(IReadOnlyList<MremapCall> unsortedCalls, IReadOnlyList<MremapExtent> unsortedExtents, string directory)
    {
        var calls = unsortedCalls.OrderBy(c => c.Seq).ToList();
        new ParquetTable()
            .Int64("ts_ns", calls.Select(c => c.TsNs))
            .Int64("seq", calls.Select(c => c.Seq))
            .Int32("pid", calls.Select(c => c.Pid))
            .UInt64("old_addr", calls.Select(c => c.OldAddr))
            .UInt64("old_len", calls.Select(c => c.OldLen))
            .UInt64("new_addr", calls.Select(c => c.NewAddr))
            .UInt64("new_len", calls.Select(c => c.NewLen))
            .UInt64("flags", calls.Select(c => c.Flags))
            .Int64("ret", calls.Select(c => c.Ret))
            .Int64("duration_ns", calls.Select(c => c.DurationNs))
            .UInt64("result_addr", calls.Select(c => c.ResultAddr))
            .Int32("pud_moves", calls.Select(c => c.PudMoves))
            .Int32("pmd_moves", calls.Select(c => c.PmdMoves))
            .Int32("pte_extents", calls.Select(c => c.PteExtents))
            .Int32("huge_moves", calls.Select(c => c.HugeMoves))
            .UInt64("moved_bytes", calls.Select(c => c.MovedBytes))
            .String("alignment", calls.Select(c => c.Alignment))
            .Boolean("realigned", calls.Select(c => c.Realigned))
            .Boolean("need_rmap_locks", calls.Select(c => c.NeedRmapLocks))
            .Boolean("undecided", calls.Select(c => c.Undecided))
            .String("undecided_reason", calls.Select(c => c.UndecidedReason))
            .Write(Path.Combine(directory, "mremaps.parquet"));
        var extents = unsortedExtents.OrderBy(e => e.Seq).ThenBy(e => e.ExtentIndex).ToList();
        new ParquetTable()
            .Int64("seq", extents.Select(e => e.Seq))
            .Int32("extent_index", extents.Select(e => e.ExtentIndex))
            .UInt64("old_start", extents.Select(e => e.OldStart))
            .UInt64("new_start", extents.Select(e => e.NewStart))
            .UInt64("length", extents.Select(e => e.Length))
            .String("path", extents.Select(e => e.Path))
            .String("reason", extents.Select(e => e.Reason))
            .Write(Path.Combine(directory, "mremap_moves.parquet"));
    }
}
