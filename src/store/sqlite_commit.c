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

#include <semaphore.h>
#include <stdatomic.h>

struct gop {
    body_fn body;
    void *arg;
    enum tn_err result;
    bool done;         /* failed and taken out of the group (leader's use) */
    atomic_bool woken; /* the group finished: result is final */
    /* Its writer sleeps here, woken alone: to lead the next group, or when its group
     * finished (woken set first). Posted without gmu held, so that a woken writer does
     * not at once block on the mutex its waker holds. */
    sem_t sem;
    struct gop *next;
};

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
    atomic_init(&me.woken, false);
    sem_init(&me.sem, 0, 0);
    pthread_mutex_lock(&s->gmu);
    if (s->gq_tail)
        s->gq_tail->next = &me;
    else
        s->gq_head = &me;
    s->gq_tail = &me;
    if (s->leading) {
        pthread_mutex_unlock(&s->gmu);
        while (sem_wait(&me.sem) != 0) /* EINTR */
            ;
        if (atomic_load(&me.woken)) { /* another writer's group carried mine */
            sem_destroy(&me.sem);
            return me.result;
        }
        pthread_mutex_lock(&s->gmu); /* the lead was handed to me; my work is queued */
    }
    s->leading = true;
    struct gop *g = s->gq_head;
    s->gq_head = s->gq_tail = NULL;
    pthread_mutex_unlock(&s->gmu);
    run_group(s, g);
    for (struct gop *op = g, *next; op; op = next) {
        next = op->next; /* read first: a woken writer's gop goes away */
        if (op != &me) {
            atomic_store(&op->woken, true);
            sem_post(&op->sem);
        }
    }
    /* Writers that queued meanwhile: the first of them leads their group (the lead
     * passes straight to it, so no newcomer can take that group over and each writer is
     * posted exactly once). */
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
