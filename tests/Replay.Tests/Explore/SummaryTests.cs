using Pipeline.Replay.Explore;

namespace Pipeline.Replay.Tests.Explore;

/// <summary>
/// The summary of what ran below a state (docs/exploration.md, "Summary merges") is a flat map that replaced a
/// Dictionary. The search depends on three things it kept: the order entries were first added (backtrack points are
/// added in that order, and source sets make the result depend on it), the version (a pruned prefix is replayed only
/// when it changed) and the bytes it counts (the state table forgets states by them). Each is checked here against the
/// dictionary code it replaced, on merges shaped like the search's: a child summary filled, merged into its parent and
/// cleared for reuse.
/// </summary>
public class SummaryTests
{
    [Theory]
    [InlineData(1, 200, 1, 7)]
    [InlineData(2, 3_000, 50, 300)]
    [InlineData(3, 20_000, 400, 2_000)]
    [InlineData(4, 60_000, 9_000, 30_000)]
    public void Merge_KeepsTheDictionarysOrderVersionAndBytes(int seed, int sets, int mergeEvery, int objects)
    {
        var random = new Random(seed);
        (long, ulong, ulong) Access()
        {
            // Object keys as footprints make them (a kind in the high bits), with few tasks, so most sets repeat an object.
            long key = ((long)random.Next(6) << 56) | (long)random.Next(objects) * 4096;
            ulong readers = random.Next(3) == 0 ? 0 : 1UL << random.Next(8);
            ulong writers = random.Next(4) == 0 ? 1UL << random.Next(8) : 0;
            return (key, readers, writers);
        }
        var into = Enumerable.Range(0, objects / 3).Select(_ => Access()).ToList();
        var all = Enumerable.Range(0, sets).Select(_ => Access()).ToList();

        var (entries, version, bytes) = Explorer.SummaryRun(into, all, mergeEvery);

        // The code it replaced: Dictionary<long, (ulong, ulong)>, a version bumped per changed entry, bytes by capacity.
        var parent = new Dictionary<long, (ulong Readers, ulong Writers)>();
        int expectedVersion = 0;
        void Set(Dictionary<long, (ulong Readers, ulong Writers)> map, long key, ulong readers, ulong writers, ref int v)
        {
            map.TryGetValue(key, out var a);
            if ((readers & ~a.Readers) != 0 || (writers & ~a.Writers) != 0)
            {
                map[key] = (a.Readers | readers, a.Writers | writers);
                v++;
            }
        }
        foreach (var (key, readers, writers) in into)
        {
            Set(parent, key, readers, writers, ref expectedVersion);
        }
        var child = new Dictionary<long, (ulong Readers, ulong Writers)>();
        int childVersion = 0;
        for (int i = 0; i < all.Count; i++)
        {
            Set(child, all[i].Item1, all[i].Item2, all[i].Item3, ref childVersion);
            if ((i + 1) % mergeEvery == 0 || i == all.Count - 1)
            {
                foreach (var (key, b) in child)
                {
                    Set(parent, key, b.Readers, b.Writers, ref expectedVersion);
                }
                child.Clear();
            }
        }

        Assert.Equal(parent.Select(kv => (kv.Key, kv.Value.Readers, kv.Value.Writers)).ToList(), entries);
        Assert.Equal(expectedVersion, version);
        Assert.Equal((parent.EnsureCapacity(0) * 40L) + 160, bytes);
    }
}
