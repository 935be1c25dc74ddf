/*
 * remapactors: the mremap shapes and exit paths raceactors does not make, for checking what a recording (mmtrace
 * record, a trace-cmd or lab-script recording, perf) lets the mremap prediction and coverage say
 * (docs/validation.md, "Recordings made by other tools").
 *
 *   remapactors            runs every phase below, then execs itself once ("exec-tail") and exits 0
 *
 * Every range lives in its own 16 MiB slot of a PROT_NONE reservation, 2 MiB-aligned, so no two calls share a PMD, no
 * moved VMA can merge with a neighbour (the reservation is PROT_NONE), and each destination is unmapped or mapped by
 * the workload itself before the call. Small-page ranges are MADV_NOHUGEPAGE and written page by page (a full PTE
 * table per 2 MiB); the THP range is MADV_HUGEPAGE.
 *
 *   dontunmap       mremap(A, 4M, 4M, MAYMOVE|FIXED|DONTUNMAP, N): the page tables move (two NORMAL_PMD extents) and
 *                   the VMA at A stays, empty; A is then written again (new zero pages) and
 *   dontunmap-again moved on with MAYMOVE|FIXED: two more NORMAL_PMD extents, which a predictor that dropped the VMA at
 *                   A would not know
 *   fixed-over      mremap(A, 4M, 4M, MAYMOVE|FIXED, D) onto a populated 4 MiB mapping at D: mremap_to() unmaps D
 *                   first (its PTE tables are freed, the reservation lies on both sides), then two NORMAL_PMD extents
 *   overlap         mremap(A, 4M, 4M, MAYMOVE|FIXED, A + 2M): source and destination overlap, -EINVAL, nothing moves
 *   fixed-back      mremap(A + 2M, 2M, 2M, MAYMOVE|FIXED, A) inside one 4 MiB VMA: the destination is the VMA's own
 *                   first half (unmapped first, the VMA split), then one NORMAL_PMD extent
 *   thp             mremap(A, 4M, 4M, MAYMOVE|FIXED, N) of a range the kernel backed with THPs: a huge PMD moves whole
 *                   (move_huge_pmd, HPAGE extents), one per THP (AnonHugePages of the VMA before the call)
 *   mlock-fork-exit a 2 MiB range mlocked, then fork: the child (whose VMA lost VM_LOCKED in dup_mmap) mlocks it
 *                   again, writes it (COW copies, mlocked) and exits with it locked, so exit_mmap munlocks it (R4's
 *                   exit path); the parent munlocks its own
 *   exec            the process execs itself once (R5's stack shift); the new image prints one line and exits 0
 *
 * Output, one line per mremap call: "call=K kind=NAME old=0x… old_len=N new=0x… new_len=N flags=0x… ret=R
 * expect_pmd=N expect_hpage=N", ret the address or -errno; then
 * "remapactors pid=P calls=N failed=N expect_pmd=N expect_hpage=N thp_bytes=N child_locked_pages=N forks=1 execs=1"
 * and, from the exec'd image, "remapactors exec-tail pid=P".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

#define MIB (1UL << 20)
#define PMD (2 * MIB)
#define PAGE 4096UL
#define SLOT (16 * MIB)

static char *base;  /* the 2 MiB-aligned reservation */
static int calls, failed, expect_pmd_sum, expect_hpage_sum;

static void die(const char *what)
{
    fprintf(stderr, "remapactors: %s: %s\n", what, strerror(errno));
    exit(1);
}

static char *slot(int n) { return base + (unsigned long)n * SLOT; }

/* Maps [addr, addr+len) over the reservation and writes every page (huge: MADV_HUGEPAGE, else NOHUGEPAGE). */
static void populate(char *addr, unsigned long len, int huge)
{
    if (mmap(addr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != addr)
        die("mmap");
    if (madvise(addr, len, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) != 0)
        die("madvise");
    for (unsigned long off = 0; off < len; off += PAGE)
        addr[off] = (char)(off >> 12);
}

/* Gives [addr, addr+len) back to nothing (a hole in the reservation), so a destination there is empty. */
static void hole(char *addr, unsigned long len)
{
    if (munmap(addr, len) != 0)
        die("munmap");
}

/* AnonHugePages of the VMA that starts at addr, in bytes (/proc/self/smaps). */
static unsigned long anon_huge_bytes(char *addr)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[256];
    int in = 0;
    unsigned long kb = 0;
    if (!f)
        die("smaps");
    while (fgets(line, sizeof line, f)) {
        unsigned long start, end;
        if (sscanf(line, "%lx-%lx ", &start, &end) == 2) /* a VMA's header line */
            in = start == (unsigned long)addr;
        else if (in && sscanf(line, "AnonHugePages: %lu kB", &kb) == 1)
            break;
    }
    fclose(f);
    return in ? kb * 1024 : 0;
}

static void *remap(const char *kind, char *old, unsigned long old_len, unsigned long new_len, int flags, char *new_addr,
                   int expect_pmd, int expect_hpage)
{
    void *r = mremap(old, old_len, new_len, flags, new_addr);
    long ret = r == MAP_FAILED ? -errno : (long)r;
    calls++;
    if (r == MAP_FAILED) {
        failed++;
        expect_pmd = expect_hpage = 0;
    }
    expect_pmd_sum += expect_pmd;
    expect_hpage_sum += expect_hpage;
    char rets[32];
    snprintf(rets, sizeof rets, ret < 0 ? "%ld" : "0x%lx", ret);
    printf("call=%d kind=%s old=%p old_len=%lu new=%p new_len=%lu flags=0x%x ret=%s expect_pmd=%d expect_hpage=%d\n",
           calls, kind, (void *)old, old_len, (void *)new_addr, new_len, flags, rets, expect_pmd, expect_hpage);
    return r;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "exec-tail") == 0) {
        printf("remapactors exec-tail pid=%d\n", getpid());
        return 0;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    char *raw = mmap(NULL, 8 * SLOT + PMD, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED)
        die("reserve");
    base = (char *)(((uintptr_t)raw + PMD - 1) & ~(PMD - 1));
    int mm_flags = MREMAP_MAYMOVE | MREMAP_FIXED;

    /* dontunmap, then dontunmap-again from the VMA that stayed. */
    char *a = slot(0), *n = slot(0) + 8 * MIB;
    populate(a, 4 * MIB, 0);
    hole(n, 4 * MIB);
    if (remap("dontunmap", a, 4 * MIB, 4 * MIB, mm_flags | MREMAP_DONTUNMAP, n, 2, 0) == MAP_FAILED)
        die("mremap dontunmap");
    for (unsigned long off = 0; off < 4 * MIB; off += PAGE)
        a[off] = 1; /* the VMA at A is still there: new zero pages */
    hole(slot(1), 4 * MIB);
    remap("dontunmap-again", a, 4 * MIB, 4 * MIB, mm_flags, slot(1), 2, 0);

    /* fixed-over: the destination is a populated mapping of its own. */
    a = slot(2);
    char *d = slot(2) + 8 * MIB;
    populate(a, 4 * MIB, 0);
    populate(d, 4 * MIB, 0);
    remap("fixed-over", a, 4 * MIB, 4 * MIB, mm_flags, d, 2, 0);

    /* overlap: EINVAL. */
    a = slot(3);
    populate(a, 4 * MIB, 0);
    remap("overlap", a, 4 * MIB, 4 * MIB, mm_flags, a + 2 * MIB, 0, 0);
    /* fixed-back: the second half of the VMA onto its first half. */
    remap("fixed-back", a + 2 * MIB, 2 * MIB, 2 * MIB, mm_flags, a, 1, 0);

    /* thp: huge PMDs move whole. */
    a = slot(4);
    n = slot(4) + 8 * MIB;
    populate(a, 4 * MIB, 1);
    unsigned long thp = anon_huge_bytes(a);
    hole(n, 4 * MIB);
    remap("thp", a, 4 * MIB, 4 * MIB, mm_flags, n, (int)((4 * MIB - thp) / PMD), (int)(thp / PMD));

    /* mlock-fork-exit. */
    char *l = slot(5);
    populate(l, PMD, 0);
    if (mlock(l, PMD) != 0)
        die("mlock");
    fflush(stdout);
    pid_t child = fork();
    if (child < 0)
        die("fork");
    if (child == 0) {
        if (mlock(l, PMD) != 0)
            die("child mlock");
        for (unsigned long off = 0; off < PMD; off += PAGE)
            l[off] = 2; /* COW copies in a VM_LOCKED VMA */
        _exit(0);   /* exit_mmap munlocks them */
    }
    int status;
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("child");
    if (munlock(l, PMD) != 0)
        die("munlock");

    printf("remapactors pid=%d calls=%d failed=%d expect_pmd=%d expect_hpage=%d thp_bytes=%lu child_locked_pages=%lu forks=1 execs=1\n",
           getpid(), calls, failed, expect_pmd_sum, expect_hpage_sum, thp, PMD / PAGE);
    fflush(stdout);
    execl("/proc/self/exe", argv[0], "exec-tail", (char *)NULL);
    die("exec");
}
