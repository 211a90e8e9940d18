/* The OAuth 2.1 resource server: every request to the MCP endpoint carries a bearer token
 * issued for this server, which becomes a principal.
 *
 * Keys come either from the built-in authorization server (local) or from an external
 * issuer's discovery document and JWKS, fetched over HTTPS, cached by their HTTP caching
 * headers, re-fetched once on an unknown kid (with a cooldown), and kept through an
 * issuer outage for at most AUTH_JWKS_MAX_STALE_S after their last fetch. Verified tokens are cached (SHA-256 of the token → principal) until
 * they expire, so repeated requests skip the signature check. */
#ifndef TN_AUTH_RS_H
#define TN_AUTH_RS_H

#include <jansson.h>
#include <stdbool.h>

#include "auth/rs/claims.h"
#include "auth/rs/jose.h"
#include "core/buf.h"
#include "core/principal.h"

struct tn_rs;

struct tn_rs_config {
    const char *resource;       /* canonical MCP URL: PRM `resource`, default audience */
    const char *prm_url;        /* absolute URL of the path-suffixed PRM document */
    const char *const *issuers; /* accepted `iss` values (first: the advertised one) */
    size_t n_issuers;
    const char *const *audiences; /* accepted `aud` values */
    size_t n_audiences;
    const char *scopes; /* space-separated scopes_supported */
    const char *resource_name;
    int leeway_s;
    size_t cache_slots; /* verified-token cache size (rounded up to a power of 2) */
    struct tn_claim_map claims;
    /* Keys: either a local set (borrowed, must outlive the server) … */
    const struct tn_jwks *local_keys;
    /* … or an external issuer: metadata URLs tried in order (the first document that
     * names `jwks_uri` wins), or a fixed JWKS URL, and a fallback JWKS URL. */
    const char *const *metadata_urls;
    size_t n_metadata_urls;
    const char *jwks_uri;
    const char *jwks_fallback;
    bool allow_loopback_http; /* issuer on loopback over plain http (development, tests) */
    unsigned fetch_timeout_ms;
    unsigned refetch_cooldown_s; /* least time between two fetches (default 30) */
    /* External keys are used for at most this long after their last successful fetch
     * (default 86400): past it, with the issuer still unreachable, every token, cached
     * verifications included, is TN_RS_UNAVAILABLE (503) until a fetch succeeds. */
    unsigned jwks_max_stale_s;
    /* Local mode: called (at most once per cooldown) when a token names a kid the local
     * set lacks, e.g. a key another instance just created; it may call
     * tn_rs_set_local_keys. */
    void (*on_unknown_kid)(void *ud);
    void *ud;
};

enum tn_rs_verdict {
    TN_RS_OK,
    TN_RS_NO_TOKEN,    /* no Authorization header, or not Bearer: 401 without error */
    TN_RS_INVALID,     /* malformed or unverifiable: 401 invalid_token */
    TN_RS_EXPIRED,     /* 401 invalid_token "Token has expired" */
    TN_RS_UNAVAILABLE, /* the issuer's keys cannot be had: 503 */
    TN_RS_LATER,       /* tn_rs_authenticate_now only: the keys must be fetched first */
};

/* Copies what it needs from cfg. NULL on allocation failure or an empty issuer list. */
struct tn_rs *tn_rs_new(const struct tn_rs_config *cfg);
void tn_rs_free(struct tn_rs *rs);
/* Fetches the external keys now (start-up warm-up); failure is logged, not fatal. */
void tn_rs_prefetch(struct tn_rs *rs);
/* Fetches the external keys when they have lived three quarters of their time (at most
 * once per AUTH_REFETCH_COOLDOWN_S, never beside a fetch under way; with no keys yet,
 * nothing: the requests fetch). */
void tn_rs_refresh_ahead(struct tn_rs *rs);
/* Starts a thread that calls tn_rs_refresh_ahead every second until tn_rs_free (which
 * waits for a fetch under way), so that an HTTP worker, which serves every other
 * connection of its event loop, seldom meets expired keys and fetches them itself.
 * Nothing for local keys or without a remote source. */
void tn_rs_start_ahead(struct tn_rs *rs);

/* Authenticates an Authorization header value (NULL when absent). On TN_RS_OK *out is a
 * principal reference the caller releases. `why` (may be NULL) gets the precise reason
 * of a refusal, for logs only. */
enum tn_rs_verdict tn_rs_authenticate(struct tn_rs *rs, const char *authorization,
                                      struct tn_principal **out, enum tn_jwt_reason *why);
/* The same without waiting for the issuer, for a thread that serves other connections
 * meanwhile (an HTTP event loop): where the keys would have to be fetched first (the
 * token names a key we do not have and the cooldown allows a fetch, the keys expired,
 * or there are none yet), or a fetch under way waited for, TN_RS_LATER and nothing
 * done: call tn_rs_authenticate where waiting is allowed. Every other verdict is the
 * one tn_rs_authenticate would give. */
enum tn_rs_verdict tn_rs_authenticate_now(struct tn_rs *rs, const char *authorization,
                                          struct tn_principal **out, enum tn_jwt_reason *why);

/* The HTTP answer for a refusal: status, WWW-Authenticate value and a JSON body
 * {error, error_description}. */
int tn_rs_challenge(const struct tn_rs *rs, enum tn_rs_verdict v, struct tn_buf *www,
                    struct tn_buf *body);
/* 403 step-up challenge naming every scope the operation needs. */
void tn_rs_insufficient_scope(const struct tn_rs *rs, const char *needed, struct tn_buf *www,
                              struct tn_buf *body);
/* The protected-resource metadata document (RFC 9728), new reference. */
json_t *tn_rs_metadata(const struct tn_rs *rs);
/* Replaces the local key set (the built-in issuer rotated); takes ownership of `keys`. */
void tn_rs_set_local_keys(struct tn_rs *rs, struct tn_jwks *keys);
/* Forgets every cached verification (key rotation, revocation). */
void tn_rs_cache_clear(struct tn_rs *rs);
/* Counters for metrics and tests. */
struct tn_rs_stats {
    unsigned long cache_hits, verifications, key_fetches, key_fetch_failures;
};
void tn_rs_stats(const struct tn_rs *rs, struct tn_rs_stats *out);
/* True when tokens can be verified now: a non-empty key set, remote keys within
 * AUTH_JWKS_MAX_STALE_S (fetched first when expired, as a verification would: may wait
 * up to AUTH_FETCH_TIMEOUT_MS, at most once per AUTH_REFETCH_COOLDOWN_S). For /readyz. */
bool tn_rs_keys_ready(struct tn_rs *rs);

#endif
