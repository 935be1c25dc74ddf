namespace Pipeline.Ingest.TraceDat;

/// <summary>How a format-file field is laid out in the record.</summary>
public enum FieldLayout
{
    /// <summary>A scalar integer (1, 2, 4 or 8 bytes; pointers, bool, enums included).</summary>
    Scalar,
    /// <summary>A fixed-size array (<c>char comm[16]</c>, <c>unsigned long caller[8]</c>).</summary>
    FixedArray,
    /// <summary>A flexible tail array (<c>char buf[]</c> with size 0): runs to the end of the payload.</summary>
    TailArray,
    /// <summary><c>__data_loc</c>: a u32 with the data offset from the record start (low 16 bits) and its length (high 16 bits).</summary>
    DataLoc,
    /// <summary><c>__rel_loc</c> (kernel 5.19+): like <see cref="DataLoc"/> but the offset counts from the end of the field.</summary>
    RelLoc,
}

/// <summary>One <c>field:</c> line of an event format file.</summary>
public sealed class FormatField
{
    internal FormatField(string name, string type, int offset, int size, bool isSigned, FieldLayout layout, int arrayLength, int elementSize, bool isCommon)
    {
        Name = name;
        Type = type;
        Offset = offset;
        Size = size;
        IsSigned = isSigned;
        Layout = layout;
        ArrayLength = arrayLength;
        ElementSize = elementSize;
        IsCommon = isCommon;
        IsPointer = type.Contains('*', StringComparison.Ordinal);
        IsString = layout != FieldLayout.Scalar && IsCharType(type);
    }

    /// <summary>Field name (the last identifier of the declaration).</summary>
    public string Name { get; }

    /// <summary>C type as written, without the name and array suffix (<c>unsigned long</c>, <c>__data_loc char[]</c>).</summary>
    public string Type { get; }

    /// <summary>Byte offset from the start of the record (<c>common_type</c>).</summary>
    public int Offset { get; }

    /// <summary>Size in bytes (total for fixed arrays; 4 for <c>__data_loc</c>; 0 for tail arrays).</summary>
    public int Size { get; }

    /// <summary>Whether the value is sign-extended when read (<c>signed:1</c>).</summary>
    public bool IsSigned { get; }

    /// <summary>Scalar, array or dynamic layout.</summary>
    public FieldLayout Layout { get; }

    /// <summary>Number of elements of a fixed array; 0 otherwise.</summary>
    public int ArrayLength { get; }

    /// <summary>Size of one element for arrays and dynamic arrays, the field size for scalars.</summary>
    public int ElementSize { get; }

    /// <summary>Whether this is one of the common fields (the group before the first blank line).</summary>
    public bool IsCommon { get; }

    /// <summary>Whether the C type is a pointer.</summary>
    public bool IsPointer { get; }

    /// <summary>Whether the field holds text (a <c>char</c> array, fixed, flexible or dynamic).</summary>
    public bool IsString { get; }

    /// <inheritdoc />
    public override string ToString() => $"{Type} {Name} @{Offset} size {Size}{(IsSigned ? " signed" : "")}";

    internal static bool IsCharType(string type)
    {
        var t = type.AsSpan();
        if (t.StartsWith("__data_loc ", StringComparison.Ordinal))
        {
            t = t["__data_loc ".Length..];
        }
        else if (t.StartsWith("__rel_loc ", StringComparison.Ordinal))
        {
            t = t["__rel_loc ".Length..];
        }
        if (t.StartsWith("const ", StringComparison.Ordinal))
        {
            t = t["const ".Length..];
        }
        t = t.TrimEnd("[]").Trim();
        return t.SequenceEqual("char");
    }
}
