using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;

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
    private ulong _loaded = ulong.MaxValue;
    private int? _tgid;
    private string? _irqFlags;
    private long _srcPos;
    private readonly List<KeyValuePair<string, string>> _args = [];
    // Numeric args not yet printed (AddArg with a format): their places in _args hold a null value, in this order.
    // Allocated on first use: the text readers make a row per parsed line and never add numbers.
    private long[] _argNumbers = [];
    private ArgNumberFormat[] _argFormats = [];
    private int _argNumberCount;
    // Args added as UTF-8 text (TryAddArgUtf8) are kept as their JSON, built as they come, so the events writer copies
    // bytes instead of serializing strings on its one ordering thread, and the text parsers make no string for a
    // value nobody reads. While _json is on, _argsJson holds the members of the args object (no braces) for every arg
    // added so far, a null value in _args is the next of _utf8Spans (start, length of its text inside _argsJson), and no
    // numeric args are pending (adding one prints the texts first and turns _json off).
    private bool _json;
    private Parquet.ByteBuffer? _argsJson;
    private int[] _utf8Spans = [];
    private int _utf8Count;
    private List<string>? _stack;
    // The args JSON a reader of events.parquet copied into the row unparsed (SetArgsJson): replay reads the args of a
    // few events only, so parsing every row's was a tenth of its reading thread. Parsed into _args on first use.
    private byte[] _pendingArgs = [];
    private int _pendingArgsLength = -1;
    private string? _pendingArgsSource;

    // Bytes a value may hold to be copied into the JSON as is: printable ASCII but the quote and the backslash.
    private static readonly SearchValues<byte> s_needsJsonCare = SearchValues.Create(
        [.. Enumerable.Range(0, 256).Where(b => b < 0x20 || b >= 0x7F || b == '"' || b == '\\').Select(b => (byte)b)]);

    /// <summary>The bytes a UTF-8 arg value must not hold to go into the args JSON as it stands.</summary>
    internal static SearchValues<byte> NeedsJsonCare => s_needsJsonCare;

    /// <summary>
    /// Whether <paramref name="value"/> holds a byte of <see cref="NeedsJsonCare"/>. Most values are a few bytes
    /// (numbers, flags, hashed pointers), for which the vector search's set-up is most of its cost: up to 16 bytes
    /// are tested as two overlapping 64-bit words, each byte at once (below 0x20, above 0x7E, a quote, a backslash),
    /// and below 8 bytes one by one.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool NeedsJsonCareIn(ReadOnlySpan<byte> value)
    {
        int n = value.Length;
        if (n > 16)
        {
            return value.ContainsAny(s_needsJsonCare);
        }
        if (n >= 8)
        {
            return WordNeedsJsonCare(BinaryPrimitives.ReadUInt64LittleEndian(value))
                || WordNeedsJsonCare(BinaryPrimitives.ReadUInt64LittleEndian(value[(n - 8)..]));
        }
        foreach (byte b in value)
        {
            if ((uint)(b - 0x20) > 0x7E - 0x20 || b == (byte)'"' || b == (byte)'\\')
            {
                return true;
            }
        }
        return false;
    }

    // The usual byte tests on a word (each exact as a yes/no for the whole word): a byte below 0x20 borrows into
    // its top bit, one above 0x7E has it set once 1 is added, and a quote or backslash is a zero byte after the xor.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool WordNeedsJsonCare(ulong x)
    {
        const ulong ones = 0x0101010101010101UL;
        const ulong tops = 0x8080808080808080UL;
        ulong below = (x - (0x20 * ones)) & ~x;
        ulong above = (x + ones) | x;
        ulong quote = x ^ (0x22 * ones);
        ulong backslash = x ^ (0x5C * ones);
        ulong zero = ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash);
        return ((below | above | zero) & tops) != 0;
    }

    /// <summary>Row id; assigned by the sink in write order.</summary>
    public long Seq;

    /// <summary>Timestamp, ns on the trace clock.</summary>
    public long TsNs;

    /// <summary>CPU that recorded the event.</summary>
    public int Cpu;

    /// <summary>Thread id.</summary>
    public int Pid;

    /// <summary>Thread-group id when known.</summary>
    /// <exception cref="InvalidOperationException">Read from a row whose projection left <c>tgid</c> out.</exception>
    public int? Tgid
    {
        get => Loaded(EventSchema.Tgid) ? _tgid : ThrowNotLoaded<int?>(EventSchema.Tgid);
        set => _tgid = value;
    }

    /// <summary>Task name ('&lt;...&gt;' when unknown).</summary>
    public string Comm = "";

    /// <summary>Canonical <c>system:name</c>.</summary>
    public string Event = "";

    /// <summary>The 5-character flags column when the source has it.</summary>
    /// <exception cref="InvalidOperationException">Read from a row whose projection left <c>irq_flags</c> out.</exception>
    public string? IrqFlags
    {
        get => Loaded(EventSchema.IrqFlags) ? _irqFlags : ThrowNotLoaded<string?>(EventSchema.IrqFlags);
        set => _irqFlags = value;
    }

    /// <summary>Line number (text) or byte offset (binary) of the record in its source.</summary>
    /// <exception cref="InvalidOperationException">Read from a row whose projection left <c>src_pos</c> out.</exception>
    public long SrcPos
    {
        get => Loaded(EventSchema.SrcPos) ? _srcPos : ThrowNotLoaded<long>(EventSchema.SrcPos);
        set => _srcPos = value;
    }

    /// <summary>Payload fields without a typed column, in source order (name, printed value).</summary>
    /// <exception cref="InvalidOperationException">Read from a row whose projection left <c>args</c> out.</exception>
    public List<KeyValuePair<string, string>> Args
    {
        get
        {
            if (!Loaded(EventSchema.Args))
            {
                return ThrowNotLoaded<List<KeyValuePair<string, string>>>(EventSchema.Args);
            }
            if (_pendingArgsLength >= 0)
            {
                ParsePendingArgs();
            }
            if (_json)
            {
                // The caller may change the list: from now on the strings are the args.
                LeaveJson();
            }
            if (_argNumberCount > 0)
            {
                PrintArgNumbers();
            }
            return _args;
        }
    }

    /// <summary>
    /// The args as added, without printing numeric ones: a pair whose value is null is the next of
    /// <see cref="ArgNumbers"/>/<see cref="ArgNumberFormats"/> (for the events writer, which prints them itself).
    /// </summary>
    internal ReadOnlySpan<KeyValuePair<string, string>> RawArgs
    {
        get
        {
            if (_pendingArgsLength >= 0)
            {
                ParsePendingArgs();
            }
            return System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_args);
        }
    }

    /// <summary>Values of the numeric args not yet printed, in arg order.</summary>
    internal ReadOnlySpan<long> ArgNumbers => _argNumbers.AsSpan(0, _argNumberCount);

    /// <summary>Formats of <see cref="ArgNumbers"/>.</summary>
    internal ReadOnlySpan<ArgNumberFormat> ArgNumberFormats => _argFormats.AsSpan(0, _argNumberCount);

    /// <summary>
    /// Whether <see cref="ArgsJsonMembers"/> holds the JSON of every arg (then a null value in <see cref="RawArgs"/> is a
    /// text only that JSON holds, and <see cref="ArgNumbers"/> is empty).
    /// </summary>
    internal bool HasArgsJson => _json;

    /// <summary>
    /// With <see cref="HasArgsJson"/>, the members of the args' JSON object without its braces: the bytes between
    /// <c>{</c> and <c>}</c> that <see cref="JsonArgs.Write"/> makes of <see cref="Args"/>.
    /// </summary>
    internal ReadOnlySpan<byte> ArgsJsonMembers => _argsJson!.Written;

    /// <summary>Stack frames, innermost first; null when the event has none.</summary>
    /// <exception cref="InvalidOperationException">Read from a row whose projection left <c>stack</c> out.</exception>
    public List<string>? Stack
    {
        get => Loaded(EventSchema.Stack) ? _stack : ThrowNotLoaded<List<string>?>(EventSchema.Stack);
        set => _stack = value;
    }

    /// <summary>
    /// The columns this row was filled from (<see cref="EventProjection"/>; every column for a row a parser fills).
    /// Reading a column outside it throws instead of answering "unset".
    /// </summary>
    internal ulong LoadedMask
    {
        get => _loaded;
        set => _loaded = value;
    }

    /// <summary>Whether typed payload column <paramref name="ordinal"/> has a value.</summary>
    /// <exception cref="InvalidOperationException">The row's projection left the column out.</exception>
    public bool IsSet(int ordinal)
    {
        ulong bit = 1UL << ordinal;
        if ((_loaded & bit) == 0)
        {
            ThrowNotLoaded<bool>(ordinal);
        }
        return (_present & bit) != 0;
    }

    private bool Loaded(int ordinal) => (_loaded & (1UL << ordinal)) != 0;

    private long Number(int ordinal) => Loaded(ordinal) ? _numbers[ordinal] : ThrowNotLoaded<long>(ordinal);

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static T ThrowNotLoaded<T>(int ordinal) =>
        throw new InvalidOperationException(
            $"Column {EventSchema.Columns[ordinal].Name} was not read into this row: the reader's EventProjection leaves it out. Add it to the projection of the code that reads it.");

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

    /// <summary>Raw value of a set numeric column without the checks (writers walk <see cref="PresentMask"/>).</summary>
    internal long NumberAt(int ordinal) => _numbers[ordinal];

    /// <summary><see cref="Tgid"/> without the projection check (for writers that checked <see cref="LoadedMask"/> once).</summary>
    internal int? TgidValue => _tgid;

    /// <summary><see cref="IrqFlags"/> without the projection check.</summary>
    internal string? IrqFlagsValue => _irqFlags;

    /// <summary><see cref="SrcPos"/> without the projection check.</summary>
    internal long SrcPosValue => _srcPos;

    /// <summary><see cref="Stack"/> without the projection check.</summary>
    internal List<string>? StackValue => _stack;

    /// <summary>Raw 64-bit value of a numeric or boolean column.</summary>
    public long GetInt64(int ordinal) => Number(ordinal);

    /// <summary>Value of a UBIGINT column.</summary>
    public ulong GetUInt64(int ordinal) => unchecked((ulong)Number(ordinal));

    /// <summary>Value of a BOOLEAN column.</summary>
    public bool GetBool(int ordinal) => Number(ordinal) != 0;

    /// <summary>Value of a VARCHAR column, or null.</summary>
    public string? GetText(int ordinal) => IsSet(ordinal) ? _texts[ordinal] : null;

    /// <summary>Adds a field to <see cref="Args"/>.</summary>
    public void AddArg(string name, string value)
    {
        if (_pendingArgsLength >= 0)
        {
            ParsePendingArgs();
        }
        if (_json)
        {
            StartJsonMember(name);
            JsonArgs.WriteString(_argsJson!, value);
        }
        _args.Add(new KeyValuePair<string, string>(name, value));
    }

    /// <summary>
    /// Adds a field to <see cref="Args"/> whose value is the UTF-8 text <paramref name="value"/>, without making a
    /// string for it (one is made if <see cref="Args"/> is read). Takes only printable ASCII other than <c>"</c> and
    /// <c>\</c>, which JSON holds as is, and only while no numeric arg is pending; returns false otherwise, and the
    /// caller adds the value as a string. Makes the name's JSON on every call; parsers keep an <see cref="ArgName"/>
    /// per field name instead.
    /// </summary>
    public bool TryAddArgUtf8(string name, ReadOnlySpan<byte> value) => TryAddArgUtf8(new ArgName(name), value);

    /// <summary>
    /// <see cref="TryAddArgUtf8(string, ReadOnlySpan{byte})"/> for a name whose JSON was made once
    /// (<see cref="ArgName"/>; parsers keep one per field name).
    /// </summary>
    public bool TryAddArgUtf8(ArgName name, ReadOnlySpan<byte> value)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (_pendingArgsLength >= 0)
        {
            ParsePendingArgs();
        }
        if (_argNumberCount > 0 || NeedsJsonCareIn(value))
        {
            return false;
        }
        if (!_json)
        {
            StartJson();
        }
        Parquet.ByteBuffer json = _argsJson!;
        ReadOnlySpan<byte> member = name.JsonMember;
        int comma = json.Length > 0 ? 1 : 0;
        int total = comma + member.Length + value.Length + 2;
        Span<byte> span = json.GetSpan(total);
        span[0] = (byte)',';
        member.CopyTo(span[comma..]);
        int at = comma + member.Length;
        span[at] = (byte)'"';
        value.CopyTo(span[(at + 1)..]);
        span[total - 1] = (byte)'"';
        AddUtf8Span(json.Length + at + 1, value.Length);
        json.Advance(total);
        _args.Add(new KeyValuePair<string, string>(name.Name, null!));
        return true;
    }

    private void AddUtf8Span(int start, int length)
    {
        if (2 * (_utf8Count + 1) > _utf8Spans.Length)
        {
            Array.Resize(ref _utf8Spans, Math.Max(16, 2 * _utf8Spans.Length));
        }
        _utf8Spans[2 * _utf8Count] = start;
        _utf8Spans[(2 * _utf8Count) + 1] = length;
        _utf8Count++;
    }

    // Turns the JSON on: the members of the string args added so far first.
    private void StartJson()
    {
        _argsJson ??= new Parquet.ByteBuffer(256);
        _argsJson.Clear();
        _json = true;
        foreach (var (key, value) in _args)
        {
            StartJsonMember(key);
            JsonArgs.WriteString(_argsJson, value);
        }
    }

    private void StartJsonMember(string name)
    {
        Parquet.ByteBuffer json = _argsJson!;
        if (json.Length > 0)
        {
            json.WriteByte((byte)',');
        }
        JsonArgs.WriteString(json, name);
        json.WriteByte((byte)':');
    }

    // Turns the JSON off: the texts only it held become strings.
    private void LeaveJson()
    {
        if (_utf8Count > 0)
        {
            byte[] bytes = _argsJson!.Array;
            int next = 0;
            for (int i = 0; i < _args.Count; i++)
            {
                if (_args[i].Value is null)
                {
                    string value = Encoding.UTF8.GetString(bytes, _utf8Spans[2 * next], _utf8Spans[(2 * next) + 1]);
                    _args[i] = new KeyValuePair<string, string>(_args[i].Key, value);
                    next++;
                }
            }
        }
        _utf8Count = 0;
        _json = false;
        _argsJson!.Clear();
    }

    /// <summary>
    /// Adds a numeric field to <see cref="Args"/> as <paramref name="format"/> prints <paramref name="value"/>. The
    /// text is made only when <see cref="Args"/> is read; the events writer prints the number into the JSON itself.
    /// </summary>
    public void AddArg(string name, long value, ArgNumberFormat format)
    {
        ArgumentNullException.ThrowIfNull(format);
        if (_pendingArgsLength >= 0)
        {
            ParsePendingArgs();
        }
        if (_json)
        {
            LeaveJson();
        }
        if (_argNumberCount == _argNumbers.Length)
        {
            Array.Resize(ref _argNumbers, Math.Max(8, _argNumberCount * 2));
            Array.Resize(ref _argFormats, Math.Max(8, _argNumberCount * 2));
        }
        _argNumbers[_argNumberCount] = value;
        _argFormats[_argNumberCount++] = format;
        _args.Add(new KeyValuePair<string, string>(name, null!));
    }

    /// <summary>Replaces the placeholders of numeric args by their text.</summary>
    private void PrintArgNumbers()
    {
        int next = 0;
        for (int i = 0; i < _args.Count; i++)
        {
            if (_args[i].Value is null)
            {
                _args[i] = new KeyValuePair<string, string>(_args[i].Key, _argFormats[next].Format(_argNumbers[next]));
                next++;
            }
        }
        _argNumberCount = 0;
    }

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
        _tgid = null;
        Comm = "";
        Event = "";
        _irqFlags = null;
        _srcPos = 0;
        _args.Clear();
        _argNumberCount = 0;
        // The JSON buffer is emptied when the next row starts one (StartJson), on the parsing thread that fills it.
        _json = false;
        _utf8Count = 0;
        _stack = null;
        _pendingArgsLength = -1;
    }

    /// <summary>
    /// Sets the args from their JSON (an object of strings, as events.parquet holds it) without parsing it: the row
    /// keeps a copy of the bytes and parses them when the args are first read. A malformed value throws
    /// <see cref="InvalidDataException"/> naming <paramref name="source"/> and the row's seq at that read. The row
    /// must have no args yet.
    /// </summary>
    internal void SetArgsJson(ReadOnlySpan<byte> json, string source)
    {
        if (_pendingArgs.Length < json.Length)
        {
            _pendingArgs = new byte[Math.Max(json.Length, 2 * _pendingArgs.Length)];
        }
        json.CopyTo(_pendingArgs);
        _pendingArgsLength = json.Length;
        _pendingArgsSource = source;
    }

    private void ParsePendingArgs()
    {
        int length = _pendingArgsLength;
        _pendingArgsLength = -1;
        EventReader.ParseArgs(_pendingArgs.AsSpan(0, length), this, null, _pendingArgsSource!);
    }

    /// <summary>A deep copy (for parsers that must hold a record back, e.g. to attach a following stack).</summary>
    public EventRow Clone()
    {
        if (_pendingArgsLength >= 0)
        {
            ParsePendingArgs();
        }
        if (_json)
        {
            LeaveJson();
        }
        if (_argNumberCount > 0)
        {
            PrintArgNumbers();
        }
        var copy = new EventRow
        {
            Seq = Seq,
            TsNs = TsNs,
            Cpu = Cpu,
            Pid = Pid,
            _tgid = _tgid,
            Comm = Comm,
            Event = Event,
            _irqFlags = _irqFlags,
            _srcPos = _srcPos,
            _stack = _stack is null ? null : [.. _stack],
        };
        Array.Copy(_numbers, copy._numbers, _numbers.Length);
        Array.Copy(_texts, copy._texts, _texts.Length);
        copy._present = _present;
        copy._loaded = _loaded;
        copy._args.AddRange(_args);
        return copy;
    }

    /// <summary>Copies every field of <paramref name="source"/> into this row.</summary>
    public void CopyFrom(EventRow source)
    {
        if (source._pendingArgsLength >= 0)
        {
            source.ParsePendingArgs();
        }
        _pendingArgsLength = -1;
        if (source._json)
        {
            source.LeaveJson();
        }
        if (_json)
        {
            LeaveJson();
        }
        if (source._argNumberCount > 0)
        {
            source.PrintArgNumbers();
        }
        Seq = source.Seq;
        TsNs = source.TsNs;
        Cpu = source.Cpu;
        Pid = source.Pid;
        _tgid = source._tgid;
        Comm = source.Comm;
        Event = source.Event;
        _irqFlags = source._irqFlags;
        _srcPos = source._srcPos;
        _stack = source._stack is null ? null : [.. source._stack];
        Array.Copy(source._numbers, _numbers, _numbers.Length);
        Array.Copy(source._texts, _texts, _texts.Length);
        _present = source._present;
        _loaded = source._loaded;
        _args.Clear();
        _argNumberCount = 0;
        _args.AddRange(source._args);
    }
}

/// <summary>Receives parsed events in row order.</summary>
public interface IEventSink
{
    /// <summary>Takes one event. The row is reused by the caller after this returns.</summary>
    void Write(EventRow row);
}

/// <summary>
/// An argument name with the JSON that starts its member (<c>"name":</c>), made once, for
/// <see cref="EventRow.TryAddArgUtf8(ArgName, ReadOnlySpan{byte})"/>.
/// </summary>
public sealed class ArgName
{
    private readonly byte[] _jsonMember;

    public ArgName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        Name = name;
        var json = new Parquet.ByteBuffer(name.Length + 8);
        JsonArgs.WriteString(json, name);
        json.WriteByte((byte)':');
        _jsonMember = json.Written.ToArray();
    }

    /// <summary>The name.</summary>
    public string Name { get; }

    /// <summary><c>"name":</c> as <see cref="JsonArgs"/> writes it.</summary>
    internal ReadOnlySpan<byte> JsonMember => _jsonMember;
}
