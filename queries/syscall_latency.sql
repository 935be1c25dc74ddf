-- Latency of the mm system calls (sys_enter to sys_exit on the same thread) by call: count, percentiles, failures.
-- param: syscall=%  only calls whose name matches this LIKE pattern (e.g. mremap)
WITH calls AS (
    SELECT
        trace, pid, event, ts_ns,
        lead(event) OVER w AS next_event,
        lead(ts_ns) OVER w AS next_ts,
        lead(ret) OVER w AS next_ret
    FROM events
    WHERE event LIKE 'syscalls:sys_enter_%' OR event LIKE 'syscalls:sys_exit_%'
    WINDOW w AS (PARTITION BY trace, pid ORDER BY ts_ns, seq)
)
SELECT
    trace,
    replace(event, 'syscalls:sys_enter_', '') AS syscall,
    count(*) AS calls,
    count(*) FILTER (WHERE next_ret < 0) AS failed,
    quantile_disc(next_ts - ts_ns, 0.5) AS p50_ns,
    quantile_disc(next_ts - ts_ns, 0.9) AS p90_ns,
    quantile_disc(next_ts - ts_ns, 0.99) AS p99_ns,
    max(next_ts - ts_ns) AS max_ns
FROM calls
WHERE event LIKE 'syscalls:sys_enter_%'
  AND next_event = replace(event, 'sys_enter_', 'sys_exit_')
  AND replace(event, 'syscalls:sys_enter_', '') LIKE getvariable('syscall')
GROUP BY ALL
ORDER BY trace, syscall;
