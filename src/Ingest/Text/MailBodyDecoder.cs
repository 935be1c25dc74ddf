using Pipeline.Ingest.Catalog;

namespace Pipeline.Ingest.Text;

/// <summary>What <see cref="MailBodyDecoder.Push"/> made of a physical line.</summary>
internal enum MailLine
{
    /// <summary>A complete body line is ready.</summary>
    Body,

    /// <summary>A header, MIME boundary or part header: not content.</summary>
    Skipped,

    /// <summary>A quoted-printable soft break: the line continues on the next one.</summary>
    Pending,
}

/// <summary>
/// Undoes what mail transport did to a console log: skips the RFC 822 and MIME part headers, joins
/// quoted-printable soft line breaks (<c>=</c> at the end) and decodes <c>=XX</c> escapes, per MIME part.
/// </summary>
internal sealed class MailBodyDecoder
{
    private readonly List<byte> _pending = [];
    private byte[] _decoded = new byte[4096];
    private bool _inHeaders = true;
    private bool _quotedPrintable;
    private bool _partQuotedPrintable;
    private byte[]? _boundary;
    private long _pendingLine;

    /// <summary>Whether the input is a mail at all (decided from its first line).</summary>
    public bool Enabled { get; set; }

    /// <summary>Whether a first line looks like an RFC 822 header (or an mbox <c>From </c> line).</summary>
    public static bool LooksLikeMailHeader(ReadOnlySpan<byte> line) =>
        line.StartsWith("Return-Path:"u8) || line.StartsWith("From "u8) || line.StartsWith("From:"u8)
        || line.StartsWith("Received:"u8) || line.StartsWith("Delivered-To:"u8) || line.StartsWith("Message-ID:"u8)
        || line.StartsWith("Date:"u8) || line.StartsWith("MIME-Version:"u8) || line.StartsWith("X-"u8);

    /// <summary>Strips mail quoting (<c>&gt; </c>, <c>&gt;&gt;</c>, <c>&gt; &gt; </c>) from a body line; <paramref name="depth"/> is the number of <c>&gt;</c>.</summary>
    public static ReadOnlySpan<byte> StripQuotes(ReadOnlySpan<byte> line, out int depth)
    {
        depth = 0;
        while (line.Length > 0 && line[0] == (byte)'>')
        {
            depth++;
            line = line[1..];
            if (line.Length > 0 && line[0] == (byte)' ' && (line.Length < 2 || line[1] == (byte)'>'))
            {
                line = line[1..];
            }
        }
        return line;
    }

    /// <summary>Takes one physical line; returns what it is and, for <see cref="MailLine.Body"/>, the decoded logical line.</summary>
    public MailLine Push(ReadOnlySpan<byte> line, long lineNumber, out ReadOnlySpan<byte> logical, out long logicalLine)
    {
        logical = default;
        logicalLine = lineNumber;
        if (_inHeaders)
        {
            if (line.IsEmpty)
            {
                _inHeaders = false;
                _quotedPrintable = _partQuotedPrintable;
                return MailLine.Skipped;
            }
            Header(line);
            return MailLine.Skipped;
        }
        if (_boundary is not null && line.Length >= _boundary.Length + 2 && line.StartsWith("--"u8) && line[2..].StartsWith(_boundary))
        {
            _inHeaders = true;
            _partQuotedPrintable = false;
            _pending.Clear();
            return MailLine.Skipped;
        }
        if (!_quotedPrintable)
        {
            logical = line;
            return MailLine.Body;
        }
        if (_pending.Count == 0)
        {
            _pendingLine = lineNumber;
        }
        bool soft = line.Length > 0 && line[^1] == (byte)'=';
        _pending.AddRange(soft ? line[..^1] : line);
        // A run of soft breaks is one logical line; past the line limit it is cut so memory stays bounded.
        if (soft && _pending.Count < Utf8LineReader.MaxLineLength)
        {
            return MailLine.Pending;
        }
        logical = Decode();
        logicalLine = _pendingLine;
        return MailLine.Body;
    }

    /// <summary>A soft-broken line left open at the end of the input.</summary>
    public bool TryFinish(out ReadOnlySpan<byte> logical, out long logicalLine)
    {
        logicalLine = _pendingLine;
        if (_pending.Count == 0)
        {
            logical = default;
            return false;
        }
        logical = Decode();
        return true;
    }

    private void Header(ReadOnlySpan<byte> line)
    {
        if (line.StartsWith("Content-Transfer-Encoding:"u8, ignoreCase: true))
        {
            _partQuotedPrintable = line[26..].Trim((byte)' ').SequenceEqual("quoted-printable"u8, ignoreCase: true);
        }
        int b = line.IndexOf("boundary="u8);
        if (b >= 0 && _boundary is null)
        {
            ReadOnlySpan<byte> value = line[(b + 9)..].Trim((byte)' ');
            if (value.Length > 1 && value[0] == (byte)'"')
            {
                int close = value[1..].IndexOf((byte)'"');
                value = close < 0 ? value[1..] : value[1..(close + 1)];
            }
            int semi = value.IndexOf((byte)';');
            _boundary = (semi < 0 ? value : value[..semi]).ToArray();
        }
    }

    private ReadOnlySpan<byte> Decode()
    {
        if (_decoded.Length < _pending.Count)
        {
            _decoded = new byte[Math.Max(_pending.Count, _decoded.Length * 2)];
        }
        int n = 0;
        for (int i = 0; i < _pending.Count; i++)
        {
            byte c = _pending[i];
            if (c == (byte)'=' && i + 2 < _pending.Count
                && AsciiNumber.HexDigit(_pending[i + 1]) >= 0 && AsciiNumber.HexDigit(_pending[i + 2]) >= 0)
            {
                c = (byte)((AsciiNumber.HexDigit(_pending[i + 1]) << 4) | AsciiNumber.HexDigit(_pending[i + 2]));
                i += 2;
            }
            _decoded[n++] = c;
        }
        _pending.Clear();
        return _decoded.AsSpan(0, n);
    }
}

file static class SpanExtensions
{
    public static bool StartsWith(this ReadOnlySpan<byte> span, ReadOnlySpan<byte> value, bool ignoreCase) =>
        span.Length >= value.Length && span[..value.Length].SequenceEqual(value, ignoreCase);

    public static bool SequenceEqual(this ReadOnlySpan<byte> span, ReadOnlySpan<byte> value, bool ignoreCase)
    {
        if (!ignoreCase)
        {
            return span.SequenceEqual(value);
        }
        if (span.Length != value.Length)
        {
            return false;
        }
        for (int i = 0; i < span.Length; i++)
        {
            if ((span[i] | 0x20) != (value[i] | 0x20))
            {
                return false;
            }
        }
        return true;
    }
}
