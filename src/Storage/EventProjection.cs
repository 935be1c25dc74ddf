using System.Numerics;

namespace Pipeline.Storage;

/// <summary>
/// The columns of events.parquet a reader of <see cref="EventReader.ReadEvents(DuckDb.DuckDbConnection, string, EventProjection)"/>
/// asks for. DuckDB decodes a Parquet column whether or not a row has a value in it, so a consumer that reads a
/// dozen of the 47 columns should not pay for the rest (docs/benchmarks.md, "Replay, third pass"). A column
/// left out is not silently empty: <see cref="EventRow"/> throws when code reads one that was not loaded, so a
/// consumer that starts using a new column fails on its first row until its projection names it.
/// </summary>
/// <remarks>
/// <c>seq</c>, <c>ts_ns</c>, <c>cpu</c>, <c>pid</c>, <c>comm</c> and <c>event</c> are in every projection: every
/// reader needs them and a file without them is rejected. A column of the projection that an older file lacks
/// is loaded as unset, as with <see cref="All"/>.
/// </remarks>
public sealed class EventProjection
{
    private static readonly ulong s_required =
        (1UL << EventSchema.Seq) | (1UL << EventSchema.TsNs) | (1UL << EventSchema.Cpu) | (1UL << EventSchema.Pid)
        | (1UL << EventSchema.Comm) | (1UL << EventSchema.Event);

    static EventProjection()
    {
        if (EventSchema.Columns.Count > 64)
        {
            throw new InvalidOperationException("EventProjection and EventRow hold a column set in 64 bits; the event schema has more columns.");
        }
    }

    private EventProjection(ulong mask) => Mask = mask | s_required;

    /// <summary>Every column of the schema (what a writer, a copy or an export needs).</summary>
    public static EventProjection All { get; } = new(EventSchema.Columns.Count == 64 ? ulong.MaxValue : (1UL << EventSchema.Columns.Count) - 1);

    /// <summary>
    /// The required header columns and the named ones (schema names: <c>tgid</c>, <c>irq_flags</c>, <c>src_pos</c>,
    /// typed payload fields such as <c>addr</c>, <c>args</c>, <c>stack</c>).
    /// </summary>
    /// <exception cref="ArgumentException">A name is not a column of the event schema.</exception>
    public static EventProjection Of(params ReadOnlySpan<string> columns)
    {
        ulong mask = 0;
        foreach (string name in columns)
        {
            mask |= 1UL << OrdinalOf(name);
        }
        return new EventProjection(mask);
    }

    /// <summary>Bit <c>o</c> set: column <c>o</c> is read.</summary>
    internal ulong Mask { get; }

    /// <summary>Whether the column at <paramref name="ordinal"/> is read.</summary>
    public bool Contains(int ordinal) => (uint)ordinal < 64 && (Mask & (1UL << ordinal)) != 0;

    /// <summary>Whether column <paramref name="name"/> is read.</summary>
    /// <exception cref="ArgumentException">The name is not a column of the event schema.</exception>
    public bool Contains(string name) => Contains(OrdinalOf(name));

    /// <summary>The columns either projection reads (two consumers of one pass over the events).</summary>
    public EventProjection Union(EventProjection other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return new EventProjection(Mask | other.Mask);
    }

    /// <summary>Number of columns read.</summary>
    public int Count => BitOperations.PopCount(Mask);

    /// <summary>The column names read, in schema order.</summary>
    public IEnumerable<string> Names => EventSchema.Columns.Where(c => Contains(c.Ordinal)).Select(c => c.Name);

    /// <inheritdoc/>
    public override string ToString() => string.Join(",", Names);

    private static int OrdinalOf(string name)
    {
        foreach (EventColumn column in EventSchema.Columns)
        {
            if (column.Name == name)
            {
                return column.Ordinal;
            }
        }
        throw new ArgumentException($"'{name}' is not a column of the event schema (docs/schema.md).", nameof(name));
    }
}
