using System.Globalization;
using System.Text.RegularExpressions;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using Xunit.Abstractions;

namespace Pipeline.Cli.Tests.Views;

/// <summary>
/// The HTML report opened in a real browser: every chart rendered as an SVG with the number of marks its data
/// calls for, no console error, selecting a finding shows its witness; a screenshot is kept as an artifact.
/// </summary>
public sealed partial class ReportBrowserTests(ITestOutputHelper output)
{
    private const string MarksScript = """
        return Array.from(document.querySelectorAll('figure[data-marks]')).map(function (f) {
          var svg = f.querySelector('svg');
          var marks = svg ? svg.querySelectorAll('g[clip-path] ellipse, g[clip-path] rect:not([fill="none"])').length : -1;
          var box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
          var hidden = f.closest('[hidden]') !== null;
          return [f.id, parseInt(f.dataset.marks, 10), marks, hidden || (box.width > 100 && box.height > 100)];
        });
        """;

    [BrowserFact]
    public void Report_Demo_EveryChartRendersAndAFindingShowsItsWitness()
    {
        using var dir = new TempDir();
        var demo = Mmtrace.Run("demo", "-o", dir["demo"]);
        Assert.True(demo.ExitCode is 0 or 1, demo.ToString());
        var report = Mmtrace.Run("report", dir["demo"], "-o", dir["demo.html"]);
        Assert.True(report.ExitCode == 0, report.ToString());

        using var driver = Browser.Start();
        driver.Navigate().GoToUrl(new Uri(dir["demo.html"]).AbsoluteUri);
        var charts = CheckCharts(driver, report.Stdout);
        // The demo's findings: one witness chart per finding, one mark per op of its witness.
        var findings = Findings(dir["demo"]);
        Assert.Equal(findings.Values.Sum(), driver.FindElements(By.CssSelector("tr.finding")).Count);
        Assert.True(charts >= findings.Count, $"{charts} charts for {findings.Count} findings");

        var row = driver.FindElement(By.CssSelector("section[data-trace='r1-pmd'] tr.finding"));
        var panel = driver.FindElement(By.Id(row.GetAttribute("data-witness")!));
        Assert.False(panel.Displayed);
        row.Click();
        Assert.True(panel.Displayed);
        Assert.Contains("use-after-free through a stale TLB entry", panel.Text, StringComparison.Ordinal);
        var witness = panel.FindElement(By.CssSelector("figure"));
        // r1-pmd's witness cites five ops (seqs 20, 22, 23, 25, 27).
        Assert.Equal("5", witness.GetAttribute("data-marks"));
        Assert.Equal(5, witness.FindElements(By.CssSelector("svg g[clip-path] ellipse")).Count);
        row.Click();
        Assert.False(panel.Displayed);
        row.Click();

        NoConsoleErrors(driver);
        // The console check sees errors: one logged now comes back.
        driver.ExecuteScript("console.error('mmtrace-probe');");
        Assert.Contains(driver.Manage().Logs.GetLog(LogType.Browser), e => e.Message.Contains("mmtrace-probe", StringComparison.Ordinal));
        Screenshot(driver, "report-demo.png");
    }

    [BrowserFact(NeedsCorpus = true)]
    public void Report_RecordedTrace_ChartsMatchTheDataAndTheExportParses()
    {
        using var dir = new TempDir();
        string ds = ShowTests.Dataset(dir);
        Assert.Equal(0, Mmtrace.Run("replay", ds).ExitCode);
        var report = Mmtrace.Run("report", ds, "-o", dir["rec.html"]);
        Assert.True(report.ExitCode == 0, report.ToString());
        Assert.Equal(0, Mmtrace.Run("export", ds, "--perfetto", dir["rec.json"]).ExitCode);

        using var driver = Browser.Start();
        driver.Navigate().GoToUrl(new Uri(dir["rec.html"]).AbsoluteUri);
        CheckCharts(driver, report.Stdout);
        var marks = ((IReadOnlyCollection<object>)driver.ExecuteScript(MarksScript)!).Cast<IReadOnlyCollection<object>>()
            .ToDictionary(r => (string)r.First(), r => Convert.ToInt64(r.Skip(1).First(), CultureInfo.InvariantCulture));
        // Page faults per process: one bar per faulting process; mmap_lock wait: one point per acquisition
        // (under 200, so none thinned); shootdowns: one point per IPI send with a remote flush.
        var faults = Scalar(ds, "SELECT count(DISTINCT coalesce(tgid, pid)) FROM events WHERE event LIKE 'exceptions:page_fault%'");
        var acquisitions = Scalar(ds, """
            SELECT count(*) FROM (SELECT event, lead(event) OVER (PARTITION BY pid ORDER BY ts_ns, seq) AS nxt FROM events
            WHERE event IN ('mmap_lock:mmap_lock_start_locking', 'mmap_lock:mmap_lock_acquire_returned'))
            WHERE event = 'mmap_lock:mmap_lock_start_locking' AND nxt = 'mmap_lock:mmap_lock_acquire_returned'
            """);
        Assert.Contains(faults, marks.Values);
        Assert.Contains(acquisitions, marks.Values);
        Assert.Equal(84, acquisitions);
        Assert.Contains("no findings under the last replay", driver.PageSource, StringComparison.Ordinal);

        // The Perfetto export parses in the browser's own JSON parser.
        var json = File.ReadAllText(dir["rec.json"]);
        var count = Convert.ToInt64(driver.ExecuteScript("return JSON.parse(arguments[0]).traceEvents.length;", json), CultureInfo.InvariantCulture);
        Assert.True(count > 3 * faults, $"{count} trace events");

        NoConsoleErrors(driver);
        Screenshot(driver, "report-recorded.png");
    }

    [GeneratedRegex(@"(\d+) charts")]
    private static partial Regex ChartCount();

    /// <summary>Every figure has its SVG, rendered with a size, with as many marks as it says; returns the chart count.</summary>
    private static int CheckCharts(ChromeDriver driver, string reportStdout)
    {
        var rows = ((IReadOnlyCollection<object>)driver.ExecuteScript(MarksScript)!).Cast<IReadOnlyCollection<object>>().Select(r => r.ToArray()).ToList();
        int expected = int.Parse(ChartCount().Match(reportStdout).Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.Equal(expected, rows.Count);
        Assert.NotEmpty(rows);
        foreach (var r in rows)
        {
            Assert.True(Convert.ToInt64(r[1], CultureInfo.InvariantCulture) == Convert.ToInt64(r[2], CultureInfo.InvariantCulture),
                $"chart {r[0]}: {r[1]} marks expected, {r[2]} drawn");
            Assert.True((bool)r[3], $"chart {r[0]} has no rendered size");
        }
        return rows.Count;
    }

    private static void NoConsoleErrors(ChromeDriver driver)
    {
        var errors = driver.Manage().Logs.GetLog(LogType.Browser).Where(e => e.Level >= LogLevel.Severe).Select(e => e.Message).ToList();
        Assert.True(errors.Count == 0, "console errors:\n" + string.Join("\n", errors));
    }

    private void Screenshot(ChromeDriver driver, string name)
    {
        var width = Convert.ToInt64(driver.ExecuteScript("return document.documentElement.scrollWidth;"), CultureInfo.InvariantCulture);
        var height = Convert.ToInt64(driver.ExecuteScript("return document.documentElement.scrollHeight;"), CultureInfo.InvariantCulture);
        driver.Manage().Window.Size = new System.Drawing.Size((int)Math.Min(width, 2600), (int)Math.Min(height, 6000));
        string path = Path.Combine(Browser.ArtifactsDirectory(), name);
        driver.GetScreenshot().SaveAsFile(path);
        output.WriteLine($"screenshot: {path}");
    }

    private static Dictionary<string, int> Findings(string ds)
    {
        var q = Mmtrace.Run("query", ds, "--sql", "SELECT trace, count(*) FROM findings GROUP BY ALL", "--format", "csv");
        Assert.True(q.ExitCode == 0, q.ToString());
        return q.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(l => l.Split(','))
            .ToDictionary(p => p[0], p => int.Parse(p[1], CultureInfo.InvariantCulture), StringComparer.Ordinal);
    }

    private static long Scalar(string ds, string sql)
    {
        var q = Mmtrace.Run("query", ds, "--sql", sql, "--format", "csv");
        Assert.True(q.ExitCode == 0, q.ToString());
        return long.Parse(q.Stdout.Split('\n')[1], CultureInfo.InvariantCulture);
    }
}
