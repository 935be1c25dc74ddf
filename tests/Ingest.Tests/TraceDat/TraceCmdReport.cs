using System.Globalization;
using System.Text.RegularExpressions;

namespace Pipeline.Ingest.Tests.TraceDat;

/// <summary>One record line of <c>trace-cmd report</c> output, parsed just enough to compare.</summary>
internal sealed record ReportLine(int Pid, int Cpu, string Time, string Name, string Info)
{
    /// <summary>The timestamp in ns (9 decimals with <c>-t</c>; 6 decimals are scaled up).</summary>
    public long TimeNs
    {
        get
        {
            int dot = Time.IndexOf('.', StringComparison.Ordinal);
            long seconds = long.Parse(Time.AsSpan(0, dot), CultureInfo.InvariantCulture);
            var fraction = Time.AsSpan(dot + 1);
            long frac = long.Parse(fraction, CultureInfo.InvariantCulture);
            for (int i = fraction.Length; i < 9; i++)
            {
                frac *= 10;
            }
            return seconds * 1_000_000_000 + frac;
        }
    }

    /// <summary>The <c>name=value</c> pairs of a <c>-R</c> line.</summary>
    public Dictionary<string, string> RawFields()
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (Match m in TraceCmdReport.RawField().Matches(Info))
        {
            fields[m.Groups[1].Value] = m.Groups[2].Value;
        }
        return fields;
    }
}

internal static partial class TraceCmdReport
{
    public static List<ReportLine> Parse(string path)
    {
        var lines = new List<ReportLine>();
        foreach (var line in File.ReadLines(path))
        {
            var m = Record().Match(line);
            if (m.Success)
            {
                lines.Add(new ReportLine(
                    int.Parse(m.Groups["pid"].Value, CultureInfo.InvariantCulture),
                    int.Parse(m.Groups["cpu"].Value, CultureInfo.InvariantCulture),
                    m.Groups["ts"].Value,
                    m.Groups["name"].Value,
                    m.Groups["info"].Value));
            }
        }
        return lines;
    }

    [GeneratedRegex(@"^(?<pre>.*?)-(?<pid>\d+)\s+\[(?<cpu>\d{3})\]\s+(?<ts>\d+\.\d+):\s(?<name>[^:\s]+):\s*(?<info>.*)$")]
    private static partial Regex Record();

    [GeneratedRegex(@"(\w+)=(\S+)")]
    internal static partial Regex RawField();
}

/// <summary>One line of kernel <c>trace</c> text, parsed just enough to compare.</summary>
internal sealed record KernelLine(int Pid, int Cpu, string Flags, long Time, string Body);

internal static partial class KernelTrace
{
    /// <summary>Parses record lines of a kernel <c>trace</c> file (µs times are kept in µs; raw clocks as ticks).</summary>
    public static List<KernelLine> Parse(string path)
    {
        var lines = new List<KernelLine>();
        foreach (var line in File.ReadLines(path))
        {
            var m = Record().Match(line);
            if (!m.Success)
            {
                continue;
            }
            string ts = m.Groups["ts"].Value;
            long time = ts.Contains('.', StringComparison.Ordinal)
                ? long.Parse(ts.Replace(".", "", StringComparison.Ordinal), CultureInfo.InvariantCulture)
                : long.Parse(ts, CultureInfo.InvariantCulture);
            lines.Add(new KernelLine(
                int.Parse(m.Groups["pid"].Value, CultureInfo.InvariantCulture),
                int.Parse(m.Groups["cpu"].Value, CultureInfo.InvariantCulture),
                m.Groups["flags"].Value,
                time,
                m.Groups["body"].Value));
        }
        return lines;
    }

    /// <summary>ns → µs the way the kernel prints ns clocks (rounded).</summary>
    public static long RoundToMicroseconds(long ns) => (ns + 500) / 1000;

    [GeneratedRegex(@"^(?<comm>.*?)-(?<pid>\d+)\s+\[(?<cpu>\d+)\]\s+(?<flags>\S{4,6})\s+(?<ts>\d+(?:\.\d+)?):\s(?<body>.*)$")]
    private static partial Regex Record();
}
