/* Upstream OpenID Connect relying party: provider (discovery and key caches), the
 * authorization URL, the callback, the token request and the ID token checks. */
#include "auth/upstream/oidc.h"

#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/rs/jose.h"
#include "core/fetch.h"
#include "core/form.h"
#include "core/log.h"
#include "core/util.h"

#define HINT_MAX 256u
#define DETAIL_MAX 200u
#define HEADER_MAX 2048u /* decoded JOSE header we look at before jose.c does */
#define TID_MAX 64u

/* An immutable snapshot shared by concurrent sign-ins: a refresh swaps the pointer and
 * the last user of the old one frees it. */
struct snap {
    struct tn_oidc_discovery disc;
    struct tn_jwks *keys;
    int64_t fetched_ms;
    atomic_int refs;
};

struct tn_oidc_provider {
    char *issuer, *client_id, *client_secret, *scopes, *redirect_uri, *groups_claim;
    struct tn_fetch_opts fo;
    int leeway_s;
    int64_t cooldown_ms, ttl_ms;
    pthread_mutex_t mu;       /* guards cur and the attempt times */
    pthread_mutex_t fetch_mu; /* one fetch from the provider at a time */
    struct snap *cur;
    int64_t keys_attempt_ms; /* last JWKS fetch for an unknown kid */
    int64_t refresh_attempt_ms;
    atomic_ulong discovery_fetches, jwks_fetches;
};

static void snap_release(struct snap *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1) {
        tn_oidc_discovery_deinit(&s->disc);
        tn_jwks_free(s->keys);
        free(s);
    }
}

static struct snap *snap_acquire(struct tn_oidc_provider *p)
{
    pthread_mutex_lock(&p->mu);
    struct snap *s = p->cur;
    if (s)
        atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&p->mu);
    return s;
}

/* Installs `s` (its reference moves to the provider). */
static void snap_install(struct tn_oidc_provider *p, struct snap *s)
{
    pthread_mutex_lock(&p->mu);
    struct snap *old = p->cur;
    p->cur = s;
    pthread_mutex_unlock(&p->mu);
    snap_release(old);
}

static void wipe_free(char *s)
{
    if (s) {
        sodium_memzero(s, strlen(s));
        free(s);
    }
}

/* Upstream text for the log: printable ASCII only, cut at DETAIL_MAX. */
static void put_detail(struct tn_buf *d, const char *s)
{
    if (!d || !s)
        return;
    for (size_t i = 0; s[i] && d->len < DETAIL_MAX; i++) {
        char ch = (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f ? s[i] : '?';
        if (tn_buf_append(d, &ch, 1) != TN_OK)
            return;
    }
}

/* ---- fetching -------------------------------------------------------------------------- */

static enum tn_oidc_reason fetch_discovery(struct tn_oidc_provider *p, struct tn_oidc_discovery *d,
                                           enum tn_err *rc)
{
    struct tn_buf url;
    struct tn_fetch_result r = {0};
    enum tn_oidc_reason why = TN_OIDC_INTERNAL;
    tn_buf_init(&url, TN_OIDC_URL_MAX + sizeof TN_OIDC_WELL_KNOWN);
    tn_buf_init(&r.body, 0);
    /* OIDC Discovery §4: the well-known path is appended, a trailing slash removed first */
    size_t il = strlen(p->issuer);
    if (il && p->issuer[il - 1] == '/')
        il--;
    *rc = TN_ERR_NOMEM;
    if (tn_buf_append(&url, p->issuer, il) != TN_OK ||
        tn_buf_puts(&url, TN_OIDC_WELL_KNOWN) != TN_OK)
        goto done;
    struct tn_fetch_opts o = p->fo;
    o.max_bytes = TN_OIDC_DISCOVERY_MAX_BYTES;
    atomic_fetch_add(&p->discovery_fetches, 1);
    enum tn_err f = tn_fetch(url.data, &o, &r);
    *rc = TN_ERR_IO;
    if (f == TN_ERR_LIMIT) {
        *rc = TN_ERR_BAD_INPUT;
        why = TN_OIDC_DISCOVERY_TOO_LARGE;
    } else if (f == TN_ERR_FORBIDDEN) {
        *rc = TN_ERR_CONFIG;
        why = TN_OIDC_BAD_CONFIG;
    } else if (f != TN_OK) {
        why = TN_OIDC_DISCOVERY_UNREACHABLE;
    } else if (r.status != 200) {
        why = TN_OIDC_DISCOVERY_STATUS;
    } else {
        *rc = tn_oidc_discovery_parse(p->issuer, r.body.data, r.body.len, p->fo.allow_loopback, d,
                                      &why);
    }
done:
    if (why != TN_OIDC_OK) {
        char st[16];
        snprintf(st, sizeof st, "%ld", r.status);
        tn_log(TN_LOG_WARN, "oidc: discovery refused", "issuer", p->issuer, "status", st, "reason",
               tn_oidc_reason_name(why), NULL);
    }
    tn_buf_deinit(&url);
    tn_buf_deinit(&r.body);
    return why;
}

static enum tn_oidc_reason fetch_keys(struct tn_oidc_provider *p, const char *jwks_uri,
                                      struct tn_jwks **out, enum tn_err *rc)
{
    struct tn_fetch_result r;
    struct tn_buf err;
    enum tn_oidc_reason why = TN_OIDC_JWKS_UNAVAILABLE;
    *out = NULL;
    tn_buf_init(&err, 1024);
    struct tn_fetch_opts o = p->fo;
    o.max_bytes = TN_OIDC_JWKS_MAX_BYTES;
    atomic_fetch_add(&p->jwks_fetches, 1);
    enum tn_err f = tn_fetch(jwks_uri, &o, &r);
    *rc = TN_ERR_IO;
    if (f == TN_OK && r.status == 200) {
        *rc = tn_jwks_parse(r.body.data ? r.body.data : "", r.body.len, out, &err);
        if (*rc == TN_OK && tn_jwks_count(*out) == 0) {
            tn_jwks_free(*out);
            *out = NULL;
            *rc = TN_ERR_BAD_INPUT;
        }
        if (*rc == TN_OK)
            why = TN_OIDC_OK;
    }
    if (why != TN_OIDC_OK) {
        char st[16];
        snprintf(st, sizeof st, "%ld", r.status);
        tn_log(TN_LOG_WARN, "oidc: no usable signing keys", "issuer", p->issuer, "status", st,
               "error", tn_err_name(f != TN_OK ? f : *rc), "detail", err.data ? err.data : "",
               NULL);
    }
    tn_buf_deinit(&err);
    tn_buf_deinit(&r.body);
    return why;
}

/* Discovery then keys, into a new snapshot. */
static enum tn_oidc_reason load(struct tn_oidc_provider *p, struct snap **out, enum tn_err *rc)
{
    *out = NULL;
    struct snap *s = calloc(1, sizeof *s);
    if (!s) {
        *rc = TN_ERR_NOMEM;
        return TN_OIDC_INTERNAL;
    }
    atomic_init(&s->refs, 1);
    enum tn_oidc_reason why = fetch_discovery(p, &s->disc, rc);
    if (why == TN_OIDC_OK)
        why = fetch_keys(p, s->disc.jwks_uri, &s->keys, rc);
    if (why != TN_OIDC_OK) {
        snap_release(s);
        return why;
    }
    s->fetched_ms = tn_time_now_ms();
    *out = s;
    return TN_OIDC_OK;
}

/* Refreshes discovery and keys once they are older than the TTL. A failure keeps what
 * we have (logged): a provider's brief outage must not stop sign-ins it can still finish. */
static void refresh_if_old(struct tn_oidc_provider *p)
{
    int64_t now = tn_time_now_ms();
    pthread_mutex_lock(&p->mu);
    bool old = p->cur && now - p->cur->fetched_ms >= p->ttl_ms &&
               now - p->refresh_attempt_ms >= p->cooldown_ms;
    pthread_mutex_unlock(&p->mu);
    if (!old || pthread_mutex_trylock(&p->fetch_mu) != 0)
        return; /* fresh, or another thread is at it */
    pthread_mutex_lock(&p->mu);
    old = p->cur && now - p->cur->fetched_ms >= p->ttl_ms &&
          now - p->refresh_attempt_ms >= p->cooldown_ms;
    p->refresh_attempt_ms = now;
    pthread_mutex_unlock(&p->mu);
    struct snap *s = NULL;
    enum tn_err rc;
    if (old && load(p, &s, &rc) == TN_OIDC_OK)
        snap_install(p, s);
    pthread_mutex_unlock(&p->fetch_mu);
}

/* After an unknown kid: the provider may have rotated its keys. At most one fetch per
 * cooldown whatever tokens arrive, so forged kids cannot make us hammer the provider.
 * True when a new key set was installed. */
static bool refresh_keys(struct tn_oidc_provider *p, const struct snap *seen)
{
    pthread_mutex_lock(&p->fetch_mu);
    int64_t now = tn_time_now_ms();
    pthread_mutex_lock(&p->mu);
    bool changed = p->cur != seen; /* someone refreshed while we waited */
    bool cooling = now - p->keys_attempt_ms < p->cooldown_ms;
    if (!changed && !cooling)
        p->keys_attempt_ms = now;
    struct snap *cur = p->cur;
    if (cur)
        atomic_fetch_add(&cur->refs, 1);
    pthread_mutex_unlock(&p->mu);
    bool installed = changed;
    if (!changed && !cooling && cur) {
        struct snap *s = calloc(1, sizeof *s);
        enum tn_err rc = TN_ERR_NOMEM;
        if (s) {
            atomic_init(&s->refs, 1);
            s->fetched_ms = cur->fetched_ms; /* discovery keeps its age */
            if (fetch_keys(p, cur->disc.jwks_uri, &s->keys, &rc) == TN_OIDC_OK &&
                (s->disc.issuer = strdup(cur->disc.issuer)) &&
                (s->disc.authorization_endpoint = strdup(cur->disc.authorization_endpoint)) &&
                (s->disc.token_endpoint = strdup(cur->disc.token_endpoint)) &&
                (s->disc.jwks_uri = strdup(cur->disc.jwks_uri))) {
                s->disc.tenant_template = cur->disc.tenant_template;
                s->disc.iss_parameter = cur->disc.iss_parameter;
                snap_install(p, s);
                installed = true;
            } else {
                snap_release(s);
            }
        }
    }
    snap_release(cur);
    pthread_mutex_unlock(&p->fetch_mu);
    return installed;
}

/* ---- provider -------------------------------------------------------------------------- */

static bool has_scope(const char *scopes, const char *want)
{
    size_t wl = strlen(want);
    for (const char *s = scopes; *s;) {
        size_t n = strcspn(s, " ");
        if (n == wl && memcmp(s, want, n) == 0)
            return true;
        s += n;
        s += strspn(s, " ");
    }
    return false;
}

static bool printable(const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

static bool config_ok(const struct tn_oidc_config *c)
{
    const char *scopes = c->scopes ? c->scopes : TN_OIDC_DEFAULT_SCOPES;
    return c->issuer && tn_oidc_url_ok(c->issuer, c->allow_loopback) && !strchr(c->issuer, '?') &&
           c->client_id && printable(c->client_id, 512) &&
           (!c->client_secret || !c->client_secret[0] || printable(c->client_secret, 1024)) &&
           printable(scopes, 1024) && has_scope(scopes, "openid") &&
           /* our own callback: https, or http on loopback (development), whatever the provider */
           c->redirect_uri && tn_oidc_url_ok(c->redirect_uri, true) &&
           (!c->groups_claim || printable(c->groups_claim, 128)) && c->leeway_s >= 0 &&
           c->leeway_s <= TN_OIDC_MAX_LEEWAY_S;
}

enum tn_err tn_oidc_provider_new(const struct tn_oidc_config *c, struct tn_oidc_provider **out,
                                 enum tn_oidc_reason *why)
{
    enum tn_err rc = TN_ERR_CONFIG;
    enum tn_oidc_reason r = TN_OIDC_BAD_CONFIG;
    struct tn_oidc_provider *p = NULL;
    *out = NULL;
    if (!c || !config_ok(c))
        goto done;
    rc = TN_ERR_NOMEM;
    r = TN_OIDC_INTERNAL;
    if (!(p = calloc(1, sizeof *p)))
        goto done;
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->fetch_mu, NULL);
    p->fo.timeout_ms = c->timeout_ms ? c->timeout_ms : TN_OIDC_DEFAULT_TIMEOUT_MS;
    p->fo.allow_loopback = c->allow_loopback;
    p->leeway_s = c->leeway_s;
    p->cooldown_ms =
        (int64_t)(c->refetch_cooldown_s ? c->refetch_cooldown_s : TN_OIDC_DEFAULT_COOLDOWN_S) *
        1000;
    p->ttl_ms = (int64_t)(c->ttl_s ? c->ttl_s : TN_OIDC_DEFAULT_TTL_S) * 1000;
    p->keys_attempt_ms = p->refresh_attempt_ms = INT64_MIN / 2;
    if (!(p->issuer = strdup(c->issuer)) || !(p->client_id = strdup(c->client_id)) ||
        (c->client_secret && c->client_secret[0] &&
         !(p->client_secret = strdup(c->client_secret))) ||
        !(p->scopes = strdup(c->scopes ? c->scopes : TN_OIDC_DEFAULT_SCOPES)) ||
        !(p->redirect_uri = strdup(c->redirect_uri)) ||
        (c->groups_claim && !(p->groups_claim = strdup(c->groups_claim))))
        goto done;
    struct snap *s = NULL;
    if ((r = load(p, &s, &rc)) != TN_OIDC_OK)
        goto done;
    p->cur = s;
    rc = TN_OK;
    *out = p;
    p = NULL;
done:
    tn_oidc_provider_free(p);
    if (why)
        *why = r;
    return rc;
}

void tn_oidc_provider_free(struct tn_oidc_provider *p)
{
    if (!p)
        return;
    snap_release(p->cur);
    free(p->issuer);
    free(p->client_id);
    wipe_free(p->client_secret);
    free(p->scopes);
    free(p->redirect_uri);
    free(p->groups_claim);
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->fetch_mu);
    free(p);
}

const char *tn_oidc_provider_issuer(const struct tn_oidc_provider *p) { return p->issuer; }

void tn_oidc_provider_stats(struct tn_oidc_provider *p, unsigned long *discovery_fetches,
                            unsigned long *jwks_fetches)
{
    if (discovery_fetches)
        *discovery_fetches = atomic_load(&p->discovery_fetches);
    if (jwks_fetches)
        *jwks_fetches = atomic_load(&p->jwks_fetches);
}

/* ---- begin ----------------------------------------------------------------------------- */

static void random_secret(char out[TN_OIDC_SECRET_LEN + 1])
{
    uint8_t b[32];
    tn_random(b, sizeof b);
    tn_b64url_encode(out, TN_OIDC_SECRET_LEN + 1, b, sizeof b);
    sodium_memzero(b, sizeof b);
}

/* RFC 7636 §4.2: BASE64URL(SHA256(ASCII(code_verifier))). */
static void s256(const char *verifier, char out[TN_OIDC_SECRET_LEN + 1])
{
    uint8_t h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)verifier, strlen(verifier));
    tn_b64url_encode(out, TN_OIDC_SECRET_LEN + 1, h, sizeof h);
}

static enum tn_err param(struct tn_buf *b, const char *name, const char *value)
{
    enum tn_err rc;
    if ((rc = tn_buf_puts(b, "&")) != TN_OK || (rc = tn_buf_puts(b, name)) != TN_OK ||
        (rc = tn_buf_puts(b, "=")) != TN_OK)
        return rc;
    return tn_url_encode(b, value);
}

void tn_oidc_start_deinit(struct tn_oidc_start *s)
{
    if (!s)
        return;
    free(s->url);
    sodium_memzero(s, sizeof *s);
}

enum tn_err tn_oidc_begin(struct tn_oidc_provider *p, const char *login_hint,
                          struct tn_oidc_start *out)
{
    enum tn_err rc = TN_ERR_BAD_INPUT;
    struct tn_buf b;
    struct snap *s = NULL;
    char challenge[TN_OIDC_SECRET_LEN + 1];
    memset(out, 0, sizeof *out);
    tn_buf_init(&b, 16384);
    if (login_hint && strnlen(login_hint, HINT_MAX + 1) > HINT_MAX)
        goto done;
    refresh_if_old(p);
    rc = TN_ERR_INTERNAL;
    if (!(s = snap_acquire(p)))
        goto done;
    random_secret(out->state);
    random_secret(out->nonce);
    random_secret(out->code_verifier);
    s256(out->code_verifier, challenge);
    const char *ep = s->disc.authorization_endpoint;
    /* an endpoint may carry its own query (RFC 6749 §3.1 keeps it) */
    if ((rc = tn_buf_puts(&b, ep)) != TN_OK ||
        (rc = tn_buf_puts(&b, strchr(ep, '?') ? "&response_type=code" : "?response_type=code")) !=
            TN_OK ||
        (rc = param(&b, "client_id", p->client_id)) != TN_OK ||
        (rc = param(&b, "redirect_uri", p->redirect_uri)) != TN_OK ||
        (rc = param(&b, "scope", p->scopes)) != TN_OK ||
        (rc = param(&b, "state", out->state)) != TN_OK ||
        (rc = param(&b, "nonce", out->nonce)) != TN_OK ||
        (rc = param(&b, "code_challenge", challenge)) != TN_OK ||
        (rc = tn_buf_puts(&b, "&code_challenge_method=S256")) != TN_OK ||
        (login_hint && login_hint[0] && (rc = param(&b, "login_hint", login_hint)) != TN_OK))
        goto done;
    rc = TN_ERR_NOMEM;
    if (!(out->url = tn_buf_take(&b)))
        goto done;
    rc = TN_OK;
done:
    snap_release(s);
    tn_buf_deinit(&b);
    if (rc != TN_OK)
        tn_oidc_start_deinit(out);
    return rc;
}

/* ---- ID token -------------------------------------------------------------------------- */

void tn_oidc_identity_deinit(struct tn_oidc_identity *id)
{
    if (!id)
        return;
    free(id->iss);
    free(id->sub);
    free(id->email);
    free(id->name);
    for (size_t i = 0; i < id->n_groups; i++)
        free(id->groups[i]);
    free(id->groups);
    memset(id, 0, sizeof *id);
}

static enum tn_oidc_reason from_jwt(enum tn_jwt_reason r)
{
    switch (r) {
    case TN_JWT_OK:
        return TN_OIDC_OK;
    case TN_JWT_MALFORMED:
        return TN_OIDC_ID_TOKEN_MALFORMED;
    case TN_JWT_TOO_LARGE:
        return TN_OIDC_ID_TOKEN_TOO_LARGE;
    case TN_JWT_ALG_NONE:
        return TN_OIDC_ID_TOKEN_ALG_NONE;
    case TN_JWT_ALG_UNSUPPORTED:
        return TN_OIDC_ID_TOKEN_ALG_NOT_ALLOWED;
    case TN_JWT_ALG_MISMATCH:
        return TN_OIDC_ID_TOKEN_ALG_MISMATCH;
    case TN_JWT_EMBEDDED_KEY:
        return TN_OIDC_ID_TOKEN_EMBEDDED_KEY;
    case TN_JWT_BAD_TYP:
        return TN_OIDC_ID_TOKEN_BAD_TYP;
    case TN_JWT_CRIT:
        return TN_OIDC_ID_TOKEN_CRIT;
    case TN_JWT_NO_KID_MATCH:
        return TN_OIDC_ID_TOKEN_KEY_UNKNOWN;
    case TN_JWT_BAD_SIGNATURE:
        return TN_OIDC_ID_TOKEN_BAD_SIGNATURE;
    case TN_JWT_BAD_ISSUER:
        return TN_OIDC_ID_TOKEN_BAD_ISSUER;
    case TN_JWT_BAD_AUDIENCE:
        return TN_OIDC_ID_TOKEN_BAD_AUDIENCE;
    case TN_JWT_EXPIRED:
        return TN_OIDC_ID_TOKEN_EXPIRED;
    case TN_JWT_NOT_YET_VALID:
        return TN_OIDC_ID_TOKEN_NOT_YET_VALID;
    case TN_JWT_NO_SUBJECT:
        return TN_OIDC_ID_TOKEN_NO_SUBJECT;
    case TN_JWT_NO_EXPIRY:
        return TN_OIDC_ID_TOKEN_NO_EXPIRY;
    case TN_JWT_BAD_CLAIM_TYPE:
        return TN_OIDC_ID_TOKEN_BAD_CLAIM_TYPE;
    default:
        return TN_OIDC_INTERNAL;
    }
}

/* Decodes part `idx` (0 header, 1 payload) of a compact JWS into a JSON object, without
 * any trust: only to choose how to verify (alg allow-list, Entra's tenant), never to
 * accept anything. NULL when it is not one. */
static json_t *unverified_part(const char *t, size_t len, int idx)
{
    const char *start = t, *end = memchr(t, '.', len);
    if (!end)
        return NULL;
    if (idx == 1) {
        start = end + 1;
        end = memchr(start, '.', len - (size_t)(start - t));
        if (!end)
            return NULL;
    }
    size_t n = (size_t)(end - start), dl = 0;
    size_t cap = n; /* decoded is never longer than encoded */
    if (cap > TN_OIDC_ID_TOKEN_MAX_LEN)
        return NULL;
    char *buf = malloc(cap + 1);
    json_t *v = NULL;
    if (buf && tn_b64url_decode(buf, cap + 1, &dl, start, n) == TN_OK)
        v = json_loadb(buf, dl, JSON_REJECT_DUPLICATES, NULL);
    free(buf);
    if (v && !json_is_object(v)) {
        json_decref(v);
        v = NULL;
    }
    return v;
}

/* OIDC Core §3.1.3.7 items 6-8: RS256, PS256 or ES256, never none, never HMAC (an HS256
 * token keyed with our copy of the public key would otherwise be "valid"). Access tokens
 * of the same issuer (typ at+jwt) are not ID tokens. */
static enum tn_oidc_reason check_header(const char *t, size_t len)
{
    json_t *h = unverified_part(t, len, 0);
    enum tn_oidc_reason r = TN_OIDC_ID_TOKEN_MALFORMED;
    const char *alg = json_string_value(json_object_get(h, "alg"));
    const char *typ = json_string_value(json_object_get(h, "typ"));
    if (!alg)
        goto done;
    r = TN_OIDC_ID_TOKEN_ALG_NONE;
    if (strcasecmp(alg, "none") == 0)
        goto done;
    r = TN_OIDC_ID_TOKEN_ALG_NOT_ALLOWED;
    if (strcmp(alg, TN_JOSE_ALG_RS256) != 0 && strcmp(alg, TN_JOSE_ALG_PS256) != 0 &&
        strcmp(alg, TN_JOSE_ALG_ES256) != 0)
        goto done;
    r = TN_OIDC_ID_TOKEN_BAD_TYP;
    if (typ && (strcasecmp(typ, TN_JOSE_TYP_AT) == 0 || strcasecmp(typ, "application/at+jwt") == 0))
        goto done;
    r = TN_OIDC_OK;
done:
    json_decref(h);
    return r;
}

/* A tenant id as Entra writes it (a GUID); anything else is never put into an issuer. */
static bool tid_ok(const char *s)
{
    size_t n = strnlen(s, TID_MAX + 1);
    if (n == 0 || n > TID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
              (s[i] >= 'A' && s[i] <= 'F') || s[i] == '-'))
            return false;
    return true;
}

/* The issuer an ID token must carry: the configured one, or for an Entra template the
 * template with the token's own `tid`. NULL and *r set when there is none. */
static char *expected_issuer(const struct snap *s, const char *t, size_t len,
                             enum tn_oidc_reason *r)
{
    *r = TN_OIDC_OK;
    if (!s->disc.tenant_template)
        return strdup(s->disc.issuer);
    json_t *c = unverified_part(t, len, 1);
    const char *tid = json_string_value(json_object_get(c, TN_OIDC_CLAIM_TID));
    char *out = NULL;
    if (!c) {
        *r = TN_OIDC_ID_TOKEN_MALFORMED;
    } else if (!tid || !tid_ok(tid)) {
        *r = TN_OIDC_ID_TOKEN_BAD_TENANT;
    } else {
        const char *at = strstr(s->disc.issuer, TN_OIDC_TENANT_TEMPLATE);
        size_t pre = (size_t)(at - s->disc.issuer), tl = strlen(tid);
        const char *post = at + sizeof TN_OIDC_TENANT_TEMPLATE - 1;
        size_t n = pre + tl + strlen(post);
        if ((out = malloc(n + 1))) {
            memcpy(out, s->disc.issuer, pre);
            memcpy(out + pre, tid, tl);
            memcpy(out + pre + tl, post, strlen(post) + 1);
        }
    }
    json_decref(c);
    return out;
}

static char *dup_claim(json_t *c, const char *name, bool *bad)
{
    json_t *v = json_object_get(c, name);
    if (!v)
        return NULL;
    if (!json_is_string(v)) {
        *bad = true;
        return NULL;
    }
    return strdup(json_string_value(v));
}

/* Claims §3.1.3.7 asks for beyond what tn_jwt_verify checked (iss, aud, exp, iat in the
 * future, sub), then the identity itself. */
static enum tn_oidc_reason check_claims(struct tn_oidc_provider *p, json_t *c, const char *nonce,
                                        const char *iss, struct tn_oidc_identity *id)
{
    json_t *aud = json_object_get(c, TN_JWT_CLAIM_AUD);
    json_t *azp = json_object_get(c, TN_OIDC_CLAIM_AZP);
    /* item 4-5: several audiences need an azp, and an azp must be us */
    if (json_is_array(aud) && json_array_size(aud) > 1 && !azp)
        return TN_OIDC_ID_TOKEN_AZP_MISSING;
    if (azp && !json_is_string(azp))
        return TN_OIDC_ID_TOKEN_BAD_CLAIM_TYPE;
    if (azp && strcmp(json_string_value(azp), p->client_id) != 0)
        return TN_OIDC_ID_TOKEN_AZP_MISMATCH;
    /* item 10: iat is required (its value was checked against the clock) */
    if (!json_object_get(c, TN_JWT_CLAIM_IAT))
        return TN_OIDC_ID_TOKEN_NO_IAT;
    /* item 11: the nonce sent, compared in constant time */
    json_t *n = json_object_get(c, TN_OIDC_CLAIM_NONCE);
    if (!n)
        return TN_OIDC_ID_TOKEN_NONCE_MISSING;
    if (!json_is_string(n))
        return TN_OIDC_ID_TOKEN_BAD_CLAIM_TYPE;
    size_t want = strlen(nonce);
    if (json_string_length(n) != want || !tn_ct_equal(json_string_value(n), nonce, want))
        return TN_OIDC_ID_TOKEN_NONCE_MISMATCH;

    bool bad = false;
    id->iss = strdup(iss);
    id->sub = dup_claim(c, TN_JWT_CLAIM_SUB, &bad);
    id->email = dup_claim(c, TN_OIDC_CLAIM_EMAIL, &bad);
    if (bad)
        return TN_OIDC_ID_TOKEN_BAD_CLAIM_TYPE;
    /* a string "true" is not true: only the JSON literal counts */
    id->email_verified = json_is_true(json_object_get(c, TN_OIDC_CLAIM_EMAIL_VERIFIED));
    json_t *name = json_object_get(c, TN_OIDC_CLAIM_NAME);
    if (json_is_string(name))
        id->name = strdup(json_string_value(name));
    if (!id->iss || !id->sub || (name && json_is_string(name) && !id->name))
        return TN_OIDC_INTERNAL;
    json_t *g = p->groups_claim ? json_object_get(c, p->groups_claim) : NULL;
    if (g) {
        if (!json_is_array(g))
            return TN_OIDC_ID_TOKEN_BAD_CLAIM_TYPE;
        if (json_array_size(g) > TN_OIDC_MAX_GROUPS)
            return TN_OIDC_ID_TOKEN_TOO_MANY_GROUPS;
        if (json_array_size(g) && !(id->groups = calloc(json_array_size(g), sizeof *id->groups)))
            return TN_OIDC_INTERNAL;
        size_t i;
        json_t *v;
        json_array_foreach(g, i, v) {
            if (!json_is_string(v))
                return TN_OIDC_ID_TOKEN_BAD_CLAIM_TYPE;
            if (json_string_length(v) > TN_OIDC_GROUP_MAX_LEN)
                return TN_OIDC_ID_TOKEN_TOO_MANY_GROUPS;
            if (!(id->groups[id->n_groups] = strdup(json_string_value(v))))
                return TN_OIDC_INTERNAL;
            id->n_groups++;
        }
    }
    return TN_OIDC_OK;
}

enum tn_err tn_oidc_id_token_verify(struct tn_oidc_provider *p, const char *id_token, size_t len,
                                    const char *nonce, int64_t now, struct tn_oidc_identity *out,
                                    enum tn_oidc_reason *why)
{
    enum tn_err rc = TN_ERR_BAD_INPUT;
    enum tn_oidc_reason r = TN_OIDC_INTERNAL;
    struct snap *s = NULL;
    char *iss = NULL;
    json_t *claims = NULL;
    memset(out, 0, sizeof *out);
    if (!p || !nonce || !nonce[0] || (!id_token && len)) {
        rc = TN_ERR_INTERNAL;
        goto done;
    }
    r = TN_OIDC_ID_TOKEN_TOO_LARGE;
    if (len > TN_OIDC_ID_TOKEN_MAX_LEN)
        goto done;
    if ((r = check_header(id_token ? id_token : "", len)) != TN_OIDC_OK)
        goto done;
    for (int attempt = 0; attempt < 2; attempt++) {
        snap_release(s);
        free(iss);
        iss = NULL;
        r = TN_OIDC_INTERNAL;
        if (!(s = snap_acquire(p)))
            goto done;
        if (!(iss = expected_issuer(s, id_token, len, &r))) {
            if (r == TN_OIDC_OK)
                r = TN_OIDC_INTERNAL;
            goto done;
        }
        const char *issuers[] = {iss};
        const char *auds[] = {p->client_id};
        struct tn_jwt_policy pol = {
            .issuers = issuers,
            .n_issuers = 1,
            .audiences = auds,
            .n_audiences = 1,
            .now = now,
            .leeway_s = p->leeway_s,
            .max_token_len = TN_OIDC_ID_TOKEN_MAX_LEN,
        };
        enum tn_jwt_reason jr = TN_JWT_INTERNAL;
        enum tn_err vr = tn_jwt_verify(id_token, len, s->keys, &pol, &claims, &jr);
        r = from_jwt(jr);
        if (vr == TN_OK)
            break;
        if (vr != TN_ERR_BAD_INPUT) {
            rc = vr;
            goto done;
        }
        /* an unknown kid: the provider may have rotated its keys since we fetched them */
        if (jr != TN_JWT_NO_KID_MATCH || attempt == 1 || !refresh_keys(p, s))
            goto done;
    }
    if (s->disc.tenant_template) {
        /* the verified tid is the one the issuer was built from (it is signed) */
        const char *tid = json_string_value(json_object_get(claims, TN_OIDC_CLAIM_TID));
        const char *at = strstr(s->disc.issuer, TN_OIDC_TENANT_TEMPLATE);
        size_t pre = (size_t)(at - s->disc.issuer);
        if (!tid || strncmp(iss + pre, tid, strlen(tid)) != 0) {
            r = TN_OIDC_ID_TOKEN_BAD_TENANT;
            goto done;
        }
    }
    if ((r = check_claims(p, claims, nonce, iss, out)) != TN_OIDC_OK) {
        if (r == TN_OIDC_INTERNAL)
            rc = TN_ERR_NOMEM;
        goto done;
    }
    rc = TN_OK;
done:
    json_decref(claims);
    snap_release(s);
    free(iss);
    if (rc != TN_OK)
        tn_oidc_identity_deinit(out);
    if (why)
        *why = r;
    return rc;
}

/* ---- finish ---------------------------------------------------------------------------- */

static bool secret_ok(const char *s)
{
    if (!s || strnlen(s, TN_OIDC_SECRET_LEN + 1) != TN_OIDC_SECRET_LEN)
        return false;
    for (size_t i = 0; i < TN_OIDC_SECRET_LEN; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
            return false;
    return true;
}

/* RFC 6749 §2.3.1: client id and secret are form-urlencoded, then joined and base64'd. */
static enum tn_err basic_auth(const struct tn_oidc_provider *p, struct tn_buf *out)
{
    struct tn_buf raw;
    enum tn_err rc;
    tn_buf_init(&raw, 6 * 1024);
    if ((rc = tn_url_encode(&raw, p->client_id)) == TN_OK &&
        (rc = tn_buf_puts(&raw, ":")) == TN_OK &&
        (rc = tn_url_encode(&raw, p->client_secret)) == TN_OK &&
        (rc = tn_buf_puts(out, "Basic ")) == TN_OK &&
        (rc = tn_buf_reserve(
             out, sodium_base64_ENCODED_LEN(raw.len, sodium_base64_VARIANT_ORIGINAL))) == TN_OK) {
        sodium_bin2base64(out->data + out->len, out->cap - out->len,
                          (const unsigned char *)raw.data, raw.len, sodium_base64_VARIANT_ORIGINAL);
        out->len += strlen(out->data + out->len);
    }
    if (raw.data)
        sodium_memzero(raw.data, raw.len);
    tn_buf_deinit(&raw);
    return rc;
}

/* Redeems the code; *id_token receives the ID token (caller frees). */
static enum tn_oidc_reason redeem(struct tn_oidc_provider *p, const struct snap *s,
                                  const char *code, const char *verifier, char **id_token,
                                  enum tn_err *rc, struct tn_buf *detail)
{
    struct tn_buf form, auth;
    struct tn_fetch_result res;
    json_t *doc = NULL;
    enum tn_oidc_reason r = TN_OIDC_INTERNAL;
    *id_token = NULL;
    *rc = TN_ERR_NOMEM;
    tn_buf_init(&form, 16384);
    tn_buf_init(&auth, 8192);
    tn_buf_init(&res.body, 0);
    if (tn_buf_puts(&form, "grant_type=authorization_code") != TN_OK ||
        param(&form, "code", code) != TN_OK ||
        param(&form, "redirect_uri", p->redirect_uri) != TN_OK ||
        param(&form, "code_verifier", verifier) != TN_OK ||
        /* a public client names itself in the body (RFC 6749 §4.1.3) */
        (!p->client_secret && param(&form, "client_id", p->client_id) != TN_OK) ||
        (p->client_secret && basic_auth(p, &auth) != TN_OK))
        goto done;
    struct tn_fetch_opts o = p->fo;
    o.max_bytes = TN_OIDC_TOKEN_MAX_BYTES;
    enum tn_err f = tn_fetch_form(s->disc.token_endpoint, &o, auth.data, form.data, form.len, &res);
    if (f == TN_ERR_LIMIT) {
        *rc = TN_ERR_BAD_INPUT;
        r = TN_OIDC_TOKEN_RESPONSE_MALFORMED;
        goto done;
    }
    if (f != TN_OK) {
        *rc = TN_ERR_IO;
        r = TN_OIDC_TOKEN_UNREACHABLE;
        goto done;
    }
    *rc = TN_ERR_BAD_INPUT;
    doc = res.body.data ? json_loadb(res.body.data, res.body.len, JSON_REJECT_DUPLICATES, NULL)
                        : NULL;
    if (res.status != 200) {
        /* RFC 6749 §5.2: an error object (invalid_grant for a replayed code) */
        r = TN_OIDC_TOKEN_REFUSED;
        const char *e = json_string_value(json_object_get(doc, "error"));
        const char *ed = json_string_value(json_object_get(doc, "error_description"));
        char st[40];
        snprintf(st, sizeof st, "HTTP %ld", res.status);
        put_detail(detail, e ? e : st);
        if (e && ed) {
            put_detail(detail, ": ");
            put_detail(detail, ed);
        }
        goto done;
    }
    r = TN_OIDC_TOKEN_RESPONSE_MALFORMED;
    if (!json_is_object(doc))
        goto done;
    json_t *it = json_object_get(doc, "id_token");
    r = TN_OIDC_NO_ID_TOKEN;
    if (!it)
        goto done;
    r = TN_OIDC_TOKEN_RESPONSE_MALFORMED;
    if (!json_is_string(it))
        goto done;
    *rc = TN_ERR_NOMEM;
    r = TN_OIDC_INTERNAL;
    if (!(*id_token = strdup(json_string_value(it))))
        goto done;
    *rc = TN_OK;
    r = TN_OIDC_OK;
done:
    json_decref(doc);
    if (res.body.data)
        sodium_memzero(res.body.data, res.body.len); /* tokens */
    tn_buf_deinit(&res.body);
    if (form.data)
        sodium_memzero(form.data, form.len);
    tn_buf_deinit(&form);
    if (auth.data)
        sodium_memzero(auth.data, auth.len);
    tn_buf_deinit(&auth);
    return r;
}

enum tn_err tn_oidc_finish(struct tn_oidc_provider *p, const char *query, size_t len,
                           const struct tn_oidc_pending *pending, struct tn_oidc_identity *out,
                           enum tn_oidc_reason *why, struct tn_buf *detail)
{
    enum tn_err rc = TN_ERR_BAD_INPUT;
    enum tn_oidc_reason r = TN_OIDC_CALLBACK_MALFORMED;
    struct tn_form f = {0};
    struct snap *s = NULL;
    char *id_token = NULL;
    bool parsed = false;
    memset(out, 0, sizeof *out);
    if (!p || !pending) {
        rc = TN_ERR_INTERNAL;
        r = TN_OIDC_INTERNAL;
        goto done;
    }
    if ((!query && len) || tn_form_parse(&f, query ? query : "", len) != TN_OK)
        goto done;
    parsed = true;
    /* state first: whatever else the callback says, it must belong to this browser */
    r = TN_OIDC_STATE_MISMATCH;
    const char *state = tn_form_get(&f, "state");
    if (!secret_ok(pending->state) || !state || strlen(state) != TN_OIDC_SECRET_LEN ||
        !tn_ct_equal(state, pending->state, TN_OIDC_SECRET_LEN))
        goto done;
    r = TN_OIDC_INTERNAL;
    if (!(s = snap_acquire(p)))
        goto done;
    /* RFC 9207: an authorization response names its issuer (mix-up defence) */
    const char *iss = tn_form_get(&f, "iss");
    r = TN_OIDC_CALLBACK_ISSUER_MISMATCH;
    if ((iss || s->disc.iss_parameter) && !s->disc.tenant_template &&
        (!iss || strcmp(iss, s->disc.issuer) != 0))
        goto done;
    const char *err = tn_form_get(&f, "error");
    if (err) {
        r = TN_OIDC_UPSTREAM_ERROR;
        put_detail(detail, err);
        const char *ed = tn_form_get(&f, "error_description");
        if (ed) {
            put_detail(detail, ": ");
            put_detail(detail, ed);
        }
        goto done;
    }
    const char *code = tn_form_get(&f, "code");
    r = TN_OIDC_NO_CODE;
    if (!code || !code[0])
        goto done;
    r = TN_OIDC_CALLBACK_MALFORMED;
    if (!printable(code, TN_OIDC_CODE_MAX))
        goto done;
    r = TN_OIDC_INTERNAL;
    if (!secret_ok(pending->code_verifier) || !secret_ok(pending->nonce))
        goto done;
    if ((r = redeem(p, s, code, pending->code_verifier, &id_token, &rc, detail)) != TN_OIDC_OK)
        goto done;
    rc = tn_oidc_id_token_verify(p, id_token, strlen(id_token), pending->nonce, 0, out, &r);
done:
    if (parsed) {
        for (size_t i = 0; i < f.n; i++)
            if (f.f[i].value)
                sodium_memzero(f.f[i].value, strlen(f.f[i].value)); /* the code */
        tn_form_deinit(&f);
    }
    if (id_token) {
        sodium_memzero(id_token, strlen(id_token));
        free(id_token);
    }
    snap_release(s);
    if (rc != TN_OK)
        tn_oidc_identity_deinit(out);
    if (why)
        *why = r;
    return rc;
}
