#include "auth/as/users.h"

#include <pthread.h>
#include <semaphore.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

const char *const tn_roles[] = {"viewer", "editor", "admin", NULL};

const char *tn_role_permissions(const char *role)
{
    if (!role)
        return NULL;
    if (!strcmp(role, "viewer"))
        return "notes:read";
    if (!strcmp(role, "editor"))
        return "notes:read notes:write";
    if (!strcmp(role, "admin"))
        return "notes:read notes:write teamnotes:admin";
    return NULL;
}

static sem_t hash_slots;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static void init_slots(void) { sem_init(&hash_slots, 0, 2); }

enum tn_err tn_password_hash(const char *pw, char out[TN_PASSWORD_HASH_MAX])
{
    size_t n = strlen(pw);
    out[0] = '\0';
    if (n < TN_PASSWORD_MIN || n > 1024)
        return TN_ERR_BAD_INPUT;
    pthread_once(&once, init_slots);
    sem_wait(&hash_slots);
    int r = crypto_pwhash_str(out, pw, n, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE);
    sem_post(&hash_slots);
    return r == 0 ? TN_OK : TN_ERR_NOMEM;
}

enum tn_err tn_password_verify(const char *hash, const char *pw, bool *rehash)
{
    if (rehash)
        *rehash = false;
    if (!hash || !hash[0] || strlen(pw) > 1024)
        return TN_ERR_FORBIDDEN;
    pthread_once(&once, init_slots);
    sem_wait(&hash_slots);
    int r = crypto_pwhash_str_verify(hash, pw, strlen(pw));
    sem_post(&hash_slots);
    if (r != 0)
        return TN_ERR_FORBIDDEN;
    if (rehash)
        *rehash = crypto_pwhash_str_needs_rehash(hash, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                                 crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0;
    return TN_OK;
}

#define SLOTS 1024

struct entry {
    uint8_t key[16]; /* hash of the key: bounded, and no email kept in memory */
    unsigned failures;
    int64_t window_start;
    int64_t locked_until;
    unsigned lockouts;
};

struct tn_throttle {
    pthread_mutex_t mu;
    unsigned max, window_s, lock_s;
    struct entry e[SLOTS];
};

struct tn_throttle *tn_throttle_new(unsigned max, unsigned window_s, unsigned lock_s)
{
    struct tn_throttle *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    pthread_mutex_init(&t->mu, NULL);
    t->max = max;
    t->window_s = window_s;
    t->lock_s = lock_s;
    return t;
}

void tn_throttle_free(struct tn_throttle *t)
{
    if (!t)
        return;
    pthread_mutex_destroy(&t->mu);
    free(t);
}

static struct entry *find(struct tn_throttle *t, const char *key, bool create)
{
    uint8_t h[16];
    crypto_generichash(h, sizeof h, (const uint8_t *)key, strlen(key), NULL, 0);
    size_t idx = ((size_t)h[0] | (size_t)h[1] << 8) % SLOTS;
    struct entry *e = &t->e[idx];
    if (memcmp(e->key, h, sizeof h) == 0)
        return e;
    if (!create)
        return NULL;
    /* Recycle the slot: an attacker can at most push out another key's counter. */
    memset(e, 0, sizeof *e);
    memcpy(e->key, h, sizeof h);
    return e;
}

unsigned tn_throttle_wait(struct tn_throttle *t, const char *key, int64_t now)
{
    pthread_mutex_lock(&t->mu);
    struct entry *e = find(t, key, false);
    unsigned wait = e && e->locked_until > now ? (unsigned)(e->locked_until - now) : 0;
    pthread_mutex_unlock(&t->mu);
    return wait;
}

void tn_throttle_fail(struct tn_throttle *t, const char *key, int64_t now)
{
    pthread_mutex_lock(&t->mu);
    struct entry *e = find(t, key, true);
    if (now - e->window_start > t->window_s) {
        e->window_start = now;
        e->failures = 0;
    }
    if (++e->failures >= t->max) {
        unsigned lock = t->lock_s << (e->lockouts < 6 ? e->lockouts : 6);
        if (lock > 3600)
            lock = 3600;
        e->locked_until = now + lock;
        e->lockouts++;
        e->failures = 0;
    }
    pthread_mutex_unlock(&t->mu);
}

void tn_throttle_clear(struct tn_throttle *t, const char *key)
{
    pthread_mutex_lock(&t->mu);
    struct entry *e = find(t, key, false);
    if (e)
        memset(e, 0, sizeof *e);
    pthread_mutex_unlock(&t->mu);
}
