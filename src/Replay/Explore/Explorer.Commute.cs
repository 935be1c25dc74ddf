using System.Globalization;
using System.Numerics;

namespace Pipeline.Replay.Explore;

/// <summary>
/// What the commutation oracle (<see cref="Explorer.Commute"/>) found at the states a naive enumeration reached: the
/// pairs of enabled ops of different tasks the footprints call independent that do not commute (each a soundness bug
/// of a footprint), and the pairs they call dependent that commute anyway, grouped by the two op kinds and the objects
/// that made them dependent (docs/exploration.md, DPOR, "The commutation oracle").
/// </summary>
internal sealed class CommuteReport
{
    /// <summary>Distinct states (model state and program positions) checked at most.</summary>
    public int MaxStates { get; init; } = 300;

    public long States { get; internal set; }

    /// <summary>Pairs of ops of different tasks, both enabled at a checked state.</summary>
    public long Pairs { get; internal set; }

    public long Independent { get; internal set; }

    public long Dependent { get; internal set; }

    /// <summary>Dependent pairs that commute: both orders run, same model state, same findings.</summary>
    public long DependentCommuting { get; internal set; }

    /// <summary>Independent pairs that do not commute, each described (the prefix, the two ops, what differed).</summary>
    public List<string> Failures { get; } = [];

    /// <summary>Per "kind × kind: objects": dependent pairs, and how many of them commute.</summary>
    public Dictionary<string, (long Pairs, long Commute)> DependentBy { get; } = new(StringComparer.Ordinal);

    internal HashSet<ulong> Seen { get; } = [];
}

public sealed partial class Explorer
{
    /// <summary>Test mode of naive enumeration: at each new state it reaches (up to the report's cap), every pair of
    /// enabled ops of different tasks is run in both orders from that state, and the footprints' verdict (independent
    /// or not) is compared with what the model does (<see cref="CommuteReport"/>).</summary>
    internal CommuteReport? Commute { get; init; }

    private readonly record struct PairRun(bool FirstRefused, string? Failed, ulong Digest, string Findings, ulong Enabled, Footprint First, Footprint Second,
        string Rest = "");

    /// <summary>Runs the pair checks at the state the prefix <c>_frames[0..depth)</c> reaches (the current one), then
    /// brings the engine back to it.</summary>
    private void CheckCommutation(CommuteReport oracle, int depth, ulong enabled)
    {
        ulong key = _engine.StateDigest();
        for (int t = 0; t < _n; t++)
        {
            key = Mix(key ^ ((ulong)(uint)t << 32) ^ (uint)_pos[t]);
        }
        if (BitOperations.PopCount(enabled) < 2 || !oracle.Seen.Add(key))
        {
            return;
        }
        oracle.States++;
        // The footprints at this state, as the sleep sets see them.
        PendingFootprints();
        var here = new Footprint[_n];
        for (ulong rest = enabled; rest != 0; rest &= rest - 1)
        {
            int t = BitOperations.TrailingZeroCount(rest);
            NextFootprint(t, here[t] = new Footprint());
        }
        var ops = _pos.Select((p, t) => p < _programs[t].Length ? _programs[t][p] : default).ToArray();
        for (ulong ra = enabled; ra != 0; ra &= ra - 1)
        {
            int a = BitOperations.TrailingZeroCount(ra);
            for (ulong rb = ra & (ra - 1); rb != 0; rb &= rb - 1)
            {
                int b = BitOperations.TrailingZeroCount(rb);
                var ab = RunPair(depth, a, b);
                var ba = RunPair(depth, b, a);
                if (ab.FirstRefused || ba.FirstRefused)
                {
                    // One of them is refused here: not enabled at this state.
                    continue;
                }
                oracle.Pairs++;
                bool sleepView = !here[a].ConflictsWith(here[b]);
                bool abView = ab.Failed is null && !ab.First.ConflictsWith(ab.Second);
                bool baView = ba.Failed is null && !ba.First.ConflictsWith(ba.Second);
                string? differs = ab.Failed is not null ? $"{Name(a, ops[a])} then {Name(b, ops[b])}: {ab.Failed}"
                    : ba.Failed is not null ? $"{Name(b, ops[b])} then {Name(a, ops[a])}: {ba.Failed}"
                    : ab.Digest != ba.Digest ? "the model states differ"
                    : !string.Equals(ab.Findings, ba.Findings, StringComparison.Ordinal) ? $"the findings differ: [{ab.Findings}] against [{ba.Findings}]"
                    : ab.Enabled != ba.Enabled ? "the enabled tasks differ"
                    : !string.Equals(ab.Rest, ba.Rest, StringComparison.Ordinal) ? $"the findings of the same continuation differ: [{ab.Rest}] against [{ba.Rest}]"
                    : null;
                if (sleepView || abView || baView)
                {
                    oracle.Independent++;
                    if (differs is not null)
                    {
                        string views = string.Join(", ", new[] { (sleepView, "at the state"), (abView, "in the first order"), (baView, "in the second order") }
                            .Where(v => v.Item1).Select(v => v.Item2));
                        oracle.Failures.Add(string.Create(CultureInfo.InvariantCulture,
                            $"prefix [{string.Join(" ", _frames.Take(depth).Select(f => f.Task))}]: {Name(a, ops[a])} and {Name(b, ops[b])} are independent ({views}) but {differs}"));
                    }
                    continue;
                }
                oracle.Dependent++;
                string[] kinds = [OpSpec.NameOf(ops[a].Kind), OpSpec.NameOf(ops[b].Kind)];
                Array.Sort(kinds, StringComparer.Ordinal);
                string group = $"{kinds[0]} × {kinds[1]}: {here[a].ConflictKinds(here[b])}";
                oracle.DependentBy.TryGetValue(group, out var count);
                bool commutes = differs is null;
                oracle.DependentBy[group] = (count.Pairs + 1, count.Commute + (commutes ? 1 : 0));
                if (commutes)
                {
                    oracle.DependentCommuting++;
                }
            }
        }
        ReplayPrefix(depth, dpor: false, sleep: false);
    }

    private string Name(int task, in Op op) => string.Create(CultureInfo.InvariantCulture,
        $"{_tids[task]}'s op {_pos[task]} {OpSpec.NameOf(op.Kind)}");

    /// <summary>From the state after <c>_frames[0..depth)</c>: task <paramref name="first"/>'s next op, then
    /// <paramref name="second"/>'s.</summary>
    private PairRun RunPair(int depth, int first, int second)
    {
        ReplayPrefix(depth, dpor: false, sleep: false);
        int before = _engine.Findings.Count;
        if (Step(first, depth, dpor: false) != StepOutcome.Ran)
        {
            return new PairRun(true, null, 0, "", 0, _fp, _fp);
        }
        var fpFirst = new Footprint();
        fpFirst.AddAll(_fp);
        if ((EnabledMask() & (1UL << second)) == 0)
        {
            return new PairRun(false, "the second op is no longer enabled", 0, "", 0, fpFirst, fpFirst);
        }
        var outcome = Step(second, depth + 1, dpor: false);
        if (outcome != StepOutcome.Ran)
        {
            return new PairRun(false, $"the second op is refused ({InconsistentMessage()})", 0, "", 0, fpFirst, fpFirst);
        }
        var fpSecond = new Footprint();
        fpSecond.AddAll(_fp);
        string findings = FindingKeys(_engine.Findings, before);
        ulong digest = _engine.StateDigest();
        ulong enabled = EnabledMask();
        // The checkers also read what the digest leaves out (exec stamps: a CPU's last IPI sync, a table's unlink, the
        // flushes after an unmap), so the same continuation is run after both orders and its findings compared.
        int index = depth + 2;
        ulong refused = 0;
        while ((EnabledMask() & ~refused) is var open and not 0)
        {
            int recorded = RecordedNext();
            int t = recorded >= 0 && (open & (1UL << recorded)) != 0 ? recorded : BitOperations.TrailingZeroCount(open);
            var outcome2 = Step(t, index, dpor: false);
            if (outcome2 == StepOutcome.Ran)
            {
                index++;
                refused = 0;
                continue;
            }
            if (outcome2 == StepOutcome.Infeasible)
            {
                break;
            }
            refused |= 1UL << t;
        }
        return new PairRun(false, null, digest, findings, enabled, fpFirst, fpSecond, FindingKeys(_engine.Finish().Findings, before));
    }

    private static string FindingKeys(IReadOnlyList<Finding> findings, int from) => string.Join("; ", findings.Skip(from)
        .Select(f => string.Create(CultureInfo.InvariantCulture, $"{f.Checker} {f.Race} mm {f.Mm} 0x{f.Va & ~0xFFFUL:x} pfn 0x{f.Pfn:x}"))
        .Order(StringComparer.Ordinal));
}
