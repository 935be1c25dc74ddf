using System.Text;

namespace Pipeline.Ingest.Perf;

/// <summary>
/// Turns repeated UTF-8 tokens (comms, event names, payload values) into shared strings, so a trace
/// with millions of events allocates one string per distinct value instead of one per event.
/// Bounded: past <see cref="MaxEntries"/> distinct values new ones are decoded but not kept.
/// </summary>
internal sealed class Utf8StringCache
{
    public const int MaxEntries = 1 << 16;

    private readonly Dictionary<string, string> _strings = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private char[] _chars = new char[256];

    public Utf8StringCache()
    {
        _lookup = _strings.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public string Get(ReadOnlySpan<byte> utf8)
    {
        var chars = Decode(utf8);
        if (_lookup.TryGetValue(chars, out var cached))
        {
            return cached;
        }
        var text = new string(chars);
        if (_strings.Count < MaxEntries)
        {
            _strings.Add(text, text);
        }
        return text;
    }

    /// <summary>Decodes into a reusable buffer; the span is valid until the next call.</summary>
    public ReadOnlySpan<char> Decode(ReadOnlySpan<byte> utf8)
    {
        if (_chars.Length < utf8.Length)
        {
            _chars = new char[Math.Max(utf8.Length, _chars.Length * 2)];
        }
        int count = Encoding.UTF8.GetChars(utf8, _chars);
        return _chars.AsSpan(0, count);
    }
}
