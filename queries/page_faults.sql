-- User page faults per task: total, write faults, and faults on present pages (protection faults).
SELECT
    trace, pid, comm,
    count(*) AS faults,
    count(*) FILTER (WHERE (error_code & 2) <> 0) AS write_faults,
    count(*) FILTER (WHERE (error_code & 1) <> 0) AS protection_faults,
    count(DISTINCT address >> 12) AS distinct_pages
FROM events
WHERE event = 'exceptions:page_fault_user'
GROUP BY ALL
ORDER BY trace, faults DESC, pid;
