using System.Numerics;
using System.Runtime.CompilerServices;

namespace Pipeline.Storage.Parquet;

/// <summary>
/// A row written field by field straight into the columns (<see cref="EventColumnWriter"/>): a decoder stores each
/// value where <see cref="Add"/> would have copied it from an <see cref="EventRow"/>, and <see cref="EndRow"/> adds
/// the header columns and the args. The group's columns end up exactly as <see cref="Add"/> of the same row leaves them.
/// </summary>
internal sealed partial class EventRowGroup
{
    // The typed columns the open row has set so far (its presence bits); 0 between rows.
    private ulong _rowMask;

    /// <summary>Sets numeric column <paramref name="column"/> of the open row; a second set replaces the value, as on a row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetNumberInRow(int column, long value)
    {
        ulong bit = 1UL << column;
        if ((_rowMask & bit) != 0)
        {
            Numbers[column][NumberCounts[column] - 1] = value;
            return;
        }
        _rowMask |= bit;
        AddNumber(column, value);
    }

    /// <summary>Sets text column <paramref name="column"/> of the open row; a second set replaces the value, as on a row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetTextInRow(int column, string value)
    {
        ulong bit = 1UL << column;
        if ((_rowMask & bit) != 0)
        {
            ref string last = ref Texts[column][TextCounts[column] - 1];
            _textBytes += 2L * (value.Length - last.Length);
            last = value;
            return;
        }
        _rowMask |= bit;
        AddText(column, value);
    }

    /// <summary>
    /// Ends the open row: its header columns, the irq flags (when not null) and its args (numeric ones as
    /// <see cref="Add"/> keeps them, for the encoder to print).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void EndRow(long tsNs, long srcPos, int cpu, int pid, string comm, string eventName, string? irqFlags,
        ReadOnlySpan<KeyValuePair<string, string>> args, ReadOnlySpan<long> numbers, ReadOnlySpan<ArgNumberFormat> formats)
    {
        int r = Rows;
        TsNs[r] = tsNs;
        SrcPos[r] = srcPos;
        Cpu[r] = cpu;
        Pid[r] = pid;
        Comm[r] = comm;
        Event[r] = eventName;
        ulong mask = _rowMask;
        if (irqFlags is not null)
        {
            mask |= 1UL << EventSchema.IrqFlags;
            AddText(EventSchema.IrqFlags, irqFlags);
        }
        if (!args.IsEmpty)
        {
            mask |= 1UL << EventSchema.Args;
            if (numbers.IsEmpty)
            {
                AddArgs(args);
            }
            else
            {
                AddDeferredArgs(args, numbers, formats);
            }
        }
        Masks[r] = mask;
        if (_textBytesAfterRow is not null)
        {
            _textBytesAfterRow[r] = _textBytes;
        }
        Rows = r + 1;
        _rowMask = 0;
    }

    /// <summary>Takes back what the open row stored (its decoder failed before <see cref="EndRow"/>).</summary>
    public void DiscardRow()
    {
        for (ulong set = _rowMask; set != 0; set &= set - 1)
        {
            int c = BitOperations.TrailingZeroCount(set);
            if ((s_textColumns & (1UL << c)) != 0)
            {
                int i = --TextCounts[c];
                _textBytes -= 2L * Texts[c][i].Length;
                Texts[c][i] = null!;
            }
            else
            {
                NumberCounts[c]--;
            }
        }
        _rowMask = 0;
    }
}
