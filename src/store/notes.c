/* The public API of notes (store.h): argument checks (UTF-8, sizes, ids, tags,
 * visibility), titles derived from content, then the backend. Apart from store.c, which
 * keeps the accounts, the OAuth state and the audit queue. */
#include "store/store.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/util.h"
#include "ops/metrics.h"
#include "store/backend.h"

/* Times a backend call for the metrics (ops/metrics.h) and passes its result on. */
static enum tn_err timed(enum tn_metrics_store_op op, uint64_t t0, enum tn_err rc)
{
    tn_metrics_store(op, tn_time_mono_ns() - t0);
    return rc;
}

#define TERMINATED(p, f) (memchr((p)->f, '\0', sizeof(p)->f) != NULL)
#define NONEMPTY(p, f) (TERMINATED(p, f) && (p)->f[0] != '\0')
#define FIELD_SIZE(type, f) sizeof(((type *)0)->f)

/* ---------- notes ---------- */

enum {
    PAGE_MAX = 100,     /* notes per page or search */
    NOTE_ID_BYTES = 16, /* an id is "n_" and these bytes in base64url (24 characters) */
    NOTE_ID_TIME = 6,   /* of which the first: the creation time in ms, big-endian */
};

/* Strict UTF-8 (RFC 3629): no overlong forms (so no C0 80 smuggling a NUL), no
 * surrogates, nothing above U+10FFFF, and no NUL byte. *cps counts code points. */
static bool utf8_valid(const char *p, size_t n, size_t *cps)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0, count = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t len;
        uint32_t cp, min;
        if (c == 0) {
            return false;
        } else if (c < 0x80) {
            i++;
            count++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t j = 1; j < len; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
        count++;
    }
    *cps = count;
    return true;
}

/* A C string of at most `max_bytes` bytes (measured without reading past them) that is
 * valid UTF-8 of at most `max_cps` code points. */
static bool text_ok(const char *t, size_t min_bytes, size_t max_bytes, size_t max_cps)
{
    size_t n = strnlen(t, max_bytes + 1), cps;
    return n >= min_bytes && n <= max_bytes && utf8_valid(t, n, &cps) && cps <= max_cps;
}

static bool owner_ok(const struct tn_owner *o)
{
    const size_t user_max = FIELD_SIZE(struct tn_note, owner) - 1;
    const size_t org_max = FIELD_SIZE(struct tn_note, org) - 1;
    if (!o || !o->user || !o->org)
        return false;
    size_t u = strnlen(o->user, user_max + 1), g = strnlen(o->org, org_max + 1);
    return u > 0 && u <= user_max && g <= org_max;
}

/* "n_" followed by the base64url of NOTE_ID_BYTES bytes: the only ids the store issues.
 * Anything else can never name a note. */
static bool note_id_ok(const char *id)
{
    static const size_t len = 2 + (NOTE_ID_BYTES * 4 + 2) / 3; /* 24 */
    if (strnlen(id, len + 1) != len || id[0] != 'n' || id[1] != '_')
        return false;
    for (size_t i = 2; i < len; i++) {
        char c = id[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

static bool tag_ok(const char *t, size_t n)
{
    size_t cps;
    return n > 0 && utf8_valid(t, n, &cps) && cps <= TN_NOTE_MAX_TAG;
}

/* A JSON array of at most TN_NOTE_MAX_TAGS strings of 1..TN_NOTE_MAX_TAG code points,
 * whose text fits struct tn_note's tags field (it is stored and returned as given). */
static bool tags_ok(const char *t)
{
    const size_t cap = FIELD_SIZE(struct tn_note, tags);
    size_t len = strnlen(t, cap), cps;
    if (len >= cap || !utf8_valid(t, len, &cps))
        return false;
    json_t *a = json_loadb(t, len, 0, NULL);
    bool ok = json_is_array(a) && json_array_size(a) <= TN_NOTE_MAX_TAGS;
    for (size_t i = 0; ok && i < json_array_size(a); i++) {
        json_t *v = json_array_get(a, i);
        ok = json_is_string(v) && tag_ok(json_string_value(v), json_string_length(v));
    }
    json_decref(a);
    return ok;
}

/* Shared notes need an organization to be shared with. */
static bool visibility_ok(const char *v, const struct tn_owner *o)
{
    return strcmp(v, "private") == 0 || (strcmp(v, "org") == 0 && o->org[0] != '\0');
}

static bool content_ok(const char *c)
{
    return text_ok(c, 1, TN_NOTE_MAX_CONTENT, TN_NOTE_MAX_CONTENT);
}

static bool title_ok(const char *t)
{
    return text_ok(t, 0, FIELD_SIZE(struct tn_note, title) - 1, TN_NOTE_MAX_TITLE);
}

static bool title_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r';
}

size_t tn_note_title_derive(const char *content, size_t len, char *out, size_t cap)
{
    static const char ellipsis[] = "\xe2\x80\xa6"; /* … */
    const unsigned char *c = (const unsigned char *)content;
    size_t i = 0, start = 0, end = 0;
    if (!out || cap == 0)
        return 0;
    out[0] = '\0';
    if (!content)
        return 0;
    while (i < len && c[i]) {
        size_t eol = i;
        while (eol < len && c[eol] && c[eol] != '\n')
            eol++;
        start = i;
        while (start < eol && title_space(c[start]))
            start++;
        /* a Markdown heading: "#", "##", … then a space */
        size_t h = start;
        while (h < eol && c[h] == '#')
            h++;
        if (h > start && h < eol && title_space(c[h]))
            for (start = h; start < eol && title_space(c[start]); start++)
                ;
        end = eol;
        while (end > start && title_space(c[end - 1]))
            end--;
        if (end > start || eol >= len || c[eol] != '\n')
            break; /* a title, or the end of the text (its length or a NUL) */
        i = eol + 1;
    }
    if (end <= start)
        return 0;
    /* at most TN_NOTE_DERIVED_TITLE characters; a cut line ends in … */
    size_t n = 0, chars = 0;
    while (start + n < end && chars < TN_NOTE_DERIVED_TITLE) {
        n++;
        while (start + n < end && (c[start + n] & 0xc0) == 0x80)
            n++;
        chars++;
    }
    bool cut = start + n < end;
    if (cut && !title_space(c[start + n])) {
        /* not at a word's end: end at a space when there is one in the second half */
        size_t sp = n;
        while (sp > n / 2 && !title_space(c[start + sp - 1]))
            sp--;
        if (sp > n / 2)
            n = sp - 1;
        while (n > 0 && title_space(c[start + n - 1]))
            n--;
    }
    size_t need = n + (cut ? sizeof ellipsis - 1 : 0);
    if (need >= cap) { /* a small buffer: as much of the line as fits, no … */
        cut = false;
        if (n > cap - 1) {
            n = cap - 1;
            while (n > 0 && (c[start + n] & 0xc0) == 0x80)
                n--;
        }
        need = n;
    }
    memcpy(out, c + start, n);
    if (cut)
        memcpy(out + n, ellipsis, sizeof ellipsis - 1);
    out[need] = '\0';
    return need;
}

void tn_note_deinit(struct tn_note *n)
{
    if (!n)
        return;
    free(n->content);
    n->content = NULL;
}

enum tn_err tn_store_note_insert(struct tn_store *s, const struct tn_owner *o, struct tn_note *n)
{
    if (!s || !owner_ok(o) || !n || !n->content || !TERMINATED(n, title) || !TERMINATED(n, tags) ||
        !TERMINATED(n, visibility))
        return TN_ERR_BAD_INPUT;
    struct tn_note copy;
    memset(&copy, 0, sizeof copy);
    memcpy(copy.title, n->title, sizeof copy.title);
    copy.content = n->content;
    /* No tags and no visibility mean none and private: the default never shares. */
    snprintf(copy.tags, sizeof copy.tags, "%s", n->tags[0] ? n->tags : "[]");
    snprintf(copy.visibility, sizeof copy.visibility, "%s",
             n->visibility[0] ? n->visibility : "private");
    if (!title_ok(copy.title) || !content_ok(copy.content) || !tags_ok(copy.tags) ||
        !visibility_ok(copy.visibility, o))
        return TN_ERR_BAD_INPUT;

    /* The id starts with the creation time, then 80 random bits (unguessable still).
     * With random ids each note of a commit group dirtied its own page of the id index
     * (a WAL frame, two writes, per note); ids of the same moment sit side by side. The
     * time says nothing the note's createdAt does not. */
    copy.version = 1;
    copy.created_at = copy.updated_at = tn_time_now_ms();
    uint8_t raw[NOTE_ID_BYTES];
    uint64_t t = (uint64_t)copy.created_at;
    for (int i = NOTE_ID_TIME - 1; i >= 0; i--, t >>= 8)
        raw[i] = (uint8_t)t;
    tn_random(raw + NOTE_ID_TIME, sizeof raw - NOTE_ID_TIME);
    memcpy(copy.id, "n_", 2);
    tn_b64url_encode(copy.id + 2, sizeof copy.id - 2, raw, sizeof raw);
    snprintf(copy.owner, sizeof copy.owner, "%s", o->user);
    snprintf(copy.org, sizeof copy.org, "%s", o->org);

    uint64_t t0 = tn_time_mono_ns();
    enum tn_err e = timed(TN_METRICS_STORE_NOTE_INSERT, t0, s->ops->note_insert(s, o, &copy));
    if (e != TN_OK)
        return e;
    /* Everything but the caller's content pointer, which stays theirs. */
    copy.content = n->content;
    *n = copy;
    return TN_OK;
}

enum tn_err tn_store_note_get(struct tn_store *s, const struct tn_owner *o, const char *id,
                              struct tn_note *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!s || !owner_ok(o) || !id || !out)
        return TN_ERR_BAD_INPUT;
    if (!note_id_ok(id))
        return TN_ERR_NOT_FOUND;
    uint64_t t0 = tn_time_mono_ns();
    return timed(TN_METRICS_STORE_NOTE_GET, t0, s->ops->note_get(s, o, id, out));
}

enum tn_err tn_store_note_update(struct tn_store *s, const struct tn_owner *o, const char *id,
                                 int64_t expected_version, const char *title, const char *content,
                                 const char *tags, const char *visibility, struct tn_note *out)
{
    struct tn_note scratch;
    if (!out)
        out = &scratch;
    memset(out, 0, sizeof *out);
    if (!s || !owner_ok(o) || !id || expected_version < 1)
        return TN_ERR_BAD_INPUT;
    if (!title && !content && !tags && !visibility)
        return TN_ERR_BAD_INPUT; /* nothing to change */
    if (tags && tags[0] == '\0')
        tags = "[]";
    if ((title && !title_ok(title)) || (content && !content_ok(content)) ||
        (tags && !tags_ok(tags)) || (visibility && !visibility_ok(visibility, o)))
        return TN_ERR_BAD_INPUT;
    if (!note_id_ok(id))
        return TN_ERR_NOT_FOUND;
    uint64_t t0 = tn_time_mono_ns();
    enum tn_err e = timed(TN_METRICS_STORE_NOTE_UPDATE, t0,
                          s->ops->note_update(s, o, id, expected_version, title, content, tags,
                                              visibility, tn_time_now_ms(), out));
    if (out == &scratch)
        tn_note_deinit(&scratch);
    return e;
}

enum tn_err tn_store_note_delete(struct tn_store *s, const struct tn_owner *o, const char *id,
                                 int64_t expected_version)
{
    if (!s || !owner_ok(o) || !id || expected_version < 0)
        return TN_ERR_BAD_INPUT;
    if (!note_id_ok(id))
        return TN_ERR_NOT_FOUND;
    uint64_t t0 = tn_time_mono_ns();
    return timed(TN_METRICS_STORE_NOTE_DELETE, t0, s->ops->note_delete(s, o, id, expected_version));
}

/* Checks a page and hands the backend one where the first page continues after
 * (INT64_MAX, ""): every page is then the same range query. */
static enum tn_err page_norm(const struct tn_note_page *p, struct tn_note_page *out)
{
    memset(out, 0, sizeof *out);
    if (!p || p->limit < 1 || p->limit > PAGE_MAX)
        return TN_ERR_BAD_INPUT;
    if (p->tag && !tag_ok(p->tag, strnlen(p->tag, TN_NOTE_MAX_TAG * 4 + 1)))
        return TN_ERR_BAD_INPUT;
    *out = *p;
    if (!p->after_id || p->after_id[0] == '\0') {
        out->after_updated = INT64_MAX;
        out->after_id = "";
    } else if (!note_id_ok(p->after_id)) {
        return TN_ERR_BAD_INPUT; /* not a cursor this store handed out */
    }
    return TN_OK;
}

enum tn_err tn_store_note_list(struct tn_store *s, const struct tn_owner *o,
                               const struct tn_note_page *p, tn_store_note_cb cb, void *ud)
{
    struct tn_note_page page;
    if (!s || !owner_ok(o) || !cb || page_norm(p, &page) != TN_OK)
        return TN_ERR_BAD_INPUT;
    uint64_t t0 = tn_time_mono_ns();
    return timed(TN_METRICS_STORE_NOTE_LIST, t0, s->ops->note_list(s, o, &page, cb, ud));
}

enum tn_err tn_store_note_list_team(struct tn_store *s, const struct tn_owner *o,
                                    const struct tn_note_page *p, tn_store_note_cb cb, void *ud)
{
    struct tn_note_page page;
    if (!s || !owner_ok(o) || !cb || page_norm(p, &page) != TN_OK)
        return TN_ERR_BAD_INPUT;
    if (o->org[0] == '\0')
        return TN_OK; /* no organization, no team */
    uint64_t t0 = tn_time_mono_ns();
    return timed(TN_METRICS_STORE_NOTE_LIST, t0, s->ops->note_list_team(s, o, &page, cb, ud));
}

enum { IMPORT_MAX = 100000 };

enum tn_err tn_store_note_import(struct tn_store *s, const struct tn_note_import *v, size_t n,
                                 size_t *added, size_t *bad)
{
    static const uint8_t key[] = "teamnotes import v1";
    struct tn_note *notes = NULL;
    enum tn_err e = TN_ERR_BAD_INPUT;
    size_t scratch_added, scratch_bad;
    if (!added)
        added = &scratch_added;
    if (!bad)
        bad = &scratch_bad;
    *added = 0;
    *bad = 0;
    if (!s || !v || n < 1 || n > IMPORT_MAX)
        return TN_ERR_BAD_INPUT;
    if (!(notes = calloc(n, sizeof *notes)))
        return TN_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        const struct tn_note_import *in = &v[i];
        struct tn_note *out = &notes[i];
        size_t cps;
        *bad = i;
        if (!owner_ok(&in->owner) || !in->source_id || !in->content || !content_ok(in->content) ||
            in->created_at < 0 || in->created_at >= ((int64_t)1 << 48))
            goto done;
        size_t sl = strnlen(in->source_id, 257);
        if (sl < 1 || sl > 256 || !utf8_valid(in->source_id, sl, &cps))
            goto done;
        /* owner, org and source id, each with its length: no two triples share a message */
        size_t ul = strlen(in->owner.user), ol = strlen(in->owner.org);
        uint8_t msg[8 + FIELD_SIZE(struct tn_note, owner) + FIELD_SIZE(struct tn_note, org) + 257];
        size_t m = 0;
        msg[m++] = (uint8_t)(ul >> 8), msg[m++] = (uint8_t)ul;
        memcpy(msg + m, in->owner.user, ul), m += ul;
        msg[m++] = (uint8_t)(ol >> 8), msg[m++] = (uint8_t)ol;
        memcpy(msg + m, in->owner.org, ol), m += ol;
        msg[m++] = (uint8_t)(sl >> 8), msg[m++] = (uint8_t)sl;
        memcpy(msg + m, in->source_id, sl), m += sl;
        uint8_t mac[32], raw[NOTE_ID_BYTES];
        tn_hmac_sha256(mac, key, sizeof key - 1, msg, m);
        uint64_t t = (uint64_t)in->created_at;
        for (int b = NOTE_ID_TIME - 1; b >= 0; b--, t >>= 8)
            raw[b] = (uint8_t)t;
        memcpy(raw + NOTE_ID_TIME, mac, sizeof raw - NOTE_ID_TIME);
        memcpy(out->id, "n_", 2);
        tn_b64url_encode(out->id + 2, sizeof out->id - 2, raw, sizeof raw);
        snprintf(out->owner, sizeof out->owner, "%s", in->owner.user);
        snprintf(out->org, sizeof out->org, "%s", in->owner.org);
        out->content = (char *)in->content; /* borrowed */
        memcpy(out->tags, "[]", 3);
        memcpy(out->visibility, "private", 8);
        out->version = 1;
        out->created_at = out->updated_at = in->created_at;
    }
    *bad = 0;
    e = s->ops->note_import(s, notes, n, added);
    if (e != TN_OK)
        *added = 0;
done:
    free(notes);
    return e;
}

/* Valid UTF-8 of at most TN_STORE_QUERY_MAX_BYTES bytes and TN_STORE_QUERY_MAX_WORDS
 * words, at least one of them searchable. */
static bool query_ok(const char *q)
{
    size_t n = strnlen(q, TN_STORE_QUERY_MAX_BYTES + 1), cps;
    if (n > TN_STORE_QUERY_MAX_BYTES || !utf8_valid(q, n, &cps))
        return false;
    size_t words = 0, searchable = 0;
    for (size_t i = 0; i < n;) {
        while (i < n && tn_store_query_space(q[i]))
            i++;
        size_t start = i;
        while (i < n && !tn_store_query_space(q[i]))
            i++;
        if (i > start) {
            words++;
            searchable += tn_store_word_searchable(q + start, i - start);
        }
    }
    return searchable > 0 && words <= TN_STORE_QUERY_MAX_WORDS;
}

enum tn_err tn_store_note_search(struct tn_store *s, const struct tn_owner *o, const char *query,
                                 unsigned limit, tn_store_note_cb cb, void *ud)
{
    if (!s || !owner_ok(o) || !query || !cb || limit < 1 || limit > PAGE_MAX || !query_ok(query))
        return TN_ERR_BAD_INPUT;
    uint64_t t0 = tn_time_mono_ns();
    return timed(TN_METRICS_STORE_NOTE_SEARCH, t0, s->ops->note_search(s, o, query, limit, cb, ud));
}
