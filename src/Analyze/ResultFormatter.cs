using System.Globalization;
using System.Text;
using System.Text.Json;
using Pipeline.Storage.DuckDb;

namespace Pipeline.Analyze;

/// <summary>Output formats of <c>mmtrace query</c>.</summary>
public enum ResultFormat
{
    /// <summary>Aligned columns for a terminal.</summary>
    Table,
    /// <summary>RFC 4180 CSV with a header row.</summary>
    Csv,
    /// <summary>A JSON array of objects, one per row.</summary>
    Json,
}

/// <summary>
/// Writes a query result as it streams from DuckDB. Memory stays bounded: the table format sizes its
/// columns from the first <see cref="TableSampleRows"/> rows and streams the rest. The table format is for
/// people: integer columns named like addresses, pointers, pfns and flag words print in hex and byte counts with
/// a binary unit (<see cref="FieldFormat"/>), unless <c>raw</c>; CSV and JSON always carry the exact values.
/// </summary>
public static class ResultFormatter
{
    /// <summary>Rows read ahead to size table columns.</summary>
    public const int TableSampleRows = 1000;

    /// <summary>Writes every row of <paramref name="reader"/> to <paramref name="output"/>; returns the row count.</summary>
    public static long Write(DuckDbReader reader, ResultFormat format, TextWriter output, bool raw = false) => format switch
    {
        ResultFormat.Table => WriteTable(reader, output, raw),
        ResultFormat.Csv => WriteCsv(reader, output),
        ResultFormat.Json => WriteJson(reader, output),
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, "Unknown result format."),
    };

    /// <summary>Formats one value the way the table and CSV formats print it.</summary>
    public static string FormatCell(object? value) => value switch
    {
        null => "NULL",
        string s => s,
        bool b => b ? "true" : "false",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        float f => f.ToString("R", CultureInfo.InvariantCulture),
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        System.Collections.IEnumerable list => "[" + string.Join(", ", list.Cast<object?>().Select(FormatCell)) + "]",
        _ => value.ToString() ?? "",
    };

    private static long WriteTable(DuckDbReader reader, TextWriter output, bool raw)
    {
        int columns = reader.FieldCount;
        var names = new string[columns];
        var widths = new int[columns];
        var numeric = new bool[columns];
        var display = new CellDisplay[columns];
        for (int i = 0; i < columns; i++)
        {
            names[i] = reader.GetName(i);
            widths[i] = names[i].Length;
            string type = reader.GetTypeName(i);
            numeric[i] = IsNumericType(type);
            bool integral = IsIntegralType(type) || IsIntegralListType(type);
            display[i] = raw || !integral ? CellDisplay.Exact
                : FieldFormat.IsHex(names[i]) ? CellDisplay.Hex
                : FieldFormat.IsBytes(names[i]) ? CellDisplay.Bytes
                : CellDisplay.Exact;
        }

        var sample = new List<string[]>();
        bool more = false;
        while (reader.Read())
        {
            var row = ReadCells(reader, display);
            for (int i = 0; i < columns; i++)
            {
                widths[i] = Math.Max(widths[i], row[i].Length);
            }
            sample.Add(row);
            if (sample.Count == TableSampleRows)
            {
                more = true;
                break;
            }
        }

        var line = new StringBuilder();
        WriteRow(output, line, names, widths, numeric: null);
        line.Clear();
        for (int i = 0; i < columns; i++)
        {
            line.Append(i == 0 ? "" : "  ").Append('-', widths[i]);
        }
        output.WriteLine(line.ToString());

        long count = 0;
        foreach (var row in sample)
        {
            WriteRow(output, line, row, widths, numeric);
            count++;
        }
        while (more && reader.Read())
        {
            WriteRow(output, line, ReadCells(reader, display), widths, numeric);
            count++;
        }
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"({count} row{(count == 1 ? "" : "s")})"));
        return count;
    }

    private static void WriteRow(TextWriter output, StringBuilder line, string[] cells, int[] widths, bool[]? numeric)
    {
        line.Clear();
        for (int i = 0; i < cells.Length; i++)
        {
            if (i > 0)
            {
                line.Append("  ");
            }
            bool last = i == cells.Length - 1;
            if (numeric is not null && numeric[i])
            {
                line.Append(cells[i].PadLeft(widths[i]));
            }
            else
            {
                line.Append(last ? cells[i] : cells[i].PadRight(widths[i]));
            }
        }
        output.WriteLine(line.ToString().TrimEnd());
    }

    private enum CellDisplay
    {
        Exact,
        Hex,
        Bytes,
    }

    private static string[] ReadCells(DuckDbReader reader, CellDisplay[] display)
    {
        var cells = new string[reader.FieldCount];
        for (int i = 0; i < cells.Length; i++)
        {
            cells[i] = reader.IsNull(i) ? "NULL" : FormatCell(reader.GetValue(i), display[i]);
        }
        return cells;
    }

    private static string FormatCell(object? value, CellDisplay display) => (display, value) switch
    {
        (CellDisplay.Exact, _) or (_, null) => FormatCell(value),
        (_, System.Collections.IEnumerable list) when value is not string =>
            "[" + string.Join(", ", list.Cast<object?>().Select(v => FormatCell(v, display))) + "]",
        (CellDisplay.Hex, long l) when l >= 0 => FieldFormat.Hex((ulong)l),
        (CellDisplay.Hex, int n) when n >= 0 => FieldFormat.Hex((ulong)n),
        (CellDisplay.Hex, ulong u) => FieldFormat.Hex(u),
        (CellDisplay.Hex, uint u) => FieldFormat.Hex(u),
        (CellDisplay.Bytes, long l) => FieldFormat.Bytes(l),
        (CellDisplay.Bytes, int n) => FieldFormat.Bytes(n),
        (CellDisplay.Bytes, ulong u) when u <= long.MaxValue => FieldFormat.Bytes((long)u),
        (CellDisplay.Bytes, uint u) => FieldFormat.Bytes(u),
        _ => FormatCell(value),
    };

    private static bool IsIntegralType(string typeName) => typeName is
        "TINYINT" or "SMALLINT" or "INTEGER" or "BIGINT" or "UTINYINT" or "USMALLINT" or "UINTEGER" or "UBIGINT";

    private static bool IsIntegralListType(string typeName) =>
        typeName.EndsWith("[]", StringComparison.Ordinal) && IsIntegralType(typeName[..^2]);

    private static long WriteCsv(DuckDbReader reader, TextWriter output)
    {
        int columns = reader.FieldCount;
        var line = new StringBuilder();
        for (int i = 0; i < columns; i++)
        {
            line.Append(i == 0 ? "" : ",").Append(CsvEscape(reader.GetName(i)));
        }
        output.WriteLine(line.ToString());
        long count = 0;
        while (reader.Read())
        {
            line.Clear();
            for (int i = 0; i < columns; i++)
            {
                if (i > 0)
                {
                    line.Append(',');
                }
                if (!reader.IsNull(i))
                {
                    line.Append(CsvEscape(FormatCell(reader.GetValue(i))));
                }
            }
            output.WriteLine(line.ToString());
            count++;
        }
        return count;
    }

    private static string CsvEscape(string value)
    {
        if (value.AsSpan().IndexOfAny(",\"\r\n") < 0)
        {
            return value;
        }
        return "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
    }

    private static long WriteJson(DuckDbReader reader, TextWriter output)
    {
        int columns = reader.FieldCount;
        var names = new string[columns];
        for (int i = 0; i < columns; i++)
        {
            names[i] = reader.GetName(i);
        }
        using var buffer = new MemoryStream();
        // Relaxed escaping: quotes stay \" and non-ASCII stays UTF-8, not \u0022 and \u00e9 (the output is a file or a
        // terminal, never HTML).
        using var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = false, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        output.Write('[');
        long count = 0;
        while (reader.Read())
        {
            json.Reset();
            buffer.SetLength(0);
            json.WriteStartObject();
            for (int i = 0; i < columns; i++)
            {
                json.WritePropertyName(names[i]);
                WriteJsonValue(json, reader.IsNull(i) ? null : reader.GetValue(i));
            }
            json.WriteEndObject();
            json.Flush();
            output.Write(count == 0 ? "\n" : ",\n");
            output.Write(Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
            count++;
        }
        output.WriteLine(count == 0 ? "]" : "\n]");
        return count;
    }

    private static void WriteJsonValue(Utf8JsonWriter json, object? value)
    {
        switch (value)
        {
            case null:
                json.WriteNullValue();
                break;
            case string s:
                json.WriteStringValue(s);
                break;
            case bool b:
                json.WriteBooleanValue(b);
                break;
            case long l:
                json.WriteNumberValue(l);
                break;
            case ulong ul:
                json.WriteNumberValue(ul);
                break;
            case int n:
                json.WriteNumberValue(n);
                break;
            case uint un:
                json.WriteNumberValue(un);
                break;
            case short sh:
                json.WriteNumberValue(sh);
                break;
            case ushort ush:
                json.WriteNumberValue(ush);
                break;
            case sbyte sb:
                json.WriteNumberValue(sb);
                break;
            case byte by:
                json.WriteNumberValue(by);
                break;
            case double d when double.IsFinite(d):
                json.WriteNumberValue(d);
                break;
            case float f when float.IsFinite(f):
                json.WriteNumberValue(f);
                break;
            case decimal m:
                json.WriteNumberValue(m);
                break;
            case Int128 h:
                // HUGEINT (sum() of BIGINT): a JSON number, exact (JSON has no integer width).
                json.WriteRawValue(h.ToString(CultureInfo.InvariantCulture));
                break;
            case UInt128 uh:
                json.WriteRawValue(uh.ToString(CultureInfo.InvariantCulture));
                break;
            case System.Collections.IEnumerable list:
                json.WriteStartArray();
                foreach (var item in list)
                {
                    WriteJsonValue(json, item);
                }
                json.WriteEndArray();
                break;
            default:
                json.WriteStringValue(FormatCell(value));
                break;
        }
    }

    private static bool IsNumericType(string typeName) => typeName switch
    {
        "TINYINT" or "SMALLINT" or "INTEGER" or "BIGINT" or "HUGEINT" or "UTINYINT" or "USMALLINT" or "UINTEGER" or "UBIGINT" or "UHUGEINT"
            or "FLOAT" or "DOUBLE" => true,
        _ => typeName.StartsWith("DECIMAL", StringComparison.Ordinal),
    };
}
