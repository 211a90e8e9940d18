#include "auth/as/cimd.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define URL_MAX 512
#define HOST_MAX 256

enum state { E_FREE, E_FETCHING, E_DOC, E_FAILED };

struct entry {
    enum state state;
    uint64_t url_hash; /* compared before the URL itself */
    char url[URL_MAX];
    char host[HOST_MAX];
    int64_t expires_at;    /* documents and failures */
    uint64_t used;         /* for evicting the least recently used document */
    bool host_fault;       /* a failure where the host did not answer */
    const char *why;       /* a failure's reason (static) */
    struct tn_client *doc; /* the document; kept past expires_at until stale_until (a refresh
                              in flight or failed still has its last good document) */
    int64_t stale_until;
    char who[48]; /* a fetch in flight: the address it was reserved for ("" none) */
};

struct tn_cimd_cache {
    struct tn_cimd_limits lim;
    pthread_mutex_t mu;
    struct entry *e;
    unsigned n_fetching;
    uint64_t tick;
};

static uint64_t hash(const char *s)
{
    uint64_t h = 14695981039346656037ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

enum tn_err tn_cimd_host(const char *url, char *out, size_t cap)
{
    enum tn_err rc = TN_ERR_BAD_INPUT;
    if (cap)
        out[0] = '\0';
    const char *a = !strncmp(url, "https://", 8)  ? url + 8
                    : !strncmp(url, "http://", 7) ? url + 7
                                                  : NULL;
    if (!a || !cap)
        goto done;
    size_t alen = strcspn(a, "/?#");
    const char *at = NULL;
    for (size_t i = 0; i < alen; i++)
        if (a[i] == '@')
            at = a + i;
    if (at) {
        alen -= (size_t)(at + 1 - a);
        a = at + 1;
    }
    size_t hl;
    if (alen && a[0] == '[') { /* an IPv6 literal keeps its brackets, loses its port */
        const char *close = memchr(a, ']', alen);
        if (!close)
            goto done;
        hl = (size_t)(close - a) + 1;
    } else {
        const char *colon = memchr(a, ':', alen);
        hl = colon ? (size_t)(colon - a) : alen;
    }
    while (hl && a[hl - 1] == '.')
        hl--;
    if (!hl || hl >= cap)
        goto done;
    for (size_t i = 0; i < hl; i++)
        out[i] = (char)tolower((unsigned char)a[i]);
    out[hl] = '\0';
    rc = TN_OK;
done:
    return rc;
}

struct tn_cimd_cache *tn_cimd_cache_new(const struct tn_cimd_limits *lim)
{
    if (!lim->entries || !lim->fetches || !lim->host_fetches || !lim->host_faults ||
        !lim->host_failures || lim->fail_ttl_s <= 0)
        return NULL;
    struct tn_cimd_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->lim = *lim;
    c->e = calloc(lim->entries, sizeof *c->e);
    if (!c->e) {
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

static void clear(struct entry *e)
{
    free(e->doc);
    memset(e, 0, sizeof *e);
}

void tn_cimd_cache_free(struct tn_cimd_cache *c)
{
    if (!c)
        return;
    for (unsigned i = 0; i < c->lim.entries; i++)
        clear(&c->e[i]);
    free(c->e);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static bool live(const struct entry *e, int64_t now)
{
    return e->state == E_FETCHING ||
           ((e->state == E_DOC || e->state == E_FAILED) && e->expires_at > now);
}

/* An entry whose last good document may still be served when it cannot be refetched. */
static bool stale_ok(const struct entry *e, int64_t now) { return e->doc && now < e->stale_until; }

static struct entry *find(struct tn_cimd_cache *c, const char *url, uint64_t h)
{
    for (unsigned i = 0; i < c->lim.entries; i++) {
        struct entry *e = &c->e[i];
        if (e->state != E_FREE && e->url_hash == h && !strcmp(e->url, url))
            return e;
    }
    return NULL;
}

/* A free or expired entry without a stale document, else the least recently used
 * document (live or stale, not being refetched), else NULL. */
static struct entry *victim(struct tn_cimd_cache *c, int64_t now)
{
    struct entry *lru = NULL;
    for (unsigned i = 0; i < c->lim.entries; i++) {
        struct entry *e = &c->e[i];
        if (!live(e, now) && !stale_ok(e, now))
            return e;
        if (e->state != E_FETCHING && (e->state == E_DOC || !live(e, now)) && e->doc &&
            (!lru || e->used < lru->used))
            lru = e;
    }
    return lru;
}

static enum tn_err serve_stale(struct tn_cimd_cache *c, struct entry *e, int64_t now,
                               struct tn_client *out)
{
    if (!e || !stale_ok(e, now))
        return TN_ERR_BUSY;
    e->used = ++c->tick;
    *out = *e->doc;
    return TN_OK;
}

enum tn_err tn_cimd_cache_get(struct tn_cimd_cache *c, const char *url, int64_t now, bool reserve,
                              struct tn_client *out, const char **why)
{
    return tn_cimd_cache_get_for(c, url, NULL, now, reserve, out, why);
}

enum tn_err tn_cimd_cache_get_for(struct tn_cimd_cache *c, const char *url, const char *who,
                                  int64_t now, bool reserve, struct tn_client *out,
                                  const char **why)
{
    enum tn_err rc = TN_ERR_BUSY;
    char host[HOST_MAX];
    *why = NULL;
    if (strlen(url) >= URL_MAX || tn_cimd_host(url, host, sizeof host) != TN_OK) {
        *why = "The client_id is not a URL with a host.";
        return TN_ERR_BAD_INPUT;
    }
    uint64_t h = hash(url);
    pthread_mutex_lock(&c->mu);
    struct entry *e = find(c, url, h);
    if (e && e->state == E_FETCHING) {
        *why = "The client's metadata document is being fetched; try again in a moment.";
        rc = serve_stale(c, e, now, out);
        goto done;
    }
    if (e && live(e, now) && e->state == E_DOC) {
        e->used = ++c->tick;
        *out = *e->doc;
        rc = TN_OK;
        goto done;
    }
    if (e && live(e, now)) { /* a failure: its last good document while that may serve */
        *why = e->why;
        rc = serve_stale(c, e, now, out) == TN_OK ? TN_OK : TN_ERR_BAD_INPUT;
        goto done;
    }
    if (e && !stale_ok(e, now)) /* expired, nothing to keep */
        clear(e);
    else if (e) /* expired: the document stays as stale while it is refetched */
        e->state = E_DOC;
    unsigned host_fetching = 0, host_faults = 0, host_failures = 0, who_fetching = 0;
    for (unsigned i = 0; i < c->lim.entries; i++) {
        const struct entry *o = &c->e[i];
        if (!live(o, now) || strcmp(o->host, host) != 0)
            continue;
        host_fetching += o->state == E_FETCHING;
        host_faults += o->state == E_FAILED && o->host_fault;
        host_failures += o->state == E_FAILED;
    }
    for (unsigned i = 0; who && i < c->lim.entries; i++)
        who_fetching += c->e[i].state == E_FETCHING && !strcmp(c->e[i].who, who);
    if (c->lim.addr_fetches && who && who_fetching >= c->lim.addr_fetches) {
        *why = "This address has a client metadata document being fetched; try again in a moment.";
        rc = serve_stale(c, e, now, out);
        goto done;
    }
    if (c->n_fetching >= c->lim.fetches || host_fetching >= c->lim.host_fetches) {
        *why =
            "Too many client metadata documents are being fetched right now; try again in a moment.";
        rc = serve_stale(c, e, now, out);
        goto done;
    }
    if (host_faults >= c->lim.host_faults || host_failures >= c->lim.host_failures) {
        *why = "The host of the client's metadata document failed recently; try again in a minute.";
        rc = serve_stale(c, e, now, out);
        goto done;
    }
    if (!e && !(e = victim(c, now))) {
        *why = "Too many client metadata documents are in use right now; try again in a minute.";
        goto done;
    }
    rc = TN_ERR_NOT_FOUND;
    if (!reserve)
        goto done;
    if (strcmp(e->url, url) != 0 || !stale_ok(e, now))
        clear(e);
    e->state = E_FETCHING;
    e->url_hash = h;
    memcpy(e->url, url, strlen(url) + 1);
    memcpy(e->host, host, strlen(host) + 1);
    snprintf(e->who, sizeof e->who, "%s", who ? who : "");
    c->n_fetching++;
done:
    pthread_mutex_unlock(&c->mu);
    return rc;
}

void tn_cimd_cache_end(struct tn_cimd_cache *c, const char *url, int64_t now,
                       const struct tn_client *doc, int64_t ttl_s, const char *why, bool host_fault)
{
    pthread_mutex_lock(&c->mu);
    struct entry *e = find(c, url, hash(url));
    if (!e || e->state != E_FETCHING)
        goto done; /* not reserved: nothing to end */
    c->n_fetching--;
    e->who[0] = '\0';
    struct tn_client *copy = doc ? malloc(sizeof *copy) : NULL;
    if (copy) {
        free(e->doc);
        *copy = *doc;
        e->state = E_DOC;
        e->doc = copy;
        e->expires_at = now + ttl_s;
        e->stale_until = e->expires_at + c->lim.stale_s;
        e->used = ++c->tick;
    } else if (why) {
        if (!host_fault) { /* the host answered: no document (withdrawn, invalid) is its word */
            free(e->doc);
            e->doc = NULL;
        }
        e->state = E_FAILED;
        e->why = why;
        e->host_fault = host_fault;
        e->expires_at = now + c->lim.fail_ttl_s;
    } else if (stale_ok(e, now)) { /* nothing fetched: the stale document stays, expired */
        e->state = E_DOC;
        e->expires_at = now;
    } else { /* nothing fetched, or no memory for the document: fetched again next time */
        clear(e);
    }
done:
    pthread_mutex_unlock(&c->mu);
}

enum tn_err tn_cimd_cache_stale(struct tn_cimd_cache *c, const char *url, int64_t now,
                                struct tn_client *out)
{
    pthread_mutex_lock(&c->mu);
    struct entry *e = find(c, url, hash(url));
    enum tn_err rc = e && e->state != E_FETCHING && stale_ok(e, now) ? TN_OK : TN_ERR_NOT_FOUND;
    if (rc == TN_OK)
        *out = *e->doc;
    pthread_mutex_unlock(&c->mu);
    return rc;
}
