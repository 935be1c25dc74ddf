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

    private EventProjection(ulong mask, IReadOnlySet<string>? argsEvents = null)
    {
        Mask = mask | s_required;
        ArgsEvents = Contains(EventSchema.Args) ? argsEvents : null;
    }

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

    /// <summary>
    /// This projection with <c>args</c> copied into the rows of <paramref name="events"/> only (event names as the
    /// dataset spells them): the args JSON is unique per row for events such as <c>kmem:rss_stat</c>, and copying it
    /// out of DuckDB's result into every row cost the reading thread ~5 % of the replay's CPU, for consumers that
    /// read the args of a few rare events (docs/benchmarks.md, "Replay, 2026-12-06 (s25)"). A row of another event
    /// throws when its args are read, as it would for a column left out, so a consumer that starts reading the args
    /// of a new event fails on its first such row until its projection names the event.
    /// </summary>
    /// <exception cref="InvalidOperationException">The projection does not read <c>args</c>.</exception>
    public EventProjection WithArgsOnlyOf(params ReadOnlySpan<string> events)
    {
        if (!Contains(EventSchema.Args))
        {
            throw new InvalidOperationException("WithArgsOnlyOf needs a projection that reads args.");
        }
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (string name in events)
        {
            names.Add(name);
        }
        return new EventProjection(Mask, names);
    }

    /// <summary>
    /// The events whose rows get their <c>args</c> (<see cref="WithArgsOnlyOf"/>); null when every row does or
    /// <c>args</c> is not read.
    /// </summary>
    public IReadOnlySet<string>? ArgsEvents { get; }

    /// <summary>Bit <c>o</c> set: column <c>o</c> is read.</summary>
    internal ulong Mask { get; }

    /// <summary>Whether the column at <paramref name="ordinal"/> is read.</summary>
    public bool Contains(int ordinal) => (uint)ordinal < 64 && (Mask & (1UL << ordinal)) != 0;

    /// <summary>Whether column <paramref name="name"/> is read.</summary>
    /// <exception cref="ArgumentException">The name is not a column of the event schema.</exception>
    public bool Contains(string name) => Contains(OrdinalOf(name));

    /// <summary>
    /// The columns either projection reads (two consumers of one pass over the events); <c>args</c> for the rows
    /// either reads them of (every row when one of them reads every row's).
    /// </summary>
    public EventProjection Union(EventProjection other)
    {
        ArgumentNullException.ThrowIfNull(other);
        bool mine = Contains(EventSchema.Args);
        bool theirs = other.Contains(EventSchema.Args);
        IReadOnlySet<string>? events = (mine, theirs) switch
        {
            (true, true) when ArgsEvents is not null && other.ArgsEvents is not null => new HashSet<string>(ArgsEvents.Concat(other.ArgsEvents), StringComparer.Ordinal),
            (true, false) => ArgsEvents,
            (false, true) => other.ArgsEvents,
            _ => null,
        };
        return new EventProjection(Mask | other.Mask, events);
    }

    /// <summary>Number of columns read.</summary>
    public int Count => BitOperations.PopCount(Mask);

    /// <summary>The column names read, in schema order.</summary>
    public IEnumerable<string> Names => EventSchema.Columns.Where(c => Contains(c.Ordinal)).Select(c => c.Name);

    /// <inheritdoc/>
    public override string ToString() =>
        string.Join(",", Names) + (ArgsEvents is null ? "" : " (args of " + string.Join(",", ArgsEvents.Order(StringComparer.Ordinal)) + ")");

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
