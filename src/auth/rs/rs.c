#include "auth/rs/rs.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/fetch.h"
#include "core/log.h"
#include "core/util.h"

#define MAX_TOKEN_LEN 8192
#define JWKS_MAX_BYTES (256 * 1024)
#define META_MAX_BYTES (256 * 1024)
#define KEYS_TTL_DEFAULT_S 600 /* when the JWKS response says nothing */
#define KEYS_TTL_MIN_S 60
#define KEYS_TTL_MAX_S 86400
#define CACHE_STRIPES 64

/* A JWKS snapshot shared by concurrent verifications. */
struct keyset {
    struct tn_jwks *jwks;
    bool owned;
    bool remote; /* fetched from the issuer: bounded by max_stale_ms */
    int64_t expires_ms;
    int64_t fetched_ms; /* when it was fetched (remote sets) */
    atomic_int refs;
};

struct slot {
    uint8_t hash[32];
    struct tn_principal *p;
    int64_t exp_s;
};

struct tn_rs {
    char *resource, *prm_url, *scopes, *resource_name;
    char **issuers, **audiences;
    size_t n_issuers, n_audiences;
    int leeway_s;
    struct tn_claim_map claims;
    char *claim_strs[5];
    /* keys */
    pthread_mutex_t keys_mu;  /* guards cur */
    pthread_mutex_t fetch_mu; /* one fetch at a time */
    struct keyset *cur;
    int64_t last_attempt_ms;
    char **meta_urls;
    size_t n_meta_urls;
    char *jwks_uri, *jwks_fallback;
    bool allow_loopback;
    unsigned timeout_ms;
    int64_t cooldown_ms;
    int64_t max_stale_ms;
    /* when the current remote set was fetched (0: none yet), for the cache hits' check
     * without keys_mu; and whether the "too stale" refusal has been logged */
    _Atomic int64_t keys_fetched_ms;
    atomic_bool stale_logged;
    /* verified-token cache */
    struct slot *slots;
    size_t n_slots;
    pthread_mutex_t stripes[CACHE_STRIPES];
    atomic_ulong hits, verifications, fetches, fetch_failures;
    void (*on_unknown_kid)(void *ud);
    void *ud;
    bool local;
    /* the thread that fetches remote keys ahead of their expiry (tn_rs_start_ahead) */
    pthread_t ahead;
    bool ahead_on;
    pthread_mutex_t ahead_mu; /* guards ahead_stop */
    pthread_cond_t ahead_cv;
    bool ahead_stop;
};

static char *dup(const char *s) { return s ? strdup(s) : NULL; }

static void keyset_release(struct keyset *k)
{
    if (k && atomic_fetch_sub(&k->refs, 1) == 1) {
        if (k->owned)
            tn_jwks_free(k->jwks);
        free(k);
    }
}

static char **dup_list(const char *const *v, size_t n)
{
    char **out = calloc(n ? n : 1, sizeof *out);
    for (size_t i = 0; out && i < n; i++)
        out[i] = dup(v[i]);
    return out;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

struct tn_rs *tn_rs_new(const struct tn_rs_config *c)
{
    if (!c->n_issuers || !c->resource)
        return NULL;
    struct tn_rs *rs = calloc(1, sizeof *rs);
    if (!rs)
        return NULL;
    rs->resource = dup(c->resource);
    rs->prm_url = dup(c->prm_url);
    rs->scopes = dup(c->scopes ? c->scopes : "");
    rs->resource_name = dup(c->resource_name ? c->resource_name : "teamnotes");
    rs->issuers = dup_list(c->issuers, c->n_issuers);
    rs->n_issuers = c->n_issuers;
    rs->audiences = dup_list(c->audiences, c->n_audiences);
    rs->n_audiences = c->n_audiences;
    rs->leeway_s = c->leeway_s;
    rs->claim_strs[0] = dup(c->claims.org);
    rs->claim_strs[1] = dup(c->claims.scopes);
    rs->claim_strs[2] = dup(c->claims.permissions);
    rs->claim_strs[3] = dup(c->claims.roles);
    rs->claim_strs[4] = dup(c->claims.default_permissions);
    rs->claims = (struct tn_claim_map){rs->claim_strs[0], rs->claim_strs[1], rs->claim_strs[2],
                                       rs->claim_strs[3], rs->claim_strs[4]};
    pthread_mutex_init(&rs->keys_mu, NULL);
    pthread_mutex_init(&rs->fetch_mu, NULL);
    pthread_mutex_init(&rs->ahead_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&rs->ahead_cv, &ca);
    pthread_condattr_destroy(&ca);
    for (int i = 0; i < CACHE_STRIPES; i++)
        pthread_mutex_init(&rs->stripes[i], NULL);
    rs->on_unknown_kid = c->on_unknown_kid;
    rs->ud = c->ud;
    rs->local = c->local_keys != NULL;
    if (c->local_keys) {
        rs->cur = calloc(1, sizeof *rs->cur);
        rs->cur->jwks = (struct tn_jwks *)c->local_keys;
        rs->cur->owned = false;
        rs->cur->expires_ms = INT64_MAX;
        atomic_init(&rs->cur->refs, 1);
    }
    rs->meta_urls = dup_list(c->metadata_urls, c->n_metadata_urls);
    rs->n_meta_urls = c->n_metadata_urls;
    rs->jwks_uri = dup(c->jwks_uri);
    rs->jwks_fallback = dup(c->jwks_fallback);
    rs->allow_loopback = c->allow_loopback_http;
    rs->timeout_ms = c->fetch_timeout_ms ? c->fetch_timeout_ms : 5000;
    rs->cooldown_ms = (int64_t)(c->refetch_cooldown_s ? c->refetch_cooldown_s : 30) * 1000;
    rs->max_stale_ms = (int64_t)(c->jwks_max_stale_s ? c->jwks_max_stale_s : 86400) * 1000;
    atomic_init(&rs->keys_fetched_ms, 0);
    atomic_init(&rs->stale_logged, false);
    size_t n = 1;
    while (n < (c->cache_slots ? c->cache_slots : 4096))
        n <<= 1;
    rs->slots = calloc(n, sizeof *rs->slots);
    rs->n_slots = n;
    if (!rs->slots || !rs->issuers || !rs->audiences) {
        tn_rs_free(rs);
        return NULL;
    }
    return rs;
}

void tn_rs_cache_clear(struct tn_rs *rs)
{
    for (size_t i = 0; i < rs->n_slots; i++) {
        pthread_mutex_t *m = &rs->stripes[i % CACHE_STRIPES];
        pthread_mutex_lock(m);
        tn_principal_release(rs->slots[i].p);
        memset(&rs->slots[i], 0, sizeof rs->slots[i]);
        pthread_mutex_unlock(m);
    }
}

void tn_rs_free(struct tn_rs *rs)
{
    if (!rs)
        return;
    if (rs->ahead_on) { /* a fetch under way is waited for: AUTH_FETCH_TIMEOUT_MS per URL */
        pthread_mutex_lock(&rs->ahead_mu);
        rs->ahead_stop = true;
        pthread_cond_signal(&rs->ahead_cv);
        pthread_mutex_unlock(&rs->ahead_mu);
        pthread_join(rs->ahead, NULL);
    }
    if (rs->slots)
        tn_rs_cache_clear(rs);
    free(rs->slots);
    keyset_release(rs->cur);
    free(rs->resource);
    free(rs->prm_url);
    free(rs->scopes);
    free(rs->resource_name);
    free_list(rs->issuers, rs->n_issuers);
    free_list(rs->audiences, rs->n_audiences);
    free_list(rs->meta_urls, rs->n_meta_urls);
    for (int i = 0; i < 5; i++)
        free(rs->claim_strs[i]);
    free(rs->jwks_uri);
    free(rs->jwks_fallback);
    pthread_mutex_destroy(&rs->keys_mu);
    pthread_mutex_destroy(&rs->fetch_mu);
    pthread_mutex_destroy(&rs->ahead_mu);
    pthread_cond_destroy(&rs->ahead_cv);
    for (int i = 0; i < CACHE_STRIPES; i++)
        pthread_mutex_destroy(&rs->stripes[i]);
    free(rs);
}

/* ---------- external keys ---------- */

static char *discover_jwks_uri(struct tn_rs *rs)
{
    struct tn_fetch_opts o = {rs->timeout_ms, META_MAX_BYTES, rs->allow_loopback};
    for (size_t i = 0; i < rs->n_meta_urls; i++) {
        struct tn_fetch_result r;
        enum tn_err rc = tn_fetch(rs->meta_urls[i], &o, &r);
        char *uri = NULL;
        if (rc == TN_OK && r.status == 200 && r.body.data) {
            json_t *doc = json_loadb(r.body.data, r.body.len, JSON_REJECT_DUPLICATES, NULL);
            const char *iss = json_string_value(json_object_get(doc, "issuer"));
            const char *j = json_string_value(json_object_get(doc, "jwks_uri"));
            bool iss_ok = false;
            for (size_t k = 0; iss && k < rs->n_issuers; k++)
                iss_ok |= strcmp(iss, rs->issuers[k]) == 0;
            if (j && iss_ok)
                uri = strdup(j);
            else if (j)
                tn_log(TN_LOG_WARN, "issuer metadata names another issuer; ignored", "url",
                       rs->meta_urls[i], "issuer", iss ? iss : "(none)", NULL);
            json_decref(doc);
        }
        if (!uri) {
            char st[16];
            snprintf(st, sizeof st, "%ld", r.status);
            tn_log(TN_LOG_WARN, "issuer metadata unavailable", "url", rs->meta_urls[i], "status",
                   st, "error", rc == TN_OK ? "no jwks_uri" : tn_err_message(rc), NULL);
        }
        tn_buf_deinit(&r.body);
        if (uri)
            return uri;
    }
    return NULL;
}

static struct keyset *fetch_jwks(struct tn_rs *rs, const char *url)
{
    struct tn_fetch_opts o = {rs->timeout_ms, JWKS_MAX_BYTES, rs->allow_loopback};
    struct tn_fetch_result r;
    struct keyset *ks = NULL;
    enum tn_err rc = tn_fetch(url, &o, &r);
    if (rc == TN_OK && r.status == 200 && r.body.data) {
        struct tn_jwks *set = NULL;
        struct tn_buf err;
        tn_buf_init(&err, 2048);
        if (tn_jwks_parse(r.body.data, r.body.len, &set, &err) == TN_OK && tn_jwks_count(set) > 0) {
            ks = calloc(1, sizeof *ks);
            ks->jwks = set;
            ks->owned = true;
            int64_t ttl = r.max_age_s >= 0 ? r.max_age_s : KEYS_TTL_DEFAULT_S;
            if (r.no_store)
                ttl = KEYS_TTL_MIN_S;
            ttl = ttl < KEYS_TTL_MIN_S   ? KEYS_TTL_MIN_S
                  : ttl > KEYS_TTL_MAX_S ? KEYS_TTL_MAX_S
                                         : ttl;
            ks->remote = true;
            ks->fetched_ms = tn_time_now_ms();
            /* a refresh is due before the keys run out of their staleness allowance, or
             * they would go from fresh to refused without one attempt in between */
            int64_t life_ms = ttl * 1000 < rs->max_stale_ms ? ttl * 1000 : rs->max_stale_ms;
            ks->expires_ms = ks->fetched_ms + life_ms;
            atomic_init(&ks->refs, 1);
        } else {
            tn_jwks_free(set);
            tn_log(TN_LOG_WARN, "JWKS has no usable key", "url", url, "detail",
                   err.data ? err.data : "", NULL);
        }
        tn_buf_deinit(&err);
    } else {
        char st[16];
        snprintf(st, sizeof st, "%ld", r.status);
        /* an answer other than 200 is the status alone ("error=ok" read as a contradiction) */
        tn_log(TN_LOG_WARN, "JWKS fetch failed", "url", url, "status", st,
               rc != TN_OK ? "error" : NULL, tn_err_message(rc), NULL);
    }
    tn_buf_deinit(&r.body);
    return ks;
}

/* Refreshes the external key set. Only one thread fetches; the others keep using what
 * is cached (or wait, when nothing is). A caller that may not wait (an HTTP event loop,
 * which serves every other connection of its loop meanwhile) gets false where it would
 * have fetched or waited for a fetch, and nothing is done: it asks again where waiting
 * is allowed. */
static bool refresh(struct tn_rs *rs, bool forced, bool may_wait)
{
    /* A fetch in progress: with keys in hand, go on with them rather than park a thread
     * behind the network; with none, wait for it. */
    if (pthread_mutex_trylock(&rs->fetch_mu) != 0) {
        pthread_mutex_lock(&rs->keys_mu);
        bool have = rs->cur != NULL;
        pthread_mutex_unlock(&rs->keys_mu);
        if (have)
            return true;
        if (!may_wait)
            return false;
        pthread_mutex_lock(&rs->fetch_mu);
    }
    int64_t now = tn_time_now_ms();
    pthread_mutex_lock(&rs->keys_mu);
    bool fresh = rs->cur && rs->cur->expires_ms > now;
    /* With no keys at all every request fails, so retry sooner (still at most one fetch
     * per second): an issuer that comes up after us is picked up at once. */
    int64_t wait = rs->cur ? rs->cooldown_ms : (rs->cooldown_ms < 1000 ? rs->cooldown_ms : 1000);
    bool cooling = now - rs->last_attempt_ms < wait;
    pthread_mutex_unlock(&rs->keys_mu);
    bool remote = rs->n_meta_urls || rs->jwks_uri || rs->jwks_fallback;
    /* Within the cooldown nothing is fetched, whatever happens: an outage must not turn
     * every request into a slow, failing fetch (stale keys are used; with none, 503). */
    if ((fresh && !forced) || cooling || !remote) {
        pthread_mutex_unlock(&rs->fetch_mu);
        return true;
    }
    if (!may_wait) { /* a fetch is due: not here */
        pthread_mutex_unlock(&rs->fetch_mu);
        return false;
    }
    rs->last_attempt_ms = now;
    atomic_fetch_add(&rs->fetches, 1);
    struct keyset *ks = NULL;
    if (!rs->jwks_uri && rs->n_meta_urls)
        rs->jwks_uri = discover_jwks_uri(rs);
    if (rs->jwks_uri)
        ks = fetch_jwks(rs, rs->jwks_uri);
    if (!ks && rs->jwks_fallback)
        ks = fetch_jwks(rs, rs->jwks_fallback);
    if (ks) {
        pthread_mutex_lock(&rs->keys_mu);
        struct keyset *old = rs->cur;
        rs->cur = ks;
        atomic_store(&rs->keys_fetched_ms, ks->fetched_ms);
        pthread_mutex_unlock(&rs->keys_mu);
        keyset_release(old);
        if (atomic_exchange(&rs->stale_logged, false))
            tn_log(TN_LOG_WARN, "the issuer's keys were fetched again: tokens are verified again",
                   NULL);
        /* a key may have been withdrawn: verifications made with it no longer count */
        tn_rs_cache_clear(rs);
    } else {
        atomic_fetch_add(&rs->fetch_failures, 1); /* retried after the cooldown */
    }
    pthread_mutex_unlock(&rs->fetch_mu);
    return true;
}

/* True when a remote key set is past its staleness bound: fetched longer ago than
 * AUTH_JWKS_MAX_STALE_S (refreshes having failed since, or it would be newer). */
static bool too_stale(const struct tn_rs *rs, int64_t fetched_ms, int64_t now_ms)
{
    return now_ms - fetched_ms > rs->max_stale_ms;
}

/* The current keys (a reference), refreshed first when expired; NULL when there are none,
 * or only remote ones past their staleness bound: an issuer unreachable for that long
 * may have withdrawn a key we would still trust, so every token waits for a fetch.
 * Without may_wait, NULL with *later set where the refresh would fetch or wait. */
static struct keyset *acquire(struct tn_rs *rs, bool may_wait, bool *later)
{
    pthread_mutex_lock(&rs->keys_mu);
    struct keyset *k = rs->cur;
    bool stale = !k || k->expires_ms <= tn_time_now_ms();
    pthread_mutex_unlock(&rs->keys_mu);
    if (stale && !refresh(rs, false, may_wait)) {
        *later = true;
        return NULL;
    }
    pthread_mutex_lock(&rs->keys_mu);
    k = rs->cur;
    int64_t now = tn_time_now_ms();
    bool expired = k && k->remote && too_stale(rs, k->fetched_ms, now);
    int64_t age_s = k ? (now - k->fetched_ms) / 1000 : 0;
    if (k && !expired)
        atomic_fetch_add(&k->refs, 1);
    pthread_mutex_unlock(&rs->keys_mu);
    if (!expired)
        return k;
    if (!atomic_exchange(&rs->stale_logged, true)) {
        char age[24], max[24];
        snprintf(age, sizeof age, "%lld", (long long)age_s);
        snprintf(max, sizeof max, "%lld", (long long)(rs->max_stale_ms / 1000));
        tn_log(TN_LOG_ERROR,
               "the issuer's keys cannot be fetched and the cached ones are older "
               "than AUTH_JWKS_MAX_STALE_S: every token is refused (503) until a "
               "fetch succeeds",
               "age_s", age, "max_stale_s", max, NULL);
    }
    return NULL;
}

void tn_rs_set_local_keys(struct tn_rs *rs, struct tn_jwks *keys)
{
    struct keyset *ks = calloc(1, sizeof *ks);
    if (!ks) {
        tn_jwks_free(keys);
        return;
    }
    ks->jwks = keys;
    ks->owned = true;
    ks->expires_ms = INT64_MAX;
    atomic_init(&ks->refs, 1);
    pthread_mutex_lock(&rs->keys_mu);
    struct keyset *old = rs->cur;
    rs->cur = ks;
    pthread_mutex_unlock(&rs->keys_mu);
    keyset_release(old);
    tn_rs_cache_clear(rs);
}

void tn_rs_prefetch(struct tn_rs *rs)
{
    bool later = false;
    keyset_release(acquire(rs, true, &later));
}

void tn_rs_refresh_ahead(struct tn_rs *rs)
{
    int64_t now = tn_time_now_ms();
    pthread_mutex_lock(&rs->keys_mu);
    const struct keyset *k = rs->cur;
    /* with none at all, the requests fetch (and wait) as before: an issuer that is down
     * at start is not asked every second by a server no one uses */
    bool due = k && k->remote && now >= k->fetched_ms + (k->expires_ms - k->fetched_ms) * 3 / 4;
    pthread_mutex_unlock(&rs->keys_mu);
    if (due)
        (void)refresh(rs, true, true); /* nothing within the cooldown */
}

static void *ahead_main(void *arg)
{
    struct tn_rs *rs = arg;
    pthread_mutex_lock(&rs->ahead_mu);
    while (!rs->ahead_stop) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        t.tv_sec += 1;
        pthread_cond_timedwait(&rs->ahead_cv, &rs->ahead_mu, &t);
        if (rs->ahead_stop)
            break;
        pthread_mutex_unlock(&rs->ahead_mu);
        tn_rs_refresh_ahead(rs);
        pthread_mutex_lock(&rs->ahead_mu);
    }
    pthread_mutex_unlock(&rs->ahead_mu);
    return NULL;
}

void tn_rs_start_ahead(struct tn_rs *rs)
{
    if (rs->ahead_on || rs->local || !(rs->n_meta_urls || rs->jwks_uri || rs->jwks_fallback))
        return;
    if (pthread_create(&rs->ahead, NULL, ahead_main, rs) == 0)
        rs->ahead_on = true;
    else /* the requests fetch when the keys expire, as without it */
        tn_log(TN_LOG_WARN, "cannot start the key refresher thread", NULL);
}

/* ---------- verification ---------- */

static bool b64token(const char *t, size_t n)
{
    /* RFC 6750 b64token: ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" then "="* */
    size_t i = 0;
    for (; i < n; i++) {
        char ch = t[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '.' || ch == '_' || ch == '~' || ch == '+' || ch == '/'))
            break;
    }
    for (; i < n && t[i] == '='; i++)
        ;
    return i == n && n > 0;
}

/* The token of an `Authorization: Bearer` header, without the spaces around it.
 * Another scheme (Basic, say) is "no usable token" to a bearer resource. */
static enum tn_rs_verdict bearer_token(const char *authz, const char **tok, size_t *len,
                                       enum tn_jwt_reason *reason)
{
    if (!authz || strncasecmp(authz, "Bearer ", 7) != 0) {
        if (authz)
            *reason = TN_JWT_MALFORMED;
        return TN_RS_NO_TOKEN;
    }
    const char *t = authz + 7;
    while (*t == ' ')
        t++;
    size_t n = strlen(t);
    while (n && t[n - 1] == ' ')
        n--;
    *tok = t;
    *len = n;
    if (n > MAX_TOKEN_LEN) {
        *reason = TN_JWT_TOO_LARGE;
        return TN_RS_INVALID;
    }
    return TN_RS_OK;
}

/* The cache slot of a token, and the token's hash in `h`. BLAKE2b: collision resistant
 * like SHA-256 (a slot matches only its own token), several times faster in software on
 * the hot path. */
static size_t slot_of(const struct tn_rs *rs, const char *tok, size_t len, uint8_t h[32])
{
    size_t idx;
    crypto_generichash(h, 32, (const uint8_t *)tok, len, NULL, 0);
    memcpy(&idx, h, sizeof idx);
    return idx & (rs->n_slots - 1);
}

/* The principal slot `idx` holds for the token hashed `h` (a new reference), or NULL.
 * A token found in the cache is one that was verified, so its shape is checked only when
 * it is not. A verification made with keys now past their staleness bound no longer
 * counts: the token takes the slow path, which fetches or refuses with 503. */
static struct tn_principal *cache_get(struct tn_rs *rs, size_t idx, const uint8_t h[32])
{
    int64_t now_ms = tn_time_now_ms(), now_s = now_ms / 1000;
    bool keys_ok = rs->local || !too_stale(rs, atomic_load(&rs->keys_fetched_ms), now_ms);
    struct tn_principal *p = NULL;
    pthread_mutex_t *m = &rs->stripes[idx % CACHE_STRIPES];
    pthread_mutex_lock(m);
    struct slot *s = &rs->slots[idx];
    if (keys_ok && s->p && s->exp_s + rs->leeway_s > now_s && tn_ct_equal(s->hash, h, 32)) {
        p = s->p;
        tn_principal_retain(p);
    }
    pthread_mutex_unlock(m);
    return p;
}

/* Keeps `p` (a reference of the slot's own) in slot `idx` for the token hashed `h`. */
static void cache_put(struct tn_rs *rs, size_t idx, const uint8_t h[32], struct tn_principal *p)
{
    pthread_mutex_t *m = &rs->stripes[idx % CACHE_STRIPES];
    pthread_mutex_lock(m);
    struct slot *s = &rs->slots[idx];
    tn_principal_release(s->p);
    memcpy(s->hash, h, 32);
    s->p = p;
    s->exp_s = p->expires_at;
    tn_principal_retain(p);
    pthread_mutex_unlock(m);
}

/* Not even shaped like a JWS is refused before any key is needed (so an issuer outage
 * does not turn garbage into a 503). */
static bool jws_shaped(const char *tok, size_t len)
{
    size_t dots = 0;
    for (size_t i = 0; i < len; i++)
        dots += tok[i] == '.';
    return b64token(tok, len) && dots == 2;
}

/* After a token named a key we do not have: whether newer keys may be had. With local
 * keys, another instance may have created one: the issuer reloads its keys, at most
 * once per cooldown. With keys fetched from the issuer, it may have rotated them. */
static bool may_reload(struct tn_rs *rs, const struct keyset *ks)
{
    if (rs->local && rs->on_unknown_kid) {
        int64_t now = tn_time_now_ms();
        pthread_mutex_lock(&rs->fetch_mu);
        bool go = now - rs->last_attempt_ms >= rs->cooldown_ms;
        if (go)
            rs->last_attempt_ms = now;
        pthread_mutex_unlock(&rs->fetch_mu);
        return go;
    }
    return ks->owned && !rs->local;
}

/* False when the keys would have to be fetched and the caller may not wait. */
static bool reload(struct tn_rs *rs, bool may_wait)
{
    if (!rs->local)
        return refresh(rs, true, may_wait); /* re-fetched once */
    rs->on_unknown_kid(rs->ud);             /* the issuer reloads its keys (from the store) */
    return true;
}

/* Verifies `tok` with the current keys; a key it names that we do not have gets one more
 * try with newer keys (may_reload). No keys to be had: TN_RS_UNAVAILABLE and
 * TN_JWT_INTERNAL. Without may_wait, TN_RS_LATER where keys would have to be fetched. */
static enum tn_rs_verdict verify(struct tn_rs *rs, const char *tok, size_t len, json_t **claims,
                                 enum tn_jwt_reason *reason, bool may_wait)
{
    struct tn_jwt_policy pol = {
        .issuers = (const char *const *)rs->issuers,
        .n_issuers = rs->n_issuers,
        .audiences = (const char *const *)rs->audiences,
        .n_audiences = rs->n_audiences,
        .leeway_s = rs->leeway_s,
        .max_token_len = MAX_TOKEN_LEN,
    };
    enum tn_err rc = TN_ERR_INTERNAL;
    *reason = TN_JWT_INTERNAL;
    bool later = false, tried = false;
    struct keyset *ks = acquire(rs, may_wait, &later);
    if (!ks)
        goto done;
    tried = true;
    rc = tn_jwt_verify(tok, len, ks->jwks, &pol, claims, reason);
    if (rc != TN_OK && *reason == TN_JWT_NO_KID_MATCH && may_reload(rs, ks)) {
        keyset_release(ks);
        ks = NULL;
        rc = TN_ERR_INTERNAL;
        *reason = TN_JWT_INTERNAL;
        if (!reload(rs, may_wait)) {
            later = true;
            goto done;
        }
        if (!(ks = acquire(rs, may_wait, &later)))
            goto done;
        rc = tn_jwt_verify(tok, len, ks->jwks, &pol, claims, reason);
    }
done:
    keyset_release(ks);
    if (later) { /* not counted: it is verified again where waiting is allowed */
        *reason = TN_JWT_OK;
        return TN_RS_LATER;
    }
    if (tried)
        atomic_fetch_add(&rs->verifications, 1);
    return rc == TN_OK                 ? TN_RS_OK
           : *reason == TN_JWT_EXPIRED ? TN_RS_EXPIRED
           : rc == TN_ERR_BAD_INPUT    ? TN_RS_INVALID
                                       : TN_RS_UNAVAILABLE;
}

static enum tn_rs_verdict authenticate(struct tn_rs *rs, const char *authz,
                                       struct tn_principal **out, enum tn_jwt_reason *why,
                                       bool may_wait)
{
    enum tn_jwt_reason reason = TN_JWT_OK;
    json_t *claims = NULL;
    struct tn_principal *p = NULL;
    const char *tok = NULL;
    size_t len = 0, idx = 0;
    uint8_t h[32];
    *out = NULL;

    enum tn_rs_verdict v = bearer_token(authz, &tok, &len, &reason);
    if (v != TN_RS_OK)
        goto done;
    idx = slot_of(rs, tok, len, h);
    *out = cache_get(rs, idx, h);
    if (*out) {
        atomic_fetch_add(&rs->hits, 1);
        goto done;
    }
    if (!jws_shaped(tok, len)) {
        reason = TN_JWT_MALFORMED;
        v = TN_RS_INVALID;
        goto done;
    }
    v = verify(rs, tok, len, &claims, &reason, may_wait);
    if (v != TN_RS_OK)
        goto done;
    if (tn_claims_to_principal(claims, &rs->claims, &p) != TN_OK) {
        reason = TN_JWT_BAD_CLAIM_TYPE;
        v = TN_RS_INVALID;
        goto done;
    }
    cache_put(rs, idx, h, p);
    *out = p;
done:
    json_decref(claims);
    if (why)
        *why = reason;
    return v;
}

enum tn_rs_verdict tn_rs_authenticate(struct tn_rs *rs, const char *authz,
                                      struct tn_principal **out, enum tn_jwt_reason *why)
{
    return authenticate(rs, authz, out, why, true);
}

enum tn_rs_verdict tn_rs_authenticate_now(struct tn_rs *rs, const char *authz,
                                          struct tn_principal **out, enum tn_jwt_reason *why)
{
    return authenticate(rs, authz, out, why, false);
}

/* ---------- answers ---------- */

int tn_rs_challenge(const struct tn_rs *rs, enum tn_rs_verdict v, struct tn_buf *www,
                    struct tn_buf *body)
{
    /* RFC 6750 §3.1: the header's error code from the error table; a request without a
     * token gets none. The body's "unauthorized" and "token_expired" are not OAuth error
     * codes but this server's own words for clients that read the body. */
    const char *invalid = tn_err_oauth(TN_ERR_INVALID_TOKEN);
    tn_buf_reset(www);
    tn_buf_reset(body);
    switch (v) {
    case TN_RS_NO_TOKEN:
        tn_buf_printf(www, "Bearer resource_metadata=\"%s\", scope=\"%s\"", rs->prm_url,
                      rs->scopes);
        tn_buf_puts(
            body,
            "{\"error\":\"unauthorized\",\"error_description\":\"Missing or invalid bearer token\"}");
        return tn_err_http_status(TN_ERR_INVALID_TOKEN);
    case TN_RS_EXPIRED:
        tn_buf_printf(www,
                      "Bearer error=\"%s\", error_description=\"Token has expired\", "
                      "resource_metadata=\"%s\", scope=\"%s\"",
                      invalid, rs->prm_url, rs->scopes);
        tn_buf_puts(
            body,
            "{\"error\":\"token_expired\",\"error_description\":\"Access token has expired. Please refresh your token.\"}");
        return tn_err_http_status(TN_ERR_INVALID_TOKEN);
    case TN_RS_UNAVAILABLE:
    case TN_RS_LATER: /* never answered as such: asked again where waiting is allowed */
        tn_buf_printf(
            body,
            "{\"error\":\"%s\",\"error_description\":\"The "
            "authorization server's signing keys cannot be fetched right now; try again shortly\"}",
            tn_err_oauth(TN_ERR_UNAVAILABLE));
        return tn_err_http_status(TN_ERR_UNAVAILABLE);
    case TN_RS_INVALID:
    default:
        tn_buf_printf(www,
                      "Bearer error=\"%s\", error_description=\"Token verification "
                      "failed\", resource_metadata=\"%s\", scope=\"%s\"",
                      invalid, rs->prm_url, rs->scopes);
        tn_buf_printf(body,
                      "{\"error\":\"%s\",\"error_description\":\"Token verification failed\"}",
                      invalid);
        return tn_err_http_status(TN_ERR_INVALID_TOKEN);
    }
}

void tn_rs_insufficient_scope(const struct tn_rs *rs, const char *needed, struct tn_buf *www,
                              struct tn_buf *body)
{
    const char *error = tn_err_oauth(TN_ERR_INSUFFICIENT_SCOPE);
    tn_buf_reset(www);
    tn_buf_reset(body);
    tn_buf_printf(www,
                  "Bearer error=\"%s\", scope=\"%s\", resource_metadata=\"%s\", "
                  "error_description=\"Additional scope required\"",
                  error, needed, rs->prm_url);
    json_t *b = json_pack("{s:s, s:s, s:s}", "error", error, "error_description",
                          "The token lacks a scope this operation needs", "scope", needed);
    char *t = json_dumps(b, JSON_COMPACT);
    if (t)
        tn_buf_puts(body, t);
    free(t);
    json_decref(b);
}

json_t *tn_rs_metadata(const struct tn_rs *rs)
{
    json_t *scopes = json_array();
    for (const char *p = rs->scopes; *p;) {
        p += strspn(p, " ");
        size_t n = strcspn(p, " ");
        if (n)
            json_array_append_new(scopes, json_stringn(p, n));
        p += n;
    }
    return json_pack("{s:s, s:[s], s:o, s:[s], s:s}", "resource", rs->resource,
                     "authorization_servers", rs->issuers[0], "scopes_supported", scopes,
                     "bearer_methods_supported", "header", "resource_name", rs->resource_name);
}

bool tn_rs_keys_ready(struct tn_rs *rs)
{
    bool later = false;
    struct keyset *ks = acquire(rs, true, &later);
    bool ok = ks && ks->jwks && tn_jwks_count(ks->jwks) > 0;
    keyset_release(ks);
    return ok;
}

void tn_rs_stats(const struct tn_rs *rs, struct tn_rs_stats *out)
{
    out->cache_hits = atomic_load(&((struct tn_rs *)rs)->hits);
    out->verifications = atomic_load(&((struct tn_rs *)rs)->verifications);
    out->key_fetches = atomic_load(&((struct tn_rs *)rs)->fetches);
    out->key_fetch_failures = atomic_load(&((struct tn_rs *)rs)->fetch_failures);
}
