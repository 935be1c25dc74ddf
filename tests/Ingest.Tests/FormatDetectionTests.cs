using Pipeline.Storage;

namespace Pipeline.Ingest.Tests;

/// <summary>Format detection by content over every file of the corpus, and the documented refusals.</summary>
public sealed class FormatDetectionTests
{
    [SkippableTheory]
    [InlineData("recorded/ftrace-text/mm_trace.txt", "ftrace")]
    [InlineData("recorded/ftrace-text/mm_trace_latfmt.txt", "ftrace")]
    [InlineData("recorded/ftrace-text/trace_pipe_lost.txt", "ftrace")]
    [InlineData("recorded/trace-cmd/mm_report.txt", "ftrace")]
    [InlineData("recorded/trace-cmd/mm_report_R.txt", "ftrace")]
    [InlineData("recorded/trace-cmd/mm_v7_zstd_full.dat", "tracedat")]
    [InlineData("recorded/trace-cmd/mm_v6_trimmed.dat", "tracedat")]
    [InlineData("recorded/raw-pages/overrun_wrapped_v6.dat", "tracedat")]
    [InlineData("recorded/perf/perf_script_ns.txt", "perf")]
    [InlineData("recorded/perf/perf_script_F_pid_tid.txt", "perf")]
    [InlineData("recorded/perf/perf_script_F_ip_sym.txt", "perf")]
    [InlineData("recorded/perf/perf_script_F_time_event_trace.txt", "perf")]
    [InlineData("public/damo/perf.data.script", "perf")]
    [InlineData("public/flamegraph/perf-cycles-instructions-01.txt", "perf")]
    [InlineData("public/flamegraph/perf-dd-stacks-01.txt", "perf")]
    [InlineData("public/flamegraph/perf-java-faults-01.txt", "perf")]
    [InlineData("public/lisa/trace.txt", "ftrace")]
    [InlineData("public/trappy/trace_sched.txt", "ftrace")]
    [InlineData("public/trappy/raw_trace.dat", "tracedat")]
    [InlineData("public/trappy/trace_surfaceflinger.html", "ftrace")]
    [InlineData("public/tracecompass-incubator-ftrace/ftrace_syscalls.txt", "ftrace")]
    [InlineData("public/tracecompass-incubator-ftrace/trace-android-sched-irq-syscall", "ftrace")]
    [InlineData("public/syzkaller-report-testdata/350", "console")]
    [InlineData("public/syzkaller-report-testdata/738", "console")]
    [InlineData("public/lkml-mail/C66E1309-2069-495B-BACD-7F3282C6EC7D@nvidia.com.eml", "console")]
    [InlineData("public/lkml-mail/alpine.DEB.2.21.1907021400350.1802@nanos.tec.linutronix.de.eml", "console")]
    public void Detect_CorpusFile_RecognisesItsFormat(string file, string expected)
    {
        Assert.Equal(expected, FormatDetector.Detect(Head(file), out var reason) ?? reason);
    }

    public static TheoryData<string> TriageReports()
    {
        var data = new TheoryData<string>();
        foreach (string file in Directory.EnumerateFiles(ReportsDirectory(), "*.txt").Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetFileName(file));
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(TriageReports))]
    public void Detect_PublicCrashReport_IsAConsoleLog(string file)
    {
        // The real reports triage is tested on: printk stamps with caller ids, syslog/journal lines (any month names,
        // grep -n), dmesg -T, a CI clock before the stamp, mails, GitHub pastes, and reports with no stamp at all.
        Assert.Equal("console", FormatDetector.Detect(File.ReadAllBytes(Path.Combine(ReportsDirectory(), file)), out var reason) ?? reason);
    }

    /// <summary>
    /// <c>cat /dev/kmsg</c> of a real boot: its records ("5,0,0,-;Linux version …") are console lines, so a log whose
    /// first 64 KiB are boot messages (the ftrace dump further on) is a console log; before, "cannot tell the format".
    /// </summary>
    [Fact]
    public void Detect_DevKmsgBootRecords_IsAConsoleLog()
    {
        using var zst = new Pipeline.Ingest.Native.ZstdDecompressionStream(File.OpenRead(Corpus.File("recorded/console/sysrq_dumpactors_6.1.kmsg.txt.zst")));
        using var reader = new StreamReader(zst);
        var boot = new System.Text.StringBuilder();
        for (string? line = reader.ReadLine(); line is not null && !line.Contains("Dumping ftrace", StringComparison.Ordinal); line = reader.ReadLine())
        {
            boot.Append(line).Append('\n');
        }

        Assert.True(boot.Length > 10_000, boot.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("console", FormatDetector.Detect(System.Text.Encoding.UTF8.GetBytes(boot.ToString()), out var reason) ?? reason);
    }

    [Fact]
    public void Detect_RecordedTextTraces_AreNeverTakenForConsoleLogs()
    {
        // Crash-report recognition without printk stamps must not claim a trace: every text fixture keeps its format.
        string data = Path.GetDirectoryName(Path.GetDirectoryName(Corpus.File("recorded/ftrace-text/mm_trace.txt")))!;
        var files = Directory.EnumerateFiles(data, "*.txt", SearchOption.AllDirectories).Where(f => !f.EndsWith("_dump.txt", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(files);
        foreach (string file in files)
        {
            string? format = FormatDetector.Detect(Head(file, absolute: true), out var reason);
            string expected = file.Contains("/perf/", StringComparison.Ordinal) ? "perf" : "ftrace";
            Assert.True(format == expected || (format is null && reason.Contains("no line looks like", StringComparison.Ordinal)), $"{file}: {format ?? reason}");
        }
    }

    [SkippableTheory]
    [InlineData("recorded/perf/mm_perf.data", "binary perf.data")]
    [InlineData("recorded/trace-cmd/mm_dump.txt", "'trace-cmd dump' output")]
    [InlineData("recorded/raw-pages/overrun_cpu0.bin", "raw ring-buffer pages")]
    [InlineData("recorded/ftrace-text/mm_saved_cmdlines.txt", "no line looks like ftrace")]
    [InlineData("public/tracecompass-test-traces/bug446190/channel0_0", "one stream file of a CTF trace")]
    public void Detect_NotATrace_SaysWhatItIs(string file, string expected)
    {
        Assert.Null(FormatDetector.Detect(Head(file), out var reason));
        Assert.Contains(expected, reason, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Ingest_SystraceHtml_GivesTheFtraceEventsInside()
    {
        var target = Path.Combine(Path.GetTempPath(), "mmtrace-systrace-" + Guid.NewGuid().ToString("N"));
        try
        {
            var summary = Assert.Single(TraceIngestor.Run(new IngestOptions { Inputs = [Corpus.File("public/trappy/trace_surfaceflinger.html")], Output = target }));

            // The counts the corpus README gives for the ftrace text inside the HTML.
            Assert.Equal(715, summary.EventCounts["sched:sched_switch"]);
            Assert.Equal(621, summary.EventCounts["power:cpu_idle"]);
            Assert.Equal(421, summary.EventCounts["sched:sched_wakeup"]);
            Assert.Equal(366, summary.EventCounts[":sugov_set_iowait_boost"]);
            Assert.Equal(160, summary.EventCounts["ftrace:print"]);
            Assert.Equal(31, summary.EventCounts["sched:sched_blocked_reason"]);
            Assert.Equal(0, summary.Malformed);
            // One input is written at the target itself, whose name is then the trace's id (not the file's).
            Assert.Equal(Path.GetFileName(target), summary.TraceId);
        }
        finally
        {
            if (Directory.Exists(target))
            {
                Directory.Delete(target, recursive: true);
            }
        }
    }

    [SkippableFact]
    public void Ingest_GzipAndZstdInputs_SameEventsAsPlain()
    {
        var plain = File.ReadAllBytes(Corpus.File("recorded/ftrace-text/mm_trace.txt"));
        var dir = Directory.CreateTempSubdirectory("mmtrace-compressed-").FullName;
        try
        {
            var gz = Path.Combine(dir, "t.txt.gz");
            using (var output = File.Create(gz))
            using (var gzip = new System.IO.Compression.GZipStream(output, System.IO.Compression.CompressionLevel.Fastest))
            {
                gzip.Write(plain);
            }
            var zst = Path.Combine(dir, "t.zst");
            var zstd = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("zstd", ["-q", "-f", Corpus.File("recorded/ftrace-text/mm_trace.txt"), "-o", zst]) { UseShellExecute = false })!;
            zstd.WaitForExit();
            Assert.Equal(0, zstd.ExitCode);

            // A compressed trace.dat cannot seek: the reader spools it to find its sections.
            var datGz = Path.Combine(dir, "mm.dat.gz");
            using (var output = File.Create(datGz))
            using (var gzip = new System.IO.Compression.GZipStream(output, System.IO.Compression.CompressionLevel.Fastest))
            {
                gzip.Write(File.ReadAllBytes(Corpus.File("recorded/trace-cmd/mm_v6_trimmed.dat")));
            }

            var summaries = TraceIngestor.Run(new IngestOptions { Inputs = [gz, zst, datGz], Output = Path.Combine(dir, "ds") });

            Assert.All(summaries, s => Assert.Equal(3298, s.Events));
            Assert.Equal(["t", "t-2", "mm"], summaries.Select(s => s.TraceId));
            Assert.Equal("tracedat", summaries[2].Format);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static string ReportsDirectory() => Pipeline.Tests.Shared.TestCorpus.TriageReports;

    private static byte[] Head(string file, bool absolute = false)
    {
        using var stream = File.OpenRead(absolute ? file : Corpus.File(file));
        var buffer = new byte[FormatDetector.HeadSize];
        int n = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        return buffer[..n];
    }
}
