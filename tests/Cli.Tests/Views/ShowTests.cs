using System.Globalization;
using System.Text.RegularExpressions;

namespace Pipeline.Cli.Tests.Views;

/// <summary><c>mmtrace show</c> on a real recorded trace, checked against <c>trace-cmd report</c> of the same recording.</summary>
public sealed partial class ShowTests
{
    // seq, comm-pid, [cpu], seconds.ns, event
    [GeneratedRegex(@"^\s*(\d+)\s+(.+)-(\d+)\s+\[(\d{3})\] (\d+)\.(\d{9}): ([a-z_0-9]*:[a-z_0-9]+):")]
    private static partial Regex ShowLine();

    // trace-cmd report: comm-pid [cpu] seconds.us: name:
    [GeneratedRegex(@"^\s*(.+)-(\d+)\s+\[(\d{3})\]\s+(\d+)\.(\d{6}): ([a-z_0-9]+):")]
    private static partial Regex ReportLine();

    internal static string Dataset(TempDir dir)
    {
        string dat = Mmtrace.Corpus("recorded/trace-cmd/mm_v7_zstd_full.dat");
        var ingest = Mmtrace.Run("ingest", dat, "-o", dir["ds"]);
        Assert.True(ingest.ExitCode == 0, ingest.ToString());
        return dir["ds"];
    }

    [CorpusFact]
    public void Show_RecordedTraceDat_SameEventsInTheSameOrderAsTraceCmdReport()
    {
        using var dir = new TempDir();
        string ds = Dataset(dir);
        var show = Mmtrace.Run("show", ds);
        Assert.True(show.ExitCode == 0, show.ToString());

        var ours = show.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith(" =>", StringComparison.Ordinal)).ToList();
        var theirs = File.ReadLines(Mmtrace.Corpus("recorded/trace-cmd/mm_report.txt")).Select(l => ReportLine().Match(l)).Where(m => m.Success).ToList();
        Assert.Equal(3298, ours.Count);
        Assert.Equal(theirs.Count, ours.Count);
        for (int i = 0; i < ours.Count; i++)
        {
            var m = ShowLine().Match(ours[i]);
            Assert.True(m.Success, $"line {i + 1} is not a listing line: {ours[i]}");
            var t = theirs[i];
            Assert.Equal(i.ToString(CultureInfo.InvariantCulture), m.Groups[1].Value);
            Assert.Equal(t.Groups[1].Value.Trim(), m.Groups[2].Value.Trim());
            Assert.Equal(t.Groups[2].Value, m.Groups[3].Value);
            Assert.Equal(t.Groups[3].Value, m.Groups[4].Value);
            // trace-cmd rounds to the microsecond.
            long ns = long.Parse(m.Groups[5].Value, CultureInfo.InvariantCulture) * 1_000_000_000 + long.Parse(m.Groups[6].Value, CultureInfo.InvariantCulture);
            long us = long.Parse(t.Groups[4].Value, CultureInfo.InvariantCulture) * 1_000_000 + long.Parse(t.Groups[5].Value, CultureInfo.InvariantCulture);
            Assert.Equal(us, (ns + 500) / 1000);
            Assert.EndsWith(":" + t.Groups[6].Value, m.Groups[7].Value, StringComparison.Ordinal);
        }
        // The payload in hex, as trace-cmd prints it.
        Assert.Contains("syscalls:sys_enter_mremap: addr=0x7fa026fa9000 old_len=0x40000 new_len=0x80000 flags=0x1 new_addr=0x0", show.Stdout, StringComparison.Ordinal);
        Assert.Contains("syscalls:sys_exit_mremap: ret=0x7fa026f29000", show.Stdout, StringComparison.Ordinal);
        Assert.Contains("tlb:tlb_flush: pages=-1 reason=0 (flush on task switch)", show.Stdout, StringComparison.Ordinal);
        Assert.Contains("kmem:mm_page_alloc: pfn=0x118db0 order=0 gfp_flags=GFP_KERNEL_ACCOUNT|__GFP_ZERO|__GFP_COMP migratetype=0", show.Stdout, StringComparison.Ordinal);
        Assert.Matches(@"mmap_lock:mmap_lock_acquire_returned: mm=0xffff[0-9a-f]{12} memcg_id=\d+ write=true success=true", show.Stdout);
    }

    [CorpusFact]
    public void Show_Filters_SelectExactlyTheEventsAsked()
    {
        using var dir = new TempDir();
        string ds = Dataset(dir);
        var around = Lines(Mmtrace.Run("show", ds, "--around", "581:2"));
        Assert.Equal(["579", "580", "581", "582", "583"], around.Select(l => ShowLine().Match(l).Groups[1].Value));
        Assert.Contains("sys_enter_mremap", around[2], StringComparison.Ordinal);

        var mremaps = Lines(Mmtrace.Run("show", ds, "--event", "*mremap*"));
        Assert.Equal(4, mremaps.Count);

        var flushes = Lines(Mmtrace.Run("show", ds, "--event", "tlb_flush", "--cpu", "1"));
        Assert.NotEmpty(flushes);
        Assert.All(flushes, l => Assert.Matches(@"\[001\] \S+ tlb:tlb_flush:", l));
        var allFlushes = Lines(Mmtrace.Run("show", ds, "--event", "tlb:tlb_flush"));
        Assert.True(allFlushes.Count > flushes.Count);

        var worker = Lines(Mmtrace.Run("show", ds, "--pid", "25561", "--from", "526.220191854", "--to", "526.220463068"));
        Assert.StartsWith("581 ", worker[0].TrimStart(), StringComparison.Ordinal);
        Assert.Contains("sys_exit_mremap: ret=0x7fa026f29000", worker[^1], StringComparison.Ordinal);
        Assert.All(worker, l => Assert.Contains("-25561 ", l, StringComparison.Ordinal));

        var bad = Mmtrace.Run("show", ds, "--around", "x:2");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("--around expects SEQ[:N]", bad.Stderr, StringComparison.Ordinal);
    }

    private static List<string> Lines(Mmtrace.Result result)
    {
        Assert.True(result.ExitCode == 0, result.ToString());
        return result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
    }
}
