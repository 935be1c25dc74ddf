using System.CommandLine;
using Pipeline.Storage;
using Pipeline.Storage.DuckDb;

namespace Pipeline.Cli;

/// <summary>Runs a command body and maps failures to one clear line on stderr and an exit code.</summary>
internal static class CommandRunner
{
    public static int Run(ParseResult parse, Option<bool> verbose, Func<CancellationToken, int> body)
    {
        using var cancellation = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            // First Ctrl-C: stop cleanly so temporary files and tracefs instances are removed.
            e.Cancel = true;
            cancellation.Cancel();
        };
        Console.CancelKeyPress += onCancel;
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
            Console.CancelKeyPress -= onCancel;
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
