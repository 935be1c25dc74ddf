using System.Text;
using Pipeline.Ingest.Perf;
using Pipeline.Ingest.Tests.Text;
using Pipeline.Storage;

namespace Pipeline.Ingest.Tests.Perf;

/// <summary>
/// Differential test: TraceEvent's LinuxPerfScriptEventParser is the oracle for the direct parser on every
/// corpus perf script file it can read. Differences that are TraceEvent's documented rewrites (frame text,
/// inline ip/sym glued to the payload) are normalised; everything else must match exactly.
/// </summary>
public sealed class TraceEventPerfScriptReaderTests
{
    public static TheoryData<string> FilesTraceEventReads => new()
    {
        "recorded/perf/perf_script_ns.txt",
        "recorded/perf/perf_script_us.txt",
        "recorded/perf/perf_script_F_pid_tid.txt",
        "recorded/perf/perf_script_F_ip_sym.txt",
        "public/damo/perf.data.script",
        "public/flamegraph/perf-cycles-instructions-01.txt",
        "public/flamegraph/perf-java-faults-01.txt",
    };

    [SkippableTheory]
    [MemberData(nameof(FilesTraceEventReads))]
    public void Read_CorpusFile_DirectParserMatchesTraceEvent(string file)
    {
        var direct = PerfScriptReaderTests.ReadCorpus(file, new PerfScriptReader { RawPayloads = true }).Rows;
        var oracle = PerfScriptReaderTests.ReadCorpus(file, new TraceEventPerfScriptReader { RawPayloads = true }).Rows;

        Assert.Equal(oracle.Count, direct.Count);
        for (int i = 0; i < oracle.Count; i++)
        {
            var (d, o) = (direct[i], oracle[i]);
            string where = $"{file} event {i} (line {d.SrcPos})";
            Assert.True(d.Comm == o.Comm, $"{where}: comm '{d.Comm}' vs '{o.Comm}'");
            Assert.True(d.Pid == o.Pid, $"{where}: pid {d.Pid} vs {o.Pid}");
            Assert.True((d.Tgid == d.Pid ? null : d.Tgid) == o.Tgid, $"{where}: tgid {d.Tgid} vs {o.Tgid}");
            Assert.True(d.Cpu == o.Cpu, $"{where}: cpu {d.Cpu} vs {o.Cpu}");
            // TraceEvent holds time as double milliseconds: allow the rounding that costs.
            Assert.True(Math.Abs(d.TsNs - o.TsNs) <= 2, $"{where}: ts {d.TsNs} vs {o.TsNs}");
            Assert.True(d.Event == o.Event, $"{where}: event '{d.Event}' vs '{o.Event}'");
            Assert.True(d.FindField("period") == o.FindField("period"), $"{where}: period");

            var directPayload = PerfScriptReaderTests.PayloadOf(d) ?? "";
            var oraclePayload = PerfScriptReaderTests.PayloadOf(o) ?? "";
            if (file.EndsWith("ip_sym.txt", StringComparison.Ordinal))
            {
                // TraceEvent leaves " ffffffff8161f78b __alloc_frozen_pages_noprof" in the payload.
                // (perf pads the address to 16 columns: "%16lx").
                var frame = d.Stack![0];
                int space = frame.IndexOf(' ', StringComparison.Ordinal);
                directPayload += " " + frame[..space].PadLeft(16) + frame[space..];
                Assert.Null(o.Stack);
            }
            else
            {
                Assert.Equal(o.Stack?.Count, d.Stack?.Count);
                for (int f = 0; f < (o.Stack?.Count ?? 0); f++)
                {
                    Assert.True(NormaliseFrame(d.Stack![f]) == o.Stack![f], $"{where} frame {f}: '{d.Stack[f]}' vs '{o.Stack[f]}'");
                }
            }
            Assert.True(directPayload == oraclePayload, $"{where}: payload '{directPayload}' vs '{oraclePayload}'");
        }
    }

    [SkippableTheory]
    [InlineData("recorded/perf/perf_script_ns.txt")]
    [InlineData("recorded/perf/perf_script_F_pid_tid.txt")]
    [InlineData("public/damo/perf.data.script")]
    public void Read_CorpusFile_SameFieldsAfterPayloadSplit(string file)
    {
        var direct = PerfScriptReaderTests.ReadCorpus(file).Rows;
        var oracle = PerfScriptReaderTests.ReadCorpus(file, new TraceEventPerfScriptReader()).Rows;

        Assert.Equal(oracle.Count, direct.Count);
        Assert.Equal(oracle.Select(PerfScriptReaderTests.FieldsOf), direct.Select(PerfScriptReaderTests.FieldsOf));
    }

    [SkippableTheory]
    [InlineData("recorded/perf/perf_script_F_time_event_trace.txt")]
    [InlineData("public/flamegraph/perf-dd-stacks-01.txt")]
    public void Read_NoCommTidOrNoCpuColumn_TraceEventFindsNothingWhileDirectParserReadsAll(string file)
    {
        var oracle = PerfScriptReaderTests.ReadCorpus(file, new TraceEventPerfScriptReader()).Rows;
        var direct = PerfScriptReaderTests.ReadCorpus(file);

        Assert.Empty(oracle);
        Assert.NotEmpty(direct.Rows);
        Assert.Equal(0, direct.Diagnostics.MalformedCount);
    }

    [SkippableFact]
    public void Read_SchedSwitchAndExitLines_DirectParserMatchesTraceEvent()
    {
        // TraceEvent special-cases these two events; the direct parser must read them as plain tracepoints.
        const string text =
            "         swapper     0 [001]  1234.500000:        sched:sched_switch: prev_comm=swapper/1 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=mm work-1 next_pid=100 next_prio=120\n" +
            "       mm work-1   100 [001]  1234.500100:  sched:sched_process_exit: comm=mm work-1 pid=100 prio=120\n";
        var bytes = Encoding.UTF8.GetBytes(text);

        var direct = Read(new PerfScriptReader { RawPayloads = true }, bytes);
        var oracle = Read(new TraceEventPerfScriptReader { RawPayloads = true }, bytes);

        Assert.Equal(oracle.Select(r => (r.Comm, r.Pid, r.Cpu, r.TsNs, r.Event, PerfScriptReaderTests.PayloadOf(r))),
            direct.Select(r => (r.Comm, r.Pid, r.Cpu, r.TsNs, r.Event, PerfScriptReaderTests.PayloadOf(r))));
        Assert.Equal("sched:sched_switch", direct[0].Event);
    }

    private static List<EventRow> Read(ITraceReader reader, byte[] bytes)
    {
        var sink = new ListSink();
        reader.Read(new MemoryStream(bytes), "inline", sink, new IngestDiagnostics());
        return sink.Rows;
    }

    /// <summary>TraceEvent's rendering of a frame: offset dropped, dso reduced to its file name, brackets stripped.</summary>
    private static string NormaliseFrame(string frame)
    {
        int space = frame.IndexOf(' ', StringComparison.Ordinal);
        string address = frame[..space];
        string rest = frame[(space + 1)..];
        int open = rest.LastIndexOf(" (", StringComparison.Ordinal);
        string symbol = open < 0 ? rest : rest[..open];
        string module = open < 0 ? "" : rest[(open + 2)..^1];
        symbol = StripBrackets(symbol);
        int offset = symbol.LastIndexOf("+0x", StringComparison.Ordinal);
        if (offset > 0 && offset < symbol.Length - 3)
        {
            symbol = symbol[..offset];
        }
        module = StripBrackets(module);
        if (module.EndsWith(".map", StringComparison.Ordinal))
        {
            // perf-PID.map frames (JIT symbols): TraceEvent swaps them, the map path becomes the symbol and
            // the file-name part of the symbol (text after its last '/') becomes the module.
            string jitSymbol = rest[..open] + " ";
            return $"{address} {module} ({jitSymbol[(jitSymbol.LastIndexOfAny(['/', '\\']) + 1)..]})";
        }
        module = module[(module.LastIndexOfAny(['/', '\\']) + 1)..];
        return $"{address} {symbol} ({module})";
    }

    private static string StripBrackets(string s)
    {
        while (s.Length >= 2 && ((s[0] == '(' && s[^1] == ')') || (s[0] == '[' && s[^1] == ']')))
        {
            s = s[1..^1];
        }
        return s;
    }
}
