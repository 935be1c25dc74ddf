using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Pipeline.Cli.Tests;

/// <summary>
/// A running <c>mmtrace</c> child for fault injection: started with <c>MMTRACE_TEST_PAUSE=PHASE</c> it stops in
/// that phase (see Pipeline.Storage.FaultPoint) until its stdin closes, so a test can deliver a signal there.
/// </summary>
internal sealed partial class MmtraceChild : IDisposable
{
    public const int SigHup = 1;
    public const int SigInt = 2;
    public const int SigKill = 9;
    public const int SigTerm = 15;

    private readonly Process _process;
    private readonly Task<string> _stdout;
    private readonly List<string> _stderr = [];
    private readonly SemaphoreSlim _lines = new(0);

    public MmtraceChild(string? pauseAt, params string[] args)
    {
        // A child inherits ignored signals, and .NET keeps a signal ignored that was ignored at its start: when this test
        // run was started as a background job of a non-interactive shell (SIGINT and SIGQUIT ignored) or under nohup
        // (SIGHUP), mmtrace could never catch them. env(1) puts them back to their defaults before it execs dotnet.
        bool resetSignals = InheritsIgnoredStopSignals() && File.Exists("/usr/bin/env");
        var start = new ProcessStartInfo(resetSignals ? "/usr/bin/env" : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        if (resetSignals)
        {
            start.ArgumentList.Add("--default-signal=HUP,INT,QUIT");
            start.ArgumentList.Add("dotnet");
        }
        if (pauseAt is not null)
        {
            start.Environment["MMTRACE_TEST_PAUSE"] = pauseAt;
        }
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "mmtrace.dll"));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        _process = Process.Start(start)!;
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (_stderr)
                {
                    _stderr.Add(e.Data);
                }
                _lines.Release();
            }
        };
        _process.BeginErrorReadLine();
        _stdout = _process.StandardOutput.ReadToEndAsync();
    }

    public int Pid => _process.Id;

    public StreamWriter Stdin => _process.StandardInput;

    /// <summary>Waits (up to <see cref="Mmtrace.Limit"/>: the machine may be busy) for the pause line; fails if the child exits first.</summary>
    public void WaitPaused(string phase) => WaitFor($"mmtrace: paused at {phase}");

    /// <summary>Sends a signal mmtrace catches and waits until it said so (its handler runs asynchronously).</summary>
    public void Interrupt(int signal)
    {
        Signal(signal);
        WaitFor(line => line.StartsWith("mmtrace: SIG", StringComparison.Ordinal) && line.Contains(": stopping", StringComparison.Ordinal));
    }

    private void WaitFor(string line) => WaitFor(l => l == line);

    private void WaitFor(Func<string, bool> match)
    {
        var deadline = DateTime.UtcNow + Mmtrace.Limit;
        while (DateTime.UtcNow < deadline)
        {
            lock (_stderr)
            {
                if (_stderr.Any(match))
                {
                    return;
                }
            }
            if (_process.HasExited && !_lines.Wait(0))
            {
                // The exit can be seen before the reader has handed over the last lines: WaitForExit() without a
                // limit returns only when stderr reached its end, so look once more before concluding.
                _process.WaitForExit();
                lock (_stderr)
                {
                    if (_stderr.Any(match))
                    {
                        return;
                    }
                    throw new InvalidOperationException($"mmtrace exited ({_process.ExitCode}) before the expected line:\n{string.Join('\n', _stderr)}");
                }
            }
            _lines.Wait(TimeSpan.FromMilliseconds(200));
        }
        // What the child was doing, for the report: its state and each thread's kernel wait channel (Linux), then
        // everything it wrote to stderr.
        string state = DescribeProcess(_process.Id);
        Mmtrace.Stop(_process);
        lock (_stderr)
        {
            throw new TimeoutException($"mmtrace did not write the expected line in {Mmtrace.Limit.TotalMinutes} minutes. {state}\nstderr:\n{string.Join('\n', _stderr)}");
        }
    }

    /// <summary>Whether this process ignores SIGHUP, SIGINT or SIGQUIT (the SigIgn mask of /proc/self/status).</summary>
    private static bool InheritsIgnoredStopSignals()
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }
        string? line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
        return line is not null
            && ulong.TryParse(line["SigIgn:".Length..].Trim(), System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture, out ulong mask)
            && (mask & 0b111) != 0;
    }

    private static string DescribeProcess(int pid)
    {
        try
        {
            string status = File.ReadAllLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("State:", StringComparison.Ordinal)) ?? "State: ?";
            var threads = Directory.EnumerateDirectories($"/proc/{pid}/task").Order(StringComparer.Ordinal).Select(t =>
            {
                string comm = File.ReadAllText(Path.Combine(t, "comm")).Trim();
                string wchan = File.Exists(Path.Combine(t, "wchan")) ? File.ReadAllText(Path.Combine(t, "wchan")).Trim() : "?";
                return $"{Path.GetFileName(t)} {comm} {wchan}";
            });
            return $"pid {pid} {status}; threads: {string.Join(", ", threads)}";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"pid {pid}: /proc not readable ({e.Message})";
        }
    }

    public void Signal(int signal)
    {
        if (kill(_process.Id, signal) != 0)
        {
            throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    /// <summary>Lets a paused child go on (closes its stdin) and waits for it.</summary>
    public Mmtrace.Result Finish()
    {
        try
        {
            _process.StandardInput.Close();
        }
        catch (IOException)
        {
            // Already gone (killed).
        }
        if (!_process.WaitForExit(Mmtrace.Limit))
        {
            Mmtrace.Stop(_process);
            throw new TimeoutException($"mmtrace did not finish in {Mmtrace.Limit.TotalMinutes} minutes.");
        }
        _process.WaitForExit();
        lock (_stderr)
        {
            return new Mmtrace.Result(_process.ExitCode, _stdout.Result, string.Join('\n', _stderr));
        }
    }

    public void Dispose()
    {
        // A test that failed half-way leaves its child running: stopped as a user would (Ctrl-C), not killed.
        Mmtrace.Stop(_process);
        _process.Dispose();
        _lines.Dispose();
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);
}
