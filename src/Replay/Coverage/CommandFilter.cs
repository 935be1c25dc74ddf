using System.Globalization;
using Pipeline.Storage;
using Pipeline.Storage.DuckDb;

namespace Pipeline.Replay.Coverage;

/// <summary>A process outside the recorded command's tree that changed its own memory in the trace.</summary>
/// <param name="Pid">Its pid (tgid).</param>
/// <param name="Comm">Its main thread's last comm in the trace (else a thread's): the image it exec'd last.</param>
/// <param name="RssChanges">Its <c>kmem:rss_stat</c> events with <c>curr=1</c>: changes to its own mm's RSS counters.</param>
public sealed record OutsideProcess(int Pid, string Comm, long RssChanges);

/// <summary>
/// What a recording of <c>mmtrace record</c> without <c>--system-wide</c> could not show: the per-process events
/// (syscalls, user page faults, exec) were recorded for the command's process tree only, so an actor that needs them
/// and ran in another process is not in the trace at all. <see cref="Outside"/> are the processes outside the tree that
/// worked on their own memory at least as much as the whole tree did (a lab's workload recorded beside a command that
/// only waits for it, docs/recording.md): the verdicts then say that their actors were not recorded rather than that
/// they did not run, and the record lines add <c>--system-wide</c> (docs/coverage.md).
/// </summary>
/// <param name="Events">The tracepoints recorded for the command's processes only.</param>
/// <param name="CommandPid">The root of the command's tree.</param>
/// <param name="TreeRssChanges">The tree's own-RSS changes (<see cref="OutsideProcess.RssChanges"/>, summed).</param>
/// <param name="Outside">Processes outside the tree that changed their own memory at least as often, most active first.</param>
public sealed record CommandFilter(IReadOnlySet<string> Events, int CommandPid, long TreeRssChanges, IReadOnlyList<OutsideProcess> Outside)
{
    /// <summary>The processes named in a verdict's reason before the rest are counted.</summary>
    private const int Named = 2;

    /// <summary>Whether <paramref name="systemAndName"/> was recorded for the command's processes only.</summary>
    public bool Filters(string systemAndName) => Events.Contains(systemAndName);

    /// <summary>"raceactors (pid 13294)", "a (pid 1) and b (pid 2)", "a (pid 1), b (pid 2) and 3 other processes".</summary>
    public string OutsideText()
    {
        var named = Outside.Take(Named).Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Comm} (pid {p.Pid})")).ToList();
        int rest = Outside.Count - named.Count;
        if (rest > 0)
        {
            named.Add(string.Create(CultureInfo.InvariantCulture, $"{rest} other process{(rest == 1 ? "" : "es")}"));
        }
        return named.Count == 1 ? named[0] : string.Join(", ", named.Take(named.Count - 1)) + " and " + named[^1];
    }

    /// <summary>The one line the text report prints under the verdicts when <see cref="Outside"/> is not empty.</summary>
    public string SummaryLine()
    {
        var listed = Outside.Take(5).Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Comm} (pid {p.Pid}, {p.RssChanges:N0})"));
        string more = Outside.Count > 5 ? string.Create(CultureInfo.InvariantCulture, $" and {Outside.Count - 5} more") : "";
        return string.Create(CultureInfo.InvariantCulture,
            $"syscalls, user page faults and execs were recorded for the command's processes only (pid {CommandPid} and its descendants: {TreeRssChanges:N0} changes of their own RSS); ")
            + $"processes beside them changed their own memory as much or more (kmem:rss_stat curr=1): {string.Join(", ", listed)}{more}; "
            + "their syscalls and faults are not in the trace: record with --system-wide, or run the workload as mmtrace record's command";
    }

    /// <summary>
    /// Reads a dataset's filter (meta.json <c>process_filter</c>) and finds the processes outside the command's tree that
    /// changed their own memory at least as often as the tree: the tree is every tgid with an event of a filtered
    /// tracepoint (only the tree's tasks could fire one) and the command's pid; the recorder itself is left out.
    /// Null when the dataset was not recorded with a filter.
    /// </summary>
    public static CommandFilter? Read(DuckDbConnection connection, string eventsPath, ProcessFilter? filter)
    {
        ArgumentNullException.ThrowIfNull(connection);
        if (filter is null)
        {
            return null;
        }
        var events = filter.Events.ToHashSet(StringComparer.Ordinal);
        if (events.Count == 0)
        {
            return new CommandFilter(events, filter.CommandPid, 0, []);
        }
        string file = DatasetFiles.SqlLiteral(eventsPath);
        string filtered = string.Join(", ", events.Order(StringComparer.Ordinal).Select(DatasetFiles.SqlLiteral));
        string sql = string.Create(CultureInfo.InvariantCulture, $"""
            WITH tree AS (SELECT DISTINCT tgid FROM read_parquet({file}) WHERE event IN ({filtered}) AND tgid IS NOT NULL UNION SELECT {filter.CommandPid}),
            own AS (SELECT tgid, count(*) AS n, arg_max(comm, [CASE WHEN pid = tgid THEN 1 ELSE 0 END, seq]) AS comm FROM read_parquet({file})
                    WHERE event = 'kmem:rss_stat' AND json_extract_string(args, '$.curr') = '1' AND tgid IS NOT NULL AND tgid > 0 AND tgid <> {filter.RecorderPid}
                    GROUP BY tgid)
            SELECT own.tgid, coalesce(own.comm, ''), own.n, own.tgid IN (SELECT tgid FROM tree) FROM own ORDER BY own.n DESC, own.tgid
            """);
        long tree = 0;
        var outside = new List<OutsideProcess>();
        using (var reader = connection.Query(sql))
        {
            while (reader.Read())
            {
                long n = reader.GetInt64(2);
                if (reader.GetBoolean(3))
                {
                    tree += n;
                }
                else
                {
                    outside.Add(new OutsideProcess(reader.GetInt32(0), reader.GetString(1), n));
                }
            }
        }
        return new CommandFilter(events, filter.CommandPid, tree, [.. outside.Where(p => p.RssChanges >= Math.Max(1, tree))]);
    }
}
