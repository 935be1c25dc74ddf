using System.CommandLine;
using System.Runtime.InteropServices;
using Pipeline.Storage;
using Pipeline.Storage.DuckDb;

namespace Pipeline.Cli;

/// <summary>Runs a command body and maps failures to one clear line on stderr and an exit code.</summary>
internal static class CommandRunner
{
    /// <summary>
    /// Runs <paramref name="body"/>. SIGINT (Ctrl-C), SIGTERM, SIGHUP and SIGQUIT cancel its token the first time,
    /// so the command stops cleanly: temporary directories, tracefs instances and DuckDB queries are given up and
    /// an existing dataset stays as it was. The same signal a second time is not caught: the process dies the
    /// default way (a writer's leftovers are swept by the next writer of that dataset).
    /// </summary>
    public static int Run(ParseResult parse, Option<bool> verbose, Func<CancellationToken, int> body)
    {
        using var cancellation = new CancellationTokenSource();
        var registrations = new List<PosixSignalRegistration>();
        if (!OperatingSystem.IsWindows())
        {
            foreach (var signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP, PosixSignal.SIGQUIT })
            {
                registrations.Add(PosixSignalRegistration.Create(signal, context =>
                {
                    // Signal handlers run on a pool thread, so two signals may race here: whoever cancels first
                    // keeps the process alive, a later one finds the token cancelled and lets the signal kill it.
                    lock (cancellation)
                    {
                        if (cancellation.IsCancellationRequested)
                        {
                            return;
                        }
                        context.Cancel = true;
                        // Cancel before saying so: whoever reads the line (a test resuming a paused run) must find
                        // the token already cancelled.
                        cancellation.Cancel();
                        Console.Error.WriteLine($"mmtrace: {context.Signal}: stopping; send it again to kill at once.");
                    }
                }));
            }
        }
        try
        {
            return body(cancellation.Token);
        }
        catch (Exception e) when (Classify(e) is int code)
        {
            Console.Error.WriteLine($"mmtrace: {Describe(e)}");
            if (parse.GetValue(verbose))
            {
                Console.Error.WriteLine(e);
            }
            return code;
        }
        finally
        {
            foreach (var registration in registrations)
            {
                registration.Dispose();
            }
        }
    }

    private static int? Classify(Exception e) => e switch
    {
        UsageException or ArgumentException => ExitCodes.Usage,
        OperationCanceledException => ExitCodes.BadInput,
        InvalidOperationException when e.Message.Contains("tracefs", StringComparison.Ordinal) => ExitCodes.BadInput,
        TraceFormatException or DuckDbException or IOException or UnauthorizedAccessException
            or InvalidDataException or FormatException or KeyNotFoundException or DllNotFoundException => ExitCodes.BadInput,
        _ => null,
    };

    private static string Describe(Exception e) => e switch
    {
        OperationCanceledException => "interrupted; nothing was written.",
        // .NET appends " (Parameter 'name')", the name of a C# parameter the user never typed.
        ArgumentException { ParamName: { } name } a => OneLine(a.Message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal)),
        _ => OneLine(e.Message),
    };

    /// <summary>DuckDB's messages span lines (a caret under the bad token); stderr gets one line.</summary>
    private static string OneLine(string message)
    {
        var parts = message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(line => line.Trim('^', ' ').Length > 0);
        return string.Join(" | ", parts);
    }
}
