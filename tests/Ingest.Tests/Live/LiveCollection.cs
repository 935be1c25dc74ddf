namespace Pipeline.Ingest.Tests.Live;

/// <summary>
/// Live tests run one at a time: one of them exercises the exit hook, which removes every instance of the
/// process, and that must not pull a recording out from under another test.
/// </summary>
[CollectionDefinition(Name)]
public sealed class LiveCollection
{
    public const string Name = "Live tracefs";
}
