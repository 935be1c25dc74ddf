using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Pipeline.Storage;

namespace Pipeline.Ingest.Tests;

/// <summary>
/// <c>mmtrace ingest --shard I/N</c>: N shards run one after another into one root write exactly the files one run
/// over every input writes (byte for byte), each input in exactly one shard.
/// </summary>
public sealed class ShardTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("shard-ingest-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    /// <summary>Seven small ftrace text traces, different in length and content; two share a file name.</summary>
    private List<string> Inputs()
    {
        var inputs = new List<string>();
        for (int t = 0; t < 7; t++)
        {
            string folder = Path.Combine(_directory, "in", t == 6 ? "other" : "");
            Directory.CreateDirectory(folder);
            string path = Path.Combine(folder, t == 6 ? "host-0.txt" : string.Create(CultureInfo.InvariantCulture, $"host-{t}.txt"));
            var text = new StringBuilder();
            for (int i = 0; i < 200 + (t * 37); i++)
            {
                text.Append(CultureInfo.InvariantCulture,
                    $"          mmwork-{900 + t}    [{i % 2:000}] d..1.   {100 + t}.{i:000000}: tlb_flush: pages:{i * t} reason:flush on task switch (0)\n");
            }
            File.WriteAllText(path, text.ToString());
            inputs.Add(path);
        }
        return inputs;
    }

    private static string[] Fingerprint(string root) =>
        [.. Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(root, f) + " " + Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(f))))
            .Order(StringComparer.Ordinal)];

    [SkippableTheory]
    [InlineData(3)]
    [InlineData(7)]
    public void Run_AllShardsIntoOneRoot_SameFilesAsOneRun(int count)
    {
        List<string> inputs = Inputs();
        string whole = Path.Combine(_directory, "whole");
        string sharded = Path.Combine(_directory, "sharded");
        TraceIngestor.Run(new IngestOptions { Inputs = inputs, Output = whole });

        var taken = new List<string>();
        for (int i = 0; i < count; i++)
        {
            taken.AddRange(TraceIngestor.Run(new IngestOptions { Inputs = inputs, Output = sharded, Shard = new DatasetShard(i, count) }).Select(s => s.TraceId));
        }

        Assert.Equal(inputs.Count, taken.Count);
        Assert.Equal(7, taken.Distinct().Count());
        Assert.Contains("host-0-2", taken);
        string[] expected = Fingerprint(whole);
        Assert.Equal(7 * 2, expected.Length);
        Assert.Equal(expected, Fingerprint(sharded));
        Assert.Equal(7, DatasetCatalog.Resolve([sharded]).Count);
    }

    [SkippableFact]
    public void Run_ShardAgain_ReplacesOnlyItsOwnPartitions()
    {
        List<string> inputs = Inputs();
        string root = Path.Combine(_directory, "root");
        var first = TraceIngestor.Run(new IngestOptions { Inputs = inputs, Output = root, Shard = new DatasetShard(0, 2) });
        TraceIngestor.Run(new IngestOptions { Inputs = inputs, Output = root, Shard = new DatasetShard(1, 2) });
        string[] before = Fingerprint(root);

        var again = TraceIngestor.Run(new IngestOptions { Inputs = inputs, Output = root, Shard = new DatasetShard(0, 2) });

        Assert.Equal(first.Select(s => s.TraceId), again.Select(s => s.TraceId));
        Assert.Equal(before, Fingerprint(root));
        Assert.Equal([root], Directory.EnumerateFileSystemEntries(_directory).Where(e => !e.EndsWith("in", StringComparison.Ordinal)));
    }

    [SkippableTheory]
    [InlineData("0/1", 0, 1)]
    [InlineData("3/4", 3, 4)]
    public void Parse_Valid(string text, int index, int count) => Assert.Equal(new DatasetShard(index, count), DatasetShard.Parse(text));

    [SkippableTheory]
    [InlineData("4/4")]
    [InlineData("1")]
    [InlineData("-1/3")]
    [InlineData("0/0")]
    [InlineData("a/b")]
    public void Parse_Invalid_SaysWhatIsExpected(string text) =>
        Assert.Contains("expected I/N", Assert.Throws<FormatException>(() => DatasetShard.Parse(text)).Message, StringComparison.Ordinal);

    [SkippableFact]
    public void Of_FixedIds_StableAssignment()
    {
        // FNV-1a 64 of the UTF-8 id (published test vectors: "" and "a"), modulo N: the split must never change between versions or machines.
        Assert.Equal(0xaf63dc4c8601ec8cUL % 5, (ulong)DatasetShard.Of("a", 5));
        Assert.Equal(0xcbf29ce484222325UL % 7, (ulong)DatasetShard.Of("", 7));
    }
}
