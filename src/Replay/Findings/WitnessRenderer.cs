using System.Globalization;
using System.Text;

namespace Pipeline.Replay;

/// <summary>
/// Draws a finding's witness as the CPU-column timeline the seed threads use: one column per CPU,
/// one op per line, step numbers on the left, long ops wrapped inside their column.
/// </summary>
public static class WitnessRenderer
{
    private const int ColumnWidth = 50;
    private const int StepWidth = 4;

    /// <summary>The timeline of <paramref name="finding"/>, lines ending in <c>\n</c>.</summary>
    public static string RenderTimeline(Finding finding)
    {
        ArgumentNullException.ThrowIfNull(finding);
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        sb.Append(finding.Checker).Append(' ').Append(finding.Race).Append(" (").Append(finding.Class).Append(", ")
            .Append(finding.Severity).Append(')').Append('\n');
        foreach (var line in Wrap(finding.Message, (ColumnWidth * 2) + StepWidth))
        {
            sb.Append(line).Append('\n');
        }
        sb.Append('\n');
        var columns = finding.Witness.Columns;
        var index = new Dictionary<int, int>();
        sb.Append(' ', StepWidth);
        for (int i = 0; i < columns.Count; i++)
        {
            index[columns[i].Cpu] = i;
            sb.Append(Pad(columns[i].Title, i == columns.Count - 1 ? 0 : ColumnWidth));
        }
        TrimEnd(sb);
        sb.Append('\n');
        foreach (var step in finding.Witness.Steps)
        {
            int col = index.TryGetValue(step.Cpu, out int c) ? c : 0;
            var lines = Wrap(step.Text, ColumnWidth - 2);
            for (int l = 0; l < lines.Count; l++)
            {
                string number = l == 0 ? step.Step.ToString(inv) : "";
                sb.Append(number.PadLeft(StepWidth - 2)).Append("  ");
                sb.Append(' ', col * ColumnWidth);
                sb.Append(lines[l]);
                sb.Append('\n');
            }
        }
        sb.Append('\n');
        foreach (var line in Wrap("=> " + finding.Witness.Outcome, (ColumnWidth * 2) + StepWidth))
        {
            sb.Append(line).Append('\n');
        }
        sb.Append("seq: ").Append(string.Join(", ", finding.Seqs.Select(s => s.ToString(inv)))).Append('\n');
        return sb.ToString();
    }

    private static string Pad(string text, int width) => width == 0 ? text : text.Length >= width ? text[..(width - 1)] + " " : text.PadRight(width);

    private static void TrimEnd(StringBuilder sb)
    {
        while (sb.Length > 0 && sb[^1] == ' ')
        {
            sb.Length--;
        }
    }

    private static List<string> Wrap(string text, int width)
    {
        var lines = new List<string>();
        var line = new StringBuilder();
        foreach (var word in text.Split(' '))
        {
            if (line.Length > 0 && line.Length + 1 + word.Length > width)
            {
                lines.Add(line.ToString());
                line.Clear().Append("  ");
            }
            if (line.Length > 0 && !(line.Length == 2 && lines.Count > 0 && line.ToString() == "  "))
            {
                line.Append(' ');
            }
            line.Append(word);
        }
        if (line.Length > 0)
        {
            lines.Add(line.ToString());
        }
        return lines;
    }
}
