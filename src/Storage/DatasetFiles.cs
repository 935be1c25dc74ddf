using Pipeline.Storage.DuckDb;

namespace Pipeline.Storage;

/// <summary>Parquet files of a dataset, written so that a reader never sees half a file.</summary>
public static class DatasetFiles
{
    /// <summary>File name of the event table.</summary>
    public const string EventsFile = "events.parquet";

    /// <summary>Quotes a value as a SQL string literal (single quotes doubled); for paths in COPY/read_parquet.</summary>
    public static string SqlLiteral(string value) => "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";

    /// <summary>Quotes a SQL identifier (double quotes doubled).</summary>
    public static string SqlIdentifier(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    /// <summary>
    /// Writes the rows of <paramref name="selectSql"/> to <paramref name="path"/> as zstd Parquet: COPY to a
    /// temporary sibling, then rename over the target. On failure the target is untouched and no temporary remains.
    /// </summary>
    /// <exception cref="DuckDbException">The query or the COPY failed.</exception>
    public static void WriteParquetAtomic(DuckDbConnection connection, string selectSql, string path)
    {
        ArgumentNullException.ThrowIfNull(connection);
        string full = Path.GetFullPath(path);
        string temporary = full + ".tmp-" + Path.GetRandomFileName();
        try
        {
            connection.Execute($"COPY ({selectSql}) TO {SqlLiteral(temporary)} (FORMAT parquet, COMPRESSION zstd)");
            File.Move(temporary, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporary))
            {
                File.Delete(temporary);
            }
        }
    }
}
