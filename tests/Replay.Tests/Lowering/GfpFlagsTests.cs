using Pipeline.Replay.Lowering;

namespace Pipeline.Replay.Tests.Lowering;

/// <summary>gfp_flags read from the print format's symbols and from the raw number mean the same to the lowering.</summary>
public sealed class GfpFlagsTests
{
    /// <summary>
    /// Every pair a 6.18 recording gave (mm_v7_zstd_full.dat as <c>trace-cmd report</c> and <c>report -R</c>
    /// printed the same mm_page_alloc events): the symbolic and the numeric reading must agree.
    /// </summary>
    [SkippableTheory]
    [InlineData("GFP_HIGHUSER_MOVABLE|__GFP_ZERO|__GFP_COMP", "0x140dca", true, true, false, false)]
    [InlineData("GFP_KERNEL_ACCOUNT|__GFP_ZERO|__GFP_COMP", "0x440dc0", false, true, true, false)]
    [InlineData("GFP_HIGHUSER_MOVABLE|__GFP_COMP", "0x140cca", true, false, false, false)]
    [InlineData("GFP_NOWAIT", "0x2800", false, false, false, false)]
    [InlineData("GFP_HIGHUSER_MOVABLE|__GFP_WRITE|__GFP_COMP", "0x141cca", true, false, false, false)]
    [InlineData("GFP_TRANSHUGE", "0x1c24ca", false, false, false, true)]
    public void Parse_SymbolsAndTheRawNumber_Agree(string symbolic, string raw, bool highUser, bool zero, bool kernel, bool transHuge)
    {
        var expected = (highUser, zero, kernel, transHuge);

        Assert.Equal(expected, Read(GfpFlags.Parse(symbolic)));
        Assert.Equal(expected, Read(GfpFlags.Parse(raw)));
    }

    /// <summary>Composites the recording did not print, with their bits on 6.x: each reads as its name does.</summary>
    [SkippableTheory]
    [InlineData("GFP_USER", "0x100cc0")]
    [InlineData("GFP_TRANSHUGE_LIGHT", "0x1c20ca")]
    [InlineData("GFP_KERNEL", "0xcc0")]
    [InlineData("GFP_HIGHUSER", "0x100cc2")]
    [InlineData("GFP_ATOMIC", "0x820")]
    public void Parse_OtherComposites_ReadAsTheirNames(string symbolic, string raw)
    {
        Assert.Equal(Read(GfpFlags.Parse(symbolic)), Read(GfpFlags.Parse(raw)));
    }

    [SkippableFact]
    public void Parse_NoField_SaysNothing()
    {
        Assert.Equal(default, Read(GfpFlags.Parse("")));
    }

    private static (bool HighUser, bool Zero, bool Kernel, bool TransHuge) Read(GfpFlags flags) =>
        (flags.HighUser, flags.Zero, flags.Kernel, flags.TransHuge);
}
