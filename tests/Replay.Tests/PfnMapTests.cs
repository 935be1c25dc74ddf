namespace Pipeline.Replay.Tests;

/// <summary>
/// The page-frame map must answer exactly as a Dictionary under the add/remove churn of page frames: removal shifts
/// probe runs back, so a wrong shift loses entries that are still in the map or finds ones that are not.
/// </summary>
public sealed class PfnMapTests
{
    [Theory]
    [InlineData(1, 64)]
    [InlineData(2, 3_000)]
    [InlineData(3, 200_000)]
    public void RandomAddsAndRemoves_AnswerAsDictionaryDoes(int seed, int keySpace)
    {
        var random = new Random(seed);
        var map = new PfnMap<string>();
        var reference = new Dictionary<ulong, string>();
        for (int step = 0; step < 120_000; step++)
        {
            // Dense frame numbers (runs of neighbours, as the allocator hands them out) and the extreme keys.
            ulong key = random.Next(50) switch
            {
                0 => ulong.MaxValue,
                1 => 0,
                2 => ulong.MaxValue - 1,
                _ => 0x10_0000UL + (ulong)random.Next(keySpace),
            };
            string value = step.ToString(System.Globalization.CultureInfo.InvariantCulture);
            switch (random.Next(8))
            {
                case 0 or 1:
                    Assert.Equal(reference.TryAdd(key, value), map.TryAdd(key, value));
                    break;
                case 2:
                    reference[key] = value;
                    map[key] = value;
                    break;
                case 3 or 4:
                    Assert.Equal(reference.Remove(key, out var expected), map.Remove(key, out var actual));
                    Assert.Equal(expected, actual);
                    break;
                default:
                    Assert.Equal(reference.TryGetValue(key, out var e), map.TryGetValue(key, out var a));
                    Assert.Equal(e, a);
                    Assert.Equal(reference.ContainsKey(key), map.ContainsKey(key));
                    break;
            }
            Assert.Equal(reference.Count, map.Count);
            if (step % 5_000 == 0)
            {
                Assert.Equal(reference.OrderBy(p => p.Key), map.OrderBy(p => p.Key));
            }
        }
        Assert.Equal(reference.OrderBy(p => p.Key), map.OrderBy(p => p.Key));
        map.Clear();
        Assert.Equal(0, map.Count);
        Assert.Empty(map);
        Assert.False(map.TryGetValue(ulong.MaxValue, out _));
    }

    [Fact]
    public void RemovingFromTheMiddleOfAWrappedRun_KeepsTheRest()
    {
        // Fill far past one growth with keys whose home slots collide, then remove every other one: the ones left
        // must all still be found (a backward shift that moves an entry before its home slot would hide it).
        var map = new PfnMap<int>();
        var keys = Enumerable.Range(0, 5_000).Select(i => (ulong)i << 20).ToList();
        foreach (var (k, i) in keys.Select((k, i) => (k, i)))
        {
            map.Add(k, i);
        }
        for (int i = 0; i < keys.Count; i += 2)
        {
            Assert.True(map.Remove(keys[i]));
        }
        for (int i = 0; i < keys.Count; i++)
        {
            Assert.Equal(i % 2 == 1, map.TryGetValue(keys[i], out int v));
            Assert.Equal(i % 2 == 1 ? i : 0, v);
        }
        Assert.Throws<ArgumentException>(() => map.Add(keys[1], 0));
    }
}
