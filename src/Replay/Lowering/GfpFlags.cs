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
/// </summary>
/// <param name="HighUser">GFP_HIGHUSER(_MOVABLE): a user data page.</param>
/// <param name="Zero">__GFP_ZERO.</param>
/// <param name="Kernel">GFP_KERNEL(_ACCOUNT) and not a user page: a page-table or other kernel page.</param>
/// <param name="TransHuge">GFP_TRANSHUGE(_LIGHT): a THP allocation (khugepaged, MADV_COLLAPSE, THP faults).</param>
internal readonly record struct GfpFlags(bool HighUser, bool Zero, bool Kernel, bool TransHuge)
{
    // Zone bits (unchanged since 2.6) and the 4.15+ positions of the others.
    private const ulong HighMem = 0x2, Movable = 0x8, Io = 0x40, Fs = 0x80, ZeroBit = 0x100, DirectReclaim = 0x400,
        KswapdReclaim = 0x800, Hardwall = 0x100000;
    private const ulong GfpKernel = DirectReclaim | KswapdReclaim | Io | Fs;

    /// <summary>Reads the field's text (empty when the event has none: nothing is set).</summary>
    public static GfpFlags Parse(string text)
    {
        if (text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            && ulong.TryParse(text.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong bits))
        {
            // GFP_TRANSHUGE_LIGHT is GFP_HIGHUSER_MOVABLE without the reclaim bits (GFP_TRANSHUGE adds direct reclaim
            // back): a movable user allocation that does not wake kswapd. GFP_HIGHUSER needs all of GFP_KERNEL's bits.
            bool userZone = (bits & HighMem) != 0;
            bool transHuge = userZone && (bits & Movable) != 0 && (bits & KswapdReclaim) == 0;
            bool allKernelBits = (bits & GfpKernel) == GfpKernel;
            return new GfpFlags(
                HighUser: userZone && allKernelBits,
                Zero: (bits & ZeroBit) != 0,
                Kernel: !userZone && allKernelBits && (bits & Hardwall) == 0,
                TransHuge: transHuge);
        }
        return new GfpFlags(
            HighUser: text.Contains("HIGHUSER", StringComparison.Ordinal),
            Zero: text.Contains("__GFP_ZERO", StringComparison.Ordinal),
            Kernel: text.Contains("GFP_KERNEL", StringComparison.Ordinal) && !text.Contains("HIGHUSER", StringComparison.Ordinal),
            TransHuge: text.Contains("TRANSHUGE", StringComparison.Ordinal));
    }
}
