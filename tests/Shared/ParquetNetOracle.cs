using System.Globalization;
using Parquet;
using Parquet.Data;
using Parquet.Schema;
using Pipeline.Storage.DuckDb;

namespace Pipeline.Tests.Shared;

/// <summary>
/// A second, independent reader for the Parquet files our own encoder writes: Parquet.Net reads every column of
/// every row group, and each cell must equal what DuckDB's <c>read_parquet</c> returns for the same file (same
/// rows in the same order, same NULLs, same list elements).
/// </summary>
internal static class ParquetNetOracle
{
    /// <summary>Asserts Parquet.Net and DuckDB read <paramref name="path"/> identically; returns the row count.</summary>
    public static long AssertSameAsDuckDb(string path)
    {
        var (columns, parquetNet) = ReadWithParquetNet(path);
        using var connection = DuckDbConnection.OpenInMemory();
        using DuckDbReader reader = connection.Query("SELECT * FROM read_parquet(?)", path);
        Assert.Equal(columns, Enumerable.Range(0, reader.FieldCount).Select(reader.GetName));
        long row = 0;
        while (reader.Read())
        {
            Assert.True(row < parquetNet.Count, $"{path}: DuckDB reads more than Parquet.Net's {parquetNet.Count} rows");
            for (int c = 0; c < columns.Count; c++)
            {
                string duck = Format(reader.GetValue(c));
                string net = parquetNet[(int)row][c];
                if (duck != net)
                {
                    Assert.Fail($"{path}: row {row}, column {columns[c]}: DuckDB reads {duck}, Parquet.Net {net}");
                }
            }
            row++;
        }
        Assert.Equal(parquetNet.Count, row);
        return row;
    }

    /// <summary>Every row as formatted cells, in file order, read with Parquet.Net alone.</summary>
    public static (List<string> Columns, List<string[]> Rows) ReadWithParquetNet(string path) =>
        ReadAsync(path).GetAwaiter().GetResult();

    private static async Task<(List<string>, List<string[]>)> ReadAsync(string path)
    {
        await using ParquetReader file = await ParquetReader.CreateAsync(path);
        // Top-level columns: a LIST column has one leaf (its element); the name is the top-level field's.
        var top = file.Schema.Fields.ToList();
        var leaves = file.Schema.GetDataFields();
        Assert.Equal(top.Count, leaves.Length);
        var rows = new List<string[]>();
        for (int g = 0; g < file.RowGroupCount; g++)
        {
            using ParquetRowGroupReader group = file.OpenRowGroupReader(g);
            int count = checked((int)group.RowCount);
            var cells = new string[count][];
            for (int r = 0; r < count; r++)
            {
                cells[r] = new string[leaves.Length];
            }
            for (int c = 0; c < leaves.Length; c++)
            {
                string[] column = await ReadColumnAsync(group, leaves[c], count);
                for (int r = 0; r < count; r++)
                {
                    cells[r][c] = column[r];
                }
            }
            rows.AddRange(cells);
        }
        return (top.Select(f => f.Name).ToList(), rows);
    }

    private static async Task<string[]> ReadColumnAsync(ParquetRowGroupReader group, DataField field, int rows)
    {
        using RawColumnData raw = await group.ReadRawColumnDataBaseAsync(field, default);
        string[] values = raw switch
        {
            RawColumnData<long> v => v.Values.ToArray().Select(x => x.ToString(CultureInfo.InvariantCulture)).ToArray(),
            RawColumnData<int> v => v.Values.ToArray().Select(x => x.ToString(CultureInfo.InvariantCulture)).ToArray(),
            RawColumnData<ulong> v => v.Values.ToArray().Select(x => x.ToString(CultureInfo.InvariantCulture)).ToArray(),
            RawColumnData<bool> v => v.Values.ToArray().Select(x => x ? "true" : "false").ToArray(),
            RawColumnData<ReadOnlyMemory<char>> v => v.Values.ToArray().Select(x => Quote(x.ToString())).ToArray(),
            _ => throw new NotSupportedException($"{field.Path}: Parquet.Net gave {raw.GetType().Name}"),
        };
        int max = field.MaxDefinitionLevel;
        int[] definitions = max > 0 ? raw.DefinitionLevels.ToArray() : Enumerable.Repeat(0, rows).ToArray();
        var result = new string[rows];
        int value = 0;
        if (field.MaxRepetitionLevel == 0)
        {
            Assert.Equal(rows, definitions.Length);
            for (int r = 0; r < rows; r++)
            {
                // Values are packed: only entries at the maximum definition level have one.
                result[r] = definitions[r] == max ? values[value++] : "NULL";
            }
            return result;
        }
        // A three-level LIST: repetition 0 starts a row; definition 0 = NULL list, 1 = empty list,
        // max - 1 = NULL element (when the element is optional), max = a value.
        int[] repetitions = raw.RepetitionLevels.ToArray();
        int row = -1;
        List<string>? items = null;
        for (int i = 0; i < definitions.Length; i++)
        {
            if (repetitions[i] == 0)
            {
                if (row >= 0)
                {
                    result[row] = items is null ? "NULL" : "[" + string.Join(", ", items) + "]";
                }
                row++;
                items = definitions[i] == 0 ? null : [];
            }
            if (definitions[i] == max)
            {
                items!.Add(values[value++]);
            }
            else if (definitions[i] == max - 1 && field.IsNullable && definitions[i] > 1)
            {
                items!.Add("NULL");
            }
        }
        if (row >= 0)
        {
            result[row] = items is null ? "NULL" : "[" + string.Join(", ", items) + "]";
        }
        Assert.Equal(rows, row + 1);
        return result;
    }

    private static string Format(object? value) => value switch
    {
        null => "NULL",
        string s => Quote(s),
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        System.Collections.IEnumerable list => "[" + string.Join(", ", list.Cast<object?>().Select(Format)) + "]",
        _ => value.ToString() ?? "NULL",
    };

    private static string Quote(string s) => "'" + s + "'";
}
