namespace Pipeline.Cli.Tests.Views;

/// <summary>
/// A fact that reads the shared recorded corpus; skipped with the reason when a clone has no shared/corpus
/// beside it (decided at discovery, so the skip and its reason show in the test output).
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class CorpusFactAttribute : FactAttribute
{
    private string? _skip;
    private bool _decided;

    /// <inheritdoc />
    public override string Skip
    {
        get
        {
            if (!_decided)
            {
                _decided = true;
                _skip = MissingReason();
            }
            return _skip!;
        }
        set => _skip = value;
    }

    /// <summary>Why the recorded corpus cannot be read, or null when it can.</summary>
    internal static string? MissingReason()
    {
        try
        {
            Mmtrace.Corpus("recorded/ftrace-text/mm_trace.txt");
            Mmtrace.Corpus("recorded/trace-cmd/mm_v7_zstd_full.dat");
            return null;
        }
        catch (FileNotFoundException e)
        {
            return $"Recorded corpus absent: {e.Message}";
        }
    }
}
