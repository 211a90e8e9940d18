/* One MCP endpoint for both eras: HTTP checks, era classification, JSON-RPC dispatch,
 * and JSON or SSE answers. The decision ladder follows the 2026-07-28 transport rules
 * and the order the official SDK uses (docs/ARCHITECTURE.md walks through it). */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/arena.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "mcp/internal.h"
#include "ops/metrics.h"
#include <time.h>

const char *const tn_mcp_versions[] = {"2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26",
                                       "2024-11-05"};
const size_t tn_mcp_versions_count = sizeof tn_mcp_versions / sizeof tn_mcp_versions[0];

const char *const tn_mcp_log_levels[8] = {"debug", "info",     "notice", "warning",
                                          "error", "critical", "alert",  "emergency"};

static const char *modern_version(const char *v)
{
    return v && strcmp(v, TN_MCP_VERSION_MODERN) == 0 ? tn_mcp_versions[0] : NULL;
}

static const char *legacy_version(const char *v)
{
    for (size_t i = 1; v && i < tn_mcp_versions_count; i++)
        if (strcmp(v, tn_mcp_versions[i]) == 0)
            return tn_mcp_versions[i];
    return NULL;
}

static json_t *versions_json(void)
{
    json_t *a = json_array();
    for (size_t i = 0; i < tn_mcp_versions_count; i++)
        json_array_append_new(a, json_string(tn_mcp_versions[i]));
    return a;
}

/* `v` written once, as a tn_json_raw value on the heap (NULL without memory); takes v. */
static json_t *written(json_t *v)
{
    struct tn_arena_scope outer = tn_arena_json_enter(NULL, false);
    struct tn_buf b;
    tn_buf_init(&b, SIZE_MAX / 2);
    json_t *r = v && tn_json_dump(v, &b) == TN_OK ? tn_json_raw(b.data, b.len) : NULL;
    tn_buf_deinit(&b);
    json_decref(v);
    tn_arena_json_leave(outer);
    return r;
}

/* ---------- server object ---------- */

struct tn_mcp_server *tn_mcp_server_new(const struct tn_mcp_info *info)
{
    struct tn_mcp_server *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->info = *info;
    if (!s->info.page_size)
        s->info.page_size = 50;
    if (!s->info.json_max_depth)
        s->info.json_max_depth = 64;
    if (!s->info.json_max_string)
        s->info.json_max_string = 1 << 20;
    if (!s->info.max_streaming)
        s->info.max_streaming = 256;
    s->secret_len = info->secret_len < sizeof s->secret ? info->secret_len : sizeof s->secret;
    if (s->secret_len < 32) {
        free(s);
        return NULL;
    }
    memcpy(s->secret, info->secret, s->secret_len);
    /* one key per use, so a value sealed for one purpose never passes for another */
    tn_hmac_sha256(s->state_key, s->secret, s->secret_len, "mcp request state", 17);
    tn_hmac_sha256(s->cursor_key, s->secret, s->secret_len, "mcp list cursor", 15);
    s->info.secret = NULL;
    s->server_info = json_pack("{s:s, s:s}", "name", info->name, "version", info->version);
    if (info->title)
        json_object_set_new(s->server_info, "title", json_string(info->title));
    if (info->description)
        json_object_set_new(s->server_info, "description", json_string(info->description));
    s->server_info_raw = written(json_incref(s->server_info));
    s->versions_raw = written(versions_json());
    s->instructions = info->instructions ? json_string(info->instructions) : NULL;
    if (!s->server_info || !s->server_info_raw || !s->versions_raw ||
        (info->instructions && !s->instructions)) {
        json_decref(s->instructions);
        json_decref(s->server_info);
        json_decref(s->server_info_raw);
        json_decref(s->versions_raw);
        free(s);
        return NULL;
    }
    /* requests are parsed into their arena (tn_mcp_handle) */
    tn_arena_json_install();
    pthread_rwlock_init(&s->lock, NULL);
    pthread_mutex_init(&s->pending_mu, NULL);
    pthread_mutex_init(&s->jobs_mu, NULL);
    atomic_init(&s->n_streaming, 0);
    atomic_init(&s->next_request_id, 1);
    tn_mcp_listen_init(s);
    return s;
}

void tn_mcp_server_free(struct tn_mcp_server *s)
{
    if (!s)
        return;
    tn_mcp_listen_deinit(s);
    for (size_t i = 0; i < s->n_tools; i++) {
        struct tool_entry *t = &s->tools[i];
        tn_schema_free(t->input);
        tn_schema_free(t->output);
        json_decref(t->listing);
        for (unsigned p = 0; p < t->n_params; p++) {
            free(t->params[p].header);
            for (unsigned d = 0; d < t->params[p].depth; d++)
                free(t->params[p].path[d]);
        }
    }
    for (size_t i = 0; i < s->n_prompts; i++)
        json_decref(s->prompts[i].listing);
    free(s->tools);
    free(s->prompts);
    free(s->resources);
    free(s->templates);
    free(s->providers);
    json_decref(s->server_info);
    json_decref(s->server_info_raw);
    json_decref(s->versions_raw);
    json_decref(s->instructions);
    for (size_t i = 0; i < sizeof s->caps_raw / sizeof s->caps_raw[0]; i++)
        json_decref(atomic_load(&s->caps_raw[i]));
    pthread_rwlock_destroy(&s->lock);
    pthread_mutex_destroy(&s->pending_mu);
    pthread_mutex_destroy(&s->jobs_mu);
    memset(s->secret, 0, sizeof s->secret);
    free(s);
}

unsigned tn_mcp_drain(struct tn_mcp_server *s, unsigned timeout_ms)
{
    uint64_t until = tn_time_mono_ns() + (uint64_t)timeout_ms * 1000000u;
    while (atomic_load(&s->n_streaming) > 0 && tn_time_mono_ns() < until) {
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    return atomic_load(&s->n_streaming);
}

/* ---------- methods ---------- */

enum kind { PLAIN, CACHED }; /* CACHED results carry ttlMs and cacheScope (modern) */
enum eras { LEGACY = 1, MODERN = 2, BOTH = 3 };

typedef json_t *(*method_fn)(struct tn_mcp_ctx *c, json_t *params, const struct tn_mcp_http_in *in,
                             struct tn_rpc_err *e);

static json_t *m_initialize(struct tn_mcp_ctx *c, json_t *params, const struct tn_mcp_http_in *in,
                            struct tn_rpc_err *e)
{
    (void)in;
    const char *asked = NULL;
    if (!params || json_unpack(params, "{s:s}", "protocolVersion", &asked) != 0) {
        tn_rpc_err_set(e, 200, tn_err_jsonrpc(TN_ERR_INVALID_PARAMS), NULL,
                       "Invalid params: \"protocolVersion\" must be a string");
        return NULL;
    }
    /* Echo a version we serve; otherwise counter-offer our newest legacy one (never
     * 2026-07-28, which is reached without initialize). */
    const char *v = legacy_version(asked);
    json_t *r = json_pack("{s:s, s:o, s:O}", "protocolVersion", v ? v : TN_LEGACY_LATEST,
                          "capabilities", tn_mcp_capabilities(c->srv, TN_MCP_LEGACY), "serverInfo",
                          c->srv->server_info);
    if (c->srv->instructions)
        json_object_set(r, "instructions", c->srv->instructions);
    return r;
}

static json_t *m_empty(struct tn_mcp_ctx *c, json_t *params, const struct tn_mcp_http_in *in,
                       struct tn_rpc_err *e)
{
    (void)c, (void)params, (void)in, (void)e;
    return json_object();
}

static json_t *m_set_level(struct tn_mcp_ctx *c, json_t *params, const struct tn_mcp_http_in *in,
                           struct tn_rpc_err *e)
{
    (void)c, (void)in;
    const char *lvl = NULL;
    if (params && json_unpack(params, "{s:s}", "level", &lvl) == 0)
        for (size_t i = 0; i < 8; i++)
            if (!strcmp(lvl, tn_mcp_log_levels[i]))
                return json_object(); /* stateless: nothing to remember between requests */
    tn_rpc_err_set(e, 200, tn_err_jsonrpc(TN_ERR_INVALID_PARAMS), NULL,
                   "Invalid params: unknown log level");
    return NULL;
}

static json_t *m_discover(struct tn_mcp_ctx *c, json_t *params, const struct tn_mcp_http_in *in,
                          struct tn_rpc_err *e)
{
    (void)params, (void)in, (void)e;
    /* the constant parts as written at start (the same bytes as the trees they stand for) */
    json_t *r = json_pack("{s:O, s:o}", "supportedVersions", c->srv->versions_raw, "capabilities",
                          tn_mcp_capabilities_raw(c->srv));
    if (c->srv->instructions)
        json_object_set(r, "instructions", c->srv->instructions);
    return r;
}

#define WRAP(fn)                                                                                 \
    static json_t *m_##fn(struct tn_mcp_ctx *c, json_t *params, const struct tn_mcp_http_in *in, \
                          struct tn_rpc_err *e)                                                  \
    {                                                                                            \
        (void)in;                                                                                \
        return tn_mcp_##fn(c, params, e);                                                        \
    }
WRAP(tools_list)
WRAP(resources_list)
WRAP(templates_list)
WRAP(resources_read)
WRAP(prompts_list)
WRAP(prompts_get)
WRAP(complete)

static json_t *m_tools_call(struct tn_mcp_ctx *c, json_t *params, const struct tn_mcp_http_in *in,
                            struct tn_rpc_err *e)
{
    return tn_mcp_tools_call(c, params, in, e);
}

enum cap { CAP_NONE, CAP_TOOLS, CAP_RESOURCES, CAP_PROMPTS, CAP_COMPLETIONS };

struct method {
    const char *name;
    enum eras eras;
    enum kind kind;
    enum cap cap;
    method_fn fn;
    /* the answer is made of new values and references to long-lived ones only (no
     * value it makes is kept past the request): it is built in the request's arena */
    bool arena;
};

static const struct method methods[] = {
    {"initialize", LEGACY, PLAIN, CAP_NONE, m_initialize, true},
    {"ping", LEGACY, PLAIN, CAP_NONE, m_empty, true},
    {"logging/setLevel", LEGACY, PLAIN, CAP_NONE, m_set_level, true},
    {"server/discover", MODERN, CACHED, CAP_NONE, m_discover, true},
    {"tools/list", BOTH, CACHED, CAP_TOOLS, m_tools_list, true},
    {"tools/call", BOTH, PLAIN, CAP_TOOLS, m_tools_call, false},
    {"resources/list", BOTH, CACHED, CAP_RESOURCES, m_resources_list, false},
    {"resources/templates/list", BOTH, CACHED, CAP_RESOURCES, m_templates_list, false},
    {"resources/read", BOTH, CACHED, CAP_RESOURCES, m_resources_read, false},
    {"prompts/list", BOTH, CACHED, CAP_PROMPTS, m_prompts_list, false},
    {"prompts/get", BOTH, PLAIN, CAP_PROMPTS, m_prompts_get, false},
    {"completion/complete", BOTH, PLAIN, CAP_COMPLETIONS, m_complete, false},
};

static const struct method *find_method(struct tn_mcp_server *s, const char *name, enum eras era)
{
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        const struct method *m = &methods[i];
        if (strcmp(m->name, name) != 0 || !(m->eras & era))
            continue;
        /* A capability we do not declare has no methods. */
        if ((m->cap == CAP_TOOLS && !tn_mcp_has_tools(s)) ||
            (m->cap == CAP_RESOURCES && !tn_mcp_has_resources(s)) ||
            (m->cap == CAP_PROMPTS && !tn_mcp_has_prompts(s)) ||
            (m->cap == CAP_COMPLETIONS && !s->complete))
            return NULL;
        return m;
    }
    return NULL;
}

/* Adds resultType, serverInfo and caching hints to a modern result. */
static void decorate_modern(struct tn_mcp_server *s, const struct method *m, json_t *r)
{
    if (!json_is_object(r))
        return;
    const char *rt = json_string_value(json_object_get(r, "resultType"));
    if (!rt) {
        rt = "complete";
        json_object_set_new(r, "resultType", json_string(rt));
    }
    json_t *meta = json_object_get(r, "_meta");
    if (!json_is_object(meta)) {
        meta = json_object();
        json_object_set_new(r, "_meta", meta);
    }
    json_object_set(meta, TN_META_SERVER_INFO, s->server_info_raw);
    if (m && m->kind == CACHED && !strcmp(rt, "complete")) {
        if (!json_object_get(r, "ttlMs"))
            json_object_set_new(r, "ttlMs", json_integer(0));
        if (!json_object_get(r, "cacheScope"))
            json_object_set_new(r, "cacheScope", json_string("private"));
    }
}

/* Runs the method; its result (new ref), or NULL with `e` set. In the method's arena
 * scope, which the caller enters (tn_arena_json_enter(..., m->arena)) and leaves. */
static json_t *run_method(struct tn_mcp_ctx *c, const struct method *m, json_t *params,
                          const struct tn_mcp_http_in *in, struct tn_rpc_err *e)
{
    json_t *r = m->fn(c, params, in, e);
    if (!r && !e->code)
        tn_rpc_err_set(e, 200, tn_err_jsonrpc(TN_ERR_INTERNAL), NULL, "Internal error");
    tn_metrics_mcp(m->name, r != NULL);
    return r;
}

/* The response message of a result or an error (new ref; takes r). */
static json_t *message_of(struct tn_mcp_ctx *c, const struct method *m, json_t *id, json_t *r,
                          struct tn_rpc_err *e, int *http)
{
    if (r) {
        if (c->era == TN_MCP_MODERN)
            decorate_modern(c->srv, m, r);
        *http = 200;
        return tn_rpc_result_body(id, r);
    }
    *http = e->http ? e->http : 200;
    return tn_rpc_error_body(id, e);
}

/* Runs one request; returns the response message (new ref). */
json_t *tn_mcp_dispatch(struct tn_mcp_ctx *c, const struct method *m, json_t *id, json_t *params,
                        const struct tn_mcp_http_in *in, int *http)
{
    struct tn_rpc_err e = {0};
    /* (on a streamed call's own thread there is no arena scope: the heap, as before) */
    struct tn_arena_scope outer = tn_arena_json_enter(tn_arena_json_current(), m->arena);
    json_t *r = run_method(c, m, params, in, &e);
    json_t *msg = message_of(c, m, id, r, &e, http);
    json_decref(e.data);
    tn_arena_json_leave(outer);
    return msg;
}

/* Writes the answer to a result straight into `b`, byte for byte what dumping
 * tn_rpc_result_body(id, r) decorated by decorate_modern writes, without building the
 * envelope and the decoration as values: {"jsonrpc":"2.0","id":ID,"result":R} where a
 * modern R gains resultType, _meta.serverInfo and, for a cached method, ttlMs and
 * cacheScope after its own members. False (b as it was) for a result this does not
 * cover (not an object, or carrying any of those members itself): the caller builds the
 * message instead. */
static bool write_result(struct tn_buf *b, struct tn_mcp_ctx *c, const struct method *m, json_t *id,
                         json_t *r)
{
    bool modern = c->era == TN_MCP_MODERN;
    if (modern && (!json_is_object(r) || tn_json_raw_text(r, &(size_t){0}) ||
                   json_object_get(r, "resultType") || json_object_get(r, "_meta") ||
                   json_object_get(r, "ttlMs") || json_object_get(r, "cacheScope")))
        return false;
    size_t mark = b->len;
    enum tn_err e = tn_buf_puts(b, "{\"jsonrpc\":\"2.0\",\"id\":");
    if (e == TN_OK)
        e = tn_json_dump(id, b);
    if (e == TN_OK)
        e = tn_buf_puts(b, ",\"result\":");
    if (e == TN_OK)
        e = tn_json_dump(r, b);
    if (e == TN_OK && modern) {
        size_t n;
        const char *si = tn_json_raw_text(c->srv->server_info_raw, &n);
        b->len--; /* the result's closing brace */
        if (json_object_size(r) > 0)
            e = tn_buf_append(b, ",", 1);
        if (e == TN_OK)
            e = tn_buf_puts(b,
                            "\"resultType\":\"complete\",\"_meta\":{\"" TN_META_SERVER_INFO "\":");
        if (e == TN_OK)
            e = tn_buf_append(b, si, n);
        if (e == TN_OK)
            e = tn_buf_puts(b,
                            m->kind == CACHED ? "},\"ttlMs\":0,\"cacheScope\":\"private\"}" : "}}");
    }
    if (e == TN_OK)
        e = tn_buf_append(b, "}", 1);
    if (e != TN_OK)
        b->len = mark;
#ifdef TN_CHECK_RESULTS
    /* debug builds (the test suite's): the bytes are the built message's, every answer */
    if (e == TN_OK) {
        json_t *copy = json_deep_copy(r);
        if (modern)
            decorate_modern(c->srv, m, copy);
        json_t *built = tn_rpc_result_body(id, copy);
        struct tn_buf want;
        tn_buf_init(&want, SIZE_MAX / 2);
        bool same = tn_json_dump(built, &want) == TN_OK && want.len == b->len - mark &&
                    memcmp(want.data, b->data + mark, want.len) == 0;
        if (!same)
            tn_log(TN_LOG_ERROR, "a written answer differs from the built one", "written",
                   b->data + mark, "built", want.data ? want.data : "", NULL);
        assert(same);
        tn_buf_deinit(&want);
        json_decref(built);
    }
#endif
    return e == TN_OK;
}

/* ---------- answering ---------- */

static void out_json(struct tn_mcp_http_out *out, int status, json_t *msg)
{
    out->status = status;
    out->content_type = "application/json";
    tn_buf_reset(&out->body);
    if (!msg || tn_json_dump(msg, &out->body) != TN_OK) {
        out->status = 500;
        tn_buf_reset(&out->body);
        tn_buf_printf(&out->body,
                      "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":%d,\"message\":\"Internal error\"},"
                      "\"id\":null}",
                      tn_err_jsonrpc(TN_ERR_INTERNAL));
    }
    json_decref(msg);
}

/* An error answer: HTTP status `http`, the JSON-RPC code of `err` (the error table). */
void tn_mcp_out_error(struct tn_mcp_http_out *out, json_t *id, int http, enum tn_err err,
                      json_t *data, const char *fmt, ...)
{
    struct tn_rpc_err e = {.http = http, .code = tn_err_jsonrpc(err), .data = data};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.msg, sizeof e.msg, fmt, ap);
    va_end(ap);
    tn_rpc_sanitize(e.msg);
    out_json(out, http, tn_rpc_error_body(id, &e));
    json_decref(data);
}

static void out_rpc_err(struct tn_mcp_http_out *out, json_t *id, struct tn_rpc_err *e)
{
    out_json(out, e->http, tn_rpc_error_body(id, e));
    json_decref(e->data);
    e->data = NULL;
}

/* Points the context's borrowed values (client capabilities, progress token) into
 * `msg`, as serve_legacy and serve_modern derived them from the request: for a copy of
 * it that outlives the request. */
void tn_mcp_ctx_point_into(struct tn_mcp_ctx *c, json_t *msg)
{
    json_t *params = json_object_get(msg, "params");
    json_t *meta = json_object_get(params, "_meta");
    json_t *pt = json_object_get(meta, "progressToken");
    c->progress_token = pt && (json_is_string(pt) || json_is_integer(pt)) ? pt : NULL;
    if (c->era == TN_MCP_MODERN)
        c->client_caps = json_object_get(meta, TN_META_CLIENT_CAPS);
    else if (c->client_caps) /* initialize's */
        c->client_caps = json_object_get(params, "capabilities");
}

static bool is_claim(json_t *params)
{
    json_t *meta = params ? json_object_get(params, "_meta") : NULL;
    return json_is_object(meta) && json_object_get(meta, TN_META_PROTOCOL_VERSION) != NULL;
}

/* Sends a finished message as the only event of an SSE response (clients that accept
 * only text/event-stream). The event is complete before anything is sent, so it goes
 * as one body with its length rather than as a stream: the client sees the same event
 * and the end of the response, the server writes it the way it writes a JSON answer
 * (a stream costs a chunked response, a reader callback and a resume: twice the CPU of
 * a JSON answer in bench/run). */
static void out_message(struct tn_mcp_http_out *out, struct tn_mcp_accept acc, int http,
                        json_t *msg)
{
    if (http == 200 && !acc.json && acc.sse && msg) {
        out->status = 200;
        out->content_type = "text/event-stream";
        tn_buf_reset(&out->body);
        if (tn_buf_puts(&out->body, "event: message\ndata: ") == TN_OK &&
            tn_json_dump(msg, &out->body) == TN_OK && tn_buf_puts(&out->body, "\n\n") == TN_OK) {
            json_decref(msg);
            return;
        }
    }
    out_json(out, http, msg);
}

/* Runs the method and answers: a result written straight into the body (write_result),
 * anything else built as a message and written by out_message. */
static void answer(struct tn_mcp_http_out *out, struct tn_mcp_accept acc, struct tn_mcp_ctx *c,
                   const struct method *m, json_t *id, json_t *params,
                   const struct tn_mcp_http_in *in)
{
    struct tn_rpc_err e = {0};
    struct tn_arena_scope outer = tn_arena_json_enter(tn_arena_json_current(), m->arena);
    json_t *r = run_method(c, m, params, in, &e);
    bool sse = !acc.json && acc.sse; /* as out_message decides */
    json_t *msg = NULL;
    int http = 200;
    tn_buf_reset(&out->body);
    if (r && (!sse || tn_buf_puts(&out->body, "event: message\ndata: ") == TN_OK) &&
        write_result(&out->body, c, m, id, r) &&
        (!sse || tn_buf_puts(&out->body, "\n\n") == TN_OK)) {
        out->status = 200;
        out->content_type = sse ? "text/event-stream" : "application/json";
        json_decref(r);
    } else {
        tn_buf_reset(&out->body);
        msg = message_of(c, m, id, r, &e, &http);
    }
    json_decref(e.data);
    tn_arena_json_leave(outer);
    if (msg)
        out_message(out, acc, http, msg);
}

/* A call parsed and checked on the HTTP worker, waiting for its transport to serve it
 * where waiting is fine (out->offload): the second tn_mcp_handle only dispatches it. */
struct tn_mcp_parked {
    struct tn_arena *arena; /* where msg lives; NULL: the heap */
    json_t *msg;
    const struct method *m;
    struct tn_mcp_accept acc;
    struct tn_mcp_ctx ctx; /* principal and subject are the second call's in's */
};

void tn_mcp_parked_free(void *parked)
{
    struct tn_mcp_parked *p = parked;
    if (!p)
        return;
    struct tn_arena_scope outer = tn_arena_json_enter(p->arena, false);
    json_decref(p->msg);
    tn_arena_json_leave(outer);
    free(p);
}

/* Answers with out->offload, parking the call in out->parked (left NULL when out of
 * memory: the second call then parses the request again). */
static void park(struct tn_mcp_http_out *out, const struct tn_mcp_http_in *in,
                 const struct tn_mcp_ctx *c, const struct method *m, json_t *msg,
                 struct tn_mcp_accept acc)
{
    out->offload = true;
    struct tn_mcp_parked *p = calloc(1, sizeof *p);
    if (!p)
        return;
    /* without a caller's arena the request's is this call's own: copy to the heap */
    p->arena = in->arena;
    p->msg = in->arena ? json_incref(msg) : json_deep_copy(msg);
    if (!p->msg) {
        free(p);
        return;
    }
    p->m = m;
    p->acc = acc;
    p->ctx = *c;
    p->ctx.principal = NULL;
    p->ctx.subject = NULL;
    out->parked = p;
}

/* The second call of a parked call: what serve_call would have done next. */
static void serve_parked(const struct tn_mcp_http_in *in, struct tn_mcp_http_out *out,
                         struct tn_mcp_parked *p)
{
    struct tn_mcp_ctx c = p->ctx;
    c.principal = in->principal;
    c.subject = in->subject;
    tn_mcp_ctx_point_into(&c, p->msg);
    answer(out, p->acc, &c, p->m, json_object_get(p->msg, "id"), json_object_get(p->msg, "params"),
           in);
    tn_strlcpy(out->step_up_scope, c.step_up, sizeof out->step_up_scope);
    json_decref(c.state);
}

/* True for a call of a tool that waits (a write, a search): it leaves the event loop. */
static bool call_waits(struct tn_mcp_server *s, json_t *msg)
{
    const char *method = json_string_value(json_object_get(msg, "method"));
    if (!method || strcmp(method, "tools/call"))
        return false;
    json_t *nm = json_object_get(json_object_get(msg, "params"), "name");
    const struct tool_entry *t = json_is_string(nm) ? tn_mcp_tool_find(s, json_string_value(nm))
                                                    : NULL;
    return t && t->def->waits;
}

static void serve_call(struct tn_mcp_server *s, const struct tn_mcp_http_in *in,
                       struct tn_mcp_http_out *out, struct tn_mcp_accept acc, struct tn_mcp_ctx *c,
                       const struct method *m, json_t *msg)
{
    json_t *id = json_object_get(msg, "id");
    json_t *params = json_object_get(msg, "params");
    bool stream = false;
    if (m->fn == m_tools_call && acc.sse) {
        json_t *nm = params ? json_object_get(params, "name") : NULL;
        const struct tool_entry *t = json_is_string(nm) ? tn_mcp_tool_find(s, json_string_value(nm))
                                                        : NULL;
        bool logs = c->era == TN_MCP_LEGACY || c->log_level >= 0;
        stream = t && (c->progress_token || (t->def->streams && logs));
    }
    if (stream) {
        struct tn_rpc_err e = {0};
        if (!tn_mcp_tools_precheck(c, params, in, &e)) {
            tn_strlcpy(out->step_up_scope, c->step_up, sizeof out->step_up_scope);
            out_rpc_err(out, id, &e);
            return;
        }
        if (atomic_fetch_add(&s->n_streaming, 1) >= s->info.max_streaming) {
            atomic_fetch_sub(&s->n_streaming, 1);
            tn_mcp_out_error(out, id, 503, TN_ERR_BUSY, NULL,
                             "Server busy: too many streamed requests");
            return;
        }
        struct job *j = tn_mcp_job_new(s, c, m, msg);
        enum tn_err rc = j ? tn_mcp_job_link(s, j) : TN_ERR_NOMEM;
        if (rc != TN_OK) {
            if (j)
                tn_mcp_job_release(j);
            atomic_fetch_sub(&s->n_streaming, 1);
            if (rc == TN_ERR_TOO_MANY_STREAMS)
                tn_mcp_out_error(
                    out, id, tn_err_http_status(rc), rc, NULL,
                    "Too many streamed calls under way: at most %u per user; wait for one "
                    "to finish",
                    s->info.max_streams_per_subject);
            else
                tn_mcp_out_error(out, id, 503, TN_ERR_BUSY, NULL, "Server busy");
            return;
        }
        struct tn_sink *sink = in->open_stream(in->ud);
        if (!sink || !tn_mcp_job_run(j, c, sink)) {
            tn_mcp_job_unlink(s, j);
            tn_mcp_job_release(j);
            atomic_fetch_sub(&s->n_streaming, 1);
            if (sink) {
                tn_sink_close(sink);
                out->streamed = true;
                return;
            }
            tn_mcp_out_error(out, id, 503, TN_ERR_BUSY, NULL, "Server busy");
            return;
        }
        out->streamed = true;
        out->status = 200;
        return;
    }
    if (m->fn == m_tools_call && in->can_offload && call_waits(s, msg)) {
        park(out, in, c, m, msg, acc);
        return;
    }
    answer(out, acc, c, m, id, params, in);
    tn_strlcpy(out->step_up_scope, c->step_up, sizeof out->step_up_scope);
}

static void serve_legacy(struct tn_mcp_server *s, const struct tn_mcp_http_in *in,
                         struct tn_mcp_http_out *out, struct tn_mcp_accept acc, json_t *msg,
                         const char *version, bool is_request)
{
    if (!is_request) {
        /* notifications and client responses: accepted, no body */
        if (!json_object_get(msg, "method") && !tn_mcp_deliver_response(s, msg, in->subject)) {
            tn_mcp_out_error(out, json_object_get(msg, "id"), 400, TN_ERR_INVALID_REQUEST, NULL,
                             "Invalid Request: no request of yours is waiting for this response");
            return;
        }
        out->status = 202;
        out->content_type = NULL;
        return;
    }
    json_t *id = json_object_get(msg, "id");
    json_t *params = json_object_get(msg, "params");
    const char *method = json_string_value(json_object_get(msg, "method"));
    struct tn_mcp_ctx c = {
        .srv = s,
        .principal = in->principal,
        .subject = in->subject,
        .era = TN_MCP_LEGACY,
        .version = version,
        .log_level = 0, /* stateless: logging/setLevel cannot persist, so send all */
        .last_progress = -1,
    };
    json_t *meta = params ? json_object_get(params, "_meta") : NULL;
    json_t *pt = meta ? json_object_get(meta, "progressToken") : NULL;
    if (pt && (json_is_string(pt) || json_is_integer(pt)))
        c.progress_token = pt;
    if (!strcmp(method, "initialize"))
        c.client_caps = json_object_get(params, "capabilities");
    const struct method *m = find_method(s, method, LEGACY);
    if (!m) {
        tn_metrics_mcp(NULL, false);
        tn_mcp_out_error(out, id, 200, TN_ERR_METHOD_NOT_FOUND, NULL, "Method not found: %s",
                         method);
        return;
    }
    serve_call(s, in, out, acc, &c, m, msg);
    json_decref(c.state);
}

/* subscriptions/listen: authorized before the stream opens, so that a refusal has its
 * HTTP status; the listener keeps its own copies of id and params. */
static void serve_listen(struct tn_mcp_server *s, const struct tn_mcp_http_in *in,
                         struct tn_mcp_http_out *out, struct tn_mcp_ctx *c, json_t *id,
                         json_t *params)
{
    struct tn_mcp_access a = s->listen_access;
    a.kind = TN_MCP_ACCESS_LISTEN;
    a.name = "subscriptions/listen";
    struct tn_rpc_err e = {0};
    if (!tn_mcp_access_check(c, &a, &e)) {
        tn_strlcpy(out->step_up_scope, c->step_up, sizeof out->step_up_scope);
        out_rpc_err(out, id, &e);
        return;
    }
    struct tn_sink *sink = in->open_stream(in->ud);
    if (!sink) {
        tn_mcp_out_error(out, id, 503, TN_ERR_BUSY, NULL, "Server busy: too many open streams");
        return;
    }
    out->streamed = true;
    out->status = 200;
    /* the stream outlives the request and its arena */
    json_t *own_id = json_deep_copy(id), *own_params = json_deep_copy(params);
    tn_mcp_listen_start(s, c, own_id, own_params, sink);
    json_decref(own_id);
    json_decref(own_params);
}

static void serve_modern(struct tn_mcp_server *s, const struct tn_mcp_http_in *in,
                         struct tn_mcp_http_out *out, struct tn_mcp_accept acc, json_t *msg,
                         bool is_request)
{
    json_t *id = json_object_get(msg, "id");
    json_t *params = json_object_get(msg, "params");
    const char *method = json_string_value(json_object_get(msg, "method"));
    json_t *meta = json_object_get(params, "_meta");
    if (!tn_mcp_modern_meta_ok(out, id, meta))
        return;
    const char *version = json_string_value(json_object_get(meta, TN_META_PROTOCOL_VERSION));
    if (!tn_mcp_modern_headers_ok(in, out, id, version, method, params))
        return;
    const char *v = modern_version(version);
    if (!v) {
        tn_mcp_out_error(
            out, id, 400, TN_ERR_UNSUPPORTED_VERSION,
            json_pack("{s:o, s:s}", "supported", versions_json(), "requested", version),
            "Unsupported protocol version: %s", version);
        return;
    }
    int log_level;
    if (!tn_mcp_modern_log_level(out, id, meta, &log_level))
        return;
    if (!is_request) {
        if (!method) {
            /* a response: this era sends no requests to the client (MRTR instead) */
            tn_mcp_out_error(out, id, 400, TN_ERR_INVALID_REQUEST, NULL,
                             "Invalid Request: no request of yours is waiting for this response");
            return;
        }
        out->status = 202;
        out->content_type = NULL;
        return;
    }
    struct tn_mcp_ctx c = {
        .srv = s,
        .principal = in->principal,
        .subject = in->subject,
        .era = TN_MCP_MODERN,
        .version = v,
        .log_level = log_level,
        .last_progress = -1,
    };
    tn_mcp_ctx_point_into(&c, msg);
    if (!strcmp(method, "subscriptions/listen")) {
        serve_listen(s, in, out, &c, id, params);
        tn_metrics_mcp(method, out->streamed);
        return;
    }
    const struct method *m = find_method(s, method, MODERN);
    if (!m) {
        tn_metrics_mcp(NULL, false);
        tn_mcp_out_error(out, id, 404, TN_ERR_METHOD_NOT_FOUND, NULL, "Method not found");
        return;
    }
    serve_call(s, in, out, acc, &c, m, msg);
    json_decref(c.state);
}

static void serve_batch(struct tn_mcp_server *s, const struct tn_mcp_http_in *in,
                        struct tn_mcp_http_out *out, json_t *batch)
{
    const char *hv = in->header(in->ud, TN_HDR_PROTOCOL_VERSION);
    char *hdec = hv ? tn_mcp_header_decode(hv) : NULL;
    const char *version = hdec ? legacy_version(hdec) : TN_LEGACY_DEFAULT_VERSION;
    if (hv && (!version || (strcmp(version, "2025-03-26") && strcmp(version, "2024-11-05")))) {
        tn_mcp_out_error(out, NULL, 400, TN_ERR_INVALID_REQUEST, NULL,
                         "Invalid Request: batches are not supported in protocol version %s",
                         hdec ? hdec : "(invalid)");
        goto done;
    }
    if (json_array_size(batch) == 0) {
        tn_mcp_out_error(out, NULL, 400, TN_ERR_INVALID_REQUEST, NULL,
                         "Invalid Request: empty batch");
        goto done;
    }
    if (json_array_size(batch) > TN_MCP_MAX_BATCH) {
        tn_mcp_out_error(out, NULL, 400, TN_ERR_INVALID_REQUEST, NULL,
                         "Invalid Request: a batch holds at most %d messages", TN_MCP_MAX_BATCH);
        goto done;
    }
    size_t i;
    json_t *msg;
    bool waits = false;
    json_array_foreach(batch, i, msg) {
        if (json_is_object(msg) && is_claim(json_object_get(msg, "params"))) {
            tn_mcp_out_error(out, NULL, 400, TN_ERR_INVALID_REQUEST, NULL,
                             "Invalid Request: 2026-07-28 requests cannot be batched");
            goto done;
        }
        waits = waits || call_waits(s, msg);
    }
    if (waits && in->can_offload) { /* served whole on the blocking pool, parsed again there */
        out->offload = true;
        goto done;
    }
    json_t *replies = json_array();
    json_array_foreach(batch, i, msg) {
        struct tn_rpc_err e = {0};
        bool is_req, is_note;
        json_t *id = json_is_object(msg) ? json_object_get(msg, "id") : NULL;
        if (id && !json_is_string(id) && !json_is_integer(id))
            id = NULL;
        if (!tn_rpc_envelope_ok(msg, &e, &is_req, &is_note)) {
            json_array_append_new(replies, tn_rpc_error_body(id, &e));
            continue;
        }
        if (!is_req)
            continue;
        const char *method = json_string_value(json_object_get(msg, "method"));
        if (!strcmp(method, "initialize")) {
            tn_rpc_err_set(&e, 200, tn_err_jsonrpc(TN_ERR_INVALID_REQUEST), NULL,
                           "Invalid Request: initialize must not be batched");
            json_array_append_new(replies, tn_rpc_error_body(id, &e));
            continue;
        }
        const struct method *m = find_method(s, method, LEGACY);
        if (!m) {
            tn_metrics_mcp(NULL, false);
            tn_rpc_err_set(&e, 200, tn_err_jsonrpc(TN_ERR_METHOD_NOT_FOUND), NULL,
                           "Method not found: %s", method);
            json_array_append_new(replies, tn_rpc_error_body(id, &e));
            continue;
        }
        struct tn_mcp_ctx c = {.srv = s,
                               .principal = in->principal,
                               .subject = in->subject,
                               .era = TN_MCP_LEGACY,
                               .version = version,
                               .log_level = -1,
                               .last_progress = -1};
        int http;
        json_array_append_new(
            replies, tn_mcp_dispatch(&c, m, id, json_object_get(msg, "params"), in, &http));
        json_decref(c.state);
    }
    if (json_array_size(replies) == 0) {
        json_decref(replies);
        out->status = 202;
        out->content_type = NULL;
    } else {
        out_json(out, 200, replies);
    }
done:
    free(hdec);
}

/* An error of the HTTP exchange itself, its status from the error table. */
#define out_http_error(out, err, ...) \
    tn_mcp_out_error((out), NULL, tn_err_http_status(err), (err), NULL, __VA_ARGS__)

/* One JSON-RPC message (not a batch): its era, its version, then its service. */
static void serve_single(struct tn_mcp_server *s, const struct tn_mcp_http_in *in,
                         struct tn_mcp_http_out *out, struct tn_mcp_accept acc, json_t *msg)
{
    char *hdec = NULL;
    json_t *id = json_is_object(msg) ? json_object_get(msg, "id") : NULL;
    if (id && !json_is_string(id) && !json_is_integer(id))
        id = NULL;
    bool is_req, is_note;
    struct tn_rpc_err e = {0};
    if (!tn_rpc_envelope_ok(msg, &e, &is_req, &is_note)) {
        out_rpc_err(out, id, &e);
        goto done;
    }
    if (is_claim(json_object_get(msg, "params"))) {
        serve_modern(s, in, out, acc, msg, is_req);
        goto done;
    }
    const char *method = json_string_value(json_object_get(msg, "method"));
    const char *hv = in->header(in->ud, TN_HDR_PROTOCOL_VERSION);
    hdec = hv ? tn_mcp_header_decode(hv) : NULL;
    if (method && !strcmp(method, "initialize")) {
        if (hdec && modern_version(hdec))
            tn_mcp_out_error(out, id, 400, TN_ERR_HEADER_MISMATCH, NULL,
                             "Header mismatch: initialize is not part of protocol version %s",
                             hdec);
        else
            serve_legacy(s, in, out, acc, msg, TN_LEGACY_LATEST, is_req);
        goto done;
    }
    if (hdec && modern_version(hdec)) {
        tn_mcp_out_error(out, id, 400, TN_ERR_INVALID_PARAMS, NULL,
                         "Invalid params: a %s request must carry _meta[\"%s\"]", hdec,
                         TN_META_PROTOCOL_VERSION);
        goto done;
    }
    const char *version = hv ? legacy_version(hdec) : TN_LEGACY_DEFAULT_VERSION;
    if (!version) {
        out_http_error(out, TN_ERR_BAD_REQUEST,
                       "Bad Request: Unsupported protocol version: %s (supported versions: "
                       "2025-11-25, 2025-06-18, 2025-03-26, 2024-11-05)",
                       hdec ? hdec : "(invalid)");
        goto done;
    }
    serve_legacy(s, in, out, acc, msg, version, is_req);
done:
    free(hdec);
}

/* The request, with the HTTP checks first; `a` is the request's arena. */
static void handle(struct tn_mcp_server *s, const struct tn_mcp_http_in *in,
                   struct tn_mcp_http_out *out, struct tn_arena *a)
{
    json_t *msg = NULL;
    if (strcmp(in->method, "POST") != 0) {
        /* Stateless: no GET stream, no session to DELETE. */
        out->allow = "POST";
        out_http_error(out, TN_ERR_METHOD_NOT_ALLOWED, "Method not allowed.");
        goto done;
    }
    const char *ct = in->header(in->ud, "Content-Type");
    if (!ct || !tn_mcp_media_is(ct, "application/json")) {
        out_http_error(out, TN_ERR_UNSUPPORTED_MEDIA_TYPE,
                       "Unsupported Media Type: Content-Type must be application/json");
        goto done;
    }
    struct tn_mcp_accept acc = tn_mcp_parse_accept(in->header(in->ud, "Accept"));
    if (!acc.json && !acc.sse) {
        out_http_error(out, TN_ERR_NOT_ACCEPTABLE,
                       "Not Acceptable: Accept must allow application/json or text/event-stream");
        goto done;
    }
    struct tn_rpc_err e = {0};
    struct tn_arena_scope outer = tn_arena_json_enter(a, true); /* the parse, in the arena */
    msg = tn_rpc_parse(in->body, s->info.json_max_depth, s->info.json_max_string, &e);
    tn_arena_json_leave(outer);
    if (!msg)
        out_rpc_err(out, NULL, &e);
    else if (json_is_array(msg))
        serve_batch(s, in, out, msg);
    else
        serve_single(s, in, out, acc, msg);
done:
    json_decref(msg);
}

void tn_mcp_handle(struct tn_mcp_server *s, const struct tn_mcp_http_in *in,
                   struct tn_mcp_http_out *out)
{
    out->streamed = false;
    out->offload = false;
    out->allow = NULL;
    out->parked = NULL;
    /* Request-scoped JSON lives in the caller's arena, or in one of this call's own. */
    struct tn_arena own;
    struct tn_arena *a = in->arena;
    if (!a) {
        tn_arena_init(&own, NULL, 0);
        a = &own;
    }
    struct tn_arena_scope outer = tn_arena_json_enter(a, false);
    if (in->parked) /* the second call of an offloaded request: parsed and checked */
        serve_parked(in, out, in->parked);
    else
        handle(s, in, out, a);
    tn_arena_json_leave(outer);
    if (a == &own)
        tn_arena_deinit(&own);
}
