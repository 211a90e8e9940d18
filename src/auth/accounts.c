#include "auth/accounts.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "auth/as/users.h"
#include "core/util.h"

/* A client as last read: whether it is still registered (an administrator may have
 * revoked it, #19). */
struct client_slot {
    char id[512];
    int64_t checked_ms;
    bool exists;
};

struct tn_accounts {
    struct tn_store *store;
    int64_t max_age_ms;
    pthread_mutex_t mu;
    struct tn_account slots[256];
    struct client_slot clients[64];
};

struct tn_accounts *tn_accounts_new(struct tn_store *store, int64_t max_age_ms)
{
    struct tn_accounts *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->store = store;
    a->max_age_ms = max_age_ms;
    pthread_mutex_init(&a->mu, NULL);
    return a;
}

void tn_accounts_free(struct tn_accounts *a)
{
    if (!a)
        return;
    pthread_mutex_destroy(&a->mu);
    free(a);
}

static uint8_t slot_of(const char *subject)
{
    uint8_t h = 0;
    for (const char *c = subject; *c; c++)
        h = (uint8_t)(h * 31 + (uint8_t)*c);
    return h;
}

void tn_account_client_hash(const char *client_id, uint8_t out[16])
{
    crypto_generichash(out, 16, (const uint8_t *)client_id, strlen(client_id), NULL, 0);
}

/* Rows arrive newest first: the first TN_ACCOUNT_REVOCATIONS are kept, the next one
 * (asked for as the limit's last) is the newest of those left out. */
static void add_revocation(const struct tn_grant_revocation *r, void *ud)
{
    struct tn_account *u = ud;
    if (u->n_revoked < TN_ACCOUNT_REVOCATIONS) {
        tn_account_client_hash(r->client_id, u->revoked[u->n_revoked].client);
        u->revoked[u->n_revoked++].after = r->revoked_at;
    } else if (r->revoked_at > u->all_before) {
        u->all_before = r->revoked_at;
    }
}

/* The account as the store has it now: inactive, no role, when it cannot be read (its
 * revocations included: an account whose apps' status is unknown admits nothing). */
static struct tn_account read_account(struct tn_store *store, const char *subject, int64_t now_ms)
{
    struct tn_account u;
    struct tn_user row;
    memset(&u, 0, sizeof u);
    tn_strlcpy(u.id, subject, sizeof u.id);
    u.checked_ms = now_ms;
    if (tn_store_user_get(store, subject, &row) == TN_OK &&
        tn_store_grant_revocations(store, subject, now_ms / 1000 - TN_ACCOUNT_REVOCATION_HORIZON_S,
                                   TN_ACCOUNT_REVOCATIONS + 1, add_revocation, &u) == TN_OK) {
        u.active = !row.disabled;
        u.valid_after = row.tokens_valid_after;
        tn_strlcpy(u.role, row.role, sizeof u.role);
    } else {
        u.n_revoked = 0;
        u.all_before = 0;
    }
    return u;
}

struct tn_account tn_accounts_get(struct tn_accounts *a, const char *subject, int64_t now_ms)
{
    pthread_mutex_lock(&a->mu);
    struct tn_account *slot = &a->slots[slot_of(subject)];
    bool fresh = !strcmp(slot->id, subject) && now_ms - slot->checked_ms < a->max_age_ms;
    struct tn_account copy = *slot;
    pthread_mutex_unlock(&a->mu);
    if (fresh)
        return copy;
    /* read outside the lock: a slow store holds up only this request */
    copy = read_account(a->store, subject, now_ms);
    pthread_mutex_lock(&a->mu);
    *slot = copy;
    pthread_mutex_unlock(&a->mu);
    return copy;
}

bool tn_account_current(const struct tn_account *u, const struct tn_principal *p)
{
    if (!u->active || p->issued_at < u->valid_after || p->issued_at < u->all_before)
        return false;
    if (!u->n_revoked)
        return true;
    uint8_t h[16];
    tn_account_client_hash(p->client_id ? p->client_id : "", h);
    for (unsigned i = 0; i < u->n_revoked && i < TN_ACCOUNT_REVOCATIONS; i++)
        if (!memcmp(h, u->revoked[i].client, sizeof h) && p->issued_at < u->revoked[i].after)
            return false;
    return true;
}

bool tn_account_role_covers(const struct tn_account *u, const struct tn_principal *p)
{
    const char *allowed = tn_role_permissions(u->role);
    for (size_t i = 0; i < p->permissions.n; i++)
        if (!tn_principal_word_in(allowed, p->permissions.v[i]))
            return false;
    return true;
}

bool tn_accounts_client_exists(struct tn_accounts *a, const char *client_id, int64_t now_ms)
{
    if (!client_id || !client_id[0])
        return true; /* a token that names no client is not one of ours to check */
    pthread_mutex_lock(&a->mu);
    struct client_slot *slot = &a->clients[slot_of(client_id) % 64];
    bool fresh = !strcmp(slot->id, client_id) && now_ms - slot->checked_ms < a->max_age_ms;
    bool exists = slot->exists;
    pthread_mutex_unlock(&a->mu);
    if (fresh)
        return exists;
    struct tn_client *c = malloc(sizeof *c);
    enum tn_err e = c ? tn_store_client_get(a->store, client_id, c) : TN_ERR_NOMEM;
    free(c);
    /* only "no such client" refuses: a store that cannot answer keeps the last verdict
     * of this client, as the account check keeps a token valid while it reads */
    exists = e != TN_ERR_NOT_FOUND;
    if (strlen(client_id) < sizeof slot->id) {
        pthread_mutex_lock(&a->mu);
        tn_strlcpy(slot->id, client_id, sizeof slot->id);
        slot->checked_ms = now_ms;
        slot->exists = exists;
        pthread_mutex_unlock(&a->mu);
    }
    return exists;
}

enum tn_err tn_accounts_admit(struct tn_accounts *a, struct tn_principal **p, int64_t now_ms)
{
    struct tn_account u = tn_accounts_get(a, (*p)->subject, now_ms);
    if (!tn_account_current(&u, *p) || !tn_accounts_client_exists(a, (*p)->client_id, now_ms)) {
        tn_principal_release(*p);
        *p = NULL;
        return TN_ERR_FORBIDDEN;
    }
    if (!tn_account_role_covers(&u, *p)) {
        /* the role changed since the token was issued: this request (and whoami) sees
         * only the permissions both allow */
        struct tn_principal *q = tn_principal_restrict(*p, tn_role_permissions(u.role));
        tn_principal_release(*p);
        *p = q;
    }
    return TN_OK;
}

void tn_accounts_forget(struct tn_accounts *a, const char *subject)
{
    if (!a || !subject)
        return;
    pthread_mutex_lock(&a->mu);
    struct tn_account *slot = &a->slots[slot_of(subject)];
    if (!strcmp(slot->id, subject))
        memset(slot, 0, sizeof *slot);
    pthread_mutex_unlock(&a->mu);
}
