#!/usr/bin/env python3
"""Tiles a recorded ftrace text trace N times, each copy shifted past the previous one's end, to make a
large trace with the recording's mix of events (faults, TLB flushes, mmap_lock, mremap) for timing
'mmtrace show/export/report'. Usage: tile-trace.py IN.txt N > OUT.txt"""
import re
import sys

src, copies = sys.argv[1], int(sys.argv[2])
ts = re.compile(r"^(.*\]\s+\S+\s+)(\d+)\.(\d{6})(: .*)$")
lines = [l.rstrip("\n") for l in open(src) if not l.startswith("#")]
parsed = []
for line in lines:
    m = ts.match(line)
    if m:
        parsed.append((m.group(1), int(m.group(2)) * 1_000_000 + int(m.group(3)), m.group(4)))
first, last = parsed[0][1], parsed[-1][1]
span = last - first + 1000
out = sys.stdout
for k in range(copies):
    shift = k * span
    for head, us, tail in parsed:
        t = us + shift
        out.write(f"{head}{t // 1_000_000}.{t % 1_000_000:06d}{tail}\n")
