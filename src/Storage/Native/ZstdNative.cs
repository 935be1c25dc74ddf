using System.Runtime.InteropServices;

namespace Pipeline.Storage.Native;

/// <summary>
/// The entry points of the system's <c>libzstd.so.1</c> that mmtrace uses (ZstdSharp is not served by this
/// machine's NuGet): one-shot frame decompression for trace.dat v7 chunks, streaming decompression for
/// <c>.zst</c> inputs, one-shot compression of Parquet pages.
/// </summary>
public static partial class ZstdNative
{
    public const string Library = "libzstd.so.1";

    /// <summary>zstd's name for an error code.</summary>
    public static string ErrorText(nuint code) => Marshal.PtrToStringAnsi(ZSTD_getErrorName(code)) ?? "unknown zstd error";

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct Buffer
    {
        public byte* Data;
        public nuint Size;
        public nuint Position;
    }

    [LibraryImport(Library)]
    public static partial nint ZSTD_createDCtx();

    [LibraryImport(Library)]
    public static partial nuint ZSTD_freeDCtx(nint context);

    [LibraryImport(Library)]
    public static unsafe partial nuint ZSTD_decompressDCtx(nint context, byte* dst, nuint dstCapacity, byte* src, nuint srcSize);

    [LibraryImport(Library)]
    public static partial nint ZSTD_createDStream();

    [LibraryImport(Library)]
    public static partial nuint ZSTD_freeDStream(nint stream);

    [LibraryImport(Library)]
    public static partial nuint ZSTD_initDStream(nint stream);

    [LibraryImport(Library)]
    public static partial nuint ZSTD_DStreamInSize();

    [LibraryImport(Library)]
    public static partial nuint ZSTD_decompressStream(nint stream, ref Buffer output, ref Buffer input);

    [LibraryImport(Library)]
    public static partial nint ZSTD_createCCtx();

    [LibraryImport(Library)]
    public static partial nuint ZSTD_freeCCtx(nint context);

    [LibraryImport(Library)]
    public static partial nuint ZSTD_compressBound(nuint srcSize);

    [LibraryImport(Library)]
    public static unsafe partial nuint ZSTD_compressCCtx(nint context, byte* dst, nuint dstCapacity, byte* src, nuint srcSize, int compressionLevel);

    [LibraryImport(Library)]
    public static partial uint ZSTD_isError(nuint code);

    [LibraryImport(Library)]
    private static partial nint ZSTD_getErrorName(nuint code);
}
