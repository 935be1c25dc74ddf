using System.CommandLine;
using Pipeline.Analyze;
using Pipeline.Storage;

namespace Pipeline.Cli;

/// <summary>
/// <c>--pid</c>, <c>--from</c>, <c>--to</c> of <c>replay</c>, <c>query</c> and <c>show</c>: a process and a time range, with
/// times written as <c>mmtrace show</c> takes them (seconds as listed, or a number with ns/us/ms/s).
/// </summary>
internal sealed class ScopeOptions
{
    private ScopeOptions(string what)
    {
        Pid = new Option<int?>("--pid") { Description = $"Only {what} of this thread id or thread group." };
        From = new Option<string?>("--from") { Description = $"Only {what} at or after T: seconds as 'mmtrace show' lists them (1234.5678) or a number with ns/us/ms/s." };
        To = new Option<string?>("--to") { Description = $"Only {what} at or before T." };
    }

    public Option<int?> Pid { get; }

    public Option<string?> From { get; }

    public Option<string?> To { get; }

    /// <summary>The options, described as filtering <paramref name="what"/>.</summary>
    public static ScopeOptions Create(string what) => new(what);

    /// <summary>The scope the options give (<see cref="TraceScope.Whole"/> without them).</summary>
    /// <exception cref="UsageException">A time that does not parse, or --from after --to.</exception>
    public TraceScope Parse(ParseResult parse)
    {
        var scope = new TraceScope(parse.GetValue(Pid), ParseTime("--from", parse.GetValue(From)), ParseTime("--to", parse.GetValue(To)));
        if (scope.FromNs > scope.ToNs)
        {
            throw new UsageException($"--from is after --to ({scope}): nothing would be in range.");
        }
        return scope;
    }

    private static long? ParseTime(string option, string? text)
    {
        if (text is null)
        {
            return null;
        }
        try
        {
            return FieldFormat.ParseTimeNs(text);
        }
        catch (FormatException e)
        {
            throw new UsageException($"{option}: {e.Message}");
        }
    }
}
