namespace Pipeline.Replay.Workloads;

/// <summary>Receives generated ops in schedule order.</summary>
public interface IOpSink
{
    /// <summary>One op; <paramref name="comm"/> is its task's name.</summary>
    void Add(in Op op, string comm);
}

/// <summary>
/// <c>mmtrace synth random</c>: realistic random mm workloads (processes with threads on several CPUs, mmap,
/// faults, mremap with PTE and PMD moves, munmap, MADV_DONTNEED, reclaim, khugepaged collapse, mlock, GUP-fast,
/// context switches and TLB fills) whose interleaving obeys the kernel's locking, so replay finds nothing; and,
/// on request, the minimal racy interleaving of R1–R6 on fresh mms at pseudo-random points.
/// </summary>
public static class RandomWorkload
{
    /// <summary>Generates the whole trace in memory.</summary>
    public static OpTrace Generate(RandomWorkloadOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var sink = new CollectingSink();
        Generate(options, sink);
        return new OpTrace(sink.Ops, sink.Comms);
    }

    /// <summary>Streams ops to <paramref name="sink"/>; memory is bounded by the workload's live state. Returns the op count.</summary>
    public static long Generate(RandomWorkloadOptions options, IOpSink sink)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(sink);
        options.Validate();
        return new WorkloadGenerator(options, sink).Run();
    }

    /// <summary>
    /// Streams the trace as <see cref="OpTraceWriter"/> text (identical to <c>OpTraceWriter.Write(Generate(options))</c>)
    /// without holding it in memory. Returns the op count.
    /// </summary>
    public static long Write(RandomWorkloadOptions options, TextWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        return Generate(options, new TextSink(writer));
    }

    private sealed class CollectingSink : IOpSink
    {
        public readonly List<Op> Ops = [];
        public readonly Dictionary<int, string> Comms = [];

        public void Add(in Op op, string comm)
        {
            Ops.Add(op);
            Comms.TryAdd(op.Tid, comm);
        }
    }

    private sealed class TextSink(TextWriter writer) : IOpSink
    {
        private long _count;

        public void Add(in Op op, string comm)
        {
            _count++;
            writer.Write(OpTraceWriter.FormatLine(op, comm, _count));
            writer.Write('\n');
        }
    }
}
