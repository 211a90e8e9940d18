/* Internals of the HTTP server shared by its files (src/http/): the server, request,
 * connection and stream structs, and the functions one file offers the others.
 *
 *   server.c  request ids, the access handler (limits, routing, answering), request
 *             accessors, the server's lifecycle
 *   policy.c  the Host and Origin allow-lists, CORS headers and preflight answers
 *   conn.c    connections: the per-address cap, the request deadline and its reaper,
 *             the client address behind trusted proxies
 *   stream.c  SSE streams and their heartbeat
 *   pool.c    the blocking pool that offloaded handlers run on */
#ifndef TN_HTTP_INTERNAL_H
#define TN_HTTP_INTERNAL_H

#include <microhttpd.h>
#include <pthread.h>
#include <semaphore.h>
#include <sodium.h>
#include <stdatomic.h>

#include "core/arena.h"
#include "core/proxy.h"
#include "http/server.h"
#include "ops/reqid.h"

#define MAX_ROUTES 128
#define MAX_LIST 32
#define STREAM_QUEUE_LIMIT (8u << 20)
#define CONN_BUCKETS 1024        /* per-address counting: chains, keyed by a random-keyed hash */
#define MAX_FWD_LINES 32         /* forwarding header lines read, the last ones */
#define IDLE_MARGIN_NS 50000000u /* 50 ms: the kernel's last-receive time is in ticks */
#define DRAIN_QUIET_MS 200u      /* the shutdown: kept-alive connections this quiet may close */
/* The request's arena starts in the request itself: what a small JSON-RPC request needs
 * (its path, body, parsed envelope and, for server/discover, the answer's values) */
#define REQ_ARENA_FIRST 6144

struct route {
    char *path;
    size_t len;
    enum tn_http_match match;
    tn_http_handler h;
    void *ud;
    tn_http_pre_fn pre;
    void (*free_value)(void *);
    void *pre_ud;
    bool public_doc; /* readable from any origin (metadata documents) */
    size_t max_body; /* 0: the server's limit */
    unsigned mslot;  /* its label's slot in ops/metrics */
};

struct tn_http_stream {
    struct tn_sink sink; /* first member: a tn_sink * is a tn_http_stream * */
    struct tn_http_server *srv;
    pthread_mutex_t mu;
    atomic_int refs;
    struct MHD_Connection *conn;
    bool suspended, closed, gone, attached;
    struct tn_buf q;
    size_t q_off;
    void (*gone_fn)(void *);
    void *gone_ud;
    struct tn_http_stream *prev, *next;
};

/* An open connection (MHD's socket context). */
struct conn {
    struct conn *prev, *next; /* every tracked connection, under conns_mu */
    struct conn *bnext;       /* same bucket of the per-address count, under conns_mu */
    struct tn_ip peer;
    struct tn_ip party; /* the peer's /64 (IPv6) or itself (IPv4): what the cap counts */
    int fd;
    bool trusted; /* the peer is a trusted proxy */
    bool counted; /* holds one of its address's MAX_CONNECTIONS_PER_IP */
    bool refused; /* over that limit: shut down at once, never listed */
    bool reaped;  /* shut down by the reaper */
    /* A request is arriving (headers or body) since `since_ns`: from the connection's
     * start, then from the first byte of each next request. libmicrohttpd says nothing
     * before a request line is whole, so between requests (`idle`, from the end of an
     * answer) the reaper asks the kernel when data last arrived (TCP_INFO) and moves
     * `since_ns` along while none has: an idle keep-alive connection is left to
     * CONN_TIMEOUT_S, a request trickling in is timed from (at most a second before)
     * its first byte. Written by the connection's worker and the reaper. */
    atomic_bool receiving;
    atomic_bool idle;
    _Atomic uint64_t since_ns;
    _Atomic uint64_t quiet_ns; /* while idle: no byte arrived after this, as far as known */
};

struct tn_http_server {
    struct tn_http_config cfg;
    char *base_url;
    char *base_origin; /* scheme://host[:port], lower-case host */
    char *base_host;   /* host without port */
    bool base_loopback;
    char *origins[MAX_LIST];
    unsigned n_origins;
    bool any_origin;
    char *hosts[MAX_LIST];
    unsigned n_hosts;
    struct route routes[MAX_ROUTES];
    unsigned n_routes;
    bool routes_full; /* a route did not fit: the server refuses to start */
    struct MHD_Daemon *d;
    uint16_t port;
    atomic_uint inflight;
    pthread_mutex_t streams_mu;
    struct tn_http_stream *streams;
    /* set by the first tn_http_streams_close_all (under streams_mu): a stream opened
     * after it (by a handler the pool finishes during the shutdown) is closed at once, so
     * that its connection never suspends with no one left to resume it */
    bool streams_closing;
    /* requests the pool resumed that have not ended (their answer not yet sent) */
    atomic_uint resumed;
    pthread_t heartbeat;
    bool heartbeat_running;
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
    bool stopping;
    bool quiesced;
    /* set when the listener closes (tn_http_server_quiesce): every answer from then on
     * closes its connection, so that clients and proxies holding kept-alive connections
     * take their next requests elsewhere instead of meeting the daemon's stop */
    atomic_bool draining;
    /* while draining: when the last request ended (at first, when the drain began) */
    _Atomic uint64_t drain_last_ns;
    /* the blocking pool: a queue of handlers, and the idle threads (most recently idle
     * first) to hand them to */
    pthread_mutex_t pool_mu;
    struct tn_http_req *pool_head, *pool_tail;
    struct pool_thread *pool;
    struct pool_thread *pool_idle;
    unsigned n_pool;
    bool pool_stop;
    /* connections: the per-address limit, the request deadline, the client address */
    struct tn_proxies proxies;
    const char *fwd_header; /* "X-Forwarded-For" or "Forwarded" */
    pthread_mutex_t conns_mu;
    struct conn *conns;
    struct conn *buckets[CONN_BUCKETS];
    uint8_t bucket_key[crypto_shorthash_KEYBYTES];
    atomic_ulong refused, bad_forwarded;
    pthread_t reaper;
    bool reaper_running;
};

/* A blocking-pool thread. An idle one sleeps on its own semaphore and is handed its next
 * handler directly: one wake-up per handler, where a shared condition variable woke a
 * thread that then queued for the pool's mutex with every other one. */
struct pool_thread {
    struct tn_http_server *s;
    pthread_t tid;
    sem_t wake;
    struct tn_http_req *job; /* set under pool_mu before the post; NULL: look again */
    struct pool_thread *next_idle;
};

struct tn_http_req {
    struct tn_http_server *srv;
    struct MHD_Connection *conn;
    const char *method;
    char *path; /* in the arena */
    const struct route *route;
    struct tn_buf body; /* in the arena */
    bool too_large;
    bool answered;
    int status;
    char id[TN_REQID_MAX + 1];
    uint64_t start_ns;
    uint64_t answered_ns; /* when the answer was queued (or deferred) */
    /* An answer made before the body was read (a refusal on the headers) waits in
     * `deferred` while the body is read and dropped, up to MAX_BODY_BYTES: a proxy that
     * is still sending the body when the connection closes counts the instance as failed
     * (nginx: "upstream prematurely closed"). Sent at the body's end, or at once (and the
     * connection closed) past that limit. */
    bool first_call; /* the headers-only call is running */
    struct MHD_Response *deferred;
    size_t drained;
    struct tn_http_stream *stream;
    const char *origin_ok; /* the request's Origin when allowed (for CORS), else NULL; arena */
    void *value;           /* attached by the route's pre-handler */
    struct conn *c;        /* the connection's (NULL only if it could not be tracked) */
    char addr[TN_IP_TEXT_MAX];
    /* offloading: NONE, then QUEUED/RUNNING on the pool with the connection suspended,
     * then READY with the answer in `pending` until the resumed connection sends it; the
     * pre-handler's the same way (PRE_QUEUED, PRE_READY with its verdict in pre_passed
     * and its refusal in `pending`) */
    enum { OFF_NONE, OFF_QUEUED, OFF_READY, OFF_PRE_QUEUED, OFF_PRE_READY } off;
    bool offloaded; /* the handler (or pre-handler) is running or ran on a pool thread */
    bool pre_passed;
    bool resumed;       /* counted in the server's `resumed` until the request ends */
    uint64_t parked_ns; /* when the pre-handler went to the pool */
    struct tn_http_resp *pending;
    struct tn_http_req *pool_next;
    /* what the handler's first call handed to its second (tn_http_resp_offload_with) */
    void *off_state;
    void (*off_state_free)(void *);
    /* request-scoped memory, freed at once when the request ends; its first block is
     * the tail of this struct (left out of the struct's zeroing) */
    struct tn_arena arena;
    _Alignas(16) char arena_first[REQ_ARENA_FIRST];
};

/* policy.c */
/* The allow-lists from the configuration (base URL, ALLOWED_ORIGINS, ALLOWED_HOSTS);
 * s->base_url must be set. */
void tn_http_policy_init(struct tn_http_server *s, const struct tn_http_config *cfg);
void tn_http_policy_free(struct tn_http_server *s);
/* server.c: "Connection: close" on an answer made while the server drains. */
void tn_http_close_if_draining(const struct tn_http_server *s, struct MHD_Response *mr);
/* Adds the CORS headers of an answer to a request whose Origin was allowed. */
void tn_http_add_cors(const struct tn_http_req *r, struct MHD_Response *mr);
/* Answers an OPTIONS request (a CORS preflight) with 204. */
enum MHD_Result tn_http_preflight(struct tn_http_req *r);

/* stream.c */
void tn_http_stream_release(struct tn_sink *sink);
/* Marks the stream gone (client left or response finished) and fires its callback. */
void tn_http_stream_gone(struct tn_http_stream *st);
/* MHD's content reader of a stream response, and its free callback. */
ssize_t tn_http_stream_reader(void *cls, uint64_t pos, char *buf, size_t max);
void tn_http_stream_reader_free(void *cls);
/* Writes a comment to every idle stream every heartbeat_s, until the server stops. */
void *tn_http_heartbeat_main(void *arg);
void tn_http_streams_close_all(struct tn_http_server *s);
unsigned tn_http_streams_open(struct tn_http_server *s);

/* conn.c */
/* MHD_OPTION_NOTIFY_CONNECTION: tracks connections, caps them per address. */
void tn_http_on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
                           enum MHD_ConnectionNotificationCode code);
/* True when the request arriving on c has taken longer than REQUEST_TIMEOUT_S. */
bool tn_http_past_deadline(const struct tn_http_server *s, const struct conn *c, uint64_t now);
/* How many connections are open (those refused at once not counted). */
unsigned tn_http_conns_open(struct tn_http_server *s);
/* Closes connections past the request deadline once a second, until the server stops. */
void *tn_http_reaper_main(void *arg);
/* Logs, once per process, a forwarding header from a peer that is not a trusted proxy. */
void tn_http_warn_ignored_forwarding(const struct tn_http_req *r);

/* pool.c */
void tn_http_pool_start(struct tn_http_server *s);
/* Queues the handler's second call of r (the pre-handler's with `pre`) on the pool, its
 * connection suspended, the answer to be left in `later` (initialised here); false when
 * the pool has stopped taking work (the caller runs it itself). */
bool tn_http_pool_submit(struct tn_http_server *s, struct tn_http_req *r,
                         struct tn_http_resp *later, bool pre);
/* resp_init / resp_deinit of server.c, for the pool's answers */
void tn_http_resp_init(struct tn_http_resp *resp);
void tn_http_pool_stop_all(struct tn_http_server *s);

#endif
