/* Throttles of the sign-in and registration paths (docs/SECURITY.md, "Guessing and
 * flooding").
 *
 * A throttle counts events per key (an account, an address, a browser) within a window
 * and, past a maximum, refuses the key for a while. The table is bounded and was built
 * to survive an attacker who chooses keys:
 *   - keys are hashed with BLAKE2b keyed by a secret drawn at creation, so nobody can
 *     compute offline which keys share a slot;
 *   - a slot is given to a new key only when it is empty or idle (no lock in force, no
 *     count in the current window, no lockout history younger than the longest lock):
 *     an insertion never erases an active lock or count;
 *   - when a key finds no room, it is refused (the wait is `window_s`), never forgotten.
 *
 * The sign-in guard on top applies the policy of OWASP's Authentication Cheat Sheet:
 * failures count per (account, address), per address and per account; the owner's own
 * browser, proved by a device cookie issued at an earlier successful sign-in to that
 * account, is judged only by its own failures, so guessing from elsewhere cannot lock
 * the owner out. */
#ifndef TN_AUTH_SIGNIN_THROTTLE_H
#define TN_AUTH_SIGNIN_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct tn_throttle_rule {
    unsigned max;        /* events allowed within window_s; the max-th starts a lock */
    unsigned window_s;   /* counting window */
    unsigned lock_s;     /* first lock; doubles with each further lockout. 0: the key is
                            refused until its window ends (a plain rate limit) */
    unsigned lock_max_s; /* longest lock, and how long lockout history is kept */
};

struct tn_throttle;

/* A throttle with room for at least `capacity` keys (rounded up to a power of two, at
 * least 64). NULL when out of memory. */
struct tn_throttle *tn_throttle_new(const struct tn_throttle_rule *rule, size_t capacity);
void tn_throttle_free(struct tn_throttle *t);

/* Seconds `key` must wait before its next attempt; 0 when allowed now. A key that has
 * no entry and finds no room waits window_s (refused rather than forgotten). */
unsigned tn_throttle_wait(struct tn_throttle *t, const char *key, int64_t now);
/* Records one event (a failed sign-in) for `key`. Returns the wait now in force: 0, or
 * the lock just started, or window_s when there was no room to record it. */
unsigned tn_throttle_hit(struct tn_throttle *t, const char *key, int64_t now);
/* Atomically: when `key` may go now, records the event and returns 0; otherwise returns
 * the wait and records nothing. For rate limits (registrations per address). */
unsigned tn_throttle_take(struct tn_throttle *t, const char *key, int64_t now);
/* Forgets `key`'s count, lock and history. */
void tn_throttle_clear(struct tn_throttle *t, const char *key);
/* How many times a key was refused for want of room since creation (for logs/tests). */
uint64_t tn_throttle_full_refusals(struct tn_throttle *t);

#define TN_THROTTLE_ADDR_KEY_MAX 48
/* The throttling key of a client address: IPv4 as dotted decimal, an IPv4-mapped IPv6
 * address as its IPv4, any other IPv6 address as its /64 (one host, one key: a /64 is
 * what one subscriber gets), anything unparsable as "?" (all such share one key).
 * Always NUL-terminates `out`. */
void tn_throttle_addr_key(const char *addr, char out[TN_THROTTLE_ADDR_KEY_MAX]);
/* The key of the network around an address, for limits that one holder of many
 * addresses must not multiply: an IPv6 address's /48 (what one site, or one free tunnel
 * account, gets). False for IPv4 and anything else (no such key: addresses are scarce
 * enough there). */
bool tn_throttle_net_key(const char *addr, char out[TN_THROTTLE_ADDR_KEY_MAX]);

/* ---------- the sign-in guard ---------- */

struct tn_signin_guard;

/* The policy's limits. Defaults (tn_signin_guard_new(NULL)): 5 failures per (account,
 * address), 20 per address, 50 per account from browsers it does not trust, 5 per
 * trusted browser, each within 15 minutes; locks of 1 minute doubling up to 1 hour;
 * 6 attempts judged at once, plus 2 reserved for trusted browsers, one at a time per
 * address (or per trusted browser).
 *
 * Why the tables cannot fill within a window: every attempt, for a known account or
 * not, costs one argon2id verification (~0.2 s, two at a time), so at most ~10 attempts a
 * second reach the tables — ~9,000 keys in a 15-minute window, well under `capacity`. */
struct tn_signin_limits {
    struct tn_throttle_rule pair, addr, account, device;
    size_t capacity;
    unsigned inflight, inflight_trusted;
};

struct tn_signin_guard *tn_signin_guard_new(const struct tn_signin_limits *limits);
void tn_signin_guard_free(struct tn_signin_guard *g);

/* One sign-in attempt: `account` is the normalised account name (lowercased email),
 * `addr` the client address, `device` the id of a valid device cookie bound to this
 * account or NULL. */
struct tn_signin_attempt {
    const char *account;
    const char *addr;
    const char *device;
    int slot; /* set by tn_signin_guard_enter, read by _leave */
};

/* Seconds to wait before this attempt may be judged; 0 when it may go ahead. A browser
 * with a device cookie for the account that is not itself locked is judged by its own
 * failures only; any other attempt waits for the longest of its (account, address),
 * address and account locks. */
unsigned tn_signin_guard_check(struct tn_signin_guard *g, const struct tn_signin_attempt *a,
                               int64_t now);
/* Counts a failed attempt against the keys that judged it (check's rule). */
void tn_signin_guard_failed(struct tn_signin_guard *g, const struct tn_signin_attempt *a,
                            int64_t now);
/* Admission of an attempt that passed check, before its password is verified: the
 * verification is slow on purpose, so how many run at once is bounded, and parallel
 * attempts cannot outrun check's count. TN_OK (leave must follow); TN_ERR_LIMIT when
 * this address (or trusted browser) already has an attempt being judged; TN_ERR_BUSY
 * when every slot of its lane is taken. Trusted browsers have a lane of their own, so
 * a flood of strangers' attempts cannot keep the owner out. */
enum tn_err tn_signin_guard_enter(struct tn_signin_guard *g, struct tn_signin_attempt *a,
                                  int64_t now);
void tn_signin_guard_leave(struct tn_signin_guard *g, struct tn_signin_attempt *a);
/* A correct password: forgets this (account, address)'s and this browser's failures.
 * The account-wide count stays (a success does not reset a distributed guesser). */
void tn_signin_guard_succeeded(struct tn_signin_guard *g, const struct tn_signin_attempt *a);

#endif
