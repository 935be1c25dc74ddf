namespace Pipeline.Storage;

/// <summary>A record the parser could not read, kept for the report and meta.json.</summary>
/// <param name="File">Source file.</param>
/// <param name="Position">1-based line number (text) or byte offset (binary).</param>
/// <param name="PositionKind">"line" or "byte".</param>
/// <param name="Message">What was expected and what was found.</param>
public sealed record MalformedRecord(string File, long Position, string PositionKind, string Message)
{
    /// <inheritdoc />
    public override string ToString() => $"{File}:{PositionKind} {Position}: {Message}";
}

/// <summary>
/// What a parser learned about its input besides the events: counts of what it could not use,
/// and facts about the machine. Nothing is dropped silently: every skipped record is counted here.
/// </summary>
public sealed class IngestDiagnostics
{
    /// <summary>How many malformed records are kept with their text.</summary>
    public const int MaxSamples = 20;

    private readonly List<MalformedRecord> _samples = [];

    /// <summary>When set, the first malformed record throws instead of being counted.</summary>
    public bool Strict { get; init; }

    /// <summary>Malformed records or lines seen.</summary>
    public long MalformedCount { get; private set; }

    /// <summary>The first <see cref="MaxSamples"/> malformed records.</summary>
    public IReadOnlyList<MalformedRecord> MalformedSamples => _samples;

    /// <summary>Events the kernel reported lost (ring-buffer overruns, LOST markers).</summary>
    public long LostEvents { get; set; }

    /// <summary>Lines or records that were recognised and deliberately not events (headers, comments, blank lines).</summary>
    public long SkippedLines { get; set; }

    /// <summary>Detected input format (ftrace, tracedat, perf, console, ...).</summary>
    public string? Format { get; set; }

    /// <summary>Kernel release, when the source says.</summary>
    public string? KernelRelease { get; set; }

    /// <summary>The machine, when the source says (a crash report's <c>Hardware name:</c> line).</summary>
    public string? Hardware { get; set; }

    /// <summary>Number of CPUs, when the source says.</summary>
    public int? CpuCount { get; set; }

    /// <summary>Trace clock name, when the source says.</summary>
    public string? Clock { get; set; }

    /// <summary>Whether pointer values are the kernel's per-boot hashes (kernel text) rather than real values.</summary>
    public bool? PointersHashed { get; set; }

    /// <summary>The tracepoints the recording enabled, when the recorder knew them; null when the input does not say.</summary>
    public IReadOnlyCollection<string>? EnabledEvents { get; set; }

    /// <summary>Set by <c>mmtrace record</c> when the per-process events were recorded for the command's process tree only.</summary>
    public ProcessFilter? ProcessFilter { get; set; }

    /// <summary>Set when the input was damaged and the events after the damage are missing.</summary>
    public string? Truncated { get; set; }

    /// <summary>How many crash records are kept; later ones are counted in <see cref="CrashesDropped"/>.</summary>
    public const int MaxCrashes = 10_000;

    /// <summary>Crash reports read from a console log (written as crashes.parquet).</summary>
    public List<CrashRecord> Crashes { get; } = [];

    /// <summary>Crash reports beyond <see cref="MaxCrashes"/>, counted and not kept.</summary>
    public long CrashesDropped { get; set; }

    /// <summary>Trace lines of a mail that sit in quoted text (an older message): not events of this timeline.</summary>
    public long QuotedLinesDropped { get; set; }

    /// <summary>Keeps a crash record, or counts it when <see cref="MaxCrashes"/> are kept already.</summary>
    public void AddCrash(CrashRecord crash)
    {
        if (Crashes.Count < MaxCrashes)
        {
            crash.Index = Crashes.Count;
            Crashes.Add(crash);
        }
        else
        {
            CrashesDropped++;
        }
    }

    /// <summary>Counts a malformed record; throws <see cref="TraceFormatException"/> in strict mode.</summary>
    public void Malformed(string file, long position, string positionKind, string message)
    {
        var record = new MalformedRecord(file, position, positionKind, message);
        if (Strict)
        {
            throw new TraceFormatException(record);
        }
        MalformedCount++;
        if (_samples.Count < MaxSamples)
        {
            _samples.Add(record);
        }
    }
}

/// <summary>Bad trace input: names the file, the line or byte offset, what was expected and what was found.</summary>
public sealed class TraceFormatException : FormatException
{
    /// <summary>Creates the exception from a malformed record.</summary>
    public TraceFormatException(MalformedRecord record)
        : base(record.ToString())
    {
        Record = record;
    }

    /// <summary>Creates the exception for a position in a file.</summary>
    public TraceFormatException(string file, long position, string positionKind, string message)
        : this(new MalformedRecord(file, position, positionKind, message))
    {
    }

    /// <summary>Where and what.</summary>
    public MalformedRecord Record { get; }
}
