-- mmap_lock acquisition latency (start_locking to acquire_returned on the same thread), by mode.
-- param: min_events=1  only show groups with at least this many acquisitions
WITH locks AS (
    SELECT
        trace, pid, comm, event, ts_ns, write, success,
        lead(event) OVER w AS next_event,
        lead(ts_ns) OVER w AS next_ts
    FROM events
    WHERE event IN ('mmap_lock:mmap_lock_start_locking', 'mmap_lock:mmap_lock_acquire_returned')
    WINDOW w AS (PARTITION BY trace, pid ORDER BY ts_ns, seq)
)
SELECT
    trace,
    CASE WHEN write THEN 'write' ELSE 'read' END AS mode,
    count(*) AS acquisitions,
    quantile_disc(next_ts - ts_ns, 0.5) AS p50_ns,
    quantile_disc(next_ts - ts_ns, 0.99) AS p99_ns,
    max(next_ts - ts_ns) AS max_ns
FROM locks
WHERE event = 'mmap_lock:mmap_lock_start_locking'
  AND next_event = 'mmap_lock:mmap_lock_acquire_returned'
GROUP BY ALL
HAVING count(*) >= CAST(getvariable('min_events') AS BIGINT)
ORDER BY trace, mode;
