/*
 * pagemap.h: where a workload's pages are, for the workloads that check what a walker did to them (raceactors,
 * dumpactors, migcollapse). Included by path next to the including file, so each workload still builds alone with
 * `cc FILE.c` from this directory.
 */
#ifndef MMTRACE_PAGEMAP_H
#define MMTRACE_PAGEMAP_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

/*
 * The physical frame of each page of [base, base+len) from /proc/self/pagemap: 0 when not present, and 0 for every
 * page when the frames cannot be read (not root, or no pagemap).
 */
static inline void frames(const char *base, size_t len, uint64_t *out)
{
    int fd = open("/proc/self/pagemap", O_RDONLY);
    for (size_t i = 0; i < len / 4096; i++) {
        uint64_t entry = 0;
        if (fd < 0 || pread(fd, &entry, sizeof entry, (off_t)(((uintptr_t)base / 4096 + i) * sizeof entry)) != sizeof entry)
            entry = 0;
        out[i] = (entry >> 63) & 1 ? entry & ((1ULL << 55) - 1) : 0;
    }
    if (fd >= 0)
        close(fd);
}

/* How many pages of [base, base+len) that had a frame in `before` now have another one (migrated or pushed out). */
static inline unsigned long frames_changed(const char *base, size_t len, const uint64_t *before)
{
    uint64_t *now = malloc(len / 4096 * sizeof *now);
    if (now == NULL)
        return 0;
    frames(base, len, now);
    unsigned long changed = 0;
    for (size_t i = 0; i < len / 4096; i++)
        changed += before[i] != 0 && now[i] != before[i];
    free(now);
    return changed;
}

#endif
