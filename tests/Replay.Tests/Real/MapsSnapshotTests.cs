using Pipeline.Replay.Real;
using Pipeline.Storage;

namespace Pipeline.Replay.Tests.Real;

public sealed class MapsSnapshotTests
{
    private const string Sample = """
        55a45ed4f000-55a45ed50000 r--p 00000000 08:01 1311                       /root/mmwork
        55a45ed50000-55a45ed51000 r-xp 00001000 08:01 1311                       /root/mmwork
        55a46f1d2000-55a46f1f3000 rw-p 00000000 00:00 0                          [heap]
        7fa026e00000-7fa026e40000 rw-s 00000000 00:01 4242                       /dev/zero (deleted)
        7fa027800000-7fa0279d6000 r-xp 00028000 08:01 2101                       /usr/lib/x86_64-linux-gnu/libc.so.6
        7ffd2b5e1000-7ffd2b602000 rw-p 00000000 00:00 0                          [stack]
        7ffd2b7f0000-7ffd2b7f2000 r-xp 00000000 00:00 0                          [vdso]
        """;

    [SkippableFact]
    public void Parse_StandardLines_AllFields()
    {
        var snapshot = MapsSnapshot.Parse(new StringReader(Sample), pid: 25561);

        Assert.Equal(7, snapshot.Lines.Count);
        Assert.Equal(25561, snapshot.Pid);
        var libc = snapshot.Lines[4];
        Assert.Equal(new MapsLine(0x7fa027800000, 0x7fa0279d6000, "r-xp", 0x28000, "08:01", 2101, "/usr/lib/x86_64-linux-gnu/libc.so.6"), libc);
        Assert.Equal("/dev/zero (deleted)", snapshot.Lines[3].Path);
        Assert.Equal("[stack]", snapshot.Lines[5].Path);
    }

    [SkippableFact]
    public void ToAddressSpace_Seeded_VmasKnownPopulationUnknown()
    {
        var space = MapsSnapshot.Parse(new StringReader(Sample)).ToAddressSpace();

        Assert.Equal(7, space.Vmas.Count);
        var libc = space.FindVma(0x7fa027900000)!;
        Assert.Equal("/usr/lib/x86_64-linux-gnu/libc.so.6", libc.File);
        Assert.Equal(0x28UL, libc.PgoffPages);
        Assert.Equal(VmaAccess.Read | VmaAccess.Exec, libc.Access);
        var heap = space.FindVma(0x55a46f1d2000)!;
        Assert.Null(heap.File);
        Assert.Null(heap.PgoffPages);
        Assert.True(space.FindVma(0x7fa026e00000)!.Shared);
        Assert.True(space.FindVma(0x7ffd2b7f0000)!.Special);
        // Between the VMAs the snapshot says "free"; inside them the page tables are not shown.
        Assert.False(space.UnknownIntersects(0, ulong.MaxValue));
        Assert.Equal(PmdState.Unknown, space.GetPmd(0x7fa027800000).State);
        Assert.Equal(PmdState.None, space.GetPmd(0x7f0000000000).State);
    }

    [SkippableTheory]
    [InlineData("55a45ed4f000 r--p 00000000 08:01 1311 /x", 2, "start-end")]
    [InlineData("55a45ed4f000-55a45ed4e000 r--p 00000000 08:01 1311 /x", 2, "non-empty page-aligned range")]
    [InlineData("55a45ed4f000-55a45ed50000 rwzp 00000000 08:01 1311 /x", 2, "permissions")]
    [InlineData("55a45ed4f000-55a45ed50000 r--p 0000zz00 08:01 1311 /x", 2, "hexadecimal offset")]
    [InlineData("55a45ed4f000-55a45ed50000 r--p 00000000 0801 1311 /x", 2, "major:minor")]
    [InlineData("55a45ed4f000-55a45ed50000 r--p 00000000 08:01 x11 /x", 2, "decimal inode")]
    [InlineData("10000-11000 r--p 00000000 08:01 1 /x", 2, "ascending order")]
    public void Parse_BadLine_ErrorNamesLine(string bad, long line, string expected)
    {
        string text = "20000-21000 r--p 00000000 08:01 1 /ok\n" + bad + "\n";

        var ex = Assert.Throws<TraceFormatException>(() => MapsSnapshot.Parse(new StringReader(text), sourceName: "maps.txt"));

        Assert.Equal("maps.txt", ex.Record.File);
        Assert.Equal(line, ex.Record.Position);
        Assert.Equal("line", ex.Record.PositionKind);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }
}
