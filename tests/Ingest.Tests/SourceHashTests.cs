using System.Diagnostics;
using System.IO.Compression;
using System.Security.Cryptography;
using Pipeline.Storage;

namespace Pipeline.Ingest.Tests;

/// <summary>
/// meta.json's <c>sha256</c> of a source is the digest of the whole file as stored (what <c>sha256sum</c> prints),
/// whichever way the reader went through it: front to back (text, perf script), seeking to each CPU's data
/// (trace.dat), through a decompressor, or from a pipe. For text traces ingest takes it from the reader's own reads
/// instead of a second pass over the file; a pipe is hashed as it is spooled; a trace.dat on a thread of its own.
/// </summary>
public sealed class SourceHashTests
{
    [SkippableTheory]
    [InlineData("recorded/ftrace-text/mm_trace.txt", "ftrace")]
    [InlineData("recorded/trace-cmd/mm_report.txt", "ftrace")]
    [InlineData("recorded/trace-cmd/mm_v7_zstd_full.dat", "tracedat")]
    [InlineData("recorded/trace-cmd/mm_v7_trimmed_nocomp.dat", "tracedat")]
    [InlineData("recorded/trace-cmd/mm_v6_trimmed.dat", "tracedat")]
    [InlineData("recorded/raw-pages/overrun_wrapped_v6.dat", "tracedat")]
    [InlineData("recorded/perf/perf_script_ns.txt", "perf")]
    [InlineData("recorded/perf/perf_script_F_ip_sym.txt", "perf")]
    public void Ingest_File_MetaDigestIsTheWholeFiles(string file, string format)
    {
        string input = Corpus.File(file);
        using var dir = new Scratch();

        var summary = Assert.Single(TraceIngestor.Run(new IngestOptions { Inputs = [input], Output = dir["ds"] }));

        Assert.Equal(format, summary.Format);
        Assert.True(summary.Events > 0);
        var source = Assert.Single(ReadSources(dir["ds"]));
        Assert.Equal(input, source.Path);
        Assert.Equal(new FileInfo(input).Length, source.Size);
        Assert.Equal(Sha256Sum(input), source.Sha256);
    }

    [SkippableFact]
    public void Ingest_CompressedTraceDat_DigestIsTheCompressedFiles()
    {
        using var dir = new Scratch();
        string gz = dir["mm.dat.gz"];
        using (var output = File.Create(gz))
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest))
        {
            gzip.Write(File.ReadAllBytes(Corpus.File("recorded/trace-cmd/mm_v6_trimmed.dat")));
        }

        var summary = Assert.Single(TraceIngestor.Run(new IngestOptions { Inputs = [gz], Output = dir["ds"] }));

        Assert.Equal("tracedat", summary.Format);
        Assert.Equal(3298, summary.Events);
        Assert.Equal(Sha256Sum(gz), Assert.Single(ReadSources(dir["ds"])).Sha256);
    }

    [SkippableTheory]
    [InlineData("recorded/ftrace-text/mm_trace.txt", "ftrace")]
    [InlineData("recorded/trace-cmd/mm_v7_zstd_full.dat", "tracedat")]
    [InlineData("recorded/perf/perf_script_ns.txt", "perf")]
    public void Ingest_Fifo_DigestIsTheBytesWritten(string file, string format)
    {
        string input = Corpus.File(file);
        using var dir = new Scratch();
        string fifo = dir["fifo"];
        using (var mkfifo = Process.Start("mkfifo", [fifo]))
        {
            mkfifo.WaitForExit();
            Skip.If(mkfifo.ExitCode != 0, "mkfifo failed: no FIFOs here");
        }
        byte[] bytes = File.ReadAllBytes(input);
        var writer = Task.Run(() =>
        {
            using var pipe = new FileStream(fifo, FileMode.Open, FileAccess.Write);
            pipe.Write(bytes);
        });
        try
        {
            var summary = Assert.Single(TraceIngestor.Run(new IngestOptions { Inputs = [fifo], Output = dir["ds"], Name = "piped" }));
            Assert.Equal(format, summary.Format);
        }
        finally
        {
            if (!writer.Wait(TimeSpan.FromSeconds(30)))
            {
                // Ingest failed before it opened the FIFO: open it here so the writer's open returns.
                using var unblock = new FileStream(fifo, FileMode.Open, FileAccess.Read);
            }
        }

        var source = Assert.Single(ReadSources(dir["ds/trace=piped"]));
        Assert.Equal(fifo, source.Path);
        Assert.Equal(bytes.Length, source.Size);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), source.Sha256);
    }

    /// <summary>
    /// The digest is of the bytes the reader parsed: a file rewritten in place after it was read does not change
    /// it (a second pass would hash the new content and describe bytes that were never ingested).
    /// </summary>
    [SkippableTheory]
    [InlineData("recorded/ftrace-text/mm_trace.txt")]
    [InlineData("recorded/perf/perf_script_ns.txt")]
    public void Describe_AfterTheReaderReadTheFile_DoesNotReadItAgain(string file)
    {
        using var dir = new Scratch();
        string copy = dir["trace.txt"];
        byte[] original = File.ReadAllBytes(Corpus.File(file));
        File.WriteAllBytes(copy, original);
        using var source = InputSource.Open(copy);
        using (var content = source.OpenContent())
        {
            content.CopyTo(Stream.Null);
        }

        // Same length, other bytes.
        byte[] changed = [.. original];
        Array.Reverse(changed);
        using (var rewrite = new FileStream(copy, FileMode.Open, FileAccess.Write))
        {
            rewrite.Write(changed);
        }
        var described = source.Describe(CancellationToken.None);

        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(original)), described.Sha256);
        Assert.Equal(original.Length, described.Size);
    }

    /// <summary>A reader that skips around and stops early still gets the whole file's digest.</summary>
    [SkippableFact]
    public void Describe_AfterSeeksAndAPartialRead_HashesTheWholeFile()
    {
        using var dir = new Scratch();
        string path = dir["data.bin"];
        byte[] bytes = new byte[3 << 20];
        new Random(12).NextBytes(bytes);
        File.WriteAllBytes(path, bytes);
        using var source = InputSource.Open(path);
        using (var content = source.OpenContent())
        {
            var buffer = new byte[4096];
            content.Position = 2 << 20;
            content.ReadExactly(buffer);
            content.Position = 100;
            content.ReadExactly(buffer);
            content.Position = (2 << 20) - 10;
            content.ReadExactly(buffer);
        }

        var described = source.Describe(CancellationToken.None);

        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), described.Sha256);
        Assert.Equal(bytes.Length, described.Size);
    }

    private static IReadOnlyList<DatasetSource> ReadSources(string datasetDirectory) =>
        DatasetMeta.Read(datasetDirectory).Sources;

    private static string Sha256Sum(string path)
    {
        using var process = Process.Start(new ProcessStartInfo("sha256sum", [path]) { RedirectStandardOutput = true, UseShellExecute = false })!;
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.Equal(0, process.ExitCode);
        return output.Split(' ', 2)[0];
    }

    private sealed class Scratch : IDisposable
    {
        public Scratch()
        {
            Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "mmtrace-hash-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(Path);
        }

        public string Path { get; }

        public string this[string relative] => System.IO.Path.Combine(Path, relative);

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
