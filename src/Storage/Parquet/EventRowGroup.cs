using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Pipeline.Storage.Parquet;

/// <summary>
/// The rows of one Parquet row group as the parser thread leaves them for an encoder: the always-present header
/// columns as arrays, and for every nullable column a presence bit per row (<see cref="Masks"/>, bit = column
/// ordinal) plus its non-null values packed together. Filling costs a few stores per row; all encoding work
/// happens on the encoder threads. Reused: <see cref="Clear"/> keeps the arrays.
/// </summary>
internal sealed partial class EventRowGroup
{
    private static readonly ulong s_textColumns =
        EventSchema.Columns.Where(c => c.Kind == ColumnKind.Text).Aggregate(0UL, (mask, c) => mask | (1UL << c.Ordinal));

    private static readonly ColumnKind[] s_kinds = [.. EventSchema.Columns.Select(c => c.Kind)];

    // The columns whose properties refuse a row read without them; typed numeric columns are checked when set.
    private static readonly ulong s_checkedColumns = (1UL << EventSchema.SrcPos) | (1UL << EventSchema.Tgid)
        | (1UL << EventSchema.IrqFlags) | (1UL << EventSchema.Args) | (1UL << EventSchema.Stack);

    private readonly int _capacity;
    // The args of the last few serialized rows and where their JSON is in ArgsBytes (see AddArgs).
    private readonly RecentArgs[] _recentArgs = [new(), new(), new(), new()];
    private int _nextRecent;
    // The shapes of the last few rows with numeric args (AddDeferredArgs), to share one among rows alike.
    private readonly ArgShape?[] _recentShapes = new ArgShape?[8];
    private int _nextShape;
    private long _textBytes;
    // Segments only (EventSegment): per row, the group's text bytes once that row was added, so a writer appending
    // part of a segment knows where a group reaches MaxTextBytes exactly as row-by-row adds would.
    private readonly long[]? _textBytesAfterRow;

    public EventRowGroup(int capacity, bool textBytesPerRow = false)
    {
        _capacity = capacity;
        _textBytesAfterRow = textBytesPerRow ? new long[capacity] : null;
        TsNs = new long[capacity];
        SrcPos = new long[capacity];
        Cpu = new int[capacity];
        Pid = new int[capacity];
        Comm = new string[capacity];
        Event = new string[capacity];
        Masks = new ulong[capacity];
        int columns = EventSchema.Columns.Count;
        Numbers = new long[columns][];
        NumberCounts = new int[columns];
        Texts = new string[columns][];
        TextCounts = new int[columns];
        for (int c = 0; c < columns; c++)
        {
            Numbers[c] = [];
            Texts[c] = [];
        }
    }

    /// <summary>Position of this group in the file (0, 1, …).</summary>
    public long Index { get; set; }

    /// <summary>Seq of the first row.</summary>
    public long FirstSeq { get; set; }

    public int Rows { get; private set; }

    /// <summary>
    /// Bytes of text a group may hold (args JSON, stack frames, typed text fields) before it is handed over
    /// early: rows with 1 MB payloads must not make a 122,880-row group hold gigabytes.
    /// </summary>
    public const long MaxTextBytes = 64L << 20;

    /// <summary>Full: <see cref="Rows"/> reached the capacity or the text held reached <see cref="MaxTextBytes"/>.</summary>
    public bool IsFull => Rows == _capacity || _textBytes >= MaxTextBytes;

    public long[] TsNs { get; }

    public long[] SrcPos { get; }

    public int[] Cpu { get; }

    public int[] Pid { get; }

    public string[] Comm { get; }

    public string[] Event { get; }

    /// <summary>Per row, bit <c>c</c> set when nullable column <c>c</c> has a value.</summary>
    public ulong[] Masks { get; }

    /// <summary>Per numeric/boolean column (by ordinal), its non-null values in row order.</summary>
    public long[][] Numbers { get; }

    public int[] NumberCounts { get; }

    /// <summary>Per text column (by ordinal), its non-null values in row order.</summary>
    public string[][] Texts { get; }

    public int[] TextCounts { get; }

    /// <summary>
    /// The <c>args</c> JSON of the rows that have it, back to back (byte lengths in <see cref="ArgsLengths"/>).
    /// Serialized here rather than by the encoder so that the value strings, mostly unique per event, die
    /// young instead of being kept (and promoted by every gen0 GC) until their group is encoded.
    /// </summary>
    public ByteBuffer ArgsBytes { get; } = new(1 << 16);

    /// <summary>
    /// Byte length of each non-null <c>args</c>; -1 for a row whose args hold numbers (<see cref="EventRow.AddArg(string, long, ArgNumberFormat)"/>):
    /// its JSON is not in <see cref="ArgsBytes"/> but printed by the encoder (<see cref="WriteDeferredArgs"/>), off the
    /// parser's thread, from the next of <see cref="DeferredShapes"/> and its numbers in <see cref="DeferredNumbers"/>.
    /// </summary>
    public int[] ArgsLengths { get; private set; } = [];

    /// <summary>Per row with a -1 in <see cref="ArgsLengths"/>, in row order, its args but for the numbers' values (shared by rows alike).</summary>
    public ArgShape[] DeferredShapes { get; private set; } = [];

    public int DeferredRowCount { get; private set; }

    /// <summary>The numbers of those rows' args, back to back.</summary>
    public long[] DeferredNumbers { get; private set; } = [];

    public int DeferredNumberCount { get; private set; }

    public int ArgsCount { get; private set; }

    /// <summary>Frame count of each non-null <c>stack</c>.</summary>
    public int[] StackLengths { get; private set; } = [];

    public int StackCount { get; private set; }

    /// <summary>The frames of every stack, back to back.</summary>
    public string?[] Frames { get; private set; } = [];

    public int FrameCount { get; private set; }

    /// <summary>Makes an empty group the <paramref name="index"/>-th of the file, starting at row id <paramref name="firstSeq"/>.</summary>
    public void Start(long index, long firstSeq)
    {
        Index = index;
        FirstSeq = firstSeq;
    }

    /// <summary>Empties the group for reuse (on the encoder thread, so the parser's thread does not pay for it).</summary>
    public void Clear()
    {
        // Drop string references so a reused group does not keep a finished trace's strings alive.
        for (int c = 0; c < Texts.Length; c++)
        {
            Array.Clear(Texts[c], 0, TextCounts[c]);
        }
        Array.Clear(Comm, 0, Rows);
        Array.Clear(Event, 0, Rows);
        Array.Clear(Frames, 0, FrameCount);
        Rows = 0;
        _textBytes = 0;
        Array.Clear(NumberCounts);
        Array.Clear(TextCounts);
        ArgsBytes.Clear();
        ArgsCount = 0;
        ForgetRecentArgs();
        ClearDeferredArgs();
        StackCount = 0;
        FrameCount = 0;
    }

    /// <summary>Appends <paramref name="row"/> (copies its values and string references).</summary>
    /// <exception cref="InvalidOperationException">The row was read without some column (<see cref="EventProjection"/>).</exception>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Add(EventRow row)
    {
        // One check for the row instead of one per column read (the properties' own checks).
        ulong needed = s_checkedColumns | (row.PresentMask & ~s_textColumns);
        if ((row.LoadedMask & needed) != needed)
        {
            ThrowPartialRow(row);
        }
        int r = Rows;
        TsNs[r] = row.TsNs;
        SrcPos[r] = row.SrcPosValue;
        Cpu[r] = row.Cpu;
        Pid[r] = row.Pid;
        Comm[r] = row.Comm;
        Event[r] = row.Event;
        ulong typed = row.PresentMask;
        ulong mask = typed;
        if (row.TgidValue is int tgid)
        {
            mask |= 1UL << EventSchema.Tgid;
            AddNumber(EventSchema.Tgid, tgid);
        }
        if (row.IrqFlagsValue is string flags)
        {
            mask |= 1UL << EventSchema.IrqFlags;
            AddText(EventSchema.IrqFlags, flags);
        }
        while (typed != 0)
        {
            int c = BitOperations.TrailingZeroCount(typed);
            typed &= typed - 1;
            if ((s_textColumns & (1UL << c)) != 0)
            {
                AddText(c, row.TextAt(c));
            }
            else
            {
                AddNumber(c, row.NumberAt(c));
            }
        }
        ReadOnlySpan<KeyValuePair<string, string>> args = row.RawArgs;
        if (!args.IsEmpty)
        {
            mask |= 1UL << EventSchema.Args;
            ReadOnlySpan<long> numbers = row.ArgNumbers;
            if (row.HasArgsJson)
            {
                AddJsonArgs(row.ArgsJsonMembers);
            }
            else if (numbers.IsEmpty)
            {
                AddArgs(args);
            }
            else
            {
                AddDeferredArgs(args, numbers, row.ArgNumberFormats);
            }
        }
        if (row.StackValue is List<string> stack)
        {
            mask |= 1UL << EventSchema.Stack;
            StackLengths = Append(StackLengths, StackCount++, stack.Count);
            foreach (string? frame in stack)
            {
                Frames = Append(Frames, FrameCount++, frame);
                _textBytes += 2L * (frame?.Length ?? 0);
            }
        }
        Masks[r] = mask;
        if (_textBytesAfterRow is not null)
        {
            _textBytesAfterRow[r] = _textBytes;
        }
        Rows = r + 1;
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void ThrowPartialRow(EventRow row)
    {
        // The property of the first column left out throws, naming it (in the order Add used to read them).
        _ = (row.SrcPos, row.Tgid, row.IrqFlags);
        for (ulong typed = row.PresentMask & ~s_textColumns; typed != 0; typed &= typed - 1)
        {
            _ = row.GetInt64(BitOperations.TrailingZeroCount(typed));
        }
        _ = (row.Args, row.Stack);
        throw new InvalidOperationException("A row read without some column cannot be written.");
    }

    /// <summary>
    /// Appends the JSON of <paramref name="args"/>; when they are the same string instances as one of the last few
    /// serialized rows' (an instance name on every event of a trace.dat buffer, interleaved with events that carry
    /// more fields), copies that row's bytes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void AddArgs(ReadOnlySpan<KeyValuePair<string, string>> args)
    {
        int start = ArgsBytes.Length;
        RecentArgs? same = null;
        foreach (RecentArgs recent in _recentArgs)
        {
            if (SameStrings(args, recent.Pairs.AsSpan(0, recent.Count)))
            {
                same = recent;
                break;
            }
        }
        if (same is not null)
        {
            ArgsBytes.Write(new ReadOnlySpan<byte>(ArgsBytes.Array, same.Start, same.Length));
        }
        else
        {
            JsonArgs.Write(ArgsBytes, args);
            RecentArgs slot = _recentArgs[_nextRecent];
            _nextRecent = (_nextRecent + 1) % _recentArgs.Length;
            if (args.Length > slot.Pairs.Length)
            {
                slot.Pairs = new KeyValuePair<string, string>[args.Length];
            }
            Array.Clear(slot.Pairs, args.Length, slot.Count > args.Length ? slot.Count - args.Length : 0);
            args.CopyTo(slot.Pairs);
            slot.Count = args.Length;
            slot.Start = start;
            slot.Length = ArgsBytes.Length - start;
        }
        int length = ArgsBytes.Length - start;
        ArgsLengths = Append(ArgsLengths, ArgsCount++, length);
        _textBytes += length;
    }

    /// <summary>
    /// Appends args whose JSON the parser already made (<see cref="EventRow.TryAddArgUtf8(string, ReadOnlySpan{byte})"/>, on the parsing
    /// threads): a copy between braces.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void AddJsonArgs(ReadOnlySpan<byte> members)
    {
        int length = members.Length + 2;
        Span<byte> span = ArgsBytes.GetSpan(length);
        span[0] = (byte)'{';
        members.CopyTo(span[1..]);
        span[length - 1] = (byte)'}';
        ArgsBytes.Advance(length);
        ArgsLengths = Append(ArgsLengths, ArgsCount++, length);
        _textBytes += length;
    }

    /// <summary>
    /// Keeps args that hold numbers as their shape (names, texts, formats: the same objects on most rows, so shared)
    /// and their numbers (a -1 in <see cref="ArgsLengths"/>): the encoder prints their JSON. Their strings are field
    /// names and the reader's cached or interned values, so holding them until the group is encoded keeps nothing
    /// young alive that the parser would otherwise have dropped; a row costs a reference and its numbers.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void AddDeferredArgs(ReadOnlySpan<KeyValuePair<string, string>> pairs, ReadOnlySpan<long> numbers, ReadOnlySpan<ArgNumberFormat> formats)
    {
        ArgShape? shape = null;
        foreach (ArgShape? recent in _recentShapes)
        {
            if (recent is not null && recent.Matches(pairs, formats))
            {
                shape = recent;
                break;
            }
        }
        if (shape is null)
        {
            shape = new ArgShape(pairs, formats);
            _recentShapes[_nextShape] = shape;
            _nextShape = (_nextShape + 1) % _recentShapes.Length;
        }
        int n = DeferredNumberCount;
        if (n + numbers.Length > DeferredNumbers.Length)
        {
            long[] grown = DeferredNumbers;
            Array.Resize(ref grown, Math.Max(1024, Math.Max(n + numbers.Length, 2 * grown.Length)));
            DeferredNumbers = grown;
        }
        numbers.CopyTo(DeferredNumbers.AsSpan(n));
        DeferredNumberCount = n + numbers.Length;
        DeferredShapes = Append(DeferredShapes, DeferredRowCount++, shape);
        ArgsLengths = Append(ArgsLengths, ArgsCount++, -1);
        _textBytes += shape.TextBytes + (24L * numbers.Length);
    }

    /// <summary>
    /// Appends the JSON of a deferred row (<paramref name="shape"/>, its numbers from <paramref name="firstNumber"/>)
    /// to <paramref name="output"/>: the bytes <see cref="JsonArgs.Write"/> makes of the printed args. Returns the
    /// index of the next row's first number.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public int WriteDeferredArgs(ByteBuffer output, ArgShape shape, int firstNumber)
    {
        // The shape's JSON around its numbers was made once (ArgShape.Segments): a row writes those bytes and prints
        // only its numbers in between.
        byte[][] segments = shape.Segments;
        ArgNumberFormat[] formats = shape.NumberFormats;
        int n = firstNumber;
        for (int k = 0; k < formats.Length; k++)
        {
            output.Write(segments[k]);
            ArgNumberFormat format = formats[k];
            int length = format.Write(output.GetSpan(format.MaxLength), DeferredNumbers[n++]);
            output.Advance(length);
        }
        output.Write(segments[^1]);
        return n;
    }

    /// <summary>
    /// Prints the JSON of every deferred row into <see cref="ArgsBytes"/> in its place, so the group holds only
    /// bytes (before the reorder window moves rows, which moves args as byte ranges).
    /// </summary>
    internal void SerializeDeferredArgs()
    {
        if (DeferredRowCount == 0)
        {
            return;
        }
        var bytes = new ByteBuffer(ArgsBytes.Length + (int)Math.Min(int.MaxValue / 2, 96L * DeferredRowCount));
        ReadOnlySpan<byte> old = ArgsBytes.Written;
        int at = 0;
        int row = 0;
        int number = 0;
        for (int i = 0; i < ArgsCount; i++)
        {
            int length = ArgsLengths[i];
            if (length >= 0)
            {
                bytes.Write(old.Slice(at, length));
                at += length;
                continue;
            }
            int start = bytes.Length;
            number = WriteDeferredArgs(bytes, DeferredShapes[row++], number);
            ArgsLengths[i] = bytes.Length - start;
        }
        ArgsBytes.Assign(bytes.Array, bytes.Length);
        ForgetRecentArgs();
        ClearDeferredArgs();
    }

    private void ClearDeferredArgs()
    {
        Array.Clear(DeferredShapes, 0, DeferredRowCount);
        Array.Clear(_recentShapes);
        DeferredRowCount = 0;
        DeferredNumberCount = 0;
    }

    private void ForgetRecentArgs()
    {
        foreach (RecentArgs recent in _recentArgs)
        {
            Array.Clear(recent.Pairs, 0, recent.Count);
            recent.Count = 0;
        }
        _nextRecent = 0;
    }

    private static bool SameStrings(ReadOnlySpan<KeyValuePair<string, string>> a, ReadOnlySpan<KeyValuePair<string, string>> b)
    {
        if (a.Length != b.Length || a.IsEmpty)
        {
            return false;
        }
        for (int i = 0; i < a.Length; i++)
        {
            if (!ReferenceEquals(a[i].Key, b[i].Key) || !ReferenceEquals(a[i].Value, b[i].Value))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>The largest timestamp of the group's rows (long.MinValue when empty).</summary>
    public long MaxTsNs()
    {
        long max = long.MinValue;
        foreach (long ts in TsNs.AsSpan(0, Rows))
        {
            max = Math.Max(max, ts);
        }
        return max;
    }

    // The column's array is stored back only when it grew: a store into the array of arrays costs a type check and
    // a GC write barrier, on every typed field of every row.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void AddNumber(int column, long value)
    {
        long[] values = Numbers[column];
        int i = NumberCounts[column]++;
        if ((uint)i >= (uint)values.Length)
        {
            values = Grow(ref Numbers[column]);
        }
        values[i] = value;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void AddText(int column, string value)
    {
        string[] values = Texts[column];
        int i = TextCounts[column]++;
        if ((uint)i >= (uint)values.Length)
        {
            values = Grow(ref Texts[column]);
        }
        values[i] = value;
        _textBytes += 2L * value.Length;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static T[] Grow<T>(ref T[] array)
    {
        Array.Resize(ref array, Math.Max(256, array.Length * 2));
        return array;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T[] Append<T>(T[] array, int index, T value)
    {
        if (index == array.Length)
        {
            Array.Resize(ref array, Math.Max(256, array.Length * 2));
        }
        array[index] = value;
        return array;
    }
}

/// <summary>
/// The args of a row whose JSON the encoder prints, but for the numbers' values: each arg's name and either its
/// text or its number's format. Immutable, so rows whose args are the same objects share one.
/// </summary>
internal sealed class ArgShape
{
    public ArgShape(ReadOnlySpan<KeyValuePair<string, string>> pairs, ReadOnlySpan<ArgNumberFormat> formats)
    {
        Keys = new string[pairs.Length];
        Texts = new string?[pairs.Length];
        Formats = new ArgNumberFormat?[pairs.Length];
        int n = 0;
        long bytes = 0;
        for (int i = 0; i < pairs.Length; i++)
        {
            Keys[i] = pairs[i].Key;
            bytes += pairs[i].Key.Length;
            if (pairs[i].Value is string text)
            {
                Texts[i] = text;
                bytes += text.Length;
            }
            else
            {
                Formats[i] = formats[n++];
            }
        }
        TextBytes = 2 * bytes;
        NumberFormats = new ArgNumberFormat[n];
        Segments = new byte[n + 1][];
        // The JSON that JsonArgs.Write makes of these args, cut before each number's digits (after its opening
        // quote) and after them (from its closing quote on).
        var json = new ByteBuffer(64);
        json.WriteByte((byte)'{');
        int k = 0;
        for (int i = 0; i < pairs.Length; i++)
        {
            if (i > 0)
            {
                json.WriteByte((byte)',');
            }
            JsonArgs.WriteString(json, Keys[i]);
            json.WriteByte((byte)':');
            if (Texts[i] is string text)
            {
                JsonArgs.WriteString(json, text);
                continue;
            }
            json.WriteByte((byte)'"');
            Segments[k] = json.Written.ToArray();
            NumberFormats[k] = Formats[i]!;
            k++;
            json.Clear();
            json.WriteByte((byte)'"');
        }
        json.WriteByte((byte)'}');
        Segments[k] = json.Written.ToArray();
    }

    /// <summary>The formats of the numbers, in arg order.</summary>
    public ArgNumberFormat[] NumberFormats { get; }

    /// <summary>
    /// The args' JSON without the numbers' digits: segment <c>k</c> goes before number <c>k</c>, the last after the
    /// last number (one segment, the whole object, when there is none).
    /// </summary>
    public byte[][] Segments { get; }

    public string[] Keys { get; }

    /// <summary>Per arg its text, or null for a number.</summary>
    public string?[] Texts { get; }

    /// <summary>Per arg the format of its number, or null for a text.</summary>
    public ArgNumberFormat?[] Formats { get; }

    /// <summary>What the names and texts weigh, for the group's text budget.</summary>
    public long TextBytes { get; }

    /// <summary>Whether a row's args (null value: the next of <paramref name="formats"/>) are these very objects.</summary>
    public bool Matches(ReadOnlySpan<KeyValuePair<string, string>> pairs, ReadOnlySpan<ArgNumberFormat> formats)
    {
        if (pairs.Length != Keys.Length)
        {
            return false;
        }
        int n = 0;
        for (int i = 0; i < pairs.Length; i++)
        {
            if (!ReferenceEquals(pairs[i].Key, Keys[i]))
            {
                return false;
            }
            string? text = pairs[i].Value;
            if (text is null ? !ReferenceEquals(formats[n++], Formats[i]) || Texts[i] is not null : !ReferenceEquals(text, Texts[i]))
            {
                return false;
            }
        }
        return true;
    }
}

/// <summary>One serialized args list: its string references and where its JSON bytes are.</summary>
internal sealed class RecentArgs
{
    public KeyValuePair<string, string>[] Pairs { get; set; } = new KeyValuePair<string, string>[8];

    public int Count { get; set; }

    public int Start { get; set; }

    public int Length { get; set; }
}
