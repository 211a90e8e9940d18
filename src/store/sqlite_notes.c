/* The SQLite backend's notes, their search and the audit log. Every statement is scoped
 * to the owner (user and org), or to the org and visibility 'org' for shared notes. Note
 * writes go through the group commit (sqlite_commit.c). */
#include "store/sqlite_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------- reading rows ---------- */

/* Copies a text column cut to `cap` - 1 bytes at a character boundary (snippets: an
 * excerpt may be longer than its field, and shorter is still an excerpt). */
static void col_text_cut(sqlite3_stmt *st, int i, char *dst, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    size_t n = t ? (size_t)sqlite3_column_bytes(st, i) : 0;
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && (t[n] & 0xc0) == 0x80) /* t[n] continues a character: back up */
            n--;
    }
    if (n)
        memcpy(dst, t, n);
    dst[n] = '\0';
}

/* Columns NOTE_COLS (or NOTE_LIST_COLS), then for searches the snippet and the bm25 score. n->content is a
 * copy the caller frees with tn_note_deinit (also on failure), or with `borrow` the
 * row's own text, valid until the statement's next step, which nobody frees. */
static enum tn_err read_note_cols(sqlite3_stmt *st, struct tn_note *n, bool search, bool borrow)
{
    bool ok = TEXT(0, n->id) && TEXT(1, n->owner) && TEXT(2, n->org) && TEXT(3, n->title) &&
              TEXT(5, n->tags) && TEXT(6, n->visibility);
    const unsigned char *c = sqlite3_column_text(st, 4);
    size_t len = (size_t)sqlite3_column_bytes(st, 4);
    if (!c && sqlite3_errcode(sqlite3_db_handle(st)) == SQLITE_NOMEM)
        return TN_ERR_NOMEM;
    if (borrow) {
        n->content = c ? (char *)c : (char *)"";
    } else {
        if (!(n->content = malloc(len + 1)))
            return TN_ERR_NOMEM;
        if (len)
            memcpy(n->content, c, len);
        n->content[len] = '\0';
    }
    n->version = sqlite3_column_int64(st, 7);
    n->created_at = sqlite3_column_int64(st, 8);
    n->updated_at = sqlite3_column_int64(st, 9);
    n->length = sqlite3_column_int64(st, 10);
    if (search) {
        col_text_cut(st, 11, n->snippet, sizeof n->snippet);
        n->rank = -sqlite3_column_double(st, 12); /* the header's rank: higher is better */
    }
    return sq_row_result(ok, "notes");
}

static enum tn_err read_note(sqlite3_stmt *st, struct tn_note *n)
{
    return read_note_cols(st, n, false, false);
}

static enum tn_err read_audit(sqlite3_stmt *st, struct tn_audit *a)
{
    a->at = sqlite3_column_int64(st, 0);
    bool ok = TEXT(1, a->user) && TEXT(2, a->org) && TEXT(3, a->client_id) && TEXT(4, a->tool) &&
              TEXT(5, a->note_id) && TEXT(6, a->outcome) && TEXT(7, a->detail);
    return sq_row_result(ok, "audit");
}

/* ---------- notes ---------- */

/* The owner's own note `id` into *out (TN_ERR_NOT_FOUND when o has no such note). On
 * failure *out holds no allocation. */
static enum tn_err read_own(struct call *k, const struct tn_owner *o, const char *id,
                            struct tn_note *out)
{
    sqlite3_stmt *st;
    enum tn_err e = sq_run(k, S_NOTE_OWN, &st, "ttt", id, o->user, o->org);
    if (e == TN_OK)
        e = read_note(st, out);
    sq_finish(st);
    if (e != TN_OK) {
        tn_note_deinit(out);
        memset(out, 0, sizeof *out);
    }
    return e;
}

/* Appends "<prefix>HEX(s)" as SQLite's hex() writes it (upper case), for scope tokens. */
static enum tn_err hex_token(struct tn_buf *b, const char *prefix, const char *s)
{
    static const char digits[] = "0123456789ABCDEF";
    enum tn_err e = tn_buf_puts(b, prefix);
    for (const unsigned char *p = (const unsigned char *)s; *p && e == TN_OK; p++) {
        char two[2] = {digits[*p >> 4], digits[*p & 15]};
        e = tn_buf_append(b, two, 2);
    }
    return e;
}

/* A note's scope_own and scope_org (what migration 0003's generated columns compute). */
static enum tn_err scope_of(const struct tn_owner *o, const char *visibility, struct tn_buf *own,
                            struct tn_buf *org)
{
    enum tn_err e = hex_token(own, "u", o->user);
    if (e == TN_OK)
        e = hex_token(own, "x", o->org);
    if (e == TN_OK)
        e = !strcmp(visibility, "org") && o->org[0] ? hex_token(org, "s", o->org)
                                                    : tn_buf_puts(org, "");
    return e;
}

struct note_insert {
    const struct tn_owner *o;
    const struct tn_note *n;
};

static enum tn_err note_insert_body(struct call *k, void *arg)
{
    const struct note_insert *a = arg;
    const struct tn_owner *o = a->o;
    const struct tn_note *n = a->n;
    enum tn_err e = sq_run(k, S_NOTE_INSERT, NULL, "tttttttiii", n->id, o->user, o->org, n->title,
                           n->content, n->tags, n->visibility, n->version, n->created_at,
                           n->updated_at);
    if (e != TN_OK)
        return e;
    int64_t seq = sqlite3_last_insert_rowid(k->c->db);
    /* one single-row statement per tag (no statement savepoint; see NOTE_INDEX_NEW) */
    json_t *tags = json_loads(n->tags, 0, NULL);
    if (!json_is_array(tags)) {
        json_decref(tags);
        return TN_ERR_BAD_INPUT;
    }
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t) {
        if (e == TN_OK)
            e = json_is_string(t) ? sq_run(k, S_NOTE_TAG_ADD, NULL, "it", seq, json_string_value(t))
                                  : TN_ERR_BAD_INPUT;
    }
    json_decref(tags);
    struct tn_buf own, org;
    tn_buf_init(&own, 4096);
    tn_buf_init(&org, 4096);
    if (e == TN_OK)
        e = scope_of(o, n->visibility, &own, &org);
    if (e == TN_OK)
        e = sq_run(k, S_NOTE_INDEX_NEW, NULL, "ittttt", seq, n->title, n->content, n->tags,
                   own.data, org.data ? org.data : "");
    tn_buf_deinit(&own);
    tn_buf_deinit(&org);
    return e;
}

enum tn_err sq_note_insert(struct tn_store *s, const struct tn_owner *o, const struct tn_note *n)
{
    struct note_insert a = {.o = o, .n = n};
    return sq_grouped(s, note_insert_body, &a);
}

struct note_import {
    const struct tn_note *v;
    size_t n, added;
};

/* Indexed like an insert (note_insert_body), for the notes the import adds. */
static enum tn_err note_import_body(struct call *k, void *arg)
{
    struct note_import *a = arg;
    enum tn_err e = TN_OK;
    struct tn_buf own, org;
    tn_buf_init(&own, 4096);
    tn_buf_init(&org, 4096);
    a->added = 0; /* a body may run again: start clean */
    for (size_t i = 0; i < a->n && e == TN_OK; i++) {
        const struct tn_note *n = &a->v[i];
        struct tn_owner o = {.user = n->owner, .org = n->org};
        e = sq_run(k, S_NOTE_IMPORT, NULL, "tttttttiii", n->id, n->owner, n->org, n->title,
                   n->content, n->tags, n->visibility, n->version, n->created_at, n->updated_at);
        if (e != TN_OK || sq_changes(k) != 1)
            continue; /* imported before */
        int64_t seq = sqlite3_last_insert_rowid(k->c->db);
        tn_buf_reset(&own);
        tn_buf_reset(&org);
        if ((e = scope_of(&o, n->visibility, &own, &org)) == TN_OK)
            e = sq_run(k, S_NOTE_INDEX_NEW, NULL, "ittttt", seq, n->title, n->content, n->tags,
                       own.data, org.data ? org.data : "");
        a->added++;
    }
    tn_buf_deinit(&own);
    tn_buf_deinit(&org);
    return e;
}

enum tn_err sq_note_import(struct tn_store *s, const struct tn_note *v, size_t n, size_t *added)
{
    struct note_import a = {.v = v, .n = n};
    enum tn_err e = sq_grouped(s, note_import_body, &a);
    *added = e == TN_OK ? a.added : 0;
    return e;
}

enum tn_err sq_note_get(struct tn_store *s, const struct tn_owner *o, const char *id,
                        struct tn_note *out)
{
    struct call k;
    sqlite3_stmt *st;
    enum tn_err e = sq_call_begin(s, &k, false);
    if (e != TN_OK)
        return e;
    e = sq_run(&k, S_NOTE_GET, &st, "ttt", id, o->user, o->org);
    if (e == TN_OK)
        e = read_note(st, out);
    sq_finish(st);
    sq_call_end(&k);
    if (e != TN_OK) {
        tn_note_deinit(out);
        memset(out, 0, sizeof *out);
    }
    return e;
}

/* Optimistic concurrency: the UPDATE names the expected version, and when it changes
 * nothing a second read, scoped to the owner like the update, tells a stale version
 * (TN_ERR_CONFLICT, *out = the current note) from a note o does not have. */
struct note_update {
    const struct tn_owner *o;
    const char *id;
    int64_t expected_version;
    const char *title, *content, *tags, *visibility;
    int64_t now;
    struct tn_note *out;
};

static enum tn_err note_update_body(struct call *k, void *arg)
{
    struct note_update *a = arg;
    const struct tn_owner *o = a->o;
    /* a body may run again (its group rolled back for another's failure): start clean */
    tn_note_deinit(a->out);
    /* the visibility is in the index too (the scope tokens) */
    bool reindex = a->title || a->content || a->tags || a->visibility;
    enum tn_err e;
    /* The index entry must be removed with the text it was added with, so before the
     * update; when the update then changes nothing, the rollback restores it. */
    if (reindex && (e = sq_run(k, S_NOTE_UNINDEX, NULL, "ttti", a->id, o->user, o->org,
                               a->expected_version)) != TN_OK)
        return e;
    if ((e = sq_run(k, S_NOTE_UPDATE, NULL, "tttitttti", a->id, o->user, o->org,
                    a->expected_version, a->title, a->content, a->tags, a->visibility, a->now)) !=
        TN_OK)
        return e;
    if (sq_changes(k) != 1) {
        e = read_own(k, o, a->id, a->out);
        return e == TN_OK ? TN_ERR_CONFLICT : e;
    }
    if (reindex && (e = sq_run(k, S_NOTE_INDEX, NULL, "ttt", a->id, o->user, o->org)) != TN_OK)
        return e;
    if (a->tags &&
        ((e = sq_run(k, S_NOTE_TAGS_CLEAR, NULL, "ttt", a->id, o->user, o->org)) != TN_OK ||
         (e = sq_run(k, S_NOTE_TAGS_SET, NULL, "ttt", a->id, o->user, o->org)) != TN_OK))
        return e;
    return read_own(k, o, a->id, a->out);
}

enum tn_err sq_note_update(struct tn_store *s, const struct tn_owner *o, const char *id,
                           int64_t expected_version, const char *title, const char *content,
                           const char *tags, const char *visibility, int64_t now,
                           struct tn_note *out)
{
    struct note_update a = {.o = o,
                            .id = id,
                            .expected_version = expected_version,
                            .title = title,
                            .content = content,
                            .tags = tags,
                            .visibility = visibility,
                            .now = now,
                            .out = out};
    enum tn_err e = sq_grouped(s, note_update_body, &a);
    if (e != TN_OK && e != TN_ERR_CONFLICT) {
        tn_note_deinit(out);
        memset(out, 0, sizeof *out);
    }
    return e;
}

struct note_delete {
    const struct tn_owner *o;
    const char *id;
    int64_t expected_version;
};

static enum tn_err note_delete_body(struct call *k, void *arg)
{
    const struct note_delete *a = arg;
    const struct tn_owner *o = a->o;
    enum tn_err e;
    if ((e = sq_run(k, S_NOTE_UNINDEX, NULL, "ttti", a->id, o->user, o->org,
                    a->expected_version)) != TN_OK)
        return e;
    /* note_tags rows go with it (ON DELETE CASCADE). */
    if ((e = sq_run(k, S_NOTE_DELETE, NULL, "ttti", a->id, o->user, o->org, a->expected_version)) !=
        TN_OK)
        return e;
    if (sq_changes(k) == 1)
        return TN_OK;
    struct tn_note cur;
    memset(&cur, 0, sizeof cur);
    e = read_own(k, o, a->id, &cur);
    tn_note_deinit(&cur);
    return e == TN_OK ? TN_ERR_CONFLICT : e;
}

enum tn_err sq_note_delete(struct tn_store *s, const struct tn_owner *o, const char *id,
                           int64_t expected_version)
{
    struct note_delete a = {.o = o, .id = id, .expected_version = expected_version};
    return sq_grouped(s, note_delete_body, &a);
}

/* Hands every row of a note query, started by sq_run() with result `e`, to `cb`. The
 * note and its content (the row's own, not a copy) live only during the callback. */
static enum tn_err each_note(struct call *k, enum stmt_id id, sqlite3_stmt *st, enum tn_err e,
                             bool search, tn_store_note_cb cb, void *ud)
{
    /* one note reused for every row: read_note_cols sets every member it reads, and
     * clearing the whole (several KiB) per row would cost more than the row */
    struct tn_note n;
    n.content = NULL;
    n.snippet[0] = '\0';
    n.rank = 0;
    for (; e == TN_OK; e = sq_step(k, st, id)) {
        e = read_note_cols(st, &n, search, true);
        if (e == TN_OK)
            cb(&n, ud);
        if (e != TN_OK)
            break;
    }
    sq_finish(st);
    return e == TN_ERR_NOT_FOUND ? TN_OK : e;
}

enum tn_err sq_note_list(struct tn_store *s, const struct tn_owner *o, const struct tn_note_page *p,
                         tn_store_note_cb cb, void *ud)
{
    struct call k;
    sqlite3_stmt *st;
    enum tn_err e = sq_call_begin(s, &k, false);
    if (e != TN_OK)
        return e;
    e = sq_run(&k, S_NOTE_LIST, &st, "ttitti", o->user, o->org, p->after_updated, p->after_id,
               p->tag, (int64_t)p->limit);
    e = each_note(&k, S_NOTE_LIST, st, e, false, cb, ud);
    sq_call_end(&k);
    return e;
}

enum tn_err sq_note_list_team(struct tn_store *s, const struct tn_owner *o,
                              const struct tn_note_page *p, tn_store_note_cb cb, void *ud)
{
    struct call k;
    sqlite3_stmt *st;
    enum tn_err e = sq_call_begin(s, &k, false);
    if (e != TN_OK)
        return e;
    e = sq_run(&k, S_NOTE_LIST_TEAM, &st, "titti", o->org, p->after_updated, p->after_id, p->tag,
               (int64_t)p->limit);
    e = each_note(&k, S_NOTE_LIST_TEAM, st, e, false, cb, ud);
    sq_call_end(&k);
    return e;
}

/* The FTS5 expression for plain words: each searchable word becomes one string ("..."
 * with every " doubled), and strings side by side must all match. Inside a string FTS5
 * sees no syntax: AND, OR, NOT, NEAR, *, ^, :, ( and ) are text to tokenize. */
static enum tn_err fts_query(const char *q, struct tn_buf *out)
{
    enum tn_err e = TN_OK;
    for (size_t i = 0; q[i] && e == TN_OK;) {
        while (q[i] && tn_store_query_space(q[i]))
            i++;
        size_t start = i;
        while (q[i] && !tn_store_query_space(q[i]))
            i++;
        if (i == start || !tn_store_word_searchable(q + start, i - start))
            continue;
        if (out->len)
            e = tn_buf_append(out, " ", 1);
        if (e == TN_OK)
            e = tn_buf_append(out, "\"", 1);
        for (size_t j = start; j < i && e == TN_OK; j++)
            e = tn_buf_append(out, q[j] == '"' ? "\"\"" : &q[j], q[j] == '"' ? 2 : 1);
        if (e == TN_OK)
            e = tn_buf_append(out, "\"", 1);
    }
    if (e == TN_OK && out->len == 0)
        e = TN_ERR_BAD_INPUT;
    return e;
}

/* The MATCH expression of a search by `o`: their scope tokens (their own notes; the
 * notes shared in their organization) AND the words, each part limited to its
 * columns. Only quoted strings reach FTS5 (see fts_query). */
static enum tn_err search_match(const struct tn_owner *o, const char *query, struct tn_buf *out)
{
    enum tn_err e = tn_buf_puts(out, "({scope_own}: \"");
    if (e == TN_OK)
        e = hex_token(out, "u", o->user);
    if (e == TN_OK)
        e = hex_token(out, "x", o->org);
    if (e == TN_OK && o->org[0]) {
        e = tn_buf_puts(out, "\" OR {scope_org}: \"");
        if (e == TN_OK)
            e = hex_token(out, "s", o->org);
    }
    if (e == TN_OK)
        e = tn_buf_puts(out, "\") AND {title content tags}: (");
    struct tn_buf words;
    tn_buf_init(&words, 2 * TN_STORE_QUERY_MAX_BYTES + 3 * TN_STORE_QUERY_MAX_WORDS);
    if (e == TN_OK)
        e = fts_query(query, &words);
    if (e == TN_OK)
        e = tn_buf_append(out, words.data, words.len);
    if (e == TN_OK)
        e = tn_buf_puts(out, ")");
    tn_buf_deinit(&words);
    return e;
}

enum tn_err sq_note_search(struct tn_store *s, const struct tn_owner *o, const char *query,
                           unsigned limit, tn_store_note_cb cb, void *ud)
{
    struct tn_buf match;
    /* the words (each byte at most doubled, quotes and spaces) and the scope tokens */
    tn_buf_init(&match, 2 * TN_STORE_QUERY_MAX_BYTES + 3 * TN_STORE_QUERY_MAX_WORDS + 4096);
    enum tn_err e = search_match(o, query, &match);
    if (e != TN_OK) {
        tn_buf_deinit(&match);
        return e;
    }
    struct call k;
    sqlite3_stmt *st;
    if ((e = sq_call_begin(s, &k, false)) == TN_OK) {
        e = sq_run(&k, S_NOTE_SEARCH, &st, "ttti", match.data, o->user, o->org, (int64_t)limit);
        e = each_note(&k, S_NOTE_SEARCH, st, e, true, cb, ud);
        sq_call_end(&k);
    }
    tn_buf_deinit(&match);
    return e;
}

/* ---------- audit ---------- */

/* AUDIT_ROWS records with one statement (a batch's per-statement work shared). */
static enum tn_err audit_rows(struct call *k, const struct tn_audit *a)
{
    struct conn *c = k->c;
    int rc = SQLITE_OK;
    if (!c->st[S_AUDIT_INSERT_ROWS])
        rc = sqlite3_prepare_v3(c->db, sq_stmt_sql[S_AUDIT_INSERT_ROWS], -1,
                                SQLITE_PREPARE_PERSISTENT, &c->st[S_AUDIT_INSERT_ROWS], NULL);
    sqlite3_stmt *st = c->st[S_AUDIT_INSERT_ROWS];
    for (int r = 0; r < AUDIT_ROWS && rc == SQLITE_OK; r++) {
        int b = r * 8;
        const char *text[7] = {a[r].user,    a[r].org,     a[r].client_id, a[r].tool,
                               a[r].note_id, a[r].outcome, a[r].detail};
        rc = sqlite3_bind_int64(st, b + 1, a[r].at);
        for (int i = 0; i < 7 && rc == SQLITE_OK; i++)
            rc = sqlite3_bind_text(st, b + 2 + i, text[i], -1, SQLITE_STATIC);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    enum tn_err e = rc == SQLITE_DONE ? TN_OK : sq_fail(k, rc, S_AUDIT_INSERT_ROWS);
    sq_finish(st);
    return e;
}

enum tn_err sq_audit_insert(struct tn_store *s, const struct tn_audit *a, size_t n, bool sync)
{
    struct call k;
    enum tn_err e = sq_call_begin(s, &k, true);
    if (e != TN_OK)
        return e;
    /* In WAL mode, synchronous=NORMAL commits without an fsync; the frames reach the disk
     * with the next synced commit or checkpoint. The connection goes back to FULL below
     * (note writes share these connections). */
    if (!sync) {
        k.c->lax = true; /* until FULL is back: pool_put drops it otherwise */
        if (sqlite3_exec(k.c->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK)
            sync = true;
    }
    e = sq_run(&k, S_BEGIN, NULL, "");
    size_t i = 0;
    /* Writing a batch is ~0.4 ms of CPU at nice 10, and the scheduler lets a running thread
     * keep the core for its slice while a request's worker that wakes on the same core
     * waits: the request arriving then waited for the whole batch (that was the p99 at one
     * connection). Giving the core up between statements bounds the wait to one statement
     * (docs/PERFORMANCE.md); with nothing else to run it returns at once. */
    for (; i + AUDIT_ROWS <= n && e == TN_OK; i += AUDIT_ROWS) {
        e = audit_rows(&k, a + i);
        sched_yield();
    }
    for (; i < n && e == TN_OK; i++)
        e = sq_run(&k, S_AUDIT_INSERT, NULL, "ittttttt", a[i].at, a[i].user, a[i].org,
                   a[i].client_id, a[i].tool, a[i].note_id, a[i].outcome, a[i].detail);
    if (e == TN_OK)
        e = sq_run(&k, S_COMMIT, NULL, "");
    if (k.c->lax && sqlite3_exec(k.c->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL) == SQLITE_OK)
        k.c->lax = false;
    sq_call_end(&k);
    return e;
}

/* The frames of unsynced audit commits are in the WAL file: flushing that file is what
 * the next synced commit would have done. No WAL file: nothing is pending. */
enum tn_err sq_audit_sync(struct tn_store *base)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    char wal[PATH_MAX];
    if (snprintf(wal, sizeof wal, "%s-wal", s->path) >= (int)sizeof wal)
        return TN_ERR_LIMIT;
    int fd = open(wal, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? TN_OK : TN_ERR_IO;
    enum tn_err e = fdatasync(fd) == 0 ? TN_OK : TN_ERR_IO;
    close(fd);
    return e;
}

enum tn_err sq_audit_list(struct tn_store *s, unsigned limit, tn_store_audit_cb cb, void *ud)
{
    struct call k;
    sqlite3_stmt *st;
    enum tn_err e = sq_call_begin(s, &k, false);
    if (e != TN_OK)
        return e;
    for (e = sq_run(&k, S_AUDIT_LIST, &st, "i", (int64_t)limit); e == TN_OK;
         e = sq_step(&k, st, S_AUDIT_LIST)) {
        struct tn_audit a;
        memset(&a, 0, sizeof a);
        if ((e = read_audit(st, &a)) != TN_OK)
            break;
        cb(&a, ud);
    }
    sq_finish(st);
    sq_call_end(&k);
    return e == TN_ERR_NOT_FOUND ? TN_OK : e;
}

enum tn_err sq_audit_query(struct tn_store *s, const struct tn_audit_filter *f,
                           tn_store_audit_cb cb, void *ud)
{
    struct call k;
    sqlite3_stmt *st;
    enum tn_err e = sq_call_begin(s, &k, false);
    if (e != TN_OK)
        return e;
    for (e = sq_run(&k, S_AUDIT_QUERY, &st, "tttiii", f->user, f->tool, f->outcome, f->since_ms,
                    f->until_ms, (int64_t)f->limit);
         e == TN_OK; e = sq_step(&k, st, S_AUDIT_QUERY)) {
        struct tn_audit a;
        memset(&a, 0, sizeof a);
        if ((e = read_audit(st, &a)) != TN_OK)
            break;
        cb(&a, ud);
    }
    sq_finish(st);
    sq_call_end(&k);
    return e == TN_ERR_NOT_FOUND ? TN_OK : e;
}
