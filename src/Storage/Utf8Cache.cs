using System.Runtime.InteropServices;
using System.Text;

namespace Pipeline.Storage;

/// <summary>
/// UTF-8 bytes of strings that repeat on almost every row (event names, comms, symbolic flags), so the
/// writer encodes each distinct value once. Bounded: past <see cref="MaxEntries"/> values are encoded each time.
/// </summary>
internal sealed class Utf8Cache
{
    public const int MaxEntries = 4096;

    private readonly Dictionary<string, byte[]> _entries = new(StringComparer.Ordinal);
    private string? _lastKey;
    private byte[] _lastValue = [];
    private byte[] _scratch = new byte[256];

    public ReadOnlySpan<byte> Get(string value)
    {
        if (ReferenceEquals(value, _lastKey))
        {
            return _lastValue;
        }
        ref byte[]? slot = ref CollectionsMarshal.GetValueRefOrAddDefault(_entries, value, out bool exists);
        if (!exists)
        {
            if (_entries.Count > MaxEntries)
            {
                _entries.Remove(value);
                return DuckDb.VarcharColumnWriter.Encode(ref _scratch, value);
            }
            slot = Encoding.UTF8.GetBytes(value);
        }
        _lastKey = value;
        _lastValue = slot!;
        return slot;
    }
}
