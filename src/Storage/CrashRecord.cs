namespace Pipeline.Storage;

/// <summary>
/// One kernel crash report (a WARNING, BUG, Oops, KASAN report, Bad page state, …) as a console log printed it,
/// with the fields a kernel developer reads first. Written to <c>crashes.parquet</c>; see docs/schema.md.
/// Every field is null when the report did not print it.
/// </summary>
public sealed class CrashRecord
{
    /// <summary>0-based position of the crash in its source.</summary>
    public int Index { get; set; }

    /// <summary>Source file the crash was read from.</summary>
    public string File { get; set; } = "";

    /// <summary>1-based line of the crash header in the source (after mail decoding).</summary>
    public long Line { get; set; }

    /// <summary>Mail quote depth of the header: 0 for the message's own text, 1 for <c>&gt;</c>, 2 for <c>&gt;&gt;</c>.</summary>
    public int QuoteDepth { get; set; }

    /// <summary>warning, bug, bad_page_state, general_protection_fault, oops, kasan, kfence, kmsan, ubsan, lockdep, rcu_stall, hung_task, soft_lockup, …</summary>
    public string Kind { get; set; } = "";

    /// <summary>The header line as printed (printk prefix removed).</summary>
    public string Title { get; set; } = "";

    /// <summary>printk time of the header in ns (the console's clock, not the ftrace dump's trace clock).</summary>
    public long? PrintkTsNs { get; set; }

    /// <summary>CPU that reported the crash.</summary>
    public int? Cpu { get; set; }

    /// <summary>Pid of the task that reported the crash.</summary>
    public int? Pid { get; set; }

    /// <summary>Task name.</summary>
    public string? Comm { get; set; }

    /// <summary>Taint flags as letters (<c>GBW</c>), empty for "Not tainted".</summary>
    public string? Taint { get; set; }

    /// <summary>Kernel release (<c>6.14.0-syzkaller-12456-gacc4d5ff0b61</c>).</summary>
    public string? KernelRelease { get; set; }

    /// <summary>The "Hardware name:" line.</summary>
    public string? Hardware { get; set; }

    /// <summary>Source file of a WARNING or <c>kernel BUG at</c> (<c>mm/mremap.c</c>).</summary>
    public string? SourceFile { get; set; }

    /// <summary>Line in <see cref="SourceFile"/>.</summary>
    public int? SourceLine { get; set; }

    /// <summary>Function the header names (WARNING's FUNC, KASAN's "in FUNC"), without offset.</summary>
    public string? Function { get; set; }

    /// <summary>Offset into <see cref="Function"/> (<c>0x6ef</c>).</summary>
    public string? FunctionOffset { get; set; }

    /// <summary>Size of <see cref="Function"/> (<c>0x720</c>).</summary>
    public string? FunctionSize { get; set; }

    /// <summary>Symbol of the kernel-mode RIP/EIP/pc line.</summary>
    public string? RipSymbol { get; set; }

    /// <summary>Offset of the RIP into <see cref="RipSymbol"/>.</summary>
    public string? RipOffset { get; set; }

    /// <summary>Size of <see cref="RipSymbol"/>.</summary>
    public string? RipSize { get; set; }

    /// <summary>KASAN/KFENCE/KMSAN bug type (use-after-free, slab-out-of-bounds, null-ptr-deref, …).</summary>
    public string? SanitizerKind { get; set; }

    /// <summary>read or write (KASAN, KFENCE).</summary>
    public string? Access { get; set; }

    /// <summary>Access size in bytes.</summary>
    public long? AccessSize { get; set; }

    /// <summary>Accessed address (KASAN's "at addr", the start of a null-ptr-deref range).</summary>
    public ulong? AccessAddress { get; set; }

    /// <summary>Faulting address of an Oops or general protection fault.</summary>
    public ulong? FaultAddress { get; set; }

    /// <summary>Page frame number of the page dumped (Bad page state, VM_BUG_ON_PAGE, KASAN's page).</summary>
    public ulong? PagePfn { get; set; }

    /// <summary>The dump's refcount.</summary>
    public long? PageRefcount { get; set; }

    /// <summary>The dump's mapcount.</summary>
    public long? PageMapcount { get; set; }

    /// <summary>The dump's mapping pointer as printed.</summary>
    public string? PageMapping { get; set; }

    /// <summary>The dump's index as printed.</summary>
    public string? PageIndex { get; set; }

    /// <summary>Flag names of the "flags:" line (<c>referenced|uptodate|mlocked</c>).</summary>
    public string? PageFlags { get; set; }

    /// <summary>Raw flags word of the "flags:" line.</summary>
    public string? PageFlagsRaw { get; set; }

    /// <summary>"page dumped because:" reason.</summary>
    public string? PageDumpedBecause { get; set; }

    /// <summary>Allocation stack (page_owner "page last allocated", KASAN "Allocated by task").</summary>
    public List<CrashFrame> AllocStack { get; } = [];

    /// <summary>Pid of the allocating task.</summary>
    public int? AllocPid { get; set; }

    /// <summary>Free stack (page_owner "page last free", KASAN "Freed by task").</summary>
    public List<CrashFrame> FreeStack { get; } = [];

    /// <summary>Pid of the freeing task.</summary>
    public int? FreePid { get; set; }

    /// <summary>The crash's own call trace, innermost first.</summary>
    public List<CrashFrame> Frames { get; } = [];
}

/// <summary>One call-trace frame.</summary>
/// <param name="Text">Symbol with offset/size as printed (<c>move_normal_pmd+0x3e5/0x450</c>), or the symbol of an inlined frame.</param>
/// <param name="Unreliable">The unwinder printed it with <c>?</c>: a stale return address found on the stack.</param>
public sealed record CrashFrame(string Text, bool Unreliable)
{
    /// <summary>The symbol alone.</summary>
    public string Symbol
    {
        get
        {
            int plus = Text.IndexOf('+', StringComparison.Ordinal);
            return plus < 0 ? Text : Text[..plus];
        }
    }
}
