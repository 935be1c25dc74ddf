using System.Buffers;
using System.Runtime.CompilerServices;
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

    private byte[] _buffer = new byte[1024];
    private int _length;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public ReadOnlySpan<byte> Serialize(List<KeyValuePair<string, string>> args)
    {
        _length = 0;
        Put((byte)'{');
        for (int i = 0; i < args.Count; i++)
        {
            if (i > 0)
            {
                Put((byte)',');
            }
            WriteString(args[i].Key);
            Put((byte)':');
            WriteString(args[i].Value);
        }
        Put((byte)'}');
        return new ReadOnlySpan<byte>(_buffer, 0, _length);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void WriteString(string value)
    {
        Put((byte)'"');
        ReadOnlySpan<char> rest = value;
        while (!rest.IsEmpty)
        {
            int special = rest.IndexOfAny(s_needsEscape);
            ReadOnlySpan<char> plain = special < 0 ? rest : rest[..special];
            if (!plain.IsEmpty)
            {
                Ensure(plain.Length * 3);
                _length += Encoding.UTF8.GetBytes(plain, _buffer.AsSpan(_length));
            }
            if (special < 0)
            {
                break;
            }
            WriteEscape(rest[special]);
            rest = rest[(special + 1)..];
        }
        Put((byte)'"');
    }

    private void WriteEscape(char c)
    {
        Ensure(6);
        _buffer[_length++] = (byte)'\\';
        switch (c)
        {
            case '"': _buffer[_length++] = (byte)'"'; break;
            case '\\': _buffer[_length++] = (byte)'\\'; break;
            case '\n': _buffer[_length++] = (byte)'n'; break;
            case '\r': _buffer[_length++] = (byte)'r'; break;
            case '\t': _buffer[_length++] = (byte)'t'; break;
            case '\b': _buffer[_length++] = (byte)'b'; break;
            case '\f': _buffer[_length++] = (byte)'f'; break;
            default:
                _buffer[_length++] = (byte)'u';
                _buffer[_length++] = (byte)'0';
                _buffer[_length++] = (byte)'0';
                _buffer[_length++] = s_hex[c >> 4];
                _buffer[_length++] = s_hex[c & 0xF];
                break;
        }
    }

    private void Put(byte b)
    {
        Ensure(1);
        _buffer[_length++] = b;
    }

    private void Ensure(int more)
    {
        if (_length + more > _buffer.Length)
        {
            Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + more));
        }
    }
}
