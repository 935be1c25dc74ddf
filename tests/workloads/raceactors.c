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
 *     MADV_PAGEOUT holds the mm's mmap_lock for read, which mremap's write hold excludes, so it can never run inside
 *     a move. Then the range moves back and forth without pause while two walkers that take no mmap_lock of this mm
 *     run: a child process punches holes in the file (unmap_mapping_range walks the file rmap and zaps the PTEs) and
 *     the pusher writes /proc/sys/vm/compact_memory (try_to_migrate through the rmap); after each move the mover reads
 *     and then writes every page, so a page a punch dropped is refaulted and then write-protect faulted (the trace's
 *     TLB fill through the moved range). move_pages(2) is no such walker here: it isolates under the target's
 *     mmap_lock and, on one NUMA node, migrates nothing.
 * R2  The main thread collapses a 2 MiB-aligned range of small pages with MADV_COLLAPSE while the "pinner" thread
 *     pins pages of the same range with GUP-fast: O_DIRECT reads from a file into it and vmsplice of it into a pipe.
 *     After each collapse the range is dropped (MADV_DONTNEED) and refilled with small pages.
 * R4  The main thread mlocks a populated 4 MiB range and munlocks it while its pages are migrated: the pusher compacts
 *     (compaction moves mlocked pages too, compact_unevictable_allowed=1) and, when that reached no locked page, the
 *     main thread takes a memory block holding some of them offline and online again (memory offlining migrates every
 *     page of the block), so an rmap walker meets the locked pages in every run; the last round exits with the range
 *     locked, so exit_mmap munlocks it.
 *
 * The last line is a summary: "raceactors pid=P mremaps=N collapses=N collapse_failures=N direct_reads=N
 * vmsplices=N mlocks=N munlocks=N compactions=N pageouts=N r1_walked=N r4_walked=N r4_ranges=N r4_offlined=N
 * r1_lockless_moves=N r1_punches=N": r1_walked and r4_walked the pages of the R1 and R4 ranges whose frame changed
 * under the walkers (read from /proc/self/pagemap: migrated or pushed out), r4_ranges how many R4 ranges it took (a
 * fresh one when no block of the last would go offline), r4_offlined the memory blocks taken offline and back,
 * r1_lockless_moves the mremaps made while the lockless walkers ran (counted in mremaps too) and r1_punches the holes
 * punched meanwhile.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pagemap.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

#define PMD (2UL << 20)
#define PAGE 4096UL
#define RANGE (2 * PMD)
#define HOLE (16 * PAGE)  /* the puncher's hole */

static atomic_int phase;          /* 0 idle, 1 push (R1/R4), 2 pin (R2), 3 stop, 4 compact only (R1) */
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

/* Moves the R1 range from *at to *to (two NORMAL_PMD extents) and swaps the two places. */
static void move_range(char **at, char **to)
{
    char *moved = mremap(*at, RANGE, RANGE, MREMAP_MAYMOVE | MREMAP_FIXED, *to);
    if (moved == MAP_FAILED)
        die("mremap");
    *to = *at;
    *at = moved;
}

/*
 * Reads a byte of every page, then writes it back. The read maps a page a punch dropped (a read fault maps a clean
 * shared file page read-only: ext4 wants write notification); the write then takes a write-protect fault on the page
 * already mapped (error code P|W, do_wp_page -> wp_page_shared -> page_mkwrite), the trace's only sign of an access
 * to a present page: a TLB fill through the moved range. Pages written since the last punch stay writable and fault
 * no more.
 */
static unsigned long touch_read_write(char *base, size_t len)
{
    unsigned long sum = 0;
    for (size_t off = 0; off < len; off += PAGE) {
        char v = ((volatile char *)base)[off];
        sum += (unsigned char)v;
        ((volatile char *)base)[off] = v;
    }
    return sum;
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

static void on_alarm(int sig)
{
    (void)sig; /* only interrupts a memory block's offline that takes too long */
}

/* Writes "offline" or "online" to memory block `block`'s state: 0, or the errno (EINTR after 2 s: given up). */
static int block_state(unsigned long block, const char *state)
{
    char path[96];
    snprintf(path, sizeof path, "/sys/devices/system/memory/memory%lu/state", block);
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return errno;
    alarm(2);
    int err = write(fd, state, strlen(state)) < 0 ? errno : 0;
    alarm(0);
    close(fd);
    return err;
}

/* The signals that would end the process between a memory block's offline and its online. */
static void stopping_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
}

/* For the helper threads: the stopping signals and SIGALRM go to the main thread, which offlines memory blocks. */
static void main_signals_only(void)
{
    sigset_t set;
    stopping_signals(&set);
    sigaddset(&set, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

/*
 * Takes a memory block holding pages of [base, base+len) offline and at once online again, the block with the most
 * of them first, until one goes offline (up to 16 blocks tried); returns whether one did. A block holding a page the
 * kernel cannot move (page tables, slab) refuses at once (EBUSY; the kernel logs that page), one whose pages stay busy
 * is given up after 2 s (SIGALRM interrupts the write, the kernel undoes the isolation). SIGINT, SIGTERM and SIGHUP are
 * blocked from the offline to the online, so the block is brought back whatever happens meanwhile. Runs on the main
 * thread only: the other threads block these signals and SIGALRM (main_signals_only), so a signal sent to the process
 * waits for the main thread, and the alarm interrupts the main thread's write.
 */
static int offline_block_of(const char *base, size_t len)
{
    char size_text[32] = "";
    int fd = open("/sys/devices/system/memory/block_size_bytes", O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, size_text, sizeof size_text - 1);
    close(fd);
    unsigned long block_pages = n > 0 ? strtoul(size_text, NULL, 16) / PAGE : 0;
    if (block_pages == 0)
        return 0;
    static uint64_t pfns[RANGE / PAGE];
    static unsigned long blocks[RANGE / PAGE], counts[RANGE / PAGE];
    size_t nblocks = 0;
    frames(base, len, pfns);
    for (size_t i = 0; i < len / PAGE; i++) {
        if (pfns[i] == 0)
            continue;
        size_t b = 0;
        while (b < nblocks && blocks[b] != pfns[i] / block_pages)
            b++;
        if (b == nblocks) {
            blocks[nblocks] = pfns[i] / block_pages;
            counts[nblocks++] = 0;
        }
        counts[b]++;
    }
    struct sigaction alarm_action = { .sa_handler = on_alarm };
    sigaction(SIGALRM, &alarm_action, NULL);
    sigset_t stop, old;
    stopping_signals(&stop);
    for (int tried = 0; tried < 16 && nblocks > 0; tried++) {
        size_t most = 0;
        for (size_t b = 1; b < nblocks; b++)
            if (counts[b] > counts[most])
                most = b;
        unsigned long block = blocks[most];
        blocks[most] = blocks[--nblocks];
        counts[most] = counts[nblocks];
        pthread_sigmask(SIG_BLOCK, &stop, &old);
        int err = block_state(block, "offline");
        if (err == 0) {
            for (int attempt = 0; (err = block_state(block, "online")) != 0 && attempt < 20; attempt++)
                usleep(50000);
            if (err != 0) {
                fprintf(stderr, "raceactors: memory block %lu stays offline: %s (echo online > /sys/devices/system/memory/memory%lu/state)\n",
                        block, strerror(err), block);
                exit(1);
            }
            pthread_sigmask(SIG_SETMASK, &old, NULL);
            return 1;
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (err == EACCES || err == ENOENT || err == EPERM)
            return 0;
    }
    return 0;
}

/* The R4 range: 4 MiB of anonymous memory in small pages, populated now. */
static char *r4_range(void)
{
    char *l = aligned_map(RANGE);
    madvise(l, RANGE, MADV_NOHUGEPAGE);
    touch(l, RANGE, 7);
    return l;
}

static void *pusher(void *arg)
{
    (void)arg;
    prctl(PR_SET_NAME, "pusher");
    main_signals_only();
    while (atomic_load(&phase) != 3) {
        if (atomic_load(&phase) == 4) {
            /* The R1 moves run meanwhile; compaction takes no mmap_lock of this mm. One per request, as in R4. */
            if (atomic_load(&compact_requests) > atomic_load(&compactions))
                compact();
            else
                usleep(1000);
            continue;
        }
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
    main_signals_only();
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
        move_range(&a, &b);
        mremaps++;
        push_base = a;
        touch(a, RANGE, (char)(i + 2));
        usleep(i < rounds * 4 ? 20000 : 10000);
    }
    atomic_store(&phase, 0);
    push_base = NULL;
    usleep(5000);

    /*
     * R1 with walkers that run without this mm's mmap_lock, which a move can meet: the range, repopulated, moves
     * back and forth without pause (each move holds mmap_lock for write only for its two PMD moves: the more moves,
     * the more of the walkers' frees fall inside one) and is read and written again after each move (refaulting what a
     * punch dropped, then a write-protect fault on each page refaulted), while
     *   - the "puncher" child process punches 64 KiB holes in turn over the file (fallocate PUNCH_HOLE:
     *     unmap_mapping_range walks the file's rmap, i_mmap, zaps the hole's PTEs in this mm and the truncation frees
     *     the pages), and
     *   - the pusher compacts once (try_to_migrate through the rmap; it reaches the pages its scanner covers, often none).
     * rounds*64 punches of 64 KiB in turn over the file, 0.5 ms apart, at most 50,000 moves; then until the compaction
     * has finished.
     */
    touch(a, RANGE, 3);
    unsigned long r1_lockless_moves = 0, r1_punches = 0;
    int punched[2];
    if (pipe(punched) != 0)
        die("pipe");
    pid_t puncher = fork();
    if (puncher < 0)
        die("fork");
    if (puncher == 0) {
        prctl(PR_SET_NAME, "puncher");
        unsigned long n = 0;
        /*
         * 64 KiB holes (16 pages) in turn over the file: a punch inside a move's lock hold then frees a few pages, not
         * the whole range, so the window an explorer must reorder stays small (a whole-file punch put 1,024 zaps of
         * 5 ops each in one window).
         */
        for (int k = 0; k < rounds * 64; k++) {
            usleep(500);
            if (fallocate(ffd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)((k * HOLE) % RANGE), HOLE) == 0)
                n++;
        }
        _exit(write(punched[1], &n, sizeof n) == sizeof n ? 0 : 1);
    }
    unsigned long compact_since = request_compaction();
    atomic_store(&phase, 4);
    for (;;) {
        int status;
        pid_t done = waitpid(puncher, &status, r1_lockless_moves < 50000 ? WNOHANG : 0);
        if (done == puncher)
            break;
        if (done < 0)
            die("waitpid");
        move_range(&a, &b);
        r1_lockless_moves++;
        touch_read_write(a, RANGE);
    }
    for (int w = 0; w < 10000 && !compaction_done(compact_since); w++)
        usleep(1000);
    atomic_store(&phase, 0);
    if (read(punched[0], &r1_punches, sizeof r1_punches) != sizeof r1_punches)
        r1_punches = 0;
    close(punched[0]);
    close(punched[1]);
    mremaps += r1_lockless_moves;
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

    /*
     * R4: mlock/munlock while the pages are migrated; the last round exits locked.
     *
     * The rmap walkers that reach mlocked pages on this machine are migrations: reclaim never does (an mlocked folio is
     * unevictable: shrink_folio_list keeps it without a walk, MADV_PAGEOUT refuses a VM_LOCKED VMA), and
     * move_pages/migrate_pages/mbind migrate nothing on one NUMA node. Compaction migrates mlocked pages
     * (compact_unevictable_allowed), but only those below the point where its migrate scanner, coming up from the
     * start of the zone, meets its free scanner, which takes free pages only from partly used pageblocks: in most runs
     * that point lay below every locked page and no compaction reached one (r4_walked=0 in 4 of 5 runs). So when a
     * compaction moved no locked page, a memory block holding locked pages is taken offline and at once online again
     * (offline_block_of): offline_pages migrates every page of the block, mlocked ones too, through the rmap
     * (try_to_migrate_one, then remove_migration_pte mlocks the new page in the VM_LOCKED VMA under the PTE lock). If
     * no block of the range would go offline, a fresh range is mapped, populated and locked in its place (the old one
     * munlocked and kept mapped, so that its pages are not handed out again) and the round tries again, up to 4 times.
     */
    char *l = r4_range();
    frames(l, RANGE, r4_frames);
    push_base = l;
    unsigned long r4_ranges = 1, r4_offlined = 0;
    for (int i = 0; i < rounds; i++) {
        if (mlock(l, RANGE) != 0)
            die("mlock");
        mlocks++;
        atomic_store(&phase, 1);
        usleep(20000);
        if (i < 2 || (r4_walked == 0 && i + 1 < rounds)) {
            for (int run = 0; run < 4 && can_compact(); run++) {
                unsigned long round_since = request_compaction();
                for (int w = 0; w < 10000 && !compaction_done(round_since); w++)
                    usleep(1000);
                unsigned long walked = frames_changed(l, RANGE, r4_frames);
                if (walked == 0 && r4_walked == 0) {
                    /* An offline given up (EBUSY on a later page, the 2 s alarm) has still migrated the pages it
                     * reached, locked ones too: count them whether or not a block went offline. */
                    if (offline_block_of(l, RANGE))
                        r4_offlined++;
                    walked = frames_changed(l, RANGE, r4_frames);
                }
                if (walked > r4_walked || r4_walked > 0) {
                    r4_walked = walked > r4_walked ? walked : r4_walked;
                    break;
                }
                char *fresh = r4_range();
                if (mlock(fresh, RANGE) != 0)
                    die("mlock");
                mlocks++;
                /* A compaction that outlasted the wait above may have moved locked pages since: they count, and this
                 * range stays the one to munlock. */
                if ((walked = frames_changed(l, RANGE, r4_frames)) > 0) {
                    if (munlock(fresh, RANGE) != 0)
                        die("munlock");
                    munlocks++;
                    r4_walked = walked;
                    break;
                }
                if (munlock(l, RANGE) != 0)
                    die("munlock");
                munlocks++;
                l = fresh;
                frames(l, RANGE, r4_frames);
                push_base = l;
                r4_ranges++;
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
    printf("raceactors pid=%d mremaps=%lu collapses=%lu collapse_failures=%lu direct_reads=%lu vmsplices=%lu mlocks=%lu munlocks=%lu compactions=%lu pageouts=%lu r1_walked=%lu r4_walked=%lu r4_ranges=%lu r4_offlined=%lu r1_lockless_moves=%lu r1_punches=%lu\n",
           getpid(), mremaps, collapses, collapse_failures, atomic_load(&direct_reads), atomic_load(&vmsplices), mlocks, munlocks,
           atomic_load(&compactions), atomic_load(&pageouts), r1_walked, r4_walked, r4_ranges, r4_offlined, r1_lockless_moves, r1_punches);
    fflush(stdout);
    return 0;
}
