using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace Pipeline.Storage;

/// <summary>
/// Serializes <see cref="EventRow.Args"/> as a JSON object of strings, in order, into a reusable UTF-8 buffer
/// (RFC 8259 escaping of quote, backslash and control characters; other characters stay raw UTF-8).
/// </summary>
internal sealed class JsonArgs
{
    private static readonly SearchValues<char> s_needsEscape = SearchValues.Create(
        "\"\\\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\u0008\u0009\u000a\u000b\u000c\u000d\u000e\u000f"
        + "\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f");

    private static readonly byte[] s_hex = "0123456789abcdef"u8.ToArray();

    private readonly Parquet.ByteBuffer _buffer = new(1024);

    /// <summary>The JSON of <paramref name="args"/> (valid until the next call).</summary>
    public ReadOnlySpan<byte> Serialize(List<KeyValuePair<string, string>> args)
    {
        _buffer.Clear();
        Write(_buffer, CollectionsMarshal.AsSpan(args));
        return _buffer.Written;
    }

    /// <summary>Appends the JSON object of <paramref name="args"/> to <paramref name="output"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Write(Parquet.ByteBuffer output, ReadOnlySpan<KeyValuePair<string, string>> args)
    {
        output.WriteByte((byte)'{');
        for (int i = 0; i < args.Length; i++)
        {
            if (i > 0)
            {
                output.WriteByte((byte)',');
            }
            WriteString(output, args[i].Key);
            output.WriteByte((byte)':');
            WriteString(output, args[i].Value);
        }
        output.WriteByte((byte)'}');
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void WriteString(Parquet.ByteBuffer output, string value)
    {
        // Fast path: printable ASCII with nothing to escape (almost every field name and value), one byte per char.
        Span<byte> span = output.GetSpan(value.Length + 2);
        span[0] = (byte)'"';
        int i = 0;
        for (; i < value.Length; i++)
        {
            char c = value[i];
            if (c < 0x20 || c >= 0x7F || c == '"' || c == '\\')
            {
                break;
            }
            span[i + 1] = (byte)c;
        }
        if (i == value.Length)
        {
            span[i + 1] = (byte)'"';
            output.Advance(i + 2);
            return;
        }
        output.Advance(i + 1);
        ReadOnlySpan<char> rest = value.AsSpan(i);
        while (!rest.IsEmpty)
        {
            int special = rest.IndexOfAny(s_needsEscape);
            ReadOnlySpan<char> plain = special < 0 ? rest : rest[..special];
            if (!plain.IsEmpty)
            {
                int written = Encoding.UTF8.GetBytes(plain, output.GetSpan(Encoding.UTF8.GetMaxByteCount(plain.Length)));
                output.Advance(written);
            }
            if (special < 0)
            {
                break;
            }
            WriteEscape(output, rest[special]);
            rest = rest[(special + 1)..];
        }
        output.WriteByte((byte)'"');
    }

    private static void WriteEscape(Parquet.ByteBuffer output, char c)
    {
        output.WriteByte((byte)'\\');
        switch (c)
        {
            case '"': output.WriteByte((byte)'"'); break;
            case '\\': output.WriteByte((byte)'\\'); break;
            case '\n': output.WriteByte((byte)'n'); break;
            case '\r': output.WriteByte((byte)'r'); break;
            case '\t': output.WriteByte((byte)'t'); break;
            case '\b': output.WriteByte((byte)'b'); break;
            case '\f': output.WriteByte((byte)'f'); break;
            default:
                output.WriteByte((byte)'u');
                output.WriteByte((byte)'0');
                output.WriteByte((byte)'0');
                output.WriteByte(s_hex[c >> 4]);
                output.WriteByte(s_hex[c & 0xF]);
                break;
        }
    }
}
