using System.Buffers.Binary;

namespace Pipeline.Ingest.TraceDat;

/// <summary>
/// Builds large valid v6 trace.dat files from a small real one by repeating its CPU pages with shifted page
/// timestamps (each copy starts after the previous one ends), for benchmarks and memory tests.
/// </summary>
internal static class TraceDatSynthesizer
{
    public static byte[] RepeatPages(byte[] version6File, int copies)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(copies, 1);
        using var input = new MemoryStream(version6File, writable: false);
        var (table, cpuCount, cpus) = TraceDatReader.InspectVersion6(input);
        int pageSize = (int)BinaryPrimitives.ReadUInt32LittleEndian(version6File.AsSpan(version6File.AsSpan(10).IndexOf((byte)0) + 13));
        long firstData = cpus.Min(c => c.Offset);
        ulong minTs = ulong.MaxValue, maxTs = 0;
        foreach (var (_, offset, size) in cpus)
        {
            for (long p = offset; p < offset + size; p += pageSize)
            {
                ulong ts = BinaryPrimitives.ReadUInt64LittleEndian(version6File.AsSpan((int)p));
                minTs = Math.Min(minTs, ts);
                maxTs = Math.Max(maxTs, ts);
            }
        }
        // A page's last event can be later than the page timestamp: leave a second between copies.
        ulong span = maxTs - minTs + 1_000_000_000;
        long total = firstData + cpus.Sum(c => c.Size) * copies;
        var output = new byte[total];
        version6File.AsSpan(0, (int)firstData).CopyTo(output);
        long next = firstData;
        var newOffsets = new Dictionary<int, (long Offset, long Size)>();
        foreach (var (cpu, offset, size) in cpus)
        {
            newOffsets[cpu] = (next, size * copies);
            for (int k = 0; k < copies; k++)
            {
                var target = output.AsSpan((int)next, (int)size);
                version6File.AsSpan((int)offset, (int)size).CopyTo(target);
                for (int p = 0; p < size; p += pageSize)
                {
                    ulong ts = BinaryPrimitives.ReadUInt64LittleEndian(target[p..]);
                    BinaryPrimitives.WriteUInt64LittleEndian(target[p..], ts + (ulong)k * span);
                }
                next += size;
            }
        }
        for (int cpu = 0; cpu < cpuCount; cpu++)
        {
            var entry = output.AsSpan((int)table + cpu * 16, 16);
            var (o, s) = newOffsets.GetValueOrDefault(cpu);
            BinaryPrimitives.WriteUInt64LittleEndian(entry, (ulong)o);
            BinaryPrimitives.WriteUInt64LittleEndian(entry[8..], (ulong)s);
        }
        return output;
    }
}
