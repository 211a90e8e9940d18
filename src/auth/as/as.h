/* The built-in OAuth 2.1 authorization server: metadata (RFC 8414 and OIDC discovery),
 * JWKS, client registration (RFC 7591 DCR and Client ID Metadata Documents), the
 * authorization endpoint with browser sign-in and consent, the token endpoint
 * (authorization_code with PKCE S256, refresh_token with rotation) and revocation.
 *
 * It is transport-neutral: the caller hands it a request (method, path, header and
 * query lookups, body) and sends the response it fills. */
#ifndef TN_AUTH_AS_H
#define TN_AUTH_AS_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/as/keys.h"
#include "core/buf.h"
#include "store/store.h"

struct tn_as;
struct tn_mailer;
struct tn_oidc_providers;

struct tn_as_config {
    const char *issuer;   /* BASE_URL, byte-exact */
    const char *resource; /* canonical MCP URL: the audience of every token */
    const char *scopes;   /* supported scopes, space-separated (also the default grant) */
    struct tn_store *store;
    struct tn_as_keys *keys;
    const uint8_t *secret; /* key for sealed requests, sessions and CSRF tokens */
    size_t secret_len;
    int64_t access_ttl_s;
    int64_t refresh_ttl_s;
    int64_t code_ttl_s;
    int64_t refresh_grace_s;  /* a rotated refresh token presented again within this is a
                                concurrent refresh, not theft */
    unsigned dcr_per_hour;    /* registrations per client address and hour */
    bool cimd_allow_loopback; /* development and tests: CIMD documents on loopback http */
    struct tn_mailer *mailer; /* borrowed; sign-in codes (NULL: the email method is off) */
    unsigned signin_methods;  /* enum tn_signin_method bits; 0 means password only */
    int64_t email_code_ttl_s; /* lifetime of an email sign-in code and link */
    struct tn_oidc_providers *oidc_providers; /* borrowed; server-wide upstream providers
                                                 (NULL: none) */
    /* Called after a person's access changed on /account (an app revoked, signed out
     * everywhere), so the resource server's account cache forgets them at once; NULL:
     * nothing (other instances see it within their cache's age). */
    void (*account_changed)(void *ud, const char *user_id);
    void *account_changed_ud;
    bool sso_allow_loopback; /* organizations' SSO issuers may be http on loopback (tests) */
    int64_t invite_ttl_s;    /* invitations made on /admin (0: TN_INVITE_TTL_S) */
};

struct tn_as *tn_as_new(const struct tn_as_config *cfg);
void tn_as_free(struct tn_as *as);

/* When the store has no user yet: a one-time setup URL to log (NULL otherwise). The
 * string lives as long as the server. */
const char *tn_as_setup_url(struct tn_as *as);

struct tn_as_req {
    const char *method;
    const char *path;
    const char *(*header)(void *ud, const char *name);
    const char *(*query)(void *ud, const char *name);
    void *ud;
    struct tn_span body;
    const char *client_addr; /* for throttling */
    const char *request_id;
    bool can_offload;         /* work that waits (a client metadata document's fetch) is not done
                         in this call: it sets resp->offload instead */
    const char *query_string; /* the raw query (without '?'), at least on the upstream
                                 sign-in callback; NULL when not given */
};

#define TN_AS_MAX_HEADERS 8

struct tn_as_resp {
    int status;
    const char *content_type;
    struct tn_buf body;
    struct {
        const char *name;
        char value[2048];
    } headers[TN_AS_MAX_HEADERS];
    unsigned n_headers;
    bool offload; /* nothing filled: call again where waiting is fine (can_offload false) */
};

/* True when `path` is one of the server's endpoints (for routing). */
bool tn_as_owns(const char *path);
/* Every endpoint, for the routing table (*n of them); the first four are documents
 * (metadata, JWKS, registration) that other origins may read. */
const char *const *tn_as_paths(size_t *n);
/* Serves one request; never fails (errors become OAuth error responses or pages). With
 * req->can_offload, every request but the metadata documents and /jwks (all of which
 * may write and wait, hash a password, send mail or fetch) fills nothing and sets
 * resp->offload: the caller calls again on the blocking pool, where waiting is fine. */
void tn_as_handle(struct tn_as *as, const struct tn_as_req *req, struct tn_as_resp *resp);

#endif
