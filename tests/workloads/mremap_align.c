/*
 * mremap_align: mremap(MREMAP_MAYMOVE|MREMAP_FIXED) calls with controlled alignment, for validating the
 * PMD-move prediction (docs/mremap-prediction.md, "Prediction rules"; docs/mm-model.md §5.2) against a real kernel.
 *
 *   mremap_align [ROUNDS]      (default 3)
 *
 * Layout. A PROT_NONE reservation (1 GiB per 25 calls, plus 1 GiB of slack) is made and everything happens
 * in its 1 GiB-aligned part, so every address has a PMD table (the level above the PTE tables) once the first
 * page of its 1 GiB is touched, and no call ever allocates or moves one. Each call gets its own 40 MiB slot, and slots never straddle a 1 GiB
 * boundary: the source lies at slot + [0, 18 MiB), the destination at slot + 20 MiB + [0, 18 MiB). No two
 * calls share a 2 MiB region, so every destination PMD is none and every source PMD is a PTE table.
 *
 * The source is mapped with MAP_FIXED over the reservation, marked MADV_NOHUGEPAGE (no THP of any size, so
 * no huge PMD and no large folio batching) and written page by page, so each of its 2 MiB regions has a PTE
 * table full of present pages. The reservation around source and destination is PROT_NONE and never
 * touched; it does not merge with the moved VMA (different flags), so copy_vma() always creates a new VMA
 * starting at the destination. Right before each call the workload unmaps exactly [N, N + len) itself (the
 * reservation below N stays), so the timed mremap's own do_munmap() of the target has nothing to split and
 * its latency is the move, copy_vma() and the removal of the source VMA.
 *
 * Classes (the rule of §5.2.1 each exercises):
 *   aligned        A and N 2 MiB-aligned: every full 2 MiB of [A, E) moves as NORMAL_PMD; no realign (off 0).
 *   mutual         A ≡ N (mod 2 MiB), off = 0x110000, the reservation stays below both A and N in their 2 MiB:
 *                  can_align_down() finds a VMA in [A & PMD_MASK, A), so no realign; the head [A, next 2 MiB)
 *                  and the tail go through move_ptes, the full 2 MiB blocks in between are NORMAL_PMD.
 *   realign        as mutual, but the reservation is unmapped from [A & PMD_MASK, A) and [N & PMD_MASK, N) and
 *                  A is the VMA start: try_realign_addr() moves the start down, so the head is one more
 *                  NORMAL_PMD, provided len >= 2 MiB - off (the 64 KiB call is below that: no realign).
 *   realign-midvma as realign, but the source VMA starts at A & PMD_MASK and only [A, E) is moved: A is not
 *                  vm_start, so no realign even though nothing else lies below A.
 *   realign-dstvma as realign on the source side, but the reservation stays below N: the destination's
 *                  preceding VMA blocks realign.
 *   none           A 2 MiB-aligned, N = 2 MiB boundary + 0x30000: not mutually aligned, every extent is cut
 *                  at a destination boundary, so no extent is 2 MiB and nothing moves as NORMAL_PMD.
 * Sizes: 64 KiB, 2 MiB, 4 MiB, 8 MiB + 64 KiB, 16 MiB.
 *
 * Output: one line per call
 *   call=N class=C old=0x... new=0x... len=L expect_pmd=K realign=0|1 ns=T
 * (ns: clock_gettime(CLOCK_MONOTONIC) around the syscall), then
 *   mremap_align pid=P calls=N expect_pmd=SUM rounds=R
 * The process names itself "mremap_align" so the trace shows it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define KIB (1024UL)
#define MIB (1024UL * KIB)
#define GIB (1024UL * MIB)
#define PMD_SIZE (2 * MIB)
#define PMD_MASK (~(PMD_SIZE - 1))
#define SLOT (40 * MIB)
#define DEST_OFFSET (20 * MIB)
#define MUTUAL_OFF 0x110000UL
#define NONE_OFF 0x30000UL

enum klass { ALIGNED, MUTUAL, REALIGN, REALIGN_MIDVMA, REALIGN_DSTVMA, NONE, CLASSES };

static const char *const class_names[CLASSES] = {
    "aligned", "mutual", "realign", "realign-midvma", "realign-dstvma", "none",
};

static const unsigned long sizes[] = { 64 * KIB, 2 * MIB, 4 * MIB, 8 * MIB + 64 * KIB, 16 * MIB };
#define SIZES (sizeof(sizes) / sizeof(sizes[0]))

static void die(const char *what, unsigned long call)
{
    fprintf(stderr, "mremap_align: %s failed at call %lu: %s\n", what, call, strerror(errno));
    exit(1);
}

static void *map_fixed(uintptr_t at, size_t len, int prot, unsigned long call)
{
    void *p = mmap((void *)at, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED || (uintptr_t)p != at)
        die("mmap", call);
    return p;
}

static void unmap(uintptr_t at, size_t len, unsigned long call)
{
    if (len != 0 && munmap((void *)at, len) != 0)
        die("munmap", call);
}

/* Full 2 MiB blocks [k, k + 2 MiB) with start <= k and k + 2 MiB <= end. */
static unsigned long full_blocks(uintptr_t start, uintptr_t end)
{
    uintptr_t first = (start + PMD_SIZE - 1) & PMD_MASK;
    uintptr_t last = end & PMD_MASK;
    return last > first ? (last - first) / PMD_SIZE : 0;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? strtol(argv[1], NULL, 10) : 3;
    if (rounds < 1 || rounds > 100) {
        fprintf(stderr, "usage: mremap_align [ROUNDS 1..100]\n");
        return 2;
    }
    prctl(PR_SET_NAME, "mremap_align", 0, 0, 0);
    setvbuf(stdout, NULL, _IOLBF, 0);
    long page = sysconf(_SC_PAGESIZE);

    unsigned long slots_per_gib = GIB / SLOT;
    unsigned long total = (unsigned long)rounds * CLASSES * SIZES;
    size_t reserve_len = ((total + slots_per_gib - 1) / slots_per_gib + 1) * GIB;
    void *reserve = mmap(NULL, reserve_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (reserve == MAP_FAILED)
        die("reserve", 0);
    uintptr_t arena = ((uintptr_t)reserve + GIB - 1) & ~(GIB - 1);

    unsigned long call = 0, expect_total = 0;
    for (long round = 0; round < rounds; round++) {
        for (int k = 0; k < CLASSES; k++) {
            for (size_t s = 0; s < SIZES; s++, call++) {
                uintptr_t slot = arena + (call / slots_per_gib) * GIB + (call % slots_per_gib) * SLOT;
                uintptr_t src_base = slot, dst_base = slot + DEST_OFFSET;
                unsigned long len = sizes[s];
                uintptr_t a = src_base, n = dst_base, vma_start = src_base;
                switch (k) {
                case ALIGNED:
                    break;
                case NONE:
                    n = dst_base + NONE_OFF;
                    break;
                case REALIGN_MIDVMA:
                    a = src_base + MUTUAL_OFF;
                    n = dst_base + MUTUAL_OFF;
                    vma_start = src_base; /* the VMA starts below A, in A's 2 MiB */
                    break;
                default:
                    a = src_base + MUTUAL_OFF;
                    n = dst_base + MUTUAL_OFF;
                    vma_start = a;
                    break;
                }
                if (k == REALIGN || k == REALIGN_MIDVMA || k == REALIGN_DSTVMA)
                    unmap(a & PMD_MASK, vma_start - (a & PMD_MASK), call); /* nothing below the source VMA */
                if (k == REALIGN || k == REALIGN_MIDVMA)
                    unmap(n & PMD_MASK, n - (n & PMD_MASK), call); /* nothing below the destination */

                char *src = map_fixed(vma_start, a + len - vma_start, PROT_READ | PROT_WRITE, call);
                if (madvise(src, a + len - vma_start, MADV_NOHUGEPAGE) != 0)
                    die("madvise", call);
                for (uintptr_t p = vma_start; p < a + len; p += (uintptr_t)page)
                    *(volatile char *)p = (char)(call + 1);

                /* try_realign_addr(): off != 0, mutual, len >= 2 MiB - off, A is vm_start with no VMA in
                 * [A & PMD_MASK, A), and no VMA in [N & PMD_MASK, N) (copy_vma() makes a new VMA at N). */
                uintptr_t off = a & ~PMD_MASK;
                int mutual = off == (n & ~PMD_MASK);
                int realign = (k == REALIGN) && off != 0 && mutual && len >= PMD_SIZE - off;
                unsigned long expect = mutual ? full_blocks(realign ? (a & PMD_MASK) : a, a + len) : 0;
                expect_total += expect;

                /* Unmap the destination first, so the timed call's own do_munmap(N, len) finds nothing to split:
                 * its time is then the move itself plus copy_vma() and removing the source VMA. */
                unmap(n, len, call);

                uint64_t t0 = now_ns();
                void *r = mremap((void *)a, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)n);
                uint64_t t1 = now_ns();
                if (r == MAP_FAILED || (uintptr_t)r != n)
                    die("mremap", call);
                for (uintptr_t p = n; p < n + len; p += (uintptr_t)page)
                    if (*(volatile char *)p != (char)(call + 1)) {
                        fprintf(stderr, "mremap_align: wrong content at 0x%lx after call %lu\n", (unsigned long)p, call);
                        return 1;
                    }
                printf("call=%lu class=%s old=0x%lx new=0x%lx len=%lu expect_pmd=%lu realign=%d ns=%llu\n",
                       call, class_names[k], (unsigned long)a, (unsigned long)n, len, expect, realign,
                       (unsigned long long)(t1 - t0));

                /* Drop what is left (the moved range and the midvma head) so memory stays bounded. */
                unmap(n, len, call);
                if (vma_start < a)
                    unmap(vma_start, a - vma_start, call);
            }
        }
    }
    printf("mremap_align pid=%d calls=%lu expect_pmd=%lu rounds=%ld\n", getpid(), call, expect_total, rounds);
    return 0;
}
