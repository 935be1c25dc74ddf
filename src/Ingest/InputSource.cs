using System.Security.Cryptography;
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
    private HashingStream? _hashing;
    private DatasetSource? _spoolDigest;
    private bool _contentOpened;

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
    /// The file as meta.json records it: its path as given, size and SHA-256. The digest is taken from the bytes
    /// the reader already read through <see cref="OpenContent"/> (a pipe's while it was spooled), so a text trace
    /// is not read a second time just to hash it; whatever the reader skipped or left unread is read here.
    /// Call it after the reader is done with the content.
    /// </summary>
    /// <exception cref="IOException">The file shrank while it was read.</exception>
    public DatasetSource Describe(CancellationToken cancellationToken)
    {
        if (_spoolDigest is { } spooled)
        {
            return spooled;
        }
        _hashing ??= new HashingStream(File);
        (long size, string sha256) = _hashing.Finish(Path, cancellationToken);
        return new DatasetSource(Path, size, sha256);
    }

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
            // The copy is the only pass over a pipe's bytes that sees all of them in order: hash them here.
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            byte[] buffer = new byte[1 << 20];
            int read;
            while ((read = File.Read(buffer)) > 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                copy.Write(buffer, 0, read);
                hash.AppendData(buffer, 0, read);
            }
            copy.Flush();
            copy.Position = 0;
            Spooled = spool;
            _spoolDigest = new DatasetSource(Path, copy.Length, Convert.ToHexStringLower(hash.GetHashAndReset()));
            return copy;
        }
        catch
        {
            copy.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A stream of the decompressed content from the start; with <paramref name="hashReads"/>, its reads of the
    /// file feed <see cref="Describe"/>'s digest. Compressed content cannot seek; readers that need offsets
    /// (trace.dat) spool such a stream themselves. Opened once per input.
    /// </summary>
    public Stream OpenContent(bool hashReads = true)
    {
        if (_contentOpened)
        {
            throw new InvalidOperationException("The content of an input is opened once.");
        }
        _contentOpened = true;
        // A spooled pipe was hashed as it was copied.
        Stream file = hashReads && _spoolDigest is null ? _hashing = new HashingStream(File) : new NonClosingStream(File);
        return OpenDecompressed(file);
    }

    private Stream OpenDecompressed(Stream? file = null)
    {
        File.Position = 0;
        file ??= new NonClosingStream(File);
        return Compression switch
        {
            "gzip" => new DamageNamingStream(new GzipDecompressionStream(file), Path),
            "zstd" => new DamageNamingStream(new ZstdDecompressionStream(file), Path),
            _ => file,
        };
    }

    public void Dispose()
    {
        foreach (var item in _owned)
        {
            item.Dispose();
        }
        _owned.Clear();
        _hashing?.Release();
        _hashing = null;
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

    /// <summary>
    /// The input file as a reader sees it (never closing it), hashing the bytes it reads. SHA-256 needs the bytes in
    /// file order; <c>_hashed</c> is how many leading bytes went in so far. A read that starts at or before that
    /// point adds whatever of it is new; a read that starts past it (trace.dat seeks to each CPU's data) first
    /// reads the gap. <see cref="Finish"/> reads what was never read: the digest is always the whole file's.
    /// </summary>
    private sealed class HashingStream(FileStream file) : Stream
    {
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private byte[]? _gap;
        private long _hashed;

        public override bool CanRead => true;
        public override bool CanSeek => file.CanSeek;
        public override bool CanWrite => false;
        public override long Length => file.Length;
        public override long Position { get => file.Position; set => file.Position = value; }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            long at = file.Position;
            int read = file.Read(buffer);
            if (read > 0 && at + read > _hashed)
            {
                if (at > _hashed)
                {
                    HashUpTo(at, CancellationToken.None);
                }
                _hash.AppendData(buffer[(int)(_hashed - at)..read]);
                _hashed = at + read;
            }
            return read;
        }

        public override long Seek(long offset, SeekOrigin origin) => file.Seek(offset, origin);
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        /// <summary>Hashes the rest of the file; returns its size and hex digest.</summary>
        public (long Size, string Sha256) Finish(string path, CancellationToken cancellationToken)
        {
            long length = file.Length;
            if (_hashed > length)
            {
                throw new IOException($"'{path}' shrank to {length} bytes while it was read (at least {_hashed} were read).");
            }
            HashUpTo(length, cancellationToken);
            return (length, Convert.ToHexStringLower(_hash.GetHashAndReset()));
        }

        /// <summary>Reads and hashes bytes <c>_hashed</c>..<paramref name="end"/>, leaving the file's position where it was.</summary>
        private void HashUpTo(long end, CancellationToken cancellationToken)
        {
            if (end <= _hashed)
            {
                return;
            }
            long position = file.Position;
            _gap ??= new byte[1 << 20];
            file.Position = _hashed;
            while (_hashed < end)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int read = file.Read(_gap, 0, (int)Math.Min(_gap.Length, end - _hashed));
                if (read == 0)
                {
                    throw new IOException($"'{file.Name}' ends at byte {_hashed}, before byte {end} that was read from it.");
                }
                _hash.AppendData(_gap, 0, read);
                _hashed += read;
            }
            file.Position = position;
        }

        /// <summary>Frees the hash (not on <see cref="Stream.Dispose()"/>: the reader disposes the stream before <see cref="Finish"/>).</summary>
        public void Release() => _hash.Dispose();
    }
}
