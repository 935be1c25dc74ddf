using System.Globalization;
using System.Text;
using System.Text.Json;
using Pipeline.Storage;

namespace Pipeline.Analyze.Listing;

/// <summary>What <c>mmtrace show</c> lists: every filter is optional and they combine with AND.</summary>
public sealed record ListingFilter
{
    /// <summary>Only events of this thread id (<c>pid</c>) or thread group (<c>tgid</c>).</summary>
    public int? Pid { get; init; }

    /// <summary>Only events recorded on this CPU.</summary>
    public int? Cpu { get; init; }

    /// <summary>Only events at or after this time (ns on the trace clock).</summary>
    public long? FromNs { get; init; }

    /// <summary>Only events at or before this time (ns on the trace clock).</summary>
    public long? ToNs { get; init; }

    /// <summary>Only the events whose seq is within <see cref="AroundCount"/> of this one.</summary>
    public long? AroundSeq { get; init; }

    /// <summary>Events on each side of <see cref="AroundSeq"/>.</summary>
    public int AroundCount { get; init; } = 10;

    /// <summary>
    /// A glob over the event name (<c>tlb:*</c>, <c>*mremap*</c>); without a <c>:</c> it also matches the
    /// name without its system (<c>page_fault_*</c>).
    /// </summary>
    public string? EventGlob { get; init; }
}

/// <summary>
/// <c>mmtrace show</c>: the events of a trace as text, one line each, like <c>trace-cmd report</c> —
/// <c>seq comm-pid [cpu] seconds: system:event: payload</c> — with addresses, pointers and pfns in hex and
/// attached stacks as <c> =&gt; frame</c> lines. The rows stream from DuckDB in file order (events.parquet is
/// written in seq order), so memory does not grow with the trace and the filters on seq, time and CPU skip
/// whole row groups by their statistics.
/// </summary>
public static class EventListing
{
    /// <summary>Writes the events of <paramref name="trace"/> that pass <paramref name="filter"/>; returns how many.</summary>
    /// <exception cref="InvalidDataException">The trace has no events.parquet.</exception>
    public static long Write(TraceDataset trace, ListingFilter filter, TextWriter output, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(trace);
        ArgumentNullException.ThrowIfNull(filter);
        using var runner = QueryRunner.Open([trace.Directory]);
        var (sql, parameters) = BuildSql(filter);
        using var reader = runner.Query(sql, parameters);
        var ordinals = new int[EventSchema.Columns.Count];
        for (int i = 0; i < ordinals.Length; i++)
        {
            // The events view renames columns named after SQL reserved words; the listing prints the kernel's name.
            string name = EventSchema.Columns[i].Name;
            ordinals[i] = reader.GetOrdinal(DatasetCatalog.EventViewRenames.TryGetValue(name, out var renamed) ? renamed : name);
        }
        var line = new StringBuilder(256);
        long count = 0;
        while (reader.Read())
        {
            if ((count & 0xFFF) == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }
            line.Clear();
            FormatRow(reader, ordinals, line);
            output.Write(line);
            count++;
        }
        return count;
    }

    /// <summary>The SELECT for <paramref name="filter"/>; numbers are spliced (they are parsed integers), the glob is bound.</summary>
    internal static (string Sql, Dictionary<string, string> Parameters) BuildSql(ListingFilter filter)
    {
        var where = new List<string>();
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal);
        var inv = CultureInfo.InvariantCulture;
        if (filter.Pid is int pid)
        {
            where.Add(string.Create(inv, $"(pid = {pid} OR tgid = {pid})"));
        }
        if (filter.Cpu is int cpu)
        {
            where.Add(string.Create(inv, $"cpu = {cpu}"));
        }
        if (filter.FromNs is long from)
        {
            where.Add(string.Create(inv, $"ts_ns >= {from}"));
        }
        if (filter.ToNs is long to)
        {
            where.Add(string.Create(inv, $"ts_ns <= {to}"));
        }
        if (filter.AroundSeq is long seq)
        {
            long n = Math.Max(0, filter.AroundCount);
            where.Add(string.Create(inv, $"seq BETWEEN {Math.Max(0, seq - n)} AND {seq + n}"));
        }
        if (filter.EventGlob is { } glob)
        {
            parameters["show_event_glob"] = glob;
            where.Add(glob.Contains(':', StringComparison.Ordinal)
                ? "event GLOB getvariable('show_event_glob')"
                : "(event GLOB getvariable('show_event_glob') OR split_part(event, ':', 2) GLOB getvariable('show_event_glob'))");
        }
        // No ORDER BY: the file is in seq order and DuckDB keeps insertion order, so the scan streams.
        string sql = "SELECT * FROM events" + (where.Count == 0 ? "" : " WHERE " + string.Join(" AND ", where));
        return (sql, parameters);
    }

    private static void FormatRow(Storage.DuckDb.DuckDbReader reader, int[] ordinals, StringBuilder line)
    {
        var inv = CultureInfo.InvariantCulture;
        long seq = reader.GetInt64(ordinals[EventSchema.Seq]);
        long ts = reader.GetInt64(ordinals[EventSchema.TsNs]);
        int cpu = reader.GetInt32(ordinals[EventSchema.Cpu]);
        int pid = reader.GetInt32(ordinals[EventSchema.Pid]);
        string comm = reader.GetString(ordinals[EventSchema.Comm]);
        string name = reader.GetString(ordinals[EventSchema.Event]);
        line.Append(inv, $"{seq,9} {comm,16}-{pid,-7} [{cpu:D3}] ");
        line.Append(FieldFormat.Seconds(ts)).Append(": ").Append(name).Append(':');
        for (int c = EventSchema.FirstField; c < EventSchema.Args; c++)
        {
            int o = ordinals[c];
            if (o < 0 || reader.IsNull(o))
            {
                continue;
            }
            var column = EventSchema.Columns[c];
            line.Append(' ').Append(column.Name).Append('=');
            switch (column.Kind)
            {
                case ColumnKind.UInt64:
                    ulong u = reader.GetUInt64(o);
                    if (FieldFormat.IsHex(column.Name) || FieldFormat.IsBytes(column.Name))
                    {
                        // Lengths too: the kernel prints syscall arguments in hex, so the listing matches its trace.
                        line.Append("0x").Append(u.ToString("x", inv));
                    }
                    else
                    {
                        line.Append(u.ToString(inv));
                    }
                    break;
                case ColumnKind.Bool:
                    line.Append(reader.GetBoolean(o) ? "true" : "false");
                    break;
                case ColumnKind.Text:
                    line.Append(reader.GetString(o));
                    break;
                default:
                    long v = reader.GetInt64(o);
                    if (c == RetOrdinal && v >= 0)
                    {
                        // sys_exit_* returns addresses (mmap, mremap, brk): hex as the kernel prints it; errors stay -errno.
                        line.Append("0x").Append(v.ToString("x", inv));
                        break;
                    }
                    line.Append(v.ToString(inv));
                    if (c == ReasonOrdinal && name == "tlb:tlb_flush")
                    {
                        line.Append(" (").Append(FieldFormat.TlbFlushReason(v)).Append(')');
                    }
                    break;
            }
        }
        int args = ordinals[EventSchema.Args];
        if (args >= 0 && !reader.IsNull(args))
        {
            AppendArgs(reader.GetUtf8(args), line);
        }
        line.Append('\n');
        int stack = ordinals[EventSchema.Stack];
        if (stack >= 0 && !reader.IsNull(stack))
        {
            foreach (string? frame in reader.GetStringList(stack))
            {
                line.Append(" => ").Append(frame ?? "??").Append('\n');
            }
        }
    }

    private static readonly int RetOrdinal = EventSchema.Columns.Single(c => c.Name == "ret").Ordinal;

    private static readonly int ReasonOrdinal = EventSchema.Columns.Single(c => c.Name == "reason").Ordinal;

    private static void AppendArgs(ReadOnlySpan<byte> json, StringBuilder line)
    {
        var reader = new Utf8JsonReader(json);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            line.Append(' ').Append(Encoding.UTF8.GetString(json));
            return;
        }
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            line.Append(' ').Append(reader.GetString()).Append('=');
            if (!reader.Read())
            {
                break;
            }
            line.Append(reader.TokenType == JsonTokenType.String ? reader.GetString() : Encoding.UTF8.GetString(reader.ValueSpan));
        }
    }
}
