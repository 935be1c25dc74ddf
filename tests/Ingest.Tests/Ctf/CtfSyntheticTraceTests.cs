using System.Buffers.Binary;
using System.Text;
using Pipeline.Storage;

namespace Pipeline.Ingest.Tests.Ctf;

/// <summary>
/// A small big-endian CTF trace written by hand, for what the corpus traces do not have: plain-text metadata
/// with a big-endian trace, a stream event context (LTTng <c>add-context -t tid -t procname</c>), bitfields
/// narrower than a byte, sequences, enums, floating point, the extended event header, 27-bit timestamp
/// wrap-around, two clocks with offsets, and events_discarded.
/// </summary>
public sealed class CtfSyntheticTraceTests : IDisposable
{
    private const string Metadata = """
        /* CTF 1.8 */
        typealias integer { size = 8; align = 8; signed = false; } := uint8_t;
        typealias integer { size = 32; align = 8; signed = false; } := uint32_t;
        typealias integer { size = 64; align = 8; signed = false; } := uint64_t;
        typealias integer { size = 5; align = 1; signed = false; } := uint5_t;

        trace {
            major = 1; minor = 8;
            byte_order = be;
            packet.header := struct { uint32_t magic; uint32_t stream_id; };
        };
        env { kernel_release = "6.1.0-synthetic"; };
        clock { name = "realtime"; freq = 1000; offset_s = 99; };
        clock { name = "monotonic"; freq = 1000000000; offset_s = 10; offset = 5; };

        typealias integer { size = 27; align = 1; signed = false; map = clock.monotonic.value; } := uint27_clock_t;
        typealias integer { size = 64; align = 8; signed = false; map = clock.monotonic.value; } := uint64_clock_t;

        struct packet_context {
            uint64_clock_t timestamp_begin; uint64_clock_t timestamp_end;
            uint64_t content_size; uint64_t packet_size; uint64_t events_discarded; uint32_t cpu_id;
        };
        struct event_header_compact {
            enum : uint5_t { compact = 0 ... 30, extended = 31 } id;
            variant <id> {
                struct { uint27_clock_t timestamp; } compact;
                struct { uint32_t id; uint64_clock_t timestamp; } extended;
            } v;
        } align(8);

        stream {
            id = 0;
            event.header := struct event_header_compact;
            packet.context := struct packet_context;
            event.context := struct { integer { size = 32; align = 8; signed = 1; } _tid; string _procname; };
        };

        event {
            name = "syscall_entry_mremap"; id = 0; stream_id = 0;
            fields := struct {
                integer { size = 64; align = 8; signed = 0; base = 16; } _addr;
                uint64_t _old_len; uint64_t _new_len; uint64_t _flags; uint64_t _new_addr;
            };
        };
        event {
            name = "x86_exceptions_page_fault_user"; id = 1; stream_id = 0;
            fields := struct {
                integer { size = 64; align = 8; signed = 0; base = 16; } _address;
                integer { size = 64; align = 8; signed = 0; base = 16; } _ip;
                integer { size = 64; align = 8; signed = 0; base = 16; } _error_code;
            };
        };
        event {
            name = "custom_mix"; id = 40; stream_id = 0;
            fields := struct {
                integer { size = 3; align = 1; signed = 1; } _small;
                integer { size = 13; align = 1; signed = 0; } _bits;
                uint8_t _n;
                integer { size = 16; align = 8; signed = 0; } _vals[_n];
                floating_point { exp_dig = 11; mant_dig = 53; align = 8; } _ratio;
                enum : uint8_t { ZERO, ONE, FIVE = 5 } _state;
                integer { size = 8; align = 8; signed = 0; encoding = UTF8; } _name[8];
            };
        };
        """;

    private const long Mask27 = (1L << 27) - 1;
    private const long ClockOffsetNs = 10_000_000_005;

    private readonly string _trace = Directory.CreateTempSubdirectory("ctf-synthetic-").FullName;

    public CtfSyntheticTraceTests()
    {
        File.WriteAllText(Path.Combine(_trace, "metadata"), Metadata, new UTF8Encoding(false));

        var first = new PacketWriter(cpu: 2, timestampBegin: 1000, discarded: 0);
        first.Mremap(clockLow: 1050, tid: 4242, comm: "worker", addr: 0x7f00_0000_1000, oldLen: 8192, newLen: 16384);
        first.CustomMix(clock: 2000, tid: 4243, comm: "other");
        // 1500 is below the low bits of 2000: the 27-bit counter wrapped once.
        first.Mremap(clockLow: 1500, tid: 4242, comm: "worker", addr: 0x1000, oldLen: 4096, newLen: 4096);
        var second = new PacketWriter(cpu: 2, timestampBegin: 200_000_000, discarded: 7);
        second.Mremap(clockLow: 200_000_100 & Mask27, tid: 1, comm: "init", addr: 0x2000, oldLen: 4096, newLen: 8192);
        File.WriteAllBytes(Path.Combine(_trace, "chan_2"), [.. first.Finish(), .. second.Finish()]);

        var other = new PacketWriter(cpu: 0, timestampBegin: 1000, discarded: 0);
        other.Mremap(clockLow: 1500, tid: 77, comm: "cpu0task", addr: 0x3000, oldLen: 4096, newLen: 4096);
        other.PageFault(clockLow: 300_000_000 & Mask27, tid: 77, comm: "cpu0task", address: 0x3008, ip: 0x401000, errorCode: 6);
        File.WriteAllBytes(Path.Combine(_trace, "chan_0"), other.Finish());
    }

    public void Dispose() => Directory.Delete(_trace, recursive: true);

    [SkippableFact]
    public void ReadDirectory_BigEndianTrace_MergesStreamsByReconstructedClock()
    {
        var (sink, diagnostics) = CtfTraces.Read(_trace, _ => true, strict: true);

        Assert.Equal(
            [(1050L, 2, 4242), (1500L, 0, 77), (2000L, 2, 4243), (300_000_000L & Mask27, 0, 77), ((1L << 27) + 1500, 2, 4242), (200_000_100L, 2, 1)],
            sink.Kept.Select(r => (r.TsNs - ClockOffsetNs, r.Cpu, r.Pid)));
        Assert.Equal(7, diagnostics.LostEvents);
        Assert.Equal(2, diagnostics.CpuCount);
        Assert.Equal("6.1.0-synthetic", diagnostics.KernelRelease);
        // Timestamps count in the clock the headers map to, not the first one declared.
        Assert.Equal("monotonic", diagnostics.Clock);
    }

    [SkippableFact]
    public void ReadDirectory_StreamEventContext_GivesTaskAndTypedColumns()
    {
        var (sink, _) = CtfTraces.Read(_trace, _ => true, strict: true);

        var mremap = sink.Kept[0];
        Assert.Equal("syscalls:sys_enter_mremap", mremap.Event);
        Assert.Equal((4242, "worker"), (mremap.Pid, mremap.Comm));
        Assert.Equal(0x7f00_0000_1000UL, mremap.GetUInt64(CtfReaderTests.Column("addr")));
        Assert.Equal(8192UL, mremap.GetUInt64(CtfReaderTests.Column("old_len")));
        Assert.Equal(16384UL, mremap.GetUInt64(CtfReaderTests.Column("new_len")));
        Assert.Equal(1UL, mremap.GetUInt64(CtfReaderTests.Column("flags")));
        Assert.Equal(0UL, mremap.GetUInt64(CtfReaderTests.Column("new_addr")));
        Assert.Empty(mremap.Args);
    }

    [SkippableFact]
    public void ReadDirectory_LttngPageFault_CanonicalNameAndTypedColumns()
    {
        var (sink, _) = CtfTraces.Read(_trace, row => row.Event == "exceptions:page_fault_user", strict: true);

        var fault = Assert.Single(sink.Kept);
        Assert.Equal((77, "cpu0task", 0), (fault.Pid, fault.Comm, fault.Cpu));
        Assert.Equal(0x3008UL, fault.GetUInt64(CtfReaderTests.Column("address")));
        Assert.Equal(0x401000UL, fault.GetUInt64(CtfReaderTests.Column("ip")));
        Assert.Equal(6UL, fault.GetUInt64(CtfReaderTests.Column("error_code")));
    }

    [SkippableFact]
    public void ReadDirectory_ExtendedHeaderAndCompoundFields_DecodedIntoArgs()
    {
        var (sink, _) = CtfTraces.Read(_trace, row => row.Event == ":custom_mix", strict: true);

        var mix = Assert.Single(sink.Kept);
        Assert.Equal((4243, "other"), (mix.Pid, mix.Comm));
        Assert.Equal(
            [("small", "-2"), ("bits", "6844"), ("n", "3"), ("vals", "[1, 2, 65535]"), ("ratio", "0.5"), ("state", "FIVE"), ("name", "abc")],
            mix.Args.Select(a => (a.Key, a.Value)));
    }

    [SkippableFact]
    public void ReadDirectory_CpuIdBeyondNrCpus_PacketCountedNotStoredAsNegative()
    {
        var bad = new PacketWriter(cpu: unchecked((int)0xF8000000), timestampBegin: 1000, discarded: 0);
        bad.Mremap(clockLow: 1100, tid: 5, comm: "crafted", addr: 0x4000, oldLen: 4096, newLen: 4096);
        File.WriteAllBytes(Path.Combine(_trace, "chan_9"), bad.Finish());

        var (sink, diagnostics) = CtfTraces.Read(_trace, _ => true);

        Assert.All(sink.Kept, r => Assert.InRange(r.Cpu, 0, 8191));
        Assert.DoesNotContain(sink.Kept, r => r.Pid == 5);
        Assert.Equal(1, diagnostics.MalformedCount);
        Assert.Contains("expected cpu_id below 8192 (Linux's NR_CPUS limit), found 4160749568", diagnostics.MalformedSamples[0].Message, StringComparison.Ordinal);
        Assert.EndsWith("chan_9", diagnostics.MalformedSamples[0].File, StringComparison.Ordinal);
        Assert.Throws<TraceFormatException>(() => CtfTraces.Read(_trace, _ => true, strict: true));
    }

    /// <summary>Writes one big-endian packet of the metadata above.</summary>
    private sealed class PacketWriter
    {
        private const int ContextEnd = 52;
        private readonly List<byte> _bytes = [];

        public PacketWriter(int cpu, ulong timestampBegin, ulong discarded)
        {
            U32(0xC1FC1FC1);
            U32(0);
            U64(timestampBegin);
            U64(0);
            U64(0);
            U64(0);
            U64(discarded);
            U32((uint)cpu);
        }

        public void Mremap(long clockLow, int tid, string comm, ulong addr, ulong oldLen, ulong newLen)
        {
            // Compact header: 5-bit id 0 in the most significant bits, then the 27-bit timestamp.
            U32((uint)clockLow);
            Context(tid, comm);
            U64(addr);
            U64(oldLen);
            U64(newLen);
            U64(1);
            U64(0);
        }

        public void PageFault(long clockLow, int tid, string comm, ulong address, ulong ip, ulong errorCode)
        {
            U32((1u << 27) | (uint)clockLow);
            Context(tid, comm);
            U64(address);
            U64(ip);
            U64(errorCode);
        }

        public void CustomMix(ulong clock, int tid, string comm)
        {
            // Extended header: id 31, padding to the byte, 32-bit id, 64-bit timestamp.
            _bytes.Add(31 << 3);
            U32(40);
            U64(clock);
            Context(tid, comm);
            // small = -2 in 3 bits (0b110), then bits = 0x1ABC in 13 bits: one big-endian 16-bit unit.
            U16((ushort)((0b110 << 13) | 0x1ABC));
            _bytes.Add(3);
            U16(1);
            U16(2);
            U16(65535);
            U64((ulong)BitConverter.DoubleToInt64Bits(0.5));
            _bytes.Add(5);
            _bytes.AddRange("abc\0\0\0\0\0"u8.ToArray());
        }

        public byte[] Finish()
        {
            int content = _bytes.Count;
            int packet = (content + 63) / 64 * 64;
            var bytes = new byte[packet];
            _bytes.CopyTo(bytes);
            BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(24), (ulong)content * 8);
            BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(32), (ulong)packet * 8);
            Assert.True(content > ContextEnd);
            return bytes;
        }

        private void Context(int tid, string comm)
        {
            U32((uint)tid);
            _bytes.AddRange(Encoding.UTF8.GetBytes(comm));
            _bytes.Add(0);
        }

        private void U16(ushort value) => _bytes.AddRange([(byte)(value >> 8), (byte)value]);

        private void U32(uint value)
        {
            var span = new byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(span, value);
            _bytes.AddRange(span);
        }

        private void U64(ulong value)
        {
            var span = new byte[8];
            BinaryPrimitives.WriteUInt64BigEndian(span, value);
            _bytes.AddRange(span);
        }
    }
}
