namespace Pipeline.Replay.Tests;

/// <summary>
/// The TLB map must enumerate exactly as the Dictionary it replaced (I1's witness names the first stale entry met,
/// and drop order decides where later fills land), and visit one mm's entries in that order.
/// </summary>
public sealed class TlbMapTests
{
    [Theory]
    [InlineData(1, 40)]
    [InlineData(2, 700)]
    [InlineData(3, 5000)]
    public void RandomFillsAndDrops_EnumerateAsDictionaryDoes(int seed, int keySpace)
    {
        var random = new Random(seed);
        var map = new TlbMap();
        var reference = new Dictionary<long, TlbEntry>();
        for (int step = 0; step < 60_000; step++)
        {
            int mm = random.Next(1, 9);
            long key = ((long)mm << 42) | (uint)random.Next(keySpace);
            int action = random.Next(10);
            if (action < 5)
            {
                var entry = new TlbEntry { Mm = mm, Va = (ulong)key, Pfn = (ulong)step, FillExec = step };
                if (reference.ContainsKey(key))
                {
                    Assert.True(map.Remove(key, out _));
                    reference.Remove(key);
                }
                reference[key] = entry;
                map[key] = entry;
            }
            else if (action < 8)
            {
                Assert.Equal(reference.Remove(key, out var expected), map.Remove(key, out var actual));
                Assert.Equal(expected.Pfn, actual.Pfn);
            }
            else if (action == 8)
            {
                // A flush of one mm: the mm's entries, met in enumeration order, dropped in that order.
                var expected = reference.Where(kv => kv.Value.Mm == mm).Select(kv => kv.Key).ToList();
                var slots = new List<int>();
                map.SlotsOf(mm, slots);
                var actual = slots.Select(map.KeyAt).ToList();
                Assert.Equal(expected, actual);
                Assert.All(slots, s => Assert.Equal(mm, map.ValueAt(s).Mm));
                foreach (long k in actual)
                {
                    reference.Remove(k);
                    map.Remove(k, out _);
                }
            }
            else
            {
                Assert.Equal(reference.TryGetValue(key, out var expected), map.TryGetValue(key, out var actual));
                Assert.Equal(expected.FillExec, actual.FillExec);
                Assert.Equal(reference.ContainsKey(key), map.ContainsKey(key));
            }
            if (step % 1000 == 0)
            {
                AssertSameOrder(reference, map);
            }
        }
        AssertSameOrder(reference, map);
    }

    [Fact]
    public void Replace_KeepsTheSlotAndMovesTheEntryToItsNewMm()
    {
        var map = new TlbMap();
        map.Add(1, new TlbEntry { Mm = 1, Pfn = 10 });
        map.Add(2, new TlbEntry { Mm = 1, Pfn = 20 });
        map[1] = new TlbEntry { Mm = 2, Pfn = 11 };
        var slots = new List<int>();
        map.SlotsOf(1, slots);
        Assert.Equal([2L], slots.Select(map.KeyAt));
        map.SlotsOf(2, slots);
        Assert.Equal([1L], slots.Select(map.KeyAt));
        Assert.Equal([1L, 2L], Keys(map));
        Assert.Throws<ArgumentException>(() => map.Add(2, default));
    }

    private static void AssertSameOrder(Dictionary<long, TlbEntry> reference, TlbMap map)
    {
        Assert.Equal(reference.Count, map.Count);
        Assert.Equal(reference.Keys.ToList(), Keys(map));
        var values = new List<ulong>();
        foreach (var v in map.Values)
        {
            values.Add(v.Pfn);
        }
        Assert.Equal(reference.Values.Select(v => v.Pfn).ToList(), values);
        var pairs = new List<long>();
        foreach (var (k, v) in map)
        {
            Assert.Equal(reference[k].Pfn, v.Pfn);
            pairs.Add(k);
        }
        Assert.Equal(reference.Keys.ToList(), pairs);
    }

    private static List<long> Keys(TlbMap map)
    {
        var keys = new List<long>();
        foreach (long k in map.Keys)
        {
            keys.Add(k);
        }
        return keys;
    }
}
