using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Pipeline.Ingest.Tests.TraceDat;

/// <summary>
/// Compressed CPU data is decompressed a chunk ahead of the decoder. Damage in a chunk that was read ahead must
/// still be reported where and when a read on demand reports it: the CPU keeps exactly the events of the chunks
/// before the damaged one, the other CPUs lose nothing, and the message names the CPU, the problem and the byte.
/// A compressed trace.dat gives each event of a chunk the chunk's file offset as <c>src_pos</c>, so the distinct
/// <c>src_pos</c> of a CPU are its chunks. The recorded zstd trace has two chunks per CPU (the second is read
/// ahead); a zlib variant of the uncompressed recording with one page per chunk has 10 and 17.
/// </summary>
public sealed class TraceDatReadAheadTests
{
    private static readonly Lazy<byte[]> s_zstd = new(() => File.ReadAllBytes(TraceDatCorpus.Recorded("trace-cmd", "mm_v7_zstd_full.dat")));
    private static readonly Lazy<byte[]> s_zlibPages = new(ZlibOnePagePerChunk);

    [SkippableTheory]
    [InlineData("zstd", 1, "magic", "zstd chunk does not decompress")]
    [InlineData("zstd", 1, "size", "outside 1..")]
    [InlineData("zstd", 1, "ratio", "ratio above")]
    [InlineData("zstd", 1, "compressed", "runs past the end of this CPU's data")]
    [InlineData("zlib", 1, "magic", "zlib chunk does not decompress")]
    [InlineData("zlib", 3, "magic", "zlib chunk does not decompress")]
    [InlineData("zlib", 9, "size", "outside 1..")]
    [InlineData("zlib", 5, "ratio", "ratio above")]
    [InlineData("zlib", 7, "compressed", "runs past the end of this CPU's data")]
    public void Read_DamageInAChunkReadAhead_KeepsTheChunksBefore(string file, int chunk, string damage, string expected)
    {
        byte[] original = file == "zstd" ? s_zstd.Value : s_zlibPages.Value;
        var (full, fullDiagnostics, _) = TraceDatCorpus.Read(original, "full.dat");
        Assert.Null(fullDiagnostics.Truncated);
        int cpu = full.GroupBy(r => r.Cpu).OrderByDescending(g => g.Select(r => r.SrcPos).Distinct().Count()).First().Key;
        long[] chunks = [.. full.Where(r => r.Cpu == cpu).Select(r => r.SrcPos).Distinct().Order()];
        Skip.If(chunks.Length <= chunk, $"CPU {cpu} has only {chunks.Length} chunks");
        int at = checked((int)chunks[chunk]);
        var bytes = (byte[])original.Clone();
        int reportedAt = at;
        switch (damage)
        {
            case "magic":
                bytes[at + 8] ^= 0x5a;
                bytes[at + 9] ^= 0x5a;
                break;
            case "size":
                BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(at + 4), 0xfffffff0);
                reportedAt = at + 4;
                break;
            case "ratio":
                uint compressed = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at));
                BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(at + 4), Math.Min((compressed * 1024) + (64 * 4096), 64u << 20));
                reportedAt = at + 4;
                break;
            default:
                BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(at), 0x7fff_0000);
                break;
        }

        var (rows, diagnostics, _) = TraceDatCorpus.Read(bytes, "damaged.dat");

        Assert.Equal(
            full.Where(r => r.Cpu != cpu || r.SrcPos < at).Select(r => (r.Cpu, r.TsNs, r.Event, r.SrcPos)),
            rows.Select(r => (r.Cpu, r.TsNs, r.Event, r.SrcPos)));
        Assert.NotNull(diagnostics.Truncated);
        Assert.Contains($"section 'flyrecord CPU {cpu}'", diagnostics.Truncated, StringComparison.Ordinal);
        Assert.Contains(expected, diagnostics.Truncated, StringComparison.Ordinal);
        Assert.Contains($"byte {reportedAt}", diagnostics.Truncated, StringComparison.Ordinal);
    }

    /// <summary>
    /// mm_v7_trimmed_nocomp.dat with its flyrecord data rewritten in place as zlib chunks of one page each (the
    /// layout of <see cref="TraceDatVariantTests"/>' one-chunk variant: CPU 0 at 69632, 10 pages; CPU 1 at 110592, 17).
    /// </summary>
    private static byte[] ZlibOnePagePerChunk()
    {
        const int pageSize = 4096;
        var nocomp = File.ReadAllBytes(TraceDatCorpus.Recorded("trace-cmd", "mm_v7_trimmed_nocomp.dat"));
        var zlib = (byte[])nocomp.Clone();
        Encoding.ASCII.GetBytes("zlib").CopyTo(zlib, 18);
        BinaryPrimitives.WriteUInt16LittleEndian(zlib.AsSpan(68427 + 2), 1);
        const int bufferEntries = 180224 + 16 + 6 + 8 + 1 + 6 + 4 + 4;
        foreach (var (index, offset, size) in new[] { (0, 69632, 40960), (1, 110592, 69632) })
        {
            var target = zlib.AsSpan(offset, size);
            target.Clear();
            int pages = size / pageSize;
            BinaryPrimitives.WriteUInt32LittleEndian(target, (uint)pages);
            int at = 4;
            for (int page = 0; page < pages; page++)
            {
                var compressed = new MemoryStream();
                using (var z = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
                {
                    z.Write(nocomp, offset + (page * pageSize), pageSize);
                }
                var chunk = compressed.ToArray();
                BinaryPrimitives.WriteUInt32LittleEndian(target[at..], (uint)chunk.Length);
                BinaryPrimitives.WriteUInt32LittleEndian(target[(at + 4)..], pageSize);
                chunk.CopyTo(target[(at + 8)..]);
                at += 8 + chunk.Length;
            }
            int entry = bufferEntries + (index * 20);
            Assert.Equal((ulong)offset, BinaryPrimitives.ReadUInt64LittleEndian(zlib.AsSpan(entry + 4)));
            BinaryPrimitives.WriteUInt64LittleEndian(zlib.AsSpan(entry + 12), (ulong)(at - 4));
        }
        return zlib;
    }
}
