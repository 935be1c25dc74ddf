using Pipeline.Storage;
using Pipeline.Storage.DuckDb;

namespace Pipeline.Replay.Lowering;

/// <summary>
/// Writes the ops lowered from a real trace as <c>ops.parquet</c>: one row per op with the seq of the event
/// that produced it, the op name, the main numeric fields and the op's <c>key=value</c> text as op traces print it.
/// </summary>
public static class LoweredOps
{
    /// <summary>File name inside the dataset directory.</summary>
    public const string FileName = "ops.parquet";

    /// <summary>Column names, in order.</summary>
    public static IReadOnlyList<string> Columns { get; } =
        ["op_index", "seq", "op", "tid", "cpu", "mm", "va", "new_va", "len", "pfn", "table_id", "idx", "obj", "level", "flags", "fields"];

    /// <summary>Streams ops into a staging table; <see cref="Complete"/> writes the Parquet file.</summary>
    public sealed class Writer : IOpSink, IDisposable
    {
        private readonly DuckDbConnection _connection;
        private readonly DuckDbAppender _appender;
        private long _index;
        private bool _closed;

        /// <summary>Creates the staging table on <paramref name="connection"/>.</summary>
        public Writer(DuckDbConnection connection)
        {
            ArgumentNullException.ThrowIfNull(connection);
            _connection = connection;
            connection.Execute("""
                CREATE OR REPLACE TEMP TABLE staged_ops (
                    op_index BIGINT, seq BIGINT, op VARCHAR, tid INTEGER, cpu INTEGER, mm INTEGER, va UBIGINT, new_va UBIGINT,
                    len UBIGINT, pfn UBIGINT, table_id INTEGER, idx INTEGER, obj INTEGER, level VARCHAR, flags UBIGINT, fields VARCHAR)
                """);
            _appender = connection.CreateAppender("staged_ops");
        }

        /// <inheritdoc />
        public void Task(int tid, string comm)
        {
        }

        /// <inheritdoc />
        public void Write(in Op op)
        {
            _appender.BeginRow()
                .Append(_index++)
                .Append(op.Seq)
                .Append(OpSpec.NameOf(op.Kind))
                .Append(op.Tid)
                .Append(op.Cpu)
                .Append(op.Mm)
                .Append(op.Va)
                .Append(op.NewVa)
                .Append(op.Len)
                .Append(op.Pfn)
                .Append(op.Table)
                .Append(op.Index)
                .Append(op.Obj)
                .Append(OpSpec.LevelName(op.Level))
                .Append((ulong)op.Flags)
                .Append(OpTraceWriter.FormatFields(op))
                .EndRow();
        }

        /// <summary>Writes the ops to <paramref name="path"/> (replaced atomically).</summary>
        public void Complete(string path)
        {
            Close();
            // Rows were appended in op_index order and DuckDB keeps insertion order (preserve_insertion_order, on
            // by default), so no ORDER BY: sorting every op again held a second copy of them and cost a third of
            // --keep-ops' time at 1 M events (docs/benchmarks.md, "Replay, third pass").
            DatasetFiles.WriteParquetAtomic(_connection, "SELECT * FROM staged_ops", path);
        }

        /// <summary>Drops the staging table.</summary>
        public void Dispose()
        {
            Close();
            _appender.Dispose();
            _connection.Execute("DROP TABLE IF EXISTS staged_ops");
        }

        private void Close()
        {
            if (!_closed)
            {
                _closed = true;
                _appender.Close();
            }
        }
    }
}
