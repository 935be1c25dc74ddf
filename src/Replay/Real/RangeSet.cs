namespace Pipeline.Replay.Real;

/// <summary>A set of disjoint half-open byte ranges, kept sorted and coalesced.</summary>
internal sealed class RangeSet
{
    private readonly List<(ulong Start, ulong End)> _ranges = [];

    public IReadOnlyList<(ulong Start, ulong End)> Ranges => _ranges;

    public bool IsEmpty => _ranges.Count == 0;

    public RangeSet Clone()
    {
        var copy = new RangeSet();
        copy._ranges.AddRange(_ranges);
        return copy;
    }

    public void Add(ulong start, ulong end)
    {
        if (start >= end)
        {
            return;
        }
        Remove(start, end);
        int i = LowerBound(start);
        _ranges.Insert(i, (start, end));
        // Coalesce with neighbours that touch.
        if (i + 1 < _ranges.Count && _ranges[i + 1].Start == end)
        {
            _ranges[i] = (start, _ranges[i + 1].End);
            _ranges.RemoveAt(i + 1);
        }
        if (i > 0 && _ranges[i - 1].End == start)
        {
            _ranges[i - 1] = (_ranges[i - 1].Start, _ranges[i].End);
            _ranges.RemoveAt(i);
        }
    }

    public void Remove(ulong start, ulong end)
    {
        if (start >= end)
        {
            return;
        }
        for (int i = Math.Max(0, LowerBound(start) - 1); i < _ranges.Count; i++)
        {
            var (s, e) = _ranges[i];
            if (e <= start)
            {
                continue;
            }
            if (s >= end)
            {
                break;
            }
            if (s < start && e > end)
            {
                _ranges[i] = (s, start);
                _ranges.Insert(i + 1, (end, e));
                return;
            }
            if (s < start)
            {
                _ranges[i] = (s, start);
            }
            else if (e > end)
            {
                _ranges[i] = (end, e);
            }
            else
            {
                _ranges.RemoveAt(i);
                i--;
            }
        }
    }

    public bool Intersects(ulong start, ulong end)
    {
        if (start >= end)
        {
            return false;
        }
        int i = LowerBound(start);
        if (i > 0 && _ranges[i - 1].End > start)
        {
            return true;
        }
        return i < _ranges.Count && _ranges[i].Start < end;
    }

    /// <summary>Index of the first range whose start is &gt;= <paramref name="start"/>.</summary>
    private int LowerBound(ulong start)
    {
        int lo = 0;
        int hi = _ranges.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_ranges[mid].Start < start)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }
        return lo;
    }
}
