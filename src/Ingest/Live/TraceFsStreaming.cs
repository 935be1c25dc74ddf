using System.Globalization;

namespace Pipeline.Ingest.Live;

/// <summary>
/// Drains every CPU's <c>trace_pipe_raw</c> of an instance into <c>cpuN.raw</c> files while the instance records, as
/// <c>trace-cmd record</c> does: the ring buffer then only has to absorb what arrives between two reads, not the
/// whole recording, and memory stays bounded (pages go to disk as they are read). One thread per CPU polls its pipe
/// (woken when the buffer reaches <c>buffer_percent</c>, else every <see cref="PollIntervalMs"/>) and reads whole
/// pages, non-blocking, until the pipe is empty. <see cref="Finish"/>, called after tracing was turned off, makes each
/// thread drain what is left and returns the files; <see cref="Abort"/> (Ctrl-C, SIGTERM, errors) stops the threads
/// without draining and closes the pipes, so the instance can be removed (tracefs refuses while a pipe is open).
/// </summary>
public sealed class TraceFsStreaming : IDisposable
{
    /// <summary>How long a reader waits for its pipe to become readable before reading what there is anyway.</summary>
    public const int PollIntervalMs = 200;

    private readonly Lock _lock = new();
    private readonly List<Reader> _readers = [];
    private volatile bool _stopping;
    private volatile bool _aborting;
    private bool _finished;

    private TraceFsStreaming()
    {
    }

    /// <summary>Per-CPU capture files, index = CPU.</summary>
    public IReadOnlyList<string> RawCpuPaths => [.. _readers.Select(r => r.OutputPath)];

    /// <summary>Opens every CPU's pipe of <paramref name="instance"/> and starts its reader, writing into <paramref name="directory"/>.</summary>
    /// <exception cref="IOException">A pipe cannot be opened or a file created; nothing is left running.</exception>
    internal static TraceFsStreaming Start(TraceFsInstance instance, string directory)
    {
        Directory.CreateDirectory(directory);
        var streaming = new TraceFsStreaming();
        try
        {
            int cpus = instance.CpuCount;
            for (int cpu = 0; cpu < cpus; cpu++)
            {
                string pipe = System.IO.Path.Combine(instance.Path, "per_cpu", string.Create(CultureInfo.InvariantCulture, $"cpu{cpu}"), "trace_pipe_raw");
                string output = System.IO.Path.Combine(directory, string.Create(CultureInfo.InvariantCulture, $"cpu{cpu}.raw"));
                streaming._readers.Add(new Reader(streaming, pipe, output));
            }
            foreach (var reader in streaming._readers)
            {
                reader.Thread.Start();
            }
        }
        catch
        {
            streaming.Abort();
            throw;
        }
        return streaming;
    }

    /// <summary>
    /// Drains what is left (call after tracing was turned off), stops the readers and closes the pipes and files.
    /// </summary>
    /// <returns>The per-CPU files, index = CPU.</returns>
    /// <exception cref="IOException">A reader failed (a read or a write), or the recording was aborted.</exception>
    public IReadOnlyList<string> Finish()
    {
        lock (_lock)
        {
            if (_aborting)
            {
                throw new IOException("The recording was aborted before its buffers were drained.");
            }
            _stopping = true;
            foreach (var reader in _readers)
            {
                reader.Thread.Join();
            }
            _finished = true;
            CloseAll();
            if (_readers.FirstOrDefault(r => r.Error is not null) is { } failed)
            {
                throw new IOException($"Streaming {failed.PipePath} into {failed.OutputPath} failed: {failed.Error!.Message}", failed.Error);
            }
            return RawCpuPaths;
        }
    }

    /// <summary>Stops the readers without draining and closes the pipes (the files keep what was read). Safe to call more than once.</summary>
    public void Abort()
    {
        _aborting = true;
        _stopping = true;
        lock (_lock)
        {
            foreach (var reader in _readers)
            {
                if (reader.Thread.IsAlive)
                {
                    // Each reader looks at the flags at least every PollIntervalMs; a reader stuck in a write to a full
                    // disk is left to the process exit rather than hanging the abort.
                    reader.Thread.Join(TimeSpan.FromSeconds(10));
                }
            }
            CloseAll();
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (!_finished)
        {
            Abort();
        }
    }

    private void CloseAll()
    {
        foreach (var reader in _readers)
        {
            if (!reader.Thread.IsAlive)
            {
                reader.Close();
            }
        }
    }

    private sealed class Reader
    {
        private readonly TraceFsStreaming _owner;
        private readonly FileStream _output;
        private int _fd;

        public Reader(TraceFsStreaming owner, string pipePath, string outputPath)
        {
            _owner = owner;
            PipePath = pipePath;
            OutputPath = outputPath;
            _fd = Libc.Open(pipePath, Libc.ORdOnly | Libc.ONonBlock);
            if (_fd < 0)
            {
                int errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
                throw new IOException($"Cannot open {pipePath}: {Libc.ErrorText(errno)}.");
            }
            try
            {
                _output = new FileStream(outputPath, FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 16);
            }
            catch
            {
                _ = Libc.Close(_fd);
                _fd = -1;
                throw;
            }
            Thread = new Thread(Run) { IsBackground = true, Name = "trace_pipe_raw " + pipePath };
        }

        public string PipePath { get; }

        public string OutputPath { get; }

        public Thread Thread { get; }

        public Exception? Error { get; private set; }

        public void Close()
        {
            if (_fd >= 0)
            {
                _ = Libc.Close(_fd);
                _fd = -1;
            }
            _output.Dispose();
        }

        private unsafe void Run()
        {
            var buffer = new byte[1 << 16];
            try
            {
                while (!_owner._aborting)
                {
                    // Read the flag before the drain: a drain that starts after Finish set it sees everything recorded
                    // before tracing was turned off (Finish is called after that).
                    bool last = _owner._stopping;
                    if (!last)
                    {
                        var poll = new Libc.PollFd { Fd = _fd, Events = Libc.PollIn };
                        int ready = Libc.Poll(&poll, 1, PollIntervalMs);
                        if (ready < 0)
                        {
                            int errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
                            if (errno != Libc.EIntr)
                            {
                                throw new IOException($"poll on {PipePath} failed: {Libc.ErrorText(errno)}.");
                            }
                        }
                    }
                    Drain(buffer);
                    if (last)
                    {
                        break;
                    }
                }
                _output.Flush();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Error = e;
            }
        }

        private void Drain(byte[] buffer) => DrainPipe(_fd, buffer, _output, long.MaxValue, PipePath, () => _owner._aborting);

    }

    /// <summary>
    /// Reads pages from a non-blocking <c>trace_pipe_raw</c> (one per read, as the kernel hands them out) into
    /// <paramref name="destination"/> until it is empty, <paramref name="limit"/> bytes were copied or <paramref name="stop"/> says so.
    /// </summary>
    /// <returns>Bytes copied.</returns>
    internal static unsafe long DrainPipe(int fd, byte[] buffer, Stream destination, long limit, string path, Func<bool>? stop = null)
    {
        long total = 0;
        while (total < limit && (stop is null || !stop()))
        {
            nint n;
            fixed (byte* p = buffer)
            {
                n = Libc.Read(fd, p, (nuint)buffer.Length);
            }
            if (n < 0)
            {
                int errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
                if (errno == Libc.EIntr)
                {
                    continue;
                }
                if (errno == Libc.EAgain)
                {
                    break;
                }
                throw new IOException($"Reading {path} failed after {total} bytes: {Libc.ErrorText(errno)}.");
            }
            if (n == 0)
            {
                break;
            }
            destination.Write(buffer, 0, (int)n);
            total += n;
        }
        return total;
    }
}
