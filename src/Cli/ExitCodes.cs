namespace Pipeline.Cli;

/// <summary>Process exit codes; scripts depend on them.</summary>
internal static class ExitCodes
{
    /// <summary>Success, nothing to report.</summary>
    public const int Success = 0;

    /// <summary>The command ran and reports findings.</summary>
    public const int Findings = 1;

    /// <summary>Usage error: bad options or arguments.</summary>
    public const int Usage = 2;

    /// <summary>Bad input or I/O error.</summary>
    public const int BadInput = 3;
}

/// <summary>A usage error found after parsing (conflicting options, bad values).</summary>
internal sealed class UsageException(string message) : Exception(message);
