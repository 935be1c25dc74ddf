namespace Pipeline.Cli.Tests;

/// <summary>The fixed interface: help, version, usage errors and their exit codes.</summary>
public sealed class CommandLineTests
{
    [SkippableFact]
    public void Help_ListsEveryCommand()
    {
        var result = Mmtrace.Run("--help");

        Assert.Equal(0, result.ExitCode);
        foreach (var command in new[] { "ingest", "query", "queries", "replay", "triage", "synth", "demo", "record", "soak", "explore" })
        {
            Assert.Contains(command, result.Stdout, StringComparison.Ordinal);
        }
    }

    [SkippableFact]
    public void Version_PrintsTheVersion()
    {
        var result = Mmtrace.Run("--version");

        Assert.Equal(0, result.ExitCode);
        Assert.StartsWith("0.1.0", result.Stdout.Trim(), StringComparison.Ordinal);
    }

    [SkippableTheory]
    [InlineData("ingest", "x.txt")]                                       // -o missing
    [InlineData("ingest", "x.txt", "-o", "d", "--format", "pdf")]         // unknown format
    [InlineData("query", "d", "--param", "k=v")]                          // --param without --name (the prompt takes none)
    [InlineData("query", "d", "--sql", "SELECT 1", "--name", "event_counts")]
    [InlineData("query", "d", "--name", "event_counts", "--param", "novalue")]
    [InlineData("replay", "d", "--profile", "v9.x")]
    [InlineData("replay", "d", "--profile", "v6.14", "--fix", "+no-such-fix")]
    [InlineData("triage", "r.txt", "--profile", "banana")]
    [InlineData("triage", "r.txt", "--format", "xml")]
    [InlineData("replay", "d", "--arch", "riscv")]
    [InlineData("synth", "r1-pmd")]                                       // -o missing
    [InlineData("soak", "--seeds", "1,x")]                                // bad seed
    [InlineData("nosuchcommand")]
    [InlineData("ingest", "--frobnicate")]
    public void Command_UsageError_ExitsTwoWithOneLine(params string[] args)
    {
        var result = Mmtrace.Run(args);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.StartsWith("mmtrace: ", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Queries_ListsEveryEmbeddedQueryWithItsDescription()
    {
        var result = Mmtrace.Run("queries");

        Assert.Equal(0, result.ExitCode);
        foreach (var name in new[] { "event_counts", "tlb_flush_reasons", "mmap_lock_wait", "syscall_latency", "page_faults" })
        {
            Assert.Matches($"(?m)^{name} +\\S", result.Stdout);
        }
        Assert.Contains("--param syscall=%", result.Stdout, StringComparison.Ordinal);
    }
}
