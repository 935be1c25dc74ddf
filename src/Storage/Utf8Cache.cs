using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Pipeline.Storage.DuckDb;

namespace Pipeline.Storage;

/// <summary>
/// UTF-8 bytes, in native memory, of strings that repeat on almost every row (event names, comms, symbolic
/// flags), so the writer encodes each distinct value once and chunk entries point at it without copying.
/// Bounded: past <see cref="MaxEntries"/> values are encoded each time into a transient buffer.
/// The memory lives until <see cref="Dispose"/>, which must come after the appender using it is closed.
/// </summary>
internal sealed unsafe class Utf8Cache : IDisposable
{
    public const int MaxEntries = 4096;

    private readonly Dictionary<string, NativeUtf8> _entries = new(StringComparer.Ordinal);
    private readonly StringArena _memory = new();
    private string? _lastKey;
    private NativeUtf8 _lastValue;
    private byte* _scratch;
    private int _scratchLength;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public NativeUtf8 Get(string value)
    {
        if (ReferenceEquals(value, _lastKey))
        {
            return _lastValue;
        }
        ref NativeUtf8 slot = ref CollectionsMarshal.GetValueRefOrAddDefault(_entries, value, out bool exists);
        if (!exists)
        {
            if (_entries.Count > MaxEntries)
            {
                _entries.Remove(value);
                return Transient(value);
            }
            int length = Encoding.UTF8.GetByteCount(value);
            byte* bytes = length == 0 ? null : _memory.Copy(Encoding.UTF8.GetBytes(value));
            slot = new NativeUtf8(bytes, length, persistent: true);
        }
        _lastKey = value;
        _lastValue = slot;
        return slot;
    }

    public void Dispose()
    {
        _entries.Clear();
        _lastKey = null;
        _memory.Dispose();
        if (_scratch is not null)
        {
            NativeMemory.Free(_scratch);
            _scratch = null;
        }
    }

    private NativeUtf8 Transient(string value)
    {
        int needed = Encoding.UTF8.GetByteCount(value);
        if (needed > _scratchLength)
        {
            NativeMemory.Free(_scratch);
            _scratchLength = Math.Max(needed, 256);
            _scratch = (byte*)NativeMemory.Alloc((nuint)_scratchLength);
        }
        int length = Encoding.UTF8.GetBytes(value, new Span<byte>(_scratch, _scratchLength));
        return new NativeUtf8(_scratch, length, persistent: false);
    }
}
