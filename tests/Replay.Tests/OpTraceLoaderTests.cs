using Pipeline.Storage;

namespace Pipeline.Replay.Tests;

public class OpTraceLoaderTests
{
    public static TheoryData<string> Scenarios() => [.. ScenarioLibrary.All.Select(s => s.Name)];

    [SkippableTheory]
    [MemberData(nameof(Scenarios))]
    public void Load_WrittenScenario_SameOpsAndSameFindings(string name)
    {
        var scenario = ScenarioLibrary.Get(name);
        var original = scenario.Build();

        var loaded = OpTraceLoader.Load(TraceText.ToRows(TraceText.Write(original)));

        Assert.Equal(original.Count, loaded.Count);
        for (int i = 0; i < original.Count; i++)
        {
            Assert.Equal(original.Ops[i], loaded.Ops[i]);
        }
        Assert.Equal(original.Tasks, loaded.Tasks);
        var profile = KernelProfile.Parse(scenario.BuggyProfiles[0]);
        var arch = scenario.MaskedOn.Contains(Arch.X86) ? Arch.Arm64 : Arch.X86;
        Assert.Equal(ReplayEngine.Run(original, profile, arch).FindingsJson(), ReplayEngine.Run(loaded, profile, arch).FindingsJson());
    }

    [SkippableFact]
    public void Write_PmdMoveStep_PrintsFtraceLine()
    {
        var op = new Op { Kind = OpKind.MremapMovePmd, Tid = 101, Cpu = 1, Mm = 1, Va = 0x200000, NewVa = 0x40200000, Obj = 1 };

        string line = OpTraceWriter.FormatLine(op, "mremap", 10);

        Assert.Equal("            mremap-101 [001] ..... 0.000010: mmop_mremap_move_pmd: mm=1 old=0x200000 new=0x40200000 rmap=1", line);
    }

    [SkippableFact]
    public void Load_DecimalAndHexValues_BothAccepted()
    {
        var rows = TraceText.ToRows(
            "t-5 [000] ..... 0.000001: mmop_pte_set: mm=1 va=2101248 pfn=0x5000\n"
            + "t-5 [000] ..... 0.000002: mmop_pte_set: mm=0x1 va=0x201000 pfn=20480\n");

        var trace = OpTraceLoader.Load(rows);

        Assert.Equal(trace.Ops[0], trace.Ops[1] with { Seq = 0 });
        Assert.Equal(0x201000UL, trace.Ops[0].Va);
        Assert.Equal(0x5000UL, trace.Ops[0].Pfn);
    }

    [SkippableFact]
    public void Load_NonOpEvents_IgnoredAndCounted()
    {
        var rows = TraceText.ToRows(
            "t-5 [000] ..... 0.000001: tlb_tlb_flush: pages=-1 reason=4\n"
            + "t-5 [000] ..... 0.000002: mmop_irq_disable: \n"
            + "t-5 [000] ..... 0.000003: mmop_irq_enable: \n");

        var trace = OpTraceLoader.Load(rows);

        Assert.Equal(2, trace.Count);
        Assert.Equal(1, trace.IgnoredEvents);
        Assert.Equal(1, trace.Ops[0].Seq);
    }

    [SkippableFact]
    public void Load_MissingRequiredKey_StrictThrowsNamingLine()
    {
        var rows = TraceText.ToRows("t-5 [000] ..... 0.000001: mmop_irq_disable: \nt-5 [000] ..... 0.000002: mmop_pmd_move: mm=1 old=0x200000\n");

        var ex = Assert.Throws<TraceFormatException>(() => OpTraceLoader.Load(rows));

        Assert.Equal(2, ex.Record.Position);
        Assert.Contains("missing required key 'new'", ex.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Load_BadValues_CountedWhenNotStrict()
    {
        var rows = TraceText.ToRows(
            "t-5 [000] ..... 0.000001: mmop_entry_read: table=4 idx=900\n"
            + "t-5 [000] ..... 0.000002: mmop_frobnicate: x=1\n"
            + "t-5 [000] ..... 0.000003: mmop_mmap_lock: mm=1 mode=x\n"
            + "t-5 [000] ..... 0.000004: mmop_irq_enable: \n");
        var diagnostics = new IngestDiagnostics();

        var trace = OpTraceLoader.Load(rows, diagnostics, "lab.txt");

        Assert.Equal(1, trace.Count);
        Assert.Equal(3, diagnostics.MalformedCount);
        Assert.Contains("expected an entry index 0..511, found '900'", diagnostics.MalformedSamples[0].Message, StringComparison.Ordinal);
        Assert.Contains("unknown op 'frobnicate'", diagnostics.MalformedSamples[1].Message, StringComparison.Ordinal);
        Assert.Equal("lab.txt", diagnostics.MalformedSamples[2].File);
        Assert.Equal(3, diagnostics.MalformedSamples[2].Position);
    }
}
