using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;

namespace Pipeline.Storage.DuckDb;

/// <summary>
/// Streams a query result chunk by chunk (<c>duckdb_fetch_chunk</c>); only the current chunk is in memory.
/// Typed getters read straight from the chunk's vectors.
/// </summary>
public sealed unsafe class DuckDbReader : IDisposable
{
    private readonly ResultHandle _result;
    private readonly PreparedHandle? _prepared;
    private readonly string _sql;
    private readonly string[] _names;
    private readonly ColumnType[] _types;
    private readonly IntPtr[] _vectors;
    private readonly void*[] _data;
    private readonly ulong*[] _validity;
    private DataChunkHandle? _chunk;
    private int _chunkSize;
    private int _row = -1;
    private long _rowsRead;
    private bool _done;

    internal DuckDbReader(ResultHandle result, PreparedHandle? prepared, string sql)
    {
        _result = result;
        _prepared = prepared;
        _sql = sql;
        int count = (int)NativeMethods.ColumnCount(result.Pointer);
        _names = new string[count];
        _types = new ColumnType[count];
        _vectors = new IntPtr[count];
        _data = new void*[count];
        _validity = new ulong*[count];
        for (int i = 0; i < count; i++)
        {
            _names[i] = NativeMethods.Utf8(NativeMethods.ColumnName(result.Pointer, (ulong)i)) ?? "";
            using var type = new LogicalType(NativeMethods.ColumnLogicalType(result.Pointer, (ulong)i));
            _types[i] = ColumnType.FromHandle(type.Handle);
        }
    }

    /// <summary>Number of result columns.</summary>
    public int FieldCount => _names.Length;

    /// <summary>Column name.</summary>
    public string GetName(int ordinal) => _names[ordinal];

    /// <summary>DuckDB SQL type of a column (e.g. <c>BIGINT</c>, <c>VARCHAR[]</c>, <c>DECIMAL(18,3)</c>).</summary>
    public string GetTypeName(int ordinal) => _types[ordinal].Name;

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
        if (++_row < _chunkSize)
        {
            _rowsRead++;
            return true;
        }
        while (true)
        {
            _chunk?.Dispose();
            _chunk = null;
            IntPtr chunk = NativeMethods.FetchChunk(*_result.Pointer);
            if (chunk == IntPtr.Zero)
            {
                _done = true;
                _chunkSize = 0;
                string? error = NativeMethods.Utf8(NativeMethods.ResultError(_result.Pointer));
                if (error is not null)
                {
                    throw new DuckDbException(error, _sql);
                }
                return false;
            }
            _chunk = new DataChunkHandle(chunk);
            _chunkSize = (int)NativeMethods.DataChunkGetSize(chunk);
            if (_chunkSize == 0)
            {
                continue;
            }
            for (int i = 0; i < _vectors.Length; i++)
            {
                IntPtr vector = NativeMethods.DataChunkGetVector(chunk, (ulong)i);
                _vectors[i] = vector;
                _data[i] = NativeMethods.VectorGetData(vector);
                _validity[i] = NativeMethods.VectorGetValidity(vector);
            }
            _row = 0;
            _rowsRead++;
            return true;
        }
    }

    /// <summary>Whether the column is NULL in the current row.</summary>
    public bool IsNull(int ordinal)
    {
        EnsureRow();
        return !IsValid(_validity[ordinal], _row);
    }

    /// <summary>A signed integer column (any width, HUGEINT included; values beyond <see cref="long"/> throw).</summary>
    public long GetInt64(int ordinal)
    {
        void* data = NonNull(ordinal);
        int row = _row;
        switch (_types[ordinal].Id)
        {
            case DuckDbType.BigInt: return ((long*)data)[row];
            case DuckDbType.Integer: return ((int*)data)[row];
            case DuckDbType.SmallInt: return ((short*)data)[row];
            case DuckDbType.TinyInt: return ((sbyte*)data)[row];
            case DuckDbType.UInteger: return ((uint*)data)[row];
            case DuckDbType.USmallInt: return ((ushort*)data)[row];
            case DuckDbType.UTinyInt: return ((byte*)data)[row];
            case DuckDbType.UBigInt:
                ulong value = ((ulong*)data)[row];
                return value <= long.MaxValue ? (long)value : ThrowOverflow<long>(ordinal, value.ToString(CultureInfo.InvariantCulture));
            case DuckDbType.HugeInt:
                // sum() of BIGINT is HUGEINT.
                Int128 huge = ((Int128*)data)[row];
                return huge >= long.MinValue && huge <= long.MaxValue ? (long)huge : ThrowOverflow<long>(ordinal, huge.ToString(CultureInfo.InvariantCulture));
            default: return ThrowWrongType<long>(ordinal, "an integer type");
        }
    }

    /// <summary>An unsigned (or non-negative signed) integer column.</summary>
    public ulong GetUInt64(int ordinal)
    {
        if (_types[ordinal].Id == DuckDbType.UBigInt)
        {
            return ((ulong*)NonNull(ordinal))[_row];
        }
        long value = GetInt64(ordinal);
        return value >= 0 ? (ulong)value : ThrowOverflow<ulong>(ordinal, value.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>An integer column whose value fits in 32 bits.</summary>
    public int GetInt32(int ordinal)
    {
        if (_types[ordinal].Id == DuckDbType.Integer)
        {
            return ((int*)NonNull(ordinal))[_row];
        }
        long value = GetInt64(ordinal);
        return value is >= int.MinValue and <= int.MaxValue ? (int)value : ThrowOverflow<int>(ordinal, value.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>A BOOLEAN column.</summary>
    public bool GetBoolean(int ordinal)
    {
        void* data = NonNull(ordinal);
        return _types[ordinal].Id == DuckDbType.Boolean ? ((byte*)data)[_row] != 0 : ThrowWrongType<bool>(ordinal, "BOOLEAN");
    }

    /// <summary>A floating-point, DECIMAL or integer column as a double.</summary>
    public double GetDouble(int ordinal)
    {
        void* data = NonNull(ordinal);
        ColumnType type = _types[ordinal];
        return type.Id switch
        {
            DuckDbType.Double => ((double*)data)[_row],
            DuckDbType.Float => ((float*)data)[_row],
            DuckDbType.Decimal => (double)ReadDecimalScaled(type, data, _row) / Math.Pow(10, type.DecimalScale),
            DuckDbType.HugeInt => (double)((Int128*)data)[_row],
            DuckDbType.UBigInt => ((ulong*)data)[_row],
            DuckDbType.BigInt or DuckDbType.Integer or DuckDbType.SmallInt or DuckDbType.TinyInt
                or DuckDbType.UInteger or DuckDbType.USmallInt or DuckDbType.UTinyInt => GetInt64(ordinal),
            _ => ThrowWrongType<double>(ordinal, "a numeric type"),
        };
    }

    /// <summary>A VARCHAR column.</summary>
    public string GetString(int ordinal)
    {
        void* data = NonNull(ordinal);
        return _types[ordinal].Id == DuckDbType.Varchar ? ReadString(data, _row) : ThrowWrongType<string>(ordinal, "VARCHAR");
    }

    /// <summary>A VARCHAR column as UTF-8 bytes, valid until the next <see cref="Read"/>.</summary>
    public ReadOnlySpan<byte> GetUtf8(int ordinal)
    {
        void* data = NonNull(ordinal);
        return _types[ordinal].Id == DuckDbType.Varchar ? StringSpan(data, _row) : ThrowWrongType<byte[]>(ordinal, "VARCHAR");
    }

    /// <summary>A LIST&lt;VARCHAR&gt; (VARCHAR[]) column; NULL elements come back as null.</summary>
    public IReadOnlyList<string?> GetStringList(int ordinal)
    {
        void* data = NonNull(ordinal);
        ColumnType type = _types[ordinal];
        if (type.Id != DuckDbType.List || type.Child!.Id != DuckDbType.Varchar)
        {
            return ThrowWrongType<IReadOnlyList<string?>>(ordinal, "VARCHAR[]");
        }
        DuckDbListEntry entry = ((DuckDbListEntry*)data)[_row];
        IntPtr child = NativeMethods.ListVectorGetChild(_vectors[ordinal]);
        void* childData = NativeMethods.VectorGetData(child);
        ulong* childValidity = NativeMethods.VectorGetValidity(child);
        var list = new string?[(int)entry.Length];
        for (int i = 0; i < list.Length; i++)
        {
            int index = (int)entry.Offset + i;
            list[i] = IsValid(childValidity, index) ? ReadString(childData, index) : null;
        }
        return list;
    }

    /// <summary>
    /// The value boxed by type: integers as their CLR type (HUGEINT as <see cref="Int128"/>), DECIMAL as
    /// <see cref="decimal"/> (double beyond its range), VARCHAR as string, BLOB as byte[], DATE/TIME/TIMESTAMP/INTERVAL
    /// as ISO-like strings, LIST/ARRAY as <c>List&lt;object?&gt;</c>; null for NULL.
    /// </summary>
    /// <exception cref="NotSupportedException">The column's type cannot be read here (names column and type; cast it in SQL).</exception>
    public object? GetValue(int ordinal)
    {
        EnsureRow();
        return ReadValue(ordinal, _types[ordinal], _vectors[ordinal], _data[ordinal], _validity[ordinal], _row);
    }

    /// <summary>Releases the current chunk, the result and its statement.</summary>
    public void Dispose()
    {
        _chunk?.Dispose();
        _chunk = null;
        _done = true;
        _result.Dispose();
        _prepared?.Dispose();
    }

    private object? ReadValue(int ordinal, ColumnType type, IntPtr vector, void* data, ulong* validity, int row)
    {
        if (!IsValid(validity, row))
        {
            return null;
        }
        switch (type.Id)
        {
            case DuckDbType.Boolean: return ((byte*)data)[row] != 0;
            case DuckDbType.TinyInt: return ((sbyte*)data)[row];
            case DuckDbType.SmallInt: return ((short*)data)[row];
            case DuckDbType.Integer: return ((int*)data)[row];
            case DuckDbType.BigInt: return ((long*)data)[row];
            case DuckDbType.UTinyInt: return ((byte*)data)[row];
            case DuckDbType.USmallInt: return ((ushort*)data)[row];
            case DuckDbType.UInteger: return ((uint*)data)[row];
            case DuckDbType.UBigInt: return ((ulong*)data)[row];
            case DuckDbType.HugeInt: return ((Int128*)data)[row];
            case DuckDbType.UHugeInt: return ((UInt128*)data)[row];
            case DuckDbType.Float: return ((float*)data)[row];
            case DuckDbType.Double: return ((double*)data)[row];
            case DuckDbType.Decimal: return ReadDecimal(type, data, row);
            case DuckDbType.Varchar: return ReadString(data, row);
            case DuckDbType.Blob: return StringSpan(data, row).ToArray();
            case DuckDbType.Date: return FormatDate(((int*)data)[row]);
            case DuckDbType.Time: return FormatTimeOfDay(((long*)data)[row]);
            case DuckDbType.Timestamp:
            case DuckDbType.TimestampTz: return FormatTimestamp(((long*)data)[row], 1_000_000);
            case DuckDbType.TimestampS: return FormatTimestamp(((long*)data)[row], 1);
            case DuckDbType.TimestampMs: return FormatTimestamp(((long*)data)[row], 1_000);
            case DuckDbType.TimestampNs: return FormatTimestamp(((long*)data)[row], 1_000_000_000);
            case DuckDbType.Interval: return FormatInterval((byte*)data + ((long)row * 16));
            case DuckDbType.List:
            {
                DuckDbListEntry entry = ((DuckDbListEntry*)data)[row];
                return ReadChildren(ordinal, type.Child!, NativeMethods.ListVectorGetChild(vector), (long)entry.Offset, (long)entry.Length);
            }
            case DuckDbType.Array:
            {
                long size = (long)type.ArraySize;
                return ReadChildren(ordinal, type.Child!, NativeMethods.ArrayVectorGetChild(vector), row * size, size);
            }
            default:
                throw new NotSupportedException(
                    $"Column '{_names[ordinal]}' has type {_types[ordinal].Name}, which DuckDbReader cannot read; cast it in SQL (e.g. CAST(\"{_names[ordinal]}\" AS VARCHAR)).");
        }
    }

    private List<object?> ReadChildren(int ordinal, ColumnType childType, IntPtr child, long offset, long length)
    {
        void* childData = NativeMethods.VectorGetData(child);
        ulong* childValidity = NativeMethods.VectorGetValidity(child);
        var list = new List<object?>((int)length);
        for (long i = 0; i < length; i++)
        {
            list.Add(ReadValue(ordinal, childType, child, childData, childValidity, (int)(offset + i)));
        }
        return list;
    }

    private static object ReadDecimal(ColumnType type, void* data, int row)
    {
        Int128 scaled = ReadDecimalScaled(type, data, row);
        // DECIMAL(38) exceeds System.Decimal's 96-bit mantissa; such values come back as double.
        if ((UInt128)Int128.Abs(scaled) >> 96 == 0 && type.DecimalScale <= 28)
        {
            return ToDecimal(scaled, type.DecimalScale);
        }
        return (double)scaled / Math.Pow(10, type.DecimalScale);
    }

    private static decimal ToDecimal(Int128 scaled, int scale)
    {
        bool negative = scaled < 0;
        UInt128 magnitude = (UInt128)(negative ? -scaled : scaled);
        int low = (int)(uint)(magnitude & uint.MaxValue);
        int mid = (int)(uint)((magnitude >> 32) & uint.MaxValue);
        int high = (int)(uint)((magnitude >> 64) & uint.MaxValue);
        return new decimal(low, mid, high, negative, (byte)scale);
    }

    private static Int128 ReadDecimalScaled(ColumnType type, void* data, int row) => type.DecimalStorage switch
    {
        DuckDbType.SmallInt => ((short*)data)[row],
        DuckDbType.Integer => ((int*)data)[row],
        DuckDbType.BigInt => ((long*)data)[row],
        _ => ((Int128*)data)[row],
    };

    private static string FormatDate(int days) =>
        DateOnly.FromDayNumber(DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber + days).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    private static string FormatTimeOfDay(long micros) =>
        new TimeOnly(micros * 10).ToString("HH:mm:ss.ffffff", CultureInfo.InvariantCulture).TrimEnd('0').TrimEnd('.');

    private static string FormatTimestamp(long value, long perSecond)
    {
        long ticks = perSecond switch
        {
            1 => value * TimeSpan.TicksPerSecond,
            1_000 => value * TimeSpan.TicksPerMillisecond,
            1_000_000 => value * 10,
            _ => value / 100,
        };
        string text = DateTime.UnixEpoch.AddTicks(ticks).ToString("yyyy-MM-dd HH:mm:ss.fffffff", CultureInfo.InvariantCulture);
        return text.TrimEnd('0').TrimEnd('.');
    }

    private static string FormatInterval(byte* value)
    {
        int months = *(int*)value;
        int days = *(int*)(value + 4);
        long micros = *(long*)(value + 8);
        return string.Create(CultureInfo.InvariantCulture, $"{months} months {days} days {micros} microseconds");
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool IsValid(ulong* validity, int row) =>
        validity is null || (validity[row >> 6] & (1UL << (row & 63))) != 0;

    internal static ReadOnlySpan<byte> StringSpan(void* data, int row)
    {
        byte* entry = (byte*)data + ((long)row * 16);
        int length = *(int*)entry;
        byte* text = length <= 12 ? entry + 4 : *(byte**)(entry + 8);
        return new ReadOnlySpan<byte>(text, length);
    }

    internal static string ReadString(void* data, int row) => Encoding.UTF8.GetString(StringSpan(data, row));

    private void EnsureRow()
    {
        if (_chunk is null || _row < 0 || _row >= _chunkSize)
        {
            ThrowNoRow();
        }
    }

    private void* NonNull(int ordinal)
    {
        EnsureRow();
        if (!IsValid(_validity[ordinal], _row))
        {
            ThrowNull(ordinal);
        }
        return _data[ordinal];
    }

    [DoesNotReturn]
    private void ThrowNoRow() =>
        throw new InvalidOperationException(_done ? "The reader is past its last row." : "Call Read() before reading values.");

    [DoesNotReturn]
    private void ThrowNull(int ordinal) =>
        throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
            $"Column '{_names[ordinal]}' ({_types[ordinal].Name}) is NULL in row {_rowsRead}; check IsNull first."));

    [DoesNotReturn]
    private T ThrowWrongType<T>(int ordinal, string expected) =>
        throw new InvalidCastException($"Column '{_names[ordinal]}' has type {_types[ordinal].Name}, expected {expected}.");

    [DoesNotReturn]
    private T ThrowOverflow<T>(int ordinal, string value) =>
        throw new OverflowException($"Column '{_names[ordinal]}' ({_types[ordinal].Name}) holds {value}, which does not fit in {typeof(T).Name}.");
}
