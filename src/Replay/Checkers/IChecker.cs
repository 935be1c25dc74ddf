namespace Pipeline.Replay;

/// <summary>
/// An invariant checker: the engine raises these events at the state changes the model's invariants are about,
/// after the op's own effect on the model is decided and before state the checker needs is discarded. A checker
/// implements the events it judges (the others do nothing) and reports through
/// <see cref="ReplayEngine.AddRace"/> / <see cref="ReplayEngine.AmendFinding"/> (one finding per race instance)
/// or <see cref="ReplayEngine.Inconsistent"/> (bad input). Checkers judge the state they are handed, never the
/// op pattern that led there. See docs/architecture.md, "Adding a race".
/// </summary>
internal interface IChecker
{
    /// <summary>I1…I6.</summary>
    string Id { get; }

    /// <summary><c>page_free</c> of an allocated frame (the frame is still allocated while this runs).</summary>
    void OnPageFree(ReplayEngine engine, TaskState task, in Op op, PageState page, long now)
    {
    }

    /// <summary>
    /// A table is really freed: <c>table_free</c> now, at the grace period for <c>free=rcu</c>, after the
    /// mmu_gather's flush for <c>free=gather</c>.
    /// </summary>
    void OnTableFree(ReplayEngine engine, TaskState task, in Op op, Table table, long now)
    {
    }

    /// <summary>An unlinked PTE table is reused as a THP deposit (<c>table_deposit</c>).</summary>
    void OnTableDeposit(ReplayEngine engine, TaskState task, in Op op, Table table, long now)
    {
    }

    /// <summary>A lockless <c>entry_read</c> (the table may already be freed or deposited).</summary>
    void OnLocklessRead(ReplayEngine engine, TaskState task, in Op op, Table table, int idx, long value, long now)
    {
    }

    /// <summary>A <c>mapcount_read</c> whose result feeds an assertion or an irrevocable step.</summary>
    void OnAssertedMapcount(ReplayEngine engine, TaskState task, in Op op, PageState page, long now)
    {
    }

    /// <summary>PG_mlocked is set (before the model sets it).</summary>
    void OnSetMlocked(ReplayEngine engine, TaskState task, in Op op, PageState page, long now)
    {
    }

    /// <summary>A PMD/PUD-level move whose destination slot is populated (the kernel WARNs and falls back).</summary>
    void OnPopulatedDestination(ReplayEngine engine, TaskState task, in Op op, Level level, Table dst, int idx, long now)
    {
    }

    /// <summary>A move acts on a source entry it classified before its locks and that changed since.</summary>
    void OnStaleDecision(ReplayEngine engine, TaskState task, in Op op, Table src, int idx, long decided, long current, long now)
    {
    }

    /// <summary>A table is linked into a second slot while still linked from its first.</summary>
    void OnDoubleLink(ReplayEngine engine, TaskState task, Table child, Table parent, int idx, long now)
    {
    }

    /// <summary>The input ended and every task ran as far as it could.</summary>
    void AtQuiescence(ReplayEngine engine)
    {
    }
}

/// <summary>The checkers the engine runs, in the order their findings are made for one event.</summary>
internal static class Checkers
{
    public static IChecker[] All { get; } =
    [
        new I1NoStaleTranslationAtFree(),
        new I2LocklessWalkGrace(),
        new I3LockedObservation(),
        new I4MlockJustification(),
        new I5Structure(),
        new I6DecisionFreshness(),
    ];
}
