using System.Runtime.InteropServices;

namespace Pipeline.Ingest.Live;

/// <summary>
/// The few libc calls .NET lacks: non-blocking open and poll (trace_pipe_raw blocks when empty), mount, and kill
/// (.NET sends only SIGKILL/SIGTERM; the recorder resumes a stopped command with SIGCONT).
/// </summary>
internal static partial class Libc
{
    public const int ORdOnly = 0;
    public const int ONonBlock = 0x800; // x86_64/arm64 Linux
    public const int EAgain = 11;
    public const int EIntr = 4;
    public const short PollIn = 1;
    public const int SigCont = 18; // x86_64/arm64 Linux

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short REvents;
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    public static unsafe partial nint Read(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    public static unsafe partial int Poll(PollFd* fds, nuint count, int timeoutMs);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Mount(string source, string target, string fileSystemType, nuint flags, nint data);

    public static string ErrorText(int errno) => $"{Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})";
}
