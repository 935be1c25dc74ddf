using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using Pipeline.Storage;
using Pipeline.Storage.Parquet;

namespace Pipeline.Benchmarks;

/// <summary>
/// <see cref="EventParquetWriter"/> without a parser: 2 M rows shaped like a recorded mm trace (header columns,
/// two or three typed fields, <c>args</c> on a third of the rows, a stack on one in 64) into a zstd Parquet file.
/// Per row: the caller's cost is the copy into the row group; encoding runs on <see cref="Threads"/> encoder
/// threads, so on a 2-core machine a 1-thread run shows the caller plus one encoder core.
/// </summary>
[Config(typeof(ParquetWriterBenchmarkConfig))]
public class ParquetWriterBenchmarks
{
    private const int Rows = 2_000_000;
    private const int Distinct = 4096;

    private static readonly string[] s_events = ["exceptions:page_fault_user", "kmem:mm_page_alloc", "tlb:tlb_flush", "mmap_lock:mmap_lock_acquire_returned", "kmem:rss_stat"];
    private static readonly string[] s_comms = ["stress-ng-mremap", "kworker/u8:3", "khugepaged", "mmwork"];

    private EventRow[] _rows = [];
    private string _directory = "";
    private int _file;

    /// <summary>Encoder threads.</summary>
    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _directory = Path.Combine(Path.GetTempPath(), "mmtrace-parquet-bench-" + Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Directory.CreateDirectory(_directory);
        _rows = SampleRows();
    }

    /// <summary>The 4096 distinct rows the benchmarks cycle through (shaped like a recorded mm trace).</summary>
    internal static EventRow[] SampleRows()
    {
        var rows = new EventRow[Distinct];
        int address = Ordinal("address");
        int ip = Ordinal("ip");
        int errorCode = Ordinal("error_code");
        int pfn = Ordinal("pfn");
        int order = Ordinal("order");
        int gfp = Ordinal("gfp_flags");
        int mm = Ordinal("mm");
        int write = Ordinal("write");
        int success = Ordinal("success");
        int pages = Ordinal("pages");
        int reason = Ordinal("reason");
        for (int i = 0; i < Distinct; i++)
        {
            var row = new EventRow
            {
                TsNs = 7_090_650_850_009 + (i * 251L),
                Cpu = i & 1,
                Pid = 4000 + (i & 3),
                Comm = s_comms[(i / 7) % s_comms.Length],
                Event = s_events[i % s_events.Length],
                IrqFlags = (i & 1) == 0 ? "d..1." : ".....",
                SrcPos = 12 + i,
            };
            switch (i % s_events.Length)
            {
                case 0:
                    row.SetUInt64(address, 0x7f12_3400_0000UL + (ulong)(i * 4096));
                    row.SetUInt64(ip, 0x5555_5555_1234UL);
                    row.SetUInt64(errorCode, 6);
                    break;
                case 1:
                    row.SetUInt64(pfn, 0x10_0000UL + (ulong)i);
                    row.SetInt64(order, 0);
                    row.SetText(gfp, "GFP_HIGHUSER_MOVABLE|__GFP_ZERO");
                    row.AddArg("page", "0xffffea0004000000");
                    row.AddArg("migratetype", "1");
                    break;
                case 2:
                    row.SetInt64(pages, i % 9 == 0 ? -1 : 1);
                    row.SetInt64(reason, i % 4);
                    break;
                case 3:
                    row.SetUInt64(mm, 0xffff_8881_0000_0000UL);
                    row.SetBool(write, (i & 2) == 0);
                    row.SetBool(success, true);
                    break;
                default:
                    row.AddArg("member", "MM_ANONPAGES");
                    row.AddArg("size", (i * 4096).ToString(System.Globalization.CultureInfo.InvariantCulture));
                    break;
            }
            if (i % 64 == 0)
            {
                row.Stack = ["do_user_addr_fault+0x1a4/0x600", "exc_page_fault+0x6c/0x150", "asm_exc_page_fault+0x22/0x30"];
            }
            rows[i] = row;
        }
        return rows;
    }

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(_directory, recursive: true);

    [Benchmark(OperationsPerInvoke = Rows)]
    public long ToParquet()
    {
        string path = Path.Combine(_directory, $"events{_file++}.parquet");
        long count;
        using (var writer = new EventParquetWriter(path, new EventParquetOptions { Threads = Threads }))
        {
            for (int i = 0; i < Rows; i++)
            {
                writer.Write(_rows[i & (Distinct - 1)]);
            }
            writer.Complete();
            count = writer.Count;
        }
        File.Delete(path);
        return count;
    }

    private static int Ordinal(string name) => EventSchema.TryGetField(name, out EventColumn? column) ? column.Ordinal : throw new ArgumentException(name);
}

/// <summary>One short job (launch 1, warmup 2, 5 iterations) with the memory diagnoser.</summary>
public sealed class ParquetWriterBenchmarkConfig : ManualConfig
{
    public ParquetWriterBenchmarkConfig()
    {
        AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(2).WithIterationCount(5));
        AddDiagnoser(MemoryDiagnoser.Default);
    }
}
