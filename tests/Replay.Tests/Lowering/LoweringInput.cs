using System.Globalization;
using System.Text;
using Pipeline.Ingest;
using Pipeline.Ingest.Text;
using Pipeline.Ingest.TraceDat;
using Pipeline.Replay.Lowering;
using Pipeline.Storage;

namespace Pipeline.Replay.Tests.Lowering;

/// <summary>Keeps a copy of every row, numbered in arrival order (the dataset's seq).</summary>
internal sealed class SeqSink : IEventSink
{
    public List<EventRow> Rows { get; } = [];

    public void Write(EventRow row)
    {
        var copy = row.Clone();
        copy.Seq = Rows.Count;
        Rows.Add(copy);
    }
}

/// <summary>Builds ftrace text traces line by line and reads them (or corpus files) through the real ingest readers.</summary>
internal sealed class LoweringInput
{
    private readonly StringBuilder _text = new();
    private long _micros = 1_000_000;

    /// <summary>
    /// Appends one event line of task <paramref name="comm"/>-<paramref name="pid"/> on <paramref name="cpu"/>, 1 µs after the
    /// previous one; with <paramref name="tgid"/>, in the <c>record-tgid</c> layout (<c>comm-pid (tgid) [cpu]</c>).
    /// </summary>
    public LoweringInput Line(string comm, int pid, int cpu, string body, int? tgid = null)
    {
        _micros++;
        string task = comm + "-" + pid.ToString(CultureInfo.InvariantCulture);
        _text.Append(task.PadLeft(22));
        if (tgid is int t)
        {
            _text.Append(" (").Append(t.ToString(CultureInfo.InvariantCulture).PadLeft(7)).Append(')');
        }
        _text.Append(" [").Append(cpu.ToString("D3", CultureInfo.InvariantCulture)).Append("] ..... ")
            .Append((_micros / 1_000_000).ToString(CultureInfo.InvariantCulture)).Append('.')
            .Append((_micros % 1_000_000).ToString("D6", CultureInfo.InvariantCulture)).Append(": ").Append(body).Append('\n');
        return this;
    }

    /// <summary>Skips <paramref name="micros"/> µs.</summary>
    public LoweringInput Wait(long micros)
    {
        _micros += micros;
        return this;
    }

    public List<EventRow> Rows() => ReadFtrace(new MemoryStream(Encoding.UTF8.GetBytes(_text.ToString())), "input");

    public static List<EventRow> ReadFtrace(Stream stream, string name) => Read(new FtraceTextReader(), stream, name);

    public static List<EventRow> ReadCorpus(string relative)
    {
        using var stream = File.OpenRead(Pipeline.Replay.Tests.Real.TestEvents.CorpusFile(relative));
        ITraceReader reader = relative.EndsWith(".dat", StringComparison.Ordinal) ? new TraceDatReader() : new FtraceTextReader();
        return Read(reader, stream, Path.GetFileName(relative));
    }

    private static List<EventRow> Read(ITraceReader reader, Stream stream, string name)
    {
        var sink = new SeqSink();
        var diagnostics = new IngestDiagnostics { Strict = true };
        reader.Read(stream, name, sink, diagnostics);
        return sink.Rows;
    }

    /// <summary>Lowers <paramref name="rows"/> under <paramref name="profile"/> and replays the ops.</summary>
    public static (OpTrace Trace, TraceLowering Lowering, ReplayResult Result) LowerAndReplay(List<EventRow> rows, string profile = "latest")
    {
        var kernel = KernelProfile.Parse(profile, []);
        var trace = TraceLowering.Lower(rows, kernel, out var lowering);
        return (trace, lowering, ReplayEngine.Run(trace, kernel, Arch.X86));
    }

    /// <summary>Op names in order, for assertions on sequences.</summary>
    public static List<string> Names(OpTrace trace) => [.. trace.Ops.ToArray().Select(o => OpSpec.NameOf(o.Kind))];
}
