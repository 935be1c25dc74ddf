using Pipeline.Storage;

namespace Pipeline.Ingest.Ctf;

/// <summary>
/// Reads a CTF 1.8 trace (LTTng kernel traces, <c>perf data convert --to-ctf</c> output): the TSDL metadata
/// (packetized or plain text) plus every stream file beside it. Streams are decoded packet by packet and
/// merged by timestamp (ties go to the stream whose file name sorts first), so memory is bounded by the
/// number of streams times the packet size.
/// </summary>
/// <remarks>
/// Events: LTTng names map to canonical ones (<c>syscall_entry_mmap</c> → <c>syscalls:sys_enter_mmap</c>; lttng-modules
/// &lt; 2.6 <c>sys_mmap2</c>/<c>exit_syscall</c> → <c>syscalls:sys_enter_mmap2</c>/<c>sys_exit_mmap2</c> paired per thread;
/// <c>kmem_kmalloc</c> → <c>kmem:kmalloc</c>); field names lose LTTng's leading '_'. The task comes from the stream or
/// event context (<c>tid</c>, <c>procname</c>, <c>pid</c>), perf's <c>perf_tid</c>/<c>perf_pid</c>/<c>perf_cpu</c>, or, for
/// LTTng kernel streams without context, the CPU's last sched_switch (pid -1 and comm "&lt;...&gt;" before the first one);
/// tgid from LTTng statedump and fork events. Timestamps are ns of the clock the event headers map to, offsets included
/// (as babeltrace2 prints them). <c>src_pos</c> is the byte offset of the event in its stream file.
/// Not supported: CTF 2 (JSON metadata), compressed or encrypted metadata, integers wider than 64 bits, floats other
/// than 32/64-bit, per-stream clocks other than the trace's one, packet_seq_num gaps, and the index files (a packet
/// whose packet_size is unusable ends its stream; the other streams are read on).
/// </remarks>
public sealed class CtfReader : ITraceReader
{
    /// <summary>Name of the metadata file in a CTF trace directory.</summary>
    public const string MetadataFileName = "metadata";

    /// <inheritdoc />
    public string Format => "ctf";

    /// <summary>
    /// Reads the trace whose metadata is <paramref name="input"/>; the stream files are the other files in
    /// the directory of <paramref name="fileName"/> (or in <paramref name="fileName"/> itself when it is a directory).
    /// </summary>
    /// <inheritdoc />
    public void Read(Stream input, string fileName, IEventSink sink, IngestDiagnostics diagnostics, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(fileName);
        var metadataPath = ResolveMetadataPath(fileName);
        var metadata = CtfMetadata.Load(input, metadataPath);
        ReadStreams(metadata, metadataPath, sink, diagnostics, cancellationToken);
    }

    /// <summary>Reads the CTF trace in directory <paramref name="path"/> (or whose metadata file is <paramref name="path"/>).</summary>
    /// <param name="path">The trace directory or its <c>metadata</c> file.</param>
    /// <param name="sink">Receives the events in timestamp order.</param>
    /// <param name="diagnostics">Counts damaged packets and discarded events.</param>
    /// <param name="cancellationToken">Stops the read between events.</param>
    /// <exception cref="TraceFormatException">The metadata is not CTF 1.8, or (strict) a packet is damaged.</exception>
    /// <exception cref="FileNotFoundException">There is no metadata file.</exception>
    public static void ReadDirectory(string path, IEventSink sink, IngestDiagnostics diagnostics, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(path);
        var metadataPath = ResolveMetadataPath(path);
        if (!File.Exists(metadataPath))
        {
            throw new FileNotFoundException($"CTF trace '{path}' has no metadata file.", metadataPath);
        }
        CtfMetadata metadata;
        using (var input = File.OpenRead(metadataPath))
        {
            metadata = CtfMetadata.Load(input, metadataPath);
        }
        ReadStreams(metadata, metadataPath, sink, diagnostics, cancellationToken);
    }

    /// <summary>The metadata file of a CTF trace given as its directory or as the file itself.</summary>
    public static string ResolveMetadataPath(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return Directory.Exists(path) ? Path.Combine(path, MetadataFileName) : path;
    }

    /// <summary>Whether <paramref name="path"/> is a directory holding a CTF <c>metadata</c> file.</summary>
    public static bool IsTraceDirectory(string path) =>
        Directory.Exists(path) && File.Exists(Path.Combine(path, MetadataFileName));

    /// <summary>The files of the CTF trace at <paramref name="path"/>: its metadata, then its stream files in name order.</summary>
    public static IReadOnlyList<string> TraceFiles(string path)
    {
        var metadataPath = ResolveMetadataPath(path);
        return [metadataPath, .. StreamFiles(metadataPath)];
    }

    private static string[] StreamFiles(string metadataPath)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(metadataPath)) ?? ".";
        return Directory.GetFiles(directory)
            .Where(f =>
            {
                var name = Path.GetFileName(f);
                return name != MetadataFileName && !name.StartsWith('.') && new FileInfo(f).Length > 0;
            })
            .Order(StringComparer.Ordinal)
            .ToArray();
    }

    private static void ReadStreams(CtfMetadata metadata, string metadataPath, IEventSink sink, IngestDiagnostics diagnostics, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(sink);
        ArgumentNullException.ThrowIfNull(diagnostics);
        diagnostics.Format ??= "ctf";
        diagnostics.PointersHashed = false;
        if (metadata.Env.TryGetValue("kernel_release", out var release) || metadata.Env.TryGetValue("release", out release))
        {
            diagnostics.KernelRelease = release;
        }
        var clock = metadata.DefaultClock();
        if (clock.Name.Length > 0)
        {
            diagnostics.Clock = clock.Name;
        }

        var streamFiles = StreamFiles(metadataPath);

        var tasks = new CtfTaskState();
        var cursors = new List<CtfStreamCursor>(streamFiles.Length);
        try
        {
            var queue = new PriorityQueue<CtfStreamCursor, (long TsNs, int Index)>(streamFiles.Length);
            for (int i = 0; i < streamFiles.Length; i++)
            {
                var cursor = new CtfStreamCursor(streamFiles[i], i, metadata, clock, tasks, diagnostics);
                cursors.Add(cursor);
                if (cursor.MoveNext())
                {
                    queue.Enqueue(cursor, (cursor.Row.TsNs, cursor.Index));
                }
            }
            long written = 0;
            while (queue.TryDequeue(out var cursor, out _))
            {
                if ((++written & 0xFFF) == 0)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                }
                sink.Write(cursor.Row);
                cursor.Row.Clear();
                if (cursor.MoveNext())
                {
                    queue.Enqueue(cursor, (cursor.Row.TsNs, cursor.Index));
                }
            }
            diagnostics.CpuCount = tasks.Cpus.Count;
        }
        finally
        {
            foreach (var cursor in cursors)
            {
                cursor.Dispose();
            }
        }
    }
}
