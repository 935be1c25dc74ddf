using System.Globalization;
using Pipeline.Ingest.Ctf;
using Pipeline.Ingest.Tests.Text;
using Pipeline.Storage;

namespace Pipeline.Ingest.Tests.Ctf;

/// <summary>
/// The three CTF traces of the public corpus, checked against the event counts babeltrace2 2.0.4 reports
/// (shared/corpus/public/README.md) and against field values derived from their metadata.
/// </summary>
public class CtfReaderTests
{
    [SkippableFact]
    public void ReadDirectory_Bug446190_CountsMatchBabeltrace()
    {
        var (sink, diagnostics) = CtfTraces.Read(CtfTraces.Bug446190);

        Assert.Equal(31_556, sink.Total);
        AssertCounts(sink,
            ("kmem:mm_page_alloc", 504), ("kmem:mm_page_free", 351), ("kmem:mm_page_alloc_zone_locked", 150),
            ("kmem:mm_page_free_batched", 108), ("kmem:mm_page_pcpu_drain", 31), ("kmem:kmalloc", 3456),
            ("kmem:kfree", 3472), ("kmem:kmem_cache_alloc", 1145), ("kmem:kmem_cache_free", 1227),
            // lttng-modules 2.5 names syscall entries sys_X.
            ("syscalls:sys_enter_mmap2", 52), ("syscalls:sys_enter_mprotect", 22), ("syscalls:sys_enter_munmap", 11),
            ("syscalls:sys_enter_brk", 6), ("sched:sched_switch", 1052));
        Assert.Equal(0, sink.OutOfOrder);
        Assert.Equal(0, diagnostics.MalformedCount);
        Assert.Equal(4, diagnostics.CpuCount);
        Assert.Equal("3.10.31-ltsi", diagnostics.KernelRelease);
        Assert.Equal("monotonic", diagnostics.Clock);
    }

    [SkippableFact]
    public void ReadDirectory_ManyThreads_CountsMatchBabeltrace()
    {
        var (sink, diagnostics) = CtfTraces.Read(CtfTraces.ManyThreads, row => row.Event == "syscalls:sys_enter_madvise");

        Assert.Equal(240_644, sink.Total);
        Assert.Equal(181, sink.Counts.Count);
        AssertCounts(sink,
            ("syscalls:sys_enter_madvise", 8000), ("syscalls:sys_exit_madvise", 8000), ("syscalls:sys_enter_mmap", 4140),
            ("syscalls:sys_enter_mprotect", 4099), ("syscalls:sys_enter_munmap", 4022), ("syscalls:sys_enter_brk", 11),
            ("sched:sched_switch", 28_325), ("syscalls:sys_enter_clone", 8003));
        Assert.False(sink.Counts.ContainsKey("syscalls:sys_enter_mremap"));
        Assert.Equal(0, sink.OutOfOrder);
        Assert.Equal(8, diagnostics.CpuCount);
        Assert.Equal(0, diagnostics.LostEvents);
        // The workload frees thread stacks with MADV_DONTNEED (4) on a page-aligned start.
        Assert.All(sink.Kept, row =>
        {
            Assert.Equal(4, row.GetInt64(Column("behavior")));
            Assert.Equal(0UL, row.GetUInt64(Column("start")) % 4096);
            Assert.True(row.Pid > 0);
        });
        // The madvise calls come from the threads of one process: statedump and fork events give their tgid.
        var process = Assert.Single(sink.Kept.Select(r => r.Tgid).Distinct());
        Assert.NotNull(process);
        Assert.True(sink.Kept.Select(r => r.Pid).Distinct().Count() > 100);
    }

    [SkippableFact]
    public void ReadDirectory_PerfTaskset2_CountsMatchBabeltrace()
    {
        var (sink, diagnostics) = CtfTraces.Read(CtfTraces.PerfTaskset2, row => row.SrcPos == 64);

        Assert.Equal(1500, sink.Total);
        AssertCounts(sink,
            ("sched:sched_stat_runtime", 585), ("sched:sched_switch", 562), ("sched:sched_wakeup", 346),
            ("sched:sched_migrate_task", 4), ("sched:sched_process_exec", 2), ("sched:sched_process_exit", 1));
        Assert.Equal(0, sink.OutOfOrder);
        Assert.Equal("3.10.92-stih418_family+", diagnostics.KernelRelease);

        // First event of perf_stream_0: header id 2 (sched:sched_wakeup), timestamp 979417057183 on
        // perf_clock (1 GHz, no offset), perf_id 13 and perf_cpu 0 in the payload.
        var first = Assert.Single(sink.Kept);
        Assert.Equal(979_417_057_183, first.TsNs);
        Assert.Equal(979_417_057_183, sink.FirstTs);
        Assert.Equal("sched:sched_wakeup", first.Event);
        Assert.Equal(0, first.Cpu);
        Assert.Equal("13", first.FindField("perf_id"));
        Assert.Equal("perf", first.FindField("comm"));
        Assert.Equal("1834", first.FindField("pid"));
        Assert.Null(first.FindField("common_type"));
    }

    [SkippableFact]
    public void ReadDirectory_LegacyLttngSyscalls_PairsExitWithEntryOfSameThread()
    {
        var (sink, _) = CtfTraces.Read(CtfTraces.Bug446190, row => row.Event.EndsWith("_mmap2", StringComparison.Ordinal));

        var enter = sink.Kept[0];
        var exit = sink.Kept[1];
        Assert.Equal("syscalls:sys_enter_mmap2", enter.Event);
        Assert.Equal("syscalls:sys_exit_mmap2", exit.Event);
        // The task comes from the CPU's last sched_switch (LTTng kernel streams carry no pid context).
        Assert.Equal((177, "systemd-journal"), (enter.Pid, enter.Comm));
        Assert.Equal((177, "systemd-journal"), (exit.Pid, exit.Comm));
        Assert.Equal(0UL, enter.GetUInt64(Column("addr")));
        Assert.Equal(4096UL, enter.GetUInt64(Column("len")));
        Assert.Equal("0", enter.FindField("pgoff"));
        // exit_syscall's _ret is a signed 32-bit integer on this ARM kernel: a user address above 2 GiB prints negative.
        Assert.Equal(unchecked((int)0xB6F6B000), exit.GetInt64(Column("ret")));
        Assert.Equal(52, sink.Counts["syscalls:sys_exit_mmap2"]);
    }

    [SkippableFact]
    public void ReadDirectory_ManyThreadsMmap_TypedColumnsFromLttngFields()
    {
        var (sink, _) = CtfTraces.Read(CtfTraces.ManyThreads, row => row.Event is "syscalls:sys_enter_mmap" or "sched:sched_switch");

        var mmap = sink.Kept.First(r => r.Event == "syscalls:sys_enter_mmap");
        Assert.Equal((2673, "genKernelTraces", 2), (mmap.Pid, mmap.Comm, mmap.Cpu));
        Assert.Equal(165_940UL, mmap.GetUInt64(Column("len")));
        // LTTng's _offset is the kernel's off.
        Assert.True(mmap.IsSet(Column("off")));
        Assert.Empty(mmap.Args);

        var switches = sink.Kept.Where(r => r.Event == "sched:sched_switch").ToList();
        Assert.All(switches, s => Assert.Equal(s.Pid, (int)s.GetInt64(Column("prev_pid"))));
        Assert.All(switches, s => Assert.Equal(s.Comm, s.GetText(Column("prev_comm"))));
        Assert.Contains(switches, s => s.GetInt64(Column("next_pid")) == 0 && s.GetText(Column("next_comm"))!.StartsWith("swapper/", StringComparison.Ordinal));
        // prev_state as the kernel prints it: a task that blocked is S or D, one that was preempted keeps a number.
        var states = switches.Select(s => s.GetText(Column("prev_state"))).ToHashSet();
        Assert.Contains("S", states);
        Assert.Contains("R", states);
    }

    [SkippableFact]
    public void Read_MetadataStream_SameEventsAsReadDirectory()
    {
        var direct = new HashingSink();
        CtfReader.ReadDirectory(CtfTraces.PerfTaskset2, direct, new IngestDiagnostics());

        var viaInterface = new HashingSink();
        var metadata = Path.Combine(CtfTraces.PerfTaskset2, "metadata");
        using (var input = File.OpenRead(metadata))
        {
            ITraceReader reader = TraceIngestor.CreateReader("ctf");
            reader.Read(input, metadata, viaInterface, new IngestDiagnostics());
        }

        Assert.Equal(1500, direct.Count);
        Assert.Equal(direct.Hash, viaInterface.Hash);
    }

    [SkippableFact]
    public void ReadDirectory_Twice_ByteIdenticalRows()
    {
        var first = new HashingSink();
        var second = new HashingSink();
        CtfReader.ReadDirectory(CtfTraces.Bug446190, first, new IngestDiagnostics());
        CtfReader.ReadDirectory(CtfTraces.Bug446190, second, new IngestDiagnostics());

        Assert.Equal(31_556, first.Count);
        Assert.Equal(first.Hash, second.Hash);
    }

    [SkippableFact]
    [UseCulture("fr-FR")]
    public void ReadDirectory_FrenchCulture_InvariantValues()
    {
        Assert.Equal("fr-FR", CultureInfo.CurrentCulture.Name);
        var (sink, _) = CtfTraces.Read(CtfTraces.PerfTaskset2, row => row.Event == "sched:sched_stat_runtime");

        Assert.Equal(1500, sink.Total);
        var first = sink.Kept[0];
        Assert.Equal("6193500", first.FindField("runtime"));
        Assert.Equal("2879958806", first.FindField("vruntime"));
        Assert.Equal("0x0", first.FindField("perf_ip"));
    }

    [SkippableTheory]
    [InlineData("metadata")]
    [InlineData("")]
    public void FormatDetector_CtfMetadata_DetectsCtf(string file)
    {
        foreach (var trace in new[] { CtfTraces.Bug446190, CtfTraces.PerfTaskset2 })
        {
            var path = CtfReader.ResolveMetadataPath(file.Length == 0 ? trace : Path.Combine(trace, file));
            var head = File.ReadAllBytes(path).AsSpan(0, 64);
            Assert.Equal("ctf", FormatDetector.Detect(head, out _));
        }
    }

    private static void AssertCounts(CollectingSink sink, params (string Name, long Count)[] expected)
    {
        foreach (var (name, count) in expected)
        {
            Assert.Equal((name, count), (name, sink.Counts.GetValueOrDefault(name)));
        }
    }

    internal static int Column(string name) => EventSchema.TryGetField(name, out var column)
        ? column.Ordinal
        : throw new InvalidOperationException(name);
}

/// <summary>Hashes every field of every row in write order.</summary>
internal sealed class HashingSink : IEventSink
{
    private readonly System.Security.Cryptography.IncrementalHash _hash =
        System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);

    public long Count { get; private set; }

    public string Hash => Convert.ToHexString(_hash.GetCurrentHash());

    public void Write(EventRow row)
    {
        Count++;
        var text = new System.Text.StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"{row.TsNs}|{row.Cpu}|{row.Pid}|{row.Tgid}|{row.Comm}|{row.Event}|{row.SrcPos}");
        for (int i = EventSchema.FirstField; i < EventSchema.Args; i++)
        {
            if (row.IsSet(i))
            {
                text.Append(CultureInfo.InvariantCulture, $"|{i}={row.GetInt64(i)}:{row.GetText(i)}");
            }
        }
        foreach (var (key, value) in row.Args)
        {
            text.Append('|').Append(key).Append('=').Append(value);
        }
        _hash.AppendData(System.Text.Encoding.UTF8.GetBytes(text.ToString()));
    }
}
