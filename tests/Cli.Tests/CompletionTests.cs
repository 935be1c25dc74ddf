using System.Diagnostics;

namespace Pipeline.Cli.Tests;

/// <summary><c>mmtrace completion</c>: the scripts parse in their shell and complete this build's commands and options.</summary>
public sealed class CompletionTests
{
    [SkippableFact]
    public void Completion_Bash_CompletesCommandsOptionsAndFixedValues()
    {
        var script = Mmtrace.Run("completion", "bash");
        Assert.True(script.ExitCode == 0, script.ToString());
        using var dir = new TempDir();
        File.WriteAllText(dir["c.bash"], script.Stdout);

        Assert.Equal("show", Complete(dir["c.bash"], "mmtrace", "sh"));
        Assert.Equal("--around", Complete(dir["c.bash"], "mmtrace", "show", "--ar"));
        Assert.Equal("--perfetto", Complete(dir["c.bash"], "mmtrace", "export", "--pe"));
        Assert.Equal("csv json table", Complete(dir["c.bash"], "mmtrace", "query", "ds", "--format", ""));
        Assert.Equal("", Complete(dir["c.bash"], "mmtrace", "show", "--perfetto"));

        var bad = Mmtrace.Run("completion", "powershell");
        Assert.Equal(2, bad.ExitCode);
    }

    [SkippableFact]
    public void Completion_FishAndZsh_NameEveryCommand()
    {
        var fish = Mmtrace.Run("completion", "fish").Stdout;
        var zsh = Mmtrace.Run("completion", "zsh").Stdout;
        foreach (var command in new[] { "ingest", "query", "replay", "show", "export", "report", "demo", "completion" })
        {
            Assert.Contains($"-n __fish_use_subcommand -a {command} ", fish, StringComparison.Ordinal);
            Assert.Contains($"        {command})", zsh, StringComparison.Ordinal);
        }
        Assert.Contains("complete -c mmtrace -n '__fish_seen_subcommand_from show' -l around", fish, StringComparison.Ordinal);
        Assert.Contains("bashcompinit", zsh, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Queries_FormatJson_ListsEveryNamedQueryWithItsParameters()
    {
        var text = Mmtrace.Run("queries");
        var json = Mmtrace.Run("queries", "--format", "json");
        Assert.True(json.ExitCode == 0, json.ToString());

        using var doc = System.Text.Json.JsonDocument.Parse(json.Stdout);
        var names = doc.RootElement.EnumerateArray().Select(q => q.GetProperty("name").GetString()!).ToList();
        Assert.Equal(text.Stdout.Split('\n').Where(l => l.Length > 0 && !char.IsWhiteSpace(l[0])).Select(l => l.Split(' ')[0]), names);
        var rate = doc.RootElement.EnumerateArray().Single(q => q.GetProperty("name").GetString() == "pmd_move_hit_rate");
        Assert.Equal("pid", rate.GetProperty("parameters")[0].GetProperty("name").GetString());
        Assert.Equal("0", rate.GetProperty("parameters")[0].GetProperty("default").GetString());
    }

    /// <summary>Runs the completion function as bash would for the words typed (the last one is being completed).</summary>
    private static string Complete(string script, params string[] words)
    {
        var start = new ProcessStartInfo("/bin/bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add($"source \"$1\"; shift; COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1)); _mmtrace; printf '%s\\n' \"${{COMPREPLY[@]}}\" | grep -v '^$' | sort | tr '\\n' ' '");
        start.ArgumentList.Add("bash");
        start.ArgumentList.Add(script);
        foreach (var word in words)
        {
            start.ArgumentList.Add(word);
        }
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0 && error.Length == 0, $"bash: exit {process.ExitCode}: {error}");
        return output.Trim();
    }
}
