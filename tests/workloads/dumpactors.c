/*
 * dumpactors: one of each mm actor the races' coverage counts, small enough that its whole trace fits a ring buffer
 * ftrace_dump prints to the console (scripts/record-sysrq-fixture.sh, docs/validation.md "A real kernel's SysRq-z
 * dump"). remapactors does the same shapes and more, but its 4 MiB ranges make ~50,000 events of the mm set.
 *
 *   dumpactors             runs the phases below, then execs itself once ("exec-tail") and exits 0
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

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

#define PMD (2UL << 20)
#define PAGE 4096UL

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

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "exec-tail") == 0) {
        printf("dumpactors exec-tail pid=%d\n", getpid());
        return 0;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* A PROT_NONE reservation of 4 PMD slots, 2 MiB-aligned, so no moved VMA merges with a neighbour. */
    char *raw = mmap(NULL, 5 * PMD, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED)
        die("reserve");
    char *base = (char *)(((uintptr_t)raw + PMD - 1) & ~(PMD - 1));

    /* move: slot 0 to slot 1, which is unmapped first. */
    char *a = base, *n = base + PMD;
    populate(a, PMD);
    if (munmap(n, PMD) != 0)
        die("munmap");
    if (mremap(a, PMD, PMD, MREMAP_MAYMOVE | MREMAP_FIXED, n) != n)
        die("mremap");

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
