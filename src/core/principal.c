#include "core/principal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dup(const char *s)
{
    char *p = strdup(s ? s : "");
    if (!p)
        abort();
    return p;
}

static void list_free(struct tn_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static bool list_has(const struct tn_strlist *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return true;
    return false;
}

struct tn_principal *tn_principal_new(const char *issuer, const char *subject, const char *org,
                                      const char *client_id, const char *token_id,
                                      int64_t expires_at)
{
    struct tn_principal *p = calloc(1, sizeof *p);
    if (!p)
        abort();
    atomic_init(&p->refs, 1);
    p->issuer = dup(issuer);
    p->subject = dup(subject);
    p->org = dup(org);
    p->client_id = dup(client_id);
    p->token_id = dup(token_id);
    size_t kl = strlen(p->issuer) + strlen(p->subject) + 2;
    p->key = malloc(kl);
    if (!p->key)
        abort();
    snprintf(p->key, kl, "%s|%s", p->issuer, p->subject);
    p->expires_at = expires_at;
    return p;
}

static struct tn_strlist *list_of(struct tn_principal *p, enum tn_principal_list which)
{
    return which == TN_PRINCIPAL_SCOPES  ? &p->scopes
           : which == TN_PRINCIPAL_ROLES ? &p->roles
                                         : &p->permissions;
}

enum tn_err tn_principal_add(struct tn_principal *p, enum tn_principal_list which, const char *s,
                             size_t len)
{
    struct tn_strlist *l = list_of(p, which);
    if (len == 0)
        return TN_OK;
    if (l->n >= 256 || len > 256)
        return TN_ERR_LIMIT;
    char *v = strndup(s, len);
    if (!v)
        return TN_ERR_NOMEM;
    if (list_has(l, v)) {
        free(v);
        return TN_OK;
    }
    char **nv = realloc(l->v, (l->n + 1) * sizeof *nv);
    if (!nv) {
        free(v);
        return TN_ERR_NOMEM;
    }
    l->v = nv;
    l->v[l->n++] = v;
    return TN_OK;
}

enum tn_err tn_principal_add_words(struct tn_principal *p, enum tn_principal_list which,
                                   const char *s)
{
    while (s && *s) {
        s += strspn(s, " ");
        size_t n = strcspn(s, " ");
        enum tn_err rc = tn_principal_add(p, which, s, n);
        if (rc != TN_OK)
            return rc;
        s += n;
    }
    return TN_OK;
}

void tn_principal_retain(struct tn_principal *p)
{
    if (p)
        atomic_fetch_add(&p->refs, 1);
}

void tn_principal_release(struct tn_principal *p)
{
    if (!p || atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    free(p->issuer);
    free(p->subject);
    free(p->org);
    free(p->client_id);
    free(p->token_id);
    free(p->key);
    list_free(&p->scopes);
    list_free(&p->roles);
    list_free(&p->permissions);
    free(p);
}

/* The application's scope hierarchy (tn_principal_scope_implies): written at start,
 * before any request, then only read. */
enum { IMPLIES_MAX = 16, SCOPE_MAX = 64 };
static struct {
    char scope[SCOPE_MAX], implied[SCOPE_MAX];
} implies[IMPLIES_MAX];
static size_t n_implies;

/* A scope as the token lists carry it: 1 to SCOPE_MAX-1 bytes, no space. */
static bool scope_word(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n > 0 && n < SCOPE_MAX && !strchr(s, ' ');
}

enum tn_err tn_principal_scope_implies(const char *scope, const char *implied)
{
    if (!scope_word(scope) || !scope_word(implied) || !strcmp(scope, implied))
        return TN_ERR_BAD_INPUT;
    for (size_t i = 0; i < n_implies; i++)
        if (!strcmp(implies[i].scope, scope) && !strcmp(implies[i].implied, implied))
            return TN_OK;
    if (n_implies == IMPLIES_MAX)
        return TN_ERR_LIMIT;
    memcpy(implies[n_implies].scope, scope, strlen(scope) + 1);
    memcpy(implies[n_implies].implied, implied, strlen(implied) + 1);
    n_implies++;
    return TN_OK;
}

bool tn_principal_has_scope(const struct tn_principal *p, const char *scope)
{
    if (list_has(&p->scopes, scope))
        return true;
    for (size_t i = 0; i < n_implies; i++)
        if (!strcmp(implies[i].implied, scope) && list_has(&p->scopes, implies[i].scope))
            return true;
    return false;
}

bool tn_principal_has_permission(const struct tn_principal *p, const char *perm)
{
    return list_has(&p->permissions, perm);
}

bool tn_principal_word_in(const char *words, const char *word)
{
    size_t n = word ? strlen(word) : 0;
    if (!words || n == 0)
        return false;
    for (const char *w = words; *w;) {
        w += strspn(w, " ");
        size_t len = strcspn(w, " ");
        if (len == n && memcmp(w, word, n) == 0)
            return true;
        w += len;
    }
    return false;
}

static void copy_list(struct tn_principal *to, enum tn_principal_list which,
                      const struct tn_strlist *from, const char *allowed, bool filter)
{
    for (size_t i = 0; i < from->n; i++)
        if (!filter || tn_principal_word_in(allowed, from->v[i]))
            if (tn_principal_add(to, which, from->v[i], strlen(from->v[i])) != TN_OK)
                abort(); /* a copy of a list that fitted before: only out of memory */
}

struct tn_principal *tn_principal_restrict(const struct tn_principal *p, const char *allowed)
{
    struct tn_principal *q =
        tn_principal_new(p->issuer, p->subject, p->org, p->client_id, p->token_id, p->expires_at);
    q->issued_at = p->issued_at;
    copy_list(q, TN_PRINCIPAL_SCOPES, &p->scopes, NULL, false);
    copy_list(q, TN_PRINCIPAL_ROLES, &p->roles, NULL, false);
    copy_list(q, TN_PRINCIPAL_PERMISSIONS, &p->permissions, allowed, true);
    return q;
}

static json_t *list_json(const struct tn_strlist *l)
{
    json_t *a = json_array();
    for (size_t i = 0; i < l->n; i++)
        json_array_append_new(a, json_string(l->v[i]));
    return a;
}

json_t *tn_principal_json(const struct tn_principal *p)
{
    json_t *o = json_pack("{s:s, s:s, s:o, s:o, s:o, s:s, s:I}", "userId", p->subject, "issuer",
                          p->issuer, "scopes", list_json(&p->scopes), "roles", list_json(&p->roles),
                          "permissions", list_json(&p->permissions), "clientId", p->client_id,
                          "expiresAt", (json_int_t)p->expires_at);
    json_object_set_new(o, "organizationId", p->org[0] ? json_string(p->org) : json_null());
    return o;
}
