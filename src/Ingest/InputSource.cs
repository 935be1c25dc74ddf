using Pipeline.Storage;
using Pipeline.Ingest.Native;

namespace Pipeline.Ingest;

/// <summary>
/// Opens an input file for a reader: <c>.gz</c> and <c>.zst</c> contents (recognised by their magic bytes,
/// not their names) are decompressed transparently, and the decompressed start is sniffed for the format.
/// </summary>
internal sealed class InputSource : IDisposable
{
    private readonly List<IDisposable> _owned = [];

    private InputSource(string path)
    {
        Path = path;
    }

    /// <summary>The file as the user named it.</summary>
    public string Path { get; }

    /// <summary>Size of the file on disk.</summary>
    public long FileSize { get; private set; }

    /// <summary>"gzip", "zstd" or null.</summary>
    public string? Compression { get; private set; }

    /// <summary>The raw file stream, whose position drives progress reporting.</summary>
    public FileStream File { get; private set; } = null!;

    /// <summary>The first bytes of the decompressed content.</summary>
    public byte[] Head { get; private set; } = [];

    /// <summary>Where a pipe's content was spooled (a file in the spool directory), or null for a regular file.</summary>
    public string? Spooled { get; private set; }

    /// <summary>
    /// Opens <paramref name="path"/>. A pipe (<c>/dev/stdin</c>, <c>&lt;(…)</c>, a FIFO) cannot seek, and the format
    /// sniff, trace.dat's offsets and the source hash all read the content more than once, so it is first copied
    /// to a file in <paramref name="spoolDirectory"/> (the dataset's temporary directory, deleted with it): disk,
    /// not memory, grows with the input.
    /// </summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    public static InputSource Open(string path, string? spoolDirectory = null, CancellationToken cancellationToken = default)
    {
        var source = new InputSource(path);
        try
        {
            source.File = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
            source._owned.Add(source.File);
            if (!source.File.CanSeek)
            {
                source.File = source.Spool(spoolDirectory ?? System.IO.Path.GetTempPath(), cancellationToken);
                source._owned.Add(source.File);
            }
            source.FileSize = source.File.Length;
            Span<byte> magic = stackalloc byte[4];
            int n = source.File.ReadAtLeast(magic, 4, throwOnEndOfStream: false);
            source.File.Position = 0;
            if (n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b)
            {
                source.Compression = "gzip";
            }
            else if (n >= 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd)
            {
                source.Compression = "zstd";
            }
            using (var head = source.OpenDecompressed())
            {
                var buffer = new byte[FormatDetector.HeadSize];
                int read = head.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
                source.Head = buffer.AsSpan(0, read).ToArray();
            }
            source.File.Position = 0;
            return source;
        }
        catch
        {
            source.Dispose();
            throw;
        }
    }

    private FileStream Spool(string directory, CancellationToken cancellationToken)
    {
        string spool = System.IO.Path.Combine(directory, "input-" + System.IO.Path.GetRandomFileName() + ".spool");
        var copy = new FileStream(spool, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read, 1 << 16, FileOptions.DeleteOnClose);
        try
        {
            byte[] buffer = new byte[1 << 20];
            int read;
            while ((read = File.Read(buffer)) > 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                copy.Write(buffer, 0, read);
            }
            copy.Flush();
            copy.Position = 0;
            Spooled = spool;
            return copy;
        }
        catch
        {
            copy.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A stream of the decompressed content from the start. Compressed content cannot seek; readers that need
    /// offsets (trace.dat) spool such a stream themselves.
    /// </summary>
    public Stream OpenContent() => OpenDecompressed();

    private Stream OpenDecompressed()
    {
        File.Position = 0;
        return Compression switch
        {
            "gzip" => new DamageNamingStream(new GzipDecompressionStream(new NonClosingStream(File)), Path),
            "zstd" => new DamageNamingStream(new ZstdDecompressionStream(new NonClosingStream(File)), Path),
            _ => new NonClosingStream(File),
        };
    }

    public void Dispose()
    {
        foreach (var item in _owned)
        {
            item.Dispose();
        }
        _owned.Clear();
    }

    /// <summary>Damage inside compressed input becomes a format error naming the file and the compressed byte offset.</summary>
    private sealed class DamageNamingStream(Stream inner, string path) : ForwardReadStream
    {
        public override int Read(Span<byte> buffer)
        {
            try
            {
                return inner.Read(buffer);
            }
            catch (CompressedDataException e)
            {
                throw new TraceFormatException(path, e.Offset, "byte", e.Message + ".");
            }
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }
            base.Dispose(disposing);
        }
    }

    /// <summary>Lets readers dispose what they are given without closing the shared file.</summary>
    private sealed class NonClosingStream(Stream inner) : Stream
    {
        public override bool CanRead => inner.CanRead;
        public override bool CanSeek => inner.CanSeek;
        public override bool CanWrite => false;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => inner.Position = value; }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override int Read(Span<byte> buffer) => inner.Read(buffer);
        public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
