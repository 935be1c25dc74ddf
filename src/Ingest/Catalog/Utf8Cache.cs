using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;

namespace Pipeline.Ingest.Catalog;

/// <summary>
/// A direct-mapped cache from UTF-8 bytes to strings: comms, event names, field names and the small set of
/// symbolic values repeat on almost every line, so looking them up instead of decoding them keeps parsing
/// allocation-free. A colliding entry is simply replaced, so memory stays fixed whatever the input.
/// </summary>
/// <remarks>
/// Every key is summed up by its length and two 64-bit words (<see cref="Words"/>) that, for keys of up to 16
/// bytes, hold every byte of it: such a key (comms, flags, event and field names, most values) is found by three
/// integer compares, without a byte-wise comparison. Longer keys also keep their bytes in one flat array (a slot
/// of <c>maxKeyLength</c> bytes each) and are compared in full once the words match. A miss, which unique values
/// such as page addresses make on almost every event, allocates only the string it returns.
/// </remarks>
internal sealed class Utf8Cache<T>
    where T : class
{
    // Keys up to this length are held whole by their two words.
    private const int WordKeyLength = 16;

    private readonly byte[] _keys;
    private readonly Entry[] _entries;
    private readonly Func<string, T> _factory;
    private readonly int _mask;
    private readonly int _maxKeyLength;

    /// <summary>Creates a cache that makes values with <paramref name="factory"/>, with <paramref name="sizePow2"/> slots (a power of two).</summary>
    public Utf8Cache(Func<string, T> factory, int sizePow2 = 4096, int maxKeyLength = 64)
    {
        _factory = factory;
        _keys = new byte[sizePow2 * maxKeyLength];
        _entries = new Entry[sizePow2];
        _mask = sizePow2 - 1;
        _maxKeyLength = maxKeyLength;
    }

    /// <summary>The value for <paramref name="utf8"/>, made from its decoded string once and then shared.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public T Get(ReadOnlySpan<byte> utf8)
    {
        int n = utf8.Length;
        if (n > _maxKeyLength)
        {
            return _factory(Encoding.UTF8.GetString(utf8));
        }
        Words(utf8, out ulong head, out ulong tail);
        int slot = (int)Hash(utf8, head, tail) & _mask;
        ref Entry entry = ref _entries[slot];
        // A slot holds a value only once its key is stored, so an empty slot never matches (even the empty key).
        if (entry.Value is { } cached && entry.Length == n && entry.Head == head && entry.Tail == tail
            && (n <= WordKeyLength || utf8.SequenceEqual(_keys.AsSpan(slot * _maxKeyLength, n))))
        {
            return cached;
        }
        return Miss(utf8, slot, head, tail);
    }

    // Kept out of Get so the lookup that hits stays small.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private T Miss(ReadOnlySpan<byte> utf8, int slot, ulong head, ulong tail)
    {
        T value = _factory(Encoding.UTF8.GetString(utf8));
        if (utf8.Length > WordKeyLength)
        {
            utf8.CopyTo(_keys.AsSpan(slot * _maxKeyLength, _maxKeyLength));
        }
        ref Entry entry = ref _entries[slot];
        entry.Length = utf8.Length;
        entry.Head = head;
        entry.Tail = tail;
        entry.Value = value;
        return value;
    }

    /// <summary>
    /// Two words that, with the length, determine a key of up to 16 bytes: its first and last 8 bytes (they
    /// overlap below 16), its first and last 4 bytes below 8, and its first, middle and last byte below 4.
    /// Loads overlap rather than going byte by byte.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Words(ReadOnlySpan<byte> data, out ulong head, out ulong tail)
    {
        int n = data.Length;
        if (n >= 8)
        {
            head = BinaryPrimitives.ReadUInt64LittleEndian(data);
            tail = BinaryPrimitives.ReadUInt64LittleEndian(data[(n - 8)..]);
        }
        else if (n >= 4)
        {
            head = BinaryPrimitives.ReadUInt32LittleEndian(data) | ((ulong)BinaryPrimitives.ReadUInt32LittleEndian(data[(n - 4)..]) << 32);
            tail = 0;
        }
        else
        {
            head = n == 0 ? 0 : data[0] | ((ulong)data[n >> 1] << 8) | ((ulong)data[n - 1] << 16);
            tail = 0;
        }
    }

    // One slot's words, length and value side by side: a lookup reads one cache line.
    private struct Entry
    {
        public ulong Head;
        public ulong Tail;
        public T? Value;
        public int Length;
    }

    // A multiply-rotate over the two words and, for longer keys, the 8-byte words between them (any hash will do:
    // a slot is only a guess that the comparison checks).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Hash(ReadOnlySpan<byte> data, ulong head, ulong tail)
    {
        int n = data.Length;
        ulong h = 0x9E3779B97F4A7C15UL ^ (ulong)n;
        h = ulong.RotateLeft((h ^ head) * 0xFF51AFD7ED558CCDUL, 29);
        for (int i = 8; i + 8 < n; i += 8)
        {
            h = ulong.RotateLeft((h ^ BinaryPrimitives.ReadUInt64LittleEndian(data[i..])) * 0xFF51AFD7ED558CCDUL, 29);
        }
        h = (h ^ tail) * 0xC4CEB9FE1A85EC53UL;
        return h ^ (h >> 32);
    }
}
