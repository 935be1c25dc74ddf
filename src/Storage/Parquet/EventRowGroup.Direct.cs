using System.Numerics;
using System.Runtime.CompilerServices;

namespace Pipeline.Storage.Parquet;

/// <summary>
/// A row written field by field straight into the columns, by a parser or decoder that stores each value where
/// <see cref="Add"/> would have copied it from an <see cref="EventRow"/>: the text parsers through
/// <see cref="EventSegment"/> (<see cref="BeginRow"/>, the setters, args as JSON bytes, <see cref="EndRow()"/>) and the
/// trace.dat decoder through <see cref="EventColumnWriter"/> (the setters, then <see cref="EndRow(long, long, int, int,
/// string, string, string?, ReadOnlySpan{KeyValuePair{string, string}}, ReadOnlySpan{long}, ReadOnlySpan{ArgNumberFormat})"/>
/// with the header and the args). A row written this way holds exactly what <see cref="Add"/> of the same row would;
/// <see cref="AbortRow"/> takes an unfinished one back and <see cref="TruncateTo"/> the last rows.
/// </summary>
internal sealed partial class EventRowGroup
{
    // The open row: the typed columns it has set (presence bits), and where its args JSON starts in ArgsBytes
    // (-1: no args written yet). Both reset when the row ends or is taken back.
    private ulong _rowMask;
    private int _rowArgsStart = -1;

    /// <summary>Starts row <see cref="Rows"/> with its header columns; the row counts once <see cref="EndRow()"/> is called.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void BeginRow(long tsNs, long srcPos, int cpu, int pid, int? tgid, string comm, string ev, string? irqFlags)
    {
        SetHeader(tsNs, srcPos, cpu, pid, comm, ev);
        if (tgid is int t)
        {
            SetNumberInRow(EventSchema.Tgid, t);
        }
        if (irqFlags is not null)
        {
            SetTextInRow(EventSchema.IrqFlags, irqFlags);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void SetHeader(long tsNs, long srcPos, int cpu, int pid, string comm, string ev)
    {
        int r = Rows;
        TsNs[r] = tsNs;
        SrcPos[r] = srcPos;
        Cpu[r] = cpu;
        Pid[r] = pid;
        Comm[r] = comm;
        Event[r] = ev;
    }

    /// <summary>Sets numeric or boolean column <paramref name="column"/> of the open row; a second set replaces the value, as on a row.</summary>
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
    /// Appends an arg whose value is the UTF-8 <paramref name="value"/> to the row begun, as JSON text as it stands;
    /// false (nothing written) when the value holds a byte JSON must escape, as <see cref="EventRow.TryAddArgUtf8(ArgName, ReadOnlySpan{byte})"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public bool TryAddArgUtf8(ArgName name, ReadOnlySpan<byte> value)
    {
        if (EventRow.NeedsJsonCareIn(value))
        {
            return false;
        }
        ReadOnlySpan<byte> member = name.JsonMember;
        int total = 1 + member.Length + value.Length + 2;
        Span<byte> span = ArgsBytes.GetSpan(total);
        if (_rowArgsStart < 0)
        {
            _rowArgsStart = ArgsBytes.Length;
            span[0] = (byte)'{';
        }
        else
        {
            span[0] = (byte)',';
        }
        member.CopyTo(span[1..]);
        int at = 1 + member.Length;
        span[at] = (byte)'"';
        value.CopyTo(span[(at + 1)..]);
        span[total - 1] = (byte)'"';
        ArgsBytes.Advance(total);
        return true;
    }

    /// <summary>Appends an arg with a string value to the row begun (escaped as <see cref="JsonArgs"/> writes it).</summary>
    public void AddArg(ArgName name, string value)
    {
        if (_rowArgsStart < 0)
        {
            _rowArgsStart = ArgsBytes.Length;
            ArgsBytes.WriteByte((byte)'{');
        }
        else
        {
            ArgsBytes.WriteByte((byte)',');
        }
        ArgsBytes.Write(name.JsonMember);
        JsonArgs.WriteString(ArgsBytes, value);
    }

    /// <summary>Ends the open row: it is now the group's last row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void EndRow()
    {
        int r = Rows;
        ulong mask = _rowMask;
        if (_rowArgsStart >= 0)
        {
            ArgsBytes.WriteByte((byte)'}');
            int length = ArgsBytes.Length - _rowArgsStart;
            ArgsLengths = Append(ArgsLengths, ArgsCount++, length);
            _textBytes += length;
            mask |= 1UL << EventSchema.Args;
            _rowArgsStart = -1;
        }
        Masks[r] = mask;
        if (_textBytesAfterRow is not null)
        {
            _textBytesAfterRow[r] = _textBytes;
        }
        Rows = r + 1;
        _rowMask = 0;
    }

    /// <summary>
    /// Ends the open row with its header columns, the irq flags (when not null) and its args (numeric ones as
    /// <see cref="Add"/> keeps them, for the encoder to print); for a decoder that learns the header last.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void EndRow(long tsNs, long srcPos, int cpu, int pid, string comm, string eventName, string? irqFlags,
        ReadOnlySpan<KeyValuePair<string, string>> args, ReadOnlySpan<long> numbers, ReadOnlySpan<ArgNumberFormat> formats)
    {
        SetHeader(tsNs, srcPos, cpu, pid, comm, eventName);
        if (irqFlags is not null)
        {
            SetTextInRow(EventSchema.IrqFlags, irqFlags);
        }
        if (!args.IsEmpty)
        {
            _rowMask |= 1UL << EventSchema.Args;
            if (numbers.IsEmpty)
            {
                AddArgs(args);
            }
            else
            {
                AddDeferredArgs(args, numbers, formats);
            }
        }
        EndRow();
    }

    /// <summary>
    /// Takes back what the open row stored (its parser or decoder failed before ending it); nothing when no row is
    /// open.
    /// </summary>
    public void AbortRow()
    {
        RemoveValues(_rowMask & ~(1UL << EventSchema.Args));
        _rowMask = 0;
        if (_rowArgsStart >= 0)
        {
            ArgsBytes.Truncate(_rowArgsStart);
            _rowArgsStart = -1;
            // The recent args may point into the bytes just cut.
            ForgetRecentArgs();
        }
        if (Rows < Comm.Length)
        {
            // The header, if the row got that far (a full group has no open row).
            Comm[Rows] = null!;
            Event[Rows] = null!;
        }
    }

    /// <summary>Removes every row from <paramref name="rows"/> on: the group is as it was when it held that many.</summary>
    public void TruncateTo(int rows)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(rows, Rows);
        for (int r = Rows - 1; r >= rows; r--)
        {
            ulong mask = Masks[r];
            if ((mask & (1UL << EventSchema.Args)) != 0)
            {
                int length = ArgsLengths[--ArgsCount];
                if (length >= 0)
                {
                    ArgsBytes.Truncate(ArgsBytes.Length - length);
                    _textBytes -= length;
                }
                else
                {
                    ArgShape shape = DeferredShapes[--DeferredRowCount];
                    DeferredShapes[DeferredRowCount] = null!;
                    DeferredNumberCount -= shape.NumberFormats.Length;
                    _textBytes -= shape.TextBytes + (24L * shape.NumberFormats.Length);
                }
            }
            if ((mask & (1UL << EventSchema.Stack)) != 0)
            {
                int frames = StackLengths[--StackCount];
                for (int f = 0; f < frames; f++)
                {
                    string? frame = Frames[--FrameCount];
                    Frames[FrameCount] = null;
                    _textBytes -= 2L * (frame?.Length ?? 0);
                }
            }
            RemoveValues(mask & ~((1UL << EventSchema.Args) | (1UL << EventSchema.Stack)));
            Comm[r] = null!;
            Event[r] = null!;
        }
        Rows = rows;
        // The recent args point into ArgsBytes, whose end was just cut.
        ForgetRecentArgs();
    }

    // Takes back the last value of each typed or header column in mask (not args or stack).
    private void RemoveValues(ulong mask)
    {
        for (; mask != 0; mask &= mask - 1)
        {
            int c = BitOperations.TrailingZeroCount(mask);
            if (s_kinds[c] == ColumnKind.Text)
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
    }
}
