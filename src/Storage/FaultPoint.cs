namespace Pipeline.Storage;

/// <summary>
/// Named points of a run where the fault-injection tests stop the process to deliver a signal in a known phase
/// (the phases are too short to hit by timing). Inert unless the environment variable
/// <c>MMTRACE_TEST_PAUSE</c> names the point: then the process writes <c>mmtrace: paused at NAME</c> to stderr
/// and waits until its standard input reaches end of file or a line. For tests only.
/// </summary>
public static class FaultPoint
{
    private static readonly string? s_pauseAt = Environment.GetEnvironmentVariable("MMTRACE_TEST_PAUSE");

    /// <summary>Points: <c>parse</c> (input open, nothing read), <c>write</c> (events parsed, files not finished),
    /// <c>precommit</c> (dataset complete, before the last cancellation check), <c>commit</c> (after it, right
    /// before the swap), <c>swap</c> (after the swap's first step), <c>query</c> (mmtrace query: Ctrl-C handling
    /// in place, the query not started).</summary>
    public static void Reached(string name)
    {
        if (s_pauseAt is null || !string.Equals(s_pauseAt, name, StringComparison.Ordinal))
        {
            return;
        }
        Console.Error.WriteLine($"mmtrace: paused at {name}");
        Console.Error.Flush();
        Console.In.ReadLine();
    }
}
