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
}

/// <summary>
/// Row ids, per-event counts and the time-order check shared by the event writers: <see cref="Take"/> is called
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
        long seq = Count;
        row.Seq = seq;
        if (row.TsNs < _lastTsNs)
        {
            IsTimeOrdered = false;
        }
        _lastTsNs = row.TsNs;
        Count = seq + 1;
        if (!countEvents)
        {
            return seq;
        }
        // Parsers hand the same string instance for runs of one event; count those without hashing.
        if (ReferenceEquals(row.Event, _lastEvent))
        {
            _lastEventPending++;
        }
        else
        {
            FlushEventCount();
            _lastEvent = row.Event;
            _lastEventPending = 1;
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
