/* The SQLite store's connections as the event loops need them: threads that may wait
 * (the blocking pool's) never hold the connections an event loop needs, whether they
 * hold them reading (a search, here a list whose callback blocks) or waiting for the
 * write mutex behind another process's write lock. Both tests fail on the pool before
 * it kept connections back (the loop's read waited seconds). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"
#include "store/store.h"

#define STORE_FIXTURE_DIR "/tmp/tn_pool_XXXXXX"
#include "store_fixture.h"

static const struct tn_owner alice = {"https://issuer.example|alice", "o1"};

enum { HOLDERS = 8, WRITERS = 10 };

/* Threads that hold a connection: each lists alice's notes and waits, inside the
 * callback (the connection held), until released or 5 s have passed. */
struct hold {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int entered;
    bool release;
};

struct holder {
    struct fx *f;
    struct hold *h;
    bool may_wait;
    enum tn_err rc;
    int seen;
};

static void deadline(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void hold_cb(const struct tn_note *n, void *ud)
{
    (void)n;
    struct holder *t = ud;
    struct hold *h = t->h;
    t->seen++;
    pthread_mutex_lock(&h->mu);
    h->entered++;
    pthread_cond_broadcast(&h->cv);
    struct timespec until;
    deadline(&until, 5000);
    while (!h->release && pthread_cond_timedwait(&h->cv, &h->mu, &until) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&h->mu);
}

static void *holder_main(void *arg)
{
    struct holder *t = arg;
    tn_thread_set_may_wait(t->may_wait);
    struct tn_note_page p = {.limit = 20};
    t->rc = tn_store_note_list(t->f->s, &alice, &p, hold_cb, t);
    return NULL;
}

static void count_cb(const struct tn_note *n, void *ud)
{
    (void)n;
    (*(int *)ud)++;
}

/* Threads from..to-1 of t/th list alice's notes and hold their connection in hold_cb. */
static void start_holders(struct fx *f, struct hold *h, struct holder *t, pthread_t *th, int from,
                          int to, bool may_wait)
{
    for (int i = from; i < to; i++) {
        t[i] = (struct holder){.f = f, .h = h, .may_wait = may_wait};
        assert_int_equal(pthread_create(&th[i], NULL, holder_main, &t[i]), 0);
    }
}

/* Waits until `want` holders are inside their callback, or `ms` passed; how many are. */
static int wait_entered(struct hold *h, int want, long ms)
{
    struct timespec until;
    deadline(&until, ms);
    pthread_mutex_lock(&h->mu);
    while (h->entered < want && pthread_cond_timedwait(&h->cv, &h->mu, &until) != ETIMEDOUT)
        ;
    int entered = h->entered;
    pthread_mutex_unlock(&h->mu);
    return entered;
}

/* Lets every holder go. */
static void release_all(struct hold *h)
{
    pthread_mutex_lock(&h->mu);
    h->release = true;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

/* A list on this (loop) thread: its notes (-1 when it failed), and the milliseconds it
 * took. */
static int64_t timed_list(struct fx *f, int *seen)
{
    struct tn_note_page p = {.limit = 20};
    *seen = 0;
    int64_t t0 = tn_time_now_ms();
    if (tn_store_note_list(f->s, &alice, &p, count_cb, seen) != TN_OK)
        *seen = -1;
    return tn_time_now_ms() - t0;
}

static void add_note(struct fx *f)
{
    struct tn_note n;
    memset(&n, 0, sizeof n);
    snprintf(n.title, sizeof n.title, "Pool");
    n.content = "A note to list.";
    snprintf(n.tags, sizeof n.tags, "[]");
    snprintf(n.visibility, sizeof n.visibility, "private");
    assert_int_equal(tn_store_note_insert(f->s, &alice, &n), TN_OK);
}

/* Eight pool threads each hold a connection reading: six get one, two wait, and a
 * loop's read is served at once from the two kept back. */
static void test_reads_leave_loops_room(void **state)
{
    struct fx *f = *state;
    add_note(f);
    struct hold h = {.entered = 0};
    pthread_mutex_init(&h.mu, NULL);
    pthread_cond_init(&h.cv, NULL);
    struct holder t[HOLDERS];
    pthread_t th[HOLDERS];
    start_holders(f, &h, t, th, 0, HOLDERS, true);
    wait_entered(&h, 6, 3000);
    usleep(200 * 1000); /* time for the other two to take one, were they allowed */
    int entered = wait_entered(&h, 6, 0);
    /* the loop's reads while six are held (results checked after every thread is
     * joined: a failed assertion must not leave threads in a store being closed) */
    int seen = 0, seen2 = 0;
    int64_t ms = timed_list(f, &seen), ms2 = timed_list(f, &seen2);
    release_all(&h);
    for (int i = 0; i < HOLDERS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(entered, 6); /* POOL_MAX 8 less LOOP_RESERVE 2 */
    assert_int_equal(seen, 1);
    assert_true(ms < 1000);
    assert_int_equal(seen2, 1); /* a second read on this thread: the same room */
    assert_true(ms2 < 1000);
    for (int i = 0; i < HOLDERS; i++) {
        assert_int_equal(t[i].rc, TN_OK); /* the two that waited got theirs after */
        assert_int_equal(t[i].seen, 1);
    }
    assert_int_equal(h.entered, HOLDERS);
    pthread_cond_destroy(&h.cv);
    pthread_mutex_destroy(&h.mu);
}

/* Threads that are not the pool's (a loop, the audit writer, the CLI) are not limited:
 * eight of them hold all eight connections at once. */
static void test_others_not_limited(void **state)
{
    struct fx *f = *state;
    add_note(f);
    struct hold h = {.entered = 0};
    pthread_mutex_init(&h.mu, NULL);
    pthread_cond_init(&h.cv, NULL);
    struct holder t[HOLDERS];
    pthread_t th[HOLDERS];
    start_holders(f, &h, t, th, 0, HOLDERS, false);
    int entered = wait_entered(&h, HOLDERS, 3000);
    release_all(&h);
    for (int i = 0; i < HOLDERS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(entered, HOLDERS);
    for (int i = 0; i < HOLDERS; i++)
        assert_int_equal(t[i].rc, TN_OK);
    pthread_cond_destroy(&h.cv);
    pthread_mutex_destroy(&h.mu);
}

struct writer {
    struct fx *f;
    enum tn_err rc;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    int64_t n = 0;
    w->rc = tn_store_client_delete_unused(w->f->s, 1, &n);
    return NULL;
}

/* Another process holds SQLite's write lock; ten writers (not the pool's, so not
 * limited) queue behind it. They wait for the write mutex holding no connection (the
 * one that has it waits in SQLite's busy handler with one), so a read is served at once;
 * every writer completes once the lock is gone. */
static void test_waiting_writers_hold_no_connection(void **state)
{
    struct fx *f = *state;
    add_note(f);
    char file[200];
    snprintf(file, sizeof file, "%s/teamnotes.db", f->data);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(file, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    struct writer w[WRITERS];
    pthread_t th[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        w[i] = (struct writer){.f = f, .rc = TN_ERR_INTERNAL};
        assert_int_equal(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
    }
    usleep(300 * 1000); /* all ten queued */
    int seen = 0;
    int64_t ms = timed_list(f, &seen);
    int committed = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    for (int i = 0; i < WRITERS; i++) /* joined before any assertion (as above) */
        pthread_join(th[i], NULL);
    assert_int_equal(seen, 1);
    assert_true(ms < 1000);
    assert_int_equal(committed, SQLITE_OK);
    for (int i = 0; i < WRITERS; i++)
        assert_int_equal(w[i].rc, TN_OK);
}

static void *pool_writer_main(void *arg)
{
    tn_thread_set_may_wait(true);
    return writer_main(arg);
}

/* Six pool threads hold connections reading, and a pool thread's write waits behind
 * another process's lock: the write opens a ninth connection rather than take one of the
 * two kept for the loops, so two more readers that are not the pool's both get one. */
static void test_pool_writer_leaves_loops_room(void **state)
{
    struct fx *f = *state;
    add_note(f);
    struct hold h = {.entered = 0};
    pthread_mutex_init(&h.mu, NULL);
    pthread_cond_init(&h.cv, NULL);
    enum { N = 8 };
    struct holder t[N];
    pthread_t th[N];
    start_holders(f, &h, t, th, 0, 6, true);
    wait_entered(&h, 6, 3000);
    char file[200];
    snprintf(file, sizeof file, "%s/teamnotes.db", f->data);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(file, &db), SQLITE_OK);
    int locked = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    struct writer w = {.f = f, .rc = TN_ERR_INTERNAL};
    pthread_t wt;
    assert_int_equal(pthread_create(&wt, NULL, pool_writer_main, &w), 0);
    usleep(300 * 1000); /* the write waits in SQLite's busy handler, holding a connection */
    start_holders(f, &h, t, th, 6, N, false); /* two threads that are not the pool's */
    int entered = wait_entered(&h, N, 1000);
    release_all(&h);
    int committed = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    pthread_join(wt, NULL);
    assert_int_equal(locked, SQLITE_OK);
    assert_int_equal(committed, SQLITE_OK);
    assert_int_equal(entered, N); /* both others got one within a second */
    assert_int_equal(w.rc, TN_OK);
    for (int i = 0; i < N; i++)
        assert_int_equal(t[i].rc, TN_OK);
    pthread_cond_destroy(&h.cv);
    pthread_mutex_destroy(&h.mu);
}

int main(void)
{
    tn_log_setup(TN_LOG_WARN, false);
    if (tn_util_init() != TN_OK) /* SQLite's connections: no store_fixture_connect */
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reads_leave_loops_room, setup, teardown),
        cmocka_unit_test_setup_teardown(test_others_not_limited, setup, teardown),
        cmocka_unit_test_setup_teardown(test_waiting_writers_hold_no_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_writer_leaves_loops_room, setup, teardown),
    };
    return cmocka_run_group_tests_name("store_pool", tests, NULL, NULL);
}
