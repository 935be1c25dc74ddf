using System.Runtime.InteropServices;

namespace Pipeline.Storage.DuckDb;

/// <summary>Owns a <c>duckdb_database</c>.</summary>
internal sealed class DatabaseHandle : SafeHandle
{
    public DatabaseHandle()
        : base(IntPtr.Zero, ownsHandle: true)
    {
    }

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle()
    {
        IntPtr value = handle;
        NativeMethods.Close(ref value);
        return true;
    }
}

/// <summary>Owns a <c>duckdb_connection</c>.</summary>
internal sealed class ConnectionHandle : SafeHandle
{
    public ConnectionHandle()
        : base(IntPtr.Zero, ownsHandle: true)
    {
    }

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle()
    {
        IntPtr value = handle;
        NativeMethods.Disconnect(ref value);
        return true;
    }
}

/// <summary>Owns a <c>duckdb_prepared_statement</c>.</summary>
internal sealed class PreparedHandle : SafeHandle
{
    public PreparedHandle()
        : base(IntPtr.Zero, ownsHandle: true)
    {
    }

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle()
    {
        IntPtr value = handle;
        NativeMethods.DestroyPrepare(ref value);
        return true;
    }
}

/// <summary>Owns a <c>duckdb_appender</c>.</summary>
internal sealed class AppenderHandle : SafeHandle
{
    public AppenderHandle()
        : base(IntPtr.Zero, ownsHandle: true)
    {
    }

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle()
    {
        IntPtr value = handle;
        NativeMethods.AppenderDestroy(ref value);
        return true;
    }
}

/// <summary>Owns a <c>duckdb_data_chunk</c> (one we created or one fetched from a result).</summary>
internal sealed class DataChunkHandle : SafeHandle
{
    public DataChunkHandle(IntPtr chunk)
        : base(IntPtr.Zero, ownsHandle: true)
    {
        SetHandle(chunk);
    }

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle()
    {
        IntPtr value = handle;
        NativeMethods.DestroyDataChunk(ref value);
        return true;
    }
}

/// <summary>
/// Owns a <c>duckdb_result</c>. The struct lives in native memory we allocate, because DuckDB keeps the
/// address of nothing in it but needs it to stay put between fetches and destroy.
/// </summary>
internal sealed unsafe class ResultHandle : SafeHandle
{
    public ResultHandle()
        : base(IntPtr.Zero, ownsHandle: true)
    {
        var result = (DuckDbResultStruct*)NativeMemory.AllocZeroed((nuint)sizeof(DuckDbResultStruct));
        SetHandle((IntPtr)result);
    }

    public override bool IsInvalid => handle == IntPtr.Zero;

    public DuckDbResultStruct* Pointer => (DuckDbResultStruct*)handle;

    protected override bool ReleaseHandle()
    {
        var result = (DuckDbResultStruct*)handle;
        NativeMethods.DestroyResult(result);
        NativeMemory.Free(result);
        return true;
    }
}

/// <summary>A logical type we must destroy; a struct so that hot paths do not allocate.</summary>
internal struct LogicalType : IDisposable
{
    public IntPtr Handle;

    public LogicalType(IntPtr handle)
    {
        Handle = handle;
    }

    public void Dispose()
    {
        if (Handle != IntPtr.Zero)
        {
            NativeMethods.DestroyLogicalType(ref Handle);
            Handle = IntPtr.Zero;
        }
    }
}
