/*
 * readers.c - reads that write nothing shared: a passive reader-writer scheme over the shard
 * locks of every mem:// backend in the process.
 *
 * A get used to take its shard's spinlock, writing the shard's cache line; with two threads
 * that line was last written by the other core about two times in three, so every get paid
 * a cross-core transfer. Now a get marks its own thread's slot with the lock it is about to
 * read under (a line no other thread writes), then checks that the lock is free, reads, and
 * clears the mark. A lock holder, once it has the lock, waits until no slot carries its lock.
 *
 * Why that is safe (every access below is seq_cst, so they fall in one total order): a reader
 * stores its mark, then loads the lock; a writer exchanges the lock, then loads the marks.
 * If the reader saw the lock free, its mark came before the writer's exchange, so the writer
 * sees the mark and waits; if not, the reader clears its mark and takes the lock like
 * everybody else. So a writer never changes what a marked reader is reading, and nothing a
 * reader can reach is freed under it. The clearing store releases and the writer's load
 * acquires, so ThreadSanitizer sees the order too.
 *
 * Slots: MEM_READERS of them, one cache line each, claimed by a thread on its first read and
 * given back by a thread-exit destructor. A thread that finds none free reads under the lock,
 * as before. Writers look at the slots claimed so far (mem_readers_high), so a process that
 * never read optimistically pays nothing, and each writer pays one look per reading thread.
 */
#include "mem.h"

#include <pthread.h>
#include <sched.h>

#define MEM_READERS 256

static mem_reader readers[MEM_READERS];
_Atomic unsigned mem_readers_high;
MEM_TLS mem_reader *mem_reader_mine;
static MEM_TLS int tried;
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;
static int exit_key_ok;

static void give_back(void *p)
{
    mem_reader *r = p;
    atomic_store(&r->lock, NULL);
    atomic_store(&r->used, 0);
}

static void make_exit_key(void) { exit_key_ok = pthread_key_create(&exit_key, give_back) == 0; }

mem_reader *mem_reader_claim(void)
{
    if (tried) return NULL; /* every slot was taken when this thread first looked */
    tried = 1;
    pthread_once(&exit_once, make_exit_key);
    if (!exit_key_ok) return NULL;
    for (unsigned i = 0; i < MEM_READERS; i++) {
        int free_slot = 0;
        if (!atomic_compare_exchange_strong(&readers[i].used, &free_slot, 1)) continue;
        if (pthread_setspecific(exit_key, &readers[i]) != 0) {
            atomic_store(&readers[i].used, 0);
            return NULL;
        }
        /* Publish the slot before its first mark (see mem_readers_wait). */
        unsigned high = atomic_load(&mem_readers_high);
        while (high < i + 1 && !atomic_compare_exchange_weak(&mem_readers_high, &high, i + 1)) {
        }
        mem_reader_mine = &readers[i];
        return mem_reader_mine;
    }
    return NULL;
}

void mem_readers_wait(const mem_lock *l)
{
    unsigned high = atomic_load(&mem_readers_high);
    for (unsigned i = 0; i < high; i++) {
        for (unsigned spins = 0; atomic_load(&readers[i].lock) == l;) {
            if (++spins < 128) MEM_CPU_RELAX();
            else sched_yield(); /* the reader may have been preempted: let it run */
        }
    }
}
