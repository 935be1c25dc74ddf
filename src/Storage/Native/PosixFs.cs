using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Pipeline.Storage.Native;

/// <summary>
/// The two Linux file-system calls the dataset commit needs and .NET does not expose: <c>renameat2</c> with
/// <c>RENAME_EXCHANGE</c> (swap two directories in one step, so the dataset path never disappears) and
/// <c>flock</c> (one writer per dataset).
/// </summary>
internal static partial class PosixFs
{
    private const int AtFdCwd = -100;
    private const uint RenameExchange = 2;
    private const int LockExclusive = 2;
    private const int LockNonBlocking = 4;

    /// <summary>errno values the callers tell apart.</summary>
    internal const int EWouldBlock = 11;
    internal const int ENoSys = 38;
    internal const int EInval = 22;
    internal const int ENotSup = 95;

    /// <summary>Atomically exchanges <paramref name="a"/> and <paramref name="b"/> (both must exist).</summary>
    /// <returns>0, or the errno of the failure.</returns>
    public static int Exchange(string a, string b)
    {
        if (!OperatingSystem.IsLinux())
        {
            return ENoSys;
        }
        try
        {
            return renameat2(AtFdCwd, a, AtFdCwd, b, RenameExchange) == 0 ? 0 : Marshal.GetLastPInvokeError();
        }
        catch (EntryPointNotFoundException)
        {
            // glibc before 2.28 has no renameat2 wrapper.
            return ENoSys;
        }
    }

    /// <summary>Takes an exclusive, non-blocking <c>flock</c> on an open file.</summary>
    /// <returns>0, or the errno of the failure (<see cref="EWouldBlock"/>: another process holds it).</returns>
    public static int TryLockExclusive(SafeFileHandle handle)
    {
        if (OperatingSystem.IsWindows())
        {
            return 0;
        }
        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            return flock((int)handle.DangerousGetHandle(), LockExclusive | LockNonBlocking) == 0 ? 0 : Marshal.GetLastPInvokeError();
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    /// <summary>
    /// Whether the open file and the name still denote the same inode (device and inode number, the first two
    /// 64-bit fields of <c>struct stat</c> on x86-64 and arm64 alike). False when the name is gone.
    /// </summary>
    public static unsafe bool SameFile(SafeFileHandle handle, string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            return true;
        }
        ulong* open = stackalloc ulong[32];
        ulong* named = stackalloc ulong[32];
        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            if (fstat((int)handle.DangerousGetHandle(), open) != 0)
            {
                return false;
            }
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
        return stat(path, named) == 0 && open[0] == named[0] && open[1] == named[1];
    }

    /// <summary>Whether a process with this id exists (Linux: /proc; elsewhere assumed alive, so nothing is swept).</summary>
    public static bool ProcessExists(int pid) => pid <= 0 || !OperatingSystem.IsLinux() || Directory.Exists("/proc/" + pid.ToString(System.Globalization.CultureInfo.InvariantCulture));

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int renameat2(int olddirfd, string oldpath, int newdirfd, string newpath, uint flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int flock(int fd, int operation);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int fstat(int fd, ulong* buffer);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int stat(string path, ulong* buffer);
}
