/* The PostgreSQL backend's change feed of notes: a thread of its own with a connection
 * of its own that LISTENs on teamnotes_notes (every note write is announced there, with
 * the owner as payload, after it commits) and hands each owner to the watcher, so that an
 * instance learns of writes made through another. The connection is re-made, with a
 * growing pause, while the database is away; pg_close stops the thread.
 *
 * The same thread announces this store's own writes. A write queues its owner
 * (pg_feed_announce) and returns; the thread gathers the owners of FEED_GATHER_MS and
 * sends them as one statement, one transaction that does not wait for the disk: under
 * load one announcement carries many writes (at 64 connections of saves, a transaction,
 * a round trip and a wake-up of every listening backend per save cost about a quarter
 * of the saves' throughput), and other instances hear of a write FEED_GATHER_MS and a
 * round trip after it. Notifications sent on this very connection come back to it
 * (PostgreSQL delivers a listener its own); they are not passed to the watcher: the
 * caller told its own listeners when its write returned.
 *
 * Owners queued while the connection is away are announced once it is back; what is
 * still queued when the store closes is announced if the connection answers within
 * FEED_STOP_MS, else dropped and counted in the log. The thread never blocks on the
 * network (its connection is non-blocking, made with PQconnectPoll; only a host name's
 * lookup blocks): a close waits for it about FEED_STOP_MS at most. */
#include "store/postgres_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

/* Owners waiting to be announced, at most (distinct ones: a busy owner is queued once).
 * More (only while the connection is away or slow) are dropped and counted in the log. */
enum { FEED_CAP = 4096 };
/* How long an announcement's answer may take (then the connection is given up and made
 * again), and at the store's close. */
enum { FEED_ANSWER_MS = 10000, FEED_STOP_MS = 1000 };
/* How long the first owner queued waits for others before they are announced together:
 * another instance hears of a write this much later, and a server saving 3,000 notes a
 * second announces them in 100 statements instead of 3,000. */
enum { FEED_GATHER_MS = 10 };

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

#define FEED_SQL \
    "SELECT pg_notify('teamnotes_notes', o) FROM (SELECT DISTINCT unnest($1::text[]) AS o) d"

bool pg_feed_announce(struct pg_store *s, const char *owner)
{
    /* pg_notify refuses a payload of 8,000 bytes: such an owner is announced (and
     * refused) alone, not in a statement it would fail for everyone */
    if (!atomic_load(&s->watching) || strlen(owner) >= 8000)
        return false;
    bool wake = false;
    pthread_mutex_lock(&s->feed_mu);
    size_t i = 0;
    while (i < s->feed_n && strcmp(s->feed_q[i], owner) != 0)
        i++;
    char *copy = i == s->feed_n && s->feed_n < FEED_CAP ? strdup(owner) : NULL;
    if (copy) {
        wake = s->feed_n == 0; /* the thread has seen the queue empty: tell it once */
        if (wake)
            s->feed_first = now_ms();
        s->feed_q[s->feed_n++] = copy;
    } else if (i == s->feed_n) {
        s->feed_dropped++;
    }
    pthread_mutex_unlock(&s->feed_mu);
    if (wake) {
        uint64_t one = 1;
        ssize_t w = write(s->feed_wake, &one, sizeof one);
        (void)w; /* the counter cannot overflow; a wake-up already pending is enough */
    }
    return true;
}

/* The owners q[0..n) as a text[] literal: each quoted, '"' and '\\' escaped. NULL when
 * out of memory. */
static char *array_literal(char *const *q, size_t n)
{
    size_t len = 3;
    for (size_t i = 0; i < n; i++)
        len += 2 * strlen(q[i]) + 3;
    char *out = malloc(len), *w = out;
    if (!out)
        return NULL;
    *w++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *w++ = ',';
        *w++ = '"';
        for (const char *p = q[i]; *p; p++) {
            if (*p == '"' || *p == '\\')
                *w++ = '\\';
            *w++ = *p;
        }
        *w++ = '"';
    }
    *w++ = '}';
    *w = '\0';
    return out;
}

/* Reads the wake-up's counter (non-blocking: nothing to read is fine). */
static void feed_woken(struct pg_store *s)
{
    uint64_t count;
    ssize_t r = read(s->feed_wake, &count, sizeof count);
    (void)r;
}

/* Waits for `pg`'s socket to be ready for `events`, or for the wake-up; false once past
 * *deadline, which the store's close brings forward to FEED_STOP_MS from now. */
static bool feed_wait(struct pg_store *s, PGconn *pg, short events, int64_t *deadline)
{
    if (atomic_load(&s->stop_watch) && *deadline > now_ms() + FEED_STOP_MS)
        *deadline = now_ms() + FEED_STOP_MS;
    int64_t left = *deadline - now_ms();
    if (left <= 0)
        return false;
    struct pollfd pfd[2] = {{.fd = PQsocket(pg), .events = events},
                            {.fd = s->feed_wake, .events = POLLIN}};
    if (poll(pfd, 2, (int)left) > 0 && (pfd[1].revents & POLLIN))
        feed_woken(s); /* the caller looks at the queue and the stop flag afterwards */
    return true;
}

/* Sends what the statement just queued on the non-blocking `pg` and reads all its
 * results, none of it waiting past `deadline` (feed_wait). 1: every result was `want`
 * (the first one kept in *keep, when asked for, to PQclear); 0: refused, the connection
 * is fine; -1: the connection is lost or too slow (the caller closes it). */
static int feed_finish(struct pg_store *s, PGconn *pg, int64_t deadline, ExecStatusType want,
                       PGresult **keep)
{
    int f;
    while ((f = PQflush(pg)) == 1)
        if (!feed_wait(s, pg, POLLOUT | POLLIN, &deadline) || !PQconsumeInput(pg))
            return -1;
    if (f < 0)
        return -1;
    int done = 1;
    for (;;) {
        while (PQisBusy(pg))
            if (!feed_wait(s, pg, POLLIN, &deadline) || !PQconsumeInput(pg))
                return -1;
        PGresult *r = PQgetResult(pg);
        if (!r)
            break;
        if (PQresultStatus(r) != want)
            done = 0;
        if (keep && !*keep && done)
            *keep = r;
        else
            PQclear(r);
    }
    return done || PQstatus(pg) == CONNECTION_OK ? done : -1;
}

/* Announces every queued owner in one statement on `pg`. The queue and the spare array
 * (the thread's own) trade places, so that writers queue the next owners meanwhile.
 * False when the connection failed: the owners are queued again, to be announced on
 * the next connection (twice at worst). */
static bool feed_send(struct pg_store *s, PGconn *pg)
{
    pthread_mutex_lock(&s->feed_mu);
    size_t n = s->feed_n, dropped = s->feed_dropped;
    char **q = s->feed_q;
    if (n) {
        s->feed_q = s->feed_spare;
        s->feed_n = 0;
        s->feed_dropped = 0;
    }
    pthread_mutex_unlock(&s->feed_mu);
    if (!n)
        return true;
    if (dropped) {
        char count[24];
        snprintf(count, sizeof count, "%zu", dropped);
        tn_log(TN_LOG_WARN, "store: note changes were not announced to other instances", "changes",
               count, NULL);
    }
    char *v = array_literal(q, n);
    const char *vals[1] = {v};
    int done = !v ? 0
               : PQsendQueryPrepared(pg, "announce", 1, vals, NULL, NULL, 0) != 1
                   ? -1
                   : feed_finish(s, pg, now_ms() + FEED_ANSWER_MS, PGRES_TUPLES_OK, NULL);
    free(v);
    if (done >= 0) {
        if (!done)
            tn_log(TN_LOG_WARN, "store: note changes were not announced to other instances", NULL);
        for (size_t i = 0; i < n; i++)
            free(q[i]);
        s->feed_spare = q;
        return true;
    }
    /* the connection broke: the batch goes back in front of what came since (q has
     * FEED_CAP places), for the next connection to announce */
    pthread_mutex_lock(&s->feed_mu);
    for (size_t i = 0; i < s->feed_n; i++) {
        size_t j = 0;
        while (j < n && strcmp(q[j], s->feed_q[i]) != 0)
            j++;
        if (j == n && n < FEED_CAP) {
            q[n++] = s->feed_q[i];
        } else {
            if (j == n)
                s->feed_dropped++;
            free(s->feed_q[i]);
        }
    }
    s->feed_spare = s->feed_q;
    s->feed_q = q;
    s->feed_n = n;
    pthread_mutex_unlock(&s->feed_mu);
    return false;
}

/* Whether the queued owners are due: true when the first has waited FEED_GATHER_MS;
 * otherwise *wait_ms is how long until it has (or the idle poll's 500 ms: none queued). */
static bool feed_due(struct pg_store *s, int *wait_ms)
{
    pthread_mutex_lock(&s->feed_mu);
    int64_t left = s->feed_n ? s->feed_first + FEED_GATHER_MS - now_ms() : 500;
    pthread_mutex_unlock(&s->feed_mu);
    *wait_ms = left > 0 ? (int)left : 0;
    return left <= 0;
}

/* A connection that listens, announces without waiting for the disk, and has the
 * announcing statement prepared, made without blocking (feed_wait: at most
 * FEED_ANSWER_MS, FEED_STOP_MS once the store closes; only the host name's lookup
 * blocks); NULL while the database is away. *pid: its server process, as the server
 * names it in notifications (which a pooler in between may not report as
 * PQbackendPID). */
static PGconn *feed_connect(struct pg_store *s, int *pid)
{
    int64_t deadline = now_ms() + FEED_ANSWER_MS;
    PGconn *pg = pg_connect_start(s->url);
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    bool ok = pg && PQstatus(pg) != CONNECTION_BAD;
    while (ok && st != PGRES_POLLING_OK) {
        ok = st != PGRES_POLLING_FAILED &&
             feed_wait(s, pg, st == PGRES_POLLING_READING ? POLLIN : POLLOUT, &deadline);
        if (ok)
            st = PQconnectPoll(pg);
    }
    ok = ok && PQsetnonblocking(pg, 1) == 0 &&
         PQsendQuery(pg, "LISTEN teamnotes_notes; SET synchronous_commit = off") == 1 &&
         feed_finish(s, pg, deadline, PGRES_COMMAND_OK, NULL) == 1;
    const Oid types[1] = {0};
    ok = ok && PQsendPrepare(pg, "announce", FEED_SQL, 1, types) == 1 &&
         feed_finish(s, pg, deadline, PGRES_COMMAND_OK, NULL) == 1;
    PGresult *r = NULL;
    ok = ok && PQsendQuery(pg, "SELECT pg_backend_pid()") == 1 &&
         feed_finish(s, pg, deadline, PGRES_TUPLES_OK, &r) == 1 && r && PQntuples(r) == 1;
    *pid = ok ? (int)strtol(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    if (!ok) {
        PQfinish(pg);
        return NULL;
    }
    return pg;
}

/* Hands the watcher every notification received, but the ones this connection (server
 * process `self`) sent. */
static void feed_deliver(struct pg_store *s, PGconn *pg, int self)
{
    PGnotify *note;
    while ((note = PQnotifies(pg)) != NULL) {
        if (note->extra && note->be_pid != self && s->watch_fn)
            s->watch_fn(note->extra, s->watch_ud);
        PQfreemem(note);
    }
}

/* Closes a connection that broke or did not answer in time (said in the log, unless
 * the store is closing). */
static void feed_lost(struct pg_store *s, PGconn *pg)
{
    if (!atomic_load(&s->stop_watch)) {
        char line[512];
        tn_log(TN_LOG_WARN,
               "store: the change feed's database connection broke or did not answer; "
               "making it again",
               "error", pg_one_line(PQerrorMessage(pg), line, sizeof line), NULL);
    }
    PQfinish(pg);
}

static void *watch_main(void *arg)
{
    struct pg_store *s = arg;
    PGconn *pg = NULL;
    int self = 0;
    unsigned backoff_ms = 200;
    for (;;) {
        bool stop = atomic_load(&s->stop_watch);
        if (!pg && stop)
            break; /* what is queued is dropped (feed_free counts it) */
        if (!pg && !(pg = feed_connect(s, &self))) {
            /* the database is away: try again, a little later each time (writes queued
             * meanwhile wake the thread: they wait for the pause's end) */
            for (int64_t end = now_ms() + backoff_ms, left;
                 !atomic_load(&s->stop_watch) && (left = end - now_ms()) > 0;) {
                struct pollfd w = {.fd = s->feed_wake, .events = POLLIN};
                if (poll(&w, 1, (int)left) > 0)
                    feed_woken(s);
            }
            backoff_ms = backoff_ms < 5000 ? backoff_ms * 2 : 5000;
            continue;
        }
        backoff_ms = 200;
        int wait_ms;
        if (feed_due(s, &wait_ms) || stop) {
            if (!feed_send(s, pg)) {
                feed_deliver(s, pg, self); /* what other instances said before it broke */
                feed_lost(s, pg);
                pg = NULL;
                continue;
            }
            feed_deliver(s, pg, self); /* what arrived with the announcement's answer */
            if (stop)
                break;
            feed_due(s, &wait_ms);
        }
        if (atomic_load(&s->stop_watch))
            wait_ms = 0; /* seen after its wake-up was read: send the rest and stop */
        struct pollfd pfd[2] = {{.fd = PQsocket(pg), .events = POLLIN},
                                {.fd = s->feed_wake, .events = POLLIN}};
        int n = poll(pfd, 2, wait_ms);
        if (n > 0 && (pfd[1].revents & POLLIN))
            feed_woken(s);
        if ((n < 0 && errno != EINTR) ||
            (n > 0 && (pfd[0].revents & (POLLIN | POLLERR | POLLHUP)) && !PQconsumeInput(pg))) {
            feed_lost(s, pg);
            pg = NULL;
            continue;
        }
        feed_deliver(s, pg, self);
    }
    if (pg)
        PQfinish(pg);
    return NULL;
}

/* The queue, its spare and the wake-up: freed; what is still queued is dropped, and
 * counted in the log. */
static void feed_free(struct pg_store *s)
{
    if (s->feed_n + s->feed_dropped) {
        char count[24];
        snprintf(count, sizeof count, "%zu", s->feed_n + s->feed_dropped);
        tn_log(TN_LOG_WARN, "store: note changes were not announced to other instances", "changes",
               count, NULL);
    }
    for (size_t i = 0; s->feed_q && i < s->feed_n; i++)
        free(s->feed_q[i]);
    free(s->feed_q);
    free(s->feed_spare);
    s->feed_q = s->feed_spare = NULL;
    s->feed_n = 0;
    if (s->feed_wake >= 0)
        close(s->feed_wake);
    s->feed_wake = -1;
}

enum tn_err pg_watch_notes(struct tn_store *base, void (*fn)(const char *owner, void *ud), void *ud)
{
    struct pg_store *s = (struct pg_store *)base;
    if (atomic_load(&s->watching))
        return TN_ERR_CONFLICT;
    s->feed_q = calloc(FEED_CAP, sizeof *s->feed_q);
    s->feed_spare = calloc(FEED_CAP, sizeof *s->feed_spare);
    s->feed_wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!s->feed_q || !s->feed_spare || s->feed_wake < 0) {
        feed_free(s);
        return TN_ERR_NOMEM;
    }
    pthread_mutex_init(&s->feed_mu, NULL);
    s->feed_n = 0;
    s->feed_dropped = 0;
    s->watch_fn = fn;
    s->watch_ud = ud;
    atomic_init(&s->stop_watch, false);
    atomic_store(&s->watching, true);
    if (pthread_create(&s->watcher, NULL, watch_main, s) != 0) {
        atomic_store(&s->watching, false);
        pthread_mutex_destroy(&s->feed_mu);
        feed_free(s);
        return TN_ERR_NOMEM;
    }
    return TN_OK;
}

void pg_feed_stop(struct pg_store *s)
{
    if (!atomic_load(&s->watching))
        return;
    atomic_store(&s->stop_watch, true);
    uint64_t one = 1;
    ssize_t w = write(s->feed_wake, &one, sizeof one);
    (void)w;
    pthread_join(s->watcher, NULL);
    atomic_store(&s->watching, false);
    pthread_mutex_destroy(&s->feed_mu);
    feed_free(s);
}
