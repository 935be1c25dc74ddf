using Pipeline.Storage;

namespace Pipeline.Replay.Real;

/// <summary>Produces the <c>mremaps</c> and <c>mremap_moves</c> rows of a real trace.</summary>
public static class MremapAnalyzer
{
    /// <summary>
    /// Runs an <see cref="AddressSpaceTracker"/> over <paramref name="events"/> (seq order) and collects one
    /// <see cref="MremapCall"/> per mremap() and its <see cref="MremapExtent"/>s. The events may be a reused
    /// row: nothing is kept from them but the fields the rows need.
    /// </summary>
    public static (IReadOnlyList<MremapCall> Calls, IReadOnlyList<MremapExtent> Extents) Analyze(
        IEnumerable<EventRow> events, PredictionProfile profile, MapsSnapshot? seed, ThpMode thp = ThpMode.Madvise)
    {
        ArgumentNullException.ThrowIfNull(events);
        var calls = new List<MremapCall>();
        var extents = new List<MremapExtent>();
        var tracker = new AddressSpaceTracker(profile, thp, seed)
        {
            MremapCompleted = (call, rows) =>
            {
                calls.Add(call);
                extents.AddRange(rows);
            },
        };
        foreach (var row in events)
        {
            tracker.Process(row);
        }
        tracker.Finish();
        SortRows(calls, extents);
        return (calls, extents);
    }

    /// <summary>Puts collected rows in seq order (unfinished calls are reported at the end of the trace).</summary>
    public static void SortRows(List<MremapCall> calls, List<MremapExtent> extents)
    {
        ArgumentNullException.ThrowIfNull(calls);
        ArgumentNullException.ThrowIfNull(extents);
        calls.Sort((x, y) => x.Seq.CompareTo(y.Seq));
        extents.Sort((x, y) => x.Seq != y.Seq ? x.Seq.CompareTo(y.Seq) : x.ExtentIndex.CompareTo(y.ExtentIndex));
    }
}
