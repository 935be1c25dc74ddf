namespace Pipeline.Replay.Tests.Defects;

/// <summary>Issue 9, defect 5: an IPI syncs with IRQ-off sections only; an RCU reader needs a grace period.</summary>
public class RcuReaderGraceTests
{
    private const ulong Va = 0x4000_0060_0000;

    /// <summary>
    /// A lockless PTE-table walker on CPU3 (pte_offset_map: rcu_read_lock, IRQs on) and retract on CPU1 that
    /// unlinks the table, syncs by IPI and then frees it <paramref name="free"/>.
    /// </summary>
    private static VariantTrace Retract(string reader, string free)
    {
        var t = new VariantTrace()
            .Space("walker-51", 3, 9, 200, Va, vmflags: "file", rmap: 3)
            .Map("walker-51", 3, 9, Va + 0x2000, 0x3300)
            .Op("walker-51", 3, "ctx_switch", "mm=9")
            .Op("retract-52", 1, "ctx_switch", "mm=0")
            .Op("walker-51", 3, reader == "irq" ? "irq_disable" : "rcu_lock")
            .Op("walker-51", 3, "entry_read", $"mm=9 va=0x{Va:x} level=pmd lockless=1")
            .Op("retract-52", 1, "rmap_lock", "rmap=3 mode=r")
            .Op("retract-52", 1, "ptl_lock", $"mm=9 va=0x{Va:x} level=pmd")
            .Op("retract-52", 1, "pmd_clear", $"mm=9 va=0x{Va:x}")
            .Op("retract-52", 1, "ptl_unlock", $"mm=9 va=0x{Va:x} level=pmd")
            .Op("retract-52", 1, "tlb_flush", $"mm=9 va=0x{Va:x} len=0x200000 tables=1")
            .Op("retract-52", 1, "ipi_sync", "func=tlb_remove_table_smp_sync")
            .Op("retract-52", 1, "rmap_unlock", "rmap=3")
            .Op("retract-52", 1, "table_free", $"table=204{free}");
        if (free == " free=rcu")
        {
            t.Op("retract-52", 1, "rcu_gp_end");
        }
        return t.Op("walker-51", 3, "entry_read", "table=204 idx=2 lockless=1")
            .Op("walker-51", 3, reader == "irq" ? "irq_enable" : "rcu_unlock");
    }

    [SkippableTheory]
    [InlineData(Arch.X86)]
    [InlineData(Arch.Arm64)]
    public void Run_RcuReaderAndIpiSyncThenImmediateFree_I2(Arch arch)
    {
        var result = Retract("rcu", "").Run("latest", arch);

        var finding = Assert.Single(result.Findings);
        Assert.Equal("I2", finding.Checker);
        Assert.Contains("RCU read-side", finding.Message, StringComparison.Ordinal);
        Assert.Equal("entry_read", finding.Witness.Steps[^1].Op);
    }

    [SkippableFact]
    public void Run_RcuReaderAndRcuDeferredFree_GracePeriodWaitsForTheReader()
    {
        var result = Retract("rcu", " free=rcu").Run("latest");

        Assert.True(result.Findings.Count == 0, VariantTrace.Describe(result));
        Assert.Empty(result.Unfinished);
    }

    [SkippableFact]
    public void Run_IrqOffReader_IpiSyncWaitsForIt()
    {
        var result = Retract("irq", "").Run("latest");

        Assert.True(result.Findings.Count == 0, VariantTrace.Describe(result));
        Assert.Empty(result.Unfinished);
    }
}
