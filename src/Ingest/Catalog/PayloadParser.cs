using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Text;
using Pipeline.Storage;

namespace Pipeline.Ingest.Catalog;

/// <summary>
/// Splits an event payload as the kernel, trace-cmd or perf printed it into fields and fills an
/// <see cref="EventRow"/>: fields named like a typed column (<see cref="EventSchema.TryGetField"/>) go to that
/// column when the value parses for the column's kind, everything else goes to <see cref="EventRow.Args"/> in
/// source order. A payload that is not a field list is kept whole as the argument <c>payload</c>; nothing is
/// dropped. Instances cache field names and repeated values and are not thread-safe; the static
/// <see cref="Fill(EventRow, string, ReadOnlySpan{char})"/> uses one instance per thread.
/// </summary>
public sealed class PayloadParser
{
    /// <summary>Argument name used for a payload that is not a <c>key=value</c> list.</summary>
    public const string WholePayloadKey = "payload";

    private static readonly ArgName s_wholePayload = new(WholePayloadKey);
    private static readonly ArgName s_buf = new("buf");

    [ThreadStatic]
    private static PayloadParser? t_shared;

    private static readonly int s_reason = Ordinal("reason");
    private static readonly int s_pages = Ordinal("pages");
    private static readonly int s_ret = Ordinal("ret");
    private static readonly int s_ip = Ordinal("ip");
    private static readonly int s_addr = Ordinal("addr");

    // Field lists of up to this many fields are remembered per event (KnownShape).
    private const int MaxShapeFields = 16;

    private readonly Utf8Cache<FieldKey> _keys = new(name => new FieldKey(name), 1024, 48);
    private readonly Utf8Cache<string> _values = new(s => s, 8192, 40);

    // The field names of each event's last key=value payload, direct-mapped by the event string's identity: a trace
    // prints the same fields in the same order for every event of a kind, so the next payload is matched against
    // them (TryKnownShape) before it is split word by word and each name looked up.
    private readonly KnownShape?[] _shapes = new KnownShape?[64];
    private readonly FieldKey[] _seenKeys = new FieldKey[MaxShapeFields];

    /// <summary>
    /// Fills <paramref name="row"/> from a payload given as text (for readers that hold decoded strings).
    /// Sets <see cref="EventRow.Event"/> to the canonical name of <paramref name="eventName"/>
    /// (a bare name such as <c>tlb_flush</c> or an already canonical <c>tlb:tlb_flush</c>).
    /// </summary>
    /// <param name="row">The row being built; header fields are left alone.</param>
    /// <param name="eventName">Bare or canonical event name.</param>
    /// <param name="payload">The printed payload (after <c>name: </c>).</param>
    public static void Fill(EventRow row, string eventName, ReadOnlySpan<char> payload)
    {
        row.Event = EventCatalog.Canonical(eventName);
        int max = Encoding.UTF8.GetMaxByteCount(payload.Length);
        byte[]? rented = null;
        Span<byte> buffer = max <= 1024 ? stackalloc byte[max] : (rented = ArrayPool<byte>.Shared.Rent(max));
        try
        {
            int n = Encoding.UTF8.GetBytes(payload, buffer);
            (t_shared ??= new PayloadParser()).Parse(row, buffer[..n]);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Fills <paramref name="row"/> from a UTF-8 payload; <see cref="EventRow.Event"/> must already be canonical.</summary>
    /// <param name="row">The row being built.</param>
    /// <param name="payload">The printed payload bytes.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Parse(EventRow row, ReadOnlySpan<byte> payload)
    {
        payload = payload.Trim((byte)' ');
        string ev = row.Event;
        if (ev == "tlb:tlb_flush" && ParseTlbFlush(row, payload))
        {
            return;
        }
        if (ev is "filemap:mm_filemap_add_to_page_cache" or "filemap:mm_filemap_delete_from_page_cache" && payload.StartsWith("dev "u8))
        {
            ParsePageCacheEvent(row, payload);
            return;
        }
        if (ev is "migrate:set_migration_pte" or "migrate:remove_migration_pte" or "thp:set_migration_pmd" or "thp:remove_migration_pmd"
            && payload.StartsWith("addr="u8) && ParseMigrationEntry(row, payload))
        {
            return;
        }
        if (ev is "ftrace:print" or "ftrace:bprint" or "ftrace:bputs")
        {
            ParsePrint(row, payload);
            return;
        }
        if (ev.StartsWith("syscalls:sys_", StringComparison.Ordinal))
        {
            if (ev.StartsWith("syscalls:sys_exit_", StringComparison.Ordinal) && TryParseSyscallReturn(row, payload))
            {
                return;
            }
            if (payload.IndexOf(": "u8) > 0 && payload.IndexOf((byte)'=') < 0)
            {
                ParseSyscallArguments(row, payload);
                return;
            }
        }
        ParseKeyValues(row, payload);
    }

    /// <summary>
    /// The page-cache add and delete events print their file as words, not fields:
    /// <c>dev 254:0 ino b1e328 pfn=0x58c38f ofs=0 order=0</c> (6.x; 4.x–5.x print <c>page=%p pfn=… ofs=…</c> after the
    /// same prefix). <c>dev</c> and <c>ino</c> become fields of those names, as the fault event spells them
    /// (<c>dev=254:0 ino=b1e328</c>); the rest is a field list.
    /// </summary>
    private void ParsePageCacheEvent(EventRow row, ReadOnlySpan<byte> payload)
    {
        while (payload.StartsWith("dev "u8) || payload.StartsWith("ino "u8))
        {
            ReadOnlySpan<byte> name = payload[..3];
            payload = payload[4..].TrimStart((byte)' ');
            int end = payload.IndexOf((byte)' ');
            ReadOnlySpan<byte> value = end < 0 ? payload : payload[..end];
            SetField(row, name, value);
            payload = end < 0 ? default : payload[(end + 1)..];
        }
        ParseKeyValues(row, payload);
    }

    /// <summary>
    /// Migration's remap events print <c>addr=%lx, pte=%lx order=%d</c> (<c>pmd=%lx</c> for the PMD ones): bare hex, so
    /// an address of decimal digits only (<c>555555554000</c>) must not be read as a decimal number. The address goes
    /// to its column as hex; the entry stays an argument as printed.
    /// </summary>
    private bool ParseMigrationEntry(EventRow row, ReadOnlySpan<byte> payload)
    {
        ReadOnlySpan<byte> rest = payload[5..];
        int end = rest.IndexOfAny((byte)',', (byte)' ');
        ReadOnlySpan<byte> value = end < 0 ? rest : rest[..end];
        if (AsciiNumber.HasHexPrefix(value))
        {
            value = value[2..];
        }
        if (!AsciiNumber.TryParseHex(value, out ulong addr))
        {
            return false;
        }
        row.SetInt64(s_addr, unchecked((long)addr));
        ParseKeyValues(row, end < 0 ? default : rest[end..].TrimStart(", "u8));
        return true;
    }

    /// <summary>
    /// Kernel syscall entry text <c>arg: value, arg: value</c> (also trace-cmd's print fmt and the verbose
    /// <c>unsigned long addr: 9</c> form). Kernels up to ~6.17 print bare hex; 6.18 prints 0-9 in decimal and
    /// larger values as 0x-hex, so "unprefixed means hex" is right for both (single digits read the same).
    /// </summary>
    public void ParseSyscallArguments(EventRow row, ReadOnlySpan<byte> args)
    {
        args = args.Trim((byte)' ');
        while (!args.IsEmpty)
        {
            int comma = args.IndexOf(", "u8);
            ReadOnlySpan<byte> item = comma < 0 ? args : args[..comma];
            args = comma < 0 ? default : args[(comma + 2)..];
            int colon = item.LastIndexOf(": "u8);
            if (colon <= 0)
            {
                AddArg(row, s_wholePayload, item);
                continue;
            }
            ReadOnlySpan<byte> name = item[..colon].TrimEnd((byte)' ');
            int space = name.LastIndexOf((byte)' ');
            if (space >= 0)
            {
                name = name[(space + 1)..];
            }
            ReadOnlySpan<byte> value = item[(colon + 2)..].Trim((byte)' ');
            FieldKey key = _keys.Get(name);
            ulong number;
            bool parsed = AsciiNumber.HasHexPrefix(value) ? AsciiNumber.TryParseHex(value[2..], out number) : AsciiNumber.TryParseHex(value, out number);
            if (parsed && key.Column is { } column && column.Kind is not (ColumnKind.Text or ColumnKind.Bool or ColumnKind.TextList))
            {
                row.SetInt64(column.Ordinal, unchecked((long)number));
            }
            else
            {
                AddArg(row, key.Arg, value);
            }
        }
    }

    /// <summary>
    /// Syscall exit value: kernel <c>sys_X -&gt; 0x…</c> and trace-cmd's bare <c>0x…</c> print the unsigned
    /// 64-bit value; it is stored signed so failures read as <c>-errno</c>.
    /// </summary>
    public static bool TryParseSyscallReturn(EventRow row, ReadOnlySpan<byte> value)
    {
        value = value.Trim((byte)' ');
        if (!AsciiNumber.TryParseInteger(value, out ulong number) && !AsciiNumber.TryParseHex(value, out number))
        {
            return false;
        }
        row.SetInt64(s_ret, unchecked((long)number));
        return true;
    }

    /// <summary>
    /// tlb_flush in its three spellings: kernel <c>pages:-1 reason:flush on task switch (0)</c>, trace-cmd's
    /// plugin <c>pages=-1 reason=local mm shootdown (3)</c> (empty text for reasons ≥ 4) and <c>-R</c>
    /// <c>reason=0 pages=-1</c>. The reason column takes the number; its text is implied by it.
    /// </summary>
    private bool ParseTlbFlush(EventRow row, ReadOnlySpan<byte> payload)
    {
        int p = IndexOfKey(payload, "pages"u8);
        int r = IndexOfKey(payload, "reason"u8);
        if (p < 0 || r < 0)
        {
            return false;
        }
        ReadOnlySpan<byte> pagesText = payload[(p + 6)..];
        int end = pagesText.IndexOf((byte)' ');
        pagesText = end < 0 ? pagesText : pagesText[..end];
        ReadOnlySpan<byte> reasonText = r < p ? payload[(r + 7)..(p - 1)] : payload[(r + 7)..];
        reasonText = reasonText.Trim((byte)' ');
        if (reasonText.Length > 0 && reasonText[^1] == (byte)')')
        {
            int open = reasonText.LastIndexOf((byte)'(');
            if (open < 0)
            {
                return false;
            }
            reasonText = reasonText[(open + 1)..^1];
        }
        if (!AsciiNumber.TryParseInteger(pagesText, out ulong pages) || !AsciiNumber.TryParseInteger(reasonText, out ulong reason))
        {
            return false;
        }
        row.SetInt64(s_pages, unchecked((long)pages));
        row.SetInt64(s_reason, unchecked((long)reason));
        return true;
    }

    /// <summary>
    /// trace_marker / trace_printk text. The kernel prints <c>tracing_mark_write: text</c> (the symbol became the
    /// event name); libtraceevent prints <c>%ps: %s</c>, which without kallsyms is <c>0xffffffff81498b1a: text</c>
    /// (LISA's files even show <c>0x…s:</c>). The text goes to <c>buf</c>, the address to <c>ip</c>.
    /// </summary>
    private void ParsePrint(EventRow row, ReadOnlySpan<byte> payload)
    {
        int colon = payload.IndexOf(": "u8);
        if (colon > 2 && AsciiNumber.HasHexPrefix(payload))
        {
            ReadOnlySpan<byte> address = payload[2..colon];
            int end = address.IndexOfAnyExcept("0123456789abcdefABCDEF"u8);
            if (AsciiNumber.TryParseHex(end < 0 ? address : address[..end], out ulong ip))
            {
                row.SetUInt64(s_ip, ip);
                payload = payload[(colon + 2)..];
            }
        }
        AddArg(row, s_buf, payload);
    }

    private static int IndexOfKey(ReadOnlySpan<byte> payload, ReadOnlySpan<byte> key)
    {
        int at = payload.IndexOf(key);
        while (at >= 0)
        {
            int after = at + key.Length;
            if ((at == 0 || payload[at - 1] == (byte)' ') && after < payload.Length && (payload[after] == (byte)':' || payload[after] == (byte)'='))
            {
                return at;
            }
            int next = payload[(at + 1)..].IndexOf(key);
            at = next < 0 ? -1 : at + 1 + next;
        }
        return -1;
    }

    /// <summary>
    /// <c>key=value</c> lists separated by spaces or by <c>, </c> (huge_memory). A space-separated word without
    /// <c>=</c> continues the previous value, so values with spaces survive (<c>prev_comm=spin-thr 2</c>,
    /// <c>reason=flush on task switch (0)</c>); sched_switch's <c>==&gt;</c> only separates.
    /// </summary>
    /// <remarks>
    /// The spaces and <c>=</c> signs of the whole payload are first found as bit masks, 64 bytes at a time
    /// (<see cref="TokenMasks"/>): each word and its first <c>=</c> are then a trailing-zero count away, instead of
    /// two searches per word.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void ParseKeyValues(EventRow row, ReadOnlySpan<byte> payload)
    {
        payload = payload.Trim((byte)' ');
        if (payload.IsEmpty)
        {
            return;
        }
        ref KnownShape? shape = ref _shapes[RuntimeHelpers.GetHashCode(row.Event) & (_shapes.Length - 1)];
        if (shape is not null && ReferenceEquals(shape.Event, row.Event) && TryKnownShape(row, payload, shape))
        {
            return;
        }
        int n = payload.Length;
        int words = (n + 63) >> 6;
        ulong[]? rented = null;
        Span<ulong> masks = words <= 8 ? stackalloc ulong[16] : (rented = ArrayPool<ulong>.Shared.Rent(2 * words));
        try
        {
            TokenMasks masked = new(payload, masks[..words], masks.Slice(words, words));
            int firstSpace = masked.NextSpace(0, n);
            int firstEquals = masked.NextEquals(0, firstSpace);
            if (firstEquals == firstSpace || firstEquals == 0)
            {
                AddArg(row, s_wholePayload, payload);
                return;
            }
            ReadOnlySpan<byte> key = default;
            int valueStart = -1;
            int valueEnd = -1;
            int pos = 0;
            // The fields in order (name start and end in the payload) for the event's shape, while they fit.
            Span<int> names = stackalloc int[2 * MaxShapeFields];
            int fields = 0;
            while (pos < n)
            {
                int tokenEnd = masked.NextSpace(pos, n);
                if (tokenEnd > pos)
                {
                    int eq = masked.NextEquals(pos, tokenEnd);
                    if (eq > pos && eq < tokenEnd)
                    {
                        Flush(row, key, payload, valueStart, valueEnd, ref fields);
                        key = payload[pos..eq];
                        if (fields < MaxShapeFields)
                        {
                            names[2 * fields] = pos;
                            names[(2 * fields) + 1] = eq;
                        }
                        valueStart = eq + 1;
                        valueEnd = tokenEnd;
                    }
                    else if (eq == pos && payload[pos..tokenEnd].SequenceEqual("==>"u8))
                    {
                        Flush(row, key, payload, valueStart, valueEnd, ref fields);
                        key = default;
                        valueStart = -1;
                    }
                    else if (valueStart >= 0)
                    {
                        valueEnd = tokenEnd;
                    }
                    else
                    {
                        AddArg(row, s_wholePayload, payload[pos..tokenEnd]);
                    }
                }
                pos = tokenEnd + 1;
            }
            Flush(row, key, payload, valueStart, valueEnd, ref fields);
            if (fields is > 0 and <= MaxShapeFields)
            {
                (shape ??= new KnownShape()).Learn(row.Event, payload, names[..(2 * fields)], _seenKeys.AsSpan(0, fields));
            }
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<ulong>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Where the spaces and the <c>=</c> signs of a payload are: bit <c>i % 64</c> of word <c>i / 64</c> per byte <c>i</c>.</summary>
    private readonly ref struct TokenMasks
    {
        private readonly ReadOnlySpan<ulong> _spaces;
        private readonly ReadOnlySpan<ulong> _equals;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public TokenMasks(ReadOnlySpan<byte> payload, Span<ulong> spaces, Span<ulong> equals)
        {
            Span<byte> last = stackalloc byte[64];
            for (int w = 0; w < spaces.Length; w++)
            {
                int at = w << 6;
                if (at + 64 <= payload.Length)
                {
                    Mask(payload.Slice(at, 64), out spaces[w], out equals[w]);
                }
                else
                {
                    // The last, partial 64 bytes: padded with NULs, which are neither.
                    last.Clear();
                    payload[at..].CopyTo(last);
                    Mask(last, out spaces[w], out equals[w]);
                }
            }
            _spaces = spaces;
            _equals = equals;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Mask(ReadOnlySpan<byte> chunk, out ulong spaces, out ulong equals)
        {
            Vector256<byte> low = Vector256.Create(chunk);
            Vector256<byte> high = Vector256.Create(chunk[32..]);
            Vector256<byte> space = Vector256.Create((byte)' ');
            Vector256<byte> equal = Vector256.Create((byte)'=');
            spaces = Vector256.Equals(low, space).ExtractMostSignificantBits() | ((ulong)Vector256.Equals(high, space).ExtractMostSignificantBits() << 32);
            equals = Vector256.Equals(low, equal).ExtractMostSignificantBits() | ((ulong)Vector256.Equals(high, equal).ExtractMostSignificantBits() << 32);
        }

        /// <summary>The first space at or after <paramref name="from"/> and before <paramref name="limit"/>, else <paramref name="limit"/>.</summary>
        public int NextSpace(int from, int limit) => Next(_spaces, from, limit);

        /// <summary>The first <c>=</c> at or after <paramref name="from"/> and before <paramref name="limit"/>, else <paramref name="limit"/>.</summary>
        public int NextEquals(int from, int limit) => Next(_equals, from, limit);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static int Next(ReadOnlySpan<ulong> mask, int from, int limit)
        {
            int w = from >> 6;
            if (w >= mask.Length)
            {
                return limit;
            }
            ulong bits = mask[w] & (ulong.MaxValue << (from & 63));
            while (bits == 0)
            {
                if (++w >= mask.Length || (w << 6) >= limit)
                {
                    return limit;
                }
                bits = mask[w];
            }
            int at = (w << 6) + BitOperations.TrailingZeroCount(bits);
            return at < limit ? at : limit;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Flush(EventRow row, ReadOnlySpan<byte> key, ReadOnlySpan<byte> payload, int valueStart, int valueEnd, ref int fields)
    {
        if (valueStart < 0)
        {
            return;
        }
        FieldKey field = _keys.Get(key);
        if (fields < MaxShapeFields)
        {
            _seenKeys[fields] = field;
        }
        fields++;
        SetField(row, field, TrimComma(payload[valueStart..valueEnd]));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ReadOnlySpan<byte> TrimComma(ReadOnlySpan<byte> value) =>
        value.Length > 0 && value[^1] == (byte)',' ? value[..^1] : value;

    /// <summary>
    /// Fills the fields of a payload whose words are exactly the event's remembered field list: every field but the
    /// last one word <c>name=value</c> followed by one space and the next name, and the last one's value running to
    /// the end without a <c>=</c> in it. Word by word (<see cref="ParseKeyValues"/>) such a payload gives the same
    /// fields, as each of its words but the last field's continuations has its first <c>=</c> after the name (names
    /// hold neither spaces nor <c>=</c>) and those continuations have none. False, with the row untouched, for any
    /// other payload.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private bool TryKnownShape(EventRow row, ReadOnlySpan<byte> payload, KnownShape shape)
    {
        Span<int> values = stackalloc int[2 * MaxShapeFields];
        if (!MatchShape(payload, shape, values))
        {
            return false;
        }
        for (int i = 0; i < shape.Count; i++)
        {
            SetField(row, shape.Fields[i], TrimComma(payload[values[2 * i]..values[(2 * i) + 1]]));
        }
        return true;
    }

    /// <summary>Where the values of <paramref name="payload"/> are (start, end per field) when it has <paramref name="shape"/>'s words (<see cref="TryKnownShape"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool MatchShape(ReadOnlySpan<byte> payload, KnownShape shape, Span<int> values)
    {
        int n = payload.Length;
        int count = shape.Count;
        int pos = 0;
        for (int i = 0; i < count; i++)
        {
            ReadOnlySpan<byte> name = shape.Name(i);
            int eq = pos + name.Length;
            if ((uint)eq >= (uint)n || payload[eq] != (byte)'=' || !payload.Slice(pos, name.Length).SequenceEqual(name))
            {
                return false;
            }
            int start = eq + 1;
            int end;
            if (i < count - 1)
            {
                // Most values are a few bytes: a plain loop beats a vector search's setup.
                end = start;
                while (end < n && payload[end] != (byte)' ')
                {
                    end++;
                }
                if (end == n)
                {
                    return false;
                }
                pos = end + 1;
            }
            else
            {
                if (payload[start..].Contains((byte)'='))
                {
                    return false;
                }
                end = n;
            }
            values[2 * i] = start;
            values[(2 * i) + 1] = end;
        }
        return true;
    }

    /// <summary>
    /// Writes the payload of event <paramref name="ev"/> (canonical, the string <see cref="Parse"/> would find in
    /// <see cref="EventRow.Event"/>) into the row <paramref name="segment"/> has begun, when it is a plain field list of
    /// the event's known shape: exactly the fields <see cref="Parse"/> would put into a row. False, with nothing
    /// written, for any other payload (events <see cref="Parse"/> treats on their own, a new shape, a shape that
    /// sets a typed column twice, no payload); the caller then parses the line into a row.
    /// </summary>
    /// <param name="segment">Gets the row.</param>
    /// <param name="ev">The event's canonical name.</param>
    /// <param name="payload">The printed payload (after <c>name: </c>).</param>
    /// <param name="begin">Begins the segment's row (its header fields); called only once the payload matched. This method ends the row.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal bool TryWriteKnownShape<TBegin>(EventSegment segment, string ev, ReadOnlySpan<byte> payload, ref TBegin begin)
        where TBegin : IRowStart, allows ref struct
    {
        payload = payload.Trim((byte)' ');
        if (payload.IsEmpty)
        {
            return false;
        }
        KnownShape? shape = _shapes[RuntimeHelpers.GetHashCode(ev) & (_shapes.Length - 1)];
        if (shape is null || !shape.Direct || !ReferenceEquals(shape.Event, ev))
        {
            return false;
        }
        Span<int> values = stackalloc int[2 * MaxShapeFields];
        if (!MatchShape(payload, shape, values))
        {
            return false;
        }
        begin.Begin(segment);
        for (int i = 0; i < shape.Count; i++)
        {
            FieldKey key = shape.Fields[i];
            ReadOnlySpan<byte> value = TrimComma(payload[values[2 * i]..values[(2 * i) + 1]]);
            if (key.Column is { } column && TryParseTyped(column, value, out long number, out string? text))
            {
                if (text is null)
                {
                    segment.SetInt64(column.Ordinal, number);
                }
                else
                {
                    segment.SetText(column.Ordinal, text);
                }
            }
            else if (!segment.TryAddArgUtf8(key.Arg, value))
            {
                segment.AddArg(key.Arg, Value(value));
            }
        }
        segment.EndRow();
        return true;
    }

    /// <summary>Begins a segment's row once its payload is known to go straight into the segment (<see cref="TryWriteKnownShape"/>).</summary>
    internal interface IRowStart
    {
        /// <summary>Calls <see cref="EventSegment.BeginRow"/> with the line's header fields.</summary>
        void Begin(EventSegment segment);
    }

    /// <summary>Stores one field: the typed column when the name has one and the value parses for its kind, else an argument.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void SetField(EventRow row, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value) => SetField(row, _keys.Get(name), value);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void SetField(EventRow row, FieldKey key, ReadOnlySpan<byte> value)
    {
        if (key.Column is { } column && TrySetTyped(row, column, value))
        {
            return;
        }
        AddArg(row, key.Arg, value);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private bool TrySetTyped(EventRow row, EventColumn column, ReadOnlySpan<byte> value)
    {
        if (!TryParseTyped(column, value, out long number, out string? text))
        {
            return false;
        }
        if (text is null)
        {
            row.SetInt64(column.Ordinal, number);
        }
        else
        {
            row.SetText(column.Ordinal, text);
        }
        return true;
    }

    /// <summary>
    /// The value of typed column <paramref name="column"/> from its printed <paramref name="value"/>: the raw 64 bits
    /// of a number or boolean, or the (shared) <paramref name="text"/> of a text column; false when it does not parse.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private bool TryParseTyped(EventColumn column, ReadOnlySpan<byte> value, out long number, out string? text)
    {
        text = null;
        ulong parsed;
        switch (column.Kind)
        {
            case ColumnKind.UInt64:
                // %p prints a per-boot 32-bit hash as 16 zero-padded hex digits without 0x; libtraceevent prints
                // 0x + the real value. The eight leading zeros tell a hash from a decimal number.
                if ((value.Length == 16 && value.StartsWith("00000000"u8) && AsciiNumber.TryParseHex(value, out parsed))
                    || AsciiNumber.TryParseInteger(value, out parsed))
                {
                    number = unchecked((long)parsed);
                    return true;
                }
                break;
            case ColumnKind.Int64:
            case ColumnKind.Int32:
                if (AsciiNumber.TryParseInteger(value, out parsed))
                {
                    number = unchecked((long)parsed);
                    return true;
                }
                break;
            case ColumnKind.Bool:
                if (value.SequenceEqual("true"u8) || value.SequenceEqual("1"u8))
                {
                    number = 1;
                    return true;
                }
                if (value.SequenceEqual("false"u8) || value.SequenceEqual("0"u8))
                {
                    number = 0;
                    return true;
                }
                break;
            case ColumnKind.Text:
                number = 0;
                text = _values.Get(value);
                return true;
        }
        number = 0;
        return false;
    }

    // A plain value goes into the row's args JSON as bytes (no string made, none cached); others as a string.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void AddArg(EventRow row, ArgName name, ReadOnlySpan<byte> value)
    {
        if (!row.TryAddArgUtf8(name, value))
        {
            row.AddArg(name.Name, Value(value));
        }
    }

    // Hashed pointers (mm_page_* page=) are unique per event: caching them would only evict the values that repeat.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private string Value(ReadOnlySpan<byte> value) =>
        value.Length == 16 && value.StartsWith("00000000"u8) ? Encoding.UTF8.GetString(value) : _values.Get(value);

    private static int Ordinal(string field) =>
        EventSchema.TryGetField(field, out var column) ? column.Ordinal : throw new InvalidOperationException($"Event schema lacks the {field} column.");

    /// <summary>The field names, in order, of an event's last <c>key=value</c> payload (<see cref="TryKnownShape"/>).</summary>
    private sealed class KnownShape
    {
        private byte[] _names = new byte[256];
        private readonly int[] _ends = new int[MaxShapeFields];

        public string Event { get; private set; } = "";

        public int Count { get; private set; }

        public FieldKey[] Fields { get; } = new FieldKey[MaxShapeFields];

        public ReadOnlySpan<byte> Name(int i)
        {
            int start = i == 0 ? 0 : _ends[i - 1];
            return _names.AsSpan(start, _ends[i] - start);
        }

        /// <summary>Remembers the names at <paramref name="names"/> (start and end in <paramref name="payload"/> per field) and their keys.</summary>
        public void Learn(string ev, ReadOnlySpan<byte> payload, ReadOnlySpan<int> names, ReadOnlySpan<FieldKey> fields)
        {
            int total = 0;
            for (int i = 0; i < fields.Length; i++)
            {
                total += names[(2 * i) + 1] - names[2 * i];
            }
            if (total > _names.Length)
            {
                _names = new byte[total];
            }
            int at = 0;
            for (int i = 0; i < fields.Length; i++)
            {
                ReadOnlySpan<byte> name = payload[names[2 * i]..names[(2 * i) + 1]];
                name.CopyTo(_names.AsSpan(at));
                at += name.Length;
                _ends[i] = at;
                Fields[i] = fields[i];
            }
            Count = fields.Length;
            Event = ev;
            Direct = !HandledApart(ev) && !SetsAColumnTwice(fields);
        }

        /// <summary>
        /// Whether a payload of this shape may go straight into a segment (<see cref="TryWriteKnownShape"/>): the event
        /// is not one <see cref="Parse"/> treats on its own, and no two fields set the same typed column (a row keeps
        /// the last; a segment takes each column once per row).
        /// </summary>
        public bool Direct { get; private set; }

        private static bool HandledApart(string ev) =>
            ev is "tlb:tlb_flush" or "filemap:mm_filemap_add_to_page_cache" or "filemap:mm_filemap_delete_from_page_cache"
                or "ftrace:print" or "ftrace:bprint" or "ftrace:bputs"
            || ev.StartsWith("syscalls:sys_", StringComparison.Ordinal);

        private static bool SetsAColumnTwice(ReadOnlySpan<FieldKey> fields)
        {
            ulong seen = 0;
            foreach (FieldKey field in fields)
            {
                if (field.Column is { } column)
                {
                    ulong bit = 1UL << column.Ordinal;
                    if ((seen & bit) != 0)
                    {
                        return true;
                    }
                    seen |= bit;
                }
            }
            return false;
        }
    }

    /// <summary>A field name with its typed column, looked up once per distinct name.</summary>
    private sealed class FieldKey
    {
        public FieldKey(string name)
        {
            Name = name;
            Arg = new ArgName(name);
            Column = EventSchema.TryGetField(name, out var column) ? column : null;
        }

        public string Name { get; }

        /// <summary>The name with its JSON, for args.</summary>
        public ArgName Arg { get; }

        public EventColumn? Column { get; }
    }
}
