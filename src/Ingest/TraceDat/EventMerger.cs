using System.Runtime.CompilerServices;
using Pipeline.Storage;
using Pipeline.Storage.Parquet;

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
        // A writer that takes rows into its columns gets them decoded there (EventDecoder.DecodeInto); any other
        // sink gets each row filled into one EventRow.
        EventColumnWriter? columns = (sink as IEventColumnSink)?.ColumnWriter;
        var row = columns is null ? new EventRow() : null;
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
                if (columns is not null)
                {
                    Emit(top, clock, context, columns);
                }
                else
                {
                    Emit(top, clock, context, sink, row!);
                }
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
        string? problem = stream.Decoder.Decode(stream.Payload, row, out bool emit);
        long ns = 0;
        if (emit && !clock.TryConvert(stream.Timestamp, out ns))
        {
            emit = false;
            problem = TimestampProblem(stream.Timestamp);
        }
        if (emit)
        {
            row.TsNs = ns;
            row.Cpu = stream.Cpu;
            row.SrcPos = stream.SourcePosition;
            sink.Write(row);
        }
        row.Clear();
        if (problem is not null)
        {
            context.Malformed(stream.SourcePosition, problem);
        }
    }

    /// <summary>
    /// <see cref="Emit(CpuEventStream, TimestampConverter, ReadContext, IEventSink, EventRow)"/> into a writer's
    /// columns: the same checks in the same order (the payload, then the timestamp, then the fields), the same
    /// reports, the same row.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Emit(CpuEventStream stream, TimestampConverter clock, ReadContext context, EventColumnWriter columns)
    {
        ReadOnlySpan<byte> payload = stream.Payload;
        string? problem = stream.Decoder.Prepare(payload, out var plan);
        if (plan is { CommOnly: false })
        {
            if (clock.TryConvert(stream.Timestamp, out long ns))
            {
                problem = stream.Decoder.DecodeInto(plan, payload, columns, ns, stream.Cpu, stream.SourcePosition);
            }
            else
            {
                problem = TimestampProblem(stream.Timestamp);
            }
        }
        if (problem is not null)
        {
            context.Malformed(stream.SourcePosition, problem);
        }
    }

    private static string TimestampProblem(ulong timestamp) =>
        $"timestamp {timestamp} (clock units) does not give a nanosecond count between 0 and 2^63-1; event dropped";

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool Less(CpuEventStream a, CpuEventStream b)
    {
        if (a.Timestamp != b.Timestamp)
        {
            return a.Timestamp < b.Timestamp;
        }
        if (a.Cpu != b.Cpu)
        {
            return a.Cpu < b.Cpu;
        }
        return a.Order < b.Order;
    }

    private static void SiftDown(CpuEventStream[] heap, int count, int i)
    {
        while (true)
        {
            int left = 2 * i + 1;
            if (left >= count)
            {
                return;
            }
            int smallest = left + 1 < count && Less(heap[left + 1], heap[left]) ? left + 1 : left;
            if (!Less(heap[smallest], heap[i]))
            {
                return;
            }
            (heap[i], heap[smallest]) = (heap[smallest], heap[i]);
            i = smallest;
        }
    }
}
