using Pipeline.Storage;

namespace Pipeline.Replay.Lowering;

/// <summary>
/// File pages (docs/lowering.md): the page cache as the <c>filemap</c> events show it — which pfn holds which
/// (device, inode, offset) — and the faults that map one page of it, <c>page_fault_user</c> followed by
/// <c>mm_filemap_fault</c> of the same task (a write fault on a shared mapping, or a read fault that fault-around did
/// not satisfy). The page is mapped at the faulting address; fault-around (<c>mm_filemap_map_pages</c>) names a range
/// of offsets whose addresses depend on the VMA's file offset and the fault-around window, and is not lowered.
/// </summary>
public sealed partial class TraceLowering
{
    // The largest folio order the lowering spreads over its pages (order 12: 16 MiB of 4 KiB pages; the page cache's
    // largest folio is a PMD's, order 9 on x86-64). A larger order is a corrupt field: the event is counted, not lowered.
    private const int MaxFolioOrder = 12;

    private readonly Dictionary<(string Dev, string Ino, ulong Index), ulong> _pageCache = [];

    /// <summary>
    /// The page-cache key of a filemap event: the device and inode as the trace spells them (text <c>dev</c>/<c>ino</c>,
    /// trace.dat <c>s_dev</c>/<c>i_ino</c>; one trace spells them one way) and the page index — trace.dat's
    /// <c>index</c>, or the kernel text's <c>ofs</c>, which prints the index shifted by the page size (4 KiB in the model).
    /// Null when a field is missing or not a number.
    /// </summary>
    private (string Dev, string Ino, ulong Index)? PageCacheKey()
    {
        string? dev = null, ino = null;
        ulong? index = null;
        foreach (var arg in _row.Args)
        {
            switch (arg.Key)
            {
                case "s_dev":
                case "dev":
                    dev = arg.Value;
                    break;
                case "i_ino":
                case "ino":
                    ino = arg.Value;
                    break;
                case "index":
                    index = OpSpec.TryParseNumber(arg.Value, out ulong pages) ? pages : null;
                    break;
                case "ofs":
                    index = OpSpec.TryParseNumber(arg.Value, out ulong bytes) ? bytes >> 12 : null;
                    break;
            }
        }
        return ino is null || index is not { } i ? null : (dev ?? "", ino, i);
    }

    /// <summary>The folio order of an add or delete (the typed <c>order</c> column; absent before 6.x kernels: one page).</summary>
    private int? FolioOrder()
    {
        long order = _row.IsSet(s_order) ? _row.GetInt64(s_order) : 0;
        return order is >= 0 and <= MaxFolioOrder ? (int)order : null;
    }

    private void OnPageCacheAdd(TaskInfo task)
    {
        if (PageCacheKey() is not { } key || !_row.IsSet(s_pfn) || FolioOrder() is not { } order)
        {
            Statistics.FilemapEventsSkipped++;
            return;
        }
        ulong pfn = _row.GetUInt64(s_pfn);
        // A large folio is 2^order consecutive frames holding consecutive file pages.
        for (ulong i = 0; i < 1UL << order; i++)
        {
            _pageCache[(key.Dev, key.Ino, key.Index + i)] = pfn + i;
        }
        foreach (var t in _tasks.Values)
        {
            if (t.PendingFileFault is { } pending && pending.Key.Dev == key.Dev && pending.Key.Ino == key.Ino
                && pending.Key.Index - key.Index < 1UL << order)
            {
                // The fault missed the page cache: the page it maps is the one read in for it.
                t.PendingFileFault = null;
                MapFilePage(task, pending.Fault, pfn + (pending.Key.Index - key.Index));
            }
        }
    }

    private void OnPageCacheDelete()
    {
        if (PageCacheKey() is not { } key || FolioOrder() is not { } order)
        {
            Statistics.FilemapEventsSkipped++;
            return;
        }
        for (ulong i = 0; i < 1UL << order; i++)
        {
            _pageCache.Remove((key.Dev, key.Ino, key.Index + i));
        }
    }

    private void OnFileFault(TaskInfo task)
    {
        if (task.PendingFault is not { } fault)
        {
            return;
        }
        if (PageCacheKey() is not { } key)
        {
            Statistics.FilemapEventsSkipped++;
            return;
        }
        task.PendingFault = null;
        if (_pageCache.TryGetValue(key, out ulong pfn))
        {
            MapFilePage(task, fault, pfn);
        }
        else
        {
            task.PendingFileFault = (fault, key);
        }
    }

    private void MapFilePage(TaskInfo task, PendingFault fault, ulong pfn)
    {
        var pte = fault.Mm.Find(fault.Va, Level.Pte);
        if (pte is not null && pte.Leaves![ShadowTable.IndexOf(fault.Va, Level.Pte)] == pfn + 1)
        {
            return;
        }
        MapPte(task, fault, pfn);
        Statistics.FileFaultsMapped++;
    }
}
