namespace Pipeline.Replay.Lowering;

/// <summary>
/// What the lowering knows of a page frame from the allocator's tracepoints; for the engine, <see cref="Freed"/>
/// marks a free frame whose state it dropped (docs/mm-model.md, "Page frames").
/// </summary>
internal enum PfnState : byte
{
    /// <summary>No mm_page_alloc or mm_page_free seen for it.</summary>
    Unknown = 0,
    /// <summary>Last seen allocated.</summary>
    Allocated = 1,
    /// <summary>Last seen freed.</summary>
    Freed = 2,
}

/// <summary>
/// Two bits per page frame, in pages of 1024 frames (256 bytes) created when a frame in them is first seen. A
/// frame keeps its state for the whole trace (a later free of a freed frame is a duplicate, not an untraced
/// page), so a map keyed by pfn grew with every frame the trace ever touched, ~30 bytes each and twice that while
/// it doubled; here the cost is bounded by the traced machine's physical memory, 64 KiB per GiB of RAM touched
/// (frames are dense; a trace of scattered pfns would pay 256 bytes a frame).
/// </summary>
internal sealed class PfnStates
{
    private const int PageShift = 10;
    private const int FramesPerPage = 1 << PageShift;
    // Pages of frames below 2^26 (256 GiB of 4 KiB frames) by index, grown to the highest seen; a dictionary for the
    // rest. Looking a page up in the dictionary on each page event was about 2 % of replay's lowering + engine thread.
    private const int DenseKeys = 1 << 16;
    private ulong[]?[] _dense = [];
    private readonly Dictionary<ulong, ulong[]> _pages = [];
    private ulong _lastKey = ulong.MaxValue;
    private ulong[]? _last;

    public PfnState this[ulong pfn]
    {
        get
        {
            ulong[]? bits = Page(pfn >> PageShift, create: false);
            return bits is null ? PfnState.Unknown : (PfnState)((bits[(pfn & (FramesPerPage - 1)) >> 5] >> (int)((pfn & 31) * 2)) & 3);
        }
        set
        {
            ulong[] bits = Page(pfn >> PageShift, create: true)!;
            int word = (int)((pfn & (FramesPerPage - 1)) >> 5);
            int shift = (int)((pfn & 31) * 2);
            bits[word] = (bits[word] & ~(3UL << shift)) | ((ulong)value << shift);
        }
    }

    public void Clear()
    {
        Array.Clear(_dense);
        _pages.Clear();
        _lastKey = ulong.MaxValue;
        _last = null;
    }

    /// <summary>An independent copy (a forked engine goes on with its own).</summary>
    public PfnStates Clone()
    {
        var copy = new PfnStates { _dense = new ulong[]?[_dense.Length] };
        for (int i = 0; i < _dense.Length; i++)
        {
            copy._dense[i] = (ulong[]?)_dense[i]?.Clone();
        }
        foreach (var (key, bits) in _pages)
        {
            copy._pages.Add(key, (ulong[])bits.Clone());
        }
        return copy;
    }

    private ulong[]? Page(ulong key, bool create)
    {
        if (key == _lastKey)
        {
            return _last;
        }
        if (key < DenseKeys)
        {
            ulong[]? page = key < (ulong)_dense.Length ? _dense[key] : null;
            if (page is null)
            {
                if (!create)
                {
                    return null;
                }
                if (key >= (ulong)_dense.Length)
                {
                    Array.Resize(ref _dense, (int)Math.Min(DenseKeys, Math.Max(64, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)key + 1))));
                }
                page = _dense[key] = new ulong[FramesPerPage / 32];
            }
            _lastKey = key;
            _last = page;
            return page;
        }
        if (!_pages.TryGetValue(key, out ulong[]? bits))
        {
            if (!create)
            {
                return null;
            }
            bits = new ulong[FramesPerPage / 32];
            _pages.Add(key, bits);
        }
        _lastKey = key;
        _last = bits;
        return bits;
    }
}
