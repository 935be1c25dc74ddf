using DuckDB.NET.Data;

namespace Pipeline.Storage.DuckDb;

/// <summary>
/// An open DuckDB database (a file or in-memory), through DuckDB.NET. DuckDB.NET has no database object of its
/// own: this holds the first connection, and <see cref="Connect"/> duplicates it, so every connection shares the
/// one instance (an in-memory database lives as long as any of them).
/// </summary>
public sealed class DuckDbDatabase : IDisposable
{
    private readonly DuckDBConnection _root;

    private DuckDbDatabase(DuckDBConnection root, string? path)
    {
        _root = root;
        Path = path;
    }

    /// <summary>The database file, or null for an in-memory database.</summary>
    public string? Path { get; }

    /// <summary>The DuckDB version of the loaded libduckdb (e.g. <c>v1.5.6</c>).</summary>
    public static string LibraryVersion
    {
        get
        {
            using var connection = DuckDbConnection.OpenInMemory();
            return connection.Scalar("SELECT library_version FROM pragma_version()") as string ?? "";
        }
    }

    /// <summary>Opens (creating if needed) a database.</summary>
    /// <param name="path">Database file; null for in-memory.</param>
    /// <param name="config">DuckDB settings applied at open (<c>memory_limit</c>, <c>temp_directory</c>, <c>threads</c>, and the
    /// other options DuckDB.NET's connection string knows).</param>
    /// <exception cref="DuckDbException">DuckDB refused the file or a setting.</exception>
    public static DuckDbDatabase Open(string? path = null, IReadOnlyDictionary<string, string>? config = null)
    {
        var builder = new DuckDBConnectionStringBuilder { DataSource = path ?? DuckDBConnectionStringBuilder.InMemoryDataSource };
        if (config is not null)
        {
            foreach (var (name, value) in config)
            {
                try
                {
                    builder[name] = value;
                }
                catch (Exception e) when (e is ArgumentException or InvalidOperationException)
                {
                    throw new DuckDbException($"DuckDB rejected the setting {name} = '{value}' (unknown option or invalid value): {e.Message}");
                }
            }
        }
        DuckDBConnection? connection = null;
        try
        {
            connection = new DuckDBConnection(builder.ConnectionString);
            connection.Open();
        }
        catch (Exception e) when (e is DuckDBException or InvalidOperationException or ArgumentException)
        {
            connection?.Dispose();
            string what = path is null ? "(in-memory)" : $"'{path}'";
            throw new DuckDbException($"Could not open DuckDB database {what}: {DuckDbException.OneLine(e.Message)}");
        }
        return new DuckDbDatabase(connection, path);
    }

    /// <summary>Opens a new connection to this database.</summary>
    public DuckDbConnection Connect()
    {
        ObjectDisposedException.ThrowIf(_root.State != System.Data.ConnectionState.Open, this);
        DuckDBConnection duplicate = _root.Duplicate();
        try
        {
            duplicate.Open();
        }
        catch
        {
            duplicate.Dispose();
            throw;
        }
        return new DuckDbConnection(duplicate, ownedDatabase: null);
    }

    /// <summary>Closes this handle on the database (connections still open keep DuckDB's instance alive until they close).</summary>
    public void Dispose() => _root.Dispose();
}
