/* Upstream OpenID Connect: teamnotes as a relying party of Google, Microsoft Entra, Okta,
 * Keycloak or any other OIDC issuer ("Continue with ...", per-organization SSO).
 *
 * A library with a small API and no HTTP routes. The sign-in page calls it in two steps:
 *   1. tn_oidc_begin: the authorization URL to send the browser to, and three secrets
 *      (state, nonce, PKCE code_verifier) the caller keeps in the browser's sealed state;
 *   2. tn_oidc_finish: the callback's query and those secrets back; it checks the state,
 *      redeems the code at the token endpoint and verifies the ID token (OpenID Connect
 *      Core 1.0 §3.1.3.7). The result is an identity keyed by (iss, sub), never by email.
 *
 * The provider is found by discovery ({issuer}/.well-known/openid-configuration, whose
 * `issuer` must equal the configured one byte for byte). Its JWKS is fetched with the
 * resource server's JOSE code (src/auth/rs/jose.h) and refetched on an unknown `kid` at
 * most once per cooldown; discovery and keys are refreshed after a while. ID tokens are
 * accepted only with RS256, PS256 or ES256, each pinned to its key; never none or HS*.
 *
 * Every refusal has its own reason (TN_OIDC_REASON_TABLE) for logs and tests. Client
 * secrets, codes and tokens are never logged.
 *
 * Threads: a provider may be used by any number of threads at once (the blocking pool);
 * at most one of them fetches from the provider at a time. */
#ifndef TN_AUTH_UPSTREAM_OIDC_H
#define TN_AUTH_UPSTREAM_OIDC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

/* Wire strings. */
#define TN_OIDC_WELL_KNOWN "/.well-known/openid-configuration"
#define TN_OIDC_DEFAULT_SCOPES "openid email profile"
#define TN_OIDC_TENANT_TEMPLATE "{tenantid}" /* Entra multi-tenant issuer template */
#define TN_OIDC_CLAIM_NONCE "nonce"
#define TN_OIDC_CLAIM_AZP "azp"
#define TN_OIDC_CLAIM_TID "tid"
#define TN_OIDC_CLAIM_EMAIL "email"
#define TN_OIDC_CLAIM_EMAIL_VERIFIED "email_verified"
#define TN_OIDC_CLAIM_NAME "name"

/* Limits and defaults. */
#define TN_OIDC_DISCOVERY_MAX_BYTES (64u * 1024u)
#define TN_OIDC_JWKS_MAX_BYTES (256u * 1024u)
#define TN_OIDC_TOKEN_MAX_BYTES (64u * 1024u) /* token endpoint response */
#define TN_OIDC_ID_TOKEN_MAX_LEN 16384u
#define TN_OIDC_URL_MAX 2048u  /* endpoints, issuer, redirect URI */
#define TN_OIDC_CODE_MAX 2048u /* authorization code */
#define TN_OIDC_MAX_GROUPS 256u
#define TN_OIDC_GROUP_MAX_LEN 256u
#define TN_OIDC_DEFAULT_TIMEOUT_MS 5000u
#define TN_OIDC_DEFAULT_COOLDOWN_S 60u /* JWKS refetch on an unknown kid */
#define TN_OIDC_DEFAULT_TTL_S 3600u    /* discovery and keys are refreshed after */
#define TN_OIDC_DEFAULT_LEEWAY_S 60
#define TN_OIDC_MAX_LEEWAY_S 300
#define TN_OIDC_SECRET_LEN 43u /* 32 random bytes, base64url */

/* One value per outcome. */
// clang-format off
#define TN_OIDC_REASON_TABLE(X)                                                                  \
    X(TN_OIDC_OK,                       "Sign-in verified")                                      \
    X(TN_OIDC_BAD_CONFIG,               "Provider configuration is incomplete or invalid")       \
    X(TN_OIDC_DISCOVERY_UNREACHABLE,    "Provider discovery document could not be fetched")     \
    X(TN_OIDC_DISCOVERY_STATUS,         "Provider discovery answered with an error status")      \
    X(TN_OIDC_DISCOVERY_TOO_LARGE,      "Provider discovery document is too large")              \
    X(TN_OIDC_DISCOVERY_MALFORMED,      "Provider discovery document is not a JSON object")      \
    X(TN_OIDC_ISSUER_MISMATCH,          "Provider discovery names another issuer")               \
    X(TN_OIDC_ENDPOINT_MISSING,         "Provider discovery lacks a required endpoint")          \
    X(TN_OIDC_ENDPOINT_INSECURE,        "Provider endpoint is not an acceptable https URL")      \
    X(TN_OIDC_CODE_FLOW_UNSUPPORTED,    "Provider does not offer the authorization code flow")   \
    X(TN_OIDC_PKCE_UNSUPPORTED,         "Provider does not offer PKCE with S256")                \
    X(TN_OIDC_JWKS_UNAVAILABLE,         "Provider signing keys could not be fetched")            \
    X(TN_OIDC_CALLBACK_MALFORMED,       "Sign-in callback is malformed")                         \
    X(TN_OIDC_STATE_MISMATCH,           "Sign-in state does not match this browser")             \
    X(TN_OIDC_CALLBACK_ISSUER_MISMATCH, "Sign-in callback comes from another issuer")            \
    X(TN_OIDC_UPSTREAM_ERROR,           "The provider did not sign the person in")               \
    X(TN_OIDC_NO_CODE,                  "Sign-in callback carries no authorization code")        \
    X(TN_OIDC_TOKEN_UNREACHABLE,        "Provider token endpoint could not be reached")          \
    X(TN_OIDC_TOKEN_REFUSED,            "Provider token endpoint refused the code")              \
    X(TN_OIDC_TOKEN_RESPONSE_MALFORMED, "Provider token response is malformed")                  \
    X(TN_OIDC_NO_ID_TOKEN,              "Provider token response has no ID token")               \
    X(TN_OIDC_ID_TOKEN_MALFORMED,       "ID token is malformed")                                 \
    X(TN_OIDC_ID_TOKEN_TOO_LARGE,       "ID token is too large")                                 \
    X(TN_OIDC_ID_TOKEN_ALG_NONE,        "ID token is unsigned")                                  \
    X(TN_OIDC_ID_TOKEN_ALG_NOT_ALLOWED, "ID token signing algorithm is not allowed")             \
    X(TN_OIDC_ID_TOKEN_ALG_MISMATCH,    "ID token signing algorithm does not match the key")     \
    X(TN_OIDC_ID_TOKEN_EMBEDDED_KEY,    "ID token header must not carry keys or key URLs")       \
    X(TN_OIDC_ID_TOKEN_BAD_TYP,         "ID token type is not accepted")                         \
    X(TN_OIDC_ID_TOKEN_CRIT,            "ID token has critical header extensions")               \
    X(TN_OIDC_ID_TOKEN_KEY_UNKNOWN,     "ID token signing key is unknown")                       \
    X(TN_OIDC_ID_TOKEN_BAD_SIGNATURE,   "ID token signature is invalid")                         \
    X(TN_OIDC_ID_TOKEN_BAD_ISSUER,      "ID token issuer is not the provider")                   \
    X(TN_OIDC_ID_TOKEN_BAD_TENANT,      "ID token tenant does not match its issuer")             \
    X(TN_OIDC_ID_TOKEN_BAD_AUDIENCE,    "ID token is not intended for this client")              \
    X(TN_OIDC_ID_TOKEN_AZP_MISSING,     "ID token has several audiences but no azp")             \
    X(TN_OIDC_ID_TOKEN_AZP_MISMATCH,    "ID token was issued to another party (azp)")            \
    X(TN_OIDC_ID_TOKEN_EXPIRED,         "ID token has expired")                                  \
    X(TN_OIDC_ID_TOKEN_NO_EXPIRY,       "ID token has no expiry")                                \
    X(TN_OIDC_ID_TOKEN_NOT_YET_VALID,   "ID token is not valid yet (iat or nbf ahead)")          \
    X(TN_OIDC_ID_TOKEN_NO_IAT,          "ID token has no issue time")                            \
    X(TN_OIDC_ID_TOKEN_NO_SUBJECT,      "ID token has no subject")                               \
    X(TN_OIDC_ID_TOKEN_NONCE_MISSING,   "ID token has no nonce")                                 \
    X(TN_OIDC_ID_TOKEN_NONCE_MISMATCH,  "ID token nonce does not match this sign-in")            \
    X(TN_OIDC_ID_TOKEN_BAD_CLAIM_TYPE,  "ID token claim has the wrong type")                     \
    X(TN_OIDC_ID_TOKEN_TOO_MANY_GROUPS, "ID token carries too many or too long groups")          \
    X(TN_OIDC_INTERNAL,                 "Sign-in could not be completed")
// clang-format on

// clang-format off
enum tn_oidc_reason {
#define TN_OIDC_REASON_ENUM(name, text) name,
    TN_OIDC_REASON_TABLE(TN_OIDC_REASON_ENUM)
#undef TN_OIDC_REASON_ENUM
    TN_OIDC__COUNT
};
// clang-format on

/* Short English text for a reason (never echoes upstream content); never NULL. */
const char *tn_oidc_reason_text(enum tn_oidc_reason r);
/* Symbolic name ("TN_OIDC_STATE_MISMATCH") for logs and tests; never NULL. */
const char *tn_oidc_reason_name(enum tn_oidc_reason r);

/* ---- discovery document --------------------------------------------------------------- */

struct tn_oidc_discovery {
    char *issuer; /* as the document says (may hold TN_OIDC_TENANT_TEMPLATE) */
    char *authorization_endpoint;
    char *token_endpoint;
    char *jwks_uri;
    bool tenant_template; /* issuer is an Entra {tenantid} template */
    bool iss_parameter;   /* authorization_response_iss_parameter_supported (RFC 9207) */
};

/* Parses and checks a discovery document of `len` bytes (no NUL needed) fetched for
 * `configured_issuer`: a JSON object (duplicate members refused) of at most
 * TN_OIDC_DISCOVERY_MAX_BYTES whose `issuer` equals configured_issuer exactly, or, for
 * Entra's multi-tenant documents, equals it with one path segment "common",
 * "organizations" or "consumers" replaced by "{tenantid}"; authorization_endpoint,
 * token_endpoint and jwks_uri present as https URLs (http only to a loopback host when
 * allow_loopback), without userinfo or fragment; "code" in response_types_supported;
 * "S256" in code_challenge_methods_supported when that member is present.
 * TN_OK fills *out (free with tn_oidc_discovery_deinit). TN_ERR_BAD_INPUT with *why set
 * for a refused document, TN_ERR_NOMEM; *out is zeroed on failure. `why` may be NULL. */
enum tn_err tn_oidc_discovery_parse(const char *configured_issuer, const char *json, size_t len,
                                    bool allow_loopback, struct tn_oidc_discovery *out,
                                    enum tn_oidc_reason *why);
/* Frees the strings; the struct may be parsed into again. */
void tn_oidc_discovery_deinit(struct tn_oidc_discovery *d);

/* True when `url` (NUL-terminated) is an absolute https URL with a host, no userinfo, no
 * fragment, no whitespace or control characters, at most TN_OIDC_URL_MAX bytes; http is
 * accepted too when the host is loopback and allow_http_loopback is set. */
bool tn_oidc_url_ok(const char *url, bool allow_http_loopback);

/* ---- provider ------------------------------------------------------------------------- */

struct tn_oidc_config {
    const char *issuer; /* the provider's issuer identifier, exactly */
    const char *client_id;
    const char *client_secret;   /* client_secret_basic; NULL or "" for a public client */
    const char *scopes;          /* NULL: TN_OIDC_DEFAULT_SCOPES; must contain "openid" */
    const char *redirect_uri;    /* https, or http on a loopback host */
    const char *groups_claim;    /* NULL: groups are not read */
    bool allow_loopback;         /* the provider may be http:// on loopback (tests, development) */
    unsigned timeout_ms;         /* per request; 0: TN_OIDC_DEFAULT_TIMEOUT_MS */
    unsigned refetch_cooldown_s; /* 0: TN_OIDC_DEFAULT_COOLDOWN_S */
    unsigned ttl_s;              /* 0: TN_OIDC_DEFAULT_TTL_S */
    int leeway_s;                /* clock skew on exp/iat, 0..TN_OIDC_MAX_LEEWAY_S */
};

struct tn_oidc_provider;

/* Creates a provider: checks the configuration (copied; the secret is wiped on free),
 * fetches and checks the discovery document, then the JWKS. TN_OK and *out; otherwise
 * *out is NULL, *why says what was refused and the result is TN_ERR_CONFIG (bad
 * configuration), TN_ERR_IO (provider unreachable or answering an error) or
 * TN_ERR_BAD_INPUT (a document refused), TN_ERR_NOMEM. `why` may be NULL. */
enum tn_err tn_oidc_provider_new(const struct tn_oidc_config *c, struct tn_oidc_provider **out,
                                 enum tn_oidc_reason *why);
/* NULL is a no-op. No call on the provider may be running. */
void tn_oidc_provider_free(struct tn_oidc_provider *p);
/* The configured issuer (borrowed, lives as long as the provider). */
const char *tn_oidc_provider_issuer(const struct tn_oidc_provider *p);
/* Fetch counters since creation (creation included), for tests and metrics. */
void tn_oidc_provider_stats(struct tn_oidc_provider *p, unsigned long *discovery_fetches,
                            unsigned long *jwks_fetches);

/* ---- sign-in -------------------------------------------------------------------------- */

/* What tn_oidc_begin hands out. The three secrets are TN_OIDC_SECRET_LEN characters of
 * base64url (32 bytes from the CSPRNG each); the caller seals them into the browser's
 * state and gives them back to tn_oidc_finish. */
struct tn_oidc_start {
    char *url; /* the authorization URL */
    char state[TN_OIDC_SECRET_LEN + 1];
    char nonce[TN_OIDC_SECRET_LEN + 1];
    char code_verifier[TN_OIDC_SECRET_LEN + 1];
};

/* Builds the authorization URL: response_type=code, client_id, redirect_uri, scope,
 * state, nonce, code_challenge (S256 of the verifier), code_challenge_method=S256 and
 * login_hint when not NULL (at most 256 bytes). TN_OK fills *out (release with
 * tn_oidc_start_deinit); TN_ERR_BAD_INPUT for an overlong hint, TN_ERR_NOMEM. *out is
 * zeroed on failure. */
enum tn_err tn_oidc_begin(struct tn_oidc_provider *p, const char *login_hint,
                          struct tn_oidc_start *out);
/* Frees the URL and wipes the secrets. */
void tn_oidc_start_deinit(struct tn_oidc_start *s);

/* The secrets of one sign-in as the browser's sealed state gave them back (borrowed). */
struct tn_oidc_pending {
    const char *state;
    const char *nonce;
    const char *code_verifier;
};

/* A verified upstream identity. (iss, sub) is the key; email is a claim only. */
struct tn_oidc_identity {
    char *iss;
    char *sub;
    char *email;         /* NULL when absent */
    bool email_verified; /* true only when the claim is the JSON literal true */
    char *name;          /* NULL when absent or not a string */
    char **groups;       /* the configured groups claim; n_groups strings */
    size_t n_groups;
};
/* Frees the strings; the struct is zeroed. */
void tn_oidc_identity_deinit(struct tn_oidc_identity *id);

/* Finishes a sign-in. `query` is the callback's query string (`len` bytes, without '?'
 * and fragment). Order: the query is parsed (a repeated parameter is malformed), `state`
 * compared in constant time with pending->state, `iss` (RFC 9207) checked when present
 * or advertised, an `error` reported, the code redeemed once at the token endpoint
 * (client_secret_basic, PKCE verifier), the ID token verified. TN_OK fills *out (release
 * with tn_oidc_identity_deinit). Refusals: TN_ERR_BAD_INPUT with *why; TN_ERR_IO when
 * the token endpoint cannot be reached (*why = TN_OIDC_TOKEN_UNREACHABLE); TN_ERR_NOMEM.
 * `detail`, when not NULL, receives printable text from upstream for the log (the
 * `error` and `error_description` of the callback or token endpoint, cut to 200 bytes);
 * never a code or token. *out is zeroed on failure; `why` may be NULL. */
enum tn_err tn_oidc_finish(struct tn_oidc_provider *p, const char *query, size_t len,
                           const struct tn_oidc_pending *pending, struct tn_oidc_identity *out,
                           enum tn_oidc_reason *why, struct tn_buf *detail);

/* The ID token check of tn_oidc_finish on its own (tests, tools): `id_token` of `len`
 * bytes verified against the provider's keys (one refetch on an unknown kid, within the
 * cooldown), its issuer and client id, the `nonce` expected, at time `now` (Unix
 * seconds; 0: the clock). Same results as tn_oidc_finish. */
enum tn_err tn_oidc_id_token_verify(struct tn_oidc_provider *p, const char *id_token, size_t len,
                                    const char *nonce, int64_t now, struct tn_oidc_identity *out,
                                    enum tn_oidc_reason *why);

#endif
