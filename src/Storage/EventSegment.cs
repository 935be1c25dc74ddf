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

    /// <summary>
    /// Starts the next row with its header fields, for a parser that writes the row's fields straight into the
    /// columns (<see cref="SetInt64"/>, <see cref="SetText"/>, <see cref="TryAddArgUtf8"/>, <see cref="AddArg"/>,
    /// then <see cref="EndRow"/>) instead of filling an <see cref="EventRow"/> for <see cref="Add"/> to copy. The
    /// values are those of the <see cref="EventRow"/> fields of the same names.
    /// </summary>
    /// <exception cref="InvalidOperationException">The segment is full.</exception>
    public void BeginRow(long tsNs, long srcPos, int cpu, int pid, int? tgid, string comm, string ev, string? irqFlags)
    {
        if (Columns.Rows == Capacity)
        {
            throw new InvalidOperationException($"The segment is full ({Capacity} rows).");
        }
        Columns.BeginRow(tsNs, srcPos, cpu, pid, tgid, comm, ev, irqFlags);
    }

    /// <summary>Sets a typed numeric or boolean column of the row begun (<see cref="EventRow.SetInt64"/>); a second set replaces the value, as on a row.</summary>
    public void SetInt64(int ordinal, long value) => Columns.SetNumberInRow(ordinal, value);

    /// <summary>Sets a typed text column of the row begun (<see cref="EventRow.SetText"/>); a second set replaces the value, as on a row.</summary>
    public void SetText(int ordinal, string value) => Columns.SetTextInRow(ordinal, value);

    /// <summary>Adds an arg to the row begun as <see cref="EventRow.TryAddArgUtf8(ArgName, ReadOnlySpan{byte})"/> does; false, nothing added, when the value needs escaping.</summary>
    public bool TryAddArgUtf8(ArgName name, ReadOnlySpan<byte> value) => Columns.TryAddArgUtf8(name, value);

    /// <summary>Adds an arg with a string value to the row begun (<see cref="EventRow.AddArg(string, string)"/>).</summary>
    public void AddArg(ArgName name, string value) => Columns.AddArg(name, value);

    /// <summary>Ends the row begun: it counts in <see cref="Count"/> from now on.</summary>
    public void EndRow() => Columns.EndRow();

    /// <summary>Takes back what was written of the row begun (when its parser failed midway); nothing when none is begun.</summary>
    public void AbortRow() => Columns.AbortRow();

    /// <summary>Removes the rows from <paramref name="count"/> on, whichever way they were added.</summary>
    public void TruncateTo(int count) => Columns.TruncateTo(count);

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
