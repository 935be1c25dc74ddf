using System.Globalization;

namespace Pipeline.Storage.DuckDb;

/// <summary>A DuckDB logical type, copied out of its native handle so it can outlive it.</summary>
internal sealed class ColumnType
{
    private ColumnType(DuckDbType id, string name, ColumnType? child, int decimalScale, DuckDbType decimalStorage, ulong arraySize)
    {
        Id = id;
        Name = name;
        Child = child;
        DecimalScale = decimalScale;
        DecimalStorage = decimalStorage;
        ArraySize = arraySize;
    }

    public DuckDbType Id { get; }

    /// <summary>The SQL spelling DuckDB uses (e.g. <c>DECIMAL(18,3)</c>, <c>VARCHAR[]</c>).</summary>
    public string Name { get; }

    /// <summary>Element type of a LIST or ARRAY.</summary>
    public ColumnType? Child { get; }

    public int DecimalScale { get; }

    /// <summary>Physical type of a DECIMAL (SMALLINT, INTEGER, BIGINT or HUGEINT).</summary>
    public DuckDbType DecimalStorage { get; }

    public ulong ArraySize { get; }

    /// <summary>Reads a logical type; does not take ownership of <paramref name="handle"/>.</summary>
    public static ColumnType FromHandle(IntPtr handle)
    {
        DuckDbType id = NativeMethods.GetTypeId(handle);
        switch (id)
        {
            case DuckDbType.List:
            {
                using var childType = new LogicalType(NativeMethods.ListTypeChildType(handle));
                ColumnType child = FromHandle(childType.Handle);
                return new ColumnType(id, child.Name + "[]", child, 0, DuckDbType.Invalid, 0);
            }
            case DuckDbType.Array:
            {
                using var childType = new LogicalType(NativeMethods.ArrayTypeChildType(handle));
                ColumnType child = FromHandle(childType.Handle);
                ulong size = NativeMethods.ArrayTypeArraySize(handle);
                return new ColumnType(id, string.Create(CultureInfo.InvariantCulture, $"{child.Name}[{size}]"), child, 0, DuckDbType.Invalid, size);
            }
            case DuckDbType.Decimal:
            {
                int width = NativeMethods.DecimalWidth(handle);
                int scale = NativeMethods.DecimalScale(handle);
                DuckDbType storage = NativeMethods.DecimalInternalType(handle);
                return new ColumnType(id, string.Create(CultureInfo.InvariantCulture, $"DECIMAL({width},{scale})"), null, scale, storage, 0);
            }
            default:
                return new ColumnType(id, SimpleName(id), null, 0, DuckDbType.Invalid, 0);
        }
    }

    /// <summary>SQL name of a type that has no parameters.</summary>
    public static string SimpleName(DuckDbType id) => id switch
    {
        DuckDbType.Boolean => "BOOLEAN",
        DuckDbType.TinyInt => "TINYINT",
        DuckDbType.SmallInt => "SMALLINT",
        DuckDbType.Integer => "INTEGER",
        DuckDbType.BigInt => "BIGINT",
        DuckDbType.UTinyInt => "UTINYINT",
        DuckDbType.USmallInt => "USMALLINT",
        DuckDbType.UInteger => "UINTEGER",
        DuckDbType.UBigInt => "UBIGINT",
        DuckDbType.Float => "FLOAT",
        DuckDbType.Double => "DOUBLE",
        DuckDbType.Timestamp => "TIMESTAMP",
        DuckDbType.Date => "DATE",
        DuckDbType.Time => "TIME",
        DuckDbType.Interval => "INTERVAL",
        DuckDbType.HugeInt => "HUGEINT",
        DuckDbType.UHugeInt => "UHUGEINT",
        DuckDbType.Varchar => "VARCHAR",
        DuckDbType.Blob => "BLOB",
        DuckDbType.TimestampS => "TIMESTAMP_S",
        DuckDbType.TimestampMs => "TIMESTAMP_MS",
        DuckDbType.TimestampNs => "TIMESTAMP_NS",
        DuckDbType.Enum => "ENUM",
        DuckDbType.Struct => "STRUCT",
        DuckDbType.Map => "MAP",
        DuckDbType.Uuid => "UUID",
        DuckDbType.Union => "UNION",
        DuckDbType.Bit => "BIT",
        DuckDbType.TimeTz => "TIME WITH TIME ZONE",
        DuckDbType.TimestampTz => "TIMESTAMP WITH TIME ZONE",
        _ => string.Create(CultureInfo.InvariantCulture, $"type #{(int)id}"),
    };

    public override string ToString() => Name;
}
