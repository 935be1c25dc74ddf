#!/usr/bin/env bash
# Events recorded and lost by `mmtrace record`, two builds interleaved (A B A B ...), on the raceactors workload with
# coverage's R1/R2/R4 record line (docs/validation.md), alone and beside a read/write storm of another process.
#
#   bench/record-loss.sh MMTRACE_A MMTRACE_B RACEACTORS [ROUNDS] [OUTDIR]
#
# MMTRACE_A/B: mmtrace executables (e.g. main's build and this branch's); RACEACTORS: tests/workloads/raceactors.c
# built with `cc -O1 -o raceactors raceactors.c -lpthread`. Needs root and tracefs. Prints one line per run:
#   scenario build buffer_kb events lost elapsed_s user_s sys_s maxrss_kb
# (CPU seconds and RSS are the recorder's and the workload's, from GNU time.)
set -euo pipefail
a=$1 b=$2 workload=$3 rounds=${4:-3} out=${5:-$(mktemp -d)}
events=mm,filemap:mm_filemap_fault,filemap:mm_filemap_add_to_page_cache,filemap:mm_filemap_delete_from_page_cache,syscalls:sys_enter_openat,syscalls:sys_exit_openat,syscalls:sys_enter_close,syscalls:sys_enter_vmsplice,syscalls:sys_enter_pread64,syscalls:sys_enter_read,syscalls:sys_enter_preadv,syscalls:sys_enter_pwrite64,syscalls:sys_enter_write,compaction:mm_compaction_begin,compaction:mm_compaction_end
mkdir -p "$out"
storm_pid=
stop_storm() { if [[ -n $storm_pid ]]; then kill "$storm_pid" 2>/dev/null || true; wait "$storm_pid" 2>/dev/null || true; storm_pid=; fi; }
trap stop_storm EXIT

run() { # scenario build exe buffer_kb storm(0|1) round
    local ds="$out/$1-$2-$6"
    rm -rf "$ds"
    if [[ $5 == 1 ]]; then
        # One-byte reads and writes: two syscalls per byte, as many as a CPU can make.
        dd if=/dev/zero of=/dev/null bs=1 2>/dev/null &
        storm_pid=$!
    fi
    /usr/bin/time -o "$ds.time" -f "%e %U %S %M" timeout 600 "$3" record -o "$ds" --buffer-kb "$4" --events "$events" -- "$workload" 6 >"$ds.out" 2>"$ds.err" || true
    local t
    t=$(tail -1 "$ds.time")
    stop_storm
    local line
    line=$(grep '^wrote ' "$ds.out" || echo "wrote ?: ? events, ? lost")
    local n lost
    n=$(sed -E 's/.*: ([0-9,?]+) events, ([0-9,?]+) lost.*/\1/' <<<"$line" | tr -d ,)
    lost=$(sed -E 's/.*: ([0-9,?]+) events, ([0-9,?]+) lost.*/\2/' <<<"$line" | tr -d ,)
    echo "$1 $2 $4 $n $lost $t"
}

echo "# $(date -u '+%F %H:%M UTC') $(uname -r) load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# scenario build buffer_kb events lost elapsed_s user_s sys_s maxrss_kb"
for round in $(seq 1 "$rounds"); do
    for scenario in quiet-1m storm-1m storm-16m; do
        case $scenario in
            quiet-1m) kb=1024 storm=0 ;;
            storm-1m) kb=1024 storm=1 ;;
            storm-16m) kb=16384 storm=1 ;;
        esac
        run "$scenario" A "$a" "$kb" "$storm" "$round"
        run "$scenario" B "$b" "$kb" "$storm" "$round"
    done
done
echo "# $(date -u '+%F %H:%M UTC') load: $(cut -d' ' -f1-3 /proc/loadavg); datasets in $out"
