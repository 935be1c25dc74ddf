using Pipeline.Ingest.Text;
using Pipeline.Storage;

namespace Pipeline.Ingest.Tests.Text;

public sealed class CrashRecordTests
{
    private const string Syzkaller = "public/syzkaller-report-testdata/";

    [CorpusFact]
    public void BadPageState_Report725_PageDumpAndPageOwnerStacks()
    {
        var (rows, diagnostics) = TextReading.ReadFile(new ConsoleLogReader(), Syzkaller + "725", strict: true);

        CrashRecord c = Assert.Single(diagnostics.Crashes);
        Assert.Equal(("bad_page_state", 3L, 1, 5098, "syz-executor209"), (c.Kind, c.Line, c.Cpu, c.Pid, c.Comm));
        Assert.Equal(("6.10.0-syzkaller-11185-g2c9b3512402e", "GB"), (c.KernelRelease, c.Taint));
        Assert.Equal("Google Google Compute Engine/Google Compute Engine, BIOS Google 06/27/2024", c.Hardware);
        Assert.Equal(65_499_023_000L, c.PrintkTsNs);
        Assert.Equal((0x7deeaUL, 0L, 0L, "0000000000000000", "0x2e"), (c.PagePfn!.Value, c.PageRefcount!.Value, c.PageMapcount!.Value, c.PageMapping, c.PageIndex));
        Assert.Equal("referenced|uptodate|private|node=0|zone=1|lastcpupid=0x7ff", c.PageFlags);
        Assert.Equal("0xfff0000000400c", c.PageFlagsRaw);
        Assert.Equal("PAGE_FLAGS_CHECK_AT_FREE flag(s) set", c.PageDumpedBecause);
        Assert.Equal((5096, 5083), (c.AllocPid, c.FreePid));
        Assert.Equal(16, c.AllocStack.Count);
        Assert.Equal("post_alloc_hook+0x1f3/0x230", c.AllocStack[0].Text);
        Assert.Equal("do_mkdirat+0x264/0x3a0", c.AllocStack[^1].Text);
        Assert.Equal(["free_unref_page", "__folio_put", "pipe_read", "vfs_read", "ksys_read", "do_syscall_64", "entry_SYSCALL_64_after_hwframe"], c.FreeStack.Select(f => f.Symbol));
        Assert.Equal(("dump_stack_lvl+0x241/0x360", false), (c.Frames[0].Text, c.Frames[0].Unreliable));
        Assert.Equal(("__pfx_dump_stack_lvl+0x10/0x10", true), (c.Frames[1].Text, c.Frames[1].Unreliable));
        Assert.Equal("bad_page", c.Frames[3].Symbol);
        // The event row carries the pfn the header prints, and says its ts_ns is printk time.
        EventRow row = Assert.Single(rows);
        Assert.True(EventSchema.TryGetField("pfn", out EventColumn? pfn));
        Assert.Equal(0x7deeaUL, row.GetUInt64(pfn.Ordinal));
        Assert.Equal("printk", row.FindField(ConsoleEvents.ClockArg));
        Assert.Equal("6.10.0-syzkaller-11185-g2c9b3512402e", diagnostics.KernelRelease);
        // meta.json names the machine too.
        Assert.Equal(c.Hardware, DatasetMeta.Create("t", diagnostics, new NoEvents(), []).Hardware);
    }

    [CorpusFact]
    public void GeneralProtectionFault_Report738_RipKasanRangeAndUnreliableFrames()
    {
        var (_, diagnostics) = TextReading.ReadFile(new ConsoleLogReader(), Syzkaller + "738", strict: true);

        CrashRecord c = Assert.Single(diagnostics.Crashes);
        Assert.Equal(("general_protection_fault", 1, 5827, "syz-executor187", ""), (c.Kind, c.Cpu, c.Pid, c.Comm, c.Taint));
        Assert.Equal("6.14.0-syzkaller-12456-gacc4d5ff0b61", c.KernelRelease);
        Assert.Equal(("__se_sys_mremap", "0x25fa", "0x2c00"), (c.RipSymbol, c.RipOffset, c.RipSize));
        Assert.Equal(("null-ptr-deref", 0x20UL), (c.SanitizerKind, c.AccessAddress!.Value));
        Assert.Equal(0xdffffc0000000004UL, c.FaultAddress);
        // "? __pfx___se_sys_mremap", … "? __x64_sys_mremap" are stale return addresses; do_syscall_64 is reliable.
        Assert.All(c.Frames.Take(8), f => Assert.True(f.Unreliable));
        Assert.Equal(("do_syscall_64+0xf3/0x230", false), (c.Frames[8].Text, c.Frames[8].Unreliable));
        Assert.Equal(11, c.Frames.Count);
    }

    [CorpusFact]
    public void KernelBug_Report576_FileLineRipAndWorkqueueTask()
    {
        var (_, diagnostics) = TextReading.ReadFile(new ConsoleLogReader(), Syzkaller + "576", strict: true);

        CrashRecord c = Assert.Single(diagnostics.Crashes);
        Assert.Equal(("bug", "mm/internal.h", 400, "rmap_walk_file", "kworker/u4:0"), (c.Kind, c.SourceFile, c.SourceLine, c.RipSymbol, c.Comm));
        Assert.Equal("5.10.0-rc6-syzkaller", c.KernelRelease);
        Assert.Equal(["rmap_walk", "page_mkclean"], c.Frames.Take(2).Select(f => f.Symbol));
    }

    [SkippableFact]
    public void Warning_ClassicAndNewHeaderFormats()
    {
        const string text = """
            [ 1000.000001] WARNING: CPU: 3 PID: 27091 at mm/mremap.c:211 move_page_tables+0x6ef/0x720
            [ 1000.000002] CPU: 3 PID: 27091 Comm: true Tainted: G        W         5.8.0-rc5 #1
            [ 1000.000003] RIP: 0010:move_page_tables+0x6ef/0x720
            [ 1000.000004] Call Trace:
            [ 1000.000005]  setup_arg_pages+0x3a1/0x500
            [ 1000.000006]  load_elf_binary+0x86f/0x1530
            [ 1000.000007] ---[ end trace 0000000000000002 ]---
            [ 2000.000001] WARNING: mm/mremap.c:357 at move_normal_pmd+0x3e5/0x450, CPU#0: syz.2.19/6127
            [ 2000.000002] Modules linked in:
            [ 2000.000003] CPU: 0 UID: 0 PID: 6127 Comm: syz.2.19 Not tainted 6.17.0-rc1-syzkaller #0 PREEMPT(full)
            """;

        var (rows, diagnostics) = TextReading.ReadText(new ConsoleLogReader(), text);

        Assert.Equal(2, rows.Count);
        CrashRecord old = diagnostics.Crashes[0];
        Assert.Equal(("warning", 3, 27091, "mm/mremap.c", 211), (old.Kind, old.Cpu, old.Pid, old.SourceFile, old.SourceLine));
        Assert.Equal(("move_page_tables", "0x6ef", "0x720"), (old.Function, old.FunctionOffset, old.FunctionSize));
        Assert.Equal(("GW", "5.8.0-rc5", "true"), (old.Taint, old.KernelRelease, old.Comm));
        Assert.Equal(["setup_arg_pages", "load_elf_binary"], old.Frames.Select(f => f.Symbol));
        CrashRecord recent = diagnostics.Crashes[1];
        Assert.Equal(("warning", 0, 6127, "syz.2.19", "mm/mremap.c", 357, "move_normal_pmd"), (recent.Kind, recent.Cpu, recent.Pid, recent.Comm, recent.SourceFile, recent.SourceLine, recent.Function));
        Assert.Equal("6.17.0-rc1-syzkaller", recent.KernelRelease);
        // meta.json's kernel_release is the first one printed.
        Assert.Equal("5.8.0-rc5", diagnostics.KernelRelease);
    }

    [SkippableFact]
    public void KasanReport_AccessAllocAndFreeStacksSymbolizedFrames()
    {
        const string text = """
            ==================================================================
            BUG: KASAN: slab-use-after-free in move_pgt_entry mm/mremap.c:520 [inline]
            BUG: KASAN: slab-use-after-free in move_page_tables+0x1b5e/0x1d10 mm/mremap.c:600
            Read of size 8 at addr ffff88802a1b3c40 by task syz.0.17/5931

            CPU: 1 UID: 0 PID: 5931 Comm: syz.0.17 Not tainted 6.11.0-rc2-syzkaller-00013-g1234 #0
            Call Trace:
             <TASK>
             __dump_stack lib/dump_stack.c:93 [inline]
             dump_stack_lvl+0x116/0x1f0 lib/dump_stack.c:119
             kasan_report+0xd9/0x110 mm/kasan/report.c:601
             move_page_tables+0x1b5e/0x1d10 mm/mremap.c:600
             </TASK>

            Allocated by task 5920:
             kasan_save_stack+0x33/0x60 mm/kasan/common.c:47
             pte_alloc_one+0x2c/0x40 arch/x86/mm/pgtable.c:33

            Freed by task 25:
             kasan_save_stack+0x33/0x60 mm/kasan/common.c:47
             pte_free_defer+0x12/0x40 mm/pgtable-generic.c:250
             retract_page_tables mm/khugepaged.c:1745 [inline]
             collapse_file+0x2f1/0x3a0 mm/khugepaged.c:2140

            The buggy address belongs to the physical page:
            page: refcount:1 mapcount:0 mapping:0000000000000000 index:0x0 pfn:0x2a1b3
            flags: 0xfff00000000000(node=0|zone=1|lastcpupid=0x7ff)
            page_type: f5(table)
            ==================================================================
            """;

        var (rows, diagnostics) = TextReading.ReadText(new ConsoleLogReader(), text);

        // syzbot prints the header once per inlined frame: one report, named after the innermost (inlined) function.
        Assert.Single(rows);
        CrashRecord c = Assert.Single(diagnostics.Crashes);
        Assert.Equal(("kasan", "slab-use-after-free", "move_pgt_entry"), (c.Kind, c.SanitizerKind, c.Function));
        Assert.Equal(("read", 8L, 0xffff88802a1b3c40UL, "syz.0.17", 5931), (c.Access, c.AccessSize!.Value, c.AccessAddress!.Value, c.Comm, c.Pid));
        Assert.Equal(["__dump_stack", "dump_stack_lvl", "kasan_report", "move_page_tables"], c.Frames.Select(f => f.Symbol));
        Assert.Equal((5920, 25), (c.AllocPid, c.FreePid));
        Assert.Equal(["kasan_save_stack", "pte_free_defer", "retract_page_tables", "collapse_file"], c.FreeStack.Select(f => f.Symbol));
        Assert.Equal(0x2a1b3UL, c.PagePfn);
    }

    [SkippableFact]
    public void VmBugOnPage_DumpBeforeHeaderBelongsToTheBug()
    {
        const string text = """
            [  50.000001] page:ffffea0004a10000 refcount:513 mapcount:1 mapping:ffff888012345679 index:0x20000 pfn:0x128400
            [  50.000002] head:ffffea0004a10000 order:9 compound_mapcount:0 compound_pincount:0
            [  50.000003] anon flags: 0x4fff0000010019(locked|uptodate|dirty|head|node=1|zone=2)
            [  50.000004] raw: 004fff0000010019 dead000000000100 dead000000000122 ffff888012345679
            [  50.000005] page dumped because: VM_BUG_ON_PAGE(!unmap_success)
            [  50.000006] ------------[ cut here ]------------
            [  50.000007] kernel BUG at mm/huge_memory.c:2351!
            [  50.000008] invalid opcode: 0000 [#1] PREEMPT SMP KASAN
            [  50.000009] CPU: 1 PID: 8700 Comm: syz-executor.3 Not tainted 5.11.0-rc4-next-20210120-syzkaller #0
            [  50.000010] RIP: 0010:unmap_page mm/huge_memory.c:2351 [inline]
            [  50.000011] RIP: 0010:split_huge_page_to_list+0x1a2d/0x1d30 mm/huge_memory.c:2549
            [  50.000012] Call Trace:
            [  50.000013]  split_huge_page include/linux/huge_mm.h:190 [inline]
            [  50.000014]  madvise_free_pte_range+0x7e1/0x1c10 mm/madvise.c:617
            """;

        var (_, diagnostics) = TextReading.ReadText(new ConsoleLogReader(), text);

        CrashRecord c = Assert.Single(diagnostics.Crashes);
        Assert.Equal(("bug", "mm/huge_memory.c", 2351), (c.Kind, c.SourceFile, c.SourceLine));
        Assert.Equal((0x128400UL, 1L, "VM_BUG_ON_PAGE(!unmap_success)"), (c.PagePfn!.Value, c.PageMapcount!.Value, c.PageDumpedBecause));
        Assert.Equal("locked|uptodate|dirty|head|node=1|zone=2", c.PageFlags);
        Assert.Equal("split_huge_page_to_list", c.RipSymbol);
        Assert.Equal(["split_huge_page", "madvise_free_pte_range"], c.Frames.Select(f => f.Symbol));
    }

    [SkippableFact]
    public void QuotedMail_CrashKeptWithDepthTraceLinesNotEvents()
    {
        const string mail = """
            From: someone@example.org
            Subject: Re: WARNING in move_normal_pmd

            > [  10.000001] WARNING: CPU: 0 PID: 77 at mm/mremap.c:211 move_page_tables+0x5b0/0x5d0
            > [  10.000002] CPU: 0 PID: 77 Comm: init Not tainted 5.8.0-rc4 #1
            >>      khugepaged-58    [001] ....  9913.990380: mm_khugepaged_scan_pmd: mm=00000000283d31fc, scan_pfn=0x2ae4bd, writable=0, referenced=512, none_or_zero=0, status=no_writable_page, unmapped=0

            Looks like the exec stack move.
                  khugepaged-265   [002] ...1  1007.308366: mm_khugepaged_scan_pmd: mm=000000007c6cc479, scan_pfn=0x1fafa45, writable=1, referenced=448, none_or_zero=0, status=succeeded, unmapped=64
            """;

        var (rows, diagnostics) = TextReading.ReadText(new ConsoleLogReader(), mail);

        EventRow row = Assert.Single(rows);
        Assert.Equal(265, row.Pid);
        Assert.Equal(1, diagnostics.QuotedLinesDropped);
        CrashRecord c = Assert.Single(diagnostics.Crashes);
        Assert.Equal(("warning", 1, "move_page_tables", "5.8.0-rc4"), (c.Kind, c.QuoteDepth, c.Function, c.KernelRelease));
    }

    [SkippableTheory]
    [InlineData("июл 27 14:08:04 laptop kernel: ")]               // journalctl, Russian locale (ask.fedoraproject.org t/15757)
    [InlineData("Jul 27 14:08:04 laptop kernel: [ 5132.412097] ")] // syslog with the printk stamp kept
    [InlineData("1262024-Jul 27 14:08:04 laptop kernel: ")]        // grep -n -A over /var/log/messages
    [InlineData("[Tue Jul 27 14:08:04 2021] ")]                     // dmesg -T
    [InlineData("2021-07-27T14:08:04,412097+03:00 ")]               // dmesg --time-format iso
    [InlineData("14:08:04 [ 5132.412097] ")]                        // a CI runner's clock before the console's stamp
    public void CollectorPrefixes_SameReportUnderEach(string prefix)
    {
        // The kernel lines of the Fedora report, as each log collector prints them.
        string[] kernel =
        [
            "------------[ cut here ]------------",
            "kernel BUG at lib/list_debug.c:51!",
            "invalid opcode: 0000 [#1] SMP PTI",
            "CPU: 4 PID: 148 Comm: kswapd0 Tainted: P           OE     5.13.4-200.fc34.x86_64 #1",
            "RIP: 0010:__list_del_entry_valid.cold+0x31/0x47",
            "Call Trace:",
            " __dentry_kill+0x89/0x180",
            " shrink_dentry_list+0x4b/0xe0",
        ];
        string text = string.Join('\n', kernel.Select(line => prefix + line)) + "\n";

        var (_, diagnostics) = TextReading.ReadText(new ConsoleLogReader(), text);

        CrashRecord c = Assert.Single(diagnostics.Crashes);
        Assert.Equal(("bug", "kernel BUG at lib/list_debug.c:51!", 148, "kswapd0"), (c.Kind, c.Title, c.Pid, c.Comm));
        Assert.Equal(("5.13.4-200.fc34.x86_64", "__list_del_entry_valid.cold"), (c.KernelRelease, c.RipSymbol));
        Assert.Equal(["__dentry_kill+0x89/0x180", "shrink_dentry_list+0x4b/0xe0"], c.Frames.Select(f => f.Text));
        Assert.Equal("console", FormatDetector.Detect(System.Text.Encoding.UTF8.GetBytes(text), out var reason) ?? reason);
    }

    private sealed class NoEvents : IWrittenEvents
    {
        public long Count => 0;

        public bool IsTimeOrdered => true;

        public SortedDictionary<string, long> SortedEventCounts() => new(StringComparer.Ordinal);
    }
}
