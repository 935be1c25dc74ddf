using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Pipeline.Ingest.TraceDat;

/// <summary>Where an array field's bytes are inside a record.</summary>
internal readonly struct ArraySlice(int start, int length, bool isError)
{
    public int Start { get; } = start;

    public int Length { get; } = length;

    public bool IsError { get; } = isError;

    public ReadOnlySpan<byte> Span(ReadOnlySpan<byte> record) => record.Slice(Start, Length);
}

/// <summary>Reading array, string and dynamic fields out of a record payload.</summary>
internal static class RecordFields
{
    /// <summary>
    /// The bytes of an array field: fixed arrays in place, tail arrays to the end of the payload,
    /// <c>__data_loc</c>/<c>__rel_loc</c> through their offset/length word (bounded by the payload).
    /// </summary>
    public static ArraySlice GetArrayBytes(FormatField field, ReadOnlySpan<byte> record, bool bigEndian)
    {
        switch (field.Layout)
        {
            case FieldLayout.FixedArray:
            case FieldLayout.Scalar:
                return field.Offset + field.Size <= record.Length
                    ? new ArraySlice(field.Offset, field.Size, false)
                    : new ArraySlice(0, 0, true);
            case FieldLayout.TailArray:
                return field.Offset <= record.Length
                    ? new ArraySlice(field.Offset, record.Length - field.Offset, false)
                    : new ArraySlice(0, 0, true);
            default:
            {
                if (field.Offset + field.Size > record.Length || field.Size is not (2 or 4))
                {
                    return new ArraySlice(0, 0, true);
                }
                int start, length;
                if (field.Size == 2)
                {
                    // Ancient kernels: a u16 offset, the data runs to its NUL.
                    start = bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(record[field.Offset..]) : BinaryPrimitives.ReadUInt16LittleEndian(record[field.Offset..]);
                    if (start > record.Length)
                    {
                        return new ArraySlice(0, 0, true);
                    }
                    int nul = record[start..].IndexOf((byte)0);
                    length = nul < 0 ? record.Length - start : nul + 1;
                }
                else
                {
                    uint word = bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(record[field.Offset..]) : BinaryPrimitives.ReadUInt32LittleEndian(record[field.Offset..]);
                    start = (int)(word & 0xffff);
                    length = (int)(word >> 16);
                    if (field.Layout == FieldLayout.RelLoc)
                    {
                        start += field.Offset + field.Size;
                    }
                }
                return start + length <= record.Length ? new ArraySlice(start, length, false) : new ArraySlice(0, 0, true);
            }
        }
    }

    /// <summary>Text up to the first NUL (kernel strings are bytes; decoded as UTF-8).</summary>
    public static string DecodeString(ReadOnlySpan<byte> bytes)
    {
        int nul = bytes.IndexOf((byte)0);
        if (nul >= 0)
        {
            bytes = bytes[..nul];
        }
        return bytes.IsEmpty ? "" : Encoding.UTF8.GetString(bytes);
    }

    /// <summary>
    /// The kernel's bitmap rendering (<c>%*pb</c>): 32-bit chunks, most significant first, comma separated,
    /// the first chunk only as wide as its bit count needs.
    /// </summary>
    public static string FormatBitmap(ReadOnlySpan<byte> bytes, bool bigEndian)
    {
        int bits = bytes.Length * 8;
        if (bits == 0)
        {
            return "";
        }
        int chunks = (bits + 31) / 32;
        var sb = new StringBuilder();
        for (int c = chunks - 1; c >= 0; c--)
        {
            uint value = 0;
            for (int b = 0; b < 4; b++)
            {
                int index = c * 4 + b;
                if (index < bytes.Length)
                {
                    // Bitmaps are arrays of longs: byte order within each long follows the machine.
                    int physical = bigEndian ? (index / 8 * 8) + (7 - index % 8) : index;
                    value |= (uint)bytes[physical] << (8 * b);
                }
            }
            int chunkBits = Math.Min(32, bits - c * 32);
            int digits = (chunkBits + 3) / 4;
            if (sb.Length > 0)
            {
                sb.Append(',');
            }
            sb.Append(value.ToString("x" + digits.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }
}
