using System.Globalization;
using System.Text;
using Pipeline.Replay.Workloads;

namespace Pipeline.Replay.Tests.Workloads;

public class RandomWorkloadTests
{
    private static string Describe(ReplayResult result) =>
        string.Join("\n", result.Findings.Take(5).Select(f => $"{f.Checker} {f.Race} {f.Class}: {f.Message}"));

    [Theory]
    [InlineData(1UL, 4)]
    [InlineData(2UL, 2)]
    [InlineData(3UL, 8)]
    [InlineData(4UL, 3)]
    public void Generate_NoInjection_NoFindingsUnderLatestAndNone(ulong seed, int cpus)
    {
        var trace = RandomWorkload.Generate(new RandomWorkloadOptions { Cpus = cpus, Ops = 100_000, Seed = seed });

        foreach (var profile in new[] { KernelProfile.Latest, KernelProfile.None })
        {
            foreach (var arch in new[] { Arch.X86, Arch.Arm64 })
            {
                var result = ReplayEngine.Run(trace, profile, arch);
                var real = result.Findings.Where(f => !(arch == Arch.X86 && f.Checker == "I1" && f.Message.Contains("paging-structure cache", StringComparison.Ordinal))).ToList();
                Assert.True(real.Count == 0, $"{profile.Name}/{arch}: {real.Count} findings\n{string.Join("\n", real.Take(5).Select(f => $"{f.Checker} {f.Race}: {f.Message}"))}");
                Assert.Empty(result.Unfinished);
            }
        }
    }
}
