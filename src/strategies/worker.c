/*
 * worker.c - the background pool that runs early and hit refreshes: a few threads per cache
 * (CW__POOL_THREADS), started lazily by the first task, and a bounded FIFO queue
 * (CW__POOL_QUEUE tasks).
 *
 * A task is keyed by the cache key it refreshes, and the pool never holds two tasks for one
 * key at once (queued or running): a second request for a key already in hand is refused,
 * as is any request when the queue is full. Refusal costs nothing: the stale value keeps
 * being served and the next call asks again.
 *
 * Lifetimes: a task keeps its cw_func alive by counting in f->pending; cw_func_free() drops
 * the function's queued tasks and waits for its running ones (cw__pool_forget). The cache's
 * close hook stops the threads and joins them (cw__pool_stop), so nothing outlives the cache.
 */
#include <string.h>

#include "strategies/strategy.h"

void cw__pool_init(cw__pool *p)
{
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->idle, NULL);
}

static void task_free(cw__task *t, int ran)
{
    if (t->drop) t->drop(t, ran);
    cw_free(t->key);
    cw_free(t);
}

static void *worker_main(void *arg)
{
    cw__pool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stopping && !p->head) pthread_cond_wait(&p->work, &p->mu);
        if (p->stopping) break;
        cw__task *t = p->head;
        p->head = t->next;
        if (!p->head) p->tail = NULL;
        p->queued--;
        int slot = 0;
        while (p->running[slot]) slot++; /* one slot per thread: always one free */
        p->running[slot] = t;
        pthread_mutex_unlock(&p->mu);

        t->run(t);
        /* drop may still use the function: release it only after. */
        if (t->drop) t->drop(t, 1);
        t->drop = NULL;

        pthread_mutex_lock(&p->mu);
        p->running[slot] = NULL;
        t->f->pending--; /* from here on the function may be freed */
        pthread_cond_broadcast(&p->idle);
        pthread_mutex_unlock(&p->mu);
        task_free(t, 1);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static int key_in_hand(const cw__pool *p, const char *key)
{
    for (const cw__task *q = p->head; q; q = q->next)
        if (strcmp(q->key, key) == 0) return 1;
    for (int i = 0; i < CW__POOL_THREADS; i++)
        if (p->running[i] && strcmp(p->running[i]->key, key) == 0) return 1;
    return 0;
}

cw_status cw__pool_submit(cw__funcs *fx, cw__task *t)
{
    cw__pool *p = &fx->pool;
    pthread_mutex_lock(&p->mu);
    if (p->stopping) { pthread_mutex_unlock(&p->mu); return CW_ESTATE; }
    if (p->queued >= CW__POOL_QUEUE || key_in_hand(p, t->key)) {
        pthread_mutex_unlock(&p->mu);
        return CW_NOTSTORED;
    }
    int busy = 0;
    for (int i = 0; i < CW__POOL_THREADS; i++) busy += p->running[i] != NULL;
    if (p->nthreads < CW__POOL_THREADS && (size_t)busy + p->queued >= (size_t)p->nthreads) {
        if (pthread_create(&p->th[p->nthreads], NULL, worker_main, p) == 0) p->nthreads++;
        else if (p->nthreads == 0) {
            pthread_mutex_unlock(&p->mu);
            return cw__fail(fx->c, CW_ESTATE, "cannot start a background thread");
        }
    }
    t->next = NULL;
    if (p->tail) p->tail->next = t;
    else p->head = t;
    p->tail = t;
    p->queued++;
    t->f->pending++;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
    return CW_OK;
}

void cw__pool_forget(cw__funcs *fx, cw_func *f)
{
    if (!fx) return;
    cw__pool *p = &fx->pool;
    cw__task *dropped = NULL;
    pthread_mutex_lock(&p->mu);
    for (cw__task **pp = &p->head; *pp;) {
        cw__task *t = *pp;
        if (t->f != f) { pp = &t->next; continue; }
        *pp = t->next;
        p->queued--;
        f->pending--;
        t->next = dropped;
        dropped = t;
    }
    p->tail = NULL;
    for (cw__task *t = p->head; t; t = t->next) p->tail = t;
    while (f->pending > 0) pthread_cond_wait(&p->idle, &p->mu);
    pthread_mutex_unlock(&p->mu);
    while (dropped) {
        cw__task *n = dropped->next;
        task_free(dropped, 0);
        dropped = n;
    }
}

void cw__pool_stop(cw__pool *p)
{
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    cw__task *dropped = p->head;
    p->head = p->tail = NULL;
    p->queued = 0;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads; i++) pthread_join(p->th[i], NULL);
    p->nthreads = 0;
    /* Tasks of functions still alive at close (freeing them first is the rule). */
    while (dropped) {
        cw__task *n = dropped->next;
        cw_func *f = dropped->f;
        task_free(dropped, 0);
        f->pending--;
        dropped = n;
    }
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->idle);
    pthread_mutex_destroy(&p->mu);
}
