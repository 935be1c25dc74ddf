using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Pipeline.Storage.DuckDb;

/// <summary>DuckDB C API type ids (duckdb.h <c>DUCKDB_TYPE</c>); the numbers are ABI and never change.</summary>
internal enum DuckDbType
{
    Invalid = 0,
    Boolean = 1,
    TinyInt = 2,
    SmallInt = 3,
    Integer = 4,
    BigInt = 5,
    UTinyInt = 6,
    USmallInt = 7,
    UInteger = 8,
    UBigInt = 9,
    Float = 10,
    Double = 11,
    Timestamp = 12,
    Date = 13,
    Time = 14,
    Interval = 15,
    HugeInt = 16,
    Varchar = 17,
    Blob = 18,
    Decimal = 19,
    TimestampS = 20,
    TimestampMs = 21,
    TimestampNs = 22,
    Enum = 23,
    List = 24,
    Struct = 25,
    Map = 26,
    Uuid = 27,
    Union = 28,
    Bit = 29,
    TimeTz = 30,
    TimestampTz = 31,
    UHugeInt = 32,
    Array = 33,
}

/// <summary>duckdb.h <c>duckdb_result</c>: six pointer-sized fields, all but <c>internal_data</c> deprecated.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct DuckDbResultStruct
{
    public ulong DeprecatedColumnCount;
    public ulong DeprecatedRowCount;
    public ulong DeprecatedRowsChanged;
    public IntPtr DeprecatedColumns;
    public IntPtr DeprecatedErrorMessage;
    public IntPtr InternalData;
}

/// <summary>duckdb.h <c>duckdb_list_entry</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct DuckDbListEntry
{
    public ulong Offset;
    public ulong Length;
}

/// <summary>
/// The raw C API. Handles are passed as <see cref="IntPtr"/> on hot vector paths and as SafeHandles where
/// ownership matters; functions returning <c>const char*</c> return memory DuckDB owns.
/// </summary>
internal static unsafe partial class NativeMethods
{
    private const string Library = "duckdb";

    /// <summary>Environment variable naming a libduckdb.so to load instead of the one next to the binaries.</summary>
    public const string LibraryVariable = "MMTRACE_LIBDUCKDB";

    private const int Success = 0;

    static NativeMethods()
    {
        NativeLibrary.SetDllImportResolver(typeof(NativeMethods).Assembly, ResolveLibrary);
    }

    /// <summary>Forces the resolver to be installed (the static constructor runs before any import).</summary>
    public static void EnsureLoaded()
    {
        RuntimeHelpers.RunClassConstructor(typeof(NativeMethods).TypeHandle);
    }

    private static IntPtr ResolveLibrary(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (name != Library)
        {
            return IntPtr.Zero;
        }
        string? fromEnvironment = Environment.GetEnvironmentVariable(LibraryVariable);
        if (!string.IsNullOrEmpty(fromEnvironment))
        {
            if (!File.Exists(fromEnvironment))
            {
                throw new DllNotFoundException(
                    $"{LibraryVariable} points at '{fromEnvironment}', which does not exist. Point it at a libduckdb.so of DuckDB v1.5.x or unset it.");
            }
            return NativeLibrary.Load(fromEnvironment);
        }
        string nextToBinaries = Path.Combine(AppContext.BaseDirectory, "libduckdb.so");
        if (File.Exists(nextToBinaries))
        {
            return NativeLibrary.Load(nextToBinaries);
        }
        string? assemblyDirectory = Path.GetDirectoryName(assembly.Location);
        if (!string.IsNullOrEmpty(assemblyDirectory))
        {
            string nextToAssembly = Path.Combine(assemblyDirectory, "libduckdb.so");
            if (File.Exists(nextToAssembly))
            {
                return NativeLibrary.Load(nextToAssembly);
            }
        }
        throw new DllNotFoundException(
            $"libduckdb.so was not found next to the binaries ({nextToBinaries}). Build the project (the build fetches DuckDB v1.5.6 with npm) or set {LibraryVariable} to the path of a libduckdb.so (DuckDB v1.5.x).");
    }

    public static bool Ok(int state) => state == Success;

    public static string? Utf8(byte* text) => text is null ? null : Marshal.PtrToStringUTF8((IntPtr)text);

    // Database, config, connection.
    [LibraryImport(Library, EntryPoint = "duckdb_create_config")]
    public static partial int CreateConfig(out IntPtr config);

    [LibraryImport(Library, EntryPoint = "duckdb_set_config", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int SetConfig(IntPtr config, string name, string option);

    [LibraryImport(Library, EntryPoint = "duckdb_destroy_config")]
    public static partial void DestroyConfig(ref IntPtr config);

    [LibraryImport(Library, EntryPoint = "duckdb_open_ext", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int OpenExt(string? path, out DatabaseHandle database, IntPtr config, out byte* error);

    [LibraryImport(Library, EntryPoint = "duckdb_close")]
    public static partial void Close(ref IntPtr database);

    [LibraryImport(Library, EntryPoint = "duckdb_connect")]
    public static partial int Connect(DatabaseHandle database, out ConnectionHandle connection);

    [LibraryImport(Library, EntryPoint = "duckdb_disconnect")]
    public static partial void Disconnect(ref IntPtr connection);

    [LibraryImport(Library, EntryPoint = "duckdb_prepared_statement_type")]
    public static partial int PreparedStatementType(PreparedHandle prepared);

    /// <summary><c>DUCKDB_STATEMENT_TYPE_SELECT</c>.</summary>
    public const int StatementTypeSelect = 1;

    [LibraryImport(Library, EntryPoint = "duckdb_interrupt")]
    public static partial void Interrupt(ConnectionHandle connection);

    [LibraryImport(Library, EntryPoint = "duckdb_free")]
    public static partial void Free(void* pointer);

    [LibraryImport(Library, EntryPoint = "duckdb_library_version")]
    public static partial byte* LibraryVersion();

    [LibraryImport(Library, EntryPoint = "duckdb_vector_size")]
    public static partial ulong VectorSize();

    // Statements.
    [LibraryImport(Library, EntryPoint = "duckdb_extract_statements", StringMarshalling = StringMarshalling.Utf8)]
    public static partial ulong ExtractStatements(ConnectionHandle connection, string query, out IntPtr extracted);

    [LibraryImport(Library, EntryPoint = "duckdb_extract_statements_error")]
    public static partial byte* ExtractStatementsError(IntPtr extracted);

    [LibraryImport(Library, EntryPoint = "duckdb_destroy_extracted")]
    public static partial void DestroyExtracted(ref IntPtr extracted);

    [LibraryImport(Library, EntryPoint = "duckdb_prepare_extracted_statement")]
    public static partial int PrepareExtracted(ConnectionHandle connection, IntPtr extracted, ulong index, out PreparedHandle prepared);

    [LibraryImport(Library, EntryPoint = "duckdb_prepare", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Prepare(ConnectionHandle connection, string query, out PreparedHandle prepared);

    [LibraryImport(Library, EntryPoint = "duckdb_prepare_error")]
    public static partial byte* PrepareError(PreparedHandle prepared);

    [LibraryImport(Library, EntryPoint = "duckdb_destroy_prepare")]
    public static partial void DestroyPrepare(ref IntPtr prepared);

    [LibraryImport(Library, EntryPoint = "duckdb_nparams")]
    public static partial ulong ParameterCount(PreparedHandle prepared);

    [LibraryImport(Library, EntryPoint = "duckdb_clear_bindings")]
    public static partial int ClearBindings(PreparedHandle prepared);

    [LibraryImport(Library, EntryPoint = "duckdb_bind_boolean")]
    public static partial int BindBoolean(PreparedHandle prepared, ulong index, [MarshalAs(UnmanagedType.U1)] bool value);

    [LibraryImport(Library, EntryPoint = "duckdb_bind_int32")]
    public static partial int BindInt32(PreparedHandle prepared, ulong index, int value);

    [LibraryImport(Library, EntryPoint = "duckdb_bind_int64")]
    public static partial int BindInt64(PreparedHandle prepared, ulong index, long value);

    [LibraryImport(Library, EntryPoint = "duckdb_bind_uint64")]
    public static partial int BindUInt64(PreparedHandle prepared, ulong index, ulong value);

    [LibraryImport(Library, EntryPoint = "duckdb_bind_double")]
    public static partial int BindDouble(PreparedHandle prepared, ulong index, double value);

    [LibraryImport(Library, EntryPoint = "duckdb_bind_varchar_length")]
    public static partial int BindVarcharLength(PreparedHandle prepared, ulong index, byte* value, ulong length);

    [LibraryImport(Library, EntryPoint = "duckdb_bind_blob")]
    public static partial int BindBlob(PreparedHandle prepared, ulong index, byte* value, ulong length);

    [LibraryImport(Library, EntryPoint = "duckdb_bind_null")]
    public static partial int BindNull(PreparedHandle prepared, ulong index);

    [LibraryImport(Library, EntryPoint = "duckdb_execute_prepared")]
    public static partial int ExecutePrepared(PreparedHandle prepared, DuckDbResultStruct* result);

    [LibraryImport(Library, EntryPoint = "duckdb_pending_prepared_streaming")]
    public static partial int PendingPreparedStreaming(PreparedHandle prepared, out IntPtr pending);

    [LibraryImport(Library, EntryPoint = "duckdb_pending_error")]
    public static partial byte* PendingError(IntPtr pending);

    [LibraryImport(Library, EntryPoint = "duckdb_execute_pending")]
    public static partial int ExecutePending(IntPtr pending, DuckDbResultStruct* result);

    [LibraryImport(Library, EntryPoint = "duckdb_destroy_pending")]
    public static partial void DestroyPending(ref IntPtr pending);

    // Results.
    [LibraryImport(Library, EntryPoint = "duckdb_destroy_result")]
    public static partial void DestroyResult(DuckDbResultStruct* result);

    [LibraryImport(Library, EntryPoint = "duckdb_result_error")]
    public static partial byte* ResultError(DuckDbResultStruct* result);

    [LibraryImport(Library, EntryPoint = "duckdb_column_count")]
    public static partial ulong ColumnCount(DuckDbResultStruct* result);

    [LibraryImport(Library, EntryPoint = "duckdb_column_name")]
    public static partial byte* ColumnName(DuckDbResultStruct* result, ulong column);

    [LibraryImport(Library, EntryPoint = "duckdb_column_logical_type")]
    public static partial IntPtr ColumnLogicalType(DuckDbResultStruct* result, ulong column);

    [LibraryImport(Library, EntryPoint = "duckdb_fetch_chunk")]
    public static partial IntPtr FetchChunk(DuckDbResultStruct result);

    // Logical types.
    [LibraryImport(Library, EntryPoint = "duckdb_create_logical_type")]
    public static partial IntPtr CreateLogicalType(DuckDbType type);

    [LibraryImport(Library, EntryPoint = "duckdb_create_list_type")]
    public static partial IntPtr CreateListType(IntPtr childType);

    [LibraryImport(Library, EntryPoint = "duckdb_destroy_logical_type")]
    public static partial void DestroyLogicalType(ref IntPtr type);

    [LibraryImport(Library, EntryPoint = "duckdb_get_type_id")]
    public static partial DuckDbType GetTypeId(IntPtr type);

    [LibraryImport(Library, EntryPoint = "duckdb_list_type_child_type")]
    public static partial IntPtr ListTypeChildType(IntPtr type);

    [LibraryImport(Library, EntryPoint = "duckdb_array_type_child_type")]
    public static partial IntPtr ArrayTypeChildType(IntPtr type);

    [LibraryImport(Library, EntryPoint = "duckdb_array_type_array_size")]
    public static partial ulong ArrayTypeArraySize(IntPtr type);

    [LibraryImport(Library, EntryPoint = "duckdb_decimal_width")]
    public static partial byte DecimalWidth(IntPtr type);

    [LibraryImport(Library, EntryPoint = "duckdb_decimal_scale")]
    public static partial byte DecimalScale(IntPtr type);

    [LibraryImport(Library, EntryPoint = "duckdb_decimal_internal_type")]
    public static partial DuckDbType DecimalInternalType(IntPtr type);

    // Data chunks and vectors.
    [LibraryImport(Library, EntryPoint = "duckdb_create_data_chunk")]
    public static partial IntPtr CreateDataChunk(IntPtr* types, ulong columnCount);

    [LibraryImport(Library, EntryPoint = "duckdb_destroy_data_chunk")]
    public static partial void DestroyDataChunk(ref IntPtr chunk);

    [LibraryImport(Library, EntryPoint = "duckdb_data_chunk_reset")]
    public static partial void DataChunkReset(IntPtr chunk);

    [LibraryImport(Library, EntryPoint = "duckdb_data_chunk_get_size")]
    public static partial ulong DataChunkGetSize(IntPtr chunk);

    [LibraryImport(Library, EntryPoint = "duckdb_data_chunk_set_size")]
    public static partial void DataChunkSetSize(IntPtr chunk, ulong size);

    [LibraryImport(Library, EntryPoint = "duckdb_data_chunk_get_vector")]
    public static partial IntPtr DataChunkGetVector(IntPtr chunk, ulong column);

    [LibraryImport(Library, EntryPoint = "duckdb_vector_get_data")]
    public static partial void* VectorGetData(IntPtr vector);

    [LibraryImport(Library, EntryPoint = "duckdb_vector_get_validity")]
    public static partial ulong* VectorGetValidity(IntPtr vector);

    [LibraryImport(Library, EntryPoint = "duckdb_vector_ensure_validity_writable")]
    public static partial void VectorEnsureValidityWritable(IntPtr vector);

    [LibraryImport(Library, EntryPoint = "duckdb_vector_assign_string_element_len")]
    public static partial void VectorAssignStringElementLen(IntPtr vector, ulong index, byte* text, ulong length);

    [LibraryImport(Library, EntryPoint = "duckdb_list_vector_get_child")]
    public static partial IntPtr ListVectorGetChild(IntPtr vector);

    [LibraryImport(Library, EntryPoint = "duckdb_list_vector_get_size")]
    public static partial ulong ListVectorGetSize(IntPtr vector);

    [LibraryImport(Library, EntryPoint = "duckdb_list_vector_set_size")]
    public static partial int ListVectorSetSize(IntPtr vector, ulong size);

    [LibraryImport(Library, EntryPoint = "duckdb_list_vector_reserve")]
    public static partial int ListVectorReserve(IntPtr vector, ulong capacity);

    [LibraryImport(Library, EntryPoint = "duckdb_array_vector_get_child")]
    public static partial IntPtr ArrayVectorGetChild(IntPtr vector);

    // Appender.
    [LibraryImport(Library, EntryPoint = "duckdb_appender_create_ext", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int AppenderCreateExt(ConnectionHandle connection, string? catalog, string? schema, string table, out AppenderHandle appender);

    [LibraryImport(Library, EntryPoint = "duckdb_appender_error")]
    public static partial byte* AppenderError(AppenderHandle appender);

    [LibraryImport(Library, EntryPoint = "duckdb_appender_column_count")]
    public static partial ulong AppenderColumnCount(AppenderHandle appender);

    [LibraryImport(Library, EntryPoint = "duckdb_appender_column_type")]
    public static partial IntPtr AppenderColumnType(AppenderHandle appender, ulong column);

    [LibraryImport(Library, EntryPoint = "duckdb_append_data_chunk")]
    public static partial int AppendDataChunk(AppenderHandle appender, IntPtr chunk);

    [LibraryImport(Library, EntryPoint = "duckdb_appender_flush")]
    public static partial int AppenderFlush(AppenderHandle appender);

    [LibraryImport(Library, EntryPoint = "duckdb_appender_close")]
    public static partial int AppenderClose(AppenderHandle appender);

    [LibraryImport(Library, EntryPoint = "duckdb_appender_clear")]
    public static partial int AppenderClear(AppenderHandle appender);

    [LibraryImport(Library, EntryPoint = "duckdb_appender_destroy")]
    public static partial int AppenderDestroy(ref IntPtr appender);
}
