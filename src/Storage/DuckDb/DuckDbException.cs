namespace Pipeline.Storage.DuckDb;

/// <summary>An error reported by DuckDB; <see cref="Exception.Message"/> is DuckDB's own text.</summary>
public sealed class DuckDbException : Exception
{
    /// <summary>Creates the exception with DuckDB's message.</summary>
    public DuckDbException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with DuckDB's message and the failing SQL (kept out of the message).</summary>
    public DuckDbException(string message, string? sql)
        : base(message)
    {
        Sql = sql;
    }

    /// <summary>Wraps an error that ended a query running elsewhere (e.g. on a streaming consumer thread).</summary>
    public DuckDbException(string message, Exception inner)
        : base(message, inner)
    {
        Sql = (inner as DuckDbException)?.Sql;
    }

    /// <summary>The statement that failed, when there was one.</summary>
    public string? Sql { get; }

    /// <summary>DuckDB.NET's error for <paramref name="sql"/>, as ours (same text: DuckDB's own message).</summary>
    internal static DuckDbException From(DuckDB.NET.Data.DuckDBException error, string? sql) => new(error.Message, sql);

    /// <summary>The first line of a message (DuckDB appends a caret diagram under parser errors).</summary>
    internal static string OneLine(string message)
    {
        int end = message.IndexOf('\n', StringComparison.Ordinal);
        return end < 0 ? message : message[..end].TrimEnd();
    }
}
