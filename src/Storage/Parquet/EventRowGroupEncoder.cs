using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace Pipeline.Storage.Parquet;

/// <summary>An encoded row group: its column chunks back to back, and their metadata.</summary>
internal sealed class EncodedRowGroup
{
    public long Index { get; set; }

    public int Rows { get; set; }

    public ByteBuffer Data { get; } = new(1 << 20);

    /// <summary>The chunks' metadata: a new array per encode, kept by the footer once the group is written.</summary>
    public ColumnChunkMeta[] Chunks { get; set; } = [];

    /// <summary>Rows per event name in this group.</summary>
    public List<KeyValuePair<string, long>> EventCounts { get; } = [];
}

/// <summary>
/// Encodes an <see cref="EventRowGroup"/> into Parquet column chunks: one zstd-compressed v1 data page per
/// chunk (after a dictionary page for dictionary columns), definition levels as the RLE/bit-packing hybrid,
/// values as <see cref="EventParquetLayout"/> says. One encoder per thread: it owns its scratch buffers and
/// its zstd context.
/// </summary>
internal sealed class EventRowGroupEncoder : IDisposable
{
    private const int DataPage = 0;
    private const int DictionaryPage = 2;

    private static readonly int[] s_plainEncodings = [(int)ParquetEncoding.Plain, (int)ParquetEncoding.Rle];
    private static readonly int[] s_dictionaryEncodings = [(int)ParquetEncoding.Plain, (int)ParquetEncoding.RleDictionary, (int)ParquetEncoding.Rle];
    private static readonly int[] s_deltaEncodings = [(int)ParquetEncoding.DeltaBinaryPacked, (int)ParquetEncoding.Rle];

    private readonly ZstdCompressor _zstd;
    private readonly ByteBuffer _page = new(1 << 20);
    private readonly ByteBuffer _compressed = new(1 << 20);
    private readonly ByteBuffer _header = new(256);
    private readonly ThriftCompactWriter _thrift;
    private readonly Dictionary<string, int> _dictionary = new(StringComparer.Ordinal);
    private readonly List<string> _entries = [];
    // The last few distinct values of a dictionary column and their indices, compared by reference before the
    // dictionary hashes the string: a trace.dat's per-CPU streams interleave a handful of comms and event names, so
    // "same as the previous row" alone sends most rows to the hash.
    private readonly string?[] _recentValues = new string?[8];
    private readonly int[] _recentIndices = new int[8];
    private byte[][] _bitmaps = [];
    private long[] _longs = [];
    private int[] _ints = [];

    public EventRowGroupEncoder(int compressionLevel)
    {
        _zstd = new ZstdCompressor(compressionLevel);
        _thrift = new ThriftCompactWriter(_header);
    }

    public void Dispose() => _zstd.Dispose();

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Encode(EventRowGroup group, EncodedRowGroup output)
    {
        output.Index = group.Index;
        output.Rows = group.Rows;
        output.Data.Clear();
        output.EventCounts.Clear();
        output.Chunks = new ColumnChunkMeta[EventParquetLayout.Columns.Count];
        int rows = group.Rows;
        BuildBitmaps(group);
        foreach (ParquetColumn column in EventParquetLayout.Columns)
        {
            int c = column.Column.Ordinal;
            var meta = new ColumnChunkMeta { NumValues = rows };
            output.Chunks[c] = meta;
            switch (c)
            {
                case EventSchema.Seq:
                    Span<long> seq = Longs(rows);
                    for (int i = 0; i < rows; i++)
                    {
                        seq[i] = group.FirstSeq + i;
                    }
                    WriteDelta(output, meta, seq);
                    break;
                case EventSchema.TsNs:
                    WriteDelta(output, meta, group.TsNs.AsSpan(0, rows));
                    break;
                case EventSchema.SrcPos:
                    WriteDelta(output, meta, group.SrcPos.AsSpan(0, rows));
                    break;
                case EventSchema.Cpu:
                    WriteRequiredInt32(output, meta, group.Cpu.AsSpan(0, rows));
                    break;
                case EventSchema.Pid:
                    WriteRequiredInt32(output, meta, group.Pid.AsSpan(0, rows));
                    break;
                case EventSchema.Comm:
                    WriteDictionary(output, meta, group.Comm.AsSpan(0, rows), rows, c, required: true);
                    break;
                case EventSchema.Event:
                    WriteDictionary(output, meta, group.Event.AsSpan(0, rows), rows, c, required: true);
                    CountEvents(output, rows);
                    break;
                default:
                    if (c == EventSchema.Args)
                    {
                        WriteArgs(output, meta, group, rows);
                    }
                    else if (c == EventSchema.Stack)
                    {
                        WriteStack(output, meta, group, rows);
                    }
                    else if (column.Type == PhysicalType.ByteArray)
                    {
                        WriteDictionary(output, meta, group.Texts[c].AsSpan(0, group.TextCounts[c]), rows, c, required: false);
                    }
                    else
                    {
                        WriteOptionalNumbers(output, meta, column, group.Numbers[c].AsSpan(0, group.NumberCounts[c]), rows);
                    }
                    break;
            }
        }
    }

    /// <summary>Rows per event name, from the indices <see cref="WriteDictionary"/> left in <see cref="_ints"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void CountEvents(EncodedRowGroup output, int rows)
    {
        Span<long> counts = Longs(_entries.Count);
        counts.Clear();
        foreach (int index in _ints.AsSpan(0, rows))
        {
            counts[index]++;
        }
        for (int i = 0; i < _entries.Count; i++)
        {
            output.EventCounts.Add(new KeyValuePair<string, long>(_entries[i], counts[i]));
        }
    }

    /// <summary>Presence bitmaps of the nullable columns in one pass over the row masks.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void BuildBitmaps(EventRowGroup group)
    {
        int bytes = (group.Rows + 7) / 8;
        if (_bitmaps.Length == 0)
        {
            _bitmaps = new byte[EventSchema.Columns.Count][];
            for (int c = 0; c < _bitmaps.Length; c++)
            {
                _bitmaps[c] = [];
            }
        }
        ulong nullable = EventParquetLayout.NullableMask;
        for (int c = 0; c < _bitmaps.Length; c++)
        {
            if ((nullable & (1UL << c)) == 0)
            {
                continue;
            }
            if (_bitmaps[c].Length < bytes)
            {
                _bitmaps[c] = new byte[bytes];
            }
            else
            {
                Array.Clear(_bitmaps[c], 0, bytes);
            }
        }
        ulong[] masks = group.Masks;
        byte[][] bitmaps = _bitmaps;
        for (int r = 0; r < group.Rows; r++)
        {
            ulong m = masks[r] & nullable;
            byte bit = (byte)(1 << (r & 7));
            int at = r >> 3;
            while (m != 0)
            {
                int c = BitOperations.TrailingZeroCount(m);
                m &= m - 1;
                bitmaps[c][at] |= bit;
            }
        }
    }

    private void WriteDelta(EncodedRowGroup output, ColumnChunkMeta meta, ReadOnlySpan<long> values)
    {
        meta.Encodings = s_deltaEncodings;
        _page.Clear();
        Encodings.WriteDeltaBinaryPacked(_page, values);
        SetMinMax(meta, values, unsigned: false, int32: false);
        meta.DataPageOffset = output.Data.Length;
        WritePage(output, meta, DataPage, values.Length, ParquetEncoding.DeltaBinaryPacked);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void WriteRequiredInt32(EncodedRowGroup output, ColumnChunkMeta meta, ReadOnlySpan<int> values)
    {
        meta.Encodings = s_plainEncodings;
        _page.Clear();
        _page.Write(MemoryMarshal.AsBytes(values));
        if (!values.IsEmpty)
        {
            (int min, int max) = MinMax(values, 0);
            meta.Min = Int32Bytes(min);
            meta.Max = Int32Bytes(max);
        }
        meta.DataPageOffset = output.Data.Length;
        WritePage(output, meta, DataPage, values.Length, ParquetEncoding.Plain);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void WriteOptionalNumbers(EncodedRowGroup output, ColumnChunkMeta meta, ParquetColumn column, ReadOnlySpan<long> values, int rows)
    {
        meta.Encodings = s_plainEncodings;
        meta.NullCount = rows - values.Length;
        _page.Clear();
        WriteDefinitionLevels(column.Column.Ordinal, values.Length, rows);
        switch (column.Type)
        {
            case PhysicalType.Int64:
                _page.Write(MemoryMarshal.AsBytes(values));
                SetMinMax(meta, values, column.Unsigned, int32: false);
                break;
            case PhysicalType.Int32:
                Span<byte> span = _page.GetSpan(values.Length * 4);
                for (int i = 0; i < values.Length; i++)
                {
                    BinaryPrimitives.WriteInt32LittleEndian(span[(i * 4)..], (int)values[i]);
                }
                _page.Advance(values.Length * 4);
                SetMinMax(meta, values, unsigned: false, int32: true);
                break;
            case PhysicalType.Boolean:
                Encodings.WriteBooleans(_page, values);
                if (!values.IsEmpty)
                {
                    bool any = false;
                    bool all = true;
                    foreach (long v in values)
                    {
                        any |= v != 0;
                        all &= v != 0;
                    }
                    meta.Min = [all ? (byte)1 : (byte)0];
                    meta.Max = [any ? (byte)1 : (byte)0];
                }
                break;
            default:
                throw new InvalidOperationException($"Column {column.Column.Name} is not numeric.");
        }
        meta.DataPageOffset = output.Data.Length;
        WritePage(output, meta, DataPage, rows, ParquetEncoding.Plain);
    }

    /// <summary>
    /// A dictionary page of the distinct values (first-seen order) and a data page of their indices.
    /// <paramref name="values"/> holds the non-null values; for a nullable column the levels come from its bitmap.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void WriteDictionary(EncodedRowGroup output, ColumnChunkMeta meta, ReadOnlySpan<string> values, int rows, int ordinal, bool required)
    {
        meta.NullCount = rows - values.Length;
        if (values.IsEmpty)
        {
            // All null: levels only, no dictionary to index.
            meta.Encodings = s_plainEncodings;
            _page.Clear();
            WriteDefinitionLevels(ordinal, 0, rows);
            meta.DataPageOffset = output.Data.Length;
            WritePage(output, meta, DataPage, rows, ParquetEncoding.Plain);
            return;
        }
        meta.Encodings = s_dictionaryEncodings;
        _dictionary.Clear();
        _entries.Clear();
        Span<int> indices = Ints(values.Length);
        string? last = null;
        int lastIndex = -1;
        string?[] recentValues = _recentValues;
        int nextRecent = 0;
        for (int i = 0; i < values.Length; i++)
        {
            string value = values[i];
            if (!ReferenceEquals(value, last))
            {
                int index = -1;
                for (int k = 0; k < recentValues.Length; k++)
                {
                    if (ReferenceEquals(recentValues[k], value))
                    {
                        index = _recentIndices[k];
                        break;
                    }
                }
                if (index < 0)
                {
                    ref int slot = ref CollectionsMarshal.GetValueRefOrAddDefault(_dictionary, value, out bool exists);
                    if (!exists)
                    {
                        slot = _entries.Count;
                        _entries.Add(value);
                    }
                    index = slot;
                    recentValues[nextRecent] = value;
                    _recentIndices[nextRecent] = index;
                    nextRecent = (nextRecent + 1) % recentValues.Length;
                }
                last = value;
                lastIndex = index;
            }
            indices[i] = lastIndex;
        }
        // Not kept past the column: a reused encoder must not hold a finished group's strings.
        Array.Clear(recentValues);
        _page.Clear();
        foreach (string entry in _entries)
        {
            WriteByteArray(_page, entry);
        }
        meta.DictionaryPageOffset = output.Data.Length;
        WritePage(output, meta, DictionaryPage, _entries.Count, ParquetEncoding.Plain);

        _page.Clear();
        if (!required)
        {
            WriteDefinitionLevels(ordinal, values.Length, rows);
        }
        int width = Math.Max(1, Encodings.BitWidth((ulong)Math.Max(0, _entries.Count - 1)));
        _page.WriteByte((byte)width);
        Encodings.WriteHybrid(_page, indices, width);
        meta.DataPageOffset = output.Data.Length;
        WritePage(output, meta, DataPage, rows, ParquetEncoding.RleDictionary);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void WriteArgs(EncodedRowGroup output, ColumnChunkMeta meta, EventRowGroup group, int rows)
    {
        meta.Encodings = s_plainEncodings;
        meta.NullCount = rows - group.ArgsCount;
        _page.Clear();
        WriteDefinitionLevels(EventSchema.Args, group.ArgsCount, rows);
        ReadOnlySpan<byte> bytes = group.ArgsBytes.Written;
        int at = 0;
        int deferredRow = 0;
        int deferredNumber = 0;
        for (int i = 0; i < group.ArgsCount; i++)
        {
            int length = group.ArgsLengths[i];
            if (length < 0)
            {
                // Args with numbers: printed here, on the encoder's thread (EventRowGroup.AddDeferredArgs).
                int lengthAt = _page.Length;
                _page.WriteInt32LittleEndian(0);
                deferredNumber = group.WriteDeferredArgs(_page, group.DeferredShapes[deferredRow++], deferredNumber);
                _page.PatchInt32LittleEndian(lengthAt, _page.Length - lengthAt - 4);
                continue;
            }
            _page.WriteInt32LittleEndian(length);
            _page.Write(bytes.Slice(at, length));
            at += length;
        }
        meta.DataPageOffset = output.Data.Length;
        WritePage(output, meta, DataPage, rows, ParquetEncoding.Plain);
    }

    /// <summary>
    /// The three-level list: per row a level entry for a null or empty stack, else one per frame; repetition
    /// 0 starts a row, 1 continues it; definition 0 null stack, 1 empty, 2 null frame, 3 frame.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void WriteStack(EncodedRowGroup output, ColumnChunkMeta meta, EventRowGroup group, int rows)
    {
        meta.Encodings = s_plainEncodings;
        int entries = rows - group.StackCount;
        for (int s = 0; s < group.StackCount; s++)
        {
            entries += Math.Max(1, group.StackLengths[s]);
        }
        Span<int> levels = Ints(2 * entries);
        Span<int> repetition = levels[..entries];
        Span<int> definition = levels[entries..];
        ulong[] masks = group.Masks;
        int e = 0;
        int stack = 0;
        int frame = 0;
        long nulls = 0;
        for (int r = 0; r < rows; r++)
        {
            if ((masks[r] & (1UL << EventSchema.Stack)) == 0)
            {
                repetition[e] = 0;
                definition[e++] = 0;
                nulls++;
                continue;
            }
            int length = group.StackLengths[stack++];
            if (length == 0)
            {
                repetition[e] = 0;
                definition[e++] = 1;
                continue;
            }
            for (int k = 0; k < length; k++)
            {
                repetition[e] = k == 0 ? 0 : 1;
                bool present = group.Frames[frame++] is not null;
                definition[e++] = present ? 3 : 2;
                nulls += present ? 0 : 1;
            }
        }
        meta.NullCount = nulls;
        meta.NumValues = entries;
        _page.Clear();
        WriteLevels(repetition, 1);
        WriteLevels(definition, 2);
        for (int f = 0; f < group.FrameCount; f++)
        {
            if (group.Frames[f] is string text)
            {
                WriteByteArray(_page, text);
            }
        }
        meta.DataPageOffset = output.Data.Length;
        WritePage(output, meta, DataPage, entries, ParquetEncoding.Plain);
    }

    /// <summary>Length-prefixed hybrid levels of a nullable flat column, from its presence bitmap.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void WriteDefinitionLevels(int ordinal, int present, int rows)
    {
        int start = _page.Length;
        _page.WriteInt32LittleEndian(0);
        if (present == 0 || present == rows)
        {
            if (rows > 0)
            {
                _page.WriteVarUInt64((ulong)rows << 1);
                _page.WriteByte(present == 0 ? (byte)0 : (byte)1);
            }
        }
        else
        {
            Encodings.WriteBitmapLevels(_page, _bitmaps[ordinal], rows);
        }
        _page.PatchInt32LittleEndian(start, _page.Length - start - 4);
    }

    private void WriteLevels(ReadOnlySpan<int> levels, int width)
    {
        int start = _page.Length;
        _page.WriteInt32LittleEndian(0);
        Encodings.WriteHybrid(_page, levels, width);
        _page.PatchInt32LittleEndian(start, _page.Length - start - 4);
    }

    /// <summary>Compresses <see cref="_page"/> and appends header and body to the chunk.</summary>
    private void WritePage(EncodedRowGroup output, ColumnChunkMeta meta, int pageType, int values, ParquetEncoding encoding)
    {
        _compressed.Clear();
        int compressed = _zstd.Compress(_page.Written, _compressed);
        _header.Clear();
        _thrift.BeginStruct();
        _thrift.I32Field(1, pageType);
        _thrift.I32Field(2, _page.Length);
        _thrift.I32Field(3, compressed);
        if (pageType == DataPage)
        {
            _thrift.StructField(5);
            _thrift.I32Field(1, values);
            _thrift.I32Field(2, (int)encoding);
            _thrift.I32Field(3, (int)ParquetEncoding.Rle);
            _thrift.I32Field(4, (int)ParquetEncoding.Rle);
            _thrift.EndStruct();
        }
        else
        {
            _thrift.StructField(7);
            _thrift.I32Field(1, values);
            _thrift.I32Field(2, (int)encoding);
            _thrift.EndStruct();
        }
        _thrift.EndStruct();
        output.Data.Write(_header.Written);
        output.Data.Write(_compressed.Written);
        meta.UncompressedSize += _header.Length + _page.Length;
        meta.CompressedSize += _header.Length + compressed;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WriteByteArray(ByteBuffer page, string text)
    {
        int length = Encoding.UTF8.GetByteCount(text);
        Span<byte> span = page.GetSpan(4 + length);
        BinaryPrimitives.WriteInt32LittleEndian(span, length);
        Encoding.UTF8.GetBytes(text, span[4..]);
        page.Advance(4 + length);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SetMinMax(ColumnChunkMeta meta, ReadOnlySpan<long> values, bool unsigned, bool int32)
    {
        if (values.IsEmpty)
        {
            return;
        }
        // Unsigned order is the signed order of the values with the sign bit flipped.
        long flip = unsigned ? long.MinValue : 0;
        (long smin, long smax) = MinMax(values, flip);
        meta.Min = int32 ? Int32Bytes((int)smin) : Int64Bytes(smin);
        meta.Max = int32 ? Int32Bytes((int)smax) : Int64Bytes(smax);
    }

    /// <summary>
    /// The smallest and largest of <paramref name="values"/> (not empty) in the order of <c>value ^ flip</c>, with
    /// vectors: the statistics of every numeric column of every row group, a loop the JIT does not vectorize.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static (T Min, T Max) MinMax<T>(ReadOnlySpan<T> values, T flip)
        where T : unmanaged, IBinaryInteger<T>, IMinMaxValue<T>
    {
        T min = T.MaxValue;
        T max = T.MinValue;
        int i = 0;
        if (Vector.IsHardwareAccelerated && values.Length >= 2 * Vector<T>.Count)
        {
            var flips = new Vector<T>(flip);
            var vmin = new Vector<T>(T.MaxValue);
            var vmax = new Vector<T>(T.MinValue);
            ReadOnlySpan<Vector<T>> vectors = MemoryMarshal.Cast<T, Vector<T>>(values);
            foreach (Vector<T> v in vectors)
            {
                Vector<T> x = v ^ flips;
                vmin = Vector.Min(vmin, x);
                vmax = Vector.Max(vmax, x);
            }
            for (int k = 0; k < Vector<T>.Count; k++)
            {
                min = T.Min(min, vmin[k]);
                max = T.Max(max, vmax[k]);
            }
            i = vectors.Length * Vector<T>.Count;
        }
        for (; i < values.Length; i++)
        {
            T x = values[i] ^ flip;
            min = T.Min(min, x);
            max = T.Max(max, x);
        }
        return (min ^ flip, max ^ flip);
    }

    private static byte[] Int64Bytes(long value)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, value);
        return bytes;
    }

    private static byte[] Int32Bytes(int value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(bytes, value);
        return bytes;
    }

    private Span<long> Longs(int count)
    {
        if (_longs.Length < count)
        {
            _longs = new long[count];
        }
        return _longs.AsSpan(0, count);
    }

    private Span<int> Ints(int count)
    {
        if (_ints.Length < count)
        {
            _ints = new int[Math.Max(count, 1024)];
        }
        return _ints.AsSpan(0, count);
    }
}
