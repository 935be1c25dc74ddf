using System.Collections.Frozen;
using System.Globalization;

namespace Pipeline.Replay;

/// <summary>
/// The trace vocabulary: for each <see cref="OpKind"/> its <c>mmop_</c> name and the keys it carries,
/// in print order. A key written <c>key!</c> is required; <c>@slot</c> means the entry (or table lock) is
/// addressed either by <c>table</c>+<c>idx</c> or by <c>mm</c>+<c>va</c>+<c>level</c>.
/// </summary>
public static class OpSpec
{
    /// <summary>Prefix of every op event name in ftrace text (<c>mmop_pmd_move</c>) and of the canonical event (<c>mmop:pmd_move</c>).</summary>
    public const string EventPrefix = "mmop_";

    /// <summary>The ingest system name of op events.</summary>
    public const string EventSystem = "mmop";

    private static readonly (OpKind Kind, string Name, string Keys, bool Step)[] s_table =
    [
        (OpKind.MmCreate, "mm_create", "mm! table!", false),
        (OpKind.MmDestroy, "mm_destroy", "mm!", false),
        (OpKind.CtxSwitch, "ctx_switch", "mm!", false),
        (OpKind.MmapLock, "mmap_lock", "mm! mode try ok", false),
        (OpKind.MmapUnlock, "mmap_unlock", "mm!", false),
        (OpKind.VmaLock, "vma_lock", "mm! va! mode", false),
        (OpKind.VmaUnlock, "vma_unlock", "mm! va!", false),
        (OpKind.RmapLock, "rmap_lock", "rmap! mode", false),
        (OpKind.RmapUnlock, "rmap_unlock", "rmap!", false),
        (OpKind.PtlLock, "ptl_lock", "@slot", false),
        (OpKind.PtlUnlock, "ptl_unlock", "@slot", false),
        (OpKind.PageLock, "page_lock", "pfn!", false),
        (OpKind.PageUnlock, "page_unlock", "pfn!", false),
        (OpKind.IrqDisable, "irq_disable", "", false),
        (OpKind.IrqEnable, "irq_enable", "", false),
        (OpKind.RcuLock, "rcu_lock", "", false),
        (OpKind.RcuUnlock, "rcu_unlock", "", false),
        (OpKind.IpiSend, "ipi_send", "id! cpus! func", false),
        (OpKind.IpiHandle, "ipi_handle", "id!", false),
        (OpKind.IpiSync, "ipi_sync", "func", false),
        (OpKind.RcuGpEnd, "rcu_gp_end", "", false),
        (OpKind.TableAlloc, "table_alloc", "table! level!", false),
        (OpKind.TableFree, "table_free", "table! free", false),
        (OpKind.TableDeposit, "table_deposit", "mm! va! table!", false),
        (OpKind.TableWithdraw, "table_withdraw", "mm! va! table!", false),
        (OpKind.EntryRead, "entry_read", "@slot lockless val", false),
        (OpKind.PteSet, "pte_set", "@slot pfn! write", false),
        (OpKind.PteClear, "pte_clear", "@slot", false),
        (OpKind.PteSetSwap, "pte_set_swap", "@slot pfn!", false),
        (OpKind.PmdPopulate, "pmd_populate", "mm! va! table!", false),
        (OpKind.PmdClear, "pmd_clear", "mm! va!", false),
        (OpKind.PmdSetHuge, "pmd_set_huge", "mm! va! pfn!", false),
        (OpKind.PudPopulate, "pud_populate", "mm! va! table!", false),
        (OpKind.PudClear, "pud_clear", "mm! va!", false),
        (OpKind.PudSetHuge, "pud_set_huge", "mm! va! pfn!", false),
        (OpKind.P4dPopulate, "p4d_populate", "mm! va! table!", false),
        (OpKind.PgdPopulate, "pgd_populate", "mm! va! table!", false),
        (OpKind.PteAlloc, "pte_alloc", "mm! va! table!", false),
        (OpKind.PteMove, "pte_move", "mm! old! new!", false),
        (OpKind.PmdMove, "pmd_move", "mm! old! new!", false),
        (OpKind.PudMove, "pud_move", "mm! old! new!", false),
        (OpKind.Access, "access", "mm! va! write", false),
        (OpKind.TlbFill, "tlb_fill", "mm! va!", false),
        (OpKind.TlbFlush, "tlb_flush", "mm! va len all ipi tables", false),
        (OpKind.TlbBatchAdd, "tlb_batch_add", "mm! va!", false),
        (OpKind.TlbBatchFlush, "tlb_batch_flush", "", false),
        (OpKind.PageAlloc, "page_alloc", "pfn! order", false),
        (OpKind.PageFree, "page_free", "pfn! order", false),
        (OpKind.RefGet, "ref_get", "pfn! n", false),
        (OpKind.RefTryGet, "ref_try_get", "pfn! n", false),
        (OpKind.RefPut, "ref_put", "pfn! n", false),
        (OpKind.MapInc, "map_inc", "pfn! level", false),
        (OpKind.MapDec, "map_dec", "pfn! level", false),
        (OpKind.MapcountRead, "mapcount_read", "pfn! assert", false),
        (OpKind.FlagSet, "flag_set", "pfn! flag! mm va transfer", false),
        (OpKind.FlagClear, "flag_clear", "pfn! flag! mm va", false),
        (OpKind.FlagRead, "flag_read", "pfn! flag!", false),
        (OpKind.VmaCreate, "vma_create", "mm! va! len! vmflags rmap", false),
        (OpKind.VmaModify, "vma_modify", "mm! va! new! len!", false),
        (OpKind.VmaRemove, "vma_remove", "mm! va!", false),
        (OpKind.VmFlagsWrite, "vm_flags_write", "mm! va! set clear", false),
        (OpKind.VmFlagsRead, "vm_flags_read", "mm! va!", false),
        (OpKind.RmapWalkBegin, "rmap_walk_begin", "pfn!", false),
        (OpKind.RmapWalkEnd, "rmap_walk_end", "pfn!", false),
        (OpKind.MremapMovePmd, "mremap_move_pmd", "mm! old! new! rmap need_rmap_locks spare", true),
        (OpKind.MremapMovePud, "mremap_move_pud", "mm! old! new! rmap need_rmap_locks spare", true),
        (OpKind.MovePtes, "move_ptes", "mm! old! new! len! rmap need_rmap_locks spare", true),
        (OpKind.ExecShiftStack, "exec_shift_stack", "mm! old! new! len! spare", true),
        (OpKind.TtuStart, "ttu_start", "pfn! rmap! assert sync", true),
        (OpKind.TtuWalk, "ttu_walk", "mm! va! pfn! level sync", true),
        (OpKind.TtuUnmap, "ttu_unmap", "mm! va! pfn! level batch migrate", true),
        (OpKind.TtuEnd, "ttu_end", "pfn! rmap! assert", true),
        (OpKind.TtuMlockCheck, "ttu_mlock_check", "mm! va! pfn!", true),
        (OpKind.TtuMlockSet, "ttu_mlock_set", "mm! va! pfn!", true),
        (OpKind.TtuMlockPage, "ttu_mlock_page", "mm! va! pfn!", true),
        (OpKind.ZapClear, "zap_clear", "mm! va! level", true),
        (OpKind.ZapFinish, "zap_finish", "mm! va! pfn! level", true),
        (OpKind.CollapseFlush, "collapse_flush", "mm! va! ipi", true),
        (OpKind.RetractStart, "retract_start", "mm! rmap!", true),
        (OpKind.RetractPmd, "retract_pmd", "mm! va!", true),
        (OpKind.RetractEnd, "retract_end", "mm! rmap!", true),
    ];

    private static readonly string[] s_names = BuildNames();
    private static readonly string[][] s_keys = BuildKeys();
    private static readonly FrozenDictionary<string, OpKind> s_byName =
        s_table.ToFrozenDictionary(t => t.Name, t => t.Kind, StringComparer.Ordinal);

    /// <summary>Every kind with its trace name, in declaration order.</summary>
    public static IEnumerable<(OpKind Kind, string Name, bool IsKernelStep)> All =>
        s_table.Select(t => (t.Kind, t.Name, t.Step));

    /// <summary>The trace name (without <c>mmop_</c>) of <paramref name="kind"/>.</summary>
    public static string NameOf(OpKind kind) => s_names[(int)kind];

    /// <summary>The keys of <paramref name="kind"/> in print order (<c>!</c> marks required, <c>@slot</c> an entry address).</summary>
    public static IReadOnlyList<string> KeysOf(OpKind kind) => s_keys[(int)kind];

    /// <summary>Whether <paramref name="kind"/> is a kernel step expanded by the profile.</summary>
    public static bool IsKernelStep(OpKind kind) => kind >= OpKind.MremapMovePmd;

    /// <summary>Looks up a kind by trace name (without prefix).</summary>
    public static bool TryGetKind(ReadOnlySpan<char> name, out OpKind kind)
    {
        var lookup = s_byName.GetAlternateLookup<ReadOnlySpan<char>>();
        return lookup.TryGetValue(name, out kind);
    }

    /// <summary>Parses a decimal or 0x-hex unsigned number.</summary>
    public static bool TryParseNumber(ReadOnlySpan<char> text, out ulong value)
    {
        if (text.Length > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X'))
        {
            return ulong.TryParse(text[2..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
        }
        if (text.Length > 0 && text[0] == '-')
        {
            bool ok = long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long signed);
            value = unchecked((ulong)signed);
            return ok;
        }
        return ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>Text of a level.</summary>
    public static string LevelName(Level level) => level switch
    {
        Level.Pte => "pte",
        Level.Pmd => "pmd",
        Level.Pud => "pud",
        Level.P4d => "p4d",
        _ => "pgd",
    };

    /// <summary>Parses a level name.</summary>
    public static bool TryParseLevel(string text, out Level level)
    {
        switch (text)
        {
            case "pte": level = Level.Pte; return true;
            case "pmd": level = Level.Pmd; return true;
            case "pud": level = Level.Pud; return true;
            case "p4d": level = Level.P4d; return true;
            case "pgd": level = Level.Pgd; return true;
            default: level = Level.Pte; return false;
        }
    }

    /// <summary>Text of a page flag.</summary>
    public static string FlagName(PageFlag flag) => flag switch
    {
        PageFlag.Mlocked => "mlocked",
        PageFlag.Unevictable => "unevictable",
        PageFlag.Lru => "lru",
        _ => "none",
    };

    /// <summary>Parses a page flag name.</summary>
    public static bool TryParseFlag(string text, out PageFlag flag)
    {
        switch (text)
        {
            case "mlocked": flag = PageFlag.Mlocked; return true;
            case "unevictable": flag = PageFlag.Unevictable; return true;
            case "lru": flag = PageFlag.Lru; return true;
            default: flag = 0; return false;
        }
    }

    /// <summary>Text of VMA flags (<c>locked|file|stack</c>, or <c>none</c>).</summary>
    public static string VmFlagsName(VmFlags flags)
    {
        if (flags == VmFlags.None)
        {
            return "none";
        }
        var parts = new List<string>(3);
        if ((flags & VmFlags.Locked) != 0)
        {
            parts.Add("locked");
        }
        if ((flags & VmFlags.File) != 0)
        {
            parts.Add("file");
        }
        if ((flags & VmFlags.Stack) != 0)
        {
            parts.Add("stack");
        }
        return string.Join('|', parts);
    }

    /// <summary>Parses VMA flags.</summary>
    public static bool TryParseVmFlags(string text, out VmFlags flags)
    {
        flags = VmFlags.None;
        if (text == "none")
        {
            return true;
        }
        foreach (var part in text.Split('|'))
        {
            switch (part)
            {
                case "locked": flags |= VmFlags.Locked; break;
                case "file": flags |= VmFlags.File; break;
                case "stack": flags |= VmFlags.Stack; break;
                default: return false;
            }
        }
        return true;
    }

    /// <summary>Known IPI functions (<c>func</c>).</summary>
    public static string FuncName(byte func) => func switch
    {
        1 => "tlb_remove_table_smp_sync",
        2 => "flush_tlb_func",
        _ => "other",
    };

    /// <summary>Parses an IPI function name; unknown names map to <c>other</c>.</summary>
    public static byte ParseFunc(string text) => text switch
    {
        "tlb_remove_table_smp_sync" => 1,
        "flush_tlb_func" => 2,
        _ => 0,
    };

    private static string[] BuildNames()
    {
        var names = new string[256];
        foreach (var t in s_table)
        {
            names[(int)t.Kind] = t.Name;
        }
        names[0] = "none";
        return names;
    }

    private static string[][] BuildKeys()
    {
        var keys = new string[256][];
        for (int i = 0; i < keys.Length; i++)
        {
            keys[i] = [];
        }
        foreach (var t in s_table)
        {
            keys[(int)t.Kind] = t.Keys.Length == 0 ? [] : t.Keys.Split(' ');
        }
        return keys;
    }
}
