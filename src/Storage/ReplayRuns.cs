using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Pipeline.Storage;

/// <summary>
/// What part of a trace a replay or a query looks at: a process (thread id or thread group) and a time range.
/// An event is in scope when it matches every given bound; a row that refers to events (a finding's witness, an
/// mremap call, an op) is in scope when one of its events is.
/// </summary>
/// <param name="Pid">Thread id (<c>pid</c>) or thread group (<c>tgid</c>); null for every process.</param>
/// <param name="FromNs">Events at or after this <c>ts_ns</c>; null for the start of the trace.</param>
/// <param name="ToNs">Events at or before this <c>ts_ns</c>; null for the end of the trace.</param>
public sealed record TraceScope(int? Pid = null, long? FromNs = null, long? ToNs = null)
{
    /// <summary>The whole trace.</summary>
    public static TraceScope Whole { get; } = new();

    /// <summary>Whether no bound is given.</summary>
    public bool IsWhole => Pid is null && FromNs is null && ToNs is null;

    /// <summary>
    /// A SQL condition over an event row's <c>pid</c>, <c>tgid</c> and <c>ts_ns</c> (numbers spliced: they are parsed
    /// integers); <c>true</c> for the whole trace.
    /// </summary>
    public string EventPredicate(string alias = "")
    {
        var where = new List<string>();
        string p = alias.Length == 0 ? "" : alias + ".";
        if (Pid is int pid)
        {
            where.Add(string.Create(CultureInfo.InvariantCulture, $"({p}pid = {pid} OR {p}tgid = {pid})"));
        }
        if (FromNs is long from)
        {
            where.Add(string.Create(CultureInfo.InvariantCulture, $"{p}ts_ns >= {from}"));
        }
        if (ToNs is long to)
        {
            where.Add(string.Create(CultureInfo.InvariantCulture, $"{p}ts_ns <= {to}"));
        }
        return where.Count == 0 ? "true" : string.Join(" AND ", where);
    }

    /// <summary>The bounds as the options that give them (<c>--pid 42 --from 1.5s</c>), for messages.</summary>
    public override string ToString()
    {
        var parts = new List<string>();
        if (Pid is int pid)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"--pid {pid}"));
        }
        if (FromNs is long from)
        {
            parts.Add("--from " + Seconds(from));
        }
        if (ToNs is long to)
        {
            parts.Add("--to " + Seconds(to));
        }
        return parts.Count == 0 ? "the whole trace" : string.Join(" ", parts);
    }

    private static string Seconds(long ns) => string.Create(CultureInfo.InvariantCulture, $"{ns / 1_000_000_000}.{Math.Abs(ns % 1_000_000_000):D9}");
}

/// <summary>
/// One replay of a trace, kept in its own directory <c>replay=&lt;profile&gt;@&lt;arch&gt;/</c> inside the dataset:
/// its tables (findings, coverage, mremaps, mremap_moves, ops) and <c>run.json</c>, which says under what it ran
/// and when. A replay under the same profile and arch replaces its own directory and no other.
/// </summary>
/// <param name="Directory">The run directory.</param>
/// <param name="Profile">Kernel profile name, with its <c>+fix</c>/<c>-fix</c> adjustments.</param>
/// <param name="Fixes">The fixes in the profile, comma-separated (docs/profiles.md names).</param>
/// <param name="Arch">Flush scope: <c>x86</c> or <c>arm64</c>.</param>
/// <param name="ReplayedAt">When the replay finished (UTC); the latest run is the one a report shows by default.</param>
/// <param name="Scope">What the replay reported on (docs/architecture.md, "Replay runs").</param>
public sealed record ReplayRun(string Directory, string Profile, string Fixes, string Arch, DateTimeOffset ReplayedAt, TraceScope Scope)
{
    /// <summary>The directory's name without <c>replay=</c>: <c>v5.13@x86</c>.</summary>
    public string Name => Path.GetFileName(Directory)[ReplayRuns.Prefix.Length..];
}

/// <summary>Which replay runs of each trace the views show.</summary>
/// <param name="AllRuns">Every run (the query views: compare runs in SQL by profile, fixes and arch).</param>
/// <param name="Profile">The latest run under this profile; null for the latest run of all.</param>
public sealed record RunSelection(bool AllRuns, string? Profile)
{
    /// <summary>Every run of every trace.</summary>
    public static RunSelection All { get; } = new(true, null);

    /// <summary>The latest run of each trace.</summary>
    public static RunSelection Latest { get; } = new(false, null);

    /// <summary>The latest run under <paramref name="profile"/>.</summary>
    public static RunSelection OfProfile(string profile) => new(false, profile);

    /// <summary>The runs of <paramref name="runs"/> (oldest first) this selection shows for trace <paramref name="traceId"/>.</summary>
    /// <exception cref="InvalidDataException">No run has the asked profile; names the runs there are.</exception>
    public IReadOnlyList<ReplayRun> Choose(string traceId, IReadOnlyList<ReplayRun> runs)
    {
        ArgumentNullException.ThrowIfNull(runs);
        if (AllRuns || runs.Count == 0)
        {
            return AllRuns || Profile is null ? runs : throw NoRun(traceId, runs);
        }
        if (Profile is null)
        {
            return [runs[^1]];
        }
        var matching = runs.Where(r => r.Profile == Profile).ToList();
        return matching.Count > 0 ? [matching[^1]] : throw NoRun(traceId, runs);
    }

    private InvalidDataException NoRun(string traceId, IReadOnlyList<ReplayRun> runs) => new(runs.Count == 0
        ? $"trace {traceId} has not been replayed under --profile {Profile}: run `mmtrace replay --profile {Profile}` on it first."
        : $"trace {traceId} has no replay under --profile {Profile}; its replays: {string.Join(", ", runs.Select(r => r.Profile + " (" + r.Arch + ")"))}.");
}

/// <summary>Finds, reads and writes the replay runs of a dataset (<see cref="ReplayRun"/>).</summary>
public static class ReplayRuns
{
    /// <summary>Prefix of a run directory's name.</summary>
    public const string Prefix = "replay=";

    /// <summary>The run's description inside its directory.</summary>
    public const string RunFile = "run.json";

    // A run being written, and a run set aside while its replacement is renamed in: hidden, never matching Prefix,
    // so a crash leaves nothing a reader takes for a run. Both carry the writer's pid: the next replay of the
    // dataset removes those of writers that are gone (and puts back a run set aside and never replaced).
    private const string StagingPrefix = ".replay-staging-";
    private const string AsidePrefix = ".replay-aside-";

    // NAME_MAX is 255; a profile with many --fix adjustments gets a shortened name with a hash of the full one.
    private const int MaxNameLength = 160;

    /// <summary>Tables a replay writes, kept per run: the views add the run's <c>profile</c>, <c>fixes</c>, <c>arch</c>.</summary>
    public static IReadOnlyList<string> Tables { get; } = ["coverage", "findings", "mremap_moves", "mremaps", "ops"];

    /// <summary>Whether <paramref name="table"/> is written per replay run.</summary>
    public static bool IsRunTable(string table) => Tables.Contains(table, StringComparer.Ordinal);

    /// <summary>The run directory name for a profile and an arch: <c>replay=v5.13+ttu-sync@x86</c>.</summary>
    public static string DirectoryName(string profile, string arch)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(arch);
        string name = profile + "@" + arch;
        if (name.Length > MaxNameLength || name.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '.' or '+' or '-' or '_' or '@')))
        {
            string hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(name)))[..16];
            string safe = new([.. profile.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '+' or '-' or '_' ? c : '_')]);
            name = safe[..Math.Min(safe.Length, MaxNameLength - 40)] + "~" + hash + "@" + arch;
        }
        return Prefix + name;
    }

    /// <summary>The runs of a dataset, oldest first (ties by name); directories without a readable run.json are errors.</summary>
    /// <exception cref="InvalidDataException">A run.json is missing or bad; names the file.</exception>
    public static IReadOnlyList<ReplayRun> List(string datasetDirectory)
    {
        if (!System.IO.Directory.Exists(datasetDirectory))
        {
            return [];
        }
        return System.IO.Directory.EnumerateDirectories(datasetDirectory, Prefix + "*")
            .Select(Read)
            .OrderBy(r => r.ReplayedAt)
            .ThenBy(r => r.Name, StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>Reads <c>run.json</c> of a run directory.</summary>
    /// <exception cref="InvalidDataException">It is missing or not what <see cref="Commit"/> writes; names the file.</exception>
    public static ReplayRun Read(string runDirectory)
    {
        string path = Path.Combine(runDirectory, RunFile);
        if (!File.Exists(path))
        {
            throw new InvalidDataException($"'{runDirectory}' is a replay run directory without {RunFile}; replay the trace again or remove the directory.");
        }
        try
        {
            // A key twice is refused: which profile a run was made under must not depend on which one a parser keeps.
            using var document = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { AllowDuplicateProperties = false });
            var root = document.RootElement;
            var scope = root.TryGetProperty("scope", out var s) && s.ValueKind == JsonValueKind.Object
                ? new TraceScope(OptionalInt(s, "pid"), OptionalLong(s, "from_ns"), OptionalLong(s, "to_ns"))
                : TraceScope.Whole;
            return new ReplayRun(
                runDirectory,
                Required(root, "profile"),
                Required(root, "fixes"),
                Required(root, "arch"),
                DateTimeOffset.Parse(Required(root, "replayed_at"), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal),
                scope);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or InvalidDataException)
        {
            throw new InvalidDataException($"'{path}': expected the run description mmtrace replay writes (profile, fixes, arch, replayed_at, scope): {e.Message}", e);
        }
    }

    /// <summary>
    /// A fresh staging directory inside <paramref name="datasetDirectory"/> for the tables of a run; first clears
    /// what replays that died there left (<see cref="SweepDead"/>).
    /// </summary>
    public static string BeginRun(string datasetDirectory)
    {
        SweepDead(datasetDirectory);
        return System.IO.Directory.CreateDirectory(Path.Combine(datasetDirectory, HiddenName(StagingPrefix))).FullName;
    }

    /// <summary>
    /// Removes the staging directories of replays whose process is gone, and puts back a run one of them had set
    /// aside when it died between the two renames of <see cref="Commit"/> (the run is then not missing for good).
    /// </summary>
    public static void SweepDead(string datasetDirectory)
    {
        foreach (string directory in System.IO.Directory.EnumerateDirectories(datasetDirectory, ".replay-*"))
        {
            string name = Path.GetFileName(directory);
            string prefix = name.StartsWith(StagingPrefix, StringComparison.Ordinal) ? StagingPrefix
                : name.StartsWith(AsidePrefix, StringComparison.Ordinal) ? AsidePrefix : "";
            int dash = prefix.Length == 0 ? -1 : name.IndexOf('-', prefix.Length);
            if (dash < 0 || !int.TryParse(name.AsSpan(prefix.Length, dash - prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int pid)
                || pid == Environment.ProcessId || Native.PosixFs.ProcessExists(pid))
            {
                continue;
            }
            if (prefix == AsidePrefix && TryRead(directory) is { } run
                && Path.Combine(datasetDirectory, DirectoryName(run.Profile, run.Arch)) is var target && !System.IO.Directory.Exists(target))
            {
                System.IO.Directory.Move(directory, target);
                continue;
            }
            System.IO.Directory.Delete(directory, recursive: true);
        }
    }

    private static ReplayRun? TryRead(string directory)
    {
        try
        {
            return Read(directory);
        }
        catch (InvalidDataException)
        {
            return null;
        }
    }

    private static string HiddenName(string prefix) => string.Create(CultureInfo.InvariantCulture,
        $"{prefix}{Environment.ProcessId}-{Path.GetRandomFileName().Replace(".", "", StringComparison.Ordinal)}");

    /// <summary>Removes a staging directory that was not committed (the replay failed or was cancelled).</summary>
    public static void Abandon(string stagingDirectory)
    {
        if (System.IO.Directory.Exists(stagingDirectory))
        {
            System.IO.Directory.Delete(stagingDirectory, recursive: true);
        }
    }

    /// <summary>
    /// Writes <c>run.json</c> into the staging directory and puts it in place of the run of the same profile and
    /// arch. The run directory is swapped whole (rename aside, rename in, remove the old one), so a reader sees the
    /// old run or the new one, never files of both; other runs are not touched.
    /// </summary>
    /// <returns>The run now in place.</returns>
    public static ReplayRun Commit(string stagingDirectory, string profile, string fixes, string arch, TraceScope scope, DateTimeOffset replayedAt)
    {
        ArgumentNullException.ThrowIfNull(stagingDirectory);
        ArgumentNullException.ThrowIfNull(scope);
        string dataset = Path.GetDirectoryName(Path.GetFullPath(stagingDirectory).TrimEnd(Path.DirectorySeparatorChar))!;
        WriteRunFile(stagingDirectory, profile, fixes, arch, scope, replayedAt);
        string target = Path.Combine(dataset, DirectoryName(profile, arch));
        string? aside = null;
        if (System.IO.Directory.Exists(target))
        {
            aside = Path.Combine(dataset, HiddenName(AsidePrefix));
            System.IO.Directory.Move(target, aside);
        }
        System.IO.Directory.Move(stagingDirectory, target);
        if (aside is not null)
        {
            System.IO.Directory.Delete(aside, recursive: true);
        }
        return Read(target);
    }

    /// <summary>
    /// Moves the replay tables an older mmtrace wrote at the top of <paramref name="datasetDirectory"/> into a run
    /// directory keyed by the profile and arch they name (<paramref name="keyOf"/> reads them from the files), so
    /// that a new replay under another profile keeps them as a run of their own. Their time is the files' mtime.
    /// </summary>
    /// <param name="datasetDirectory">The dataset.</param>
    /// <param name="keyOf">Reads (profile, fixes, arch) from the old tables; null when they do not say.</param>
    /// <returns>
    /// The run the tables were moved into, or null when there were none, or when a run of their profile and arch
    /// exists already (it is newer: only an older mmtrace writes top-level tables, and the views ignore them once
    /// the trace has runs); they are removed then.
    /// </returns>
    public static ReplayRun? AdoptTopLevelTables(string datasetDirectory, Func<IReadOnlyDictionary<string, string>, (string Profile, string Fixes, string Arch)?> keyOf)
    {
        ArgumentNullException.ThrowIfNull(keyOf);
        var files = Tables
            .Select(t => (Table: t, Path: Path.Combine(datasetDirectory, t + ".parquet")))
            .Where(f => File.Exists(f.Path))
            .ToDictionary(f => f.Table, f => f.Path, StringComparer.Ordinal);
        if (files.Count == 0)
        {
            return null;
        }
        // A table of unknown origin still becomes a run, named so: nothing a user replayed disappears.
        var (profile, fixes, arch) = keyOf(files) ?? ("unknown", "", "unknown");
        if (System.IO.Directory.Exists(Path.Combine(datasetDirectory, DirectoryName(profile, arch))))
        {
            foreach (string path in files.Values)
            {
                File.Delete(path);
            }
            return null;
        }
        DateTimeOffset at = files.Values.Select(f => new DateTimeOffset(File.GetLastWriteTimeUtc(f), TimeSpan.Zero)).Max();
        string staging = BeginRun(datasetDirectory);
        foreach (var (table, path) in files)
        {
            File.Move(path, Path.Combine(staging, table + ".parquet"));
        }
        return Commit(staging, profile, fixes, arch, TraceScope.Whole, at);
    }

    private static void WriteRunFile(string directory, string profile, string fixes, string arch, TraceScope scope, DateTimeOffset replayedAt)
    {
        string path = Path.Combine(directory, RunFile);
        using (var stream = new FileStream(path, FileMode.Create, FileAccess.Write))
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteString("profile", profile);
            json.WriteString("fixes", fixes);
            json.WriteString("arch", arch);
            json.WriteString("replayed_at", replayedAt.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffffffZ", CultureInfo.InvariantCulture));
            json.WriteStartObject("scope");
            WriteOptional(json, "pid", scope.Pid);
            WriteOptional(json, "from_ns", scope.FromNs);
            WriteOptional(json, "to_ns", scope.ToNs);
            json.WriteEndObject();
            json.WriteEndObject();
        }
        File.AppendAllText(path, "\n");
    }

    private static void WriteOptional(Utf8JsonWriter json, string name, long? value)
    {
        if (value is long v)
        {
            json.WriteNumber(name, v);
        }
        else
        {
            json.WriteNull(name);
        }
    }

    private static string Required(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String
            ? v.GetString()!
            : throw new InvalidDataException($"no string '{name}'");

    private static int? OptionalInt(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32() : null;

    private static long? OptionalLong(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt64() : null;
}
