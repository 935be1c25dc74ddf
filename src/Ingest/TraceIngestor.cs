using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using Pipeline.Storage;
using Pipeline.Storage.Parquet;

namespace Pipeline.Ingest;

/// <summary>What <c>mmtrace ingest</c> was asked to do.</summary>
public sealed record IngestOptions
{
    /// <summary>Input files (plain, .gz or .zst).</summary>
    public required IReadOnlyList<string> Inputs { get; init; }

    /// <summary>Dataset directory to create (or replace).</summary>
    public required string Output { get; init; }

    /// <summary>"auto" or one of <see cref="FormatDetector.Formats"/>.</summary>
    public string Format { get; init; } = "auto";

    /// <summary>Trace id for a single input (default: derived from the file name).</summary>
    public string? Name { get; init; }

    /// <summary>Stop at the first malformed record.</summary>
    public bool Strict { get; init; }

    /// <summary>Replace an existing dataset made from other inputs (it and any findings in it are lost).</summary>
    public bool Force { get; init; }

    /// <summary>Receives warnings about a run that succeeded (e.g. a previous dataset that could not be removed).</summary>
    public Action<string>? Warn { get; init; }

    /// <summary>
    /// Ingest only this shard's share of the inputs (<c>--shard I/N</c>, by trace id) as <c>trace=&lt;id&gt;/</c>
    /// partitions of a root shared with the other shards; null ingests every input.
    /// </summary>
    public DatasetShard? Shard { get; init; }
}

/// <summary>Progress of one input, reported a few times a second.</summary>
/// <param name="File">The input being read.</param>
/// <param name="BytesRead">Bytes of the file consumed so far.</param>
/// <param name="TotalBytes">Size of the file.</param>
/// <param name="Events">Events written so far.</param>
public sealed record IngestProgress(string File, long BytesRead, long TotalBytes, long Events);

/// <summary>What one input produced.</summary>
public sealed record TraceIngestSummary(
    string TraceId,
    string Input,
    string Format,
    long Events,
    IReadOnlyDictionary<string, long> EventCounts,
    long LostEvents,
    long Malformed,
    IReadOnlyList<MalformedRecord> MalformedSamples,
    string? Truncated,
    long Bytes,
    TimeSpan Elapsed,
    EventOrder? Order = null)
{
    /// <summary>Crash reports found (console logs; rows of crashes.parquet).</summary>
    public long Crashes { get; init; }

    /// <summary>Kernel release the source printed, if any.</summary>
    public string? KernelRelease { get; init; }

    /// <summary>Trace lines of a mail's quoted text left out of the events.</summary>
    public long QuotedLinesDropped { get; init; }

    /// <summary>The crash records themselves (as written to crashes.parquet).</summary>
    public IReadOnlyList<CrashRecord> CrashRecords { get; init; } = [];

    /// <summary>The dataset's metadata as written.</summary>
    public DatasetMeta? Meta { get; init; }
}

/// <summary>Turns trace files into a dataset: one input gives a trace directory, several give <c>trace=&lt;id&gt;/</c> partitions.</summary>
public static class TraceIngestor
{
    /// <summary>Builds the readers by format name.</summary>
    public static ITraceReader CreateReader(string format) => format switch
    {
        "ftrace" => new Text.FtraceTextReader(),
        "console" => new Text.ConsoleLogReader(),
        "tracedat" => new TraceDat.TraceDatReader(),
        "perf" => new Perf.PerfScriptReader(),
        "ctf" => new Ctf.CtfReader(),
        _ => throw new ArgumentException(
            $"Unknown format '{format}'; expected auto, {string.Join(", ", FormatDetector.Formats)}.", nameof(format)),
    };

    /// <summary>Ingests every input; the dataset appears at <see cref="IngestOptions.Output"/> only if all succeed.</summary>
    /// <exception cref="TraceFormatException">An input is not a trace, or (strict) has a malformed record.</exception>
    /// <exception cref="IOException">An input cannot be read or the output cannot be written.</exception>
    public static IReadOnlyList<TraceIngestSummary> Run(IngestOptions options, IProgress<IngestProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Inputs.Count == 0)
        {
            throw new ArgumentException("At least one input is required.", nameof(options));
        }
        if (options.Name is not null && options.Inputs.Count > 1)
        {
            throw new ArgumentException("--name names a single trace; with several inputs each partition is named after its file.", nameof(options));
        }
        options = options with { Inputs = ExpandDirectories(options.Inputs, options.Format, options.Warn) };
        if (options.Name is not null && options.Inputs.Count > 1)
        {
            throw new ArgumentException($"--name names a single trace, but the directory given holds {options.Inputs.Count} traces; each partition is named after its file.", nameof(options));
        }

        // Ids come from all inputs, so a shard names its traces exactly as one run over every input does.
        var ids = AssignIds(options);
        var summaries = new List<TraceIngestSummary>();
        // A shard always writes partitions: the union of the shards must be the one root a single run writes. A
        // single trace is written at the output itself, where its id is the directory's name; --name asks for
        // another id, which only a trace=<id>/ partition carries.
        bool partitioned = options.Inputs.Count > 1 || options.Shard is not null || options.Name is not null;
        int[] mine = [.. Enumerable.Range(0, options.Inputs.Count).Where(i => options.Shard?.Contains(ids[i]) != false)];
        if (mine.Length == 0)
        {
            return summaries;
        }
        using var dataset = DatasetWriter.Create(options.Output, new DatasetWriterOptions { SharedRoot = options.Shard });
        // A shared root holds the other shards' traces by design; a shard replaces only its own partitions.
        if (!options.Force && options.Shard is null)
        {
            EnsureSameInputs(dataset.Target, options.Inputs);
        }
        foreach (int i in mine)
        {
            cancellationToken.ThrowIfCancellationRequested();
            summaries.Add(IngestOne(dataset, partitioned, ids[i], options.Inputs[i], options, progress, cancellationToken));
        }
        dataset.Commit(cancellationToken);
        if (dataset.LeftOver is { } leftOver)
        {
            options.Warn?.Invoke($"the new dataset is in place, but the previous one could not be removed completely; what is left of it is in '{leftOver}' (delete it by hand).");
        }
        return summaries;
    }

    /// <summary>
    /// An existing dataset at the target is replaced without --force only when it was ingested from the same
    /// inputs, named the same way (re-ingesting after a change of the tool or the file). Anything else — another
    /// trace, other partitions, an unreadable meta.json — would silently lose a trace and the findings replay
    /// wrote beside it. Checked under the dataset's write lock.
    /// </summary>
    private static void EnsureSameInputs(string target, IReadOnlyList<string> inputs)
    {
        if (!DatasetWriter.IsDataset(target))
        {
            return;
        }
        IReadOnlyList<TraceDataset> existing;
        try
        {
            existing = DatasetCatalog.Resolve([target]);
        }
        catch (InvalidDataException e)
        {
            throw new IOException($"'{target}' holds a dataset whose metadata cannot be read ({e.Message}); pass --force to replace it.", e);
        }
        var had = existing.SelectMany(t => t.Meta.Sources.Select(s => s.Path)).ToHashSet(StringComparer.Ordinal);
        bool same = existing.Count == inputs.Count && inputs.All(i => had.Contains(Ctf.CtfReader.ResolveMetadataPath(i)));
        if (!same)
        {
            string what = string.Join(", ", existing.Select(t => $"'{t.Id}' from {string.Join(", ", t.Meta.Sources.Take(1).Select(s => s.Path))}"));
            bool findings = existing.Any(t => t.Runs().Count > 0 || File.Exists(Path.Combine(t.Directory, "findings.parquet")));
            throw new IOException($"'{target}' holds other traces ({what}){(findings ? " and their replay findings" : "")}; refusing to replace them. Pass --force to replace the dataset, or choose another output directory.");
        }
    }

    private static TraceIngestSummary IngestOne(
        DatasetWriter dataset, bool partitioned, string id, string path, IngestOptions options,
        IProgress<IngestProgress>? progress, CancellationToken cancellationToken)
    {
        var stopwatch = Stopwatch.StartNew();
        path = Ctf.CtfReader.ResolveMetadataPath(path);
        using var source = InputSource.Open(path, dataset.TemporaryDirectory, cancellationToken);
        string format = options.Format;
        // Whatever --format says: no reader reads perf.data, and each would report its own confusion.
        if (FormatDetector.IsPerfData(source.Head))
        {
            throw new TraceFormatException(path, 0, "byte", FormatDetector.PerfDataAdvice(path));
        }
        if (format == "auto")
        {
            format = FormatDetector.Detect(source.Head, out var reason)
                ?? throw new TraceFormatException(path, 0, "byte", $"cannot tell the trace format: {reason}. Name it with --format {string.Join("|", FormatDetector.Formats)}.");
        }
        var reader = CreateReader(format);
        var diagnostics = new IngestDiagnostics { Strict = options.Strict, Format = format };

        using var trace = dataset.BeginTrace(partitioned ? id : null);
        var sink = new ProgressSink(trace.Events, source, progress);
        // The sources' SHA-256 (for meta.json). A text trace is hashed from the very reads the reader makes
        // (InputSource.Describe): a second pass over it costs a tenth of its ingest CPU. A CTF trace is a directory
        // of files, read by the CTF reader itself, and a trace.dat is small for its events (5 bytes an event, text
        // 130) and decoded on the one thread its ingest waits for: those are hashed beside the parse, on their own
        // thread (the pool's few threads stay free for short work items). Hashing a trace.dat from its reads
        // measured 4 % more CPU (the 10.6 M-event recording, docs/benchmarks.md).
        var files = format == "ctf" ? Ctf.CtfReader.TraceFiles(path) : [path];
        bool hashBeside = format is "ctf" or "tracedat";
        using var stopHashing = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Task<DatasetSource[]> hashing = hashBeside
            ? Task.Factory.StartNew(
                // A pipe was hashed as it was spooled.
                () => files.Select(f => f == path && source.Spooled is not null
                    ? source.Describe(stopHashing.Token)
                    : DatasetSource.FromFile(f, stopHashing.Token)).ToArray(),
                stopHashing.Token, TaskCreationOptions.LongRunning, TaskScheduler.Default)
            : Task.FromResult<DatasetSource[]>([]);
        try
        {
            using (var raw = source.OpenContent(hashReads: !hashBeside))
            using (var content = format == "ftrace" && SystraceHtmlStream.IsSystrace(source.Head) ? new SystraceHtmlStream(raw) : raw)
            {
                FaultPoint.Reached("parse");
                reader.Read(content, path, sink, diagnostics, cancellationToken);
            }
        }
        catch
        {
            stopHashing.Cancel();
            try
            {
                hashing.Wait(CancellationToken.None);
            }
            catch (AggregateException)
            {
                // Cancelled (or the file vanished); the parse error is the one to report.
            }
            throw;
        }
        sink.Report(force: true);
        DatasetSource[] sources = hashBeside ? hashing.GetAwaiter().GetResult() : [source.Describe(cancellationToken)];

        DatasetMeta meta = trace.Complete(diagnostics, sources);
        stopwatch.Stop();
        // The id the dataset really has: a single trace's is its directory's name, not the file's.
        return new TraceIngestSummary(
            meta.TraceId, path, format, meta.Events, meta.EventCounts, diagnostics.LostEvents, diagnostics.MalformedCount,
            diagnostics.MalformedSamples, diagnostics.Truncated, format == "ctf" ? meta.Sources.Sum(s => s.Size) : source.FileSize, stopwatch.Elapsed,
            meta.Order)

        {
            Crashes = meta.Crashes,
            KernelRelease = meta.KernelRelease,
            QuotedLinesDropped = meta.QuotedLinesDropped,
            CrashRecords = diagnostics.Crashes,
            Meta = meta,
        };
    }

    /// <summary>
    /// Inputs as given, with each directory that is not a CTF trace replaced by the traces in it: its files
    /// (hidden ones aside) and the CTF traces among its subdirectories, in name order. Under <c>--format auto</c>
    /// a file whose content is no trace is left out with a warning naming it and saying why (a directory of
    /// recordings holds READMEs and maps snapshots too); with a format named, every file is read as that format.
    /// </summary>
    /// <exception cref="FileNotFoundException">An input does not exist.</exception>
    /// <exception cref="InvalidDataException">A directory holds no trace; names each file and why.</exception>
    internal static IReadOnlyList<string> ExpandDirectories(IReadOnlyList<string> inputs, string format, Action<string>? warn)
    {
        var expanded = new List<string>();
        foreach (var input in inputs)
        {
            // A CTF trace is a directory (metadata plus one file per stream); a pipe (/dev/stdin, <(…), a FIFO)
            // is not a regular file but File.Exists is true for it too.
            if (File.Exists(input) || Ctf.CtfReader.IsTraceDirectory(input))
            {
                expanded.Add(input);
                continue;
            }
            if (!Directory.Exists(input))
            {
                throw new FileNotFoundException($"Input '{input}' does not exist.", input);
            }
            if (DatasetSources(input) is { } sources)
            {
                // Its Parquet files and meta.json are no trace; under a named format they would be read as one.
                throw new InvalidDataException(
                    $"'{input}' is an mmtrace dataset (it holds {DatasetMeta.FileName}), not a trace: replay, explore and query read it as it is. "
                    + (sources.Count == 0 ? "Its meta.json names no source file." : $"It was ingested from {string.Join(", ", sources.Select(x => $"'{x}'"))}: give those files to read them again."));
            }
            var refused = new List<string>();
            int found = 0;
            foreach (var entry in Directory.EnumerateFileSystemEntries(input).Order(StringComparer.Ordinal))
            {
                var name = Path.GetFileName(entry);
                if (name.StartsWith('.'))
                {
                    continue;
                }
                string? why = null;
                if (Directory.Exists(entry))
                {
                    why = Ctf.CtfReader.IsTraceDirectory(entry) ? null : "a directory that is not a CTF trace (subdirectories are not searched)";
                }
                else if (format == "auto")
                {
                    using var source = InputSource.Open(entry);
                    why = FormatDetector.IsPerfData(source.Head)
                        ? FormatDetector.PerfDataAdvice(entry)
                        : FormatDetector.Detect(source.Head, out var reason) is null ? reason : null;
                }
                if (why is null)
                {
                    expanded.Add(entry);
                    found++;
                }
                else
                {
                    refused.Add($"{entry}: {why}");
                }
            }
            if (found == 0)
            {
                throw new InvalidDataException(refused.Count == 0
                    ? $"'{input}' is an empty directory, not a CTF trace (no 'metadata' file): nothing to ingest."
                    : $"'{input}' is not a CTF trace (no 'metadata' file) and holds no other trace: {string.Join("; ", refused)}.");
            }
            foreach (var line in refused)
            {
                warn?.Invoke($"left out {line}");
            }
        }
        return expanded;
    }

    /// <summary>
    /// The source files of an mmtrace dataset directory (a trace directory with meta.json, or a root of
    /// <c>trace=&lt;id&gt;/</c> partitions) as its meta.json records them, or null when <paramref name="directory"/> is no
    /// dataset.
    /// </summary>
    public static IReadOnlyList<string>? DatasetSources(string directory) =>
        DatasetCatalog.IsDataset(directory)
            ? [.. DatasetCatalog.Resolve([directory]).SelectMany(t => t.Meta.Sources).Select(x => x.Path).Distinct(StringComparer.Ordinal)]
            : null;

    /// <summary>Trace ids: --name, else the file name without compression and trace extensions, made unique.</summary>
    internal static IReadOnlyList<string> AssignIds(IngestOptions options)
    {
        if (options.Name is not null)
        {
            return [SanitizeId(options.Name)];
        }
        var ids = new List<string>();
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var input in options.Inputs)
        {
            var name = Path.GetFileName(Path.TrimEndingDirectorySeparator(input));
            if (name == Ctf.CtfReader.MetadataFileName)
            {
                name = Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(input))) ?? name;
            }
            foreach (var extension in new[] { ".gz", ".zst", ".txt", ".dat", ".log", ".eml", ".html", ".script" })
            {
                if (name.EndsWith(extension, StringComparison.OrdinalIgnoreCase) && name.Length > extension.Length)
                {
                    name = name[..^extension.Length];
                }
            }
            var id = SanitizeId(name);
            var unique = id;
            for (int n = 2; !used.Add(unique); n++)
            {
                unique = string.Create(CultureInfo.InvariantCulture, $"{id}-{n}");
            }
            ids.Add(unique);
        }
        return ids;
    }

    private static string SanitizeId(string name)
    {
        var chars = name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' ? c : '-').ToArray();
        var id = new string(chars).Trim('.');
        return id.Length == 0 ? "trace" : id;
    }

    /// <summary>Forwards events and reports progress every 64 Ki events.</summary>
    private sealed class ProgressSink(IEventSink inner, InputSource source, IProgress<IngestProgress>? progress) : IEventSegmentSink, IEventColumnSink
    {
        private long _events;
        // Once a decoder took the inner writer's column writer, rows are counted there (all of them: the writer
        // counts those written as rows too).
        private EventColumnWriter? _columns;

        public bool TakesSegments => inner is IEventSegmentSink { TakesSegments: true };

        public EventColumnWriter? ColumnWriter
        {
            get
            {
                if (_columns is null && inner is IEventColumnSink { ColumnWriter: { } columns })
                {
                    _columns = columns;
                    columns.Progress = _ => Report(force: false);
                }
                return _columns;
            }
        }

        public void Write(EventSegment segment)
        {
            ((IEventSegmentSink)inner).Write(segment);
            long before = _events;
            _events += segment.Count;
            if ((before >> 16) != (_events >> 16))
            {
                Report(force: false);
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Write(EventRow row)
        {
            inner.Write(row);
            if ((++_events & 0xFFFF) == 0)
            {
                Report(force: false);
            }
        }

        public void Report(bool force)
        {
            if (progress is not null)
            {
                long position = force ? source.FileSize : Math.Min(source.File.Position, source.FileSize);
                progress.Report(new IngestProgress(source.Path, position, source.FileSize, _columns?.Count ?? _events));
            }
        }
    }
}
