-- TLB flushes by reason: how many, how many were full flushes (pages = -1), and the page counts of ranged ones.
SELECT
    trace,
    reason,
    CASE reason
        WHEN 0 THEN 'flush on task switch'
        WHEN 1 THEN 'remote shootdown'
        WHEN 2 THEN 'local shootdown'
        WHEN 3 THEN 'local MM shootdown'
        WHEN 4 THEN 'remote IPI send'
        WHEN 5 THEN 'remote wrong CPU'
        ELSE 'unknown'
    END AS reason_name,
    count(*) AS flushes,
    count(*) FILTER (WHERE pages = -1) AS full_flushes,
    median(pages) FILTER (WHERE pages >= 0) AS median_pages,
    max(pages) AS max_pages
FROM events
WHERE event = 'tlb:tlb_flush'
GROUP BY ALL
ORDER BY trace, reason;
