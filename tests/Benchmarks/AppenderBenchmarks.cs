using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using Pipeline.Storage;
using Pipeline.Storage.DuckDb;

namespace Pipeline.Benchmarks;

/// <summary>
/// EventTableWriter into an in-memory DuckDB table: rows with 20 non-null columns (9 header columns,
/// 10 typed payload fields, args), as parsers produce them. Throughput = 1e9 / (ns per row).
/// The writer goes through DuckDB.NET's appender (it is the events encoder's oracle in the tests, not a product path).
/// </summary>
[Config(typeof(AppenderBenchmarkConfig))]
public class AppenderBenchmarks
{
    private const int Rows = 2_000_000;
    private const int Distinct = 1024;

    private static readonly string[] s_events = ["syscalls:sys_enter_mremap", "exceptions:page_fault_user", "tlb:tlb_flush", "mmap_lock:mmap_lock_acquire_returned"];
    private static readonly string[] s_comms = ["stress-ng-mremap", "kworker/u8:3", "khugepaged", "a.out"];

    private readonly EventRow[] _rows = new EventRow[Distinct];
    private DuckDbConnection? _connection;
    private int _table;

    [GlobalSetup]
    public void Setup()
    {
        for (int i = 0; i < Distinct; i++)
        {
            var row = new EventRow
            {
                TsNs = 1_000_000 + (i * 977L),
                Cpu = i & 3,
                Pid = 4000 + (i & 15),
                Tgid = 4000,
                Comm = s_comms[i % s_comms.Length],
                Event = s_events[i % s_events.Length],
                IrqFlags = "d..1.",
                SrcPos = i + 1,
            };
            // Ten typed payload columns.
            string[] fields = ["addr", "old_len", "new_len", "flags", "new_addr", "mm", "address", "ip", "error_code", "pfn"];
            foreach (string field in fields)
            {
                EventSchema.TryGetField(field, out EventColumn? column);
                row.SetUInt64(column!.Ordinal, 0x7f00_0000_0000UL + (ulong)(i * 4096));
            }
            row.AddArg("__syscall_nr", "25");
            _rows[i] = row;
        }
        _connection = DuckDbConnection.OpenInMemory(new Dictionary<string, string>(StringComparer.Ordinal) { ["threads"] = "1" });
    }

    [GlobalCleanup]
    public void Cleanup() => _connection?.Dispose();

    [Benchmark(OperationsPerInvoke = Rows)]
    public long EventTableWriter_InMemory()
    {
        string table = "events" + (_table++).ToString(System.Globalization.CultureInfo.InvariantCulture);
        long count;
        using (var writer = new EventTableWriter(_connection!, table))
        {
            for (int i = 0; i < Rows; i++)
            {
                writer.Write(_rows[i & (Distinct - 1)]);
            }
            writer.Complete();
            count = writer.Count;
        }
        _connection!.Execute($"DROP TABLE {table}");
        return count;
    }
}

/// <summary>One short job (launch 1, warmup 2, 5 iterations) with the memory diagnoser.</summary>
public sealed class AppenderBenchmarkConfig : ManualConfig
{
    public AppenderBenchmarkConfig()
    {
        AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(2).WithIterationCount(5));
        AddDiagnoser(MemoryDiagnoser.Default);
    }
}
