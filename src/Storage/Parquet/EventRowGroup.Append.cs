using System.Numerics;

namespace Pipeline.Storage.Parquet;

/// <summary>
/// Appending rows another group already holds in columns (an <see cref="EventSegment"/> a parsing thread filled): the
/// columns are copied as ranges, so the writer's thread does per segment what <see cref="Add"/> does per row.
/// </summary>
internal sealed partial class EventRowGroup
{
    // Where a row starts in a segment's packed columns (reused; the writer's thread is the only user).
    private readonly ColumnPosition _from = new();
    private readonly ColumnPosition _to = new();

    /// <summary>
    /// How many of <paramref name="segment"/>'s rows from <paramref name="from"/> on (at most <paramref name="max"/>,
    /// at least one) this group takes before it is full, as <see cref="Add"/> row by row would find it
    /// (<see cref="IsFull"/>: its text reaching <see cref="MaxTextBytes"/>; the caller bounds the row count).
    /// </summary>
    public int RowsUntilFull(EventRowGroup segment, int from, int max)
    {
        long[] after = segment._textBytesAfterRow ?? throw new InvalidOperationException("Not a segment: it keeps no text bytes per row.");
        long before = from == 0 ? 0 : after[from - 1];
        if (_textBytes + (after[from + max - 1] - before) < MaxTextBytes)
        {
            return max;
        }
        int n = 1;
        while (n < max && _textBytes + (after[from + n - 1] - before) < MaxTextBytes)
        {
            n++;
        }
        return n;
    }

    /// <summary>
    /// Appends rows <paramref name="from"/> to <paramref name="from"/> + <paramref name="count"/> of
    /// <paramref name="segment"/>: the same columns <see cref="Add"/> of each of them would leave.
    /// </summary>
    public void Append(EventRowGroup segment, int from, int count)
    {
        long[] after = segment._textBytesAfterRow ?? throw new InvalidOperationException("Not a segment: it keeps no text bytes per row.");
        if (count <= 0)
        {
            return;
        }
        int to = from + count;
        _from.Locate(segment, from);
        _to.Locate(segment, to);
        int r = Rows;
        Array.Copy(segment.TsNs, from, TsNs, r, count);
        Array.Copy(segment.SrcPos, from, SrcPos, r, count);
        Array.Copy(segment.Cpu, from, Cpu, r, count);
        Array.Copy(segment.Pid, from, Pid, r, count);
        Array.Copy(segment.Comm, from, Comm, r, count);
        Array.Copy(segment.Event, from, Event, r, count);
        Array.Copy(segment.Masks, from, Masks, r, count);
        for (int c = 0; c < Numbers.Length; c++)
        {
            NumberCounts[c] = AppendRange(segment.Numbers[c], _from.Numbers[c], _to.Numbers[c], ref Numbers[c], NumberCounts[c]);
            TextCounts[c] = AppendRange(segment.Texts[c], _from.Texts[c], _to.Texts[c], ref Texts[c], TextCounts[c]);
        }
        if (_to.Args > _from.Args)
        {
            int[] lengths = ArgsLengths;
            ArgsCount = AppendRange(segment.ArgsLengths, _from.Args, _to.Args, ref lengths, ArgsCount);
            ArgsLengths = lengths;
            ArgsBytes.Write(segment.ArgsBytes.Written[_from.ArgsBytes.._to.ArgsBytes]);
            ArgShape[] shapes = DeferredShapes;
            DeferredRowCount = AppendRange(segment.DeferredShapes, _from.DeferredRows, _to.DeferredRows, ref shapes, DeferredRowCount);
            DeferredShapes = shapes;
            long[] numbers = DeferredNumbers;
            DeferredNumberCount = AppendRange(segment.DeferredNumbers, _from.DeferredNumbers, _to.DeferredNumbers, ref numbers, DeferredNumberCount);
            DeferredNumbers = numbers;
        }
        if (_to.Stacks > _from.Stacks)
        {
            int[] lengths = StackLengths;
            StackCount = AppendRange(segment.StackLengths, _from.Stacks, _to.Stacks, ref lengths, StackCount);
            StackLengths = lengths;
            string?[] frames = Frames;
            FrameCount = AppendRange(segment.Frames, _from.Frames, _to.Frames, ref frames, FrameCount);
            Frames = frames;
        }
        _textBytes += after[to - 1] - (from == 0 ? 0 : after[from - 1]);
        Rows = r + count;
    }

    /// <summary>
    /// Appends <paramref name="source"/>[<paramref name="from"/>..<paramref name="to"/>] to the first
    /// <paramref name="count"/> values of <paramref name="target"/> (grown when short); returns the new count.
    /// </summary>
    private static int AppendRange<T>(T[] source, int from, int to, ref T[] target, int count)
    {
        int n = to - from;
        if (n <= 0)
        {
            return count;
        }
        if (count + n > target.Length)
        {
            Array.Resize(ref target, Math.Max(256, Math.Max(count + n, target.Length * 2)));
        }
        Array.Copy(source, from, target, count, n);
        return count + n;
    }

    /// <summary>Where one row starts in each packed column of a group.</summary>
    private sealed class ColumnPosition
    {
        public int[] Numbers { get; } = new int[EventSchema.Columns.Count];

        public int[] Texts { get; } = new int[EventSchema.Columns.Count];

        public int Args { get; private set; }

        public int ArgsBytes { get; private set; }

        public int DeferredRows { get; private set; }

        public int DeferredNumbers { get; private set; }

        public int Stacks { get; private set; }

        public int Frames { get; private set; }

        /// <summary>Finds where row <paramref name="row"/> of <paramref name="group"/> starts (its end for the row count).</summary>
        public void Locate(EventRowGroup group, int row)
        {
            if (row == group.Rows)
            {
                // The usual case, a whole segment: its ends are its counts.
                group.NumberCounts.CopyTo(Numbers, 0);
                group.TextCounts.CopyTo(Texts, 0);
                (Args, ArgsBytes, DeferredRows, DeferredNumbers) = (group.ArgsCount, group.ArgsBytes.Length, group.DeferredRowCount, group.DeferredNumberCount);
                (Stacks, Frames) = (group.StackCount, group.FrameCount);
                return;
            }
            Array.Clear(Numbers);
            Array.Clear(Texts);
            int args = 0;
            int bytes = 0;
            int deferredRows = 0;
            int deferredNumbers = 0;
            int stacks = 0;
            int frames = 0;
            // The rows before it, column by column as Add packed them.
            for (int r = 0; r < row; r++)
            {
                for (ulong mask = group.Masks[r]; mask != 0; mask &= mask - 1)
                {
                    int c = BitOperations.TrailingZeroCount(mask);
                    if (c == EventSchema.Args)
                    {
                        int length = group.ArgsLengths[args++];
                        if (length >= 0)
                        {
                            bytes += length;
                        }
                        else
                        {
                            deferredNumbers += group.DeferredShapes[deferredRows++].NumberFormats.Length;
                        }
                    }
                    else if (c == EventSchema.Stack)
                    {
                        frames += group.StackLengths[stacks++];
                    }
                    else if ((s_textColumns & (1UL << c)) != 0)
                    {
                        Texts[c]++;
                    }
                    else
                    {
                        Numbers[c]++;
                    }
                }
            }
            (Args, ArgsBytes, DeferredRows, DeferredNumbers, Stacks, Frames) = (args, bytes, deferredRows, deferredNumbers, stacks, frames);
        }
    }
}
