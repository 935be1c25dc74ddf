using Pipeline.Tests.Shared;

namespace Pipeline.Replay.Tests;

/// <summary>A fact on the shared corpus: skipped, with the reason, when no <c>shared/corpus</c> is above the tests (CI clones).</summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class CorpusFactAttribute : FactAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> when the corpus is absent (<see cref="TestCorpus.SharedAvailable"/>).</summary>
    public CorpusFactAttribute()
    {
        if (!TestCorpus.SharedAvailable)
        {
            Skip = "shared/corpus is not above the test binaries (clone shared/ beside the repository to run this test)";
        }
    }
}
