using System.Numerics;
using System.Runtime.ExceptionServices;
using System.Runtime.Intrinsics;

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
    // A read TryReadBlock caught to hand out the whole lines before it first (see there).
    private ExceptionDispatchInfo? _readFailure;

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

    /// <summary>
    /// Takes the next whole lines as they stand in the buffer, at most <paramref name="maxLines"/> of them, without
    /// splitting them: <paramref name="block"/> runs from the next line's start through the <c>\n</c> of the last
    /// one taken (each line as <see cref="TryReadLine"/> would return it, once a trailing <c>\r</c> is trimmed), valid
    /// until the next call. False when the next line is not a whole line that <see cref="TryReadLine"/> would return
    /// as is (the stream ended, a line cut at <see cref="MaxLineLength"/>, the rest of a cut line to skip): read
    /// that one with <see cref="TryReadLine"/>, then blocks again.
    /// </summary>
    public bool TryReadBlock(int maxLines, out ReadOnlySpan<byte> block, out int lines)
    {
        while (!_skipRestOfLine)
        {
            ReadOnlySpan<byte> data = _buffer.AsSpan(_start, _end - _start);
            int end = EndOfLines(data, maxLines, out lines);
            // Few lines left before the buffer's end: read on first rather than hand out a small block (unless that
            // read failed: the lines already here are handed out before the failure is, as TryReadLine does).
            if (end > 0 && (lines == maxLines || _eof || _start == 0 || _readFailure is not null))
            {
                block = data[..end];
                _start += end;
                LineNumber += lines;
                LastLineTruncated = false;
                return true;
            }
            if (_eof || (end == 0 && _end - _start >= MaxLineLength))
            {
                break;
            }
            if (end == 0)
            {
                Fill();
                continue;
            }
            try
            {
                Fill();
            }
#pragma warning disable CA1031 // Whatever the stream throws is rethrown by the next Fill, once these lines are out.
            catch (Exception e)
#pragma warning restore CA1031
            {
                _readFailure = ExceptionDispatchInfo.Capture(e);
            }
        }
        block = default;
        lines = 0;
        return false;
    }

    /// <summary>
    /// The offset just past the <c>\n</c> of the <paramref name="maxLines"/>-th line of <paramref name="data"/>, or of
    /// its last whole line when it has fewer (0 when none), with the number of lines up to there; 32 bytes at a time.
    /// </summary>
    internal static int EndOfLines(ReadOnlySpan<byte> data, int maxLines, out int lines)
    {
        int count = 0;
        int end = 0;
        int i = 0;
        Vector256<byte> newline = Vector256.Create((byte)'\n');
        for (; i + 32 <= data.Length; i += 32)
        {
            uint bits = Vector256.Equals(Vector256.Create(data.Slice(i, 32)), newline).ExtractMostSignificantBits();
            if (bits == 0)
            {
                continue;
            }
            int found = BitOperations.PopCount(bits);
            if (count + found >= maxLines)
            {
                for (int k = maxLines - count; k > 1; k--)
                {
                    bits &= bits - 1;
                }
                lines = maxLines;
                return i + BitOperations.TrailingZeroCount(bits) + 1;
            }
            count += found;
            end = i + 32 - BitOperations.LeadingZeroCount(bits);
        }
        for (; i < data.Length && count < maxLines; i++)
        {
            if (data[i] == (byte)'\n')
            {
                count++;
                end = i + 1;
            }
        }
        lines = count;
        return end;
    }

    private void Fill()
    {
        // A read that failed is not tried again: the caller gets its error once the lines before it are out.
        _readFailure?.Throw();
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
