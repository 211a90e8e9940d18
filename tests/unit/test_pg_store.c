/* The store on PostgreSQL, what only it has: its layout and URL errors, row-level
 * security under the application's own checks (and its refusal to run without it),
 * migrations raced by instances starting together and an upgrade from schema 1,
 * triggers below the API, reconnection after the database restarts, and several
 * instances (store handles) sharing one database. The behaviours both backends share are test_store.c and test_notes_store.c,
 * run on PostgreSQL with TN_TEST_DATABASE_URL set (scripts/test does).
 *
 * Needs DATABASE_URL=postgres://... naming a database in which the test may create
 * schemas, as a role that is neither a superuser nor BYPASSRLS (scripts/pg-test-server
 * starts a throwaway server with such a role and prints the variables). Each test gets
 * a fresh schema, chosen through the URL (options=-csearch_path=...), dropped afterwards.
 * The restart test runs `scripts/pg-test-server restart DIR`, with DIR from TN_PG_DIR or
 * else derived from the server's data_directory. Without DATABASE_URL the test says so
 * and exits 0 (skipped). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <pthread.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "store/postgres_internal.h"
#include "store/store.h"
#include "pg_fixture.h"

/* The migrations of src/store/migrations/postgres/, in order; the latest is the schema
 * version a new store reaches. */
static const char *const migration_files[] = {"0001_auth",
                                              "0002_notes",
                                              "0003_notify",
                                              "0004_email_codes",
                                              "0005_identities",
                                              "0006_grant_revocations",
                                              "0007_invitations",
                                              "0008_org_sso",
                                              "0009_admin",
                                              "0010_notes_fold_fast",
                                              "0011_notify_after_commit",
                                              "0012_audit_indexes"};
#define LATEST ((int)(sizeof migration_files / sizeof migration_files[0]))

struct fx {
    char schema[64];
    char url[1024]; /* base_url, with search_path set to schema */
    struct tn_store *s;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    pg_fixture_schema(f->schema, sizeof f->schema, f->url, sizeof f->url);
    f->s = open_url(f->url);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    tn_store_close(f->s);
    schema_drop(f->schema);
    free(f);
    return 0;
}

/* ---------- fixtures shared with test_store.c ---------- */

/* ---------- fixtures ---------- */

/* What a list callback saw, as "a;b;c;". */
struct seen {
    int n;
    char s[256];
};

static void note(struct seen *w, const char *item)
{
    size_t used = strlen(w->s);
    snprintf(w->s + used, sizeof w->s - used, "%s;", item);
    w->n++;
}

static void hash_of(uint8_t h[32], int n)
{
    memset(h, 0xab, 32);
    h[0] = (uint8_t)n;
    h[1] = (uint8_t)(n >> 8);
}

static void add_org(struct tn_store *s, const char *id, const char *name, int64_t at)
{
    struct tn_org o = {.created_at = at};
    snprintf(o.id, sizeof o.id, "%s", id);
    snprintf(o.name, sizeof o.name, "%s", name);
    assert_int_equal(tn_store_org_insert(s, &o), TN_OK);
}

static struct tn_user user(const char *id, const char *email)
{
    struct tn_user u = {.created_at = 100, .tokens_valid_after = 0};
    snprintf(u.id, sizeof u.id, "%s", id);
    snprintf(u.email, sizeof u.email, "%s", email);
    snprintf(u.name, sizeof u.name, "User %s", id);
    snprintf(u.role, sizeof u.role, "editor");
    return u;
}

static void add_user(struct tn_store *s, const char *id, const char *email)
{
    struct tn_user u = user(id, email);
    assert_int_equal(tn_store_user_insert(s, &u), TN_OK);
}

static struct tn_client client(const char *id, int64_t created, int64_t used)
{
    struct tn_client c = {.created_at = created, .last_used_at = used};
    snprintf(c.id, sizeof c.id, "%s", id);
    snprintf(c.name, sizeof c.name, "Client %s", id);
    snprintf(c.redirect_uris, sizeof c.redirect_uris, "[\"http://127.0.0.1/cb\"]");
    snprintf(c.auth_method, sizeof c.auth_method, "none");
    snprintf(c.grant_types, sizeof c.grant_types, "authorization_code refresh_token");
    snprintf(c.scope, sizeof c.scope, "notes:read");
    snprintf(c.application_type, sizeof c.application_type, "native");
    snprintf(c.metadata, sizeof c.metadata, "{\"client_name\":\"%s\"}", id);
    return c;
}

static void add_client(struct tn_store *s, const char *id, int64_t created, int64_t used)
{
    struct tn_client c = client(id, created, used);
    assert_int_equal(tn_store_client_insert(s, &c), TN_OK);
}

static struct tn_code code(int n, const char *client_id, const char *user_id, const char *family)
{
    struct tn_code c = {.expires_at = 5000};
    hash_of(c.hash, n);
    snprintf(c.client_id, sizeof c.client_id, "%s", client_id);
    snprintf(c.user_id, sizeof c.user_id, "%s", user_id);
    snprintf(c.redirect_uri, sizeof c.redirect_uri, "http://127.0.0.1/cb");
    snprintf(c.scope, sizeof c.scope, "notes:read notes:write");
    snprintf(c.resource, sizeof c.resource, "https://notes.example/mcp");
    snprintf(c.challenge, sizeof c.challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    snprintf(c.family, sizeof c.family, "%s", family);
    return c;
}

static struct tn_refresh refresh(int n, const char *family, const char *client_id,
                                 const char *user_id)
{
    struct tn_refresh r = {.issued_at = 1000, .expires_at = 9000};
    hash_of(r.hash, n);
    snprintf(r.family, sizeof r.family, "%s", family);
    snprintf(r.client_id, sizeof r.client_id, "%s", client_id);
    snprintf(r.user_id, sizeof r.user_id, "%s", user_id);
    snprintf(r.scope, sizeof r.scope, "notes:read");
    snprintf(r.resource, sizeof r.resource, "https://notes.example/mcp");
    return r;
}

static void add_refresh(struct tn_store *s, int n, const char *family, const char *client_id,
                        const char *user_id)
{
    struct tn_refresh r = refresh(n, family, client_id, user_id);
    assert_int_equal(tn_store_refresh_insert(s, &r), TN_OK);
}

/* user u1 + client c1, the common ground of the OAuth tests */
static void base_grant(struct tn_store *s)
{
    add_user(s, "u1", "one@example.com");
    add_user(s, "u2", "two@example.com");
    add_client(s, "c1", 10, 0);
    add_client(s, "c2", 10, 0);
}

static bool refresh_revoked(struct tn_store *s, int n)
{
    uint8_t h[32];
    struct tn_refresh r;
    hash_of(h, n);
    assert_int_equal(tn_store_refresh_get(s, h, &r), TN_OK);
    return r.revoked;
}

/* ---------- open, layout, migrations ---------- */

static void test_open_layout(void **state)
{
    struct fx *f = *state;
    assert_string_equal(tn_store_backend(f->s), "postgres");
    assert_int_equal(tn_store_schema_version(f->s), LATEST);

    PGconn *c = conn_to(f->url);
    char v[256];
    /* every migration recorded, in order */
    value_of(c,
             "SELECT string_agg(version || ':' || name, ',' ORDER BY version) "
             "FROM schema_version",
             v, sizeof v);
    assert_string_equal(
        v, "1:0001_auth,2:0002_notes,3:0003_notify,4:0004_email_codes,5:0005_identities,"
           "6:0006_grant_revocations,7:0007_invitations,8:0008_org_sso,9:0009_admin,"
           "10:0010_notes_fold_fast,11:0011_notify_after_commit,"
           "12:0012_audit_indexes");
    /* the tables are in the test's schema (the URL's search_path reached the store) */
    value_of(c,
             "SELECT string_agg(table_name, ',' ORDER BY table_name) "
             "FROM information_schema.tables WHERE table_schema = current_schema()",
             v, sizeof v);
    assert_string_equal(
        v,
        "audit,clients,codes,consents,email_codes,grant_revocations,identities,invitations,notes,"
        "org_domains,org_sso,orgs,refresh_tokens,revoked_families,schema_version,signing_keys,"
        "users");
    /* row-level security is on and forced on notes, and nothing else needs it */
    value_of(c,
             "SELECT string_agg(relname || ':' || relrowsecurity || relforcerowsecurity, "
             "',' ORDER BY relname) FROM pg_class WHERE relnamespace = "
             "current_schema()::regnamespace AND relkind = 'r' AND relrowsecurity",
             v, sizeof v);
    assert_string_equal(v, "notes:truetrue");
    /* the role the tests run as is bound by it (else the RLS test proves nothing) */
    value_of(c, "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user", v,
             sizeof v);
    if (strcmp(v, "f") != 0)
        fail_msg("DATABASE_URL connects as a superuser or BYPASSRLS role: row-level security "
                 "does not apply to it; use an ordinary role (scripts/pg-test-server)");
    PQfinish(c);
}

/* Host, port and user of DATABASE_URL, to build URLs to the same server. */
static void server_of(char *host, char *port, char *user, size_t cap)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(base_url, &perr);
    assert_non_null(opts);
    host[0] = port[0] = user[0] = '\0';
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val)
            continue;
        if (strcmp(o->keyword, "host") == 0)
            snprintf(host, cap, "%s", o->val);
        else if (strcmp(o->keyword, "port") == 0)
            snprintf(port, cap, "%s", o->val);
        else if (strcmp(o->keyword, "user") == 0)
            snprintf(user, cap, "%s", o->val);
    }
    PQconninfoFree(opts);
    if (!host[0])
        snprintf(host, cap, "localhost");
    if (!port[0])
        snprintf(port, cap, "5432");
    if (!user[0])
        snprintf(user, cap, "teamnotes");
}

static void test_open_errors(void **state)
{
    char host[128], port[128], user[128], nodb[600];
    server_of(host, port, user, sizeof host);
    /* the right server, a database that does not exist (trust auth ignores the password) */
    snprintf(nodb, sizeof nodb, "postgres://%s:hunter2@%s:%s/tn_no_such_db_%d", user,
             strchr(host, '/') ? "localhost" : host, port, (int)getpid());
    const struct {
        const char *url;
        enum tn_err want;
        const char *msg;
    } cases[] = {
        {nodb, TN_ERR_IO, "does not exist"},
        {"postgres://tn:hunter2@127.0.0.1:1/tn", TN_ERR_IO, "cannot connect to PostgreSQL"},
        {"postgresql://tn:hunter2@127.0.0.1/tn?hunter2=1", TN_ERR_CONFIG,
         "not a valid PostgreSQL connection URL"},
        {"postgres://tn:hunter2@127.0.0.1:99999999/tn", TN_ERR_IO, "cannot connect"},
        {"PostgreSQL://tn:hunter2@127.0.0.1:1/tn", TN_ERR_IO, "cannot connect"},
        {"mysql://tn:hunter2@db/tn", TN_ERR_CONFIG, "DATABASE_URL must start with"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int sentinel;
        struct tn_store *s = (struct tn_store *)&sentinel; /* must be reset to NULL */
        struct tn_buf err;
        tn_buf_init(&err, 4096);
        enum tn_err e = tn_store_open(NULL, cases[i].url, &s, &err);
        if (e != cases[i].want || !err.data || !strstr(err.data, cases[i].msg))
            fail_msg("case %zu: %s: %s", i, tn_err_name(e), err.data ? err.data : "(none)");
        assert_null(s);
        assert_null(strstr(err.data, "hunter2")); /* a URL's password is never echoed */
        tn_buf_deinit(&err);
    }
    /* err may be NULL */
    struct tn_store *s = NULL;
    assert_int_equal(tn_store_open(NULL, "postgres://x@127.0.0.1:1/x", &s, NULL), TN_ERR_IO);
    assert_null(s);
}

/* A database whose notes table lost its row-level security is refused. */
static void test_rls_off_refused(void **state)
{
    struct fx *f = *state;
    tn_store_close(f->s);
    f->s = NULL;
    static const char *const sql[] = {"ALTER TABLE notes NO FORCE ROW LEVEL SECURITY",
                                      "ALTER TABLE notes DISABLE ROW LEVEL SECURITY"};
    for (size_t i = 0; i < 2; i++) {
        PGconn *c = conn_to(f->url);
        exec_ok(c, sql[i]);
        PQfinish(c);
        struct tn_store *s = NULL;
        struct tn_buf err;
        tn_buf_init(&err, 4096);
        assert_int_equal(tn_store_open(NULL, f->url, &s, &err), TN_ERR_CONFIG);
        assert_null(s);
        assert_non_null(strstr(err.data, "FORCE ROW LEVEL SECURITY"));
        tn_buf_deinit(&err);
    }
}

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)n, fp), (size_t)n);
    p[n] = '\0';
    fclose(fp);
    return p;
}

/* The source tree: TN_SOURCE_ROOT, or where this file was compiled from. */
static void source_path(const char *rel, char *out, size_t cap)
{
    const char *root = getenv("TN_SOURCE_ROOT");
    if (root) {
        snprintf(out, cap, "%s/%s", root, rel);
    } else {
        const char *me = __FILE__; /* .../tests/unit/test_pg_store.c */
        size_t n = strlen(me) - strlen("tests/unit/test_pg_store.c");
        snprintf(out, cap, "%.*s%s", (int)n, me, rel);
    }
}

/* Instances starting together on a new database: the advisory lock makes one of them
 * apply the migrations and the others wait and find them applied. */
struct opener {
    const char *url;
    pthread_barrier_t *go;
    struct tn_store *s;
    enum tn_err e;
};

static void *open_thread(void *arg)
{
    struct opener *o = arg;
    pthread_barrier_wait(o->go);
    o->e = tn_store_open(NULL, o->url, &o->s, NULL);
    return NULL;
}

static void test_migrations_raced(void **state)
{
    struct fx *f = *state;
    enum { N = 8 };
    for (int round = 0; round < 3; round++) {
        char schema[80], url[1100];
        snprintf(schema, sizeof schema, "%s_race%d", f->schema, round);
        schema_create(schema);
        url_for(schema, url, sizeof url);
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, N);
        pthread_t th[N];
        struct opener os[N];
        for (int i = 0; i < N; i++) {
            os[i] = (struct opener){.url = url, .go = &go};
            assert_int_equal(pthread_create(&th[i], NULL, open_thread, &os[i]), 0);
        }
        for (int i = 0; i < N; i++)
            pthread_join(th[i], NULL);
        pthread_barrier_destroy(&go);
        for (int i = 0; i < N; i++) {
            if (os[i].e != TN_OK)
                fail_msg("round %d, instance %d: %s", round, i, tn_err_name(os[i].e));
            assert_int_equal(tn_store_schema_version(os[i].s), LATEST);
        }
        /* each script applied once, and every instance works */
        PGconn *c = conn_to(url);
        char v[64];
        value_of(c, "SELECT count(*) || ':' || max(version) FROM schema_version", v, sizeof v);
        char want[64];
        snprintf(want, sizeof want, "%d:%d", LATEST, LATEST);
        assert_string_equal(v, want);
        PQfinish(c);
        for (int i = 0; i < N; i++) {
            char id[16];
            snprintf(id, sizeof id, "o%d", i);
            add_org(os[i].s, id, id, i);
            tn_store_close(os[i].s);
        }
        schema_drop(schema);
    }
}

/* ---------- organizations ---------- */

static const struct tn_owner alice = {"https://issuer.example|alice", "o1"};
static const struct tn_owner bob = {"https://issuer.example|bob", "o1"};
static const struct tn_owner carol = {"https://issuer.example|carol", "o2"};
static const struct tn_owner dave = {"https://issuer.example|dave", ""}; /* no organization */
/* The same person as alice, signed in to another organization: another owner. */
static const struct tn_owner alice_o2 = {"https://issuer.example|alice", "o2"};

/* ---------- notes and collections ---------- */

static struct tn_note mk(const char *title, const char *content, const char *tags,
                         const char *visibility)
{
    struct tn_note n;
    memset(&n, 0, sizeof n);
    snprintf(n.title, sizeof n.title, "%s", title);
    n.content = (char *)content; /* borrowed: never tn_note_deinit'ed */
    snprintf(n.tags, sizeof n.tags, "%s", tags);
    snprintf(n.visibility, sizeof n.visibility, "%s", visibility);
    return n;
}

/* Inserts a note and returns it (the content pointer is the caller's). */
static struct tn_note add(struct tn_store *s, const struct tn_owner *o, const char *title,
                          const char *content, const char *tags, const char *visibility)
{
    struct tn_note n = mk(title, content, tags, visibility);
    enum tn_err e = tn_store_note_insert(s, o, &n);
    if (e != TN_OK)
        fail_msg("insert %s: %s", title, tn_err_name(e));
    return n;
}

struct item {
    char id[32];
    char owner[512];
    char org[128];
    char visibility[8];
    char tags[256];
    char snippet[512];
    int64_t version, updated_at;
    double rank;
};

struct coll {
    size_t n, cap;
    struct item *v;
};

static struct item *coll_push(struct coll *c)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->v = realloc(c->v, c->cap * sizeof *c->v);
        assert_non_null(c->v);
    }
    struct item *it = &c->v[c->n++];
    memset(it, 0, sizeof *it);
    return it;
}

static void collect_item(struct coll *c, const struct item *it) { *coll_push(c) = *it; }

static void collect(const struct tn_note *n, void *ud)
{
    struct item *it = coll_push(ud);
    snprintf(it->id, sizeof it->id, "%s", n->id);
    snprintf(it->owner, sizeof it->owner, "%s", n->owner);
    snprintf(it->org, sizeof it->org, "%s", n->org);
    snprintf(it->visibility, sizeof it->visibility, "%s", n->visibility);
    snprintf(it->tags, sizeof it->tags, "%s", n->tags);
    snprintf(it->snippet, sizeof it->snippet, "%s", n->snippet);
    it->version = n->version;
    it->updated_at = n->updated_at;
    it->rank = n->rank;
    assert_non_null(n->content);
}

static void coll_free(struct coll *c)
{
    free(c->v);
    memset(c, 0, sizeof *c);
}

static bool coll_has(const struct coll *c, const char *id)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->v[i].id, id) == 0)
            return true;
    return false;
}

/* (updated_at, id) of a strictly before b in newest-first order. */
static bool newer(const struct item *a, const struct item *b)
{
    return a->updated_at > b->updated_at ||
           (a->updated_at == b->updated_at && strcmp(a->id, b->id) > 0);
}

/* Every note of o's list (or team list), page by page with `limit`, asserting that the
 * pages run in strictly decreasing (updated_at, id) order and each is at most `limit`. */
static void page_all(struct tn_store *s, const struct tn_owner *o, bool team, const char *tag,
                     unsigned limit, struct coll *out)
{
    struct tn_note_page p = {.limit = limit, .tag = tag, .after_id = ""};
    char after[32] = "";
    for (int guard = 0;; guard++) {
        assert_true(guard < 100000);
        struct coll page = {0};
        enum tn_err e = team ? tn_store_note_list_team(s, o, &p, collect, &page)
                             : tn_store_note_list(s, o, &p, collect, &page);
        assert_int_equal(e, TN_OK);
        assert_true(page.n <= limit);
        for (size_t i = 0; i < page.n; i++) {
            if (out->n > 0)
                assert_true(newer(&out->v[out->n - 1], &page.v[i]));
            collect_item(out, &page.v[i]);
        }
        bool last = page.n < limit;
        if (page.n > 0) {
            snprintf(after, sizeof after, "%s", page.v[page.n - 1].id);
            p.after_updated = page.v[page.n - 1].updated_at;
            p.after_id = after;
        }
        coll_free(&page);
        if (last)
            break;
    }
}

/* ---------- insert and get ---------- */

static void expect_ids(const struct coll *c, const char *const *ids, size_t n)
{
    if (c->n != n)
        fail_msg("%zu notes, want %zu", c->n, n);
    for (size_t i = 0; i < n; i++)
        if (!coll_has(c, ids[i]))
            fail_msg("missing %s", ids[i]);
}

static void see_key(const struct tn_signing_key *k, void *ud) { note(ud, k->kid); }

static void noop_cb(const struct tn_note *n, void *ud) { (*(int *)ud)++; }

struct audits {
    int n;
    struct tn_audit v[16];
};

static void see_audit(const struct tn_audit *a, void *ud)
{
    struct audits *w = ud;
    if (w->n < 16)
        w->v[w->n] = *a;
    w->n++;
}

static struct tn_audit audit(int64_t at, const char *tool, const char *note_id, const char *outcome)
{
    struct tn_audit a = {.at = at};
    snprintf(a.user, sizeof a.user, "%s", alice.user);
    snprintf(a.org, sizeof a.org, "%s", alice.org);
    snprintf(a.client_id, sizeof a.client_id, "client-1");
    snprintf(a.tool, sizeof a.tool, "%s", tool);
    snprintf(a.note_id, sizeof a.note_id, "%s", note_id);
    snprintf(a.outcome, sizeof a.outcome, "%s", outcome);
    return a;
}

enum { THREADS = 8 };

/* Below the API: a note cannot change owner or id even by direct SQL, even when the
 * row-level security policies let the statement see it (the owner's own session). */
static void test_schema_guards(void **state)
{
    struct fx *f = *state;
    struct tn_note n = add(f->s, &alice, "t", "c", "[]", "private");
    PGconn *c = conn_to(f->url);
    const char *const stmts[] = {
        "UPDATE notes SET owner = 'x'",    "UPDATE notes SET org = 'o2'",
        "UPDATE notes SET id = 'n_other'", "UPDATE notes SET visibility = 'public'",
        "UPDATE notes SET content = ''",   "UPDATE notes SET version = 0",
        "UPDATE notes SET created_at = 0", "UPDATE notes SET tags = '{}'",
    };
    char v[64];
    for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++) {
        as_user(c, alice.user, alice.org, stmts[i], v, sizeof v);
        if (strncmp(v, "error ", 6) != 0)
            fail_msg("allowed: %s (%s rows)", stmts[i], v);
    }
    /* and the policies did let alice's session reach her note: a harmless update works */
    as_user(c, alice.user, alice.org, "UPDATE notes SET title = 'ok'", v, sizeof v);
    assert_string_equal(v, "1");
    struct tn_note got;
    assert_int_equal(tn_store_note_get(f->s, &alice, n.id, &got), TN_OK);
    assert_string_equal(got.owner, alice.user);
    assert_string_equal(got.title, "t"); /* as_user rolled back */
    tn_note_deinit(&got);
    /* and dave's (no org) note cannot be shared by direct SQL */
    struct tn_note d = add(f->s, &dave, "t", "c", "[]", "private");
    as_user(c, dave.user, dave.org, "UPDATE notes SET visibility = 'org' WHERE org = ''", v,
            sizeof v);
    assert_string_equal(v, "error 23514");
    PQfinish(c);
    assert_int_equal(tn_store_note_get(f->s, &dave, d.id, &got), TN_OK);
    assert_string_equal(got.visibility, "private");
    tn_note_deinit(&got);
}

/* A database left by the previous release (schema 1) gains the notes on open and keeps
 * what it had. */
static void test_upgrade_from_v1(void **state)
{
    struct fx *f = *state;
    char schema[80], url[1100], path[512];
    snprintf(schema, sizeof schema, "%s_v1", f->schema);
    schema_create(schema);
    url_for(schema, url, sizeof url);
    source_path("src/store/migrations/postgres/0001_auth.sql", path, sizeof path);
    char *sql = slurp(path);
    if (!sql)
        fail_msg("cannot read %s (set TN_SOURCE_ROOT)", path);
    PGconn *c = conn_to(url);
    exec_ok(c, sql);
    exec_ok(c, "CREATE TABLE schema_version (version integer PRIMARY KEY, name text NOT NULL, "
               "applied_at bigint NOT NULL);"
               "INSERT INTO schema_version VALUES (1, '0001_auth', 0);"
               "INSERT INTO orgs VALUES ('o1', 'Acme', 1);");
    PQfinish(c);
    free(sql);

    struct tn_store *s = open_url(url);
    assert_int_equal(tn_store_schema_version(s), LATEST);
    struct tn_org org;
    assert_int_equal(tn_store_org_get(s, "o1", &org), TN_OK);
    assert_string_equal(org.name, "Acme");
    struct tn_note n = add(s, &alice, "t", "upgraded fine", "[\"x\"]", "org");
    struct coll cl = {0};
    assert_int_equal(tn_store_note_search(s, &bob, "upgraded", 10, collect, &cl), TN_OK);
    expect_ids(&cl, (const char *[]){n.id}, 1);
    coll_free(&cl);
    tn_store_close(s);
    schema_drop(schema);
}

/* ---------- randomized, against a model ---------- */
static void test_search_operators_inert(void **state)
{
    struct fx *f = *state;
    struct tn_note n1 = add(f->s, &alice, "Quarterly budget",
                            "The budget for Q3 was approved by the board.", "[\"finance\"]",
                            "private");
    struct tn_note n2 =
        add(f->s, &alice, "Lunch", "We talked about the budget over lunch.", "[]", "private");
    add(f->s, &alice, "Garden", "Tomatoes and basil", "[]", "private");
    static const struct {
        const char *q;
        int want; /* 0: none, 1: n1, 3: n1 and n2 */
    } cases[] = {
        {"budget | tomatoes", 0}, /* not OR */
        {"!budget", 3},           /* not NOT */
        {"budget & !board", 1},   /* "budget" and "board" */
        {"budg:*", 0},            /* not a prefix */
        {"budget:*", 3},
        {"budget:A", 0}, /* "budget a": no weight restriction */
        {"(budget <-> board)", 1},
        {"budget<->board", 0}, /* one word: the phrase "budget board" */
        {"'budget' 'board'", 1},
        {"\\budget", 3},
        {"budget) | (1=1", 0},
        {"' OR ''='", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct coll c = {0};
        enum tn_err e = tn_store_note_search(f->s, &alice, cases[i].q, 100, collect, &c);
        if (e != TN_OK)
            fail_msg("search %zu (%s): %s", i, cases[i].q, tn_err_name(e));
        size_t want = cases[i].want == 3 ? 2 : (size_t)cases[i].want;
        if (c.n != want)
            fail_msg("search %zu (%s): %zu hits, want %zu", i, cases[i].q, c.n, want);
        if (cases[i].want >= 1)
            assert_true(coll_has(&c, n1.id));
        if (cases[i].want == 3)
            assert_true(coll_has(&c, n2.id));
        coll_free(&c);
    }
}

/* ---------- PostgreSQL only: two instances on one database ---------- */

/* Whatever one instance writes, the other reads; single use holds across them. */
static void test_two_instances(void **state)
{
    struct fx *f = *state;
    struct tn_store *a = f->s, *b = open_url(f->url);
    base_grant(a);
    struct tn_user u;
    assert_int_equal(tn_store_user_get(b, "u1", &u), TN_OK);
    u.disabled = true;
    u.tokens_valid_after = 4242;
    assert_int_equal(tn_store_user_update(b, &u), TN_OK);
    assert_int_equal(tn_store_user_get(a, "u1", &u), TN_OK);
    assert_true(u.disabled);
    assert_int_equal(u.tokens_valid_after, 4242);

    struct tn_code c = code(1, "c1", "u1", "fam");
    struct tn_code out;
    assert_int_equal(tn_store_code_insert(a, &c), TN_OK);
    assert_int_equal(tn_store_code_take(b, c.hash, &out), TN_OK);
    assert_int_equal(tn_store_code_take(a, c.hash, &out), TN_ERR_CONFLICT);

    add_refresh(b, 1, "fam", "c1", "u1");
    assert_int_equal(tn_store_family_revoke(a, "fam"), TN_OK);
    assert_true(refresh_revoked(b, 1));

    struct tn_signing_key k = {.kid = "k1", .alg = "ES256", .pem = "PEM", .created_at = 1};
    assert_int_equal(tn_store_key_insert(b, &k), TN_OK);
    struct seen kids = {0};
    assert_int_equal(tn_store_key_list(a, see_key, &kids), TN_OK);
    assert_string_equal(kids.s, "k1;");

    struct tn_note n = add(a, &alice, "shared", "across instances", "[]", "org");
    struct tn_note got;
    assert_int_equal(tn_store_note_get(b, &bob, n.id, &got), TN_OK);
    assert_string_equal(got.content, "across instances");
    tn_note_deinit(&got);
    assert_int_equal(tn_store_note_update(b, &alice, n.id, 1, "v2", NULL, NULL, NULL, NULL), TN_OK);
    assert_int_equal(tn_store_note_update(a, &alice, n.id, 1, "stale", NULL, NULL, NULL, &got),
                     TN_ERR_CONFLICT);
    assert_string_equal(got.title, "v2");
    tn_note_deinit(&got);
    struct audits w = {0};
    struct tn_audit rec = audit(5, "notes_get", n.id, "ok");
    assert_int_equal(tn_store_audit_insert(b, &rec), TN_OK);
    /* records are written in batches: another instance sees them once b has written them */
    assert_int_equal(tn_store_audit_flush(b), TN_OK);
    assert_int_equal(tn_store_audit_list(a, 10, see_audit, &w), TN_OK);
    assert_int_equal(w.n, 1);
    tn_store_close(b);
}

/* ---------- PostgreSQL only: row-level security under the application ---------- */

/* A raw connection as the store's own role (the table's owner), with no owner
 * predicate in any statement: the policies alone decide what it sees and changes. */
static void test_rls_enforced(void **state)
{
    struct fx *f = *state;
    add(f->s, &alice, "a1", "alice private", "[]", "private");
    add(f->s, &alice, "a2", "alice private 2", "[]", "private");
    add(f->s, &alice, "a3", "alice shared", "[]", "org");
    add(f->s, &alice_o2, "a4", "alice in o2", "[]", "private");
    add(f->s, &bob, "b1", "bob private", "[]", "private");
    add(f->s, &bob, "b2", "bob shared", "[]", "org");
    add(f->s, &carol, "c1", "carol shared", "[]", "org");

    PGconn *c = conn_to(f->url);
    char v[128];
    value_of(c, "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user", v,
             sizeof v);
    if (strcmp(v, "f") != 0)
        fail_msg("DATABASE_URL connects as a superuser or BYPASSRLS role, which row-level "
                 "security does not bind; use an ordinary role (scripts/pg-test-server)");
    value_of(c,
             "SELECT tableowner = current_user FROM pg_tables WHERE tablename = 'notes' "
             "AND schemaname = current_schema()",
             v, sizeof v);
    assert_string_equal(v, "t"); /* the owner: FORCE is what binds it */

    /* no caller set: nothing at all */
    value_of(c, "SELECT count(*) FROM notes", v, sizeof v);
    assert_string_equal(v, "0");

    const char *B = bob.user, *M = "https://issuer.example|mallory";
    const struct {
        const char *user, *org, *sql, *want;
    } cases[] = {
        /* reading: own notes plus the organization's shared ones */
        {B, "o1", "SELECT count(*) FROM notes", "3"},
        {B, "o1", "SELECT string_agg(title, ',' ORDER BY title) FROM notes", "a3,b1,b2"},
        {alice.user, "o1", "SELECT string_agg(title, ',' ORDER BY title) FROM notes",
         "a1,a2,a3,b2"},
        {alice.user, "o2", "SELECT string_agg(title, ',' ORDER BY title) FROM notes", "a4,c1"},
        {carol.user, "o2", "SELECT string_agg(title, ',' ORDER BY title) FROM notes", "c1"},
        {M, "o1", "SELECT string_agg(title, ',' ORDER BY title) FROM notes", "a3,b2"},
        {M, "", "SELECT count(*) FROM notes", "0"},
        {"", "", "SELECT count(*) FROM notes", "0"},
        {B, "o1", "SELECT count(*) FROM notes WHERE visibility = 'private' AND title LIKE 'a%'",
         "0"},
        /* writing without a WHERE clause touches only bob's own rows */
        {B, "o1", "UPDATE notes SET title = 'pwned'", "2"},
        {B, "o1", "DELETE FROM notes", "2"},
        {B, "o1", "UPDATE notes SET title = 'x' WHERE title = 'a3'", "0"},
        {B, "o1", "DELETE FROM notes WHERE title LIKE 'a%'", "0"},
        {B, "o1", "UPDATE notes SET visibility = 'private' WHERE title = 'a3'", "0"},
        {alice.user, "o2", "DELETE FROM notes", "1"}, /* a4 only, not her o1 notes */
        /* rows for someone else cannot be created */
        {B, "o1",
         "INSERT INTO notes (id, owner, org, title, content, tags, visibility, version, "
         "created_at, updated_at) VALUES ('n_forged', 'https://issuer.example|alice', 'o1', "
         "'f', 'f', '[]', 'private', 1, 1, 1)",
         "error 42501"},
        {B, "o1",
         "INSERT INTO notes (id, owner, org, title, content, tags, visibility, version, "
         "created_at, updated_at) VALUES ('n_forged', 'https://issuer.example|bob', 'o2', "
         "'f', 'f', '[]', 'org', 1, 1, 1)",
         "error 42501"},
        {B, "o1",
         "INSERT INTO notes (id, owner, org, title, content, tags, visibility, version, "
         "created_at, updated_at) VALUES ('n_mine', 'https://issuer.example|bob', 'o1', "
         "'f', 'f', '[]', 'private', 1, 1, 1)",
         "1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        as_user(c, cases[i].user, cases[i].org, cases[i].sql, v, sizeof v);
        if (strcmp(v, cases[i].want) != 0)
            fail_msg("case %zu (%s as %s in %s): got %s, want %s", i, cases[i].sql, cases[i].user,
                     cases[i].org, v, cases[i].want);
    }
    /* moving one's own note to someone else: refused (by the trigger or the policy) */
    as_user(c, B, "o1",
            "UPDATE notes SET owner = 'https://issuer.example|alice' WHERE title = 'b1'", v,
            sizeof v);
    assert_true(strcmp(v, "error 42501") == 0 || strcmp(v, "error 23514") == 0);

    /* the settings end with their transaction (SET LOCAL), on the same connection */
    exec_ok(c, "BEGIN");
    exec_ok(c, "SELECT set_config('teamnotes.user', 'https://issuer.example|bob', true), "
               "set_config('teamnotes.org', 'o1', true)");
    value_of(c, "SELECT count(*) FROM notes", v, sizeof v);
    assert_string_equal(v, "3");
    exec_ok(c, "COMMIT");
    value_of(c, "SELECT count(*) FROM notes", v, sizeof v);
    assert_string_equal(v, "0");
    PQfinish(c);

    /* nothing above changed anything (each case ran in a rolled-back transaction) */
    struct coll l = {0};
    page_all(f->s, &bob, false, NULL, 100, &l);
    assert_int_equal(l.n, 2);
    coll_free(&l);
    /* the store's pooled connections carry no caller from one call to the next */
    page_all(f->s, &dave, false, NULL, 100, &l);
    assert_int_equal(l.n, 0);
    assert_int_equal(tn_store_note_search(f->s, &dave, "shared", 100, collect, &l), TN_OK);
    assert_int_equal(l.n, 0);
}

/* ---------- PostgreSQL only: the database restarts under running instances ---------- */

/* The directory scripts/pg-test-server made: TN_PG_DIR, or the parent of the server's
 * data directory. */
static void server_dir(char *out, size_t cap)
{
    const char *env = getenv("TN_PG_DIR");
    if (env && env[0]) {
        snprintf(out, cap, "%s", env);
        return;
    }
    PGresult *r = admin_q("SELECT current_setting('data_directory')", 0, NULL);
    snprintf(out, cap, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    char *slash = strrchr(out, '/');
    if (!slash || strcmp(slash, "/data") != 0)
        fail_msg("cannot tell how to restart the server (data directory %s); set TN_PG_DIR to "
                 "the directory scripts/pg-test-server printed",
                 out);
    *slash = '\0';
}

static void start_time(char *out, size_t cap)
{
    PGresult *r = admin_q("SELECT pg_postmaster_start_time()::text", 0, NULL);
    snprintf(out, cap, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
}

/* ---------- the server's plans ---------- */

/* The store's statements, to prepare them by hand as the server sees them. */
static const char *const stmt_sql[] = {
#define STMT_SQL(name, types, sql) sql,
    STMTS(STMT_SQL)
#undef STMT_SQL
};
static const char *const stmt_types[] = {
#define STMT_TYPES(name, types, sql) types,
    STMTS(STMT_TYPES)
#undef STMT_TYPES
};

/* The plan the server uses for statement `id` once it switches to the generic plan (after
 * five runs of a prepared statement, when it looks no dearer), as EXPLAIN prints it. */
static void generic_plan(PGconn *c, enum stmt_id id, const char *args, char *out, size_t cap)
{
    char sql[4096] = "PREPARE q(";
    for (const char *t = stmt_types[id]; *t; t++)
        snprintf(sql + strlen(sql), sizeof sql - strlen(sql), "%s%s",
                 t == stmt_types[id] ? "" : ",",
                 *t == 't'   ? "text"
                 : *t == 'i' ? "int8"
                 : *t == 'b' ? "bool"
                             : "bytea");
    snprintf(sql + strlen(sql), sizeof sql - strlen(sql), ") AS %s", stmt_sql[id]);
    exec_ok(c, "DEALLOCATE ALL");
    exec_ok(c, sql);
    snprintf(sql, sizeof sql, "EXPLAIN (COSTS OFF) EXECUTE q(%s)", args);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    out[0] = '\0';
    for (int i = 0; i < PQntuples(r); i++)
        snprintf(out + strlen(out), cap - strlen(out), "%s\n", PQgetvalue(r, i, 0));
    PQclear(r);
}

/* A page of notes reads the owner's (or the organization's) index in order and stops
 * after the page, also in the server's generic plan: with the tag filter written as
 * "($5 IS NULL OR tag_set @> ...)" in the one statement, that plan guessed one row,
 * read every note of the owner with a bitmap scan and sorted them (80 times slower for
 * an owner with 2,000 notes). With a tag, the tagged statement. */
static void test_list_generic_plan(void **state)
{
    struct fx *f = *state;
    char title[32], user[64], plan[4096];
    for (int u = 0; u < 20; u++) { /* statistics like a server's: many owners */
        snprintf(user, sizeof user, "https://issuer.example|u%d", u);
        struct tn_owner o = {user, "o1"};
        for (int i = 0; i < 30; i++) {
            snprintf(title, sizeof title, "n%d", i);
            add(f->s, &o, title, "text", i % 3 ? "[\"a\"]" : "[]", i % 2 ? "org" : "private");
        }
    }
    PGconn *c = conn_to(f->url);
    exec_ok(c, "ANALYZE notes");
    exec_ok(c, "SET plan_cache_mode = force_generic_plan");
    generic_plan(c, S_NOTE_LIST, "'https://issuer.example|u1', 'o1', 9223372036854775807, '', 20",
                 plan, sizeof plan);
    if (!strstr(plan, "Index Scan using notes_owner") || strstr(plan, "Sort") ||
        strstr(plan, "Bitmap"))
        fail_msg("NOTE_LIST:\n%s", plan);
    generic_plan(c, S_NOTE_LIST_TEAM, "'o1', 9223372036854775807, '', 20", plan, sizeof plan);
    if (!strstr(plan, "Index Scan using notes_shared") || strstr(plan, "Sort") ||
        strstr(plan, "Bitmap"))
        fail_msg("NOTE_LIST_TEAM:\n%s", plan);
    PQfinish(c);
    /* and the pages themselves: untagged and tagged, own and shared */
    struct tn_owner u1 = {"https://issuer.example|u1", "o1"};
    struct coll all = {0}, tagged = {0}, team = {0}, team_tagged = {0};
    page_all(f->s, &u1, false, NULL, 7, &all);
    page_all(f->s, &u1, false, "a", 7, &tagged);
    page_all(f->s, &u1, true, NULL, 7, &team);
    page_all(f->s, &u1, true, "a", 7, &team_tagged);
    assert_int_equal(all.n, 30);
    assert_int_equal(tagged.n, 20);
    assert_int_equal(team.n, 20 * 15);
    assert_int_equal(team_tagged.n, 20 * 10);
    coll_free(&all);
    coll_free(&tagged);
    coll_free(&team);
    coll_free(&team_tagged);
}

/* The plan of a page as the server runs it: as the teamnotes role (row-level security
 * on), after NOTE_AS_PAGE in the same transaction, for owners who share nothing (no
 * organization, private notes: bench/run's users). The select policy's OR (own notes,
 * or shared ones) made the planner guess one row for each branch, so both the custom
 * and the generic plan read every note of the owner with a bitmap scan of
 * notes_owner and notes_shared and sorted them; after NOTE_AS_PAGE a page reads
 * notes_owner in order and stops after the page. */
static void test_page_plan_as_caller(void **state)
{
    struct fx *f = *state;
    char title[32], user[64], plan[4096];
    for (int u = 0; u < 20; u++) {
        snprintf(user, sizeof user, "https://issuer.example|p%d", u);
        struct tn_owner o = {user, ""};
        for (int i = 0; i < 25; i++) {
            snprintf(title, sizeof title, "n%d", i);
            add(f->s, &o, title, "text", "[\"seed\"]", "private");
        }
    }
    PGconn *c = conn_to(f->url);
    exec_ok(c, "ANALYZE notes");
    static const char *const modes[] = {"SET LOCAL plan_cache_mode = force_custom_plan",
                                        "SET LOCAL plan_cache_mode = force_generic_plan"};
    static const struct {
        enum stmt_id id;
        const char *args, *index;
    } pages[] = {
        {S_NOTE_LIST, "'https://issuer.example|p1', '', 9223372036854775807, '', 20",
         "notes_owner"},
        {S_NOTE_LIST_TAG, "'https://issuer.example|p1', '', 9223372036854775807, '', 'seed', 20",
         "notes_owner"},
        {S_NOTE_LIST_TEAM, "'o1', 9223372036854775807, '', 20", "notes_shared"},
        {S_NOTE_LIST_TEAM_TAG, "'o1', 9223372036854775807, '', 'seed', 20", "notes_shared"},
    };
    char bad[4200] = "";
    for (size_t m = 0; m < 2 && !bad[0]; m++)
        for (size_t i = 0; i < sizeof pages / sizeof pages[0] && !bad[0]; i++) {
            exec_ok(c, "BEGIN");
            const char *const who[2] = {"https://issuer.example|p1", ""};
            PGresult *r = PQexecParams(c, stmt_sql[S_NOTE_AS_PAGE], 2, NULL, who, NULL, NULL, 0);
            if (PQresultStatus(r) != PGRES_TUPLES_OK)
                snprintf(bad, sizeof bad, "NOTE_AS_PAGE: %s", PQresultErrorMessage(r));
            PQclear(r);
            if (!bad[0]) {
                exec_ok(c, modes[m]);
                generic_plan(c, pages[i].id, pages[i].args, plan, sizeof plan);
                char want[64];
                snprintf(want, sizeof want, "Index Scan using %s", pages[i].index);
                if (!strstr(plan, want) || strstr(plan, "Sort") || strstr(plan, "Bitmap"))
                    snprintf(bad, sizeof bad, "page %zu (%s):\n%s", i, modes[m], plan);
            }
            exec_ok(c, "ROLLBACK");
        }
    if (bad[0]) {
        PQfinish(c); /* not left in a transaction that the teardown would wait for */
        fail_msg("%s", bad);
    }
    /* the setting ends with the page's transaction */
    PGresult *r = PQexec(c, "SHOW enable_bitmapscan");
    assert_string_equal(PQgetvalue(r, 0, 0), "on");
    PQclear(r);
    PQfinish(c);
    /* and the pages: all 25 notes, newest first, in pages of 7 */
    struct tn_owner p1 = {"https://issuer.example|p1", ""};
    struct coll all = {0};
    page_all(f->s, &p1, false, NULL, 7, &all);
    assert_int_equal(all.n, 25);
    coll_free(&all);
}

/* notes_fold (0010: PL/pgSQL, ASCII returned as it is) folds exactly as before: the
 * translate() of migration 0002 for every text, and ASCII unchanged. */
static void test_fold_same(void **state)
{
    struct fx *f = *state;
    PGconn *c = conn_to(f->url);
    static const char *const texts[] = {"",
                                        "plain ascii, Mixed Case 123 -- *",
                                        "crème brûlée",
                                        "ÀÉÎÕÜ àéîõü ǰ ẖ ỹ Ÿ",
                                        "日本語のテキスト",
                                        "a\u0301 (a combining mark stays)",
                                        "ß æ ø ł đ (not in the table)",
                                        "tab\there\nnewline"};
    char sql[1024], got[512], want[512];
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        snprintf(sql, sizeof sql, "SELECT notes_fold('%s')", texts[i]);
        value_of(c, sql, got, sizeof got);
        snprintf(sql, sizeof sql,
                 "SELECT translate('%s', 'ÀÉÎÕÜàéîõüǰẖỹŸèûßæøłđ', 'AEIOUaeioujhyYeu' || "
                 "'ßæøłđ')",
                 texts[i]);
        value_of(c, sql, want, sizeof want);
        assert_string_equal(got, want);
    }
    value_of(c, "SELECT notes_fold('Crème Brûlée, ǰ')", got, sizeof got);
    assert_string_equal(got, "Creme Brulee, j");
    /* a search finds the folded and the unfolded spelling both ways */
    PQfinish(c);
    add(f->s, &alice, "Crème brûlée", "dessert", "[]", "private");
    add(f->s, &alice, "plain creme", "brulee too", "[]", "private");
    int seen = 0;
    assert_int_equal(tn_store_note_search(f->s, &alice, "créme", 10, noop_cb, &seen), TN_OK);
    assert_int_equal(seen, 2);
    seen = 0;
    assert_int_equal(tn_store_note_search(f->s, &alice, "brulee", 10, noop_cb, &seen), TN_OK);
    assert_int_equal(seen, 2);
}

/* A write whose connection is lost. Before its COMMIT was sent (the server ends the
 * session inside the INSERT, which goes in one pipeline with BEGIN and the caller)
 * nothing was committed: the call reconnects and runs again, once. At the COMMIT (a
 * deferred trigger ends the session while it commits) it may have committed: the call
 * fails with TN_ERR_IO and is not run again. Sequences count the attempts (nextval is
 * not rolled back). */
static void test_write_lost(void **state)
{
    struct fx *f = *state;
    PGconn *c = conn_to(f->url);
    exec_ok(c, "CREATE SEQUENCE tries");
    exec_ok(c, "CREATE SEQUENCE commits");
    exec_ok(c, "CREATE FUNCTION die_once() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
               "IF nextval('tries') = 1 THEN PERFORM pg_terminate_backend(pg_backend_pid()); "
               "END IF; RETURN NEW; END $$");
    exec_ok(c, "CREATE TRIGGER die_once BEFORE INSERT ON notes FOR EACH ROW "
               "WHEN (NEW.title = 'die once') EXECUTE FUNCTION die_once()");
    exec_ok(c, "CREATE FUNCTION die_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
               "PERFORM nextval('commits'); PERFORM pg_terminate_backend(pg_backend_pid()); "
               "RETURN NULL; END $$");
    exec_ok(c, "CREATE CONSTRAINT TRIGGER die_at_commit AFTER INSERT ON notes "
               "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
               "WHEN (NEW.title = 'die at commit') EXECUTE FUNCTION die_at_commit()");
    char v[64];

    struct tn_note once = add(f->s, &alice, "die once", "lost before its COMMIT", "[]", "private");
    value_of(c, "SELECT last_value FROM tries", v, sizeof v);
    assert_string_equal(v, "2"); /* run twice: lost, then again on a new connection */
    struct tn_note got;
    assert_int_equal(tn_store_note_get(f->s, &alice, once.id, &got), TN_OK);
    assert_string_equal(got.title, "die once");
    tn_note_deinit(&got);

    struct tn_note lost = mk("die at commit", "lost at its COMMIT", "[]", "private");
    assert_int_equal(tn_store_note_insert(f->s, &alice, &lost), TN_ERR_IO);
    value_of(c, "SELECT last_value FROM commits", v, sizeof v);
    assert_string_equal(v, "1"); /* not run again */
    assert_int_equal(tn_store_note_get(f->s, &alice, lost.id, &got), TN_ERR_NOT_FOUND);

    /* the pool goes on: a write after both */
    add(f->s, &alice, "after", "a write after the losses", "[]", "private");
    struct coll all = {0};
    page_all(f->s, &alice, false, NULL, 10, &all);
    assert_int_equal(all.n, 2); /* "die once" once, and "after" */
    coll_free(&all);
    PQfinish(c);
}

/* The owners whose notes changed, as the change feed hears them (after a write
 * committed), "a;b;" in order; waits up to a second for at least `want`. */
static void heard(PGconn *c, int want, char *out, size_t cap)
{
    out[0] = '\0';
    int n = 0;
    for (int i = 0; i < 100; i++) {
        PQconsumeInput(c);
        PGnotify *m;
        while ((m = PQnotifies(c))) {
            if (strcmp(m->relname, "teamnotes_notes") == 0) {
                snprintf(out + strlen(out), cap - strlen(out), "%s;", m->extra);
                n++;
            }
            PQfreemem(m);
        }
        if (n >= want)
            break;
        usleep(10000);
    }
}

/* Every note write is announced on teamnotes_notes with its owner, once it committed
 * (insert, update, delete, import), and nothing for a write that changed nothing (a
 * stale version, another's note, an import of notes already there). */
static void test_writes_announced(void **state)
{
    struct fx *f = *state;
    PGconn *c = conn_to(f->url);
    exec_ok(c, "LISTEN teamnotes_notes");
    char got[1024];
    struct tn_note n = add(f->s, &alice, "a", "announced", "[]", "private");
    heard(c, 1, got, sizeof got);
    assert_string_equal(got, "https://issuer.example|alice;");

    struct tn_note out;
    memset(&out, 0, sizeof out);
    assert_int_equal(tn_store_note_update(f->s, &alice, n.id, 1, "b", NULL, NULL, NULL, &out),
                     TN_OK);
    tn_note_deinit(&out);
    assert_int_equal(tn_store_note_update(f->s, &alice, n.id, 1, "c", NULL, NULL, NULL, &out),
                     TN_ERR_CONFLICT);
    tn_note_deinit(&out);
    assert_int_equal(tn_store_note_update(f->s, &bob, n.id, 2, "d", NULL, NULL, NULL, &out),
                     TN_ERR_NOT_FOUND);
    tn_note_deinit(&out);
    assert_int_equal(tn_store_note_delete(f->s, &bob, n.id, 0), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_note_delete(f->s, &alice, n.id, 0), TN_OK);
    heard(c, 2, got, sizeof got);
    assert_string_equal(got, "https://issuer.example|alice;https://issuer.example|alice;");

    struct tn_note_import imp[2] = {
        {.owner = bob, .source_id = "s1", .content = "imported one", .created_at = 5},
        {.owner = carol, .source_id = "s2", .content = "imported two", .created_at = 6}};
    size_t added = 0, bad = 0;
    assert_int_equal(tn_store_note_import(f->s, imp, 2, &added, &bad), TN_OK);
    assert_int_equal(added, 2);
    heard(c, 2, got, sizeof got);
    assert_string_equal(got, "https://issuer.example|bob;https://issuer.example|carol;");
    /* the same import again adds nothing and announces nothing */
    assert_int_equal(tn_store_note_import(f->s, imp, 2, &added, &bad), TN_OK);
    assert_int_equal(added, 0);
    add(f->s, &dave, "last", "a marker", "[]", "private");
    heard(c, 1, got, sizeof got);
    assert_string_equal(got, "https://issuer.example|dave;");
    PQfinish(c);
}

static void restart_server(void)
{
    char dir[512], script[600], cmd[1400], before[64], after[64];
    server_dir(dir, sizeof dir);
    source_path("scripts/pg-test-server", script, sizeof script);
    start_time(before, sizeof before);
    snprintf(cmd, sizeof cmd, "'%s' restart '%s'", script, dir);
    if (system(cmd) != 0)
        fail_msg("%s failed", cmd);
    start_time(after, sizeof after);
    assert_string_not_equal(before, after); /* it really restarted */
}

/* Threads other than the test's own must not assert (cmocka longjmps); they count. */
struct caller {
    struct tn_store *s;
    int index;
    int calls, ok;
    enum tn_err first_error;
};

/* A mix of reads and writes, notes and the rest: every kind of call. */
static void *call_everything(void *arg)
{
    struct caller *w = arg;
    for (int i = 0; i < 5; i++) {
        enum tn_err e[6];
        struct tn_note n = mk("t", "after restart", "[\"r\"]", "org"), got;
        struct tn_user u;
        int seen = 0;
        struct tn_note_page p = {.after_id = "", .limit = 10};
        e[0] = tn_store_note_insert(w->s, &alice, &n);
        e[1] = tn_store_note_get(w->s, &bob, n.id, &got);
        tn_note_deinit(&got);
        e[2] = tn_store_note_list_team(w->s, &bob, &p, noop_cb, &seen);
        e[3] = tn_store_note_search(w->s, &alice, "restart", 5, noop_cb, &seen);
        e[4] = tn_store_user_get(w->s, "u1", &u);
        e[5] = tn_store_client_touch(w->s, "c1", 100 + w->index);
        for (int j = 0; j < 6; j++) {
            w->calls++;
            if (e[j] == TN_OK)
                w->ok++;
            else if (w->first_error == TN_OK)
                w->first_error = e[j];
        }
    }
    return NULL;
}

/* THREADS callers, half on each instance; every call must succeed. */
static void call_from_threads(struct tn_store *a, struct tn_store *b, const char *when)
{
    pthread_t th[THREADS];
    struct caller ws[THREADS];
    for (int i = 0; i < THREADS; i++) {
        ws[i] = (struct caller){.s = i % 2 ? b : a, .index = i};
        assert_int_equal(pthread_create(&th[i], NULL, call_everything, &ws[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < THREADS; i++)
        if (ws[i].ok != ws[i].calls)
            fail_msg("%s: caller %d: %d of %d calls failed, the first with %s", when, i,
                     ws[i].calls - ws[i].ok, ws[i].calls, tn_err_name(ws[i].first_error));
}

static void test_restart(void **state)
{
    struct fx *f = *state;
    struct tn_store *other = open_url(f->url);
    base_grant(f->s);
    /* fill both pools with connections */
    call_from_threads(f->s, other, "before the restart");

    restart_server();

    /* every pooled connection is now dead; each call finds out, reconnects and succeeds:
     * single calls first, of each kind, then everything at once */
    struct tn_user u;
    assert_int_equal(tn_store_user_get(f->s, "u1", &u), TN_OK);
    assert_int_equal(tn_store_client_touch(other, "c1", 7), TN_OK);
    struct tn_note n =
        add(f->s, &alice, "first", "the first write after the restart", "[]", "private");
    struct tn_note got;
    assert_int_equal(tn_store_note_get(other, &alice, n.id, &got), TN_OK);
    tn_note_deinit(&got);
    call_from_threads(f->s, other, "after the restart");

    /* and again, a notes read first on each instance: a read is one pipeline (the caller
     * and the statement), which must find the dead connection, reconnect and run again */
    restart_server();
    assert_int_equal(tn_store_note_get(f->s, &alice, n.id, &got), TN_OK);
    assert_string_equal(got.title, "first");
    tn_note_deinit(&got);
    assert_int_equal(tn_store_note_get(other, &alice, n.id, &got), TN_OK);
    tn_note_deinit(&got);
    call_from_threads(f->s, other, "after the second restart");

    /* nothing lost or doubled: 3 rounds of THREADS x 5 notes, plus "first" */
    struct coll c = {0};
    page_all(f->s, &alice, false, NULL, 100, &c);
    assert_int_equal(c.n, 3 * THREADS * 5 + 1);
    coll_free(&c);
    tn_store_close(other);
}

/* The audit log is append-only below the API too, even for the store's own role, and no
 * column could hold note text. */
struct audit_rows {
    struct tn_audit v[300];
    size_t n;
};

static void keep_audit(const struct tn_audit *a, void *ud)
{
    struct audit_rows *w = ud;
    if (w->n < sizeof w->v / sizeof w->v[0])
        w->v[w->n++] = *a;
}

/* A batch goes in one COPY in binary format: every byte of every field arrives as it
 * was (the characters COPY's text format would escape, quotes, long and empty fields,
 * UTF-8), a batch of more rows than a pipeline held before included; text that is not
 * UTF-8 fails the batch with TN_ERR_BAD_INPUT, as an INSERT of it did. */
static void test_audit_batch_bytes(void **state)
{
    struct fx *f = *state;
    static const char *const odd[] = {"tab\there", "line\nbreak\r\n", "back\\slash\\N",
                                      "\\.",       "quote'\"",        "",
                                      "grüße ☃ 𝄞", "PGCOPY\n\377"};
    enum { N = 200 };
    static struct tn_audit v[N];
    for (int i = 0; i < N; i++) {
        v[i] = audit(5000 + i, "notes_update", "n_x", "ok");
        snprintf(v[i].user, sizeof v[i].user, "%s|u%d", odd[i % 8], i);
        snprintf(v[i].org, sizeof v[i].org, "%s", odd[(i + 1) % 8]);
        snprintf(v[i].client_id, sizeof v[i].client_id, "%s", odd[(i + 2) % 8]);
        snprintf(v[i].note_id, sizeof v[i].note_id, "%s", odd[(i + 3) % 8]);
        snprintf(v[i].detail, sizeof v[i].detail, "%s", odd[(i + 4) % 8]);
    }
    memset(v[7].detail, 'd', sizeof v[7].detail - 1); /* the longest field there is */
    v[7].detail[sizeof v[7].detail - 1] = '\0';
    v[8].at = INT64_MAX;
    /* "PGCOPY\n\377" is not UTF-8: that batch is refused whole, like its INSERTs were */
    assert_int_equal(f->s->ops->audit_insert(f->s, v, N, true), TN_ERR_BAD_INPUT);
    for (int i = 0; i < N; i++)
        if (i % 8 == 7 || (i + 1) % 8 == 7 || (i + 2) % 8 == 7 || (i + 3) % 8 == 7 ||
            (i + 4) % 8 == 7)
            snprintf(v[i].tool, sizeof v[i].tool, "skip");
    size_t n = 0;
    static struct tn_audit ok[N];
    for (int i = 0; i < N; i++)
        if (strcmp(v[i].tool, "skip") != 0)
            ok[n++] = v[i];
    ok[n++] = v[7]; /* the long detail, with its odd fields made plain */
    snprintf(ok[n - 1].user, sizeof ok[n - 1].user, "long");
    snprintf(ok[n - 1].org, sizeof ok[n - 1].org, "o");
    snprintf(ok[n - 1].client_id, sizeof ok[n - 1].client_id, "c");
    snprintf(ok[n - 1].note_id, sizeof ok[n - 1].note_id, "n");
    snprintf(ok[n - 1].tool, sizeof ok[n - 1].tool, "notes_update");
    assert_true(n > 64); /* more than a pipeline of INSERTs held before */
    assert_int_equal(f->s->ops->audit_insert(f->s, ok, n, false), TN_OK);
    static struct audit_rows w;
    w.n = 0;
    assert_int_equal(tn_store_audit_list(f->s, 1000, keep_audit, &w), TN_OK);
    assert_int_equal(w.n, n);
    /* newest first: ok[] is in the order of `at`, except the long one (at 5007) */
    for (size_t i = 0; i < n; i++) {
        const struct tn_audit *want = NULL;
        for (size_t j = 0; j < n && !want; j++)
            if (ok[j].at == w.v[i].at)
                want = &ok[j];
        assert_non_null(want);
        assert_string_equal(w.v[i].user, want->user);
        assert_string_equal(w.v[i].org, want->org);
        assert_string_equal(w.v[i].client_id, want->client_id);
        assert_string_equal(w.v[i].tool, want->tool);
        assert_string_equal(w.v[i].note_id, want->note_id);
        assert_string_equal(w.v[i].outcome, want->outcome);
        assert_string_equal(w.v[i].detail, want->detail);
    }
    assert_int_equal(w.v[0].at, INT64_MAX);
}

static void test_audit_append_only(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i < 2; i++) { /* rows for the row-level triggers to refuse */
        struct tn_audit a = audit(1000 + i, "notes_update", "n_x", "denied");
        assert_int_equal(tn_store_audit_insert(f->s, &a), TN_OK);
    }
    assert_int_equal(tn_store_audit_flush(f->s), TN_OK); /* the batch is in the table */
    PGconn *c = conn_to(f->url);
    static const char *const writes[] = {"UPDATE audit SET outcome = 'ok'", "DELETE FROM audit",
                                         "TRUNCATE audit"};
    for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++) {
        PGresult *r = PQexec(c, writes[i]);
        if (PQresultStatus(r) != PGRES_FATAL_ERROR ||
            !strstr(PQresultErrorMessage(r), "append-only"))
            fail_msg("allowed: %s", writes[i]);
        PQclear(r);
    }
    char cols[256];
    value_of(c,
             "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM "
             "information_schema.columns WHERE table_schema = current_schema() "
             "AND table_name = 'audit'",
             cols, sizeof cols);
    assert_string_equal(cols, "seq,at,user_key,org,client_id,tool,note_id,outcome,detail");
    PQfinish(c);
}

int main(void)
{
    const char *url = getenv("DATABASE_URL");
    if (!url || !url[0]) {
        printf("# test_pg_store: DATABASE_URL is not set, so the PostgreSQL store tests are "
               "skipped; start a server with scripts/pg-test-server and export what it "
               "prints\n");
        return 0;
    }
    if (tn_util_init() != TN_OK || !pg_fixture_connect(url))
        return 1;
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_open_layout),       T(test_open_errors),
        T(test_rls_off_refused),   T(test_migrations_raced),
        T(test_upgrade_from_v1),   T(test_schema_guards),
        T(test_audit_append_only), T(test_search_operators_inert),
        T(test_two_instances),     T(test_rls_enforced),
        T(test_restart),           T(test_list_generic_plan),
        T(test_fold_same),         T(test_write_lost),
        T(test_writes_announced),  T(test_page_plan_as_caller),
        T(test_audit_batch_bytes),
#undef T
    };
    tn_log_setup(TN_LOG_WARN, false); /* no "migration applied" line per test */
    int rc = cmocka_run_group_tests_name("pg_store", tests, NULL, NULL);
    pg_fixture_disconnect();
    return rc;
}
