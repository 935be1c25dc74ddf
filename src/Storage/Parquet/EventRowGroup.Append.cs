using System.Numerics;

namespace Pipeline.Storage.Parquet;

/// <summary>
/// Appending rows another group already holds in columns (an <see cref="EventSegment"/> a parsing thread filled): the
/// columns are copied as ranges, so the writer's thread does per segment what <see cref="Add"/> does per row.
/// </summary>
internal sealed partial class EventRowGroup
{
    // Where a row starts in a segment's packed columns (reused; the writer's thread is the only user).
    // As a segment: where the rows appended from it so far end. As a group appended to: a position to reuse.
    private ColumnPosition? _readAt;
    private ColumnPosition _spare = new();

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
    /// <paramref name="segment"/>: the same columns <see cref="Add"/> of each of them would leave. Appending a
    /// segment's rows run by run, in order (the trace.dat merge takes a CPU's rows up to where another CPU's come
    /// first), walks each row's mask once: a run starts where the previous one ended.
    /// </summary>
    public void Append(EventRowGroup segment, int from, int count)
    {
        long[] after = segment._textBytesAfterRow ?? throw new InvalidOperationException("Not a segment: it keeps no text bytes per row.");
        if (count <= 0)
        {
            return;
        }
        int to = from + count;
        // Where the last append from this segment ended (a segment's runs come in order, between other segments').
        ColumnPosition start = segment._readAt ??= new ColumnPosition();
        if (!start.IsAt(segment, from))
        {
            start.MoveTo(segment, from);
        }
        ColumnPosition end = _spare;
        ulong columns = end.MoveTo(segment, to, start);
        int r = Rows;
        if (count == 1)
        {
            TsNs[r] = segment.TsNs[from];
            SrcPos[r] = segment.SrcPos[from];
            Cpu[r] = segment.Cpu[from];
            Pid[r] = segment.Pid[from];
            Comm[r] = segment.Comm[from];
            Event[r] = segment.Event[from];
            Masks[r] = segment.Masks[from];
        }
        else
        {
            Array.Copy(segment.TsNs, from, TsNs, r, count);
            Array.Copy(segment.SrcPos, from, SrcPos, r, count);
            Array.Copy(segment.Cpu, from, Cpu, r, count);
            Array.Copy(segment.Pid, from, Pid, r, count);
            Array.Copy(segment.Comm, from, Comm, r, count);
            Array.Copy(segment.Event, from, Event, r, count);
            Array.Copy(segment.Masks, from, Masks, r, count);
        }
        // Only the columns the rows have (all of them when the position came from the segment's counts).
        for (ulong left = columns & ~((1UL << EventSchema.Args) | (1UL << EventSchema.Stack)); left != 0; left &= left - 1)
        {
            int c = BitOperations.TrailingZeroCount(left);
            if (c >= Numbers.Length)
            {
                break;
            }
            NumberCounts[c] = AppendRange(segment.Numbers[c], start.Numbers[c], end.Numbers[c], ref Numbers[c], NumberCounts[c]);
            TextCounts[c] = AppendRange(segment.Texts[c], start.Texts[c], end.Texts[c], ref Texts[c], TextCounts[c]);
        }
        if (end.Args > start.Args)
        {
            int[] lengths = ArgsLengths;
            ArgsCount = AppendRange(segment.ArgsLengths, start.Args, end.Args, ref lengths, ArgsCount);
            ArgsLengths = lengths;
            ArgsBytes.Write(segment.ArgsBytes.Written[start.ArgsBytes..end.ArgsBytes]);
            ArgShape[] shapes = DeferredShapes;
            DeferredRowCount = AppendRange(segment.DeferredShapes, start.DeferredRows, end.DeferredRows, ref shapes, DeferredRowCount);
            DeferredShapes = shapes;
            long[] numbers = DeferredNumbers;
            DeferredNumberCount = AppendRange(segment.DeferredNumbers, start.DeferredNumbers, end.DeferredNumbers, ref numbers, DeferredNumberCount);
            DeferredNumbers = numbers;
        }
        if (end.Stacks > start.Stacks)
        {
            int[] lengths = StackLengths;
            StackCount = AppendRange(segment.StackLengths, start.Stacks, end.Stacks, ref lengths, StackCount);
            StackLengths = lengths;
            string?[] frames = Frames;
            FrameCount = AppendRange(segment.Frames, start.Frames, end.Frames, ref frames, FrameCount);
            Frames = frames;
        }
        _textBytes += after[to - 1] - (from == 0 ? 0 : after[from - 1]);
        Rows = r + count;
        // The segment keeps where this append ended; its old position becomes the spare.
        segment._readAt = end;
        _spare = start;
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
        // The row of which group (and of which filling of it) this position is.
        private EventRowGroup? _group;
        private int _generation;
        private int _row;

        public int[] Numbers { get; } = new int[EventSchema.Columns.Count];

        public int[] Texts { get; } = new int[EventSchema.Columns.Count];

        public int Args { get; private set; }

        public int ArgsBytes { get; private set; }

        public int DeferredRows { get; private set; }

        public int DeferredNumbers { get; private set; }

        public int Stacks { get; private set; }

        public int Frames { get; private set; }

        /// <summary>Whether this is where row <paramref name="row"/> of <paramref name="group"/> (as it is now) starts.</summary>
        public bool IsAt(EventRowGroup group, int row) =>
            ReferenceEquals(_group, group) && _generation == group.Generation && _row == row;

        /// <summary>
        /// Finds where row <paramref name="row"/> of <paramref name="group"/> starts (its end for the row count), walking
        /// on from <paramref name="start"/> when that is a position in the same group at or before the row. Returns the
        /// columns the rows walked over have (every column when it did not walk).
        /// </summary>
        public ulong MoveTo(EventRowGroup group, int row, ColumnPosition? start = null)
        {
            if (row == group.Rows)
            {
                // The usual case of a whole segment: its ends are its counts.
                group.NumberCounts.CopyTo(Numbers, 0);
                group.TextCounts.CopyTo(Texts, 0);
                (Args, ArgsBytes, DeferredRows, DeferredNumbers) = (group.ArgsCount, group.ArgsBytes.Length, group.DeferredRowCount, group.DeferredNumberCount);
                (Stacks, Frames) = (group.StackCount, group.FrameCount);
                Mark(group, row);
                return ulong.MaxValue;
            }
            int first;
            if (start is not null && ReferenceEquals(start._group, group) && start._generation == group.Generation && start._row <= row)
            {
                start.Numbers.CopyTo(Numbers, 0);
                start.Texts.CopyTo(Texts, 0);
                (Args, ArgsBytes, DeferredRows, DeferredNumbers, Stacks, Frames) =
                    (start.Args, start.ArgsBytes, start.DeferredRows, start.DeferredNumbers, start.Stacks, start.Frames);
                first = start._row;
            }
            else if (ReferenceEquals(_group, group) && _generation == group.Generation && _row <= row)
            {
                first = _row;
            }
            else
            {
                Array.Clear(Numbers);
                Array.Clear(Texts);
                (Args, ArgsBytes, DeferredRows, DeferredNumbers, Stacks, Frames) = (0, 0, 0, 0, 0, 0);
                first = 0;
            }
            int args = Args;
            int bytes = ArgsBytes;
            int deferredRows = DeferredRows;
            int deferredNumbers = DeferredNumbers;
            int stacks = Stacks;
            int frames = Frames;
            ulong columns = 0;
            // The rows in between, column by column as Add packed them.
            for (int r = first; r < row; r++)
            {
                ulong rowMask = group.Masks[r];
                columns |= rowMask;
                for (ulong mask = rowMask; mask != 0; mask &= mask - 1)
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
            Mark(group, row);
            return columns;
        }

        private void Mark(EventRowGroup group, int row)
        {
            _group = group;
            _generation = group.Generation;
            _row = row;
        }
    }
}
