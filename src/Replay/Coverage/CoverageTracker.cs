using System.Globalization;
using System.Text;

namespace Pipeline.Replay.Coverage;

/// <summary>checked / partial / blind (docs/coverage.md).</summary>
public enum CoverageVerdict
{
    /// <summary>Every actor was seen, on one common mm, and nothing of the race's actors was skipped or left undecided.</summary>
    Checked,
    /// <summary>Some of the race was seen: an actor is missing, the actors never met on one mm, or some of their ops were skipped.</summary>
    Partial,
    /// <summary>Nothing of the race could be seen: no actor instance, or an actor no recorded tracepoint can show.</summary>
    Blind,
}

/// <summary>How many instances of one actor the trace holds.</summary>
/// <param name="Name">Actor name (<see cref="CoverageRules"/>).</param>
/// <param name="Count">Instances (lowered ops, or op-trace ops).</param>
/// <param name="ExampleSeq">Row id of the first instance (-1 when none).</param>
/// <param name="Mms">Distinct mms the instances were on (0 = not attributable to an mm).</param>
/// <param name="Visible">The trace holds the tracepoints that show this actor.</param>
public sealed record ActorCount(string Name, long Count, long ExampleSeq, int Mms, bool Visible);

/// <summary>Ops of a race's actors that were skipped or left undecided, by reason.</summary>
/// <param name="Reason">Why.</param>
/// <param name="Count">How many.</param>
/// <param name="ExampleSeq">Row id of the first.</param>
public sealed record CoverageGap(string Reason, long Count, long ExampleSeq);

/// <summary>
/// Events of a race's actors that the trace does show but that changed no page table, so they are neither an
/// instance nor a gap (a collapse that failed before it touched the tables): reported so that a trace is not
/// "0 collapses" without saying that it saw the attempts.
/// </summary>
/// <param name="Text">What was seen.</param>
/// <param name="Count">How many.</param>
/// <param name="ExampleSeq">Row id of the first.</param>
public sealed record CoverageNote(string Text, long Count, long ExampleSeq);

/// <summary>The process whose mm a race's actors met on (real traces only: op traces name mms, not processes).</summary>
/// <param name="Mm">The mm's id in the lowering.</param>
/// <param name="Pid">Its owner's process id (tgid).</param>
/// <param name="Comm">The owner's last name in the trace.</param>
public sealed record MmProcess(int Mm, int Pid, string Comm);

/// <summary>What one trace could show of one race.</summary>
/// <param name="Race">R1…R6.</param>
/// <param name="Checker">I1…I6.</param>
/// <param name="Verdict">checked / partial / blind.</param>
/// <param name="Why">One sentence: what made the verdict.</param>
/// <param name="Actors">Each actor's count.</param>
/// <param name="CommonMms">mms on which every actor was seen.</param>
/// <param name="Gaps">Skipped or undecided ops by reason.</param>
/// <param name="MissingEvents">Tracepoints the race needs that the trace does not hold.</param>
/// <param name="RecordCommand">For partial/blind: a <c>mmtrace record</c> line with the events to record next time.</param>
/// <param name="Notes">Actor events seen that changed nothing (they do not change the verdict).</param>
/// <param name="CommonProcesses">The processes owning <paramref name="CommonMms"/>, where the trace names them (a
/// system-wide recording: which process the race's actors met in).</param>
public sealed record RaceCoverage(
    string Race,
    string Checker,
    CoverageVerdict Verdict,
    string Why,
    IReadOnlyList<ActorCount> Actors,
    int CommonMms,
    IReadOnlyList<CoverageGap> Gaps,
    IReadOnlyList<string> MissingEvents,
    string? RecordCommand,
    IReadOnlyList<CoverageNote> Notes,
    IReadOnlyList<MmProcess> CommonProcesses)
{
    /// <summary>The verdict as written in reports: <c>checked</c>, <c>partial</c>, <c>blind</c>.</summary>
    public string VerdictName => VerdictText(Verdict);

    /// <summary>Lower-case name of a verdict.</summary>
    public static string VerdictText(CoverageVerdict verdict) => verdict switch
    {
        CoverageVerdict.Checked => "checked",
        CoverageVerdict.Partial => "partial",
        _ => "blind",
    };
}

/// <summary>
/// Counts, per race, the instances of its actors (with the mm each was on) and the actor ops that were skipped or left
/// undecided, then judges what the trace could show (<see cref="Build"/>). Fed by <see cref="Lowering.TraceLowering"/>
/// on real traces and by <see cref="OpCoverage"/> on op traces.
/// </summary>
public sealed class CoverageTracker
{
    private readonly Dictionary<(string Race, string Actor), ActorTally> _actors = [];
    private readonly Dictionary<string, Dictionary<string, (long Count, long Seq)>> _gaps = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Dictionary<string, (long Count, long Seq)>> _notes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SortedSet<string>> _wanted = new(StringComparer.Ordinal);

    /// <summary>One instance of an actor of <paramref name="race"/> on <paramref name="mm"/> (0: not attributable).</summary>
    public void Actor(string race, string actor, int mm, long seq)
    {
        if (!_actors.TryGetValue((race, actor), out var tally))
        {
            tally = new ActorTally { FirstSeq = seq };
            _actors[(race, actor)] = tally;
        }
        tally.Count++;
        tally.Mms.Add(mm);
    }

    /// <summary>An op of one of <paramref name="race"/>'s actors that was skipped or left undecided.</summary>
    public void Gap(string race, string reason, long seq) => Tally(_gaps, race, reason, seq);

    /// <summary>
    /// Tracepoints that would have shown what a gap of <paramref name="race"/> lacked (helpful, not needed: the record
    /// line asks for them when the trace does not hold them).
    /// </summary>
    public void Want(string race, IEnumerable<string> events)
    {
        if (!_wanted.TryGetValue(race, out var set))
        {
            set = new SortedSet<string>(StringComparer.Ordinal);
            _wanted[race] = set;
        }
        set.UnionWith(events);
    }

    /// <summary>An event of one of <paramref name="race"/>'s actors that changed no page table (<see cref="CoverageNote"/>).</summary>
    public void Note(string race, string text, long seq) => Tally(_notes, race, text, seq);

    private static void Tally(Dictionary<string, Dictionary<string, (long Count, long Seq)>> byRace, string race, string key, long seq)
    {
        if (!byRace.TryGetValue(race, out var byKey))
        {
            byKey = new Dictionary<string, (long, long)>(StringComparer.Ordinal);
            byRace[race] = byKey;
        }
        byKey[key] = byKey.TryGetValue(key, out var had) ? (had.Count + 1, had.Seq) : (1, seq);
    }

    /// <summary>
    /// Judges every race. <paramref name="hasEvent"/> says whether the trace holds a tracepoint (null for op traces, where
    /// every op is visible). <paramref name="loss"/> says what the trace lost (events the kernel dropped when its ring
    /// buffer overran, a truncated input; <see cref="LossText"/>), null when nothing: any race could have an actor's op,
    /// or an op conflicting with one, among what was lost, so no race is <c>checked</c> then and every reason says so.
    /// <paramref name="filter"/> says which tracepoints were recorded for the recorded command's processes only, and
    /// which processes beside them were at work (<see cref="CommandFilter"/>), null for a recording of the whole machine.
    /// <paramref name="processOf"/> names the process owning an mm (null where it is not known, and for op traces).
    /// </summary>
    public IReadOnlyList<RaceCoverage> Build(Func<string, bool>? hasEvent, string? loss = null, CommandFilter? filter = null,
        Func<int, MmProcess?>? processOf = null)
    {
        var result = new List<RaceCoverage>(CoverageRules.All.Count);
        foreach (var rule in CoverageRules.All)
        {
            result.Add(Judge(rule, hasEvent, loss, filter, processOf));
        }
        return result;
    }

    private RaceCoverage Judge(CoverageRule rule, Func<string, bool>? hasEvent, string? loss, CommandFilter? filter, Func<int, MmProcess?>? processOf)
    {
        var counts = new List<ActorCount>();
        var missing = new SortedSet<string>(StringComparer.Ordinal);
        var wanted = new List<string>();
        HashSet<int>? common = null;
        string? unseeable = null;
        string? invisible = null;
        // Actors that play the same part (CoverageActor.Or) count as one: seen when either is, on the union of their mms.
        var groupMms = new Dictionary<string, HashSet<int>>(StringComparer.Ordinal);
        var groupCount = new Dictionary<string, long>(StringComparer.Ordinal);
        var groupVisible = new Dictionary<string, bool>(StringComparer.Ordinal);
        // An actor whose tracepoints the trace holds only some of: the reason names what is missing, not "none".
        var partlyShown = new Dictionary<string, (string Actor, List<string> Lacking, List<string> Holding)>(StringComparer.Ordinal);
        foreach (var actor in rule.Actors)
        {
            string group = actor.Or ?? actor.Name;
            _actors.TryGetValue((rule.Race, actor.Name), out var tally);
            bool visible = true;
            if (hasEvent is not null)
            {
                var lacking = new List<string>();
                var holding = new List<string>();
                foreach (string entry in actor.Events)
                {
                    var options = entry.Split('|');
                    if (!options.Any(hasEvent))
                    {
                        visible = false;
                        missing.UnionWith(options);
                        lacking.Add(options.Length == 1 ? options[0] : "one of {" + string.Join(", ", options) + "}");
                    }
                    else
                    {
                        holding.Add(options.First(hasEvent));
                    }
                    wanted.AddRange(options);
                }
                if (lacking.Count > 0 && holding.Count > 0)
                {
                    partlyShown.TryAdd(group, (actor.Name, lacking, holding));
                }
                foreach (string extra in actor.Helpful)
                {
                    wanted.Add(extra);
                    if (!hasEvent(extra))
                    {
                        missing.Add(extra);
                    }
                }
                if (actor.Unseeable is not null && (tally is null || tally.Mms.All(m => m == 0)))
                {
                    unseeable ??= $"{actor.Name}: {actor.Unseeable}";
                    visible = false;
                }
            }
            groupVisible[group] = (groupVisible.TryGetValue(group, out bool seenBefore) && seenBefore) || visible || (tally?.Count ?? 0) > 0;
            counts.Add(new ActorCount(actor.Name, tally?.Count ?? 0, tally?.FirstSeq ?? -1, tally?.Mms.Count ?? 0, visible || (tally?.Count ?? 0) > 0));
            groupCount[group] = groupCount.GetValueOrDefault(group) + (tally?.Count ?? 0);
            if (!groupMms.TryGetValue(group, out var mms))
            {
                mms = [];
                groupMms[group] = mms;
            }
            mms.UnionWith(tally?.Mms.Where(m => m != 0) ?? []);
        }
        if (hasEvent is not null && _wanted.TryGetValue(rule.Race, out var gapWants))
        {
            foreach (string extra in gapWants)
            {
                wanted.Add(extra);
                if (!hasEvent(extra))
                {
                    missing.Add(extra);
                }
            }
        }
        foreach (var (group, mms) in groupMms)
        {
            if (!groupVisible[group] && groupCount[group] == 0)
            {
                invisible ??= group;
            }
            if (common is null)
            {
                common = [.. mms];
            }
            else
            {
                common.IntersectWith(mms);
            }
        }
        var gaps = _gaps.TryGetValue(rule.Race, out var byReason)
            ? byReason.OrderByDescending(g => g.Value.Count).ThenBy(g => g.Key, StringComparer.Ordinal)
                .Select(g => new CoverageGap(g.Key, g.Value.Count, g.Value.Seq)).ToList()
            : [];
        int commonMms = common?.Count ?? 0;
        var processes = common is null || processOf is null ? []
            : common.Order().Select(processOf).OfType<MmProcess>().OrderBy(p => p.Pid).ThenBy(p => p.Mm).ToList();
        bool anySeen = counts.Any(c => c.Count > 0);
        bool allSeen = groupCount.Values.All(c => c > 0);
        var parts = groupCount.Keys.Select(g => GroupName(rule, g)).ToList();
        CoverageVerdict verdict;
        string why;
        if (unseeable is not null)
        {
            verdict = CoverageVerdict.Blind;
            why = unseeable;
        }
        else if (invisible is not null)
        {
            verdict = CoverageVerdict.Blind;
            why = !partlyShown.TryGetValue(invisible, out var part) ? $"the trace holds none of the tracepoints that show the {invisible}"
                : part.Holding.Where(e => !s_supportEvents.Contains(e)).ToList() is { Count: > 0 } own
                    ? $"the trace holds {Both(own)} but not {Both(part.Lacking)}, which the model also needs to see the {part.Actor}"
                    : $"the trace lacks {Both(part.Lacking)}, which show the {part.Actor}";
        }
        else if (!anySeen && gaps.Count == 0)
        {
            verdict = CoverageVerdict.Blind;
            why = $"no {string.Join(" and no ", parts)} in the trace";
        }
        else if (allSeen && commonMms > 0 && gaps.Count == 0)
        {
            verdict = CoverageVerdict.Checked;
            why = parts.Count == 1
                ? $"every {parts[0]} was lowered and replayed"
                : $"{string.Join(" and ", parts)} met on {commonMms.ToString(CultureInfo.InvariantCulture)} mm{(commonMms == 1 ? "" : "s")}{ProcessesText(processes)}, nothing skipped";
        }
        else
        {
            verdict = CoverageVerdict.Partial;
            var absent = groupCount.Where(g => g.Value == 0).Select(g => GroupName(rule, g.Key)).ToList();
            if (absent.Count > 0)
            {
                why = $"no {string.Join(" and no ", absent)} in the trace";
            }
            else if (commonMms == 0)
            {
                why = $"the {string.Join(" and the ", parts)} never ran on the same mm";
            }
            else
            {
                long skipped = gaps.Sum(g => g.Count);
                why = string.Create(CultureInfo.InvariantCulture, $"{skipped} actor op{(skipped == 1 ? " was" : "s were")} skipped or undecided");
            }
            if (absent.Count > 0 && gaps.Count > 0)
            {
                why += string.Create(CultureInfo.InvariantCulture, $"; {gaps.Sum(g => g.Count)} skipped or undecided");
            }
        }
        // An absent actor whose own events (its syscalls, user page faults, exec) were recorded for the command's processes
        // only: what it needs of another process was never recorded. "Did not run" is then true of the command's processes
        // only, and when processes beside them worked on their own memory (a lab's workload recorded beside a command that
        // waits for it) their actors may well have run unrecorded: say so, and record the whole machine next time.
        var filteredNeeds = filter is null || hasEvent is null || verdict == CoverageVerdict.Checked || unseeable is not null ? []
            : rule.Actors.Where(a => groupCount[a.Or ?? a.Name] == 0)
                .SelectMany(a => a.Events.Where(e => e.Split('|').Any(filter.Filters))).Distinct(StringComparer.Ordinal).ToList();
        bool besideUnrecorded = filteredNeeds.Count > 0 && filter!.Outside.Count > 0;
        if (besideUnrecorded)
        {
            bool one = filter!.Outside.Count == 1;
            why += $"; syscalls, user page faults and execs were recorded for the command's processes only, and {filter.OutsideText()} "
                + $"changed {(one ? "its" : "their")} own memory beside them: {(one ? "its" : "their")} {PerProcessText(filteredNeeds)} were not recorded "
                + "(record with --system-wide, or run the workload as the command)";
        }
        // Every tracepoint the race's actors want is held (in the trace, or enabled by the recorder and silent): recording
        // them again shows nothing more. What is absent did not run; say so instead of offering the same record line. (After
        // a loss the same events recorded again, into a larger buffer, may show more: the line stays.)
        bool allRecorded = hasEvent is not null && missing.Count == 0 && loss is null && !besideUnrecorded;
        if (allRecorded && verdict != CoverageVerdict.Checked && unseeable is null && groupCount.Values.Any(c => c == 0))
        {
            why += filteredNeeds.Count > 0
                ? ", though every tracepoint the race's actors need was recorded: what is missing did not run in the command's processes (their syscalls, user page faults and execs were recorded, no other process's)"
                : ", though every tracepoint the race's actors need was recorded: what is missing did not run";
        }
        if (loss is not null)
        {
            // The ops seen were judged, the lost ones were not: a race is checked only on a trace that lost nothing.
            if (verdict == CoverageVerdict.Checked)
            {
                verdict = CoverageVerdict.Partial;
                why += $", but {loss}: actor ops, or ops conflicting with them, may be among those lost";
            }
            else
            {
                why += $"; {loss}";
            }
        }
        // An actor no tracepoint shows keeps the race blind whatever is recorded: no record line would change the verdict.
        string? record = verdict == CoverageVerdict.Checked || hasEvent is null || allRecorded || unseeable is not null ? null : RecordLine(wanted, besideUnrecorded);
        var notes = _notes.TryGetValue(rule.Race, out var noted)
            ? noted.OrderByDescending(n => n.Value.Count).ThenBy(n => n.Key, StringComparer.Ordinal)
                .Select(n => new CoverageNote(n.Key, n.Value.Count, n.Value.Seq)).ToList()
            : [];
        return new RaceCoverage(rule.Race, rule.Checker, verdict, why, counts, commonMms, gaps, [.. missing], record, notes, processes);
    }

    /// <summary>" (pid 31782 mover)", " (pid 1 a, pid 2 b, pid 3 c and 4 more)": whose mms the actors met on; "" when unknown.</summary>
    private static string ProcessesText(IReadOnlyList<MmProcess> processes)
    {
        const int Shown = 3;
        if (processes.Count == 0)
        {
            return "";
        }
        string named = string.Join(", ", processes.Take(Shown).Select(p => p.Comm.Length == 0
            ? string.Create(CultureInfo.InvariantCulture, $"pid {p.Pid}")
            : string.Create(CultureInfo.InvariantCulture, $"pid {p.Pid} {p.Comm}")));
        return processes.Count > Shown
            ? string.Create(CultureInfo.InvariantCulture, $" ({named} and {processes.Count - Shown} more)")
            : $" ({named})";
    }

    /// <summary>
    /// Faults, allocations and frees: what many actors need besides their own tracepoints. A trace that holds only
    /// these shows none of an actor's own events, and the reason says what it lacks without listing them.
    /// </summary>
    private static readonly HashSet<string> s_supportEvents = new(StringComparer.Ordinal)
    {
        "exceptions:page_fault_user", "kmem:mm_page_alloc", "kmem:mm_page_free",
    };

    /// <summary>
    /// The per-process tracepoints an actor needs, as a user says them: "mremap calls and user page faults",
    /// "vmsplice/read/write calls", "execs".
    /// </summary>
    private static string PerProcessText(IEnumerable<string> entries)
    {
        var calls = new List<string>();
        var others = new List<string>();
        foreach (string option in entries.SelectMany(e => e.Split('|')))
        {
            string? call = option.StartsWith("syscalls:sys_enter_", StringComparison.Ordinal) ? option["syscalls:sys_enter_".Length..]
                : option.StartsWith("syscalls:sys_exit_", StringComparison.Ordinal) ? option["syscalls:sys_exit_".Length..] : null;
            string? other = option switch
            {
                "exceptions:page_fault_user" => "user page faults",
                "sched:sched_process_exec" => "execs",
                _ when option.StartsWith("raw_syscalls:", StringComparison.Ordinal) => "system calls",
                _ => null,
            };
            if (call is not null && !calls.Contains(call))
            {
                calls.Add(call);
            }
            else if (other is not null && !others.Contains(other))
            {
                others.Add(other);
            }
        }
        var parts = new List<string>(others.Count + 1);
        if (calls.Count > 0)
        {
            parts.Add(string.Join("/", calls) + " calls");
        }
        parts.AddRange(others);
        return parts.Count == 0 ? "events" : Both(parts);
    }

    /// <summary>"a", "a and b", "a, b and c".</summary>
    private static string Both(List<string> items) =>
        items.Count == 1 ? items[0] : string.Join(", ", items.Take(items.Count - 1)) + " and " + items[^1];

    /// <summary>An actor's name, or "A or B" for the actors that play the same part.</summary>
    private static string GroupName(CoverageRule rule, string group) =>
        string.Join(" or ", rule.Actors.Where(a => (a.Or ?? a.Name) == group).Select(a => a.Name));

    /// <summary>
    /// What a dataset lost, in the words the verdicts use, or null when it lost nothing: events the kernel counted as lost
    /// (ring-buffer overruns; a page that lost an unknown number counts one) and a truncated input.
    /// </summary>
    public static string? LossText(long lostEvents, string? truncated)
    {
        var parts = new List<string>(2);
        if (lostEvents > 0)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture,
                $"{lostEvents:N0} event{(lostEvents == 1 ? " was" : "s were")} lost (ring-buffer overrun)"));
        }
        if (!string.IsNullOrEmpty(truncated))
        {
            parts.Add("the input was truncated (" + truncated + ")");
        }
        return parts.Count == 0 ? null : string.Join(" and ", parts);
    }

    /// <summary>
    /// A <c>mmtrace record</c> line that records the mm event set plus every tracepoint the race's actors need that the
    /// set lacks (what <c>--events</c> accepts: <c>mm</c> and <c>system:event</c> names, comma separated);
    /// <paramref name="systemWide"/> adds <c>--system-wide</c> (the actors ran in processes beside the command).
    /// </summary>
    public static string RecordLine(IEnumerable<string> events, bool systemWide = false)
    {
        var extra = new SortedSet<string>(StringComparer.Ordinal);
        foreach (string e in events)
        {
            if (!MmEventSetMatcher.Covers(e))
            {
                extra.Add(e);
            }
        }
        var line = new StringBuilder(systemWide ? "mmtrace record -o DATASET --system-wide --events mm" : "mmtrace record -o DATASET --events mm");
        foreach (string e in extra)
        {
            line.Append(',').Append(e);
        }
        return line.Append(" -- COMMAND").ToString();
    }

    private sealed class ActorTally
    {
        public long Count;
        public long FirstSeq;
        public readonly HashSet<int> Mms = [];
    }
}

/// <summary>Whether the recorder's <c>mm</c> event set already enables an event.</summary>
internal static class MmEventSetMatcher
{
    public static bool Covers(string ev)
    {
        foreach (string entry in Pipeline.Ingest.Live.MmEventSet.All)
        {
            if (entry == ev || (entry.EndsWith('*') && ev.StartsWith(entry[..^1], StringComparison.Ordinal)))
            {
                return true;
            }
        }
        return false;
    }
}
