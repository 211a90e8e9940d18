#include "auth/signin/throttle.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define WAYS 8 /* slots a key may live in: its set */

struct slot {
    uint8_t key[16]; /* keyed hash of the key: no email or address kept in memory */
    bool used;
    unsigned count;
    unsigned lockouts;
    int64_t window_start;
    int64_t locked_until;
};

struct tn_throttle {
    pthread_mutex_t mu;
    struct tn_throttle_rule rule;
    uint8_t hash_key[crypto_generichash_KEYBYTES];
    size_t sets; /* a power of two */
    uint64_t full_refusals;
    int64_t last_full_log;
    struct slot *slots; /* sets * WAYS */
};

struct tn_throttle *tn_throttle_new(const struct tn_throttle_rule *rule, size_t capacity)
{
    struct tn_throttle *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    size_t sets = 8;
    while (sets * WAYS < capacity && sets < ((size_t)1 << 24))
        sets <<= 1;
    t->slots = calloc(sets * WAYS, sizeof *t->slots);
    if (!t->slots) {
        free(t);
        return NULL;
    }
    t->sets = sets;
    t->rule = *rule;
    if (t->rule.max == 0)
        t->rule.max = 1;
    if (t->rule.lock_max_s < t->rule.lock_s)
        t->rule.lock_max_s = t->rule.lock_s;
    randombytes_buf(t->hash_key, sizeof t->hash_key);
    pthread_mutex_init(&t->mu, NULL);
    return t;
}

void tn_throttle_free(struct tn_throttle *t)
{
    if (!t)
        return;
    pthread_mutex_destroy(&t->mu);
    sodium_memzero(t->hash_key, sizeof t->hash_key);
    free(t->slots);
    free(t);
}

/* An entry that holds nothing the policy still needs: no lock in force, no count in
 * the current window, and no lockout history young enough to double the next lock. */
static bool idle(const struct tn_throttle *t, const struct slot *s, int64_t now)
{
    if (!s->used)
        return true;
    if (s->locked_until > now)
        return false;
    if (s->count > 0 && now - s->window_start < (int64_t)t->rule.window_s)
        return false;
    if (s->lockouts > 0 && now - s->locked_until < (int64_t)t->rule.lock_max_s)
        return false;
    return true;
}

/* The key's slot; with `create`, a free or idle slot of its set is taken for it. NULL
 * when absent (or, with `create`, when the set holds only live entries). */
static struct slot *find(struct tn_throttle *t, const char *key, bool create, int64_t now)
{
    uint8_t h[16];
    crypto_generichash(h, sizeof h, (const uint8_t *)key, strlen(key), t->hash_key,
                       sizeof t->hash_key);
    uint64_t x;
    memcpy(&x, h, sizeof x);
    struct slot *set = &t->slots[(x & (t->sets - 1)) * WAYS];
    struct slot *room = NULL;
    for (int i = 0; i < WAYS; i++) {
        if (set[i].used && sodium_memcmp(set[i].key, h, sizeof h) == 0)
            return &set[i];
        if (!room && idle(t, &set[i], now))
            room = &set[i];
    }
    if (!create || !room)
        return NULL;
    memset(room, 0, sizeof *room);
    memcpy(room->key, h, sizeof h);
    room->used = true;
    return room;
}

/* Called with the mutex held when a key found no room. */
static unsigned refuse_full(struct tn_throttle *t, int64_t now)
{
    t->full_refusals++;
    if (now - t->last_full_log >= 60) {
        t->last_full_log = now;
        tn_log(TN_LOG_WARN, "throttle table full: new keys are refused until entries go idle",
               NULL);
    }
    return t->rule.window_s ? t->rule.window_s : 1;
}

static unsigned wait_of(const struct slot *s, int64_t now)
{
    return s && s->locked_until > now ? (unsigned)(s->locked_until - now) : 0;
}

/* Whether a key without an entry would find room (without taking it). */
static bool has_room(struct tn_throttle *t, const char *key, int64_t now)
{
    uint8_t h[16];
    crypto_generichash(h, sizeof h, (const uint8_t *)key, strlen(key), t->hash_key,
                       sizeof t->hash_key);
    uint64_t x;
    memcpy(&x, h, sizeof x);
    const struct slot *set = &t->slots[(x & (t->sets - 1)) * WAYS];
    for (int i = 0; i < WAYS; i++)
        if (idle(t, &set[i], now))
            return true;
    return false;
}

unsigned tn_throttle_wait(struct tn_throttle *t, const char *key, int64_t now)
{
    pthread_mutex_lock(&t->mu);
    struct slot *s = find(t, key, false, now);
    unsigned w = s ? wait_of(s, now) : has_room(t, key, now) ? 0 : refuse_full(t, now);
    pthread_mutex_unlock(&t->mu);
    return w;
}

/* Counts one event on `s` (mutex held) and returns the wait now in force. */
static unsigned count(struct tn_throttle *t, struct slot *s, int64_t now)
{
    const struct tn_throttle_rule *r = &t->rule;
    if (s->count == 0 || now - s->window_start >= (int64_t)r->window_s) {
        s->window_start = now;
        s->count = 0;
    }
    if (++s->count >= r->max) {
        int64_t lock;
        if (r->lock_s == 0) {
            lock = s->window_start + r->window_s - now;
        } else {
            unsigned shift = s->lockouts < 16 ? s->lockouts : 16;
            lock = (int64_t)r->lock_s << shift;
            if (lock > r->lock_max_s)
                lock = r->lock_max_s;
        }
        if (lock < 1)
            lock = 1;
        s->locked_until = now + lock;
        s->lockouts++;
        s->count = 0;
    }
    return wait_of(s, now);
}

unsigned tn_throttle_hit(struct tn_throttle *t, const char *key, int64_t now)
{
    pthread_mutex_lock(&t->mu);
    struct slot *s = find(t, key, true, now);
    unsigned w = s ? count(t, s, now) : refuse_full(t, now);
    pthread_mutex_unlock(&t->mu);
    return w;
}

unsigned tn_throttle_take(struct tn_throttle *t, const char *key, int64_t now)
{
    pthread_mutex_lock(&t->mu);
    struct slot *s = find(t, key, true, now);
    unsigned w = !s ? refuse_full(t, now) : wait_of(s, now);
    if (s && w == 0)
        count(t, s, now);
    pthread_mutex_unlock(&t->mu);
    return w;
}

void tn_throttle_clear(struct tn_throttle *t, const char *key)
{
    pthread_mutex_lock(&t->mu);
    struct slot *s = find(t, key, false, 0);
    if (s)
        memset(s, 0, sizeof *s);
    pthread_mutex_unlock(&t->mu);
}

uint64_t tn_throttle_full_refusals(struct tn_throttle *t)
{
    pthread_mutex_lock(&t->mu);
    uint64_t n = t->full_refusals;
    pthread_mutex_unlock(&t->mu);
    return n;
}

void tn_throttle_addr_key(const char *addr, char out[TN_THROTTLE_ADDR_KEY_MAX])
{
    unsigned char a[16];
    char host[64];
    snprintf(out, TN_THROTTLE_ADDR_KEY_MAX, "?");
    if (!addr || strlen(addr) >= sizeof host)
        return;
    /* tolerate the bracketed form and a zone index: neither changes the host */
    const char *p = addr;
    size_t n = strlen(p);
    if (p[0] == '[' && n > 2 && p[n - 1] == ']') {
        p++;
        n -= 2;
    }
    memcpy(host, p, n);
    host[n] = '\0';
    char *zone = strchr(host, '%');
    if (zone)
        *zone = '\0';
    if (inet_pton(AF_INET, host, a) == 1) {
        inet_ntop(AF_INET, a, out, TN_THROTTLE_ADDR_KEY_MAX);
        return;
    }
    if (inet_pton(AF_INET6, host, a) != 1)
        return;
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(a, mapped, sizeof mapped) == 0) {
        inet_ntop(AF_INET, a + 12, out, TN_THROTTLE_ADDR_KEY_MAX);
        return;
    }
    memset(a + 8, 0, 8);
    char six[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, a, six, sizeof six);
    snprintf(out, TN_THROTTLE_ADDR_KEY_MAX, "%s/64", six);
}

bool tn_throttle_net_key(const char *addr, char out[TN_THROTTLE_ADDR_KEY_MAX])
{
    char k[TN_THROTTLE_ADDR_KEY_MAX];
    unsigned char a[16];
    out[0] = '\0';
    tn_throttle_addr_key(addr, k);
    size_t n = strlen(k);
    if (n < 4 || strcmp(k + n - 3, "/64") != 0)
        return false;
    k[n - 3] = '\0';
    if (inet_pton(AF_INET6, k, a) != 1)
        return false;
    memset(a + 6, 0, 10);
    char six[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, a, six, sizeof six);
    snprintf(out, TN_THROTTLE_ADDR_KEY_MAX, "%s/48", six);
    return true;
}

/* ---------- the sign-in guard ---------- */

#define MAX_INFLIGHT 64

struct inflight {
    bool used, trusted;
    char key[80]; /* the address key, or the trusted browser's id */
};

struct tn_signin_guard {
    struct tn_throttle *pair, *addr, *account, *device;
    pthread_mutex_t mu; /* the in-flight slots */
    unsigned inflight, inflight_trusted;
    struct inflight slots[MAX_INFLIGHT];
};

static const struct tn_signin_limits default_limits = {
    .pair = {5, 900, 60, 3600},
    .addr = {20, 900, 60, 3600},
    .account = {50, 900, 60, 3600},
    .device = {5, 900, 60, 3600},
    .capacity = 65536,
    .inflight = 6,
    .inflight_trusted = 2,
};

struct tn_signin_guard *tn_signin_guard_new(const struct tn_signin_limits *limits)
{
    const struct tn_signin_limits *l = limits ? limits : &default_limits;
    struct tn_signin_guard *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->pair = tn_throttle_new(&l->pair, l->capacity);
    g->addr = tn_throttle_new(&l->addr, l->capacity);
    g->account = tn_throttle_new(&l->account, l->capacity);
    g->device = tn_throttle_new(&l->device, l->capacity);
    g->inflight = l->inflight ? l->inflight : 1;
    g->inflight_trusted = l->inflight_trusted;
    if (g->inflight + g->inflight_trusted > MAX_INFLIGHT) {
        g->inflight = MAX_INFLIGHT / 2;
        g->inflight_trusted = MAX_INFLIGHT / 2;
    }
    pthread_mutex_init(&g->mu, NULL);
    if (!g->pair || !g->addr || !g->account || !g->device) {
        tn_signin_guard_free(g);
        return NULL;
    }
    return g;
}

void tn_signin_guard_free(struct tn_signin_guard *g)
{
    if (!g)
        return;
    tn_throttle_free(g->pair);
    tn_throttle_free(g->addr);
    tn_throttle_free(g->account);
    tn_throttle_free(g->device);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

/* The keys of an attempt. Separators that cannot occur in an address key keep the
 * pair's two halves apart ("a@b|1.2.3.4"). */
struct keys {
    char pair[300 + TN_THROTTLE_ADDR_KEY_MAX], addr[TN_THROTTLE_ADDR_KEY_MAX], account[300],
        device[80];
};

static void keys_of(const struct tn_signin_attempt *a, struct keys *k)
{
    tn_throttle_addr_key(a->addr, k->addr);
    snprintf(k->account, sizeof k->account, "%s", a->account ? a->account : "");
    snprintf(k->pair, sizeof k->pair, "%s|%s", k->account, k->addr);
    snprintf(k->device, sizeof k->device, "%s", a->device ? a->device : "");
}

static unsigned max3(unsigned a, unsigned b, unsigned c)
{
    unsigned m = a > b ? a : b;
    return m > c ? m : c;
}

/* A device cookie lets its browser past the account and address locks only while
 * the cookie itself is not locked. */
static bool trusted(struct tn_signin_guard *g, const struct keys *k, int64_t now)
{
    return k->device[0] && tn_throttle_wait(g->device, k->device, now) == 0;
}

unsigned tn_signin_guard_check(struct tn_signin_guard *g, const struct tn_signin_attempt *a,
                               int64_t now)
{
    struct keys k;
    keys_of(a, &k);
    if (trusted(g, &k, now))
        return 0;
    return max3(tn_throttle_wait(g->pair, k.pair, now), tn_throttle_wait(g->addr, k.addr, now),
                tn_throttle_wait(g->account, k.account, now));
}

void tn_signin_guard_failed(struct tn_signin_guard *g, const struct tn_signin_attempt *a,
                            int64_t now)
{
    struct keys k;
    keys_of(a, &k);
    if (trusted(g, &k, now)) {
        tn_throttle_hit(g->device, k.device, now);
        return;
    }
    tn_throttle_hit(g->pair, k.pair, now);
    tn_throttle_hit(g->addr, k.addr, now);
    tn_throttle_hit(g->account, k.account, now);
}

enum tn_err tn_signin_guard_enter(struct tn_signin_guard *g, struct tn_signin_attempt *a,
                                  int64_t now)
{
    struct keys k;
    keys_of(a, &k);
    bool lane = g->inflight_trusted > 0 && trusted(g, &k, now);
    const char *key = lane ? k.device : k.addr;
    a->slot = -1;
    pthread_mutex_lock(&g->mu);
    unsigned busy = 0;
    int free_slot = -1;
    enum tn_err e = TN_OK;
    for (unsigned i = 0; i < g->inflight + g->inflight_trusted; i++) {
        struct inflight *s = &g->slots[i];
        if (!s->used) {
            if (free_slot < 0)
                free_slot = (int)i;
            continue;
        }
        if (s->trusted == lane && !strcmp(s->key, key))
            e = TN_ERR_LIMIT;
        busy += s->trusted == lane;
    }
    if (e == TN_OK && (busy >= (lane ? g->inflight_trusted : g->inflight) || free_slot < 0))
        e = TN_ERR_BUSY;
    if (e == TN_OK) {
        struct inflight *s = &g->slots[free_slot];
        s->used = true;
        s->trusted = lane;
        snprintf(s->key, sizeof s->key, "%s", key);
        a->slot = free_slot;
    }
    pthread_mutex_unlock(&g->mu);
    return e;
}

void tn_signin_guard_leave(struct tn_signin_guard *g, struct tn_signin_attempt *a)
{
    if (a->slot < 0)
        return;
    pthread_mutex_lock(&g->mu);
    memset(&g->slots[a->slot], 0, sizeof g->slots[a->slot]);
    pthread_mutex_unlock(&g->mu);
    a->slot = -1;
}

void tn_signin_guard_succeeded(struct tn_signin_guard *g, const struct tn_signin_attempt *a)
{
    struct keys k;
    keys_of(a, &k);
    tn_throttle_clear(g->pair, k.pair);
    if (k.device[0])
        tn_throttle_clear(g->device, k.device);
}
