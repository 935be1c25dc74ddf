using System.Buffers;

namespace Pipeline.Ingest;

/// <summary>
/// Android systrace/catapult HTML (<c>trace.html</c>) keeps the ftrace text inside
/// <c>&lt;script class="trace-data" type="application/text"&gt;</c> blocks, next to JSON blocks and the viewer's
/// own markup. This stream passes the ftrace text through and blanks every other line (keeping its line break),
/// so the ftrace reader sees the trace and its error messages still give the HTML file's line numbers.
/// </summary>
internal sealed class SystraceHtmlStream : Stream
{
    private static ReadOnlySpan<byte> BlockStart => "<script class=\"trace-data\""u8;
    private static ReadOnlySpan<byte> BlockEnd => "</script>"u8;

    private readonly Stream _inner;
    private readonly byte[] _in = ArrayPool<byte>.Shared.Rent(1 << 16);
    private readonly List<byte> _line = new(256);
    private readonly Queue<byte> _out = new();
    private int _inPos;
    private int _inLen;
    private bool _eof;
    private State _state = State.Outside;
    private bool _disposed;

    private enum State
    {
        Outside,
        BlockFirstLine,
        Text,
        Json,
    }

    public SystraceHtmlStream(Stream inner) => _inner = inner;

    /// <summary>Whether <paramref name="head"/> is the start of a systrace HTML file with trace data.</summary>
    public static bool IsSystrace(ReadOnlySpan<byte> head)
    {
        var start = head[..Math.Min(head.Length, 512)];
        bool html = start.IndexOf("<!DOCTYPE html"u8) >= 0 || start.IndexOf("<html"u8) >= 0;
        return html && head.IndexOf(BlockStart) >= 0;
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        while (_out.Count == 0 && !(_eof && _inPos == _inLen && _line.Count == 0))
        {
            NextLine();
        }
        int n = 0;
        while (n < buffer.Length && _out.Count > 0)
        {
            buffer[n++] = _out.Dequeue();
        }
        return n;
    }

    private void NextLine()
    {
        _line.Clear();
        bool ended = false;
        while (!ended)
        {
            if (_inPos == _inLen)
            {
                if (_eof)
                {
                    break;
                }
                _inLen = _inner.Read(_in, 0, _in.Length);
                _inPos = 0;
                if (_inLen == 0)
                {
                    _eof = true;
                    break;
                }
            }
            byte b = _in[_inPos++];
            if (b == (byte)'\n')
            {
                ended = true;
            }
            else
            {
                _line.Add(b);
            }
        }
        if (_line.Count == 0 && !ended)
        {
            return;
        }
        Emit(Filter(_line.ToArray()), ended);
    }

    private ReadOnlySpan<byte> Filter(byte[] line)
    {
        var span = line.AsSpan();
        switch (_state)
        {
            case State.Outside:
                if (span.IndexOf(BlockStart) >= 0)
                {
                    _state = span.IndexOf(BlockEnd) >= 0 ? State.Outside : State.BlockFirstLine;
                }
                return [];
            case State.BlockFirstLine:
            case State.Text:
            case State.Json:
                int end = span.IndexOf(BlockEnd);
                var content = end >= 0 ? span[..end] : span;
                if (_state == State.BlockFirstLine && content.Trim((byte)' ').Length > 0)
                {
                    _state = content.TrimStart((byte)' ')[0] == (byte)'{' ? State.Json : State.Text;
                }
                bool keep = _state == State.Text;
                if (end >= 0)
                {
                    _state = State.Outside;
                }
                return keep ? content : [];
        }
        return [];
    }

    private void Emit(ReadOnlySpan<byte> content, bool newline)
    {
        foreach (byte b in content)
        {
            _out.Enqueue(b);
        }
        if (newline)
        {
            _out.Enqueue((byte)'\n');
        }
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            ArrayPool<byte>.Shared.Return(_in);
            _inner.Dispose();
        }
        base.Dispose(disposing);
    }
}
