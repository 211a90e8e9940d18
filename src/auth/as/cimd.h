/* The cache of Client ID Metadata Documents and the admission of their fetches.
 *
 * A client_id that is a URL names a document the server fetches: anyone can make it do
 * so, at a host that may never answer. This cache keeps what a fetch found (a document
 * until its HTTP lifetime ends, a failure for a minute) and decides whether a new fetch
 * may start: a bounded number in flight in all and per host, none while the host has
 * recently failed to answer or has too many failed URLs (so that ?x=1, ?x=2 variants
 * of one URL gain nothing), and none when every entry is live. A fetch that may not
 * start is refused at once, never queued. The total size is fixed; an entry is evicted
 * only when expired, except a document (a live failure never): evicting a document costs
 * a fetch, evicting a failure would let the failing fetch be tried again.
 *
 * The cache only decides and remembers; the caller fetches, outside any lock. Thread-
 * safe (one mutex, never held during a fetch). Times are seconds from the caller. */
#ifndef TN_AUTH_AS_CIMD_H
#define TN_AUTH_AS_CIMD_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "store/store.h"

struct tn_cimd_cache;

struct tn_cimd_limits {
    unsigned entries;       /* documents, failures and fetches in flight together */
    unsigned fetches;       /* fetches in flight, all hosts together */
    unsigned host_fetches;  /* fetches in flight per host */
    unsigned host_faults;   /* live failures per host where the host did not answer
                               (timeout, refused connection): at this many, no new URL
                               of the host is fetched until one expires */
    unsigned host_failures; /* live failures of any kind per host: the same */
    int64_t fail_ttl_s;     /* how long a failure is remembered */
    unsigned addr_fetches;  /* fetches in flight per requesting address (tn_cimd_cache_get_for's
                               `who`); 0: not limited */
    int64_t stale_s;        /* how long past its expiry a document is still served when it
                               cannot be refetched (the fetch failed or may not start); 0: never */
};

/* NULL when out of memory or a limit is 0. */
struct tn_cimd_cache *tn_cimd_cache_new(const struct tn_cimd_limits *lim);
void tn_cimd_cache_free(struct tn_cimd_cache *c);

/* The host of an http(s) URL as the cache counts it: lower-case, without user info,
 * port or trailing dots (other ports and spellings of one host are the same host).
 * TN_ERR_BAD_INPUT when there is none or it does not fit `cap`. */
enum tn_err tn_cimd_host(const char *url, char *out, size_t cap);

/* Looks `url` up at time `now`:
 *   TN_OK             a live document, copied to *out
 *   TN_ERR_BAD_INPUT  a remembered failure, *why its reason; or `url` has no host
 *   TN_ERR_BUSY       not cached, and no fetch may start now: *why says why (this URL is
 *                     being fetched, the host or the server has its fetches in flight,
 *                     the host failed recently, or every entry is live)
 *   TN_ERR_NOT_FOUND  not cached, and a fetch may start. With `reserve`, the fetch is
 *                     the caller's (an in-flight entry counted against the limits), and
 *                     tn_cimd_cache_end must follow; without, nothing changed.
 * *why is a static string, set for the failures. */
enum tn_err tn_cimd_cache_get(struct tn_cimd_cache *c, const char *url, int64_t now, bool reserve,
                              struct tn_client *out, const char **why);

/* The same, for a fetch on behalf of the address `who` (a throttle key, at most 47
 * bytes; NULL: none): at most addr_fetches of its fetches are in flight. When no fetch
 * may start (TN_ERR_BUSY) or the URL's last fetch failed (TN_ERR_BAD_INPUT), but the
 * URL has a document that expired less than stale_s ago, that document is copied to
 * *out and TN_OK returned (*why still says why it was not refetched). A reservation
 * keeps the stale document until the fetch ends. */
enum tn_err tn_cimd_cache_get_for(struct tn_cimd_cache *c, const char *url, const char *who,
                                  int64_t now, bool reserve, struct tn_client *out,
                                  const char **why);

/* After a reserved fetch ended without a document: the URL's stale document (expired
 * less than stale_s ago) in *out, TN_OK; else TN_ERR_NOT_FOUND. */
enum tn_err tn_cimd_cache_stale(struct tn_cimd_cache *c, const char *url, int64_t now,
                                struct tn_client *out);

/* Ends the fetch reserved for `url`. With `doc`, keeps the document until now + ttl_s;
 * else with `why` (a static string) remembers the failure for the failure lifetime,
 * `host_fault` when the host did not answer at all (then, and only then, a stale
 * document is kept for tn_cimd_cache_stale: a host that answers without a valid
 * document has withdrawn it); with neither, forgets the URL (the fetch did not happen),
 * except a stale document, kept expired. */
void tn_cimd_cache_end(struct tn_cimd_cache *c, const char *url, int64_t now,
                       const struct tn_client *doc, int64_t ttl_s, const char *why,
                       bool host_fault);

#endif
