using Pipeline.Replay.Coverage;

namespace Pipeline.Replay.Lowering;

/// <summary>
/// Migration's per-PTE remap (docs/lowering.md, "Migration"): <c>migrate:set_migration_pte</c> (try_to_migrate_one put a
/// migration entry where a PTE mapped the old page) and <c>migrate:remove_migration_pte</c> (remove_migration_pte
/// mapped the new page there). Neither names an mm: the set's entry encodes the old pfn, and the mapping the model
/// holds of that pfn at that address says whose PTE it was; the remove comes later in the same task (migrate_pages
/// unmaps a batch of folios, then moves them) at the same address with the new page's PTE.
/// </summary>
public sealed partial class TraceLowering
{
    /// <summary>A migration entry the task put at an address, waiting for its remove_migration_pte.</summary>
    /// <param name="Target">The model's mapping it replaced (null: a PTE the model does not map: another mm's, or one from before the trace).</param>
    /// <param name="Pages">The old page: the pfn the model mapped there, else both decodings of the entry (x86-64, arm64).</param>
    /// <param name="Seq">The set event.</param>
    /// <param name="X86">Whether the entry that named the model's page was decoded as x86-64's (else arm64's): the new
    /// page's PTE is read as the same architecture's.</param>
    private sealed record PendingMigration(Mapping? Target, ulong[] Pages, long Seq, bool X86 = true)
    {
        /// <summary>Set when a remove_migration_pte at this address could not be given to one entry: the pending ones there are no longer told apart.</summary>
        public bool Confused { get; set; }

        /// <summary>Both entries are of one page (a page mapped in several mms, or twice in one, migrates once).</summary>
        public bool SamePage(PendingMigration other) => Pages.Intersect(other.Pages).Any();
    }

    private readonly Dictionary<(int Tid, ulong Va), List<PendingMigration>> _migrations = [];

    /// <summary>The events that show migration's remap of a PTE (asked for when a collapse lost its page to a migration).</summary>
    private static readonly string[] MigrationRemapEvents = ["migrate:set_migration_pte", "migrate:remove_migration_pte"];

    private void OnSetMigrationPte(TaskInfo task)
    {
        OnOther(task, _row.Event);
        if (!TryMigrationFields(out ulong va, out ulong pte))
        {
            return;
        }
        var old = MigrationEntry.OldPfn(pte);
        Mapping? target = null;
        int matches = 0;
        bool x86 = true;
        foreach (ulong pfn in old.X86 == old.Arm64 ? [old.X86] : (ulong[])[old.X86, old.Arm64])
        {
            if (_mapped.TryGetValue(pfn, out var m) && m.Table.Level == Level.Pte && m.Va == (va & ~4095UL))
            {
                target = m;
                x86 = pfn == old.X86;
                matches++;
            }
        }
        if (matches > 1)
        {
            // Both architectures' decodings name a page the model maps at this address (in two mms): not guessed.
            target = null;
            Statistics.MigrationEntriesAmbiguous++;
        }
        ulong oldPfn = target is { } t ? t.Table.Leaves![t.Index] - 1 : 0;
        bool mlocked = target is not null && _mlocked.Contains(oldPfn);
        if (target is { } walked)
        {
            if (mlocked)
            {
                // try_to_migrate_one moves mlocked pages: the R4 walker. Its free keeps the walker's implied unmap (the
                // mlock's transfer to the new page is not modelled), so the entry is left to it, and so is the count of
                // both walkers: the free of the old frame inside the migration counts R1's and R4's (counting them
                // here too counted one walk twice).
                Statistics.MigrationEntriesMlocked++;
            }
            else
            {
                Coverage.Actor("R1", CoverageRules.RmapWalker, walked.Mm.Id, _row.Seq);
            }
        }
        else if (matches <= 1)
        {
            // Not the model's page (an ambiguous one is counted above, once).
            Statistics.MigrationEntriesUnknown++;
        }
        var key = (task.Tid, va & ~4095UL);
        if (!_migrations.TryGetValue(key, out var list))
        {
            list = [];
            _migrations[key] = list;
        }
        list.Add(new PendingMigration(mlocked ? null : target, target is null ? [old.X86, old.Arm64] : [oldPfn], _row.Seq, x86));
        if (target is not { } mapping || mlocked)
        {
            return;
        }
        // try_to_migrate_one under the rmap walk: the PTE lock, ptep_clear_flush, the migration entry, the rmap dropped.
        ZapOfAnotherMm(task, mapping, migrate: true);
        _exposure.OnWalkerFree(mapping.Mm.Id, mapping.Va, Ev(task, "migrates a page of mm" + mapping.Mm.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Statistics.MigrationEntriesSet++;
    }

    private void OnRemoveMigrationPte(TaskInfo task)
    {
        OnOther(task, _row.Event);
        if (!TryMigrationFields(out ulong va, out ulong pte))
        {
            return;
        }
        va &= ~4095UL;
        if ((pte & 1) == 0)
        {
            // A PROT_NONE entry (x86-64 inverts its pfn bits, arm64 does not): not decoded.
            Statistics.MigrationRemapsNotPresent++;
            DropPending(task.Tid, va);
            return;
        }
        if (!_migrations.TryGetValue((task.Tid, va), out var list) || list.Count == 0)
        {
            // Its set_migration_pte is before the trace or was lost.
            Statistics.MigrationRemapsUnknown++;
            return;
        }
        var first = list[0];
        bool onePage = list.TrueForAll(p => p.SamePage(first));
        if (!onePage && !list.Exists(p => p.Target is not null))
        {
            // Pages the model does not map (other mms', or from before the trace): whichever this is, nothing to lower.
            DropPending(task.Tid, va);
            Statistics.MigrationRemapsUnknown++;
            return;
        }
        if (!onePage || first.Confused)
        {
            // Two pages at this address wait for their new ones in this task (two mms mapping different pages at one
            // VA): the new pfn could be either's.
            foreach (var p in list)
            {
                p.Confused = true;
            }
            DropPending(task.Tid, va);
            Statistics.MigrationRemapsAmbiguous++;
            Coverage.Gap("R2", "migration remap left out: two pages at one address were migrated together (mms mapping different pages at one VA), and remove_migration_pte names no mm", _row.Seq);
            return;
        }
        // The entries of one page (a fork-shared page migrates in every mm that maps it): the one the model holds goes first.
        int at = list.FindIndex(p => p.Target is not null);
        var entry = list[at < 0 ? 0 : at];
        DropPending(task.Tid, va, entry);
        if (entry.Target is not { } target)
        {
            Statistics.MigrationRemapsUnknown++;
            return;
        }
        ulong newPfn = MigrationEntry.PresentPfn(pte, entry.X86);
        var table = target.Mm.Find(va, Level.Pte);
        if (!ReferenceEquals(table, target.Table) || target.Table.Leaves![target.Index] != 0 || _mapped.ContainsKey(newPfn))
        {
            // The table went (munmap, exit, collapse) while the entry was there, the slot was mapped again, or the new
            // page is already mapped in the model: the kernel's remove found no migration entry of this page to replace.
            Statistics.MigrationRemapsStale++;
            return;
        }
        if (_pages[newPfn] == PfnState.Freed)
        {
            // compaction_alloc hands out a page its free scanner isolated (post_alloc_hook, no mm_page_alloc).
            var alloc = NewOp(OpKind.PageAlloc, task);
            alloc.Pfn = newPfn;
            Emit(alloc);
            _pages[newPfn] = PfnState.Allocated;
            Statistics.MigrationUntracedAllocs++;
        }
        // remove_migration_pte under the PTE lock (page_vma_mapped_walk): the new page's rmap, then set_pte_at.
        var m = new Mapping(target.Mm, table, target.Index);
        EmitPtl(task, m, OpKind.PtlLock);
        var set = NewOp(OpKind.PteSet, task);
        set.Mm = m.Mm.Id;
        set.Va = va;
        set.Pfn = newPfn;
        set.Level = Level.Pte;
        Emit(set);
        table.SetLeaf(target.Index, newPfn + 1);
        table.Present++;
        _mapped[newPfn] = m;
        var inc = NewOp(OpKind.MapInc, task);
        inc.Pfn = newPfn;
        Emit(inc);
        EmitPtl(task, m, OpKind.PtlUnlock);
        Statistics.MigrationRemaps++;
    }

    /// <summary>Drops <paramref name="entry"/> (null: the oldest) of the task's entries at <paramref name="va"/>.</summary>
    private void DropPending(int tid, ulong va, PendingMigration? entry = null)
    {
        if (_migrations.TryGetValue((tid, va), out var list) && list.Count > 0)
        {
            list.Remove(entry ?? list[0]);
            if (list.Count == 0)
            {
                _migrations.Remove((tid, va));
            }
        }
    }

    /// <summary>An mm's entries go with it (exit_mmap zaps migration entries).</summary>
    private void DropMigrationsOf(ShadowMm mm)
    {
        foreach (var (key, list) in _migrations)
        {
            list.RemoveAll(p => p.Target is { } t && ReferenceEquals(t.Mm, mm));
            if (list.Count == 0)
            {
                // Removing the current key while enumerating is allowed for Dictionary since .NET Core 3.0.
                _migrations.Remove(key);
            }
        }
    }

    /// <summary>The end of a migrate_pages call: entries without their remove (a lost event) are no longer paired.</summary>
    private void EndMigrations(TaskInfo task)
    {
        foreach (var key in _migrations.Keys.Where(k => k.Tid == task.Tid).ToList())
        {
            Statistics.MigrationEntriesUnresolved += _migrations[key].Count;
            _migrations.Remove(key);
        }
    }

    private bool TryMigrationFields(out ulong va, out ulong pte)
    {
        va = Field(s_addr);
        pte = 0;
        string? text = null;
        foreach (var arg in _row.Args)
        {
            if (arg.Key == "pte")
            {
                text = arg.Value;
            }
        }
        if (!_row.IsSet(s_addr) || text is null || !MigrationEntry.TryParseHex(text, out pte))
        {
            Statistics.MigrationEventsMalformed++;
            return false;
        }
        return true;
    }
}

/// <summary>
/// The page-table entries migration's tracepoints print (<c>pte_val</c>), decoded as the kernel encodes them. x86-64:
/// a present PTE holds the pfn in bits 12–51 (inverted when the entry is PROT_NONE: not present, not zero,
/// arch/x86/include/asm/pgtable-invert.h); a swap entry (arch/x86/include/asm/pgtable_64.h) holds the type in the top
/// 5 bits and the offset inverted from bit 9 (<c>__swp_offset(x) = ~x &lt;&lt; 5 &gt;&gt; 14</c>). arm64 (4 KiB
/// pages, 48-bit PA): the pfn in bits 12–47; a swap entry's offset in bits 8–57. A migration entry's offset is the pfn
/// (<c>SWP_PFN_BITS</c> = MAX_PHYSMEM_BITS − PAGE_SHIFT bits) with the young and dirty bits above it
/// (include/linux/swapops.h, SWP_MIG_YOUNG_BIT): 34 bits on x86-64 with 4-level paging, 36 on arm64 with 48-bit PA.
/// </summary>
public static class MigrationEntry
{
    private const int X86PfnBits = 34;
    private const int Arm64PfnBits = 36;

    /// <summary>The old pfn a migration entry names, as x86-64 and as arm64 encode it.</summary>
    public static (ulong X86, ulong Arm64) OldPfn(ulong entry)
    {
        ulong x86Offset = (~entry << 5) >> 14;
        ulong arm64Offset = (entry >> 8) & ((1UL << 50) - 1);
        return (x86Offset & ((1UL << X86PfnBits) - 1), arm64Offset & ((1UL << Arm64PfnBits) - 1));
    }

    /// <summary>
    /// The pfn a PTE set by <c>mk_pte</c> maps: bits 12 up, as many as the architecture's pfns have (x86-64, 4-level
    /// paging: 34, the same as its migration entries; arm64 with 48-bit PA: 36). Bits above them are not the pfn: on
    /// x86-64 an AMD machine with memory encryption (SME, an SEV guest) sets the encryption bit (sme_me_mask, bit 47
    /// or 51) in every present PTE. x86-64 inverts a PROT_NONE entry's bits.
    /// </summary>
    public static ulong PresentPfn(ulong pte, bool x86 = true)
    {
        ulong bits = (pte & 1) == 0 && pte != 0 ? ~pte : pte;
        return (bits >> 12) & ((1UL << (x86 ? X86PfnBits : Arm64PfnBits)) - 1);
    }

    /// <summary>Reads the tracepoint's <c>%lx</c> (hex without 0x; a binary source's ingest may add it).</summary>
    public static bool TryParseHex(string text, out ulong value)
    {
        var span = text.AsSpan();
        if (span.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            span = span[2..];
        }
        return ulong.TryParse(span, System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture, out value);
    }
}
