using System.Text;
using Pipeline.Ingest.Text;
using Pipeline.Storage;

namespace Pipeline.Ingest.Tests.Text;

/// <summary>Keeps a copy of every row written.</summary>
internal sealed class ListSink : IEventSink
{
    public List<EventRow> Rows { get; } = [];

    public void Write(EventRow row) => Rows.Add(row.Clone());
}

/// <summary>Runs the text readers over files, bytes or strings.</summary>
internal static class TextReading
{
    public static (List<EventRow> Rows, IngestDiagnostics Diagnostics) ReadFile(ITraceReader reader, string relativePath, bool strict = false)
    {
        using var stream = File.OpenRead(Corpus.File(relativePath));
        return Read(reader, stream, Path.GetFileName(relativePath), strict);
    }

    public static (List<EventRow> Rows, IngestDiagnostics Diagnostics) Read(ITraceReader reader, Stream stream, string name = "input", bool strict = false)
    {
        var sink = new ListSink();
        var diagnostics = new IngestDiagnostics { Strict = strict };
        reader.Read(stream, name, sink, diagnostics);
        return (sink.Rows, diagnostics);
    }

    public static (List<EventRow> Rows, IngestDiagnostics Diagnostics) ReadText(ITraceReader reader, string text, bool strict = false) =>
        Read(reader, new MemoryStream(Encoding.UTF8.GetBytes(text)), "input", strict);

    public static List<EventRow> Ftrace(string text) => ReadText(new FtraceTextReader(), text, strict: true).Rows;

    /// <summary>A row rendered with every column, to compare whole rows.</summary>
    public static string Render(EventRow row, bool withPosition = true)
    {
        var sb = new StringBuilder();
        sb.Append(row.TsNs).Append(' ').Append(row.Cpu).Append(' ').Append(row.Pid).Append(' ').Append(row.Tgid)
            .Append(" '").Append(row.Comm).Append("' ").Append(row.Event).Append(' ').Append(row.IrqFlags);
        if (withPosition)
        {
            sb.Append(" @").Append(row.SrcPos);
        }
        foreach (var column in EventSchema.Columns)
        {
            if (column.Ordinal >= EventSchema.FirstField && column.Ordinal < EventSchema.Args && row.IsSet(column.Ordinal))
            {
                sb.Append(' ').Append(column.Name).Append('=').Append(row.FindField(column.Name));
            }
        }
        foreach (var (key, value) in row.Args)
        {
            sb.Append(" [").Append(key).Append('=').Append(value).Append(']');
        }
        if (row.Stack is not null)
        {
            sb.Append(" stack=").Append(string.Join("|", row.Stack));
        }
        return sb.ToString();
    }

    public static Dictionary<string, int> CountByEvent(IEnumerable<EventRow> rows) =>
        rows.GroupBy(r => r.Event, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
}
