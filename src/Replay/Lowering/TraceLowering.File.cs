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
    private readonly Dictionary<(string Dev, string Ino, string Offset), ulong> _pageCache = [];

    /// <summary>The page-cache key of a filemap event: its arguments as the trace spells them (text or raw fields).</summary>
    private (string Dev, string Ino, string Offset)? PageCacheKey()
    {
        string? dev = null, ino = null, offset = null;
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
                case "ofs":
                    offset = arg.Value;
                    break;
            }
        }
        return ino is null || offset is null ? null : (dev ?? "", ino, offset);
    }

    private void OnPageCacheAdd(TaskInfo task)
    {
        if (PageCacheKey() is not { } key || !_row.IsSet(s_pfn))
        {
            return;
        }
        ulong pfn = _row.GetUInt64(s_pfn);
        _pageCache[key] = pfn;
        foreach (var t in _tasks.Values)
        {
            if (t.PendingFileFault is { } pending && pending.Key == key)
            {
                // The fault missed the page cache: the page it maps is the one read in for it.
                t.PendingFileFault = null;
                MapFilePage(task, pending.Fault, pfn);
            }
        }
    }

    private void OnPageCacheDelete()
    {
        if (PageCacheKey() is { } key)
        {
            _pageCache.Remove(key);
        }
    }

    private void OnFileFault(TaskInfo task)
    {
        if (task.PendingFault is not { } fault || PageCacheKey() is not { } key)
        {
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
