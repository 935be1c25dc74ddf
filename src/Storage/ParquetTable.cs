using Parquet;
using Parquet.Schema;

namespace Pipeline.Storage;

/// <summary>
/// A small Parquet file (findings, mremaps, …) built column by column and written with Parquet.Net (zstd, one row
/// group) so that a reader never sees half a file: written to a temporary sibling, then renamed over the target.
/// The column types are the ones DuckDB then reports: <c>long</c> BIGINT, <c>ulong</c> UBIGINT, <c>int</c> INTEGER,
/// <c>bool</c> BOOLEAN, <c>string</c> VARCHAR, lists <c>INTEGER[]</c>/<c>BIGINT[]</c>/<c>VARCHAR[]</c>; nullable
/// overloads make nullable columns. Not for hot paths: values are materialized per column (events.parquet has its
/// own encoder, see <see cref="Parquet.EventParquetWriter"/>).
/// </summary>
/// <example>
/// <code>
/// new ParquetTable()
///     .Int64("seq", calls.Select(c => c.Seq))
///     .String("reason", calls.Select(c => c.Reason))
///     .Write(Path.Combine(dataset, "mremaps.parquet"));
/// </code>
/// </example>
public sealed class ParquetTable
{
    private readonly List<(Field Field, Func<ParquetRowGroupWriter, Task> Write)> _columns = [];
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private int? _rows;

    /// <summary>Rows of the table (0 before the first column).</summary>
    public int RowCount => _rows ?? 0;

    /// <summary>A BIGINT column.</summary>
    public ParquetTable Int64(string name, IEnumerable<long> values) => Scalar(name, values);

    /// <summary>A nullable BIGINT column.</summary>
    public ParquetTable Int64(string name, IEnumerable<long?> values) => Nullable(name, values);

    /// <summary>A UBIGINT column.</summary>
    public ParquetTable UInt64(string name, IEnumerable<ulong> values) => Scalar(name, values);

    /// <summary>A nullable UBIGINT column.</summary>
    public ParquetTable UInt64(string name, IEnumerable<ulong?> values) => Nullable(name, values);

    /// <summary>An INTEGER column.</summary>
    public ParquetTable Int32(string name, IEnumerable<int> values) => Scalar(name, values);

    /// <summary>A nullable INTEGER column.</summary>
    public ParquetTable Int32(string name, IEnumerable<int?> values) => Nullable(name, values);

    /// <summary>A BOOLEAN column.</summary>
    public ParquetTable Boolean(string name, IEnumerable<bool> values) => Scalar(name, values);

    /// <summary>A VARCHAR column (null values are NULL).</summary>
    public ParquetTable String(string name, IEnumerable<string?> values)
    {
        string?[] array = values.ToArray();
        var field = new DataField<string>(name, true);
        return Add(field, array.Length, writer => writer.WriteAsync(field, array!, null));
    }

    /// <summary>An INTEGER[] column (a null list is NULL, an empty one empty).</summary>
    public ParquetTable Int32List(string name, IEnumerable<IReadOnlyList<int>?> values) => List(name, values);

    /// <summary>A BIGINT[] column (a null list is NULL, an empty one empty).</summary>
    public ParquetTable Int64List(string name, IEnumerable<IReadOnlyList<long>?> values) => List(name, values);

    /// <summary>Writes the table to <paramref name="path"/>, replacing it atomically; on failure the target is untouched.</summary>
    /// <exception cref="InvalidOperationException">No column was added.</exception>
    public void Write(string path)
    {
        if (_columns.Count == 0)
        {
            throw new InvalidOperationException($"The table for {path} has no columns.");
        }
        string full = System.IO.Path.GetFullPath(path);
        string temporary = full + ".tmp-" + System.IO.Path.GetRandomFileName();
        try
        {
            WriteAsync(temporary).GetAwaiter().GetResult();
            File.Move(temporary, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporary))
            {
                File.Delete(temporary);
            }
        }
    }

    private async Task WriteAsync(string path)
    {
        var schema = new ParquetSchema(_columns.Select(c => c.Field));
        await using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
        await using (var writer = await ParquetWriter.CreateAsync(schema, stream, new ParquetOptions { CompressionMethod = CompressionMethod.Zstd }).ConfigureAwait(false))
        {
            // A table without rows is a file with the schema and no row group (DuckDB reads it as an empty table).
            if (RowCount > 0)
            {
                using ParquetRowGroupWriter group = writer.CreateRowGroup();
                foreach (var (_, write) in _columns)
                {
                    await write(group).ConfigureAwait(false);
                }
            }
        }
        await stream.FlushAsync().ConfigureAwait(false);
    }

    private ParquetTable Scalar<T>(string name, IEnumerable<T> values)
        where T : struct
    {
        T[] array = values.ToArray();
        var field = new DataField<T>(name, false);
        return Add(field, array.Length, writer => writer.WriteAsync<T>(field, array, null, null, default));
    }

    private ParquetTable Nullable<T>(string name, IEnumerable<T?> values)
        where T : struct
    {
        T?[] array = values.ToArray();
        var field = new DataField<T?>(name, true);
        return Add(field, array.Length, writer => writer.WriteAsync<T>(field, array, null, null, default));
    }

    private ParquetTable List<T>(string name, IEnumerable<IReadOnlyList<T>?> values)
        where T : struct
    {
        IReadOnlyList<T>?[] rows = values.ToArray();
        var element = new DataField<T>("element", false);
        var field = new ListField(name, element);
        return Add(field, rows.Length, writer =>
        {
            // Dremel levels: a list starts with repetition 0; definition 0 = NULL list, 1 = empty list, max = a value.
            int max = element.MaxDefinitionLevel;
            var flat = new List<T>();
            var definitions = new List<int>();
            var repetitions = new List<int>();
            foreach (IReadOnlyList<T>? row in rows)
            {
                if (row is null || row.Count == 0)
                {
                    definitions.Add(row is null ? 0 : 1);
                    repetitions.Add(0);
                    continue;
                }
                for (int i = 0; i < row.Count; i++)
                {
                    flat.Add(row[i]);
                    definitions.Add(max);
                    repetitions.Add(i == 0 ? 0 : 1);
                }
            }
            return writer.WriteAllPartsAsync<T>(element, flat.ToArray(), definitions.ToArray(), repetitions.ToArray(), default);
        });
    }

    private ParquetTable Add(Field field, int rows, Func<ParquetRowGroupWriter, Task> write)
    {
        if (!_names.Add(field.Name))
        {
            throw new ArgumentException($"The table already has a column '{field.Name}'.", nameof(field));
        }
        if (_rows is int expected && expected != rows)
        {
            throw new ArgumentException($"Column '{field.Name}' has {rows} values, the columns before it {expected}.", nameof(rows));
        }
        _rows = rows;
        _columns.Add((field, write));
        return this;
    }
}
