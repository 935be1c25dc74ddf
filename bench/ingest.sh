#!/usr/bin/env bash
# Whole-command ingest benchmark on a trace recorded on this machine (needs root, tracefs, trace-cmd, perf, cc).
#
#   bench/ingest.sh [PAGES ROUNDS]      default 4096 320  (about 10.5 M events; 4096 32 gives 1.05 M)
#
# MMTRACE_BENCH_DIR=DIR keeps the recorded files in DIR and reuses them on the next run (same trace, so runs
# compare); without it everything lives in a temp dir that is removed at exit. MMTRACE_BENCH_RUNS=N (default 3)
# times each command N times, interleaved, and prints every run: on a shared 2-core VM runs differ by 10-30 %.
#
# Records the mm workload into a private tracefs instance, keeps the kernel's trace text and a trace.dat
# of the same buffer (trace-cmd extract -B), records the same workload with perf, then times
#   mmtrace ingest (text), mmtrace ingest (trace.dat), trace-cmd report -i trace.dat > /dev/null,
#   mmtrace ingest (perf script text)
# reporting events/s and peak RSS (GNU time). The ring buffer is sized for the trace and the run stops if the
# kernel reports an overrun, so every run ingests the whole workload. Nothing large is committed.
#
# What is timed is what users run: the README's self-contained single file (dotnet publish with the RID's
# PublishProfile: ReadyToRun, so less of each run is JIT), published into the work dir. The trace.dat ingest is
# also timed from the `dotnet build` output, labelled so, since the numbers in docs/benchmarks.md before
# 2026-12-06 (s27) are of that build. MMTRACE_BENCH_BUILD=0 leaves the build-output run out.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pages=${1:-4096}
rounds=${2:-320}
if [[ -n ${MMTRACE_BENCH_DIR:-} ]]; then work="$MMTRACE_BENCH_DIR"; keep=1; mkdir -p "$work"; else work="$(mktemp -d /tmp/mmtrace-bench-XXXXXX)"; keep=0; fi
T=/sys/kernel/tracing
inst="mmtrace-bench-$$"
cleanup() { [[ -d "$T/instances/$inst" ]] && { echo 0 > "$T/instances/$inst/tracing_on"; rmdir "$T/instances/$inst"; }; if ((keep)); then rm -rf "$work"/ds-* "$work"/out.txt "$work"/publish; else rm -rf "$work"; fi; }
trap cleanup EXIT

command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
command -v trace-cmd >/dev/null || { apt-get update -qq && apt-get install -y -qq trace-cmd >/dev/null; }
[[ -e $T/available_events ]] || mount -t tracefs nodev $T
dotnet build "$here/src/Cli/Cli.csproj" -c Release -nologo -v quiet -clp:ErrorsOnly
built="dotnet $here/src/Cli/bin/Release/net10.0/mmtrace.dll"
case "$(uname -m)" in x86_64) rid=linux-x64 ;; aarch64) rid=linux-arm64 ;; *) echo "bench/ingest.sh: no publish profile for $(uname -m)" >&2; exit 1 ;; esac
dotnet publish "$here/src/Cli" -r "$rid" -p:PublishProfile="$rid" -p:PublishDir="$work/publish/" -nologo -v quiet -clp:ErrorsOnly
mmtrace="$work/publish/mmtrace"
# The single file unpacks its native libraries on its first run: not part of what is timed.
"$mmtrace" --version >/dev/null
cc -O1 -o "$work/mmwork" "$here/tests/workloads/mmwork.c"

if [[ ! -s $work/trace.dat || ! -s $work/perf.txt || "$(cat "$work/recipe" 2>/dev/null)" != "$pages $rounds" ]]; then
# mmap:exit_mmap is the teardown of an address space: the ring buffer records the whole machine, and without it
# replay must keep the page tables of every process that ever ran (docs/benchmarks.md, replay memory).
events="tlb:tlb_flush syscalls:sys_enter_mremap syscalls:sys_exit_mremap exceptions:page_fault_user kmem:mm_page_free kmem:mm_page_alloc kmem:rss_stat mmap_lock:mmap_lock_start_locking mmap_lock:mmap_lock_acquire_returned mmap_lock:mmap_lock_released mmap:exit_mmap"
mkdir "$T/instances/$inst"
I="$T/instances/$inst"
echo $(( rounds * 4096 > 262144 ? rounds * 4096 : 262144 )) > "$I/buffer_size_kb"
for e in $events; do echo "$e" >> "$I/set_event"; done
echo 1 > "$I/tracing_on"
"$work/mmwork" "$pages" "$rounds" >/dev/null
echo 0 > "$I/tracing_on"
if grep -q '^overrun: [1-9]' "$I"/per_cpu/cpu*/stats; then
    echo "bench/ingest.sh: the ring buffer overran (events lost); lower ROUNDS" >&2; exit 1
fi
cat "$I/trace" > "$work/trace.txt"
trace-cmd extract -B "$inst" -o "$work/trace.dat" >/dev/null 2>&1
[[ -d "$I" ]] && rmdir "$I" 2>/dev/null || true

perf record -q -a -o "$work/perf.data" $(for e in $events; do printf -- '-e %s ' "$e"; done) -- "$work/mmwork" "$pages" "$rounds" >/dev/null 2>&1
perf script -i "$work/perf.data" --ns -F comm,tid,pid,cpu,time,event,trace > "$work/perf.txt" 2>/dev/null

echo "$pages $rounds" > "$work/recipe"
fi

run() { # name, command...
    local name=$1; shift
    local out; out=$( { /usr/bin/time -f "TIME %e %M" "$@" > "$work/out.txt"; } 2>&1 | grep '^TIME' )
    local secs=${out#TIME }; secs=${secs%% *}; local rss=${out##* }
    local ev; ev=$(grep -oE '^wrote .*: [0-9,]+ events' "$work/out.txt" | grep -oE '[0-9,]+ events' | tr -d ', events' || true)
    printf '%-34s %10s s %12s events %10s M ev/s %8s MiB peak RSS\n' "$name" "$secs" "${ev:--}" \
        "$( [[ -n "$ev" ]] && awk -v e="$ev" -v s="$secs" 'BEGIN{printf "%.2f", e/s/1e6}' || echo -)" "$((rss / 1024))"
}
echo "machine: $(lscpu | grep 'Model name' | sed 's/.*: *//'), $(nproc) cores; kernel $(uname -r); $(date -u +%F)"
echo "timed: the published single file ($rid, ReadyToRun); \"(dotnet build)\": the Release build output run by dotnet"
ls -l "$work"/trace.txt "$work"/trace.dat "$work"/perf.txt | awk '{print "  " $5 " bytes  " $9}'
for ((r = 1; r <= ${MMTRACE_BENCH_RUNS:-3}; r++)); do
    echo "run $r"
    run "ingest ftrace text"            $mmtrace ingest "$work/trace.txt" -o "$work/ds-text"
    run "ingest trace.dat"              $mmtrace ingest "$work/trace.dat" -o "$work/ds-dat"
    if [[ ${MMTRACE_BENCH_BUILD:-1} != 0 ]]; then
        run "ingest trace.dat (dotnet build)" $built ingest "$work/trace.dat" -o "$work/ds-dat-build"
    fi
    run "trace-cmd report (same .dat)"  trace-cmd report -i "$work/trace.dat"
    run "ingest perf script"            $mmtrace ingest "$work/perf.txt" -o "$work/ds-perf"
done
