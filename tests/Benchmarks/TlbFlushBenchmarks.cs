using BenchmarkDotNet.Attributes;
using Pipeline.Replay;

namespace Pipeline.Benchmarks;

/// <summary>
/// The engine's flush of one mm from a CPU's TLB, as a whole-machine trace makes it: the CPU caches the entries of
/// many mms (here 4,000 entries of 200 mms, the engine's TLB capacity is 4,096) and a task switch or shootdown
/// flushes the 20 of one. <c>DictionaryScan</c> is the engine's former way (enumerate every entry, keep the mm's);
/// <c>TlbMapSlots</c> is <see cref="TlbMap.SlotsOf"/>, which visits only the mm's entries in the same order.
/// Each iteration finds the keys to drop for every one of the 200 mms in turn (nothing is dropped, so every
/// iteration sees the same TLB).
/// </summary>
[MemoryDiagnoser]
public class TlbFlushBenchmarks
{
    private const int Mms = 200;
    private const int PerMm = 20;
    private readonly Dictionary<long, TlbEntry> _dictionary = [];
    private readonly TlbMap _map = new();
    private readonly List<long> _keys = [];
    private readonly List<int> _slots = [];

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1);
        for (int i = 0; i < Mms * PerMm; i++)
        {
            int mm = 1 + random.Next(Mms);
            ulong va = (ulong)random.Next(1 << 20) << 12;
            long key = ((long)mm << 42) | (long)(va >> 12 << 2);
            if (_dictionary.ContainsKey(key))
            {
                continue;
            }
            var entry = new TlbEntry { Mm = mm, Va = va, SizeShift = 12, Pfn = (ulong)i };
            _dictionary.Add(key, entry);
            _map.Add(key, entry);
        }
        if (DictionaryScan() != TlbMapSlots())
        {
            throw new InvalidOperationException("The two ways find different entries.");
        }
    }

    [Benchmark(Baseline = true)]
    public long DictionaryScan()
    {
        long sum = 0;
        for (int mm = 1; mm <= Mms; mm++)
        {
            _keys.Clear();
            foreach (var kv in _dictionary)
            {
                if (kv.Value.Mm == mm)
                {
                    _keys.Add(kv.Key);
                }
            }
            foreach (long k in _keys)
            {
                sum = (sum * 31) + k;
            }
        }
        return sum;
    }

    [Benchmark]
    public long TlbMapSlots()
    {
        long sum = 0;
        for (int mm = 1; mm <= Mms; mm++)
        {
            _keys.Clear();
            _map.SlotsOf(mm, _slots);
            foreach (int slot in _slots)
            {
                _keys.Add(_map.KeyAt(slot));
            }
            foreach (long k in _keys)
            {
                sum = (sum * 31) + k;
            }
        }
        return sum;
    }
}
