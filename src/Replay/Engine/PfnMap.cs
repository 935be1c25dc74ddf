using System.Collections;
using System.Runtime.CompilerServices;

namespace Pipeline.Replay;

/// <summary>
/// A map from page frame number (or any 64-bit key) to a value, for the per-frame maps that replay consults on
/// every page event: the engine's page states and the lowering's frame → mapping. Open addressing with linear
/// probing, the key and value side by side in one array: a lookup touches one slot (usually one cache line),
/// where <see cref="Dictionary{TKey, TValue}"/> reads its bucket array, then its entry array. On a 12 M-event
/// recording these lookups were a fifth of the lowering + engine thread, nearly all of it cache misses
/// (docs/benchmarks.md, "Replay, 2026-12-06 (s24)").
/// </summary>
/// <remarks>
/// Enumeration order is the slot order, which depends on the keys and on the history of adds and removes; callers
/// must not depend on it (the engine's users sort by key or sum an order-free hash). Removal shifts the following
/// entries of the probe run back (no tombstones), so lookups stay short under the add/remove churn of page frames.
/// A slot holds key + 1 (0 marks a free slot); the one key that cannot be stored so, <see cref="ulong.MaxValue"/>,
/// is kept beside the array.
/// </remarks>
internal sealed class PfnMap<TValue> : IEnumerable<KeyValuePair<ulong, TValue>>
{
    private const int MinCapacity = 16;
    private Slot[] _slots = [];
    private int _shift = 64;
    private int _count;
    private int _growAt;
    private bool _hasMaxKey;
    private TValue _maxKeyValue = default!;

    /// <summary>Number of entries.</summary>
    public int Count => _count + (_hasMaxKey ? 1 : 0);

    /// <summary>The value of <paramref name="key"/>, added or replaced.</summary>
    public TValue this[ulong key]
    {
        set
        {
            if (key == ulong.MaxValue)
            {
                _hasMaxKey = true;
                _maxKeyValue = value;
                return;
            }
            int i = Find(key);
            if (i >= 0)
            {
                _slots[i].Value = value;
                return;
            }
            Insert(key, value);
        }
    }

    /// <summary>Whether <paramref name="key"/> is in the map, and its value.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryGetValue(ulong key, out TValue value)
    {
        int i = key == ulong.MaxValue ? -1 : Find(key);
        if (i >= 0)
        {
            value = _slots[i].Value;
            return true;
        }
        if (key == ulong.MaxValue && _hasMaxKey)
        {
            value = _maxKeyValue;
            return true;
        }
        value = default!;
        return false;
    }

    /// <summary>Whether <paramref name="key"/> is in the map.</summary>
    public bool ContainsKey(ulong key) => key == ulong.MaxValue ? _hasMaxKey : Find(key) >= 0;

    /// <summary>Adds <paramref name="key"/>, which must not be in the map.</summary>
    /// <exception cref="ArgumentException">The key is already in the map.</exception>
    public void Add(ulong key, TValue value)
    {
        if (!TryAdd(key, value))
        {
            throw new ArgumentException($"Key {key} is already in the map.", nameof(key));
        }
    }

    /// <summary>Adds <paramref name="key"/> unless it is in the map already; false then (its value unchanged).</summary>
    public bool TryAdd(ulong key, TValue value)
    {
        if (key == ulong.MaxValue)
        {
            if (_hasMaxKey)
            {
                return false;
            }
            _hasMaxKey = true;
            _maxKeyValue = value;
            return true;
        }
        if (Find(key) >= 0)
        {
            return false;
        }
        Insert(key, value);
        return true;
    }

    /// <summary>Removes <paramref name="key"/>; false when it was not in the map.</summary>
    public bool Remove(ulong key) => Remove(key, out _);

    /// <summary>Removes <paramref name="key"/> and gives its value; false when it was not in the map.</summary>
    public bool Remove(ulong key, out TValue value)
    {
        if (key == ulong.MaxValue)
        {
            value = _maxKeyValue;
            bool had = _hasMaxKey;
            _hasMaxKey = false;
            _maxKeyValue = default!;
            return had;
        }
        int i = Find(key);
        if (i < 0)
        {
            value = default!;
            return false;
        }
        value = _slots[i].Value;
        // Backward shift: each later entry of the run moves into the hole unless its home slot lies cyclically
        // after the hole (then moving it would put it before its home, where a lookup would not find it).
        Slot[] slots = _slots;
        int mask = slots.Length - 1;
        int j = i;
        while (true)
        {
            j = (j + 1) & mask;
            ulong tag = slots[j].Tag;
            if (tag == 0)
            {
                break;
            }
            int home = Home(tag - 1);
            bool stays = i <= j ? i < home && home <= j : i < home || home <= j;
            if (!stays)
            {
                slots[i] = slots[j];
                i = j;
            }
        }
        slots[i] = default;
        _count--;
        return true;
    }

    /// <summary>Removes every entry, keeping the capacity.</summary>
    public void Clear()
    {
        Array.Clear(_slots);
        _count = 0;
        _hasMaxKey = false;
        _maxKeyValue = default!;
    }

    /// <summary>Makes room for <paramref name="capacity"/> entries without growing again.</summary>
    public void EnsureCapacity(int capacity)
    {
        if (capacity > _growAt)
        {
            Resize(SlotsFor(capacity));
        }
    }

    /// <summary>The entries in slot order (not a meaningful order).</summary>
    public Enumerator GetEnumerator() => new(this);

    IEnumerator<KeyValuePair<ulong, TValue>> IEnumerable<KeyValuePair<ulong, TValue>>.GetEnumerator() => GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Home(ulong key) => (int)((key * 0x9E3779B97F4A7C15UL) >> _shift);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Find(ulong key)
    {
        Slot[] slots = _slots;
        if (_count == 0)
        {
            return -1;
        }
        ulong tag = key + 1;
        int mask = slots.Length - 1;
        for (int i = Home(key); ; i = (i + 1) & mask)
        {
            ulong t = slots[i].Tag;
            if (t == tag)
            {
                return i;
            }
            if (t == 0)
            {
                return -1;
            }
        }
    }

    private void Insert(ulong key, TValue value)
    {
        if (_count >= _growAt)
        {
            Resize(SlotsFor(_count + 1));
        }
        Slot[] slots = _slots;
        int mask = slots.Length - 1;
        int i = Home(key);
        while (slots[i].Tag != 0)
        {
            i = (i + 1) & mask;
        }
        slots[i].Tag = key + 1;
        slots[i].Value = value;
        _count++;
    }

    // A power of two with the entries at most 70 % of it: linear probing's runs stay short below that.
    private static int SlotsFor(int entries)
    {
        int slots = MinCapacity;
        while (entries > slots / 10 * 7)
        {
            slots = checked(slots * 2);
        }
        return slots;
    }

    private void Resize(int size)
    {
        if (size <= _slots.Length)
        {
            return;
        }
        Slot[] old = _slots;
        _slots = new Slot[size];
        _shift = 64 - System.Numerics.BitOperations.Log2((uint)size);
        _growAt = size / 10 * 7;
        int mask = size - 1;
        foreach (ref readonly Slot s in old.AsSpan())
        {
            if (s.Tag == 0)
            {
                continue;
            }
            int i = Home(s.Tag - 1);
            while (_slots[i].Tag != 0)
            {
                i = (i + 1) & mask;
            }
            _slots[i] = s;
        }
    }

    private struct Slot
    {
        public ulong Tag;
        public TValue Value;
    }

    /// <summary>Walks the slots, then the key kept beside them.</summary>
    public struct Enumerator : IEnumerator<KeyValuePair<ulong, TValue>>
    {
        private readonly PfnMap<TValue> _map;
        private int _index;

        internal Enumerator(PfnMap<TValue> map)
        {
            _map = map;
            _index = -1;
            Current = default;
        }

        public KeyValuePair<ulong, TValue> Current { get; private set; }

        readonly object IEnumerator.Current => Current;

        public bool MoveNext()
        {
            Slot[] slots = _map._slots;
            while (++_index < slots.Length)
            {
                if (slots[_index].Tag != 0)
                {
                    Current = new KeyValuePair<ulong, TValue>(slots[_index].Tag - 1, slots[_index].Value);
                    return true;
                }
            }
            if (_index == slots.Length && _map._hasMaxKey)
            {
                Current = new KeyValuePair<ulong, TValue>(ulong.MaxValue, _map._maxKeyValue);
                return true;
            }
            _index = slots.Length + 1;
            return false;
        }

        public void Reset() => _index = -1;

        public readonly void Dispose()
        {
        }
    }
}
