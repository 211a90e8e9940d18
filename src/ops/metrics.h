/* The server's metrics: counters, gauges and histograms kept in process-wide atomics
 * (relaxed: each is one independent tally), and their rendering as a Prometheus scrape.
 *
 * Recording never allocates, locks or fails: the request path pays a few relaxed atomic
 * additions. Every label set is bounded: routes are the registered paths, MCP methods the
 * server's method table, tools the registered tools, sign-in methods and outcomes a fixed
 * list; anything else (an unknown tool named by a client, a method that does not exist)
 * is counted as "other". No label ever carries a user id, a client's text or a token.
 *
 * One set per process (one server per process); tn_metrics_reset is for tests. */
#ifndef TN_OPS_METRICS_H
#define TN_OPS_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

/* Latency buckets, upper bounds in seconds: 0.5 ms .. 10 s. */
#define TN_METRICS_BUCKETS 14
extern const uint64_t tn_metrics_bucket_ns[TN_METRICS_BUCKETS];
extern const char *const tn_metrics_bucket_le[TN_METRICS_BUCKETS];
/* The bucket an observation of `ns` falls in: the first whose bound is >= ns (Prometheus
 * buckets are "less than or equal"), TN_METRICS_BUCKETS above the last. */
unsigned tn_metrics_bucket(uint64_t ns);

/* ---- HTTP ---- */
/* The slot of a route label (its registered path), made on first use; 0 ("other") when
 * the table is full or the label too long. Call when routes are registered, not per
 * request (it takes a lock). */
unsigned tn_metrics_route_slot(const char *path);
/* One answered request: its route slot, status and time to its answer. */
void tn_metrics_http(unsigned slot, int status, uint64_t ns);
/* Open SSE streams (+1 when one opens, -1 when it ends). */
void tn_metrics_streams(int delta);

/* ---- MCP ---- */
enum tn_metrics_outcome { TN_METRICS_OK, TN_METRICS_ERROR, TN_METRICS_REJECTED };
/* A JSON-RPC request: `method` one of the server's methods (anything else: "other");
 * ok is a result, error a JSON-RPC error. */
void tn_metrics_mcp(const char *method, bool ok);
/* The slot of a registered tool name (0: "other" when full or too long). */
unsigned tn_metrics_tool_slot(const char *name);
/* A tools/call: ok (a result), error (an isError result), rejected (a JSON-RPC error:
 * unknown tool, scope, internal error). */
void tn_metrics_tool(unsigned slot, enum tn_metrics_outcome outcome);

/* ---- store ---- */
enum tn_metrics_store_op {
    TN_METRICS_STORE_NOTE_INSERT,
    TN_METRICS_STORE_NOTE_GET,
    TN_METRICS_STORE_NOTE_UPDATE,
    TN_METRICS_STORE_NOTE_DELETE,
    TN_METRICS_STORE_NOTE_LIST,
    TN_METRICS_STORE_NOTE_SEARCH,
    TN_METRICS_STORE__COUNT
};
void tn_metrics_store(enum tn_metrics_store_op op, uint64_t ns);

/* ---- sign-in and registration ---- */
/* A sign-in attempt. method: password, email, email_link, oidc, sso, invite, passkey;
 * outcome: ok, failed (wrong credentials, unknown or disabled account, bad code),
 * throttled (too many attempts), expired, error (the server could not finish). Anything
 * else is counted as "other". */
void tn_metrics_signin(const char *method, const char *outcome);
/* A client registration: kind dcr or cimd (a metadata document fetched); outcome ok,
 * refused (bad metadata or document), throttled, error (the server could not finish). */
void tn_metrics_registration(const char *kind, const char *outcome);

/* ---- rendering ---- */
/* What the renderer reads from elsewhere at scrape time. */
struct tn_metrics_extra {
    const char *version;
    const char *backend;       /* "sqlite", "postgres" */
    bool have_token_cache;     /* false: no token verification (AUTH_MODE=none) */
    uint64_t token_cache_hits; /* verified-token cache */
    uint64_t token_cache_misses;
};
/* Appends the whole exposition. */
enum tn_err tn_metrics_render(struct tn_buf *out, const struct tn_metrics_extra *x);
/* Zeroes every value and forgets the labels (tests). */
void tn_metrics_reset(void);

#endif
