using System.Text;
using Parquet;
using Parquet.Schema;
using Pipeline.Storage;

namespace Pipeline.Benchmarks;

/// <summary>
/// The events table written with Parquet.Net's columnar API, as the comparison for our own encoder
/// (<see cref="Storage.Parquet.EventParquetWriter"/>): the same 47 columns and types (seq in write order), one row
/// group per <see cref="RowGroupRows"/> rows, zstd. Column values are collected per row group, then written
/// column by column on the caller's thread (Parquet.Net encodes the row groups of one file one after another).
/// </summary>
internal sealed class ParquetNetEventWriter : IDisposable
{
    public const int RowGroupRows = 122_880;

    private readonly FileStream _stream;
    private readonly ParquetWriter _writer;
    private readonly Field[] _fields;
    private readonly DataField[] _leaves;
    private readonly JsonArgs _json = new();
    private readonly List<long> _seq = [];
    private readonly List<long> _tsNs = [];
    private readonly List<int> _cpu = [];
    private readonly List<int> _pid = [];
    private readonly List<int?> _tgid = [];
    private readonly List<string?> _comm = [];
    private readonly List<string?> _event = [];
    private readonly List<string?> _irqFlags = [];
    private readonly List<long> _srcPos = [];
    private readonly List<long?>[] _numbers;
    private readonly List<string?>[] _texts;
    private readonly List<string?> _args = [];
    private readonly List<IReadOnlyList<string>?> _stacks = [];
    private long _count;

    public ParquetNetEventWriter(string path)
    {
        var columns = EventSchema.Columns;
        _fields = new Field[columns.Count];
        _leaves = new DataField[columns.Count];
        for (int i = 0; i < columns.Count; i++)
        {
            var column = columns[i];
            bool required = i is EventSchema.Seq or EventSchema.TsNs or EventSchema.Cpu or EventSchema.Pid or EventSchema.Comm or EventSchema.Event or EventSchema.SrcPos;
            DataField leaf = column.Kind switch
            {
                ColumnKind.Int64 => required ? new DataField<long>(column.Name, false) : new DataField<long?>(column.Name, true),
                ColumnKind.UInt64 => new DataField<ulong?>(column.Name, true),
                ColumnKind.Int32 => required ? new DataField<int>(column.Name, false) : new DataField<int?>(column.Name, true),
                ColumnKind.Bool => new DataField<bool?>(column.Name, true),
                ColumnKind.Text => new DataField<string>(column.Name, !required),
                _ => new DataField<string>("element", true),
            };
            _leaves[i] = leaf;
            _fields[i] = column.Kind == ColumnKind.TextList ? new ListField(column.Name, leaf) : leaf;
        }
        _numbers = new List<long?>[columns.Count];
        _texts = new List<string?>[columns.Count];
        for (int i = EventSchema.FirstField; i < EventSchema.Args; i++)
        {
            _numbers[i] = [];
            _texts[i] = [];
        }
        _stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        // The encodings our encoder picks, so the comparison is of writers, not of encoding choices: DELTA_BINARY_PACKED
        // for the growing 64-bit columns, and a dictionary only where a sample says it pays. Without these,
        // Parquet.Net hashes every value of seq and ts_ns (all distinct) into a dictionary before giving up on it,
        // which made it 60x slower than our encoder instead of a few times.
        var options = new ParquetOptions { CompressionMethod = CompressionMethod.Zstd, DictionaryEncodingSampleSize = 1024 };
        foreach (int growing in (ReadOnlySpan<int>)[EventSchema.Seq, EventSchema.TsNs, EventSchema.SrcPos])
        {
            options.ColumnEncodingHints[_leaves[growing].Path.ToString()] = EncodingHint.DeltaBinaryPacked;
        }
        _writer = ParquetWriter.CreateAsync(new ParquetSchema(_fields), _stream, options).GetAwaiter().GetResult();
    }

    public long Count => _count;

    public void Write(EventRow row)
    {
        _seq.Add(_count++);
        _tsNs.Add(row.TsNs);
        _cpu.Add(row.Cpu);
        _pid.Add(row.Pid);
        _tgid.Add(row.Tgid);
        _comm.Add(row.Comm);
        _event.Add(row.Event);
        _irqFlags.Add(row.IrqFlags);
        _srcPos.Add(row.SrcPos);
        for (int c = EventSchema.FirstField; c < EventSchema.Args; c++)
        {
            if (EventSchema.Columns[c].Kind == ColumnKind.Text)
            {
                _texts[c].Add(row.GetText(c));
            }
            else
            {
                _numbers[c].Add(row.IsSet(c) ? row.GetInt64(c) : null);
            }
        }
        _args.Add(row.Args.Count > 0 ? Encoding.UTF8.GetString(_json.Serialize(row.Args)) : null);
        _stacks.Add(row.Stack);
        if (_seq.Count == RowGroupRows)
        {
            Flush();
        }
    }

    public void Complete()
    {
        Flush();
        _writer.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _stream.Dispose();
    }

    public void Dispose()
    {
        _stream.Dispose();
    }

    private void Flush()
    {
        if (_seq.Count == 0)
        {
            return;
        }
        FlushAsync().GetAwaiter().GetResult();
        _seq.Clear();
        _tsNs.Clear();
        _cpu.Clear();
        _pid.Clear();
        _tgid.Clear();
        _comm.Clear();
        _event.Clear();
        _irqFlags.Clear();
        _srcPos.Clear();
        for (int i = EventSchema.FirstField; i < EventSchema.Args; i++)
        {
            _numbers[i].Clear();
            _texts[i].Clear();
        }
        _args.Clear();
        _stacks.Clear();
    }

    private async Task FlushAsync()
    {
        using ParquetRowGroupWriter group = _writer.CreateRowGroup();
        await group.WriteAsync<long>(_leaves[EventSchema.Seq], _seq.ToArray(), null, null, default);
        await group.WriteAsync<long>(_leaves[EventSchema.TsNs], _tsNs.ToArray(), null, null, default);
        await group.WriteAsync<int>(_leaves[EventSchema.Cpu], _cpu.ToArray(), null, null, default);
        await group.WriteAsync<int>(_leaves[EventSchema.Pid], _pid.ToArray(), null, null, default);
        await group.WriteAsync<int>(_leaves[EventSchema.Tgid], _tgid.ToArray(), null, null, default);
        await group.WriteAsync(_leaves[EventSchema.Comm], _comm!, null);
        await group.WriteAsync(_leaves[EventSchema.Event], _event!, null);
        await group.WriteAsync(_leaves[EventSchema.IrqFlags], _irqFlags!, null);
        await group.WriteAsync<long>(_leaves[EventSchema.SrcPos], _srcPos.ToArray(), null, null, default);
        for (int c = EventSchema.FirstField; c < EventSchema.Args; c++)
        {
            DataField leaf = _leaves[c];
            switch (EventSchema.Columns[c].Kind)
            {
                case ColumnKind.Text:
                    await group.WriteAsync(leaf, _texts[c]!, null);
                    break;
                case ColumnKind.UInt64:
                    await group.WriteAsync<ulong>(leaf, _numbers[c].Select(v => v is long x ? unchecked((ulong)x) : (ulong?)null).ToArray(), null, null, default);
                    break;
                case ColumnKind.Int32:
                    await group.WriteAsync<int>(leaf, _numbers[c].Select(v => v is long x ? (int)x : (int?)null).ToArray(), null, null, default);
                    break;
                case ColumnKind.Bool:
                    await group.WriteAsync<bool>(leaf, _numbers[c].Select(v => v is long x ? x != 0 : (bool?)null).ToArray(), null, null, default);
                    break;
                default:
                    await group.WriteAsync<long>(leaf, _numbers[c].ToArray(), null, null, default);
                    break;
            }
        }
        await group.WriteAsync(_leaves[EventSchema.Args], _args!, null);
        // stack: a three-level list of optional strings; definition 0 = NULL list, 1 = empty, 3 = a frame.
        var frames = new List<ReadOnlyMemory<char>>();
        var definitions = new List<int>();
        var repetitions = new List<int>();
        int max = _leaves[EventSchema.Stack].MaxDefinitionLevel;
        foreach (IReadOnlyList<string>? stack in _stacks)
        {
            if (stack is null || stack.Count == 0)
            {
                definitions.Add(stack is null ? 0 : 1);
                repetitions.Add(0);
                continue;
            }
            for (int i = 0; i < stack.Count; i++)
            {
                frames.Add(stack[i].AsMemory());
                definitions.Add(max);
                repetitions.Add(i == 0 ? 0 : 1);
            }
        }
        await group.WriteAllPartsAsync<ReadOnlyMemory<char>>(_leaves[EventSchema.Stack], frames.ToArray(), definitions.ToArray(), repetitions.ToArray(), default);
    }
}
