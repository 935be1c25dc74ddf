namespace Pipeline.Storage.DuckDb;

/// <summary>An open DuckDB database (a file or in-memory). Connections keep it alive inside DuckDB.</summary>
public sealed unsafe class DuckDbDatabase : IDisposable
{
    private readonly DatabaseHandle _handle;

    private DuckDbDatabase(DatabaseHandle handle, string? path)
    {
        _handle = handle;
        Path = path;
    }

    /// <summary>The database file, or null for an in-memory database.</summary>
    public string? Path { get; }

    /// <summary>The DuckDB version of the loaded libduckdb (e.g. <c>v1.5.6</c>).</summary>
    public static string LibraryVersion
    {
        get
        {
            NativeMethods.EnsureLoaded();
            return NativeMethods.Utf8(NativeMethods.LibraryVersion()) ?? "";
        }
    }

    /// <summary>Opens (creating if needed) a database.</summary>
    /// <param name="path">Database file; null for in-memory.</param>
    /// <param name="config">DuckDB settings applied at open (e.g. <c>memory_limit</c>, <c>temp_directory</c>, <c>threads</c>).</param>
    /// <exception cref="DuckDbException">DuckDB refused the file or a setting.</exception>
    public static DuckDbDatabase Open(string? path = null, IReadOnlyDictionary<string, string>? config = null)
    {
        NativeMethods.EnsureLoaded();
        IntPtr configHandle = IntPtr.Zero;
        try
        {
            if (config is { Count: > 0 })
            {
                if (!NativeMethods.Ok(NativeMethods.CreateConfig(out configHandle)))
                {
                    throw new DuckDbException("DuckDB could not allocate a configuration.");
                }
                foreach (var (name, value) in config)
                {
                    if (!NativeMethods.Ok(NativeMethods.SetConfig(configHandle, name, value)))
                    {
                        throw new DuckDbException($"DuckDB rejected the setting {name} = '{value}' (unknown option or invalid value).");
                    }
                }
            }
            int state = NativeMethods.OpenExt(path, out DatabaseHandle handle, configHandle, out byte* error);
            if (!NativeMethods.Ok(state))
            {
                string message = NativeMethods.Utf8(error) ?? "unknown error";
                if (error is not null)
                {
                    NativeMethods.Free(error);
                }
                handle.Dispose();
                throw new DuckDbException($"Could not open DuckDB database {(path is null ? "(in-memory)" : $"'{path}'")}: {message}");
            }
            return new DuckDbDatabase(handle, path);
        }
        finally
        {
            if (configHandle != IntPtr.Zero)
            {
                NativeMethods.DestroyConfig(ref configHandle);
            }
        }
    }

    /// <summary>Opens a new connection.</summary>
    public DuckDbConnection Connect()
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        if (!NativeMethods.Ok(NativeMethods.Connect(_handle, out ConnectionHandle connection)))
        {
            connection.Dispose();
            throw new DuckDbException("DuckDB could not open a connection.");
        }
        return new DuckDbConnection(connection, ownedDatabase: null);
    }

    /// <summary>Closes the database handle (connections still open keep DuckDB's instance alive until they close).</summary>
    public void Dispose() => _handle.Dispose();
}
