namespace Pipeline.Replay.Explore;

/// <summary>
/// Which reorderings of a trace's programs are feasible, from what the recorded order proves (docs/exploration.md,
/// "Feasibility"): in the spirit of the maximal causal model, an op keeps after it every op whose value it saw —
/// the creation of the mm, table, page or VMA it uses; the previous store into an entry slot it rewrites (entry
/// writes in the kernel are read-modify-writes under the page-table lock); the uses of a page it frees — and every
/// other order is free. Computed by replaying the recorded order once, so entry slots are resolved as the trace had them.
/// </summary>
internal static class Feasibility
{
    private const int MaxPagesPerMove = 512;
    // How far after a pte_set its map_inc is looked for (a fault's set_pte_at and rmap update are a few ops apart).
    private const int MaxPublishOps = 8;

    /// <summary>
    /// For each task and op: the (task, count) pairs that must hold (<c>count</c> ops of that task already run) before
    /// the op may run; and for each op the index of its own task's earlier lockless read whose table it uses (-1: none).
    /// Without <paramref name="cpuSlices"/> tasks sharing a CPU are not kept in the order of their slices (rule 5): the
    /// needs left are what an op saw of other tasks' work.
    /// </summary>
    public static ((int Task, int Count)[][][] Need, int[][] Link) Analyze(
        OpTrace trace, Op[][] programs, int[] recordedTask, int[] recordedLocal, KernelProfile profile, Arch arch, Func<ReplayEngine>? start = null,
        bool cpuSlices = true)
    {
        int n = programs.Length;
        var need = programs.Select(p => new List<(int, int)>[p.Length]).ToArray();
        var link = programs.Select(p => Enumerable.Repeat(-1, p.Length).ToArray()).ToArray();
        var engine = start?.Invoke() ?? new ReplayEngine(profile, arch);
        foreach (var task in trace.Tasks)
        {
            engine.NameTask(task.Tid, task.Comm);
        }
        // Objects with a lifetime (mm, table, page; ids are reused): creator, uses since, last destroyer.
        var lives = new Dictionary<(int Kind, long Id), Life>();
        var vmas = new List<(int Mm, ulong Start, ulong End, int Task, int Local)>();
        var vmaUsers = new List<int[]>();
        // A window starts from the state its recorded prefix left: the VMAs mapped then have no creation in the
        // programs (task -1), but the rules on their uses (removal, lock hand-over, flags decisions, rmap walks)
        // hold for them as for VMAs the programs create.
        foreach (var mm in engine.Mms)
        {
            foreach (var vma in mm.Vmas)
            {
                vmas.Add((mm.Id, vma.Start, vma.End, -1, 0));
                vmaUsers.Add(new int[n]);
            }
        }
        // Per VMA (index in vmas): each task's last rmap walk that visited it, by the op ending the walk (ttu_end);
        // per task, the VMAs its open walk (ttu_start ... ttu_end) visited so far.
        var vmaWalks = new Dictionary<int, int[]>();
        var openWalk = new List<int>?[n];
        // Per mm: every op on an address inside a VMA, with its task and the count its need names (a modify that drops
        // the address follows it).
        var addressUses = new Dictionary<int, List<(ulong Va, int Task, int Count)>>();
        // Per VMA (index in vmas): each task's last per-VMA-lock section's release and whether it was exclusive; per
        // task, the VMA-lock sections it holds now.
        var vmaSections = new Dictionary<int, (int Release, bool Write)[]>();
        // Per task, its open mmap_lock write section (the mm and the VMAs it created or changed there); per VMA, the
        // mmap_unlock that ended the last such section of a task that changed it.
        var mmapWriter = new Dictionary<int, (int Mm, List<int> Vmas)>();
        var vmaWriteEnd = new Dictionary<int, (int Task, int Unlock)>();
        var openVma = Enumerable.Range(0, n).Select(_ => new Dictionary<int, bool>()).ToArray();
        var groupNeeds = cpuSlices ? CpuSliceGroups(trace.Ops, recordedTask, recordedLocal) : [];
        var decisions = new Dictionary<(int Mm, ulong Vma), List<(int Task, int Local)>>();
        var flagsWriter = new Dictionary<(int Mm, ulong Vma), (int Task, int Local)>();
        // Per slot: the last store, and the op of its task by which that store is published to PTE-lock takers (PtlEnd).
        var slotWriter = new Dictionary<(int Kind, long A, long B), (int Task, int Local, bool Primitive, int PtlEnd)>();
        // Tables freed after a grace period or flush: pending (id → the table_free), and released (id → the op that released it, the free).
        var releasing = new Dictionary<int, (int Task, int Local)>();
        var released = new Dictionary<int, ((int Task, int Local) By, (int Task, int Local) Free)>();
        var blockedBefore = new List<int>();
        // Per table id: each task's last store into it (cleared when the id is allocated again).
        var tableStores = new Dictionary<int, Dictionary<int, int>>();
        var valueReads = new Dictionary<(int Kind, long A, long B), List<ValueRead>>();
        var lastRead = new (int Local, long Value)[n];
        for (int t = 0; t < n; t++)
        {
            lastRead[t] = (-1, 0);
        }
        var slots = new List<(int Kind, long A, long B)>();
        var stepAllocations = new List<(int Table, Level Level)>();
        // Lock sections (rule 7): per task the locks it holds and the op that took each; per lock the sections closed so far.
        var open = Enumerable.Range(0, n).Select(_ => new Dictionary<string, (int Acquire, bool Write, bool Try, int Order)>(StringComparer.Ordinal)).ToArray();
        engine.Acquisitions = [];
        var sections = new Dictionary<string, List<Section>>(StringComparer.Ordinal);
        var executed = Enumerable.Repeat(-1, n).ToArray();
        var held = new List<(string Lock, bool Write)>();
        var irqDepth = new int[n];
        var tidToTask = new Dictionary<int, int>();
        for (int t = 0; t < n; t++)
        {
            tidToTask[trace.Tasks[t].Tid] = t;
        }
        int acquisitions = 0;
        var ops = trace.Ops;
        for (int r = 0; r < ops.Length; r++)
        {
            int p = recordedTask[r];
            int l = recordedLocal[r];
            ref readonly var op = ref ops[r];
            var list = new List<(int, int)>();

            void After((int Task, int Local) creator)
            {
                // Task -1: made before the explored programs start (a window's recorded prefix).
                if (creator.Task >= 0 && creator.Task != p)
                {
                    list.Add((creator.Task, creator.Local + 1));
                }
            }

            // The id's previous life was released by an op (a grace period, a flush): the allocation follows that op, and
            // that op the free.
            void AfterRelease(((int Task, int Local) By, (int Task, int Local) Free) release)
            {
                After(release.By);
                if (release.By.Task != release.Free.Task)
                {
                    need[release.By.Task][release.By.Local]!.Add((release.Free.Task, release.Free.Local + 1));
                }
            }

            // A CPU runs one task at a time: tasks sharing a CPU keep the order of their slices (ctx_switch decides
            // which mm the CPU's accesses and TLB fills use); exploration reorders what different CPUs do. Slices in
            // which their task is preemptible throughout form one group whose tasks interleave (CpuSliceGroups).
            if (cpuSlices && groupNeeds[r] is { } ends)
            {
                foreach (var end in ends)
                {
                    After(end);
                }
            }
            // A decision the trace baked in keeps the VMA flags it was made on: a fault's Mlocked set (flag_set naming
            // its mapping) or a vm_flags_read saw VM_LOCKED as the last change made it, so it stays after that change
            // and the next change of those flags by another task stays after it.
            if (op.Mm != 0 && VmaOf(vmas, op.Mm, op.Va) is { } vmaStart)
            {
                var key = (op.Mm, vmaStart);
                if (IsVmaFlagsDecision(op))
                {
                    if (flagsWriter.TryGetValue(key, out var writer))
                    {
                        After(writer);
                    }
                    if (!decisions.TryGetValue(key, out var readers))
                    {
                        readers = [];
                        decisions.Add(key, readers);
                    }
                    readers.Add((p, l));
                }
                else if (op.Kind is OpKind.VmFlagsWrite or OpKind.VmaModify or OpKind.VmaRemove)
                {
                    if (decisions.TryGetValue(key, out var readers))
                    {
                        foreach (var reader in readers)
                        {
                            After(reader);
                        }
                        readers.Clear();
                    }
                    flagsWriter[key] = (p, l);
                }
            }
            // Lifetimes: a use follows the creation, a destruction follows every use, a re-creation of the id follows the
            // destruction before it. A table freed after a grace period or a flush (free=rcu|gather) is free for a new
            // allocation only once that op released it: the re-creation follows the releasing op, and the releasing op
            // follows the free (run before it, a grace period does not release it, and the id stays taken).
            bool allocates = op.Kind == OpKind.PteAlloc && op.Table != 0 && engine.EntryNow(op.Mm, op.Va, Level.Pmd) == EntryValue.None;
            if (allocates || op.Kind == OpKind.TableAlloc)
            {
                tableStores.Remove(op.Table);
            }
            // A move step's spare=N, N+1, … name the tables it allocates when the destination lacks them (PTE tables, and
            // the PMD, PUD, P4D tables of alloc_new_pmd / alloc_new_pud; it re-runs from the state, so it may): it too takes
            // each id only once its previous life was released.
            stepAllocations.Clear();
            engine.StepAllocations(op, stepAllocations);
            bool spare = op.Kind is OpKind.MovePtes or OpKind.MremapMovePmd or OpKind.MremapMovePud or OpKind.ExecShiftStack && op.Table != 0;
            if ((allocates || op.Kind == OpKind.TableAlloc) && released.Remove(op.Table, out var release)
                || spare && released.TryGetValue(op.Table, out release))
            {
                AfterRelease(release);
            }
            foreach (var (table, _) in stepAllocations)
            {
                if (table != op.Table && released.TryGetValue(table, out release))
                {
                    AfterRelease(release);
                }
            }
            // Before the op runs: an mm_destroy's tables are those the mm holds now.
            var lifetimes = LifetimeObjects(op, allocates, stepAllocations, engine).ToList();
            foreach (var (kind, id, role) in lifetimes)
            {
                if (!lives.TryGetValue((kind, id), out var life))
                {
                    life = new Life(n);
                    lives.Add((kind, id), life);
                }
                switch (role)
                {
                    case Role.Create:
                        if (life.Destroyer.Task >= 0)
                        {
                            After(life.Destroyer);
                        }
                        break;
                    case Role.Destroy:
                        if (life.Creator.Task >= 0)
                        {
                            After(life.Creator);
                        }
                        for (int q = 0; q < n; q++)
                        {
                            if (q != p && life.Users[q] > 0)
                            {
                                list.Add((q, life.Users[q]));
                            }
                        }
                        break;
                    default:
                        if (life.Creator.Task >= 0)
                        {
                            After(life.Creator);
                        }
                        break;
                }
            }
            int usedVma = -1;
            if (op.Mm != 0 && op.Kind != OpKind.VmaCreate)
            {
                for (int v = vmas.Count - 1; v >= 0; v--)
                {
                    var vma = vmas[v];
                    if (vma.Mm == op.Mm && op.Va >= vma.Start && op.Va < vma.End)
                    {
                        After((vma.Task, vma.Local));
                        usedVma = v;
                        break;
                    }
                }
            }
            // free_pgtables unlinks the VMAs from the rmap (unlink_anon_vmas, unlink_file_vma: the anon_vma or i_mmap
            // lock for write) before it frees their page tables, so an rmap walker that found the VMA (try_to_unmap_one
            // under rmap_walk's lock for read) keeps its tables until it drops that lock: a table unlink (a primitive
            // pmd_clear or pud_clear by address) follows the end of every walk of another task that visited a VMA
            // over the table's span. Run before it, the walker would not find the VMA at all, and its ops on that mm
            // would not be the ones the kernel runs.
            if (op.Kind is OpKind.PmdClear or OpKind.PudClear && op.Table == 0 && op.Mm != 0 && vmaWalks.Count > 0)
            {
                ulong size = op.Kind == OpKind.PmdClear ? 1UL << 21 : 1UL << 30;
                ulong from = op.Va & ~(size - 1);
                for (int v = 0; v < vmas.Count; v++)
                {
                    if (vmas[v].Mm == op.Mm && vmas[v].Start < from + size && from < vmas[v].End
                        && vmaWalks.TryGetValue(v, out var walkEnds))
                    {
                        for (int q = 0; q < n; q++)
                        {
                            if (q != p && walkEnds[q] > 0)
                            {
                                list.Add((q, walkEnds[q]));
                            }
                        }
                    }
                }
            }
            switch (op.Kind)
            {
                case OpKind.TtuStart:
                    openWalk[p] = [];
                    break;
                case OpKind.TtuWalk or OpKind.TtuUnmap or OpKind.TtuMlockCheck or OpKind.TtuMlockSet or OpKind.TtuMlockPage
                    when usedVma >= 0 && openWalk[p] is { } visited:
                    visited.Add(usedVma);
                    break;
                case OpKind.TtuEnd when openWalk[p] is { } visited:
                    foreach (int v in visited)
                    {
                        if (!vmaWalks.TryGetValue(v, out var walkEnds))
                        {
                            walkEnds = new int[n];
                            vmaWalks.Add(v, walkEnds);
                        }
                        walkEnds[p] = l + 1;
                    }
                    openWalk[p] = null;
                    break;
                default:
                    break;
            }
            // A VMA's removal follows every use of an address inside it (an access after munmap is a SIGSEGV).
            if (op.Kind == OpKind.VmaRemove)
            {
                ulong end = op.Va + Math.Max(op.Len, 1UL);
                for (int v = 0; v < vmas.Count; v++)
                {
                    if (vmas[v].Mm == op.Mm && vmas[v].Start < end && op.Va < vmas[v].End)
                    {
                        for (int q = 0; q < n; q++)
                        {
                            if (q != p && vmaUsers[v][q] > 0)
                            {
                                list.Add((q, vmaUsers[v][q]));
                            }
                        }
                    }
                }
            }
            // A VMA that shrinks or moves (vma_modify: a partial munmap, mremap, a stack shift) no longer maps the
            // addresses it drops: the modify follows every use by another task of such an address since it was mapped,
            // as a removal does (an access there after the modify is a SIGSEGV, not a schedule).
            if (op.Kind == OpKind.VmaModify && op.Mm != 0 && engine.GetMm(op.Mm) is { } modified
                && VmaStartingAt(modified, op.Va) is { } before)
            {
                ulong newEnd = op.NewVa + op.Len;
                DroppedUsers(addressUses, op.Mm, before.Start, Math.Min(before.End, op.NewVa), p, list);
                DroppedUsers(addressUses, op.Mm, Math.Max(before.Start, newEnd), before.End, p, list);
            }
            if (usedVma >= 0)
            {
                vmaUsers[usedVma][p] = l + 1;
                if (!addressUses.TryGetValue(op.Mm, out var uses))
                {
                    uses = [];
                    addressUses.Add(op.Mm, uses);
                }
                uses.Add((op.Va, p, l + 1));
            }
            // Per-VMA lock hand-over: the lookup that a vma_lock makes (lock_vma_under_rcu: the VMA at the address, as
            // the last writer left it) is not an op of the trace, so a section that the trace shows after another
            // task's section of the same VMA lock, one of the two exclusive, stays after its release. Run first, a
            // fault's read section would miss the VMA an mremap or munmap has moved or removed since (a SIGSEGV, not
            // a schedule), and the writer would change a VMA under a fault that found it.
            if (op.Kind is OpKind.VmaLock or OpKind.VmaUnlock && usedVma >= 0)
            {
                if (!vmaSections.TryGetValue(usedVma, out var sectionsOfVma))
                {
                    sectionsOfVma = new (int Release, bool Write)[n];
                    Array.Fill(sectionsOfVma, (-1, false));
                    vmaSections.Add(usedVma, sectionsOfVma);
                }
                if (op.Kind == OpKind.VmaLock)
                {
                    bool write = op.Has(OpFlags.Write);
                    // A VMA that a task created or changed under mmap_lock for write stays write-locked until that
                    // task's mmap_write_unlock (vma_start_write; the unlock ends every such lock of the mm), so a
                    // per-VMA lock of it (lock_vma_under_rcu) fails until then and the fault falls back to mmap_lock:
                    // the lock stays after that unlock.
                    if (vmaWriteEnd.TryGetValue(usedVma, out var changed) && changed.Task != p)
                    {
                        list.Add((changed.Task, changed.Unlock + 1));
                    }
                    for (int q = 0; q < n; q++)
                    {
                        if (q != p && sectionsOfVma[q].Release >= 0 && (write || sectionsOfVma[q].Write))
                        {
                            list.Add((q, sectionsOfVma[q].Release + 1));
                        }
                    }
                    openVma[p][usedVma] = write;
                }
                else if (openVma[p].Remove(usedVma, out bool wasWrite))
                {
                    sectionsOfVma[p] = (l, wasWrite);
                }
            }
            // An entry store follows the store it overwrote (a read-modify-write saw it), when either is an explicit
            // store of the trace: a primitive store was written for the value it replaced (a fault's set_pte_at after
            // pte_none follows the rmap walker's unmap that emptied the slot); kernel steps re-run from the state, so
            // two steps on one slot stay free.
            bool primitiveStore = !OpSpec.IsKernelStep(op.Kind);
            slots.Clear();
            WriteSlots(op, engine, slots);
            foreach (var key in slots)
            {
                if (slotWriter.TryGetValue(key, out var writer) && (writer.Primitive || primitiveStore) && writer.Task != p)
                {
                    // Entry updates run under the PTE lock: one that overwrote a fault's store saw its rmap update too.
                    list.Add((writer.Task, writer.PtlEnd + 1));
                }
            }
            // A read keeps the explicit store it saw (an rmap walk that found the page mapped follows the store that mapped it).
            // A read whose value the trace recorded (entry_read val=) keeps that value whoever stored it, a kernel step
            // too: what its task does next was decided on it.
            bool keepsValue = op.Kind == OpKind.EntryRead && op.Has(OpFlags.HasValue);
            slots.Clear();
            ReadSlots(op, engine, slots);
            foreach (var key in slots)
            {
                if (slotWriter.TryGetValue(key, out var writer) && (writer.Primitive || keepsValue) && writer.Task != p)
                {
                    // An rmap walker's check of the entry takes the PTE lock (page_vma_mapped_walk): it sees the store
                    // with its rmap update or neither. Lockless reads (GUP-fast, the MMU) may see the store alone.
                    bool underPtl = op.Kind is OpKind.TtuWalk or OpKind.TtuMlockCheck;
                    list.Add((writer.Task, (underPtl ? writer.PtlEnd : writer.Local) + 1));
                }
            }
            if (keepsValue)
            {
                var reader = new ValueRead(p, l, op.Mm, op.Va, op.Level, op.Table, op.Index, op.Value);
                foreach (var key in slots)
                {
                    if (!valueReads.TryGetValue(key, out var readers))
                    {
                        readers = [];
                        valueReads.Add(key, readers);
                    }
                    readers.Add(reader);
                }
            }
            // free_pgtables unlinks a page table only after every entry in it was cleared, and after the VMA left the
            // rmap and mmap_lock excluded faults: a pmd_clear (pud_clear) unlinking a table follows every store of another
            // task into that table, a kernel step's too (the zap before it skipped what an rmap walker had already
            // unmapped, and run before that walker, it would unlink a table with the page still mapped in it).
            // khugepaged's retract_pmd unlinks a file PTE table too, and only one that maps nothing: collapse_file
            // unmapped the range's pages (try_to_unmap) before retract_page_tables runs, and skips VMAs with an
            // anon_vma, so the retract saw every entry of the table none, and follows the stores that made it so
            // (a MADV_DONTNEED zap, an rmap walker's unmap). Run before them, it would free a table still mapping
            // pages, and the zap that comes later finds no table. The PMD it clears stays free against movers (R6).
            bool unlinks = op.Kind is OpKind.PmdClear or OpKind.PudClear && op.Table == 0 || op.Kind == OpKind.RetractPmd;
            if (unlinks && op.Mm != 0
                && engine.EntryNow(op.Mm, op.Va, op.Kind == OpKind.PudClear ? Level.Pud : Level.Pmd) is var linked
                && EntryValue.KindOf(linked) == EntryKind.Table
                && tableStores.TryGetValue((int)EntryValue.Payload(linked), out var unlinkedStorers))
            {
                // The retract takes the table's PTE lock too (retract_page_tables: pte_lockptr under the PMD lock), so it
                // follows the end of the storer's hold of that lock (a zap's clear and its finish), not only the store.
                string ptl = op.Kind == OpKind.RetractPmd
                    ? "PTE lock of table " + EntryValue.Payload(linked).ToString(System.Globalization.CultureInfo.InvariantCulture) : "";
                foreach (var (q, last) in unlinkedStorers)
                {
                    if (q != p)
                    {
                        int count = last + 1;
                        if (ptl.Length > 0 && sections.TryGetValue(ptl, out var holds))
                        {
                            foreach (var hold in holds)
                            {
                                if (hold.Task == q && hold.Acquire <= last && last <= hold.Release)
                                {
                                    count = Math.Max(count, hold.Release + 1);
                                }
                            }
                        }
                        list.Add((q, count));
                    }
                }
            }
            slots.Clear();
            WriteSlots(op, engine, slots);
            // A walker that uses the table its own lockless read returned (GUP-fast, page_vma_mapped_walk in primitives).
            if (op.Table != 0 && !OpSpec.IsKernelStep(op.Kind) && lastRead[p].Local >= 0 && lastRead[p].Value == EntryValue.Table(op.Table))
            {
                link[p][l] = lastRead[p].Local;
            }
            if (op.Kind == OpKind.EntryRead && op.Table == 0 && op.Mm != 0)
            {
                lastRead[p] = (l, engine.EntryNow(op.Mm, op.Va, op.Level));
            }

            blockedBefore.Clear();
            if (releasing.Count > 0)
            {
                for (int q = 0; q < n; q++)
                {
                    if (q != p && engine.IsBlocked(trace.Tasks[q].Tid))
                    {
                        blockedBefore.Add(q);
                    }
                }
            }
            // khugepaged's retract_pmd frees the PTE table it unlinks after a grace period (pte_free_defer) without
            // naming it: a free=rcu of the table its PMD links now, whose id a later pte_alloc takes only once released.
            int retracted = op.Kind == OpKind.RetractPmd && op.Mm != 0 && engine.EntryNow(op.Mm, op.Va, Level.Pmd) is var retractedPmd
                && EntryValue.KindOf(retractedPmd) == EntryKind.Table ? (int)EntryValue.Payload(retractedPmd) : 0;
            engine.Execute(op);
            executed[p] = l;
            int deferred = op.Kind == OpKind.TableFree && (FreeMode)op.Sub is FreeMode.Rcu or FreeMode.Gather ? op.Table : retracted;
            if (deferred != 0)
            {
                releasing[deferred] = (p, l);
                released.Remove(deferred);
            }
            else if (releasing.Count > 0)
            {
                foreach (var (id, free) in releasing.ToArray())
                {
                    if (!engine.TableReleased(id))
                    {
                        continue;
                    }
                    // The op that ran released it, unless it resumed a parked grace period or flush that did.
                    var by = (p, l);
                    foreach (int q in blockedBefore)
                    {
                        if (!engine.IsBlocked(trace.Tasks[q].Tid) && executed[q] >= 0
                            && (programs[q][executed[q]].Kind == OpKind.RcuGpEnd || q == free.Task))
                        {
                            by = (q, executed[q]);
                            break;
                        }
                    }
                    released[id] = (by, free);
                    releasing.Remove(id);
                }
            }
            // Any task may have taken or released a lock in this op (a parked task resumes inside the op that freed
            // it): its current program op is the one that did. A step may take and release a lock inside one op (a
            // ttu_walk's PTE lock): that hold is a section of that op alone.
            foreach (var (tid, name, write, isTry) in engine.Acquisitions)
            {
                int q = tidToTask[tid];
                held.Clear();
                engine.HeldLocks(tid, held);
                if (held.Exists(h => h.Lock == name))
                {
                    open[q][name] = (executed[q], write, isTry, acquisitions++);
                }
                else
                {
                    AddSection(sections, name, new Section(q, executed[q], executed[q], write, isTry, acquisitions++));
                }
            }
            engine.Acquisitions.Clear();
            for (int q = 0; q < n; q++)
            {
                if (executed[q] < 0 || open[q].Count == 0)
                {
                    continue;
                }
                held.Clear();
                engine.HeldLocks(trace.Tasks[q].Tid, held);
                foreach (var name in open[q].Keys.ToArray())
                {
                    // IRQ-off sections are closed by their irq_enable (below), not by the engine's held locks.
                    if (!name.StartsWith("irq:", StringComparison.Ordinal) && !held.Exists(h => h.Lock == name))
                    {
                        var section = open[q][name];
                        AddSection(sections, name, new Section(q, section.Acquire, executed[q], section.Write, section.Try, section.Order));
                        open[q].Remove(name);
                    }
                }
            }
            // An IRQ-off section is a shared hold of its CPU's "irq" lock, and an IPI that waits for that CPU to enable
            // interrupts (a TLB shootdown, a batched flush, an ipi_sync) an exclusive, momentary one (the engine reports
            // it as an acquisition): rule 7 then orders an IRQ-off section that needs the IPI's sender past the IPI
            // after it, which taken the other way round leaves the sender parked on the section and the section
            // waiting on the sender.
            if (op.Kind == OpKind.IrqDisable)
            {
                string name = "irq:" + op.Cpu.ToString(System.Globalization.CultureInfo.InvariantCulture);
                if (!open[p].ContainsKey(name))
                {
                    open[p][name] = (l, false, false, acquisitions++);
                }
                irqDepth[p]++;
            }
            else if (op.Kind == OpKind.IrqEnable && irqDepth[p] > 0 && --irqDepth[p] == 0)
            {
                string name = "irq:" + op.Cpu.ToString(System.Globalization.CultureInfo.InvariantCulture);
                if (open[p].Remove(name, out var section))
                {
                    AddSection(sections, name, new Section(p, section.Acquire, l, section.Write, section.Try, section.Order));
                }
            }

            foreach (var key in slots)
            {
                slotWriter[key] = (p, l, !OpSpec.IsKernelStep(op.Kind), PublishedAt(programs[p], l));
                if (key.Kind == 2)
                {
                    if (!tableStores.TryGetValue((int)key.A, out var stores))
                    {
                        stores = [];
                        tableStores.Add((int)key.A, stores);
                    }
                    stores[p] = l;
                }
                // ...and the store that changes a recorded read's value follows that read: run before it, the read would
                // see another value, and its task's next ops (a GUP-fast walk descending into the table it read) would
                // not be the ones the kernel runs. A store that leaves the value as read orders nothing.
                if (valueReads.TryGetValue(key, out var readers))
                {
                    foreach (var reader in readers)
                    {
                        if (reader.Task != p && reader.Value != reader.Now(engine))
                        {
                            list.Add((reader.Task, reader.Local + 1));
                        }
                    }
                }
            }
            foreach (var (kind, id, role) in lifetimes)
            {
                var life = lives[(kind, id)];
                switch (role)
                {
                    case Role.Create:
                        life.Creator = (p, l);
                        Array.Clear(life.Users);
                        break;
                    case Role.Destroy:
                        life.Destroyer = (p, l);
                        life.Creator = (-1, 0);
                        Array.Clear(life.Users);
                        break;
                    default:
                        life.Users[p] = l + 1;
                        break;
                }
            }
            if (op.Kind == OpKind.MmapLock && op.Has(OpFlags.Write) && op.Mm != 0)
            {
                mmapWriter[p] = (op.Mm, []);
            }
            else if (mmapWriter.TryGetValue(p, out var writing) && op.Mm == writing.Mm)
            {
                if (op.Kind == OpKind.VmaCreate)
                {
                    writing.Vmas.Add(vmas.Count);
                }
                else if (op.Kind is OpKind.VmaModify or OpKind.VmFlagsWrite && usedVma >= 0)
                {
                    writing.Vmas.Add(usedVma);
                }
                else if (op.Kind == OpKind.MmapUnlock)
                {
                    foreach (int v in writing.Vmas)
                    {
                        vmaWriteEnd[v] = (p, l);
                    }
                    mmapWriter.Remove(p);
                }
            }
            if (op.Kind == OpKind.VmaCreate)
            {
                vmas.Add((op.Mm, op.Va, op.Va + op.Len, p, l));
                vmaUsers.Add(new int[n]);
            }
            need[p][l] = list;
        }
        for (int q = 0; q < n; q++)
        {
            foreach (var (name, section) in open[q])
            {
                AddSection(sections, name, new Section(q, section.Acquire, programs[q].Length - 1, section.Write, section.Try, section.Order));
            }
        }
        for (int t = 0; t < n; t++)
        {
            for (int l = 0; l < need[t].Length; l++)
            {
                need[t][l] ??= [];
            }
        }
        LockSections(programs, recordedTask, recordedLocal, need, sections);
        var compact = need.Select(task => task.Select(Compact).ToArray()).ToArray();
        return (compact, link);
    }

    /// <summary>An <c>entry_read</c> whose value the trace recorded, and where it read (by address, or by table and index).</summary>
    private readonly record struct ValueRead(int Task, int Local, int Mm, ulong Va, Level Level, int Table, int Index, long Value)
    {
        public long Now(ReplayEngine engine) => Table != 0 ? engine.EntryOf(Table, Index) : engine.EntryNow(Mm, Va, Level);
    }

    /// <summary>A task's hold of a lock: the program ops that took and released it, whether for write, and its rank among
    /// acquisitions in the recorded order.</summary>
    private readonly record struct Section(int Task, int Acquire, int Release, bool Write, bool Try, int Order);

    private static void AddSection(Dictionary<string, List<Section>> sections, string name, Section section)
    {
        if (!sections.TryGetValue(name, out var list))
        {
            list = [];
            sections.Add(name, list);
        }
        list.Add(section);
    }

    /// <summary>
    /// Rule 7 (docs/exploration.md): when an op inside task A's hold of a lock needs — directly or through other needs —
    /// task B to have got past an acquisition of the same lock that the trace shows before A's (and one of the two holds
    /// is exclusive), A takes the lock only after B took it. Taken the other way round, A would hold the lock while
    /// waiting for B, and B would wait for the lock: every such schedule deadlocks, so none is a schedule the kernel runs.
    /// A that comes to the lock while B still holds it waits for it, as in replay. Needs are closed transitively (vector
    /// clocks over the recorded order) and the rule is applied until nothing changes, since each need it adds can
    /// make another hold depend on a third task.
    /// </summary>
    private static void LockSections(Op[][] programs, int[] recordedTask, int[] recordedLocal, List<(int, int)>[][] need,
        Dictionary<string, List<Section>> sections)
    {
        int n = programs.Length;
        var vec = programs.Select(p => new int[p.Length][]).ToArray();
        var recordedAt = programs.Select(p => new int[p.Length]).ToArray();
        for (int r = 0; r < recordedTask.Length; r++)
        {
            recordedAt[recordedTask[r]][recordedLocal[r]] = r;
        }
        bool changed = true;
        while (changed)
        {
            changed = false;
            for (int r = 0; r < recordedTask.Length; r++)
            {
                int p = recordedTask[r];
                int l = recordedLocal[r];
                var v = l > 0 ? (int[])vec[p][l - 1].Clone() : new int[n];
                foreach (var (q, c) in need[p][l])
                {
                    if (c > 0)
                    {
                        var before = vec[q][c - 1];
                        for (int i = 0; i < n; i++)
                        {
                            v[i] = Math.Max(v[i], before[i]);
                        }
                        v[q] = Math.Max(v[q], c);
                    }
                }
                vec[p][l] = v;
            }
            foreach (var list in sections.Values)
            {
                foreach (var a in list)
                {
                    var within = vec[a.Task][a.Release];
                    foreach (var b in list)
                    {
                        if (b.Task == a.Task || b.Order > a.Order || !(a.Write || b.Write)
                            || within[b.Task] <= b.Acquire)
                        {
                            continue;
                        }
                        // B has got past its acquisition only once the op after it started: an op that parks on the lock
                        // counts as run (its task's position moved on) while it waits, and A taking the lock then leaves
                        // B parked behind A and A's section waiting on B. The next op of B ran before A's acquisition in
                        // the recorded order when B's hold spans ops (B released before A took the lock); a hold inside
                        // one op (a walker's PTE lock, an IPI's wait) keeps the op itself.
                        int count = b.Acquire + 1 < programs[b.Task].Length
                            && recordedAt[b.Task][b.Acquire + 1] < recordedAt[a.Task][a.Acquire] ? b.Acquire + 2 : b.Acquire + 1;
                        if (vec[a.Task][a.Acquire][b.Task] >= count)
                        {
                            continue;
                        }
                        need[a.Task][a.Acquire].Add((b.Task, count));
                        changed = true;
                    }
                }
            }
        }
    }

    private static Vma? VmaStartingAt(MmState mm, ulong start)
    {
        foreach (var vma in mm.Vmas)
        {
            if (vma.Start == start)
            {
                return vma;
            }
        }
        return null;
    }

    /// <summary>Adds to <paramref name="list"/> each other task's last use of an address of mm in [start, end).</summary>
    private static void DroppedUsers(Dictionary<int, List<(ulong Va, int Task, int Count)>> addressUses, int mm, ulong start,
        ulong end, int task, List<(int, int)> list)
    {
        if (start >= end || !addressUses.TryGetValue(mm, out var uses))
        {
            return;
        }
        foreach (var (va, q, count) in uses)
        {
            if (q != task && va >= start && va < end)
            {
                list.Add((q, count));
            }
        }
    }

    /// <summary>
    /// Rule 5's needs (docs/exploration.md, "Feasibility"): for the first op of each slice (a run of one task's ops on
    /// one CPU in recorded order), the last ops of the slices before it that it stays after; null for the other ops.
    /// A slice follows the one before it on its CPU, except where consecutive slices are all made of ops during and
    /// between which their task is preemptible and reads no per-CPU state (<see cref="PreemptibleOnCpu"/>): such slices
    /// form one group, each of them follows the group before, the group after follows each of them, and inside it the
    /// tasks interleave, as the kernel switches between a task preempted or asleep on a sleeping lock and another.
    /// </summary>
    private static List<(int Task, int Local)>?[] CpuSliceGroups(ReadOnlySpan<Op> ops, int[] recordedTask, int[] recordedLocal)
    {
        var needs = new List<(int Task, int Local)>?[ops.Length];
        // Per CPU: the ends of the previous group, the current group's last op per task, whether the current group is
        // one of preemptible slices, and the slice now open (its task, whether it is preemptible so far, its first op).
        var cpus = new Dictionary<int, CpuGroups>();
        void Close(CpuGroups g)
        {
            // The open slice joins the current group if both are preemptible; else it starts a group of its own.
            if (g.Slice.First < 0)
            {
                return;
            }
            bool join = g.Slice.Preemptible && g.GroupPreemptible && g.GroupEnds.Count > 0;
            if (!join)
            {
                g.PreviousEnds = [.. g.GroupEnds.Select(e => (e.Key, e.Value))];
                g.GroupEnds.Clear();
                g.GroupPreemptible = g.Slice.Preemptible;
            }
            needs[g.Slice.First] = g.PreviousEnds;
            g.GroupEnds[g.Slice.Task] = g.Slice.Last;
        }
        for (int r = 0; r < ops.Length; r++)
        {
            int cpu = ops[r].Cpu;
            if (!cpus.TryGetValue(cpu, out var g))
            {
                g = new CpuGroups();
                cpus.Add(cpu, g);
            }
            if (g.Slice.First >= 0 && g.Slice.Task != recordedTask[r])
            {
                Close(g);
                g.Slice.First = -1;
            }
            if (g.Slice.First < 0)
            {
                g.Slice = (recordedTask[r], true, r, 0);
            }
            g.Slice.Preemptible &= PreemptibleOnCpu(ops[r].Kind);
            g.Slice.Last = recordedLocal[r];
        }
        foreach (var g in cpus.Values)
        {
            Close(g);
        }
        return needs;
    }

    private sealed class CpuGroups
    {
        public List<(int Task, int Local)> PreviousEnds = [];
        public readonly Dictionary<int, int> GroupEnds = [];
        public bool GroupPreemptible;
        public (int Task, bool Preemptible, int First, int Last) Slice = (-1, true, -1, 0);
    }

    /// <summary>
    /// Ops after and before which their task holds no spinlock, has IRQs on and is in no RCU section, and whose effect
    /// does not depend on which task the CPU runs: the sleeping locks (mmap_lock, the per-VMA lock, i_mmap_rwsem and the
    /// anon_vma lock), VMA changes under them, and the kernel steps of mremap and of khugepaged's retract, which take
    /// their spinlocks inside the step (a step runs whole or parks on a lock). A task between two such ops can be
    /// preempted (or sleeps on the lock its next op takes), and another task of the CPU runs there; a slice with an
    /// access, a TLB fill, a context switch, a spinlock, IRQ or RCU primitive keeps rule 5's order.
    /// </summary>
    private static bool PreemptibleOnCpu(OpKind kind) => kind is OpKind.MmapLock or OpKind.MmapUnlock or OpKind.VmaLock
        or OpKind.VmaUnlock or OpKind.RmapLock or OpKind.RmapUnlock or OpKind.VmaCreate or OpKind.VmaModify or OpKind.VmaRemove
        or OpKind.RetractStart or OpKind.RetractPmd or OpKind.RetractEnd or OpKind.MremapMovePmd or OpKind.MremapMovePud
        or OpKind.MovePtes;

    private static bool IsVmaFlagsDecision(in Op op) =>
        op.Kind == OpKind.VmFlagsRead || (op.Kind == OpKind.FlagSet && op.Sub == (byte)PageFlag.Mlocked);

    /// <summary>Start of the latest-created VMA of <paramref name="mm"/> containing <paramref name="va"/>, or null.</summary>
    private static ulong? VmaOf(List<(int Mm, ulong Start, ulong End, int Task, int Local)> vmas, int mm, ulong va)
    {
        for (int v = vmas.Count - 1; v >= 0; v--)
        {
            if (vmas[v].Mm == mm && va >= vmas[v].Start && va < vmas[v].End)
            {
                return vmas[v].Start;
            }
        }
        return null;
    }

    private enum Role
    {
        Use,
        Create,
        Destroy,
    }

    private sealed class Life(int tasks)
    {
        public (int Task, int Local) Creator = (-1, 0);
        public (int Task, int Local) Destroyer = (-1, 0);
        public readonly int[] Users = new int[tasks];
    }

    /// <summary>The mm, table and page an op names, and whether it creates, destroys or uses each (<paramref name="allocates"/>:
    /// the op is a <c>pte_alloc</c> that allocated its table in the recorded run).</summary>
    private static IEnumerable<(int Kind, long Id, Role Role)> LifetimeObjects(Op op, bool allocates, List<(int Table, Level Level)> stepAllocations, ReplayEngine engine)
    {
        if (op.Kind == OpKind.MmDestroy && op.Mm != 0)
        {
            // exit_mmap frees every page table of the mm (free_pgtables, the PGD, deposited tables): a destruction of
            // each id, which another mm may allocate again only afterwards.
            var tables = new List<int>();
            engine.TablesOf(op.Mm, tables);
            foreach (int table in tables)
            {
                yield return (2, table, Role.Destroy);
            }
        }
        if (allocates)
        {
            // pte_alloc found the PMD entry none and allocated its table: a creation of that id.
            yield return (2, op.Table, Role.Create);
        }
        foreach (var (table, level) in stepAllocations)
        {
            if (level != Level.Pte)
            {
                // A move step's alloc_new_pmd / alloc_new_pud: the destination lacked that table when the step ran.
                yield return (2, table, Role.Create);
            }
        }
        if (op.Mm != 0)
        {
            yield return (1, op.Mm, op.Kind switch { OpKind.MmCreate => Role.Create, OpKind.MmDestroy => Role.Destroy, _ => Role.Use });
        }
        if (op.Table != 0 && !OpSpec.IsKernelStep(op.Kind))
        {
            yield return (2, op.Table, op.Kind switch { OpKind.TableAlloc => Role.Create, OpKind.TableFree => Role.Destroy, _ => Role.Use });
        }
        if (op.Pfn != 0)
        {
            yield return (3, (long)op.Pfn, op.Kind switch { OpKind.PageAlloc => Role.Create, OpKind.PageFree => Role.Destroy, _ => Role.Use });
        }
    }

    /// <summary>Keeps the largest count per task.</summary>
    private static (int Task, int Count)[] Compact(List<(int Task, int Count)>? list)
    {
        if (list is null || list.Count == 0)
        {
            return [];
        }
        var best = new SortedDictionary<int, int>();
        foreach (var (task, count) in list)
        {
            best[task] = Math.Max(best.GetValueOrDefault(task), count);
        }
        return best.Select(kv => (kv.Key, kv.Value)).ToArray();
    }

    /// <summary>
    /// The op of a store's task by which a store is complete for those who take the PTE lock: a fault's set_pte_at
    /// and its rmap update (folio_add_*_rmap: the mapcount) happen under one PTE-lock hold, so a walker that takes the
    /// lock sees the entry with the mapcount or neither. For a primitive pte_set of a page that its task's next ops
    /// follow with a map_inc of the same page (before it releases a PTE lock, stores another entry or runs a kernel
    /// step), that map_inc; else the store itself. An op trace need not spell the lock out (the scenarios do not).
    /// </summary>
    private static int PublishedAt(Op[] program, int store)
    {
        ref readonly var op = ref program[store];
        if (op.Kind != OpKind.PteSet || op.Pfn == 0)
        {
            return store;
        }
        for (int k = store + 1; k < program.Length && k <= store + MaxPublishOps; k++)
        {
            ref readonly var next = ref program[k];
            if (next.Kind == OpKind.MapInc && next.Pfn == op.Pfn)
            {
                return k;
            }
            if (next.Kind is OpKind.PtlUnlock or OpKind.PteSet or OpKind.PteClear or OpKind.PteSetSwap or OpKind.PmdPopulate
                or OpKind.PmdClear or OpKind.PmdSetHuge || OpSpec.IsKernelStep(next.Kind))
            {
                break;
            }
        }
        return store;
    }

    /// <summary>The entry slots an op reads without storing into them.</summary>
    private static void ReadSlots(in Op op, ReplayEngine engine, List<(int Kind, long A, long B)> slots)
    {
        switch (op.Kind)
        {
            case OpKind.EntryRead:
                if (op.Table != 0)
                {
                    slots.Add((2, op.Table, op.Index));
                }
                else
                {
                    Slot(op.Mm, op.Va, op.Level, engine, slots);
                }
                break;
            case OpKind.TtuWalk:
            case OpKind.TtuMlockCheck:
                Slot(op.Mm, op.Va, op.Level, engine, slots);
                break;
            case OpKind.PtlLock:
            case OpKind.PtlUnlock:
                // A split page-table lock is the lock of the table the walk finds: it reads the entry linking that table.
                if (op.Table == 0 && !op.Has(OpFlags.UseReg) && op.Level < Level.Pud)
                {
                    Slot(op.Mm, op.Va, op.Level + 1, engine, slots);
                }
                break;
            case OpKind.PteAlloc:
                // __pte_alloc walks to the PMD entry: it reads the PUD entry linking that PMD table.
                Slot(op.Mm, op.Va, Level.Pud, engine, slots);
                break;
            case OpKind.Access:
            case OpKind.TlbFill:
                Slot(op.Mm, op.Va, Level.Pmd, engine, slots);
                Slot(op.Mm, op.Va, Level.Pte, engine, slots);
                break;
            default:
                break;
        }
    }

    /// <summary>The entry slots an op stores into: by address (mm, level, index) and by table (table, index) as they are now.</summary>
    private static void WriteSlots(in Op op, ReplayEngine engine, List<(int Kind, long A, long B)> slots)
    {
        switch (op.Kind)
        {
            case OpKind.PteSet:
            case OpKind.PteClear:
            case OpKind.PteSetSwap:
                if (op.Table != 0)
                {
                    slots.Add((2, op.Table, op.Index));
                }
                else
                {
                    Slot(op.Mm, op.Va, op.Level, engine, slots);
                }
                break;
            case OpKind.PmdPopulate:
            case OpKind.PmdClear:
            case OpKind.PmdSetHuge:
            case OpKind.PteAlloc:
            case OpKind.TableDeposit:
            case OpKind.TableWithdraw:
            case OpKind.CollapseFlush:
            case OpKind.RetractPmd:
                Slot(op.Mm, op.Va, Level.Pmd, engine, slots);
                break;
            case OpKind.PudPopulate:
            case OpKind.PudClear:
            case OpKind.PudSetHuge:
                Slot(op.Mm, op.Va, Level.Pud, engine, slots);
                break;
            case OpKind.P4dPopulate:
                Slot(op.Mm, op.Va, Level.P4d, engine, slots);
                break;
            case OpKind.PgdPopulate:
                Slot(op.Mm, op.Va, Level.Pgd, engine, slots);
                break;
            case OpKind.ZapClear:
            case OpKind.TtuUnmap:
                Slot(op.Mm, op.Va, op.Level, engine, slots);
                break;
            case OpKind.PteMove:
                Slot(op.Mm, op.Va, Level.Pte, engine, slots);
                Slot(op.Mm, op.NewVa, Level.Pte, engine, slots);
                break;
            case OpKind.PmdMove:
            case OpKind.MremapMovePmd:
                Slot(op.Mm, op.Va, Level.Pmd, engine, slots);
                Slot(op.Mm, op.NewVa, Level.Pmd, engine, slots);
                break;
            case OpKind.PudMove:
            case OpKind.MremapMovePud:
                Slot(op.Mm, op.Va, Level.Pud, engine, slots);
                Slot(op.Mm, op.NewVa, Level.Pud, engine, slots);
                break;
            case OpKind.MovePtes:
                Slot(op.Mm, op.NewVa, Level.Pmd, engine, slots);
                for (ulong off = 0; off < op.Len && off < MaxPagesPerMove * 4096UL; off += 4096)
                {
                    Slot(op.Mm, op.Va + off, Level.Pte, engine, slots);
                    Slot(op.Mm, op.NewVa + off, Level.Pte, engine, slots);
                }
                break;
            default:
                break;
        }
    }

    private static void Slot(int mm, ulong va, Level level, ReplayEngine engine, List<(int Kind, long A, long B)> slots)
    {
        slots.Add((1, ((long)mm << 3) | (long)level, (long)(va >> (12 + (9 * (int)level)))));
        if (engine.TryResolveSlot(mm, va, level, out int table, out int idx))
        {
            slots.Add((2, table, idx));
        }
    }
}
