using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;

namespace Pipeline.Ingest.Catalog;

/// <summary>
/// A direct-mapped cache from UTF-8 bytes to strings: comms, event names, field names and the small set of
/// symbolic values repeat on almost every line, so looking them up instead of decoding them keeps parsing
/// allocation-free. A colliding entry is simply replaced, so memory stays fixed whatever the input. The keys live
/// in one flat array (a slot of <c>maxKeyLength</c> bytes each): a miss, which unique values such as page
/// addresses make on almost every event, then allocates only the string it returns.
/// </summary>
internal sealed class Utf8Cache<T>
    where T : class
{
    private readonly byte[] _keys;
    private readonly int[] _keyLengths;
    private readonly T?[] _values;
    private readonly Func<string, T> _factory;
    private readonly int _mask;
    private readonly int _maxKeyLength;

    /// <summary>Creates a cache that makes values with <paramref name="factory"/>, with <paramref name="sizePow2"/> slots (a power of two).</summary>
    public Utf8Cache(Func<string, T> factory, int sizePow2 = 4096, int maxKeyLength = 64)
    {
        _factory = factory;
        _keys = new byte[sizePow2 * maxKeyLength];
        _keyLengths = new int[sizePow2];
        _values = new T[sizePow2];
        _mask = sizePow2 - 1;
        _maxKeyLength = maxKeyLength;
    }

    /// <summary>The value for <paramref name="utf8"/>, made from its decoded string once and then shared.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public T Get(ReadOnlySpan<byte> utf8)
    {
        if (utf8.Length > _maxKeyLength)
        {
            return _factory(Encoding.UTF8.GetString(utf8));
        }
        int slot = (int)Hash(utf8) & _mask;
        Span<byte> key = _keys.AsSpan(slot * _maxKeyLength, _maxKeyLength);
        T? cached = _values[slot];
        // A slot holds a value only once its key is stored, so an empty slot never matches (even the empty key).
        if (cached is not null && _keyLengths[slot] == utf8.Length && utf8.SequenceEqual(key[..utf8.Length]))
        {
            return cached;
        }
        T value = _factory(Encoding.UTF8.GetString(utf8));
        utf8.CopyTo(key);
        _keyLengths[slot] = utf8.Length;
        _values[slot] = value;
        return value;
    }

    // Short keys only: a multiply-rotate over 8-byte words; the last partial word is read as two overlapping
    // loads rather than byte by byte (any hash will do: a slot is only a guess that the key comparison checks).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static ulong Hash(ReadOnlySpan<byte> data)
    {
        ulong h = 0x9E3779B97F4A7C15UL ^ (ulong)data.Length;
        int n = data.Length;
        ulong tail;
        if (n >= 8)
        {
            int i = 0;
            for (; i + 8 < n; i += 8)
            {
                h = ulong.RotateLeft((h ^ BinaryPrimitives.ReadUInt64LittleEndian(data[i..])) * 0xFF51AFD7ED558CCDUL, 29);
            }
            tail = BinaryPrimitives.ReadUInt64LittleEndian(data[(n - 8)..]);
        }
        else if (n >= 4)
        {
            tail = BinaryPrimitives.ReadUInt32LittleEndian(data) | ((ulong)BinaryPrimitives.ReadUInt32LittleEndian(data[(n - 4)..]) << 32);
        }
        else
        {
            tail = n == 0 ? 0 : data[0] | ((ulong)data[n >> 1] << 8) | ((ulong)data[n - 1] << 16);
        }
        h = (h ^ tail) * 0xC4CEB9FE1A85EC53UL;
        return h ^ (h >> 32);
    }
}
