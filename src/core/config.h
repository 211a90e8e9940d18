/* Configuration: one table of every setting, with type, default, bounds, environment
 * variable and secrecy. Sources, strongest first: command-line flags, the environment,
 * `.env` in the working directory, defaults. */
#ifndef TN_CORE_CONFIG_H
#define TN_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

/*  id                   env name              type  default               min    max         secret help */
// clang-format off
#define TN_CONFIG_TABLE(X)                                                                                 \
    X(BASE_URL,          "BASE_URL",           STR,  "",                   0,     0,          false,     \
      "public origin; the MCP endpoint is BASE_URL + MCP_PATH (default http://HOST:PORT)")              \
    X(HOST,              "HOST",               STR,  "127.0.0.1",          0,     0,          false,     \
      "listen address")                                                                                 \
    X(PORT,              "PORT",               INT,  "8080",               0,     65535,      false,     \
      "listen port (0 picks a free one)")                                                               \
    X(MCP_PATH,          "MCP_PATH",           STR,  "/mcp",               0,     0,          false,     \
      "path of the MCP endpoint")                                                                       \
    X(DATA_DIR,          "DATA_DIR",           STR,  "./data",             0,     0,          false,     \
      "directory for the database, keys and other state")                                              \
    X(ALLOWED_ORIGINS,   "ALLOWED_ORIGINS",    STR,  "",                   0,     0,          false,     \
      "comma-separated extra browser origins allowed to call the server")                             \
    X(ALLOWED_HOSTS,     "ALLOWED_HOSTS",      STR,  "",                   0,     0,          false,     \
      "comma-separated extra Host header values accepted")                                             \
    X(MAX_BODY_BYTES,    "MAX_BODY_BYTES",     INT,  "4194304",            1024,  67108864,   false,     \
      "largest request body accepted (413 above)")                                                     \
    X(MAX_HEADER_BYTES,  "MAX_HEADER_BYTES",   INT,  "16384",              1024,  262144,     false,     \
      "largest total size of request headers (431 above)")                                            \
    X(MAX_HEADERS,       "MAX_HEADERS",        INT,  "100",                8,     1000,       false,     \
      "most request headers accepted (431 above)")                                                    \
    X(CONN_MEMORY_BYTES, "CONN_MEMORY_BYTES",  INT,  "32768",              8192,  1048576,    false,     \
      "memory per connection for headers and buffers")                                                \
    X(MAX_CONNECTIONS,   "MAX_CONNECTIONS",    INT,  "2048",               4,     100000,     false,     \
      "most open connections, SSE streams included")                                                  \
    X(MAX_CONNECTIONS_PER_IP, "MAX_CONNECTIONS_PER_IP", INT, "64",         0,     100000,     false,     \
      "most open connections from one peer address, an IPv6 peer counted by its /64 (0: no limit); TRUSTED_PROXIES are exempt") \
    X(CONN_TIMEOUT_S,    "CONN_TIMEOUT_S",     INT,  "60",                 1,     3600,       false,     \
      "idle connection timeout in seconds")                                                           \
    X(REQUEST_TIMEOUT_S, "REQUEST_TIMEOUT_S",  INT,  "30",                 1,     3600,       false,     \
      "a request's headers and body must arrive within this of the connection opening or (kept alive) the request's first byte; TRUSTED_PROXIES are exempt") \
    X(TRUSTED_PROXIES,   "TRUSTED_PROXIES",    STR,  "",                   0,     0,          false,     \
      "addresses/CIDR blocks of your reverse proxies (e.g. 127.0.0.1/32, 10.0.0.0/8): only they may name the client") \
    X(TRUSTED_PROXY_HEADER, "TRUSTED_PROXY_HEADER", STR, "x-forwarded-for", 0, 0,          false,     \
      "the header your proxies write the client into: x-forwarded-for or forwarded (the other is ignored)") \
    X(THREADS,           "THREADS",            INT,  "0",                  0,     256,        false,     \
      "HTTP worker threads (0: one per core, four per core with DATABASE_URL)")                        \
    X(BLOCKING_THREADS,  "BLOCKING_THREADS",   INT,  "64",                 0,     1024,       false,     \
      "threads that run what may wait (note writes and searches, sign-in pages) while their connections wait (0: on the HTTP workers)") \
    X(SSE_HEARTBEAT_S,   "SSE_HEARTBEAT_S",    INT,  "15",                 1,     300,        false,     \
      "seconds between keep-alive comments on open SSE streams")                                      \
    X(MAX_LISTEN_STREAMS,"MAX_LISTEN_STREAMS", INT,  "1024",               0,     100000,     false,     \
      "most concurrent subscriptions/listen streams")                                                 \
    X(MAX_STREAMS_PER_USER, "MAX_STREAMS_PER_USER", INT, "8",             1,     100000,     false,     \
      "most listen streams, and most streamed (SSE) calls, one signed-in user has open at a time")    \
    X(SHUTDOWN_GRACE_S,  "SHUTDOWN_GRACE_S",   INT,  "10",                 0,     600,        false,     \
      "seconds in-flight requests get to finish on SIGTERM")                                          \
    X(JSON_MAX_DEPTH,    "JSON_MAX_DEPTH",     INT,  "64",                 4,     1024,       false,     \
      "deepest JSON nesting accepted in a request")                                                    \
    X(JSON_MAX_STRING,   "JSON_MAX_STRING",    INT,  "1048576",            64,    67108864,   false,     \
      "longest JSON string accepted in a request, in bytes")                                          \
    X(SECRET_KEY,        "SECRET_KEY",         STR,  "",                   0,     0,          true,      \
      "32+ characters: protects MRTR state, encrypts the signing keys in the store; required "     \
      "with DATABASE_URL (default: DATA_DIR/secret.key, generated 0600)")                           \
    X(DATABASE_URL,      "DATABASE_URL",       STR,  "",                   0,     0,          true,      \
      "postgres://... selects PostgreSQL; empty: SQLite in DATA_DIR")                               \
    X(ACCESS_TOKEN_TTL_S, "ACCESS_TOKEN_TTL_S", INT, "3600",               5,     86400,      false,     \
      "lifetime of access tokens issued by the built-in authorization server")                      \
    X(REFRESH_TOKEN_TTL_S, "REFRESH_TOKEN_TTL_S", INT, "2592000",          60,    31536000,   false,     \
      "lifetime of refresh tokens (rotated on every use)")                                           \
    X(CODE_TTL_S,        "CODE_TTL_S",         INT,  "60",                 5,     600,        false,     \
      "lifetime of authorization codes")                                                             \
    X(REFRESH_REUSE_GRACE_S, "REFRESH_REUSE_GRACE_S", INT, "10",           0,     120,        false,     \
      "a rotated refresh token presented again within this is a concurrent refresh, not theft")     \
    X(KEY_ROTATION_DAYS, "KEY_ROTATION_DAYS",  INT,  "30",                 1,     3650,       false,     \
      "days a signing key signs before its successor takes over")                                    \
    X(KEY_PUBLISH_LEAD_S, "KEY_PUBLISH_LEAD_S", INT, "900",                5,     86400,      false,     \
      "seconds a new signing key is published in the JWKS before it signs (rotation, `keys rotate`); " \
      "keep it above 330: JWKS caches hold 300 s and instances re-read the keys every 30 s")        \
    X(DCR_PER_HOUR,      "DCR_PER_HOUR",       INT,  "30",                 1,     100000,     false,     \
      "client registrations allowed per address and hour (new client metadata documents count too)") \
    X(CIMD_ALLOW_LOOPBACK, "CIMD_ALLOW_LOOPBACK", INT, "0",                0,     1,          false,     \
      "1: accept client metadata documents on loopback http (development and tests only)")          \
    X(AUTH_MODE,         "AUTH_MODE",          STR,  "",                   0,     0,          false,     \
      "builtin (default), external (default when an issuer is set) or none (loopback only)")         \
    X(AUTH_ISSUER,       "AUTH_ISSUER",        STR,  "",                   0,     0,          false,     \
      "external issuer URL: the server becomes a pure resource server for it")                       \
    X(AUTH_AUDIENCE,     "AUTH_AUDIENCE",      STR,  "",                   0,     0,          false,     \
      "comma-separated audiences to accept instead of the MCP URL")                                  \
    X(AUTH_JWKS_URI,     "AUTH_JWKS_URI",      STR,  "",                   0,     0,          false,     \
      "JWKS URL, when the issuer's metadata does not name one")                                      \
    X(AUTH_SCOPES,       "AUTH_SCOPES",        STR,  "notes:read notes:write", 0, 0,          false,     \
      "space-separated scopes advertised and asked for")                                             \
    X(AUTH_LEEWAY_S,     "AUTH_LEEWAY_S",      INT,  "30",                 0,     300,        false,     \
      "clock skew tolerated on exp/nbf/iat, in seconds")                                            \
    X(AUTH_ORG_CLAIM,    "AUTH_ORG_CLAIM",     STR,  "oid,org_id",         0,     0,          false,     \
      "claim path(s) of the organization, comma-separated, dotted for nesting")                      \
    X(AUTH_SCOPES_CLAIM, "AUTH_SCOPES_CLAIM",  STR,  "scope,scp,scopes",   0,     0,          false,     \
      "claim path(s) of the scopes")                                                                 \
    X(AUTH_PERMISSIONS_CLAIM, "AUTH_PERMISSIONS_CLAIM", STR, "permissions,perms", 0, 0,       false,     \
      "claim path(s) of the permissions")                                                            \
    X(AUTH_ROLES_CLAIM,  "AUTH_ROLES_CLAIM",   STR,  "roles",              0,     0,          false,     \
      "claim path(s) of the roles (e.g. realm_access.roles for Keycloak)")                           \
    X(AUTH_DEFAULT_PERMISSIONS, "AUTH_DEFAULT_PERMISSIONS", STR, "",       0,     0,          false,     \
      "permissions granted to tokens WITHOUT a permissions claim (issuers with no RBAC); empty: none") \
    X(AUTH_FETCH_TIMEOUT_MS, "AUTH_FETCH_TIMEOUT_MS", INT, "5000",         100,   60000,      false,     \
      "timeout of issuer metadata and JWKS fetches")                                                 \
    X(AUTH_REFETCH_COOLDOWN_S, "AUTH_REFETCH_COOLDOWN_S", INT, "30",       1,     3600,       false,     \
      "least seconds between two JWKS fetches (unknown kid, outage)")                                \
    X(AUTH_JWKS_MAX_STALE_S, "AUTH_JWKS_MAX_STALE_S", INT, "86400",        1,     604800,     false,     \
      "issuer unreachable: cached keys verify tokens for at most this long after their last fetch, then 503") \
    X(TOKEN_CACHE_SIZE,  "TOKEN_CACHE_SIZE",   INT,  "4096",               16,    1048576,    false,     \
      "verified tokens remembered (skips signature checks for repeated requests)")                   \
    X(SCALEKIT_ENVIRONMENT_URL, "SCALEKIT_ENVIRONMENT_URL", STR, "",        0,     0,          false,     \
      "Scalekit environment (the xmcp template's variable): selects external mode")                  \
    X(SCALEKIT_RESOURCE_ID, "SCALEKIT_RESOURCE_ID", STR, "",               0,     0,          false,     \
      "Scalekit resource id (res_...)")                                                              \
    X(SCALEKIT_CLIENT_ID, "SCALEKIT_CLIENT_ID", STR, "",                   0,     0,          false,     \
      "Scalekit client id (management API only; not needed to verify tokens)")                       \
    X(SCALEKIT_CLIENT_SECRET, "SCALEKIT_CLIENT_SECRET", STR, "",           0,     0,          true,      \
      "Scalekit client secret (management API only)")                                                \
    X(LOG_LEVEL,         "LOG_LEVEL",          STR,  "info",               0,     0,          false,     \
      "debug, info, warn or error")                                                                     \
    X(LOG_FORMAT,        "LOG_FORMAT",         STR,  "text",               0,     0,          false,     \
      "text or json")                                                                                  \
    X(SMTP_URL,          "SMTP_URL",           STR,  "",                   0,     0,          false,     \
      "mail server: smtp://host:587 (STARTTLS required) or smtps://host:465 (implicit TLS), optionally " \
      "/EHLO-NAME; no credentials in it. Empty: mail is written to DATA_DIR/outbox/ (with DATABASE_URL "  \
      "only when DATA_DIR is set explicitly)")                                                         \
    X(SMTP_TLS,          "SMTP_TLS",           STR,  "",                   0,     0,          false,     \
      "starttls (default for smtp://), implicit (smtps://), or none: plaintext, only to a loopback relay") \
    X(SMTP_USERNAME,     "SMTP_USERNAME",      STR,  "",                   0,     0,          false,     \
      "SMTP AUTH user (sent only over TLS, or to a loopback relay with SMTP_TLS=none)")                \
    X(SMTP_PASSWORD,     "SMTP_PASSWORD",      STR,  "",                   0,     0,          true,      \
      "SMTP AUTH password (never logged; set it in the environment, not as a flag)")                  \
    X(SMTP_FROM,         "SMTP_FROM",          STR,  "",                   0,     0,          false,     \
      "sender address, e.g. notes@example.com (required with SMTP_URL; outbox default "               \
      "teamnotes@localhost.invalid)")                                                                   \
    X(SMTP_FROM_NAME,    "SMTP_FROM_NAME",     STR,  "teamnotes",          0,     0,          false,     \
      "display name of the sender (UTF-8)")                                                            \
    X(SMTP_CA_FILE,      "SMTP_CA_FILE",       STR,  "",                   0,     0,          false,     \
      "PEM file of the CA that signed the mail server's certificate (default: the system's CAs)")     \
    X(SMTP_TIMEOUT_MS,   "SMTP_TIMEOUT_MS",    INT,  "15000",              1000,  120000,     false,     \
      "time limit of one delivery: connect, TLS, AUTH and upload")                                  \
    X(SIGNIN_METHODS,    "SIGNIN_METHODS",     STR,  "",                   0,     0,          false,     \
      "sign-in methods of the built-in issuer, comma-separated: password, email, oidc, sso. Empty: " \
      "password, plus email when mail can be delivered (SMTP_URL or the DATA_DIR outbox). A listed "  \
      "method that cannot work stops the start. oidc: the providers of OIDC_PROVIDERS "              \
      "(OIDC_<ID>_ISSUER, _CLIENT_ID, _CLIENT_SECRET[_FILE], _NAME, _SCOPES; README); sso "         \
      "(organizations' own OpenID providers, "          \
      "`teamnotes org sso set`) is offered once an organization has a connection")                    \
    X(SSO_ALLOW_LOOPBACK, "SSO_ALLOW_LOOPBACK", INT, "0",                0,     1,          false,     \
      "tests and development only: organizations' SSO issuers may be http:// on a loopback host")   \
    X(EMAIL_CODE_TTL_S,  "EMAIL_CODE_TTL_S",   INT,  "600",                60,    3600,       false,     \
      "lifetime of an email sign-in code and link, in seconds")                                     \
    X(INVITE_TTL_S,      "INVITE_TTL_S",       INT,  "604800",             60,    2592000,    false,     \
      "lifetime of an invitation link made by `teamnotes user invite`, in seconds (default 7 days)") \
    X(METRICS_LISTEN,    "METRICS_LISTEN",     STR,  "",                   0,     0,          false,     \
      "address:port of a separate listener for /metrics, /healthz and /readyz, e.g. 127.0.0.1:9090 "  \
      "([::1]:9090). Empty: no such listener. Beyond loopback it needs METRICS_TOKEN")                 \
    X(METRICS_TOKEN,     "METRICS_TOKEN",      STR,  "",                   0,     0,          true,      \
      "bearer token (16+ characters) a scraper must send for /metrics. Without METRICS_LISTEN, "       \
      "/metrics is served on the main listener only when this is set; empty and no METRICS_LISTEN: "   \
      "no /metrics at all")
// clang-format on

// clang-format off
enum tn_config_id {
#define TN_CFG_ENUM(id, env, type, def, min, max, secret, help) TN_CFG_##id,
    TN_CONFIG_TABLE(TN_CFG_ENUM)
#undef TN_CFG_ENUM
    TN_CFG__COUNT
};
// clang-format on

struct tn_config {
    char *str[TN_CFG__COUNT];          /* every value as text (owned) */
    int64_t num[TN_CFG__COUNT];        /* parsed value of INT settings */
    const char *source[TN_CFG__COUNT]; /* "flag", "env", ".env" or "default" */
};

/* Loads the configuration from argv (flags such as --port 9000 or --base-url=URL), the
 * environment and `dotenv_path` (may be NULL or missing). On failure `err` holds a
 * message for the operator saying what to change. */
enum tn_err tn_config_load(struct tn_config *c, int argc, char **argv, const char *dotenv_path,
                           struct tn_buf *err);
void tn_config_deinit(struct tn_config *c);
/* Settings a room above core owns (mail's SMTP_*) are checked by that room: it registers
 * its check once at start, before any tn_config_load, which runs it after its own checks
 * (so that core includes nothing above it). At most four; registering one twice is a
 * no-op. Not thread-safe: call from main. */
typedef enum tn_err (*tn_config_check_fn)(const struct tn_config *c, struct tn_buf *err);
void tn_config_add_check(tn_config_check_fn fn);
const char *tn_config_str(const struct tn_config *c, enum tn_config_id id);
int64_t tn_config_int(const struct tn_config *c, enum tn_config_id id);
/* Writes every setting as NAME=value (secrets redacted) with its source. */
void tn_config_print(const struct tn_config *c, struct tn_buf *out);
/* Appends the flag help text. */
void tn_config_help(struct tn_buf *out);

/* Splits METRICS_LISTEN ("127.0.0.1:9090", "[::1]:9090") into host (without brackets)
 * and port; TN_ERR_CONFIG when it has another form. */
enum tn_err tn_config_metrics_listen(const char *v, char *host, size_t host_cap, uint16_t *port);

/* True when `host` (no port, IPv6 without brackets or with) names a loopback address. */
bool tn_host_is_loopback(const char *host, size_t len);

#endif
