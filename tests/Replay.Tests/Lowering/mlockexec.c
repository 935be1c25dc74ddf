/* Live workload for the R4/R5 lowering (docs/lowering.md): mlock/munlock, mlockall, MAP_LOCKED, then execs itself once.
 * cc -O1 -o mlockexec tests/Replay.Tests/Lowering/mlockexec.c && ./mmtrace record -o DS -- ./mlockexec */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#define MIB (1UL << 20)

static char *map(size_t len, int extra)
{
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | extra, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    return p;
}

int main(int argc, char **argv)
{
    /* The stack VMA ends 8 bytes above the AT_EXECFN string (bprm->p starts at vm_end - sizeof(void *)). */
    const char *execfn = (const char *)getauxval(AT_EXECFN);
    printf("stack_top=%#lx argv0=%p\n", (unsigned long)(execfn + strlen(execfn) + 1 + sizeof(void *)), (void *)argv[0]);
    fflush(stdout);
    char *a = map(4 * MIB, 0);
    memset(a, 1, 4 * MIB);
    if (mlock(a, MIB) != 0)
        perror("mlock");
    if (munlock(a + MIB / 2, MIB / 2) != 0)
        perror("munlock");
    if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0)
        perror("mlockall");
    char *b = map(MIB, 0);
    memset(b, 2, MIB);
    if (munlockall() != 0)
        perror("munlockall");
    char *c = map(MIB, MAP_LOCKED);
    c[0] = 3;
    munmap(c, MIB);
    munmap(b, MIB);
    munmap(a, 4 * MIB);
    if (argc == 1) {
        char *args[] = {argv[0], "again", NULL};
        execv("/proc/self/exe", args);
        perror("execv");
        return 1;
    }
    return 0;
}
