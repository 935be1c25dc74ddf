using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Pipeline.Storage;

/// <summary>What every event writer knows of the rows it took: how many, per event name, and whether they came in time order.</summary>
public interface IWrittenEvents
{
    /// <summary>Rows written so far.</summary>
    long Count { get; }

    /// <summary>
    /// Whether every row came with a timestamp no smaller than the previous one, i.e. write (seq) order is
    /// already <c>(ts_ns, seq)</c> order and the rows need no sort.
    /// </summary>
    bool IsTimeOrdered { get; }

    /// <summary>Event counts sorted by name (ordinal), as they go into meta.json.</summary>
    SortedDictionary<string, long> SortedEventCounts();

    /// <summary>How far from time order the rows came (writers without a reorder window report none reordered).</summary>
    EventOrder Order => new(0, 0, IsTimeOrdered ? 0 : 1, 0);
}

/// <summary>
/// How far from time order a trace's events came. A row is late when an earlier row has a larger timestamp; its
/// lateness is that difference. Late rows within the writer's reorder window were put in place while streaming;
/// rows beyond it made the writer sort the whole trace.
/// </summary>
/// <param name="Reordered">Late rows the reorder window put in place.</param>
/// <param name="ReorderedMaxNs">The largest lateness among them, ns.</param>
/// <param name="BeyondWindow">Late rows beyond the window (nonzero: the trace was sorted as a whole).</param>
/// <param name="BeyondWindowMaxNs">The largest lateness among those, ns (0 when a writer does not measure it).</param>
public sealed record EventOrder(long Reordered, long ReorderedMaxNs, long BeyondWindow, long BeyondWindowMaxNs)
{
    /// <summary>Whether the rows needed the whole-trace sort.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool NeedsSort => BeyondWindow > 0;
}

/// <summary>
/// Row ids, per-event counts and the time-order check shared by the event writers: <see cref="Take(EventRow)"/> is called
/// once per row, in write order, and returns the row's seq.
/// </summary>
/// <param name="countEvents">Whether to count per event name (a writer that counts elsewhere passes false).</param>
internal sealed class EventTally(bool countEvents = true) : IWrittenEvents
{
    private readonly Dictionary<string, long> _counts = new(StringComparer.Ordinal);
    private string? _lastEvent;
    private long _lastEventPending;
    private long _lastTsNs = long.MinValue;

    public long Count { get; private set; }

    public bool IsTimeOrdered { get; private set; } = true;

    /// <summary>Rows per canonical event name.</summary>
    public IReadOnlyDictionary<string, long> EventCounts
    {
        get
        {
            FlushEventCount();
            return _counts;
        }
    }

    public SortedDictionary<string, long> SortedEventCounts()
    {
        FlushEventCount();
        return new(_counts, StringComparer.Ordinal);
    }

    /// <summary>Counts <paramref name="row"/>, sets its <see cref="EventRow.Seq"/> and returns it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public long Take(EventRow row)
    {
        long seq = Take(row.TsNs, row.Event);
        row.Seq = seq;
        return seq;
    }

    /// <summary>Counts a row with timestamp <paramref name="tsNs"/> and event <paramref name="eventName"/>; returns its seq.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public long Take(long tsNs, string eventName)
    {
        long seq = Count;
        if (tsNs < _lastTsNs)
        {
            IsTimeOrdered = false;
        }
        _lastTsNs = tsNs;
        Count = seq + 1;
        if (!countEvents)
        {
            return seq;
        }
        // Parsers hand the same string instance for runs of one event; count those without hashing.
        if (ReferenceEquals(eventName, _lastEvent))
        {
            _lastEventPending++;
        }
        else
        {
            FlushEventCount();
            _lastEvent = eventName;
            _lastEventPending = 1;
        }
        return seq;
    }

    /// <summary>
    /// Counts rows with timestamps <paramref name="tsNs"/> and events <paramref name="events"/> as many
    /// <see cref="Take(EventRow)"/> calls would; the first gets the seq returned, the others the ones after it.
    /// </summary>
    public long TakeMany(ReadOnlySpan<long> tsNs, ReadOnlySpan<string> events)
    {
        long seq = Count;
        long last = _lastTsNs;
        foreach (long ts in tsNs)
        {
            if (ts < last)
            {
                IsTimeOrdered = false;
            }
            last = ts;
        }
        _lastTsNs = last;
        Count = seq + tsNs.Length;
        if (countEvents)
        {
            foreach (string name in events)
            {
                if (ReferenceEquals(name, _lastEvent))
                {
                    _lastEventPending++;
                }
                else
                {
                    FlushEventCount();
                    _lastEvent = name;
                    _lastEventPending = 1;
                }
            }
        }
        return seq;
    }

    private void FlushEventCount()
    {
        if (_lastEvent is not null && _lastEventPending > 0)
        {
            CollectionsMarshal.GetValueRefOrAddDefault(_counts, _lastEvent, out _) += _lastEventPending;
            _lastEventPending = 0;
        }
    }
}
