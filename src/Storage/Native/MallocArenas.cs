using System.Runtime.InteropServices;

namespace Pipeline.Storage.Native;

/// <summary>
/// Caps glibc's malloc arenas. glibc gives threads up to eight arenas per core, each reserving 64 MiB of address
/// space; with the runtime's own reservations, DuckDB's worker threads (the out-of-order sort of ingest, replay's
/// staging tables) then run out of address space under <c>ulimit -v 4G</c> long before they use the memory: a
/// 1.2 M-event trace sorted on disk failed with "Failed to allocate block of 262144 bytes" at 330 MB RSS. Two
/// arenas keep the reservations small; the threads that allocate natively (zstd, DuckDB) are few.
/// </summary>
public static partial class MallocArenas
{
    private const int ArenaMax = -8; // M_ARENA_MAX in glibc's malloc.h

    /// <summary>Sets M_ARENA_MAX to <paramref name="arenas"/> on glibc (before threads allocate); elsewhere does nothing.</summary>
    /// <returns>Whether the setting took effect.</returns>
    public static bool Limit(int arenas = 2)
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable("MALLOC_ARENA_MAX") is not null)
        {
            // The user's own setting wins.
            return false;
        }
        try
        {
            return mallopt(ArenaMax, arenas) == 1;
        }
        catch (DllNotFoundException)
        {
            return false; // not glibc (musl has no libc.so.6)
        }
        catch (EntryPointNotFoundException)
        {
            return false;
        }
    }

    [LibraryImport("libc.so.6")]
    private static partial int mallopt(int param, int value);
}
