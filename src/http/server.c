/* libmicrohttpd glue: limits, Host/Origin checks, CORS, routing and SSE streams. This
 * file holds the access handler and the lifecycle; the Host/Origin policy and CORS are in
 * policy.c, connections and their deadline in conn.c, SSE streams in stream.c, the
 * blocking pool in pool.c (src/http/internal.h tours them).
 *
 * The access handler runs at least three times per request: with the headers (where
 * everything that can be refused without the body is refused), once per body chunk, and
 * once to answer. SSE responses are produced by a content reader that suspends the
 * connection when nothing is queued; producers resume it. MHD does not notice a client
 * disconnect while a connection is suspended, so a heartbeat writes a comment to every
 * stream periodically, which makes dead peers surface as write errors.
 *
 * A handler that is about to wait (a durable commit) hands itself to the blocking pool
 * with tn_http_resp_offload: the connection is suspended, the handler runs again on a
 * pool thread, and the connection is resumed to send what it produced. The epoll workers
 * never wait, and as many writers as there are pool threads can share one commit. A
 * route's pre-handler can do the same (authentication that must fetch the issuer's keys
 * first): the connection is suspended with only the headers handled, and resumed with
 * its verdict before any body byte reaches a handler (libmicrohttpd may have buffered
 * some, sent with the headers).
 *
 * Every connection is tracked from MHD's connection notifications (struct conn): its peer
 * address, counted against MAX_CONNECTIONS_PER_IP unless it is a trusted proxy, and when
 * the request now arriving on it began. MHD's own timeout is an idle one, reset by every
 * byte, so a client sending a header byte a second would hold a connection for ever; a
 * reaper thread closes every connection whose request has not fully arrived within
 * REQUEST_TIMEOUT_S. */
#include "http/server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <semaphore.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/config.h"
#include "core/form.h"
#include "core/log.h"
#include "core/util.h"
#include "http/internal.h"
#include "ops/metrics.h"

/* ---------- small helpers ---------- */

static char *xstrdup(const char *s)
{
    char *p = strdup(s ? s : "");
    if (!p)
        abort();
    return p;
}

/* ---------- request accessors ---------- */

const char *tn_http_req_method(const struct tn_http_req *r) { return r->method; }
const char *tn_http_req_path(const struct tn_http_req *r) { return r->path; }
const char *tn_http_req_id(const struct tn_http_req *r) { return r->id; }
void *tn_http_req_value(const struct tn_http_req *r) { return r->value; }
bool tn_http_req_offloaded(const struct tn_http_req *r) { return r->offloaded; }

const char *tn_http_req_header(const struct tn_http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *tn_http_req_query(const struct tn_http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

struct query_text {
    struct tn_buf *out;
    enum tn_err rc;
};

static enum MHD_Result add_query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    struct query_text *q = cls;
    (void)kind;
    if (q->rc == TN_OK && q->out->len)
        q->rc = tn_buf_puts(q->out, "&");
    if (q->rc == TN_OK)
        q->rc = tn_url_encode(q->out, key ? key : "");
    if (q->rc == TN_OK)
        q->rc = tn_buf_puts(q->out, "=");
    if (q->rc == TN_OK)
        q->rc = tn_url_encode(q->out, value ? value : "");
    return q->rc == TN_OK ? MHD_YES : MHD_NO;
}

enum tn_err tn_http_req_query_string(const struct tn_http_req *r, struct tn_buf *out)
{
    struct query_text q = {out, TN_OK};
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, add_query_arg, &q);
    return q.rc;
}

struct tn_span tn_http_req_body(const struct tn_http_req *r)
{
    return (struct tn_span){r->body.data ? r->body.data : "", r->body.len};
}

enum tn_err tn_http_resp_header(struct tn_http_resp *resp, const char *name, const char *value)
{
    if (resp->n_headers >= TN_HTTP_MAX_EXTRA_HEADERS)
        return TN_ERR_LIMIT;
    resp->headers[resp->n_headers].name = name;
    resp->headers[resp->n_headers].value = xstrdup(value);
    resp->n_headers++;
    return TN_OK;
}

void tn_http_resp_offload(struct tn_http_resp *resp) { resp->offload = true; }

void tn_http_resp_offload_with(struct tn_http_resp *resp, void *state, void (*free_state)(void *))
{
    resp->offload = true;
    resp->offload_state = state;
    resp->offload_state_free = free_state;
}

void *tn_http_req_offload_state(const struct tn_http_req *r) { return r->off_state; }

struct tn_arena *tn_http_req_arena(const struct tn_http_req *r)
{
    return (struct tn_arena *)&r->arena; /* request-scoped scratch, not the request */
}

enum tn_err tn_http_resp_json(struct tn_http_resp *resp, int status, const char *json, size_t len)
{
    resp->status = status;
    resp->content_type = "application/json";
    tn_buf_reset(&resp->body);
    return tn_buf_append(&resp->body, json, len);
}

/* ---------- answering ---------- */

/* An answer made on the headers alone: true when the body that follows is to be read
 * and dropped before it is sent. Not when none follows, when the client waits for
 * "100 Continue" before sending it (it sends nothing then), or when it is declared
 * larger than MAX_BODY_BYTES (refused at once; the connection closes). */
static bool drain_first(struct tn_http_req *r)
{
    const char *expect = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Expect");
    if (expect)
        return false;
    const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Length");
    if (cl) {
        char *end = NULL;
        unsigned long long n = strtoull(cl, &end, 10);
        return end != cl && *end == '\0' && n > 0 && n <= r->srv->cfg.limits.max_body;
    }
    const char *te = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Transfer-Encoding");
    return te && strcasecmp(te, "chunked") == 0;
}

static enum MHD_Result queue(struct tn_http_req *r, struct tn_http_resp *resp)
{
    struct MHD_Response *mr;
    bool streamed = resp->stream != NULL;
    if (streamed) {
        struct tn_http_stream *st = resp->stream;
        st->srv = r->srv;
        st->conn = r->conn;
        r->stream = st;
        atomic_fetch_add(&st->refs, 1); /* the request's reference, dropped on completion */
        mr = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, tn_http_stream_reader, st,
                                               tn_http_stream_reader_free);
        if (!mr) {
            tn_http_stream_release(&st->sink); /* the reader's */
            resp->stream = NULL;               /* resp_deinit must not release it again */
            r->stream = NULL;
            tn_http_stream_release(&st->sink); /* the request's */
            return MHD_NO;
        }
        MHD_add_response_header(mr, "Cache-Control", "no-cache, no-transform");
        MHD_add_response_header(mr, "X-Accel-Buffering", "no");
        tn_metrics_streams(1); /* -1 when it leaves the list (tn_http_stream_gone) */
        pthread_mutex_lock(&r->srv->streams_mu);
        st->next = r->srv->streams;
        st->prev = NULL;
        if (st->next)
            st->next->prev = st;
        r->srv->streams = st;
        st->attached = true;
        if (r->srv->streams_closing) { /* what is queued is sent, then it ends */
            pthread_mutex_lock(&st->mu);
            st->closed = true;
            pthread_mutex_unlock(&st->mu);
        }
        pthread_mutex_unlock(&r->srv->streams_mu);
        resp->stream = NULL;
    } else {
        size_t len = resp->body.len;
        char *body = tn_buf_take(&resp->body);
        mr = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
        if (!mr) {
            free(body);
            return MHD_NO;
        }
    }
    if (resp->content_type) {
        MHD_add_response_header(mr, "Content-Type", resp->content_type);
        /* an event stream sent whole (one finished event) is still not to be cached */
        if (!streamed && strcmp(resp->content_type, "text/event-stream") == 0)
            MHD_add_response_header(mr, "Cache-Control", "no-cache, no-transform");
    }
    for (unsigned i = 0; i < resp->n_headers; i++)
        MHD_add_response_header(mr, resp->headers[i].name, resp->headers[i].value);
    tn_http_add_cors(r, mr);
    MHD_add_response_header(mr, "X-Request-Id", r->id);
    tn_http_close_if_draining(r->srv, mr);
    r->status = resp->status;
    r->answered = true;
    r->answered_ns = tn_time_mono_ns();
    if (r->first_call && !streamed && drain_first(r)) {
        r->deferred = mr; /* sent once the body is in (on_request) */
        return MHD_YES;
    }
    enum MHD_Result ok = MHD_queue_response(r->conn, (unsigned)resp->status, mr);
    MHD_destroy_response(mr);
    return ok;
}

void tn_http_close_if_draining(const struct tn_http_server *s, struct MHD_Response *mr)
{
    /* libmicrohttpd merges the token into one Connection header: twice is harmless */
    if (atomic_load_explicit(&s->draining, memory_order_relaxed))
        MHD_add_response_header(mr, "Connection", "close");
}

void tn_http_resp_init(struct tn_http_resp *resp)
{
    memset(resp, 0, sizeof *resp);
    tn_buf_init(&resp->body, 32u << 20);
}

static void resp_deinit(struct tn_http_resp *resp)
{
    if (resp->offload_state_free) /* set, then never handed over */
        resp->offload_state_free(resp->offload_state);
    tn_buf_deinit(&resp->body);
    for (unsigned i = 0; i < resp->n_headers; i++)
        free(resp->headers[i].value);
    if (resp->stream) /* never queued */
        tn_http_stream_release(&resp->stream->sink);
}

/* Errors produced by the HTTP layer itself, on every route: status and JSON-RPC code
 * from the error table, as a JSON-RPC error without id (what MCP clients parse; other
 * clients go by the status). */
static enum MHD_Result answer_error(struct tn_http_req *r, enum tn_err err, const char *msg,
                                    const char *allow)
{
    struct tn_http_resp resp;
    tn_http_resp_init(&resp);
    resp.status = tn_err_http_status(err);
    resp.content_type = "application/json";
    /* msg never carries unescaped client input: callers pass fixed strings */
    tn_buf_printf(&resp.body,
                  "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":%d,\"message\":\"%s\"},\"id\":null}",
                  tn_err_jsonrpc(err), msg);
    if (allow)
        tn_http_resp_header(&resp, "Allow", allow);
    enum MHD_Result ok = queue(r, &resp);
    resp_deinit(&resp);
    return ok;
}

struct header_tally {
    unsigned count;
    size_t bytes;
};

static enum MHD_Result tally_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    (void)kind;
    struct header_tally *t = cls;
    t->count++;
    t->bytes += strlen(key) + (value ? strlen(value) : 0) + 4;
    return MHD_YES;
}

static const struct route *find_route(struct tn_http_server *s, const char *path)
{
    size_t n = strlen(path);
    for (unsigned i = 0; i < s->n_routes; i++) {
        const struct route *rt = &s->routes[i];
        if (rt->match == TN_HTTP_EXACT ? (n == rt->len && memcmp(path, rt->path, n) == 0)
                                       : (n >= rt->len && memcmp(path, rt->path, rt->len) == 0))
            return rt;
    }
    return NULL;
}

/* The last check on the headers: a declared body longer than the route takes. */
static enum MHD_Result check_length(struct tn_http_req *r)
{
    const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Length");
    if (cl) {
        char *end = NULL;
        unsigned long long n = strtoull(cl, &end, 10);
        if (end == cl || *end != '\0' || n > r->body.limit)
            return answer_error(r, TN_ERR_BODY_TOO_LARGE, "Request body too large", NULL);
    }
    return MHD_YES;
}

/* The pre-handler's verdict: its refusal queued, or the first call goes on. */
static enum MHD_Result pre_done(struct tn_http_req *r, bool pass, struct tn_http_resp *resp)
{
    enum MHD_Result ok = MHD_YES;
    if (!pass) {
        if (resp->status == 0)
            resp->status = 500;
        ok = queue(r, resp);
    }
    resp_deinit(resp);
    if (r->answered || ok != MHD_YES)
        return ok;
    return check_length(r);
}

/* Runs the route's pre-handler. One that asks to wait (false with tn_http_resp_offload)
 * runs again on the blocking pool, its connection suspended with only the headers read;
 * the resumed connection finishes the first call (on_request_in). */
static enum MHD_Result run_pre(struct tn_http_server *s, struct tn_http_req *r)
{
    struct tn_http_resp resp;
    tn_http_resp_init(&resp);
    bool pass = r->route->pre(r->route->pre_ud, r, &resp, &r->value);
    if (!pass && resp.offload) {
        resp_deinit(&resp);
        if (r->value && r->route->free_value) /* nothing is attached before the verdict */
            r->route->free_value(r->value);
        r->value = NULL;
        struct tn_http_resp *later = s->pool ? tn_arena_alloc(&r->arena, sizeof *later) : NULL;
        /* The request's deadline stops while it waits for its verdict: that time is not
         * the client's and does not count against REQUEST_TIMEOUT_S. */
        if (r->c)
            atomic_store(&r->c->receiving, false);
        r->parked_ns = tn_time_mono_ns();
        if (later && tn_http_pool_submit(s, r, later, true))
            return MHD_YES;
        if (r->c)
            atomic_store(&r->c->receiving, true);
        tn_http_resp_init(&resp); /* no pool, or a stopping one: here */
        r->offloaded = true;
        pass = r->route->pre(r->route->pre_ud, r, &resp, &r->value);
        r->offloaded = false; /* the handler may still hand itself over */
    }
    return pre_done(r, pass, &resp);
}

static enum MHD_Result on_first_call(struct tn_http_server *s, struct tn_http_req *r)
{
    if (tn_http_past_deadline(s, r->c, tn_time_mono_ns()))
        return answer_error(r, TN_ERR_REQUEST_TIMEOUT, "Request timeout", NULL);
    struct header_tally t = {0, 0};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, tally_header, &t);
    if (t.count > s->cfg.limits.max_headers || t.bytes > s->cfg.limits.max_header_bytes)
        return answer_error(r, TN_ERR_HEADERS_TOO_LARGE, "Request header fields too large", NULL);

    const char *host = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Host");
    if (!tn_http_host_allowed(s, host))
        return answer_error(r, TN_ERR_INVALID_HOST, "Invalid Host header", NULL);
    r->route = find_route(s, r->path);
    const char *origin = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Origin");
    if (origin) {
        /* Public metadata is readable by any web page (it carries no user data and no
         * credentials are allowed); everything else checks the Origin (DNS rebinding). */
        if (r->route && r->route->public_doc)
            r->origin_ok = "*";
        else if (!tn_http_origin_allowed(s, origin))
            return answer_error(r, TN_ERR_INVALID_ORIGIN,
                                "Invalid Origin: not an allowed origin for this server", NULL);
        else
            r->origin_ok = tn_arena_strndup(&r->arena, origin, strlen(origin));
    }
    if (strcmp(r->method, "OPTIONS") == 0)
        return tn_http_preflight(r);
    if (!r->route)
        return answer_error(r, TN_ERR_NO_ROUTE, "Not found", NULL);
    if (r->route->max_body)
        r->body.limit = r->route->max_body;
    if (r->route->pre)
        return run_pre(s, r);
    return check_length(r);
}

/* The request's struct, with its id and arena, on the first call (headers only); NULL
 * when out of memory. */
static struct tn_http_req *req_new(struct tn_http_server *s, struct MHD_Connection *conn,
                                   const char *url, const char *method)
{
    struct tn_http_req *r = malloc(sizeof *r);
    if (!r)
        return NULL;
    memset(r, 0, offsetof(struct tn_http_req, arena_first)); /* not the arena's block */
    tn_arena_init(&r->arena, r->arena_first, sizeof r->arena_first);
    r->path = tn_arena_strndup(&r->arena, url, strlen(url));
    if (!r->path) {
        tn_arena_deinit(&r->arena);
        free(r);
        return NULL;
    }
    r->srv = s;
    r->conn = conn;
    r->method = method;
    r->start_ns = tn_time_mono_ns();
    tn_buf_init_arena(&r->body, s->cfg.limits.max_body, &r->arena);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    r->c = ci ? ci->socket_context : NULL;
    /* a trusted proxy's id, when well formed, so that its logs and ours line up; from
     * anyone else an id is made here (a client must not choose what our logs say) */
    const char *given = r->c && r->c->trusted
                            ? MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id")
                            : NULL;
    size_t glen = given ? strnlen(given, TN_REQID_MAX + 1) : 0;
    if (given && tn_reqid_valid(given, glen))
        memcpy(r->id, given, glen + 1);
    else
        tn_reqid_make(r->id);
    return r;
}

static void req_free(struct tn_http_req *r)
{
    if (r->resumed) /* its answer sent, or its connection closed */
        atomic_fetch_sub(&r->srv->resumed, 1);
    if (r->deferred) /* the connection ended before the body did */
        MHD_destroy_response(r->deferred);
    if (r->pending) /* answered by the pool but never sent (connection closed) */
        resp_deinit(r->pending);
    if (r->off_state_free) /* before the arena: the state may live in it */
        r->off_state_free(r->off_state);
    if (r->value && r->route && r->route->free_value)
        r->route->free_value(r->value);
    tn_buf_deinit(&r->body);
    tn_arena_deinit(&r->arena);
    free(r);
}

/* A chunk of the body: kept while within the limit, timed against the deadline. */
static enum MHD_Result receive_body(struct tn_http_server *s, struct tn_http_req *r,
                                    const char *data, size_t *size)
{
    /* a body trickling in: the deadline is checked as it comes, besides the reaper */
    if (tn_http_past_deadline(s, r->c, tn_time_mono_ns())) {
        *size = 0;
        atomic_store(&r->c->receiving, false);
        return answer_error(r, TN_ERR_REQUEST_TIMEOUT, "Request timeout", NULL);
    }
    if (!r->too_large && tn_buf_append(&r->body, data, *size) != TN_OK)
        r->too_large = true;
    *size = 0;
    return MHD_YES;
}

/* Runs the route's handler and queues its answer, or hands the handler's second call
 * to the blocking pool when it asked for that (tn_http_resp_offload). */
static enum MHD_Result run_handler(struct tn_http_server *s, struct tn_http_req *r)
{
    struct tn_http_resp resp;
    tn_http_resp_init(&resp);
    r->route->h(r->route->ud, r, &resp);
    if (resp.offload) { /* the request keeps what the first call handed over */
        r->off_state = resp.offload_state;
        r->off_state_free = resp.offload_state_free;
        resp.offload_state = NULL;
        resp.offload_state_free = NULL;
    }
    if (resp.offload && s->pool) {
        struct tn_http_resp *later = tn_arena_alloc(&r->arena, sizeof *later);
        if (later && tn_http_pool_submit(s, r, later, false)) {
            resp_deinit(&resp);
            return MHD_YES;
        }
    }
    if (resp.offload) { /* no pool, a stopping one, or no memory for the hand-over: here */
        resp_deinit(&resp);
        tn_http_resp_init(&resp);
        r->offloaded = true;
        r->route->h(r->route->ud, r, &resp);
    }
    if (resp.status == 0)
        resp.status = 500;
    enum MHD_Result ok = queue(r, &resp);
    resp_deinit(&resp);
    return ok;
}

/* Sends the answer that waited for the body to be drained. */
static enum MHD_Result send_deferred(struct tn_http_req *r)
{
    struct MHD_Response *mr = r->deferred;
    r->deferred = NULL;
    tn_http_close_if_draining(r->srv, mr); /* made before the drain began, sent after */
    enum MHD_Result ok = MHD_queue_response(r->conn, (unsigned)r->status, mr);
    MHD_destroy_response(mr);
    return ok;
}

/* After the first call: a request refused on its headers is not read further (or only
 * drained, and timed). */
static void headers_done(struct tn_http_req *r)
{
    if (r->answered && !r->deferred && r->c)
        atomic_store(&r->c->receiving, false);
}

static enum MHD_Result on_request_in(struct tn_http_server *s, struct MHD_Connection *conn,
                                     const char *url, const char *method, const char *upload_data,
                                     size_t *upload_size, void **con_cls)
{
    struct tn_http_req *r = *con_cls;
    if (!r) {
        if (!(r = req_new(s, conn, url, method)))
            return MHD_NO;
        tn_log_set_request_id(r->id);
        if (r->c) /* a request line is in: the request has begun, its clock runs */
            atomic_store(&r->c->idle, false);
        *con_cls = r;
        tn_http_warn_ignored_forwarding(r);
        atomic_fetch_add(&s->inflight, 1);
        r->first_call = true;
        enum MHD_Result ok = on_first_call(s, r);
        r->first_call = false;
        headers_done(r);
        return ok;
    }
    tn_log_set_request_id(r->id);
    if (r->off == OFF_PRE_READY) { /* resumed: the pre-handler ran on the pool */
        struct tn_http_resp *verdict = r->pending;
        r->pending = NULL;
        r->off = OFF_NONE;
        r->offloaded = false; /* the handler may still hand itself over */
        if (r->c) {           /* the deadline runs again, moved by the time spent on the pool */
            atomic_fetch_add(&r->c->since_ns, tn_time_mono_ns() - r->parked_ns);
            atomic_store(&r->c->receiving, true);
        }
        r->first_call = true; /* MHD calls again as with the headers (0.9.75) */
        enum MHD_Result ok = pre_done(r, r->pre_passed, verdict);
        r->first_call = false;
        headers_done(r);
        if (ok != MHD_YES || !*upload_size)
            return ok;
    }
    if (r->deferred) { /* a refusal waits for the body's end, dropping it meanwhile */
        if (*upload_size) {
            r->drained += *upload_size;
            *upload_size = 0;
            if (r->drained <= s->cfg.limits.max_body)
                return MHD_YES;
        }
        if (r->c)
            atomic_store(&r->c->receiving, false);
        return send_deferred(r); /* the body is in, or too long: then the connection closes */
    }
    if (r->answered) {
        *upload_size = 0; /* discard a body we already refused */
        return MHD_YES;
    }
    if (*upload_size)
        return receive_body(s, r, upload_data, upload_size);
    if (r->c) /* the whole request is in: no deadline while it is answered or streamed */
        atomic_store(&r->c->receiving, false);
    if (r->too_large)
        return answer_error(r, TN_ERR_BODY_TOO_LARGE, "Request body too large", NULL);

    if (r->off == OFF_READY) { /* resumed: the pool thread left the answer */
        struct tn_http_resp *done = r->pending;
        r->pending = NULL;
        r->off = OFF_NONE;
        enum MHD_Result ok = queue(r, done);
        resp_deinit(done);
        return ok;
    }
    if (r->off != OFF_NONE)
        return MHD_YES; /* still on the pool (a spurious call) */
    return run_handler(s, r);
}

/* MHD's access handler: called with the headers, once per body chunk, once with the
 * whole request in, and again when a suspended connection is resumed. Log lines written
 * meanwhile carry the request's id. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    enum MHD_Result ok = on_request_in(cls, conn, url, method, upload_data, upload_size, con_cls);
    tn_log_set_request_id(NULL);
    return ok;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    struct tn_http_server *s = cls;
    struct tn_http_req *r = *con_cls;
    if (!r)
        return;
    *con_cls = NULL;
    if (r->c) { /* the next request's clock starts at its first byte (follow_idle) */
        uint64_t now = tn_time_mono_ns();
        /* the request just answered arrived before now; the kernel's record of its
         * last byte may read up to a tick late */
        atomic_store(&r->c->quiet_ns, now + IDLE_MARGIN_NS);
        atomic_store(&r->c->since_ns, now);
        atomic_store(&r->c->receiving, true);
        atomic_store(&r->c->idle, true);
    }
    if (r->stream) {
        tn_http_stream_gone(r->stream);
        tn_http_stream_release(&r->stream->sink);
    }
    if (r->answered)
        tn_metrics_http(r->route ? r->route->mslot : 0, r->status, r->answered_ns - r->start_ns);
    if (tn_log_enabled(TN_LOG_DEBUG)) {
        char status[8], ms[24];
        snprintf(status, sizeof status, "%d", r->answered ? r->status : 0);
        snprintf(ms, sizeof ms, "%.3f", (double)(tn_time_mono_ns() - r->start_ns) / 1e6);
        tn_log_set_request_id(r->id);
        tn_log(TN_LOG_DEBUG, "request", "method", r->method, "path", r->path, "addr",
               tn_http_req_client_addr(r), "status", status, "ms", ms, "end",
               toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "ok" : "aborted", NULL);
        tn_log_set_request_id(NULL);
    }
    req_free(r);
    /* before the count drops: the shutdown that sees it at 0 sees this too */
    if (atomic_load_explicit(&s->draining, memory_order_relaxed))
        atomic_store(&s->drain_last_ns, tn_time_mono_ns());
    atomic_fetch_sub(&s->inflight, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    tn_log(TN_LOG_DEBUG, "libmicrohttpd", "detail", msg, NULL);
}

/* ---------- lifecycle ---------- */

struct tn_http_server *tn_http_server_new(const struct tn_http_config *cfg)
{
    struct tn_http_server *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->cfg = *cfg;
    s->cfg.host = xstrdup(cfg->host);
    s->base_url = xstrdup(cfg->base_url);
    s->cfg.base_url = s->base_url;
    s->cfg.allowed_origins = NULL;
    s->cfg.allowed_hosts = NULL;
    tn_http_policy_init(s, cfg);
    s->cfg.trusted_proxies = NULL;
    const char *tp = cfg->trusted_proxies ? cfg->trusted_proxies : "";
    struct tn_buf perr;
    tn_buf_init(&perr, 1024);
    enum tn_err prc = tn_proxies_parse(tp, strlen(tp), &s->proxies, &perr);
    if (prc != TN_OK) /* the configuration checked it; a caller that did not gets told */
        tn_log(TN_LOG_ERROR, "bad TRUSTED_PROXIES", "detail", perr.data ? perr.data : "", NULL);
    tn_buf_deinit(&perr);
    if (prc != TN_OK) {
        tn_http_policy_free(s);
        free(s->base_url);
        free((char *)s->cfg.host);
        free(s);
        return NULL;
    }
    s->fwd_header = cfg->proxy_forwarded ? "Forwarded" : "X-Forwarded-For";
    tn_random(s->bucket_key, sizeof s->bucket_key);
    pthread_mutex_init(&s->conns_mu, NULL);
    pthread_mutex_init(&s->streams_mu, NULL);
    pthread_mutex_init(&s->stop_mu, NULL);
    pthread_cond_init(&s->stop_cv, NULL);
    pthread_mutex_init(&s->pool_mu, NULL);
    atomic_init(&s->inflight, 0);
    atomic_init(&s->resumed, 0);
    atomic_init(&s->draining, false);
    atomic_init(&s->drain_last_ns, 0);
    return s;
}

enum tn_err tn_http_route(struct tn_http_server *s, const char *path, enum tn_http_match m,
                          tn_http_handler h, void *ud)
{
    if (s->n_routes >= MAX_ROUTES) {
        s->routes_full = true;
        tn_log(TN_LOG_ERROR, "too many routes: raise MAX_ROUTES in src/http/internal.h", "path",
               path, NULL);
        return TN_ERR_LIMIT;
    }
    struct route *rt = &s->routes[s->n_routes++];
    rt->path = xstrdup(path);
    rt->len = strlen(path);
    rt->match = m;
    rt->h = h;
    rt->ud = ud;
    rt->mslot = tn_metrics_route_slot(path);
    return TN_OK;
}

enum tn_err tn_http_server_start(struct tn_http_server *s)
{
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_PASSIVE, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    char port[8];
    snprintf(port, sizeof port, "%u", s->cfg.port);
    if (s->routes_full) /* a route that silently 404s is worse than no start */
        return TN_ERR_LIMIT;
    if (getaddrinfo(s->cfg.host, port, &hints, &ai) != 0 || !ai) {
        tn_log(TN_LOG_ERROR, "HOST must be a numeric IPv4 or IPv6 address", "host", s->cfg.host,
               NULL);
        return TN_ERR_CONFIG;
    }
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
                     MHD_USE_TURBO;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    unsigned threads = s->cfg.limits.threads;
    struct MHD_OptionItem opts[16];
    unsigned n = 0;
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, ai->ai_addr};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT,
                                        (intptr_t)s->cfg.limits.max_connections, NULL};
    /* MAX_CONNECTIONS_PER_IP is ours (tn_http_on_connection), not MHD's, which cannot exempt
     * the trusted proxies. */
    opts[n++] =
        (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)tn_http_on_connection, s};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                                        (intptr_t)s->cfg.limits.conn_memory, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
                                        (intptr_t)s->cfg.limits.conn_timeout_s, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, s};
    if (threads > 1)
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)threads, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    tn_http_pool_start(s);
    s->d = MHD_start_daemon(flags, s->cfg.port, NULL, NULL, on_request, s, MHD_OPTION_ARRAY, opts,
                            MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!s->d) {
        tn_http_pool_stop_all(s);
        tn_log(TN_LOG_ERROR, "cannot listen (address in use or not available?)", "host",
               s->cfg.host, "port", port, NULL);
        return TN_ERR_IO;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : s->cfg.port;
    if (pthread_create(&s->heartbeat, NULL, tn_http_heartbeat_main, s) == 0)
        s->heartbeat_running = true;
    if (s->cfg.limits.request_timeout_s) {
        if (pthread_create(&s->reaper, NULL, tn_http_reaper_main, s) != 0) {
            tn_log(TN_LOG_ERROR, "cannot start the request deadline thread", NULL);
            tn_http_server_shutdown(s, 0);
            return TN_ERR_INTERNAL;
        }
        s->reaper_running = true;
    }
    return TN_OK;
}

enum tn_err tn_http_route_pre(struct tn_http_server *s, const char *path, tn_http_pre_fn pre,
                              void (*free_value)(void *), void *ud)
{
    enum tn_err rc = TN_ERR_NOT_FOUND;
    for (unsigned i = 0; i < s->n_routes; i++) {
        if (strcmp(s->routes[i].path, path) == 0) {
            s->routes[i].pre = pre;
            s->routes[i].free_value = free_value;
            s->routes[i].pre_ud = ud;
            rc = TN_OK;
        }
    }
    return rc;
}

enum tn_err tn_http_route_body_limit(struct tn_http_server *s, const char *path, size_t bytes)
{
    enum tn_err rc = TN_ERR_NOT_FOUND;
    for (unsigned i = 0; i < s->n_routes; i++) {
        if (strcmp(s->routes[i].path, path) == 0) {
            s->routes[i].max_body = bytes ? bytes : 1;
            rc = TN_OK;
        }
    }
    return rc;
}

enum tn_err tn_http_route_public(struct tn_http_server *s, const char *path)
{
    enum tn_err rc = TN_ERR_NOT_FOUND;
    for (unsigned i = 0; i < s->n_routes; i++) {
        if (strcmp(s->routes[i].path, path) == 0) {
            s->routes[i].public_doc = true;
            rc = TN_OK;
        }
    }
    return rc;
}

uint16_t tn_http_server_port(const struct tn_http_server *s) { return s->port; }

unsigned tn_http_server_inflight(struct tn_http_server *s) { return atomic_load(&s->inflight); }

void tn_http_server_quiesce(struct tn_http_server *s)
{
    if (!s->d || s->quiesced)
        return;
    atomic_store(&s->drain_last_ns, tn_time_mono_ns());
    atomic_store(&s->draining, true);
    MHD_socket ls = MHD_quiesce_daemon(s->d);
    if (ls != MHD_INVALID_SOCKET)
        close(ls);
    s->quiesced = true;
}

void tn_http_server_shutdown(struct tn_http_server *s, unsigned grace_ms)
{
    if (!s->d)
        return;
    tn_http_server_quiesce(s);
    /* In-flight requests, streamed tool calls among them, get the grace period to end on
     * their own; what is still open after it is closed. Kept-alive connections get it
     * too, until no request has ended for DRAIN_QUIET_MS: each is closed after its next
     * answer (Connection: close), so that a proxy sending on one takes its next request
     * to another instance instead of having it cut by the daemon's stop (nginx answers
     * 502 for a POST cut that way); one left idle that long closes with the daemon. The
     * window counts from the last end, not the last start: a connection whose answer
     * was queued before the drain (a streamed call ending late in it) goes back to its
     * proxy's pool only when that answer ends. */
    uint64_t until = tn_time_mono_ns() + (uint64_t)grace_ms * 1000000u;
    for (;;) {
        uint64_t now = tn_time_mono_ns();
        if (now >= until)
            break;
        if (atomic_load(&s->inflight) == 0 &&
            (now >= atomic_load(&s->drain_last_ns) + DRAIN_QUIET_MS * 1000000u ||
             tn_http_conns_open(s) == 0))
            break;
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    tn_http_streams_close_all(s);
    until = tn_time_mono_ns() + 2000000000u;
    while (tn_http_streams_open(s) && tn_time_mono_ns() < until) {
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
        tn_http_streams_close_all(s);
    }
    pthread_mutex_lock(&s->stop_mu);
    s->stopping = true;
    pthread_cond_broadcast(&s->stop_cv);
    pthread_mutex_unlock(&s->stop_mu);
    if (s->heartbeat_running) {
        pthread_join(s->heartbeat, NULL);
        s->heartbeat_running = false;
    }
    if (s->reaper_running) {
        pthread_join(s->reaper, NULL);
        s->reaper_running = false;
    }
    /* Every offloaded handler finishes (and resumes its connection) before the daemon
     * stops: MHD must not be stopped with connections suspended by the pool. */
    tn_http_pool_stop_all(s);
    /* ... and what they answered is sent (a stream one of them opened was closed when it
     * was opened): up to a second more, while a request the pool resumed has not ended */
    until = tn_time_mono_ns() + 1000000000u;
    while (atomic_load(&s->resumed) > 0 && tn_time_mono_ns() < until) {
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(s->d);
    s->d = NULL;
}

void tn_http_server_free(struct tn_http_server *s)
{
    if (!s)
        return;
    tn_http_server_shutdown(s, 0);
    for (unsigned i = 0; i < s->n_routes; i++)
        free(s->routes[i].path);
    tn_http_policy_free(s);
    free(s->base_url);
    free((char *)s->cfg.host);
    pthread_mutex_destroy(&s->streams_mu);
    pthread_mutex_destroy(&s->stop_mu);
    pthread_cond_destroy(&s->stop_cv);
    pthread_mutex_destroy(&s->pool_mu);
    pthread_mutex_destroy(&s->conns_mu);
    free(s->pool);
    free(s);
}
