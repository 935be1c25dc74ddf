/*
 * dumpactors: one of each mm actor the races' coverage counts, small enough that its whole trace fits a ring buffer
 * ftrace_dump prints to the console (scripts/record-sysrq-fixture.sh, docs/validation.md "A real kernel's SysRq-z
 * dump"). remapactors does the same shapes and more, but its 4 MiB ranges make ~50,000 events of the mm set.
 *
 *   dumpactors             runs the phases below, then execs itself once ("exec-tail") and exits 0
 *   dumpactors walkers     runs the races' actors *with their rmap walkers* instead (below)
 *
 *   move      a populated 2 MiB-aligned 2 MiB range (small pages, MADV_NOHUGEPAGE) moved with
 *             mremap(MAYMOVE|FIXED) to an empty 2 MiB-aligned place: one NORMAL_PMD extent (R1's mover; no rmap
 *             walker runs, so R1 can only be partial)
 *   collapse  a populated 2 MiB-aligned range of small pages collapsed with MADV_COLLAPSE (R2's collapse; no GUP-fast
 *             walker runs)
 *   mlock     a 256 KiB range mlocked, then fork: the child mlocks it again, writes it (COW copies, mlocked) and exits
 *             with it locked (exit_mmap munlocks it); the parent munlocks its own (R4's munlock and exit)
 *   exec      the process execs itself (R5's stack shift); the new image prints one line and exits 0
 *
 * Output: "dumpactors pid=P move=0x…->0x… collapse=R mlock_child=S" and, from the exec'd image,
 * "dumpactors exec-tail pid=P".
 *
 * walkers: without a walker the dump above can only leave R1, R2 and R4 partial or blind. Here a migration walks the
 * moved range and the locked range through the rmap, and vmsplice walks the collapsed range with GUP-fast:
 *
 *   move      a populated 2 MiB-aligned 2 MiB range (small pages, MADV_NOHUGEPAGE) moved with mremap(MAYMOVE|FIXED)
 *             to an empty 2 MiB-aligned place: one NORMAL_PMD extent (R1's mover)
 *   lock      64 pages populated and mlocked (R4: the mm's VM_LOCKED pages)
 *   migrate   the memory blocks holding the moved and the locked pages taken offline and at once online again:
 *             offline_pages migrates every page of a block through the rmap (try_to_migrate_one), the moved range's
 *             pages (R1's walker on the mm after the move) and the locked ones too (R4's walker on mlocked pages).
 *             Boot with movablecore= so that user pages sit in ZONE_MOVABLE, whose blocks go offline.
 *   munlock   the locked range munlocked (R4's munlock)
 *   collapse  a populated 2 MiB-aligned range collapsed with MADV_COLLAPSE, then vmsplice'd into a pipe (GUP-fast:
 *             R2's lockless walker) and the pipe drained
 *
 * Output: "dumpactors walkers pid=P move=0x…->0x… moved_pages=N locked_pages=N offlined=N collapse=R vmspliced=N".
 * moved_pages and locked_pages count the pages whose frame changed (read from /proc/self/pagemap): what the walker
 * reached; offlined the memory blocks that went offline and back.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pagemap.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

#define PMD (2UL << 20)
#define PAGE 4096UL
#define LOCKED 64UL

static void die(const char *what)
{
    fprintf(stderr, "dumpactors: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* Maps [addr, addr+len) over the reservation as small pages and writes every page. */
static void populate(char *addr, unsigned long len)
{
    if (mmap(addr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != addr)
        die("mmap");
    if (madvise(addr, len, MADV_NOHUGEPAGE) != 0)
        die("madvise");
    for (unsigned long off = 0; off < len; off += PAGE)
        addr[off] = (char)(off >> 12);
}

/* A PROT_NONE reservation of 4 PMD slots, 2 MiB-aligned, so no moved VMA merges with a neighbour. */
static char *reserve(void)
{
    char *raw = mmap(NULL, 5 * PMD, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED)
        die("reserve");
    return (char *)(((uintptr_t)raw + PMD - 1) & ~(PMD - 1));
}

/* move: slot a (populated now) to slot n, which is unmapped first: one NORMAL_PMD extent. */
static void move(char *a, char *n)
{
    populate(a, PMD);
    if (munmap(n, PMD) != 0)
        die("munmap");
    if (mremap(a, PMD, PMD, MREMAP_MAYMOVE | MREMAP_FIXED, n) != n)
        die("mremap");
}

/* Writes "offline" or "online" to memory block `block`: 0, or the errno. */
static int block_state(unsigned long block, const char *state)
{
    char path[96];
    snprintf(path, sizeof path, "/sys/devices/system/memory/memory%lu/state", block);
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return errno;
    int err = write(fd, state, strlen(state)) < 0 ? errno : 0;
    close(fd);
    return err;
}

/* Takes each memory block holding one of `n` frames offline and online again; returns how many went offline. */
static int offline_blocks(const uint64_t *pfns, unsigned long n)
{
    char text[32] = "";
    int fd = open("/sys/devices/system/memory/block_size_bytes", O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t got = read(fd, text, sizeof text - 1);
    close(fd);
    unsigned long block_pages = got > 0 ? strtoul(text, NULL, 16) / PAGE : 0;
    if (block_pages == 0)
        return 0;
    static unsigned long blocks[2 * PMD / PAGE];
    unsigned long nblocks = 0;
    for (unsigned long i = 0; i < n; i++) {
        if (pfns[i] == 0)
            continue;
        unsigned long b = 0;
        while (b < nblocks && blocks[b] != pfns[i] / block_pages)
            b++;
        if (b == nblocks)
            blocks[nblocks++] = pfns[i] / block_pages;
    }
    int offlined = 0;
    for (unsigned long b = 0; b < nblocks; b++) {
        if (block_state(blocks[b], "offline") != 0)
            continue;
        offlined++;
        for (int attempt = 0; block_state(blocks[b], "online") != 0; attempt++) {
            if (attempt == 20)
                die("online");
            usleep(50000);
        }
    }
    return offlined;
}

static int walkers(void)
{
    char *base = reserve(), *a = base, *n = base + PMD;
    move(a, n);

    /* lock: slot 3. */
    char *l = base + 3 * PMD;
    populate(l, LOCKED * PAGE);
    if (mlock(l, LOCKED * PAGE) != 0)
        die("mlock");

    /* migrate: the blocks of both ranges. */
    static uint64_t pfns[PMD / PAGE + LOCKED];
    frames(n, PMD, pfns);
    frames(l, LOCKED * PAGE, pfns + PMD / PAGE);
    int offlined = offline_blocks(pfns, PMD / PAGE + LOCKED);
    unsigned long moved = frames_changed(n, PMD, pfns), locked = frames_changed(l, LOCKED * PAGE, pfns + PMD / PAGE);

    if (munlock(l, LOCKED * PAGE) != 0)
        die("munlock");

    /* collapse: slot 2, then GUP-fast over it. */
    char *c = base + 2 * PMD;
    populate(c, PMD);
    if (madvise(c, PMD, MADV_HUGEPAGE) != 0)
        die("madvise huge");
    int collapse = madvise(c, PMD, MADV_COLLAPSE) == 0 ? 0 : -errno;
    int pipes[2];
    if (pipe(pipes) != 0)
        die("pipe");
    static char drain[16 * PAGE];
    long spliced = 0;
    for (unsigned long off = 0; off < PMD; off += sizeof drain) {
        struct iovec iov = { .iov_base = c + off, .iov_len = sizeof drain };
        ssize_t got = vmsplice(pipes[1], &iov, 1, 0);
        if (got < 0)
            die("vmsplice");
        spliced += got;
        for (ssize_t left = got; left > 0;) {
            ssize_t r = read(pipes[0], drain, (size_t)left);
            if (r <= 0)
                die("pipe read");
            left -= r;
        }
    }

    printf("dumpactors walkers pid=%d move=%p->%p moved_pages=%lu locked_pages=%lu offlined=%d collapse=%d vmspliced=%ld\n",
           getpid(), (void *)a, (void *)n, moved, locked, offlined, collapse, spliced);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "exec-tail") == 0) {
        printf("dumpactors exec-tail pid=%d\n", getpid());
        return 0;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1 && strcmp(argv[1], "walkers") == 0)
        return walkers();
    char *base = reserve(), *a = base, *n = base + PMD;
    move(a, n);

    /* collapse: slot 2 (the kernel may refuse; the result is printed). */
    char *c = base + 2 * PMD;
    populate(c, PMD);
    if (madvise(c, PMD, MADV_HUGEPAGE) != 0)
        die("madvise huge");
    int collapse = madvise(c, PMD, MADV_COLLAPSE) == 0 ? 0 : -errno;

    /* mlock, fork, the child exits locked. */
    char *l = base + 3 * PMD;
    unsigned long len = 64 * PAGE;
    populate(l, len);
    if (mlock(l, len) != 0)
        die("mlock");
    fflush(stdout);
    pid_t child = fork();
    if (child < 0)
        die("fork");
    if (child == 0) {
        if (mlock(l, len) != 0)
            die("child mlock");
        for (unsigned long off = 0; off < len; off += PAGE)
            l[off] = 2;
        _exit(0);
    }
    int status;
    if (waitpid(child, &status, 0) != child)
        die("waitpid");
    if (munlock(l, len) != 0)
        die("munlock");

    printf("dumpactors pid=%d move=%p->%p collapse=%d mlock_child=%d\n", getpid(), (void *)a, (void *)n, collapse,
           WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    fflush(stdout);
    execl("/proc/self/exe", argv[0], "exec-tail", (char *)NULL);
    die("exec");
}
