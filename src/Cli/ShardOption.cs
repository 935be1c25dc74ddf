using System.CommandLine;
using Pipeline.Storage;

namespace Pipeline.Cli;

/// <summary><c>--shard I/N</c> of <c>ingest</c> and <c>replay</c> (docs/scale.md).</summary>
internal static class ShardOption
{
    public static Option<string?> Create() => new("--shard")
    {
        Description = "I/N: take only shard I (0-based) of N, by trace id, so N machines split a batch; shards write trace=<id>/ partitions of one shared root (docs/scale.md).",
    };

    /// <summary>The shard, or null without the option.</summary>
    /// <exception cref="UsageException">Not I/N with 0 ≤ I &lt; N.</exception>
    public static DatasetShard? Parse(string? text)
    {
        if (text is null)
        {
            return null;
        }
        try
        {
            return DatasetShard.Parse(text);
        }
        catch (FormatException e)
        {
            throw new UsageException(e.Message);
        }
    }
}
