using System.Globalization;
using System.Text.RegularExpressions;
using ScottPlot;

namespace Pipeline.Analyze.Report;

/// <summary>A chart rendered to SVG, with the number of data marks (markers, bars) it draws.</summary>
/// <param name="Id">Stable id in the page.</param>
/// <param name="Title">Caption.</param>
/// <param name="Svg">The SVG element (no XML declaration), ready to inline.</param>
/// <param name="Marks">Data marks drawn: one per point or bar; the browser test counts them.</param>
/// <param name="Legend">Series names and their colours (#rrggbb), drawn by the page as HTML so the SVG holds only data marks.</param>
public sealed record Chart(string Id, string Title, string Svg, int Marks, IReadOnlyList<(string Name, string Color)> Legend);

/// <summary>The report's charts, drawn by ScottPlot 5 and exported as SVG.</summary>
internal static partial class Charts
{
    private const int Width = 560;
    private const int Height = 340;

    /// <summary>Move kinds of an mremap call, in legend order, with their colours.</summary>
    internal static readonly (string Kind, Color Color)[] MoveKinds =
    [
        ("NORMAL_PMD", Colors.C0),
        ("huge PMD", Colors.C2),
        ("PTE", Colors.C1),
        ("mixed", Colors.C4),
        ("none", Colors.Gray),
    ];

    public static Chart Bars(string id, string title, IReadOnlyList<string> labels, IReadOnlyList<double> values, string valueLabel, bool horizontal)
    {
        var plot = NewPlot(title);
        var bars = new List<Bar>();
        for (int i = 0; i < values.Count; i++)
        {
            bars.Add(new Bar { Position = i, Value = values[i], FillColor = Colors.C0, LineWidth = 0 });
        }
        var series = plot.Add.Bars(bars);
        series.Horizontal = horizontal;
        var ticks = Enumerable.Range(0, labels.Count).Select(i => (double)i).ToArray();
        if (horizontal)
        {
            plot.Axes.Left.SetTicks(ticks, labels.ToArray());
            plot.Axes.Bottom.Label.Text = valueLabel;
            plot.Axes.Margins(left: 0, bottom: 0.02);
        }
        else
        {
            plot.Axes.Bottom.SetTicks(ticks, labels.ToArray());
            plot.Axes.Left.Label.Text = valueLabel;
            plot.Axes.Margins(bottom: 0);
        }
        return Render(id, title, plot, values.Count, [], height: horizontal ? Math.Max(Height, 60 + 22 * values.Count) : Height);
    }

    /// <summary>Bars in groups (one colour per series, one group per label).</summary>
    public static Chart GroupedBars(string id, string title, IReadOnlyList<string> groups, IReadOnlyList<(string Series, Color Color, double[] Values)> series, string valueLabel)
    {
        var plot = NewPlot(title);
        var legend = new List<(string, string)>();
        int n = series.Count;
        double width = 0.8 / n;
        int marks = 0;
        foreach (var (s, (name, color, values)) in series.Select((s, i) => (i, s)))
        {
            var bars = new List<Bar>();
            for (int g = 0; g < groups.Count; g++)
            {
                bars.Add(new Bar { Position = g - 0.4 + width * (s + 0.5), Value = values[g], Size = width, FillColor = color, LineWidth = 0 });
            }
            marks += values.Count(v => v != 0); // a zero bar draws nothing
            plot.Add.Bars(bars);
            legend.Add((name, color.ToStringRGB()));
        }
        plot.Axes.Bottom.SetTicks(Enumerable.Range(0, groups.Count).Select(i => (double)i).ToArray(), groups.ToArray());
        plot.Axes.Left.Label.Text = valueLabel;
        plot.Axes.SetLimitsY(0, Math.Max(1, series.SelectMany(s => s.Values).DefaultIfEmpty(0).Max()) * 1.25);
        return Render(id, title, plot, marks, legend);
    }

    /// <summary>Points in several colour-coded series; <paramref name="logBytesX"/> plots log2 of x with byte-unit ticks.</summary>
    public static Chart Scatter(string id, string title, IReadOnlyList<(string Series, Color Color, double[] X, double[] Y)> series, string xLabel, string yLabel, bool logBytesX)
    {
        var plot = NewPlot(title);
        var legend = new List<(string, string)>();
        int marks = 0;
        foreach (var (name, color, xs, ys) in series)
        {
            if (xs.Length == 0)
            {
                continue;
            }
            var points = plot.Add.ScatterPoints(logBytesX ? xs.Select(x => Math.Log2(Math.Max(1, x))).ToArray() : xs, ys);
            points.Color = color;
            points.MarkerSize = 6;
            legend.Add(($"{name} ({xs.Length.ToString("N0", CultureInfo.InvariantCulture)})", color.ToStringRGB()));
            marks += xs.Length;
        }
        if (logBytesX)
        {
            var all = series.SelectMany(s => s.X).DefaultIfEmpty(4096).ToArray();
            int lo = (int)Math.Floor(Math.Log2(Math.Max(1, all.Min())));
            int hi = (int)Math.Ceiling(Math.Log2(Math.Max(2, all.Max())));
            var positions = Enumerable.Range(lo, hi - lo + 1).Where(p => (p - lo) % Math.Max(1, (hi - lo + 1) / 8) == 0).Select(p => (double)p).ToArray();
            plot.Axes.Bottom.SetTicks(positions, positions.Select(p => FieldFormat.Bytes(1L << (int)p)).ToArray());
        }
        plot.Axes.Bottom.Label.Text = xLabel;
        plot.Axes.Left.Label.Text = yLabel;
        return Render(id, title, plot, marks, legend);
    }

    /// <summary>Empirical CDFs (fraction of samples at or below x), one line per series with a marker per plotted point.</summary>
    public static Chart Cdf(string id, string title, IReadOnlyList<(string Series, Color Color, double[] Sorted)> series, string xLabel, int maxPoints = 200)
    {
        var plot = NewPlot(title);
        var legend = new List<(string, string)>();
        int marks = 0;
        foreach (var (name, color, sorted) in series)
        {
            if (sorted.Length == 0)
            {
                continue;
            }
            // At most maxPoints quantiles: the curve keeps its shape and the SVG stays small on large traces.
            int points = Math.Min(sorted.Length, maxPoints);
            var xs = new double[points];
            var ys = new double[points];
            for (int i = 0; i < points; i++)
            {
                int index = points == sorted.Length ? i : (int)Math.Round((double)i * (sorted.Length - 1) / (points - 1));
                xs[i] = sorted[index];
                ys[i] = (index + 1.0) / sorted.Length;
            }
            var line = plot.Add.Scatter(xs, ys);
            line.Color = color;
            line.MarkerSize = 4;
            line.ConnectStyle = ConnectStyle.StepHorizontal;
            legend.Add(($"{name} (n={sorted.Length.ToString("N0", CultureInfo.InvariantCulture)})", color.ToStringRGB()));
            marks += points;
        }
        plot.Axes.Bottom.Label.Text = xLabel;
        plot.Axes.Left.Label.Text = "fraction at or below";
        plot.Axes.SetLimitsY(0, 1.05);
        return Render(id, title, plot, marks, legend);
    }

    /// <summary>A finding's witness: one marker per op at (time since the first op, CPU), labelled with the op.</summary>
    public static Chart Witness(string id, string title, IReadOnlyList<(double Us, int Cpu, string Label)> ops)
    {
        var plot = NewPlot(title);
        var points = plot.Add.ScatterPoints(ops.Select(o => o.Us).ToArray(), ops.Select(o => (double)o.Cpu).ToArray());
        points.Color = Colors.C3;
        points.MarkerSize = 9;
        foreach (var (us, cpu, label) in ops)
        {
            var text = plot.Add.Text(label, us, cpu);
            text.LabelFontSize = 11;
            text.LabelRotation = -20;
            text.LabelOffsetY = -8;
        }
        var cpus = ops.Select(o => o.Cpu).Distinct().Order().ToArray();
        plot.Axes.Left.SetTicks(cpus.Select(c => (double)c).ToArray(), cpus.Select(c => "CPU" + c.ToString(CultureInfo.InvariantCulture)).ToArray());
        plot.Axes.Bottom.Label.Text = "µs since the first op of the witness";
        plot.Axes.SetLimitsY(cpus.Min() - 0.6, cpus.Max() + 1.2);
        plot.Axes.Margins(horizontal: 0.2);
        return Render(id, title, plot, ops.Count, [], width: 600, height: Math.Max(220, 110 + 60 * cpus.Length));
    }

    private static Plot NewPlot(string title)
    {
        var plot = new Plot();
        plot.Font.Set("DejaVu Sans");
        plot.Title(title, size: 14);
        return plot;
    }

    private static Chart Render(string id, string title, Plot plot, int marks, List<(string, string)> legend, int width = Width, int height = Height)
    {
        string svg = plot.GetSvgXml(width, height);
        return new Chart(id, title, Clean(svg), marks, legend);
    }

    [GeneratedRegex(@"^<\?xml[^>]*\?>\s*")]
    private static partial Regex XmlDeclaration();

    [GeneratedRegex(@" (x|y)=""([^""]*?),\s*""")]
    private static partial Regex TrailingListComma();

    /// <summary>
    /// Inline-ready SVG: no XML declaration, and Skia's per-glyph position lists without their trailing comma
    /// (<c>x="1, 2, "</c>): a length list has no trailing separator in SVG's grammar, and a strict parser may drop
    /// the attribute.
    /// </summary>
    internal static string Clean(string svg)
    {
        svg = XmlDeclaration().Replace(svg, "");
        return TrailingListComma().Replace(svg, m => $" {m.Groups[1].Value}=\"{m.Groups[2].Value}\"");
    }
}
