using System.Globalization;
using System.Text.RegularExpressions;
using Pipeline.Storage.DuckDb;
using Pipeline.Storage.Native;
using Pipeline.Storage.Parquet;

namespace Pipeline.Storage;

/// <summary>Settings of a <see cref="DatasetWriter"/>: its encoder threads and the DuckDB sort of out-of-order traces.</summary>
public sealed record DatasetWriterOptions
{
    /// <summary>DuckDB memory_limit; beyond it the sort of out-of-order traces spills to the work directory.</summary>
    public string MemoryLimit { get; init; } = "512MB";

    /// <summary>Parquet encoder threads and DuckDB threads for the sort; null for one per core.</summary>
    public int? Threads { get; init; }

    /// <summary>Rows per row group of events.parquet (<see cref="EventParquetOptions.RowGroupSize"/>).</summary>
    public int RowGroupSize { get; init; } = new EventParquetOptions().RowGroupSize;

    /// <summary>
    /// Row groups of reorder window (<see cref="EventParquetOptions.ReorderGroups"/>); 0 sends every out-of-order
    /// trace through the whole-file sort.
    /// </summary>
    public int ReorderGroups { get; init; } = new EventParquetOptions().ReorderGroups;

    /// <summary>
    /// The target is a root of partitions shared with other writers, the shards of a batch: only
    /// <c>trace=&lt;id&gt;/</c> partitions are written, and <see cref="DatasetWriter.Commit"/> moves each into
    /// place by itself, replacing only a partition of the same id and leaving the rest of the root alone. The write
    /// lock is this shard's (<c>.&lt;name&gt;.shard-I-of-N.lock</c>), so the other shards run beside it while a
    /// second run of the same shard is refused. Null for a dataset of its own.
    /// </summary>
    public DatasetShard? SharedRoot { get; init; }
}

/// <summary>
/// Writes a trace dataset atomically. Everything is built in a hidden sibling directory
/// (<c>.&lt;name&gt;.tmp-&lt;pid&gt;-&lt;random&gt;</c>) and <see cref="Commit"/> puts it into place; an existing dataset
/// at the target is replaced only then, by <c>renameat2(RENAME_EXCHANGE)</c>, so the target path names the old
/// dataset or the new one at every instant and never nothing. Disposing without <see cref="Commit"/> deletes the
/// temporary directory, leaving any previous dataset untouched: callers handle Ctrl-C by cancelling their work and
/// letting the <c>using</c> dispose the writer (the writer installs no signal handler of its own: the process's
/// signal policy belongs to the program, and a handler that deleted files on its own raced the commit).
/// </summary>
/// <remarks>
/// <para>Two shapes: <see cref="BeginTrace(string?)"/> with null writes one trace at the target itself;
/// with ids it writes partitions <c>target/trace=&lt;id&gt;/</c>, one per input, so one query spans them all.</para>
/// <para>One writer per target: <see cref="Create"/> takes an exclusive <c>flock</c> on <c>.&lt;name&gt;.lock</c>
/// beside the target and holds it until <see cref="Dispose"/>, which removes it; a second writer fails at once with
/// <see cref="DatasetBusyException"/>. Under that lock, temporary directories left by a killed writer
/// (whose process id is gone) are removed, and a dataset stranded under <c>.&lt;name&gt;.old-*</c> by a crash between
/// the two renames of the fallback commit is put back.</para>
/// </remarks>
public sealed partial class DatasetWriter : IDisposable
{
    /// <summary>Prefix of partition directories.</summary>
    public const string PartitionPrefix = "trace=";

    private const string WorkDirectoryName = ".work";

    private readonly DatasetWriterOptions _options;
    private readonly List<TraceWriter> _traces = [];
    private readonly EventHandler _onProcessExit;
    private readonly FileStream _lock;
    // Commit and the ProcessExit clean-up both hold this: clean-up never deletes a directory while it is renamed.
    private readonly Lock _gate = new();
    private bool _single;
    private bool _committed;
    private bool _disposed;

    private DatasetWriter(string target, string temporary, FileStream lockFile, DatasetWriterOptions options)
    {
        Target = target;
        TemporaryDirectory = temporary;
        _lock = lockFile;
        _options = options;
        _onProcessExit = (_, _) => DeleteTemporaryBestEffort();
        AppDomain.CurrentDomain.ProcessExit += _onProcessExit;
    }

    /// <summary>Final location of the dataset.</summary>
    public string Target { get; }

    /// <summary>Where the dataset is built until <see cref="Commit"/>.</summary>
    public string TemporaryDirectory { get; }

    /// <summary>
    /// Set by <see cref="Commit"/> when the new dataset is in place but the previous one could not be removed
    /// (e.g. a read-only file in it): where it was left. The commit itself succeeded.
    /// </summary>
    public string? LeftOver { get; private set; }

    /// <summary>Starts a dataset at <paramref name="target"/>.</summary>
    /// <exception cref="IOException">The target exists and is not a dataset (non-empty, no meta.json), or its
    /// parent directory cannot be written.</exception>
    /// <exception cref="DatasetBusyException">Another process is writing the same dataset.</exception>
    public static DatasetWriter Create(string target, DatasetWriterOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(target);
        string full = Path.GetFullPath(target.TrimEnd(Path.DirectorySeparatorChar) is { Length: > 0 } trimmed ? trimmed : target);
        EnsureReplaceable(full);
        if (options?.SharedRoot is not null && File.Exists(Path.Combine(full, DatasetMeta.FileName)))
        {
            throw new IOException($"'{full}' is a single-trace dataset, not a root of trace=<id>/ partitions; shards write partitions. Choose another output directory.");
        }
        string parent = Path.GetDirectoryName(full) ?? throw new IOException($"'{target}' has no parent directory to build the dataset in.");
        string name = Path.GetFileName(full);
        FileStream lockFile;
        try
        {
            Directory.CreateDirectory(parent);
            string lockName = options?.SharedRoot is { } shard
                ? string.Create(CultureInfo.InvariantCulture, $".{name}.shard-{shard.Index}-of-{shard.Count}.lock")
                : "." + name + ".lock";
            lockFile = AcquireLock(full, Path.Combine(parent, lockName));
        }
        catch (UnauthorizedAccessException e)
        {
            throw new IOException($"cannot write dataset '{target}': its directory '{parent}' is not writable ({e.Message}). Nothing was changed.", e);
        }
        try
        {
            SweepStale(parent, name, full);
            EnsureReplaceable(full);
            string temporary = Path.Combine(parent, string.Create(CultureInfo.InvariantCulture,
                $".{name}.tmp-{Environment.ProcessId}-{Path.GetRandomFileName().Replace(".", "", StringComparison.Ordinal)}"));
            Directory.CreateDirectory(temporary);
            return new DatasetWriter(full, temporary, lockFile, options ?? new DatasetWriterOptions());
        }
        catch (UnauthorizedAccessException e)
        {
            lockFile.Dispose();
            throw new IOException($"cannot write dataset '{target}': its directory '{parent}' is not writable ({e.Message}). Nothing was changed.", e);
        }
        catch
        {
            lockFile.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Opens and locks <c>.&lt;name&gt;.lock</c>. The holder deletes the file before it lets go (see
    /// <see cref="Dispose"/>), so a process that opened it just before may lock a name that is gone: after locking,
    /// the open file must still be the one at the path, else it tries again with a new file.
    /// </summary>
    private static FileStream AcquireLock(string target, string path)
    {
        for (int attempt = 0; ; attempt++)
        {
            FileStream stream;
            try
            {
                // .NET itself takes flock(LOCK_EX|LOCK_NB) for FileShare.None (unless file locking is disabled in
                // its configuration); the explicit flock below makes the lock independent of that setting.
                stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException e) when (e is not FileNotFoundException and not DirectoryNotFoundException && File.Exists(path))
            {
                throw new DatasetBusyException(target, path, e);
            }
            int error = PosixFs.TryLockExclusive(stream.SafeFileHandle);
            if (error != 0)
            {
                stream.Dispose();
                throw error == PosixFs.EWouldBlock
                    ? new DatasetBusyException(target, path, null)
                    : new IOException(string.Create(CultureInfo.InvariantCulture, $"cannot lock '{path}' for dataset '{target}': flock failed with errno {error}."));
            }
            if (PosixFs.SameFile(stream.SafeFileHandle, path))
            {
                return stream;
            }
            stream.Dispose();
            if (attempt == 100)
            {
                throw new DatasetBusyException(target, path, null);
            }
        }
    }

    /// <summary>
    /// Under the lock no other writer of this target runs, so hidden directories of this target whose owning
    /// process is gone are leftovers of a killed run: a <c>.tmp-</c> is deleted; an <c>.old-</c> is the previous
    /// dataset when the target is missing (a crash between the fallback commit's renames) and goes back in place,
    /// otherwise it is deleted. Names without a process id (older versions) are left alone.
    /// </summary>
    private static void SweepStale(string parent, string name, string target)
    {
        string prefix = "." + name + ".";
        var stale = new List<(string Path, bool Old)>();
        foreach (string directory in Directory.EnumerateDirectories(parent, prefix + "*"))
        {
            string rest = Path.GetFileName(directory)[prefix.Length..];
            bool old = rest.StartsWith("old-", StringComparison.Ordinal);
            if (!old && !rest.StartsWith("tmp-", StringComparison.Ordinal))
            {
                continue;
            }
            int dash = rest.IndexOf('-', 4);
            if (dash < 0 || !int.TryParse(rest.AsSpan(4, dash - 4), NumberStyles.None, CultureInfo.InvariantCulture, out int pid)
                || pid == Environment.ProcessId || PosixFs.ProcessExists(pid))
            {
                continue;
            }
            stale.Add((directory, old));
        }
        if (!Directory.Exists(target))
        {
            string? restore = stale.Where(s => s.Old).Select(s => s.Path).OrderByDescending(Directory.GetLastWriteTimeUtc).FirstOrDefault();
            if (restore is not null)
            {
                Directory.Move(restore, target);
                stale.RemoveAll(s => s.Path == restore);
            }
        }
        foreach (var (path, _) in stale)
        {
            try
            {
                Directory.Delete(path, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Undeletable (read-only content): it is hidden and never read as a dataset; try again next run.
            }
        }
    }

    /// <summary>Whether <paramref name="directory"/> holds a dataset: a trace (meta.json) or a root of partitions.</summary>
    public static bool IsDataset(string directory) =>
        File.Exists(Path.Combine(directory, DatasetMeta.FileName))
        || (Directory.Exists(directory) && Directory.EnumerateDirectories(directory, PartitionPrefix + "*")
            .Any(d => File.Exists(Path.Combine(d, DatasetMeta.FileName))));

    /// <summary>
    /// Starts a trace: <paramref name="id"/> null writes the single trace at the target (only one trace then);
    /// otherwise a partition <c>trace=&lt;id&gt;/</c>. Ids are letters, digits, '.', '_' and '-'.
    /// </summary>
    public TraceWriter BeginTrace(string? id = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_committed)
        {
            throw new InvalidOperationException("The dataset is committed; start a new DatasetWriter.");
        }
        if (id is null && _options.SharedRoot is not null)
        {
            throw new InvalidOperationException($"Dataset root '{Target}' is shared: every trace needs an id (a trace=<id>/ partition).");
        }
        if (_single || (id is null && _traces.Count > 0))
        {
            throw new InvalidOperationException($"Dataset '{Target}' holds a single trace; give each trace an id to write partitions.");
        }
        string directory;
        string traceId;
        if (id is null)
        {
            _single = true;
            traceId = Path.GetFileName(Target);
            directory = TemporaryDirectory;
        }
        else
        {
            if (!TraceIdPattern().IsMatch(id))
            {
                throw new ArgumentException($"Trace id '{id}' is not usable as a partition name; use letters, digits, '.', '_' and '-'.", nameof(id));
            }
            if (_traces.Any(t => t.Id == id))
            {
                throw new ArgumentException($"Trace id '{id}' is used twice in dataset '{Target}'.", nameof(id));
            }
            traceId = id;
            directory = Path.Combine(TemporaryDirectory, PartitionPrefix + id);
            Directory.CreateDirectory(directory);
        }
        string work = Path.Combine(TemporaryDirectory, WorkDirectoryName, string.Create(CultureInfo.InvariantCulture, $"{_traces.Count}"));
        Directory.CreateDirectory(work);
        var trace = new TraceWriter(traceId, directory, work, _options);
        _traces.Add(trace);
        return trace;
    }

    /// <summary>
    /// Moves the finished dataset into place, replacing a previous dataset at the target. The swap is one
    /// <c>renameat2(RENAME_EXCHANGE)</c>; on file systems without it (EINVAL/ENOSYS/ENOTSUP), two renames with the
    /// old dataset parked under <c>.&lt;name&gt;.old-&lt;pid&gt;-*</c> in between (a crash there is repaired by the next
    /// writer). <paramref name="cancellationToken"/> is checked right before the swap: cancelled before it, nothing
    /// changes; after it, the new dataset stands whole.
    /// </summary>
    /// <exception cref="InvalidOperationException">A trace was begun but not completed, or none was begun.</exception>
    /// <exception cref="IOException">The target is not a dataset, or a rename failed (the previous dataset is restored).</exception>
    /// <exception cref="OperationCanceledException">Cancelled before the swap; the previous dataset is untouched.</exception>
    public void Commit(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_traces.Count == 0)
        {
            throw new InvalidOperationException($"No trace was written to dataset '{Target}'.");
        }
        TraceWriter? open = _traces.FirstOrDefault(t => !t.IsCompleted);
        if (open is not null)
        {
            throw new InvalidOperationException($"Trace '{open.Id}' of dataset '{Target}' was not completed.");
        }
        Directory.Delete(Path.Combine(TemporaryDirectory, WorkDirectoryName), recursive: true);
        if (_options.SharedRoot is not null)
        {
            CommitPartitions();
            return;
        }
        EnsureReplaceable(Target);
        string? previous;
        FaultPoint.Reached("precommit");
        lock (_gate)
        {
            cancellationToken.ThrowIfCancellationRequested();
            FaultPoint.Reached("commit");
            previous = Swap();
            _committed = true;
        }
        if (previous is not null)
        {
            try
            {
                Directory.Delete(previous, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                LeftOver = previous;
            }
        }
    }

    /// <summary>Puts the temporary directory at the target; returns where the previous dataset now is, if any.</summary>
    private string? Swap()
    {
        if (!Directory.Exists(Target))
        {
            // rename(2) onto a missing name is atomic; a dataset appearing meanwhile is impossible under the lock.
            Directory.Move(TemporaryDirectory, Target);
            return null;
        }
        int error = PosixFs.Exchange(TemporaryDirectory, Target);
        if (error == 0)
        {
            FaultPoint.Reached("swap");
            return TemporaryDirectory;
        }
        if (error is not (PosixFs.EInval or PosixFs.ENoSys or PosixFs.ENotSup))
        {
            throw new IOException(string.Create(CultureInfo.InvariantCulture,
                $"cannot put the new dataset in place of '{Target}': renameat2 failed with errno {error} ({new System.ComponentModel.Win32Exception(error).Message}). The previous dataset is unchanged."));
        }
        string old = Path.Combine(Path.GetDirectoryName(Target)!, string.Create(CultureInfo.InvariantCulture,
            $".{Path.GetFileName(Target)}.old-{Environment.ProcessId}-{Path.GetRandomFileName().Replace(".", "", StringComparison.Ordinal)}"));
        Directory.Move(Target, old);
        FaultPoint.Reached("swap");
        try
        {
            Directory.Move(TemporaryDirectory, Target);
        }
        catch
        {
            Directory.Move(old, Target);
            throw;
        }
        return old;
    }

    /// <summary>
    /// <see cref="DatasetWriterOptions.SharedRoot"/>: each partition is renamed into the root on its own (the root
    /// and the temporary directory are siblings, so on one file system), replacing only a partition of the same id.
    /// Other writers' partitions appear and stay beside them; a reader never sees a partition half-written.
    /// </summary>
    private void CommitPartitions()
    {
        Directory.CreateDirectory(Target);
        foreach (TraceWriter trace in _traces)
        {
            string to = Path.Combine(Target, PartitionPrefix + trace.Id);
            string? old = null;
            if (Directory.Exists(to))
            {
                old = Path.Combine(Target, "." + PartitionPrefix + trace.Id + ".old-" + Path.GetRandomFileName().Replace(".", "", StringComparison.Ordinal));
                Directory.Move(to, old);
            }
            try
            {
                Directory.Move(trace.Directory, to);
            }
            catch
            {
                if (old is not null)
                {
                    Directory.Move(old, to);
                }
                throw;
            }
            if (old is not null)
            {
                Directory.Delete(old, recursive: true);
            }
        }
        _committed = true;
        Directory.Delete(TemporaryDirectory, recursive: true);
    }

    /// <summary>Without <see cref="Commit"/>: discards every trace and deletes the temporary directory.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        AppDomain.CurrentDomain.ProcessExit -= _onProcessExit;
        try
        {
            foreach (TraceWriter trace in _traces)
            {
                trace.Dispose();
            }
            DeleteTemporary();
        }
        finally
        {
            // Unlinked while still held: a writer that opened the old file finds it gone and starts over.
            try
            {
                File.Delete(_lock.Name);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // A lock file that stays is harmless: the next writer locks it again.
            }
            _lock.Dispose();
        }
    }

    private void DeleteTemporaryBestEffort()
    {
        try
        {
            DeleteTemporary();
        }
        catch (IOException)
        {
            // Best effort while the process goes down; a leftover hidden directory is never read as a dataset.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private void DeleteTemporary()
    {
        lock (_gate)
        {
            if (!_committed && Directory.Exists(TemporaryDirectory))
            {
                Directory.Delete(TemporaryDirectory, recursive: true);
            }
        }
    }

    private static void EnsureReplaceable(string target)
    {
        if (File.Exists(target))
        {
            throw new IOException($"'{target}' is a file, not a dataset directory; refusing to replace it.");
        }
        if (Directory.Exists(target) && Directory.EnumerateFileSystemEntries(target).Any() && !IsDataset(target))
        {
            throw new IOException($"'{target}' exists and is not a trace dataset (no {DatasetMeta.FileName}); refusing to replace it. Choose another output directory.");
        }
    }

    [GeneratedRegex("^[A-Za-z0-9_.-]+$")]
    private static partial Regex TraceIdPattern();
}

/// <summary>Another process holds the dataset's write lock.</summary>
public sealed class DatasetBusyException : IOException
{
    internal DatasetBusyException(string target, string lockFile, Exception? inner)
        : base($"dataset '{target}' is being written by another mmtrace process (it holds the lock '{lockFile}'); nothing was changed. Wait for it to finish or write elsewhere.", inner)
    {
    }
}

/// <summary>
/// One trace being written. Events go through <see cref="Events"/> straight into Parquet
/// (<see cref="EventParquetWriter"/>: row groups encoded on worker threads while the parser runs).
/// <see cref="Complete(DatasetMeta)"/> finishes the file and moves it to <c>events.parquet</c> — after one sorting
/// DuckDB <c>COPY</c> by <c>ts_ns, seq</c> when some events came later than the writer's reorder window
/// (<see cref="EventParquetOptions.ReorderGroups"/>) could put right — and writes <c>meta.json</c>.
/// </summary>
public sealed class TraceWriter : IDisposable
{
    private readonly string _work;
    private readonly string _streamed;
    private readonly DatasetWriterOptions _options;
    private readonly EventParquetWriter _events;
    private bool _disposed;

    internal TraceWriter(string id, string directory, string work, DatasetWriterOptions options)
    {
        Id = id;
        Directory = directory;
        _work = work;
        _options = options;
        _streamed = Path.Combine(work, "events.streamed.parquet");
        _events = new EventParquetWriter(_streamed, new EventParquetOptions
        {
            Threads = options.Threads,
            RowGroupSize = options.RowGroupSize,
            ReorderGroups = options.ReorderGroups,
        });
    }

    /// <summary>Trace id.</summary>
    public string Id { get; }

    /// <summary>The trace's directory inside the temporary dataset.</summary>
    public string Directory { get; }

    /// <summary>Sink for the parser.</summary>
    public IEventSink Events => _events;

    /// <summary>What was written so far (counts for <see cref="DatasetMeta.Create"/>).</summary>
    public IWrittenEvents Written => _events;

    /// <summary>Whether <see cref="Complete(DatasetMeta)"/> succeeded.</summary>
    public bool IsCompleted { get; private set; }

    /// <summary>Writes events.parquet, crashes.parquet (when the parser found crash reports) and meta.json (built from the diagnostics, the writer and the sources).</summary>
    public DatasetMeta Complete(IngestDiagnostics diagnostics, IEnumerable<DatasetSource> sources)
    {
        ArgumentNullException.ThrowIfNull(diagnostics);
        _events.Complete();
        if (diagnostics.Crashes.Count > 0)
        {
            CrashTable.Write(diagnostics.Crashes, Directory);
        }
        return Complete(DatasetMeta.Create(Id, diagnostics, _events, sources));
    }

    /// <summary>
    /// Finishes the event file, puts events.parquet in place, writes meta.json. The facts this writer owns replace
    /// those in <paramref name="meta"/>: <c>trace_id</c>, <c>events</c> and <c>event_counts</c>.
    /// </summary>
    /// <returns>The metadata as written.</returns>
    /// <exception cref="IOException">Encoding or writing the events failed.</exception>
    /// <exception cref="DuckDbException">The sorting COPY failed.</exception>
    public DatasetMeta Complete(DatasetMeta meta)
    {
        ArgumentNullException.ThrowIfNull(meta);
        ObjectDisposedException.ThrowIf(_disposed, this);
        FaultPoint.Reached("write");
        _events.Complete();
        EventOrder order = _events.Order;
        meta = meta with
        {
            TraceId = Id,
            Events = _events.Count,
            EventCounts = _events.SortedEventCounts(),
            Order = order.Reordered + order.BeyondWindow > 0 ? order : null,
        };
        string written = _streamed;
        if (!_events.IsTimeOrdered)
        {
            written = Path.Combine(_work, "events.sorted.parquet");
            Sort(_streamed, written);
        }
        File.Move(written, Path.Combine(Directory, DatasetFiles.EventsFile), overwrite: true);
        meta.Write(Directory);
        IsCompleted = true;
        Dispose();
        return meta;
    }

    /// <summary>Stops the writer (an unfinished file goes with the work directory).</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        _events.Dispose();
        if (System.IO.Directory.Exists(_work))
        {
            System.IO.Directory.Delete(_work, recursive: true);
        }
    }

    /// <summary>
    /// <paramref name="configured"/>, or less under an address-space limit (<c>ulimit -v</c>): the runtime reserves
    /// a large share of the limit for its heap up front, so DuckDB gets a third of what is left (at least 64 MB)
    /// and spills the rest instead of failing to allocate.
    /// </summary>
    internal static string AddressSpaceAwareLimit(string configured)
    {
        try
        {
            string? line = File.ReadLines("/proc/self/limits").FirstOrDefault(l => l.StartsWith("Max address space", StringComparison.Ordinal));
            string[] fields = line?.Split(' ', StringSplitOptions.RemoveEmptyEntries) ?? [];
            string? size = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("VmSize:", StringComparison.Ordinal));
            if (fields.Length < 4 || !long.TryParse(fields[3], NumberStyles.None, CultureInfo.InvariantCulture, out long limit) || size is null
                || !long.TryParse(size["VmSize:".Length..].Trim().Split(' ')[0], NumberStyles.None, CultureInfo.InvariantCulture, out long usedKb))
            {
                return configured; // "unlimited", or not Linux
            }
            long free = limit - (usedKb * 1024);
            long mb = Math.Max(64, free / 3 >> 20);
            long configuredMb = long.MaxValue;
            bool isMb = configured.EndsWith("MB", StringComparison.Ordinal)
                && long.TryParse(configured.AsSpan(0, configured.Length - 2), NumberStyles.None, CultureInfo.InvariantCulture, out configuredMb);
            return isMb && configuredMb <= mb ? configured : string.Create(CultureInfo.InvariantCulture, $"{mb}MB");
        }
        catch (IOException)
        {
            return configured;
        }
    }

    /// <summary>
    /// Rare (inputs are merged per CPU in time order, and slightly late events are put in place by the reorder
    /// window while streaming): DuckDB sorts under its memory_limit, spilling to the work directory, so the sort
    /// of a trace larger than memory (or than <c>ulimit -v</c> allows) spills instead of failing. seq is unique, so
    /// the order and hence the file are deterministic.
    /// </summary>
    private void Sort(string source, string target)
    {
        var config = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["memory_limit"] = AddressSpaceAwareLimit(_options.MemoryLimit),
            ["temp_directory"] = Path.Combine(_work, "spill"),
            ["threads"] = (_options.Threads ?? Environment.ProcessorCount).ToString(CultureInfo.InvariantCulture),
        };
        using DuckDbDatabase database = DuckDbDatabase.Open(null, config);
        using DuckDbConnection connection = database.Connect();
        connection.Execute(string.Create(CultureInfo.InvariantCulture,
            $"COPY (SELECT * FROM read_parquet({DatasetFiles.SqlLiteral(source)}) ORDER BY ts_ns, seq) TO {DatasetFiles.SqlLiteral(target)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {_options.RowGroupSize})"));
    }
}
