using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Pipeline.Storage;

/// <summary>One input file of a trace dataset.</summary>
/// <param name="Path">The path as given on the command line.</param>
/// <param name="Size">Size in bytes.</param>
/// <param name="Sha256">Lower-case hex SHA-256 of the content.</param>
public sealed record DatasetSource(string Path, long Size, string Sha256)
{
    /// <summary>Describes a file, hashing it as a stream; stops early when <paramref name="cancellationToken"/> fires.</summary>
    public static DatasetSource FromFile(string path, CancellationToken cancellationToken)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 0, FileOptions.SequentialScan);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] buffer = new byte[1 << 20];
        int read;
        while ((read = stream.Read(buffer)) > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            hash.AppendData(buffer, 0, read);
        }
        return new DatasetSource(path, stream.Length, Convert.ToHexStringLower(hash.GetHashAndReset()));
    }
}

/// <summary>A malformed record as kept in meta.json.</summary>
/// <param name="File">Source file.</param>
/// <param name="Position">Line number or byte offset.</param>
/// <param name="PositionKind">"line" or "byte".</param>
/// <param name="Message">What was expected and what was found.</param>
public sealed record MalformedSample(string File, long Position, string PositionKind, string Message);

/// <summary>
/// How <c>mmtrace record</c> filtered the events only a task's own context fires (syscalls, user page faults, exec):
/// recorded for the command's process tree only, not for the machine (docs/recording.md). Absent for
/// <c>--system-wide</c> recordings and for every other input.
/// </summary>
/// <param name="Events">The tracepoints recorded for the command's processes only (<c>system:name</c>, sorted).</param>
/// <param name="CommandPid">The command's pid: the root of the filtered tree (its descendants were added as they forked).</param>
/// <param name="RecorderPid">The recorder's own pid (its reader threads are at work in the trace, and are no workload).</param>
public sealed record ProcessFilter(IReadOnlyList<string> Events, int CommandPid, int RecorderPid);

/// <summary>
/// <c>meta.json</c> of a trace dataset: where the events came from and what the ingest learned about them.
/// Serialized snake_case, indented, keys in declaration order, event counts sorted by name.
/// </summary>
public sealed record DatasetMeta
{
    /// <summary>File name of the metadata inside a dataset directory.</summary>
    public const string FileName = "meta.json";

    // Far above what an ingest writes (the event counts of millions of distinct event names).
    private const long MaxReadBytes = 256L << 20;

    // Kernel releases ("4.20.0-next-20190102+"), comms and paths stay readable: the default encoder escapes '+', '<', '>'
    // and non-ASCII, which is for JSON embedded in HTML; meta.json is a file people read.
    private static readonly DatasetMetaJsonContext s_writer = new(new JsonSerializerOptions(DatasetMetaJsonContext.Default.Options)
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });

    /// <summary><see cref="EventSchema.Version"/> of the writer.</summary>
    public int SchemaVersion { get; init; } = EventSchema.Version;

    /// <summary>Trace id (directory or partition name).</summary>
    public string TraceId { get; init; } = "";

    /// <summary>Input files.</summary>
    public IReadOnlyList<DatasetSource> Sources { get; init; } = [];

    /// <summary>Detected input format.</summary>
    public string? Format { get; init; }

    /// <summary>Kernel release, when known.</summary>
    public string? KernelRelease { get; init; }

    /// <summary>The machine the trace or report came from (a crash report's <c>Hardware name:</c>), when known.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Hardware { get; init; }

    /// <summary>CPU count, when known.</summary>
    public int? CpuCount { get; init; }

    /// <summary>Trace clock, when known.</summary>
    public string? Clock { get; init; }

    /// <summary>Whether pointers are per-boot hashes, when known.</summary>
    public bool? PointersHashed { get; init; }

    /// <summary>Total events written.</summary>
    public long Events { get; init; }

    /// <summary>Events per canonical name, sorted ordinally.</summary>
    public SortedDictionary<string, long> EventCounts { get; init; } = new(StringComparer.Ordinal);

    /// <summary>
    /// The tracepoints the recording enabled (<c>system:name</c>, sorted), when the recorder knew them
    /// (<c>mmtrace record</c>); null when the input does not say. An enabled tracepoint with no event in
    /// <see cref="EventCounts"/> was recorded and never fired, which is not the same as not recorded.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<string>? EnabledEvents { get; init; }

    /// <summary>
    /// Set when the recording filtered the per-process events to the command's process tree (<see cref="ProcessFilter"/>);
    /// null for a machine-wide recording or another input.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ProcessFilter? ProcessFilter { get; init; }

    /// <summary>Events the kernel reported lost.</summary>
    public long LostEvents { get; init; }

    /// <summary>Malformed records counted.</summary>
    public long MalformedCount { get; init; }

    /// <summary>The first malformed records.</summary>
    public IReadOnlyList<MalformedSample> MalformedSamples { get; init; } = [];

    /// <summary>Set when the input was cut short: what was missing.</summary>
    public string? Truncated { get; init; }

    /// <summary>
    /// Set when events came out of time order: how many late events the reorder window put in place, how many were
    /// later than the window (the whole trace was then sorted), and the largest lateness of each, ns.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public EventOrder? Order { get; init; }

    /// <summary>Crash reports of a console log (rows of crashes.parquet); 0 for other formats.</summary>
    public long Crashes { get; init; }

    /// <summary>Crash reports counted beyond the kept maximum.</summary>
    public long CrashesDropped { get; init; }

    /// <summary>Trace lines of a mail found in quoted text (an older message) and left out of the events.</summary>
    public long QuotedLinesDropped { get; init; }

    /// <summary>Version of the tool that wrote the dataset.</summary>
    public string ToolVersion { get; init; } = DefaultToolVersion;

    /// <summary>Informational version of Pipeline.Storage (without build metadata).</summary>
    public static string DefaultToolVersion { get; } = GetToolVersion();

    /// <summary>Builds the metadata of one trace from what the parser learned and what the writer wrote.</summary>
    public static DatasetMeta Create(string traceId, IngestDiagnostics diagnostics, IWrittenEvents events, IEnumerable<DatasetSource> sources)
    {
        ArgumentNullException.ThrowIfNull(diagnostics);
        ArgumentNullException.ThrowIfNull(events);
        return new DatasetMeta
        {
            TraceId = traceId,
            Sources = sources.ToArray(),
            Format = diagnostics.Format,
            KernelRelease = diagnostics.KernelRelease,
            Hardware = diagnostics.Hardware,
            CpuCount = diagnostics.CpuCount,
            Clock = diagnostics.Clock,
            PointersHashed = diagnostics.PointersHashed,
            Events = events.Count,
            EventCounts = events.SortedEventCounts(),
            EnabledEvents = diagnostics.EnabledEvents?.ToArray(),
            ProcessFilter = diagnostics.ProcessFilter,
            LostEvents = diagnostics.LostEvents,
            MalformedCount = diagnostics.MalformedCount,
            MalformedSamples = diagnostics.MalformedSamples.Select(m => new MalformedSample(m.File, m.Position, m.PositionKind, m.Message)).ToArray(),
            Truncated = diagnostics.Truncated,
            Crashes = diagnostics.Crashes.Count,
            CrashesDropped = diagnostics.CrashesDropped,
            QuotedLinesDropped = diagnostics.QuotedLinesDropped,
        };
    }

    /// <summary>The JSON text (UTF-8, indented, trailing newline).</summary>
    public byte[] ToJsonBytes()
    {
        // Re-sort in case the caller built the dictionary with another comparer or listed events in another order.
        var normalized = this with
        {
            EventCounts = new SortedDictionary<string, long>(EventCounts, StringComparer.Ordinal),
            EnabledEvents = EnabledEvents?.Order(StringComparer.Ordinal).Distinct(StringComparer.Ordinal).ToArray(),
            ProcessFilter = ProcessFilter is { } filter ? filter with { Events = [.. filter.Events.Order(StringComparer.Ordinal).Distinct(StringComparer.Ordinal)] } : null,
        };
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(normalized, s_writer.DatasetMeta);
        var result = new byte[json.Length + 1];
        json.CopyTo(result, 0);
        result[^1] = (byte)'\n';
        return result;
    }

    /// <summary>Writes <c>meta.json</c> into <paramref name="directory"/> (temporary file, then rename).</summary>
    public void Write(string directory)
    {
        string path = Path.Combine(directory, FileName);
        string temporary = path + ".tmp-" + Path.GetRandomFileName();
        try
        {
            File.WriteAllBytes(temporary, ToJsonBytes());
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <summary>Reads <c>meta.json</c> of a dataset directory.</summary>
    /// <exception cref="InvalidDataException">The file is missing, not valid JSON, or from a newer schema; names the file.</exception>
    public static DatasetMeta Read(string directory)
    {
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
        {
            throw new InvalidDataException($"{path}: missing; '{directory}' is not a trace dataset.");
        }
        long length = new FileInfo(path).Length;
        if (length > MaxReadBytes)
        {
            // Read whole and parsed at some ten times its size: a crafted or damaged file must not take the memory.
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"{path}: {length} bytes; expected dataset metadata of at most {MaxReadBytes} bytes (a meta.json is a few KiB)."));
        }
        DatasetMeta? meta;
        try
        {
            meta = JsonSerializer.Deserialize(File.ReadAllBytes(path), DatasetMetaJsonContext.Default.DatasetMeta);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid dataset metadata: {e.Message}", e);
        }
        if (meta is null)
        {
            throw new InvalidDataException($"{path}: expected a JSON object, found null.");
        }
        // The source generator sets an init-only property whose key is absent to null, not to its initializer: a
        // meta.json without "event_counts" (written by hand, or by another tool) crashed the count check below.
        meta = meta with
        {
            TraceId = meta.TraceId ?? "",
            Sources = meta.Sources ?? [],
            EventCounts = meta.EventCounts ?? new(StringComparer.Ordinal),
            MalformedSamples = meta.MalformedSamples ?? [],
            ToolVersion = meta.ToolVersion ?? "",
        };
        foreach (var (key, entries) in (ReadOnlySpan<(string, IEnumerable<object?>?)>)[("sources", meta.Sources), ("malformed_samples", meta.MalformedSamples), ("enabled_events", meta.EnabledEvents)])
        {
            int nulls = entries?.Count(e => e is null) ?? 0;
            if (nulls > 0)
            {
                throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                    $"{path}: {key} holds {nulls} null entr{(nulls == 1 ? "y" : "ies")}; expected a list of {(key == "enabled_events" ? "event names" : "objects")}."));
            }
        }
        if (meta.SchemaVersion > EventSchema.Version)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"{path}: schema_version {meta.SchemaVersion} is newer than this tool's {EventSchema.Version}; upgrade mmtrace or re-ingest the trace."));
        }
        if (meta.SchemaVersion < 1)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"{path}: schema_version {meta.SchemaVersion} is invalid; expected 1..{EventSchema.Version}."));
        }
        // Counts only: no reader writes a negative one (a header's CPU count above NR_CPUS is kept as printed).
        foreach (var (key, value) in Counts(meta))
        {
            if (value < 0)
            {
                throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"{path}: {key} {value} is invalid; expected a count, 0 or more."));
            }
        }
        if (meta.ProcessFilter is { } filter)
        {
            // An entry that is null or blank names no tracepoint (and made the replay's query fail with a crash).
            int blank = filter.Events?.Count(string.IsNullOrWhiteSpace) ?? 0;
            if (filter.Events is null || blank > 0 || filter.CommandPid <= 0 || filter.RecorderPid <= 0)
            {
                string events = filter.Events is null ? "missing" : blank > 0 ? $"with {blank} null or empty entr{(blank == 1 ? "y" : "ies")}" : "present";
                throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                    $"{path}: process_filter needs events (a list) and command_pid and recorder_pid above 0; found events {events}, command_pid {filter.CommandPid}, recorder_pid {filter.RecorderPid}."));
            }
        }
        return meta;
    }

    private static IEnumerable<(string Key, long Value)> Counts(DatasetMeta meta)
    {
        yield return ("cpu_count", meta.CpuCount ?? 0);
        yield return ("events", meta.Events);
        yield return ("lost_events", meta.LostEvents);
        yield return ("malformed_count", meta.MalformedCount);
        yield return ("crashes", meta.Crashes);
        yield return ("crashes_dropped", meta.CrashesDropped);
        yield return ("quoted_lines_dropped", meta.QuotedLinesDropped);
        foreach (var (name, count) in meta.EventCounts)
        {
            yield return ($"event_counts.{name}", count);
        }
    }

    private static string GetToolVersion()
    {
        string? version = typeof(DatasetMeta).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        if (string.IsNullOrEmpty(version))
        {
            return "0.0.0";
        }
        int plus = version.IndexOf('+', StringComparison.Ordinal);
        return plus < 0 ? version : version[..plus];
    }
}

/// <summary>Source-generated serializer for <see cref="DatasetMeta"/>.</summary>
// A key given twice is refused: JSON leaves it undefined which one counts, and System.Text.Json would take the last.
// A null where the record has no null (`"event_counts": null`, `"sources": null`, `"trace_id": null`) is refused too:
// System.Text.Json would set it, and the first command to use it failed with a NullReferenceException.
[JsonSourceGenerationOptions(
    AllowDuplicateProperties = false,
    RespectNullableAnnotations = true,
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(DatasetMeta))]
internal sealed partial class DatasetMetaJsonContext : JsonSerializerContext
{
}
