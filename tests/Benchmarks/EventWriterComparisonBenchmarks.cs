using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using Pipeline.Storage;
using Pipeline.Storage.DuckDb;
using Pipeline.Storage.Parquet;

namespace Pipeline.Benchmarks;

/// <summary>
/// The measured exception of README's "Why these dependencies": the same 1 M rows (<see cref="ParquetWriterBenchmarks.SampleRows"/>)
/// into events.parquet with our encoder (<see cref="EventParquetWriter"/>, one encoder thread, so both use about one
/// core) and with Parquet.Net's columnar writer (<see cref="ParquetNetEventWriter"/>). Reports ns/row and bytes
/// allocated per row; the setup writes both files once, checks with DuckDB that they hold the same rows, and
/// prints their sizes (bytes/row).
/// </summary>
[Config(typeof(EventWriterComparisonConfig))]
public class EventWriterComparisonBenchmarks
{
    private const int Rows = 1_000_000;

    private EventRow[] _rows = [];
    private long _firstTsNs;
    private string _directory = "";
    private int _file;

    [GlobalSetup]
    public void Setup()
    {
        _rows = ParquetWriterBenchmarks.SampleRows();
        _firstTsNs = _rows[0].TsNs;
        _directory = Directory.CreateTempSubdirectory("mmtrace-writer-compare-").FullName;
        string own = Path.Combine(_directory, "own.parquet");
        string net = Path.Combine(_directory, "net.parquet");
        WriteOwn(own);
        WriteParquetNet(net);
        using var connection = DuckDbConnection.OpenInMemory();
        long differ = (long)connection.Scalar(
            "SELECT count(*) FROM (SELECT * FROM read_parquet(?) EXCEPT ALL SELECT * FROM read_parquet(?))", own, net)!;
        long rows = (long)connection.Scalar("SELECT count(*) FROM read_parquet(?)", net)!;
        if (differ != 0 || rows != Rows)
        {
            // Name the columns that differ (rows paired by seq), with one example each.
            var columns = new List<string>();
            foreach (var column in EventSchema.Columns)
            {
                string c = $"\"{column.Name}\"";
                long n = (long)connection.Scalar(
                    $"SELECT count(*) FROM read_parquet(?) o JOIN read_parquet(?) n USING (seq) WHERE o.{c} IS DISTINCT FROM n.{c}", own, net)!;
                if (n != 0)
                {
                    object? example = connection.Scalar(
                        $"SELECT 'seq ' || o.seq || ': own ' || coalesce(o.{c}::VARCHAR, 'NULL') || ', Parquet.Net ' || coalesce(n.{c}::VARCHAR, 'NULL') " +
                        $"FROM read_parquet(?) o JOIN read_parquet(?) n USING (seq) WHERE o.{c} IS DISTINCT FROM n.{c} ORDER BY seq LIMIT 1", own, net);
                    columns.Add($"{column.Name} ({n} rows, first {example})");
                }
            }
            throw new InvalidOperationException(
                $"The two writers disagree: {differ} rows differ, Parquet.Net wrote {rows}; columns: {string.Join("; ", columns)}.");
        }
        Console.WriteLine($"// file size: own encoder {new FileInfo(own).Length:N0} B ({new FileInfo(own).Length / (double)Rows:F2} B/row), " +
            $"Parquet.Net {new FileInfo(net).Length:N0} B ({new FileInfo(net).Length / (double)Rows:F2} B/row)");
        File.Delete(own);
        File.Delete(net);
    }

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(_directory, recursive: true);

    [Benchmark(Baseline = true, OperationsPerInvoke = Rows)]
    public long OwnEncoder()
    {
        string path = Path.Combine(_directory, $"own{_file++}.parquet");
        long count = WriteOwn(path);
        File.Delete(path);
        return count;
    }

    [Benchmark(OperationsPerInvoke = Rows)]
    public long ParquetNet()
    {
        string path = Path.Combine(_directory, $"net{_file++}.parquet");
        long count = WriteParquetNet(path);
        File.Delete(path);
        return count;
    }

    /// <summary>
    /// Row <paramref name="i"/> of the stream: the sample rows cycled, with timestamps that keep rising as in a
    /// recorded trace (cycling the samples' own would send every 4096th row back in time, and the encoder's
    /// reorder window would sort where a real trace needs nothing; the two files would also differ in order).
    /// </summary>
    private EventRow Row(int i)
    {
        EventRow row = _rows[i & (_rows.Length - 1)];
        row.TsNs = _firstTsNs + (i * 251L);
        return row;
    }

    private long WriteOwn(string path)
    {
        using var writer = new EventParquetWriter(path, new EventParquetOptions { Threads = 1 });
        for (int i = 0; i < Rows; i++)
        {
            writer.Write(Row(i));
        }
        writer.Complete();
        return writer.Count;
    }

    private long WriteParquetNet(string path)
    {
        using var writer = new ParquetNetEventWriter(path);
        for (int i = 0; i < Rows; i++)
        {
            writer.Write(Row(i));
        }
        writer.Complete();
        return writer.Count;
    }
}

/// <summary>One short job (launch 1, warmup 1, 5 iterations) with the memory diagnoser.</summary>
public sealed class EventWriterComparisonConfig : ManualConfig
{
    public EventWriterComparisonConfig()
    {
        AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(1).WithIterationCount(5));
        AddDiagnoser(MemoryDiagnoser.Default);
    }
}
