using System.Runtime.CompilerServices;
using Pipeline.Storage;

namespace Pipeline.Ingest.TraceDat;

/// <summary>Raw ring-buffer time → ns as trace-cmd reports it (TSC2NSEC mult/shift, then the DATE/OFFSET offset).</summary>
internal readonly struct TimestampConverter(uint multiplier, int shift, long offset)
{
    /// <summary>
    /// Converts, or returns false when the result is not a nanosecond count ts_ns can hold: 2^63 or more, or
    /// negative after the offset. A page timestamp that large is damage (2^63 ns is 292 years of uptime).
    /// </summary>
    public bool TryConvert(ulong raw, out long ns)
    {
        ulong ts = raw;
        if (multiplier != 0)
        {
            ts = (ulong)(((UInt128)raw * multiplier) >> shift);
        }
        ns = 0;
        if (ts > long.MaxValue)
        {
            return false;
        }
        long sum = unchecked((long)ts + offset);
        if ((offset > 0 && sum < (long)ts) || sum < 0)
        {
            return false;
        }
        ns = sum;
        return true;
    }
}

/// <summary>
/// K-way merge of CPU streams by timestamp with a small binary heap; ties go to the lower CPU, then the
/// earlier stream (buffer order), so the output order is deterministic and matches trace-cmd and kernel text.
/// </summary>
internal static class EventMerger
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static long Run(CpuEventStream[] streams, TimestampConverter clock, ReadContext context, IEventSink sink, CancellationToken cancellationToken)
    {
        var heap = new CpuEventStream[streams.Length];
        int count = 0;
        foreach (var s in streams)
        {
            if (s.MoveNext())
            {
                heap[count++] = s;
            }
        }
        for (int i = count / 2 - 1; i >= 0; i--)
        {
            SiftDown(heap, count, i);
        }
        var row = new EventRow();
        long written = 0;
        while (count > 0)
        {
            var top = heap[0];
            // Drain the head stream while it stays ahead of every other head: no heap work per event.
            CpuEventStream? second = count == 1 ? null : count == 2 ? heap[1] : (Less(heap[1], heap[2]) ? heap[1] : heap[2]);
            bool more;
            do
            {
                if ((written & 0xfff) == 0)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                }
                Emit(top, clock, context, sink, row);
                written++;
                more = top.MoveNext();
            }
            while (more && (second is null || Less(top, second)));
            if (!more)
            {
                heap[0] = heap[--count];
                heap[count] = null!;
            }
            if (count > 0)
            {
                SiftDown(heap, count, 0);
            }
        }
        return written;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Emit(CpuEventStream stream, TimestampConverter clock, ReadContext context, IEventSink sink, EventRow row)
    {
        if (Decode(stream, clock, row, out string? problem))
        {
            sink.Write(row);
        }
        row.Clear();
        if (problem is not null)
        {
            context.Malformed(stream.SourcePosition, problem);
        }
    }

    /// <summary>
    /// Fills <paramref name="row"/> from the stream's current record (timestamp in ns, CPU, source position); false when
    /// the record gives no row. <paramref name="problem"/> is what to report at the record's source position, if
    /// anything (the row may still be good: a field past the payload's end is dropped and reported).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static bool Decode(CpuEventStream stream, TimestampConverter clock, EventRow row, out string? problem)
    {
        problem = stream.Decoder.Decode(stream.Payload, row, out bool emit);
        long ns = 0;
        if (emit && !clock.TryConvert(stream.Timestamp, out ns))
        {
            emit = false;
            problem = $"timestamp {stream.Timestamp} (clock units) does not give a nanosecond count between 0 and 2^63-1; event dropped";
        }
        if (emit)
        {
            row.TsNs = ns;
            row.Cpu = stream.Cpu;
            row.SrcPos = stream.SourcePosition;
        }
        return emit;
    }

    private static bool Less(CpuEventStream a, CpuEventStream b) => MergeOrder.Less(a.Timestamp, a.Cpu, a.Order, b.Timestamp, b.Cpu, b.Order);

    private static void SiftDown(CpuEventStream[] heap, int count, int i) => MergeOrder.SiftDown<CpuEventStream, StreamOrder>(heap, count, i);

    private readonly struct StreamOrder : IMergeOrder<CpuEventStream>
    {
        public bool Less(CpuEventStream a, CpuEventStream b) => EventMerger.Less(a, b);
    }
}

/// <summary>How a merge of CPU streams orders their heads: (timestamp, CPU, stream order); <typeparamref name="T"/> is a head.</summary>
internal interface IMergeOrder<in T>
{
    bool Less(T a, T b);
}

/// <summary>The merge order of CPU streams and the binary heap the merges keep their heads in.</summary>
internal static class MergeOrder
{
    /// <summary>
    /// Ties go to the lower CPU, then the earlier stream (buffer order), so the output order is deterministic and
    /// matches trace-cmd and kernel text.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Less(ulong timestampA, int cpuA, int orderA, ulong timestampB, int cpuB, int orderB)
    {
        if (timestampA != timestampB)
        {
            return timestampA < timestampB;
        }
        if (cpuA != cpuB)
        {
            return cpuA < cpuB;
        }
        return orderA < orderB;
    }

    public static void SiftDown<T, TOrder>(T[] heap, int count, int i)
        where TOrder : struct, IMergeOrder<T>
    {
        TOrder order = default;
        while (true)
        {
            int left = 2 * i + 1;
            if (left >= count)
            {
                return;
            }
            int smallest = left + 1 < count && order.Less(heap[left + 1], heap[left]) ? left + 1 : left;
            if (!order.Less(heap[smallest], heap[i]))
            {
                return;
            }
            (heap[i], heap[smallest]) = (heap[smallest], heap[i]);
            i = smallest;
        }
    }
}
