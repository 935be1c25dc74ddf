namespace Pipeline.Replay;

/// <summary>
/// I1 (R1): at <c>page_free</c> no usable TLB entry on any CPU, under any VA, may map the page; at
/// <c>table_free</c> no usable walk-cache entry may name the table. An entry of mm M on CPU c is usable iff c
/// runs M or the entry's tlb_gen is M's current one (otherwise switch_mm flushes it before use). Stale entries
/// after a PTL is dropped are normal (batched flushes); only a usable entry at the free is a bug. That includes
/// relocation: a move that left an entry of the old address usable shows as such an entry when a walker that
/// found the page at its new address frees it, so there is no separate check at the move's unlock (every
/// modelled move flushes the old range before it unlocks, and an unlock alone harms nothing). A walk-cache
/// entry counts on a CPU running the mm and, on x86, on a lazy CPU that still has it loaded.
/// </summary>
internal sealed class I1NoStaleTranslationAtFree : IChecker
{
    public string Id => "I1";

    public void OnPageFree(ReplayEngine engine, TaskState task, in Op op, PageState page, long now)
    {
        if (page.TlbRefs <= 0)
        {
            return;
        }
        // One race instance per free, whatever number of CPUs kept an entry: the first names the finding,
        // the others are listed in it.
        CpuState? first = null;
        TlbEntry firstEntry = default;
        MmState? firstMm = null;
        var others = new List<(CpuState Cpu, TlbEntry Entry)>();
        // page.TlbRefs counts the entries of every CPU that name this frame: once that many are seen, the rest of
        // the TLBs holds none of them (the scan was a tenth of a whole-machine trace's replay).
        int unseen = page.TlbRefs;
        foreach (var cpu in engine.Cpus)
        {
            if (unseen == 0)
            {
                break;
            }
            foreach (var entry in cpu.Tlb.Values)
            {
                if (entry.Pfn != op.Pfn)
                {
                    continue;
                }
                unseen--;
                var mm = engine.GetMm(entry.Mm);
                bool usable = cpu.LoadedMm == entry.Mm || (mm is not null && entry.Gen == mm.TlbGen);
                if (usable && first is null)
                {
                    (first, firstEntry, firstMm) = (cpu, entry, mm);
                }
                else if (usable)
                {
                    others.Add((cpu, entry));
                }
                if (unseen == 0)
                {
                    break;
                }
            }
        }
        if (first is not null)
        {
            Report(engine, op, page, now, first, firstEntry, firstMm, others);
        }
    }

    private static void Report(ReplayEngine engine, in Op op, PageState page, long now, CpuState cpu, TlbEntry entry, MmState? mm,
        List<(CpuState Cpu, TlbEntry Entry)> others)
    {
        var execs = new List<long> { entry.FillExec, page.UnmapWalkExec, page.UnmapLockExec, page.LastUnmapExec, now };
        string also = "";
        foreach (var (c, e) in others)
        {
            execs.Add(e.FillExec);
            also += $"; CPU{c.Id} also holds 0x{e.Va:x} -> pfn 0x{e.Pfn:x}";
        }
        long since = entry.FillExec;
        string relocation = "";
        foreach (int id in new[] { entry.LeafTable, entry.Chain1, entry.Chain2 })
        {
            var t = engine.GetTable(id);
            if (t is null || !engine.InWindow(t.LinkExec))
            {
                continue;
            }
            ref readonly var link = ref engine.Record(t.LinkExec);
            if (link.Op.Kind is OpKind.PmdMove or OpKind.PudMove)
            {
                execs.Add(t.LinkExec);
                since = Math.Min(since, t.LinkExec);
                relocation = $" {OpSpec.NameOf(link.Op.Kind)} had moved table {t.Id} from 0x{link.Op.Va:x} to 0x{link.Op.NewVa:x}, so the page was reachable under two addresses.";
            }
        }
        if (mm is not null)
        {
            execs.AddRange(engine.FlushesAfter(mm, since));
        }
        string unmapper = "";
        if (engine.InWindow(page.LastUnmapExec))
        {
            ref readonly var unmap = ref engine.Record(page.LastUnmapExec);
            var t = engine.GetTask(unmap.Op.Tid);
            unmapper = $" {t.Comm}-{t.Tid} unmapped it through 0x{unmap.Op.Va:x} and flushed only what it knew, not 0x{entry.Va:x}.";
        }
        string size = entry.SizeShift switch
        {
            12 => "4K",
            21 => "2M",
            _ => "1G",
        };
        engine.AddRace(new RaceInstance("I1", entry.Mm, 'p', op.Pfn, now), "R1", Severity.Critical, entry.Va, op.Pfn, execs,
            $"pfn 0x{op.Pfn:x} is freed while CPU{cpu.Id} still holds a usable {size} TLB entry 0x{entry.Va:x} -> pfn 0x{entry.Pfn:x} "
            + $"(filled through table {entry.LeafTable} entry {entry.LeafIdx}).{relocation}{unmapper}",
            $"CPU{cpu.Id} can still read and write pfn 0x{op.Pfn:x} through 0x{entry.Va:x} after it is freed and reused: use-after-free through a stale TLB entry{also}");
    }

    public void OnTableFree(ReplayEngine engine, TaskState task, in Op op, Table table, long now)
    {
        int finding = -1;
        foreach (var cpu in engine.Cpus)
        {
            // A lazy x86 CPU still has the mm's page tables loaded: speculative walks may use its caches.
            bool loaded = cpu.LoadedMm == table.Mm || (engine.Arch == Arch.X86 && cpu.LazyMm == table.Mm);
            if (!loaded || cpu.WalkCache.Count == 0)
            {
                continue;
            }
            foreach (var kv in cpu.WalkCache)
            {
                // Only entries of the mm that owns the table: an entry another mm left behind names an older
                // table that had the same id, and cannot be used while this mm is loaded (a different ASID).
                if (kv.Value == table.Id && (int)(kv.Key >> 42) == table.Mm)
                {
                    if (finding < 0)
                    {
                        finding = engine.AddRace(new RaceInstance("I1", table.Mm, 't', (ulong)table.Id, now), "R1", Severity.Critical, 0, 0, [table.UnlinkExec, now],
                            $"table {table.Id} is freed while CPU{cpu.Id}'s paging-structure cache still names it (no flush with freed_tables reached CPU{cpu.Id}{(cpu.LoadedMm == table.Mm ? "" : ", which is lazy with the mm still loaded")})",
                            $"CPU{cpu.Id}'s next walk may read the freed table {table.Id}");
                    }
                    else
                    {
                        engine.AmendFinding(finding, [], $"{engine.FindingOutcome(finding)}; so may CPU{cpu.Id}'s");
                    }
                    break;
                }
            }
        }
    }
}
