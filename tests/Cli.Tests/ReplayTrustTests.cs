using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Pipeline.Cli.Tests;

/// <summary>Replay follows the trace: any CPU a kernel can have, and the events themselves rather than meta.json.</summary>
public sealed partial class ReplayTrustTests
{
    [SkippableTheory]
    [InlineData("r1-pmd", "x86")]
    [InlineData("r1-pmd", "arm64")]
    [InlineData("r1-pmd-reclaim", "x86")]
    [InlineData("r1-pmd-reclaim", "arm64")]
    public void OpTrace_CpusAbove63_SameFindingsAsLowCpus(string scenario, string arch)
    {
        using var dir = new TempDir();
        Assert.Equal(0, Mmtrace.Run("synth", scenario, "-o", dir["low.txt"]).ExitCode);
        // CPU c becomes 65c: 65, 130, 195 (a 64-bit cpumask would fold 65 onto 1).
        File.WriteAllText(dir["high.txt"], CpuColumn().Replace(File.ReadAllText(dir["low.txt"]), m => $"[{int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) * 65:D3}]"));
        Assert.Equal(0, Mmtrace.Run("ingest", dir["low.txt"], "-o", dir["low"]).ExitCode);
        Assert.Equal(0, Mmtrace.Run("ingest", dir["high.txt"], "-o", dir["high"]).ExitCode);

        var low = Mmtrace.Run("replay", dir["low"], "--profile", "v5.13", "--arch", arch, "--format", "json");
        var high = Mmtrace.Run("replay", dir["high"], "--profile", "v5.13", "--arch", arch, "--format", "json");

        Assert.True(high.ExitCode == low.ExitCode, high.ToString());
        var lowFindings = JsonNode.Parse(low.Stdout)![0]!["findings"]!.AsArray();
        var highFindings = JsonNode.Parse(high.Stdout)![0]!["findings"]!.AsArray();
        Assert.Equal(lowFindings.Select(f => f!["checker"]!.GetValue<string>()), highFindings.Select(f => f!["checker"]!.GetValue<string>()));
        Assert.Equal(JsonNode.Parse(low.Stdout)![0]!["ops"]!.GetValue<long>(), JsonNode.Parse(high.Stdout)![0]!["ops"]!.GetValue<long>());
    }

    [SkippableFact]
    public void OpTrace_CpuBeyondNrCpus_MalformedLineNotAUsageError()
    {
        using var dir = new TempDir();
        Assert.Equal(0, Mmtrace.Run("synth", "r1-pmd", "-o", dir["r1.txt"]).ExitCode);
        var lines = File.ReadAllLines(dir["r1.txt"]);
        lines[^1] = lines[^1].Replace("[001]", "[9000]", StringComparison.Ordinal).Replace("[002]", "[9000]", StringComparison.Ordinal).Replace("[003]", "[9000]", StringComparison.Ordinal);
        File.WriteAllLines(dir["r1.txt"], lines);

        var ingest = Mmtrace.Run("ingest", dir["r1.txt"], "-o", dir["ds"]);

        Assert.True(ingest.ExitCode == 0, ingest.ToString());
        Assert.Contains("1 malformed", ingest.Stdout, StringComparison.Ordinal);
        Assert.NotEqual(2, Mmtrace.Run("replay", dir["ds"]).ExitCode);
    }

    [SkippableFact]
    public void RealTrace_Cpu100_LoweredLikeCpu0()
    {
        using var dir = new TempDir();
        string text = File.ReadAllText(Mmtrace.Corpus("recorded/ftrace-text/mm_trace.txt"));
        File.WriteAllText(dir["low.txt"], text);
        File.WriteAllText(dir["high.txt"], text.Replace("[000]", "[100]", StringComparison.Ordinal).Replace("[001]", "[257]", StringComparison.Ordinal));
        Assert.Equal(0, Mmtrace.Run("ingest", dir["low.txt"], "-o", dir["low"]).ExitCode);
        Assert.Equal(0, Mmtrace.Run("ingest", dir["high.txt"], "-o", dir["high"]).ExitCode);

        var low = JsonNode.Parse(Mmtrace.Run("replay", dir["low"], "--format", "json").Stdout)![0]!;
        var high = JsonNode.Parse(Mmtrace.Run("replay", dir["high"], "--format", "json").Stdout)![0]!;

        Assert.Equal(0, high["lowering"]!["cpu_out_of_range"]!.GetValue<long>());
        Assert.Equal(low["ops"]!.GetValue<long>(), high["ops"]!.GetValue<long>());
        Assert.True(high["ops"]!.GetValue<long>() > 0);
    }

    [SkippableFact]
    public void MetaJsonEventCountsEmptied_ReplayStillFindsTheRace()
    {
        using var dir = new TempDir();
        Assert.Equal(0, Mmtrace.Run("synth", "r1-pmd", "-o", dir["r1.txt"]).ExitCode);
        Assert.Equal(0, Mmtrace.Run("ingest", dir["r1.txt"], "-o", dir["ds"]).ExitCode);
        var meta = JsonNode.Parse(File.ReadAllText(dir["ds/meta.json"]))!.AsObject();
        meta["event_counts"] = new JsonObject();
        meta["events"] = 0;
        File.WriteAllText(dir["ds/meta.json"], meta.ToJsonString());

        var replay = Mmtrace.Run("replay", dir["ds"], "--profile", "v5.13");

        Assert.True(replay.ExitCode == 1, replay.ToString());
        Assert.Contains("I1 R1 (race, critical)", replay.Stdout, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"\[(\d{3})\]")]
    private static partial Regex CpuColumn();
}
