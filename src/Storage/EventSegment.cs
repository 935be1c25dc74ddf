using Pipeline.Storage.Parquet;

namespace Pipeline.Storage;

/// <summary>
/// Consecutive events already copied into columns, the way a row group holds them. A parsing thread fills one per
/// batch of lines while each row is still in its cache (<see cref="Add"/>); the writer's thread then appends the
/// segment to its row group a column range at a time (<see cref="IEventSegmentSink"/>) instead of copying every
/// row's fields itself. The rows are the same and in the same order as if each had been written on its own.
/// </summary>
public sealed class EventSegment
{
    /// <summary>An empty segment of at most <paramref name="capacity"/> rows.</summary>
    public EventSegment(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Columns = new EventRowGroup(capacity, textBytesPerRow: true);
        Capacity = capacity;
    }

    /// <summary>Rows it can hold.</summary>
    public int Capacity { get; }

    /// <summary>Rows it holds.</summary>
    public int Count => Columns.Rows;

    internal EventRowGroup Columns { get; }

    /// <summary>Appends a copy of <paramref name="row"/> (its values and string references); the row may be reused.</summary>
    /// <exception cref="InvalidOperationException">The segment is full, or the row was read without some column.</exception>
    public void Add(EventRow row)
    {
        if (Columns.Rows == Capacity)
        {
            throw new InvalidOperationException($"The segment is full ({Capacity} rows).");
        }
        Columns.Add(row);
    }

    /// <summary>Empties the segment for reuse.</summary>
    public void Clear() => Columns.Clear();
}

/// <summary>An event sink that also takes whole <see cref="EventSegment"/>s.</summary>
public interface IEventSegmentSink : IEventSink
{
    /// <summary>Whether <see cref="Write(EventSegment)"/> may be called (a wrapper says so only when what it wraps does).</summary>
    bool TakesSegments { get; }

    /// <summary>Takes the segment's rows, in order, as that many <see cref="IEventSink.Write(EventRow)"/> calls would; the segment may be reused after this returns.</summary>
    void Write(EventSegment segment);
}
