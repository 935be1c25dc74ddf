#!/bin/sh
# Makes a real kernel's SysRq-z ftrace dump in a console log: tests/data/recorded/console/ (docs/validation.md,
# "A real kernel's SysRq-z dump").
#
# The reference machine's kernel (6.18.44) is built without CONFIG_MAGIC_SYSRQ (no /proc/sysrq-trigger) and keeps
# function tracing closed (set_ftrace_filter, whose "FUNC:dump" probe would call ftrace_dump, gives EPERM); the other
# callers of ftrace_dump are an oops (ftrace_dump_on_oops) and an RCU stall, which nobody should cause on a shared
# machine. So the dump is made by a real kernel in a virtual machine: Debian's packaged kernel (linux-image-amd64,
# CONFIG_MAGIC_SYSRQ=y) boots under QEMU/KVM with an initramfs of busybox and the workload, enables the mm event set
# (mmtrace record --events mm) in its top-level trace buffer (which is what SysRq-z dumps), runs the workload, writes
# 'z' to /proc/sysrq-trigger and powers off. Nothing of the host's tracing is touched: the guest has its own kernel.
#
# What is captured, each as the guest's kernel printed it:
#   console.txt   the serial console (ttyS0): what a user pastes from a serial or netconsole capture
#   dmesg.txt     busybox `dmesg` run after the dump (the kernel's syslog(2) text: "[  t.tttttt] message")
#   dmesg-r.txt   `dmesg -r` (the same with the "<level>" of each record)
#   kmsg.txt      /dev/kmsg records ("level,seq,usec,flags;message")
#   workload.txt  the workload's own output, /proc/version, the event list and what the kernel lacked
#
# The fixtures are console.txt, dmesg.txt and kmsg.txt compressed with `zstd -19` and workload.txt as it is.
#
# Usage: [KERNEL_ARGS=...] [WORKLOAD_ARGS=...] record-sysrq-fixture.sh OUTDIR [WORKLOAD.c] [BUFFER_KB]
# KERNEL_ARGS are added to the guest kernel's command line, WORKLOAD_ARGS to the workload's. The two fixtures:
#   record-sysrq-fixture.sh OUT                          (sysrq_dumpactors_6.1.*)
#   KERNEL_ARGS=movablecore=512M WORKLOAD_ARGS=walkers record-sysrq-fixture.sh OUT tests/workloads/dumpactors.c 2048
#                                                        (sysrq_dumpwalkers_6.1.*: movablecore puts user pages in
#                                                        ZONE_MOVABLE, whose memory blocks go offline)
# Needs (as root): qemu-system-x86 (KVM if /dev/kvm is there, else TCG, slow), linux-image-amd64, busybox-static, gcc,
# cpio, gzip; apt-get installs them with: apt-get install -y --no-install-recommends qemu-system-x86 linux-image-amd64
# busybox-static cpio
set -eu
out=${1:?usage: $0 OUTDIR [WORKLOAD.c] [BUFFER_KB]}
here=$(cd "$(dirname "$0")" && pwd)
src=${2:-$here/../tests/workloads/dumpactors.c}
buffer_kb=${3:-512}

kernel=$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)
[ -n "$kernel" ] || { echo "$0: no kernel in /boot (apt-get install linux-image-amd64)" >&2; exit 1; }
for tool in qemu-system-x86_64 gcc cpio gzip; do
    command -v "$tool" >/dev/null || { echo "$0: $tool is missing" >&2; exit 1; }
done
busybox=$(command -v busybox || true)
[ -n "$busybox" ] && file -L "$busybox" 2>/dev/null | grep -q 'statically linked' || busybox=/bin/busybox
[ -x "$busybox" ] || { echo "$0: a static busybox is missing (apt-get install busybox-static)" >&2; exit 1; }

work=$(mktemp -d /tmp/sysrq-fixture-XXXXXX)
cleanup() { rm -rf "$work"; }
trap cleanup EXIT INT TERM

root=$work/root
mkdir -p "$root/bin" "$root/proc" "$root/sys" "$root/dev" "$root/tmp"
cp "$busybox" "$root/bin/busybox"
gcc -O2 -static -pthread -o "$root/workload" "$src"

# The mm event set: MmEventSet.All (src/Ingest/Live/MmEventSet.cs) and its comm events. Entries this kernel lacks
# are listed in workload.txt.
events="tlb:tlb_flush syscalls:sys_enter_mremap syscalls:sys_exit_mremap exceptions:page_fault_user kmem:mm_page_free
kmem:mm_page_alloc kmem:rss_stat ipi:ipi_send_cpumask mmap_lock:* huge_memory:*"
for s in mmap munmap mprotect madvise brk mlock mlock2 munlock mlockall munlockall exit_group execve vmsplice; do
    events="$events syscalls:sys_enter_$s syscalls:sys_exit_$s"
done
events="$events sched:sched_switch sched:sched_process_exec sched:sched_process_fork sched:sched_process_exit
kmem:mm_page_free_batched mmap:exit_mmap csd:* ipi:ipi_send_cpu thp:* migrate:mm_migrate_pages_start
migrate:mm_migrate_pages vmscan:mm_vmscan_* pagemap:mm_lru_insertion task:task_newtask task:task_rename"

cat > "$root/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tracefs tracefs /sys/kernel/tracing
T=/sys/kernel/tracing
log=/dev/ttyS1
{
    echo "## /proc/version"; cat /proc/version
    echo "## events"
    echo 0 > \$T/tracing_on
    echo $buffer_kb > \$T/buffer_size_kb
    for e in $(echo $events); do
        echo "\$e" >> \$T/set_event 2>/dev/null || echo "missing \$e"
    done
    echo "enabled \$(wc -l < \$T/set_event)"
    echo "## workload"
    echo 1 > \$T/tracing_on
    cd /tmp && /workload ${WORKLOAD_ARGS:-} 2>&1
    echo "workload exit \$?"
} > \$log 2>&1
echo z > /proc/sysrq-trigger
sleep 1
dmesg > /dev/ttyS2
{ dmesg -r; echo "## /dev/kmsg"; timeout 60 cat /dev/kmsg; } > /dev/ttyS3
echo "## done" > \$log
poweroff -f
EOF
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initrd.gz"

# KVM inside this VM hangs before the kernel prints (nested virtualization); QEMU_ACCEL="-enable-kvm -cpu host" where it works.
accel=${QEMU_ACCEL:--accel tcg -cpu max}
mkdir -p "$out"
# log_buf_len: the dump must fit the printk ring buffer for dmesg to hold it whole (the console sees every line anyway).
# shellcheck disable=SC2086
timeout "${QEMU_TIMEOUT:-600}" qemu-system-x86_64 $accel -smp 2 -m 1024 -nographic -no-reboot \
    -kernel "$kernel" -initrd "$work/initrd.gz" \
    -append "console=ttyS0 log_buf_len=16M panic=-1 transparent_hugepage=madvise ${KERNEL_ARGS:-}" \
    -monitor none -serial "file:$out/console.txt" -serial "file:$out/workload.txt" \
    -serial "file:$out/dmesg.txt" -serial "file:$work/raw.txt" >/dev/null
# The guest's tty turned each "\n" into "\r\n" (ONLCR) on the way out; dmesg itself writes "\n". The console capture
# keeps its "\r\n", as a serial capture has it.
for f in dmesg.txt workload.txt; do tr -d '\r' < "$out/$f" > "$work/$f" && mv "$work/$f" "$out/$f"; done
tr -d '\r' < "$work/raw.txt" | sed '/^## \/dev\/kmsg/,$d' > "$out/dmesg-r.txt"
tr -d '\r' < "$work/raw.txt" | sed '1,/^## \/dev\/kmsg/d' > "$out/kmsg.txt"
grep -q '^## done' "$out/workload.txt" || { echo "$0: the guest did not finish (see $out/workload.txt)" >&2; exit 1; }
grep -q 'Dumping ftrace buffer:' "$out/console.txt" || { echo "$0: no dump on the console" >&2; exit 1; }
echo "$out: $(grep -c '' "$out/console.txt") console lines, $(grep -c '' "$out/dmesg.txt") dmesg lines"
