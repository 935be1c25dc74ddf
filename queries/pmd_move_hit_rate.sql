-- mremap PMD-move hit rate by alignment (aligned/mutual/none) and size bucket: calls that moved, calls with a NORMAL_PMD move, calls that moved a huge PMD (THP, move_huge_pmd), bytes moved whole-PMD vs all moved bytes (needs 'mmtrace replay' first).
-- param: pid=0  only calls of this thread id (0: every thread)
-- One set of rows per replay run (profile, arch): the prediction depends on the kernel, and a trace replayed under
-- several profiles has its calls in each run.
-- Moves only: successful calls whose range left old_addr. The size is the moved length (least of old_len and
-- new_len, mremap_to() unmaps the tail of a shrinking move first); pmd_bytes counts 2 MiB per NORMAL_PMD extent
-- (a realigned head included), moved_bytes every extent that moved something (docs/mremap-prediction.md).
WITH moves AS (
    SELECT
        trace, profile, arch, alignment, pmd_moves, huge_moves, moved_bytes, undecided,
        least(old_len, new_len) AS length,
        CASE
            WHEN least(old_len, new_len) < 2097152 THEN 0
            WHEN least(old_len, new_len) < 4194304 THEN 1
            WHEN least(old_len, new_len) < 16777216 THEN 2
            ELSE 3
        END AS bucket
    FROM mremaps
    WHERE ret >= 0
      AND result_addr IS DISTINCT FROM old_addr
      AND (getvariable('pid')::INTEGER = 0 OR pid = getvariable('pid')::INTEGER)
)
SELECT
    trace,
    profile,
    arch,
    alignment,
    ['<2M', '2-4M', '4-16M', '>=16M'][bucket + 1] AS size_bucket,
    count(*) AS calls,
    count(*) FILTER (WHERE pmd_moves > 0) AS pmd_calls,
    round(100.0 * count(*) FILTER (WHERE pmd_moves > 0) / count(*), 1) AS pmd_call_pct,
    -- A THP moves whole by move_huge_pmd: no NORMAL_PMD extent, but not a PTE-by-PTE move either.
    count(*) FILTER (WHERE huge_moves > 0) AS huge_pmd_calls,
    round(100.0 * count(*) FILTER (WHERE huge_moves > 0) / count(*), 1) AS huge_pmd_call_pct,
    sum(pmd_moves)::BIGINT * 2097152 AS pmd_bytes,
    sum(huge_moves)::BIGINT * 2097152 AS huge_pmd_bytes,
    sum(moved_bytes)::BIGINT AS moved_bytes,
    round(100.0 * sum(pmd_moves) * 2097152 / nullif(sum(moved_bytes), 0), 1) AS pmd_byte_pct,
    count(*) FILTER (WHERE undecided) AS undecided
FROM moves
GROUP BY trace, profile, arch, alignment, bucket
ORDER BY trace, profile, arch, CASE alignment WHEN 'aligned' THEN 0 WHEN 'mutual' THEN 1 ELSE 2 END, bucket;
