using System.Globalization;

namespace Pipeline.Replay.Exposure;

/// <summary>Finding class of an exposure window (next to <see cref="FindingClass"/>).</summary>
public static class ExposureClass
{
    /// <summary>The conflicting operations of a race overlapped in time on the same mm under a profile that does not serialise them.</summary>
    public const string Exposure = "exposure";
}

/// <summary>One traced event that is part of an exposure window.</summary>
/// <param name="Seq">Row id.</param>
/// <param name="TsNs">Timestamp.</param>
/// <param name="Cpu">CPU.</param>
/// <param name="Tid">Task.</param>
/// <param name="Comm">Task name.</param>
/// <param name="Text">What the event means here.</param>
internal readonly record struct ExposureEvent(long Seq, long TsNs, int Cpu, int Tid, string Comm, string Text);

/// <summary>
/// Finds exposure windows in a real trace: time intervals in which the two sides of a race were both in
/// progress on the same mm, under a kernel profile whose locking does not serialise them.
/// R1: an mremap that the prediction says moved PMDs (NORMAL_PMD) without rmap locks while reclaim or
/// migration was active (vmscan/migrate events, or frees of that mm's pages by an rmap walker or a task of another
/// mm: a task of the mm outside a walk frees through its own zap, munmap or exit_mmap, which is no reclaim).
/// R2: a collapse (khugepaged or MADV_COLLAPSE) while another CPU ran a task of that mm, so a GUP-fast
/// section could be open, under a profile without the IPI sync after the PMD clear.
/// Fed by <see cref="Lowering.TraceLowering"/> in seq order.
/// </summary>
public sealed class ExposureDetector
{
    private readonly KernelProfile _profile;
    private readonly List<Finding> _findings = [];
    private readonly Dictionary<int, MremapWindow> _mremaps = [];
    private readonly Dictionary<int, CollapseWindow> _collapses = [];
    private readonly Dictionary<int, MremapWindow> _munlocks = [];
    private readonly Dictionary<int, (int Mm, ExposureEvent Since)> _userMm = [];
    private readonly HashSet<int> _reclaiming = [];
    private readonly Dictionary<int, AwaitingFill> _awaitingFill = [];
    private ExposureEvent? _reclaimSince;

    /// <summary>Creates a detector for <paramref name="profile"/>.</summary>
    public ExposureDetector(KernelProfile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        _profile = profile;
    }

    /// <summary>Exposure findings so far, in the order their windows closed.</summary>
    public IReadOnlyList<Finding> Findings => _findings;

    /// <summary>CPU <paramref name="cpu"/> now runs a task of <paramref name="mm"/> (0: a kernel thread or idle).</summary>
    internal void OnRunning(int cpu, int mm, in ExposureEvent ev)
    {
        if (_userMm.TryGetValue(cpu, out var current) && current.Mm == mm)
        {
            return;
        }
        if (current.Mm != 0)
        {
            foreach (var c in _collapses.Values)
            {
                c.Close(cpu, current.Mm, ev);
            }
        }
        _userMm[cpu] = (mm, ev);
        if (mm == 0)
        {
            return;
        }
        foreach (var c in _collapses.Values)
        {
            if (c.Mm == mm && c.Cpu != cpu)
            {
                c.Open(cpu, ev);
            }
        }
    }

    /// <summary>A task enters mremap() on <paramref name="mm"/>.</summary>
    internal void OnMremapEnter(int mm, in ExposureEvent ev)
    {
        // The range moves again: an R1 window of the mm still waiting for a fill through its last move ends as it was.
        CloseAwaitingFill(mm, fill: null);
        var window = new MremapWindow(mm, ev);
        if (_reclaiming.Count > 0 && _reclaimSince is { } since)
        {
            window.Conflicts.Add(since with { Text = since.Text + " (still active when mremap began)" });
        }
        _mremaps[ev.Tid] = window;
    }

    /// <summary>
    /// The mremap of task <paramref name="ev"/>.Tid took its mm's mmap_lock for write: the move can only run from
    /// here on, so what a walker did while the mremap still waited for the lock cannot have met the move, and the
    /// window restarts here. Traces without mmap_lock events never call this and keep the window from the syscall entry.
    /// </summary>
    internal void OnMremapLocked(in ExposureEvent ev)
    {
        if (!_mremaps.TryGetValue(ev.Tid, out var w) || w.Locked is not null)
        {
            return;
        }
        w.Locked = ev;
        w.Conflicts.Clear();
        w.FreedVas.Clear();
        if (_reclaiming.Count > 0 && _reclaimSince is { } since)
        {
            w.Conflicts.Add(since with { Text = since.Text + " (still active when mremap took mmap_lock)" });
        }
    }

    /// <summary>Reclaim or migration activity: <paramref name="mm"/> 0 when the event does not name an mm (global reclaim).</summary>
    internal void OnReclaim(int mm, in ExposureEvent ev)
    {
        foreach (var (tid, w) in _mremaps)
        {
            if (tid != ev.Tid && (mm == 0 || mm == w.Mm) && w.Conflicts.Count < 16)
            {
                w.Conflicts.Add(ev);
            }
        }
        foreach (var (key, w) in _munlocks)
        {
            if (key != ev.Tid && w.Enter.Tid != ev.Tid && (mm == 0 || mm == w.Mm) && w.Conflicts.Count < 16)
            {
                w.Conflicts.Add(ev);
            }
        }
    }

    /// <summary>
    /// A page of <paramref name="mm"/> mapped at <paramref name="va"/> was freed by a walker that holds no mmap_lock of
    /// the mm (reclaim, compaction, another process's unmap_mapping_range): a conflict as <see cref="OnReclaim"/>, and the
    /// address whose page a fill after the move could still translate (see <see cref="OnFill"/>).
    /// </summary>
    internal void OnWalkerFree(int mm, ulong va, in ExposureEvent ev)
    {
        OnReclaim(mm, ev);
        foreach (var (tid, w) in _mremaps)
        {
            if (tid != ev.Tid && mm == w.Mm && w.FreedVas.Count < 64)
            {
                w.FreedVas.Add((va & ~4095UL, ev));
            }
        }
    }

    /// <summary>
    /// A task of <paramref name="mm"/> filled its TLB at <paramref name="va"/> (a fault on a present entry: the only trace
    /// of an access to a mapped page). An R1 window whose walker freed the page that the move carried to this address
    /// extends to here: R1 needs a fill through the new address after the move and before the walker's unmap, and a
    /// window ending at the mremap exit holds no access after the move (docs/lowering.md, "Exposure windows").
    /// <paramref name="mappedByTrace"/>: the lowering maps a page there now, i.e. a traced fault mapped a new page at the
    /// address after the walker's free; in every schedule that store comes before this fill, which then translates the
    /// new page, never the freed one, so such a fill does not end the wait.
    /// </summary>
    internal void OnFill(int mm, ulong va, bool mappedByTrace, in ExposureEvent ev)
    {
        if (!mappedByTrace && _awaitingFill.TryGetValue(mm, out var pending) && pending.Targets.ContainsKey(va & ~4095UL))
        {
            CloseAwaitingFill(mm, ev, va & ~4095UL);
        }
    }

    /// <summary>Closes the R1 windows still waiting for a fill (the end of the trace).</summary>
    internal void Finish()
    {
        foreach (int mm in _awaitingFill.Keys.Order().ToList())
        {
            CloseAwaitingFill(mm, fill: null);
        }
    }

    private void CloseAwaitingFill(int mm, ExposureEvent? fill, ulong va = 0)
    {
        if (!_awaitingFill.Remove(mm, out var p))
        {
            return;
        }
        if (fill is not { } f)
        {
            Add("I1", "R1", mm, p.Steps, p.Length, p.Message, p.Outcome);
            return;
        }
        // The window that can reach R1 through this fill: from the walker's free of the page the move carried to the
        // filled address (what the walker did before it, and the lock acquisition, stay in the recorded prefix) past
        // the mremap exit to the fill.
        var free = p.Targets[va];
        long length = Math.Max(0, p.Exit.TsNs - free.TsNs);
        Add("I1", "R1", mm, [free, p.Exit, f], length,
            p.Message + string.Create(CultureInfo.InvariantCulture,
                $"; {f.Comm}-{f.Tid} then filled its TLB at 0x{va:x} (seq {f.Seq}), where the move put the page {free.Comm}-{free.Tid} freed at seq {free.Seq}: window from that free to the fill"),
            p.Outcome);
    }

    /// <summary>
    /// An munlock (key: the task) or an exit_mmap (key: minus the mm) of <paramref name="mm"/> with VM_LOCKED VMAs
    /// begins; <paramref name="keepOpen"/> keeps a window already open under that key.
    /// </summary>
    internal void OnMunlockBegin(int key, int mm, in ExposureEvent ev, bool keepOpen = false)
    {
        if (keepOpen && _munlocks.ContainsKey(key))
        {
            return;
        }
        var window = new MremapWindow(mm, ev);
        if (_reclaiming.Count > 0 && _reclaimSince is { } since)
        {
            window.Conflicts.Add(since with { Text = since.Text + " (still active when " + ev.Text + ")" });
        }
        _munlocks[key] = window;
    }

    /// <summary>
    /// An exec whose stack shift the prediction says meets a populated destination PMD (R5, checker I5), under a
    /// profile without realign-pmd: the kernel WARNs (once since f81fdd0c4ab7) and falls back to move_ptes.
    /// </summary>
    internal void OnExecStackOverlap(int mm, in ExposureEvent enter, in ExposureEvent at, string message)
    {
        Add("I5", "R5", mm, [enter, at], Math.Max(0, at.TsNs - enter.TsNs), message,
            "move_normal_pmd finds the destination PMD populated by the table the first move_ptes extent allocated: WARN and fallback to move_ptes (R5)");
    }

    /// <summary>The munlock or exit_mmap under <paramref name="key"/> ended.</summary>
    internal void OnMunlockEnd(int key, in ExposureEvent ev, string what)
    {
        if (!_munlocks.Remove(key, out var w))
        {
            return;
        }
        // b87537d9e2fe: try_to_unmap_one sets PG_mlocked under the PTE lock, in the section that saw VM_LOCKED.
        if (_profile.Has(KernelFix.MlockUnderPtl) || w.Conflicts.Count == 0)
        {
            return;
        }
        var (steps, length) = w.Steps(ev);
        Add("I4", "R4", w.Mm, steps, length,
            string.Create(CultureInfo.InvariantCulture,
                $"{what} of mm{w.Mm} by {w.Enter.Comm}-{w.Enter.Tid} cleared VM_LOCKED and PG_mlocked while reclaim/migration was active ({w.Conflicts.Count} conflicting event(s)); exposure window {length} ns"),
            "try_to_unmap_one may have seen VM_LOCKED, dropped the PTE lock and set PG_mlocked after the munlock cleared it (mmap_sem trylock path): the page stays Mlocked with no VM_LOCKED mapper, or is freed Mlocked (R4)");
    }

    /// <summary>Reclaim starts (kswapd wakes, direct reclaim begins) or ends, as an interval per task.</summary>
    internal void OnReclaimInterval(bool begin, in ExposureEvent ev)
    {
        if (begin)
        {
            if (_reclaiming.Add(ev.Tid) && _reclaiming.Count == 1)
            {
                _reclaimSince = ev;
            }
            OnReclaim(0, ev);
        }
        else if (_reclaiming.Remove(ev.Tid) && _reclaiming.Count == 0)
        {
            _reclaimSince = null;
        }
    }

    /// <summary>The mremap of task <paramref name="ev"/>.Tid returned; <paramref name="normalPmdMoves"/> PMDs moved as NORMAL_PMD (prediction).</summary>
    internal void OnMremapExit(in ExposureEvent ev, int normalPmdMoves, bool needRmapLocks, IReadOnlyList<(ulong Old, ulong New, ulong Length)>? moves = null)
    {
        if (!_mremaps.Remove(ev.Tid, out var w))
        {
            return;
        }
        // 97113eb39fa7: with rmap locks on every PMD move an rmap walker cannot see the PMD mid-move.
        bool serialised = needRmapLocks || _profile.Has(KernelFix.RmapLocksPmdMove) || !_profile.Has(KernelFeature.MovePmd);
        if (normalPmdMoves == 0 || serialised || w.Conflicts.Count == 0)
        {
            return;
        }
        var (steps, length) = w.Steps(ev);
        // Without the lock acquisition (older traces, or recordings without mmap_lock events) the window can only
        // start at the syscall entry, and may count a walker that ran while the mremap waited for the lock.
        string from = w.Locked is null ? " (from sys_enter_mremap: no mmap_lock acquisition traced)" : "";
        string message = string.Create(CultureInfo.InvariantCulture,
            $"mremap by {w.Enter.Comm}-{w.Enter.Tid} moved {normalPmdMoves} PMD(s) as NORMAL_PMD without rmap locks on mm{w.Mm} while reclaim/migration was active ({w.Conflicts.Count} conflicting event(s)); exposure window {length} ns{from}");
        const string outcome = "an rmap walker (try_to_unmap) may find the PTE table through the old PMD while it moves, flush only the new address and free a page another CPU still translates (R1)";
        // Where the move put the pages the walkers freed: a fill there after the exit is the access R1 needs.
        var targets = new Dictionary<ulong, ExposureEvent>();
        foreach (var (va, free) in w.FreedVas)
        {
            foreach (var (old, to, len) in moves ?? [])
            {
                if (va >= old && va - old < len)
                {
                    targets.TryAdd(to + (va - old), free);
                }
            }
        }
        CloseAwaitingFill(w.Mm, fill: null);
        if (targets.Count > 0)
        {
            _awaitingFill[w.Mm] = new AwaitingFill(steps, length, message, outcome, ev, targets);
            return;
        }
        Add("I1", "R1", w.Mm, steps, length, message, outcome);
    }

    /// <summary>An R1 window closed at its mremap exit, kept open until a fill through the new address of a page its walkers freed.</summary>
    private sealed record AwaitingFill(List<ExposureEvent> Steps, long Length, string Message, string Outcome, ExposureEvent Exit, Dictionary<ulong, ExposureEvent> Targets);

    /// <summary>A collapse of <paramref name="mm"/> by <paramref name="ev"/>.Tid begins (its mmap_lock write acquisition, or the isolation when that was not traced).</summary>
    internal void OnCollapseBegin(int mm, in ExposureEvent ev)
    {
        if (_collapses.ContainsKey(ev.Tid))
        {
            return;
        }
        var c = new CollapseWindow(mm, ev.Cpu, ev);
        foreach (var (cpu, state) in _userMm)
        {
            if (cpu != ev.Cpu && state.Mm == mm)
            {
                c.Open(cpu, state.Since);
            }
        }
        _collapses[ev.Tid] = c;
    }

    /// <summary>The collapse of task <paramref name="ev"/>.Tid ended (mm_collapse_huge_page, or the mmap_lock release without one).</summary>
    internal void OnCollapseEnd(in ExposureEvent ev, bool collapsed)
    {
        if (!_collapses.Remove(ev.Tid, out var c) || !collapsed)
        {
            return;
        }
        // 2ba99c5e0881: the IPI sync after pmdp_collapse_flush waits for every GUP-fast (IRQ-off) section.
        if (_profile.Has(KernelFix.TableFreeIpiSync))
        {
            return;
        }
        foreach (var (cpu, runs) in c.Others.OrderBy(o => o.Key))
        {
            foreach (var (since, until) in runs)
            {
                long start = Math.Max(c.Begin.TsNs, since.TsNs);
                long end = Math.Min(ev.TsNs, until?.TsNs ?? ev.TsNs);
                if (end < start)
                {
                    continue;
                }
                var steps = new List<ExposureEvent> { c.Begin, since };
                if (until is { } u)
                {
                    steps.Add(u);
                }
                steps.Add(ev);
                Add("I2", "R2", c.Mm, steps, end - start,
                    string.Create(CultureInfo.InvariantCulture,
                        $"collapse of mm{c.Mm} by {c.Begin.Comm}-{c.Begin.Tid} on CPU{c.Cpu} while CPU{cpu} ran {since.Comm}-{since.Tid} of the same mm; exposure window {end - start} ns"),
                    string.Create(CultureInfo.InvariantCulture,
                        $"a GUP-fast walk on CPU{cpu} (IRQs off, no lock) may still use the PTE table the collapse clears and reuses; no IPI sync waits for it (R2)"));
            }
        }
    }

    private void Add(string checker, string race, int mm, List<ExposureEvent> steps, long length, string message, string outcome)
    {
        steps.Sort((a, b) => a.Seq.CompareTo(b.Seq));
        var cpus = steps.Select(s => s.Cpu).Distinct().Order().ToList();
        var columns = cpus.Select(c => new WitnessColumn(c, string.Create(CultureInfo.InvariantCulture,
            $"CPU{c} ({string.Join(", ", steps.Where(s => s.Cpu == c).Select(s => s.Comm + "-" + s.Tid.ToString(CultureInfo.InvariantCulture)).Distinct())})"))).ToList();
        var witness = new Witness(columns,
            steps.Select((s, i) => new WitnessStep(i + 1, s.Cpu, s.Tid, s.Seq, "event", s.Text)).ToList(),
            outcome + string.Create(CultureInfo.InvariantCulture, $" (window {length} ns)"));
        _findings.Add(new Finding
        {
            Checker = checker,
            Race = race,
            Class = ExposureClass.Exposure,
            Severity = Severity.Warning,
            Cpus = cpus,
            Mm = mm,
            Seqs = steps.Select(s => s.Seq).Distinct().Order().ToList(),
            Message = message,
            Witness = witness,
        });
    }

    /// <summary>A call on one mm (mremap, munlock, exit_mmap) and the reclaim/migration events that overlapped it.</summary>
    private sealed class MremapWindow(int mm, ExposureEvent enter)
    {
        public int Mm { get; } = mm;
        public ExposureEvent Enter { get; } = enter;

        /// <summary>The call's mmap_lock acquisition, when traced (mremap only): the window's start instead of the entry.</summary>
        public ExposureEvent? Locked { get; set; }

        public List<ExposureEvent> Conflicts { get; } = [];

        /// <summary>Page addresses (before the move) of the mm's pages that walkers freed inside the window.</summary>
        public List<(ulong Va, ExposureEvent Free)> FreedVas { get; } = [];

        /// <summary>The window's events and its length: from the later of the start (lock or entry) and the first conflict to <paramref name="end"/>.</summary>
        public (List<ExposureEvent> Steps, long Length) Steps(in ExposureEvent end)
        {
            var begin = Locked ?? Enter;
            long start = Math.Max(begin.TsNs, Conflicts[0].TsNs);
            var steps = new List<ExposureEvent> { begin };
            steps.AddRange(Conflicts);
            steps.Add(end);
            return (steps, Math.Max(0, end.TsNs - start));
        }
    }

    private sealed class CollapseWindow(int mm, int cpu, ExposureEvent begin)
    {
        public int Mm { get; } = mm;
        public int Cpu { get; } = cpu;
        public ExposureEvent Begin { get; } = begin;
        public Dictionary<int, List<(ExposureEvent Since, ExposureEvent? Until)>> Others { get; } = [];

        public void Open(int cpu, in ExposureEvent since)
        {
            if (!Others.TryGetValue(cpu, out var runs))
            {
                runs = [];
                Others[cpu] = runs;
            }
            if (runs.Count == 0 || runs[^1].Until is not null)
            {
                runs.Add((since, null));
            }
        }

        public void Close(int cpu, int mm, in ExposureEvent until)
        {
            if (mm == Mm && Others.TryGetValue(cpu, out var runs) && runs.Count > 0 && runs[^1].Until is null)
            {
                runs[^1] = (runs[^1].Since, until);
            }
        }
    }
}
