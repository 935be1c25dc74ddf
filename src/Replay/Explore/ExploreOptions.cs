using System.Globalization;

namespace Pipeline.Replay.Explore;

/// <summary>How schedules are chosen.</summary>
public enum ExploreStrategy
{
    /// <summary>Preemption-bounded depth-first search with dynamic partial-order reduction (exhaustive within the bound).</summary>
    Dpor,

    /// <summary>Probabilistic concurrency testing (Burckhardt et al., ASPLOS 2010): random priorities and d-1 change points per run.</summary>
    Pct,

    /// <summary>Every schedule within the preemption bound, without reduction (the baseline DPOR is measured against).</summary>
    Naive,
}

/// <summary>Parameters of one exploration.</summary>
public sealed record ExploreOptions
{
    /// <summary>Search strategy.</summary>
    public ExploreStrategy Strategy { get; init; } = ExploreStrategy.Dpor;

    /// <summary>Preemption bound K for DPOR and naive search; PCT searches for bugs of depth d = K + 1.</summary>
    public int Bound { get; init; } = 2;

    /// <summary>Stop after this many schedules (PCT: runs; default 1,000 for PCT, unlimited otherwise).</summary>
    public long? Budget { get; init; }

    /// <summary>Stop after this much wall time (checked between schedules).</summary>
    public TimeSpan? Time { get; init; }

    /// <summary>Seed of PCT's priorities and change points (DPOR is deterministic without it).</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>Cap of DPOR's explored-state table (docs/exploration.md, "Stateful pruning"), in bytes: beyond it the
    /// oldest states are forgotten, which loses pruning, never coverage. Default <see cref="DefaultStateCacheBytes"/>.</summary>
    public long StateCacheBytes { get; init; } = DefaultStateCacheBytes;

    /// <summary>256 MiB: a 1,000-op workload's search stays near half a gigabyte whatever its budget.</summary>
    public const long DefaultStateCacheBytes = 256L << 20;

    /// <summary>Cap of DPOR's work list for the next preemption bound (the frames whose alternatives the current bound
    /// forbade, and the paths to them), in bytes. When it is reached the current bound is finished and the search stops
    /// there (the result says so: stopped by <c>memory</c>). Default <see cref="DefaultWorkListBytes"/>.</summary>
    public long WorkListBytes { get; init; } = DefaultWorkListBytes;

    /// <summary>256 MiB: about 1.2 million kept frames (a 1,000-op workload keeps about 115 per schedule at bound 0).</summary>
    public const long DefaultWorkListBytes = 256L << 20;

    /// <summary>Told the number of schedules run so far, at the start of each (a progress line; null: nobody asks).</summary>
    public IProgress<long>? Progress { get; init; }

    /// <summary>
    /// Explore an op trace by windows (<c>--windows</c>): each pair of a race's actors on one mm becomes a small
    /// program explored from the state the recorded prefix leaves (<see cref="OpTraceWindows"/>); the budget applies
    /// per window. Real traces are always explored by their exposure windows.
    /// </summary>
    public bool Windows { get; init; }

    /// <summary>
    /// Windows explored (<c>--window</c>), by their index as the output numbers them; the others are listed as not
    /// explored. Null explores every window. For a real trace's window that replay reported and a user wants to decide
    /// with a larger budget or the other strategy, without exploring the rest again.
    /// </summary>
    public IReadOnlySet<int>? OnlyWindows { get; init; }

    /// <summary>
    /// Throws when <see cref="OnlyWindows"/> names a window that does not exist (<paramref name="count"/> windows were found,
    /// numbered from 0).
    /// </summary>
    internal void CheckOnlyWindows(int count, string where)
    {
        if (OnlyWindows?.Where(i => i < 0 || i >= count).Order().ToList() is { Count: > 0 } missing)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"{where}: --window {string.Join(", ", missing)}: there {(count == 1 ? "is 1 window" : $"are {count} windows")}{(count > 0 ? $", numbered 0 to {count - 1}" : "")}."));
        }
    }

    /// <summary>Whether window <paramref name="index"/> is explored; null when it is, else why not.</summary>
    internal string? NotSelected(int index) =>
        OnlyWindows is null || OnlyWindows.Contains(index)
            ? null
            : string.Create(CultureInfo.InvariantCulture, $"not explored: --window selects {string.Join(", ", OnlyWindows.Order())}");

    /// <summary>
    /// Reduce each window's cone by the orders the trace forces (<see cref="ConeReduction"/>, docs/exploration.md,
    /// "Cone reduction"): the prefixes of its tasks that no schedule reorders against another task's ops become part of
    /// the start state. On by default; off explores the whole cone (the tests compare the two).
    /// </summary>
    public bool ReduceCone { get; init; } = true;

    /// <summary>
    /// Run each invisible page op — a <c>page_alloc</c> or <c>page_free</c> of a frame that no other task names and that
    /// nothing can translate (docs/exploration.md, DPOR, "Invisible page ops") — in the same step as its task's op before
    /// it, instead of as a choice point of its own. DPOR only; on by default, off explores every op as its own step (the
    /// tests compare the two).
    /// </summary>
    public bool GlueInvisibleOps { get; init; } = true;

    /// <summary>
    /// With <see cref="GlueInvisibleOps"/>, also glue a <c>page_free</c> of a frame that was mapped or cached when the
    /// exploration started, at a point of a schedule where nothing can reach it any more: no table entry maps it, no
    /// CPU holds a TLB entry of it that it could use again, and no other task names it (docs/exploration.md,
    /// "Invisible page ops", "Frees of pages unmapped and flushed in the window"). Decided at that point of each
    /// schedule. On by default; off is the search as before (the tests compare the two).
    /// </summary>
    public bool GlueUnreachableFrees { get; init; } = true;

    /// <summary>
    /// With <see cref="GlueInvisibleOps"/>, also glue a task's <c>mmap_lock</c>/<c>mmap_unlock</c> of an mm whose
    /// mmap_lock no other task of the program can take, test or wait on (docs/exploration.md, DPOR, "Locks no other
    /// task takes"): a process' own lock hold inside a window of another mm. On by default; off is the search as
    /// before (the tests compare the two).
    /// </summary>
    public bool GlueOwnMmapLocks { get; init; } = true;

    /// <summary>
    /// The race of the window explored (R1, R2, …; null for a whole trace). DPOR then runs first, in each round, the
    /// alternatives that stop one of the race's actors inside the stretch the race needs it stopped in
    /// (<see cref="RaceDirection"/>, docs/exploration.md, "Race-directed order"); the schedules covered are the same.
    /// </summary>
    public string? Race { get; init; }

    /// <summary>PCT runs when no budget is given.</summary>
    public const long DefaultPctRuns = 1000;

    /// <summary>The strategy's command-line name.</summary>
    public string StrategyName => Strategy switch
    {
        ExploreStrategy.Dpor => "dpor",
        ExploreStrategy.Pct => "pct",
        _ => "naive",
    };

    /// <summary>One line naming the parameters, e.g. <c>dpor, bound 2</c>.</summary>
    public override string ToString()
    {
        var inv = CultureInfo.InvariantCulture;
        string text = Strategy == ExploreStrategy.Pct
            ? string.Create(inv, $"pct, depth {Bound + 1}, seed {Seed}")
            : string.Create(inv, $"{StrategyName}, bound {Bound}");
        if (Budget is { } budget)
        {
            text += string.Create(inv, $", budget {budget}");
        }
        if (Windows)
        {
            text += Budget is null ? ", per window" : " per window";
        }
        if (OnlyWindows is not null)
        {
            text += string.Create(inv, $", window{(OnlyWindows.Count == 1 ? "" : "s")} {string.Join(", ", OnlyWindows.Order())}");
        }
        if (Time is { } time)
        {
            text += string.Create(inv, $", time {time.TotalSeconds:0.###} s");
        }
        return text;
    }
}
