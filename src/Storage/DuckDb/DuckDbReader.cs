using System.Data;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Numerics;
using DuckDB.NET.Data;
using DuckDB.NET.Native;

namespace Pipeline.Storage.DuckDb;

/// <summary>
/// Streams a query result row by row through DuckDB.NET's reader in streaming mode (only DuckDB's current chunk
/// is in memory). Adds what the callers rely on: DuckDB's SQL type names (<c>DECIMAL(18,3)</c>, <c>VARCHAR[]</c>),
/// getters that convert between integer widths and refuse values that do not fit, values boxed as plain CLR
/// types (<see cref="GetValue"/>), and <see cref="DuckDbException"/> for errors raised while streaming.
/// </summary>
public sealed class DuckDbReader : IDisposable
{
    private readonly DuckDBCommand? _ownedCommand;
    private readonly DuckDBDataReader _reader;
    private readonly string _sql;
    private readonly string[] _names;
    private readonly DuckDBType[] _types;
    private string[]? _typeNames;
    private Func<DuckDBDataReader, int, object>?[]? _nullableLists;
    private byte[] _utf8 = [];
    private long _rowsRead;
    private bool _onRow;
    private bool _done;

    internal DuckDbReader(DuckDBCommand? ownedCommand, DuckDBDataReader reader, string sql)
    {
        _ownedCommand = ownedCommand;
        _reader = reader;
        _sql = sql;
        int count = reader.FieldCount;
        _names = new string[count];
        _types = new DuckDBType[count];
        for (int i = 0; i < count; i++)
        {
            _names[i] = reader.GetName(i);
            _types[i] = Enum.Parse<DuckDBType>(reader.GetDataTypeName(i));
        }
    }

    /// <summary>Number of result columns.</summary>
    public int FieldCount => _names.Length;

    /// <summary>Column name.</summary>
    public string GetName(int ordinal) => _names[ordinal];

    /// <summary>DuckDB SQL type of a column (e.g. <c>BIGINT</c>, <c>VARCHAR[]</c>, <c>DECIMAL(18,3)</c>).</summary>
    public string GetTypeName(int ordinal)
    {
        _typeNames ??= TypeNames();
        return _typeNames[ordinal];
    }

    /// <summary>Ordinal of the named column (ordinal comparison), or -1.</summary>
    public int GetOrdinal(string name) => Array.IndexOf(_names, name);

    /// <summary>Advances to the next row; false at the end.</summary>
    /// <exception cref="DuckDbException">The query failed while streaming.</exception>
    public bool Read()
    {
        if (_done)
        {
            return false;
        }
        try
        {
            _onRow = _reader.Read();
        }
        catch (DuckDBException e)
        {
            _done = true;
            _onRow = false;
            throw DuckDbException.From(e, _sql);
        }
        if (!_onRow)
        {
            _done = true;
            return false;
        }
        _rowsRead++;
        return true;
    }

    /// <summary>Whether the column is NULL in the current row.</summary>
    public bool IsNull(int ordinal)
    {
        EnsureRow();
        return _reader.IsDBNull(ordinal);
    }

    /// <summary>A signed integer column (any width, HUGEINT included; values beyond <see cref="long"/> throw).</summary>
    public long GetInt64(int ordinal)
    {
        EnsureNotNull(ordinal);
        switch (_types[ordinal])
        {
            case DuckDBType.BigInt: return _reader.GetInt64(ordinal);
            case DuckDBType.Integer: return _reader.GetInt32(ordinal);
            case DuckDBType.SmallInt: return _reader.GetInt16(ordinal);
            case DuckDBType.TinyInt: return _reader.GetFieldValue<sbyte>(ordinal);
            case DuckDBType.UnsignedInteger: return _reader.GetFieldValue<uint>(ordinal);
            case DuckDBType.UnsignedSmallInt: return _reader.GetFieldValue<ushort>(ordinal);
            case DuckDBType.UnsignedTinyInt: return _reader.GetByte(ordinal);
            case DuckDBType.UnsignedBigInt:
                ulong value = _reader.GetFieldValue<ulong>(ordinal);
                return value <= long.MaxValue ? (long)value : ThrowOverflow<long>(ordinal, value.ToString(CultureInfo.InvariantCulture));
            case DuckDBType.HugeInt:
                // sum() of BIGINT is HUGEINT.
                BigInteger huge = _reader.GetFieldValue<BigInteger>(ordinal);
                return huge >= long.MinValue && huge <= long.MaxValue ? (long)huge : ThrowOverflow<long>(ordinal, huge.ToString(CultureInfo.InvariantCulture));
            default: return ThrowWrongType<long>(ordinal, "an integer type");
        }
    }

    /// <summary>An unsigned (or non-negative signed) integer column.</summary>
    public ulong GetUInt64(int ordinal)
    {
        if (_types[ordinal] == DuckDBType.UnsignedBigInt)
        {
            EnsureNotNull(ordinal);
            return _reader.GetFieldValue<ulong>(ordinal);
        }
        long value = GetInt64(ordinal);
        return value >= 0 ? (ulong)value : ThrowOverflow<ulong>(ordinal, value.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>An integer column whose value fits in 32 bits.</summary>
    public int GetInt32(int ordinal)
    {
        if (_types[ordinal] == DuckDBType.Integer)
        {
            EnsureNotNull(ordinal);
            return _reader.GetInt32(ordinal);
        }
        long value = GetInt64(ordinal);
        return value is >= int.MinValue and <= int.MaxValue ? (int)value : ThrowOverflow<int>(ordinal, value.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>A BOOLEAN column.</summary>
    public bool GetBoolean(int ordinal)
    {
        EnsureNotNull(ordinal);
        return _types[ordinal] == DuckDBType.Boolean ? _reader.GetBoolean(ordinal) : ThrowWrongType<bool>(ordinal, "BOOLEAN");
    }

    /// <summary>A floating-point, DECIMAL or integer column as a double.</summary>
    public double GetDouble(int ordinal)
    {
        EnsureNotNull(ordinal);
        return _types[ordinal] switch
        {
            DuckDBType.Double => _reader.GetDouble(ordinal),
            DuckDBType.Float => _reader.GetFloat(ordinal),
            DuckDBType.Decimal => (double)_reader.GetDecimal(ordinal),
            DuckDBType.HugeInt => (double)_reader.GetFieldValue<BigInteger>(ordinal),
            DuckDBType.UnsignedBigInt => _reader.GetFieldValue<ulong>(ordinal),
            DuckDBType.BigInt or DuckDBType.Integer or DuckDBType.SmallInt or DuckDBType.TinyInt
                or DuckDBType.UnsignedInteger or DuckDBType.UnsignedSmallInt or DuckDBType.UnsignedTinyInt => GetInt64(ordinal),
            _ => ThrowWrongType<double>(ordinal, "a numeric type"),
        };
    }

    /// <summary>A VARCHAR column.</summary>
    public string GetString(int ordinal)
    {
        EnsureNotNull(ordinal);
        return _types[ordinal] == DuckDBType.Varchar ? _reader.GetString(ordinal) : ThrowWrongType<string>(ordinal, "VARCHAR");
    }

    /// <summary>
    /// A VARCHAR column as UTF-8 bytes, valid until the next call (one buffer per reader, grown as needed), for
    /// callers that parse the text as bytes (<see cref="System.Text.Json.Utf8JsonReader"/>) or copy it on.
    /// </summary>
    public ReadOnlySpan<byte> GetUtf8(int ordinal)
    {
        string text = GetString(ordinal);
        int max = System.Text.Encoding.UTF8.GetMaxByteCount(text.Length);
        if (_utf8.Length < max)
        {
            _utf8 = new byte[Math.Max(max, 256)];
        }
        int n = System.Text.Encoding.UTF8.GetBytes(text, _utf8);
        return _utf8.AsSpan(0, n);
    }

    /// <summary>A LIST&lt;VARCHAR&gt; (VARCHAR[]) column; NULL elements come back as null.</summary>
    public IReadOnlyList<string?> GetStringList(int ordinal)
    {
        EnsureNotNull(ordinal);
        if (_types[ordinal] != DuckDBType.List || _reader.GetFieldType(ordinal) != typeof(List<string>))
        {
            return ThrowWrongType<IReadOnlyList<string?>>(ordinal, "VARCHAR[]");
        }
        return (List<string?>)_reader.GetValue(ordinal);
    }

    /// <summary>
    /// The value boxed by type: integers as their CLR type (HUGEINT as <see cref="Int128"/>), DECIMAL as
    /// <see cref="decimal"/>, VARCHAR as string, BLOB as byte[], DATE/TIME/TIMESTAMP/INTERVAL as ISO-like strings,
    /// LIST/ARRAY as <c>List&lt;object?&gt;</c>; null for NULL.
    /// </summary>
    /// <exception cref="DuckDbException">The column's type cannot be read here (names column and type; cast it in SQL).</exception>
    public object? GetValue(int ordinal)
    {
        EnsureRow();
        if (_reader.IsDBNull(ordinal))
        {
            return null;
        }
        switch (_types[ordinal])
        {
            case DuckDBType.Struct or DuckDBType.Map or DuckDBType.Union or DuckDBType.Bit or DuckDBType.VarInt:
                // A query error like DuckDB's own, so `mmtrace query` says it in one line and exits 3.
                throw new DuckDbException(
                    $"Column '{_names[ordinal]}' has type {GetTypeName(ordinal)}, which DuckDbReader cannot read; cast it in SQL (e.g. CAST(\"{_names[ordinal]}\" AS VARCHAR)).");
            case DuckDBType.Interval:
                DuckDBInterval interval = _reader.GetFieldValue<DuckDBInterval>(ordinal);
                return string.Create(CultureInfo.InvariantCulture, $"{interval.Months} months {interval.Days} days {(long)interval.Micros} microseconds");
            case DuckDBType.HugeInt:
                return (Int128)_reader.GetFieldValue<BigInteger>(ordinal);
            case DuckDBType.UnsignedHugeInt:
                return (UInt128)_reader.GetFieldValue<BigInteger>(ordinal);
            case DuckDBType.List or DuckDBType.Array:
                // DuckDB.NET reads INTEGER[] as List<int>, which cannot hold NULL elements: ask for List<int?>.
                _nullableLists ??= new Func<DuckDBDataReader, int, object>?[_types.Length];
                _nullableLists[ordinal] ??= NullableListReader(_reader.GetFieldType(ordinal));
                return Plain(_nullableLists[ordinal]!(_reader, ordinal));
            default:
                return Plain(_reader.GetValue(ordinal));
        }
    }

    /// <summary>Releases the result and the statement it came from.</summary>
    public void Dispose()
    {
        _done = true;
        _onRow = false;
        _reader.Dispose();
        _ownedCommand?.Dispose();
    }

    /// <summary>DuckDB.NET's boxed value as the plain types callers format (strings for dates and times, lists of objects).</summary>
    private static object? Plain(object? value) => value switch
    {
        null or DBNull => null,
        BigInteger big => (Int128)big,
        DateOnly date => date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        TimeOnly time => time.ToString("HH:mm:ss.fffffff", CultureInfo.InvariantCulture).TrimEnd('0').TrimEnd('.'),
        DateTime stamp => stamp.ToString("yyyy-MM-dd HH:mm:ss.fffffff", CultureInfo.InvariantCulture).TrimEnd('0').TrimEnd('.'),
        DateTimeOffset stamp => stamp.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.fffffff", CultureInfo.InvariantCulture).TrimEnd('0').TrimEnd('.'),
        Stream blob => ReadAll(blob),
        string or System.Collections.IDictionary => value,
        System.Collections.IEnumerable list => PlainList(list),
        _ => value,
    };

    /// <summary>A reader of a list column as a list whose value-type elements are nullable (nested lists as they come).</summary>
    private static Func<DuckDBDataReader, int, object> NullableListReader(Type listType)
    {
        Type element = listType.IsGenericType ? listType.GetGenericArguments()[0] : typeof(object);
        if (!element.IsValueType || Nullable.GetUnderlyingType(element) is not null)
        {
            return static (reader, ordinal) => reader.GetValue(ordinal);
        }
        var method = typeof(DuckDBDataReader).GetMethod(nameof(DuckDBDataReader.GetFieldValue))!
            .MakeGenericMethod(typeof(List<>).MakeGenericType(typeof(Nullable<>).MakeGenericType(element)));
        return (reader, ordinal) => method.Invoke(reader, [ordinal])!;
    }

    private static List<object?> PlainList(System.Collections.IEnumerable list)
    {
        var items = new List<object?>();
        foreach (object? item in list)
        {
            items.Add(Plain(item));
        }
        return items;
    }

    private static byte[] ReadAll(Stream blob)
    {
        using (blob)
        {
            using var copy = new MemoryStream();
            blob.CopyTo(copy);
            return copy.ToArray();
        }
    }

    private string[] TypeNames()
    {
        var names = new string[_types.Length];
        DataTable? schema = null;
        for (int i = 0; i < names.Length; i++)
        {
            if (_types[i] == DuckDBType.Decimal)
            {
                schema ??= _reader.GetSchemaTable();
                DataRow row = schema.Rows[i];
                names[i] = string.Create(CultureInfo.InvariantCulture, $"DECIMAL({row["NumericPrecision"]},{row["NumericScale"]})");
            }
            else
            {
                names[i] = SqlName(_types[i], _reader.GetFieldType(i));
            }
        }
        return names;
    }

    /// <summary>DuckDB's SQL spelling of a type; a list's element type comes from its CLR type.</summary>
    private static string SqlName(DuckDBType type, Type clr) => type switch
    {
        DuckDBType.Boolean => "BOOLEAN",
        DuckDBType.TinyInt => "TINYINT",
        DuckDBType.SmallInt => "SMALLINT",
        DuckDBType.Integer => "INTEGER",
        DuckDBType.BigInt => "BIGINT",
        DuckDBType.UnsignedTinyInt => "UTINYINT",
        DuckDBType.UnsignedSmallInt => "USMALLINT",
        DuckDBType.UnsignedInteger => "UINTEGER",
        DuckDBType.UnsignedBigInt => "UBIGINT",
        DuckDBType.Float => "FLOAT",
        DuckDBType.Double => "DOUBLE",
        DuckDBType.Timestamp => "TIMESTAMP",
        DuckDBType.Date => "DATE",
        DuckDBType.Time => "TIME",
        DuckDBType.Interval => "INTERVAL",
        DuckDBType.HugeInt => "HUGEINT",
        DuckDBType.UnsignedHugeInt => "UHUGEINT",
        DuckDBType.Varchar => "VARCHAR",
        DuckDBType.Blob => "BLOB",
        DuckDBType.Decimal => "DECIMAL",
        DuckDBType.TimestampS => "TIMESTAMP_S",
        DuckDBType.TimestampMs => "TIMESTAMP_MS",
        DuckDBType.TimestampNs => "TIMESTAMP_NS",
        DuckDBType.Enum => "ENUM",
        DuckDBType.Struct => "STRUCT",
        DuckDBType.Map => "MAP",
        DuckDBType.Uuid => "UUID",
        DuckDBType.Union => "UNION",
        DuckDBType.Bit => "BIT",
        DuckDBType.TimeTz => "TIME WITH TIME ZONE",
        DuckDBType.TimestampTz => "TIMESTAMP WITH TIME ZONE",
        DuckDBType.List or DuckDBType.Array when clr.IsGenericType && clr.GetGenericTypeDefinition() == typeof(List<>) =>
            ClrSqlName(clr.GetGenericArguments()[0]) + "[]",
        _ => type.ToString().ToUpperInvariant(),
    };

    private static string ClrSqlName(Type clr)
    {
        Type plain = Nullable.GetUnderlyingType(clr) ?? clr;
        if (plain.IsGenericType && plain.GetGenericTypeDefinition() == typeof(List<>))
        {
            return ClrSqlName(plain.GetGenericArguments()[0]) + "[]";
        }
        return Type.GetTypeCode(plain) switch
        {
            TypeCode.Boolean => "BOOLEAN",
            TypeCode.SByte => "TINYINT",
            TypeCode.Int16 => "SMALLINT",
            TypeCode.Int32 => "INTEGER",
            TypeCode.Int64 => "BIGINT",
            TypeCode.Byte => "UTINYINT",
            TypeCode.UInt16 => "USMALLINT",
            TypeCode.UInt32 => "UINTEGER",
            TypeCode.UInt64 => "UBIGINT",
            TypeCode.Single => "FLOAT",
            TypeCode.Double => "DOUBLE",
            TypeCode.Decimal => "DECIMAL",
            TypeCode.String => "VARCHAR",
            _ => plain == typeof(BigInteger) ? "HUGEINT" : plain.Name.ToUpperInvariant(),
        };
    }

    private void EnsureRow()
    {
        if (!_onRow)
        {
            ThrowNoRow();
        }
    }

    private void EnsureNotNull(int ordinal)
    {
        EnsureRow();
        if (_reader.IsDBNull(ordinal))
        {
            ThrowNull(ordinal);
        }
    }

    [DoesNotReturn]
    private void ThrowNoRow() =>
        throw new InvalidOperationException(_done ? "The reader is past its last row." : "Call Read() before reading values.");

    [DoesNotReturn]
    private void ThrowNull(int ordinal) =>
        throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
            $"Column '{_names[ordinal]}' ({GetTypeName(ordinal)}) is NULL in row {_rowsRead}; check IsNull first."));

    [DoesNotReturn]
    private T ThrowWrongType<T>(int ordinal, string expected) =>
        throw new InvalidCastException($"Column '{_names[ordinal]}' has type {GetTypeName(ordinal)}, expected {expected}.");

    [DoesNotReturn]
    private T ThrowOverflow<T>(int ordinal, string value) =>
        throw new OverflowException($"Column '{_names[ordinal]}' ({GetTypeName(ordinal)}) holds {value}, which does not fit in {typeof(T).Name}.");
}
