/* The PostgreSQL backend's change feed of notes: a thread of its own with a connection
 * of its own that LISTENs on teamnotes_notes (every note write is announced there, with
 * the owner as payload, right after it commits: postgres.c's announce) and hands each owner to the watcher, so that
 * an instance learns of writes made through another. The connection is re-made, with a
 * growing pause, while the database is away; pg_close stops the thread. */
#include "store/postgres_internal.h"

#include <poll.h>
#include <stdlib.h>
#include <time.h>

static void *watch_main(void *arg)
{
    struct pg_store *s = arg;
    PGconn *pg = NULL;
    unsigned backoff_ms = 200;
    while (!atomic_load(&s->stop_watch)) {
        if (!pg || PQstatus(pg) != CONNECTION_OK) {
            if (pg)
                PQfinish(pg);
            pg = PQconnectdb(s->url);
            PGresult *r = PQstatus(pg) == CONNECTION_OK ? PQexec(pg, "LISTEN teamnotes_notes")
                                                        : NULL;
            bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
            PQclear(r);
            if (!ok) {
                /* the database is away: try again, a little later each time */
                struct timespec ts = {backoff_ms / 1000, (long)(backoff_ms % 1000) * 1000000L};
                nanosleep(&ts, NULL);
                backoff_ms = backoff_ms < 5000 ? backoff_ms * 2 : 5000;
                continue;
            }
            backoff_ms = 200;
        }
        struct pollfd pfd = {.fd = PQsocket(pg), .events = POLLIN};
        int n = poll(&pfd, 1, 500);
        if (n < 0 || (n > 0 && !PQconsumeInput(pg))) {
            PQfinish(pg);
            pg = NULL;
            continue;
        }
        PGnotify *note;
        while ((note = PQnotifies(pg)) != NULL) {
            if (note->extra && s->watch_fn)
                s->watch_fn(note->extra, s->watch_ud);
            PQfreemem(note);
        }
    }
    if (pg)
        PQfinish(pg);
    return NULL;
}

enum tn_err pg_watch_notes(struct tn_store *base, void (*fn)(const char *owner, void *ud), void *ud)
{
    struct pg_store *s = (struct pg_store *)base;
    if (s->watching)
        return TN_ERR_CONFLICT;
    s->watch_fn = fn;
    s->watch_ud = ud;
    atomic_init(&s->stop_watch, false);
    if (pthread_create(&s->watcher, NULL, watch_main, s) != 0)
        return TN_ERR_NOMEM;
    s->watching = true;
    return TN_OK;
}
