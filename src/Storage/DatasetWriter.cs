using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Pipeline.Storage.DuckDb;
using Pipeline.Storage.Parquet;

namespace Pipeline.Storage;

/// <summary>Settings of a <see cref="DatasetWriter"/>: its encoder threads and the DuckDB sort of out-of-order traces.</summary>
public sealed record DatasetWriterOptions
{
    /// <summary>DuckDB memory_limit; beyond it the sort of out-of-order traces spills to the work directory.</summary>
    public string MemoryLimit { get; init; } = "512MB";

    /// <summary>Parquet encoder threads and DuckDB threads for the sort; null for one per core.</summary>
    public int? Threads { get; init; }
}

/// <summary>
/// Writes a trace dataset atomically. Everything is built in a hidden sibling directory
/// (<c>.&lt;name&gt;.tmp-&lt;random&gt;</c>) and <see cref="Commit"/> renames it into place; an existing dataset at
/// the target is replaced only then. Disposing without <see cref="Commit"/> deletes the temporary directory,
/// leaving any previous dataset untouched: callers handle Ctrl-C by cancelling their work and letting the
/// <c>using</c> dispose the writer. If the process is instead killed by SIGINT/SIGTERM/SIGQUIT (signal not
/// cancelled) or exits with the writer open, signal and ProcessExit hooks remove the temporary directory.
/// </summary>
/// <remarks>
/// Two shapes: <see cref="BeginTrace(string?)"/> with null writes one trace at the target itself;
/// with ids it writes partitions <c>target/trace=&lt;id&gt;/</c>, one per input, so one query spans them all.
/// </remarks>
public sealed partial class DatasetWriter : IDisposable
{
    /// <summary>Prefix of partition directories.</summary>
    public const string PartitionPrefix = "trace=";

    private const string WorkDirectoryName = ".work";

    private readonly DatasetWriterOptions _options;
    private readonly List<TraceWriter> _traces = [];
    private readonly EventHandler _onProcessExit;
    private readonly PosixSignalRegistration[] _signals;
    private bool _single;
    private bool _committed;
    private bool _disposed;

    private DatasetWriter(string target, string temporary, DatasetWriterOptions options)
    {
        Target = target;
        TemporaryDirectory = temporary;
        _options = options;
        _onProcessExit = (_, _) => DeleteTemporaryBestEffort();
        AppDomain.CurrentDomain.ProcessExit += _onProcessExit;
        // The runtime does not raise ProcessExit when SIGINT/SIGTERM kill the process, so watch them too.
        // A caller that cancels the signal to shut down gracefully keeps the directory until it disposes.
        _signals = OperatingSystem.IsWindows()
            ? []
            : [
                PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal),
                PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal),
                PosixSignalRegistration.Create(PosixSignal.SIGQUIT, OnSignal),
            ];
    }

    /// <summary>Final location of the dataset.</summary>
    public string Target { get; }

    /// <summary>Where the dataset is built until <see cref="Commit"/>.</summary>
    public string TemporaryDirectory { get; }

    /// <summary>Starts a dataset at <paramref name="target"/>.</summary>
    /// <exception cref="IOException">The target exists and is not a dataset (non-empty, no meta.json).</exception>
    public static DatasetWriter Create(string target, DatasetWriterOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(target);
        string full = Path.GetFullPath(target.TrimEnd(Path.DirectorySeparatorChar) is { Length: > 0 } trimmed ? trimmed : target);
        EnsureReplaceable(full);
        string parent = Path.GetDirectoryName(full) ?? throw new IOException($"'{target}' has no parent directory to build the dataset in.");
        Directory.CreateDirectory(parent);
        string temporary = Path.Combine(parent, "." + Path.GetFileName(full) + ".tmp-" + Path.GetRandomFileName().Replace(".", "", StringComparison.Ordinal));
        Directory.CreateDirectory(temporary);
        return new DatasetWriter(full, temporary, options ?? new DatasetWriterOptions());
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

    /// <summary>Moves the finished dataset into place, replacing a previous dataset at the target.</summary>
    /// <exception cref="InvalidOperationException">A trace was begun but not completed, or none was begun.</exception>
    /// <exception cref="IOException">The target is not a dataset, or a rename failed (the previous dataset is restored).</exception>
    public void Commit()
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
        EnsureReplaceable(Target);
        string? old = null;
        if (Directory.Exists(Target))
        {
            old = Path.Combine(Path.GetDirectoryName(Target)!, "." + Path.GetFileName(Target) + ".old-" + Path.GetRandomFileName().Replace(".", "", StringComparison.Ordinal));
            Directory.Move(Target, old);
        }
        try
        {
            Directory.Move(TemporaryDirectory, Target);
        }
        catch
        {
            if (old is not null)
            {
                Directory.Move(old, Target);
            }
            throw;
        }
        _committed = true;
        if (old is not null)
        {
            Directory.Delete(old, recursive: true);
        }
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
        foreach (PosixSignalRegistration registration in _signals)
        {
            registration.Dispose();
        }
        foreach (TraceWriter trace in _traces)
        {
            trace.Dispose();
        }
        DeleteTemporary();
    }

    private void OnSignal(PosixSignalContext context)
    {
        if (!context.Cancel)
        {
            DeleteTemporaryBestEffort();
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
        if (!_committed && Directory.Exists(TemporaryDirectory))
        {
            Directory.Delete(TemporaryDirectory, recursive: true);
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

/// <summary>
/// One trace being written. Events go through <see cref="Events"/> straight into Parquet
/// (<see cref="EventParquetWriter"/>: row groups encoded on worker threads while the parser runs).
/// <see cref="Complete(DatasetMeta)"/> finishes the file and moves it to <c>events.parquet</c> — after one sorting
/// DuckDB <c>COPY</c> by <c>ts_ns, seq</c> when the events did not arrive in time order — and writes <c>meta.json</c>.
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
        _events = new EventParquetWriter(_streamed, new EventParquetOptions { Threads = options.Threads });
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
        _events.Complete();
        meta = meta with { TraceId = Id, Events = _events.Count, EventCounts = _events.SortedEventCounts() };
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
    /// Rare (inputs are merged per CPU in time order): DuckDB sorts under its memory_limit, spilling to the work
    /// directory. seq is unique, so the order and hence the file are deterministic.
    /// </summary>
    private void Sort(string source, string target)
    {
        var config = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["memory_limit"] = _options.MemoryLimit,
            ["temp_directory"] = Path.Combine(_work, "spill"),
            ["threads"] = (_options.Threads ?? Environment.ProcessorCount).ToString(CultureInfo.InvariantCulture),
        };
        using DuckDbDatabase database = DuckDbDatabase.Open(null, config);
        using DuckDbConnection connection = database.Connect();
        connection.Execute(string.Create(CultureInfo.InvariantCulture,
            $"COPY (SELECT * FROM read_parquet({DatasetFiles.SqlLiteral(source)}) ORDER BY ts_ns, seq) TO {DatasetFiles.SqlLiteral(target)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {new EventParquetOptions().RowGroupSize})"));
    }
}
