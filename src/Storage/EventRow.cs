using System.Globalization;

namespace Pipeline.Storage;

/// <summary>
/// One event on its way from a parser to storage. Parsers fill a single instance, hand it to an
/// <see cref="IEventSink"/> and <see cref="Clear"/> it for the next record, so parsing allocates
/// nothing per event but the strings it must keep.
/// </summary>
public sealed class EventRow
{
    private static readonly ulong s_textColumns =
        EventSchema.Columns.Where(c => c.Kind == ColumnKind.Text).Aggregate(0UL, (mask, c) => mask | (1UL << c.Ordinal));

    private readonly long[] _numbers = new long[EventSchema.Columns.Count];
    private readonly string?[] _texts = new string?[EventSchema.Columns.Count];
    private ulong _present;

    /// <summary>Row id; assigned by the sink in write order.</summary>
    public long Seq;

    /// <summary>Timestamp, ns on the trace clock.</summary>
    public long TsNs;

    /// <summary>CPU that recorded the event.</summary>
    public int Cpu;

    /// <summary>Thread id.</summary>
    public int Pid;

    /// <summary>Thread-group id when known.</summary>
    public int? Tgid;

    /// <summary>Task name ('&lt;...&gt;' when unknown).</summary>
    public string Comm = "";

    /// <summary>Canonical <c>system:name</c>.</summary>
    public string Event = "";

    /// <summary>The 5-character flags column when the source has it.</summary>
    public string? IrqFlags;

    /// <summary>Line number (text) or byte offset (binary) of the record in its source.</summary>
    public long SrcPos;

    /// <summary>Payload fields without a typed column, in source order (name, printed value).</summary>
    public List<KeyValuePair<string, string>> Args { get; } = [];

    /// <summary>Stack frames, innermost first; null when the event has none.</summary>
    public List<string>? Stack { get; set; }

    /// <summary>Whether typed payload column <paramref name="ordinal"/> has a value.</summary>
    public bool IsSet(int ordinal) => (_present & (1UL << ordinal)) != 0;

    /// <summary>Sets a BIGINT/INTEGER column.</summary>
    public void SetInt64(int ordinal, long value)
    {
        _numbers[ordinal] = value;
        _present |= 1UL << ordinal;
    }

    /// <summary>Sets a UBIGINT column.</summary>
    public void SetUInt64(int ordinal, ulong value) => SetInt64(ordinal, unchecked((long)value));

    /// <summary>Sets a BOOLEAN column.</summary>
    public void SetBool(int ordinal, bool value) => SetInt64(ordinal, value ? 1 : 0);

    /// <summary>Sets a VARCHAR column.</summary>
    public void SetText(int ordinal, string value)
    {
        _texts[ordinal] = value;
        _present |= 1UL << ordinal;
    }

    /// <summary>Bit <c>o</c> set: typed payload column <c>o</c> has a value (for writers that walk the set ones).</summary>
    internal ulong PresentMask => _present;

    /// <summary>Text of a set VARCHAR column without the presence check (writers walk <see cref="PresentMask"/>).</summary>
    internal string TextAt(int ordinal) => _texts[ordinal]!;

    /// <summary>Raw 64-bit value of a numeric or boolean column.</summary>
    public long GetInt64(int ordinal) => _numbers[ordinal];

    /// <summary>Value of a UBIGINT column.</summary>
    public ulong GetUInt64(int ordinal) => unchecked((ulong)_numbers[ordinal]);

    /// <summary>Value of a BOOLEAN column.</summary>
    public bool GetBool(int ordinal) => _numbers[ordinal] != 0;

    /// <summary>Value of a VARCHAR column, or null.</summary>
    public string? GetText(int ordinal) => IsSet(ordinal) ? _texts[ordinal] : null;

    /// <summary>Adds a field to <see cref="Args"/>.</summary>
    public void AddArg(string name, string value) => Args.Add(new KeyValuePair<string, string>(name, value));

    /// <summary>Looks a field up by its format-file name, typed column first, then <see cref="Args"/>; formatted invariantly.</summary>
    public string? FindField(string name)
    {
        if (EventSchema.TryGetField(name, out var column))
        {
            if (!IsSet(column.Ordinal))
            {
                return null;
            }
            return column.Kind switch
            {
                ColumnKind.UInt64 => GetUInt64(column.Ordinal).ToString(CultureInfo.InvariantCulture),
                ColumnKind.Bool => GetBool(column.Ordinal) ? "true" : "false",
                ColumnKind.Text => GetText(column.Ordinal),
                _ => GetInt64(column.Ordinal).ToString(CultureInfo.InvariantCulture),
            };
        }
        foreach (var (key, value) in Args)
        {
            if (key == name)
            {
                return value;
            }
        }
        return null;
    }

    /// <summary>Resets every field for the next record.</summary>
    public void Clear()
    {
        // Only text columns that were set hold references.
        for (ulong set = _present & s_textColumns; set != 0; set &= set - 1)
        {
            _texts[System.Numerics.BitOperations.TrailingZeroCount(set)] = null;
        }
        _present = 0;
        Seq = 0;
        TsNs = 0;
        Cpu = 0;
        Pid = 0;
        Tgid = null;
        Comm = "";
        Event = "";
        IrqFlags = null;
        SrcPos = 0;
        Args.Clear();
        Stack = null;
    }

    /// <summary>A deep copy (for parsers that must hold a record back, e.g. to attach a following stack).</summary>
    public EventRow Clone()
    {
        var copy = new EventRow
        {
            Seq = Seq,
            TsNs = TsNs,
            Cpu = Cpu,
            Pid = Pid,
            Tgid = Tgid,
            Comm = Comm,
            Event = Event,
            IrqFlags = IrqFlags,
            SrcPos = SrcPos,
            Stack = Stack is null ? null : [.. Stack],
        };
        Array.Copy(_numbers, copy._numbers, _numbers.Length);
        Array.Copy(_texts, copy._texts, _texts.Length);
        copy._present = _present;
        copy.Args.AddRange(Args);
        return copy;
    }

    /// <summary>Copies every field of <paramref name="source"/> into this row.</summary>
    public void CopyFrom(EventRow source)
    {
        Seq = source.Seq;
        TsNs = source.TsNs;
        Cpu = source.Cpu;
        Pid = source.Pid;
        Tgid = source.Tgid;
        Comm = source.Comm;
        Event = source.Event;
        IrqFlags = source.IrqFlags;
        SrcPos = source.SrcPos;
        Stack = source.Stack is null ? null : [.. source.Stack];
        Array.Copy(source._numbers, _numbers, _numbers.Length);
        Array.Copy(source._texts, _texts, _texts.Length);
        _present = source._present;
        Args.Clear();
        Args.AddRange(source.Args);
    }
}

/// <summary>Receives parsed events in row order.</summary>
public interface IEventSink
{
    /// <summary>Takes one event. The row is reused by the caller after this returns.</summary>
    void Write(EventRow row);
}
