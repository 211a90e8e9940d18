/* The principal: who is calling, built only from a verified token, handed explicitly to
 * every handler. Immutable after creation and reference-counted, so the verified-token
 * cache and in-flight requests can share one. */
#ifndef TN_CORE_PRINCIPAL_H
#define TN_CORE_PRINCIPAL_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct tn_strlist {
    char **v;
    size_t n;
};

struct tn_principal {
    char *issuer;
    char *subject;   /* user id (`sub`) */
    char *org;       /* organization id (`oid` / `org_id`), "" when none */
    char *client_id; /* `client_id` / `azp`, "" when none */
    char *token_id;  /* `jti`, "" when none */
    char *key;       /* stable caller key: issuer + "|" + subject */
    struct tn_strlist scopes, roles, permissions;
    int64_t expires_at; /* seconds since the epoch */
    int64_t issued_at;  /* `iat`, 0 when absent */
    atomic_int refs;
};

/* Creates a principal (one reference) owning copies of the given strings; lists are
 * filled afterwards with tn_principal_add. */
struct tn_principal *tn_principal_new(const char *issuer, const char *subject, const char *org,
                                      const char *client_id, const char *token_id,
                                      int64_t expires_at);
enum tn_principal_list { TN_PRINCIPAL_SCOPES, TN_PRINCIPAL_ROLES, TN_PRINCIPAL_PERMISSIONS };
/* Adds one value (len bytes) to a list, ignoring empties and duplicates. */
enum tn_err tn_principal_add(struct tn_principal *p, enum tn_principal_list which, const char *v,
                             size_t len);
/* Adds the space-separated words of `s`. */
enum tn_err tn_principal_add_words(struct tn_principal *p, enum tn_principal_list which,
                                   const char *s);
void tn_principal_retain(struct tn_principal *p);
void tn_principal_release(struct tn_principal *p);

/* True when p was granted `scope` (a whole entry of its scope list), or a scope the
 * application registered as implying it. */
bool tn_principal_has_scope(const struct tn_principal *p, const char *scope);
/* The application's scope hierarchy: a token granted `scope` also has `implied` (e.g.
 * notes:write implies notes:read). One level, not transitive. Call at start, before any
 * request is served (not thread-safe against tn_principal_has_scope). TN_ERR_BAD_INPUT
 * for an empty scope, one of 64 bytes or more, one with a space, or a scope implying
 * itself; TN_ERR_LIMIT beyond 16 pairs; registering a pair again is TN_OK. */
enum tn_err tn_principal_scope_implies(const char *scope, const char *implied);
bool tn_principal_has_permission(const struct tn_principal *p, const char *perm);
/* A new principal (one reference) with p's identity, scopes and roles, and only those of
 * p's permissions that are words of `allowed` (space-separated; NULL: none): what a token
 * still grants once the account's role no longer includes everything it says. */
struct tn_principal *tn_principal_restrict(const struct tn_principal *p, const char *allowed);
/* True when `word` is one of the space-separated words of `words` (NULL: none), as a
 * whole word: "notes:read" is not in "notes:read.all". */
bool tn_principal_word_in(const char *words, const char *word);

/* The curated identity that `whoami` returns: never the raw token or all claims. */
json_t *tn_principal_json(const struct tn_principal *p);

#endif
