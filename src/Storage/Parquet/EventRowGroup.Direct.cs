using System.Numerics;
using System.Runtime.CompilerServices;

namespace Pipeline.Storage.Parquet;

/// <summary>
/// Rows written field by field (<see cref="BeginRow"/> … <see cref="EndRow"/>) by a parser that fills the columns
/// itself instead of an <see cref="EventRow"/> that <see cref="Add"/> then copies, and the removal of the last rows
/// (<see cref="TruncateTo"/>). A row written this way holds exactly what <see cref="Add"/> of the same row would.
/// </summary>
internal sealed partial class EventRowGroup
{
    // The row being written: its presence bits so far, and where its args JSON starts in ArgsBytes (-1: no args yet).
    private ulong _rowMask;
    private int _rowArgsStart = -1;
    private bool _rowOpen;

    /// <summary>Starts row <see cref="Rows"/> with its header columns; the row counts once <see cref="EndRow"/> is called.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void BeginRow(long tsNs, long srcPos, int cpu, int pid, int? tgid, string comm, string ev, string? irqFlags)
    {
        int r = Rows;
        TsNs[r] = tsNs;
        SrcPos[r] = srcPos;
        Cpu[r] = cpu;
        Pid[r] = pid;
        Comm[r] = comm;
        Event[r] = ev;
        ulong mask = 0;
        if (tgid is int t)
        {
            mask |= 1UL << EventSchema.Tgid;
            AddNumber(EventSchema.Tgid, t);
        }
        if (irqFlags is not null)
        {
            mask |= 1UL << EventSchema.IrqFlags;
            AddText(EventSchema.IrqFlags, irqFlags);
        }
        _rowMask = mask;
        _rowArgsStart = -1;
        _rowOpen = true;
    }

    /// <summary>Sets a typed numeric or boolean column of the row begun; each column at most once per row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetNumber(int ordinal, long value)
    {
        _rowMask |= 1UL << ordinal;
        AddNumber(ordinal, value);
    }

    /// <summary>Sets a typed text column of the row begun; each column at most once per row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetText(int ordinal, string value)
    {
        _rowMask |= 1UL << ordinal;
        AddText(ordinal, value);
    }

    /// <summary>
    /// Appends an arg whose value is the UTF-8 <paramref name="value"/> to the row begun, as JSON text as it stands;
    /// false (nothing written) when the value holds a byte JSON must escape, as <see cref="EventRow.TryAddArgUtf8(ArgName, ReadOnlySpan{byte})"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public bool TryAddArgUtf8(ArgName name, ReadOnlySpan<byte> value)
    {
        if (value.ContainsAny(EventRow.NeedsJsonCare))
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

    /// <summary>Ends the row begun: it is now the group's last row.</summary>
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
        _rowOpen = false;
    }

    /// <summary>
    /// Takes back what was written of the row begun (after a failure between <see cref="BeginRow"/> and
    /// <see cref="EndRow"/>); nothing when no row is begun.
    /// </summary>
    public void AbortRow()
    {
        if (!_rowOpen)
        {
            return;
        }
        _rowOpen = false;
        RemoveValues(_rowMask & ~(1UL << EventSchema.Args));
        if (_rowArgsStart >= 0)
        {
            ArgsBytes.Truncate(_rowArgsStart);
            _rowArgsStart = -1;
        }
        Comm[Rows] = null!;
        Event[Rows] = null!;
        _rowMask = 0;
        ForgetRecentArgs();
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
