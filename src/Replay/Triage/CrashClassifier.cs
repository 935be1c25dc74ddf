using System.Globalization;
using Pipeline.Storage;

namespace Pipeline.Replay.Triage;

/// <summary>What a crash report is, against the seed races.</summary>
/// <param name="Class">R1 … R6, or <c>none</c>.</param>
/// <param name="Confidence">0 … 1: how strongly the report's fields point to the class (for <c>none</c>: that no race fits).</param>
/// <param name="Reasons">Which lines and fields matched, and what counted against.</param>
/// <param name="Subsystem">Where the crash is (<c>mm/mremap</c>, <c>fs/jfs</c>, …), from its source file or its frames.</param>
/// <param name="What">One line naming the crash: kind and site.</param>
/// <param name="Scenario">For a race: the scenario of the library that shows it, picked from the report's frames.</param>
public sealed record CrashVerdict(string Class, double Confidence, IReadOnlyList<string> Reasons, string Subsystem, string What, string? Scenario);

/// <summary>
/// Classifies crash records by kernel semantics: which code reported (WARN site, BUG file, RIP), on which path
/// (reliable call-trace frames, KASAN/page_owner allocation and free stacks) and about what (page flags, the dump's
/// reason, KASAN's bug type). Each race is recognised by the mechanism behind its symptom, not by a report's text:
/// R5 is the populated-destination WARN of move_normal_pmd, R3 a failed mapcount check of the THP split's unmap,
/// R4 a page freed with PG_mlocked, R2 a page-table use-after-free under a lockless GUP-fast walk, R6 a page-table
/// free by khugepaged's retract path meeting mremap's PMD move, R1 a use-after-free through mremap's PMD/PUD move
/// raced by an rmap walk. Frames the unwinder marked <c>?</c> are not evidence.
/// </summary>
public static class CrashClassifier
{
    private static readonly string[] s_pmdMove = ["move_normal_pmd", "move_normal_pud", "move_pgt_entry", "move_page_tables", "move_huge_pmd", "move_huge_pud", "move_ptes"];
    private static readonly string[] s_mremapSyscall = ["mremap_to", "move_vma", "do_mremap", "__do_sys_mremap", "__se_sys_mremap", "__x64_sys_mremap", "__arm64_sys_mremap", "mremap_move", "remap_move"];
    private static readonly string[] s_execStack = ["shift_arg_pages", "setup_arg_pages", "relocate_vma_down", "load_elf_binary", "exec_binprm", "bprm_execve", "search_binary_handler"];
    private static readonly string[] s_split = ["split_huge_page_to_list", "split_huge_page_to_list_to_order", "__split_huge_page", "split_huge_page", "unmap_page", "unmap_folio", "split_folio_to_list", "__folio_split", "split_huge_pages_pid", "deferred_split_scan"];
    private static readonly string[] s_gupFast = ["gup_fast", "gup_fast_fallback", "internal_get_user_pages_fast", "lockless_pages_from_mm", "get_user_pages_fast", "get_user_pages_fast_only", "pin_user_pages_fast", "__get_user_pages_fast", "gup_pgd_range", "gup_p4d_range", "gup_pud_range", "gup_pmd_range", "gup_pte_range", "gup_fast_pgd_range", "gup_fast_p4d_range", "gup_fast_pud_range", "gup_fast_pmd_range", "gup_fast_pte_range", "gup_huge_pmd", "gup_fast_pmd_leaf"];
    private static readonly string[] s_tableFree = ["collapse_huge_page", "khugepaged", "khugepaged_do_scan", "retract_page_tables", "collapse_and_free_pmd", "collapse_pte_mapped_thp", "pte_free", "pte_free_defer", "pte_free_now", "__tlb_remove_table", "tlb_remove_table", "tlb_remove_table_rcu", "free_pgtables", "free_pgd_range", "pmdp_collapse_flush", "___pte_free_tlb", "pgtable_trans_huge_withdraw", "zap_deposited_table", "__pte_free_tlb"];
    private static readonly string[] s_retract = ["retract_page_tables", "collapse_file", "collapse_pte_mapped_thp", "hpage_collapse_scan_file", "khugepaged_scan_file", "pte_free_defer", "khugepaged_collapse_pte_mapped_thps"];
    private static readonly string[] s_rmapWalk = ["try_to_unmap", "try_to_unmap_one", "try_to_migrate", "try_to_migrate_one", "migrate_pages", "migrate_pages_batch", "unmap_and_move", "migrate_folio_unmap", "shrink_page_list", "shrink_folio_list", "rmap_walk", "rmap_walk_anon", "rmap_walk_file", "page_vma_mapped_walk", "kswapd", "page_referenced", "folio_referenced"];
    private static readonly string[] s_mlock = ["mlock_vma_page", "mlock_folio", "munlock_vma_page", "munlock_folio", "clear_page_mlock", "mlock_page", "munlock_page", "__munlock_pagevec", "munlock_vma_pages_range", "munlock_vma_pages_all", "mlock_fixup", "apply_vma_lock_flags", "mlock_pte_range"];
    private static readonly string[] s_truncate = ["truncate_inode_pages_range", "truncate_pagecache", "unmap_mapping_range", "unmap_mapping_pages", "shmem_undo_range", "truncate_inode_folio"];
    private static readonly string[] s_exit = ["exit_mmap", "mmput", "do_exit", "munlock_vma_pages_all"];

    // Headers whose inline helpers (page_mapcount, PageSlab checks, …) are mm's own.
    private static readonly string[] s_mmHeaders =
    [
        "include/linux/mm.h", "include/linux/mm_inline.h", "include/linux/huge_mm.h", "include/linux/page-flags.h", "include/linux/pagemap.h",
        "include/linux/rmap.h", "include/linux/swap.h", "include/linux/mmzone.h", "include/linux/memcontrol.h", "include/linux/hugetlb.h", "include/linux/page_ref.h",
    ];

    // Frames that name the reporting machinery, not the code that failed.
    private static readonly string[] s_machinery =
    [
        "dump_stack", "dump_stack_lvl", "__dump_stack", "show_stack", "dump_backtrace", "show_stack_lvl", "__warn", "warn_slowpath_fmt", "warn_slowpath_null", "report_bug", "handle_bug",
        "exc_invalid_op", "asm_exc_invalid_op", "do_error_trap", "do_invalid_op", "invalid_op", "kasan_report", "__kasan_report", "print_report",
        "print_address_description", "bad_page", "free_page_is_bad", "free_page_is_bad_report", "check_free_page", "check_free_page_bad", "free_pages_check",
        "free_pages_check_bad", "panic", "die", "oops_end", "__die", "do_trap", "page_fault_oops", "no_context", "__bad_area_nosemaphore", "kernelmode_fixup_or_oops",
        "do_user_addr_fault", "exc_page_fault", "asm_exc_page_fault", "exc_general_protection", "asm_exc_general_protection", "ubsan_epilogue", "print_circular_bug",
        "check_noncircular", "check_prev_add", "validate_chain", "__lock_acquire", "lock_acquire", "kfence_report_error", "kfence_handle_page_fault",
        "print_bad_pte", "unwind_backtrace", "check_new_page_bad",
        // Lock primitives a fault in a lock word lands in: the code that failed is their caller.
        "_raw_spin_lock", "_raw_spin_lock_irq", "_raw_spin_lock_irqsave", "_raw_spin_lock_bh", "_raw_read_lock", "_raw_read_lock_irqsave",
        "_raw_write_lock", "_raw_write_lock_irq", "_raw_write_lock_irqsave", "_raw_write_lock_bh", "do_raw_spin_lock", "queued_spin_lock_slowpath",
        "native_queued_spin_lock_slowpath",
    ];

    /// <summary>Classifies one crash; <paramref name="profile"/> is the report's kernel (null when it printed none).</summary>
    public static CrashVerdict Classify(CrashRecord crash, KernelProfile? profile)
    {
        ArgumentNullException.ThrowIfNull(crash);
        var e = new Evidence(crash);
        var candidates = new List<(string Race, double Score, List<string> Reasons, string? Scenario)>();
        var nearMisses = new List<string>();

        // R5: move_normal_pmd's WARN_ON(!pmd_none(*new_pmd)) (the WARN names move_page_tables where it is inlined).
        string? site5 = e.SiteIs(s_pmdMove) ?? (crash.SourceFile == "mm/mremap.c" && crash.Function is null ? crash.SourceFile : null);
        if (crash.Kind == "warning" && site5 is not null)
        {
            var reasons = new List<string> { $"WARNING at {Location(crash)} in {site5}: move_normal_pmd's check that the destination PMD is empty" };
            double score = 0.7;
            if (e.Reliable(s_execStack) is string exec)
            {
                score = 0.9;
                reasons.Add($"reached from exec ({exec} in the call trace): shift_arg_pages moves the stack over itself, source and destination overlap");
            }
            else if (e.Reliable(s_mremapSyscall) is string mr)
            {
                score = 0.6;
                reasons.Add($"reached from mremap() ({mr}), not exec: R5's WARN with another cause of a populated destination (mremap never overlaps)");
            }
            candidates.Add(("R5", score, reasons, "r5-exec-stack"));
        }

        // R3: the THP split's unmap found the page still mapped. A dump naming another assertion (the huge zero page, an
        // unlocked or non-anonymous page: split_huge_page_to_list's checks on entry, before any unmap) is not that check.
        string? splitSite = crash.Kind is "bug" or "warning" ? e.SiteOrRip(s_split) : null;
        string? otherCheck = crash.PageDumpedBecause is string dumped && dumped.StartsWith("VM_BUG_ON", StringComparison.Ordinal) && !IsMapcountCheck(dumped) ? dumped : null;
        if (splitSite is not null && otherCheck is not null)
        {
            nearMisses.Add($"{Kind(crash)} in the THP split path ({splitSite}), but on another assertion (page dumped because: {otherCheck}), not the mapcount check after the unmap that R3 fails: not R3");
        }
        else if (splitSite is string split)
        {
            bool hugeFile = crash.SourceFile is "mm/huge_memory.c" or "include/linux/huge_mm.h" or "include/linux/mm.h" or "mm/rmap.c";
            var reasons = new List<string> { $"{Kind(crash)} {(crash.SourceFile is null ? "" : "at " + Location(crash) + " ")}in the THP split path ({split})" };
            double score = hugeFile ? 0.65 : 0.5;
            string? because = crash.PageDumpedBecause;
            if (because is not null && IsMapcountCheck(because))
            {
                score = 0.9;
                reasons.Add($"page dumped because: {because} — a mapcount check after try_to_unmap");
            }
            else if (crash.PageMapcount is long mc && mc > 0)
            {
                score = Math.Max(score, 0.75);
                reasons.Add(string.Create(CultureInfo.InvariantCulture, $"the dumped page still has mapcount:{mc} after the unmap"));
            }
            else if (because is null)
            {
                // split_huge_page_to_list asserts the page's kind on entry too; only the dump says which check failed.
                score = hugeFile ? 0.5 : 0.45;
                reasons.Add("no page dump names the failed assertion: the split's entry checks (huge zero page, locked, anonymous) fail the same way");
            }
            string scenario = e.Any(["zap_huge_pmd", "__split_huge_pmd", "split_huge_pmd"]) is not null ? "r3-thp" : "r3-pte";
            if (scenario == "r3-thp")
            {
                reasons.Add("PMD-mapped THP (zap_huge_pmd/__split_huge_pmd in a stack)");
            }
            candidates.Add(("R3", score, reasons, scenario));
        }

        // R4: a page freed (or left) with PG_mlocked.
        string flags = (crash.PageFlags ?? "") + "|" + (crash.PageDumpedBecause ?? "");
        bool mlocked = HasFlag(flags, "mlocked");
        bool unevictable = HasFlag(flags, "unevictable");
        string? allocated = crash.Kind is "bad_page_state" ? FoundAtAllocation(crash, e) : null;
        string? overwritten = crash.Kind is "bad_page_state" ? OverwrittenPage(crash) : null;
        if (crash.Kind is "bad_page_state" && (mlocked || unevictable) && (allocated is not null || overwritten is not null))
        {
            // R4 is a page freed while still mlocked. A page found bad when allocated was changed after it was freed, and a
            // struct page with impossible values was overwritten: their mlocked bit is part of the damage, not R4's.
            nearMisses.Add(allocated is not null
                ? $"the page was found bad when allocated ({allocated}), not when freed: a free page's flags changed after it was freed (memory corruption), not a page freed while mlocked: not R4"
                : $"the struct page looks overwritten ({overwritten}): its mlocked/unevictable flags are part of the damage, not R4");
        }
        else if (crash.Kind is "bad_page_state" && (mlocked || unevictable))
        {
            var reasons = new List<string> { $"Bad page state with {(mlocked ? "mlocked" : "unevictable")} in the page flags ({crash.PageFlags ?? crash.PageDumpedBecause}): a page freed while still Mlocked/unevictable" };
            double score = mlocked ? 0.85 : 0.6;
            string scenario = e.Any(s_exit) is not null ? "r4-munlock" : "r4-truncate";
            if (e.Any(s_truncate) is string tr)
            {
                reasons.Add($"freed on the truncation path ({tr})");
                score += 0.05;
            }
            else if (scenario == "r4-munlock")
            {
                reasons.Add("freed on the exit path (exit_mmap/munlock_vma_pages_all)");
            }
            candidates.Add(("R4", score, reasons, scenario));
        }
        else if (crash.Kind is "warning" or "bug" && e.SiteOrRip(s_mlock) is string ml)
        {
            candidates.Add(("R4", 0.5, [$"{Kind(crash)} in the mlock code ({ml}): PG_mlocked bookkeeping went wrong"], "r4-munlock"));
        }

        bool memorySafety = crash.Kind is "kasan" or "kfence" or "general_protection_fault" or "oops" or "bad_page_map" or "bad_page_state" or "bad_rss_counter"
            || (crash.Kind == "bug" && crash.SourceFile is null && crash.Title.Contains("unable to handle", StringComparison.Ordinal));
        bool tableFreed = e.InFree(s_tableFree) is not null || (crash.PageFlags ?? "").Contains("table", StringComparison.Ordinal);

        // R2: a page table used after free under a lockless GUP-fast walk.
        if (memorySafety && e.Reliable(s_gupFast) is string gup)
        {
            var reasons = new List<string> { $"{Kind(crash)} under a lockless GUP-fast walk ({gup} in the call trace)" };
            double score = 0.6;
            if (e.InFree(s_tableFree) is string freer)
            {
                score = 0.9;
                reasons.Add($"the memory was freed as a page table ({freer} in the free stack): khugepaged collapse / table free");
            }
            else if ((crash.PageFlags ?? "").Contains("table", StringComparison.Ordinal))
            {
                score = 0.8;
                reasons.Add("the page is a page table (page type 'table')");
            }
            string scenario = e.Any(["collapse_file", "retract_page_tables", "collapse_pte_mapped_thp", "collapse_and_free_pmd"]) is not null ? "r2-file" : "r2-anon";
            candidates.Add(("R2", score, reasons, scenario));
        }
        else if (e.Reliable(s_gupFast) is string gupOnly)
        {
            nearMisses.Add($"GUP-fast ({gupOnly}) is on the stack but the crash is not a memory-safety report: not R2");
        }

        // R6 and R1: something reached through mremap's page-table move.
        string? move = e.Any(s_pmdMove);
        if (move is not null && (memorySafety || crash.Kind is "warning" or "bug"))
        {
            if (e.Any(s_retract) is not null)
            {
                string retract = string.Join(", ", e.All(s_retract));
                var reasons = new List<string>
                {
                    $"{Kind(crash)} with mremap's page-table move ({move}) and khugepaged's file-THP retract ({retract}) in the report's stacks",
                };
                double score = memorySafety ? 0.85 : 0.7;
                if (tableFreed)
                {
                    reasons.Add("the page involved was a page table");
                    score += 0.05;
                }
                candidates.Add(("R6", score, reasons, "r6-retract"));
            }
            else if (memorySafety && crash.SanitizerKind is string slabKind && slabKind.StartsWith("slab-", StringComparison.Ordinal) && !tableFreed)
            {
                nearMisses.Add($"mremap's page-table move ({move}) touched a freed slab object ({slabKind}): an object lifetime bug (VMA, anon_vma), not R1, whose stale TLB entry reaches a freed page");
            }
            else if (memorySafety)
            {
                var reasons = new List<string> { $"{Kind(crash)} reached through mremap's page-table move ({move})" };
                double score = 0.45;
                if (e.Any(s_rmapWalk) is string walk)
                {
                    score = 0.8;
                    reasons.Add($"an rmap walk ({walk}: migration/reclaim) in the report's stacks: the unmap that frees the page after the move");
                }
                else
                {
                    reasons.Add("no rmap walk (migration, reclaim) in the report's stacks: R1 needs one racing the move");
                }
                string scenario = e.Any(["move_normal_pud", "move_huge_pud"]) is not null ? "r1-pud" : "r1-pmd";
                candidates.Add(("R1", score, reasons, scenario));
            }
        }
        else if (e.Any(s_mremapSyscall) is string sys && move is null)
        {
            nearMisses.Add($"the mremap syscall ({sys}) is on the stack but no page-table move (move_page_tables/move_normal_pmd): the crash is in the syscall's VMA handling, not R1/R5/R6");
        }
        else if (move is not null)
        {
            nearMisses.Add($"mremap's page-table move ({move}) is on the stack but the report is a {crash.Kind}, not a memory-safety report or WARN");
        }

        var (subsystem, what) = Describe(crash, e);
        if (candidates.Count == 0)
        {
            var reasons = new List<string> { $"{what}: no R1–R6 symptom" };
            reasons.AddRange(nearMisses);
            if (crash.Kind == "bad_page_state")
            {
                reasons.Add($"Bad page state without mlocked/unevictable (flags: {crash.PageFlags ?? "not printed"}; {crash.PageDumpedBecause ?? "no reason printed"}): not R4");
            }
            if (e.UnreliableOnly(s_pmdMove.Concat(s_gupFast).Concat(s_split).Concat(s_mremapSyscall).ToArray()) is string ghost)
            {
                reasons.Add($"'{ghost}' appears only as an unreliable '?' frame: not evidence");
            }
            return new CrashVerdict("none", nearMisses.Count > 0 ? 0.8 : 0.9, reasons, subsystem, what, null);
        }
        var best = candidates.OrderByDescending(c => c.Score).ThenBy(c => c.Race, StringComparer.Ordinal).First();
        var final = new List<string>(best.Reasons);
        double confidence = Math.Min(best.Score, 0.95);
        RaceFacts facts = RaceFacts.Get(best.Race);
        if (profile is not null)
        {
            if (facts.OpenIn(profile))
            {
                final.Add($"the kernel (profile {profile.Name}) has the code of {best.Race} without its fix {facts.FixCommit}");
                confidence = Math.Min(confidence + 0.05, 0.95);
            }
            else
            {
                final.Add($"but the kernel (profile {profile.Name}) {(profile.Has(FixOf(facts)) ? $"already has the fix {facts.FixCommit}" : "does not have the code that makes the race possible")}: the same symptom from another cause");
                confidence *= 0.6;
            }
        }
        foreach (var other in candidates.Where(c => c.Race != best.Race))
        {
            final.Add(string.Create(CultureInfo.InvariantCulture, $"also considered {other.Race} ({other.Score:F2}): {other.Reasons[0]}"));
        }
        return new CrashVerdict(best.Race, Math.Round(confidence, 2), final, subsystem, what, best.Scenario);
    }

    private static KernelFix FixOf(RaceFacts facts) => KernelProfile.FixByName(facts.Fix);

    // VM_BUG_ON_PAGE(!unmap_success), VM_BUG_ON_PAGE(compound_mapcount(head)), "total_mapcount(head) > 0", page still mapped.
    private static bool IsMapcountCheck(string because) =>
        because.Contains("unmap_success", StringComparison.Ordinal) || because.Contains("mapcount", StringComparison.Ordinal) || because.Contains("mapped", StringComparison.Ordinal);

    // check_new_page_bad() (PAGE_FLAGS_CHECK_AT_PREP) runs when a page leaves the free lists; free_pages_check() when one
    // is freed. Older kernels inline the check into the allocator frames.
    private static readonly string[] s_allocCheck = ["check_new_page_bad", "check_new_pages", "check_new_page", "prep_new_page", "rmqueue", "rmqueue_bulk", "__rmqueue", "buffered_rmqueue", "get_page_from_freelist"];

    private static string? FoundAtAllocation(CrashRecord crash, Evidence e)
    {
        if (crash.PageDumpedBecause?.Contains("PAGE_FLAGS_CHECK_AT_PREP", StringComparison.Ordinal) == true)
        {
            return "page dumped because: PAGE_FLAGS_CHECK_AT_PREP flag(s) set";
        }
        return e.FirstMeaningful() is string first && s_allocCheck.Contains(first) ? $"{first} in the call trace" : null;
    }

    // Values no live struct page has: a negative refcount, a flags word or mapping of one repeated byte (a poison or
    // fill pattern), a slab page on the LRU or mlocked.
    private static string? OverwrittenPage(CrashRecord crash)
    {
        if (crash.PageRefcount is long refcount && refcount < 0)
        {
            return string.Create(CultureInfo.InvariantCulture, $"refcount:{refcount}");
        }
        if (RepeatedByte(crash.PageFlagsRaw) || RepeatedByte(crash.PageMapping))
        {
            return RepeatedByte(crash.PageFlagsRaw) ? $"flags word {crash.PageFlagsRaw}, one repeated byte" : $"mapping:{crash.PageMapping}, one repeated byte";
        }
        string flags = crash.PageFlags ?? "";
        if (HasFlag(flags, "slab") && (HasFlag(flags, "lru") || HasFlag(flags, "mlocked")))
        {
            return $"flags {flags}: a slab page is never on an LRU list nor mlocked";
        }
        return null;
    }

    private static bool RepeatedByte(string? hex)
    {
        string h = hex is null ? "" : hex.StartsWith("0x", StringComparison.Ordinal) ? hex[2..] : hex;
        if (h.Length < 8 || h.Length % 2 != 0 || !h.All(char.IsAsciiHexDigit) || h[..2] == "00")
        {
            return false;
        }
        for (int i = 2; i < h.Length; i += 2)
        {
            if (h[i] != h[0] || h[i + 1] != h[1])
            {
                return false;
            }
        }
        return true;
    }

    private static bool HasFlag(string flags, string name)
    {
        foreach (string part in flags.Split('|', '(', ')', ',', ' '))
        {
            if (part == name)
            {
                return true;
            }
        }
        return false;
    }

    private static string Location(CrashRecord crash) =>
        crash.SourceFile is null ? "?" : string.Create(CultureInfo.InvariantCulture, $"{crash.SourceFile}:{crash.SourceLine}");

    private static string Kind(CrashRecord crash) => crash.Kind switch
    {
        "bug" => crash.SourceFile is null ? "BUG" : "kernel BUG",
        "warning" => "WARNING",
        "kasan" or "kfence" or "kmsan" => $"{crash.Kind.ToUpperInvariant()} {crash.SanitizerKind}",
        "general_protection_fault" => crash.SanitizerKind is null ? "general protection fault" : $"general protection fault (KASAN {crash.SanitizerKind})",
        "bad_page_state" => "Bad page state",
        _ => crash.Kind.Replace('_', ' '),
    };

    // Subsystem and a one-line name: the source file's directory when printed, else the first frame outside the
    // reporting machinery, mapped by its prefix.
    private static (string Subsystem, string What) Describe(CrashRecord crash, Evidence e)
    {
        // The RIP names the site unless it is in the machinery (a fault inside __lock_acquire is its caller's).
        string? rip = crash.RipSymbol is string r && !s_machinery.Contains(Evidence.Normalize(r)) ? r : null;
        string? site = crash.Function ?? rip ?? e.FirstMeaningful();
        string subsystem;
        if (crash.SourceFile is string file && !file.StartsWith("include/", StringComparison.Ordinal))
        {
            subsystem = Directory(file);
        }
        else
        {
            subsystem = e.GuessSubsystem()
                ?? (crash.SourceFile is string header && s_mmHeaders.Contains(header) ? "mm"
                : crash.Kind is "bad_page_map" ? "mm/memory"
                : crash.Kind is "bad_rss_counter" ? "kernel/fork"
                : crash.Kind is "bad_page_state" ? "mm/page_alloc"
                : crash.SourceFile is null ? "unknown" : Directory(crash.SourceFile));
        }
        string what = Kind(crash) + (site is null ? "" : " in " + site) + (crash.SourceFile is null ? "" : $" ({Location(crash)})") + $" [{subsystem}]";
        return (subsystem, what);
    }

    private static string Directory(string file)
    {
        int slash = file.LastIndexOf('/');
        string dir = slash < 0 ? file : file[..slash];
        string name = slash < 0 ? file : file[(slash + 1)..];
        int dot = name.LastIndexOf('.');
        return dir == "mm" ? "mm/" + (dot < 0 ? name : name[..dot]) : dir;
    }

    /// <summary>The report's symbols by where they appear.</summary>
    private sealed class Evidence
    {
        private readonly CrashRecord _crash;
        private readonly List<string> _reliable = [];
        private readonly List<string> _unreliable = [];
        private readonly List<string> _alloc;
        private readonly List<string> _free;

        public Evidence(CrashRecord crash)
        {
            _crash = crash;
            foreach (CrashFrame f in crash.Frames)
            {
                (f.Unreliable ? _unreliable : _reliable).Add(Normalize(f.Symbol));
            }
            _alloc = crash.AllocStack.Where(f => !f.Unreliable).Select(f => Normalize(f.Symbol)).ToList();
            _free = crash.FreeStack.Where(f => !f.Unreliable).Select(f => Normalize(f.Symbol)).ToList();
        }

        public string? SiteIs(string[] names)
        {
            foreach (string? s in new[] { _crash.Function, _crash.RipSymbol })
            {
                if (s is not null && names.Contains(Normalize(s)))
                {
                    return Normalize(s);
                }
            }
            return null;
        }

        // The site, the RIP, or one of the first reliable frames after the reporting machinery.
        public string? SiteOrRip(string[] names) =>
            SiteIs(names) ?? _reliable.Where(s => !s_machinery.Contains(s)).Take(4).FirstOrDefault(names.Contains);

        public string? Reliable(string[] names) => SiteIs(names) ?? _reliable.FirstOrDefault(names.Contains);

        public string? InFree(string[] names) => _free.FirstOrDefault(names.Contains);

        public string? Any(string[] names) => Reliable(names) ?? _free.FirstOrDefault(names.Contains) ?? _alloc.FirstOrDefault(names.Contains);

        public IEnumerable<string> All(string[] names) =>
            new[] { _crash.Function, _crash.RipSymbol }.OfType<string>().Select(Normalize).Concat(_reliable).Concat(_free).Concat(_alloc)
                .Where(names.Contains).Distinct();

        public string? UnreliableOnly(string[] names) => Any(names) is null ? _unreliable.FirstOrDefault(names.Contains) : null;

        public string? FirstMeaningful() => _reliable.FirstOrDefault(s => !s_machinery.Contains(s) && !s.StartsWith("__pfx_", StringComparison.Ordinal));

        public string? GuessSubsystem()
        {
            foreach (string s in new[] { _crash.Function, _crash.RipSymbol }.OfType<string>().Select(Normalize).Concat(_reliable.Where(r => !s_machinery.Contains(r))).Take(8))
            {
                if (Prefix(s) is string sub)
                {
                    return sub;
                }
            }
            return null;
        }

        private static string? Prefix(string s)
        {
            (string Prefix, string Subsystem)[] table =
            [
                ("ext4_", "fs/ext4"), ("jbd2_", "fs/jbd2"), ("btrfs_", "fs/btrfs"), ("xfs_", "fs/xfs"), ("f2fs_", "fs/f2fs"), ("jfs_", "fs/jfs"), ("diAlloc", "fs/jfs"),
                ("dbAlloc", "fs/jfs"), ("__get_metapage", "fs/jfs"), ("ntfs_", "fs/ntfs3"), ("nilfs_", "fs/nilfs2"), ("ocfs2_", "fs/ocfs2"), ("gfs2_", "fs/gfs2"),
                ("fuse_", "fs/fuse"), ("nfs_", "fs/nfs"), ("hfs", "fs/hfs"), ("udf_", "fs/udf"), ("reiserfs_", "fs/reiserfs"), ("erofs_", "fs/erofs"), ("squashfs_", "fs/squashfs"),
                ("io_", "io_uring"), ("tcp_", "net/ipv4"), ("udp_", "net/ipv4"), ("ip6_", "net/ipv6"), ("sk_", "net/core"), ("skb_", "net/core"), ("netlink_", "net/netlink"),
                ("nf_", "net/netfilter"), ("kvm_", "virt/kvm"), ("usb_", "drivers/usb"), ("drm_", "drivers/gpu/drm"), ("bpf_", "kernel/bpf"), ("blk_", "block"),
                ("smp_call_function", "kernel/smp"), ("on_each_cpu", "kernel/smp"), ("rcu_", "kernel/rcu"), ("text_poke", "arch/x86/kernel"), ("jump_label", "kernel/jump_label"),
                ("perf_", "kernel/events"), ("tracepoint_", "kernel/tracepoint"), ("__isolate_free_page", "mm/page_alloc"), ("compaction_", "mm/compaction"),
                ("isolate_freepages", "mm/compaction"), ("isolate_migratepages", "mm/compaction"), ("dequeue_hwpoison", "mm/memory-failure"),
                ("memory_failure", "mm/memory-failure"), ("me_huge_page", "mm/memory-failure"), ("__vunmap", "mm/vmalloc"), ("vfree", "mm/vmalloc"),
                ("dma_", "kernel/dma"), ("__dma_", "kernel/dma"), ("change_page_attr", "arch/x86/mm"), ("set_memory_", "arch/x86/mm"), ("migrate_", "mm/migrate"), ("rmap_walk", "mm/rmap"), ("page_mkclean", "mm/rmap"), ("try_to_unmap", "mm/rmap"),
                ("anon_vma", "mm/rmap"), ("unlink_anon_vmas", "mm/rmap"), ("vma_adjust", "mm/mmap"), ("unmap_single_vma", "mm/memory"), ("kernfs_", "fs/kernfs"),
                ("move_page_tables", "mm/mremap"), ("move_normal_pmd", "mm/mremap"), ("__se_sys_mremap", "mm/mremap"), ("__do_sys_mremap", "mm/mremap"), ("do_mremap", "mm/mremap"),
                ("mremap", "mm/mremap"), ("khugepaged", "mm/khugepaged"), ("collapse_", "mm/khugepaged"), ("split_huge", "mm/huge_memory"), ("shmem_", "mm/shmem"),
                ("free_unref", "mm/page_alloc"), ("__free_pages", "mm/page_alloc"), ("folios_put", "mm/swap"), ("zap_", "mm/memory"), ("handle_mm_fault", "mm/memory"),
                ("do_anonymous_page", "mm/memory"), ("unmap_page_range", "mm/memory"), ("gup_", "mm/gup"), ("get_user_pages", "mm/gup"), ("mlock", "mm/mlock"),
                ("munlock", "mm/mlock"), ("kmem_cache_", "mm/slab"), ("__kmalloc", "mm/slab"), ("kfree", "mm/slab"), ("hugetlb", "mm/hugetlb"), ("memcg", "mm/memcontrol"),
                ("mem_cgroup", "mm/memcontrol"), ("vma_", "mm/vma"), ("mmap_region", "mm/mmap"), ("do_mmap", "mm/mmap"), ("userfaultfd", "fs/userfaultfd"),
                ("filemap_", "mm/filemap"), ("pagecache_", "mm/filemap"), ("truncate_", "mm/truncate"), ("madvise", "mm/madvise"), ("swap", "mm/swap"),
            ];
            foreach (var (prefix, subsystem) in table)
            {
                if (s.StartsWith(prefix, StringComparison.Ordinal))
                {
                    return subsystem;
                }
            }
            return null;
        }

        // "print_circular_bug.isra.0.cold" -> "print_circular_bug".
        public static string Normalize(string symbol)
        {
            int dot = symbol.IndexOf('.', StringComparison.Ordinal);
            return dot <= 0 ? symbol : symbol[..dot];
        }
    }
}
