using System.Globalization;
using Pipeline.Storage;

namespace Pipeline.Replay.Tests;

/// <summary>
/// A minimal tokenizer for ftrace lines, for tests only: <c>comm-tid [cpu] flags ts: system_event: k=v …</c>.
/// Fields with a typed column go there (as the real text reader does), the rest into args.
/// </summary>
internal static class TraceText
{
    public static List<EventRow> ToRows(string text)
    {
        var rows = new List<EventRow>();
        var lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].TrimStart();
            if (line.Length == 0)
            {
                continue;
            }
            var row = new EventRow { Seq = rows.Count, SrcPos = i + 1 };
            int bracket = line.IndexOf(" [", StringComparison.Ordinal);
            string task = line[..bracket];
            int dash = task.LastIndexOf('-');
            row.Comm = task[..dash];
            row.Pid = int.Parse(task[(dash + 1)..], CultureInfo.InvariantCulture);
            int close = line.IndexOf(']', bracket);
            row.Cpu = int.Parse(line[(bracket + 2)..close], CultureInfo.InvariantCulture);
            int colon = line.IndexOf(": ", close, StringComparison.Ordinal);
            int nameEnd = line.IndexOf(':', colon + 2);
            string name = line[(colon + 2)..nameEnd];
            int underscore = name.IndexOf('_', StringComparison.Ordinal);
            row.Event = name[..underscore] + ":" + name[(underscore + 1)..];
            foreach (var pair in line[(nameEnd + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                int eq = pair.IndexOf('=', StringComparison.Ordinal);
                string key = pair[..eq];
                string value = pair[(eq + 1)..];
                if (EventSchema.TryGetField(key, out var column))
                {
                    switch (column.Kind)
                    {
                        case ColumnKind.Bool:
                            row.SetBool(column.Ordinal, value is "1" or "true");
                            break;
                        case ColumnKind.Text:
                            row.SetText(column.Ordinal, value);
                            break;
                        default:
                            Assert.True(OpSpec.TryParseNumber(value, out ulong number), $"line {i + 1}: {key}={value}");
                            row.SetUInt64(column.Ordinal, number);
                            break;
                    }
                }
                else
                {
                    row.AddArg(key, value);
                }
            }
            rows.Add(row);
        }
        return rows;
    }

    public static string Write(OpTrace trace)
    {
        using var writer = new StringWriter(CultureInfo.InvariantCulture);
        OpTraceWriter.Write(trace, writer);
        return writer.ToString();
    }
}
