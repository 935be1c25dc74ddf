using Pipeline.Storage;

namespace Pipeline.Ingest.Tests.Ctf;

/// <summary>Random damage to a real stream file never crashes the reader; every problem is counted or thrown as TraceFormatException.</summary>
public sealed class CtfFuzzTests : IDisposable
{
    private readonly string _trace = CtfTraces.CopyToTemp(CtfTraces.PerfTaskset2);

    public void Dispose() => Directory.Delete(_trace, recursive: true);

    [SkippableFact]
    public void ReadDirectory_RandomByteDamage_CountsProblemsWithoutCrashing()
    {
        var stream = Path.Combine(_trace, "perf_stream_0");
        var original = File.ReadAllBytes(stream);
        var random = new Random(446190);
        long damaged = 0;
        for (int round = 0; round < 40; round++)
        {
            var bytes = (byte[])original.Clone();
            int start = random.Next(bytes.Length);
            int length = random.Next(1, 64);
            for (int i = start; i < Math.Min(bytes.Length, start + length); i++)
            {
                bytes[i] = (byte)random.Next(256);
            }
            int keep = round % 4 == 0 ? random.Next(bytes.Length) : bytes.Length;
            File.WriteAllBytes(stream, bytes.AsSpan(0, keep).ToArray());

            var (sink, diagnostics) = CtfTraces.Read(_trace);
            var strict = Record.Exception(() => CtfTraces.Read(_trace, strict: true));

            Assert.True(strict is null or TraceFormatException, $"round {round}: {strict}");
            Assert.Equal(diagnostics.MalformedCount > 0, strict is not null);
            if (diagnostics.MalformedCount > 0)
            {
                damaged++;
                Assert.All(diagnostics.MalformedSamples, m => Assert.EndsWith("perf_stream_0", m.File, StringComparison.Ordinal));
            }
            Assert.True(sink.Total <= 1500 || diagnostics.MalformedCount == 0, $"round {round}: {sink.Total} events");
        }
        Assert.True(damaged > 0);
    }
}
