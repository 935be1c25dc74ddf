using System.Globalization;
using System.Text;

namespace Pipeline.Storage;

/// <summary>
/// One share of a batch (<c>--shard I/N</c>): the traces whose id hashes to <see cref="Index"/> modulo
/// <see cref="Count"/>. The hash is FNV-1a (64-bit) of the id's UTF-8 bytes, so every machine, process and .NET
/// version agrees on the split without coordination, and shard I of N always takes the same traces: a scheduler
/// (a Kubernetes Indexed Job, a Slurm job array) runs shards 0..N-1 and their <c>trace=&lt;id&gt;/</c> partitions
/// together are exactly the dataset one run over all inputs writes.
/// </summary>
/// <param name="Index">This shard, 0 ≤ Index &lt; Count.</param>
/// <param name="Count">Number of shards, ≥ 1.</param>
public sealed record DatasetShard(int Index, int Count)
{
    /// <summary>Parses <c>I/N</c> (0-based I).</summary>
    /// <exception cref="FormatException">Not two integers with 0 ≤ I &lt; N.</exception>
    public static DatasetShard Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash > 0
            && int.TryParse(text.AsSpan(0, slash), NumberStyles.None, CultureInfo.InvariantCulture, out int index)
            && int.TryParse(text.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int count)
            && count >= 1 && index < count)
        {
            return new DatasetShard(index, count);
        }
        throw new FormatException($"--shard '{text}': expected I/N with 0 <= I < N, e.g. 0/4 for the first of four shards.");
    }

    /// <summary>Whether the trace <paramref name="traceId"/> belongs to this shard.</summary>
    public bool Contains(string traceId) => Of(traceId, Count) == Index;

    /// <summary>The shard (0..<paramref name="count"/>-1) that trace <paramref name="traceId"/> belongs to.</summary>
    public static int Of(string traceId, int count)
    {
        ArgumentNullException.ThrowIfNull(traceId);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ulong hash = 14695981039346656037UL;
        foreach (byte b in Encoding.UTF8.GetBytes(traceId))
        {
            hash = unchecked((hash ^ b) * 1099511628211UL);
        }
        return (int)(hash % (ulong)count);
    }

    /// <inheritdoc/>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Index}/{Count}");
}
