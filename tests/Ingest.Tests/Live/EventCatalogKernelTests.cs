using Pipeline.Ingest.Catalog;
using Pipeline.Ingest.Live;

namespace Pipeline.Ingest.Tests.Live;

/// <summary>
/// Kernel text never prints an event's system, so ingest names it from <see cref="EventCatalog"/>; an event the
/// catalog lacks is stored as <c>:name</c> and no lowering rule (they match <c>system:name</c>) ever sees it. That
/// happened to the whole filemap system: text traces lowered no file fault while trace.dat did.
/// </summary>
public sealed class EventCatalogKernelTests
{
    /// <summary>The systems whose events the lowering, coverage and queries read.</summary>
    private static readonly string[] s_mmSystems =
        ["tlb", "mmap", "mmap_lock", "huge_memory", "thp", "kmem", "migrate", "vmscan", "compaction", "exceptions", "pagemap", "filemap"];

    [LiveFact]
    public void Catalog_EveryEventOfTheMmSystemsOnThisKernel_GetsItsSystem()
    {
        string events = Path.Combine(TraceFsInstance.FindOrMountTraceFs(), "events");
        var unknown = new List<string>();
        int seen = 0;
        foreach (string system in s_mmSystems)
        {
            string dir = Path.Combine(events, system);
            if (!Directory.Exists(dir))
            {
                continue; // a kernel built without it (e.g. no THP): nothing of it can be in a trace
            }
            foreach (string eventDir in Directory.EnumerateDirectories(dir).Order(StringComparer.Ordinal))
            {
                if (!File.Exists(Path.Combine(eventDir, "format")))
                {
                    continue;
                }
                string name = Path.GetFileName(eventDir);
                seen++;
                if (EventCatalog.Canonical(name) != system + ":" + name)
                {
                    unknown.Add($"{system}:{name} (catalog gives '{EventCatalog.Canonical(name)}')");
                }
            }
        }
        Assert.True(seen > 50, $"only {seen} events found under {events}");
        Assert.True(unknown.Count == 0, "events this kernel has that kernel text would store without their system: " + string.Join(", ", unknown));
    }
}
