/* Micro benchmark: the notes functions of the store (src/store/store.h) on SQLite and,
 * when DATABASE_URL names a PostgreSQL database, on PostgreSQL too.
 *
 * Build and run (release build, no sanitizers):
 *   scripts/build && build/bench/bench_store_ops [iterations [per_thread]]
 *       iterations: timed calls per case (default 300)
 *       per_thread: notes each of the 8 concurrent writers inserts (default 40)
 *   DATABASE_URL=postgres://... build/bench/bench_store_ops    (adds the PostgreSQL runs)
 *
 * SQLite runs in a fresh directory made with mkdtemp under $TMPDIR (default /tmp) and
 * removed at the end; the file system type is printed, because a write is durable when
 * tn_store_note_insert returns (synchronous=FULL: one fsync per commit) and on tmpfs
 * that fsync costs nothing. PostgreSQL runs in a fresh schema (tn_bench_<pid>) of the
 * database, dropped at the end; the server's fsync and synchronous_commit settings are
 * printed for the same reason (scripts/pg-test-server turns both off).
 *
 * Data: 1000 notes visible to the reader "alice" (org "acme"): 300 of her own (private)
 * and 700 that "bob" shares with the org. One of bob's notes holds the word "quokka";
 * every tenth note holds "harbor". Cases per backend, in this order:
 *   get             tn_store_note_get of one of alice's notes (id, owner, text checked)
 *   list            tn_store_note_list, first page of 20 of alice's 300 (20 returned,
 *                   all hers, newest first, each with its text and its length)
 *   search_rare     tn_store_note_search "quokka", limit 10 (exactly the one note)
 *   search_common   tn_store_note_search "harbor", limit 10, 100 matches (10 returned)
 *   insert          tn_store_note_insert of a new note of alice (~400 bytes of text)
 *   update          tn_store_note_update of the text of one of alice's notes, with the
 *                   version expected (the new version checked)
 *   insert_8threads 8 threads, each its own owner, each inserting per_thread notes at
 *                   once (after an untimed round that fills the connection pool);
 *                   total notes/s in wall time next to the single-thread rate, which
 *                   shows whether concurrent writers share commits
 *
 * Output: two lines per case, one per clock, each
 *   case=<backend>/<op> clock=<cpu|wall> n=<N> mean_us=<x> p50_us=<x> p99_us=<x>
 * where cpu is this thread's CPU time (CLOCK_THREAD_CPUTIME_ID: not counting other load
 * on a shared machine, nor time spent waiting for fsync or for the PostgreSQL server
 * process) and wall is elapsed time (CLOCK_MONOTONIC: what a caller waits). The cost of
 * reading the clocks, measured with nothing between the reads, is subtracted. Then
 *   case=<backend>/insert_8threads threads=8 n=<notes> wall_s=<x> notes_per_s=<x>
 *        serial_notes_per_s=<x>
 * Every answer is checked; a wrong one stops the run with exit status 1. */
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "core/log.h"
#include "core/util.h"
#include "store/store.h"

enum {
    OWN_NOTES = 300,    /* alice's own */
    SHARED_NOTES = 700, /* bob's, shared with the org */
    RARE_AT = 437,      /* the index of bob's note with "quokka" */
    WRITERS = 8,
    PAGE = 20,
};

static const struct tn_owner alice = {"https://bench.example|alice", "acme"};
static const struct tn_owner bob = {"https://bench.example|bob", "acme"};

/* ---------- clocks and statistics ---------- */

static double now_us(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* One timed call: the wall clock nested inside the thread CPU clock. */
struct stamp {
    double cpu, wall;
};

static struct stamp stamp_start(void)
{
    struct stamp t;
    t.cpu = now_us(CLOCK_THREAD_CPUTIME_ID);
    t.wall = now_us(CLOCK_MONOTONIC);
    return t;
}

static void stamp_stop(struct stamp t, double *cpu, double *wall)
{
    double w = now_us(CLOCK_MONOTONIC);
    *cpu = now_us(CLOCK_THREAD_CPUTIME_ID) - t.cpu;
    *wall = w - t.wall;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted samples. */
static double pct(const double *sorted, long n, double p)
{
    long k = (long)(p * (double)n + 0.999999) - 1;
    return sorted[k < 0 ? 0 : k >= n ? n - 1 : k];
}

/* Samples of one case on both clocks. */
struct series {
    double *cpu, *wall;
    long n, cap;
};

/* The clocks' own cost in a sample, measured with nothing between start and stop. */
static double overhead_cpu, overhead_wall;

static void series_add(struct series *s, double cpu, double wall)
{
    if (s->n < s->cap) {
        s->cpu[s->n] = cpu;
        s->wall[s->n] = wall;
        s->n++;
    }
}

static void print_clock(const char *backend, const char *op, const char *clock, double *v,
                        long n, double overhead)
{
    double sum = 0;
    for (long i = 0; i < n; i++) {
        v[i] = v[i] > overhead ? v[i] - overhead : 0;
        sum += v[i];
    }
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    printf("case=%s/%s clock=%s n=%ld mean_us=%.1f p50_us=%.1f p99_us=%.1f\n", backend, op,
           clock, n, sum / (double)n, pct(v, n, 0.50), pct(v, n, 0.99));
}

/* Prints both clocks and returns the mean wall time of a call. */
static double report(const char *backend, const char *op, struct series *s)
{
    print_clock(backend, op, "cpu", s->cpu, s->n, overhead_cpu);
    print_clock(backend, op, "wall", s->wall, s->n, overhead_wall);
    double sum = 0;
    for (long i = 0; i < s->n; i++)
        sum += s->wall[i];
    double mean = sum / (double)s->n;
    s->n = 0;
    return mean;
}

static void calibrate(struct series *s)
{
    for (long i = 0; i < s->cap; i++) {
        struct stamp t = stamp_start();
        stamp_stop(t, &s->cpu[i], &s->wall[i]);
    }
    qsort(s->cpu, (size_t)s->cap, sizeof *s->cpu, cmp_double);
    qsort(s->wall, (size_t)s->cap, sizeof *s->wall, cmp_double);
    overhead_cpu = pct(s->cpu, s->cap, 0.50);
    overhead_wall = pct(s->wall, s->cap, 0.50);
}

/* ---------- the notes ---------- */

/* Plain words; neither "harbor" nor "quokka" is among them. */
static const char *const words[] = {
    "alpha",   "budget",  "meeting", "review",  "design",  "release", "customer", "window",
    "garden",  "silver",  "planet",  "engine",  "number",  "letter",  "market",   "summer",
    "winter",  "report",  "ticket",  "bridge",  "castle",  "forest",  "island",   "mountain",
    "river",   "valley",  "orange",  "purple",  "yellow",  "coffee",  "dinner",   "travel",
    "update",  "server",  "client",  "network", "storage", "backup",  "monitor",  "signal",
    "pattern", "feature", "project", "history", "science", "theory",  "machine",  "library",
    "kitchen", "teacher", "student", "picture", "morning", "evening", "weekend",  "holiday",
    "invoice", "account", "payment", "balance", "quarter", "target",  "roadmap",  "sprint",
};
enum { N_WORDS = sizeof words / sizeof words[0] };

/* The text of seed note i (0..OWN_NOTES+SHARED_NOTES-1): about 60 words, the same on
 * every call, "harbor" in every tenth note, "quokka" in one. */
static void note_text(int i, const char *extra, char *out, size_t cap)
{
    uint32_t x = 2654435761u * (uint32_t)(i + 1);
    size_t len = 0;
    out[0] = '\0';
    for (int w = 0; w < 60 && len + 16 < cap; w++) {
        x = x * 1664525u + 1013904223u;
        const char *word = words[(x >> 16) % N_WORDS];
        if (w == 30 && i % 10 == 0)
            word = "harbor";
        if (w == 40 && i == OWN_NOTES + RARE_AT)
            word = "quokka";
        len += (size_t)snprintf(out + len, cap - len, "%s%s", w ? " " : "", word);
    }
    if (extra && len < cap)
        snprintf(out + len, cap - len, " %s", extra);
}

static struct tn_note new_note(const char *title, char *text, const char *visibility)
{
    struct tn_note n;
    memset(&n, 0, sizeof n);
    snprintf(n.title, sizeof n.title, "%s", title);
    n.content = text; /* the caller's; never tn_note_deinit'ed */
    snprintf(n.tags, sizeof n.tags, "%s", "[\"bench\"]");
    snprintf(n.visibility, sizeof n.visibility, "%s", visibility);
    return n;
}

/* ---------- callbacks that check what comes back ---------- */

struct seen {
    long count;
    bool wrong;
    int64_t last_updated;
    char last_id[32];
    char first_id[32];
};

static void on_listed(const struct tn_note *n, void *ud)
{
    struct seen *s = ud;
    /* alice's own, newest first, with their text (ASCII, under TN_NOTE_LIST_TEXT: whole) */
    if (strcmp(n->owner, alice.user) != 0 || (s->count && n->updated_at > s->last_updated) ||
        !n->content || !n->content[0] || n->length != (int64_t)strlen(n->content))
        s->wrong = true;
    s->last_updated = n->updated_at;
    snprintf(s->last_id, sizeof s->last_id, "%s", n->id);
    s->count++;
}

static void on_found(const struct tn_note *n, void *ud)
{
    struct seen *s = ud;
    if (!s->count)
        snprintf(s->first_id, sizeof s->first_id, "%s", n->id);
    s->count++;
}

/* ---------- 8 concurrent writers ---------- */

struct writer {
    struct tn_store *s;
    pthread_barrier_t *start;
    char user[64];
    long k;
    long failed;
};

static void *write_notes(void *arg)
{
    struct writer *w = arg;
    struct tn_owner o = {w->user, "acme"};
    char text[1024];
    pthread_barrier_wait(w->start);
    for (long i = 0; i < w->k; i++) {
        note_text((int)i, NULL, text, sizeof text);
        struct tn_note n = new_note("Concurrent", text, "private");
        if (tn_store_note_insert(w->s, &o, &n) != TN_OK)
            w->failed++;
    }
    return NULL;
}

static void on_counted(const struct tn_note *n, void *ud)
{
    struct seen *s = ud;
    s->last_updated = n->updated_at;
    snprintf(s->last_id, sizeof s->last_id, "%s", n->id);
    s->count++;
}

/* How many notes `o` owns, counted page by page. */
static long count_notes(struct tn_store *s, const struct tn_owner *o)
{
    struct seen all = {0};
    for (;;) {
        struct seen page = {0};
        struct tn_note_page p = {all.last_updated, all.last_id, 100, NULL};
        if (tn_store_note_list(s, o, &p, on_counted, &page) != TN_OK)
            return -1;
        all.count += page.count;
        all.last_updated = page.last_updated;
        memcpy(all.last_id, page.last_id, sizeof all.last_id);
        if (page.count < 100)
            return all.count;
    }
}

/* One round: WRITERS threads, owners "<who>-0".."<who>-7", each inserting k notes once
 * all have started; then each owner's notes are counted. Returns the wall time of the
 * inserts in seconds, or a negative number after a failure. */
static double writers_round(struct tn_store *s, const char *who, long k)
{
    struct writer w[WRITERS];
    pthread_t th[WRITERS];
    pthread_barrier_t start;
    double wall_s = -1;
    pthread_barrier_init(&start, NULL, WRITERS + 1);
    for (int i = 0; i < WRITERS; i++) {
        w[i] = (struct writer){.s = s, .start = &start, .k = k};
        snprintf(w[i].user, sizeof w[i].user, "https://bench.example|%s-%d", who, i);
        if (pthread_create(&th[i], NULL, write_notes, &w[i]) != 0) {
            /* the started ones wait at the barrier for good: nothing to save */
            fprintf(stderr, "cannot start %d writer threads\n", WRITERS);
            exit(1);
        }
    }
    pthread_barrier_wait(&start);
    double t0 = now_us(CLOCK_MONOTONIC);
    long failed = 0;
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(th[i], NULL);
        failed += w[i].failed;
    }
    double t1 = now_us(CLOCK_MONOTONIC);
    pthread_barrier_destroy(&start);
    if (failed) {
        fprintf(stderr, "%ld concurrent inserts failed\n", failed);
        goto done;
    }
    for (int i = 0; i < WRITERS; i++) {
        struct tn_owner o = {w[i].user, "acme"};
        long n = count_notes(s, &o);
        if (n != k) {
            fprintf(stderr, "%s: %ld notes stored, want %ld\n", w[i].user, n, k);
            goto done;
        }
    }
    wall_s = (t1 - t0) / 1e6;
done:
    return wall_s;
}

/* Prints notes/s in wall time of WRITERS concurrent writers next to the rate of one
 * writer (1e6 / serial_us). An untimed round first fills the connection pool. Returns
 * 0 when every note was stored. */
static int concurrent_inserts(struct tn_store *s, long k, double serial_us)
{
    if (writers_round(s, "warmup", 2) < 0)
        return 1;
    double wall_s = writers_round(s, "writer", k);
    if (wall_s < 0)
        return 1;
    printf("case=%s/insert_8threads threads=%d n=%ld wall_s=%.3f notes_per_s=%.0f "
           "serial_notes_per_s=%.0f\n",
           tn_store_backend(s), WRITERS, WRITERS * k, wall_s, (double)(WRITERS * k) / wall_s,
           1e6 / serial_us);
    return 0;
}

/* ---------- one backend ---------- */

/* Runs every case on an open, empty store; 0 when every answer was right. */
static int run(struct tn_store *s, long iterations, long per_thread)
{
    const char *be = tn_store_backend(s);
    static char ids[OWN_NOTES][32];
    static int64_t versions[OWN_NOTES];
    char rare_id[32] = "";
    char text[1024], want[1024];
    struct series sr = {0};
    int rc = 1;
    sr.cap = iterations;
    sr.cpu = malloc((size_t)iterations * sizeof *sr.cpu);
    sr.wall = malloc((size_t)iterations * sizeof *sr.wall);
    if (!sr.cpu || !sr.wall)
        goto done;

    /* seed: alice's own notes first, so that bob's shared ones are the newest */
    double t0 = now_us(CLOCK_MONOTONIC);
    for (int i = 0; i < OWN_NOTES + SHARED_NOTES; i++) {
        char title[32];
        snprintf(title, sizeof title, "Note %d", i);
        note_text(i, NULL, text, sizeof text);
        bool own = i < OWN_NOTES;
        struct tn_note n = new_note(title, text, own ? "private" : "org");
        enum tn_err e = tn_store_note_insert(s, own ? &alice : &bob, &n);
        if (e != TN_OK) {
            fprintf(stderr, "%s: seed insert %d: %s\n", be, i, tn_err_name(e));
            goto done;
        }
        if (own) {
            memcpy(ids[i], n.id, sizeof ids[i]);
            versions[i] = n.version;
        } else if (i == OWN_NOTES + RARE_AT) {
            memcpy(rare_id, n.id, sizeof rare_id);
        }
    }
    printf("store_ops: %s seeded %d notes in %.2f s; %ld calls per case\n", be,
           OWN_NOTES + SHARED_NOTES, (now_us(CLOCK_MONOTONIC) - t0) / 1e6, iterations);

    /* get */
    for (long i = -20; i < iterations; i++) { /* 20 untimed calls warm the caches */
        int k = (int)((i + 20) * 7 % OWN_NOTES);
        struct tn_note got;
        double cpu, wall;
        struct stamp t = stamp_start();
        enum tn_err e = tn_store_note_get(s, &alice, ids[k], &got);
        stamp_stop(t, &cpu, &wall);
        if (e != TN_OK) {
            fprintf(stderr, "%s/get: %s\n", be, tn_err_name(e));
            goto done;
        }
        note_text(k, NULL, want, sizeof want);
        bool ok = !strcmp(got.id, ids[k]) && !strcmp(got.owner, alice.user) && got.content &&
                  !strcmp(got.content, want);
        tn_note_deinit(&got);
        if (!ok) {
            fprintf(stderr, "%s/get: wrong note\n", be);
            goto done;
        }
        if (i >= 0)
            series_add(&sr, cpu, wall);
    }
    report(be, "get", &sr);

    /* list: the first page of 20 of alice's 300 */
    for (long i = -20; i < iterations; i++) {
        struct seen seen = {0};
        struct tn_note_page p = {0, "", PAGE, NULL};
        double cpu, wall;
        struct stamp t = stamp_start();
        enum tn_err e = tn_store_note_list(s, &alice, &p, on_listed, &seen);
        stamp_stop(t, &cpu, &wall);
        if (e != TN_OK || seen.count != PAGE || seen.wrong) {
            fprintf(stderr, "%s/list: %s, %ld notes%s\n", be, tn_err_name(e), seen.count,
                    seen.wrong ? ", wrong ones" : "");
            goto done;
        }
        if (i >= 0)
            series_add(&sr, cpu, wall);
    }
    report(be, "list", &sr);

    /* search: a word in one note of 1000, then a word in 100 of them */
    static const struct {
        const char *op, *query;
        long want;
    } searches[] = {{"search_rare", "quokka", 1}, {"search_common", "harbor", 10}};
    for (size_t q = 0; q < sizeof searches / sizeof searches[0]; q++) {
        for (long i = -20; i < iterations; i++) {
            struct seen seen = {0};
            double cpu, wall;
            struct stamp t = stamp_start();
            enum tn_err e = tn_store_note_search(s, &alice, searches[q].query, 10, on_found,
                                                 &seen);
            stamp_stop(t, &cpu, &wall);
            if (e != TN_OK || seen.count != searches[q].want ||
                (searches[q].want == 1 && strcmp(seen.first_id, rare_id) != 0)) {
                fprintf(stderr, "%s/%s: %s, %ld found\n", be, searches[q].op, tn_err_name(e),
                        seen.count);
                goto done;
            }
            if (i >= 0)
                series_add(&sr, cpu, wall);
        }
        report(be, searches[q].op, &sr);
    }

    /* insert: durable on return */
    for (long i = -5; i < iterations; i++) {
        note_text((int)(i + 5), "inserted", text, sizeof text);
        struct tn_note n = new_note("Inserted", text, "private");
        double cpu, wall;
        struct stamp t = stamp_start();
        enum tn_err e = tn_store_note_insert(s, &alice, &n);
        stamp_stop(t, &cpu, &wall);
        if (e != TN_OK || strncmp(n.id, "n_", 2) != 0 || n.version != 1) {
            fprintf(stderr, "%s/insert: %s\n", be, tn_err_name(e));
            goto done;
        }
        if (i >= 0)
            series_add(&sr, cpu, wall);
    }
    double serial_us = report(be, "insert", &sr);

    /* update: the text of one of alice's notes, at the version it has */
    for (long i = -5; i < iterations; i++) {
        int k = (int)((i + 5) % OWN_NOTES);
        note_text(k, "revised", text, sizeof text);
        struct tn_note out;
        double cpu, wall;
        struct stamp t = stamp_start();
        enum tn_err e = tn_store_note_update(s, &alice, ids[k], versions[k], NULL, text, NULL,
                                             NULL, &out);
        stamp_stop(t, &cpu, &wall);
        bool ok = e == TN_OK && out.version == versions[k] + 1;
        tn_note_deinit(&out);
        if (!ok) {
            fprintf(stderr, "%s/update: %s\n", be, tn_err_name(e));
            goto done;
        }
        versions[k]++;
        if (i >= 0)
            series_add(&sr, cpu, wall);
    }
    report(be, "update", &sr);

    if (concurrent_inserts(s, per_thread, serial_us) != 0)
        goto done;
    rc = 0;
done:
    free(sr.cpu);
    free(sr.wall);
    return rc;
}

/* ---------- set-up and tear-down of each backend ---------- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static const char *fs_name(const char *dir)
{
    struct statfs st;
    if (statfs(dir, &st) != 0)
        return "unknown";
    switch ((unsigned long)st.f_type) {
    case 0xEF53: return "ext4";
    case 0x01021994: return "tmpfs";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x794c7630: return "overlayfs";
    default: return "other";
    }
}

static struct tn_store *open_store(const char *dir, const char *url)
{
    struct tn_store *s = NULL;
    struct tn_buf err;
    tn_buf_init(&err, 4096);
    enum tn_err e = tn_store_open(dir, url, &s, &err);
    if (e != TN_OK)
        fprintf(stderr, "store_ops: open: %s: %s\n", tn_err_name(e), err.data ? err.data : "");
    tn_buf_deinit(&err);
    return e == TN_OK ? s : NULL;
}

static int run_sqlite(long iterations, long per_thread)
{
    const char *tmp = getenv("TMPDIR");
    char dir[256], data[300];
    int rc = 1;
    snprintf(dir, sizeof dir, "%s/tn_bench_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("store_ops: mkdtemp");
        return 1;
    }
    snprintf(data, sizeof data, "%s/data", dir);
    printf("store_ops: sqlite in %s (%s), synchronous=FULL\n", dir, fs_name(dir));
    struct tn_store *s = open_store(data, NULL);
    if (s)
        rc = run(s, iterations, per_thread);
    tn_store_close(s);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}

static void show_setting(PGconn *c, const char *name, char *out, size_t cap)
{
    char sql[64];
    snprintf(sql, sizeof sql, "SHOW %s", name);
    PGresult *r = PQexec(c, sql);
    snprintf(out, cap, "%s",
             PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) ? PQgetvalue(r, 0, 0) : "?");
    PQclear(r);
}

static bool admin_exec(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "store_ops: %s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    return ok;
}

static int run_postgres(const char *base, long iterations, long per_thread)
{
    char schema[48], sql[96], url[2048], fsync_v[16], commit_v[16];
    int rc = 1;
    bool created = false;
    PGconn *admin = PQconnectdb(base);
    if (PQstatus(admin) != CONNECTION_OK) {
        fprintf(stderr, "store_ops: cannot connect to DATABASE_URL: %s", PQerrorMessage(admin));
        goto done;
    }
    snprintf(schema, sizeof schema, "tn_bench_%d", (int)getpid());
    snprintf(sql, sizeof sql, "CREATE SCHEMA %s", schema);
    if (!(created = admin_exec(admin, sql)))
        goto done;
    int n = snprintf(url, sizeof url, "%s%soptions=-csearch_path%%3D%s", base,
                     strchr(base, '?') ? "&" : "?", schema);
    if (n < 0 || (size_t)n >= sizeof url)
        goto done;
    show_setting(admin, "fsync", fsync_v, sizeof fsync_v);
    show_setting(admin, "synchronous_commit", commit_v, sizeof commit_v);
    printf("store_ops: postgres in schema %s, server fsync=%s synchronous_commit=%s\n", schema,
           fsync_v, commit_v);
    struct tn_store *s = open_store(NULL, url);
    if (s)
        rc = run(s, iterations, per_thread);
    tn_store_close(s);
done:
    if (created) {
        snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", schema);
        PQclear(PQexec(admin, "SET client_min_messages = warning"));
        if (!admin_exec(admin, sql))
            rc = 1;
    }
    PQfinish(admin);
    return rc;
}

int main(int argc, char **argv)
{
    long iterations = argc > 1 ? strtol(argv[1], NULL, 10) : 300;
    long per_thread = argc > 2 ? strtol(argv[2], NULL, 10) : 40;
    if (iterations <= 0 || per_thread <= 0 || tn_util_init() != TN_OK) {
        fprintf(stderr, "usage: %s [iterations > 0 [per_thread > 0]]\n", argv[0]);
        return 2;
    }
    tn_log_setup(TN_LOG_WARN, false); /* no "migration applied" lines among the results */
    /* the clocks' own cost, subtracted from every sample */
    struct series cal = {.cap = 2000};
    cal.cpu = malloc((size_t)cal.cap * sizeof *cal.cpu);
    cal.wall = malloc((size_t)cal.cap * sizeof *cal.wall);
    if (!cal.cpu || !cal.wall)
        return 1;
    calibrate(&cal);
    free(cal.cpu);
    free(cal.wall);
    printf("store_ops: clock overhead subtracted: cpu_us=%.3f wall_us=%.3f\n", overhead_cpu,
           overhead_wall);

    int rc = run_sqlite(iterations, per_thread);
    const char *url = getenv("DATABASE_URL");
    if (url && (!strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13)))
        rc |= run_postgres(url, iterations, per_thread);
    else
        printf("store_ops: postgres skipped (DATABASE_URL is not a postgres:// URL)\n");
    if (rc)
        fprintf(stderr, "store_ops: a call failed or gave a wrong answer\n");
    return rc;
}
