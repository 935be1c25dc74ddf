using System.Text;

namespace Pipeline.Storage.Parquet;

/// <summary>
/// The subset of Thrift's compact protocol that Parquet metadata needs (page headers and the file footer):
/// structs with delta-encoded field headers, i8/i16/i32/i64 (zigzag varints), bool, binary/string, lists.
/// </summary>
internal sealed class ThriftCompactWriter(ByteBuffer output)
{
    // Compact-protocol type ids.
    private const byte BoolTrue = 1;
    private const byte BoolFalse = 2;
    private const byte I8 = 3;
    private const byte I32 = 5;
    private const byte I64 = 6;
    private const byte Binary = 8;
    private const byte List = 9;
    private const byte Struct = 12;

    private readonly Stack<short> _lastFieldIds = new();
    private short _lastFieldId;

    public ByteBuffer Output => output;

    /// <summary>Begins a nested struct (the outermost struct needs no field header: call with no field).</summary>
    public void BeginStruct()
    {
        _lastFieldIds.Push(_lastFieldId);
        _lastFieldId = 0;
    }

    public void EndStruct()
    {
        output.WriteByte(0);
        _lastFieldId = _lastFieldIds.Pop();
    }

    public void StructField(short id)
    {
        FieldHeader(id, Struct);
        BeginStruct();
    }

    public void I8Field(short id, sbyte value)
    {
        FieldHeader(id, I8);
        output.WriteByte(unchecked((byte)value));
    }

    public void I32Field(short id, int value)
    {
        FieldHeader(id, I32);
        output.WriteZigZag(value);
    }

    public void I64Field(short id, long value)
    {
        FieldHeader(id, I64);
        output.WriteZigZag(value);
    }

    public void BoolField(short id, bool value) => FieldHeader(id, value ? BoolTrue : BoolFalse);

    public void BinaryField(short id, ReadOnlySpan<byte> value)
    {
        FieldHeader(id, Binary);
        WriteBinary(value);
    }

    public void StringField(short id, string value) => BinaryField(id, Encoding.UTF8.GetBytes(value));

    /// <summary>A list of i32 (enums).</summary>
    public void I32ListField(short id, ReadOnlySpan<int> values)
    {
        FieldHeader(id, List);
        ListHeader(values.Length, I32);
        foreach (int value in values)
        {
            output.WriteZigZag(value);
        }
    }

    public void StringListField(short id, IReadOnlyList<string> values)
    {
        FieldHeader(id, List);
        ListHeader(values.Count, Binary);
        foreach (string value in values)
        {
            WriteBinary(Encoding.UTF8.GetBytes(value));
        }
    }

    /// <summary>A list of structs: write each element with <see cref="BeginStruct"/>…<see cref="EndStruct"/>.</summary>
    public void StructListField(short id, int count)
    {
        FieldHeader(id, List);
        ListHeader(count, Struct);
    }

    private void ListHeader(int count, byte elementType)
    {
        if (count < 15)
        {
            output.WriteByte((byte)((count << 4) | elementType));
        }
        else
        {
            output.WriteByte((byte)(0xF0 | elementType));
            output.WriteVarUInt64((ulong)count);
        }
    }

    private void WriteBinary(ReadOnlySpan<byte> value)
    {
        output.WriteVarUInt64((ulong)value.Length);
        output.Write(value);
    }

    private void FieldHeader(short id, byte type)
    {
        int delta = id - _lastFieldId;
        if (delta is > 0 and <= 15)
        {
            output.WriteByte((byte)((delta << 4) | type));
        }
        else
        {
            output.WriteByte(type);
            output.WriteZigZag(id);
        }
        _lastFieldId = id;
    }
}
