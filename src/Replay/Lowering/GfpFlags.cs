using System.Globalization;

namespace Pipeline.Replay.Lowering;

/// <summary>
/// What the lowering needs to know of an allocation's <c>gfp_flags</c>, read from either rendering of the field:
/// the symbolic one that the tracepoint's print format gives (<c>GFP_HIGHUSER_MOVABLE|__GFP_ZERO|__GFP_COMP</c>, what
/// ftrace text, <c>trace-cmd report</c>, perf script and our trace.dat reader print) or the raw number that
/// <c>trace-cmd report -R</c> and the ftrace <c>raw</c> option print (<c>0x140dca</c>). The symbolic reading looks for
/// the names the kernel's flag table prints first (it prints the first composite whose bits are all set:
/// GFP_TRANSHUGE, GFP_TRANSHUGE_LIGHT, GFP_HIGHUSER_MOVABLE, GFP_HIGHUSER, GFP_USER, GFP_KERNEL_ACCOUNT, GFP_KERNEL,
/// …); the numeric reading decides what that table would have printed, with the bit layout of kernels since 4.15
/// (docs/lowering.md, "gfp_flags as numbers").
/// Each property reads the text when it is asked: most allocations are decided before any flag is looked at (no
/// fault pending, order 0), and a page allocation is one of the commonest events.
/// </summary>
internal readonly struct GfpFlags
{
    // Zone bits (unchanged since 2.6) and the 4.15+ positions of the others.
    private const ulong HighMem = 0x2, Movable = 0x8, Io = 0x40, Fs = 0x80, ZeroBit = 0x100, DirectReclaim = 0x400,
        KswapdReclaim = 0x800, Hardwall = 0x100000;
    private const ulong GfpKernel = DirectReclaim | KswapdReclaim | Io | Fs;

    private readonly string? _text;

    private GfpFlags(string text) => _text = text;

    private string Text => _text ?? "";

    /// <summary>The field's text (empty when the event has none: nothing is set).</summary>
    public static GfpFlags Parse(string text) => new(text);

    /// <summary>GFP_HIGHUSER(_MOVABLE): a user data page (as a number: HIGHMEM with all of GFP_KERNEL's bits).</summary>
    public bool HighUser => Number(out ulong bits)
        ? (bits & HighMem) != 0 && (bits & GfpKernel) == GfpKernel
        : Text.Contains("HIGHUSER", StringComparison.Ordinal);

    /// <summary>__GFP_ZERO.</summary>
    public bool Zero => Number(out ulong bits) ? (bits & ZeroBit) != 0 : Text.Contains("__GFP_ZERO", StringComparison.Ordinal);

    /// <summary>
    /// GFP_KERNEL(_ACCOUNT) and not a user page: a page-table or other kernel page (as a number: GFP_KERNEL's bits, no
    /// HIGHMEM, and no HARDWALL, which would make it GFP_USER).
    /// </summary>
    public bool Kernel => Number(out ulong bits)
        ? (bits & HighMem) == 0 && (bits & GfpKernel) == GfpKernel && (bits & Hardwall) == 0
        : Text.Contains("GFP_KERNEL", StringComparison.Ordinal) && !Text.Contains("HIGHUSER", StringComparison.Ordinal);

    /// <summary>
    /// GFP_TRANSHUGE(_LIGHT): a THP allocation (khugepaged, MADV_COLLAPSE, THP faults). As a number: GFP_TRANSHUGE_LIGHT
    /// is GFP_HIGHUSER_MOVABLE without the reclaim bits (GFP_TRANSHUGE adds direct reclaim back), so a movable user
    /// allocation that does not wake kswapd.
    /// </summary>
    public bool TransHuge => Number(out ulong bits)
        ? (bits & (HighMem | Movable)) == (HighMem | Movable) && (bits & KswapdReclaim) == 0
        : Text.Contains("TRANSHUGE", StringComparison.Ordinal);

    private bool Number(out ulong bits)
    {
        bits = 0;
        return Text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            && ulong.TryParse(Text.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out bits);
    }
}
