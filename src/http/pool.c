/* The blocking pool: threads that run offloaded handlers (work that waits, such as a
 * durable commit) while their connections are suspended, then resume them. */
#include <stdlib.h>

#include "core/log.h"
#include "core/util.h"
#include "http/internal.h"

bool tn_http_pool_submit(struct tn_http_server *s, struct tn_http_req *r,
                         struct tn_http_resp *later, bool pre)
{
    /* Queued only while the pool takes work, decided under its mutex: once shutdown has
     * said stop, the pool threads end as soon as the queue is empty, and a handler queued
     * after that would leave its connection suspended for good. */
    pthread_mutex_lock(&s->pool_mu);
    struct pool_thread *t = NULL;
    bool queued = !s->pool_stop;
    if (queued) {
        tn_http_resp_init(later);
        r->pending = later;
        r->offloaded = true;
        r->off = pre ? OFF_PRE_QUEUED : OFF_QUEUED;
        MHD_suspend_connection(r->conn);
        if ((t = s->pool_idle)) {
            s->pool_idle = t->next_idle;
            t->job = r;
        } else {
            r->pool_next = NULL;
            if (s->pool_tail)
                s->pool_tail->pool_next = r;
            else
                s->pool_head = r;
            s->pool_tail = r;
        }
    }
    pthread_mutex_unlock(&s->pool_mu);
    if (t) /* after the unlock, so that the thread does not wake into a held mutex */
        sem_post(&t->wake);
    return queued;
}

/* A blocking-pool thread: runs offloaded handlers, then resumes their connections (which
 * sends the answer from the epoll worker that owns the connection). */
static void *pool_main(void *arg)
{
    struct pool_thread *t = arg;
    struct tn_http_server *s = t->s;
    tn_thread_set_may_wait(true); /* the store keeps connections back for the loops */
    for (;;) {
        pthread_mutex_lock(&s->pool_mu);
        struct tn_http_req *r = s->pool_head;
        if (r) {
            s->pool_head = r->pool_next;
            if (!s->pool_head)
                s->pool_tail = NULL;
        } else if (!s->pool_stop) {
            t->job = NULL;
            t->next_idle = s->pool_idle;
            s->pool_idle = t;
        }
        bool stop = !r && s->pool_stop;
        pthread_mutex_unlock(&s->pool_mu);
        if (stop)
            break;
        if (!r) {
            while (sem_wait(&t->wake) != 0) /* EINTR */
                ;
            if (!(r = t->job))
                continue; /* woken to stop: the queue is looked at once more */
        }
        struct tn_http_resp *resp = r->pending;
        tn_log_set_request_id(r->id);
        if (r->off == OFF_PRE_QUEUED) { /* the verdict is queued by the resumed connection */
            r->pre_passed = r->route->pre(r->route->pre_ud, r, resp, &r->value);
            r->off = OFF_PRE_READY;
        } else {
            r->route->h(r->route->ud, r, resp);
            if (resp->status == 0)
                resp->status = 500;
            r->off = OFF_READY;
        }
        tn_log_set_request_id(NULL);
        if (!r->resumed) { /* counted until the request ends (the shutdown waits) */
            r->resumed = true;
            atomic_fetch_add(&s->resumed, 1);
        }
        MHD_resume_connection(r->conn);
    }
    return NULL;
}

/* The blocking pool's threads, started before the daemon so that no request sees it
 * half made. With none (BLOCKING_THREADS=0, or none could be created) s->pool stays
 * NULL and offloaded handlers run on the epoll worker. */
void tn_http_pool_start(struct tn_http_server *s)
{
    unsigned want = s->cfg.limits.blocking_threads;
    s->pool = want ? calloc(want, sizeof *s->pool) : NULL;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 1u << 20); /* they run handlers, SQLite included */
    for (unsigned i = 0; s->pool && i < want; i++) {
        struct pool_thread *t = &s->pool[s->n_pool];
        t->s = s;
        if (sem_init(&t->wake, 0, 0) != 0)
            break;
        if (pthread_create(&t->tid, &attr, pool_main, t) != 0) {
            sem_destroy(&t->wake);
            break;
        }
        s->n_pool++;
    }
    pthread_attr_destroy(&attr);
    if (s->pool && !s->n_pool) {
        free(s->pool);
        s->pool = NULL;
    }
}

/* Every handler queued so far runs (and resumes its connection) before the pool's
 * threads end; what is offloaded after the stop runs on its epoll worker. */
void tn_http_pool_stop_all(struct tn_http_server *s)
{
    pthread_mutex_lock(&s->pool_mu);
    s->pool_stop = true;
    struct pool_thread *idle = s->pool_idle;
    s->pool_idle = NULL;
    pthread_mutex_unlock(&s->pool_mu);
    while (idle) { /* each wakes with no job, finds the queue empty and the stop, and ends */
        struct pool_thread *next = idle->next_idle;
        sem_post(&idle->wake);
        idle = next;
    }
    for (unsigned i = 0; i < s->n_pool; i++) {
        pthread_join(s->pool[i].tid, NULL);
        sem_destroy(&s->pool[i].wake);
    }
    s->n_pool = 0;
}
