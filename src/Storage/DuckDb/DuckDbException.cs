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
}
