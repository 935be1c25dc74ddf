#!/bin/sh
# Records the raw capture tests/data/recorded/raw-pages/comms/ (root, tracefs): a pid used by two processes one after
# the other (alpha, then beta) and a process that execs under another name (gamma, a shell, execs
# delta-with-a-long-name), in a private instance; then the kernel's text of the buffer, its per-CPU raw pages, the
# event formats, saved_cmdlines and saved_tgids. The pids are chosen through /proc/sys/kernel/ns_last_pid (the next
# fork takes the next free pid after it), so the reuse does not wait for the pid space to wrap; the events are
# filtered to those pids, so nothing else of the machine is in it. Usage: record-comms-fixture.sh OUTDIR
set -eu
out=${1:?usage: $0 OUTDIR}
T=/sys/kernel/tracing
# Not "mmtrace-...": a recording removes the instances named mmtrace-PID-... whose PID is gone.
I=$T/instances/comms-fixture-$$
work=$(mktemp -d)
cleanup() {
    [ -d "$I" ] && { echo 0 > "$I/tracing_on"; rmdir "$I"; }
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
for n in alpha beta delta-with-a-long-name; do ln -s /bin/true "$work/$n"; done
ln -s /bin/sh "$work/gamma"

# Two free pids: P for alpha and beta, Q for gamma.
free_pid() {
    p=$1
    while [ -e /proc/$p ] || [ -e /proc/$((p - 1)) ]; do p=$((p + 7)); done
    echo $p
}
P=$(free_pid 20000)
Q=$(free_pid $((P + 50)))

mkdir "$I"
echo 0 > "$I/tracing_on"
echo 64 > "$I/buffer_size_kb"
echo local > "$I/trace_clock"
echo 1 > "$I/options/record-tgid"
pids="pid == $P || pid == $Q"
echo "common_pid == $P || common_pid == $Q" > "$I/events/syscalls/sys_enter_mmap/filter"
echo "child_pid == $P || child_pid == $Q" > "$I/events/sched/sched_process_fork/filter"
for e in sched_process_exec sched_process_exit sched_process_free; do echo "$pids" > "$I/events/sched/$e/filter"; done
for e in syscalls/sys_enter_mmap sched/sched_process_fork sched/sched_process_exec sched/sched_process_exit sched/sched_process_free; do
    echo 1 > "$I/events/$e/enable"
done
echo 1 > "$I/tracing_on"
echo $((P - 1)) > /proc/sys/kernel/ns_last_pid; "$work/alpha"
sleep 0.2   # sched_process_free comes from an RCU callback
echo $((P - 1)) > /proc/sys/kernel/ns_last_pid; "$work/beta"
sleep 0.2
echo $((Q - 1)) > /proc/sys/kernel/ns_last_pid; "$work/gamma" -c "exec $work/delta-with-a-long-name"
sleep 0.2
echo 0 > "$I/tracing_on"

mkdir -p "$out/formats"
cat "$I/trace" > "$out/trace_before_raw_read.txt"
for d in "$I"/per_cpu/cpu*; do
    cpu=${d##*/cpu}
    dd if="$d/trace_pipe_raw" of="$out/cpu$cpu.bin" bs=4096 iflag=nonblock status=none 2>/dev/null || true
    [ -s "$out/cpu$cpu.bin" ] || rm -f "$out/cpu$cpu.bin"
done
cp "$T/events/header_page" "$T/events/header_event" "$out/formats/"
for e in syscalls/sys_enter_mmap sched/sched_process_fork sched/sched_process_exec sched/sched_process_exit sched/sched_process_free; do
    mkdir -p "$out/formats/${e%/*}"
    cp "$T/events/$e/format" "$out/formats/$e.format"
done
cat "$T/saved_cmdlines" | awk -v p=$P -v q=$Q '$1 == p || $1 == q' > "$out/saved_cmdlines"
cat "$T/saved_tgids" | awk -v p=$P -v q=$Q '$1 == p || $1 == q' > "$out/saved_tgids"
echo "P=$P Q=$Q"
