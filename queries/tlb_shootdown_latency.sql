-- TLB shootdown latency: from an initiator's IPI send (tlb_flush reason 4) to the remote flushes it caused (reason 1 flushed, 5 left a CPU running another mm) on the other CPUs.
-- param: max_ns=1000000  pair a remote flush with the latest IPI send of another CPU at most this long before it
WITH sends AS (
    SELECT trace, seq, ts_ns, cpu, pid, comm, pages FROM events
    WHERE event = 'tlb:tlb_flush' AND reason = 4
),
remotes AS (
    SELECT trace, seq, ts_ns, cpu, reason FROM events
    WHERE event = 'tlb:tlb_flush' AND reason IN (1, 5)
),
-- Each remote flush belongs to the most recent IPI send from another CPU before it (tlb_flush carries no id;
-- csd_function_entry func=flush_tlb_func would say exactly, when it is traced).
matched AS (
    SELECT r.trace, r.cpu AS target, r.reason, r.ts_ns - s.ts_ns AS latency_ns, s.seq AS send_seq, s.comm, s.pages,
           row_number() OVER (PARTITION BY r.trace, r.seq ORDER BY s.ts_ns DESC, s.seq DESC) AS rank
    FROM remotes r
    JOIN sends s ON s.trace = r.trace AND s.cpu <> r.cpu AND s.ts_ns <= r.ts_ns
                AND r.ts_ns - s.ts_ns <= CAST(getvariable('max_ns') AS BIGINT)
),
per_send AS (
    SELECT trace, send_seq, max(latency_ns) AS last_remote_ns, count(*) AS targets,
           bool_or(pages = -1) AS full_flush
    FROM matched WHERE rank = 1
    GROUP BY ALL
)
SELECT
    trace,
    count(*) AS shootdowns,
    sum(targets) AS remote_flushes,
    count(*) FILTER (WHERE full_flush) AS full_flushes,
    quantile_disc(last_remote_ns, 0.5) AS p50_ns,
    quantile_disc(last_remote_ns, 0.9) AS p90_ns,
    quantile_disc(last_remote_ns, 0.99) AS p99_ns,
    max(last_remote_ns) AS max_ns
FROM per_send
GROUP BY ALL
ORDER BY trace;
