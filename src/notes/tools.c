/* The application's tools: save_note, list_my_notes, get_note, update_note, delete_note,
 * search_notes, list_team_notes and whoami; and each owner's notes as note:// resources.
 *
 * Every handler takes the owner from the request's principal and passes it to the
 * store; there is no other way to reach a note. Each call that reads or changes notes
 * leaves an audit record (who, which client, which tool, which note, outcome; never the
 * text). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/principal.h"
#include "core/util.h"
#include "notes/notes.h"

enum { N_TOOLS = 8 };

/* The application, handed to every handler as its `ud`: registration gives the server
 * copies of the tables below that point here. */
struct tn_notes {
    struct tn_store *store;
    struct tn_mcp_server *server;
    struct tn_mcp_tool tools[N_TOOLS];
    struct tn_mcp_resource_provider resources;
};

/* After a note of `owner` changed: their subscriptions/listen streams on this instance
 * hear that their resources changed, at once. Other instances hear it from the store's
 * change feed (PostgreSQL), which announces this instance's writes to them. */
static void changed(struct tn_notes *app, const char *owner)
{
    tn_mcp_notify_resources_changed(app->server, owner);
}

/* The store's change feed: a note of `owner` changed through another instance. */
static void feed_cb(const char *owner, void *ud)
{
    struct tn_notes *app = ud;
    tn_mcp_notify_resources_changed(app->server, owner);
}

#define DEFAULT_PAGE 20

/* ---------- helpers ---------- */

static bool owner_of(struct tn_mcp_ctx *ctx, struct tn_owner *o)
{
    const struct tn_principal *p = tn_mcp_ctx_principal(ctx);
    if (!p)
        return false;
    o->user = p->key;
    o->org = p->org;
    return true;
}

/* Records a call (who, which organization and client, which tool and note, outcome;
 * never the text), each field cut to fit its column. */
static void audit(struct tn_notes *app, struct tn_mcp_ctx *ctx, const char *tool,
                  const char *note_id, const char *outcome)
{
    const struct tn_principal *p = tn_mcp_ctx_principal(ctx);
    struct tn_audit a;
    a.at = tn_time_now_ms();
    tn_strlcpy(a.user, p ? p->key : "", sizeof a.user);
    tn_strlcpy(a.org, p ? p->org : "", sizeof a.org);
    tn_strlcpy(a.client_id, p ? p->client_id : "", sizeof a.client_id);
    tn_strlcpy(a.tool, tool ? tool : "", sizeof a.tool);
    tn_strlcpy(a.note_id, note_id ? note_id : "", sizeof a.note_id);
    tn_strlcpy(a.outcome, outcome ? outcome : "", sizeof a.outcome);
    a.detail[0] = '\0';
    tn_store_audit_insert(app->store, &a);
}

/* How much of a note's text a result carries. */
enum text_mode {
    NO_TEXT,    /* save_note, update_note: the caller has just sent it */
    WHOLE_TEXT, /* get_note: all of it */
    LIST_TEXT,  /* lists and searches: the store's prefix of TN_NOTE_LIST_TEXT characters */
};

/* The title a note shows: the one given, else one derived from its text (never stored,
 * so an update of the text moves it along; see tn_note_title_derive). */
static const char *shown_title(const struct tn_note *n, size_t content_len,
                               char buf[TN_NOTE_DERIVED_TITLE_SIZE])
{
    if (n->title[0] || !n->content)
        return n->title;
    tn_note_title_derive(n->content, content_len, buf, TN_NOTE_DERIVED_TITLE_SIZE);
    return buf;
}

static json_t *note_json(const struct tn_note *n, enum text_mode mode)
{
    char title[TN_NOTE_DERIVED_TITLE_SIZE], created[21], updated[21];
    size_t len = n->content ? strlen(n->content) : 0;
    tn_time_rfc3339(n->created_at, created);
    tn_time_rfc3339(n->updated_at, updated);
    json_t *tags = json_loads(n->tags[0] ? n->tags : "[]", 0, NULL);
    json_t *o = json_pack("{s:s, s:s}", "id", n->id, "title", shown_title(n, len, title));
    if (o && mode != NO_TEXT && n->content) {
        json_object_set_new(o, "content", json_stringn(n->content, len));
        json_object_set_new(o, "truncated",
                            json_boolean(mode == LIST_TEXT && n->length > TN_NOTE_LIST_TEXT));
        json_object_set_new(o, "contentLength", json_integer(n->length));
    }
    json_object_set_new(o, "tags", tags ? tags : json_array());
    json_object_set_new(o, "visibility", json_string(n->visibility));
    json_object_set_new(o, "version", json_integer(n->version));
    json_object_set_new(o, "createdAt", json_string(created));
    json_object_set_new(o, "updatedAt", json_string(updated));
    json_object_set_new(o, "mine", json_true());
    return o;
}

static void mark_mine(json_t *o, const struct tn_note *n, const struct tn_owner *me)
{
    json_object_set_new(o, "mine", json_boolean(strcmp(n->owner, me->user) == 0));
}

/* The outcome of a store error as a tool result the model can act on. */
static json_t *store_error(struct tn_notes *app, struct tn_mcp_ctx *ctx, const char *tool,
                           const char *id, enum tn_err rc)
{
    switch (rc) {
    case TN_ERR_NOT_FOUND:
        audit(app, ctx, tool, id, "not_found");
        return tn_mcp_result_error("No note with id %s is visible to you.", id ? id : "(none)");
    case TN_ERR_BAD_INPUT:
    case TN_ERR_LIMIT:
        audit(app, ctx, tool, id, "invalid");
        return tn_mcp_result_error(
            "The note was refused: content must be 1 to %d bytes of UTF-8, a title at most %d "
            "characters, at most %d tags of 1 to %d characters, visibility private or org (org "
            "needs an organization).",
            TN_NOTE_MAX_CONTENT, TN_NOTE_MAX_TITLE, TN_NOTE_MAX_TAGS, TN_NOTE_MAX_TAG);
    default:
        audit(app, ctx, tool, id, "error");
        return tn_mcp_result_error("The notes store failed; nothing was changed. Try again.");
    }
}

static void tags_text(json_t *tags, char *out, size_t cap)
{
    char *t = tags ? json_dumps(tags, JSON_COMPACT) : NULL;
    tn_strlcpy(out, t ? t : "[]", cap);
    free(t);
}

/* Cursors are base64url("<updated_at>.<id>"): opaque to clients, checked strictly. */
static void cursor_make(int64_t updated_at, const char *id, char *out, size_t cap)
{
    char raw[96];
    int n = snprintf(raw, sizeof raw, "%lld.%s", (long long)updated_at, id);
    tn_b64url_encode(out, cap, raw, (size_t)n);
}

static bool cursor_read(const char *c, int64_t *updated, char id[32])
{
    char raw[96];
    size_t n = 0;
    if (!c || strlen(c) > 120 || tn_b64url_decode(raw, sizeof raw - 1, &n, c, strlen(c)) != TN_OK)
        return false;
    raw[n] = '\0';
    char *dot = strchr(raw, '.');
    if (!dot || dot == raw || strlen(dot + 1) < 3 || strlen(dot + 1) >= 32 ||
        strncmp(dot + 1, "n_", 2))
        return false;
    char *end = NULL;
    long long u = strtoll(raw, &end, 10);
    if (end != dot || u < 0)
        return false;
    for (const char *p = dot + 1; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-'))
            return false;
    *updated = u;
    tn_strlcpy(id, dot + 1, 32);
    return true;
}

struct collect {
    json_t *arr;              /* the notes as objects, or NULL: */
    struct tn_json_twin page; /* the notes as JSON text and its escape, comma separated
                               * (pages, the hot path) */
    const struct tn_owner *me;
    int64_t last_updated; /* the last note, for the next page's cursor */
    char last_id[32];
    unsigned n;
    bool snippets;
};

/* A listed note as JSON text, with its escape beside it (tn_json_twin): the members
 * note_json writes with LIST_TEXT, in its order. The tags are the stored JSON array,
 * written by tags_text. */
static void note_text(struct tn_json_twin *t, const struct tn_note *n, bool mine)
{
    char title_buf[TN_NOTE_DERIVED_TITLE_SIZE], date[21];
    size_t len = strlen(n->content);
    const char *title = shown_title(n, len, title_buf);
    if (t->err == TN_OK)
        t->err = tn_buf_reserve(&t->json, len + strlen(n->tags) + 256);
    if (t->err == TN_OK)
        t->err = tn_buf_reserve(&t->text, len + strlen(n->tags) + 320);
    TN_JSON_TWIN_LIT(t, "{\"id\":", "{\\\"id\\\":");
    tn_json_twin_string(t, n->id, strlen(n->id));
    TN_JSON_TWIN_LIT(t, ",\"title\":", ",\\\"title\\\":");
    tn_json_twin_string(t, title, strlen(title));
    TN_JSON_TWIN_LIT(t, ",\"content\":", ",\\\"content\\\":");
    tn_json_twin_string(t, n->content, len);
    if (n->length > TN_NOTE_LIST_TEXT)
        TN_JSON_TWIN_LIT(t, ",\"truncated\":true", ",\\\"truncated\\\":true");
    else
        TN_JSON_TWIN_LIT(t, ",\"truncated\":false", ",\\\"truncated\\\":false");
    TN_JSON_TWIN_LIT(t, ",\"contentLength\":", ",\\\"contentLength\\\":");
    tn_json_twin_int(t, n->length);
    TN_JSON_TWIN_LIT(t, ",\"tags\":", ",\\\"tags\\\":");
    if (n->tags[0] == '[')
        tn_json_twin_json(t, n->tags, strlen(n->tags));
    else
        TN_JSON_TWIN_LIT(t, "[]", "[]");
    TN_JSON_TWIN_LIT(t, ",\"visibility\":", ",\\\"visibility\\\":");
    tn_json_twin_string(t, n->visibility, strlen(n->visibility));
    TN_JSON_TWIN_LIT(t, ",\"version\":", ",\\\"version\\\":");
    tn_json_twin_int(t, n->version);
    TN_JSON_TWIN_LIT(t, ",\"createdAt\":\"", ",\\\"createdAt\\\":\\\"");
    tn_json_twin_plain(t, date, tn_time_rfc3339(n->created_at, date));
    TN_JSON_TWIN_LIT(t, "\",\"updatedAt\":\"", "\\\",\\\"updatedAt\\\":\\\"");
    tn_json_twin_plain(t, date, tn_time_rfc3339(n->updated_at, date));
    if (mine)
        TN_JSON_TWIN_LIT(t, "\",\"mine\":true}", "\\\",\\\"mine\\\":true}");
    else
        TN_JSON_TWIN_LIT(t, "\",\"mine\":false}", "\\\",\\\"mine\\\":false}");
}

static void collect_cb(const struct tn_note *n, void *ud)
{
    struct collect *c = ud;
    if (!c->arr) {
        if (c->n)
            TN_JSON_TWIN_LIT(&c->page, ",", ",");
        note_text(&c->page, n, strcmp(n->owner, c->me->user) == 0);
    } else {
        json_t *o = note_json(n, c->snippets ? LIST_TEXT : NO_TEXT);
        mark_mine(o, n, c->me);
        if (c->snippets) {
            json_object_set_new(o, "snippet", json_string(n->snippet));
            json_object_set_new(o, "rank", json_real(n->rank));
        }
        json_array_append_new(c->arr, o);
    }
    c->last_updated = n->updated_at;
    tn_strlcpy(c->last_id, n->id, sizeof c->last_id);
    c->n++;
}

/* The result of a page written as a twin whose text was opened with a quote: the quote
 * closed, the structured content and its text block made (NULL when out of memory);
 * frees the twin. */
static json_t *twin_result(struct tn_json_twin *t)
{
    if (t->err == TN_OK)
        t->err = tn_buf_append(&t->text, "\"", 1);
    json_t *r = t->err == TN_OK ? tn_mcp_result_structured_text(t->json.data, t->json.len,
                                                                t->text.data, t->text.len)
                                : NULL;
    tn_json_twin_deinit(t);
    return r;
}

/* save_note's result, {the members note_json writes with NO_TEXT, in its order,
 * "userId"}, written as JSON text with its escape beside it (tn_json_twin), as a list's
 * page is: no tree of ~12 jansson values to build, validate, dump and escape again per
 * save. The tags are tags_text's JSON, jansson's compact form, which is what
 * tn_json_dump writes (test_notes_tools compares the two writers). NULL when out of
 * memory, as tn_mcp_result_structured. */
static json_t *saved_result(const struct tn_note *n, const char *user)
{
    char title_buf[TN_NOTE_DERIVED_TITLE_SIZE], date[21];
    const char *title = shown_title(n, n->content ? strlen(n->content) : 0, title_buf);
    struct tn_json_twin t;
    tn_json_twin_init(&t, SIZE_MAX / 2);
    if (t.err == TN_OK) /* the text block's string, in its quotes */
        t.err = tn_buf_append(&t.text, "\"", 1);
    TN_JSON_TWIN_LIT(&t, "{\"id\":", "{\\\"id\\\":");
    tn_json_twin_string(&t, n->id, strlen(n->id));
    TN_JSON_TWIN_LIT(&t, ",\"title\":", ",\\\"title\\\":");
    tn_json_twin_string(&t, title, strlen(title));
    TN_JSON_TWIN_LIT(&t, ",\"tags\":", ",\\\"tags\\\":");
    if (n->tags[0] == '[')
        tn_json_twin_json(&t, n->tags, strlen(n->tags));
    else
        TN_JSON_TWIN_LIT(&t, "[]", "[]");
    TN_JSON_TWIN_LIT(&t, ",\"visibility\":", ",\\\"visibility\\\":");
    tn_json_twin_string(&t, n->visibility, strlen(n->visibility));
    TN_JSON_TWIN_LIT(&t, ",\"version\":", ",\\\"version\\\":");
    tn_json_twin_int(&t, n->version);
    TN_JSON_TWIN_LIT(&t, ",\"createdAt\":\"", ",\\\"createdAt\\\":\\\"");
    tn_json_twin_plain(&t, date, tn_time_rfc3339(n->created_at, date));
    TN_JSON_TWIN_LIT(&t, "\",\"updatedAt\":\"", "\\\",\\\"updatedAt\\\":\\\"");
    tn_json_twin_plain(&t, date, tn_time_rfc3339(n->updated_at, date));
    TN_JSON_TWIN_LIT(&t, "\",\"mine\":true,\"userId\":", "\\\",\\\"mine\\\":true,\\\"userId\\\":");
    tn_json_twin_string(&t, user, strlen(user));
    TN_JSON_TWIN_LIT(&t, "}", "}");
    json_t *r = twin_result(&t);
    return r;
}

/* ---------- tools ---------- */

static json_t *save_note(struct tn_mcp_ctx *ctx, json_t *args, void *ud)
{
    struct tn_notes *app = ud;
    struct tn_owner o;
    if (!owner_of(ctx, &o))
        return tn_mcp_result_error("Notes need a signed-in user.");
    struct tn_note n;
    memset(&n, 0, sizeof n);
    const char *content = json_string_value(json_object_get(args, "content"));
    const char *title = json_string_value(json_object_get(args, "title"));
    const char *vis = json_string_value(json_object_get(args, "visibility"));
    n.content = (char *)content;
    tn_strlcpy(n.title, title ? title : "", sizeof n.title);
    tags_text(json_object_get(args, "tags"), n.tags, sizeof n.tags);
    tn_strlcpy(n.visibility, vis ? vis : "private", sizeof n.visibility);
    if (!strcmp(n.visibility, "org") && !o.org[0]) {
        audit(app, ctx, "save_note", NULL, "invalid");
        return tn_mcp_result_error(
            "visibility \"org\" needs an organization, and your account has none.");
    }
    enum tn_err rc = tn_store_note_insert(app->store, &o, &n);
    if (rc != TN_OK)
        return store_error(app, ctx, "save_note", NULL, rc);
    audit(app, ctx, "save_note", n.id, "ok");
    changed(app, o.user);
    /* n.content is the argument's, for the title */
    return saved_result(&n, tn_mcp_ctx_principal(ctx)->subject);
}

static json_t *page_args(json_t *args, struct tn_note_page *p, char after_id[32], json_t **err)
{
    *err = NULL;
    memset(p, 0, sizeof *p);
    json_t *lim = json_object_get(args, "limit");
    p->limit = lim ? (unsigned)json_integer_value(lim) : DEFAULT_PAGE;
    p->tag = json_string_value(json_object_get(args, "tag"));
    after_id[0] = '\0';
    p->after_id = after_id;
    const char *cur = json_string_value(json_object_get(args, "cursor"));
    if (cur && !cursor_read(cur, &p->after_updated, after_id))
        *err = tn_mcp_result_error(
            "The cursor is not one this server gave out; start again without it.");
    return *err;
}

/* {"userId", "count", "notes", "nextCursor" when the page is full}, written as text. */
static json_t *list_result(struct tn_mcp_ctx *ctx, struct collect *c, unsigned limit)
{
    const char *user = tn_mcp_ctx_principal(ctx)->subject;
    struct tn_json_twin t;
    tn_json_twin_init(&t, SIZE_MAX / 2);
    t.err = tn_buf_reserve(&t.json, c->page.json.len + 256);
    if (t.err == TN_OK)
        t.err = tn_buf_reserve(&t.text, c->page.text.len + 320);
    if (t.err == TN_OK) /* the text block's string, in its quotes */
        t.err = tn_buf_append(&t.text, "\"", 1);
    TN_JSON_TWIN_LIT(&t, "{\"userId\":", "{\\\"userId\\\":");
    tn_json_twin_string(&t, user, strlen(user));
    TN_JSON_TWIN_LIT(&t, ",\"count\":", ",\\\"count\\\":");
    tn_json_twin_int(&t, c->n);
    TN_JSON_TWIN_LIT(&t, ",\"notes\":[", ",\\\"notes\\\":[");
    tn_json_twin_append(&t, &c->page);
    TN_JSON_TWIN_LIT(&t, "]", "]");
    if (c->n == limit) {
        char cur[160];
        cursor_make(c->last_updated, c->last_id, cur, sizeof cur);
        TN_JSON_TWIN_LIT(&t, ",\"nextCursor\":", ",\\\"nextCursor\\\":");
        tn_json_twin_string(&t, cur, strlen(cur));
    }
    TN_JSON_TWIN_LIT(&t, "}", "}");
    json_t *r = twin_result(&t);
    tn_json_twin_deinit(&c->page);
    return r ? r : tn_mcp_result_error("The server ran out of memory; try a smaller page.");
}

static json_t *list_common(struct tn_notes *app, struct tn_mcp_ctx *ctx, json_t *args,
                           const char *tool, bool team)
{
    struct tn_owner o;
    if (!owner_of(ctx, &o))
        return tn_mcp_result_error("Notes need a signed-in user.");
    struct tn_note_page p;
    char after[32];
    json_t *err;
    if (page_args(args, &p, after, &err)) {
        audit(app, ctx, tool, NULL, "invalid");
        return err;
    }
    struct collect c = {.me = &o};
    tn_json_twin_init(&c.page, SIZE_MAX / 2);
    /* room for a page of short notes at once (note_text asks for more per long one):
     * growing from 1 KiB copied the page four times */
    size_t room = p.limit && p.limit <= 100 ? p.limit : 20; /* checked by the store */
    c.page.err = tn_buf_reserve(&c.page.json, room * 512);
    if (c.page.err == TN_OK)
        c.page.err = tn_buf_reserve(&c.page.text, room * 576);
    enum tn_err rc = team ? tn_store_note_list_team(app->store, &o, &p, collect_cb, &c)
                          : tn_store_note_list(app->store, &o, &p, collect_cb, &c);
    if (rc != TN_OK) {
        tn_json_twin_deinit(&c.page);
        return store_error(app, ctx, tool, NULL, rc);
    }
    audit(app, ctx, tool, NULL, "ok");
    return list_result(ctx, &c, p.limit);
}

static json_t *list_my_notes(struct tn_mcp_ctx *ctx, json_t *args, void *ud)
{
    return list_common(ud, ctx, args, "list_my_notes", false);
}

static json_t *list_team_notes(struct tn_mcp_ctx *ctx, json_t *args, void *ud)
{
    return list_common(ud, ctx, args, "list_team_notes", true);
}

static json_t *get_note(struct tn_mcp_ctx *ctx, json_t *args, void *ud)
{
    struct tn_notes *app = ud;
    struct tn_owner o;
    if (!owner_of(ctx, &o))
        return tn_mcp_result_error("Notes need a signed-in user.");
    const char *id = json_string_value(json_object_get(args, "id"));
    struct tn_note n;
    memset(&n, 0, sizeof n);
    enum tn_err rc = tn_store_note_get(app->store, &o, id, &n);
    if (rc != TN_OK)
        return store_error(app, ctx, "get_note", id, rc);
    audit(app, ctx, "get_note", id, "ok");
    json_t *out = note_json(&n, WHOLE_TEXT);
    mark_mine(out, &n, &o);
    tn_note_deinit(&n);
    return tn_mcp_result_structured(out);
}

static json_t *update_note(struct tn_mcp_ctx *ctx, json_t *args, void *ud)
{
    struct tn_notes *app = ud;
    struct tn_owner o;
    if (!owner_of(ctx, &o))
        return tn_mcp_result_error("Notes need a signed-in user.");
    const char *id = json_string_value(json_object_get(args, "id"));
    json_int_t version = json_integer_value(json_object_get(args, "version"));
    const char *vis = json_string_value(json_object_get(args, "visibility"));
    json_t *tags = json_object_get(args, "tags");
    char tagbuf[sizeof((struct tn_note *)0)->tags];
    if (tags)
        tags_text(tags, tagbuf, sizeof tagbuf);
    if (vis && !strcmp(vis, "org") && !o.org[0]) {
        audit(app, ctx, "update_note", id, "invalid");
        return tn_mcp_result_error(
            "visibility \"org\" needs an organization, and your account has none.");
    }
    struct tn_note n;
    memset(&n, 0, sizeof n);
    enum tn_err rc = tn_store_note_update(
        app->store, &o, id, version, json_string_value(json_object_get(args, "title")),
        json_string_value(json_object_get(args, "content")), tags ? tagbuf : NULL, vis, &n);
    if (rc == TN_ERR_CONFLICT) {
        audit(app, ctx, "update_note", id, "conflict");
        json_t *r =
            version < n.version
                ? tn_mcp_result_error(
                      "Conflict: note %s was changed since version %lld (it is now at version "
                      "%lld). Read it again with get_note, then apply your change to the "
                      "current version.",
                      id, (long long)version, (long long)n.version)
                : tn_mcp_result_error(
                      "Conflict: note %s is at version %lld; there is no version %lld. Read it "
                      "with get_note and give the version it has.",
                      id, (long long)n.version, (long long)version);
        tn_note_deinit(&n);
        return r;
    }
    if (rc != TN_OK)
        return store_error(app, ctx, "update_note", id, rc);
    audit(app, ctx, "update_note", id, "ok");
    changed(app, o.user);
    json_t *out = note_json(&n, NO_TEXT);
    tn_note_deinit(&n);
    return tn_mcp_result_structured(out);
}

static json_t *delete_note(struct tn_mcp_ctx *ctx, json_t *args, void *ud)
{
    struct tn_notes *app = ud;
    struct tn_owner o;
    if (!owner_of(ctx, &o))
        return tn_mcp_result_error("Notes need a signed-in user.");
    const char *id = json_string_value(json_object_get(args, "id"));
    json_t *v = json_object_get(args, "version");
    enum tn_err rc = tn_store_note_delete(app->store, &o, id, v ? json_integer_value(v) : 0);
    if (rc == TN_ERR_CONFLICT) {
        audit(app, ctx, "delete_note", id, "conflict");
        return tn_mcp_result_error(
            "Conflict: note %s was changed since version %lld; read it again "
            "before deleting.",
            id, (long long)json_integer_value(v));
    }
    if (rc != TN_OK)
        return store_error(app, ctx, "delete_note", id, rc);
    audit(app, ctx, "delete_note", id, "ok");
    changed(app, o.user);
    return tn_mcp_result_structured(json_pack("{s:s, s:b}", "id", id, "deleted", 1));
}

static json_t *search_notes(struct tn_mcp_ctx *ctx, json_t *args, void *ud)
{
    struct tn_notes *app = ud;
    struct tn_owner o;
    if (!owner_of(ctx, &o))
        return tn_mcp_result_error("Notes need a signed-in user.");
    const char *q = json_string_value(json_object_get(args, "query"));
    json_t *lim = json_object_get(args, "limit");
    unsigned limit = lim ? (unsigned)json_integer_value(lim) : DEFAULT_PAGE;
    struct collect c = {.arr = json_array(), .me = &o, .snippets = true};
    enum tn_err rc = tn_store_note_search(app->store, &o, q, limit, collect_cb, &c);
    if (rc == TN_ERR_BAD_INPUT) {
        json_decref(c.arr);
        audit(app, ctx, "search_notes", NULL, "invalid");
        return tn_mcp_result_error("The query has no word to search for (at most 32 words of "
                                   "letters or digits); punctuation and operators are ignored.");
    }
    if (rc != TN_OK) {
        json_decref(c.arr);
        return store_error(app, ctx, "search_notes", NULL, rc);
    }
    audit(app, ctx, "search_notes", NULL, "ok");
    return tn_mcp_result_structured(
        json_pack("{s:s, s:I, s:o}", "query", q, "count", (json_int_t)c.n, "results", c.arr));
}

static json_t *whoami(struct tn_mcp_ctx *ctx, json_t *args, void *ud)
{
    const struct tn_principal *p = tn_mcp_ctx_principal(ctx);
    if (!p)
        return tn_mcp_result_error("No signed-in user: this server runs without authentication "
                                   "(AUTH_MODE=none).");
    return tn_mcp_result_structured(tn_principal_json(p));
}

/* ---------- resources: each owner's notes as note://<id> ---------- */

static enum tn_err note_list_res(struct tn_mcp_ctx *ctx, const char *cursor, size_t limit,
                                 json_t *out, char **next, void *ud)
{
    struct tn_notes *app = ud;
    struct tn_owner o;
    *next = NULL;
    if (!owner_of(ctx, &o))
        return TN_OK;
    struct tn_note_page p = {.limit = (unsigned)(limit > 100 ? 100 : limit ? limit : 1)};
    char after[32] = "";
    p.after_id = after;
    if (cursor && !cursor_read(cursor, &p.after_updated, after))
        return TN_OK;
    struct collect c = {.arr = json_array(), .me = &o};
    enum tn_err rc = tn_store_note_list(app->store, &o, &p, collect_cb, &c);
    if (rc != TN_OK) {
        json_decref(c.arr);
        return rc;
    }
    size_t i;
    json_t *v;
    json_array_foreach(c.arr, i, v) {
        char uri[64];
        snprintf(uri, sizeof uri, "note://%s", json_string_value(json_object_get(v, "id")));
        const char *t = json_string_value(json_object_get(v, "title"));
        json_array_append_new(out,
                              json_pack("{s:s, s:s, s:s}", "uri", uri, "name",
                                        t && t[0] ? t : "Untitled note", "mimeType", "text/plain"));
    }
    if (c.n == p.limit) {
        char cur[160];
        cursor_make(c.last_updated, c.last_id, cur, sizeof cur);
        *next = strdup(cur);
    }
    json_decref(c.arr);
    return TN_OK;
}

static json_t *note_read_res(struct tn_mcp_ctx *ctx, const char *uri, json_t *vars, void *ud)
{
    struct tn_notes *app = ud;
    struct tn_owner o;
    if (!owner_of(ctx, &o) || strncmp(uri, "note://", 7) != 0)
        return NULL;
    struct tn_note n;
    memset(&n, 0, sizeof n);
    if (tn_store_note_get(app->store, &o, uri + 7, &n) != TN_OK)
        return NULL;
    audit(app, ctx, "resources/read", n.id, "ok");
    json_t *r = json_pack("{s:[{s:s, s:s, s:s}]}", "contents", "uri", uri, "mimeType", "text/plain",
                          "text", n.content ? n.content : "");
    tn_note_deinit(&n);
    return r;
}

/* ---------- registration ---------- */

/* A note in results. The title is the one given or, when none was, derived from the
 * first line; dates are RFC 3339 UTC. */
#define NOTE_OUT                                                                                                                                            \
    "\"id\":{\"type\":\"string\",\"description\":\"The note's id (n_...), for get_note, update_note and delete_note\"},"                                    \
    "\"title\":{\"type\":\"string\",\"description\":\"The title given, or when none was given the first line of the text (at most 80 characters)\"},"       \
    "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"                                                                                        \
    "\"visibility\":{\"enum\":[\"private\",\"org\"],\"description\":\"private: only its author; org: everyone in the author's organization can read it\"}," \
    "\"version\":{\"type\":\"integer\",\"description\":\"1 when saved, +1 per change; update_note needs it\"},"                                             \
    "\"createdAt\":{\"type\":\"string\",\"format\":\"date-time\"},"                                                                                         \
    "\"updatedAt\":{\"type\":\"string\",\"format\":\"date-time\"},"                                                                                         \
    "\"mine\":{\"type\":\"boolean\",\"description\":\"true when you wrote it; only its author can change it\"}"
/* The text, whole or (lists and searches) a prefix. */
#define TEXT_OUT                                                                                                                             \
    "\"content\":{\"type\":\"string\",\"description\":\"The note's text; when truncated, only its first 2,000 characters\"},"                \
    "\"truncated\":{\"type\":\"boolean\",\"description\":\"true when content is only the beginning of the text: get_note reads it whole\"}," \
    "\"contentLength\":{\"type\":\"integer\",\"description\":\"Characters in the whole text\"}"
#define NOTE_REQ \
    "\"id\",\"title\",\"tags\",\"visibility\",\"version\",\"createdAt\",\"updatedAt\",\"mine\""
#define TEXT_REQ "\"content\",\"truncated\",\"contentLength\""
#define TAGS_IN                                                                                    \
    "\"tags\":{\"type\":\"array\",\"maxItems\":16,\"items\":{\"type\":\"string\",\"minLength\":1," \
    "\"maxLength\":32},\"description\":\"Labels to find the note by (at most 16, each 1 to 32 characters)\"}"
#define PAGE_IN                                                                                                                 \
    "\"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":100,\"description\":\"Notes per page, 1 to 100 (default 20)\"}," \
    "\"cursor\":{\"type\":\"string\",\"maxLength\":200,\"description\":\"To get the next page: the nextCursor of the previous page, unchanged\"}"
#define LIST_OUT                                                                                                                                     \
    "{\"type\":\"object\",\"properties\":{\"userId\":{\"type\":\"string\"},\"count\":{\"type\":\"integer\",\"description\":\"Notes on this page\"}," \
    "\"notes\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{" NOTE_OUT                                                         \
    "," TEXT_OUT "},"                                                                                                                                \
    "\"required\":[" NOTE_REQ "," TEXT_REQ "]}},"                                                                                                    \
    "\"nextCursor\":{\"type\":\"string\",\"description\":\"Present when there may be more notes: pass it as cursor\"}},"                             \
    "\"required\":[\"userId\",\"count\",\"notes\"]}"
#define ID_IN \
    "\"id\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":40,\"description\":\"The note's id (n_...) from a list, a search or save_note\"}"

static const struct tn_mcp_tool tools[] = {
    {.name = "save_note",
     .title = "Save a note",
     .description = "Save a new note for the signed-in user. Returns its id, title and version "
                    "(not the text). The title is optional: without one, the note's first line "
                    "serves as its title. A note is private to you unless visibility is \"org\": "
                    "then everyone in your organization can read it, and only you can change it. "
                    "Limits: text 1 to 65,536 bytes, title up to 200 characters, up to 16 tags of "
                    "1 to 32 characters. Every call adds a note: to change one, use update_note.",
     .input_schema =
         "{\"type\":\"object\",\"properties\":{"
         "\"content\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":65536,\"description\":\"The text of the note\"},"
         "\"title\":{\"type\":\"string\",\"maxLength\":200,\"description\":\"Optional; the first line of the text serves when there is none\"}," TAGS_IN
         ","
         "\"visibility\":{\"enum\":[\"private\",\"org\"],\"description\":\"private (the default): only you; org: your organization can read it\"}},"
         "\"required\":[\"content\"],\"additionalProperties\":false}",
     .output_schema = "{\"type\":\"object\",\"properties\":{" NOTE_OUT
                      ",\"userId\":{\"type\":\"string\"}},\"required\":[" NOTE_REQ ",\"userId\"]}",
     .annotations = {.read_only = -1, .destructive = -1, .idempotent = -1, .open_world = -1},
     .required_scope = "notes:write",
     .required_permission = "notes:write",
     .waits = true,
     .call = save_note},
    {.name = "list_my_notes",
     .title = "List my notes",
     .description =
         "List your own notes with their text, most recently changed first. Each note's "
         "content is its whole text up to 2,000 characters; a longer note comes as its "
         "first 2,000 characters with truncated: true and contentLength (its full length) "
         "- read it whole with get_note. Pages of 20 notes by default (limit: 1 to 100); "
         "when the result has nextCursor there may be more: call again with cursor set to "
         "it (a last page can be empty). "
         "tag: only notes with that tag. To find notes by words use search_notes; for "
         "notes colleagues shared, list_team_notes. Dates are RFC 3339, UTC.",
     .input_schema =
         "{\"type\":\"object\",\"properties\":{" PAGE_IN
         ",\"tag\":{\"type\":\"string\",\"maxLength\":32,\"description\":\"Only notes with this tag\"}},\"additionalProperties\":false}",
     .output_schema = LIST_OUT,
     .annotations = {.read_only = 1, .destructive = -1, .idempotent = 1, .open_world = -1},
     .required_scope = "notes:read",
     .required_permission = "notes:read",
     .call = list_my_notes},
    {.name = "get_note",
     .title = "Read a note",
     .description = "Read one note by id - yours, or one shared with your organization - with its "
                    "whole text (up to 65,536 bytes) and its version. Use it when a list or search "
                    "result has truncated: true, and before changing a note with update_note.",
     .input_schema = "{\"type\":\"object\",\"properties\":{" ID_IN
                     "},\"required\":[\"id\"],\"additionalProperties\":false}",
     .output_schema = "{\"type\":\"object\",\"properties\":{" NOTE_OUT "," TEXT_OUT
                      "},\"required\":[" NOTE_REQ "," TEXT_REQ "]}",
     .annotations = {.read_only = 1, .destructive = -1, .idempotent = 1, .open_world = -1},
     .required_scope = "notes:read",
     .required_permission = "notes:read",
     .call = get_note},
    {.name = "update_note",
     .title = "Change a note",
     .description =
         "Change one of your own notes: give its id, the version you last read, and only "
         "the fields to change (the others stay). content replaces the whole text, so "
         "start from get_note's text, never from a truncated list entry. title \"\" removes "
         "the title (the first line then serves). If the note changed since that version, "
         "nothing is overwritten and you get a conflict: read it again and reapply your "
         "change. Returns the new version (not the text).",
     .input_schema =
         "{\"type\":\"object\",\"properties\":{" ID_IN ","
         "\"version\":{\"type\":\"integer\",\"minimum\":1,\"description\":\"The version you last read\"},"
         "\"content\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":65536,\"description\":\"The new whole text\"},"
         "\"title\":{\"type\":\"string\",\"maxLength\":200,\"description\":\"The new title; \\\"\\\" for none (the first line serves)\"}," TAGS_IN
         ","
         "\"visibility\":{\"enum\":[\"private\",\"org\"],\"description\":\"private: only you; org: your organization can read it\"}},"
         "\"required\":[\"id\",\"version\"],\"additionalProperties\":false}",
     .output_schema = "{\"type\":\"object\",\"properties\":{" NOTE_OUT "},\"required\":[" NOTE_REQ
                      "]}",
     /* idempotent: the same call again names a version that is gone, so it changes nothing */
     .annotations = {.read_only = -1, .destructive = 1, .idempotent = 1, .open_world = -1},
     .required_scope = "notes:write",
     .required_permission = "notes:write",
     .waits = true,
     .call = update_note},
    {.name = "delete_note",
     .title = "Delete a note",
     .description =
         "Delete one of your own notes for good (it cannot be restored); returns its id "
         "and deleted: true. With version, only if nobody changed it since you read that "
         "version. Notes others shared with you cannot be deleted.",
     .input_schema =
         "{\"type\":\"object\",\"properties\":{" ID_IN ","
         "\"version\":{\"type\":\"integer\",\"minimum\":1,\"description\":\"Optional: delete only if the note is still at this version\"}},\"required\":[\"id\"],\"additionalProperties\":false}",
     .output_schema =
         "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\"},\"deleted\":{\"type\":\"boolean\"}},\"required\":[\"id\",\"deleted\"]}",
     .annotations = {.read_only = -1, .destructive = 1, .idempotent = 1, .open_world = -1},
     .required_scope = "notes:write",
     .required_permission = "notes:write",
     .waits = true,
     .call = delete_note},
    {.name = "search_notes",
     .title = "Search notes",
     .description =
         "Find notes by words, among your notes and those shared with your organization, "
         "best matches first. Every word must occur in the title, text or tags; case and "
         "accents do not matter; there are no operators or phrases. Each result carries the "
         "note's text as lists do (whole up to 2,000 characters, else the beginning with "
         "truncated: true - get_note reads it whole), a snippet around the match and a "
         "rank (higher is better). At most limit results (default 20, at most 100); there "
         "are no further pages. To see your latest notes without words, use list_my_notes.",
     .input_schema =
         "{\"type\":\"object\",\"properties\":{\"query\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":200,\"description\":\"Plain words, all of which must occur\"},"
         "\"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":100,\"description\":\"Results at most, 1 to 100 (default 20)\"}},\"required\":[\"query\"],\"additionalProperties\":false}",
     .output_schema =
         "{\"type\":\"object\",\"properties\":{\"query\":{\"type\":\"string\"},\"count\":{\"type\":\"integer\"},"
         "\"results\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{" NOTE_OUT
         "," TEXT_OUT ","
         "\"snippet\":{\"type\":\"string\",\"description\":\"The text around the match\"},\"rank\":{\"type\":\"number\"}},"
         "\"required\":[" NOTE_REQ "," TEXT_REQ ",\"snippet\",\"rank\"]}}},"
         "\"required\":[\"query\",\"count\",\"results\"]}",
     .annotations = {.read_only = 1, .destructive = -1, .idempotent = 1, .open_world = -1},
     .required_scope = "notes:read",
     .required_permission = "notes:read",
     .waits = true, /* a common word over a large store takes tens of ms: not on an event loop */
     .call = search_notes},
    {.name = "list_team_notes",
     .title = "List team notes",
     .description =
         "List the notes members of your organization shared with it (visibility \"org\"), "
         "yours included, with their text, most recently changed first. Text as "
         "list_my_notes gives it: whole up to 2,000 characters, else the beginning with "
         "truncated: true (get_note reads it whole). mine: true marks yours; the others' "
         "you can read but not change. Pages of 20 by default (limit: 1 to 100); "
         "nextCursor, when present, goes into cursor for the next page. Empty when your "
         "account has no organization.",
     .input_schema = "{\"type\":\"object\",\"properties\":{" PAGE_IN
                     "},\"additionalProperties\":false}",
     .output_schema = LIST_OUT,
     .annotations = {.read_only = 1, .destructive = -1, .idempotent = 1, .open_world = -1},
     .required_scope = "notes:read",
     .required_permission = "notes:read",
     .call = list_team_notes},
    {.name = "whoami",
     .title = "Who am I",
     .description =
         "Returns the signed-in user as this server sees them: user id (the token's sub), "
         "organization (null when none), scopes, roles, permissions, client id and the "
         "token's expiry (expiresAt: seconds since 1970, the token's exp).",
     .output_schema =
         "{\"type\":\"object\",\"properties\":{"
         "\"userId\":{\"type\":\"string\"},\"issuer\":{\"type\":\"string\"},"
         "\"organizationId\":{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"null\"}]},"
         "\"scopes\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
         "\"roles\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
         "\"permissions\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
         "\"clientId\":{\"type\":\"string\"},\"expiresAt\":{\"type\":\"integer\"}},"
         "\"required\":[\"userId\",\"issuer\",\"organizationId\",\"scopes\",\"roles\",\"permissions\","
         "\"clientId\",\"expiresAt\"]}",
     .annotations = {.read_only = 1, .destructive = -1, .idempotent = 1, .open_world = -1},
     .call = whoami},
};

/* Listing the note:// resources, reading one (the caller's own or one shared with the
 * organization) and hearing that they changed read notes, as get_note does. */
static const struct tn_mcp_resource_provider note_resources = {
    .uri_prefix = "note://",
    .list = note_list_res,
    .read = note_read_res,
    .required_scope = "notes:read",
    .required_permission = "notes:read",
};

_Static_assert(sizeof tools / sizeof tools[0] == N_TOOLS, "struct tn_notes holds every tool");

struct tn_notes *tn_notes_new(struct tn_store *store)
{
    struct tn_notes *app = calloc(1, sizeof *app);
    if (!app)
        return NULL;
    app->store = store;
    for (size_t i = 0; i < N_TOOLS; i++) {
        app->tools[i] = tools[i];
        app->tools[i].ud = app;
    }
    app->resources = note_resources;
    app->resources.ud = app;
    return app;
}

void tn_notes_free(struct tn_notes *app) { free(app); }

enum tn_err tn_notes_register(struct tn_notes *app, struct tn_mcp_server *s)
{
    enum tn_err rc = TN_OK;
    app->server = s;
    /* what a token's scopes grant: writing includes reading */
    if ((rc = tn_principal_scope_implies("notes:write", "notes:read")) != TN_OK)
        goto done;
    (void)tn_store_watch_notes(app->store, feed_cb, app); /* none on SQLite: one instance */
    for (size_t i = 0; i < N_TOOLS && rc == TN_OK; i++)
        rc = tn_mcp_tool_add(s, &app->tools[i]);
    if (rc != TN_OK)
        goto done;
    tn_mcp_listen_require(s, "notes:read", "notes:read");
    rc = tn_mcp_resource_provider_add(s, &app->resources);
done:
    return rc;
}
