using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace Pipeline.Storage.DuckDb;

/// <summary>
/// Writes one column of the appender's data chunk straight into vector memory. One sealed subclass per
/// DuckDB type, chosen by <see cref="Create"/>; the typed <c>Set</c> methods are the fast path, the virtual
/// <c>Write*</c> methods serve the generic row API and reject values of the wrong type.
/// </summary>
internal abstract unsafe class ColumnWriter
{
    private ulong* _validity;

    protected ColumnWriter(string table, int column, string name, ColumnType type)
    {
        Table = table;
        Column = column;
        Name = name;
        Type = type;
    }

    public string Table { get; }

    public int Column { get; }

    public string Name { get; }

    public ColumnType Type { get; }

    protected IntPtr Vector { get; private set; }

    protected void* Data { get; private set; }

    /// <summary>Where string bytes that must outlive the caller go until the chunk is consumed.</summary>
    public StringArena Arena { get; set; } = null!;

    public static ColumnWriter Create(string table, int column, string name, ColumnType type, StringArena arena)
    {
        ColumnWriter writer = CreateTyped(table, column, name, type);
        writer.Arena = arena;
        return writer;
    }

    private static ColumnWriter CreateTyped(string table, int column, string name, ColumnType type) => type.Id switch
    {
        DuckDbType.BigInt => new Int64ColumnWriter(table, column, name, type),
        DuckDbType.UBigInt => new UInt64ColumnWriter(table, column, name, type),
        DuckDbType.Integer => new Int32ColumnWriter(table, column, name, type),
        DuckDbType.Boolean => new BoolColumnWriter(table, column, name, type),
        DuckDbType.Double => new DoubleColumnWriter(table, column, name, type),
        DuckDbType.Varchar => new VarcharColumnWriter(table, column, name, type),
        DuckDbType.List when type.Child!.Id == DuckDbType.Varchar => new VarcharListColumnWriter(table, column, name, type),
        _ => throw new NotSupportedException(
            $"Table '{table}' column {column} '{name}' has type {type.Name}; the appender writes BIGINT, UBIGINT, INTEGER, BOOLEAN, DOUBLE, VARCHAR and VARCHAR[] columns."),
    };

    /// <summary>Points the writer at the chunk's vector (after creation and after every chunk reset).</summary>
    public virtual void Bind(IntPtr vector)
    {
        Vector = vector;
        Data = NativeMethods.VectorGetData(vector);
        NativeMethods.VectorEnsureValidityWritable(vector);
        _validity = NativeMethods.VectorGetValidity(vector);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetNull(int row) => _validity[row >> 6] &= ~(1UL << (row & 63));

    public virtual void WriteInt64(int row, long value) => ThrowMismatch("a BIGINT (long)");

    public virtual void WriteUInt64(int row, ulong value) => ThrowMismatch("a UBIGINT (ulong)");

    public virtual void WriteInt32(int row, int value) => WriteInt64(row, value);

    public virtual void WriteBool(int row, bool value) => ThrowMismatch("a BOOLEAN (bool)");

    public virtual void WriteDouble(int row, double value) => ThrowMismatch("a DOUBLE (double)");

    public virtual void WriteString(int row, string value) => ThrowMismatch("a VARCHAR (string)");

    public virtual void WriteStringList(int row, IReadOnlyList<string?> value) => ThrowMismatch("a VARCHAR[] (list of strings)");

    [DoesNotReturn]
    protected void ThrowMismatch(string found) =>
        throw new InvalidCastException($"Table '{Table}' column {Column} '{Name}' is {Type.Name}, but {found} was appended.");

    [DoesNotReturn]
    protected void ThrowOutOfRange(string value) =>
        throw new OverflowException($"Table '{Table}' column {Column} '{Name}' is {Type.Name}, which cannot hold {value}.");
}

internal sealed unsafe class Int64ColumnWriter(string table, int column, string name, ColumnType type)
    : ColumnWriter(table, column, name, type)
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Set(int row, long value) => ((long*)Data)[row] = value;

    public override void WriteInt64(int row, long value) => Set(row, value);

    public override void WriteUInt64(int row, ulong value)
    {
        if (value > long.MaxValue)
        {
            ThrowOutOfRange(value.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        Set(row, (long)value);
    }
}

internal sealed unsafe class UInt64ColumnWriter(string table, int column, string name, ColumnType type)
    : ColumnWriter(table, column, name, type)
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Set(int row, ulong value) => ((ulong*)Data)[row] = value;

    public override void WriteUInt64(int row, ulong value) => Set(row, value);

    public override void WriteInt64(int row, long value)
    {
        if (value < 0)
        {
            ThrowOutOfRange(value.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        Set(row, (ulong)value);
    }
}

internal sealed unsafe class Int32ColumnWriter(string table, int column, string name, ColumnType type)
    : ColumnWriter(table, column, name, type)
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Set(int row, int value) => ((int*)Data)[row] = value;

    public override void WriteInt32(int row, int value) => Set(row, value);

    public override void WriteInt64(int row, long value)
    {
        if (value is < int.MinValue or > int.MaxValue)
        {
            ThrowOutOfRange(value.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        Set(row, (int)value);
    }
}

internal sealed unsafe class BoolColumnWriter(string table, int column, string name, ColumnType type)
    : ColumnWriter(table, column, name, type)
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Set(int row, bool value) => ((byte*)Data)[row] = value ? (byte)1 : (byte)0;

    public override void WriteBool(int row, bool value) => Set(row, value);
}

internal sealed unsafe class DoubleColumnWriter(string table, int column, string name, ColumnType type)
    : ColumnWriter(table, column, name, type)
{
    public override void WriteDouble(int row, double value) => ((double*)Data)[row] = value;
}

/// <summary>
/// Writes <c>duckdb_string_t</c> entries (16 bytes): up to 12 bytes inline after the length, longer strings as
/// length, 4-byte prefix and a pointer to bytes that stay valid until the chunk is appended.
/// </summary>
internal static unsafe class StringEntry
{
    /// <summary>Strings up to this many bytes live inside the 16-byte entry itself.</summary>
    public const int InlineLength = 12;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Write(void* data, int row, ReadOnlySpan<byte> utf8, StringArena arena)
    {
        byte* entry = (byte*)data + ((long)row * 16);
        if (utf8.Length <= InlineLength)
        {
            WriteInline(entry, utf8);
            return;
        }
        WritePointer(entry, arena.Copy(utf8), utf8.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Write(void* data, int row, NativeUtf8 utf8, StringArena arena)
    {
        byte* entry = (byte*)data + ((long)row * 16);
        if (utf8.Length <= InlineLength)
        {
            WriteInline(entry, utf8.Span);
            return;
        }
        WritePointer(entry, utf8.Persistent ? utf8.Pointer : arena.Copy(utf8.Span), utf8.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WriteInline(byte* entry, ReadOnlySpan<byte> utf8)
    {
        *(ulong*)entry = 0;
        *(ulong*)(entry + 8) = 0;
        *(uint*)entry = (uint)utf8.Length;
        utf8.CopyTo(new Span<byte>(entry + 4, InlineLength));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WritePointer(byte* entry, byte* text, int length)
    {
        *(uint*)entry = (uint)length;
        *(uint*)(entry + 4) = Unsafe.ReadUnaligned<uint>(text);
        *(byte**)(entry + 8) = text;
    }
}

internal sealed unsafe class VarcharColumnWriter(string table, int column, string name, ColumnType type)
    : ColumnWriter(table, column, name, type)
{
    private byte[] _scratch = new byte[256];

    /// <summary>Writes valid UTF-8 (not re-validated: callers encode from .NET strings).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Set(int row, ReadOnlySpan<byte> utf8) => StringEntry.Write(Data, row, utf8, Arena);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Set(int row, NativeUtf8 utf8) => StringEntry.Write(Data, row, utf8, Arena);

    public void Set(int row, string value) => Set(row, Encode(ref _scratch, value));

    public override void WriteString(int row, string value) => Set(row, value);

    /// <summary>UTF-8 of <paramref name="value"/> in a reusable buffer that grows as needed.</summary>
    public static ReadOnlySpan<byte> Encode(ref byte[] scratch, string value)
    {
        if (value.Length * 3 > scratch.Length)
        {
            int needed = Encoding.UTF8.GetByteCount(value);
            if (needed > scratch.Length)
            {
                scratch = new byte[Math.Max(needed, scratch.Length * 2)];
            }
        }
        int length = Encoding.UTF8.GetBytes(value, scratch);
        return new ReadOnlySpan<byte>(scratch, 0, length);
    }
}

internal sealed unsafe class VarcharListColumnWriter(string table, int column, string name, ColumnType type)
    : ColumnWriter(table, column, name, type)
{
    private byte[] _scratch = new byte[256];
    private IntPtr _child;
    private void* _childData;
    private ulong* _childValidity;
    private ulong _size;
    private ulong _capacity;

    public override void Bind(IntPtr vector)
    {
        base.Bind(vector);
        _child = NativeMethods.ListVectorGetChild(vector);
        _size = NativeMethods.ListVectorGetSize(vector);
        _capacity = 0;
        BindChild();
    }

    public void Set(int row, IReadOnlyList<string?> items)
    {
        int count = items.Count;
        ulong needed = _size + (ulong)count;
        if (needed > _capacity)
        {
            Reserve(needed);
        }
        ((DuckDbListEntry*)Data)[row] = new DuckDbListEntry { Offset = _size, Length = (ulong)count };
        for (int i = 0; i < count; i++)
        {
            int index = (int)_size + i;
            string? item = items[i];
            if (item is null)
            {
                _childValidity[index >> 6] &= ~(1UL << (index & 63));
            }
            else
            {
                StringEntry.Write(_childData, index, VarcharColumnWriter.Encode(ref _scratch, item), Arena);
            }
        }
        _size = needed;
        if (!NativeMethods.Ok(NativeMethods.ListVectorSetSize(Vector, _size)))
        {
            throw new DuckDbException($"Table '{Table}' column '{Name}': DuckDB could not set the list size to {_size}.");
        }
    }

    public override void WriteStringList(int row, IReadOnlyList<string?> value) => Set(row, value);

    private void Reserve(ulong needed)
    {
        ulong capacity = Math.Max(needed, Math.Max(_capacity * 2, 1024));
        if (!NativeMethods.Ok(NativeMethods.ListVectorReserve(Vector, capacity)))
        {
            throw new DuckDbException($"Table '{Table}' column '{Name}': DuckDB could not reserve {capacity} list elements.");
        }
        _capacity = capacity;
        // Reserving may move the child's data and validity buffers.
        BindChild();
    }

    private void BindChild()
    {
        _childData = NativeMethods.VectorGetData(_child);
        NativeMethods.VectorEnsureValidityWritable(_child);
        _childValidity = NativeMethods.VectorGetValidity(_child);
    }
}
