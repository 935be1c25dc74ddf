using System.Runtime.CompilerServices;

namespace Pipeline.Storage.Parquet;

/// <summary>
/// Writes one event at a time straight into the row group an <see cref="EventParquetWriter"/> is filling: a decoder
/// sets the typed columns and args of a row as it reads them and ends the row with its header columns
/// (<see cref="EndRow"/>), instead of filling an <see cref="EventRow"/> that the writer then copies and the decoder
/// clears. The file is the same as if each row had been filled into an <see cref="EventRow"/> and written
/// (<see cref="IEventSink.Write"/>): same row groups, same reorder window, same counts. A binary decoder on the
/// thread the ingest waits for saves the copy, the clearing and a write barrier per string that way.
/// </summary>
/// <remarks>
/// Only what binary trace decoders produce: typed columns, the irq flags and args (no tgid, no stack). One row is
/// open at a time, on one thread; <see cref="IEventSink.Write"/> on the writer while a row is open throws.
/// </remarks>
public sealed class EventColumnWriter
{
    private readonly EventParquetWriter _writer;
    private KeyValuePair<string, string>[] _args = new KeyValuePair<string, string>[16];
    private int _argCount;
    private long[] _argNumbers = new long[16];
    private ArgNumberFormat[] _argFormats = new ArgNumberFormat[16];
    private int _argNumberCount;
    private bool _open;

    internal EventColumnWriter(EventParquetWriter writer)
    {
        _writer = writer;
    }

    /// <summary>Rows the writer holds so far (these and any written as rows or segments).</summary>
    public long Count => _writer.Count;

    /// <summary>
    /// Called with <see cref="Count"/> whenever a row ended here makes it a multiple of 65,536 (for progress
    /// reports), or null.
    /// </summary>
    public Action<long>? Progress { get; set; }

    /// <summary>Whether a row was started (a value set) and not yet ended or discarded.</summary>
    internal bool IsRowOpen => _open;

    /// <summary>Sets a BIGINT/INTEGER/UBIGINT column of the open row (as <see cref="EventRow.SetInt64"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetInt64(int ordinal, long value)
    {
        _open = true;
        _writer.Current.SetNumberInRow(ordinal, value);
    }

    /// <summary>Sets a BOOLEAN column of the open row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetBool(int ordinal, bool value) => SetInt64(ordinal, value ? 1 : 0);

    /// <summary>Sets a VARCHAR column of the open row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetText(int ordinal, string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        _open = true;
        _writer.Current.SetTextInRow(ordinal, value);
    }

    /// <summary>Adds an arg to the open row (as <see cref="EventRow.AddArg(string, string)"/>).</summary>
    public void AddArg(string name, string value)
    {
        _open = true;
        if (_argCount == _args.Length)
        {
            Array.Resize(ref _args, _argCount * 2);
        }
        _args[_argCount++] = new KeyValuePair<string, string>(name, value);
    }

    /// <summary>Adds a numeric arg to the open row, printed by the encoder (as <see cref="EventRow.AddArg(string, long, ArgNumberFormat)"/>).</summary>
    public void AddArg(string name, long value, ArgNumberFormat format)
    {
        ArgumentNullException.ThrowIfNull(format);
        _open = true;
        if (_argNumberCount == _argNumbers.Length)
        {
            Array.Resize(ref _argNumbers, _argNumberCount * 2);
            Array.Resize(ref _argFormats, _argNumberCount * 2);
        }
        _argNumbers[_argNumberCount] = value;
        _argFormats[_argNumberCount++] = format;
        AddArg(name, null!);
    }

    /// <summary>
    /// Ends the open row (or writes one without typed columns or args) with its header columns; it gets the next
    /// seq, as <see cref="IEventSink.Write"/> of a row would give it.
    /// </summary>
    /// <exception cref="IOException">An earlier row group could not be encoded or written.</exception>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void EndRow(long tsNs, int cpu, long srcPos, int pid, string comm, string eventName, string? irqFlags)
    {
        ArgumentNullException.ThrowIfNull(comm);
        ArgumentNullException.ThrowIfNull(eventName);
        _writer.BeginColumnRow(tsNs, eventName);
        _writer.Current.EndRow(tsNs, srcPos, cpu, pid, comm, eventName, irqFlags,
            _args.AsSpan(0, _argCount), _argNumbers.AsSpan(0, _argNumberCount), _argFormats.AsSpan(0, _argNumberCount));
        // The strings stay referenced until overwritten: field names and the decoder's cached or interned values.
        _argCount = 0;
        _argNumberCount = 0;
        _open = false;
        long count = _writer.EndColumnRow();
        if ((count & 0xFFFF) == 0)
        {
            Progress?.Invoke(count);
        }
    }

    /// <summary>Drops what the open row set so far (its decoder failed); the next value starts a new row.</summary>
    public void DiscardRow()
    {
        _writer.Current.AbortRow();
        Array.Clear(_args, 0, _argCount);
        _argCount = 0;
        _argNumberCount = 0;
        _open = false;
    }
}
