#!/usr/bin/env bash
# One validation run by hand (what MremapValidationTests does, with every number printed), for docs/validation.md:
#   tests/Cli.Tests/Validation/validate.sh [ROUNDS] [OUTDIR]
# Needs root, tracefs and cc. Prints the per-call comparison (workload / prediction / kernel witness) and the
# latency summaries, and leaves the dataset in OUTDIR (default: a new temporary directory).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
rounds="${1:-5}"
out="${2:-$(mktemp -d /tmp/mremap-validation.XXXXXX)}"
mkdir -p "$out"
"$repo/mmtrace" --help > /dev/null   # builds the CLI when a source changed
mmtrace() { dotnet "$repo/src/Cli/bin/Release/net10.0/mmtrace.dll" "$@"; }
cc -O1 -Wall -o "$out/mremap_align" "$repo/tests/workloads/mremap_align.c"
events="syscalls:sys_enter_mremap,syscalls:sys_exit_mremap,syscalls:sys_enter_mmap,syscalls:sys_exit_mmap"
events+=",syscalls:sys_enter_munmap,syscalls:sys_exit_munmap,syscalls:sys_enter_madvise,syscalls:sys_exit_madvise"
events+=",syscalls:sys_enter_mprotect,syscalls:sys_exit_mprotect,syscalls:sys_enter_brk,syscalls:sys_exit_brk"
events+=",exceptions:page_fault_user,kmem:mm_page_alloc,sched:sched_process_exec,sched:sched_process_fork"
events+=",sched:sched_process_exit,tlb:tlb_flush"
rm -rf "$out/ds"
mmtrace record -o "$out/ds" --events "$events" --buffer-kb 65536 -- "$out/mremap_align" "$rounds" > "$out/record.txt"
grep -v '^call=' "$out/record.txt"
pid="$(sed -n 's/^mremap_align pid=\([0-9]*\) .*/\1/p' "$out/record.txt")"
mmtrace replay "$out/ds" --profile latest > /dev/null
grep '^call=' "$out/record.txt" | sed 's/^call=\([0-9]*\) class=\([^ ]*\) old=\([^ ]*\) new=\([^ ]*\) len=\([0-9]*\) expect_pmd=\([0-9]*\) realign=\([01]\) ns=\([0-9]*\)/\1,\2,\3,\4,\5,\6,\7,\8/' > "$out/workload.csv"
mmtrace query "$out/ds" --format table --sql "
WITH w AS (SELECT column0 AS call, column1 AS class, column4 AS len, column5 AS expect_pmd, column6 = 1 AS expect_realign,
                  column7 AS workload_ns FROM read_csv('$out/workload.csv', header = false)),
m AS (SELECT row_number() OVER (ORDER BY seq) - 1 AS call, * FROM mremaps WHERE pid = $pid),
k AS (SELECT m.call, ((m.new_addr + m.old_len - 1) // 2097152 - m.new_addr // 2097152 + 1) - count(e.seq) AS kernel_pmd
      FROM m LEFT JOIN events e ON e.pid = m.pid AND e.event = 'kmem:mm_page_alloc' AND e.page_order = 0
       AND e.gfp_flags LIKE 'GFP_KERNEL_ACCOUNT|__GFP_ZERO%' AND e.ts_ns BETWEEN m.ts_ns AND m.ts_ns + m.duration_ns
      GROUP BY m.call, m.new_addr, m.old_len)
SELECT w.class, w.len, count(*) AS calls, any_value(w.expect_pmd) AS expect_pmd,
       count(*) FILTER (WHERE m.pmd_moves = w.expect_pmd) AS predicted_equal,
       count(*) FILTER (WHERE k.kernel_pmd = w.expect_pmd) AS kernel_equal,
       count(*) FILTER (WHERE m.realigned = w.expect_realign AND NOT m.undecided) AS realign_equal_decided,
       median(m.duration_ns)::BIGINT AS trace_p50_ns, median(w.workload_ns)::BIGINT AS workload_p50_ns
FROM w JOIN m USING (call) JOIN k USING (call)
GROUP BY ALL ORDER BY min(w.call)"
mmtrace query "$out/ds" --format table --sql "
SELECT CASE WHEN pte_extents = 0 THEN 'pmd' ELSE 'pte' END AS path, count(*) AS calls,
       round(median(duration_ns * 1048576.0 / old_len)) AS p50_ns_per_mib,
       round(min(duration_ns * 1048576.0 / old_len)) AS min_ns_per_mib, round(max(duration_ns * 1048576.0 / old_len)) AS max_ns_per_mib
FROM mremaps WHERE pid = $pid AND old_len >= 8388608
  AND ((pmd_moves > 0 AND pte_extents = 0) OR (pmd_moves = 0 AND pte_extents > 0))
GROUP BY ALL ORDER BY path"
mmtrace query "$out/ds" --name mremap_latency --param "pid=$pid"
mmtrace query "$out/ds" --name pmd_move_hit_rate --param "pid=$pid"
echo "dataset: $out/ds"
