using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Pipeline.Replay;

/// <summary>
/// One CPU's TLB: entries by key (<c>ReplayEngine.TlbKey</c>), with the entries of each mm linked so that a flush
/// of one mm visits only that mm's entries. On a whole-machine trace a CPU caches the entries of many mms and the
/// flush of one (task switch, shootdown) scanned all of them: the largest cost of the engine
/// (docs/benchmarks.md, "Replay, third pass").
/// </summary>
/// <remarks>
/// Enumeration order is part of the model's output: I1 names the first stale entry it meets, and entries are
/// dropped in the order a scan met them, which decides where later fills land. This map therefore keeps
/// <see cref="Dictionary{TKey, TValue}"/>'s order exactly: a new entry takes the most recently freed slot, else the
/// next unused one; enumeration walks the slots in index order; growing keeps every slot where it is. Visiting one
/// mm's entries (<see cref="SlotsOf"/>) sorts their slots, so it meets them in that same order.
/// </remarks>
internal sealed class TlbMap
{
    private Slot[] _slots = [];
    private int[] _buckets = [];
    private int _count;
    private int _freeList = -1;
    private int _freeCount;
    private readonly Dictionary<int, int> _mmHead = [];

    /// <summary>Number of entries.</summary>
    public int Count => _count - _freeCount;

    /// <summary>The entry of <paramref name="key"/>, added or replaced.</summary>
    public TlbEntry this[long key]
    {
        set
        {
            int i = Find(key);
            if (i < 0)
            {
                Add(key, value);
                return;
            }
            Unlink(i);
            _slots[i].Value = value;
            Link(i);
        }
    }

    public bool ContainsKey(long key) => Find(key) >= 0;

    public bool TryGetValue(long key, out TlbEntry value)
    {
        int i = Find(key);
        if (i < 0)
        {
            value = default;
            return false;
        }
        value = _slots[i].Value;
        return true;
    }

    /// <exception cref="ArgumentException">The key is present.</exception>
    public void Add(long key, TlbEntry value)
    {
        if (Find(key) >= 0)
        {
            throw new ArgumentException($"TLB key 0x{key:x} is present.", nameof(key));
        }
        int i;
        if (_freeCount > 0)
        {
            i = _freeList;
            _freeList = _slots[i].NextFree;
            _freeCount--;
        }
        else
        {
            if (_count == _slots.Length)
            {
                Grow();
            }
            i = _count++;
        }
        ref Slot slot = ref _slots[i];
        slot.Key = key;
        slot.Value = value;
        slot.Used = true;
        int b = Bucket(key);
        slot.NextInBucket = _buckets[b];
        _buckets[b] = i;
        Link(i);
    }

    public bool Remove(long key, out TlbEntry value)
    {
        if (_buckets.Length == 0)
        {
            value = default;
            return false;
        }
        int b = Bucket(key);
        int previous = -1;
        for (int i = _buckets[b]; i >= 0; previous = i, i = _slots[i].NextInBucket)
        {
            ref Slot slot = ref _slots[i];
            if (slot.Key != key)
            {
                continue;
            }
            if (previous < 0)
            {
                _buckets[b] = slot.NextInBucket;
            }
            else
            {
                _slots[previous].NextInBucket = slot.NextInBucket;
            }
            Unlink(i);
            value = slot.Value;
            slot.Used = false;
            slot.Value = default;
            slot.NextFree = _freeList;
            _freeList = i;
            _freeCount++;
            return true;
        }
        value = default;
        return false;
    }

    /// <summary>Fills <paramref name="slots"/> with the slots of <paramref name="mm"/>'s entries, in enumeration order.</summary>
    public void SlotsOf(int mm, List<int> slots)
    {
        slots.Clear();
        if (!_mmHead.TryGetValue(mm, out int i))
        {
            return;
        }
        for (; i >= 0; i = _slots[i].NextInMm)
        {
            slots.Add(i);
        }
        slots.Sort();
    }

    /// <summary>Key of a used slot (from <see cref="SlotsOf"/>).</summary>
    public long KeyAt(int slot) => _slots[slot].Key;

    /// <summary>Entry of a used slot (from <see cref="SlotsOf"/>).</summary>
    public ref readonly TlbEntry ValueAt(int slot) => ref _slots[slot].Value;

    public Enumerator GetEnumerator() => new(this);

    public KeyView Keys => new(this);

    public ValueView Values => new(this);

    private bool Advance(ref int index)
    {
        while (++index < _count)
        {
            if (_slots[index].Used)
            {
                return true;
            }
        }
        return false;
    }

    private int Find(long key)
    {
        if (_buckets.Length == 0)
        {
            return -1;
        }
        for (int i = _buckets[Bucket(key)]; i >= 0; i = _slots[i].NextInBucket)
        {
            if (_slots[i].Key == key)
            {
                return i;
            }
        }
        return -1;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Bucket(long key) => (int)(((ulong)key * 0x9E37_79B9_7F4A_7C15UL) >> 32) & (_buckets.Length - 1);

    private void Grow()
    {
        int size = Math.Max(16, _slots.Length * 2);
        Array.Resize(ref _slots, size);
        _buckets = new int[size];
        Array.Fill(_buckets, -1);
        for (int i = 0; i < _count; i++)
        {
            if (_slots[i].Used)
            {
                int b = Bucket(_slots[i].Key);
                _slots[i].NextInBucket = _buckets[b];
                _buckets[b] = i;
            }
        }
    }

    private void Link(int i)
    {
        ref Slot slot = ref _slots[i];
        ref int head = ref CollectionsMarshal.GetValueRefOrAddDefault(_mmHead, slot.Value.Mm, out bool exists);
        slot.PreviousInMm = -1;
        slot.NextInMm = exists ? head : -1;
        if (exists)
        {
            _slots[head].PreviousInMm = i;
        }
        head = i;
    }

    private void Unlink(int i)
    {
        ref Slot slot = ref _slots[i];
        if (slot.NextInMm >= 0)
        {
            _slots[slot.NextInMm].PreviousInMm = slot.PreviousInMm;
        }
        if (slot.PreviousInMm >= 0)
        {
            _slots[slot.PreviousInMm].NextInMm = slot.NextInMm;
        }
        else if (slot.NextInMm >= 0)
        {
            _mmHead[slot.Value.Mm] = slot.NextInMm;
        }
        else
        {
            _mmHead.Remove(slot.Value.Mm);
        }
    }

    private struct Slot
    {
        public long Key;
        public TlbEntry Value;
        public bool Used;
        public int NextInBucket;
        public int NextFree;
        public int PreviousInMm;
        public int NextInMm;
    }

    /// <summary>Walks the used slots in index order (the order <see cref="Dictionary{TKey, TValue}"/> gives).</summary>
    public struct Enumerator(TlbMap map)
    {
        private int _index = -1;

        public readonly KeyValuePair<long, TlbEntry> Current => new(map._slots[_index].Key, map._slots[_index].Value);

        public bool MoveNext() => map.Advance(ref _index);
    }

    public readonly struct KeyView(TlbMap map)
    {
        public KeyEnumerator GetEnumerator() => new(map);
    }

    public struct KeyEnumerator(TlbMap map)
    {
        private int _index = -1;

        public readonly long Current => map._slots[_index].Key;

        public bool MoveNext() => map.Advance(ref _index);
    }

    public readonly struct ValueView(TlbMap map)
    {
        public ValueEnumerator GetEnumerator() => new(map);
    }

    public struct ValueEnumerator(TlbMap map)
    {
        private int _index = -1;

        public readonly TlbEntry Current => map._slots[_index].Value;

        public bool MoveNext() => map.Advance(ref _index);
    }
}
