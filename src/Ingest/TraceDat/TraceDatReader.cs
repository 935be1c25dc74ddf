using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Pipeline.Storage;

namespace Pipeline.Ingest.TraceDat;

/// <summary>What a trace.dat said about itself, besides the events.</summary>
public sealed class TraceDatSummary
{
    /// <summary>File version (6 or 7).</summary>
    public int Version { get; internal set; }

    /// <summary>Compression algorithm (<c>none</c>, <c>zstd</c>, <c>zlib</c>).</summary>
    public string Compression { get; internal set; } = "none";

    /// <summary>Page (sub-buffer) size from the file header.</summary>
    public int PageSize { get; internal set; }

    /// <summary>Buffers with data, in file order (<c>""</c> is the top-level buffer).</summary>
    public IReadOnlyList<string> Buffers { get; internal set; } = [];

    /// <summary>Events written to the sink.</summary>
    public long EventCount { get; internal set; }

    /// <summary>Lost events per CPU, from the pages' missed-events flags.</summary>
    public IReadOnlyDictionary<int, LostEventsSummary> LostEventsByCpu { get; internal set; } = new Dictionary<int, LostEventsSummary>();
}

/// <summary>
/// Reads trace-cmd <c>trace.dat</c> files, versions 6 and 7 (sections, zstd/zlib compression, several
/// buffers), streaming each CPU's pages and merging the CPUs by timestamp. Events of a named buffer (instance)
/// carry its name as the first arg, <c>instance</c>. Payload fields without a typed column go to args as the
/// print fmt prints them when it prints the field alone (<c>0x%lx</c> keeps its <c>0x</c>, symbolic tables give
/// their names), otherwise in decimal (pointers as <c>0x</c> hex). <c>src_pos</c> is the file offset of the
/// record's event header; for compressed (v7) data it is the file offset of the compressed chunk that holds it.
/// Lost events: stored counts are added to <see cref="IngestDiagnostics.LostEvents"/>; a page flagged "lost"
/// without a count adds 1 (a lower bound), see <see cref="TraceDatSummary.LostEventsByCpu"/> for the split.
/// </summary>
public sealed class TraceDatReader : ITraceReader
{
    /// <summary>Largest metadata block accepted (event formats of a full kernel are ~2 MiB).</summary>
    internal const long MaxMetadataBytes = 256L << 20;

    private const int MaxCount = 1 << 20;

    /// <summary>Linux's NR_CPUS limit: CPU ids and per-buffer CPU lists beyond it are damage.</summary>
    private const int MaxCpus = TraceLimits.MaxCpus;

    private const int MaxBuffers = 1024;

    private static readonly byte[] s_magic = [0x17, 0x08, 0x44, (byte)'t', (byte)'r', (byte)'a', (byte)'c', (byte)'i', (byte)'n', (byte)'g'];

    /// <inheritdoc />
    public string Format => "tracedat";

    /// <summary>
    /// Whether compressed (v7) CPU data is read and decompressed ahead of the merge on a thread of its own
    /// (<see cref="ChunkReadAhead"/>); off, the merge's thread does it, chunk by chunk. Same events either way.
    /// </summary>
    internal bool ReadAhead { get; init; } = true;

    /// <summary>For tests: chunks the read-ahead thread reads at most (<see cref="ChunkReadAhead.WorkerChunkLimit"/>).</summary>
    internal long ReadAheadWorkerChunkLimit { get; init; } = long.MaxValue;

    /// <summary>Whether <paramref name="header"/> starts with the trace.dat magic (<c>\x17\x08Dtracing</c>).</summary>
    public static bool IsTraceDat(ReadOnlySpan<byte> header) => header.StartsWith(s_magic);

    /// <inheritdoc />
    public void Read(Stream input, string fileName, IEventSink sink, IngestDiagnostics diagnostics, CancellationToken cancellationToken = default)
        => ReadDetailed(input, fileName, sink, diagnostics, cancellationToken);

    /// <summary>Like <see cref="Read"/>, and returns what the file said about itself.</summary>
    /// <exception cref="TraceFormatException">Not a trace.dat, metadata damaged, or (strict mode) data damaged.</exception>
    public TraceDatSummary ReadDetailed(Stream input, string fileName, IEventSink sink, IngestDiagnostics diagnostics, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(sink);
        ArgumentNullException.ThrowIfNull(diagnostics);
        fileName ??= "trace.dat";
        if (!input.CanSeek)
        {
            // Binary sections are found by offset: spool a pipe to a temporary file first.
            using var spool = new FileStream(Path.GetTempFileName(), FileMode.Create, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.DeleteOnClose);
            input.CopyTo(spool);
            spool.Position = 0;
            return ReadDetailed(spool, fileName, sink, diagnostics, cancellationToken);
        }
        var state = new FileState(input, fileName, diagnostics);
        var summary = new TraceDatSummary();
        ReadHeader(state, summary);
        if (summary.Version == 6)
        {
            ReadVersion6(state);
        }
        else
        {
            ReadVersion7(state);
        }
        diagnostics.Format = Format;
        diagnostics.PointersHashed = false;
        diagnostics.KernelRelease = state.KernelRelease ?? diagnostics.KernelRelease;
        diagnostics.Clock = state.Clock ?? state.Buffers.FirstOrDefault(b => b.Clock is not null)?.Clock ?? diagnostics.Clock;
        // CPUCOUNT option, else the v6 header's count, else the highest CPU with data.
        diagnostics.CpuCount = state.CpuCount
            ?? (state.HeaderCpuCount > 0 ? state.HeaderCpuCount : state.Buffers.SelectMany(b => b.Cpus).Select(c => c.Cpu + 1).DefaultIfEmpty(0).Max());
        if (state.Formats is null)
        {
            throw new TraceFormatException(fileName, 0, "byte", "section 'headers': the file has no header_page, so its pages cannot be read.");
        }
        summary.Buffers = state.Buffers.Where(b => b.Cpus.Count > 0).Select(b => b.Name).ToArray();
        summary.EventCount = ReadEvents(state, sink, ReadAhead, ReadAheadWorkerChunkLimit, cancellationToken);
        summary.LostEventsByCpu = state.Context.LostByCpu;
        return summary;
    }

    private static long ReadEvents(FileState state, IEventSink sink, bool readAheadChunks, long workerChunkLimit, CancellationToken cancellationToken)
    {
        var formats = state.Formats!;
        var streams = new List<CpuEventStream>();
        ChunkDecompressor? decompressor = null;
        // Only when every CPU's data is compressed: the worker and the merge (when it reads a chunk itself) then
        // share the file stream, under the read-ahead's gate.
        ChunkReadAhead? readAhead = readAheadChunks && state.Buffers.All(b => b.Cpus.Count == 0 || b.Compressed)
            ? new ChunkReadAhead(() => ChunkDecompressor.Create(state.Compression, state.FileName, 0)!) { WorkerChunkLimit = workerChunkLimit }
            : null;
        try
        {
            int order = 0;
            EnsureDisjoint(state);
            int totalCpus = state.Buffers.Sum(b => b.Cpus.Count);
            int pagesPerBlock = totalCpus <= 64 ? 16 : 2;
            foreach (var buffer in state.Buffers)
            {
                if (buffer.Cpus.Count == 0)
                {
                    continue;
                }
                var decoder = new EventDecoder(formats, state.Comms, state.KernelRelease, state.PrintkFormats)
                {
                    InstanceName = buffer.Name.Length == 0 ? null : buffer.Name,
                };
                int pageSize = buffer.PageSize > 0 ? buffer.PageSize : state.PageSize;
                if (pageSize < formats.HeaderPage.DataOffset + 8)
                {
                    throw new TraceFormatException(state.FileName, buffer.SectionOffset, "byte",
                        $"section 'buffer {buffer.Name}': page size {pageSize} is smaller than a page header.");
                }
                foreach (var cpu in buffer.Cpus.OrderBy(c => c.Cpu))
                {
                    string section = $"flyrecord CPU {cpu.Cpu}{(buffer.Name.Length > 0 ? " of buffer '" + buffer.Name + "'" : "")}";
                    PageSource source;
                    if (buffer.Compressed)
                    {
                        decompressor ??= ChunkDecompressor.Create(state.Compression, state.FileName, 0)
                            ?? throw new TraceFormatException(state.FileName, buffer.SectionOffset, "byte",
                                $"section 'buffer {buffer.Name}': flagged compressed, but the file header says compression 'none'.");
                        var chunked = new ChunkedPageSource(state.Stream, cpu.Offset, cpu.Size, state.FileLength, pageSize, decompressor, formats.BigEndian, section);
                        source = readAhead is null ? chunked : readAhead.Add(chunked);
                    }
                    else
                    {
                        source = new FileRangePageSource(state.Stream, cpu.Offset, cpu.Size, state.FileLength, pageSize, pagesPerBlock, section);
                    }
                    streams.Add(new CpuEventStream(source, cpu.Cpu, order++, formats, state.Context, decoder));
                }
            }
            // trace-cmd writes 10 pages per chunk.
            readAhead?.Start(10 * state.PageSize);
            return EventMerger.Run([.. streams], state.Timestamps, state.Context, sink, cancellationToken);
        }
        finally
        {
            // First: the worker may be inside the decompressor.
            readAhead?.Dispose();
            foreach (var s in streams)
            {
                s.Dispose();
            }
            decompressor?.Dispose();
        }
    }

    private static void ReadHeader(FileState state, TraceDatSummary summary)
    {
        var c = state.Cursor(0, state.FileLength, "file header");
        if (state.FileLength < 10)
        {
            c.Fail($"not a trace.dat: {state.FileLength} bytes, shorter than the 10-byte magic");
        }
        var magic = c.ReadTag(10, "the trace.dat magic");
        if (!magic.AsSpan().SequenceEqual(s_magic))
        {
            throw new TraceFormatException(state.FileName, 0, "byte",
                $"section 'file header': not a trace.dat: expected magic {MetaCursor.Printable(s_magic)}, found {MetaCursor.Printable(magic)}.");
        }
        string versionText = c.ReadCString(8, "the file version");
        if (!int.TryParse(versionText, NumberStyles.None, CultureInfo.InvariantCulture, out int version) || version is not (6 or 7))
        {
            c.Fail($"unsupported trace.dat version '{versionText}' (expected 6 or 7)");
        }
        byte endian = c.ReadU8();
        if (endian > 1)
        {
            c.Fail($"endianness byte is {endian}, expected 0 (little) or 1 (big)");
        }
        state.BigEndian = endian == 1;
        c.BigEndian = state.BigEndian;
        _ = c.ReadU8(); // user-space long size; the kernel's comes from header_page
        uint pageSize = c.ReadU32();
        if (pageSize is < 64 or > (uint)HeaderPage.MaxPageSize)
        {
            c.Fail($"page size {pageSize} is outside 64..{HeaderPage.MaxPageSize}");
        }
        state.PageSize = (int)pageSize;
        state.Position = c.Position;
        summary.Version = version;
        summary.PageSize = (int)pageSize;
        if (version == 7)
        {
            state.Compression = c.ReadCString(64, "the compression name");
            _ = c.ReadCString(64, "the compression version");
            state.FirstOptions = c.ReadU64();
            summary.Compression = state.Compression;
            ChunkDecompressor.Validate(state.Compression, state.FileName, c.Position);
        }
        state.Position = c.Position;
    }

    private static void ReadVersion6(FileState state)
    {
        var c = state.Cursor(state.Position, state.FileLength, "headers");
        ReadHeaderInfo(state, c);
        c.Section = "ftrace events";
        ReadFtraceFormats(state, c);
        c.Section = "events format";
        ReadEventFormats(state, c);
        c.Section = "kallsyms";
        c.Skip(c.ReadU32(), "kallsyms");
        c.Section = "printk";
        ReadPrintk(state, c);
        c.Section = "command lines";
        ReadCmdlines(state, c);
        c.Section = "cpus";
        uint cpus = ReadCount(c, "CPU count");
        if (cpus > MaxCpus)
        {
            c.Fail($"CPU count {cpus} exceeds {MaxCpus}");
        }
        if (cpus == 0)
        {
            // trace-cmd writes the machine's CPU count here, CPUs without data included; with 0 the flyrecord
            // table has no entries and every page in the file would be passed over without a word.
            c.Fail("CPU count 0; expected the recording machine's CPU count (1 or more), which sizes the flyrecord table");
        }
        state.HeaderCpuCount = (int)cpus;
        c.Section = "options";
        var tag = c.ReadTag(10, "'options  ', 'flyrecord' or 'latency  ' tag");
        if (Tag(tag) == "options  ")
        {
            while (true)
            {
                ushort id = c.ReadU16();
                if (id == 0)
                {
                    // v6 ends the options with a bare 0: no size follows.
                    break;
                }
                long optionOffset = c.Position - 2;
                uint size = c.ReadU32();
                var data = c.ReadBytes(size, MaxMetadataBytes, $"option {id}");
                ProcessOption(state, id, data, optionOffset, version: 6);
            }
            c.Section = "flyrecord";
            tag = c.ReadTag(10, "'flyrecord' or 'latency  ' tag");
        }
        c.Section = "flyrecord";
        switch (Tag(tag))
        {
            case "flyrecord":
            {
                var top = new BufferInfo("", c.Position - 10) { Compressed = false };
                state.FlyrecordTable = c.Position;
                ReadV6CpuTable(state, c, top);
                if (state.HasClockOption)
                {
                    // trace-cmd 2.x/3.x: u64 length + the trace_clock text; only read when TRACECLOCK was set.
                    ulong length = c.ReadU64();
                    if (length <= 4096 && length <= (ulong)c.Remaining)
                    {
                        state.Clock ??= ParseClock(c.ReadText(length, 4096, "trace clock"));
                    }
                }
                state.Buffers.Insert(0, top);
                break;
            }
            case "latency  ":
                c.Fail("latency-mode trace.dat (kernel text instead of pages) is not read by this reader; use 'trace-cmd report' output or the ftrace text reader");
                break;
            default:
                c.Fail($"expected the 'flyrecord' or 'latency  ' tag, found {MetaCursor.Printable(tag)}");
                break;
        }
        foreach (var pending in state.PendingV6Buffers)
        {
            if (pending.SectionOffset >= state.FileLength)
            {
                throw new TraceFormatException(state.FileName, pending.SectionOffset, "byte",
                    $"section 'buffer {pending.Name}': BUFFER option points past the end of the file ({state.FileLength} bytes).");
            }
            var bc = state.Cursor(pending.SectionOffset, state.FileLength, $"buffer '{pending.Name}'");
            bc.Expect("flyrecord\0", "the 'flyrecord' tag of the buffer");
            ReadV6CpuTable(state, bc, pending);
            state.Buffers.Add(pending);
        }
    }

    private static void ReadV6CpuTable(FileState state, MetaCursor c, BufferInfo buffer)
    {
        for (int cpu = 0; cpu < state.HeaderCpuCount; cpu++)
        {
            long entry = c.Position;
            ulong offset = c.ReadU64();
            ulong size = c.ReadU64();
            if (size == 0)
            {
                continue;
            }
            if (offset >= (ulong)state.FileLength)
            {
                // Truncated file: this CPU's data is gone entirely; the others may still be there.
                state.Context.Damage(new DataDamage(c.Section, entry,
                    $"CPU {cpu} data at offset {offset} (size {size}) lies past the end of the {state.FileLength}-byte file"));
                continue;
            }
            // A size running past the end is reported by the page source where the data stops.
            size = Math.Min(size, (ulong)long.MaxValue / 2);
            buffer.Cpus.Add(new CpuData(cpu, (long)offset, (long)size));
        }
    }

    private static void ReadVersion7(FileState state)
    {
        var visited = new HashSet<long>();
        long next = (long)Math.Min(state.FirstOptions, long.MaxValue);
        while (next != 0)
        {
            if (!visited.Add(next) || visited.Count > 4096)
            {
                throw new TraceFormatException(state.FileName, next, "byte", "section 'options': the chain of options sections loops.");
            }
            var payload = OpenSection(state, next, expectedId: 0, "options");
            next = 0;
            while (payload.Remaining > 0)
            {
                long optionOffset = payload.Position;
                ushort id = payload.ReadU16();
                uint size = payload.ReadU32();
                var data = payload.ReadBytes(size, MaxMetadataBytes, $"option {id}");
                if (id == 0)
                {
                    if (data.Length != 8)
                    {
                        payload.Fail($"DONE option has {data.Length} bytes, expected 8");
                    }
                    next = (long)Math.Min(ReadU64(state, data), long.MaxValue);
                    break;
                }
                ProcessOption(state, id, data, optionOffset, version: 7);
            }
        }
        if (state.SectionOffsets.TryGetValue(16, out long headers))
        {
            ReadHeaderInfo(state, OpenSection(state, headers, 16, "headers"));
        }
        if (state.SectionOffsets.TryGetValue(17, out long ftrace))
        {
            ReadFtraceFormats(state, OpenSection(state, ftrace, 17, "ftrace events"));
        }
        if (state.SectionOffsets.TryGetValue(18, out long events))
        {
            ReadEventFormats(state, OpenSection(state, events, 18, "events format"));
        }
        if (state.SectionOffsets.TryGetValue(20, out long printk))
        {
            ReadPrintk(state, OpenSection(state, printk, 20, "printk"));
        }
        if (state.SectionOffsets.TryGetValue(21, out long cmdlines))
        {
            ReadCmdlines(state, OpenSection(state, cmdlines, 21, "command lines"));
        }
        if (state.LatencyBuffers > 0 && !state.Buffers.Any(b => b.Cpus.Count > 0))
        {
            throw new TraceFormatException(state.FileName, (long)state.FirstOptions, "byte",
                "section 'options': this v7 file holds latency-mode text (BUFFER_TEXT) instead of pages; use 'trace-cmd report' output or the ftrace text reader.");
        }
        foreach (var buffer in state.Buffers)
        {
            if (buffer.Cpus.Count == 0)
            {
                continue;
            }
            // The BUFFER option points at the flyrecord section header; its flag says whether the CPU data is chunked.
            var c = state.Cursor(buffer.SectionOffset, state.FileLength, $"buffer flyrecord {buffer.Name}");
            ushort id = c.ReadU16();
            ushort flags = c.ReadU16();
            if (id != 3)
            {
                throw new TraceFormatException(state.FileName, buffer.SectionOffset, "byte",
                    $"section 'buffer flyrecord {buffer.Name}': expected section id 3 (BUFFER), found {id}.");
            }
            buffer.Compressed = (flags & 1) != 0 && state.Compression is not ("none" or "");
        }
    }

    /// <summary>Reads a v7 section header at <paramref name="offset"/> and returns a cursor over its (decompressed) payload.</summary>
    private static MetaCursor OpenSection(FileState state, long offset, ushort expectedId, string name)
    {
        if (offset < 0 || offset > state.FileLength - 16)
        {
            throw new TraceFormatException(state.FileName, offset, "byte",
                $"section '{name}': section header at offset {offset} lies outside the {state.FileLength}-byte file.");
        }
        var c = state.Cursor(offset, state.FileLength, name);
        ushort id = c.ReadU16();
        ushort flags = c.ReadU16();
        _ = c.ReadU32(); // description: offset into the STRINGS sections, informational
        ulong size = c.ReadU64();
        if (id != expectedId)
        {
            throw new TraceFormatException(state.FileName, offset, "byte", $"section '{name}': expected section id {expectedId}, found {id}.");
        }
        c.CheckLength(size, long.MaxValue, $"section payload of {size} bytes");
        long payloadStart = c.Position;
        long payloadEnd = payloadStart + (long)size;
        if ((flags & 1) == 0)
        {
            return state.Cursor(payloadStart, payloadEnd, name);
        }
        var block = state.Cursor(payloadStart, payloadEnd, name);
        uint compressedSize = block.ReadU32();
        uint uncompressedSize = block.ReadU32();
        block.CheckLength(compressedSize, MaxMetadataBytes, "compressed block");
        if (uncompressedSize > MaxMetadataBytes)
        {
            block.Fail($"uncompressed size {uncompressedSize} exceeds the limit of {MaxMetadataBytes} bytes");
        }
        var compressed = block.ReadBytes(compressedSize, MaxMetadataBytes, "compressed block");
        using var decompressor = ChunkDecompressor.Create(state.Compression, state.FileName, offset)
            ?? throw new TraceFormatException(state.FileName, offset, "byte", $"section '{name}': flagged compressed, but the file header says compression 'none'.");
        var payload = new byte[uncompressedSize];
        int produced = decompressor.Decompress(compressed, compressed.Length, payload, out string? error);
        if (produced != uncompressedSize)
        {
            throw new TraceFormatException(state.FileName, offset, "byte",
                $"section '{name}': compressed block does not decompress to its declared {uncompressedSize} bytes ({error ?? produced + " bytes"}).");
        }
        return new MetaCursor(new MemoryStream(payload, writable: false), 0, payload.Length, state.FileName, state.BigEndian, name, offset);
    }

    private static void ReadHeaderInfo(FileState state, MetaCursor c)
    {
        c.Section = "headers";
        c.Expect("header_page\0", "'header_page'");
        string headerPage = c.ReadText(c.ReadU64(), 1 << 20, "header_page text");
        c.Expect("header_event\0", "'header_event'");
        string headerEvent = c.ReadText(c.ReadU64(), 1 << 20, "header_event text");
        try
        {
            if (!HeaderEvent.Parse(headerEvent).IsStandard)
            {
                c.Fail("header_event describes an event header layout other than type_len:5/time_delta:27 with types 29/30/31; its pages cannot be decoded");
            }
            state.Formats = new TraceEventFormats(HeaderPage.Parse(headerPage), state.BigEndian);
        }
        catch (FormatException e)
        {
            c.Fail(e.Message);
        }
    }

    private static void ReadFtraceFormats(FileState state, MetaCursor c)
    {
        c.Section = "ftrace events";
        uint count = ReadCount(c, "format count");
        for (uint i = 0; i < count; i++)
        {
            AddFormat(state, c, "ftrace");
        }
    }

    private static void ReadEventFormats(FileState state, MetaCursor c)
    {
        c.Section = "events format";
        uint systems = ReadCount(c, "system count");
        for (uint s = 0; s < systems; s++)
        {
            string system = c.ReadCString(256, "system name");
            uint count = ReadCount(c, $"event count of system '{system}'");
            for (uint i = 0; i < count; i++)
            {
                AddFormat(state, c, system);
            }
        }
    }

    private static uint ReadCount(MetaCursor c, string what)
    {
        uint count = c.ReadU32();
        if (count > MaxCount)
        {
            c.Fail($"{what} {count} is implausible (limit {MaxCount})");
        }
        return count;
    }

    private static void AddFormat(FileState state, MetaCursor c, string system)
    {
        long at = c.Position;
        string text = c.ReadText(c.ReadU64(), TraceEventFormats.MaxFormatFileBytes, $"format file of system '{system}'");
        if (state.Formats is null)
        {
            c.Fail("event formats come before header_page");
        }
        try
        {
            state.Formats.Add(FormatFile.Parse(text, system));
        }
        catch (FormatException e)
        {
            // libtraceevent also skips formats it cannot parse; their events are reported as unknown ids.
            state.Context.Malformed(at, $"section '{c.Section}': {e.Message}");
        }
    }

    /// <summary>printk_formats: the format strings of trace_printk (bprint) records, by address.</summary>
    private static void ReadPrintk(FileState state, MetaCursor c)
    {
        c.Section = "printk";
        state.PrintkFormats = BinaryPrintf.ParsePrintkFormats(c.ReadBytes(c.ReadU32(), MaxMetadataBytes, "printk formats"));
    }

    private static void ReadCmdlines(FileState state, MetaCursor c)
    {
        c.Section = "command lines";
        state.Comms = CommTable.Parse(c.ReadBytes(c.ReadU64(), MaxMetadataBytes, "saved cmdlines"));
    }

    private static void ProcessOption(FileState state, ushort id, byte[] data, long offset, int version)
    {
        switch (id)
        {
            case 1: // DATE: offset in µs (C integer, usually 0x-prefixed) between trace time and wall clock
                if (TryParseCInteger(AsciiZ(data), out long microseconds))
                {
                    state.TimeOffset += microseconds * 1000;
                }
                break;
            case 3:
                ParseBufferOption(state, data, offset, version);
                break;
            case 22:
                state.LatencyBuffers++;
                break;
            case 4:
                state.HasClockOption = true;
                state.Clock = ParseClock(AsciiZ(data)) ?? state.Clock;
                break;
            case 5:
            {
                var parts = AsciiZ(data).Split(' ', StringSplitOptions.RemoveEmptyEntries);
                state.KernelRelease = parts.Length >= 3 ? parts[2] : state.KernelRelease;
                break;
            }
            case 7: // OFFSET: ns added to every timestamp
                if (TryParseCInteger(AsciiZ(data), out long ns))
                {
                    state.TimeOffset += ns;
                }
                break;
            case 8:
                if (data.Length >= 4)
                {
                    state.CpuCount = (int)Math.Min(ReadU32(state, data), MaxCount);
                }
                break;
            case 14: // TSC2NSEC: u32 mult, u32 shift, u64 offset; trace-cmd's reader applies mult/shift
                if (data.Length >= 16)
                {
                    state.TscMultiplier = ReadU32(state, data);
                    state.TscShift = (int)Math.Min(ReadU32(state, data.AsSpan(4)), 63);
                }
                break;
            case 16:
            case 17:
            case 18:
            case 19:
            case 20:
            case 21:
                if (version == 7 && data.Length >= 8)
                {
                    state.SectionOffsets[id] = (long)Math.Min(ReadU64(state, data), long.MaxValue);
                }
                break;
        }
    }

    private static void ParseBufferOption(FileState state, byte[] data, long optionOffset, int version)
    {
        var c = new MetaCursor(new MemoryStream(data, writable: false), 0, data.Length, state.FileName, state.BigEndian, "BUFFER option", optionOffset);
        long sectionOffset = (long)Math.Min(c.ReadU64(), long.MaxValue);
        string name = c.ReadCString(4096, "buffer name");
        var buffer = new BufferInfo(name, sectionOffset);
        if (state.Buffers.Count + state.PendingV6Buffers.Count >= MaxBuffers)
        {
            c.Fail($"more than {MaxBuffers} buffers");
        }
        if (version == 6)
        {
            state.PendingV6Buffers.Add(buffer);
            return;
        }
        buffer.Clock = ParseClock(c.ReadCString(256, "buffer clock"));
        buffer.PageSize = (int)Math.Min(c.ReadU32(), int.MaxValue);
        if (buffer.PageSize is < 64 or > HeaderPage.MaxPageSize)
        {
            c.Fail($"buffer '{name}' page size {buffer.PageSize} is outside 64..{HeaderPage.MaxPageSize}");
        }
        uint count = c.ReadU32();
        if (count > MaxCpus || (ulong)count * 20 > (ulong)c.Remaining)
        {
            c.Fail($"buffer '{name}' lists {count} CPUs (limit {MaxCpus}), but {c.Remaining} bytes follow (20 per CPU)");
        }
        for (uint i = 0; i < count; i++)
        {
            uint cpu = c.ReadU32();
            ulong offset = c.ReadU64();
            ulong size = c.ReadU64();
            if (cpu >= MaxCpus)
            {
                c.Fail($"buffer '{name}' CPU id {cpu} is implausible");
            }
            if (offset >= (ulong)state.FileLength)
            {
                state.Context.Damage(new DataDamage($"buffer flyrecord {name}", (long)Math.Min(offset, long.MaxValue),
                    $"CPU {cpu} data at offset {offset} (size {size}) lies past the end of the {state.FileLength}-byte file"));
                continue;
            }
            size = Math.Min(size, (ulong)long.MaxValue / 2);
            if (size > 0)
            {
                buffer.Cpus.Add(new CpuData((int)cpu, (long)offset, (long)size));
            }
        }
        state.Buffers.Add(buffer);
    }

    private static string AsciiZ(byte[] data)
    {
        int nul = Array.IndexOf(data, (byte)0);
        return Encoding.UTF8.GetString(data, 0, nul < 0 ? data.Length : nul);
    }

    /// <summary>The selected clock of a trace_clock text: the bracketed word, or the whole word.</summary>
    private static string? ParseClock(string text)
    {
        int open = text.IndexOf('[', StringComparison.Ordinal);
        int close = open < 0 ? -1 : text.IndexOf(']', open + 1);
        if (open >= 0 && close > open)
        {
            return text[(open + 1)..close];
        }
        string trimmed = text.Trim();
        return trimmed.Length == 0 || trimmed.Contains(' ', StringComparison.Ordinal) ? null : trimmed;
    }

    private static bool TryParseCInteger(string text, out long value)
    {
        var t = text.AsSpan().Trim();
        bool negative = t.StartsWith("-");
        if (negative)
        {
            t = t[1..];
        }
        bool ok = t.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? long.TryParse(t[2..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value)
            : long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out value);
        if (negative)
        {
            value = -value;
        }
        return ok;
    }

    private static string Tag(byte[] tag) => Encoding.ASCII.GetString(tag).TrimEnd('\0');

    private static uint ReadU32(FileState state, ReadOnlySpan<byte> data) =>
        state.BigEndian ? BinaryPrimitives.ReadUInt32BigEndian(data) : BinaryPrimitives.ReadUInt32LittleEndian(data);

    private static ulong ReadU64(FileState state, ReadOnlySpan<byte> data) =>
        state.BigEndian ? BinaryPrimitives.ReadUInt64BigEndian(data) : BinaryPrimitives.ReadUInt64LittleEndian(data);

    /// <summary>
    /// Where a v6 file keeps its top-level CPU table (after <c>flyrecord\0</c>) and the CPU data ranges; for tools
    /// that rewrite the data part (benchmark generators).
    /// </summary>
    internal static (long TableOffset, int CpuCount, IReadOnlyList<(int Cpu, long Offset, long Size)> Cpus) InspectVersion6(Stream input)
    {
        var state = new FileState(input, "trace.dat", new IngestDiagnostics { Strict = true });
        var summary = new TraceDatSummary();
        ReadHeader(state, summary);
        if (summary.Version != 6)
        {
            throw new TraceFormatException("trace.dat", 10, "byte", $"section 'file header': expected version 6, found {summary.Version}.");
        }
        ReadVersion6(state);
        var top = state.Buffers.First(b => b.Name.Length == 0);
        return (state.FlyrecordTable, state.HeaderCpuCount, top.Cpus.Select(c => (c.Cpu, c.Offset, c.Size)).ToArray());
    }

    private sealed record CpuData(int Cpu, long Offset, long Size);

    /// <summary>
    /// trace-cmd writes each CPU's pages (or chunks) once, in a range of its own. Ranges that overlap are crafted:
    /// every CPU would buffer the same bytes again (160 CPUs sharing one 16 MiB range made 2.6 GiB), so they are
    /// refused before anything is allocated. With disjoint ranges the buffers add up to at most the file's size
    /// (uncompressed) or one chunk per CPU, each at most 1024 times its compressed bytes (compressed).
    /// </summary>
    private static void EnsureDisjoint(FileState state)
    {
        var ranges = new List<(long Start, long End, string What)>();
        foreach (var buffer in state.Buffers)
        {
            foreach (var cpu in buffer.Cpus)
            {
                // A compressed CPU's data starts with a u32 chunk count that its size does not include.
                long end = Math.Min(state.FileLength, cpu.Offset + cpu.Size + (buffer.Compressed ? 4 : 0));
                if (end > cpu.Offset)
                {
                    ranges.Add((cpu.Offset, end, $"CPU {cpu.Cpu}{(buffer.Name.Length > 0 ? " of buffer '" + buffer.Name + "'" : "")}"));
                }
            }
        }
        ranges.Sort((a, b) => a.Start.CompareTo(b.Start));
        for (int i = 1; i < ranges.Count; i++)
        {
            if (ranges[i].Start < ranges[i - 1].End)
            {
                throw new TraceFormatException(state.FileName, ranges[i].Start, "byte", string.Create(CultureInfo.InvariantCulture,
                    $"section 'flyrecord': the data of {ranges[i].What} (bytes {ranges[i].Start}..{ranges[i].End}) overlaps that of {ranges[i - 1].What} (bytes {ranges[i - 1].Start}..{ranges[i - 1].End}); each CPU's data must have a range of its own."));
            }
        }
    }

    private sealed class BufferInfo(string name, long sectionOffset)
    {
        public string Name { get; } = name;

        public long SectionOffset { get; } = sectionOffset;

        public string? Clock { get; set; }

        public int PageSize { get; set; }

        public bool Compressed { get; set; }

        public List<CpuData> Cpus { get; } = [];
    }

    private sealed class FileState
    {
        public FileState(Stream stream, string fileName, IngestDiagnostics diagnostics)
        {
            Stream = stream;
            FileName = fileName;
            Diagnostics = diagnostics;
            FileLength = stream.Length;
            Context = new ReadContext(fileName, diagnostics);
        }

        public Stream Stream { get; }

        public string FileName { get; }

        public IngestDiagnostics Diagnostics { get; }

        public ReadContext Context { get; }

        public long FileLength { get; }

        public long Position { get; set; }

        public bool BigEndian { get; set; }

        public int PageSize { get; set; }

        public string Compression { get; set; } = "none";

        public ulong FirstOptions { get; set; }

        public int HeaderCpuCount { get; set; }

        public int? CpuCount { get; set; }

        public string? KernelRelease { get; set; }

        public string? Clock { get; set; }

        public bool HasClockOption { get; set; }

        public long TimeOffset { get; set; }

        public long FlyrecordTable { get; set; }

        public int LatencyBuffers { get; set; }

        public uint TscMultiplier { get; set; }

        public int TscShift { get; set; }

        public TimestampConverter Timestamps => new(TscMultiplier, TscShift, TimeOffset);

        public TraceEventFormats? Formats { get; set; }

        public CommTable Comms { get; set; } = new();

        public IReadOnlyDictionary<ulong, string>? PrintkFormats { get; set; }

        public Dictionary<int, long> SectionOffsets { get; } = [];

        public List<BufferInfo> Buffers { get; } = [];

        public List<BufferInfo> PendingV6Buffers { get; } = [];

        public MetaCursor Cursor(long position, long end, string section) =>
            new(Stream, position, end, FileName, BigEndian, section);
    }
}
