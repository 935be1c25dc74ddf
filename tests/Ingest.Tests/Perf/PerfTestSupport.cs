using System.Globalization;
using Pipeline.Storage;

namespace Pipeline.Ingest.Tests.Perf;

/// <summary>Finds the shared corpus by walking up from the test binaries (CI keeps <c>shared/</c> beside the clone).</summary>
internal static class CorpusFiles
{
    private static readonly Lazy<string> s_root = new(FindRoot);

    public static string Root => s_root.Value;

    public static string Path(string relative) => System.IO.Path.Combine(Root, relative);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            foreach (var candidate in new[] { System.IO.Path.Combine(dir.FullName, "shared", "corpus"), System.IO.Path.Combine(dir.FullName, "..", "shared", "corpus") })
            {
                if (Directory.Exists(candidate))
                {
                    return System.IO.Path.GetFullPath(candidate);
                }
            }
        }
        throw new DirectoryNotFoundException($"No shared/corpus directory above {AppContext.BaseDirectory}.");
    }
}

/// <summary>Keeps a copy of every row written.</summary>
internal sealed class RowCollector : IEventSink
{
    public List<EventRow> Rows { get; } = [];

    public void Write(EventRow row)
    {
        var copy = row.Clone();
        copy.Seq = Rows.Count;
        Rows.Add(copy);
    }
}

/// <summary>Returns at most <see cref="ChunkSize"/> bytes per read, and stops a read at <see cref="SplitAt"/>.</summary>
internal sealed class ChunkedStream(byte[] data, int splitAt, int chunkSize = int.MaxValue) : Stream
{
    private int _position;

    public int SplitAt { get; } = splitAt;

    public int ChunkSize { get; } = chunkSize;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => data.Length;

    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        int limit = Math.Min(count, ChunkSize);
        if (_position < SplitAt)
        {
            limit = Math.Min(limit, SplitAt - _position);
        }
        int n = Math.Min(limit, data.Length - _position);
        Array.Copy(data, _position, buffer, offset, n);
        _position += n;
        return n;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}

/// <summary>Runs a block under another culture and restores the old one.</summary>
internal sealed class CultureScope : IDisposable
{
    private readonly CultureInfo _culture = CultureInfo.CurrentCulture;
    private readonly CultureInfo _uiCulture = CultureInfo.CurrentUICulture;

    public CultureScope(string name)
    {
        CultureInfo.CurrentCulture = CultureInfo.CurrentUICulture = CultureInfo.GetCultureInfo(name);
    }

    public void Dispose()
    {
        CultureInfo.CurrentCulture = _culture;
        CultureInfo.CurrentUICulture = _uiCulture;
    }
}
