namespace Pipeline.Storage.Tests;

/// <summary>
/// A test too slow for the default run (tens of seconds); it runs when MMTRACE_HEAVY_TESTS=1, e.g.
/// <c>MMTRACE_HEAVY_TESTS=1 dotnet test tests/Storage.Tests --filter Category=Heavy</c>.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class HeavyFactAttribute : FactAttribute
{
    public HeavyFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("MMTRACE_HEAVY_TESTS") != "1")
        {
            Skip = "Heavy test: set MMTRACE_HEAVY_TESTS=1 to run it.";
        }
    }
}
