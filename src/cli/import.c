/* teamnotes import --from-xmcp: moving in from the reference template (xmcp + Scalekit),
 * whose notes live in one file, .data/notes.json, written with JSON.stringify(v, null, 2):
 *
 *   { "<sub>": [ { "id": "<uuid>", "content": "...", "createdAt": "<ISO-8601>" }, ... ] }
 *
 * Whose notes they become: with an external issuer the file's sub keys are the users
 * (owner key issuer|sub, as src/core/principal.c forms it from the token); with the
 * built-in issuer `--map SUB=EMAIL` names the account of each sub. Dates are kept; the
 * store derives each note's id from (owner, org, template id), so importing the same
 * file again adds nothing; everything goes in one transaction or nothing does. A file
 * that is not what the template writes is refused with the line and the reason. */
#include "cli/import.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "auth/issuer.h"
#include "core/config.h"
#include "core/util.h"
#include "store/store.h"

enum {
    FILE_MAX = 256 << 20, /* bytes of notes.json */
    NOTES_MAX = 100000,   /* notes per import (the store's bound) */
    MAPS_MAX = 256,
};

static const char usage[] =
    "Usage: teamnotes import --from-xmcp PATH/.data/notes.json [--map SUB=EMAIL ...]\n"
    "                        [--org ORG] [--issuer URL] [--only SUB ...] [--dry-run]\n"
    "  Imports the notes of the xmcp + Scalekit template (its .data/notes.json).\n"
    "  Built-in issuer: --map SUB=EMAIL (repeatable) says whose the notes of SUB are;\n"
    "    every sub in the file must be mapped (or left out with --only). The notes are\n"
    "    filed under that account's organization.\n"
    "  External issuer (AUTH_ISSUER or SCALEKIT_ENVIRONMENT_URL): the subs are the users,\n"
    "    the owner is ISSUER|SUB. --issuer overrides the issuer (Scalekit tokens may carry\n"
    "    ENV or ENV/resources/ID); --org files the notes under the organization the users'\n"
    "    tokens carry (Scalekit's oid claim; default: none). --only SUB imports only\n"
    "    those subs (repeatable), e.g. to give each group of users its --org.\n"
    "  Run it with the server's configuration (--data-dir / --database-url, --base-url or\n"
    "  --port, AUTH_ISSUER, ...): owners are formed from it. Re-running adds nothing twice.\n";

/* ---------- where each value is in the file ---------- */

/* The line of every value up to depth 3 (the object, each sub's array, each note, each
 * note's members), in document order with its parent: jansson (2.8 on) keeps object
 * members in document order, so the i-th member in jansson is the i-th child here. */
struct pos {
    unsigned line;
    int parent;
    int first, next; /* first child, next sibling; -1: none */
};

struct walk {
    const char *p, *end;
    unsigned line;
    struct pos *v;
    size_t n, cap;
};

static void ws(struct walk *w)
{
    while (w->p < w->end && (*w->p == ' ' || *w->p == '\t' || *w->p == '\n' || *w->p == '\r')) {
        if (*w->p == '\n')
            w->line++;
        w->p++;
    }
}

static void skip_string(struct walk *w)
{
    w->p++; /* the opening quote */
    while (w->p < w->end && *w->p != '"') {
        if (*w->p == '\\' && w->p + 1 < w->end)
            w->p++;
        w->p++;
    }
    if (w->p < w->end)
        w->p++;
}

/* The text is valid JSON (jansson parsed it): only its shape is followed here. Depth
 * is bounded by jansson's parser (JSON_PARSER_MAX_DEPTH). */
static bool walk_value(struct walk *w, int depth, int parent)
{
    ws(w);
    if (w->p >= w->end)
        return false;
    int me = -1;
    if (depth <= 3 && (depth == 0 || parent >= 0)) {
        if (w->n == w->cap) {
            size_t cap = w->cap ? w->cap * 2 : 1024;
            struct pos *v = realloc(w->v, cap * sizeof *v);
            if (!v)
                return false;
            w->v = v;
            w->cap = cap;
        }
        me = (int)w->n;
        w->v[w->n++] = (struct pos){.line = w->line, .parent = parent, .first = -1, .next = -1};
    }
    char c = *w->p;
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        w->p++;
        ws(w);
        if (w->p < w->end && *w->p == close) {
            w->p++;
            return true;
        }
        for (;;) {
            ws(w);
            if (c == '{') {
                if (w->p >= w->end || *w->p != '"')
                    return false;
                skip_string(w);
                ws(w);
                if (w->p >= w->end || *w->p != ':')
                    return false;
                w->p++;
            }
            if (!walk_value(w, depth + 1, me))
                return false;
            ws(w);
            if (w->p < w->end && *w->p == ',') {
                w->p++;
                continue;
            }
            if (w->p < w->end && *w->p == close) {
                w->p++;
                return true;
            }
            return false;
        }
    }
    if (c == '"') {
        skip_string(w);
        return true;
    }
    while (w->p < w->end && !strchr(",]} \t\r\n", *w->p))
        w->p++;
    return true;
}

/* Links each entry to its first child and next sibling (document order). */
static bool link_children(struct walk *w)
{
    int *last = malloc((w->n ? w->n : 1) * sizeof *last);
    if (!last)
        return false;
    for (size_t i = 0; i < w->n; i++) {
        int p = w->v[i].parent;
        if (p >= 0) {
            if (w->v[p].first < 0)
                w->v[p].first = (int)i;
            else
                w->v[last[p]].next = (int)i;
            last[p] = (int)i;
        }
    }
    free(last);
    return true;
}

static int first_child(const struct walk *w, int e) { return e >= 0 ? w->v[e].first : -1; }

static int next_sibling(const struct walk *w, int e) { return e >= 0 ? w->v[e].next : -1; }

static unsigned line_of(const struct walk *w, int e) { return e >= 0 ? w->v[e].line : 1; }

/* ---------- the command ---------- */

struct map {
    const char *sub, *email;
    bool used;
};

struct owner {
    char user[512];
    char org[128];
};

struct import {
    const char *path;
    struct map maps[MAPS_MAX];
    size_t n_maps;
    const char *only[MAPS_MAX];
    size_t n_only;
    const char *org, *issuer;
    bool dry_run;
};

static bool wanted(const struct import *im, const char *sub)
{
    if (!im->n_only)
        return true;
    for (size_t i = 0; i < im->n_only; i++)
        if (!strcmp(im->only[i], sub))
            return true;
    return false;
}

static struct map *map_of(struct import *im, const char *sub)
{
    for (size_t i = 0; i < im->n_maps; i++)
        if (!strcmp(im->maps[i].sub, sub))
            return &im->maps[i];
    return NULL;
}

static char *read_file(const char *path, size_t *len, char *why, size_t why_cap)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;
    *len = 0;
    if (!f) {
        snprintf(why, why_cap, "%s", strerror(errno));
        return NULL;
    }
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1 << 16;
            if (cap > (size_t)FILE_MAX + 1)
                cap = (size_t)FILE_MAX + 1;
            char *b = n < cap ? realloc(buf, cap) : NULL;
            if (!b) {
                snprintf(why, why_cap,
                         n >= (size_t)FILE_MAX ? "larger than %d MiB" : "out of memory",
                         FILE_MAX >> 20);
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = b;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        snprintf(why, why_cap, "read error");
        free(buf);
        return NULL;
    }
    *len = n;
    return buf ? buf : calloc(1, 1);
}

/* The owner the notes of `sub` get; false (with the reason printed) when there is none. */
static bool owner_for(struct import *im, struct tn_store *s, const char *mode, const char *issuer,
                      const char *sub, struct owner *o)
{
    memset(o, 0, sizeof *o);
    if (!strcmp(mode, "builtin")) {
        struct map *m = map_of(im, sub);
        struct tn_user u;
        if (!m)
            return false; /* reported together by the caller */
        m->used = true;
        enum tn_err e = tn_store_user_by_email(s, m->email, &u);
        if (e != TN_OK) {
            fprintf(stderr, "teamnotes import: --map %s=%s: %s\n", sub, m->email,
                    e == TN_ERR_NOT_FOUND ? "no account has this email (create it with "
                                            "`teamnotes user add EMAIL`)"
                                          : tn_err_name(e));
            return false;
        }
        /* the built-in issuer's tokens: iss = BASE_URL, sub = the account id, oid = its org */
        int n = snprintf(o->user, sizeof o->user, "%s|%s", issuer, u.id);
        snprintf(o->org, sizeof o->org, "%s", u.org_id);
        return n > 0 && (size_t)n < sizeof o->user;
    }
    int n = snprintf(o->user, sizeof o->user, "%s|%s", issuer, sub);
    snprintf(o->org, sizeof o->org, "%s", im->org ? im->org : "");
    if (n < 0 || (size_t)n >= sizeof o->user) {
        fprintf(stderr, "teamnotes import: the owner key %s|%s is longer than 511 bytes\n", issuer,
                sub);
        return false;
    }
    return true;
}

/* One note of `sub` (the i-th, at `line`, entry e of the walk): id, content and
 * createdAt as the template writes them; *ms is its date. False after printing
 * PATH:LINE: reason, the line being that of the member at fault. */
static bool check_note(const struct import *im, const struct walk *w, json_t *note, int e,
                       unsigned line, size_t i, const char *sub, int64_t *ms)
{
    const char *key;
    json_t *val;
    int me = first_child(w, e);
    unsigned l_id = line, l_content = line, l_created = line;
    json_object_foreach(note, key, val) {
        unsigned l = line_of(w, me);
        me = next_sibling(w, me);
        if (!strcmp(key, "id"))
            l_id = l;
        else if (!strcmp(key, "content"))
            l_content = l;
        else if (!strcmp(key, "createdAt"))
            l_created = l;
    }
    json_t *id = json_object_get(note, "id"), *content = json_object_get(note, "content"),
           *created = json_object_get(note, "createdAt");
    if (!json_is_string(id) || json_string_length(id) < 1 || json_string_length(id) > 256 ||
        strlen(json_string_value(id)) != json_string_length(id)) {
        fprintf(stderr,
                "%s:%u: note %zu of \"%s\": id must be a string of 1 to 256 "
                "characters\n",
                im->path, l_id, i + 1, sub);
        return false;
    }
    if (!json_is_string(content) || json_string_length(content) < 1 ||
        json_string_length(content) > TN_NOTE_MAX_CONTENT ||
        strlen(json_string_value(content)) != json_string_length(content)) {
        fprintf(stderr,
                "%s:%u: note %zu of \"%s\" (id %s): content must be a string of 1 "
                "to %d bytes without NUL characters%s\n",
                im->path, l_content, i + 1, sub, json_string_value(id), TN_NOTE_MAX_CONTENT,
                json_is_string(content) && json_string_length(content) > TN_NOTE_MAX_CONTENT
                    ? " (this one is longer: split it, or shorten it in the file)"
                    : "");
        return false;
    }
    if (!json_is_string(created) ||
        tn_time_parse_rfc3339(json_string_value(created), json_string_length(created), ms) !=
            TN_OK ||
        *ms < 0 || *ms >= ((int64_t)1 << 48)) {
        fprintf(stderr,
                "%s:%u: note %zu of \"%s\" (id %s): createdAt must be an ISO-8601 "
                "date and time such as 2026-12-06T10:31:02.123Z\n",
                im->path, l_created, i + 1, sub, json_string_value(id));
        return false;
    }
    return true;
}

/* Checks the file's shape and, with `owners`, fills v[0..*n) (content and ids borrowed
 * from `doc`). Returns false after printing PATH:LINE: reason. */
static bool notes_of(struct import *im, json_t *doc, const struct walk *w, struct owner *owners,
                     struct tn_note_import *v, size_t *n, int **line_of_note)
{
    const char *sub;
    json_t *arr;
    size_t si = 0;
    *n = 0;
    if (!json_is_object(doc)) {
        fprintf(stderr,
                "%s:%u: the file must be a JSON object {\"<sub>\": [notes]}, as the "
                "template writes .data/notes.json\n",
                im->path, line_of(w, 0));
        return false;
    }
    int se = first_child(w, 0);
    json_object_foreach(doc, sub, arr) {
        size_t i;
        json_t *note;
        if (!sub[0] || strlen(sub) > 256) {
            fprintf(stderr, "%s:%u: a user key (sub) must be 1 to 256 bytes\n", im->path,
                    line_of(w, se));
            return false;
        }
        if (!json_is_array(arr)) {
            fprintf(stderr,
                    "%s:%u: the notes of \"%s\" must be an array of {id, content, createdAt}\n",
                    im->path, line_of(w, se), sub);
            return false;
        }
        int ne = first_child(w, se);
        json_array_foreach(arr, i, note) {
            unsigned line = line_of(w, ne);
            int this_note = ne;
            ne = next_sibling(w, ne);
            if (!json_is_object(note)) {
                fprintf(stderr,
                        "%s:%u: note %zu of \"%s\" must be an object {id, content, createdAt}\n",
                        im->path, line, i + 1, sub);
                return false;
            }
            int64_t ms = 0;
            if (!check_note(im, w, note, this_note, line, i, sub, &ms))
                return false;
            json_t *id = json_object_get(note, "id"), *content = json_object_get(note, "content");
            if (!owners || !wanted(im, sub) || !owners[si].user[0])
                continue; /* owners NULL: checking the shape only */
            if (*n >= NOTES_MAX) {
                fprintf(stderr, "%s:%u: more than %d notes; import them in parts (--only SUB)\n",
                        im->path, line, NOTES_MAX);
                return false;
            }
            (*line_of_note)[*n] = (int)line;
            v[(*n)++] = (struct tn_note_import){
                .owner = {.user = owners[si].user, .org = owners[si].org},
                .source_id = json_string_value(id),
                .content = json_string_value(content),
                .created_at = ms,
            };
        }
        si++;
        se = next_sibling(w, se);
    }
    return true;
}

/* The issuer that owner keys are formed with (the one the users' tokens carry), after
 * checking that the options fit the mode. False after printing why. */
static bool owner_issuer(const struct import *im, const struct tn_config *cfg, char *issuer,
                         size_t cap)
{
    const char *mode = tn_config_str(cfg, TN_CFG_AUTH_MODE);
    if (!strcmp(mode, "none")) {
        fputs("teamnotes import: AUTH_MODE=none has no users to own notes\n", stderr);
        return false;
    }
    if (!strcmp(mode, "builtin")) {
        if (im->org || im->issuer) {
            fputs("teamnotes import: --org and --issuer are for an external issuer; with the "
                  "built-in one the notes go to each mapped account's organization\n",
                  stderr);
            return false;
        }
        snprintf(issuer, cap, "%s", tn_config_str(cfg, TN_CFG_BASE_URL));
        return true;
    }
    if (im->n_maps) {
        fputs("teamnotes import: --map is for the built-in issuer; with an external issuer "
              "the subs in the file are the users\n",
              stderr);
        return false;
    }
    if (im->issuer) {
        snprintf(issuer, cap, "%s", im->issuer);
        return true;
    }
    /* as the resource server accepts it (src/auth/issuer.c) */
    if (tn_issuer_external(tn_config_str(cfg, TN_CFG_AUTH_ISSUER),
                           tn_config_str(cfg, TN_CFG_SCALEKIT_ENVIRONMENT_URL), issuer,
                           cap) != TN_OK) {
        fputs(
            "teamnotes import: no issuer is configured (AUTH_ISSUER or SCALEKIT_ENVIRONMENT_URL)\n",
            stderr);
        return false;
    }
    return true;
}

/* Reads and parses the file, and notes where each value is. False after printing why;
 * what was allocated is the caller's to free either way. */
static bool load_file(const struct import *im, char **text, json_t **doc, struct walk *w)
{
    char why[256] = "";
    size_t len = 0;
    if (!(*text = read_file(im->path, &len, why, sizeof why))) {
        fprintf(stderr, "teamnotes import: cannot read %s: %s\n", im->path, why);
        return false;
    }
    json_error_t jerr;
    *doc = json_loadb(*text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!*doc) {
        fprintf(stderr, "%s:%d:%d: not JSON as the template writes it: %s\n", im->path, jerr.line,
                jerr.column, jerr.text);
        return false;
    }
    *w = (struct walk){.p = *text, .end = *text + len, .line = 1};
    if (!walk_value(w, 0, -1)) {
        fprintf(stderr, "teamnotes import: %s: out of memory\n", im->path);
        return false;
    }
    if (!link_children(w)) {
        fputs("teamnotes import: out of memory\n", stderr);
        return false;
    }
    return true;
}

/* Whose notes: every wanted sub gets an owner (owners[i] for the file's i-th sub) before
 * anything is written; *total counts their notes. False after printing why. */
static bool resolve_owners(struct import *im, json_t *doc, struct tn_store *s, const char *mode,
                           const char *issuer, struct owner *owners, size_t *total)
{
    const char *sub;
    json_t *arr;
    size_t si = 0, unmapped = 0;
    bool builtin = !strcmp(mode, "builtin"), owners_ok = true;
    *total = 0;
    json_object_foreach(doc, sub, arr) {
        if (wanted(im, sub)) {
            if (builtin && !map_of(im, sub))
                unmapped++;
            else if (!owner_for(im, s, mode, issuer, sub, &owners[si]))
                owners_ok = false;
            *total += json_is_array(arr) ? json_array_size(arr) : 0;
        }
        si++;
    }
    if (unmapped) {
        fprintf(stderr,
                "teamnotes import: with the built-in issuer every user of the file needs "
                "--map SUB=EMAIL; %zu %s none:\n",
                unmapped, unmapped == 1 ? "has" : "have");
        json_object_foreach(doc, sub, arr) {
            if (wanted(im, sub) && !map_of(im, sub))
                fprintf(stderr, "  %s (notes: %zu)\n", sub, json_array_size(arr));
        }
        return false;
    }
    return owners_ok;
}

/* Options that named nobody in the file, then each sub's notes and owner. */
static void print_plan(const struct import *im, json_t *doc, const struct owner *owners)
{
    for (size_t i = 0; i < im->n_maps; i++)
        if (!im->maps[i].used && json_object_get(doc, im->maps[i].sub) == NULL)
            fprintf(stderr, "teamnotes import: warning: --map %s=%s: no such user in %s\n",
                    im->maps[i].sub, im->maps[i].email, im->path);
    for (size_t i = 0; i < im->n_only; i++)
        if (!json_object_get(doc, im->only[i]))
            fprintf(stderr, "teamnotes import: warning: --only %s: no such user in %s\n",
                    im->only[i], im->path);
    const char *sub;
    json_t *arr;
    size_t si = 0;
    json_object_foreach(doc, sub, arr) {
        if (wanted(im, sub) && owners[si].user[0])
            printf("%s: %zu notes -> owner %s%s%s\n", sub, json_array_size(arr), owners[si].user,
                   owners[si].org[0] ? ", organization " : "", owners[si].org);
        si++;
    }
}

/* One audit record per owner (never the text), as for a tool that changes notes. */
static void audit_owners(const struct import *im, json_t *doc, const struct owner *owners,
                         struct tn_store *s)
{
    const char *sub;
    json_t *arr;
    size_t si = 0;
    json_object_foreach(doc, sub, arr) {
        if (wanted(im, sub) && owners[si].user[0] && json_array_size(arr)) {
            struct tn_audit a = {.at = tn_time_now_ms()};
            snprintf(a.user, sizeof a.user, "%s", owners[si].user);
            snprintf(a.org, sizeof a.org, "%s", owners[si].org);
            snprintf(a.client_id, sizeof a.client_id, "teamnotes import");
            snprintf(a.tool, sizeof a.tool, "import");
            snprintf(a.outcome, sizeof a.outcome, "ok");
            if (tn_store_audit_insert(s, &a) != TN_OK)
                fputs("teamnotes import: warning: the audit record was not written\n", stderr);
        }
        si++;
    }
    tn_store_audit_flush(s);
}

static int run(struct import *im, struct tn_config *cfg)
{
    int rc = 2;
    size_t n_subs = 0, n = 0, added = 0, bad = 0, total = 0;
    char *text = NULL;
    json_t *doc = NULL;
    struct walk w = {0};
    struct owner *owners = NULL;
    struct tn_note_import *v = NULL;
    int *lines = NULL;
    struct tn_store *s = NULL;
    struct tn_buf err;
    tn_buf_init(&err, 4096);
    const char *mode = tn_config_str(cfg, TN_CFG_AUTH_MODE);
    char issuer[512] = "";

    if (!owner_issuer(im, cfg, issuer, sizeof issuer) || !load_file(im, &text, &doc, &w))
        goto done;
    /* the shape first: a malformed file is refused before anything else is looked at */
    if (!notes_of(im, doc, &w, NULL, NULL, &n, NULL))
        goto done;
    n_subs = json_is_object(doc) ? json_object_size(doc) : 0;
    owners = calloc(n_subs ? n_subs : 1, sizeof *owners);
    if (!owners)
        goto done;
    if (tn_store_open(tn_config_str(cfg, TN_CFG_DATA_DIR), tn_config_str(cfg, TN_CFG_DATABASE_URL),
                      &s, &err) != TN_OK) {
        fprintf(stderr, "teamnotes import: cannot open the store: %s\n", err.data ? err.data : "");
        rc = 1;
        goto done;
    }
    if (!resolve_owners(im, doc, s, mode, issuer, owners, &total))
        goto done;
    size_t cap = total < NOTES_MAX ? total + 1 : NOTES_MAX + 1;
    v = calloc(cap, sizeof *v);
    lines = calloc(cap, sizeof *lines);
    if (!v || !lines) {
        fputs("teamnotes import: out of memory\n", stderr);
        goto done;
    }
    if (!notes_of(im, doc, &w, owners, v, &n, &lines))
        goto done;
    print_plan(im, doc, owners);
    if (n == 0 || im->dry_run) {
        if (n == 0)
            printf("nothing to import\n");
        else
            printf("dry run: %zu notes checked, nothing written\n", n);
        rc = 0;
        goto done;
    }
    enum tn_err e = tn_store_note_import(s, v, n, &added, &bad);
    if (e == TN_ERR_BAD_INPUT) {
        fprintf(stderr,
                "%s:%d: this note was refused by the store (its owner key or text); "
                "nothing was imported\n",
                im->path, lines[bad]);
        goto done;
    }
    if (e != TN_OK) {
        fprintf(stderr, "teamnotes import: the store failed (%s); nothing was imported\n",
                tn_err_name(e));
        rc = 1;
        goto done;
    }
    printf("imported %zu of %zu notes (%zu were there already)\n", added, n, n - added);
    rc = 0;
    audit_owners(im, doc, owners, s);
done:
    tn_store_close(s);
    free(lines);
    free(v);
    free(owners);
    free(w.v);
    json_decref(doc);
    free(text);
    tn_buf_deinit(&err);
    return rc;
}

int tn_import_main(int argc, char **argv)
{
    static struct import im; /* MAPS_MAX entries: not on the stack */
    char *cfg_args[64];
    int n_cfg = 0;
    memset(&im, 0, sizeof im);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "--dry-run")) {
            im.dry_run = true;
            continue;
        }
        if (strncmp(a, "--", 2) || !val) {
            fprintf(stderr, "teamnotes import: unexpected '%s'\n%s", a, usage);
            return 2;
        }
        i++;
        if (!strcmp(a, "--from-xmcp")) {
            im.path = val;
        } else if (!strcmp(a, "--map")) {
            const char *eq = strchr(val, '=');
            if (!eq || eq == val || !eq[1] || im.n_maps == MAPS_MAX) {
                fprintf(stderr, "teamnotes import: --map wants SUB=EMAIL, got '%s'\n", val);
                return 2;
            }
            char *sub = strndup(val, (size_t)(eq - val));
            if (!sub)
                return 1;
            if (map_of(&im, sub)) {
                fprintf(stderr, "teamnotes import: --map %s is given twice\n", sub);
                free(sub);
                return 2;
            }
            im.maps[im.n_maps++] = (struct map){.sub = sub, .email = eq + 1};
        } else if (!strcmp(a, "--only")) {
            if (im.n_only == MAPS_MAX)
                return 2;
            im.only[im.n_only++] = val;
        } else if (!strcmp(a, "--org")) {
            im.org = val;
        } else if (!strcmp(a, "--issuer")) {
            im.issuer = val;
        } else if (n_cfg < 62) { /* the server's settings: --data-dir, --base-url, ... */
            cfg_args[n_cfg++] = (char *)a;
            cfg_args[n_cfg++] = (char *)val;
        }
    }
    int rc = 2;
    if (!im.path) {
        fprintf(stderr, "teamnotes import: --from-xmcp PATH is required\n%s", usage);
    } else if (im.org && strlen(im.org) > 127) {
        fputs("teamnotes import: --org is longer than 127 bytes\n", stderr);
    } else {
        struct tn_config cfg;
        struct tn_buf err;
        tn_buf_init(&err, 4096);
        if (tn_config_load(&cfg, n_cfg, cfg_args, ".env", &err) != TN_OK) {
            fprintf(stderr, "teamnotes: %s\n", err.data ? err.data : "invalid configuration");
        } else {
            rc = run(&im, &cfg);
            tn_config_deinit(&cfg);
        }
        tn_buf_deinit(&err);
    }
    for (size_t i = 0; i < im.n_maps; i++)
        free((char *)im.maps[i].sub);
    return rc;
}
