namespace Pipeline.Ingest;

/// <summary>Limits every reader applies to values the kernel itself bounds, so damage is reported, not stored.</summary>
internal static class TraceLimits
{
    /// <summary>
    /// Linux's largest NR_CPUS (x86 MAXSMP, powerpc): a CPU id at or beyond it cannot come from a kernel, so it is
    /// damage. Readers check CPU ids and per-CPU counts against it before storing or allocating.
    /// </summary>
    public const int MaxCpus = Pipeline.Storage.EventSchema.MaxCpus;
}
