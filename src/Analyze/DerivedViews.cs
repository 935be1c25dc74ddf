using Pipeline.Storage.DuckDb;

namespace Pipeline.Analyze;

/// <summary>
/// Views computed from the dataset views: who ran (<c>processes</c>, <c>threads</c>) and lookups for fields the
/// kernel stores as codes (<c>tlb_flush_reason</c>), so queries join a name instead of copying a CASE.
/// </summary>
public static class DerivedViews
{
    /// <summary>Creates the derived views whose inputs exist among <paramref name="views"/>; returns their names.</summary>
    public static IReadOnlyList<string> Create(DuckDbConnection connection, IReadOnlyCollection<string> views)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(views);
        var created = new List<string>();
        // enum tlb_flush_reason, include/linux/mm_types.h (names as the tracepoint's __print_symbolic prints them).
        connection.Execute($"""
            CREATE OR REPLACE VIEW tlb_flush_reason AS
            SELECT * FROM (VALUES {string.Join(", ", Enumerable.Range(0, 6).Select(r => $"({r}::BIGINT, '{FieldFormat.TlbFlushReason(r)}')"))})
                AS t(reason, name)
            """);
        created.Add("tlb_flush_reason");
        if (!views.Contains("events"))
        {
            return created;
        }
        // A thread's comms in the order it had them (exec and prctl rename), first and last event.
        connection.Execute("""
            CREATE OR REPLACE VIEW threads AS
            WITH named AS (
                SELECT trace, pid, comm, any_value(tgid) AS tgid, min(ts_ns) AS since_ns, count(*) AS events, max(ts_ns) AS until_ns
                FROM events WHERE pid <> 0 GROUP BY trace, pid, comm)
            SELECT trace, pid, coalesce(max(tgid), pid) AS tgid, list(comm ORDER BY since_ns) AS comms,
                   min(since_ns) AS first_seen_ns, max(until_ns) AS last_seen_ns, sum(events)::BIGINT AS events
            FROM named GROUP BY trace, pid
            """);
        connection.Execute("""
            CREATE OR REPLACE VIEW processes AS
            SELECT trace, tgid, arg_max(comms[-1], pid = tgid) AS comm, count(*) AS threads,
                   list(pid ORDER BY pid) AS pids, min(first_seen_ns) AS first_seen_ns, max(last_seen_ns) AS last_seen_ns,
                   sum(events)::BIGINT AS events
            FROM threads GROUP BY trace, tgid
            """);
        created.Add("threads");
        created.Add("processes");
        return created;
    }
}
