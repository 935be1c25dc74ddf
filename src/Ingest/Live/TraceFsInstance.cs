using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.IO.Enumeration;
using System.Text;

namespace Pipeline.Ingest.Live;

/// <summary>
/// A private ftrace instance (<c>instances/mmtrace-&lt;pid&gt;-&lt;random&gt;</c>) with its own ring buffer, so
/// recordings never touch the top-level tracing settings and concurrent recordings do not collide. The
/// instance is removed on <see cref="Dispose"/>, when setting it up fails, and on Ctrl-C or process exit.
/// </summary>
public sealed class TraceFsInstance : IDisposable
{
    /// <summary>Every instance this class creates has a name starting with this.</summary>
    public const string NamePrefix = "mmtrace-";

    private static readonly string[] s_candidateRoots = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];
    private static readonly ConcurrentDictionary<TraceFsInstance, byte> s_live = new();
    private static readonly Lazy<(bool Ok, string Reason)> s_availability = new(Probe);
    private static int s_hooksInstalled;
    private static System.Runtime.InteropServices.PosixSignalRegistration[] s_signalHooks = [];

    private readonly Lock _removeLock = new();
    private bool _removed;
    private TraceFsStreaming? _streaming;

    private TraceFsInstance(string root, string name, IReadOnlyList<string> enabled, IReadOnlyList<string> missing)
    {
        TraceFsRoot = root;
        Name = name;
        Path = System.IO.Path.Combine(root, "instances", name);
        EnabledEvents = enabled;
        MissingEvents = missing;
    }

    /// <summary>The tracefs mount point.</summary>
    public string TraceFsRoot { get; }

    /// <summary>Instance name (directory under <c>instances/</c>).</summary>
    public string Name { get; }

    /// <summary>Instance directory.</summary>
    public string Path { get; }

    /// <summary>Enabled events, <c>system:name</c>, globs expanded, sorted.</summary>
    public IReadOnlyList<string> EnabledEvents { get; }

    /// <summary>Requested events or globs this kernel lacks (only with <see cref="TraceFsOptions.SkipMissingEvents"/>).</summary>
    public IReadOnlyList<string> MissingEvents { get; }

    /// <summary>Whether the instance directory is gone (disposed, or removed by <c>trace-cmd extract -B</c>).</summary>
    public bool IsRemoved
    {
        get
        {
            lock (_removeLock)
            {
                return _removed || !Directory.Exists(Path);
            }
        }
    }

    /// <summary>Number of per-CPU buffers.</summary>
    public int CpuCount => Directory.GetDirectories(System.IO.Path.Combine(Path, "per_cpu"), "cpu*").Length;

    /// <summary>
    /// Whether private instances can be created here: Linux, root, tracefs mounted (mounted on demand) and
    /// writable. The probe creates and removes one instance; its result is cached.
    /// </summary>
    public static bool IsAvailable(out string reason)
    {
        (bool ok, reason) = s_availability.Value;
        return ok;
    }

    /// <summary>The tracefs mount point, mounting tracefs at <c>/sys/kernel/tracing</c> when it is not mounted.</summary>
    /// <exception cref="InvalidOperationException">Not Linux, not root, or tracefs cannot be found or mounted.</exception>
    public static string FindOrMountTraceFs()
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new InvalidOperationException("tracefs exists only on Linux.");
        }
        foreach (var root in s_candidateRoots)
        {
            if (File.Exists(System.IO.Path.Combine(root, "trace")) && Directory.Exists(System.IO.Path.Combine(root, "instances")))
            {
                return root;
            }
        }
        if (!Environment.IsPrivilegedProcess)
        {
            throw new InvalidOperationException("tracefs is not mounted and mounting it needs root (run as root, or mount -t tracefs nodev /sys/kernel/tracing).");
        }
        const string Target = "/sys/kernel/tracing";
        if (Libc.Mount("nodev", Target, "tracefs", 0, 0) != 0)
        {
            int errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            throw new InvalidOperationException($"tracefs is not mounted and 'mount -t tracefs nodev {Target}' failed: {Libc.ErrorText(errno)}.");
        }
        return Target;
    }

    /// <summary>
    /// Creates a private instance, configures it (buffer size, clock, record-tgid, irq-info), enables
    /// <paramref name="events"/> (<c>system:name</c> or globs such as <c>mmap_lock:*</c>) and leaves it stopped;
    /// call <see cref="Start"/>.
    /// </summary>
    /// <exception cref="ArgumentException">An event does not exist on this kernel (and skipping was not asked for).</exception>
    /// <exception cref="InvalidOperationException">tracefs is unavailable or a setting was refused; nothing is left behind.</exception>
    public static TraceFsInstance Create(IEnumerable<string> events, TraceFsOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(events);
        options ??= new TraceFsOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(options.BufferSizeKb, 4);
        if (!Environment.IsPrivilegedProcess)
        {
            throw new InvalidOperationException("Creating a tracefs instance needs root.");
        }
        string root = FindOrMountTraceFs();
        var (enabled, missing) = ResolveEvents(root, events);
        if (missing.Count > 0 && !options.SkipMissingEvents)
        {
            throw MissingEventsError(root, missing, nameof(events));
        }

        InstallExitHooks();
        SweepDeadInstances(root);
        string name = string.Create(CultureInfo.InvariantCulture, $"{NamePrefix}{Environment.ProcessId}-{Random.Shared.Next():x8}");
        var instance = new TraceFsInstance(root, name, enabled, missing);
        try
        {
            Directory.CreateDirectory(System.IO.Path.Combine(root, "instances", name));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"Cannot create tracefs instance {instance.Path}: {ex.Message}", ex);
        }
        s_live.TryAdd(instance, 0);
        try
        {
            instance.Configure(options);
        }
        catch
        {
            instance.Dispose();
            throw;
        }
        return instance;
    }

    /// <summary>Starts recording (<c>tracing_on</c> = 1).</summary>
    public void Start() => WriteControl("tracing_on", "1");

    /// <summary>Stops recording (<c>tracing_on</c> = 0); the buffer keeps its events.</summary>
    public void Stop() => WriteControl("tracing_on", "0");

    /// <summary>Restricts events to these pids (<c>set_event_pid</c>); with <paramref name="followForks"/> their children are added as they fork.</summary>
    public void SetEventPidFilter(IEnumerable<int> pids, bool followForks)
    {
        WriteControl("options/event-fork", followForks ? "1" : "0");
        WriteControl("set_event_pid", string.Join(' ', pids.Select(p => p.ToString(CultureInfo.InvariantCulture))));
    }

    /// <summary>
    /// Keeps what <paramref name="tids"/> (task ids: threads) do themselves out of <paramref name="events"/>: each event's
    /// <c>filter</c> becomes <c>common_pid != …</c>. Only for events that fire in the context of the task they are about
    /// (syscalls, user page faults, exec): <c>set_event_notrace_pid</c> would instead drop every event of the instance
    /// while such a task is current, interrupts and softirqs included (an RCU callback freeing another process's page
    /// table, a remote TLB flush), without counting them.
    /// </summary>
    public void ExcludeTasksFrom(IEnumerable<string> events, IEnumerable<int> tids)
    {
        string filter = string.Join(" && ", tids.Select(t => "common_pid != " + t.ToString(CultureInfo.InvariantCulture)));
        if (filter.Length == 0)
        {
            return;
        }
        foreach (var evt in events)
        {
            var (system, name) = Split(evt);
            WriteControl($"events/{system}/{name}/filter", filter);
        }
    }

    /// <summary>The instance's <c>trace</c> text (does not consume the buffer).</summary>
    public string ReadTraceText() => File.ReadAllText(InstanceFile("trace"), Encoding.UTF8);

    /// <summary>Streams the instance's <c>trace</c> text to a file.</summary>
    public void CopyTraceText(string path)
    {
        using var source = new FileStream(InstanceFile("trace"), FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16);
        using var target = File.Create(path);
        source.CopyTo(target);
    }

    /// <summary>
    /// Drains <c>per_cpu/cpuN/trace_pipe_raw</c> (whole ring-buffer pages, as the kernel hands them out) into
    /// <paramref name="destination"/>, without blocking once it is empty. Consumes the events.
    /// </summary>
    /// <returns>Bytes copied.</returns>
    public long CopyCpuRaw(int cpu, Stream destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        string path = InstanceFile($"per_cpu/cpu{cpu.ToString(CultureInfo.InvariantCulture)}/trace_pipe_raw");
        int fd = Libc.Open(path, Libc.ORdOnly | Libc.ONonBlock);
        if (fd < 0)
        {
            int errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            throw new IOException($"Cannot open {path}: {Libc.ErrorText(errno)}.");
        }
        try
        {
            // The buffer holds at most buffer_size_kb per CPU; the bound stops a runaway reader if tracing is still on.
            long limit = ((long)ReadBufferSizeKb() * 1024 * 2) + (1 << 20);
            return TraceFsStreaming.DrainPipe(fd, new byte[1 << 16], destination, limit, path);
        }
        finally
        {
            _ = Libc.Close(fd);
        }
    }

    /// <summary><c>events/header_page</c>: the layout of a ring-buffer page header.</summary>
    public string ReadHeaderPage() => File.ReadAllText(RootFile("events/header_page"), Encoding.UTF8);

    /// <summary><c>events/header_event</c>: the layout of an event header.</summary>
    public string ReadHeaderEvent() => File.ReadAllText(RootFile("events/header_event"), Encoding.UTF8);

    /// <summary>The <c>format</c> file of <paramref name="systemAndName"/> (<c>system:name</c>).</summary>
    public string ReadFormat(string systemAndName)
    {
        var (system, name) = Split(systemAndName);
        return File.ReadAllText(RootFile($"events/{system}/{name}/format"), Encoding.UTF8);
    }

    /// <summary>Top-level <c>saved_cmdlines</c> ("PID COMM" lines; shared by all instances).</summary>
    public string ReadSavedCmdlines() => File.ReadAllText(RootFile("saved_cmdlines"), Encoding.UTF8);

    /// <summary>Top-level <c>saved_tgids</c> ("PID TGID" lines), or null when the kernel has none.</summary>
    public string? ReadSavedTgids()
    {
        var path = RootFile("saved_tgids");
        return File.Exists(path) ? File.ReadAllText(path, Encoding.UTF8) : null;
    }

    /// <summary>Per-CPU <c>stats</c> (entries, overruns, lost events).</summary>
    public IReadOnlyList<TraceCpuStats> ReadStats()
    {
        var stats = new List<TraceCpuStats>();
        for (int cpu = 0; cpu < CpuCount; cpu++)
        {
            var values = new Dictionary<string, long>(StringComparer.Ordinal);
            foreach (var line in File.ReadAllLines(InstanceFile($"per_cpu/cpu{cpu.ToString(CultureInfo.InvariantCulture)}/stats")))
            {
                int colon = line.IndexOf(':', StringComparison.Ordinal);
                if (colon > 0 && long.TryParse(line.AsSpan(colon + 1).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out long value))
                {
                    values[line[..colon]] = value;
                }
            }
            long Get(string key) => values.TryGetValue(key, out long v) ? v : 0;
            stats.Add(new TraceCpuStats(cpu, Get("entries"), Get("overrun"), Get("commit overrun"), Get("bytes"), Get("dropped events"), Get("read events")));
        }
        return stats;
    }

    /// <summary>
    /// Saves a stopped recording into <paramref name="directory"/>: <c>trace.txt</c>, per-CPU stats, header
    /// files and the format of every enabled event under <c>formats/</c> (<c>header_page</c>, <c>header_event</c>,
    /// <c>system/name.format</c>: the layout <c>TraceEventFormats.FromDirectory</c> reads), <c>saved_cmdlines</c>,
    /// <c>saved_tgids</c>, then <c>cpuN.raw</c> (last, because reading the raw pipes consumes the buffer).
    /// Everything must fit in the ring buffer; to record for longer, see <see cref="StartStreaming"/>.
    /// </summary>
    public TraceFsCapture Capture(string directory)
    {
        Directory.CreateDirectory(directory);
        Stop();
        string text = System.IO.Path.Combine(directory, "trace.txt");
        CopyTraceText(text);
        var stats = ReadStats();
        File.WriteAllLines(System.IO.Path.Combine(directory, "stats.txt"),
            stats.Select(s => string.Create(CultureInfo.InvariantCulture, $"cpu{s.Cpu} entries={s.Entries} overrun={s.Overrun} commit_overrun={s.CommitOverrun} bytes={s.Bytes} dropped={s.DroppedEvents} read={s.ReadEvents}")));
        var metadata = SaveMetadata(directory, EnabledEvents);
        var raw = new List<string>();
        for (int cpu = 0; cpu < stats.Count; cpu++)
        {
            string path = System.IO.Path.Combine(directory, string.Create(CultureInfo.InvariantCulture, $"cpu{cpu}.raw"));
            using (var file = File.Create(path))
            {
                CopyCpuRaw(cpu, file);
            }
            raw.Add(path);
        }
        return new TraceFsCapture(directory, text, raw, metadata.HeaderPagePath, metadata.HeaderEventPath, metadata.FormatPaths,
            metadata.SavedCmdlinesPath, metadata.SavedTgidsPath, stats);
    }

    /// <summary>
    /// Writes what reading raw pages needs besides the pages into <paramref name="directory"/>: header files and the
    /// format of each of <paramref name="events"/> under <c>formats/</c> (the layout <c>TraceEventFormats.FromDirectory</c>
    /// reads), <c>saved_cmdlines</c> and <c>saved_tgids</c> (top-level files, shared by all instances).
    /// </summary>
    public TraceFsMetadata SaveMetadata(string directory, IEnumerable<string> events)
    {
        ArgumentNullException.ThrowIfNull(events);
        Directory.CreateDirectory(System.IO.Path.Combine(directory, "formats"));
        string headerPage = System.IO.Path.Combine(directory, "formats", "header_page");
        File.WriteAllText(headerPage, ReadHeaderPage());
        string headerEvent = System.IO.Path.Combine(directory, "formats", "header_event");
        File.WriteAllText(headerEvent, ReadHeaderEvent());
        var formats = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var evt in events)
        {
            var (system, name) = Split(evt);
            string path = System.IO.Path.Combine(directory, "formats", system, name + ".format");
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
            File.WriteAllText(path, ReadFormat(evt));
            formats[evt] = path;
        }
        string cmdlines = System.IO.Path.Combine(directory, "saved_cmdlines");
        File.WriteAllText(cmdlines, ReadSavedCmdlines());
        string? tgids = null;
        if (ReadSavedTgids() is { } tgidText)
        {
            tgids = System.IO.Path.Combine(directory, "saved_tgids");
            File.WriteAllText(tgids, tgidText);
        }
        return new TraceFsMetadata(headerPage, headerEvent, formats, cmdlines, tgids);
    }

    /// <summary>
    /// Starts draining every CPU's <c>trace_pipe_raw</c> into <c>cpuN.raw</c> under <paramref name="directory"/> while
    /// the instance records (see <see cref="TraceFsStreaming"/>); the readers are woken when a CPU's buffer is
    /// <paramref name="wakePercent"/> percent full (<c>buffer_percent</c>, where the kernel has it) or every
    /// <see cref="TraceFsStreaming.PollIntervalMs"/> ms. Disposing the instance aborts the readers first.
    /// </summary>
    public TraceFsStreaming StartStreaming(string directory, int wakePercent = 10)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(wakePercent, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(wakePercent, 100);
        if (File.Exists(InstanceFile("buffer_percent")))
        {
            // The kernel's default (50) leaves only half the buffer for the burst that arrives while a woken reader
            // waits for a CPU; the recorder's readers are cheap to wake.
            WriteControl("buffer_percent", wakePercent.ToString(CultureInfo.InvariantCulture));
        }
        lock (_removeLock)
        {
            if (_removed)
            {
                throw new InvalidOperationException($"Instance {Path} was removed.");
            }
            if (_streaming is not null)
            {
                throw new InvalidOperationException($"Instance {Path} is already streaming.");
            }
            _streaming = TraceFsStreaming.Start(this, directory);
            return _streaming;
        }
    }

    /// <summary>Stops recording and removes the instance directory. Safe to call more than once.</summary>
    /// <exception cref="IOException">The kernel refused to remove the instance (a reader still has a pipe open).</exception>
    public void Dispose()
    {
        lock (_removeLock)
        {
            if (_removed)
            {
                return;
            }
            s_live.TryRemove(this, out _);
            // tracefs refuses to remove an instance while a reader has one of its pipes open.
            _streaming?.Abort();
            if (!Directory.Exists(Path))
            {
                _removed = true;
                return;
            }
            try
            {
                WriteControl("tracing_on", "0");
            }
            catch (InvalidOperationException)
            {
                // Removal below is what matters; a failed stop must not keep the instance alive.
            }
            IOException? last = null;
            for (int attempt = 0; attempt < 5; attempt++)
            {
                try
                {
                    // rmdir on an instance directory tears the whole instance down (tracefs allows it while non-empty).
                    Directory.Delete(Path, recursive: false);
                    _removed = true;
                    return;
                }
                catch (IOException ex)
                {
                    last = ex;
                    if (!Directory.Exists(Path))
                    {
                        _removed = true;
                        return;
                    }
                    Thread.Sleep(20 * (attempt + 1));
                }
            }
            throw new IOException($"Could not remove tracefs instance {Path}: {last?.Message}", last);
        }
    }

    /// <summary>Removes every instance still alive; run on Ctrl-C and process exit.</summary>
    internal static void RemoveAllLive()
    {
        foreach (var instance in s_live.Keys)
        {
            try
            {
                instance.Dispose();
            }
            catch (IOException)
            {
                // Exiting: nothing more can be done, and other instances must still be removed.
            }
        }
    }

    private static void InstallExitHooks()
    {
        if (Interlocked.Exchange(ref s_hooksInstalled, 1) == 0)
        {
            Console.CancelKeyPress += (_, _) => RemoveAllLive();
            AppDomain.CurrentDomain.ProcessExit += (_, _) => RemoveAllLive();
            if (!OperatingSystem.IsWindows())
            {
                // As on SIGINT: a kill or a closed terminal (test harnesses, systemd, ssh) must not leave a 64 MiB
                // per CPU buffer behind. Kept for the life of the process, like the hooks above.
                s_signalHooks =
                [
                    System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, _ => RemoveAllLive()),
                    System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGHUP, _ => RemoveAllLive()),
                ];
            }
        }
    }

    /// <summary>
    /// Removes <c>instances/mmtrace-&lt;pid&gt;-*</c> whose process is gone: what a SIGKILLed recorder left (no hook
    /// runs on SIGKILL). An instance of a live process, or a name of another shape, is never touched.
    /// </summary>
    /// <returns>The instances removed.</returns>
    internal static IReadOnlyList<string> SweepDeadInstances(string root)
    {
        var removed = new List<string>();
        string instances = System.IO.Path.Combine(root, "instances");
        if (!Directory.Exists(instances))
        {
            return removed;
        }
        foreach (string directory in Directory.EnumerateDirectories(instances, NamePrefix + "*"))
        {
            string[] parts = System.IO.Path.GetFileName(directory)[NamePrefix.Length..].Split('-');
            if (parts.Length != 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int pid)
                || pid == Environment.ProcessId || Directory.Exists(System.IO.Path.Combine("/proc", parts[0])))
            {
                continue;
            }
            try
            {
                Directory.Delete(directory, recursive: false);
                removed.Add(directory);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Busy (a reader still has its trace_pipe open): left for a later run.
            }
        }
        return removed;
    }

    private void Configure(TraceFsOptions options)
    {
        // A new instance starts with tracing on; keep it off until the caller starts it.
        WriteControl("tracing_on", "0");
        WriteControl("buffer_size_kb", options.BufferSizeKb.ToString(CultureInfo.InvariantCulture));
        string clocks = File.ReadAllText(InstanceFile("trace_clock"));
        if (!clocks.Replace("[", "", StringComparison.Ordinal).Replace("]", "", StringComparison.Ordinal)
                .Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Contains(options.Clock, StringComparer.Ordinal))
        {
            throw new ArgumentException($"Trace clock '{options.Clock}' is not offered by this kernel (trace_clock lists: {clocks.Trim()}).", nameof(options));
        }
        WriteControl("trace_clock", options.Clock);
        WriteControl("options/record-tgid", options.RecordTgid ? "1" : "0");
        WriteControl("options/irq-info", options.IrqInfo ? "1" : "0");
        foreach (var evt in EnabledEvents)
        {
            var (system, name) = Split(evt);
            WriteControl($"events/{system}/{name}/enable", "1");
        }
        // Nothing recorded during setup.
        WriteControl("trace", "");
    }

    /// <summary>The error for requested events or globs that match nothing under <c>events/</c>.</summary>
    internal static ArgumentException MissingEventsError(string root, IReadOnlyList<string> missing, string parameter) => new(
        $"Event{(missing.Count > 1 ? "s" : "")} {string.Join(", ", missing.Select(m => $"'{m}'"))} not found under {root}/events on kernel {KernelRelease()} " +
        "(misspelt, or not built into this kernel).", parameter);

    /// <summary>Expands globs against <c>events/</c>; requests matching nothing are returned as missing.</summary>
    internal static (IReadOnlyList<string> Enabled, IReadOnlyList<string> Missing) ResolveEvents(string root, IEnumerable<string> requested)
    {
        var enabled = new SortedSet<string>(StringComparer.Ordinal);
        var missing = new List<string>();
        foreach (var request in requested)
        {
            var (system, pattern) = Split(request);
            string systemDir = System.IO.Path.Combine(root, "events", system);
            var matches = Directory.Exists(systemDir)
                ? Directory.GetDirectories(systemDir)
                    .Select(System.IO.Path.GetFileName)
                    .Where(n => n is not null && FileSystemName.MatchesSimpleExpression(pattern, n, ignoreCase: false)
                        && File.Exists(System.IO.Path.Combine(systemDir, n, "format")))
                    .ToList()
                : [];
            if (matches.Count == 0)
            {
                missing.Add(request);
                continue;
            }
            foreach (var name in matches)
            {
                enabled.Add($"{system}:{name}");
            }
        }
        return (enabled.ToList(), missing);
    }

    private static (string System, string Name) Split(string systemAndName)
    {
        int colon = systemAndName.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 || colon == systemAndName.Length - 1 || systemAndName.AsSpan(colon + 1).Contains(':') || systemAndName.Contains('/', StringComparison.Ordinal))
        {
            throw new ArgumentException($"Expected an event as 'system:name' (or a glob such as 'mmap_lock:*'), found '{systemAndName}'.", nameof(systemAndName));
        }
        return (systemAndName[..colon], systemAndName[(colon + 1)..]);
    }

    private static string KernelRelease()
    {
        try
        {
            return File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
        }
        catch (IOException)
        {
            return Environment.OSVersion.Version.ToString();
        }
    }

    private string InstanceFile(string relative) => System.IO.Path.Combine(Path, relative);

    private string RootFile(string relative) => System.IO.Path.Combine(TraceFsRoot, relative);

    private int ReadBufferSizeKb()
    {
        var text = File.ReadAllText(InstanceFile("buffer_size_kb")).Trim();
        int end = 0;
        while (end < text.Length && char.IsAsciiDigit(text[end]))
        {
            end++;
        }
        return int.TryParse(text.AsSpan(0, end), NumberStyles.None, CultureInfo.InvariantCulture, out int kb) ? kb : 1 << 16;
    }

    private void WriteControl(string relative, string value)
    {
        string path = InstanceFile(relative);
        try
        {
            // Open without O_TRUNC/O_CREAT: tracefs control files take one write, like 'echo value > file'.
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, 1);
            var bytes = Encoding.UTF8.GetBytes(value + "\n");
            stream.Write(bytes);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"Writing '{value}' to {path} failed: {ex.Message}", ex);
        }
    }

    [SuppressMessage("Design", "CA1031", Justification = "The probe reports every failure as a reason.")]
    private static (bool, string) Probe()
    {
        if (!OperatingSystem.IsLinux())
        {
            return (false, "tracefs exists only on Linux.");
        }
        if (!Environment.IsPrivilegedProcess)
        {
            return (false, "not running as root: tracefs instances need root.");
        }
        string root;
        try
        {
            root = FindOrMountTraceFs();
        }
        catch (InvalidOperationException ex)
        {
            return (false, ex.Message);
        }
        string probe = System.IO.Path.Combine(root, "instances", string.Create(CultureInfo.InvariantCulture, $"{NamePrefix}{Environment.ProcessId}-probe"));
        try
        {
            Directory.CreateDirectory(probe);
            Directory.Delete(probe, recursive: false);
        }
        catch (Exception ex)
        {
            return (false, $"tracefs at {root} is not writable (creating an instance failed: {ex.Message}).");
        }
        return (true, $"tracefs at {root} is writable.");
    }
}
