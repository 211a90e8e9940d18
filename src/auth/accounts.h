/* The built-in issuer's accounts as the resource server sees them: a token it signed
 * stays valid until it expires, but its account may since have been disabled, had its
 * tokens revoked, or been given a role with fewer permissions. A small cache of recently
 * read accounts lets that reach every request within `max_age_ms` without a store read
 * per request (DESIGN §4).
 *
 * The cache has 256 slots chosen by a hash of the account id; a slot holds one account
 * and is read again from the store once it is older than `max_age_ms` (or holds another
 * account). Thread-safe. */
#ifndef TN_AUTH_ACCOUNTS_H
#define TN_AUTH_ACCOUNTS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/principal.h"
#include "store/store.h"

struct tn_accounts;

/* Apps whose access was taken back (/account, tn_store_grant_revoke) that one cached
 * account remembers; more are folded into all_before (below). */
#define TN_ACCOUNT_REVOCATIONS 16
/* Revocations older than this no longer matter: every token issued before them has
 * expired (ACCESS_TOKEN_TTL_S is at most a day; the rest is clock leeway to spare). */
#define TN_ACCOUNT_REVOCATION_HORIZON_S (2 * 86400)

/* One app's access taken back: its tokens issued before `after` are refused. The app is
 * known by a 128-bit BLAKE2b hash of its client id (ids are up to 511 bytes). */
struct tn_account_revocation {
    uint8_t client[16];
    int64_t after;
};

/* What the resource server knows of an account. */
struct tn_account {
    char id[48];
    int64_t checked_ms;  /* when it was read from the store */
    int64_t valid_after; /* tokens issued before this (seconds) are revoked */
    bool active;         /* false when disabled, missing or unreadable */
    char role[16];       /* "" when missing or unreadable */
    /* the newest revocations of single apps within the horizon */
    struct tn_account_revocation revoked[TN_ACCOUNT_REVOCATIONS];
    unsigned n_revoked;
    /* more revocations than fit: the newest of those left out. Tokens of every app
     * issued before it are refused (fail closed: those apps refresh their tokens). */
    int64_t all_before;
};

/* The hash an app is remembered by in tn_account.revoked. */
void tn_account_client_hash(const char *client_id, uint8_t out[16]);

/* A cache over `store` (borrowed: it must outlive the cache). NULL only when out of
 * memory. */
struct tn_accounts *tn_accounts_new(struct tn_store *store, int64_t max_age_ms);
void tn_accounts_free(struct tn_accounts *a);

/* The account `subject` (a built-in token's `sub`) as of at most max_age_ms before
 * `now_ms`: inactive, with no role, when it does not exist or cannot be read. */
struct tn_account tn_accounts_get(struct tn_accounts *a, const char *subject, int64_t now_ms);

/* True when the account is enabled and neither its tokens nor p's app (p->client_id)
 * were revoked after p was issued. */
bool tn_account_current(const struct tn_account *u, const struct tn_principal *p);

/* True when every permission p names is still one of the account's role's (an unknown
 * role has none). */
bool tn_account_role_covers(const struct tn_account *u, const struct tn_principal *p);

/* False when the token's client `client_id` has been deleted (an administrator revoked
 * the app), as of at most max_age_ms before now_ms; true for "" (no client named) and
 * when the store cannot be read. */
bool tn_accounts_client_exists(struct tn_accounts *a, const char *client_id, int64_t now_ms);

/* Admits a request with a built-in token, checking its account as of now_ms:
 *   TN_OK             the account is current; *p is kept, or (its role no longer covers
 *                     the token) released and replaced by a principal whose permissions
 *                     are only those both the token and the role allow;
 *   TN_ERR_FORBIDDEN  the account is disabled, gone or its tokens revoked, the token's app
 *                     had its access taken back after it was issued, or its client was
 *                     revoked (deleted): *p is released
 *                     and set to NULL (the caller answers 401 invalid_token). */
enum tn_err tn_accounts_admit(struct tn_accounts *a, struct tn_principal **p, int64_t now_ms);

/* Drops what the cache holds of `subject`, so that the next request reads the store: an
 * account changed by this process (a revocation on /account) applies at once here, and
 * within max_age_ms on every other instance. */
void tn_accounts_forget(struct tn_accounts *a, const char *subject);

#endif
