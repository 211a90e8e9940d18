/* The PostgreSQL store's change feed of notes (postgres_listen.c) as instances see it: a
 * store that watches the feed announces its own writes from its feed thread, many in one
 * announcement, the last ones before it closes, and again after its feed connection was
 * cut; it hears the writes of other store handles but never its own.
 *
 * Needs DATABASE_URL (scripts/pg-test-server prints it); without it the test says so and
 * exits 0 (skipped). Each test gets a fresh schema (pg_fixture.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "store/store.h"
#include "pg_fixture.h"

struct fx {
    char schema[64];
    char url[1024];
    struct tn_store *a, *b; /* two instances: a watches the feed, b does not */
    PGconn *c;              /* a listener of our own on teamnotes_notes */
};

/* What a's watcher was handed, "x;y;" in order. */
static pthread_mutex_t heard_mu = PTHREAD_MUTEX_INITIALIZER;
static char heard_by_a[4096];

static void on_feed(const char *owner, void *ud)
{
    (void)ud;
    pthread_mutex_lock(&heard_mu);
    size_t len = strlen(heard_by_a);
    snprintf(heard_by_a + len, sizeof heard_by_a - len, "%s;", owner);
    pthread_mutex_unlock(&heard_mu);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    pg_fixture_schema(f->schema, sizeof f->schema, f->url, sizeof f->url);
    /* the test's connections are told from those of tests sharing the database */
    size_t len = strlen(f->url);
    snprintf(f->url + len, sizeof f->url - len, "&application_name=%s", f->schema);
    f->a = open_url(f->url);
    f->b = open_url(f->url);
    heard_by_a[0] = '\0';
    assert_int_equal(tn_store_watch_notes(f->a, on_feed, NULL), TN_OK);
    assert_int_equal(tn_store_watch_notes(f->a, on_feed, NULL), TN_ERR_CONFLICT);
    f->c = conn_to(f->url);
    exec_ok(f->c, "LISTEN teamnotes_notes");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    PQfinish(f->c);
    tn_store_close(f->a); /* NULL when the test closed it */
    tn_store_close(f->b);
    schema_drop(f->schema);
    free(f);
    return 0;
}

static const struct tn_owner alice = {"https://issuer.example|alice", "o1"};
static const struct tn_owner bob = {"https://issuer.example|bob", "o1"};
/* an owner whose key needs escaping in a text[] literal */
static const struct tn_owner odd = {"https://issuer.example|o\"d\\d, {x}", "o1"};

/* A private, untagged note with `content` (borrowed). */
static struct tn_note note_of(const char *content)
{
    struct tn_note n;
    memset(&n, 0, sizeof n);
    snprintf(n.title, sizeof n.title, "t");
    n.content = (char *)content;
    snprintf(n.tags, sizeof n.tags, "[]");
    snprintf(n.visibility, sizeof n.visibility, "private");
    return n;
}

static void add(struct tn_store *s, const struct tn_owner *o, const char *content)
{
    struct tn_note n = note_of(content);
    enum tn_err e = tn_store_note_insert(s, o, &n);
    if (e != TN_OK)
        fail_msg("insert %s: %s", content, tn_err_name(e));
}

/* The owners our listener heard, "x;y;" in order (out, cap), until it heard `want` or
 * `ms` passed; the number heard. */
static int listen_for(PGconn *c, int want, int ms, char *out, size_t cap)
{
    out[0] = '\0';
    int n = 0;
    for (int waited = 0; waited <= ms && n < want; waited += 10) {
        PQconsumeInput(c);
        PGnotify *m;
        while ((m = PQnotifies(c))) {
            size_t len = strlen(out);
            snprintf(out + len, cap - len, "%s;", m->extra);
            n++;
            PQfreemem(m);
        }
        if (n < want)
            usleep(10000);
    }
    return n;
}

/* What a's watcher was handed once it has `want` entries (up to two seconds). */
static void watcher_heard(int want, char *out, size_t cap)
{
    for (int i = 0; i < 200; i++) {
        pthread_mutex_lock(&heard_mu);
        int n = 0;
        for (const char *p = heard_by_a; (p = strchr(p, ';')); p++)
            n++;
        snprintf(out, cap, "%s", heard_by_a);
        pthread_mutex_unlock(&heard_mu);
        if (n >= want)
            return;
        usleep(10000);
    }
}

/* a's write reaches other listeners, but a's watcher is handed b's writes only: were
 * a's own announcement passed back, it would come before b's (one connection receives
 * notifications in commit order). */
static void test_own_writes_not_echoed(void **state)
{
    struct fx *f = *state;
    char got[4096];
    add(f->a, &alice, "through a");
    assert_int_equal(listen_for(f->c, 1, 2000, got, sizeof got), 1);
    assert_string_equal(got, "https://issuer.example|alice;");
    add(f->b, &bob, "through b");
    assert_int_equal(listen_for(f->c, 1, 2000, got, sizeof got), 1);
    assert_string_equal(got, "https://issuer.example|bob;");
    watcher_heard(1, got, sizeof got);
    assert_string_equal(got, "https://issuer.example|bob;");
    /* and an owner that must be quoted in the announcement comes through as it is */
    add(f->a, &odd, "escaped");
    assert_int_equal(listen_for(f->c, 1, 2000, got, sizeof got), 1);
    assert_string_equal(got, "https://issuer.example|o\"d\\d, {x};");
    add(f->b, &alice, "through b again");
    watcher_heard(2, got, sizeof got);
    assert_string_equal(got, "https://issuer.example|bob;https://issuer.example|alice;");
}

struct writer {
    struct tn_store *s;
    const struct tn_owner *o;
    int n, ok;
};

static void *write_many(void *arg)
{
    struct writer *w = arg;
    for (int i = 0; i < w->n; i++) {
        struct tn_note n = note_of("one of many");
        w->ok += tn_store_note_insert(w->s, w->o, &n) == TN_OK;
    }
    return NULL;
}

/* 200 writes of two owners from four threads, then a closes at once: the listener hears
 * both owners, from announcements that each carried many writes (one per owner and
 * gathering window), and the last ones were sent before the close returned. */
static void test_writes_gathered(void **state)
{
    struct fx *f = *state;
    struct writer w[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct writer){.s = f->a, .o = i % 2 ? &bob : &alice, .n = 50};
        assert_int_equal(pthread_create(&t[i], NULL, write_many, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].ok, 50);
    }
    add(f->a, &odd, "the last write");
    tn_store_close(f->a);
    f->a = NULL;
    /* everything is announced by now: what arrives within a second is all of it */
    char got[65536];
    int n = listen_for(f->c, 1000, 1000, got, sizeof got);
    assert_true(strstr(got, "https://issuer.example|alice;") != NULL);
    assert_true(strstr(got, "https://issuer.example|bob;") != NULL);
    /* the last write, queued less than the gathering window before the close: the
     * close announced it */
    assert_true(strstr(got, "https://issuer.example|o\"d\\d, {x};") != NULL);
    /* 201 writes, far fewer announcements (a statement per write would be 201) */
    assert_true(n >= 3);
    assert_true(n < 100);
    char note[64];
    snprintf(note, sizeof note, "%d announcements", n);
    print_message("# 201 writes: %s\n", note);
}

/* Cuts the feed connection of this test's store that announced last (its last statement
 * was an announcement; the test's connections carry its schema as application_name). */
static void kill_feed(const struct fx *f)
{
    char sql[512], killed[16];
    snprintf(sql, sizeof sql,
             "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
             "application_name = '%s' AND query LIKE '%%unnest%%' AND pid <> pg_backend_pid()",
             f->schema);
    PGconn *d = conn_to(f->url);
    value_of(d, sql, killed, sizeof killed);
    PQfinish(d);
    assert_string_equal(killed, "1");
}

/* The feed's connection is cut: a write queued meanwhile is announced once it is back,
 * and b's writes reach a's watcher again. */
static void test_feed_reconnects(void **state)
{
    struct fx *f = *state;
    char got[4096];
    add(f->a, &alice, "before");
    assert_int_equal(listen_for(f->c, 1, 2000, got, sizeof got), 1);
    kill_feed(f);
    add(f->a, &bob, "while the feed was away");
    assert_int_equal(listen_for(f->c, 1, 5000, got, sizeof got), 1);
    assert_string_equal(got, "https://issuer.example|bob;");
    /* listening again (it listens before it announces): b's write reaches a */
    add(f->b, &alice, "after");
    watcher_heard(1, got, sizeof got);
    assert_string_equal(got, "https://issuer.example|alice;");
}

/* ---------- a proxy in front of the database that can stop answering ---------- */

/* Forwards connections to 127.0.0.1:to; once `stall` is set, a new connection's client
 * bytes after its first two reads (the startup message and one statement) are dropped:
 * the server never answers them, as behind a pooler out of connections. */
struct proxy {
    int lfd, to;
    atomic_bool stall, stop;
    pthread_t t;
};

struct pump {
    int from, to;
    bool swallow;
};

static void *pump_main(void *arg)
{
    struct pump p = *(struct pump *)arg;
    free(arg);
    char buf[65536];
    ssize_t n;
    for (int reads = 0; (n = recv(p.from, buf, sizeof buf, 0)) > 0; reads++)
        if ((!p.swallow || reads < 2) && send(p.to, buf, (size_t)n, MSG_NOSIGNAL) != n)
            break;
    shutdown(p.from, SHUT_RDWR);
    shutdown(p.to, SHUT_RDWR);
    return NULL;
}

static void pump_start(int from, int to, bool swallow)
{
    struct pump *p = malloc(sizeof *p);
    *p = (struct pump){from, to, swallow};
    pthread_t t;
    if (pthread_create(&t, NULL, pump_main, p) == 0)
        pthread_detach(t);
}

static void *proxy_main(void *arg)
{
    struct proxy *x = arg;
    while (!atomic_load(&x->stop)) {
        struct pollfd l = {.fd = x->lfd, .events = POLLIN};
        if (poll(&l, 1, 100) <= 0)
            continue;
        int c = accept(x->lfd, NULL, NULL);
        if (c < 0)
            continue;
        int d = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)x->to)};
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(d, (struct sockaddr *)&to, sizeof to) != 0) {
            close(c);
            close(d);
            continue;
        }
        pump_start(c, d, atomic_load(&x->stall));
        pump_start(d, c, false);
    }
    return NULL;
}

/* Starts the proxy for the database of `url` (postgres://user@127.0.0.1:PORT/...) and
 * writes into out the same URL through the proxy. */
static void proxy_start(struct proxy *x, const char *url, char *out, size_t cap)
{
    const char *at = strstr(url, "@127.0.0.1:");
    assert_non_null(at);
    x->to = (int)strtol(at + strlen("@127.0.0.1:"), NULL, 10);
    x->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    assert_int_equal(bind(x->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(x->lfd, 16), 0);
    assert_int_equal(getsockname(x->lfd, (struct sockaddr *)&a, &len), 0);
    atomic_init(&x->stall, false);
    atomic_init(&x->stop, false);
    assert_int_equal(pthread_create(&x->t, NULL, proxy_main, x), 0);
    const char *rest = strchr(at + strlen("@127.0.0.1:"), '/');
    assert_non_null(rest);
    int n =
        snprintf(out, cap, "%.*s@127.0.0.1:%d%s", (int)(at - url), url, ntohs(a.sin_port), rest);
    assert_true(n > 0 && (size_t)n < cap);
}

static void proxy_stop(struct proxy *x)
{
    atomic_store(&x->stop, true);
    pthread_join(x->t, NULL);
    close(x->lfd);
}

struct closer {
    struct tn_store *s;
    atomic_bool done;
};

static void *close_main(void *arg)
{
    struct closer *c = arg;
    tn_store_close(c->s);
    atomic_store(&c->done, true);
    return NULL;
}

/* The feed's connection is cut and the database then stops answering new connections
 * after their first statement: the feed thread, making its connection again, never
 * gets an answer. The store still closes within about a second (FEED_STOP_MS), not when
 * the network gives up; the change queued meanwhile is dropped, not waited for. */
static void test_close_while_the_database_hangs(void **state)
{
    struct fx *f = *state;
    struct proxy x;
    char purl[1200], got[4096];
    proxy_start(&x, f->url, purl, sizeof purl);
    struct tn_store *s = open_url(purl);
    assert_int_equal(tn_store_watch_notes(s, on_feed, NULL), TN_OK);
    add(s, &alice, "through the proxy");
    assert_int_equal(listen_for(f->c, 1, 2000, got, sizeof got), 1);
    assert_string_equal(got, "https://issuer.example|alice;");
    atomic_store(&x.stall, true);
    kill_feed(f);
    usleep(300000); /* the feed thread is making its connection again, through the stall */
    add(s, &bob, "queued while the feed hangs");
    /* closed on a thread of its own, so that a close that hangs fails the test instead
     * of hanging it (the thread is then left behind) */
    struct closer c = {.s = s};
    atomic_init(&c.done, false);
    pthread_t t;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(pthread_create(&t, NULL, close_main, &c), 0);
    for (int i = 0; i < 500 && !atomic_load(&c.done); i++)
        usleep(10000);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (!atomic_load(&c.done))
        fail_msg("the store's close did not return within %.1f s", took);
    pthread_join(t, NULL);
    print_message("# the close took %.2f s\n", took);
    assert_true(took < 3.0);
    proxy_stop(&x);
}

int main(void)
{
    const char *url = getenv("DATABASE_URL");
    if (!url || !url[0]) {
        printf("# test_pg_feed: DATABASE_URL is not set, so the PostgreSQL feed tests are "
               "skipped; start a server with scripts/pg-test-server and export what it "
               "prints\n");
        return 0;
    }
    if (tn_util_init() != TN_OK || !pg_fixture_connect(url))
        return 1;
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_own_writes_not_echoed),
        T(test_writes_gathered),
        T(test_feed_reconnects),
        T(test_close_while_the_database_hangs),
#undef T
    };
    tn_log_setup(TN_LOG_ERROR, false);
    int rc = cmocka_run_group_tests_name("pg_feed", tests, NULL, NULL);
    pg_fixture_disconnect();
    return rc;
}
