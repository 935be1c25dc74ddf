/*
 * mmwork: a small, deterministic memory-management workload for live recordings.
 *
 *   mmwork [PAGES [ROUNDS [HUGE]]]
 *
 * Each round maps PAGES anonymous pages, writes one byte per page (one fault each), grows the
 * mapping to twice its size with mremap(MREMAP_MAYMOVE) so the kernel may move it, writes the
 * new half, shrinks it back in place with a second mremap, makes it read-only with mprotect,
 * drops it with madvise(MADV_DONTNEED) and finally unmaps it. With HUGE=1 a last step maps an
 * aligned 2 MiB region and asks for transparent huge pages on it.
 *
 * The main thread is named "mmwork" so it is easy to find in a trace. The last line printed is a
 * summary with the pid and the number of each call made, which tests compare with the trace.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

struct counts {
    unsigned long mmap, mremap, mprotect, madvise, munmap, touched;
};

static void fail(const char *what, int round)
{
    fprintf(stderr, "mmwork: %s failed in round %d: %s\n", what, round, strerror(errno));
    exit(1);
}

static void touch(char *base, size_t from, size_t to, size_t page, char value, struct counts *c)
{
    for (size_t off = from; off < to; off += page) {
        base[off] = value;
        c->touched++;
    }
}

static void one_round(size_t pages, size_t page, int round, struct counts *c)
{
    size_t len = pages * page;
    char *area = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED)
        fail("mmap", round);
    c->mmap++;
    touch(area, 0, len, page, (char)(round + 1), c);

    char *grown = mremap(area, len, 2 * len, MREMAP_MAYMOVE);
    if (grown == MAP_FAILED)
        fail("mremap grow", round);
    c->mremap++;
    touch(grown, len, 2 * len, page, (char)(round + 2), c);

    char *shrunk = mremap(grown, 2 * len, len, 0);
    if (shrunk == MAP_FAILED)
        fail("mremap shrink", round);
    c->mremap++;

    if (mprotect(shrunk, len, PROT_READ) != 0)
        fail("mprotect", round);
    c->mprotect++;
    if (madvise(shrunk, len, MADV_DONTNEED) != 0)
        fail("madvise", round);
    c->madvise++;
    if (munmap(shrunk, len) != 0)
        fail("munmap", round);
    c->munmap++;
}

static void huge_step(size_t page, struct counts *c)
{
    const size_t huge = 2UL << 20;
    char *raw = mmap(NULL, 2 * huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        fail("mmap huge", -1);
    c->mmap++;
    char *aligned = (char *)(((unsigned long)raw + huge - 1) & ~(huge - 1));
    if (madvise(aligned, huge, MADV_HUGEPAGE) == 0)
        c->madvise++;
    touch(aligned, 0, huge, 64 * page, 7, c);
    if (munmap(raw, 2 * huge) != 0)
        fail("munmap huge", -1);
    c->munmap++;
}

int main(int argc, char **argv)
{
    size_t pages = argc > 1 ? strtoul(argv[1], NULL, 0) : 32;
    int rounds = argc > 2 ? atoi(argv[2]) : 4;
    int huge = argc > 3 ? atoi(argv[3]) : 0;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    struct counts c = { 0 };

    if (pages == 0 || rounds <= 0) {
        fprintf(stderr, "usage: mmwork [PAGES>0 [ROUNDS>0 [HUGE 0|1]]]\n");
        return 2;
    }
    prctl(PR_SET_NAME, "mmwork");
    for (int round = 0; round < rounds; round++)
        one_round(pages, page, round, &c);
    if (huge)
        huge_step(page, &c);

    printf("mmwork pid=%d pages=%zu rounds=%d mmap=%lu mremap=%lu mprotect=%lu madvise=%lu munmap=%lu touched=%lu\n",
           (int)getpid(), pages, rounds, c.mmap, c.mremap, c.mprotect, c.madvise, c.munmap, c.touched);
    return 0;
}
