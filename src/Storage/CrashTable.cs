using Pipeline.Storage.DuckDb;

namespace Pipeline.Storage;

/// <summary>Writes <c>crashes.parquet</c>: one row per <see cref="CrashRecord"/> (columns in docs/schema.md).</summary>
public static class CrashTable
{
    /// <summary>File name of the crash table in a dataset.</summary>
    public const string FileName = "crashes.parquet";

    private const string Columns = """
        crash_id INTEGER, source VARCHAR, line BIGINT, quote_depth INTEGER, kind VARCHAR, title VARCHAR, clock VARCHAR, printk_ts_ns BIGINT,
        cpu INTEGER, pid INTEGER, comm VARCHAR, taint VARCHAR, kernel_release VARCHAR, hardware VARCHAR,
        file VARCHAR, file_line INTEGER, func VARCHAR, func_offset VARCHAR, func_size VARCHAR,
        rip_symbol VARCHAR, rip_offset VARCHAR, rip_size VARCHAR,
        sanitizer_kind VARCHAR, access VARCHAR, access_size BIGINT, access_addr UBIGINT, fault_addr UBIGINT,
        page_pfn UBIGINT, page_refcount BIGINT, page_mapcount BIGINT, page_mapping VARCHAR, page_index VARCHAR,
        page_flags VARCHAR, page_flags_raw VARCHAR, page_dumped_because VARCHAR,
        alloc_pid INTEGER, alloc_stack VARCHAR[], free_pid INTEGER, free_stack VARCHAR[],
        frames VARCHAR[], frame_unreliable VARCHAR[]
        """;

    /// <summary>Writes the crashes to <paramref name="directory"/>/crashes.parquet (temporary file, then rename).</summary>
    public static void Write(IReadOnlyList<CrashRecord> crashes, string directory)
    {
        ArgumentNullException.ThrowIfNull(crashes);
        using var database = DuckDbDatabase.Open();
        using var connection = database.Connect();
        connection.Execute("CREATE TEMP TABLE staged_crashes (" + Columns + ")");
        using (var appender = connection.CreateAppender("staged_crashes"))
        {
            foreach (CrashRecord c in crashes)
            {
                appender.BeginRow().Append(c.Index).Append(c.File).Append(c.Line).Append(c.QuoteDepth).Append(c.Kind).Append(c.Title).Append("printk");
                Nullable(appender, c.PrintkTsNs);
                Nullable(appender, c.Cpu);
                Nullable(appender, c.Pid);
                appender.Append(c.Comm).Append(c.Taint).Append(c.KernelRelease).Append(c.Hardware).Append(c.SourceFile);
                Nullable(appender, c.SourceLine);
                appender.Append(c.Function).Append(c.FunctionOffset).Append(c.FunctionSize)
                    .Append(c.RipSymbol).Append(c.RipOffset).Append(c.RipSize)
                    .Append(c.SanitizerKind).Append(c.Access);
                Nullable(appender, c.AccessSize);
                Nullable(appender, c.AccessAddress);
                Nullable(appender, c.FaultAddress);
                Nullable(appender, c.PagePfn);
                Nullable(appender, c.PageRefcount);
                Nullable(appender, c.PageMapcount);
                appender.Append(c.PageMapping).Append(c.PageIndex).Append(c.PageFlags).Append(c.PageFlagsRaw).Append(c.PageDumpedBecause);
                Nullable(appender, c.AllocPid);
                appender.Append(Texts(c.AllocStack));
                Nullable(appender, c.FreePid);
                appender.Append(Texts(c.FreeStack))
                    .Append(c.Frames.Count == 0 ? null : c.Frames.Select(f => (string?)f.Text).ToList())
                    .Append(c.Frames.Count == 0 ? null : c.Frames.Select(f => (string?)(f.Unreliable ? "true" : "false")).ToList())
                    .EndRow();
            }
            appender.Close();
        }
        DatasetFiles.WriteParquetAtomic(connection,
            "SELECT * EXCLUDE (frame_unreliable), CAST(frame_unreliable AS BOOLEAN[]) AS frame_unreliable FROM staged_crashes ORDER BY crash_id",
            Path.Combine(directory, FileName));
    }

    // Unreliable frames keep their '?' in the stack lists so a reader of alloc/free stacks sees it too.
    private static List<string?>? Texts(List<CrashFrame> frames) =>
        frames.Count == 0 ? null : frames.Select(f => (string?)(f.Unreliable ? "? " + f.Text : f.Text)).ToList();

    private static void Nullable(DuckDbAppender appender, long? value)
    {
        if (value is { } v)
        {
            appender.Append(v);
        }
        else
        {
            appender.AppendNull();
        }
    }

    private static void Nullable(DuckDbAppender appender, int? value)
    {
        if (value is { } v)
        {
            appender.Append(v);
        }
        else
        {
            appender.AppendNull();
        }
    }

    private static void Nullable(DuckDbAppender appender, ulong? value)
    {
        if (value is { } v)
        {
            appender.Append(v);
        }
        else
        {
            appender.AppendNull();
        }
    }

    /// <summary>The text of a frame list as stored (for callers that print stacks).</summary>
    public static string Describe(IEnumerable<CrashFrame> frames) =>
        string.Join(" <- ", frames.Select(f => f.Unreliable ? "? " + f.Text : f.Text));
}
