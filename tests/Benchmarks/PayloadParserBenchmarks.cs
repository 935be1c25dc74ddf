using System.Text;
using BenchmarkDotNet.Attributes;
using Pipeline.Ingest.Catalog;
using Pipeline.Storage;

namespace Pipeline.Benchmarks;

/// <summary>
/// The payload half of a text event line alone: <see cref="PayloadParser.Parse"/> on the payloads of the
/// generated ftrace trace of <see cref="TextReaderBenchmarks"/> (the recorded mm capture's events: page faults,
/// page allocations and frees, rss_stat, tlb_flush, mmap_lock), i.e. field splitting, the field-name and value
/// caches and number parsing, without line splitting, prefixes or threads. Run with
/// <c>dotnet run -c Release --project tests/Benchmarks -- --filter '*PayloadParser*' --inProcess</c>.
/// </summary>
[MemoryDiagnoser]
public class PayloadParserBenchmarks
{
    private const int Payloads = 100_000;

    private readonly List<(string Event, byte[] Payload)> _payloads = [];
    private readonly PayloadParser _parser = new();
    private readonly EventRow _row = new();

    [GlobalSetup]
    public void Setup()
    {
        var events = new List<(string Event, byte[] Payload)>();
        foreach (string line in Encoding.UTF8.GetString(TextReaderBenchmarks.Generate(Payloads)).Split('\n'))
        {
            // "comm-pid [cpu] flags ts: event: payload"; the kernel's own syscall lines have no "event: ".
            int tsEnd = line.IndexOf(": ", StringComparison.Ordinal);
            int nameEnd = tsEnd < 0 ? -1 : line.IndexOf(": ", tsEnd + 2, StringComparison.Ordinal);
            string name = nameEnd > 0 ? line[(tsEnd + 2)..nameEnd] : "";
            if (name.Length > 0 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or ':'))
            {
                events.Add((EventCatalog.Canonical(name), Encoding.UTF8.GetBytes(line[(nameEnd + 2)..])));
            }
        }
        for (int i = 0; i < Payloads; i++)
        {
            _payloads.Add(events[i % events.Count]);
        }
    }

    [Benchmark(OperationsPerInvoke = Payloads)]
    public int ParsePayloads()
    {
        int fields = 0;
        foreach (var (name, payload) in _payloads)
        {
            _row.Event = name;
            _parser.Parse(_row, payload);
            fields += _row.Args.Count;
            _row.Clear();
        }
        return fields;
    }
}
