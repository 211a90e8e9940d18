/* Which tokens the resource server accepts: the issuers, audiences and metadata
 * locations that follow from the authentication settings. Pure string rules, no I/O:
 *
 *   builtin    issuer BASE_URL (the effective origin), keys local;
 *   external   AUTH_ISSUER byte for byte, its metadata at the RFC 8414 §3.1 location
 *              (well-known segment between host and path) and the OpenID Connect one
 *              (appended);
 *   Scalekit   (SCALEKIT_ENVIRONMENT_URL without trailing slashes = ENV) issuer
 *              ENV/resources/ID (when SCALEKIT_RESOURCE_ID is set) and ENV, keys through
 *              the authorization-server metadata, else ENV/keys; audience the resource
 *              id, else BASE_URL (the xmcp template's rule).
 *
 * Audiences: AUTH_AUDIENCE (comma-separated, at most 8, entries of 512 bytes or more
 * dropped) when set, else the canonical MCP URL and its trailing-slash spelling (both
 * paths are served), after Scalekit's own. */
#ifndef TN_AUTH_ISSUER_H
#define TN_AUTH_ISSUER_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

enum {
    TN_ISSUER_MAX = 4,
    TN_ISSUER_AUDIENCES_MAX = 8,
    TN_ISSUER_URL_SIZE = 512,  /* an issuer or an audience */
    TN_ISSUER_DOC_SIZE = 1100, /* a metadata or JWKS location */
};

/* The settings the rules read (borrowed; "" for unset, never NULL). */
struct tn_issuer_settings {
    const char *mode;                 /* AUTH_MODE: builtin | external (none: no issuer) */
    const char *base_url;             /* the effective origin (the bound port when PORT=0) */
    const char *resource;             /* the canonical MCP URL */
    const char *auth_issuer;          /* AUTH_ISSUER */
    const char *scalekit_env;         /* SCALEKIT_ENVIRONMENT_URL */
    const char *scalekit_resource_id; /* SCALEKIT_RESOURCE_ID */
    const char *jwks_uri;             /* AUTH_JWKS_URI (external modes only) */
    const char *audience;             /* AUTH_AUDIENCE */
};

struct tn_issuer_urls {
    char issuers[TN_ISSUER_MAX][TN_ISSUER_URL_SIZE];
    size_t n_issuers;
    char audiences[TN_ISSUER_AUDIENCES_MAX][TN_ISSUER_URL_SIZE];
    size_t n_audiences;
    char metadata[TN_ISSUER_MAX][TN_ISSUER_DOC_SIZE]; /* RFC 8414 / OIDC documents, in order */
    size_t n_metadata;
    char jwks[TN_ISSUER_DOC_SIZE];          /* AUTH_JWKS_URI, "" when unset */
    char jwks_fallback[TN_ISSUER_DOC_SIZE]; /* Scalekit's ENV/keys, "" otherwise */
    bool loopback_http; /* the issuer is plain http (config allows it on loopback only) */
};

/* Fills `out` (reset first) by the rules above. TN_ERR_CONFIG when an external mode has
 * no issuer or AUTH_ISSUER is not an absolute URL; TN_ERR_LIMIT when a URL does not fit
 * its buffer (config bounds the settings so that none does). `out` stays reset on
 * failure. */
enum tn_err tn_issuer_urls(const struct tn_issuer_settings *in, struct tn_issuer_urls *out);

/* The issuer an external token of this configuration carries in its `iss` when no
 * resource id is involved: AUTH_ISSUER byte for byte, else the Scalekit environment
 * without trailing slashes (what owner keys are formed from, e.g. by `import`).
 * TN_ERR_CONFIG when both are empty, TN_ERR_LIMIT when it does not fit `cap`; `out` is
 * "" on failure. */
enum tn_err tn_issuer_external(const char *auth_issuer, const char *scalekit_env, char *out,
                               size_t cap);

#endif
