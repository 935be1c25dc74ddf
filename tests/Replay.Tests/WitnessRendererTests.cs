using System.Text;
using System.Text.Json;

namespace Pipeline.Replay.Tests;

public class WitnessRendererTests
{
    public static TheoryData<string> Scenarios() => [.. ScenarioLibrary.All.Select(s => s.Name)];

    private static string Render(Scenario scenario, string profile)
    {
        var arch = scenario.MaskedOn.Contains(Arch.X86) ? Arch.Arm64 : Arch.X86;
        var result = ReplayEngine.Run(scenario.Build(), KernelProfile.Parse(profile), arch);
        var sb = new StringBuilder();
        sb.Append("# ").Append(scenario.Name).Append(" (").Append(scenario.Race).Append(") under ").Append(profile).Append(", ").Append(arch).Append('\n');
        sb.Append("# ").Append(scenario.Description).Append('\n').Append('\n');
        foreach (var finding in result.Findings)
        {
            sb.Append(WitnessRenderer.RenderTimeline(finding)).Append('\n');
        }
        return sb.ToString();
    }

    [SkippableTheory]
    [MemberData(nameof(Scenarios))]
    public void RenderTimeline_ScenarioUnderItsBuggyKernel_MatchesGolden(string name)
    {
        var scenario = ScenarioLibrary.Get(name);
        string profile = scenario.BuggyProfiles[^1];
        string actual = Render(scenario, profile);

        GoldenFile.AssertMatches(name + ".baseline.txt", name + ".actual.txt", actual, $"Witness of {name}");
    }

    [SkippableFact]
    public void RenderTimeline_OneColumnPerCpu_StepsInOrder()
    {
        var finding = ReplayEngine.Run(ScenarioLibrary.Get("r1-pmd").Build(), KernelProfile.None, Arch.X86).Findings[0];

        string text = WitnessRenderer.RenderTimeline(finding);

        Assert.Equal([1, 2, 3], finding.Witness.Columns.Select(c => c.Cpu));
        Assert.Contains("CPU1 (mremap-101)", text, StringComparison.Ordinal);
        Assert.Equal(Enumerable.Range(1, finding.Witness.Steps.Count), finding.Witness.Steps.Select(s => s.Step));
        int fill = text.IndexOf("TLB fill", StringComparison.Ordinal);
        int move = text.IndexOf("pmd_move", StringComparison.Ordinal);
        int free = text.IndexOf("page_free", StringComparison.Ordinal);
        Assert.True(move < fill && fill < free, text);
    }

    [SkippableFact]
    public void ToJson_EveryScenario_ValidJsonWithWitness()
    {
        foreach (var scenario in ScenarioLibrary.All)
        {
            var result = ReplayEngine.Run(scenario.Build(), KernelProfile.None, Arch.Arm64);
            using var doc = JsonDocument.Parse(result.FindingsJson());
            var first = doc.RootElement[0];
            Assert.Equal(scenario.Checker, first.GetProperty("checker").GetString());
            Assert.True(first.GetProperty("witness").GetProperty("steps").GetArrayLength() > 0);
            Assert.StartsWith("0x", first.GetProperty("pfn").GetString(), StringComparison.Ordinal);
        }
    }

    [SkippableFact]
    public void Run_TwiceOnSameInput_ByteIdenticalFindings()
    {
        foreach (var scenario in ScenarioLibrary.All)
        {
            foreach (var profile in new[] { "none", "latest", scenario.BuggyProfiles[0] })
            {
                string a = ReplayEngine.Run(scenario.Build(), KernelProfile.Parse(profile), Arch.Arm64).FindingsJson();
                string b = ReplayEngine.Run(scenario.Build(), KernelProfile.Parse(profile), Arch.Arm64).FindingsJson();
                Assert.Equal(a, b);
            }
        }
    }
}
