using Pipeline.Storage;

namespace Pipeline.Ingest.Perf;

/// <summary>
/// The one place where a tracepoint's trace text becomes fields. Kept as a single call so the
/// shared payload parser (event catalog) plugs in here without touching the line parser.
/// </summary>
internal static class PerfPayload
{
    /// <summary>Name of the arg that holds trace text no parser could split.</summary>
    public const string RawArg = "payload";

    public static void Fill(EventRow row, string eventName, ReadOnlySpan<char> payload)
    {
        _ = eventName;
        if (!payload.IsEmpty)
        {
            row.AddArg(RawArg, new string(payload));
        }
    }
}
