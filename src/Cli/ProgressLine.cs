using System.Diagnostics;
using System.Globalization;
using Pipeline.Ingest;
using Pipeline.Replay.Runner;

namespace Pipeline.Cli;

/// <summary>
/// One progress line on stderr, redrawn in place at most ten times a second, for ingest, replay, explore and
/// demo. Only for a person at a terminal: <see cref="ForTerminal"/> gives none when stderr is redirected, so
/// logs, pipes and tests never see carriage returns. <see cref="Finish"/> erases the line, so what the command
/// prints afterwards starts on a clean line.
/// </summary>
internal sealed class ProgressLine
{
    private const int BarWidth = 30;
    private readonly TextWriter _error;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private long _lastDraw = -1000;
    private int _drawnWidth;

    private ProgressLine(TextWriter error) => _error = error;

    /// <summary>A progress line on stderr when stderr is a terminal, else null.</summary>
    public static ProgressLine? ForTerminal() => Console.IsErrorRedirected ? null : new ProgressLine(Console.Error);

    /// <summary>
    /// Runs <paramref name="work"/> with a progress line (null when stderr is not a terminal) and erases the line
    /// afterwards, also when the work fails, so results and errors start on a clean line.
    /// </summary>
    public static T While<T>(Func<ProgressLine?, T> work)
    {
        var bar = ForTerminal();
        try
        {
            return work(bar);
        }
        finally
        {
            bar?.Finish();
        }
    }

    /// <summary>Seconds since the line was made (rates are per this clock).</summary>
    public double Seconds => Math.Max(_clock.Elapsed.TotalSeconds, 1e-3);

    /// <summary>
    /// Draws <paramref name="label"/>, a bar when <paramref name="fraction"/> is known, and <paramref name="detail"/>;
    /// skipped when the last draw was under 100 ms ago unless <paramref name="force"/>.
    /// </summary>
    public void Show(string label, double? fraction, string detail, bool force = false)
    {
        long now = _clock.ElapsedMilliseconds;
        if (!force && now - _lastDraw < 100)
        {
            return;
        }
        _lastDraw = now;
        string bar = "";
        if (fraction is { } f)
        {
            f = Math.Clamp(f, 0, 1);
            int filled = (int)(f * BarWidth);
            bar = string.Create(CultureInfo.InvariantCulture, $" [{new string('#', filled)}{new string('.', BarWidth - filled)}] {f * 100,5:F1}%");
        }
        string text = $"{label}{bar} {detail}";
        // Pad over what the previous, longer line left on the screen.
        _error.Write("\r" + text.PadRight(_drawnWidth));
        _drawnWidth = text.Length;
        _error.Flush();
    }

    /// <summary>Erases the line.</summary>
    public void Finish()
    {
        if (_drawnWidth > 0)
        {
            _error.Write("\r" + new string(' ', _drawnWidth) + "\r");
            _error.Flush();
            _drawnWidth = 0;
        }
    }

    /// <summary>Ingest's progress: bytes of the input, events written, events per second.</summary>
    public IProgress<IngestProgress> ForIngest() => new Adapter<IngestProgress>(value =>
        Show(Path.GetFileName(value.File), value.TotalBytes == 0 ? 1 : (double)value.BytesRead / value.TotalBytes,
            string.Create(CultureInfo.InvariantCulture,
                $"{value.BytesRead / 1048576.0:F1}/{value.TotalBytes / 1048576.0:F1} MiB {value.Events:N0} events {value.Events / Seconds / 1e6:F2} M/s"),
            force: value.BytesRead >= value.TotalBytes));

    /// <summary>Replay's progress: events of the trace replayed.</summary>
    public IProgress<ReplayProgress> ForReplay() => new Adapter<ReplayProgress>(value =>
        Show("replay " + value.Trace, value.TotalEvents == 0 ? null : (double)value.Events / value.TotalEvents,
            string.Create(CultureInfo.InvariantCulture, $"{value.Events:N0}/{value.TotalEvents:N0} events {value.Events / Seconds / 1e6:F2} M/s")));

    /// <summary>Explore's progress: schedules run, against the budget when there is one.</summary>
    public IProgress<long> ForExplore(string trace, long? budget) => new Adapter<long>(schedules =>
        Show("explore " + trace, budget is { } b and > 0 ? (double)schedules / b : null,
            string.Create(CultureInfo.InvariantCulture, $"{schedules:N0}{(budget is { } all ? $"/{all:N0}" : "")} schedule{(schedules == 1 && budget is null ? "" : "s")} {schedules / Seconds:F0}/s")));

    /// <summary>Calls back on the reporting thread: <see cref="Progress{T}"/> would post to the thread pool and draw after Finish.</summary>
    private sealed class Adapter<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
