/*
 * raceactors: runs the actors of R1, R2 and R4 against each other on this kernel, for live recordings that
 * coverage must call "checked" (docs/coverage.md, docs/validation.md).
 *
 *   raceactors [ROUNDS]
 *
 * R1  The main thread ("mover") maps a 4 MiB file (MAP_SHARED, 2 MiB-aligned, written with write() and fsync'd so
 *     its page cache is clean), populates it with write faults (one mm_filemap_fault per page) and moves it back
 *     and forth between two 2 MiB-aligned places with mremap(MREMAP_MAYMOVE|MREMAP_FIXED), so every move is two
 *     NORMAL_PMD extents. Meanwhile the "pusher" thread pushes the same pages out: msync, then madvise(MADV_PAGEOUT)
 *     (reclaim_pages → try_to_unmap → the clean page is freed at once; file pages need no swap, anonymous ones do).
 * R2  The main thread collapses a 2 MiB-aligned range of small pages with MADV_COLLAPSE while the "pinner" thread
 *     pins pages of the same range with GUP-fast: O_DIRECT reads from a file into it and vmsplice of it into a pipe.
 *     After each collapse the range is dropped (MADV_DONTNEED) and refilled with small pages.
 * R4  The main thread mlocks a populated 4 MiB range and munlocks it while the pusher migrates pages (compaction
 *     moves mlocked pages too, compact_unevictable_allowed=1); the last round exits with the range locked, so
 *     exit_mmap munlocks it.
 *
 * The last line is a summary: "raceactors pid=P mremaps=N collapses=N collapse_failures=N direct_reads=N
 * vmsplices=N mlocks=N munlocks=N compactions=N pageouts=N r1_walked=N r4_walked=N", the last two the pages of the
 * R1 and R4 ranges whose frame changed under the pusher (read from /proc/self/pagemap: migrated or pushed out).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

#define PMD (2UL << 20)
#define PAGE 4096UL
#define RANGE (2 * PMD)

static atomic_int phase;          /* 0 idle, 1 push (R1/R4), 2 pin (R2), 3 stop */
static char *volatile push_base;  /* range the pusher works on */
static char *volatile pin_base;   /* range the pinner works on */
static volatile int push_file;    /* the push range is a shared file mapping: msync before MADV_PAGEOUT */
static atomic_ulong compactions, pageouts, direct_reads, vmsplices;
static atomic_ulong compact_requests; /* compaction is system-wide and costly: only on request */
static atomic_int pin_busy;           /* the pinner is inside a pin: the range must stay mapped */
static const char *scratch_path;
static char fill[64 * 1024];

static void die(const char *what)
{
    fprintf(stderr, "raceactors: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* A 2 MiB-aligned anonymous range of len bytes (the slack around it is unmapped). */
static char *aligned_map(size_t len)
{
    char *raw = mmap(NULL, len + PMD, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        die("mmap");
    char *base = (char *)(((uintptr_t)raw + PMD - 1) & ~(PMD - 1));
    if (base > raw)
        munmap(raw, base - raw);
    if (raw + len + PMD > base + len)
        munmap(base + len, raw + len + PMD - (base + len));
    return base;
}

static void touch(char *base, size_t len, char value)
{
    for (size_t off = 0; off < len; off += PAGE)
        base[off] = value;
}

static void compact(void)
{
    int fd = open("/proc/sys/vm/compact_memory", O_WRONLY);
    if (fd < 0)
        return;
    if (write(fd, "1", 1) == 1)
        atomic_fetch_add(&compactions, 1);
    close(fd);
}

static int can_compact(void)
{
    return access("/proc/sys/vm/compact_memory", W_OK) == 0;
}

/* Asks the pusher for one compaction and returns the count to wait past. */
static unsigned long request_compaction(void)
{
    unsigned long since = atomic_load(&compactions);
    atomic_fetch_add(&compact_requests, 1);
    return since;
}

static int compaction_done(unsigned long since)
{
    return !can_compact() || atomic_load(&compactions) > since;
}

/* Physical frame of each page of [base, base+len) (root reads PFNs from pagemap; 0 when not present). */
static void frames(const char *base, size_t len, uint64_t *out)
{
    int fd = open("/proc/self/pagemap", O_RDONLY);
    for (size_t i = 0; i < len / PAGE; i++) {
        uint64_t entry = 0;
        if (fd < 0 || pread(fd, &entry, sizeof entry, (off_t)(((uintptr_t)base / PAGE + i) * sizeof entry)) != sizeof entry)
            entry = 0;
        out[i] = (entry >> 63) & 1 ? entry & ((1ULL << 55) - 1) : 0;
    }
    if (fd >= 0)
        close(fd);
}

/* Pages whose frame changed since `before` (migrated or pushed out): the rmap walker reached this range. */
static unsigned long frames_changed(const char *base, size_t len, const uint64_t *before)
{
    static uint64_t now[RANGE / PAGE];
    unsigned long changed = 0;
    frames(base, len, now);
    for (size_t i = 0; i < len / PAGE; i++)
        changed += before[i] != 0 && now[i] != before[i];
    return changed;
}

static void *pusher(void *arg)
{
    (void)arg;
    prctl(PR_SET_NAME, "pusher");
    while (atomic_load(&phase) != 3) {
        if (atomic_load(&phase) != 1 || push_base == NULL) {
            usleep(1000);
            continue;
        }
        char *base = push_base;
        if (push_file)
            msync(base, RANGE, MS_SYNC); /* dirty pages would only be written back, clean ones are freed */
        if (madvise(base, RANGE, MADV_PAGEOUT) == 0)
            atomic_fetch_add(&pageouts, 1);
        if (atomic_load(&compact_requests) > atomic_load(&compactions))
            compact();
        else
            usleep(2000);
    }
    return NULL;
}

static void *pinner(void *arg)
{
    (void)arg;
    prctl(PR_SET_NAME, "pinner");
    int fd = open(scratch_path, O_RDONLY | O_DIRECT);
    if (fd < 0)
        die("open O_DIRECT");
    int pipes[2];
    if (pipe(pipes) != 0)
        die("pipe");
    static char drain[64 * 1024];
    unsigned slot = 0;
    while (atomic_load(&phase) != 3) {
        atomic_store(&pin_busy, 1);
        if (atomic_load(&phase) != 2 || pin_base == NULL) {
            atomic_store(&pin_busy, 0);
            usleep(200);
            continue;
        }
        /* Short pins with gaps: a collapse fails while a page is pinned (not_suitable_page_count), so leave it room. */
        usleep(300);
        char *at = pin_base + (size_t)(slot++ % 32) * 64 * 1024;
        /* O_DIRECT read: pin_user_pages_fast on the destination buffer. */
        if (pread(fd, at, 64 * 1024, 0) == 64 * 1024)
            atomic_fetch_add(&direct_reads, 1);
        /* vmsplice: get_user_pages_fast on the source pages. */
        struct iovec iov = { .iov_base = at, .iov_len = 16 * 1024 };
        ssize_t n = vmsplice(pipes[1], &iov, 1, 0);
        if (n > 0) {
            atomic_fetch_add(&vmsplices, 1);
            while (n > 0) {
                ssize_t r = read(pipes[0], drain, (size_t)n);
                if (r <= 0)
                    break;
                n -= r;
            }
        }
        atomic_store(&pin_busy, 0);
    }
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 6;
    unsigned long mremaps = 0, collapses = 0, collapse_failures = 0, mlocks = 0, munlocks = 0;
    prctl(PR_SET_NAME, "mover");

    char path[] = "/tmp/raceactors.XXXXXX";
    int sfd = mkstemp(path);
    if (sfd < 0)
        die("mkstemp");
    memset(fill, 0x5a, sizeof fill);
    if (write(sfd, fill, sizeof fill) != (ssize_t)sizeof fill || fsync(sfd) != 0)
        die("write scratch file");
    close(sfd);
    scratch_path = path;

    pthread_t push_thread, pin_thread;
    if (pthread_create(&push_thread, NULL, pusher, NULL) != 0 || pthread_create(&pin_thread, NULL, pinner, NULL) != 0)
        die("pthread_create");

    /* R1: PMD-moving mremaps of a populated file range while its pages are pushed out. */
    char fpath[] = "/tmp/raceactors-r1.XXXXXX";
    int ffd = mkstemp(fpath);
    if (ffd < 0)
        die("mkstemp");
    for (size_t off = 0; off < RANGE; off += sizeof fill)
        if (write(ffd, fill, sizeof fill) != (ssize_t)sizeof fill)
            die("write r1 file");
    if (fsync(ffd) != 0)
        die("fsync");
    char *a = aligned_map(RANGE), *b = aligned_map(RANGE);
    munmap(b, RANGE);
    if (mmap(a, RANGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, ffd, 0) != a)
        die("mmap r1 file");
    touch(a, RANGE, 1);
    static uint64_t r1_frames[RANGE / PAGE], r4_frames[RANGE / PAGE];
    frames(a, RANGE, r1_frames);
    unsigned long r1_walked = 0, r4_walked = 0;
    push_base = a;
    push_file = 1;
    atomic_store(&phase, 1);
    /* rounds*4 moves, then (up to 200 more) until the pusher has pushed out pages of this range. */
    for (int i = 0; i < rounds * 4 + 200; i++) {
        if (i >= rounds * 4 && (r1_walked = frames_changed(a, RANGE, r1_frames)) > 0)
            break;
        char *moved = mremap(a, RANGE, RANGE, MREMAP_MAYMOVE | MREMAP_FIXED, b);
        if (moved == MAP_FAILED)
            die("mremap");
        mremaps++;
        b = a;
        a = moved;
        push_base = a;
        touch(a, RANGE, (char)(i + 2));
        usleep(i < rounds * 4 ? 20000 : 10000);
    }
    atomic_store(&phase, 0);
    push_base = NULL;
    usleep(5000);
    push_file = 0;
    munmap(a, RANGE);
    close(ffd);
    unlink(fpath);

    /* R2: MADV_COLLAPSE while GUP-fast pins the same range. */
    char *c = aligned_map(PMD);
    pin_base = c;
    for (int i = 0; i < rounds; i++) {
        madvise(c, PMD, MADV_NOHUGEPAGE);
        touch(c, PMD, (char)(i + 1));
        madvise(c, PMD, MADV_HUGEPAGE);
        atomic_store(&phase, 2);
        usleep(2000);
        /* A pinned page makes the collapse fail (not_suitable_page_count): retry while the pinner keeps going. */
        int done = 0;
        for (int attempt = 0; attempt < 8 && !done; attempt++) {
            if (madvise(c, PMD, MADV_COLLAPSE) == 0) {
                collapses++;
                done = 1;
            } else {
                collapse_failures++;
                usleep(500);
            }
        }
        atomic_store(&phase, 0);
        /*
         * A pin into a dropped page would fault it in through GUP (no user fault event), unseen by the lowering:
         * the range is dropped only once the pinner is out.
         */
        while (atomic_load(&pin_busy))
            usleep(100);
        madvise(c, PMD, MADV_DONTNEED);
    }
    pin_base = NULL;
    munmap(c, PMD);

    /* R4: mlock/munlock while the pages are migrated; the last round exits locked. */
    char *l = aligned_map(RANGE);
    madvise(l, RANGE, MADV_NOHUGEPAGE);
    touch(l, RANGE, 7);
    frames(l, RANGE, r4_frames);
    push_base = l;
    for (int i = 0; i < rounds; i++) {
        if (mlock(l, RANGE) != 0)
            die("mlock");
        mlocks++;
        atomic_store(&phase, 1);
        usleep(20000);
        if (i < 2 || (r4_walked == 0 && i + 1 < rounds)) {
            /* Compactions that migrate the locked pages (compact_unevictable_allowed), until one reaches them (up to 4). */
            for (int run = 0; run < 4; run++) {
                unsigned long round_since = request_compaction();
                for (int w = 0; w < 10000 && !compaction_done(round_since); w++)
                    usleep(1000);
                unsigned long walked = frames_changed(l, RANGE, r4_frames);
                if (walked > r4_walked || !can_compact()) {
                    r4_walked = walked;
                    break;
                }
            }
        }
        if (i + 1 < rounds) {
            if (munlock(l, RANGE) != 0)
                die("munlock");
            munlocks++;
        }
    }
    atomic_store(&phase, 3);
    pthread_join(push_thread, NULL);
    pthread_join(pin_thread, NULL);
    unlink(path);
    printf("raceactors pid=%d mremaps=%lu collapses=%lu collapse_failures=%lu direct_reads=%lu vmsplices=%lu mlocks=%lu munlocks=%lu compactions=%lu pageouts=%lu r1_walked=%lu r4_walked=%lu\n",
           getpid(), mremaps, collapses, collapse_failures, atomic_load(&direct_reads), atomic_load(&vmsplices), mlocks, munlocks,
           atomic_load(&compactions), atomic_load(&pageouts), r1_walked, r4_walked);
    fflush(stdout);
    return 0;
}
