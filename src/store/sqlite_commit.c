/* The SQLite backend's group commit of note writes.
 *
 * Note writes are durable when they return (synchronous=FULL), and a commit costs an
 * fsync. Concurrent writers therefore share commits: each queues its work; one of them
 * (the leader) takes everything queued, runs it in one transaction (see run_group for a
 * piece that fails), commits once, and wakes the others with their results. Work queued
 * meanwhile forms the next group. Alone, a writer is its own group of one: nothing waits
 * for a timer. Writers wait on the HTTP layer's blocking pool (writes are offloaded
 * there), so a group can be as large as the number of writes in flight. */
#include "store/sqlite_internal.h"

#include <limits.h>
#include <linux/futex.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

struct gop {
    body_fn body;
    void *arg;
    enum tn_err result;
    bool done; /* failed and taken out of the group (leader's use) */
    /* The first writer queued behind a running group sleeps here until the lead is
     * handed to it (posted without gmu held, so that it does not at once block on the
     * mutex its waker holds). The others of its group wait on the store's generation
     * word instead (see gen_wait). */
    sem_t sem;
    struct gop *next;
};

/* The writers of one group sleep on one futex word, so that the lead wakes them all
 * with one system call instead of one per writer. Groups are numbered; group g's
 * writers wait until gdone[g & 1] reaches g. The next group (g + 1) waits on the other
 * word, so the wake of group g wakes no writer of the next one; group g + 2 forms only
 * after group g's writers were woken. */
static void gen_wait(_Atomic uint32_t *w, uint32_t gen)
{
    for (;;) {
        uint32_t v = atomic_load_explicit(w, memory_order_acquire);
        if ((int32_t)(v - gen) >= 0)
            return;
        /* EAGAIN (it changed meanwhile) and EINTR: look again */
        syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
    }
}

static void gen_done(_Atomic uint32_t *w, uint32_t gen)
{
    atomic_store_explicit(w, gen, memory_order_release);
    syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* Runs the group's work in one transaction. A piece that fails is taken out, the
 * transaction rolled back and the rest run again without it (the bodies start from
 * scratch each time); failures are rare (a stale version), and a SAVEPOINT per piece
 * would cost more: FTS5 writes its pending index data at every savepoint. */
static void run_group(struct sqlite_store *s, struct gop *g)
{
    struct call k;
    enum tn_err e = sq_call_begin(&s->base, &k, true);
    bool again = true;
    while (e == TN_OK && again) {
        again = false;
        e = sq_run(&k, S_BEGIN, NULL, "");
        for (struct gop *op = g; op && e == TN_OK; op = op->next) {
            if (op->done)
                continue; /* failed in an earlier round */
            enum tn_err r = op->body(&k, op->arg);
            if (r != TN_OK) {
                op->result = r;
                op->done = true;
                again = true;
                break;
            }
            op->result = TN_OK;
        }
        if (e == TN_OK && again)
            e = sqlite3_exec(k.c->db, "ROLLBACK", NULL, NULL, NULL) == SQLITE_OK
                    ? TN_OK
                    : sq_fail(&k, sqlite3_extended_errcode(k.c->db), S_BEGIN);
    }
    if (e == TN_OK)
        e = sq_run(&k, S_COMMIT, NULL, "");
    if (k.c)
        sq_call_end(&k); /* rolls back when the commit did not happen */
    /* nothing of the group is on disk unless the commit succeeded */
    for (struct gop *op = g; op; op = op->next)
        if (e != TN_OK && !(op->done && op->result != TN_OK))
            op->result = e;
}

enum tn_err sq_grouped(struct tn_store *base, body_fn body, void *arg)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    struct gop me = {.body = body, .arg = arg, .result = TN_ERR_INTERNAL};
    sem_init(&me.sem, 0, 0);
    pthread_mutex_lock(&s->gmu);
    bool first = !s->gq_head; /* the next group's first writer leads it */
    if (s->gq_tail)
        s->gq_tail->next = &me;
    else
        s->gq_head = &me;
    s->gq_tail = &me;
    if (s->leading) {
        uint32_t gen = s->gnext; /* the number the group carrying my work will get */
        pthread_mutex_unlock(&s->gmu);
        if (!first) { /* another writer leads my group: wait for its commit */
            gen_wait(&s->gdone[gen & 1], gen);
            sem_destroy(&me.sem);
            return me.result;
        }
        while (sem_wait(&me.sem) != 0) /* EINTR */
            ;
        pthread_mutex_lock(&s->gmu); /* the lead was handed to me; my work is queued */
    }
    s->leading = true;
    struct gop *g = s->gq_head; /* me first */
    s->gq_head = s->gq_tail = NULL;
    uint32_t gen = s->gnext++;
    pthread_mutex_unlock(&s->gmu);
    run_group(s, g);
    if (g->next)
        gen_done(&s->gdone[gen & 1], gen);
    /* Writers that queued meanwhile: the first of them leads their group (the lead
     * passes straight to it, so no newcomer can take that group over). Passed after this
     * group's writers were woken, as before: passing it first measured no better (see
     * docs/PERFORMANCE.md, second round). */
    pthread_mutex_lock(&s->gmu);
    struct gop *head = s->gq_head;
    if (!head)
        s->leading = false;
    pthread_mutex_unlock(&s->gmu);
    if (head)
        sem_post(&head->sem);
    sem_destroy(&me.sem);
    return me.result;
}
