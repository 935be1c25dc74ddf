using System.Diagnostics;
using System.Text.Json;

namespace Pipeline.Cli.Tests;

/// <summary>
/// The everyday CLI of issue 15 on a real recorded trace: the SQL prompt (a script on stdin, and at a terminal
/// through a pseudo-terminal), JSON from ingest, demo and synth --list, the trace id the ingest summary names,
/// a directory of traces, the one perf.data instruction, and the progress line only at a terminal.
/// </summary>
public sealed class EverydayCliTests
{
    private const string Trace = "recorded/ftrace-text/mm_trace.txt";

    private static TempDir Ingested(out string dataset)
    {
        var dir = new TempDir();
        dataset = dir["ds"];
        var ingest = Mmtrace.Run("ingest", Mmtrace.Corpus(Trace), "-o", dataset);
        Assert.True(ingest.ExitCode == 0, ingest.ToString());
        return dir;
    }

    [SkippableFact]
    public void QueryPrompt_ScriptOnStdin_RunsEachStatementWithTheViews()
    {
        using var dir = Ingested(out var ds);
        // A statement over three lines with a ';' inside a comment and one inside a string, two statements on
        // one line, dot-commands between statements, and a last statement without its ';'.
        const string script = """
            .tables
            .mode csv
            SELECT event, count(*) AS n   -- the busiest; not the end
              FROM events
              GROUP BY event ORDER BY n DESC LIMIT 2;
            -- a comment line between statements
            SELECT 'a;b' AS s; SELECT count(DISTINCT pid) > 0 AS has_threads FROM threads;
            SELECT /* a ; in a block comment */ $$x;y$$ AS d;
            SELECT count(*) AS events FROM events
            """;

        var result = Mmtrace.RunWithInput(script, "query", ds);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("", result.Stderr);
        // No prompt or banner: stdin is not a terminal.
        Assert.DoesNotContain("mmtrace>", result.Stdout, StringComparison.Ordinal);
        Assert.Equal(
            "events  processes  threads  tlb_flush_reason\n"
            + "event,n\nkmem:mm_page_free,1591\nkmem:rss_stat,760\n"
            + "s\na;b\n"
            + "has_threads\ntrue\n"
            + "d\nx;y\n"
            + "events\n3298\n",
            result.Stdout.Replace("\r", "", StringComparison.Ordinal));
    }

    [SkippableFact]
    public void QueryPrompt_FailingStatement_NamedByLineOthersStillRunExitThree()
    {
        using var dir = Ingested(out var ds);
        const string script = "SELECT 1 AS one;\n\nSELECT * FROM findings;\nSELECT 2 AS two;\n.nonsense\n.quit\nSELECT 3 AS three;\n";

        var result = Mmtrace.RunWithInput(script, "query", ds, "--format", "csv");

        Assert.Equal(3, result.ExitCode);
        Assert.Equal("one\n1\ntwo\n2\n", result.Stdout.Replace("\r", "", StringComparison.Ordinal));
        Assert.Contains("Error: line 3: no findings yet: run `mmtrace replay", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("unknown or incomplete dot-command '.nonsense'", result.Stderr, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Query_ColumnOfATypeTheReaderCannotPrint_OneLineErrorNamingColumnAndCast()
    {
        using var dir = Ingested(out var ds);

        var result = Mmtrace.Run("query", ds, "--sql", "SELECT {'pid': pid, 'comm': comm} AS who FROM events LIMIT 1");

        Assert.Equal(3, result.ExitCode);
        Assert.DoesNotContain("Unhandled", result.Stderr, StringComparison.Ordinal);
        Assert.Single(result.Stderr.Trim().Split('\n'));
        Assert.Contains("'who' has type STRUCT", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("CAST(\"who\" AS VARCHAR)", result.Stderr, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void QueryPrompt_AtATerminal_PromptsContinuesAndKeepsHistory()
    {
        using var dir = Ingested(out var ds);
        string history = dir["history"];
        var (exit, output) = AtTerminal($"{Mmtrace.Command} query '{ds}'", "SELECT 40 + 2\n  AS answer;\n.schema processes\n.quit\n", ("MMTRACE_HISTORY", history));
        string screen = output.Replace("\r", "", StringComparison.Ordinal);

        Assert.True(exit == 0, screen);
        Assert.Contains("mmtrace SQL over 1 trace (ds)", screen, StringComparison.Ordinal);
        Assert.Contains("mmtrace> SELECT 40 + 2\n    ...>   AS answer;\nanswer\n------\n    42\n", screen, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^  tgid +INTEGER$", screen);
        // The statement on one line, for rlwrap or a later look; dot-commands are not statements.
        Assert.Equal("SELECT 40 + 2 AS answer;\n", File.ReadAllText(history));
    }

    [SkippableFact]
    public void Query_BothSqlAndName_UsageError()
    {
        using var dir = Ingested(out var ds);
        var result = Mmtrace.Run("query", ds, "--sql", "SELECT 1", "--name", "event_counts");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("not both", result.Stderr, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Ingest_Summary_NamesTheTraceIdTheDatasetHas()
    {
        using var dir = new TempDir();
        var plain = Mmtrace.Run("ingest", Mmtrace.Corpus(Trace), "-o", dir["lab"]);
        var named = Mmtrace.Run("ingest", Mmtrace.Corpus(Trace), "-o", dir["named"], "--name", "run-1");

        Assert.True(plain.ExitCode == 0, plain.ToString());
        Assert.True(named.ExitCode == 0, named.ToString());
        // A single trace is the dataset itself: its id is the directory's name, not the file's.
        Assert.Contains("-> trace 'lab':", plain.Stdout, StringComparison.Ordinal);
        Assert.Equal("trace\nlab\n", TraceIds(dir["lab"]));
        // --name gives the id asked for, as the partition that carries it.
        Assert.Contains("-> trace 'run-1':", named.Stdout, StringComparison.Ordinal);
        Assert.True(File.Exists(dir["named/trace=run-1/meta.json"]));
        Assert.Equal("trace\nrun-1\n", TraceIds(dir["named"]));
    }

    private static string TraceIds(string dataset)
    {
        var query = Mmtrace.Run("query", dataset, "--sql", "SELECT DISTINCT trace FROM events", "--format", "csv");
        Assert.True(query.ExitCode == 0, query.ToString());
        return query.Stdout.Replace("\r", "", StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Ingest_DirectoryNotCtf_IngestsTheTracesInItAndNamesWhatIsLeftOut()
    {
        using var dir = new TempDir();
        var result = Mmtrace.Run("ingest", Mmtrace.Corpus("recorded/perf"), "-o", dir["ds"]);

        Assert.True(result.ExitCode == 0, result.ToString());
        // The five perf script texts, one partition each; the binary perf.data is named with what to do.
        Assert.Equal(
            ["trace=perf_script_F_ip_sym", "trace=perf_script_F_pid_tid", "trace=perf_script_F_time_event_trace", "trace=perf_script_ns", "trace=perf_script_us"],
            Directory.GetDirectories(dir["ds"]).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Contains("left out ", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("mm_perf.data: this is a binary perf.data file", result.Stderr, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Ingest_DirectoryWithoutTraces_ExitsThreeNamingEachFile()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir["notes"]);
        File.WriteAllText(dir["notes/README"], "machine: lab-3\nkernel: 6.18\n");
        var result = Mmtrace.Run("ingest", dir["notes"], "-o", dir["ds"]);

        Assert.Equal(3, result.ExitCode);
        Assert.Contains("is not a CTF trace (no 'metadata' file) and holds no other trace", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("notes/README: no line looks like ftrace", result.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir["ds"]));
    }

    [SkippableFact]
    public void Ingest_PerfData_TheSameInstructionWhateverTheFormat()
    {
        using var dir = new TempDir();
        var perfData = Mmtrace.Corpus("recorded/perf/mm_perf.data");
        string instruction = $"this is a binary perf.data file, which mmtrace does not read; convert it with 'perf script -i {perfData} --ns -F comm,tid,pid,cpu,time,event,trace,ip,sym > {Path.ChangeExtension(perfData, ".txt")}' and ingest the text";
        foreach (var format in new[] { "auto", "perf", "ftrace", "console", "tracedat" })
        {
            var result = Mmtrace.Run("ingest", perfData, "-o", dir["ds"], "--format", format);
            Assert.True(result.ExitCode == 3, $"--format {format}: {result}");
            Assert.Equal($"mmtrace: {perfData}:byte 0: {instruction}\n", result.Stderr.Replace("\r", "", StringComparison.Ordinal));
            Assert.False(Directory.Exists(dir["ds"]));
        }
    }

    [SkippableFact]
    public void Ingest_SummaryJson_NumbersAsNumbersAndTheRealId()
    {
        using var dir = new TempDir();
        var result = Mmtrace.Run("ingest", Mmtrace.Corpus(Trace), "-o", dir["ds"], "--summary-format", "json");

        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var root = json.RootElement;
        Assert.Equal(3298, root.GetProperty("events").GetInt64());
        var trace = Assert.Single(root.GetProperty("traces").EnumerateArray());
        Assert.Equal("ds", trace.GetProperty("trace").GetString());
        Assert.Equal("ftrace", trace.GetProperty("format").GetString());
        Assert.Equal(JsonValueKind.Number, trace.GetProperty("lost_events").ValueKind);
        Assert.Equal(1591, trace.GetProperty("event_counts").GetProperty("kmem:mm_page_free").GetInt64());
        Assert.Equal(0, trace.GetProperty("malformed_samples").GetArrayLength());

        // --format is the input's: asking it for json says which option gives the JSON summary.
        var wrong = Mmtrace.Run("ingest", Mmtrace.Corpus(Trace), "-o", dir["ds2"], "--format", "json");
        Assert.Equal(2, wrong.ExitCode);
        Assert.Contains("--summary-format json", wrong.Stderr, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void SynthList_Json_EveryScenarioWithRaceCheckerAndProfiles()
    {
        var result = Mmtrace.Run("synth", "--list", "--format", "json");

        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var byName = json.RootElement.EnumerateArray().ToDictionary(e => e.GetProperty("name").GetString()!);
        Assert.Equal(6, byName["random"].GetProperty("inject").GetArrayLength());
        var r1 = byName["r1-pmd"];
        Assert.Equal("R1", r1.GetProperty("race").GetString());
        Assert.Equal("I1", r1.GetProperty("checker").GetString());
        Assert.Contains("v5.13", r1.GetProperty("buggy").EnumerateArray().Select(e => e.GetString()));
        // Its race is masked on x86 (a batched reclaim flush is a full flush there).
        Assert.Equal(["x86"], byName["r1-pmd-reclaim"].GetProperty("masked_on").EnumerateArray().Select(e => e.GetString()));
    }

    [SkippableFact]
    public void Demo_Json_RowsExplorationsLegendAndNoProgressWhenRedirected()
    {
        using var dir = new TempDir();
        var result = Mmtrace.Run("demo", "-o", dir["demo"], "--format", "json");

        Assert.True(result.ExitCode == 0, result.ToString());
        // stderr is a pipe here: no progress line, no carriage return anywhere.
        Assert.Equal("", result.Stderr);
        using var json = JsonDocument.Parse(result.Stdout);
        var root = json.RootElement;
        Assert.True(root.GetProperty("all_as_expected").GetBoolean());
        var r1 = root.GetProperty("rows").EnumerateArray().First(r => r.GetProperty("trace").GetString() == "r1-pmd");
        Assert.Equal(1, r1.GetProperty("last_buggy").GetProperty("findings").GetProperty("I1").GetInt32());
        Assert.Empty(r1.GetProperty("latest").GetProperty("findings").EnumerateObject());
        var injected = root.GetProperty("rows").EnumerateArray().First(r => r.GetProperty("trace").GetString() == "random-injected");
        Assert.Equal(JsonValueKind.Null, injected.GetProperty("last_buggy").ValueKind);
        Assert.Equal(JsonValueKind.Number, injected.GetProperty("ops").ValueKind);
        Assert.Equal(2, root.GetProperty("explorations").GetArrayLength());
        for (int i = 1; i <= 6; i++)
        {
            var entry = root.GetProperty("legend").GetProperty($"R{i}");
            Assert.Equal($"I{i}", entry.GetProperty("checker").GetString());
            Assert.False(string.IsNullOrEmpty(entry.GetProperty("race").GetString()));
        }
        Assert.Equal("I1", root.GetProperty("witness").GetProperty("checker").GetString());
    }

    [SkippableFact]
    public void Replay_AtATerminal_DrawsProgressOnlyThere()
    {
        using var dir = new TempDir();
        // Progress is told every 64 Ki events: a workload of a few times that many.
        Assert.Equal(0, Mmtrace.Run("synth", "random", "--ops", "200000", "-o", dir["w.txt"]).ExitCode);
        Assert.Equal(0, Mmtrace.Run("ingest", dir["w.txt"], "-o", dir["w"]).ExitCode);
        var (exit, screen) = AtTerminal($"{Mmtrace.Command} replay '{dir["w"]}' > '{dir["out.txt"]}'");

        Assert.True(exit == 0, screen);
        Assert.Matches(@"replay w \[#*\.*\] +[0-9.]+% 65,536/[0-9,]+ events", screen);
        // The results went to the file, without a trace of the progress line.
        string results = File.ReadAllText(dir["out.txt"]);
        Assert.StartsWith("trace w: R1 ", results, StringComparison.Ordinal);
        Assert.DoesNotContain('\r', results);
    }

    [SkippableFact]
    public void Demo_AtATerminal_DrawsProgressOnStderrAndErasesIt()
    {
        using var dir = new TempDir();
        // stdout to a file, stderr left on the terminal.
        var (exit, screen) = AtTerminal($"{Mmtrace.Command} demo -o '{dir["demo"]}' --format json > '{dir["out.json"]}'");

        Assert.True(exit == 0, screen);
        Assert.Contains("demo: replay r1-pmd under none", screen, StringComparison.Ordinal);
        Assert.Contains("demo: explore r1-pmd-benign under", screen, StringComparison.Ordinal);
        // The last thing drawn is the erase (before the runtime's own terminal reset, if any): a clean line.
        Assert.Matches(@"\r +\r(\x1b[^\r\n]*)*$", screen);
        using var json = JsonDocument.Parse(File.ReadAllText(dir["out.json"]));
        Assert.True(json.RootElement.GetProperty("all_as_expected").GetBoolean());
    }

    /// <summary>
    /// Runs a shell command on a pseudo-terminal (util-linux <c>script</c>), as a person at a terminal would:
    /// <paramref name="input"/> is typed, and what the terminal shows is returned. Skips where there is no script.
    /// </summary>
    private static (int Exit, string Screen) AtTerminal(string command, string input = "", params (string Name, string Value)[] environment)
    {
        Skip.IfNot(File.Exists("/usr/bin/script"), "util-linux 'script' (a pseudo-terminal) is not installed");
        var start = new ProcessStartInfo("/usr/bin/script") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var arg in new[] { "-qec", command, "/dev/null" })
        {
            start.ArgumentList.Add(arg);
        }
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }
        using var process = Process.Start(start)!;
        process.StandardInput.Write(input);
        process.StandardInput.Close();
        var screen = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(10)), $"'{command}' did not finish at a terminal");
        return (process.ExitCode, screen.Result + errors.Result);
    }
}
