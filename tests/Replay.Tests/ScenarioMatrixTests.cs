using System.Globalization;
using System.Text;

namespace Pipeline.Replay.Tests;

/// <summary>
/// Issue 9, defect 10: what every library scenario gives under every profile on both architectures, pinned as a
/// reviewed golden file (<c>golden/scenario-matrix.txt</c>). The expectations live here, not in the scenario
/// library's own buggy/fixed lists, so a change that edits the engine and those lists together cannot pass
/// unnoticed: the golden has to be edited too, in review.
/// </summary>
public class ScenarioMatrixTests
{
    private static readonly Arch[] s_archs = [Arch.X86, Arch.Arm64];

    private static string GoldenPath() => Path.Combine(GoldenFile.Directory(), "scenario-matrix.txt");

    /// <summary>One cell: the checkers that reported a race (×count), inconsistent input, unfinished tasks, or clean.</summary>
    private static string Cell(ReplayResult result)
    {
        var parts = result.Findings
            .GroupBy(f => f.Class == FindingClass.Race ? $"{f.Checker}/{f.Race}" : "inconsistent")
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => string.Create(CultureInfo.InvariantCulture, $"{g.Key}×{g.Count()}"))
            .ToList();
        if (result.Unfinished.Count > 0)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"unfinished×{result.Unfinished.Count}"));
        }
        return parts.Count == 0 ? "clean" : string.Join(" ", parts);
    }

    private static string Render()
    {
        var sb = new StringBuilder();
        sb.Append("# scenario × profile × arch -> findings (checker/race×count); reviewed by hand, see ScenarioMatrixTests\n");
        foreach (var scenario in ScenarioLibrary.All)
        {
            var trace = scenario.Build();
            foreach (var name in KernelProfile.Names)
            {
                var profile = KernelProfile.Parse(name);
                sb.Append(CultureInfo.InvariantCulture, $"{scenario.Name,-15} {name,-9}");
                foreach (var arch in s_archs)
                {
                    sb.Append(CultureInfo.InvariantCulture, $"  {arch.ToString().ToLowerInvariant()}: {Cell(ReplayEngine.Run(trace, profile, arch)),-14}");
                }
                sb.Length = sb.ToString().TrimEnd().Length;
                sb.Append('\n');
            }
        }
        return sb.ToString();
    }

    [SkippableFact]
    public void Run_EveryScenarioUnderEveryProfileAndArch_MatchesTheReviewedGolden()
    {
        GoldenFile.AssertMatches("scenario-matrix.txt", "scenario-matrix.actual.txt", Render(), "The scenario matrix");
    }

    [SkippableFact]
    public void ScenarioLibraryLists_AgreeWithTheGolden()
    {
        // The library's buggy/fixed lists are product data (synth --list, demo); they must say what the
        // reviewed matrix says: a buggy profile reports the scenario's checker on every unmasked arch, a fixed
        // one is clean on both.
        var lines = File.ReadAllLines(GoldenPath()).Where(l => !l.StartsWith('#')).ToList();
        foreach (var scenario in ScenarioLibrary.All)
        {
            foreach (var profile in scenario.BuggyProfiles)
            {
                string line = Assert.Single(lines, l => l.StartsWith($"{scenario.Name} ", StringComparison.Ordinal) && l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1] == profile);
                foreach (var arch in s_archs)
                {
                    string cell = CellOf(line, arch);
                    bool masked = scenario.MaskedOn.Contains(arch);
                    Assert.True(masked ? cell == "clean" : cell.StartsWith($"{scenario.Checker}/{scenario.Race}×", StringComparison.Ordinal) && !cell.Contains(' ', StringComparison.Ordinal),
                        $"{scenario.Name} {profile} {arch}: golden says '{cell}'");
                }
            }
            foreach (var profile in scenario.FixedProfiles)
            {
                string line = Assert.Single(lines, l => l.StartsWith($"{scenario.Name} ", StringComparison.Ordinal) && l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1] == profile);
                Assert.All(s_archs, arch => Assert.Equal("clean", CellOf(line, arch)));
            }
        }
    }

    [SkippableFact]
    public void RaceCatalog_AgreesWithTheGolden()
    {
        // KernelProfile.Races is the one place that says which fix closes which race: under a profile where it
        // says a scenario's race is closed the golden is clean, and wherever the golden shows a finding it is
        // the race's own checker.
        var lines = File.ReadAllLines(GoldenPath()).Where(l => !l.StartsWith('#')).ToList();
        foreach (var scenario in ScenarioLibrary.All)
        {
            var race = Assert.Single(KernelProfile.Races, r => r.Id == scenario.Race);
            foreach (var name in KernelProfile.Names)
            {
                string line = Assert.Single(lines, l => l.StartsWith($"{scenario.Name} ", StringComparison.Ordinal) && l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1] == name);
                bool open = KernelProfile.Parse(name).IsOpen(race.Id);
                foreach (var arch in s_archs)
                {
                    string cell = CellOf(line, arch);
                    Assert.True(open ? cell == "clean" || cell.StartsWith($"{race.Checker}/{race.Id}×", StringComparison.Ordinal) : cell == "clean",
                        $"{scenario.Name} {name} {arch}: {race.Id} is {(open ? "open" : "closed")} but the golden says '{cell}'");
                }
            }
        }
    }

    private static string CellOf(string line, Arch arch)
    {
        string key = arch.ToString().ToLowerInvariant() + ": ";
        int start = line.IndexOf(key, StringComparison.Ordinal) + key.Length;
        int end = arch == Arch.X86 ? line.IndexOf("  arm64: ", start, StringComparison.Ordinal) : line.Length;
        return line[start..end].Trim();
    }
}
