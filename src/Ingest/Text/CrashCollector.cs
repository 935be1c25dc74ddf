using System.Globalization;
using System.Text.RegularExpressions;
using Pipeline.Storage;

namespace Pipeline.Ingest.Text;

/// <summary>
/// Reads kernel crash reports out of console lines (printk prefix already removed) into <see cref="CrashRecord"/>s:
/// the header (what kind of report, WARNING's file:line and function, KASAN's bug type), the task line
/// (<c>CPU: … PID: … Comm: … Tainted: … RELEASE #N</c>), <c>Hardware name:</c>, the kernel-mode <c>RIP:</c>, the page
/// dump of Bad page state / VM_BUG_ON_PAGE (<c>page:</c>, <c>flags:</c>, <c>page dumped because:</c>), page_owner and
/// KASAN allocation/free stacks, and the call trace with each frame's <c>?</c> marker.
/// </summary>
/// <remarks>
/// The formats are those of lib/bug.c, kernel/panic.c (<c>__warn</c>), lib/dump_stack.c, mm/debug.c (<c>dump_page</c>),
/// mm/page_owner.c, mm/kasan/report.c and mm/kfence/report.c, across the releases they changed in: the WARNING line
/// was <c>WARNING: CPU: N PID: P at FILE:LINE FUNC+off/size</c> and, in recent kernels, <c>WARNING: FILE:LINE at
/// FUNC+off/size, CPU#N: comm/pid</c>; frames are <c>[&lt;addr&gt;] f+off/size</c> (old x86), <c>f+off/size</c>, or
/// symbolized <c>f FILE:LINE [inline]</c> (syzbot). A page dump printed just before its BUG/WARNING header
/// (VM_BUG_ON_PAGE dumps first, then BUGs) is attached to that header when it follows within a few lines.
/// </remarks>
internal sealed partial class CrashCollector
{
    // A VM_BUG_ON_PAGE dump is followed by "cut here" and the BUG line; further away it is not the same report.
    private const int PendingPageLines = 12;

    private readonly string _fileName;
    private readonly IngestDiagnostics _diagnostics;
    private CrashRecord? _crash;
    private bool _sawTaskLine;
    private bool _ended;
    private List<CrashFrame>? _stack;
    private bool _stackIsMain;
    private bool _inTask;
    private bool _armChain;
    private PageDump? _page;
    private long _pageLine;
    private bool _pageBelongsToCrash;
    private long _lastHeaderLine = -2;

    public CrashCollector(string fileName, IngestDiagnostics diagnostics)
    {
        _fileName = fileName;
        _diagnostics = diagnostics;
    }

    /// <summary>The report being read, if any.</summary>
    public CrashRecord? Current => _crash;

    private static readonly byte[][] s_starts =
    [
        .. new[]
        {
            "BUG:", "kernel BUG", "WARNING:", "general protection", "Oops:", "Oops [#", "Unable to handle", "Internal error", "INFO:", "UBSAN:",
            "watchdog:", "NMI watchdog:", "rcu:", "kernel:", "page:", "head:", "anon flags:", "page dumped", "Linux version",
        }.Select(System.Text.Encoding.ASCII.GetBytes),
    ];

    /// <summary>
    /// Whether <see cref="Line"/> needs to see <paramref name="body"/>: every line inside a report or after a page dump,
    /// else only lines that can start one (so long logs are not decoded line by line for nothing).
    /// </summary>
    public bool Wants(ReadOnlySpan<byte> body)
    {
        if ((_crash is not null && !_ended) || _page is not null)
        {
            return true;
        }
        ReadOnlySpan<byte> t = body.TrimStart(" \t"u8);
        foreach (byte[] start in s_starts)
        {
            if (t.StartsWith(start))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Takes one console line.</summary>
    /// <param name="line">The line without printk prefix (leading spaces of frames kept).</param>
    /// <param name="tsNs">printk time, or null.</param>
    /// <param name="callerPid">The <c>[T123]</c> caller id, or 0.</param>
    /// <param name="callerCpu">The <c>[C2]</c> caller id, or -1.</param>
    /// <param name="lineNumber">1-based line.</param>
    /// <param name="quoteDepth">Mail quote depth.</param>
    /// <returns>Whether the line was a crash header.</returns>
    public bool Line(string line, long? tsNs, int callerPid, int callerCpu, long lineNumber, int quoteDepth)
    {
        string text = line.Trim();
        if (text.StartsWith("kernel: ", StringComparison.Ordinal))
        {
            // journalctl -k / syslog lines: "kernel: BUG: …".
            text = text[8..].TrimStart();
            line = " " + text;
        }
        if (text.Length == 0)
        {
            return false;
        }
        if (TryHeader(text, out string kind) && IsOopsContinuation(kind, text, lineNumber))
        {
            // "BUG: unable to handle …" is followed by "Oops: 0000 [#1] SMP": one report.
            Context(text);
            return false;
        }
        if (TryHeader(text, out kind))
        {
            if (_crash is not null && !_ended && _crash.Kind == kind && _lastHeaderLine == lineNumber - 1 && _crash.Title.StartsWith(TitleStem(text), StringComparison.Ordinal))
            {
                // syzbot symbolizes inlined frames and prints the header once per frame ("… in move_pgt_entry
                // mm/mremap.c:520 [inline]", then "… in move_page_tables+0x…"): one report, the first (innermost) name kept.
                _lastHeaderLine = lineNumber;
                return false;
            }
            _lastHeaderLine = lineNumber;
            Begin(kind, text, tsNs, callerPid, callerCpu, lineNumber, quoteDepth);
            return true;
        }
        if (_stack is not null && StackLine(line, text))
        {
            return false;
        }
        if (TryPageLine(text, lineNumber))
        {
            return false;
        }
        if (_crash is null)
        {
            if (text.StartsWith("Linux version ", StringComparison.Ordinal) && _diagnostics.KernelRelease is null)
            {
                int end = text.IndexOf(' ', 14);
                _diagnostics.KernelRelease = end < 0 ? text[14..] : text[14..end];
            }
            return false;
        }
        Context(text);
        return false;
    }

    // die()'s "Oops: …" line after the report that called it: "BUG: unable to handle …" then "Oops: 0000 [#1]"; "kernel BUG
    // at FILE:LINE!" then "Oops: invalid opcode: 0000 [#1]" (x86 since 6.10), "Internal error: Oops - BUG: …" (arm, arm64),
    // "Oops: Exception in kernel mode" (powerpc); riscv prints "Oops [#1]".
    private bool IsOopsContinuation(string kind, string text, long lineNumber) =>
        kind == "oops" && _crash is { } open && !_ended && lineNumber - open.Line <= 12
        && (open.Kind is "oops" or "general_protection_fault" || (open.Kind == "bug" && open.SourceFile is not null))
        && (text.StartsWith("Oops: ", StringComparison.Ordinal) || text.StartsWith("Internal error: Oops", StringComparison.Ordinal) || text.StartsWith("Oops [#", StringComparison.Ordinal));

    // "BUG: KASAN: slab-use-after-free in " of "BUG: KASAN: slab-use-after-free in move_pgt_entry …".
    // "WARNING: CPU: 2 PID: 6133 at mm/mremap.c:357 " of "WARNING: CPU: 2 PID: 6133 at mm/mremap.c:357 move_normal_pmd …".
    private static string TitleStem(string title)
    {
        if (title.StartsWith("WARNING: ", StringComparison.Ordinal))
        {
            int atFile = title.IndexOf(" at ", StringComparison.Ordinal);
            int end = atFile < 0 ? -1 : title.IndexOf(' ', atFile + 4);
            if (end > 0)
            {
                return title[..(end + 1)];
            }
        }
        int at = title.IndexOf(" in ", StringComparison.Ordinal);
        return at < 0 ? title : title[..(at + 4)];
    }

    /// <summary>Ends the last report.</summary>
    public void Finish() => Close();

    private void Begin(string kind, string title, long? tsNs, int callerPid, int callerCpu, long lineNumber, int quoteDepth)
    {
        Close();
        var crash = new CrashRecord
        {
            File = _fileName,
            Line = lineNumber,
            QuoteDepth = quoteDepth,
            Kind = kind,
            Title = title,
            PrintkTsNs = tsNs,
            Pid = callerPid > 0 ? callerPid : null,
            Cpu = callerCpu >= 0 ? callerCpu : null,
        };
        ParseHeader(crash, title);
        _crash = crash;
        _sawTaskLine = false;
        _ended = false;
        _stack = null;
        _inTask = false;
        _armChain = false;
        if (_page is { Applied: false } && lineNumber - _pageLine <= PendingPageLines)
        {
            _page.ApplyTo(crash);
        }
        else
        {
            _page = null;
        }
        _pageBelongsToCrash = false;
    }

    private void Close()
    {
        if (_crash is null)
        {
            return;
        }
        // A dump read for this report is applied already; one waiting for a header belongs to the next report.
        if (_page is { Applied: true })
        {
            _page = null;
        }
        if (_crash.KernelRelease is not null)
        {
            _diagnostics.KernelRelease ??= _crash.KernelRelease;
        }
        _diagnostics.Hardware ??= _crash.Hardware;
        _diagnostics.AddCrash(_crash);
        _crash = null;
        _stack = null;
    }

    // ---- headers -------------------------------------------------------------------------------------------

    private static bool TryHeader(string text, out string kind)
    {
        kind = "";
        string t = text.StartsWith("watchdog: ", StringComparison.Ordinal) ? text[10..] : text.StartsWith("NMI watchdog: ", StringComparison.Ordinal) ? text[14..] : text;
        if (t.StartsWith("rcu: ", StringComparison.Ordinal))
        {
            t = t[5..];
        }
        if (t.StartsWith("BUG: ", StringComparison.Ordinal))
        {
            string rest = t[5..];
            kind = rest switch
            {
                _ when rest.StartsWith("Bad page state", StringComparison.Ordinal) => "bad_page_state",
                _ when rest.StartsWith("Bad page map", StringComparison.Ordinal) => "bad_page_map",
                _ when rest.StartsWith("Bad rss-counter state", StringComparison.Ordinal) => "bad_rss_counter",
                _ when rest.StartsWith("KASAN: ", StringComparison.Ordinal) => "kasan",
                _ when rest.StartsWith("KFENCE: ", StringComparison.Ordinal) => "kfence",
                _ when rest.StartsWith("KMSAN: ", StringComparison.Ordinal) => "kmsan",
                _ when rest.StartsWith("KCSAN: ", StringComparison.Ordinal) => "kcsan",
                _ when rest.StartsWith("soft lockup", StringComparison.Ordinal) => "soft_lockup",
                _ when rest.StartsWith("workqueue lockup", StringComparison.Ordinal) => "workqueue_lockup",
                _ when rest.StartsWith("unable to handle", StringComparison.Ordinal) => "oops",
                _ when rest.StartsWith("kernel NULL pointer dereference", StringComparison.Ordinal) => "oops",
                _ when rest.StartsWith("memory leak", StringComparison.Ordinal) => "memory_leak",
                _ when rest.StartsWith("MAX_LOCK", StringComparison.Ordinal) || rest.StartsWith("key ", StringComparison.Ordinal)
                    || rest.StartsWith("looking up invalid subclass", StringComparison.Ordinal) => "lockdep",
                _ => "bug",
            };
            return true;
        }
        if (t.StartsWith("kernel BUG at ", StringComparison.Ordinal))
        {
            kind = "bug";
            return true;
        }
        if (t.StartsWith("WARNING: ", StringComparison.Ordinal))
        {
            kind = IsLockdep(t[9..]) ? "lockdep" : "warning";
            return true;
        }
        if (t.StartsWith("general protection fault", StringComparison.Ordinal) || t.StartsWith("Oops: general protection fault", StringComparison.Ordinal))
        {
            kind = "general_protection_fault";
            return true;
        }
        if (t.StartsWith("Oops: ", StringComparison.Ordinal) || t.StartsWith("Oops [#", StringComparison.Ordinal) || t.StartsWith("Unable to handle kernel ", StringComparison.Ordinal)
            || t.StartsWith("Internal error: Oops", StringComparison.Ordinal))
        {
            kind = "oops";
            return true;
        }
        if (t.StartsWith("INFO: ", StringComparison.Ordinal))
        {
            string rest = t[6..];
            // "blocked for more than N seconds", and since 6.x "blocked in I/O wait for more than N seconds".
            if (rest.StartsWith("task ", StringComparison.Ordinal) && (rest.Contains(" blocked for more than ", StringComparison.Ordinal) || rest.Contains(" blocked in I/O wait for more than ", StringComparison.Ordinal)))
            {
                kind = "hung_task";
                return true;
            }
            if (rest.StartsWith("rcu", StringComparison.Ordinal) && rest.Contains("stall", StringComparison.Ordinal))
            {
                kind = "rcu_stall";
                return true;
            }
            if (rest.StartsWith("trying to register non-static key", StringComparison.Ordinal) || rest.StartsWith("possible circular", StringComparison.Ordinal)
                || rest.StartsWith("inconsistent lock state", StringComparison.Ordinal))
            {
                kind = "lockdep";
                return true;
            }
            return false;
        }
        if (t.StartsWith("UBSAN: ", StringComparison.Ordinal))
        {
            kind = "ubsan";
            return true;
        }
        return false;
    }

    private static bool IsLockdep(string rest) =>
        rest.StartsWith("possible ", StringComparison.Ordinal) || rest.StartsWith("inconsistent lock state", StringComparison.Ordinal)
        || rest.StartsWith("suspicious RCU usage", StringComparison.Ordinal) || rest.StartsWith("bad unlock balance", StringComparison.Ordinal)
        || rest.StartsWith("lock held", StringComparison.Ordinal) || rest.StartsWith("held lock freed", StringComparison.Ordinal)
        || rest.StartsWith("nested lock", StringComparison.Ordinal) || rest.StartsWith("locking", StringComparison.Ordinal)
        || rest.Contains("-safe -> ", StringComparison.Ordinal) || rest.StartsWith("chain_key collision", StringComparison.Ordinal)
        || rest.StartsWith("lock(", StringComparison.Ordinal) || rest.StartsWith("Nested lock", StringComparison.Ordinal);

    private static void ParseHeader(CrashRecord crash, string title)
    {
        Match m;
        if ((m = WarnClassic().Match(title)).Success || (m = WarnNew().Match(title)).Success)
        {
            if (m.Groups["cpu"].Success)
            {
                crash.Cpu = Int(m.Groups["cpu"].Value);
            }
            if (m.Groups["pid"].Success)
            {
                crash.Pid = Int(m.Groups["pid"].Value);
            }
            if (m.Groups["comm"].Success)
            {
                crash.Comm = m.Groups["comm"].Value;
            }
            crash.SourceFile = m.Groups["file"].Value;
            crash.SourceLine = Int(m.Groups["line"].Value);
            if (m.Groups["func"].Success)
            {
                // A mail may wrap the line after FILE:LINE; the RIP line still names the function.
                SetFunction(crash, m.Groups["func"].Value);
            }
            return;
        }
        if ((m = KernelBugAt().Match(title)).Success)
        {
            crash.SourceFile = m.Groups["file"].Value.StartsWith("./", StringComparison.Ordinal) ? m.Groups["file"].Value[2..] : m.Groups["file"].Value;
            crash.SourceLine = Int(m.Groups["line"].Value);
            return;
        }
        if ((m = Sanitizer().Match(title)).Success)
        {
            crash.SanitizerKind = m.Groups["what"].Value;
            if (m.Groups["access"].Success)
            {
                crash.Access = m.Groups["access"].Value;
            }
            SetFunction(crash, m.Groups["func"].Value);
            if (m.Groups["addr"].Success)
            {
                crash.AccessAddress = Hex(m.Groups["addr"].Value);
            }
            return;
        }
        if ((m = BadPage().Match(title)).Success)
        {
            crash.Comm = m.Groups["comm"].Value;
            crash.PagePfn = Hex(m.Groups["pfn"].Value);
            return;
        }
        if ((m = SoftLockup().Match(title)).Success)
        {
            crash.Cpu = Int(m.Groups["cpu"].Value);
            crash.Comm = m.Groups["comm"].Value;
            crash.Pid = Int(m.Groups["pid"].Value);
            return;
        }
        if ((m = HungTask().Match(title)).Success)
        {
            crash.Comm = m.Groups["comm"].Value;
            crash.Pid = Int(m.Groups["pid"].Value);
            return;
        }
        if ((m = FaultAddress().Match(title)).Success)
        {
            crash.FaultAddress = Hex(m.Groups["addr"].Value);
            return;
        }
        if ((m = UbsanAt().Match(title)).Success)
        {
            crash.SourceFile = m.Groups["file"].Value;
            crash.SourceLine = Int(m.Groups["line"].Value);
        }
    }

    private static void SetFunction(CrashRecord crash, string func)
    {
        int plus = func.IndexOf('+', StringComparison.Ordinal);
        if (plus < 0)
        {
            crash.Function = func;
            return;
        }
        crash.Function = func[..plus];
        string rest = func[(plus + 1)..];
        int slash = rest.IndexOf('/', StringComparison.Ordinal);
        crash.FunctionOffset = slash < 0 ? rest : rest[..slash];
        crash.FunctionSize = slash < 0 ? null : rest[(slash + 1)..];
    }

    // ---- lines inside a report -----------------------------------------------------------------------------

    private void Context(string text)
    {
        CrashRecord crash = _crash!;
        // "Kernel panic - not syncing: panic_on_warn set ..." comes before the WARNING's own stack (panic() dumps it).
        if (text.StartsWith("---[ end trace", StringComparison.Ordinal)
            || (text.StartsWith("Kernel panic - not syncing", StringComparison.Ordinal) && !text.Contains("panic_on_warn set", StringComparison.Ordinal))
            || (text.StartsWith("==================================================================", StringComparison.Ordinal) && crash.Frames.Count > 0))
        {
            _ended = true;
            _stack = null;
            return;
        }
        if (_ended)
        {
            return;
        }
        Match m;
        if (!_sawTaskLine && text.StartsWith("CPU: ", StringComparison.Ordinal) && (m = TaskLine().Match(text)).Success)
        {
            _sawTaskLine = true;
            crash.Cpu = Int(m.Groups["cpu"].Value);
            if (m.Groups["pid"].Success)
            {
                crash.Pid = Int(m.Groups["pid"].Value);
            }
            if (m.Groups["comm"].Success)
            {
                crash.Comm = m.Groups["comm"].Value;
            }
            crash.Taint = m.Groups["taint"].Success ? m.Groups["taint"].Value.Replace(" ", "", StringComparison.Ordinal) : "";
            crash.KernelRelease = m.Groups["release"].Value;
            return;
        }
        if (text.StartsWith("Hardware name: ", StringComparison.Ordinal))
        {
            crash.Hardware ??= text[15..].Trim();
            return;
        }
        if (crash.RipSymbol is null && (m = Rip().Match(text)).Success)
        {
            crash.RipSymbol = m.Groups["sym"].Value;
            crash.RipOffset = m.Groups["off"].Success ? m.Groups["off"].Value : null;
            crash.RipSize = m.Groups["size"].Success ? m.Groups["size"].Value : null;
            return;
        }
        if (crash.Frames.Count == 0 && _stack is null && ArmFrame().Match(text) is { Success: true } arm)
        {
            // 32-bit arm prints its unwind right after the task and hardware lines, without a "Call trace:" line.
            _stack = crash.Frames;
            _stackIsMain = true;
            _inTask = false;
            AddArmFrame(_stack, arm);
            return;
        }
        if (text is "Call Trace:" or "Call trace:" or "Backtrace:" || text.StartsWith("Call Trace:", StringComparison.Ordinal))
        {
            bool main = crash.Frames.Count == 0;
            _stack = main ? crash.Frames : [];
            _stackIsMain = main;
            _inTask = false;
            return;
        }
        if ((m = Access().Match(text)).Success)
        {
            crash.Access ??= m.Groups["access"].Value.ToLowerInvariant();
            crash.AccessSize ??= Int(m.Groups["size"].Value);
            if (m.Groups["addr"].Success)
            {
                crash.AccessAddress ??= Hex(m.Groups["addr"].Value);
            }
            if (m.Groups["comm"].Success)
            {
                crash.Comm ??= m.Groups["comm"].Value;
                crash.Pid ??= Int(m.Groups["pid"].Value);
            }
            return;
        }
        if ((m = KasanRange().Match(text)).Success)
        {
            // "KASAN: null-ptr-deref in range [0x…20-0x…27]" annotates a general protection fault.
            crash.SanitizerKind ??= m.Groups["what"].Value;
            crash.AccessAddress ??= Hex(m.Groups["addr"].Value);
            return;
        }
        if (crash.FaultAddress is null && (m = FaultAddress().Match(text)).Success)
        {
            crash.FaultAddress = Hex(m.Groups["addr"].Value);
            return;
        }
        if ((m = AllocatedBy().Match(text)).Success)
        {
            crash.AllocPid ??= Int(m.Groups["pid"].Value);
            _stack = crash.AllocStack.Count == 0 ? crash.AllocStack : [];
            _stackIsMain = false;
            return;
        }
        if ((m = FreedBy().Match(text)).Success)
        {
            crash.FreePid ??= Int(m.Groups["pid"].Value);
            _stack = crash.FreeStack.Count == 0 ? crash.FreeStack : [];
            _stackIsMain = false;
            return;
        }
        if (text.StartsWith("The buggy address belongs to the", StringComparison.Ordinal) && text.Contains("page", StringComparison.Ordinal))
        {
            // KASAN describes the page after its stacks: the next page dump is this report's.
            _pageBelongsToCrash = true;
        }
    }

    // A frame, a stack marker, or a register dump of the user part inside <TASK>: true when consumed.
    private bool StackLine(string raw, string text)
    {
        if (text is "<TASK>" or "<IRQ>" or "<NMI>" or "</IRQ>" or "</NMI>" or "<EOI>" or "<#DF>")
        {
            _inTask |= text == "<TASK>";
            return true;
        }
        if (text == "</TASK>")
        {
            _stack = null;
            _inTask = false;
            return true;
        }
        // A frame is indented by dump_stack; a paste that lost the indentation still has the "+0x…/0x…" of a frame.
        bool indented = raw.Length > 0 && (raw[0] == ' ' || raw[0] == '\t');
        if (Frame().Match(text) is { Success: true } m && (m.Groups["off"].Success || m.Groups["psrc"].Success || (m.Groups["src"].Success && (indented || !_stackIsMain))))
        {
            string symbol = m.Groups["sym"].Value;
            _stack!.Add(new CrashFrame(m.Groups["off"].Success ? symbol + m.Groups["off"].Value : symbol, m.Groups["q"].Success || m.Groups["q2"].Success || m.Groups["u"].Success));
            _armChain = false;
            return true;
        }
        if (InlinedFrame().Match(text) is { Success: true } inlined)
        {
            // "[<     inlined    >] dump_stack+0x63/0x81 __dump_stack lib/dump_stack.c:15": __dump_stack, inlined in dump_stack.
            _stack!.Add(new CrashFrame(inlined.Groups["sym"].Value, inlined.Groups["q"].Success));
            _armChain = false;
            return true;
        }
        if (ArmFrame().Match(text) is { Success: true } arm)
        {
            AddArmFrame(_stack!, arm);
            return true;
        }
        if (_armChain && ArmRegisters().IsMatch(text))
        {
            // "r7:600e0013 r6:c08f8ab8 …" printed between the frames of an arm frame-pointer unwind.
            return true;
        }
        if (_inTask)
        {
            // "RIP: 0033:…", "RSP: …", "RAX: …" of the user part between <TASK> and </TASK>.
            return true;
        }
        if (_stackIsMain && InTraceRegisters().IsMatch(text))
        {
            // Before 4.16, x86 printed the exception frame's registers inside the call trace when the report was
            // printed from the trap (panic_on_warn): the frames below the RIP line continue the same trace. The line
            // still goes to the report's fields (RIP).
            return false;
        }
        _stack = null;
        _armChain = false;
        return false;
    }

    // "[<8010fb3c>] (unwind_backtrace) from [<8010c058>] (show_stack+0x20/0x24)": unwind_backtrace, called from
    // show_stack+0x20. The caller of one line is the callee of the next, so a chain adds its first callee, then callers.
    private void AddArmFrame(List<CrashFrame> stack, Match arm)
    {
        if (!_armChain || stack.Count == 0)
        {
            stack.Add(new CrashFrame(arm.Groups["sym"].Value + arm.Groups["off"].Value, false));
        }
        stack.Add(new CrashFrame(arm.Groups["csym"].Value + arm.Groups["coff"].Value, false));
        _armChain = true;
    }

    private bool TryPageLine(string text, long lineNumber)
    {
        bool open = _crash is not null && !_ended;
        if (text.StartsWith("page:", StringComparison.Ordinal) && PageFields().IsMatch(text))
        {
            // A Bad page state report's own dump, a KASAN report's page, or a dump printed before the next header.
            bool mine = open && (_crash!.Kind is "bad_page_state" or "bad_page_map" || _pageBelongsToCrash) && _crash.PageRefcount is null && _crash.PageMapcount is null;
            _page = new PageDump();
            _pageLine = lineNumber;
            foreach (Match f in PageFields().Matches(text))
            {
                _page.Set(f.Groups["k"].Value, f.Groups["v"].Value);
            }
            if (mine)
            {
                _page.ApplyTo(_crash!);
                _page.Applied = true;
            }
            _stack = null;
            return true;
        }
        if (_page is null && !open && (text.StartsWith("page dumped because: ", StringComparison.Ordinal) || text.StartsWith("anon flags: ", StringComparison.Ordinal)
            || (text.StartsWith("head:", StringComparison.Ordinal) && text.Contains("order:", StringComparison.Ordinal))))
        {
            // A dump whose "page:" line was cut (a mail quoting from the middle): still the next header's page.
            _page = new PageDump();
            _pageLine = lineNumber;
        }
        if (_page is null)
        {
            return false;
        }
        if (text.StartsWith("flags: ", StringComparison.Ordinal) || text.StartsWith("anon flags: ", StringComparison.Ordinal) || text.StartsWith("file flags: ", StringComparison.Ordinal))
        {
            Match m = FlagsLine().Match(text);
            if (m.Success)
            {
                _page.FlagsRaw ??= m.Groups["raw"].Value;
                _page.Flags ??= m.Groups["names"].Success ? m.Groups["names"].Value : "";
            }
            Reapply();
            return true;
        }
        if (text.StartsWith("head: ", StringComparison.Ordinal) || text.StartsWith("raw: ", StringComparison.Ordinal) || text.StartsWith("memcg:", StringComparison.Ordinal)
            || text.StartsWith("aops:", StringComparison.Ordinal) || text.StartsWith("page_type:", StringComparison.Ordinal)
            || text.StartsWith("page_owner tracks", StringComparison.Ordinal) || text.StartsWith("page_owner info is not", StringComparison.Ordinal))
        {
            return true;
        }
        if (text.StartsWith("page dumped because: ", StringComparison.Ordinal))
        {
            _page.Because = _page.Because is null ? text[21..].Trim() : text[21..].Trim() + "; " + _page.Because;
            Reapply();
            return true;
        }
        if (text.StartsWith("bad because of flags: ", StringComparison.Ordinal))
        {
            // Kernels before 4.6 name the offending flags on their own line ("bad because of flags: 0x200000(mlocked)").
            _page.Because = _page.Because is null ? text : _page.Because + "; " + text;
            Reapply();
            return true;
        }
        if ((text.StartsWith("page last allocated", StringComparison.Ordinal) || text.StartsWith("page_owner info", StringComparison.Ordinal)) && _crash is not null && _page.Applied)
        {
            Match m = OwnerPid().Match(text);
            if (m.Success)
            {
                _crash.AllocPid ??= Int(m.Groups["pid"].Value);
            }
            _stack = _crash.AllocStack;
            _stackIsMain = false;
            _inTask = false;
            return true;
        }
        if (text.StartsWith("page last free", StringComparison.Ordinal) && _crash is not null && _page.Applied)
        {
            Match m = OwnerPid().Match(text);
            if (m.Success)
            {
                _crash.FreePid ??= Int(m.Groups["pid"].Value);
            }
            _stack = _crash.FreeStack;
            _stackIsMain = false;
            _inTask = false;
            return true;
        }
        return false;
    }

    private void Reapply()
    {
        if (_page is { Applied: true } && _crash is not null)
        {
            _page.ApplyTo(_crash);
        }
    }

    // A corrupted report prints numbers no field can hold ("Allocated by task 3625515936:" from a damaged stack depot
    // entry): the field stays empty rather than the read failing.
    private static int? Int(string digits) => int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out int value) ? value : null;

    private static ulong? Hex(string text)
    {
        string t = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? text[2..] : text;
        return ulong.TryParse(t, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong v) ? v : null;
    }

    /// <summary>A dump_page() output being read.</summary>
    private sealed class PageDump
    {
        public bool Applied { get; set; }
        public ulong? Pfn { get; set; }
        public long? Refcount { get; set; }
        public long? Mapcount { get; set; }
        public string? Mapping { get; set; }
        public string? Index { get; set; }
        public string? Flags { get; set; }
        public string? FlagsRaw { get; set; }
        public string? Because { get; set; }

        public void Set(string key, string value)
        {
            switch (key)
            {
                case "pfn":
                    Pfn = Hex(value);
                    break;
                case "refcount":
                case "count":
                    Refcount = long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long r) ? r : null;
                    break;
                case "mapcount":
                    Mapcount = long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long c) ? c : null;
                    break;
                case "mapping":
                    Mapping = value;
                    break;
                case "index":
                    Index = value;
                    break;
                default:
                    break;
            }
        }

        public void ApplyTo(CrashRecord crash)
        {
            Applied = true;
            crash.PagePfn = Pfn ?? crash.PagePfn;
            crash.PageRefcount = Refcount ?? crash.PageRefcount;
            crash.PageMapcount = Mapcount ?? crash.PageMapcount;
            crash.PageMapping = Mapping ?? crash.PageMapping;
            crash.PageIndex = Index ?? crash.PageIndex;
            crash.PageFlags = Flags ?? crash.PageFlags;
            crash.PageFlagsRaw = FlagsRaw ?? crash.PageFlagsRaw;
            crash.PageDumpedBecause = Because ?? crash.PageDumpedBecause;
        }
    }

    [GeneratedRegex(@"^WARNING: (?:CPU: (?<cpu>\d+) (?:UID: \d+ )?PID: (?<pid>\d+) )?at (?<file>[\w./+-]+):(?<line>\d+)(?: (?<func>[\w.$]+(?:\+0x[0-9a-f]+/0x[0-9a-f]+)?))?")]
    private static partial Regex WarnClassic();

    [GeneratedRegex(@"^WARNING: (?<file>[\w./+-]+):(?<line>\d+) at (?<func>[\w.$]+(?:\+0x[0-9a-f]+/0x[0-9a-f]+)?)(?:, CPU#(?<cpu>\d+): (?<comm>.+)/(?<pid>\d+))?")]
    private static partial Regex WarnNew();

    [GeneratedRegex(@"kernel BUG at (?<file>[\w./+-]+):(?<line>\d+)!")]
    private static partial Regex KernelBugAt();

    [GeneratedRegex(@"^BUG: K[A-Z]+SAN: (?<what>[\w-]+(?: [\w-]+)*?)(?: (?<access>read|write))? in (?<func>[\w.$]+(?:\+0x[0-9a-f]+/0x[0-9a-f]+)?)(?: at addr (?<addr>[0-9a-fx]+))?")]
    private static partial Regex Sanitizer();

    [GeneratedRegex(@"^BUG: Bad page (?:state|map) in process (?<comm>.+?)\s+pfn:(?<pfn>[0-9a-fx]+)")]
    private static partial Regex BadPage();

    [GeneratedRegex(@"soft lockup - CPU#(?<cpu>\d+) stuck for \d+s! \[(?<comm>.+):(?<pid>\d+)\]")]
    private static partial Regex SoftLockup();

    [GeneratedRegex(@"^INFO: task (?<comm>.+):(?<pid>\d+) blocked")]
    private static partial Regex HungTask();

    [GeneratedRegex(@"(?:address:? |at (?:virtual address )?|non-canonical address )(?<addr>(?:0x)?[0-9a-f]{8,16})\b")]
    private static partial Regex FaultAddress();

    [GeneratedRegex(@"^UBSAN: .* in (?<file>[\w./+-]+):(?<line>\d+)")]
    private static partial Regex UbsanAt();

    [GeneratedRegex(@"^CPU: (?<cpu>\d+)(?: UID: \d+)?(?: PID: (?<pid>\d+))?(?: Comm: (?<comm>\S+))?\s+(?:Not tainted|Tainted: (?<taint>[A-Z ]+?))\s+(?<release>\d+\.\d+\S*)")]
    private static partial Regex TaskLine();

    // "RIP: 0010:func+0x1/0x2", old x86 "RIP: 0010:[<addr>]  [<addr>] func+0x1/0x2", decode_stacktrace.sh's
    // "RIP: func (mm/memory.c:2856 …)", arm64 "pc : func+0x1/0x2", arm "PC is at func+0x1/0x2".
    [GeneratedRegex(@"^(?:RIP: (?:(?:00)?10:)?|EIP: (?:0060:)?|IP: |NIP:? +|pc ?: |PC is at )(?:\[<[0-9a-f]+>\] *)*(?<sym>[A-Za-z_.$][\w.$]*)(?:\+(?<off>0x[0-9a-f]+)/(?<size>0x[0-9a-f]+)| \([\w./+-]+:\d+)")]
    private static partial Regex Rip();

    [GeneratedRegex(@"^(?<access>Read|Write|READ|WRITE) of size (?<size>\d+)(?: at addr (?<addr>[0-9a-f]+))?(?: by task (?<comm>.+)/(?<pid>\d+))?")]
    private static partial Regex Access();

    [GeneratedRegex(@"^KASAN: (?<what>[\w-]+(?:-[\w]+)*|maybe wild-memory-access) in range \[(?<addr>0x[0-9a-f]+)-")]
    private static partial Regex KasanRange();

    [GeneratedRegex(@"^(?:Allocated by task (?<pid>\d+)|kfence-#\d+: .*allocated by task (?<pid>\d+))")]
    private static partial Regex AllocatedBy();

    [GeneratedRegex(@"^(?:Freed by task (?<pid>\d+)|freed by task (?<pid>\d+))")]
    private static partial Regex FreedBy();

    [GeneratedRegex(@"\bpid (?<pid>\d+)")]
    private static partial Regex OwnerPid();

    [GeneratedRegex(@"\b(?<k>refcount|count|mapcount|mapping|index|pfn):(?<v>[-\w]+)")]
    private static partial Regex PageFields();

    [GeneratedRegex(@"flags: (?<raw>0x[0-9a-f]+)(?:\((?<names>[^)]*)\))?")]
    private static partial Regex FlagsLine();

    [GeneratedRegex(@"^(?<q>\? )?(?:\[<[0-9a-f]+>\] ?)?(?<q2>\? )?(?<sym>[A-Za-z_.$][\w.$]*)(?<off>\+0x[0-9a-f]+/0x[0-9a-f]+)?(?: \[[\w-]+\])?(?: (?<src>[\w./+-]+:\d+(?::\d+)?)| \((?<psrc>[\w./+-]+:\d+(?:[ \w./+:-]|\(discriminator \d+\))*)\))?(?: \[inline\])?(?: \[[\w-]+\])?(?<u> \(unreliable\))?(?: \([A-Z]\))?$")]
    private static partial Regex Frame();

    [GeneratedRegex(@"^(?:RIP: 0010:|EIP: 0060:|RSP: 0018:|E?[ABCD]X: |R(?:AX|BX|CX|DX|SI|DI|BP|\d{1,2}): )")]
    private static partial Regex InTraceRegisters();

    [GeneratedRegex(@"^\[<\s*inlined\s*>\] (?<q>\? )?[A-Za-z_.$][\w.$]*\+0x[0-9a-f]+/0x[0-9a-f]+ (?<sym>[A-Za-z_.$][\w.$]*) [\w./+-]+:\d+$")]
    private static partial Regex InlinedFrame();

    [GeneratedRegex(@"^\[<[0-9a-f]+>\] \((?<sym>[A-Za-z_.$][\w.$]*)(?<off>\+0x[0-9a-f]+/0x[0-9a-f]+)?(?: \[[\w-]+\])?\) from \[<[0-9a-f]+>\] \((?<csym>[A-Za-z_.$][\w.$]*)(?<coff>\+0x[0-9a-f]+/0x[0-9a-f]+)?(?: \[[\w-]+\])?\)$")]
    private static partial Regex ArmFrame();

    [GeneratedRegex(@"^(?:r\d+|fp|ip|sp|lr|pc): ?[0-9a-f]{8}(?: +(?:r\d+|fp|ip|sp|lr|pc): ?[0-9a-f]{8})*$")]
    private static partial Regex ArmRegisters();
}
