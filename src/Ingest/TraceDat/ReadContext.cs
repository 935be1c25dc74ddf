using System.Globalization;
using Pipeline.Storage;

namespace Pipeline.Ingest.TraceDat;

/// <summary>
/// Where a read reports what it finds besides events: malformed records (counted, or thrown in strict mode),
/// damage that ends a CPU stream (<see cref="IngestDiagnostics.Truncated"/>, or thrown in strict mode) and lost events.
/// </summary>
internal sealed class ReadContext
{
    private const int MaxDamageMessages = 8;

    private readonly Dictionary<int, LostEventsSummary> _lost = [];
    private int _damageCount;

    public ReadContext(string fileName, IngestDiagnostics diagnostics)
    {
        FileName = fileName;
        Diagnostics = diagnostics;
    }

    public string FileName { get; }

    public IngestDiagnostics Diagnostics { get; }

    public IReadOnlyDictionary<int, LostEventsSummary> LostByCpu => _lost;

    public void Malformed(long offset, string message) => Diagnostics.Malformed(FileName, offset, "byte", message);

    /// <summary>Damage that ends a stream: throws in strict mode, else records it as the truncation message.</summary>
    public void Damage(DataDamage damage)
    {
        var record = new MalformedRecord(FileName, damage.Offset, "byte", $"section '{damage.Section}': {damage.Message}");
        if (Diagnostics.Strict)
        {
            throw new TraceFormatException(record);
        }
        _damageCount++;
        if (_damageCount == 1)
        {
            Diagnostics.Truncated = record.ToString() + " (events after this point in that stream are missing)";
        }
        else if (_damageCount <= MaxDamageMessages)
        {
            Diagnostics.Truncated += "; " + record;
        }
    }

    /// <summary>A page said events were lost before it: the stored count, or -1 when the kernel had no room to store it.</summary>
    public void Lost(int cpu, long count)
    {
        var summary = _lost.GetValueOrDefault(cpu) ?? new LostEventsSummary(cpu);
        _lost[cpu] = summary;
        if (count > 0)
        {
            summary.Counted += count;
            Diagnostics.LostEvents += count;
        }
        else
        {
            // Count unknown: at least one event is gone; counted as one so the total is a lower bound.
            summary.UncountedPages++;
            Diagnostics.LostEvents += 1;
        }
    }

    public static string Offset(long offset) => offset.ToString(CultureInfo.InvariantCulture);
}

/// <summary>Events lost on one CPU, as the pages' missed-events flags report them.</summary>
public sealed class LostEventsSummary
{
    internal LostEventsSummary(int cpu)
    {
        Cpu = cpu;
    }

    /// <summary>CPU.</summary>
    public int Cpu { get; }

    /// <summary>Sum of the lost-event counts stored in pages.</summary>
    public long Counted { get; internal set; }

    /// <summary>Pages flagged "events lost" without a stored count (no room on the page).</summary>
    public int UncountedPages { get; internal set; }
}
