/* The fixture of the store suites that run on either backend (test_store.c,
 * test_notes_store.c): each test gets a fresh store, in a fresh temporary data directory
 * on SQLite, or in a fresh schema on PostgreSQL when TN_TEST_DATABASE_URL is set
 * (pg_fixture.h). Include after <cmocka.h>; define STORE_FIXTURE_DIR first to name the
 * temporary directories (a mkdtemp template). */
#ifndef TN_TEST_STORE_FIXTURE_H
#define TN_TEST_STORE_FIXTURE_H

#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "store/store.h"
#include "pg_fixture.h"

#ifndef STORE_FIXTURE_DIR
#define STORE_FIXTURE_DIR "/tmp/tn_store_XXXXXX"
#endif

struct fx {
    char dir[64];    /* the temporary directory */
    char data[96];   /* the data directory inside it */
    char schema[64]; /* PostgreSQL: the test's schema */
    char url[1024];  /* PostgreSQL: base_url with search_path set to schema */
    struct tn_store *s;
};

/* The backend under test: PostgreSQL when TN_TEST_DATABASE_URL is set, else SQLite. */
static inline bool on_pg(void) { return base_url != NULL; }

static inline int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static inline struct tn_store *open_at(const char *data)
{
    struct tn_store *s = NULL;
    struct tn_buf err;
    tn_buf_init(&err, 4096);
    enum tn_err e = tn_store_open(data, NULL, &s, &err);
    if (e != TN_OK)
        print_error("open %s: %s: %s\n", data, tn_err_name(e), err.data ? err.data : "");
    tn_buf_deinit(&err);
    assert_int_equal(e, TN_OK);
    assert_non_null(s);
    return s;
}

/* Another handle on the fixture's store: its schema on PostgreSQL, its directory on SQLite. */
static inline struct tn_store *reopen(struct fx *f)
{
    return on_pg() ? open_url(f->url) : open_at(f->data);
}

static inline int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, STORE_FIXTURE_DIR);
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->data, sizeof f->data, "%s/data", f->dir);
    if (on_pg())
        pg_fixture_schema(f->schema, sizeof f->schema, f->url, sizeof f->url);
    f->s = reopen(f);
    *state = f;
    return 0;
}

static inline int teardown(void **state)
{
    struct fx *f = *state;
    tn_store_close(f->s);
    if (on_pg())
        schema_drop(f->schema);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* TN_TEST_DATABASE_URL set: connects the PostgreSQL fixture, so that the suite runs there
 * (a fresh schema per test). False, with a message, when that fails. Call tn_util_init
 * first. */
static inline bool store_fixture_connect(void)
{
    const char *url = getenv("TN_TEST_DATABASE_URL");
    return !(url && url[0]) || pg_fixture_connect(url);
}

static inline void store_fixture_disconnect(void)
{
    if (base_url)
        pg_fixture_disconnect();
}

#endif
