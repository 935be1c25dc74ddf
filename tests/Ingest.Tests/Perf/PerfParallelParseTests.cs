using System.Text;
using Pipeline.Ingest.Perf;
using Pipeline.Ingest.Tests.Text;
using Pipeline.Storage;

namespace Pipeline.Ingest.Tests.Perf;

/// <summary>
/// perf script sample lines parsed on worker threads must give exactly what one thread gives: the same rows in the
/// same order, callchains on the same samples (also when a sample and its frames straddle a batch edge), the same
/// diagnostics and the same first error (the shared cases are in <see cref="ParallelEquivalenceTests"/>).
/// </summary>
public sealed class PerfParallelParseTests : ParallelEquivalenceTests
{
    private static readonly PerfScriptReader s_sequential = new() { ParsingThreads = 1 };

    // Parallel from the second line, with more parsing threads than cores, so batches finish out of order.
    private static readonly PerfScriptReader s_parallel = new() { SequentialLines = 1, ParsingThreads = 3 };

    private protected override ITraceReader Sequential => s_sequential;

    private protected override ITraceReader Parallel => s_parallel;

    public static TheoryData<string> CorpusFiles
    {
        get
        {
            var data = new TheoryData<string>();
            foreach (var row in PerfScriptReaderTests.CorpusCounts)
            {
                data.Add((string)row[0]);
            }
            return data;
        }
    }

    [SkippableTheory]
    [MemberData(nameof(CorpusFiles))]
    public void Read_CorpusFile_ParallelSameAsSequential(string path)
    {
        var sequential = TextReading.ReadFile(s_sequential, path);
        var parallel = TextReading.ReadFile(s_parallel, path);

        Assert.True(sequential.Rows.Count > 0);
        Assert.Equal(Describe(sequential), Describe(parallel));
    }

    [SkippableFact]
    public void Read_StacksHeadersAndDamageAcrossBatches_ParallelSameAsSequential()
    {
        byte[] input = MixedScript(12_000);

        var sequential = TextReading.Read(s_sequential, new MemoryStream(input));
        var parallel = TextReading.Read(s_parallel, new MemoryStream(input));

        Assert.True(sequential.Rows.Count(r => r.Stack is { Count: > 1 }) > 50, "the sample has callchains, some across batch edges");
        Assert.True(sequential.Diagnostics.MalformedCount > 20);
        Assert.Equal("4.13.0-rc1", sequential.Diagnostics.KernelRelease);
        Assert.Equal(Describe(sequential), Describe(parallel));
    }

    /// <summary>
    /// Recorded perf script samples with, every few hundred lines, a callchain under the sample (some reaching
    /// over a batch edge: 1024 lines are four 256-line batches), a header comment, a blank line, a damaged sample line and a frame without a
    /// sample before it.
    /// </summary>
    private protected override byte[] MixedInput(int lines) => MixedScript(lines);

    private static byte[] MixedScript(int lines)
    {
        string[] samples = [.. File.ReadAllLines(Corpus.File("recorded/perf/perf_script_ns.txt")).Where(l => l.Length > 0 && !l.StartsWith('#'))];
        var text = new StringBuilder("# ========\n# os release : 4.13.0-rc1\n# ========\n");
        int written = 3;
        for (int i = 0; written < lines; i++)
        {
            text.Append(samples[i % samples.Length]).Append('\n');
            written++;
            if (written % 1024 is 1022 or 1023 or 0 || i % 97 == 0)
            {
                text.Append("\t    ffffffff8123abcd do_user_addr_fault+0x1a4 ([kernel.kallsyms])\n");
                text.Append("\t    ffffffff8123ef01 exc_page_fault+0x6c ([kernel.kallsyms])\n");
                text.Append("\t        7f0012345678 __libc_start_main+0xf3 (/usr/lib/libc.so.6)\n");
                written += 3;
            }
            if (i % 389 == 0)
            {
                text.Append('\n');
                text.Append("# nrcpus online : 2\n");
                text.Append("garbage line that is not a sample\n");
                text.Append("        mmwork 12345 [001] notatime: kmem:rss_stat: size=1\n");
                written += 4;
            }
            if (i % 751 == 0)
            {
                text.Append("\n\t    ffffffff81000000 orphan_frame+0x1 ([kernel.kallsyms])\n");
                written += 2;
            }
        }
        return Encoding.UTF8.GetBytes(text.ToString());
    }
}
