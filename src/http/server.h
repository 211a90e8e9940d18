/* The HTTP server: libmicrohttpd with epoll and a thread pool, limits, Host/Origin
 * validation, CORS, routing, and SSE streams.
 *
 * A route handler is called once per request, after the whole body (bounded by the
 * configured limit) has been read. It fills a tn_http_resp; to stream, it calls
 * tn_http_resp_stream() and writes into the returned sink from any thread. */
#ifndef TN_HTTP_SERVER_H
#define TN_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/sink.h"

struct tn_http_server;
struct tn_http_req;

struct tn_http_limits {
    size_t max_body;         /* 413 above */
    size_t max_header_bytes; /* 431 above */
    unsigned max_headers;    /* 431 above */
    size_t conn_memory;
    unsigned max_connections;
    unsigned max_per_ip; /* open connections per peer address; trusted proxies exempt (0: none) */
    unsigned conn_timeout_s;    /* idle: reset by every byte */
    unsigned request_timeout_s; /* whole request: headers and body (0: none) */
    unsigned threads;
    unsigned heartbeat_s;
    unsigned blocking_threads; /* the pool for tn_http_resp_offload (0: none) */
};

struct tn_http_config {
    const char *host;
    uint16_t port;
    const char *base_url;        /* public origin, for Host/Origin checks */
    const char *allowed_origins; /* comma-separated, may be empty */
    const char *allowed_hosts;   /* comma-separated, may be empty */
    const char *trusted_proxies; /* TRUSTED_PROXIES (CIDR list), may be NULL or empty */
    bool proxy_forwarded;        /* they write Forwarded (RFC 7239), not X-Forwarded-For */
    struct tn_http_limits limits;
};

#define TN_HTTP_MAX_EXTRA_HEADERS 8

struct tn_http_resp {
    int status;
    const char *content_type; /* static string, or NULL for none */
    struct tn_buf body;
    struct {
        const char *name; /* static */
        char *value;      /* owned */
    } headers[TN_HTTP_MAX_EXTRA_HEADERS];
    unsigned n_headers;
    struct tn_http_stream *stream; /* set by tn_http_resp_stream */
    bool offload;                  /* set by tn_http_resp_offload */
    void *offload_state;           /* set by tn_http_resp_offload_with */
    void (*offload_state_free)(void *);
};

/* Route handler: fill `resp`. Runs on an HTTP worker thread; must not block for long
 * (long work goes to another thread writing into a stream, and work that waits is
 * offloaded, see tn_http_resp_offload). */
typedef void (*tn_http_handler)(void *ud, const struct tn_http_req *req, struct tn_http_resp *resp);

/* Accessors of a request, valid during the handler call. */
const char *tn_http_req_method(const struct tn_http_req *r);
const char *tn_http_req_path(const struct tn_http_req *r);
/* Header value, or NULL when absent. Names are compared case-insensitively. */
const char *tn_http_req_header(const struct tn_http_req *r, const char *name);
/* Query argument, or NULL. */
const char *tn_http_req_query(const struct tn_http_req *r, const char *name);
/* Every query argument, form-urlencoded again in the request's order (a repeated one
 * kept repeated, "k" without '=' as "k="), appended to `out` (for parsers that take a
 * whole query, e.g. an OpenID callback). TN_ERR_LIMIT when `out` is full. */
enum tn_err tn_http_req_query_string(const struct tn_http_req *r, struct tn_buf *out);
struct tn_span tn_http_req_body(const struct tn_http_req *r);
/* The client's address as text ("127.0.0.1", "::1"), "" when unknown: the socket peer,
 * or, when the peer is one of the trusted proxies, the address they forwarded (the
 * rightmost untrusted hop of X-Forwarded-For or Forwarded, see core/proxy.h). */
const char *tn_http_req_client_addr(const struct tn_http_req *r);
/* The request id used in logs. */
const char *tn_http_req_id(const struct tn_http_req *r);

/* Asks for the handler to be run again on a thread of the blocking pool, with the
 * connection suspended meanwhile: for work that waits (a durable commit) rather than
 * computes. The handler returns right after calling it, having filled nothing; in the
 * second call tn_http_req_offloaded() is true and it answers as usual. Without a pool,
 * the second call happens at once on the same thread. */
void tn_http_resp_offload(struct tn_http_resp *resp);
/* The same, handing `state` (what the first call parsed and checked) to the second call,
 * which reads it with tn_http_req_offload_state instead of doing that work again. The
 * request owns it from here: free_state(state) runs when the request ends, whether or
 * not a second call happened (before the request's arena goes). */
void tn_http_resp_offload_with(struct tn_http_resp *resp, void *state, void (*free_state)(void *));
/* True in the handler's (or pre-handler's) second call (see tn_http_resp_offload). */
bool tn_http_req_offloaded(const struct tn_http_req *r);
/* In the second call, the state the first handed over (NULL if none). */
void *tn_http_req_offload_state(const struct tn_http_req *r);
/* The request's arena: request-scoped memory freed at once when the request ends (after
 * the answer is sent). Only the thread running the handler may use it. */
struct tn_arena *tn_http_req_arena(const struct tn_http_req *r);
/* Adds a response header; the value is copied. Fails past TN_HTTP_MAX_EXTRA_HEADERS. */
enum tn_err tn_http_resp_header(struct tn_http_resp *resp, const char *name, const char *value);
/* Sets status, JSON content type and body (copied). */
enum tn_err tn_http_resp_json(struct tn_http_resp *resp, int status, const char *json, size_t len);
/* Turns the response into an SSE stream (status 200, text/event-stream). Returns a sink
 * owned by the response; take a reference to keep it past the handler. NULL when the
 * server is at its stream limit or out of memory. */
struct tn_sink *tn_http_resp_stream(struct tn_http_resp *resp);

enum tn_http_match { TN_HTTP_EXACT, TN_HTTP_PREFIX };

/* A pre-handler runs with the headers only, before any body byte is read (the place for
 * authentication: an unauthenticated request never gets its body read). It returns true
 * to go on, or false after filling `resp`, which is then sent at once. It may attach one
 * value to the request (*value), passed to `free_value` when the request ends and
 * readable by the handler through tn_http_req_value. One that would wait (for the
 * network) returns false after tn_http_resp_offload(resp), attaching nothing: it is
 * called again on a blocking-pool thread (tn_http_req_offloaded true), the connection
 * suspended meanwhile, and that call's verdict is final. */
typedef bool (*tn_http_pre_fn)(void *ud, const struct tn_http_req *req, struct tn_http_resp *resp,
                               void **value);
/* Attaches a pre-handler to every route registered with exactly this path. */
enum tn_err tn_http_route_pre(struct tn_http_server *s, const char *path, tn_http_pre_fn pre,
                              void (*free_value)(void *), void *ud);
/* Marks the routes with this path as public documents: any Origin may read them
 * (`Access-Control-Allow-Origin: *`, never with credentials) instead of the Origin
 * allow-list. For discovery metadata, never for the MCP endpoint. */
enum tn_err tn_http_route_public(struct tn_http_server *s, const char *path);
/* A smaller body limit for the routes with this path (413 above it). */
enum tn_err tn_http_route_body_limit(struct tn_http_server *s, const char *path, size_t bytes);
/* The value the pre-handler attached, or NULL. */
void *tn_http_req_value(const struct tn_http_req *r);

struct tn_http_server *tn_http_server_new(const struct tn_http_config *cfg);
/* Registers a handler for a path (exact, or every path under a prefix). The first
 * matching route wins. Call before start. */
enum tn_err tn_http_route(struct tn_http_server *s, const char *path, enum tn_http_match m,
                          tn_http_handler h, void *ud);
enum tn_err tn_http_server_start(struct tn_http_server *s);
/* The port actually bound (useful with port 0). */
uint16_t tn_http_server_port(const struct tn_http_server *s);
/* Stops accepting new connections; requests already in progress continue. */
void tn_http_server_quiesce(struct tn_http_server *s);
/* Stops accepting connections, waits up to grace_ms for in-flight requests (streams
 * excluded: those are closed), then stops. */
void tn_http_server_shutdown(struct tn_http_server *s, unsigned grace_ms);
void tn_http_server_free(struct tn_http_server *s);
/* Number of requests being handled right now (streams included). */
unsigned tn_http_server_inflight(struct tn_http_server *s);

/* Origin/Host policy, exposed for unit tests. `origin` is the full header value. */
bool tn_http_origin_allowed(const struct tn_http_server *s, const char *origin);
bool tn_http_host_allowed(const struct tn_http_server *s, const char *host);

#endif
