namespace Pipeline.Ingest.Text;

/// <summary>
/// Splits a stream into lines without decoding it: the returned span points into an internal buffer and is
/// valid until the next call. <c>\r\n</c> endings lose their <c>\r</c>. Lines longer than
/// <see cref="MaxLineLength"/> are cut there (the rest of the line is skipped) so memory stays bounded.
/// </summary>
internal sealed class Utf8LineReader
{
    /// <summary>Longest line kept; the kernel itself cuts console dump lines at 1000 bytes.</summary>
    public const int MaxLineLength = 1 << 20;

    private readonly Stream _stream;
    // Twice a FileStream's 64 KiB buffer: each read then asks for at least 64 KiB, which FileStream passes straight to
    // the file instead of filling its own buffer and copying from it (every byte of the trace copied twice).
    private byte[] _buffer = new byte[1 << 17];
    private int _start;
    private int _end;
    private bool _eof;
    private bool _skipRestOfLine;

    public Utf8LineReader(Stream stream) => _stream = stream;

    /// <summary>1-based number of the line last returned.</summary>
    public long LineNumber { get; private set; }

    /// <summary>Whether the last line returned was cut at <see cref="MaxLineLength"/>.</summary>
    public bool LastLineTruncated { get; private set; }

    /// <summary>Reads the next line; false at the end of the stream.</summary>
    public bool TryReadLine(out ReadOnlySpan<byte> line)
    {
        while (true)
        {
            int nl = _buffer.AsSpan(_start, _end - _start).IndexOf((byte)'\n');
            if (nl >= 0)
            {
                int lineEnd = _start + nl;
                int lineStart = _start;
                _start = lineEnd + 1;
                if (_skipRestOfLine)
                {
                    _skipRestOfLine = false;
                    continue;
                }
                line = Trim(_buffer.AsSpan(lineStart, lineEnd - lineStart));
                LineNumber++;
                LastLineTruncated = false;
                return true;
            }
            if (_eof)
            {
                if (_end > _start && !_skipRestOfLine)
                {
                    line = Trim(_buffer.AsSpan(_start, _end - _start));
                    _start = _end;
                    LineNumber++;
                    LastLineTruncated = false;
                    return true;
                }
                line = default;
                return false;
            }
            if (_skipRestOfLine)
            {
                _start = _end;
            }
            else if (_end - _start >= MaxLineLength)
            {
                line = _buffer.AsSpan(_start, MaxLineLength);
                _start = _end;
                _skipRestOfLine = true;
                LineNumber++;
                LastLineTruncated = true;
                return true;
            }
            Fill();
        }
    }

    private void Fill()
    {
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }
        if (_end == _buffer.Length)
        {
            Array.Resize(ref _buffer, Math.Min(_buffer.Length * 2, MaxLineLength + 1));
        }
        int n = _stream.Read(_buffer, _end, _buffer.Length - _end);
        if (n == 0)
        {
            _eof = true;
        }
        _end += n;
    }

    private static ReadOnlySpan<byte> Trim(ReadOnlySpan<byte> line) =>
        line.Length > 0 && line[^1] == (byte)'\r' ? line[..^1] : line;
}
