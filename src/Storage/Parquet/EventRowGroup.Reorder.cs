using System.Numerics;

namespace Pipeline.Storage.Parquet;

/// <summary>The reorder window's sort: rows of full groups put in time order where they are.</summary>
internal sealed partial class EventRowGroup
{
    /// <summary>
    /// Puts the rows of <paramref name="groups"/> (consecutive, none still being filled) in (timestamp, arrival)
    /// order, as the whole-file (ts_ns, seq) sort would, keeping each group's row count, index and first seq.
    /// Returns the number of rows rewritten.
    /// </summary>
    /// <remarks>
    /// Only the disordered span is touched: it starts at the first row later than some row after it and ends at the
    /// last row earlier than some row before it; everything outside is already where the sort would put it. A late
    /// event therefore costs the rows between its place and its arrival, and the temporary arrays are that span's
    /// size, one column at a time, instead of a copy of every held group. Packed values (nullable columns, args
    /// JSON, stack frames) stay packed: a group the span crosses keeps the values before and after it, and the
    /// values after it are shifted when rows moving in or out change how many the span part holds.
    /// </remarks>
    public static int SortInPlace(IReadOnlyList<EventRowGroup> groups)
    {
        (int lo, int hi) = DisorderedSpan(groups);
        if (lo >= hi)
        {
            return 0;
        }
        foreach (EventRowGroup group in groups)
        {
            // Rows move their args as byte ranges: the encoder's deferred JSON is printed now.
            group.SerializeDeferredArgs();
        }
        int m = hi - lo;
        var segments = new List<Segment>();
        int start = 0;
        foreach (EventRowGroup group in groups)
        {
            int a = Math.Max(lo - start, 0), b = Math.Min(hi - start, group.Rows);
            if (a < b)
            {
                segments.Add(new Segment(group, a, b, start + a - lo));
            }
            start += group.Rows;
        }

        var order = new (long Ts, int Row)[m];
        var masks = new ulong[m];
        foreach (Segment s in segments)
        {
            for (int r = s.A; r < s.B; r++)
            {
                int k = s.SpanStart + r - s.A;
                order[k] = (s.Group.TsNs[r], k);
                masks[k] = s.Group.Masks[r];
            }
        }
        // Arrival order breaks ties, as the (ts_ns, seq) sort of the whole file does.
        Array.Sort(order, static (x, y) => x.Ts != y.Ts ? x.Ts.CompareTo(y.Ts) : x.Row.CompareTo(y.Row));
        var perm = new int[m];
        for (int p = 0; p < m; p++)
        {
            perm[p] = order[p].Row;
        }
        order = null;

        ulong present = 0;
        foreach (ulong mask in masks)
        {
            present |= mask;
        }
        // Per segment, how many values of each column the group's rows before the span hold.
        var before = new int[segments.Count][];
        for (int i = 0; i < segments.Count; i++)
        {
            Segment s = segments[i];
            before[i] = new int[64];
            for (int r = 0; r < s.A; r++)
            {
                for (ulong set = s.Group.Masks[r] & present; set != 0; set &= set - 1)
                {
                    before[i][BitOperations.TrailingZeroCount(set)]++;
                }
            }
        }

        var runs = new int[m];
        var itemStart = new int[segments.Count];
        var counts = new int[segments.Count];
        for (ulong set = present; set != 0; set &= set - 1)
        {
            int c = BitOperations.TrailingZeroCount(set);
            ulong bit = 1UL << c;
            for (int k = 0; k < m; k++)
            {
                runs[k] = (masks[k] & bit) != 0 ? 1 : 0;
            }
            for (int i = 0; i < segments.Count; i++)
            {
                itemStart[i] = before[i][c];
            }
            if (c == EventSchema.Args)
            {
                // The JSON bytes first, while the lengths still say where each row's are.
                var bytes = Arrays(segments, static g => g.ArgsBytes.Array, static g => g.ArgsBytes.Length, counts);
                (int[] byteStart, int[] byteRuns) = ItemRuns(segments, static g => g.ArgsLengths, itemStart, runs);
                Rewrite(segments, bytes, counts, byteRuns, byteStart, perm);
                for (int i = 0; i < segments.Count; i++)
                {
                    segments[i].Group.ArgsBytes.Assign(bytes[i], counts[i]);
                }
                var lengths = Arrays(segments, static g => g.ArgsLengths, static g => g.ArgsCount, counts);
                Rewrite(segments, lengths, counts, runs, itemStart, perm);
                for (int i = 0; i < segments.Count; i++)
                {
                    segments[i].Group.ArgsLengths = lengths[i];
                    segments[i].Group.ArgsCount = counts[i];
                }
            }
            else if (c == EventSchema.Stack)
            {
                var frames = Arrays(segments, static g => g.Frames, static g => g.FrameCount, counts);
                (int[] frameStart, int[] frameRuns) = ItemRuns(segments, static g => g.StackLengths, itemStart, runs);
                Rewrite(segments, frames, counts, frameRuns, frameStart, perm);
                for (int i = 0; i < segments.Count; i++)
                {
                    segments[i].Group.Frames = frames[i];
                    segments[i].Group.FrameCount = counts[i];
                }
                var lengths = Arrays(segments, static g => g.StackLengths, static g => g.StackCount, counts);
                Rewrite(segments, lengths, counts, runs, itemStart, perm);
                for (int i = 0; i < segments.Count; i++)
                {
                    segments[i].Group.StackLengths = lengths[i];
                    segments[i].Group.StackCount = counts[i];
                }
            }
            else if (s_kinds[c] == ColumnKind.Text)
            {
                var texts = Arrays(segments, g => g.Texts[c], g => g.TextCounts[c], counts);
                Rewrite(segments, texts, counts, runs, itemStart, perm);
                for (int i = 0; i < segments.Count; i++)
                {
                    segments[i].Group.Texts[c] = texts[i];
                    segments[i].Group.TextCounts[c] = counts[i];
                }
            }
            else
            {
                var numbers = Arrays(segments, g => g.Numbers[c], g => g.NumberCounts[c], counts);
                Rewrite(segments, numbers, counts, runs, itemStart, perm);
                for (int i = 0; i < segments.Count; i++)
                {
                    segments[i].Group.Numbers[c] = numbers[i];
                    segments[i].Group.NumberCounts[c] = counts[i];
                }
            }
        }

        Permute(segments, static g => g.TsNs, perm);
        Permute(segments, static g => g.SrcPos, perm);
        Permute(segments, static g => g.Cpu, perm);
        Permute(segments, static g => g.Pid, perm);
        Permute(segments, static g => g.Comm, perm);
        Permute(segments, static g => g.Event, perm);
        Permute(segments, static g => g.Masks, perm);
        foreach (Segment s in segments)
        {
            // The args memo names byte ranges of rows that may have moved; no row is added after a sort, but a
            // group must never copy bytes from a row it did not serialize.
            s.Group.ForgetRecentArgs();
        }
        return m;
    }

    /// <summary>
    /// [lo, hi): from the first row whose timestamp is larger than a later row's to just past the last row whose
    /// timestamp is smaller than an earlier row's (lo = hi when the rows are in order).
    /// </summary>
    private static (int Lo, int Hi) DisorderedSpan(IReadOnlyList<EventRowGroup> groups)
    {
        int total = 0;
        foreach (EventRowGroup group in groups)
        {
            total += group.Rows;
        }
        int lo = total, hi = 0, index = total;
        long suffixMin = long.MaxValue;
        for (int g = groups.Count - 1; g >= 0; g--)
        {
            long[] ts = groups[g].TsNs;
            for (int r = groups[g].Rows - 1; r >= 0; r--)
            {
                index--;
                if (ts[r] > suffixMin)
                {
                    lo = index;
                }
                else
                {
                    suffixMin = ts[r];
                }
            }
        }
        if (lo == total)
        {
            return (0, 0);
        }
        long prefixMax = long.MinValue;
        index = 0;
        foreach (EventRowGroup group in groups)
        {
            long[] ts = group.TsNs;
            for (int r = 0; r < group.Rows; r++, index++)
            {
                if (ts[r] < prefixMax)
                {
                    hi = index + 1;
                }
                else
                {
                    prefixMax = ts[r];
                }
            }
        }
        return (lo, hi);
    }

    private static T[][] Arrays<T>(List<Segment> segments, Func<EventRowGroup, T[]> array, Func<EventRowGroup, int> count, int[] counts)
    {
        var arrays = new T[segments.Count][];
        for (int i = 0; i < segments.Count; i++)
        {
            arrays[i] = array(segments[i].Group);
            counts[i] = count(segments[i].Group);
        }
        return arrays;
    }

    /// <summary>
    /// For a list column (args bytes, stack frames) whose rows' item counts are <paramref name="lengths"/> (one per
    /// row that has it; <paramref name="runs"/> says which span rows do): where each segment's span items start and
    /// how many items each span row owns.
    /// </summary>
    private static (int[] Start, int[] Runs) ItemRuns(List<Segment> segments, Func<EventRowGroup, int[]> lengths, int[] itemStart, int[] runs)
    {
        var start = new int[segments.Count];
        var itemRuns = new int[runs.Length];
        for (int i = 0; i < segments.Count; i++)
        {
            Segment s = segments[i];
            int[] values = lengths(s.Group);
            for (int v = 0; v < itemStart[i]; v++)
            {
                start[i] += values[v];
            }
            int value = itemStart[i];
            for (int k = s.SpanStart; k < s.SpanStart + s.B - s.A; k++)
            {
                itemRuns[k] = runs[k] != 0 ? values[value++] : 0;
            }
        }
        return (start, itemRuns);
    }

    /// <summary>
    /// Rewrites one packed array per segment: span row k (arrival order) owns <c>runs[k]</c> consecutive items,
    /// the segment's span part starts at item <c>itemStart[i]</c> and the array holds <c>counts[i]</c> items. The
    /// span's items are taken out (a temporary of the span's items only), the items after the span part shifted to
    /// where the new part ends, and the items put back in the order of <paramref name="perm"/>. An array too short
    /// for a part that grew is replaced by a larger one (as <see cref="Append"/> would have grown it).
    /// </summary>
    private static void Rewrite<T>(List<Segment> segments, T[][] arrays, int[] counts, int[] runs, int[] itemStart, int[] perm)
    {
        int m = runs.Length;
        var offsets = new int[m];
        int total = 0;
        for (int k = 0; k < m; k++)
        {
            offsets[k] = total;
            total += runs[k];
        }
        if (total == 0)
        {
            return;
        }
        var items = new T[total];
        int at = 0;
        var oldItems = new int[segments.Count];
        for (int i = 0; i < segments.Count; i++)
        {
            Segment s = segments[i];
            int end = s.SpanStart + s.B - s.A;
            oldItems[i] = (end < m ? offsets[end] : total) - offsets[s.SpanStart];
            Array.Copy(arrays[i], itemStart[i], items, at, oldItems[i]);
            at += oldItems[i];
        }
        for (int i = 0; i < segments.Count; i++)
        {
            Segment s = segments[i];
            int first = s.SpanStart, end = s.SpanStart + s.B - s.A;
            int newItems = 0;
            for (int p = first; p < end; p++)
            {
                newItems += runs[perm[p]];
            }
            T[] array = arrays[i];
            int tailFrom = itemStart[i] + oldItems[i];
            int tail = counts[i] - tailFrom;
            int newEnd = itemStart[i] + newItems;
            int newCount = newEnd + tail;
            if (newCount > array.Length)
            {
                Array.Resize(ref array, Math.Max(newCount, array.Length * 2));
            }
            Array.Copy(array, tailFrom, array, newEnd, tail);
            int to = itemStart[i];
            for (int p = first; p < end; p++)
            {
                int k = perm[p];
                Array.Copy(items, offsets[k], array, to, runs[k]);
                to += runs[k];
            }
            if (newCount < counts[i])
            {
                // Drop references the group no longer counts (strings of a moved row).
                Array.Clear(array, newCount, counts[i] - newCount);
            }
            arrays[i] = array;
            counts[i] = newCount;
        }
    }

    /// <summary>Rewrites a one-value-per-row column of the span in the order of <paramref name="perm"/>.</summary>
    private static void Permute<T>(List<Segment> segments, Func<EventRowGroup, T[]> column, int[] perm)
    {
        var old = new T[perm.Length];
        foreach (Segment s in segments)
        {
            Array.Copy(column(s.Group), s.A, old, s.SpanStart, s.B - s.A);
        }
        foreach (Segment s in segments)
        {
            T[] values = column(s.Group);
            for (int r = s.A; r < s.B; r++)
            {
                values[r] = old[perm[s.SpanStart + r - s.A]];
            }
        }
    }

    /// <summary>Rows [A, B) of <paramref name="Group"/> are span rows SpanStart, SpanStart + 1, ….</summary>
    private readonly record struct Segment(EventRowGroup Group, int A, int B, int SpanStart);
}
