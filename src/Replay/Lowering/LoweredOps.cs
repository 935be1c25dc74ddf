using System.Collections.Concurrent;
using System.Text;
using Parquet;
using Parquet.Schema;

namespace Pipeline.Replay.Lowering;

/// <summary>
/// Writes the ops lowered from a real trace as <c>ops.parquet</c>: one row per op with the seq of the event
/// that produced it, the op name, the main numeric fields and the op's <c>key=value</c> text as op traces print it.
/// </summary>
public static class LoweredOps
{
    /// <summary>File name inside the dataset directory.</summary>
    public const string FileName = "ops.parquet";

    /// <summary>Rows per row group: DuckDB's default, which wrote this file before (so readers split work the same way).</summary>
    public const int DefaultRowGroupSize = 122_880;

    /// <summary>Column names, in order.</summary>
    public static IReadOnlyList<string> Columns { get; } =
        ["op_index", "seq", "op", "tid", "cpu", "mm", "va", "new_va", "len", "pfn", "table_id", "idx", "obj", "level", "flags", "fields"];

    /// <summary>
    /// Streams ops into <c>ops.parquet</c> with Parquet.Net: the lowering's thread copies each op into the row group
    /// being filled (one struct store); a full group goes to an encoder thread that turns it into columns (names,
    /// the <c>fields</c> text) and appends it to the file, so memory holds at most three groups whatever the trace's
    /// size. The file is written beside <c>path</c> under a temporary name and renamed into place by
    /// <see cref="Complete"/>; disposing without it (an error, a cancellation) stops the encoder and deletes it.
    /// </summary>
    /// <remarks>
    /// Every column is OPTIONAL (never null), as DuckDB's <c>COPY … TO</c> wrote them when this file went through a
    /// DuckDB appender, staging table and COPY: that path made <c>--keep-ops</c> cost ~6× the CPU of a plain replay,
    /// most of it DuckDB's, all but the COPY on the lowering's thread (docs/benchmarks.md, "--keep-ops (s35-keepops)").
    /// </remarks>
    public sealed class Writer : IOpSink, IDisposable
    {
        private static readonly DataField s_opIndex = new DataField<long?>("op_index");
        private static readonly DataField s_seq = new DataField<long?>("seq");
        private static readonly DataField s_op = new DataField<string>("op", true);
        private static readonly DataField s_tid = new DataField<int?>("tid");
        private static readonly DataField s_cpu = new DataField<int?>("cpu");
        private static readonly DataField s_mm = new DataField<int?>("mm");
        private static readonly DataField s_va = new DataField<ulong?>("va");
        private static readonly DataField s_newVa = new DataField<ulong?>("new_va");
        private static readonly DataField s_len = new DataField<ulong?>("len");
        private static readonly DataField s_pfn = new DataField<ulong?>("pfn");
        private static readonly DataField s_table = new DataField<int?>("table_id");
        private static readonly DataField s_idx = new DataField<int?>("idx");
        private static readonly DataField s_obj = new DataField<int?>("obj");
        private static readonly DataField s_level = new DataField<string>("level", true);
        private static readonly DataField s_flags = new DataField<ulong?>("flags");
        private static readonly DataField s_fields = new DataField<string>("fields", true);
        private static readonly ParquetSchema s_schema = new(
            s_opIndex, s_seq, s_op, s_tid, s_cpu, s_mm, s_va, s_newVa, s_len, s_pfn, s_table, s_idx, s_obj, s_level, s_flags, s_fields);

        private readonly string _path;
        private readonly string _temporary;
        private readonly int _rowGroupSize;
        private readonly BlockingCollection<Group> _full = new(boundedCapacity: 1);
        private readonly ConcurrentBag<Group> _free = [];
        private readonly Thread _encoder;
        private FileStream? _file;
        private Group _current;
        private long _index;
        private volatile Exception? _failure;
        private volatile bool _aborted;
        private bool _completed;
        private bool _disposed;

        /// <summary>Starts writing the ops file that <see cref="Complete"/> will put at <paramref name="path"/>.</summary>
        /// <param name="path">Where the file goes; replaced atomically by <see cref="Complete"/>.</param>
        /// <param name="rowGroupSize">Rows per row group.</param>
        public Writer(string path, int rowGroupSize = DefaultRowGroupSize)
        {
            ArgumentException.ThrowIfNullOrEmpty(path);
            ArgumentOutOfRangeException.ThrowIfLessThan(rowGroupSize, 1);
            _path = Path.GetFullPath(path);
            _temporary = _path + ".tmp-" + Path.GetRandomFileName();
            _rowGroupSize = rowGroupSize;
            _file = new FileStream(_temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
            _current = new Group(rowGroupSize);
            _encoder = new Thread(Encode) { IsBackground = true, Name = "ops.parquet encoder" };
            _encoder.Start();
        }

        /// <summary>Ops written so far.</summary>
        public long Count => _index;

        /// <inheritdoc />
        public void Task(int tid, string comm)
        {
        }

        /// <inheritdoc />
        public void Write(in Op op)
        {
            ObjectDisposedException.ThrowIf(_disposed || _completed, this);
            _current.Ops[_current.Count++] = op;
            _index++;
            if (_current.Count == _rowGroupSize)
            {
                HandOff();
            }
        }

        /// <summary>Writes the last row group and the footer, and renames the file to its path (replacing it).</summary>
        /// <exception cref="IOException">The file could not be written (the encoder's error, rethrown).</exception>
        public void Complete()
        {
            ObjectDisposedException.ThrowIf(_disposed || _completed, this);
            if (_current.Count > 0)
            {
                HandOff();
            }
            _full.CompleteAdding();
            _encoder.Join();
            ThrowIfFailed();
            _file!.Dispose();
            _file = null;
            File.Move(_temporary, _path, overwrite: true);
            _completed = true;
        }

        /// <summary>Stops the encoder; without <see cref="Complete"/> the partial file is deleted.</summary>
        public void Dispose()
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            if (!_full.IsAddingCompleted)
            {
                _aborted = true;
                _full.CompleteAdding();
            }
            _encoder.Join();
            _full.Dispose();
            _file?.Dispose();
            if (File.Exists(_temporary))
            {
                File.Delete(_temporary);
            }
        }

        private void HandOff()
        {
            ThrowIfFailed();
            _full.Add(_current);
            _current = _free.TryTake(out var group) ? group : new Group(_rowGroupSize);
            _current.Count = 0;
            _current.FirstIndex = _index;
        }

        private void ThrowIfFailed()
        {
            if (_failure is { } failure)
            {
                throw new IOException($"Writing '{_path}' failed: {failure.Message}", failure);
            }
        }

        private void Encode()
        {
            try
            {
                EncodeAsync().GetAwaiter().GetResult();
            }
#pragma warning disable CA1031 // Any failure (a full disk, say) is rethrown on the lowering's thread by the next hand-off or Complete.
            catch (Exception e)
#pragma warning restore CA1031
            {
                _failure ??= e;
                // The lowering's thread sees the failure at its next hand-off; until then it must not block on a full queue.
                foreach (var _ in _full.GetConsumingEnumerable())
                {
                }
            }
        }

        private async Task EncodeAsync()
        {
            var columns = new Columns(_rowGroupSize);
            await using var writer = await ParquetWriter.CreateAsync(s_schema, _file!, Options()).ConfigureAwait(false);
            foreach (var group in _full.GetConsumingEnumerable())
            {
                if (_aborted)
                {
                    continue;
                }
                columns.Fill(group);
                _free.Add(group);
                await columns.WriteAsync(writer).ConfigureAwait(false);
            }
        }

        /// <summary>
        /// zstd at its fastest level (smaller than DuckDB's file, 10.2 MB instead of 12.7 MB for 1.97 M ops, where Snappy
        /// gave 25 MB); op_index and seq delta-encoded (they ascend), op and level as dictionaries (a few dozen names).
        /// </summary>
        private static ParquetOptions Options()
        {
            var options = new ParquetOptions { CompressionMethod = CompressionMethod.Zstd, CompressionLevel = System.IO.Compression.CompressionLevel.Fastest };
            options.ColumnEncodingHints[s_opIndex.Path.ToString()] = EncodingHint.DeltaBinaryPacked;
            options.ColumnEncodingHints[s_seq.Path.ToString()] = EncodingHint.DeltaBinaryPacked;
            options.ColumnEncodingHints[s_op.Path.ToString()] = EncodingHint.Dictionary;
            options.ColumnEncodingHints[s_level.Path.ToString()] = EncodingHint.Dictionary;
            return options;
        }

        /// <summary>Ops of one row group, as the lowering made them.</summary>
        private sealed class Group(int size)
        {
            public readonly Op[] Ops = new Op[size];
            public int Count;
            public long FirstIndex;
        }

        /// <summary>One row group's columns, reused from group to group.</summary>
        private sealed class Columns(int size)
        {
            private readonly long[] _opIndex = new long[size];
            private readonly long[] _seq = new long[size];
            private readonly ReadOnlyMemory<char>?[] _op = new ReadOnlyMemory<char>?[size];
            private readonly int[] _tid = new int[size];
            private readonly int[] _cpu = new int[size];
            private readonly int[] _mm = new int[size];
            private readonly ulong[] _va = new ulong[size];
            private readonly ulong[] _newVa = new ulong[size];
            private readonly ulong[] _len = new ulong[size];
            private readonly ulong[] _pfn = new ulong[size];
            private readonly int[] _table = new int[size];
            private readonly int[] _idx = new int[size];
            private readonly int[] _obj = new int[size];
            private readonly ReadOnlyMemory<char>?[] _level = new ReadOnlyMemory<char>?[size];
            private readonly ulong[] _flags = new ulong[size];
            private readonly ReadOnlyMemory<char>?[] _fields = new ReadOnlyMemory<char>?[size];
            private readonly StringBuilder _text = new(128);

            // The fields text of the group, one slice per row: no string per op (they were a third of the encoder's time).
            private char[] _chars = new char[size * 32];

            // Definition level 1 for every row: each OPTIONAL column is set in every row.
            private readonly int[] _defined = Enumerable.Repeat(1, size).ToArray();
            private int _count;

            public void Fill(Group group)
            {
                _count = group.Count;
                int used = 0;
                for (int i = 0; i < _count; i++)
                {
                    ref readonly Op op = ref group.Ops[i];
                    _opIndex[i] = group.FirstIndex + i;
                    _seq[i] = op.Seq;
                    _op[i] = OpSpec.NameOf(op.Kind).AsMemory();
                    _tid[i] = op.Tid;
                    _cpu[i] = op.Cpu;
                    _mm[i] = op.Mm;
                    _va[i] = op.Va;
                    _newVa[i] = op.NewVa;
                    _len[i] = op.Len;
                    _pfn[i] = op.Pfn;
                    _table[i] = op.Table;
                    _idx[i] = op.Index;
                    _obj[i] = op.Obj;
                    _level[i] = OpSpec.LevelName(op.Level).AsMemory();
                    _flags[i] = (ulong)op.Flags;
                    _text.Clear();
                    OpTraceWriter.AppendFields(_text, op);
                    if (used + _text.Length > _chars.Length)
                    {
                        // Rows before keep the old array (their slices point into it); this and later rows use the new one.
                        _chars = new char[Math.Max(_chars.Length * 2, _text.Length)];
                        used = 0;
                    }
                    _text.CopyTo(0, _chars.AsSpan(used), _text.Length);
                    _fields[i] = _chars.AsMemory(used, _text.Length);
                    used += _text.Length;
                }
            }

            public async Task WriteAsync(ParquetWriter writer)
            {
                using ParquetRowGroupWriter group = writer.CreateRowGroup();
                await Defined(group, s_opIndex, _opIndex).ConfigureAwait(false);
                await Defined(group, s_seq, _seq).ConfigureAwait(false);
                await Text(group, s_op, _op).ConfigureAwait(false);
                await Defined(group, s_tid, _tid).ConfigureAwait(false);
                await Defined(group, s_cpu, _cpu).ConfigureAwait(false);
                await Defined(group, s_mm, _mm).ConfigureAwait(false);
                await Defined(group, s_va, _va).ConfigureAwait(false);
                await Defined(group, s_newVa, _newVa).ConfigureAwait(false);
                await Defined(group, s_len, _len).ConfigureAwait(false);
                await Defined(group, s_pfn, _pfn).ConfigureAwait(false);
                await Defined(group, s_table, _table).ConfigureAwait(false);
                await Defined(group, s_idx, _idx).ConfigureAwait(false);
                await Defined(group, s_obj, _obj).ConfigureAwait(false);
                await Text(group, s_level, _level).ConfigureAwait(false);
                await Defined(group, s_flags, _flags).ConfigureAwait(false);
                await Text(group, s_fields, _fields).ConfigureAwait(false);
            }

            // An OPTIONAL column whose every row is set: the values and a definition level of 1 per row.
            private Task Defined<T>(ParquetRowGroupWriter group, DataField field, T[] values)
                where T : struct =>
                group.WriteAllPartsAsync<T>(field, values.AsMemory(0, _count), _defined.AsMemory(0, _count), null, default);

            private Task Text(ParquetRowGroupWriter group, DataField field, ReadOnlyMemory<char>?[] values) =>
                group.WriteAsync<ReadOnlyMemory<char>>(field, values.AsMemory(0, _count));
        }
    }
}
