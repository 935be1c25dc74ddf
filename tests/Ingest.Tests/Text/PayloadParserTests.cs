using Pipeline.Ingest.Catalog;
using Pipeline.Ingest.Text;
using Pipeline.Storage;

namespace Pipeline.Ingest.Tests.Text;

public sealed class PayloadParserTests
{
    /// <summary>Real lines from the corpus (docs/trace-formats.md §3 examples): line, event, expected fields (name=value; args prefixed by '+').</summary>
    public static TheoryData<string, string, string> CorpusLines => new()
    {
        // §3.1 tlb_flush: kernel, trace-cmd plugin (incl. the empty text for reason 4), -R, -N.
        { "           <...>-25563   [001] d..2.   526.343393: tlb_flush: pages:0 reason:flush on task switch (0)", "tlb:tlb_flush", "pages=0 reason=0" },
        { "            bash-29465   [001] d..1. 1868526798228: tlb_flush: pages:-1 reason:local MM shootdown (3)", "tlb:tlb_flush", "pages=-1 reason=3" },
        { "       mm work-1-25561 [000]   526.198525: tlb_flush:            pages=-1 reason=flush on task switch (0)", "tlb:tlb_flush", "pages=-1 reason=0" },
        { "       mm work-1-25561 [000]   526.198525: tlb_flush:            pages=-1 reason= (4)", "tlb:tlb_flush", "pages=-1 reason=4" },
        { "       mm work-1-25561 [000]   526.198525: tlb_flush:             reason=0 pages=-1", "tlb:tlb_flush", "pages=-1 reason=0" },
        // §3.2 page_fault_user.
        { "       mm work-1-25561   [000] d....   526.198866: page_fault_user: address=0x7fa0279fcb70 ip=0x7fa0279fcb70 error_code=0x14", "exceptions:page_fault_user", "address=140325836278640 ip=140325836278640 error_code=20" },
        // §3.3/§3.4 kmem: page= is not the pfn (hashed in kernel text, the pfn again in trace-cmd).
        { "       mm work-1-25561   [000] .....   526.198398: mm_page_free: page=00000000c65e0cb1 pfn=0x143d7a order=0", "kmem:mm_page_free", "pfn=1326458 order=0 +page=00000000c65e0cb1" },
        { "       mm work-1-25561   [000] .....   526.198398: mm_page_alloc: page=00000000ab2f0c83 pfn=0x118db0 order=0 migratetype=0 gfp_flags=GFP_KERNEL_ACCOUNT|__GFP_ZERO|__GFP_COMP", "kmem:mm_page_alloc", "pfn=1150384 order=0 gfp_flags=GFP_KERNEL_ACCOUNT|__GFP_ZERO|__GFP_COMP migratetype=0 +page=00000000ab2f0c83" },
        { "       mm work-1-25561 [000]   526.198398: mm_page_alloc:         pfn=0x118db0 order=0 gfp_flags=0x440dc0 migratetype=0", "kmem:mm_page_alloc", "pfn=1150384 order=0 gfp_flags=0x440dc0 migratetype=0" },
        // §3.5 mmap_lock: hashed %p (16 hex digits, no 0x) and trace-cmd's real pointer; -R booleans as 0/1.
        { "       mm work-1-25561   [000] .....   526.198420: mmap_lock_acquire_returned: mm=0000000036eb11cf memcg_id=6107 write=true success=true", "mmap_lock:mmap_lock_acquire_returned", "mm=921375183 memcg_id=6107 write=true success=true" },
        { "       mm work-1-25561 [000]   526.198420: mmap_lock_acquire_returned: mm=0xffff888109e6cb00 memcg_id=6107 write=false success=true", "mmap_lock:mmap_lock_acquire_returned", "mm=18446612686531119872 memcg_id=6107 write=false success=true" },
        { "       mm work-1-25561 [000]   526.198420: mmap_lock_acquire_returned:  mm=0xffff888109e6cb00 memcg_id=6107 write=1 success=1", "mmap_lock:mmap_lock_acquire_returned", "mm=18446612686531119872 memcg_id=6107 write=true success=true" },
        // §3.6 rss_stat: no typed column; every field in args, in order.
        { "       mm work-1-25561   [000] .....   526.198455: rss_stat: mm_id=921375183 curr=0 type=MM_ANONPAGES size=4096B", "kmem:rss_stat", "+mm_id=921375183 +curr=0 +type=MM_ANONPAGES +size=4096B" },
        // §3.7 huge_memory with ", " separators; scan_pfn is the pfn; -1 pfn.
        { "      khugepaged-38      [001] .....   526.290810: mm_collapse_huge_page: mm=0000000036eb11cf, isolated=1, status=succeeded", "huge_memory:mm_collapse_huge_page", "mm=921375183 status=succeeded isolated=1" },
        { "      khugepaged-38      [001] .....   526.290810: mm_khugepaged_scan_pmd: mm=0000000036eb11cf, scan_pfn=0x128ba0, referenced=8, none_or_zero=504, status=succeeded, unmapped=0", "huge_memory:mm_khugepaged_scan_pmd", "pfn=1215392 mm=921375183 status=succeeded referenced=8 none_or_zero=504 unmapped=0" },
        { "      khugepaged-38    [001]   526.290810: mm_khugepaged_scan_pmd: mm=0xffff888109e6cb00, scan_pfn=0xffffffffffffffff, referenced=0, none_or_zero=0, status=page_pmd_mapped, unmapped=0", "huge_memory:mm_khugepaged_scan_pmd", "pfn=18446744073709551615 mm=18446612686531119872 status=page_pmd_mapped referenced=0 none_or_zero=0 unmapped=0" },
        // §3.8 syscalls: kernel 6.18 decimal-vs-0x, old bare hex, exit to signed ret, trace-cmd forms.
        { "       mm work-1-25561   [000] .....   526.220192: sys_mremap(addr: 0x7fa026fa9000, old_len: 0x40000, new_len: 0x80000, flags: 1, new_addr: 0)", "syscalls:sys_enter_mremap", "addr=140325825449984 old_len=262144 new_len=524288 flags=1 new_addr=0" },
        { "              sc-25360   [000] .....   520.479475: sys_mremap(addr: 9, old_len: 0xa, new_len: 0xf, flags: 0x10, new_addr: 0xffffffffffffffff)", "syscalls:sys_enter_mremap", "addr=9 old_len=10 new_len=15 flags=16 new_addr=18446744073709551615" },
        { "              sc-25360   [000] .....   520.479479: sys_mremap(addr: 0, old_len: 1, new_len: 0x64, flags: 0xff, new_addr: 0x1000)", "syscalls:sys_enter_mremap", "addr=0 old_len=1 new_len=100 flags=255 new_addr=4096" },
        { "              sc-25360   [000] .....   520.479479: sys_mremap -> 0xffffffffffffffea", "syscalls:sys_exit_mremap", "ret=-22" },
        { "       mm work-1-25561   [000] .....   526.220252: sys_mremap -> 0x7fa026f29000", "syscalls:sys_exit_mremap", "ret=140325824925696" },
        { "       mm work-1-25561 [000]   526.220192: sys_enter_mremap:     addr: 0x7fa026fa9000, old_len: 0x00040000, new_len: 0x00080000, flags: 0x00000001, new_addr: 0x00000000", "syscalls:sys_enter_mremap", "addr=140325825449984 old_len=262144 new_len=524288 flags=1 new_addr=0" },
        { "       mm work-1-25561 [000]   526.220252: sys_exit_mremap:      0x7fa026f29000", "syscalls:sys_exit_mremap", "ret=140325824925696" },
        { "       mm work-1-25561 [000]   526.220252: sys_exit_mremap:       __syscall_nr=25 ret=0x7fa026f29000", "syscalls:sys_exit_mremap", "ret=140325824925696 +__syscall_nr=25" },
        { "           <...>-4083  [004] ....   395.705679: sys_ioctl(fd: ff, cmd: 5410, arg: 7ffe0babe8fc)", "syscalls:sys_enter_ioctl", "fd=255 +cmd=5410 +arg=7ffe0babe8fc" },
        { "            sshd-3977  [003] ....   395.705682: sys_mmap(addr: 0, len: 1000, prot: 3, flags: 22, fd: ffffffffffffffff, off: 0)", "syscalls:sys_enter_mmap", "addr=0 flags=34 len=4096 prot=3 fd=-1 off=0" },
        { "           xfwm4-3252  [005] ....   395.705681: sys_recvmsg -> 0xfffffffffffffff5", "syscalls:sys_exit_recvmsg", "ret=-11" },
        // sched_switch with a comm holding spaces and brackets; raw numeric prev_state.
        { "   Binder:2030_3-2053  [001] d..3   652.762608: sched_switch: prev_comm=Binder:2030_3 prev_pid=2053 prev_prio=120 prev_state=S ==> next_comm=IntentService[E next_pid=3866 next_prio=120", "sched:sched_switch", "prev_comm=Binder:2030_3 prev_pid=2053 prev_state=S next_comm=IntentService[E next_pid=3866 +prev_prio=120 +next_prio=120" },
        { "      spin-thr 2-1  [001] d..3   1.000000: sched_switch: prev_comm=spin-thr 2 prev_pid=1 prev_prio=120 prev_state=R+ ==> next_comm=mm work-1 next_pid=2 next_prio=120", "sched:sched_switch", "prev_comm=spin-thr 2 prev_pid=1 prev_state=R+ next_comm=mm work-1 next_pid=2 +prev_prio=120 +next_prio=120" },
        // filemap (6.18, recorded here): the page-cache add and delete spell their file as words, the fault as fields;
        // both reach the same dev/ino args, pfn and order go to their columns, ofs (bytes) stays an arg.
        { "         python3-24087   [001] .....  42455.967772: mm_filemap_add_to_page_cache: dev 254:0 ino b1e328 pfn=0x58c38f ofs=0 order=0", "filemap:mm_filemap_add_to_page_cache", "pfn=5817231 order=0 +dev=254:0 +ino=b1e328 +ofs=0" },
        { "         kswapd0-91      [000] .....  42460.000001: mm_filemap_delete_from_page_cache: dev 254:0 ino b1e328 pfn=0x5ac863 ofs=4096 order=2", "filemap:mm_filemap_delete_from_page_cache", "pfn=5949539 order=2 +dev=254:0 +ino=b1e328 +ofs=4096" },
        { "         python3-24087   [001] .....  42455.967769: mm_filemap_fault: dev=254:0 ino=b1e328 ofs=0", "filemap:mm_filemap_fault", "+dev=254:0 +ino=b1e328 +ofs=0" },
        // migrate (6.18, recorded here): the address is bare hex even when it has no letter (0x555555554000 printed
        // 555555554000, once read as a decimal number), the entry stays an arg as printed.
        { "     migcollapse-12681   [001] .....  51200.000001: set_migration_pte: addr=555555554000, pte=f7ffe7ffbb988400 order=0", "migrate:set_migration_pte", "addr=93824992231424 order=0 +pte=f7ffe7ffbb988400" },
        { "     migcollapse-12681   [001] .....  51200.000002: remove_migration_pte: addr=7ef55d1c6000, pte=8000000311643067 order=0", "migrate:remove_migration_pte", "addr=139592294227968 order=0 +pte=8000000311643067" },
        // An unparseable payload is kept whole.
        { "            bash-1  [000] .....   1.000000: tracing_mark_write: marker-short", "ftrace:print", "+buf=marker-short" },
        { "           <...>-29049 [001]   686.293297: print:                0xffffffff81498b1a: MMMM", "ftrace:print", "ip=18446744071583664922 +buf=MMMM" },
        { "              sh-1702  [005]    76.368433: print:                0xffff00000819ff24s: TRACE_MARKER_START", "ftrace:print", "ip=18446462598868762404 +buf=TRACE_MARKER_START" },
        { "            sshd-3977  [003] ....   395.705844: sys_getpid()", "syscalls:sys_enter_getpid", "" },
        { "            bash-1  [000] .....   1.000000: do_page_fault <-async_page_fault", "ftrace:function", "+ip=do_page_fault +parent_ip=async_page_fault" },
    };

    [SkippableTheory]
    [InlineData("syz-exec-31490   2...1 413720925us : 0: }D")]
    [InlineData("           <...>-29049 [001]   686.293297: 0xffffffff81498b1a: MMMM")]
    public void Read_UnresolvedIpInPlaceOfEventName_Malformed(string line)
    {
        // trace_printk records whose ip did not resolve (ftrace_dump of syzkaller report 350): not an event named ":0".
        var (rows, diagnostics) = TextReading.ReadText(new FtraceTextReader(), "            bash-1  [000] .....   1.000000: tracing_mark_write: x\n" + line + "\n");

        Assert.Single(rows);
        Assert.Equal(1, diagnostics.MalformedCount);
        Assert.Equal(2L, diagnostics.MalformedSamples[0].Position);
    }

    [SkippableTheory]
    [MemberData(nameof(CorpusLines))]
    public void Read_CorpusLine_TypedColumnsAndArgs(string line, string expectedEvent, string expectedFields)
    {
        var (rows, diagnostics) = TextReading.ReadText(new FtraceTextReader(), line + "\n", strict: true);

        EventRow row = Assert.Single(rows);
        Assert.Equal(0, diagnostics.MalformedCount);
        Assert.Equal(expectedEvent, row.Event);
        Assert.Equal(expectedFields, Fields(row));
    }

    [SkippableFact]
    public void Fill_CharPayload_SameAsTextReader()
    {
        var row = new EventRow();

        PayloadParser.Fill(row, "mm_khugepaged_scan_pmd", "mm=0000000036eb11cf, scan_pfn=0x128ba0, referenced=8, none_or_zero=504, status=succeeded, unmapped=0");

        Assert.Equal("huge_memory:mm_khugepaged_scan_pmd", row.Event);
        Assert.Equal("pfn=1215392 mm=921375183 status=succeeded referenced=8 none_or_zero=504 unmapped=0", Fields(row));
    }

    [SkippableFact]
    public void Fill_TypedValueThatDoesNotParse_GoesToArgs()
    {
        var row = new EventRow();

        PayloadParser.Fill(row, "kmem:mm_page_alloc", "pfn=zz order=-3 write=maybe");

        Assert.Equal("order=-3 +pfn=zz +write=maybe", Fields(row));
    }

    /// <summary>
    /// Payloads longer than the 64 bytes the parser examines at once, with every word boundary in every position
    /// around 64 and 128 (and far past 512, where the masks do not fit the stack): fields split exactly as the
    /// rule says, whatever side of a boundary the spaces and '=' fall on.
    /// </summary>
    [SkippableFact]
    public void ParseKeyValues_WordsAcrossEveryChunkBoundary_SplitByTheRule()
    {
        var parser = new PayloadParser();
        string[] shapes =
        [
            "alpha=1 beta=two words gamma==x ==> delta= eps=3, zeta=0xff",
            "k=v  k2=with  double  spaces =lead ==> tail=end",
            "x=1 =notakey y=2 ==>z=3 w=",
        ];
        foreach (string shape in shapes)
        {
            for (int pad = 0; pad < 140; pad++)
            {
                foreach (string payload in new[] { $"p={new string('a', pad)} {shape}", $"p={new string('b', pad)} {shape} {new string('c', 600)}={pad}" })
                {
                    var row = new EventRow { Event = "test:x" };
                    parser.ParseKeyValues(row, System.Text.Encoding.ASCII.GetBytes(payload));
                    Assert.Equal(ReferenceFields(payload), row.Args.Select(a => $"{a.Key}={a.Value}").ToList());
                }
            }
        }
    }

    /// <summary>
    /// A parser remembers each event's last field list and matches the next payload of that event against it
    /// before splitting it word by word. After any payload of the same event, every other one (the same fields, or
    /// one word off in each way the word rule cares about: a continuation word, an extra or missing field, a name
    /// that only starts like the remembered one, double spaces, '=' in a value, "==>", commas, typed fields whose
    /// value does not parse) gives the fields a parser that never saw the event gives.
    /// </summary>
    [SkippableFact]
    public void ParseKeyValues_AfterAnyPayloadOfTheEvent_SameFieldsAsAFreshParser()
    {
        string[] payloads =
        [
            "a=1 b=2 c=3", "a=1 b=2 c=3 more words", "a=1 b=2 c=x=y", "a=1 b=2 c=3 d=4", "a=1 b=2", "a=1",
            "a=1 b=two words c=3", "a=1  b=2 c=3", "a=1 bb=2 c=3", "ab=1 b=2 c=3", "a=1 b=2, c=3,", "a=1 b==> c=3",
            "a=1 b= c=3", "a=1 b=2 c=", "a=1 b=2 c=3 ==> d=4", "a=1 b=2 c=3 =x", "a=1\tb=2 c=3", "a=1 b=2 c=3 x",
            "a=1 b=2 c=3,", "x a=1 b=2 c=3", "a=1 =b=2 c=3", "a= b= c=",
            "pfn=0x10 order=0 gfp_flags=GFP_KERNEL", "pfn=zz order=-3 gfp_flags=GFP_KERNEL", "pfn=0x10 order=0 gfp_flags=A B",
            "pfn=0x10 order=0 gfp_flags=GFP_KERNEL migratetype=1", "page=00000000c65e0cb1 pfn=0x143d7a order=0",
            "page=00000000c65e0cb1 pfn=0x143d7a order=x",
        ];
        var fresh = new Dictionary<string, string>();
        foreach (string payload in payloads)
        {
            var row = new EventRow { Event = "test:x" };
            new PayloadParser().ParseKeyValues(row, System.Text.Encoding.ASCII.GetBytes(payload));
            fresh[payload] = Fields(row);
        }
        foreach (string before in payloads)
        {
            foreach (string payload in payloads)
            {
                var parser = new PayloadParser();
                parser.ParseKeyValues(new EventRow { Event = "test:x" }, System.Text.Encoding.ASCII.GetBytes(before));
                var row = new EventRow { Event = "test:x" };
                parser.ParseKeyValues(row, System.Text.Encoding.ASCII.GetBytes(payload));
                Assert.True(fresh[payload] == Fields(row), $"'{payload}' after '{before}': {Fields(row)}, expected {fresh[payload]}");
            }
        }
    }

    [SkippableTheory]
    [InlineData("notakey and more words", "payload=notakey and more words")]
    [InlineData("=x y=1", "payload==x y=1")]
    [InlineData("  lead=1   trail=2  ", "lead=1|trail=2")]
    [InlineData("a=1 loose", "a=1 loose")]
    [InlineData("a=1, b=2,", "a=1|b=2")]
    public void ParseKeyValues_Edges_AsDocumented(string payload, string expected)
    {
        var row = new EventRow { Event = "test:x" };

        new PayloadParser().ParseKeyValues(row, System.Text.Encoding.ASCII.GetBytes(payload));

        Assert.Equal(expected, string.Join("|", row.Args.Select(a => $"{a.Key}={a.Value}")));
        Assert.Equal(ReferenceFields(payload), row.Args.Select(a => $"{a.Key}={a.Value}").ToList());
    }

    // The rule of PayloadParser.ParseKeyValues spelled out on words: a first word without '=' (or starting with it)
    // keeps the payload whole; a word with '=' after its first byte starts a field; "==>" ends one; any other word
    // continues the open field's value (with the spaces between), or stands alone as "payload" when none is open;
    // a value's trailing ',' is dropped.
    private static List<string> ReferenceFields(string payload)
    {
        payload = payload.Trim(' ');
        var fields = new List<string>();
        if (payload.Length == 0)
        {
            return fields;
        }
        string firstWord = payload.Split(' ')[0];
        if (firstWord.IndexOf('=', StringComparison.Ordinal) <= 0)
        {
            fields.Add("payload=" + payload);
            return fields;
        }
        string? key = null;
        int valueStart = 0;
        int valueEnd = 0;
        void Close()
        {
            if (key is not null)
            {
                string value = payload[valueStart..valueEnd];
                fields.Add($"{key}={(value.EndsWith(',') ? value[..^1] : value)}");
                key = null;
            }
        }
        int at = 0;
        foreach (string word in payload.Split(' '))
        {
            int eq = word.IndexOf('=', StringComparison.Ordinal);
            if (word == "==>")
            {
                Close();
            }
            else if (eq > 0)
            {
                Close();
                key = word[..eq];
                valueStart = at + eq + 1;
                valueEnd = at + word.Length;
            }
            else if (word.Length > 0 && key is not null)
            {
                valueEnd = at + word.Length;
            }
            else if (word.Length > 0)
            {
                fields.Add("payload=" + word);
            }
            at += word.Length + 1;
        }
        Close();
        return fields;
    }

    [SkippableTheory]
    [InlineData("tlb_flush", "tlb:tlb_flush")]
    [InlineData("sys_enter_madvise", "syscalls:sys_enter_madvise")]
    [InlineData("sys_exit_munmap", "syscalls:sys_exit_munmap")]
    [InlineData("sys_enter", "raw_syscalls:sys_enter")]
    [InlineData("mm_vmscan_write_folio", "vmscan:mm_vmscan_write_folio")]
    [InlineData("csd_function_entry", "csd:csd_function_entry")]
    [InlineData("funcgraph_entry", "ftrace:funcgraph_entry")]
    [InlineData("mmop_PmdMove", "mmop:PmdMove")]
    [InlineData("kmem:mm_page_free", "kmem:mm_page_free")]
    [InlineData("my_driver_event", ":my_driver_event")]
    public void Canonical_BareName_SystemColonName(string name, string expected)
    {
        Assert.Equal(expected, EventCatalog.Canonical(name));
    }

    /// <summary>Typed columns in schema order (name=value), then args in source order (+name=value).</summary>
    private static string Fields(EventRow row)
    {
        var parts = new List<string>();
        foreach (var column in EventSchema.Columns)
        {
            if (column.Ordinal >= EventSchema.FirstField && column.Ordinal < EventSchema.Args && row.IsSet(column.Ordinal))
            {
                parts.Add($"{column.Name}={row.FindField(column.Name)}");
            }
        }
        parts.AddRange(row.Args.Select(a => $"+{a.Key}={a.Value}"));
        return string.Join(" ", parts);
    }
}
