namespace Pipeline.Replay;

/// <summary>
/// A set of page frame numbers, one bit per frame in pages of 4096 frames (512 bytes) made when a frame in them is
/// first added. Its size follows the physical memory the trace touched (32 KiB per GiB), not the number of times a
/// frame was freed, which is what the engine's set of forgotten free frames needs (docs/mm-model.md, "Page frames").
/// </summary>
internal sealed class FrameSet
{
    private const int PageShift = 12;
    private const int FramesPerPage = 1 << PageShift;
    private Dictionary<ulong, ulong[]> _pages = [];

    /// <summary>Frames in the set.</summary>
    public long Count { get; private set; }

    public bool Contains(ulong pfn) =>
        _pages.TryGetValue(pfn >> PageShift, out ulong[]? bits) && (bits[(pfn & (FramesPerPage - 1)) >> 6] & (1UL << (int)(pfn & 63))) != 0;

    public void Add(ulong pfn)
    {
        if (!_pages.TryGetValue(pfn >> PageShift, out ulong[]? bits))
        {
            bits = new ulong[FramesPerPage / 64];
            _pages.Add(pfn >> PageShift, bits);
        }
        ref ulong word = ref bits[(pfn & (FramesPerPage - 1)) >> 6];
        ulong bit = 1UL << (int)(pfn & 63);
        if ((word & bit) == 0)
        {
            word |= bit;
            Count++;
        }
    }

    public void Remove(ulong pfn)
    {
        if (_pages.TryGetValue(pfn >> PageShift, out ulong[]? bits))
        {
            ref ulong word = ref bits[(pfn & (FramesPerPage - 1)) >> 6];
            ulong bit = 1UL << (int)(pfn & 63);
            if ((word & bit) != 0)
            {
                word &= ~bit;
                Count--;
            }
        }
    }

    public void Clear()
    {
        _pages.Clear();
        Count = 0;
    }

    /// <summary>An independent copy (a forked engine goes on forgetting frames without touching this one's).</summary>
    public FrameSet Clone()
    {
        var copy = new FrameSet { Count = Count };
        copy._pages = new Dictionary<ulong, ulong[]>(_pages.Count);
        foreach (var (key, bits) in _pages)
        {
            copy._pages.Add(key, (ulong[])bits.Clone());
        }
        return copy;
    }
}
