using BenchmarkDotNet.Attributes;
using Pipeline.Replay;

namespace Pipeline.Benchmarks;

/// <summary>
/// The per-frame map that replay consults on every page event (the engine's page states, the lowering's
/// frame → mapping), as a recorded trace drives it: a working set of live page frames scattered over a few GiB of
/// physical memory, looked up about three times per event, with frames freed and others allocated as the workload
/// runs. <c>Dictionary</c> is the BCL's <see cref="Dictionary{TKey, TValue}"/>, which replay used before;
/// <c>PfnMap</c> is <see cref="PfnMap{TValue}"/>, open addressing with the key beside its value. Both run the same
/// operation stream and must return the same checksum.
/// </summary>
[MemoryDiagnoser]
public class PfnMapBenchmarks
{
    /// <summary>Live frames in the working set (a 4096-page workload keeps tens of thousands; a lab box more).</summary>
    [Params(65_536, 1_048_576)]
    public int Live { get; set; }

    private const int Operations = 4_000_000;
    private ulong[] _keys = [];
    private byte[] _kinds = [];
    private readonly Dictionary<ulong, long> _dictionary = [];
    private readonly PfnMap<long> _map = new();

    [GlobalSetup]
    public void Setup()
    {
        // Frames of a machine with 24 GiB (about 6.3 M frames): the live set, then a stream of lookups (75 %),
        // frees of a live frame (12.5 %) and allocations of a new frame (12.5 %), the shape of fault/free churn.
        var random = new Random(7);
        const int frames = 6_291_456;
        var live = new List<ulong>(Live);
        var isLive = new HashSet<ulong>();
        while (live.Count < Live)
        {
            ulong pfn = (ulong)random.Next(frames);
            if (isLive.Add(pfn))
            {
                live.Add(pfn);
            }
        }
        _keys = new ulong[Live + Operations];
        _kinds = new byte[Live + Operations];
        for (int i = 0; i < Live; i++)
        {
            _keys[i] = live[i];
            _kinds[i] = 2;
        }
        for (int i = Live; i < _keys.Length; i++)
        {
            int roll = random.Next(8);
            if (roll == 0 && live.Count > 0)
            {
                int at = random.Next(live.Count);
                _keys[i] = live[at];
                _kinds[i] = 1;
                isLive.Remove(live[at]);
                live[at] = live[^1];
                live.RemoveAt(live.Count - 1);
            }
            else if (roll == 1)
            {
                ulong pfn;
                do
                {
                    pfn = (ulong)random.Next(frames);
                }
                while (!isLive.Add(pfn));
                live.Add(pfn);
                _keys[i] = pfn;
                _kinds[i] = 2;
            }
            else
            {
                _keys[i] = live[random.Next(live.Count)];
                _kinds[i] = 0;
            }
        }
        if (Dictionary() != PfnMap())
        {
            throw new InvalidOperationException("The two maps answered the same operations differently.");
        }
    }

    [Benchmark(Baseline = true)]
    public long Dictionary()
    {
        _dictionary.Clear();
        long sum = 0;
        for (int i = 0; i < _keys.Length; i++)
        {
            ulong key = _keys[i];
            switch (_kinds[i])
            {
                case 0:
                    if (_dictionary.TryGetValue(key, out long value))
                    {
                        sum += value;
                    }
                    break;
                case 1:
                    _dictionary.Remove(key);
                    break;
                default:
                    _dictionary.Add(key, i);
                    break;
            }
        }
        return sum + _dictionary.Count;
    }

    [Benchmark]
    public long PfnMap()
    {
        _map.Clear();
        long sum = 0;
        for (int i = 0; i < _keys.Length; i++)
        {
            ulong key = _keys[i];
            switch (_kinds[i])
            {
                case 0:
                    if (_map.TryGetValue(key, out long value))
                    {
                        sum += value;
                    }
                    break;
                case 1:
                    _map.Remove(key);
                    break;
                default:
                    _map.Add(key, i);
                    break;
            }
        }
        return sum + _map.Count;
    }
}
