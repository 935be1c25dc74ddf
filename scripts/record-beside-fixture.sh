#!/bin/sh
# Records the dataset tests/data/recorded/datasets/beside_lab/ (root, tracefs, a C compiler, jq): a lab's workload
# (tests/workloads/raceactors.c 6) started by a harness of its own (setsid, not a child of the recorder; it waits for a
# file before it execs the workload, so its whole run is inside the recording) and `mmtrace record` run beside it,
# without --system-wide, with the events of coverage's record lines for R1, R2 and R4, its command only waiting for the
# workload (`tail --pid`). Then the dataset is cut to what the tests need, with DuckDB, rows unchanged: every event of
# the command's processes, the workload's first 600 own-RSS changes (kmem:rss_stat curr=1) and its huge_memory events
# (the collapses coverage counts), and meta.json's counts recomputed for the cut (its process_filter, enabled_events and
# lost_events as the recorder wrote them). Usage: record-beside-fixture.sh OUTDIR
set -eu
out=${1:?usage: $0 OUTDIR}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
lab=
cleanup() {
    [ -n "$lab" ] && kill "$lab" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
cc -O2 -pthread -o "$work/raceactors" "$repo/tests/workloads/raceactors.c"
cat > "$work/lab.sh" <<EOF
#!/bin/sh
while [ ! -e "$work/go" ]; do sleep 0.05; done
exec "$work/raceactors" 6
EOF
chmod +x "$work/lab.sh"
events=mm,compaction:mm_compaction_begin,compaction:mm_compaction_end,filemap:mm_filemap_add_to_page_cache,filemap:mm_filemap_delete_from_page_cache,filemap:mm_filemap_fault,syscalls:sys_enter_close,syscalls:sys_enter_fallocate,syscalls:sys_enter_openat,syscalls:sys_enter_pread64,syscalls:sys_enter_preadv,syscalls:sys_enter_pwrite64,syscalls:sys_enter_read,syscalls:sys_enter_vmsplice,syscalls:sys_enter_write,syscalls:sys_exit_openat
setsid "$work/lab.sh" > "$work/lab.out" 2>&1 < /dev/null &
lab=$!
"$repo/mmtrace" record -o "$work/full" --buffer-kb 65536 --events "$events" -- sh -c "touch $work/go; exec tail --pid=$lab -f /dev/null"
lab=
tail -1 "$work/lab.out"
pid=$(sed -n 's/^raceactors pid=\([0-9]*\) .*/\1/p' "$work/lab.out")
command=$(jq .process_filter.command_pid "$work/full/meta.json")
filtered=$(jq -r '.process_filter.events | map("'"'"'" + . + "'"'"'") | join(",")' "$work/full/meta.json")
rm -rf "$out"
mkdir -p "$out"
"$repo/mmtrace" query "$work/full" --format csv --sql "
    COPY (
        WITH tree AS (SELECT DISTINCT tgid FROM read_parquet('$work/full/events.parquet') WHERE event IN ($filtered) UNION SELECT $command),
        rss AS (SELECT seq FROM read_parquet('$work/full/events.parquet')
                WHERE tgid = $pid AND event = 'kmem:rss_stat' AND json_extract_string(args, '\$.curr') = '1' ORDER BY seq LIMIT 600)
        SELECT * FROM read_parquet('$work/full/events.parquet')
        WHERE tgid IN (SELECT tgid FROM tree) OR seq IN (SELECT seq FROM rss) OR (tgid = $pid AND event LIKE 'huge_memory:%')
        ORDER BY seq
    ) TO '$out/events.parquet' (FORMAT parquet, COMPRESSION zstd)" > /dev/null
counts=$("$repo/mmtrace" query "$work/full" --format json --sql "SELECT event, count(*) AS n FROM read_parquet('$out/events.parquet') GROUP BY event ORDER BY event")
jq --argjson counts "$counts" '.trace_id = "beside_lab" | .events = ($counts | map(.n) | add) | .event_counts = ($counts | map({(.event): .n}) | add)' \
    "$work/full/meta.json" > "$out/meta.json"
echo "workload pid=$pid command pid=$command: $(jq .events "$out/meta.json") events kept of $(jq .events "$work/full/meta.json")"
