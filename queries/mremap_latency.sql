-- mremap latency (sys_enter to sys_exit) by predicted path (pmd, pte, mixed, none) and size bucket: percentiles and ns per MiB moved (needs 'mmtrace replay' first).
-- param: pid=0  only calls of this thread id (0: every thread)
-- One set of rows per replay run (profile, arch): the prediction depends on the kernel, and a trace replayed under
-- several profiles has its calls in each run.
-- path: pmd = only NORMAL_PMD/PUD extents, pte = only move_ptes extents, mixed = both, none = neither (nothing
-- populated, in-place resize, or huge-page moves). ns per MiB divides by the moved length (least of old_len and
-- new_len), so the per-call cost (VMA split, copy_vma, unmapping) weighs most on small calls.
WITH calls AS (
    SELECT
        trace, profile, arch, duration_ns,
        least(old_len, new_len) AS length,
        CASE
            WHEN pmd_moves + pud_moves > 0 AND pte_extents = 0 THEN 'pmd'
            WHEN pmd_moves + pud_moves = 0 AND pte_extents > 0 THEN 'pte'
            WHEN pmd_moves + pud_moves > 0 THEN 'mixed'
            ELSE 'none'
        END AS path,
        CASE
            WHEN least(old_len, new_len) < 2097152 THEN 0
            WHEN least(old_len, new_len) < 4194304 THEN 1
            WHEN least(old_len, new_len) < 16777216 THEN 2
            ELSE 3
        END AS bucket
    FROM mremaps
    WHERE duration_ns IS NOT NULL
      AND ret >= 0
      AND (getvariable('pid')::INTEGER = 0 OR pid = getvariable('pid')::INTEGER)
)
SELECT
    trace,
    profile,
    arch,
    path,
    ['<2M', '2-4M', '4-16M', '>=16M'][bucket + 1] AS size_bucket,
    count(*) AS calls,
    quantile_disc(duration_ns, 0.5) AS p50_ns,
    quantile_disc(duration_ns, 0.9) AS p90_ns,
    max(duration_ns) AS max_ns,
    round(quantile_cont(duration_ns * 1048576.0 / nullif(length, 0), 0.5)) AS p50_ns_per_mib,
    round(min(duration_ns * 1048576.0 / nullif(length, 0))) AS min_ns_per_mib,
    round(max(duration_ns * 1048576.0 / nullif(length, 0))) AS max_ns_per_mib
FROM calls
GROUP BY trace, profile, arch, path, bucket
ORDER BY trace, profile, arch, CASE path WHEN 'pmd' THEN 0 WHEN 'mixed' THEN 1 WHEN 'pte' THEN 2 ELSE 3 END, bucket;
