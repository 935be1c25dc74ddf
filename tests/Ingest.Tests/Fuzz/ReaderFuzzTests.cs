using System.Globalization;
using System.IO.Compression;
using System.Text;
using Pipeline.Ingest.Ctf;
using Pipeline.Ingest.Native;
using Pipeline.Ingest.Perf;
using Pipeline.Ingest.Tests.Text;
using Pipeline.Ingest.Tests.TraceDat;
using Pipeline.Ingest.Text;
using Pipeline.Storage;

namespace Pipeline.Ingest.Tests.Fuzz;

/// <summary>
/// One fuzz target per reader: mutants of a small real input (bit flips, interesting bytes, cuts, repeated and
/// deleted ranges) from a fixed seed, a fixed number of iterations (not a time budget), so every run does the same
/// bounded work. A reader may accept a mutant or refuse it with <see cref="TraceFormatException"/> (the compressed
/// streams: <see cref="CompressedDataException"/>); anything else — another exception, a CPU id beyond NR_CPUS, a
/// negative trace.dat timestamp — fails the test, and the mutant is written out to be kept under
/// <c>Fuzz/Crashers/&lt;target&gt;/</c>, where <see cref="Crashers_StayFixed"/> replays it on every run.
/// Longer runs: <c>MMTRACE_FUZZ_ITERATIONS=100000 MMTRACE_FUZZ_SEED=7 dotnet test tests/Ingest.Tests -c Release --filter FullyQualifiedName~ReaderFuzzTests</c>.
/// </summary>
public sealed class ReaderFuzzTests
{
    private static readonly int s_iterations = Setting("MMTRACE_FUZZ_ITERATIONS", 120);
    private static readonly int s_seed = Setting("MMTRACE_FUZZ_SEED", 14);

    public static TheoryData<string> Targets => new(s_targets.Keys.Order(StringComparer.Ordinal));

    private static readonly Dictionary<string, (Func<byte[]> Seed, Action<byte[]> Run)> s_targets = new(StringComparer.Ordinal)
    {
        ["ftrace"] = (() => Head("recorded/ftrace-text/mm_trace.txt", 80), bytes => ReadText(new FtraceTextReader(), bytes)),
        ["perf"] = (() => Head("recorded/perf/perf_script_ns.txt", 80), bytes => ReadText(new PerfScriptReader(), bytes)),
        ["console"] = (() => Head("public/syzkaller-report-testdata/350", 120), bytes => ReadText(new ConsoleLogReader(), bytes)),
        ["tracedat-v6"] = (() => File.ReadAllBytes(Corpus.File("recorded/trace-cmd/mm_v6_trimmed.dat")), ReadTraceDat),
        ["tracedat-v7-zstd"] = (() => File.ReadAllBytes(Corpus.File("recorded/trace-cmd/mm_v7_trimmed_zstd.dat")), ReadTraceDat),
        ["ctf-metadata"] = (() => File.ReadAllBytes(Corpus.File("public/tracecompass-test-traces/perf-taskset2/metadata")), bytes => CtfMetadata.Load(new MemoryStream(bytes), "metadata")),
        ["gzip"] = (() => Gzip(Head("recorded/ftrace-text/mm_trace.txt", 400)), bytes => Drain(new GzipDecompressionStream(new MemoryStream(bytes)))),
        ["zstd-stream"] = (() => File.ReadAllBytes(Corpus.File("recorded/trace-cmd/mm_v7_trimmed_zstd.dat"))[..4096], bytes => Drain(new ZstdDecompressionStream(new MemoryStream(bytes)))),
    };

    [SkippableTheory]
    [MemberData(nameof(Targets))]
    public void Mutants_AcceptedOrRefusedClearly(string target)
    {
        var (seedInput, run) = s_targets[target];
        byte[] seed = seedInput();
        var random = new Random(s_seed);
        for (int i = 0; i < s_iterations; i++)
        {
            byte[] mutant = Mutate(seed, random);
            string? failure = Try(run, mutant);
            if (failure is not null)
            {
                string kept = Path.Combine(Path.GetTempPath(), "mmtrace-fuzz-crashers", target, string.Create(CultureInfo.InvariantCulture, $"seed{s_seed}-iter{i}.bin"));
                Directory.CreateDirectory(Path.GetDirectoryName(kept)!);
                File.WriteAllBytes(kept, mutant);
                Assert.Fail($"{target}, seed {s_seed}, iteration {i}: {failure}\nThe input is in {kept}; keep it under tests/Ingest.Tests/Fuzz/Crashers/{target}/ once fixed.");
            }
        }
    }

    [SkippableFact]
    public void Crashers_StayFixed()
    {
        string root = Path.Combine(AppContext.BaseDirectory, "Fuzz", "Crashers");
        int replayed = 0;
        foreach (string file in Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            string target = Path.GetFileName(Path.GetDirectoryName(file))!;
            Assert.True(s_targets.ContainsKey(target), $"{file}: no fuzz target '{target}'");
            string? failure = Try(s_targets[target].Run, File.ReadAllBytes(file));
            Assert.True(failure is null, $"{file}: {failure}");
            replayed++;
        }
        Assert.True(replayed > 0, "no crashers found beside the tests");
    }

    private static string? Try(Action<byte[]> run, byte[] input)
    {
        try
        {
            run(input);
            return null;
        }
        catch (Exception e) when (e is TraceFormatException or CompressedDataException)
        {
            return string.IsNullOrWhiteSpace(e.Message) ? "a refusal without a message" : null;
        }
        catch (Exception e)
        {
            return e.ToString();
        }
    }

    private static byte[] Mutate(byte[] seed, Random random)
    {
        var bytes = new List<byte>(seed);
        int edits = 1 + random.Next(4);
        for (int e = 0; e < edits && bytes.Count > 0; e++)
        {
            int at = random.Next(bytes.Count);
            switch (random.Next(6))
            {
                case 0:
                    bytes[at] ^= (byte)(1 << random.Next(8));
                    break;
                case 1:
                    bytes[at] = (byte)(random.Next(4) switch { 0 => 0x00, 1 => 0xff, 2 => 0x7f, _ => 0x80 });
                    break;
                case 2:
                    bytes.RemoveRange(at, bytes.Count - at);
                    break;
                case 3:
                    bytes.RemoveRange(at, Math.Min(bytes.Count - at, 1 + random.Next(64)));
                    break;
                case 4:
                    int length = Math.Min(bytes.Count - at, 1 + random.Next(64));
                    bytes.InsertRange(random.Next(bytes.Count), bytes.GetRange(at, length));
                    break;
                default:
                    // An ASCII digit or a 32/64-bit field set to a large value: sizes, counts, CPUs, timestamps.
                    if (bytes[at] is >= (byte)'0' and <= (byte)'9')
                    {
                        bytes[at] = (byte)('0' + random.Next(10));
                    }
                    else
                    {
                        for (int k = 0; k < 4 && at + k < bytes.Count; k++)
                        {
                            bytes[at + k] = 0xff;
                        }
                    }
                    break;
            }
        }
        return [.. bytes];
    }

    private static void ReadText(ITraceReader reader, byte[] bytes)
    {
        foreach (bool strict in new[] { false, true })
        {
            var (rows, _) = TextReading.Read(reader, new MemoryStream(bytes), "fuzz", strict);
            CheckRows(rows);
        }
    }

    private static void ReadTraceDat(byte[] bytes)
    {
        var (rows, _, _) = TraceDatCorpus.Read(bytes, "fuzz.dat");
        CheckRows(rows);
        if (rows.Any(r => r.TsNs < 0))
        {
            throw new InvalidOperationException("a negative ts_ns was stored");
        }
    }

    private static void CheckRows(List<EventRow> rows)
    {
        if (rows.FirstOrDefault(r => r.Cpu >= EventSchema.MaxCpus || r.Cpu < -1) is { } bad)
        {
            throw new InvalidOperationException($"CPU {bad.Cpu} was stored");
        }
    }

    private static void Drain(Stream stream)
    {
        using (stream)
        {
            stream.CopyTo(Stream.Null);
        }
    }

    private static byte[] Head(string relative, int lines) =>
        Encoding.UTF8.GetBytes(string.Join('\n', File.ReadLines(Corpus.File(relative)).Take(lines)) + "\n");

    private static byte[] Gzip(byte[] data)
    {
        var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true))
        {
            gzip.Write(data);
        }
        return output.ToArray();
    }

    private static int Setting(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.None, CultureInfo.InvariantCulture, out int value) ? value : fallback;
}
