/* The PostgreSQL backend's notes, their search and the audit log. Every statement names
 * the owner, and each notes transaction first sets the caller for the row-level security
 * policies (NOTE_AS, with_conn's `as`), which check the same a second time. */
#include "store/postgres_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------- reading rows ---------- */

static enum tn_err read_audit(const PGresult *r, int i, struct tn_audit *a)
{
    a->at = pg_col_int(r, i, 0);
    bool ok = TEXT(1, a->user) && TEXT(2, a->org) && TEXT(3, a->client_id) && TEXT(4, a->tool) &&
              TEXT(5, a->note_id) && TEXT(6, a->outcome) && TEXT(7, a->detail);
    return pg_row_result(ok, "audit");
}

/* A note row (NOTE_READ_COLS or NOTE_LIST_COLS). With `borrow`, n->content points into the result (valid until
 * PQclear: for callbacks); otherwise it is a heap copy for the caller. */
static enum tn_err read_note(const PGresult *r, int i, struct tn_note *n, bool borrow)
{
    bool ok = TEXT(0, n->id) && TEXT(1, n->owner) && TEXT(2, n->org) && TEXT(3, n->title) &&
              TEXT(5, n->tags) && TEXT(6, n->visibility);
    n->version = pg_col_int(r, i, 7);
    n->created_at = pg_col_int(r, i, 8);
    n->updated_at = pg_col_int(r, i, 9);
    n->length = pg_col_int(r, i, 10);
    if (!ok)
        return pg_row_result(false, "notes");
    if (borrow) {
        n->content = PQgetvalue(r, i, 4);
    } else {
        size_t len = (size_t)PQgetlength(r, i, 4);
        if (!(n->content = malloc(len + 1)))
            return TN_ERR_NOMEM;
        memcpy(n->content, PQgetvalue(r, i, 4), len + 1);
    }
    return TN_OK;
}

/* A search hit: the note (borrowed content), its snippet and rank. The snippet is cut to
 * the field at a UTF-8 character boundary. */
static enum tn_err read_hit(const PGresult *r, int i, struct tn_note *n)
{
    enum tn_err e = read_note(r, i, n, true);
    if (e != TN_OK)
        return e;
    const char *snip = PQgetvalue(r, i, 11);
    size_t len = (size_t)PQgetlength(r, i, 11);
    if (len >= sizeof n->snippet) {
        len = sizeof n->snippet - 1;
        while (len > 0 && ((unsigned char)snip[len] & 0xc0) == 0x80)
            len--;
    }
    memcpy(n->snippet, snip, len);
    n->snippet[len] = '\0';
    n->rank = strtod(PQgetvalue(r, i, 12), NULL);
    return TN_OK;
}

/* Frees a note read with read_note(..., false) after an error. */
static void note_clear(struct tn_note *n)
{
    free(n->content);
    memset(n, 0, sizeof *n);
}

/* ---------- notes ---------- */

struct note_insert {
    const struct tn_owner *o;
    const struct tn_note *n;
};

static enum tn_err note_insert_body(struct call *k, void *arg)
{
    const struct note_insert *a = arg;
    const struct tn_note *n = a->n;
    enum tn_err e = pg_run(k, S_NOTE_INSERT, NULL, n->id, a->o->user, a->o->org, n->title,
                           n->content, n->tags, n->visibility, n->version, n->created_at,
                           n->updated_at);
    if (e == TN_OK)
        k->announce = a->o->user;
    return e;
}

/* store.c has filled every field (id, owner, org, version, timestamps). */
enum tn_err pg_note_insert(struct tn_store *s, const struct tn_owner *o, const struct tn_note *n)
{
    struct note_insert a = {.o = o, .n = n};
    return pg_with_conn(s, true, o, note_insert_body, &a);
}

struct note_import {
    const struct tn_note *v;
    size_t n, added;
};

/* One transaction; each note is written as its owner (the row-level security policies
 * check every row against teamnotes.user and teamnotes.org). */
static enum tn_err note_import_body(struct call *k, void *arg)
{
    struct note_import *a = arg;
    enum tn_err e = TN_OK;
    a->added = 0; /* the body runs again after a lost connection: start clean */
    for (size_t i = 0; i < a->n && e == TN_OK; i++) {
        const struct tn_note *n = &a->v[i];
        PGresult *r = NULL;
        if (i == 0 || strcmp(n->owner, a->v[i - 1].owner) || strcmp(n->org, a->v[i - 1].org))
            e = pg_run(k, S_NOTE_AS, &r, n->owner, n->org);
        PQclear(r);
        r = NULL;
        if (e == TN_OK)
            e = pg_run(k, S_NOTE_IMPORT, &r, n->id, n->owner, n->org, n->title, n->content, n->tags,
                       n->visibility, n->version, n->created_at, n->updated_at);
        bool added = e == TN_OK && pg_changes(r) == 1;
        PQclear(r);
        if (added) {
            a->added++;
            /* inside the transaction, as the trigger of 0003 did: imports are rare, and
             * the server sends each owner once per transaction */
            e = pg_run(k, S_NOTE_ANNOUNCE_TX, NULL, n->owner);
        }
    }
    return e;
}

enum tn_err pg_note_import(struct tn_store *s, const struct tn_note *v, size_t n, size_t *added)
{
    struct note_import a = {.v = v, .n = n};
    enum tn_err e = pg_with_conn(s, true, NULL, note_import_body, &a);
    *added = e == TN_OK ? a.added : 0;
    return e;
}

enum tn_err pg_note_get(struct tn_store *s, const struct tn_owner *o, const char *id,
                        struct tn_note *out)
{
    PGresult *r;
    enum tn_err e = pg_one_read_as(s, o, S_NOTE_GET, &r, id, o->user, o->org);
    if (e == TN_OK)
        e = PQntuples(r) > 0 ? read_note(r, 0, out, false) : TN_ERR_NOT_FOUND;
    PQclear(r);
    if (e != TN_OK)
        note_clear(out);
    return e;
}

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
    PGresult *r = NULL;
    note_clear(a->out);
    enum tn_err e = pg_run(k, S_NOTE_UPDATE, &r, a->id, a->o->user, a->o->org, a->expected_version,
                           a->title, a->content, a->tags, a->visibility, a->now);
    if (e == TN_OK && PQntuples(r) == 1) {
        e = read_note(r, 0, a->out, false);
        PQclear(r);
        k->announce = a->o->user; /* updated, whatever reading it back says */
        return e;
    }
    PQclear(r);
    /* Nothing updated: another version, or not a note of theirs. */
    if (e == TN_OK)
        e = pg_run(k, S_NOTE_GET_OWN, &r, a->id, a->o->user, a->o->org);
    if (e == TN_OK)
        e = PQntuples(r) == 0 ? TN_ERR_NOT_FOUND : read_note(r, 0, a->out, false);
    PQclear(r);
    return e == TN_OK ? TN_ERR_CONFLICT : e;
}

enum tn_err pg_note_update(struct tn_store *s, const struct tn_owner *o, const char *id,
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
    enum tn_err e = pg_with_conn(s, false, o, note_update_body, &a);
    if (e != TN_OK && e != TN_ERR_CONFLICT)
        note_clear(out);
    return e;
}

struct note_delete {
    const struct tn_owner *o;
    const char *id;
    int64_t expected_version;
};

static enum tn_err note_delete_body(struct call *k, void *arg)
{
    struct note_delete *a = arg;
    PGresult *r = NULL;
    enum tn_err e = pg_run(k, S_NOTE_DELETE, &r, a->id, a->o->user, a->o->org, a->expected_version);
    bool deleted = e == TN_OK && pg_changes(r) == 1;
    PQclear(r);
    if (deleted)
        k->announce = a->o->user;
    if (e != TN_OK || deleted)
        return e;
    if ((e = pg_run(k, S_NOTE_GET_OWN, &r, a->id, a->o->user, a->o->org)) == TN_OK)
        e = PQntuples(r) == 0 ? TN_ERR_NOT_FOUND : TN_ERR_CONFLICT;
    PQclear(r);
    return e;
}

enum tn_err pg_note_delete(struct tn_store *s, const struct tn_owner *o, const char *id,
                           int64_t expected_version)
{
    struct note_delete a = {.o = o, .id = id, .expected_version = expected_version};
    return pg_with_conn(s, false, o, note_delete_body, &a);
}

/* Hands each row of a notes result to `cb` (the connection is already back). */
static enum tn_err each_note(PGresult *r, bool hits, tn_store_note_cb cb, void *ud)
{
    enum tn_err e = TN_OK;
    for (int i = 0; e == TN_OK && i < PQntuples(r); i++) {
        struct tn_note n;
        memset(&n, 0, sizeof n);
        if ((e = hits ? read_hit(r, i, &n) : read_note(r, i, &n, true)) == TN_OK)
            cb(&n, ud);
    }
    return e;
}

enum tn_err pg_note_list(struct tn_store *s, const struct tn_owner *o, const struct tn_note_page *p,
                         tn_store_note_cb cb, void *ud)
{
    PGresult *r;
    enum tn_err e = p->tag
                        ? pg_one_read_as(s, o, S_NOTE_LIST_TAG, &r, o->user, o->org,
                                         p->after_updated, p->after_id, p->tag, (int64_t)p->limit)
                        : pg_one_read_as(s, o, S_NOTE_LIST, &r, o->user, o->org, p->after_updated,
                                         p->after_id, (int64_t)p->limit);
    if (e == TN_OK)
        e = each_note(r, false, cb, ud);
    PQclear(r);
    return e;
}

enum tn_err pg_note_list_team(struct tn_store *s, const struct tn_owner *o,
                              const struct tn_note_page *p, tn_store_note_cb cb, void *ud)
{
    PGresult *r;
    enum tn_err e = p->tag
                        ? pg_one_read_as(s, o, S_NOTE_LIST_TEAM_TAG, &r, o->org, p->after_updated,
                                         p->after_id, p->tag, (int64_t)p->limit)
                        : pg_one_read_as(s, o, S_NOTE_LIST_TEAM, &r, o->org, p->after_updated,
                                         p->after_id, (int64_t)p->limit);
    if (e == TN_OK)
        e = each_note(r, false, cb, ud);
    PQclear(r);
    return e;
}

enum tn_err pg_note_search(struct tn_store *s, const struct tn_owner *o, const char *query,
                           unsigned limit, tn_store_note_cb cb, void *ud)
{
    PGresult *r;
    enum tn_err e = pg_one_read_as(s, o, S_NOTE_SEARCH, &r, o->user, o->org, query, (int64_t)limit);
    if (e == TN_OK)
        e = each_note(r, true, cb, ud);
    PQclear(r);
    return e;
}

/* ---------- audit ---------- */

struct audit_batch {
    const struct tn_audit *a;
    size_t n;
    bool sync;
};

/* COPY's binary format (PostgreSQL's "COPY" page): a header, then per row the number of
 * fields and each field as its length and bytes (int8 as 8 bytes, big-endian; text as
 * its bytes, which the server checks as UTF-8 like any text it receives), then -1. */
static const char copy_header[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
enum { AUDIT_FIELDS = 8 };

static enum tn_err put_be(struct tn_buf *b, uint64_t v, size_t n)
{
    char x[8];
    for (size_t i = 0; i < n; i++)
        x[i] = (char)(v >> (8 * (n - 1 - i)));
    return tn_buf_append(b, x, n);
}

static enum tn_err put_text(struct tn_buf *b, const char *s)
{
    size_t n = strlen(s); /* a field of struct tn_audit: far below 2 GiB */
    enum tn_err e = put_be(b, n, 4);
    return e == TN_OK ? tn_buf_append(b, s, n) : e;
}

/* The batch's rows in COPY's binary format (AUDIT_COLS, in order). A row takes less
 * than its struct plus 64 bytes (2 + 12 + 7 * 4 bytes of counts and lengths). */
static enum tn_err audit_copy_data(const struct tn_audit *v, size_t n, struct tn_buf *b)
{
    tn_buf_init(b, sizeof copy_header + 2 + n * (sizeof *v + 64));
    enum tn_err e = tn_buf_append(b, copy_header, sizeof copy_header);
    for (size_t i = 0; i < n && e == TN_OK; i++) {
        const struct tn_audit *a = &v[i];
        if ((e = put_be(b, AUDIT_FIELDS, 2)) == TN_OK && (e = put_be(b, 8, 4)) == TN_OK &&
            (e = put_be(b, (uint64_t)a->at, 8)) == TN_OK && (e = put_text(b, a->user)) == TN_OK &&
            (e = put_text(b, a->org)) == TN_OK && (e = put_text(b, a->client_id)) == TN_OK &&
            (e = put_text(b, a->tool)) == TN_OK && (e = put_text(b, a->note_id)) == TN_OK &&
            (e = put_text(b, a->outcome)) == TN_OK)
            e = put_text(b, a->detail);
    }
    return e == TN_OK ? put_be(b, 0xffff, 2) : e; /* the trailer: -1 fields */
}

/* The batch is one COPY (pg_copy_in): the server parses and plans one statement for
 * all of its rows instead of executing an INSERT per row. */
static enum tn_err audit_batch_body(struct call *k, void *arg)
{
    const struct audit_batch *b = arg;
    /* an asynchronous commit: PostgreSQL's WAL writer flushes it within a moment */
    enum tn_err e = b->sync ? TN_OK : pg_simple(k, "SET LOCAL synchronous_commit = off");
    if (e != TN_OK || b->n == 0)
        return e;
    struct tn_buf data;
    e = audit_copy_data(b->a, b->n, &data);
    if (e == TN_OK)
        e = pg_copy_in(k, "COPY audit (" AUDIT_COLS ") FROM STDIN (FORMAT binary)", data.data,
                       data.len);
    tn_buf_deinit(&data);
    return e;
}

enum tn_err pg_audit_insert(struct tn_store *s, const struct tn_audit *a, size_t n, bool sync)
{
    struct audit_batch b = {.a = a, .n = n, .sync = sync};
    return pg_with_conn(s, true, NULL, audit_batch_body, &b);
}

enum tn_err pg_audit_list(struct tn_store *s, unsigned limit, tn_store_audit_cb cb, void *ud)
{
    LIST(s, struct tn_audit, read_audit, cb, ud, S_AUDIT_LIST, (int64_t)limit);
}

enum tn_err pg_audit_query(struct tn_store *s, const struct tn_audit_filter *f,
                           tn_store_audit_cb cb, void *ud)
{
    LIST(s, struct tn_audit, read_audit, cb, ud, S_AUDIT_QUERY, f->user, f->tool, f->outcome,
         f->since_ms, f->until_ms, (int64_t)f->limit);
}
