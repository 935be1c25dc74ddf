/*
 * migcollapse: a 2 MiB-aligned range of small anonymous pages (VM_NOHUGEPAGE, so khugepaged leaves it alone) is
 * populated, each page between 31 pages of a filler dropped at once, then memory is compacted (writing 1 to /proc/sys/vm/compact_memory, up to 16 times until a page of the
 * range has moved, read from /proc/self/pagemap: compaction migrates movable pages from the low end of each zone,
 * try_to_migrate_one puts a migration entry in each PTE and remove_migration_pte maps the new page), then the range
 * is collapsed with MADV_COLLAPSE. Recorded with migrate:set_migration_pte and migrate:remove_migration_pte it is the
 * fixture of docs/lowering.md's migration remap (scripts/record-migrate-fixture.sh): without those events the model
 * loses the moved pages, and the collapse unmaps only the pages that stayed. Needs root (pagemap PFNs,
 * compact_memory). Prints "migcollapse pid=N compactions=N migrated=N range=ADDR collapse=0|errno"; exits 3 when no
 * page moved. Build: cc -O2 -o migcollapse migcollapse.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pagemap.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#define PAGE 4096UL
#define PMD (2UL << 20)

/* Writes 1 to /proc/sys/vm/compact_memory: 0 or the errno. */
static int compact(void)
{
    int fd = open("/proc/sys/vm/compact_memory", O_WRONLY);
    int err = fd < 0 || write(fd, "1", 1) != 1 ? errno : 0;
    if (fd >= 0)
        close(fd);
    return err;
}

int main(void)
{
    static uint64_t before[PMD / PAGE], after[PMD / PAGE];
    char *raw = mmap(NULL, 2 * PMD, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    char *c = (char *)(((uintptr_t)raw + PMD - 1) & ~(PMD - 1));
    madvise(c, PMD, MADV_NOHUGEPAGE);
    /*
     * Each page of the range between 31 pages of a filler that is dropped at once: the range's pages are left alone in
     * mostly free pageblocks, which compaction empties (on a machine compacted already, it finds nothing else to move).
     */
    const size_t spread = 32;
    char *filler = mmap(NULL, spread * PMD, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (filler == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    madvise(filler, spread * PMD, MADV_NOHUGEPAGE);
    for (size_t i = 0; i < PMD; i += PAGE) {
        for (size_t f = 0; f < spread - 1; f++)
            filler[i * spread + f * PAGE] = 1;
        c[i] = (char)(i / PAGE + 1);
    }
    munmap(filler, spread * PMD);
    frames(c, PMD, before);
    unsigned long migrated = 0;
    int compactions = 0;
    while (migrated == 0 && compactions < 16) {
        int err = compact();
        if (err != 0) {
            fprintf(stderr, "migcollapse: /proc/sys/vm/compact_memory: %s\n", strerror(err));
            return 2;
        }
        compactions++;
        frames(c, PMD, after);
        for (size_t i = 0; i < PMD / PAGE; i++)
            migrated += before[i] != 0 && after[i] != before[i];
    }
    /* VM_NOHUGEPAGE until now: khugepaged would otherwise collapse the range before compaction moves it. */
    madvise(c, PMD, MADV_HUGEPAGE);
    int collapse = madvise(c, PMD, MADV_COLLAPSE) == 0 ? 0 : errno;
    printf("migcollapse pid=%d compactions=%d migrated=%lu range=%p collapse=%d\n", getpid(), compactions, migrated, (void *)c, collapse);
    munmap(raw, 2 * PMD);
    return migrated == 0 ? 3 : 0;
}
