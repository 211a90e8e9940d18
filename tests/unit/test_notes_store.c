/* The notes section of the store on either backend (PostgreSQL when TN_TEST_DATABASE_URL
 * is set, else SQLite): every function with its exact error codes, isolation between
 * users and organizations, optimistic concurrency, pagination, tags, full-text search with
 * hostile input, the audit log, and a randomized run checked against an in-memory model.
 * Each test gets a fresh temporary data directory, or on PostgreSQL a fresh schema. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "store/store.h"

#define STORE_FIXTURE_DIR "/tmp/tn_notes_XXXXXX"
#include "store_fixture.h"

/* A direct connection to the database file, for checks below the store's API. */
static sqlite3 *raw_db(struct fx *f)
{
    char file[200];
    snprintf(file, sizeof file, "%s/teamnotes.db", f->data);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(file, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

/* ---------- owners ---------- */

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

static void test_insert_get(void **state)
{
    struct fx *f = *state;
    int64_t before = tn_time_now_ms();
    struct tn_note n = mk("Groceries", "milk, eggs", "[\"home\", \"list\"]", "");
    assert_int_equal(tn_store_note_insert(f->s, &alice, &n), TN_OK);
    int64_t after = tn_time_now_ms();
    /* the store filled in the rest */
    assert_int_equal(strlen(n.id), 24);
    assert_memory_equal(n.id, "n_", 2);
    /* the id starts with the creation time (so that ids of one moment sit together in
     * the id index), then random bytes */
    uint8_t raw[16];
    size_t raw_len = 0;
    assert_int_equal(tn_b64url_decode(raw, sizeof raw, &raw_len, n.id + 2, 22), TN_OK);
    assert_int_equal(raw_len, 16);
    int64_t id_ms = 0;
    for (int i = 0; i < 6; i++)
        id_ms = id_ms << 8 | raw[i];
    assert_int_equal(id_ms, n.created_at);
    assert_string_equal(n.owner, alice.user);
    assert_string_equal(n.org, "o1");
    assert_string_equal(n.visibility, "private"); /* the default never shares */
    assert_int_equal(n.version, 1);
    assert_true(n.created_at >= before && n.created_at <= after);
    assert_int_equal(n.updated_at, n.created_at);
    assert_string_equal(n.content, "milk, eggs");

    struct tn_note got;
    assert_int_equal(tn_store_note_get(f->s, &alice, n.id, &got), TN_OK);
    assert_string_equal(got.id, n.id);
    assert_string_equal(got.owner, alice.user);
    assert_string_equal(got.org, "o1");
    assert_string_equal(got.title, "Groceries");
    assert_string_equal(got.content, "milk, eggs");
    assert_string_equal(got.tags, "[\"home\", \"list\"]"); /* as given, spacing and all */
    assert_string_equal(got.visibility, "private");
    assert_int_equal(got.version, 1);
    assert_int_equal(got.created_at, n.created_at);
    assert_int_equal(got.updated_at, n.updated_at);
    assert_string_equal(got.snippet, "");
    assert_ptr_not_equal(got.content, n.content); /* the store's own copy */
    tn_note_deinit(&got);
    assert_null(got.content);
    tn_note_deinit(&got); /* twice is harmless */
    tn_note_deinit(NULL);

    /* empty tags mean none; ids are unique */
    struct tn_note m = add(f->s, &alice, "", "x", "", "org");
    assert_string_equal(m.tags, "[]");
    assert_string_equal(m.visibility, "org");
    assert_string_not_equal(m.id, n.id);

    /* durable: there after a reopen */
    tn_store_close(f->s);
    f->s = reopen(f);
    assert_int_equal(tn_store_note_get(f->s, &alice, n.id, &got), TN_OK);
    assert_string_equal(got.content, "milk, eggs");
    tn_note_deinit(&got);
    struct coll c = {0};
    assert_int_equal(tn_store_note_search(f->s, &alice, "eggs", 10, collect, &c), TN_OK);
    assert_int_equal(c.n, 1);
    coll_free(&c);

    /* unknown or malformed ids: not found, and *out reset */
    memset(&got, 0x5a, sizeof got);
    assert_int_equal(tn_store_note_get(f->s, &alice, "n_AAAAAAAAAAAAAAAAAAAAAA", &got),
                     TN_ERR_NOT_FOUND);
    assert_null(got.content);
    assert_string_equal(got.id, "");
    assert_int_equal(tn_store_note_get(f->s, &alice, "", &got), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_note_get(f->s, &alice, "' OR 1=1 --", &got), TN_ERR_NOT_FOUND);
}

/* ---------- validation, table-driven ---------- */

static char *repeat(const char *unit, size_t times)
{
    size_t n = strlen(unit);
    char *p = malloc(n * times + 1);
    assert_non_null(p);
    for (size_t i = 0; i < times; i++)
        memcpy(p + i * n, unit, n);
    p[n * times] = '\0';
    return p;
}

/* A JSON array of `count` copies of a tag built from `unit` repeated `len` times. */
static void tags_of(char *out, size_t cap, size_t count, const char *unit, size_t len)
{
    char *tag = repeat(unit, len);
    size_t used = snprintf(out, cap, "[");
    for (size_t i = 0; i < count; i++)
        used += snprintf(out + used, cap - used, "%s\"%s\"", i ? "," : "", tag);
    snprintf(out + used, cap - used, "]");
    free(tag);
}

static int64_t count_own(struct tn_store *s, const struct tn_owner *o)
{
    struct coll c = {0};
    page_all(s, o, false, NULL, 100, &c);
    int64_t n = (int64_t)c.n;
    coll_free(&c);
    return n;
}

static void test_insert_validation(void **state)
{
    struct fx *f = *state;
    char *c64k = repeat("a", TN_NOTE_MAX_CONTENT);
    char *c64k1 = repeat("a", TN_NOTE_MAX_CONTENT + 1);
    char *c65k = repeat("a", 65 * 1024);
    char *t200 = repeat("\xf0\x9f\x98\x80", 200); /* 200 code points, 800 bytes */
    char *t201 = repeat("a", 201);
    char tags16[4096], tags17[4096], tag32[4096], tag33[4096], tags16x32[4096];
    tags_of(tags16, sizeof tags16, 16, "t", 1);
    tags_of(tags17, sizeof tags17, 17, "t", 1);
    tags_of(tag32, sizeof tag32, 1, "\xc3\xa9", 32);
    tags_of(tag33, sizeof tag33, 1, "a", 33);
    tags_of(tags16x32, sizeof tags16x32, 16, "\xf0\x9f\x98\x80", 32); /* the largest */
    struct tn_owner no_user = {"", "o1"}, null_user = {NULL, "o1"}, null_org = {"u", NULL};
    char long_user[600], long_org[200];
    memset(long_user, 'u', 512);
    long_user[512] = '\0';
    memset(long_org, 'o', 128);
    long_org[128] = '\0';
    struct tn_owner big_user = {long_user, "o1"}, big_org = {"u", long_org};
    char max_user[600], max_org[200];
    memset(max_user, 'u', 511);
    max_user[511] = '\0';
    memset(max_org, 'o', 127);
    max_org[127] = '\0';
    struct tn_owner max_owner = {max_user, max_org};

    static const struct tn_owner *const A = &alice;
    const struct {
        const struct tn_owner *o;
        const char *title, *content, *tags, *vis;
        enum tn_err want;
    } cases[] = {
        {A, "t", "c", "[]", "private", TN_OK},
        {A, "t", c64k, "[]", "private", TN_OK},
        {A, "t", c64k1, "[]", "private", TN_ERR_BAD_INPUT},
        {A, "t", c65k, "[]", "private", TN_ERR_BAD_INPUT},
        {A, "t", "", "[]", "private", TN_ERR_BAD_INPUT},
        {A, "t", NULL, "[]", "private", TN_ERR_BAD_INPUT},
        /* invalid UTF-8: a stray byte, an overlong NUL, a surrogate, a cut sequence,
         * an overlong slash, beyond U+10FFFF */
        {A, "t", "ok \xff", "[]", "private", TN_ERR_BAD_INPUT},
        {A, "t",
         "a\xc0\x80"
         "b",
         "[]", "private", TN_ERR_BAD_INPUT},
        {A, "t", "\xed\xa0\x80", "[]", "private", TN_ERR_BAD_INPUT},
        {A, "t", "cut \xe2\x82", "[]", "private", TN_ERR_BAD_INPUT},
        {A, "t", "\xe0\x80\xaf", "[]", "private", TN_ERR_BAD_INPUT},
        {A, "t", "\xf4\x90\x80\x80", "[]", "private", TN_ERR_BAD_INPUT},
        {A, "\xff", "c", "[]", "private", TN_ERR_BAD_INPUT},
        {A, "t", "caf\xc3\xa9 \xf0\x9f\x98\x80", "[]", "private", TN_OK},
        {A, t200, "c", "[]", "private", TN_OK},
        {A, t201, "c", "[]", "private", TN_ERR_BAD_INPUT},
        {A, "", "c", "[]", "private", TN_OK},
        /* tags */
        {A, "t", "c", tags16, "private", TN_OK},
        {A, "t", "c", tags17, "private", TN_ERR_BAD_INPUT},
        {A, "t", "c", tag32, "private", TN_OK},
        {A, "t", "c", tag33, "private", TN_ERR_BAD_INPUT},
        {A, "t", "c", tags16x32, "private", TN_OK},
        {A, "t", "c", "[\"\"]", "private", TN_ERR_BAD_INPUT},
        {A, "t", "c", "[\"a\", 1]", "private", TN_ERR_BAD_INPUT},
        {A, "t", "c", "[[\"a\"]]", "private", TN_ERR_BAD_INPUT},
        {A, "t", "c", "{\"a\": \"b\"}", "private", TN_ERR_BAD_INPUT},
        {A, "t", "c", "\"a\"", "private", TN_ERR_BAD_INPUT},
        {A, "t", "c", "[\"a\"", "private", TN_ERR_BAD_INPUT},
        {A, "t", "c", "[\"a\"] x", "private", TN_ERR_BAD_INPUT},
        {A, "t", "c", "[\"a\\u0000b\"]", "private", TN_ERR_BAD_INPUT},
        {A, "t", "c", "[\"\xff\"]", "private", TN_ERR_BAD_INPUT},
        {A, "t", "c", "[\"a\",\"a\"]", "private", TN_OK}, /* a repeat is the same tag */
        /* visibility */
        {A, "t", "c", "[]", "org", TN_OK},
        {A, "t", "c", "[]", "public", TN_ERR_BAD_INPUT},
        {A, "t", "c", "[]", "ORG", TN_ERR_BAD_INPUT},
        {&dave, "t", "c", "[]", "org", TN_ERR_BAD_INPUT}, /* nobody to share with */
        {&dave, "t", "c", "[]", "private", TN_OK},
        /* owners */
        {NULL, "t", "c", "[]", "private", TN_ERR_BAD_INPUT},
        {&no_user, "t", "c", "[]", "private", TN_ERR_BAD_INPUT},
        {&null_user, "t", "c", "[]", "private", TN_ERR_BAD_INPUT},
        {&null_org, "t", "c", "[]", "private", TN_ERR_BAD_INPUT},
        {&big_user, "t", "c", "[]", "private", TN_ERR_BAD_INPUT},
        {&big_org, "t", "c", "[]", "private", TN_ERR_BAD_INPUT},
        {&max_owner, "t", "c", "[]", "org", TN_OK},
    };
    int64_t stored = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct tn_note n = mk(cases[i].title, cases[i].content, cases[i].tags, cases[i].vis);
        enum tn_err e = tn_store_note_insert(f->s, cases[i].o, &n);
        if (e != cases[i].want)
            fail_msg("case %zu: got %s, want %s", i, tn_err_name(e), tn_err_name(cases[i].want));
        if (e == TN_OK) {
            struct tn_note got;
            assert_int_equal(tn_store_note_get(f->s, cases[i].o, n.id, &got), TN_OK);
            assert_string_equal(got.content, cases[i].content);
            assert_string_equal(got.title, cases[i].title);
            assert_string_equal(got.tags, cases[i].tags);
            tn_note_deinit(&got);
            if (cases[i].o == A)
                stored++;
        } else {
            assert_string_equal(n.id, ""); /* nothing filled in on failure */
        }
    }
    /* a failed insert stored nothing */
    assert_int_equal(count_own(f->s, &alice), stored);

    /* NULL arguments; a field that overruns its array */
    struct tn_note n = mk("t", "c", "[]", "private");
    assert_int_equal(tn_store_note_insert(NULL, &alice, &n), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_insert(f->s, &alice, NULL), TN_ERR_BAD_INPUT);
    memset(n.title, 'x', sizeof n.title);
    assert_int_equal(tn_store_note_insert(f->s, &alice, &n), TN_ERR_BAD_INPUT);
    n = mk("t", "c", "[]", "private");
    memset(n.tags, '[', sizeof n.tags);
    assert_int_equal(tn_store_note_insert(f->s, &alice, &n), TN_ERR_BAD_INPUT);
    n = mk("t", "c", "[]", "private");
    memset(n.visibility, 'p', sizeof n.visibility);
    assert_int_equal(tn_store_note_insert(f->s, &alice, &n), TN_ERR_BAD_INPUT);
    assert_int_equal(count_own(f->s, &alice), stored);

    free(c64k);
    free(c64k1);
    free(c65k);
    free(t200);
    free(t201);
}

static void noop_cb(const struct tn_note *n, void *ud) { (*(int *)ud)++; }

static void test_argument_errors(void **state)
{
    struct fx *f = *state;
    struct tn_note n = add(f->s, &alice, "t", "c", "[]", "private");
    struct tn_note out;
    int calls = 0;
    /* get */
    assert_int_equal(tn_store_note_get(NULL, &alice, n.id, &out), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_get(f->s, NULL, n.id, &out), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_get(f->s, &alice, NULL, &out), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_get(f->s, &alice, n.id, NULL), TN_ERR_BAD_INPUT);
    /* update */
    assert_int_equal(tn_store_note_update(f->s, &alice, n.id, 0, "x", NULL, NULL, NULL, NULL),
                     TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_update(f->s, &alice, n.id, -1, "x", NULL, NULL, NULL, NULL),
                     TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_update(f->s, &alice, n.id, 1, NULL, NULL, NULL, NULL, NULL),
                     TN_ERR_BAD_INPUT); /* nothing to change */
    assert_int_equal(tn_store_note_update(f->s, &alice, NULL, 1, "x", NULL, NULL, NULL, NULL),
                     TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_update(f->s, NULL, n.id, 1, "x", NULL, NULL, NULL, NULL),
                     TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_update(f->s, &alice, n.id, 1, NULL, "", NULL, NULL, NULL),
                     TN_ERR_BAD_INPUT);
    assert_int_equal(
        tn_store_note_update(f->s, &alice, n.id, 1, NULL, "\xc0\x80", NULL, NULL, NULL),
        TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_update(f->s, &alice, n.id, 1, "\xff", NULL, NULL, NULL, NULL),
                     TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_update(f->s, &alice, n.id, 1, NULL, NULL, "[1]", NULL, NULL),
                     TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_update(f->s, &alice, n.id, 1, NULL, NULL, NULL, "all", NULL),
                     TN_ERR_BAD_INPUT);
    struct tn_note d = add(f->s, &dave, "t", "c", "[]", "private");
    assert_int_equal(tn_store_note_update(f->s, &dave, d.id, 1, NULL, NULL, NULL, "org", NULL),
                     TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_update(f->s, &alice, "bogus", 1, "x", NULL, NULL, NULL, NULL),
                     TN_ERR_NOT_FOUND);
    /* none of that changed the note */
    assert_int_equal(tn_store_note_get(f->s, &alice, n.id, &out), TN_OK);
    assert_int_equal(out.version, 1);
    tn_note_deinit(&out);
    /* delete */
    assert_int_equal(tn_store_note_delete(f->s, &alice, n.id, -1), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_delete(f->s, &alice, NULL, 0), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_delete(f->s, NULL, n.id, 0), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_delete(NULL, &alice, n.id, 0), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_delete(f->s, &alice, "bogus", 0), TN_ERR_NOT_FOUND);
    /* list and list_team: the page */
    char tag33[64];
    memset(tag33, 'a', 33);
    tag33[33] = '\0';
    const struct {
        struct tn_note_page p;
        enum tn_err want;
    } pages[] = {
        {{.limit = 1}, TN_OK},
        {{.limit = 100}, TN_OK},
        {{.limit = 0}, TN_ERR_BAD_INPUT},
        {{.limit = 101}, TN_ERR_BAD_INPUT},
        {{.limit = 10, .tag = ""}, TN_ERR_BAD_INPUT},
        {{.limit = 10, .tag = tag33}, TN_ERR_BAD_INPUT},
        {{.limit = 10, .tag = "\xff"}, TN_ERR_BAD_INPUT},
        {{.limit = 10, .after_id = "n_short", .after_updated = 5}, TN_ERR_BAD_INPUT},
        {{.limit = 10, .after_id = "'); DROP TABLE notes;--"}, TN_ERR_BAD_INPUT},
        {{.limit = 10, .after_id = "n_AAAAAAAAAAAAAAAAAAAA!A"}, TN_ERR_BAD_INPUT},
        {{.limit = 10, .after_id = "n_AAAAAAAAAAAAAAAAAAAAAA", .after_updated = 1}, TN_OK},
    };
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
        enum tn_err e1 = tn_store_note_list(f->s, &alice, &pages[i].p, noop_cb, &calls);
        enum tn_err e2 = tn_store_note_list_team(f->s, &alice, &pages[i].p, noop_cb, &calls);
        if (e1 != pages[i].want || e2 != pages[i].want)
            fail_msg("page %zu: list %s, team %s, want %s", i, tn_err_name(e1), tn_err_name(e2),
                     tn_err_name(pages[i].want));
    }
    struct tn_note_page p = {.limit = 10};
    assert_int_equal(tn_store_note_list(f->s, &alice, NULL, noop_cb, &calls), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_list(f->s, &alice, &p, NULL, NULL), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_list(f->s, NULL, &p, noop_cb, &calls), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_list(NULL, &alice, &p, noop_cb, &calls), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_list_team(f->s, &alice, NULL, noop_cb, &calls),
                     TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_list_team(f->s, &dave, &p, NULL, NULL), TN_ERR_BAD_INPUT);
    /* search */
    char *long_q = repeat("a", 1025);
    char *many_words = repeat("w ", 33);
    char *max_words = repeat("w ", 32);
    const struct {
        const char *q;
        unsigned limit;
        enum tn_err want;
    } searches[] = {
        {"c", 1, TN_OK},
        {"c", 100, TN_OK},
        {"c", 0, TN_ERR_BAD_INPUT},
        {"c", 101, TN_ERR_BAD_INPUT},
        {"", 10, TN_ERR_BAD_INPUT},
        {" \t\n ", 10, TN_ERR_BAD_INPUT},
        {"* -- ( ) \"", 10, TN_ERR_BAD_INPUT}, /* no word to search for */
        {"\xff", 10, TN_ERR_BAD_INPUT},
        {long_q, 10, TN_ERR_BAD_INPUT},
        {many_words, 10, TN_ERR_BAD_INPUT},
        {max_words, 10, TN_OK},
        {NULL, 10, TN_ERR_BAD_INPUT},
    };
    for (size_t i = 0; i < sizeof searches / sizeof searches[0]; i++) {
        enum tn_err e =
            tn_store_note_search(f->s, &alice, searches[i].q, searches[i].limit, noop_cb, &calls);
        if (e != searches[i].want)
            fail_msg("search %zu: %s, want %s", i, tn_err_name(e), tn_err_name(searches[i].want));
    }
    assert_int_equal(tn_store_note_search(f->s, &alice, "c", 10, NULL, NULL), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_search(f->s, NULL, "c", 10, noop_cb, &calls), TN_ERR_BAD_INPUT);
    free(long_q);
    free(many_words);
    free(max_words);
}

/* ---------- update and delete ---------- */

static void test_update(void **state)
{
    struct fx *f = *state;
    struct tn_note n = add(f->s, &alice, "Plan", "launch on monday", "[\"work\"]", "private");
    usleep(2000);
    struct tn_note out;
    /* title only: everything else stays */
    assert_int_equal(tn_store_note_update(f->s, &alice, n.id, 1, "Plan B", NULL, NULL, NULL, &out),
                     TN_OK);
    assert_int_equal(out.version, 2);
    assert_string_equal(out.title, "Plan B");
    assert_string_equal(out.content, "launch on monday");
    assert_string_equal(out.tags, "[\"work\"]");
    assert_string_equal(out.visibility, "private");
    assert_int_equal(out.created_at, n.created_at);
    assert_true(out.updated_at > n.updated_at);
    tn_note_deinit(&out);

    /* content, tags and visibility; the index follows the text */
    assert_int_equal(tn_store_note_update(f->s, &alice, n.id, 2, NULL, "launch on friday",
                                          "[\"urgent\"]", "org", &out),
                     TN_OK);
    assert_int_equal(out.version, 3);
    assert_string_equal(out.content, "launch on friday");
    assert_string_equal(out.tags, "[\"urgent\"]");
    assert_string_equal(out.visibility, "org");
    tn_note_deinit(&out);
    struct coll c = {0};
    assert_int_equal(tn_store_note_search(f->s, &alice, "monday", 10, collect, &c), TN_OK);
    assert_int_equal(c.n, 0);
    assert_int_equal(tn_store_note_search(f->s, &alice, "friday", 10, collect, &c), TN_OK);
    assert_int_equal(c.n, 1);
    assert_int_equal(tn_store_note_search(f->s, &bob, "friday", 10, collect, &c), TN_OK);
    assert_int_equal(c.n, 2); /* shared with o1 now */
    coll_free(&c);
    page_all(f->s, &alice, false, "work", 10, &c);
    assert_int_equal(c.n, 0);
    coll_free(&c);
    page_all(f->s, &alice, false, "urgent", 10, &c);
    assert_int_equal(c.n, 1);
    coll_free(&c);

    /* a stale version: conflict, and out holds the current note */
    memset(&out, 0, sizeof out);
    assert_int_equal(tn_store_note_update(f->s, &alice, n.id, 2, "stale", NULL, NULL, NULL, &out),
                     TN_ERR_CONFLICT);
    assert_int_equal(out.version, 3);
    assert_string_equal(out.title, "Plan B");
    assert_string_equal(out.content, "launch on friday");
    tn_note_deinit(&out);
    assert_int_equal(tn_store_note_update(f->s, &alice, n.id, 4, "future", NULL, NULL, NULL, &out),
                     TN_ERR_CONFLICT);
    tn_note_deinit(&out);
    /* the failed updates left the index alone */
    assert_int_equal(tn_store_note_search(f->s, &alice, "friday", 10, collect, &c), TN_OK);
    assert_int_equal(c.n, 1);
    coll_free(&c);

    /* not o's: not found, and out stays empty */
    memset(&out, 0x5a, sizeof out);
    assert_int_equal(tn_store_note_update(f->s, &bob, n.id, 3, "mine", NULL, NULL, NULL, &out),
                     TN_ERR_NOT_FOUND);
    assert_null(out.content);
    assert_string_equal(out.id, "");
    assert_int_equal(tn_store_note_update(f->s, &alice, "n_AAAAAAAAAAAAAAAAAAAAAA", 1, "x", NULL,
                                          NULL, NULL, &out),
                     TN_ERR_NOT_FOUND);

    /* out may be NULL; "" tags clear them; "" title is allowed */
    assert_int_equal(tn_store_note_update(f->s, &alice, n.id, 3, "", NULL, "", "private", NULL),
                     TN_OK);
    assert_int_equal(tn_store_note_get(f->s, &alice, n.id, &out), TN_OK);
    assert_int_equal(out.version, 4);
    assert_string_equal(out.tags, "[]");
    assert_string_equal(out.title, "");
    assert_string_equal(out.visibility, "private");
    tn_note_deinit(&out);
    page_all(f->s, &alice, false, "urgent", 10, &c);
    assert_int_equal(c.n, 0);
    coll_free(&c);
}

static void test_delete(void **state)
{
    struct fx *f = *state;
    struct tn_note n = add(f->s, &alice, "Doomed", "ephemeral words", "[\"gone\"]", "org");
    struct tn_note keep = add(f->s, &alice, "Keep", "ephemeral too", "[\"gone\"]", "private");
    assert_int_equal(
        tn_store_note_update(f->s, &alice, n.id, 1, "Doomed 2", NULL, NULL, NULL, NULL), TN_OK);
    /* not the owner: not found, even for a shared note bob can read */
    struct tn_note out;
    assert_int_equal(tn_store_note_get(f->s, &bob, n.id, &out), TN_OK);
    tn_note_deinit(&out);
    assert_int_equal(tn_store_note_delete(f->s, &bob, n.id, 0), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_note_delete(f->s, &bob, n.id, 2), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_note_delete(f->s, &alice_o2, n.id, 0), TN_ERR_NOT_FOUND);
    /* stale version */
    assert_int_equal(tn_store_note_delete(f->s, &alice, n.id, 1), TN_ERR_CONFLICT);
    assert_int_equal(tn_store_note_get(f->s, &alice, n.id, &out), TN_OK);
    tn_note_deinit(&out);
    struct coll c = {0};
    assert_int_equal(tn_store_note_search(f->s, &alice, "ephemeral", 10, collect, &c), TN_OK);
    assert_int_equal(c.n, 2); /* the failed delete left the index alone */
    coll_free(&c);
    /* the right version */
    assert_int_equal(tn_store_note_delete(f->s, &alice, n.id, 2), TN_OK);
    assert_int_equal(tn_store_note_get(f->s, &alice, n.id, &out), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_note_delete(f->s, &alice, n.id, 0), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_note_delete(f->s, &alice, n.id, 2), TN_ERR_NOT_FOUND);
    /* gone from the index, the tags and the lists */
    assert_int_equal(tn_store_note_search(f->s, &alice, "ephemeral", 10, collect, &c), TN_OK);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.v[0].id, keep.id);
    coll_free(&c);
    page_all(f->s, &alice, false, "gone", 10, &c);
    assert_int_equal(c.n, 1);
    coll_free(&c);
    page_all(f->s, &bob, true, NULL, 10, &c);
    assert_int_equal(c.n, 0);
    coll_free(&c);
    /* any version */
    assert_int_equal(tn_store_note_delete(f->s, &alice, keep.id, 0), TN_OK);
    assert_int_equal(count_own(f->s, &alice), 0);
}

/* ---------- isolation ---------- */

static void expect_ids(const struct coll *c, const char *const *ids, size_t n)
{
    if (c->n != n)
        fail_msg("%zu notes, want %zu", c->n, n);
    for (size_t i = 0; i < n; i++)
        if (!coll_has(c, ids[i]))
            fail_msg("missing %s", ids[i]);
}

static void test_isolation(void **state)
{
    struct fx *f = *state;
    struct tn_note a1 = add(f->s, &alice, "a1", "common alpha", "[\"t\"]", "private");
    struct tn_note a2 = add(f->s, &alice, "a2", "common alpha shared", "[\"t\"]", "org");
    struct tn_note b1 = add(f->s, &bob, "b1", "common bravo", "[\"t\"]", "private");
    struct tn_note b2 = add(f->s, &bob, "b2", "common bravo shared", "[\"t\"]", "org");
    struct tn_note c1 = add(f->s, &carol, "c1", "common charlie", "[\"t\"]", "private");
    struct tn_note c2 = add(f->s, &carol, "c2", "common charlie shared", "[\"t\"]", "org");
    struct tn_note d1 = add(f->s, &dave, "d1", "common delta", "[\"t\"]", "private");

    /* get: own, or shared within the same organization */
    const struct {
        const struct tn_owner *o;
        const struct tn_note *n;
        enum tn_err want;
    } gets[] = {
        {&alice, &a1, TN_OK},
        {&alice, &a2, TN_OK},
        {&alice, &b2, TN_OK},
        {&alice, &b1, TN_ERR_NOT_FOUND},
        {&alice, &c1, TN_ERR_NOT_FOUND},
        {&alice, &c2, TN_ERR_NOT_FOUND},
        {&alice, &d1, TN_ERR_NOT_FOUND},
        {&bob, &a2, TN_OK},
        {&bob, &a1, TN_ERR_NOT_FOUND},
        {&carol, &c2, TN_OK},
        {&carol, &a2, TN_ERR_NOT_FOUND},
        {&carol, &b2, TN_ERR_NOT_FOUND},
        {&dave, &d1, TN_OK},
        {&dave, &a2, TN_ERR_NOT_FOUND},
        {&dave, &c2, TN_ERR_NOT_FOUND},
        /* alice signed in to o2 is another owner: o2's shared notes, none of o1's */
        {&alice_o2, &a1, TN_ERR_NOT_FOUND},
        {&alice_o2, &a2, TN_ERR_NOT_FOUND},
        {&alice_o2, &c2, TN_OK},
        {&alice_o2, &c1, TN_ERR_NOT_FOUND},
    };
    for (size_t i = 0; i < sizeof gets / sizeof gets[0]; i++) {
        struct tn_note out;
        enum tn_err e = tn_store_note_get(f->s, gets[i].o, gets[i].n->id, &out);
        if (e != gets[i].want)
            fail_msg("get %zu (%s): %s, want %s", i, gets[i].n->title, tn_err_name(e),
                     tn_err_name(gets[i].want));
        if (e == TN_OK) {
            assert_string_equal(out.content, gets[i].n->content);
            /* own, or shared in the reader's organization */
            assert_true(
                (strcmp(out.owner, gets[i].o->user) == 0 && strcmp(out.org, gets[i].o->org) == 0) ||
                (strcmp(out.visibility, "org") == 0 && strcmp(out.org, gets[i].o->org) == 0 &&
                 out.org[0] != '\0'));
        }
        tn_note_deinit(&out);
    }

    /* update and delete of anything not one's own: not found, and nothing changed */
    const struct tn_note *others[] = {&b1, &b2, &c1, &c2, &d1};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        struct tn_note out;
        assert_int_equal(tn_store_note_update(f->s, &alice, others[i]->id, 1, "pwned", "pwned",
                                              "[]", "private", &out),
                         TN_ERR_NOT_FOUND);
        assert_null(out.content);
        assert_int_equal(tn_store_note_delete(f->s, &alice, others[i]->id, 0), TN_ERR_NOT_FOUND);
        assert_int_equal(tn_store_note_delete(f->s, &alice, others[i]->id, 1), TN_ERR_NOT_FOUND);
    }
    assert_int_equal(tn_store_note_update(f->s, &alice_o2, a1.id, 1, "x", NULL, NULL, NULL, NULL),
                     TN_ERR_NOT_FOUND);
    struct coll c = {0};
    assert_int_equal(tn_store_note_search(f->s, &alice, "pwned", 100, collect, &c), TN_OK);
    assert_int_equal(c.n, 0);
    const struct tn_owner *owners[] = {&bob, &bob, &carol, &carol, &dave};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        struct tn_note out;
        assert_int_equal(tn_store_note_get(f->s, owners[i], others[i]->id, &out), TN_OK);
        assert_int_equal(out.version, 1);
        assert_string_equal(out.title, others[i]->title);
        tn_note_deinit(&out);
    }

    /* lists */
    page_all(f->s, &alice, false, NULL, 100, &c);
    expect_ids(&c, (const char *[]){a1.id, a2.id}, 2);
    coll_free(&c);
    page_all(f->s, &alice, true, NULL, 100, &c);
    expect_ids(&c, (const char *[]){a2.id, b2.id}, 2);
    coll_free(&c);
    page_all(f->s, &alice, false, "t", 1, &c);
    expect_ids(&c, (const char *[]){a1.id, a2.id}, 2);
    coll_free(&c);
    page_all(f->s, &carol, true, "t", 100, &c);
    expect_ids(&c, (const char *[]){c2.id}, 1);
    coll_free(&c);
    page_all(f->s, &dave, true, NULL, 100, &c);
    assert_int_equal(c.n, 0); /* no organization, no team */
    page_all(f->s, &alice_o2, false, NULL, 100, &c);
    assert_int_equal(c.n, 0);
    page_all(f->s, &alice_o2, true, NULL, 100, &c);
    expect_ids(&c, (const char *[]){c2.id}, 1);
    coll_free(&c);

    /* a cursor naming someone else's note only positions alice's own list */
    struct tn_note_page p = {.limit = 100, .after_id = b1.id, .after_updated = INT64_MAX};
    assert_int_equal(tn_store_note_list(f->s, &alice, &p, collect, &c), TN_OK);
    for (size_t i = 0; i < c.n; i++)
        assert_string_equal(c.v[i].owner, alice.user);
    coll_free(&c);

    /* search */
    assert_int_equal(tn_store_note_search(f->s, &alice, "common", 100, collect, &c), TN_OK);
    expect_ids(&c, (const char *[]){a1.id, a2.id, b2.id}, 3);
    coll_free(&c);
    assert_int_equal(tn_store_note_search(f->s, &alice, "bravo", 100, collect, &c), TN_OK);
    expect_ids(&c, (const char *[]){b2.id}, 1);
    coll_free(&c);
    assert_int_equal(tn_store_note_search(f->s, &alice, "charlie", 100, collect, &c), TN_OK);
    assert_int_equal(c.n, 0);
    assert_int_equal(tn_store_note_search(f->s, &carol, "common", 100, collect, &c), TN_OK);
    expect_ids(&c, (const char *[]){c1.id, c2.id}, 2);
    coll_free(&c);
    assert_int_equal(tn_store_note_search(f->s, &dave, "common", 100, collect, &c), TN_OK);
    expect_ids(&c, (const char *[]){d1.id}, 1);
    coll_free(&c);
    assert_int_equal(tn_store_note_search(f->s, &alice_o2, "common", 100, collect, &c), TN_OK);
    expect_ids(&c, (const char *[]){c2.id}, 1);
    coll_free(&c);

    /* unsharing takes it out of the team's view at once */
    assert_int_equal(tn_store_note_update(f->s, &bob, b2.id, 1, NULL, NULL, NULL, "private", NULL),
                     TN_OK);
    struct tn_note out;
    assert_int_equal(tn_store_note_get(f->s, &alice, b2.id, &out), TN_ERR_NOT_FOUND);
    assert_int_equal(tn_store_note_search(f->s, &alice, "bravo", 100, collect, &c), TN_OK);
    assert_int_equal(c.n, 0);
    page_all(f->s, &alice, true, NULL, 100, &c);
    expect_ids(&c, (const char *[]){a2.id}, 1);
    coll_free(&c);
}

/* ---------- concurrency ---------- */

enum { THREADS = 8, INSERTS = 50 };

struct worker {
    struct tn_store *s;
    pthread_barrier_t *go;
    int index;
    const char *id;
    enum tn_err result;
    int failures;
};

static void *insert_many(void *arg)
{
    struct worker *w = arg;
    pthread_barrier_wait(w->go);
    for (int i = 0; i < INSERTS; i++) {
        char content[64];
        snprintf(content, sizeof content, "writer%c note %d", 'a' + w->index, i);
        struct tn_note n = mk("t", content, "[\"bulk\"]", i % 2 ? "org" : "private");
        if (tn_store_note_insert(w->s, &alice, &n) != TN_OK)
            w->failures++;
    }
    return NULL;
}

static void test_concurrent_inserts(void **state)
{
    struct fx *f = *state;
    /* half the threads through a second handle: another pool, as another process */
    struct tn_store *other = reopen(f);
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, THREADS);
    pthread_t th[THREADS];
    struct worker ws[THREADS];
    for (int i = 0; i < THREADS; i++) {
        ws[i] = (struct worker){.s = i % 2 ? other : f->s, .go = &go, .index = i};
        assert_int_equal(pthread_create(&th[i], NULL, insert_many, &ws[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(ws[i].failures, 0);
    }
    pthread_barrier_destroy(&go);
    tn_store_close(other);

    struct coll c = {0};
    page_all(f->s, &alice, false, NULL, 100, &c);
    assert_int_equal(c.n, THREADS * INSERTS);
    for (size_t i = 1; i < c.n; i++) /* strictly ordered, so no id twice */
        assert_true(newer(&c.v[i - 1], &c.v[i]));
    coll_free(&c);
    page_all(f->s, &alice, false, "bulk", 37, &c);
    assert_int_equal(c.n, THREADS * INSERTS);
    coll_free(&c);
    page_all(f->s, &bob, true, NULL, 100, &c);
    assert_int_equal(c.n, THREADS * INSERTS / 2);
    coll_free(&c);
    /* every one is in the index: each thread's 50 notes match its number */
    for (int t = 0; t < THREADS; t++) {
        char q[32];
        snprintf(q, sizeof q, "writer%c", 'a' + t);
        assert_int_equal(tn_store_note_search(f->s, &alice, q, 100, collect, &c), TN_OK);
        assert_int_equal(c.n, INSERTS);
        coll_free(&c);
    }
    /* and durable */
    tn_store_close(f->s);
    f->s = reopen(f);
    assert_int_equal(count_own(f->s, &alice), THREADS * INSERTS);
}

static void *update_once(void *arg)
{
    struct worker *w = arg;
    char title[32];
    snprintf(title, sizeof title, "winner %d", w->index);
    pthread_barrier_wait(w->go);
    struct tn_note out;
    w->result = tn_store_note_update(w->s, &alice, w->id, 1, title, NULL, NULL, NULL, &out);
    if (w->result == TN_OK || w->result == TN_ERR_CONFLICT) {
        if (out.version != 2 || !out.content)
            w->failures++;
    }
    tn_note_deinit(&out);
    return NULL;
}

static void test_concurrent_update(void **state)
{
    struct fx *f = *state;
    struct tn_store *other = reopen(f);
    for (int round = 0; round < 5; round++) {
        struct tn_note n = add(f->s, &alice, "race", "contended", "[]", "private");
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, THREADS);
        pthread_t th[THREADS];
        struct worker ws[THREADS];
        for (int i = 0; i < THREADS; i++) {
            ws[i] = (struct worker){.s = i % 2 ? other : f->s, .go = &go, .index = i, .id = n.id};
            assert_int_equal(pthread_create(&th[i], NULL, update_once, &ws[i]), 0);
        }
        int ok = 0, conflict = 0, winner = -1;
        for (int i = 0; i < THREADS; i++) {
            pthread_join(th[i], NULL);
            assert_int_equal(ws[i].failures, 0);
            if (ws[i].result == TN_OK) {
                ok++;
                winner = i;
            } else if (ws[i].result == TN_ERR_CONFLICT) {
                conflict++;
            } else {
                fail_msg("round %d, racer %d: %s", round, i, tn_err_name(ws[i].result));
            }
        }
        pthread_barrier_destroy(&go);
        assert_int_equal(ok, 1);
        assert_int_equal(conflict, THREADS - 1);
        struct tn_note got;
        assert_int_equal(tn_store_note_get(f->s, &alice, n.id, &got), TN_OK);
        assert_int_equal(got.version, 2);
        char want[32];
        snprintf(want, sizeof want, "winner %d", winner);
        assert_string_equal(got.title, want);
        tn_note_deinit(&got);
    }
    tn_store_close(other);
}

/* Writers that succeed and writers that fail, at once: concurrent writes share commits,
 * and a failed one is taken out of its group while the rest run again. Every caller gets
 * its own result and its own note back, nothing leaks, and no failed write is applied. */
struct mixed {
    struct tn_store *s;
    pthread_barrier_t *go;
    char id[32];
    int64_t version; /* the one it names: current, or stale for the odd ones */
    enum tn_err result;
    int failures;
};

static void *update_mixed(void *arg)
{
    struct mixed *w = arg;
    pthread_barrier_wait(w->go);
    struct tn_note out;
    w->result =
        tn_store_note_update(w->s, &alice, w->id, w->version, "updated", NULL, NULL, NULL, &out);
    /* success: the updated note; conflict: the current note, never updated */
    if (strcmp(out.id, w->id) != 0 || !out.content || strcmp(out.content, "mixed") != 0)
        w->failures++;
    tn_note_deinit(&out);
    return NULL;
}

static void test_concurrent_mixed_writes(void **state)
{
    struct fx *f = *state;
    for (int round = 0; round < 20; round++) {
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, THREADS);
        pthread_t th[THREADS];
        struct mixed ws[THREADS];
        for (int i = 0; i < THREADS; i++) {
            struct tn_note n = add(f->s, &alice, "before", "mixed", "[]", "private");
            ws[i] = (struct mixed){.s = f->s, .go = &go, .version = i % 2 ? 7 : 1};
            snprintf(ws[i].id, sizeof ws[i].id, "%s", n.id);
            assert_int_equal(pthread_create(&th[i], NULL, update_mixed, &ws[i]), 0);
        }
        for (int i = 0; i < THREADS; i++) {
            pthread_join(th[i], NULL);
            assert_int_equal(ws[i].failures, 0);
            assert_int_equal(ws[i].result, i % 2 ? TN_ERR_CONFLICT : TN_OK);
            struct tn_note got;
            assert_int_equal(tn_store_note_get(f->s, &alice, ws[i].id, &got), TN_OK);
            assert_string_equal(got.title, i % 2 ? "before" : "updated");
            assert_int_equal(got.version, i % 2 ? 1 : 2);
            tn_note_deinit(&got);
        }
        pthread_barrier_destroy(&go);
    }
}

/* ---------- pagination ---------- */

static int by_id(const void *a, const void *b) { return strcmp(a, b); }

static void test_pagination(void **state)
{
    struct fx *f = *state;
    enum { N = 250 };
    static char ids[N][32];
    for (int i = 0; i < N; i++) {
        char content[32];
        snprintf(content, sizeof content, "note %d", i);
        struct tn_note n = add(f->s, &alice, "p", content, i % 3 ? "[\"odd\"]" : "[\"even\"]",
                               i % 5 ? "private" : "org");
        snprintf(ids[i], sizeof ids[i], "%s", n.id);
        /* bob's notes in between must never show up */
        if (i % 10 == 0)
            add(f->s, &bob, "b", "bob's", "[\"odd\"]", "private");
    }
    qsort(ids, N, sizeof ids[0], by_id);
    const unsigned limits[] = {1, 7, 100, 33};
    for (size_t l = 0; l < sizeof limits / sizeof limits[0]; l++) {
        struct coll c = {0};
        page_all(f->s, &alice, false, NULL, limits[l], &c); /* order checked inside */
        assert_int_equal(c.n, N);
        char(*seen)[32] = calloc(N, sizeof *seen);
        assert_non_null(seen);
        for (size_t i = 0; i < c.n; i++)
            snprintf(seen[i], sizeof seen[i], "%s", c.v[i].id);
        qsort(seen, N, sizeof seen[0], by_id);
        for (int i = 0; i < N; i++)
            assert_string_equal(seen[i], ids[i]); /* each exactly once */
        free(seen);
        coll_free(&c);
    }
    /* tag filter across pages */
    struct coll c = {0};
    page_all(f->s, &alice, false, "even", 9, &c);
    assert_int_equal(c.n, (N + 2) / 3);
    coll_free(&c);
    page_all(f->s, &alice, false, "odd", 9, &c);
    assert_int_equal(c.n, N - (N + 2) / 3);
    coll_free(&c);
    /* the team list pages the same way */
    page_all(f->s, &bob, true, NULL, 11, &c);
    assert_int_equal(c.n, N / 5);
    coll_free(&c);
    /* an exact last page is followed by an empty one */
    page_all(f->s, &alice, false, NULL, 50, &c);
    assert_int_equal(c.n, N);
    struct tn_note_page p = {
        .limit = 50, .after_id = c.v[N - 1].id, .after_updated = c.v[N - 1].updated_at};
    struct coll rest = {0};
    assert_int_equal(tn_store_note_list(f->s, &alice, &p, collect, &rest), TN_OK);
    assert_int_equal(rest.n, 0);
    coll_free(&c);
}

/* ---------- tags ---------- */

static void test_tags(void **state)
{
    struct fx *f = *state;
    struct tn_note n1 = add(f->s, &alice, "1", "x", "[\"work\", \"urgent\"]", "private");
    struct tn_note n2 = add(f->s, &alice, "2", "x", "[\"work\"]", "org");
    struct tn_note n3 = add(f->s, &alice, "3", "x", "[\"home\",\"home\"]", "private");
    struct tn_note n4 =
        add(f->s, &alice, "4", "x", "[\"caf\xc3\xa9\", \"a b\", \"\\u00e9t\\u00e9\"]", "private");
    add(f->s, &bob, "5", "x", "[\"work\"]", "private");
    struct tn_note n6 = add(f->s, &bob, "6", "x", "[\"work\"]", "org");
    add(f->s, &carol, "7", "x", "[\"work\"]", "org");
    struct coll c = {0};
    page_all(f->s, &alice, false, "work", 100, &c);
    expect_ids(&c, (const char *[]){n1.id, n2.id}, 2);
    coll_free(&c);
    page_all(f->s, &alice, false, "urgent", 100, &c);
    expect_ids(&c, (const char *[]){n1.id}, 1);
    coll_free(&c);
    page_all(f->s, &alice, false, "home", 100, &c);
    expect_ids(&c, (const char *[]){n3.id}, 1);
    assert_string_equal(c.v[0].tags, "[\"home\",\"home\"]"); /* stored as given */
    coll_free(&c);
    page_all(f->s, &alice, false, "caf\xc3\xa9", 100, &c);
    expect_ids(&c, (const char *[]){n4.id}, 1);
    coll_free(&c);
    page_all(f->s, &alice, false, "a b", 100, &c);
    expect_ids(&c, (const char *[]){n4.id}, 1);
    coll_free(&c);
    page_all(f->s, &alice, false, "\xc3\xa9t\xc3\xa9", 100, &c); /* escapes decoded */
    expect_ids(&c, (const char *[]){n4.id}, 1);
    coll_free(&c);
    page_all(f->s, &alice, false, "Work", 100, &c); /* exact match */
    assert_int_equal(c.n, 0);
    page_all(f->s, &alice, false, "wor", 100, &c);
    assert_int_equal(c.n, 0);
    page_all(f->s, &alice, true, "work", 100, &c);
    expect_ids(&c, (const char *[]){n2.id, n6.id}, 2);
    coll_free(&c);
    /* tags are searchable text too */
    assert_int_equal(tn_store_note_search(f->s, &alice, "urgent", 100, collect, &c), TN_OK);
    expect_ids(&c, (const char *[]){n1.id}, 1);
    coll_free(&c);
}

/* ---------- search ---------- */

static bool utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int len = *p < 0x80             ? 1
                  : (*p & 0xe0) == 0xc0 ? 2
                  : (*p & 0xf0) == 0xe0 ? 3
                  : (*p & 0xf8) == 0xf0 ? 4
                                        : 0;
        if (!len)
            return false;
        for (int i = 1; i < len; i++)
            if ((p[i] & 0xc0) != 0x80)
                return false;
        p += len;
    }
    return true;
}

static void test_search(void **state)
{
    struct fx *f = *state;
    struct tn_note in_title =
        add(f->s, &alice, "Zebra crossing", "a note about roads", "[]", "private");
    struct tn_note in_body = add(f->s, &alice, "Animals",
                                 "long text about many things and then one zebra appears "
                                 "somewhere in the middle of it all",
                                 "[]", "private");
    add(f->s, &alice, "Other", "nothing relevant", "[]", "private");
    struct tn_note accent = add(f->s, &alice, "Caf\xc3\xa9",
                                "cr\xc3\xa8me br\xc3\xbbl\xc3\xa9"
                                "e",
                                "[]", "private");
    struct coll c = {0};
    assert_int_equal(tn_store_note_search(f->s, &alice, "zebra", 100, collect, &c), TN_OK);
    assert_int_equal(c.n, 2);
    /* best first: a title match outranks a passing mention */
    assert_string_equal(c.v[0].id, in_title.id);
    assert_string_equal(c.v[1].id, in_body.id);
    assert_true(c.v[0].rank > c.v[1].rank);
    assert_true(c.v[1].rank > 0);
    assert_non_null(strstr(c.v[1].snippet, "zebra"));
    assert_true(strlen(c.v[1].snippet) < strlen(in_body.content));
    coll_free(&c);
    /* case and diacritics do not matter; all words must match */
    assert_int_equal(tn_store_note_search(f->s, &alice, "ZEBRA Roads", 100, collect, &c), TN_OK);
    expect_ids(&c, (const char *[]){in_title.id}, 1);
    coll_free(&c);
    assert_int_equal(tn_store_note_search(f->s, &alice, "creme brulee cafe", 100, collect, &c),
                     TN_OK);
    expect_ids(&c, (const char *[]){accent.id}, 1);
    coll_free(&c);
    assert_int_equal(tn_store_note_search(f->s, &alice, "zebra unicorn", 100, collect, &c), TN_OK);
    assert_int_equal(c.n, 0);
    /* limit */
    assert_int_equal(tn_store_note_search(f->s, &alice, "zebra", 1, collect, &c), TN_OK);
    expect_ids(&c, (const char *[]){in_title.id}, 1);
    coll_free(&c);
    /* punctuation-only words are skipped rather than failing the search */
    assert_int_equal(tn_store_note_search(f->s, &alice, "* zebra --", 100, collect, &c), TN_OK);
    assert_int_equal(c.n, 2);
    coll_free(&c);

    /* a snippet is cut to its field at a character boundary */
    char *big = repeat("\xc3\xa9", 400);
    char content[1024];
    snprintf(content, sizeof content, "needle %s", big);
    add(f->s, &alice, "long", content, "[]", "private");
    assert_int_equal(tn_store_note_search(f->s, &alice, "needle", 10, collect, &c), TN_OK);
    assert_int_equal(c.n, 1);
    assert_true(strlen(c.v[0].snippet) > 400 && strlen(c.v[0].snippet) < 512);
    assert_true(utf8_ok(c.v[0].snippet));
    coll_free(&c);
    free(big);
}

/* ---------- the text lists and searches carry ---------- */

struct texts {
    size_t n;
    char id[8][32];
    char *content[8];
    int64_t length[8], created_at[8];
};

static void collect_text(const struct tn_note *n, void *ud)
{
    struct texts *t = ud;
    assert_true(t->n < 8);
    snprintf(t->id[t->n], sizeof t->id[0], "%s", n->id);
    t->content[t->n] = strdup(n->content);
    assert_non_null(t->content[t->n]);
    t->length[t->n] = n->length;
    t->created_at[t->n] = n->created_at;
    t->n++;
}

static void texts_free(struct texts *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->content[i]);
    memset(t, 0, sizeof *t);
}

/* Lists and searches give each note's text whole up to TN_NOTE_LIST_TEXT characters and a
 * prefix of exactly that many characters beyond (cut between characters, never inside
 * one), with the whole length in characters; get reads it all. */
static void test_list_text(void **state)
{
    struct fx *f = *state;
    /* 1999 x then a 2-byte é at character 2000, then 3-byte € beyond: 2001 characters */
    char *xs = repeat("x", TN_NOTE_LIST_TEXT - 1);
    char *longer = malloc(TN_NOTE_LIST_TEXT + 16);
    assert_non_null(longer);
    snprintf(longer, TN_NOTE_LIST_TEXT + 16, "%s\xc3\xa9\xe2\x82\xac", xs);
    /* exactly 2000 characters, all of them 3 bytes: whole, not cut */
    char *euros = repeat("\xe2\x82\xac", TN_NOTE_LIST_TEXT);
    struct tn_note n_long = add(f->s, &alice, "", longer, "[]", "org");
    struct tn_note n_euros = add(f->s, &alice, "", euros, "[]", "private");
    struct tn_note n_short = add(f->s, &alice, "t", "short zebra text", "[]", "private");

    struct tn_note_page p = {.limit = 10};
    struct texts t = {0};
    assert_int_equal(tn_store_note_list(f->s, &alice, &p, collect_text, &t), TN_OK);
    assert_int_equal(t.n, 3);
    /* by id: notes saved in the same millisecond may list in either order */
    size_t i_short = 3, i_euros = 3, i_long = 3;
    for (size_t i = 0; i < t.n; i++) {
        if (!strcmp(t.id[i], n_short.id))
            i_short = i;
        else if (!strcmp(t.id[i], n_euros.id))
            i_euros = i;
        else if (!strcmp(t.id[i], n_long.id))
            i_long = i;
    }
    assert_true(i_short < 3 && i_euros < 3 && i_long < 3);
    assert_string_equal(t.content[i_short], "short zebra text");
    assert_int_equal(t.length[i_short], 16);
    assert_string_equal(t.content[i_euros], euros);
    assert_int_equal(t.length[i_euros], TN_NOTE_LIST_TEXT);
    assert_int_equal(strlen(t.content[i_long]), TN_NOTE_LIST_TEXT - 1 + 2); /* … x é, no € */
    assert_memory_equal(t.content[i_long], longer, TN_NOTE_LIST_TEXT + 1);
    assert_int_equal(t.length[i_long], TN_NOTE_LIST_TEXT + 1);
    texts_free(&t);
    /* the team list the same */
    assert_int_equal(tn_store_note_list_team(f->s, &bob, &p, collect_text, &t), TN_OK);
    assert_int_equal(t.n, 1);
    assert_int_equal(strlen(t.content[0]), TN_NOTE_LIST_TEXT + 1);
    assert_int_equal(t.length[0], TN_NOTE_LIST_TEXT + 1);
    texts_free(&t);
    /* searches too */
    assert_int_equal(tn_store_note_search(f->s, &alice, "zebra", 10, collect_text, &t), TN_OK);
    assert_int_equal(t.n, 1);
    assert_string_equal(t.content[0], "short zebra text");
    assert_int_equal(t.length[0], 16);
    texts_free(&t);
    char *big = malloc(TN_NOTE_MAX_CONTENT + 1);
    assert_non_null(big);
    memset(big, 'y', TN_NOTE_MAX_CONTENT);
    memcpy(big, "needle ", 7);
    big[TN_NOTE_MAX_CONTENT] = '\0';
    struct tn_note n_big = add(f->s, &alice, "", big, "[]", "private");
    assert_int_equal(tn_store_note_search(f->s, &alice, "needle", 10, collect_text, &t), TN_OK);
    assert_int_equal(t.n, 1);
    assert_int_equal(strlen(t.content[0]), TN_NOTE_LIST_TEXT);
    assert_memory_equal(t.content[0], big, TN_NOTE_LIST_TEXT);
    assert_int_equal(t.length[0], TN_NOTE_MAX_CONTENT);
    texts_free(&t);
    /* get reads the whole text and says its length */
    struct tn_note got;
    assert_int_equal(tn_store_note_get(f->s, &alice, n_long.id, &got), TN_OK);
    assert_string_equal(got.content, longer);
    assert_int_equal(got.length, TN_NOTE_LIST_TEXT + 1);
    tn_note_deinit(&got);
    assert_int_equal(tn_store_note_get(f->s, &alice, n_big.id, &got), TN_OK);
    assert_int_equal(strlen(got.content), TN_NOTE_MAX_CONTENT);
    assert_int_equal(got.length, TN_NOTE_MAX_CONTENT);
    tn_note_deinit(&got);
    /* an update reads back the new length */
    assert_int_equal(
        tn_store_note_update(f->s, &alice, n_short.id, 1, NULL, "caf\xc3\xa9", NULL, NULL, &got),
        TN_OK);
    assert_int_equal(got.length, 4);
    tn_note_deinit(&got);
    free(big);
    free(euros);
    free(longer);
    free(xs);
}

/* Derived titles: the first line with something in it, trimmed, heading marks gone, cut
 * to 80 characters at a character (preferably a word) boundary with an ellipsis. */
static void test_title_derive(void **state)
{
    (void)state;
    char *long_word = repeat("\xc3\xa9", 100);
    char long_want[256];
    snprintf(long_want, sizeof long_want, "%.*s\xe2\x80\xa6", 160, long_word);
    static const char words90[] =
        "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho";
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"Buy milk and call the plumber", "Buy milk and call the plumber"},
        {"  Shopping list  \nmilk\neggs", "Shopping list"},
        {"\n\n \t \r\n  second line wins\nthird", "second line wins"},
        {"# Heading\nbody", "Heading"},
        {"### Deep heading  ", "Deep heading"},
        {"#hashtag stays", "#hashtag stays"},
        {"#\nnext", "#"},
        {"windows line\r\nnext", "windows line"},
        {" \n\t\n ", ""},
        {"", ""},
        {words90, "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi "
                  "omicron\xe2\x80\xa6"},
        {"alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicronpi",
         "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi\xe2\x80\xa6"},
    };
    char out[TN_NOTE_DERIVED_TITLE_SIZE];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t n = tn_note_title_derive(cases[i].in, strlen(cases[i].in), out, sizeof out);
        assert_string_equal(out, cases[i].want);
        assert_int_equal(n, strlen(cases[i].want));
    }
    /* 100 two-byte characters without a space: 80 of them and … */
    tn_note_title_derive(long_word, strlen(long_word), out, sizeof out);
    assert_string_equal(out, long_want);
    /* a NUL ends the text: nothing after it becomes a title (found by fuzz_notetext) */
    assert_int_equal(tn_note_title_derive("\n   \r\0\f\x9a#", 9, out, sizeof out), 0);
    assert_string_equal(out, "");
    /* the length bounds the read: no NUL needed, nothing past len */
    assert_int_equal(tn_note_title_derive("abc\ndef", 2, out, sizeof out), 2);
    assert_string_equal(out, "ab");
    /* a small buffer: as much as fits, cut between characters */
    char small[6];
    assert_int_equal(tn_note_title_derive("\xc3\xa9\xc3\xa9\xc3\xa9", 6, small, sizeof small), 4);
    assert_string_equal(small, "\xc3\xa9\xc3\xa9");
    assert_int_equal(tn_note_title_derive(NULL, 3, small, sizeof small), 0);
    assert_string_equal(small, "");
    free(long_word);
}

/* ---------- import ---------- */

static int64_t id_time(const char *id)
{
    uint8_t raw[16];
    size_t n = 0;
    assert_int_equal(tn_b64url_decode(raw, sizeof raw, &n, id + 2, 22), TN_OK);
    assert_int_equal(n, 16);
    int64_t ms = 0;
    for (int i = 0; i < 6; i++)
        ms = ms << 8 | raw[i];
    return ms;
}

/* An import adds every note in one go with its date, as its owner's private note; again,
 * it adds nothing; one bad note and nothing is added. */
static void test_import(void **state)
{
    struct fx *f = *state;
    const struct tn_note_import v[] = {
        {alice, "7d3c2a9e-0000-4000-8000-000000000001", "First line\nmore", 1765017062123LL},
        {alice, "7d3c2a9e-0000-4000-8000-000000000002", "second \xc3\xa9", 1765017063000LL},
        {bob, "7d3c2a9e-0000-4000-8000-000000000001", "bob's, same source id", 1765017062123LL},
        {dave, "x", "dave has no organization", 0},
    };
    size_t added = 99, bad = 99;
    assert_int_equal(tn_store_note_import(f->s, v, 4, &added, &bad), TN_OK);
    assert_int_equal(added, 4);
    assert_int_equal(bad, 0);
    struct tn_note_page p = {.limit = 10};
    struct texts t = {0};
    assert_int_equal(tn_store_note_list(f->s, &alice, &p, collect_text, &t), TN_OK);
    assert_int_equal(t.n, 2);
    assert_string_equal(t.content[0], "second \xc3\xa9"); /* newest first, by their dates */
    assert_int_equal(t.created_at[0], 1765017063000LL);
    assert_string_equal(t.content[1], "First line\nmore");
    assert_int_equal(t.created_at[1], 1765017062123LL);
    assert_int_equal(id_time(t.id[1]), 1765017062123LL); /* our id format, time first */
    char first_id[32];
    snprintf(first_id, sizeof first_id, "%s", t.id[1]);
    texts_free(&t);
    struct tn_note got;
    assert_int_equal(tn_store_note_get(f->s, &alice, first_id, &got), TN_OK);
    assert_string_equal(got.title, "");
    assert_string_equal(got.tags, "[]");
    assert_string_equal(got.visibility, "private");
    assert_int_equal(got.version, 1);
    assert_int_equal(got.updated_at, 1765017062123LL);
    tn_note_deinit(&got);
    /* the same source id of another owner is another note, not visible to alice */
    assert_int_equal(tn_store_note_list(f->s, &bob, &p, collect_text, &t), TN_OK);
    assert_int_equal(t.n, 1);
    assert_string_not_equal(t.id[0], first_id);
    texts_free(&t);
    assert_int_equal(tn_store_note_list(f->s, &dave, &p, collect_text, &t), TN_OK);
    assert_int_equal(t.n, 1);
    assert_int_equal(t.created_at[0], 0);
    texts_free(&t);
    /* searchable like any note, by its owner only */
    assert_int_equal(tn_store_note_search(f->s, &alice, "line", 10, collect_text, &t), TN_OK);
    assert_int_equal(t.n, 1);
    assert_string_equal(t.id[0], first_id);
    texts_free(&t);
    assert_int_equal(tn_store_note_search(f->s, &bob, "line", 10, collect_text, &t), TN_OK);
    assert_int_equal(t.n, 0);
    texts_free(&t);

    /* again: nothing added, the ids are the same */
    assert_int_equal(tn_store_note_import(f->s, v, 4, &added, &bad), TN_OK);
    assert_int_equal(added, 0);
    /* a new note among old ones: only it is added */
    const struct tn_note_import more[] = {
        v[0],
        {alice, "7d3c2a9e-0000-4000-8000-000000000003", "third", 1765017064000LL},
        v[1],
    };
    assert_int_equal(tn_store_note_import(f->s, more, 3, &added, &bad), TN_OK);
    assert_int_equal(added, 1);
    assert_int_equal(tn_store_note_list(f->s, &alice, &p, collect_text, &t), TN_OK);
    assert_int_equal(t.n, 3);
    texts_free(&t);

    /* one bad note: refused with its index, nothing of the batch added */
    static const char *const bad_content[] = {"", "\xc3(", "nul-free but \xed\xa0\x80 surrogate"};
    for (size_t b = 0; b < 3; b++) {
        struct tn_note_import w[] = {
            {carol, "c1", "carol's first", 1000},
            {carol, "c2", bad_content[b], 2000},
        };
        added = 99;
        bad = 99;
        assert_int_equal(tn_store_note_import(f->s, w, 2, &added, &bad), TN_ERR_BAD_INPUT);
        assert_int_equal(added, 0);
        assert_int_equal(bad, 1);
    }
    const struct tn_note_import hostile[] = {
        {carol, "", "empty source id", 1000},
        {carol, "c", "negative date", -1},
        {carol, "c", "date beyond 48 bits", (int64_t)1 << 48},
        {{"", "o2"}, "c", "no owner", 1000},
        {carol, NULL, "no source id", 1000},
        {carol, "c", NULL, 1000},
    };
    for (size_t b = 0; b < sizeof hostile / sizeof *hostile; b++) {
        struct tn_note_import w[] = {{carol, "ok", "fine", 5}, hostile[b]};
        assert_int_equal(tn_store_note_import(f->s, w, 2, &added, &bad), TN_ERR_BAD_INPUT);
        assert_int_equal(added, 0);
        assert_int_equal(bad, 1);
    }
    char *big = malloc(TN_NOTE_MAX_CONTENT + 2);
    assert_non_null(big);
    memset(big, 'z', TN_NOTE_MAX_CONTENT + 1);
    big[TN_NOTE_MAX_CONTENT + 1] = '\0';
    const struct tn_note_import too_big[] = {{carol, "big", big, 1}};
    assert_int_equal(tn_store_note_import(f->s, too_big, 1, &added, &bad), TN_ERR_BAD_INPUT);
    free(big);
    assert_int_equal(tn_store_note_import(f->s, v, 0, &added, &bad), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_import(f->s, NULL, 1, &added, &bad), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_note_list(f->s, &carol, &p, collect_text, &t), TN_OK);
    assert_int_equal(t.n, 0);
    texts_free(&t);
}

/* ---------- hostile input ---------- */

static void test_hostile(void **state)
{
    struct fx *f = *state;
    static const char sql[] = "'); DROP TABLE notes;--";
    static const char fts[] = "NEAR(a b) OR \"x` * AND";
    struct tn_note h1 = add(f->s, &alice, sql, sql, "[\"'); DROP TABLE notes;--\"]", "private");
    struct tn_note h2 = add(f->s, &alice, fts, fts, "[\"NEAR(a b)\", \"\\\"x`\"]", "org");
    struct tn_note h3 =
        add(f->s, &alice, "quotes", "it's \"quoted\" \\ back\\slash %s %n", "[]", "private");
    /* every token of the FTS-syntax text, but not "near a" side by side */
    struct tn_note plain = add(f->s, &alice, "plain", "a near b or x and", "[]", "private");
    add(f->s, &bob, "bob", "x NEAR a", "[]", "private");

    /* stored verbatim */
    struct tn_note got;
    assert_int_equal(tn_store_note_get(f->s, &alice, h1.id, &got), TN_OK);
    assert_string_equal(got.title, sql);
    assert_string_equal(got.content, sql);
    assert_string_equal(got.tags, "[\"'); DROP TABLE notes;--\"]");
    tn_note_deinit(&got);
    assert_int_equal(tn_store_note_get(f->s, &alice, h2.id, &got), TN_OK);
    assert_string_equal(got.content, fts);
    assert_string_equal(got.tags, "[\"NEAR(a b)\", \"\\\"x`\"]");
    tn_note_deinit(&got);
    assert_int_equal(tn_store_note_get(f->s, &alice, h3.id, &got), TN_OK);
    assert_string_equal(got.content, "it's \"quoted\" \\ back\\slash %s %n");
    tn_note_deinit(&got);

    /* searchable as plain text, and nothing else matches by accident */
    struct coll c = {0};
    assert_int_equal(tn_store_note_search(f->s, &alice, sql, 100, collect, &c), TN_OK);
    expect_ids(&c, (const char *[]){h1.id}, 1);
    coll_free(&c);
    assert_int_equal(tn_store_note_search(f->s, &alice, fts, 100, collect, &c), TN_OK);
    expect_ids(&c, (const char *[]){h2.id}, 1); /* not `plain`: "near a" is a phrase */
    coll_free(&c);
    const char *const queries[] = {
        "\"",          "x\" OR \"y", "title:zebra",
        "content : x", "a*",         "^x",
        "NOT x",       "x AND",      "(((",
        "\"\"\"",      "NEAR(",      "{title content}: x",
        "- x",         "x + y",      "'",
        "%",           "\\",         "'); DROP TABLE notes_fts;--",
        "\x01 x",
    };
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
        enum tn_err e = tn_store_note_search(f->s, &alice, queries[i], 100, collect, &c);
        if (e != TN_OK && e != TN_ERR_BAD_INPUT)
            fail_msg("query %zu (%s): %s", i, queries[i], tn_err_name(e));
        for (size_t j = 0; j < c.n; j++)
            assert_string_equal(c.v[j].owner, alice.user);
        coll_free(&c);
    }
    /* "title:zebra" is the phrase "title zebra", not zebra in the title column */
    struct tn_note col = add(f->s, &alice, "other", "title zebra", "[]", "private");
    assert_int_equal(tn_store_note_search(f->s, &alice, "title:zebra", 100, collect, &c), TN_OK);
    expect_ids(&c, (const char *[]){col.id}, 1);
    coll_free(&c);
    /* a trailing * is not a prefix query */
    assert_int_equal(tn_store_note_search(f->s, &alice, "zeb*", 100, collect, &c), TN_OK);
    assert_int_equal(c.n, 0);
    /* the tag with SQL in it is a tag like any other */
    page_all(f->s, &alice, false, "'); DROP TABLE notes;--", 100, &c);
    expect_ids(&c, (const char *[]){h1.id}, 1);
    coll_free(&c);
    /* everything is still there */
    assert_int_equal(count_own(f->s, &alice), 5);
    assert_int_equal(tn_store_note_get(f->s, &alice, plain.id, &got), TN_OK);
    tn_note_deinit(&got);
    /* and the full-text index is consistent with the notes */
    /* (SQLite only: on PostgreSQL the search vector is a generated column of the row,
     * there is no separate index to check) */
    if (!on_pg()) {
        sqlite3 *db = raw_db(f);
        assert_int_equal(sqlite3_exec(db,
                                      "INSERT INTO notes_fts (notes_fts, rank) "
                                      "VALUES ('integrity-check', 1)",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(db);
    }
}

/* ---------- audit ---------- */

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

/* Audit records are queued and written in batches by the store's thread: from many
 * threads at once, more than the queue holds (writers wait for room), none lost, none
 * twice; written without anyone asking (another handle sees them within a second);
 * and what is still queued when the store closes is written too. */
struct audit_writer {
    struct tn_store *s;
    int base;
    int n;
    int failures;
};

static void *audit_writer_main(void *arg)
{
    struct audit_writer *w = arg;
    for (int i = 0; i < w->n; i++) {
        struct tn_audit a = audit(w->base + i, "notes_get", "", "ok");
        if (tn_store_audit_insert(w->s, &a) != TN_OK)
            w->failures++;
    }
    return NULL;
}

enum { AUDIT_THREADS = 4 };

/* AUDIT_THREADS threads queue `each` records apiece at once, at = 1, 2, ...; each
 * record is accepted. */
static void audit_from_threads(struct tn_store *s, int each)
{
    struct audit_writer w[AUDIT_THREADS];
    pthread_t t[AUDIT_THREADS];
    for (int i = 0; i < AUDIT_THREADS; i++) {
        w[i] = (struct audit_writer){.s = s, .base = 1 + i * each, .n = each};
        assert_int_equal(pthread_create(&t[i], NULL, audit_writer_main, &w[i]), 0);
    }
    for (int i = 0; i < AUDIT_THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
}

struct audit_count {
    int n;
    int64_t sum;
};

static void count_audit(const struct tn_audit *a, void *ud)
{
    struct audit_count *c = ud;
    c->n++;
    c->sum += a->at;
}

static void test_audit_batches(void **state)
{
    struct fx *f = *state;
    /* 2,400 records: more than the queue holds (1,024), so that writers wait for room */
    enum { THREADS = AUDIT_THREADS, EACH = 600 };
    audit_from_threads(f->s, EACH);
    /* another handle's query does not flush this one's queue: the thread wrote them */
    struct tn_store *other = reopen(f);
    struct audit_count c = {0};
    struct tn_audit_filter all = {.limit = TN_AUDIT_QUERY_MAX};
    for (int tries = 0; tries < 100; tries++) {
        c = (struct audit_count){0};
        assert_int_equal(tn_store_audit_query(other, &all, count_audit, &c), TN_OK);
        if (c.n == THREADS * EACH)
            break;
        usleep(10000);
    }
    assert_int_equal(c.n, THREADS * EACH);
    /* each of 1..2400 exactly once */
    assert_int_equal(c.sum, (int64_t)THREADS * EACH * (THREADS * EACH + 1) / 2);
    /* queued, then closed at once: written by the close */
    struct tn_audit last = audit(5000, "notes_delete", "n_z", "ok");
    assert_int_equal(tn_store_audit_insert(f->s, &last), TN_OK);
    tn_store_close(f->s);
    f->s = reopen(f);
    c = (struct audit_count){0};
    assert_int_equal(tn_store_audit_query(other, &all, count_audit, &c), TN_OK);
    assert_int_equal(c.n, THREADS * EACH + 1);
    struct audits newest = {0};
    assert_int_equal(tn_store_audit_list(other, 1, see_audit, &newest), TN_OK);
    assert_int_equal(newest.v[0].at, 5000);
    assert_string_equal(newest.v[0].tool, "notes_delete");
    tn_store_close(other);
}

/* ---------- durability next to unsynced audit batches (SQLite) ---------- */

/* A VFS over the default one that counts the syncs of WAL files, so that a test can see
 * whether a commit waited for the disk. Registered as the default while a store it
 * watches is open. */
static sqlite3_vfs *real_vfs;
static int wal_syncs; /* atomically */

struct shim_file {
    sqlite3_file base;
    sqlite3_file *real;
    bool wal;
};

#define REAL(f) (((struct shim_file *)(f))->real)
static int sh_close(sqlite3_file *f)
{
    int rc = REAL(f)->pMethods->xClose(REAL(f));
    return rc;
}
static int sh_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o)
{
    return REAL(f)->pMethods->xRead(REAL(f), b, n, o);
}
static int sh_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
    return REAL(f)->pMethods->xWrite(REAL(f), b, n, o);
}
static int sh_truncate(sqlite3_file *f, sqlite3_int64 n)
{
    return REAL(f)->pMethods->xTruncate(REAL(f), n);
}
static int sh_sync(sqlite3_file *f, int flags)
{
    if (((struct shim_file *)f)->wal)
        __atomic_add_fetch(&wal_syncs, 1, __ATOMIC_SEQ_CST);
    return REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int sh_size(sqlite3_file *f, sqlite3_int64 *n)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), n);
}
static int sh_lock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xLock(REAL(f), l); }
static int sh_unlock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xUnlock(REAL(f), l); }
static int sh_reserved(sqlite3_file *f, int *r)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), r);
}
static int sh_fcntl(sqlite3_file *f, int op, void *a)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, a);
}
static int sh_sector(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int sh_dev(sqlite3_file *f) { return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f)); }
static int sh_shmmap(sqlite3_file *f, int pg, int sz, int ext, void volatile **p)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, ext, p);
}
static int sh_shmlock(sqlite3_file *f, int o, int n, int fl)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), o, n, fl);
}
static void sh_shmbarrier(sqlite3_file *f) { REAL(f)->pMethods->xShmBarrier(REAL(f)); }
static int sh_shmunmap(sqlite3_file *f, int del)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}
static int sh_fetch(sqlite3_file *f, sqlite3_int64 o, int n, void **p)
{
    return REAL(f)->pMethods->xFetch(REAL(f), o, n, p);
}
static int sh_unfetch(sqlite3_file *f, sqlite3_int64 o, void *p)
{
    return REAL(f)->pMethods->xUnfetch(REAL(f), o, p);
}
#undef REAL

static const sqlite3_io_methods shim_io = {
    3,          sh_close,      sh_read,     sh_write, sh_truncate, sh_sync, sh_size,
    sh_lock,    sh_unlock,     sh_reserved, sh_fcntl, sh_sector,   sh_dev,  sh_shmmap,
    sh_shmlock, sh_shmbarrier, sh_shmunmap, sh_fetch, sh_unfetch};

static int sh_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out)
{
    struct shim_file *sf = (struct shim_file *)file;
    sf->real = (sqlite3_file *)(sf + 1);
    sf->wal = (flags & SQLITE_OPEN_WAL) != 0;
    int rc = real_vfs->xOpen(real_vfs, name, sf->real, flags, out);
    sf->base.pMethods = sf->real->pMethods ? &shim_io : NULL;
    return rc;
}

static sqlite3_vfs shim_vfs;

static void shim_register(void)
{
    real_vfs = sqlite3_vfs_find(NULL);
    assert_non_null(real_vfs);
    assert_true(real_vfs->iVersion >= 2);
    shim_vfs = *real_vfs;
    shim_vfs.zName = "tn-sync-count";
    shim_vfs.szOsFile = (int)sizeof(struct shim_file) + real_vfs->szOsFile;
    shim_vfs.xOpen = sh_open;
    shim_vfs.pNext = NULL;
    assert_int_equal(sqlite3_vfs_register(&shim_vfs, 1), SQLITE_OK);
}

/* A busy server's audit batches commit without waiting for the disk, on connections the
 * note writes share: a note written right after them must still be synced. */
static void test_note_durable_after_unsynced_audit(void **state)
{
    struct fx *f = *state;
    if (on_pg())
        skip(); /* synchronous_commit is set per transaction (SET LOCAL) there */
    tn_store_close(f->s);
    shim_register();
    f->s = open_at(f->data);

    /* 2,400 records from four threads: the queue (1,024) stays full, so batches are full */
    enum { THREADS = AUDIT_THREADS, EACH = 600 };
    int before = __atomic_load_n(&wal_syncs, __ATOMIC_SEQ_CST);
    audit_from_threads(f->s, EACH);
    /* wait for the writer to take the last records, without asking for a flush (which
     * would sync that batch): count them below the store's API */
    sqlite3 *db = raw_db(f);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM audit", -1, &st, NULL),
                     SQLITE_OK);
    int written = 0;
    for (int tries = 0; tries < 1000 && written < THREADS * EACH; tries++) {
        usleep(2000);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        written = sqlite3_column_int(st, 0);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_int_equal(written, THREADS * EACH);
    int bulk = __atomic_load_n(&wal_syncs, __ATOMIC_SEQ_CST) - before;
    /* at least 2,400 / 1,024 = 3 batches; the first and the last (partial) one are synced,
     * the full ones between are not (one more if a second passed) */
    if (bulk > 3)
        fail_msg("%d WAL syncs for 2,400 audit records in full batches", bulk);

    for (int i = 0; i < 4; i++) {
        int was = __atomic_load_n(&wal_syncs, __ATOMIC_SEQ_CST);
        struct tn_note n = mk("After the audit", "must survive a power loss", "[]", "");
        assert_int_equal(tn_store_note_insert(f->s, &alice, &n), TN_OK);
        if (__atomic_load_n(&wal_syncs, __ATOMIC_SEQ_CST) == was)
            fail_msg("note write %d committed without syncing the WAL", i);
    }
    tn_store_close(f->s);
    assert_int_equal(sqlite3_vfs_unregister(&shim_vfs), SQLITE_OK);
    f->s = open_at(f->data);
    assert_int_equal(count_own(f->s, &alice), 4);
}

static void test_audit(void **state)
{
    struct fx *f = *state;
    static const char *const outcomes[] = {"ok",       "denied",  "not_found",
                                           "conflict", "invalid", "error"};
    for (int i = 0; i < 6; i++) {
        struct tn_audit a = audit(1000 + i, "notes_update", i ? "n_x" : "", outcomes[i]);
        assert_int_equal(tn_store_audit_insert(f->s, &a), TN_OK);
    }
    struct tn_audit same = audit(1005, "notes_delete", "n_y", "ok"); /* same instant */
    assert_int_equal(tn_store_audit_insert(f->s, &same), TN_OK);
    struct tn_audit old = audit(10, "notes_get", "", "ok"); /* written late, happened early */
    assert_int_equal(tn_store_audit_insert(f->s, &old), TN_OK);

    struct audits w = {0};
    assert_int_equal(tn_store_audit_list(f->s, 3, see_audit, &w), TN_OK);
    assert_int_equal(w.n, 3);
    assert_string_equal(w.v[0].tool, "notes_delete"); /* newest first, later insert first */
    assert_int_equal(w.v[0].at, 1005);
    assert_string_equal(w.v[1].outcome, "error");
    assert_int_equal(w.v[2].at, 1004);
    assert_string_equal(w.v[0].user, alice.user);
    assert_string_equal(w.v[0].org, "o1");
    assert_string_equal(w.v[0].client_id, "client-1");
    assert_string_equal(w.v[0].note_id, "n_y");
    w.n = 0;
    assert_int_equal(tn_store_audit_list(f->s, 1000, see_audit, &w), TN_OK);
    assert_int_equal(w.n, 8);
    assert_int_equal(w.v[7].at, 10);

    /* bad records */
    struct tn_audit bad[8];
    bad[0] = audit(0, "t", "", "ok");
    bad[1] = audit(1, "t", "", "maybe");
    bad[2] = audit(1, "", "", "ok");
    bad[3] = audit(1, "t", "", "");
    bad[4] = audit(1, "t", "", "ok");
    bad[4].user[0] = '\0';
    bad[5] = audit(1, "t", "", "ok");
    memset(bad[5].note_id, 'n', sizeof bad[5].note_id);
    bad[6] = audit(1, "t", "", "ok");
    memset(bad[6].client_id, 'c', sizeof bad[6].client_id);
    bad[7] = audit(-5, "t", "", "ok");
    for (int i = 0; i < 8; i++)
        if (tn_store_audit_insert(f->s, &bad[i]) != TN_ERR_BAD_INPUT)
            fail_msg("bad audit record %d accepted", i);
    assert_int_equal(tn_store_audit_insert(f->s, NULL), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_audit_insert(NULL, &old), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_audit_list(f->s, 0, see_audit, &w), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_audit_list(f->s, 1001, see_audit, &w), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_store_audit_list(f->s, 10, NULL, NULL), TN_ERR_BAD_INPUT);
    w.n = 0;
    assert_int_equal(tn_store_audit_list(f->s, 1000, see_audit, &w), TN_OK);
    assert_int_equal(w.n, 8);

    /* append-only below the API too, and no column could hold note text (SQLite's
     * triggers and table; test_pg_store.c checks PostgreSQL's): `detail` is written only
     * by the admin actions (src/auth/as/admin_ops.c), with what they acted on */
    if (on_pg())
        return;
    sqlite3 *db = raw_db(f);
    assert_int_not_equal(sqlite3_exec(db, "UPDATE audit SET outcome = 'ok'", NULL, NULL, NULL),
                         SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(db, "DELETE FROM audit", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT group_concat(name, ',') FROM "
                                        "pragma_table_info('audit')",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0),
                        "seq,at,user_key,org,client_id,tool,note_id,outcome,detail");
    sqlite3_finalize(st);
    sqlite3_close(db);
    w.n = 0;
    assert_int_equal(tn_store_audit_list(f->s, 1000, see_audit, &w), TN_OK);
    assert_int_equal(w.n, 8);
}

/* Below the API: a note cannot change owner or id even by direct SQL. */
static void test_schema_guards(void **state)
{
    struct fx *f = *state;
    if (on_pg())
        skip(); /* SQLite's triggers; test_pg_store.c checks PostgreSQL's under its RLS */
    struct tn_note n = add(f->s, &alice, "t", "c", "[]", "private");
    sqlite3 *db = raw_db(f);
    const char *const stmts[] = {
        "UPDATE notes SET owner = 'x'",    "UPDATE notes SET org = 'o2'",
        "UPDATE notes SET id = 'n_other'", "UPDATE notes SET visibility = 'public'",
        "UPDATE notes SET content = ''",   "UPDATE notes SET version = 0",
    };
    for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++)
        if (sqlite3_exec(db, stmts[i], NULL, NULL, NULL) == SQLITE_OK)
            fail_msg("allowed: %s", stmts[i]);
    sqlite3_close(db);
    struct tn_note got;
    assert_int_equal(tn_store_note_get(f->s, &alice, n.id, &got), TN_OK);
    assert_string_equal(got.owner, alice.user);
    tn_note_deinit(&got);
    /* and dave's (no org) note cannot be shared by direct SQL */
    struct tn_note d = add(f->s, &dave, "t", "c", "[]", "private");
    db = raw_db(f);
    assert_int_not_equal(
        sqlite3_exec(db, "UPDATE notes SET visibility = 'org' WHERE org = ''", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(tn_store_note_get(f->s, &dave, d.id, &got), TN_OK);
    assert_string_equal(got.visibility, "private");
    tn_note_deinit(&got);
}

/* A database left by the previous release (schema 1) gains the notes on open and keeps
 * what it had. */
static void test_upgrade_from_v1(void **state)
{
    struct fx *f = *state;
    if (on_pg())
        skip(); /* a SQLite file of schema 1; test_pg_store.c upgrades a PostgreSQL schema */
    char path[512], old[160], file[200];
    const char *root = getenv("TN_SOURCE_ROOT");
    if (root) {
        snprintf(path, sizeof path, "%s/src/store/migrations/sqlite/0001_auth.sql", root);
    } else {
        const char *me = __FILE__; /* .../tests/unit/test_notes_store.c */
        size_t n = strlen(me) - strlen("tests/unit/test_notes_store.c");
        snprintf(path, sizeof path, "%.*ssrc/store/migrations/sqlite/0001_auth.sql", (int)n, me);
    }
    FILE *fp = fopen(path, "rb");
    if (!fp)
        fail_msg("cannot read %s (set TN_SOURCE_ROOT)", path);
    char *sql = calloc(1, 1 << 16);
    assert_non_null(sql);
    assert_true(fread(sql, 1, (1 << 16) - 1, fp) > 0);
    fclose(fp);
    snprintf(old, sizeof old, "%s/old", f->dir);
    assert_int_equal(mkdir(old, 0700), 0);
    snprintf(file, sizeof file, "%s/teamnotes.db", old);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(file, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, "
                                  "name TEXT NOT NULL, applied_at INTEGER NOT NULL);"
                                  "INSERT INTO schema_version VALUES (1, '0001_auth', 0);"
                                  "INSERT INTO orgs VALUES ('o1', 'Acme', 1);",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(chmod(file, 0600), 0);
    free(sql);

    struct tn_store *s = open_at(old);
    assert_int_equal(tn_store_schema_version(s), 12); /* 0002_notes to 0012_audit_indexes */
    struct tn_org org;
    assert_int_equal(tn_store_org_get(s, "o1", &org), TN_OK);
    assert_string_equal(org.name, "Acme");
    struct tn_note n = add(s, &alice, "t", "upgraded fine", "[\"x\"]", "org");
    struct coll c = {0};
    assert_int_equal(tn_store_note_search(s, &bob, "upgraded", 10, collect, &c), TN_OK);
    expect_ids(&c, (const char *[]){n.id}, 1);
    coll_free(&c);
    tn_store_close(s);
}

/* ---------- randomized, against a model ---------- */

enum { USERS = 6, OPS = 2000, MODEL_MAX = OPS, VOCAB = 10 };

static const char *const vocab[VOCAB] = {"alpha",   "bravo", "charlie", "delta", "echo",
                                         "foxtrot", "golf",  "hotel",   "india", "juliet"};
static const char *const colors[3] = {"red", "green", "blue"};

struct mnote {
    char id[32];
    int owner;
    bool shared, live;
    int64_t version;
    char content[64];
    int words[3];
    int tags; /* bit i: colors[i] */
};

struct model {
    struct mnote v[MODEL_MAX];
    int n;
    char users[USERS][32];
    struct tn_owner owners[USERS];
    uint64_t rng;
};

static uint64_t rnd(struct model *m)
{
    /* splitmix64 */
    uint64_t z = (m->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int pick(struct model *m, int n) { return (int)(rnd(m) % (uint64_t)n); }

static const char *org_of(int u) { return u < USERS / 2 ? "o1" : "o2"; }

static bool visible(const struct model *m, int u, const struct mnote *n)
{
    return n->live && (n->owner == u || (n->shared && strcmp(org_of(n->owner), org_of(u)) == 0));
}

static bool has_word(const struct mnote *n, int w)
{
    return n->words[0] == w || n->words[1] == w || n->words[2] == w;
}

static void make_text(struct model *m, struct mnote *n, char tags[64])
{
    for (int i = 0; i < 3; i++)
        n->words[i] = pick(m, VOCAB);
    snprintf(n->content, sizeof n->content, "%s %s %s", vocab[n->words[0]], vocab[n->words[1]],
             vocab[n->words[2]]);
    n->tags = pick(m, 8);
    size_t used = snprintf(tags, 64, "[");
    for (int i = 0; i < 3; i++)
        if (n->tags & (1 << i))
            used += snprintf(tags + used, 64 - used, "%s\"%s\"", used > 1 ? "," : "", colors[i]);
    snprintf(tags + used, 64 - used, "]");
}

static const struct mnote *find(const struct model *m, const char *id)
{
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->v[i].id, id) == 0)
            return &m->v[i];
    return NULL;
}

/* A note to act on: mostly one of u's own live notes, sometimes any note ever made
 * (someone else's, or deleted). NULL when there is none yet. */
static struct mnote *target(struct model *m, int u)
{
    if (m->n == 0)
        return NULL;
    if (pick(m, 10) < 7) {
        int own[MODEL_MAX], k = 0;
        for (int i = 0; i < m->n; i++)
            if (m->v[i].live && m->v[i].owner == u)
                own[k++] = i;
        if (k)
            return &m->v[own[pick(m, k)]];
    }
    return &m->v[pick(m, m->n)];
}

/* The store's view of every user matches the model: own lists, team lists, and each
 * note seen is the reader's own or shared in the reader's organization. */
static void check_views(struct tn_store *s, struct model *m, int op)
{
    static const unsigned limits[] = {1, 3, 10, 100};
    for (int u = 0; u < USERS; u++) {
        const struct tn_owner *o = &m->owners[u];
        for (int team = 0; team < 2; team++) {
            struct coll c = {0};
            int tag = pick(m, 4); /* 3: no filter */
            page_all(s, o, team, tag < 3 ? colors[tag] : NULL, limits[pick(m, 4)], &c);
            int want = 0;
            for (int i = 0; i < m->n; i++) {
                const struct mnote *n = &m->v[i];
                bool in = team ? (visible(m, u, n) && n->shared) : (n->live && n->owner == u);
                if (in && tag < 3 && !(n->tags & (1 << tag)))
                    in = false;
                want += in;
            }
            if ((int)c.n != want)
                fail_msg("op %d user %d %s: %zu notes, model has %d", op, u, team ? "team" : "own",
                         c.n, want);
            for (size_t i = 0; i < c.n; i++) {
                const struct item *it = &c.v[i];
                bool own = strcmp(it->owner, o->user) == 0 && strcmp(it->org, o->org) == 0;
                bool shared = strcmp(it->visibility, "org") == 0 && strcmp(it->org, o->org) == 0;
                assert_true(team ? shared : own);
                const struct mnote *n = find(m, it->id);
                if (!n || !visible(m, u, n))
                    fail_msg("op %d user %d sees %s, which the model does not", op, u, it->id);
                assert_int_equal(it->version, n->version);
            }
            coll_free(&c);
        }
    }
}

static void test_randomized(void **state)
{
    struct fx *f = *state;
    struct model *m = calloc(1, sizeof *m);
    assert_non_null(m);
    const char *seed = getenv("TN_TEST_SEED");
    m->rng = seed ? strtoull(seed, NULL, 10) : 20240611;
    print_message("# randomized: seed %llu (set TN_TEST_SEED to replay)\n",
                  (unsigned long long)m->rng);
    for (int u = 0; u < USERS; u++) {
        snprintf(m->users[u], sizeof m->users[u], "https://issuer.example|u%d", u);
        m->owners[u] = (struct tn_owner){m->users[u], org_of(u)};
    }
    int counts[6] = {0};
    for (int op = 0; op < OPS; op++) {
        int u = pick(m, USERS), kind = pick(m, 100);
        const struct tn_owner *o = &m->owners[u];
        char tags[64];
        if (kind < 30 || m->n == 0) { /* insert */
            struct mnote *n = &m->v[m->n];
            make_text(m, n, tags);
            n->owner = u;
            n->shared = pick(m, 2);
            n->live = true;
            n->version = 1;
            struct tn_note t = mk("note", n->content, tags, n->shared ? "org" : "private");
            assert_int_equal(tn_store_note_insert(f->s, o, &t), TN_OK);
            snprintf(n->id, sizeof n->id, "%s", t.id);
            m->n++;
            counts[0]++;
        } else if (kind < 55) { /* update, sometimes stale, sometimes not o's */
            struct mnote *n = target(m, u);
            int64_t expected = n->version + (pick(m, 4) == 0 ? (pick(m, 2) ? 1 : -1) : 0);
            if (expected < 1)
                expected = 2;
            struct mnote next = *n;
            make_text(m, &next, tags);
            bool share = pick(m, 2);
            struct tn_note out;
            enum tn_err e = tn_store_note_update(f->s, o, n->id, expected, NULL, next.content, tags,
                                                 share ? "org" : "private", &out);
            enum tn_err want = !(n->live && n->owner == u) ? TN_ERR_NOT_FOUND
                               : expected != n->version    ? TN_ERR_CONFLICT
                                                           : TN_OK;
            if (e != want)
                fail_msg("op %d update: %s, want %s", op, tn_err_name(e), tn_err_name(want));
            if (e == TN_OK) {
                n->version++;
                memcpy(n->content, next.content, sizeof n->content);
                memcpy(n->words, next.words, sizeof n->words);
                n->tags = next.tags;
                n->shared = share;
            }
            if (e == TN_OK || e == TN_ERR_CONFLICT) {
                assert_int_equal(out.version, n->version);
                assert_string_equal(out.content, n->content);
            } else {
                assert_null(out.content);
            }
            tn_note_deinit(&out);
            counts[1]++;
        } else if (kind < 75) { /* delete */
            struct mnote *n = target(m, u);
            int64_t expected = pick(m, 3) == 0 ? 0 : n->version + (pick(m, 4) == 0);
            enum tn_err e = tn_store_note_delete(f->s, o, n->id, expected);
            enum tn_err want = !(n->live && n->owner == u)          ? TN_ERR_NOT_FOUND
                               : expected && expected != n->version ? TN_ERR_CONFLICT
                                                                    : TN_OK;
            if (e != want)
                fail_msg("op %d delete: %s, want %s", op, tn_err_name(e), tn_err_name(want));
            if (e == TN_OK)
                n->live = false;
            counts[2]++;
        } else if (kind < 90) { /* get, of anything */
            struct mnote *n = &m->v[pick(m, m->n)];
            struct tn_note out;
            enum tn_err e = tn_store_note_get(f->s, o, n->id, &out);
            enum tn_err want = visible(m, u, n) ? TN_OK : TN_ERR_NOT_FOUND;
            if (e != want)
                fail_msg("op %d get: %s, want %s", op, tn_err_name(e), tn_err_name(want));
            if (e == TN_OK) {
                assert_string_equal(out.content, n->content);
                assert_int_equal(out.version, n->version);
                assert_string_equal(out.owner, m->users[n->owner]);
            }
            tn_note_deinit(&out);
            counts[3]++;
        } else { /* search one word */
            int w = pick(m, VOCAB);
            struct coll c = {0};
            assert_int_equal(tn_store_note_search(f->s, o, vocab[w], 100, collect, &c), TN_OK);
            int want = 0;
            for (int i = 0; i < m->n; i++)
                want += visible(m, u, &m->v[i]) && has_word(&m->v[i], w);
            assert_true(want <= 100);
            if ((int)c.n != want)
                fail_msg("op %d search %s: %zu, want %d", op, vocab[w], c.n, want);
            for (size_t i = 0; i < c.n; i++) {
                const struct mnote *n = find(m, c.v[i].id);
                assert_non_null(n);
                assert_true(visible(m, u, n) && has_word(n, w));
                if (!strstr(c.v[i].snippet, vocab[w]))
                    fail_msg("op %d search %s: snippet \"%s\"", op, vocab[w], c.v[i].snippet);
            }
            coll_free(&c);
            counts[4]++;
        }
        check_views(f->s, m, op);
    }
    print_message("# randomized: %d inserts, %d updates, %d deletes, %d gets, %d searches\n",
                  counts[0], counts[1], counts[2], counts[3], counts[4]);
    /* the full-text index agrees with the notes after all that */
    /* (SQLite only: on PostgreSQL the search vector is a generated column of the row,
     * there is no separate index to check) */
    if (!on_pg()) {
        sqlite3 *db = raw_db(f);
        assert_int_equal(sqlite3_exec(db,
                                      "INSERT INTO notes_fts (notes_fts, rank) "
                                      "VALUES ('integrity-check', 1)",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(db);
    }
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_insert_get),
        T(test_insert_validation),
        T(test_argument_errors),
        T(test_update),
        T(test_delete),
        T(test_isolation),
        T(test_concurrent_inserts),
        T(test_concurrent_update),
        T(test_concurrent_mixed_writes),
        T(test_pagination),
        T(test_tags),
        T(test_search),
        T(test_list_text),
        T(test_title_derive),
        T(test_import),
        T(test_hostile),
        T(test_audit),
        T(test_audit_batches),
        T(test_note_durable_after_unsynced_audit),
        T(test_schema_guards),
        T(test_upgrade_from_v1),
        T(test_randomized),
#undef T
    };
    tn_log_setup(TN_LOG_WARN, false); /* no "migration applied" line per test */
    /* TN_TEST_DATABASE_URL: run the suite on PostgreSQL, a fresh schema per test */
    if (tn_util_init() != TN_OK || !store_fixture_connect())
        return 1;
    int rc = cmocka_run_group_tests_name(base_url ? "notes_store (postgres)" : "notes_store", tests,
                                         NULL, NULL);
    store_fixture_disconnect();
    return rc;
}
