using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Text;

namespace Pipeline.Cli.Tests;

/// <summary>Damage inside .gz/.zst inputs: named by file and compressed byte offset, a cut file never passes as whole.</summary>
public sealed class CompressedInputTests
{
    private static byte[] Trace()
    {
        var text = new StringBuilder();
        for (int i = 0; i < 4000; i++)
        {
            text.Append(CultureInfo.InvariantCulture, $"          a-1     [000] .....     {1 + (i / 1e4):F6}: tlb_flush: pages:{i % 97} reason:local MM shootdown (3)\n");
        }
        return Encoding.ASCII.GetBytes(text.ToString());
    }

    private static byte[] Gzip(byte[] data)
    {
        var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true))
        {
            gzip.Write(data);
        }
        return output.ToArray();
    }

    [SkippableFact]
    public void Gzip_WholeAndConcatenatedMembers_Read()
    {
        using var dir = new TempDir();
        var gz = Gzip(Trace());
        File.WriteAllBytes(dir["t.gz"], [.. gz, .. gz]);

        var result = Mmtrace.Run("ingest", dir["t.gz"], "-o", dir["ds"]);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("8,000 events", result.Stdout, StringComparison.Ordinal);
    }

    [SkippableTheory]
    [InlineData(2)]
    [InlineData(-4)]
    public void Gzip_Truncated_ReportedAsTruncatedAtItsEnd(int cutDivisorOrTrailerBytes)
    {
        using var dir = new TempDir();
        var gz = Gzip(Trace());
        int keep = cutDivisorOrTrailerBytes > 0 ? gz.Length / cutDivisorOrTrailerBytes : gz.Length + cutDivisorOrTrailerBytes;
        File.WriteAllBytes(dir["cut.gz"], gz[..keep]);

        var result = Mmtrace.Run("ingest", dir["cut.gz"], "-o", dir["ds"]);

        Assert.Equal(3, result.ExitCode);
        Assert.Contains($"cut.gz:byte {keep}:", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("the file is truncated", result.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir["ds"]));
    }

    [SkippableFact]
    public void Gzip_DamagedBlock_NamesFileAndOffset()
    {
        using var dir = new TempDir();
        var gz = Gzip(Trace());
        for (int i = 0; i < 8; i++)
        {
            gz[40 + i] = 0xff;
        }
        File.WriteAllBytes(dir["bad.gz"], gz);

        var result = Mmtrace.Run("ingest", dir["bad.gz"], "-o", dir["ds"]);

        Assert.Equal(3, result.ExitCode);
        Assert.Contains("bad.gz:byte ", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("the gzip data is damaged near compressed byte", result.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir["ds"]));
    }

    [SkippableFact]
    public void Zstd_Damaged_NamesFileAndOffset()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir["t.txt"], Trace());
        // The zstd command, as FormatDetectionTests uses it (the build machine has libzstd and its tool).
        using (var zstd = Process.Start(new ProcessStartInfo("zstd", ["-q", "-f", dir["t.txt"], "-o", dir["bad.zst"]]) { UseShellExecute = false })!)
        {
            zstd.WaitForExit();
            Assert.Equal(0, zstd.ExitCode);
        }
        var bytes = File.ReadAllBytes(dir["bad.zst"]);
        File.WriteAllBytes(dir["bad.zst"], bytes[..(bytes.Length / 2)]);

        var result = Mmtrace.Run("ingest", dir["bad.zst"], "-o", dir["ds"]);

        Assert.Equal(3, result.ExitCode);
        Assert.Contains($"bad.zst:byte {bytes.Length / 2}: the zstd data ends inside a frame", result.Stderr, StringComparison.Ordinal);
    }
}
