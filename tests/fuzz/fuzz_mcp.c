/* Fuzz target: the MCP endpoint (tn_mcp_handle) of both protocol eras, without sockets.
 *
 * Input: an HTTP request in a small text form
 *
 *     Name: value            one header per line ("\n" or "\r\n"), until a blank line;
 *     Name: value            names are matched case-insensitively, the first one wins
 *                            (leading spaces and tabs of a value are dropped)
 *
 *     <body>                 everything after the blank line (no blank line: no body)
 *
 * plus pseudo-headers that steer the fake HTTP layer (a real client cannot send a
 * header name starting with ':'):
 *     :method: GET          the HTTP method (default POST)
 *     :subject: alice       the authenticated caller's key (default "user-1"); "admin"
 *                           passes the scope gate
 *     :no-stream: 1         open_stream fails (as when the server is out of streams)
 *     :disconnect: 1        the client is gone as soon as a stream is opened
 *     :anonymous: 1         no principal (default: an authenticated caller)
 *     :notify: 1            after the request, the server sends every kind of
 *                           notification (a tool and a prompt disabled and enabled
 *                           again, resources changed and updated) to open listen streams
 *     :shutdown: 1          after the request, the server ends every listen stream
 *     :recheck: 1           after the request, the server authorizes its open streams
 *                           again (tn_mcp_recheck; the caller "revoked" is refused then)
 * (FUZZ_MCP_TRACE=1 prints every answer and frame, to check what a seed reaches.)
 *
 * The server has a rich tool ("search": nested schema with x-mcp-header properties,
 * $ref, oneOf, if/then, patterns), an MRTR tool ("confirm", input_required with sealed
 * state), a streaming tool ("count": progress, logs, a server-to-client request on the
 * 2025 path, structured output checked against an output schema), two tools behind the
 * authorization gate, a static resource, a resource template behind the gate, a
 * resource provider with paging, two prompts and completions. Page size is 2 so cursors
 * appear.
 *
 * Streamed answers go to an in-memory sink. Before returning, the harness joins every
 * thread the request started (pthread_create is wrapped at link time,
 * -Wl,--wrap=pthread_create, so the server's detached job threads become joinable
 * ones), then plays the end of the HTTP response (the sink's "gone" callback), so each
 * input runs to completion and nothing outlives it.
 *
 * Contract checks: a sink is opened iff out.streamed; every SSE frame is one JSON-RPC
 * 2.0 object on one line; a non-streamed body is empty or one JSON value and 202 has no
 * body; a streamed call's sink ends closed; after the request no listener, no streamed
 * call, no pending server-to-client request and no sink reference is left over. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "core/log.h"
#include "core/util.h"
#include "mcp/internal.h"
#include "mcp/mcp.h"

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "fuzz_mcp: check failed at line %d: %s\n", __LINE__, #cond); \
            abort();                                                                     \
        }                                                                                \
    } while (0)

#define MAX_INPUT (256 * 1024)
#define MAX_HEADERS 32
#define MAX_THREADS 16

/* ---------- joinable job threads ---------- */

int __real_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *),
                          void *arg);

static _Thread_local bool capturing; /* only threads started by tn_mcp_handle */
static pthread_mutex_t threads_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_t threads[MAX_THREADS];
static size_t n_threads;

int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *),
                          void *arg)
{
    if (!capturing)
        return __real_pthread_create(t, attr, fn, arg);
    pthread_attr_t a;
    size_t stack = 0;
    pthread_attr_init(&a);
    if (attr && pthread_attr_getstacksize(attr, &stack) == 0 && stack)
        pthread_attr_setstacksize(&a, stack); /* keep the server's stack size */
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_JOINABLE);
    int rc = __real_pthread_create(t, &a, fn, arg);
    pthread_attr_destroy(&a);
    if (rc == 0) {
        pthread_mutex_lock(&threads_mu);
        CHECK(n_threads < MAX_THREADS);
        threads[n_threads++] = *t;
        pthread_mutex_unlock(&threads_mu);
    }
    return rc;
}

static void join_threads(void)
{
    for (;;) {
        pthread_t t;
        pthread_mutex_lock(&threads_mu);
        bool any = n_threads > 0;
        if (any)
            t = threads[--n_threads];
        pthread_mutex_unlock(&threads_mu);
        if (!any)
            return;
        /* A job that never ends is a bug; name it rather than wait for -timeout. */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 5;
        if (pthread_timedjoin_np(t, NULL, &until) != 0) {
            fprintf(stderr, "fuzz_mcp: a streamed job did not finish within 5 s\n");
            abort();
        }
    }
}

/* ---------- an in-memory SSE sink ---------- */

struct mem_sink {
    struct tn_sink base;
    pthread_mutex_t mu;
    bool closed, gone;
    int refs;
    size_t frames;
    void (*gone_fn)(void *);
    void *gone_ud;
};

static bool trace; /* FUZZ_MCP_TRACE=1: print each answer (to check the seeds) */

static enum tn_err ms_send(struct tn_sink *s, const char *d, size_t n)
{
    struct mem_sink *m = (struct mem_sink *)s;
    if (trace)
        fprintf(stderr, "  frame: %.*s\n", (int)n, d);
    /* One JSON-RPC message per frame, on one line (an SSE data: line). */
    CHECK(d && n > 0 && !memchr(d, '\n', n) && !memchr(d, '\r', n));
    json_t *msg = json_loadb(d, n, 0, NULL);
    CHECK(json_is_object(msg));
    json_t *v = json_object_get(msg, "jsonrpc");
    CHECK(json_is_string(v) && strcmp(json_string_value(v), "2.0") == 0);
    json_decref(msg);
    pthread_mutex_lock(&m->mu);
    enum tn_err rc = m->closed || m->gone ? TN_ERR_CANCELLED : TN_OK;
    if (rc == TN_OK)
        m->frames++;
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static void ms_close(struct tn_sink *s)
{
    struct mem_sink *m = (struct mem_sink *)s;
    pthread_mutex_lock(&m->mu);
    m->closed = true;
    pthread_mutex_unlock(&m->mu);
}

static bool ms_closed(struct tn_sink *s)
{
    struct mem_sink *m = (struct mem_sink *)s;
    pthread_mutex_lock(&m->mu);
    bool r = m->closed || m->gone;
    pthread_mutex_unlock(&m->mu);
    return r;
}

static void ms_on_gone(struct tn_sink *s, void (*fn)(void *), void *ud)
{
    struct mem_sink *m = (struct mem_sink *)s;
    pthread_mutex_lock(&m->mu);
    bool now = m->gone;
    CHECK(now || m->gone_fn == NULL); /* one callback per sink */
    if (!now) {
        m->gone_fn = fn;
        m->gone_ud = ud;
    }
    pthread_mutex_unlock(&m->mu);
    if (now)
        fn(ud);
}

static void ms_retain(struct tn_sink *s)
{
    struct mem_sink *m = (struct mem_sink *)s;
    pthread_mutex_lock(&m->mu);
    CHECK(m->refs > 0);
    m->refs++;
    pthread_mutex_unlock(&m->mu);
}

static void ms_release(struct tn_sink *s)
{
    struct mem_sink *m = (struct mem_sink *)s;
    pthread_mutex_lock(&m->mu);
    CHECK(m->refs > 1); /* the harness holds the last reference */
    m->refs--;
    pthread_mutex_unlock(&m->mu);
}

static const struct tn_sink_ops ms_ops = {ms_send, ms_close, ms_closed,
                                          ms_on_gone, ms_retain, ms_release};

/* The client left, or the response ended: fire the callback once. */
static void ms_gone(struct mem_sink *m)
{
    pthread_mutex_lock(&m->mu);
    void (*fn)(void *) = m->gone ? NULL : m->gone_fn;
    void *ud = m->gone_ud;
    m->gone = true;
    m->gone_fn = NULL;
    pthread_mutex_unlock(&m->mu);
    if (fn)
        fn(ud);
}

/* ---------- the fake request ---------- */

struct req {
    char *names[MAX_HEADERS], *values[MAX_HEADERS];
    size_t n;
    char *body;
    size_t body_len;
    struct mem_sink *sink;
    unsigned stream_calls;
    bool no_stream, disconnect;
};

static const char *req_header(void *ud, const char *name)
{
    struct req *r = ud;
    for (size_t i = 0; i < r->n; i++)
        if (strcasecmp(r->names[i], name) == 0)
            return r->values[i];
    return NULL;
}

static struct tn_sink *req_stream(void *ud)
{
    struct req *r = ud;
    r->stream_calls++;
    CHECK(r->stream_calls == 1); /* one response, one stream */
    if (r->no_stream)
        return NULL;
    struct mem_sink *m = calloc(1, sizeof *m);
    CHECK(m);
    m->base.ops = &ms_ops;
    pthread_mutex_init(&m->mu, NULL);
    m->refs = 1; /* the response's, held by the harness */
    m->gone = r->disconnect;
    r->sink = m;
    return &m->base;
}

static void req_parse(struct req *r, const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    bool blank = false;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        size_t len = (size_t)(le - p);
        if (len && p[len - 1] == '\r')
            len--;
        const char *line = p;
        p = nl ? nl + 1 : end;
        if (len == 0) {
            blank = true;
            break;
        }
        const char *colon = len > 1 ? memchr(line + 1, ':', len - 1) : NULL;
        if (!colon || r->n == MAX_HEADERS)
            continue;
        const char *v = colon + 1;
        while (v < line + len && (*v == ' ' || *v == '\t'))
            v++;
        r->names[r->n] = strndup(line, (size_t)(colon - line));
        r->values[r->n] = strndup(v, (size_t)(line + len - v));
        CHECK(r->names[r->n] && r->values[r->n]);
        r->n++;
    }
    r->body_len = blank ? (size_t)(end - p) : 0;
    r->body = malloc(r->body_len ? r->body_len : 1); /* exact size: over-reads show */
    CHECK(r->body);
    memcpy(r->body, p, r->body_len);
}

static void req_free(struct req *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->names[i]);
        free(r->values[i]);
    }
    free(r->body);
    if (r->sink) {
        pthread_mutex_destroy(&r->sink->mu);
        free(r->sink);
    }
}

/* ---------- the server under test ---------- */

/* The caller. The core never looks inside a principal, only passes the pointer on and
 * counts references for calls that outlive the request. */
static const char principal_storage[] = "principal";
#define PRINCIPAL ((const struct tn_principal *)(const void *)principal_storage)
static atomic_int principal_refs;

static void principal_retain(const struct tn_principal *p)
{
    CHECK(p == PRINCIPAL);
    atomic_fetch_add(&principal_refs, 1);
}

static void principal_release(const struct tn_principal *p)
{
    CHECK(p == PRINCIPAL);
    CHECK(atomic_fetch_sub(&principal_refs, 1) > 0);
}

static json_t *t_search(struct tn_mcp_ctx *c, json_t *args, void *ud)
{
    (void)ud;
    json_t *q = json_object_get(args, "query");
    if (tn_mcp_ctx_client_has(c, "sampling"))
        return tn_mcp_result_text("search with sampling");
    return tn_mcp_result_text(json_is_string(q) ? json_string_value(q) : "");
}

static json_t *t_confirm(struct tn_mcp_ctx *c, json_t *args, void *ud)
{
    (void)ud;
    json_t *answer = tn_mcp_ctx_input_response(c, "confirm");
    json_t *st = tn_mcp_ctx_request_state(c);
    if (!answer) {
        json_t *reqs = json_pack("{s:{s:s, s:{s:s, s:s}}}", "confirm", "method",
                                 "elicitation/create", "params", "mode", "form", "message",
                                 "Delete the note?");
        if (json_is_true(json_object_get(args, "deep"))) {
            json_object_set_new(reqs, "why", json_pack("{s:s, s:{s:[], s:i}}", "method",
                                                       "sampling/createMessage", "params",
                                                       "messages", "maxTokens", 10));
            json_object_set_new(reqs, "where", json_pack("{s:s}", "method", "roots/list"));
        }
        return tn_mcp_result_input_required(reqs, json_pack("{s:i}", "round", 1));
    }
    json_t *action = json_object_get(answer, "action");
    return tn_mcp_result_structured(
        json_pack("{s:b, s:b}", "confirmed",
                  json_is_string(action) && !strcmp(json_string_value(action), "accept"),
                  "stateful", st && json_integer_value(json_object_get(st, "round")) == 1));
}

static json_t *t_count(struct tn_mcp_ctx *c, json_t *args, void *ud)
{
    (void)ud;
    json_int_t to = json_integer_value(json_object_get(args, "to"));
    if (to < 0 || to > 5)
        to = 3;
    for (json_int_t i = 0; i <= to && !tn_mcp_ctx_cancelled(c); i++) {
        tn_mcp_ctx_progress(c, (double)i, (double)to, i == to ? "done" : NULL);
        tn_mcp_ctx_log(c, (enum tn_mcp_log_level)(i % 8), "count", json_integer(i));
    }
    if (json_is_true(json_object_get(args, "ask"))) {
        /* Times out at once: only the 2025 path's bookkeeping runs. */
        struct tn_buf why;
        tn_buf_init(&why, 256);
        json_t *r = tn_mcp_ctx_client_request(c, "roots/list", NULL, 0, &why);
        json_decref(r);
        tn_buf_deinit(&why);
    }
    if (json_is_true(json_object_get(args, "broken")))
        return tn_mcp_result_structured(json_pack("{s:s}", "n", "not a number"));
    return tn_mcp_result_structured(json_pack("{s:I}", "n", to));
}

static json_t *t_plain(struct tn_mcp_ctx *c, json_t *args, void *ud)
{
    (void)c, (void)args;
    return ud ? NULL : tn_mcp_result_text("ok"); /* ud set: an internal failure */
}

static const struct tn_mcp_tool tools[] = {
    {.name = "search", .title = "Search notes", .description = "Full-text search",
     .input_schema =
         "{\"type\":\"object\",\"required\":[\"query\"],\"additionalProperties\":false,"
         "\"properties\":{"
         "\"query\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":200,\"pattern\":\"^[^<>]*$\"},"
         "\"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":100,\"x-mcp-header\":\"Limit\"},"
         "\"region\":{\"type\":\"string\",\"enum\":[\"eu\",\"us\",\"ap\"],\"x-mcp-header\":\"Region\"},"
         "\"exact\":{\"type\":\"boolean\",\"x-mcp-header\":\"Exact\"},"
         "\"owner\":{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
         "\"id\":{\"type\":\"string\",\"x-mcp-header\":\"Owner-Id\"},\"team\":{\"type\":\"string\"}}},"
         "\"tags\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/tag\"},\"uniqueItems\":true,\"maxItems\":8},"
         "\"range\":{\"type\":\"array\",\"prefixItems\":[{\"type\":\"number\"},{\"type\":\"number\"}],\"items\":false},"
         "\"score\":{\"type\":\"number\",\"exclusiveMinimum\":0,\"multipleOf\":0.5},"
         "\"sort\":{\"oneOf\":[{\"const\":\"date\"},{\"const\":\"title\"},"
         "{\"type\":\"object\",\"required\":[\"field\"],\"properties\":{\"field\":{\"type\":\"string\"}}}]},"
         "\"meta\":{\"type\":\"object\",\"maxProperties\":4,\"additionalProperties\":false,"
         "\"patternProperties\":{\"^x-[a-z]+$\":{\"type\":\"string\"}}}},"
         "\"if\":{\"required\":[\"exact\"],\"properties\":{\"exact\":{\"const\":true}}},"
         "\"then\":{\"required\":[\"region\"]},"
         "\"$defs\":{\"tag\":{\"type\":\"string\",\"pattern\":\"^[a-z0-9-]{1,32}$\"}}}",
     .annotations = {.read_only = 1, .open_world = -1},
     .call = t_search},
    {.name = "confirm", .description = "Asks before deleting (MRTR)",
     .input_schema = "{\"type\":\"object\",\"properties\":{\"deep\":{\"type\":\"boolean\"}}}",
     .output_schema = "{\"type\":\"object\",\"required\":[\"confirmed\"],"
                      "\"properties\":{\"confirmed\":{\"type\":\"boolean\"}}}",
     .annotations = {.destructive = 1},
     .call = t_confirm},
    {.name = "count", .description = "Counts with progress", .streams = true,
     .input_schema = "{\"type\":\"object\",\"properties\":{\"to\":{\"type\":\"integer\"},"
                     "\"ask\":{\"type\":\"boolean\"},\"broken\":{\"type\":\"boolean\"}}}",
     .output_schema = "{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\"}},"
                      "\"required\":[\"n\"]}",
     .call = t_count},
    {.name = "admin_reset", .description = "Needs a scope", .required_scope = "notes:admin",
     .call = t_plain},
    {.name = "purge", .description = "Needs a permission", .required_permission = "notes.purge",
     .requires_client_caps = "elicitation.form,roots", .call = t_plain},
    {.name = "broken", .description = "Fails inside", .call = t_plain, .ud = (void *)1},
};

static enum tn_err gate(const struct tn_mcp_ctx *c, const struct tn_mcp_access *a,
                        struct tn_buf *why, void *ud)
{
    (void)ud;
    bool admin = strcmp(tn_mcp_ctx_subject(c), "admin") == 0;
    if (a->required_scope && !admin) {
        if (why)
            tn_buf_puts(why, a->required_scope);
        return TN_ERR_INSUFFICIENT_SCOPE;
    }
    if (a->required_permission && !admin) {
        if (why)
            tn_buf_printf(why, "You need the %s permission.", a->required_permission);
        return TN_ERR_FORBIDDEN;
    }
    if (a->ongoing && !strcmp(tn_mcp_ctx_subject(c), "revoked")) {
        if (why)
            tn_buf_puts(why, "revoked");
        return TN_ERR_FORBIDDEN;
    }
    return TN_OK;
}

static json_t *contents(const char *uri, const char *text)
{
    return json_pack("{s:[{s:s, s:s, s:s}]}", "contents", "uri", uri, "mimeType", "text/plain",
                     "text", text);
}

static json_t *r_readme(struct tn_mcp_ctx *c, const char *uri, json_t *vars, void *ud)
{
    (void)c, (void)vars, (void)ud;
    return contents(uri, "Team notes");
}

static json_t *r_note(struct tn_mcp_ctx *c, const char *uri, json_t *vars, void *ud)
{
    (void)c, (void)ud;
    const char *owner = json_string_value(json_object_get(vars, "owner"));
    const char *id = json_string_value(json_object_get(vars, "id"));
    if (!owner || !id || !strcmp(id, "missing"))
        return NULL;
    return contents(uri, owner);
}

#define MINE 5
static enum tn_err p_list(struct tn_mcp_ctx *c, const char *cursor, size_t limit, json_t *out,
                          char **next, void *ud)
{
    (void)c, (void)ud;
    unsigned long from = cursor ? strtoul(cursor, NULL, 10) : 0;
    for (unsigned long i = from; i < MINE; i++) {
        if (limit-- == 0) {
            char buf[24];
            snprintf(buf, sizeof buf, "%lu", i);
            *next = strdup(buf);
            return TN_OK;
        }
        char uri[64];
        snprintf(uri, sizeof uri, "notes://mine/%lu", i);
        json_array_append_new(out, json_pack("{s:s, s:s}", "uri", uri, "name", uri + 8));
    }
    return TN_OK;
}

static json_t *p_read(struct tn_mcp_ctx *c, const char *uri, json_t *vars, void *ud)
{
    (void)c, (void)vars, (void)ud;
    const char *n = uri + strlen("notes://mine/");
    return strlen(n) == 1 && n[0] >= '0' && n[0] < '0' + MINE ? contents(uri, n) : NULL;
}

static const struct tn_mcp_resource readme = {
    .uri = "notes://readme", .name = "readme", .title = "Read me", .mime_type = "text/plain",
    .read = r_readme};
static const struct tn_mcp_resource_template note_tpl = {
    .uri_template = "notes://{owner}/n-{id}.md", .name = "note", .description = "A note",
    .mime_type = "text/markdown", .read = r_note, .required_scope = "notes:read"};
static const struct tn_mcp_resource_provider mine = {
    .uri_prefix = "notes://mine/", .list = p_list, .read = p_read};

static json_t *pr_summarize(struct tn_mcp_ctx *c, json_t *args, void *ud)
{
    (void)c, (void)ud;
    const char *topic = json_string_value(json_object_get(args, "topic"));
    return json_pack("{s:[{s:s, s:{s:s, s:s}}]}", "messages", "role", "user", "content", "type",
                     "text", "text", topic ? topic : "");
}

static json_t *pr_interview(struct tn_mcp_ctx *c, json_t *args, void *ud)
{
    (void)args, (void)ud;
    if (!tn_mcp_ctx_input_response(c, "name"))
        return tn_mcp_result_input_required(
            json_pack("{s:{s:s, s:{s:s, s:s}}}", "name", "method", "elicitation/create",
                      "params", "mode", "url", "url", "https://example.com/who"),
            NULL);
    return pr_summarize(c, args, ud);
}

static const struct tn_mcp_prompt_arg summarize_args[] = {
    {"topic", "What to summarise", true}, {"style", NULL, false}, {NULL, NULL, false}};
static const struct tn_mcp_prompt prompts[] = {
    {.name = "summarize", .title = "Summarise", .description = "Summarise notes",
     .args = summarize_args, .get = pr_summarize},
    {.name = "interview", .description = "Asks who you are", .get = pr_interview},
};

static json_t *complete(struct tn_mcp_ctx *c, json_t *ref, const char *arg, const char *value,
                        json_t *context_args, void *ud)
{
    (void)c, (void)ref, (void)context_args, (void)ud;
    if (strcmp(arg, "topic") != 0)
        return NULL;
    json_t *a = json_array();
    for (int i = 0; i < (!strcmp(value, "*") ? 150 : 3); i++) {
        char v[32];
        snprintf(v, sizeof v, "topic-%d", i);
        json_array_append_new(a, json_string(v));
    }
    return a;
}

static struct tn_mcp_server *srv;

static void setup(void)
{
    static const uint8_t secret[32] = "fuzz-fuzz-fuzz-fuzz-fuzz-fuzz-!";
    CHECK(tn_util_init() == TN_OK);
    trace = getenv("FUZZ_MCP_TRACE") != NULL;
    if (!getenv("FUZZ_MCP_LOG"))
        tn_log_setup((enum tn_log_level)(TN_LOG_ERROR + 1), false); /* quiet */
    struct tn_mcp_info info = {.name = "teamnotes-fuzz", .title = "Fuzz", .version = "0.0.1",
                               .instructions = "Fuzzing only", .secret = secret,
                               .secret_len = sizeof secret, .page_size = 2, .max_listen = 2,
                               .max_streaming = 4, .principal_retain = principal_retain,
                               .principal_release = principal_release};
    srv = tn_mcp_server_new(&info);
    CHECK(srv);
    for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++)
        CHECK(tn_mcp_tool_add(srv, &tools[i]) == TN_OK);
    CHECK(tn_mcp_tool_find(srv, "search")->n_params == 4);
    CHECK(tn_mcp_resource_add(srv, &readme) == TN_OK);
    CHECK(tn_mcp_resource_template_add(srv, &note_tpl) == TN_OK);
    CHECK(tn_mcp_resource_provider_add(srv, &mine) == TN_OK);
    for (size_t i = 0; i < sizeof prompts / sizeof prompts[0]; i++)
        CHECK(tn_mcp_prompt_add(srv, &prompts[i]) == TN_OK);
    tn_mcp_completion_set(srv, complete, NULL);
    tn_mcp_gate_set(srv, gate, NULL);
}

/* ---------- one input ---------- */

static void check_answer(const struct req *r, const struct tn_mcp_http_out *out)
{
    CHECK((r->sink != NULL) == out->streamed); /* a stream is the answer iff one was opened */
    if (out->streamed)
        return;
    CHECK(out->status >= 200 && out->status <= 599);
    if (out->status == 202) {
        CHECK(out->body.len == 0);
        return;
    }
    CHECK(out->body.len > 0 && out->content_type);
    const char *json = out->body.data;
    size_t json_len = out->body.len;
    if (!strcmp(out->content_type, "text/event-stream")) {
        /* a finished answer for an SSE-only client: exactly one event, with a 200 */
        static const char head[] = "event: message\ndata: ";
        CHECK(out->status == 200);
        CHECK(json_len > sizeof head + 1 && !memcmp(json, head, sizeof head - 1));
        CHECK(!memcmp(json + json_len - 2, "\n\n", 2));
        json += sizeof head - 1;
        json_len -= sizeof head - 1 + 2;
        CHECK(!memchr(json, '\n', json_len) && !memchr(json, '\r', json_len));
    } else {
        CHECK(!strcmp(out->content_type, "application/json"));
    }
    json_t *b = json_loadb(json, json_len, JSON_DECODE_ANY, NULL);
    CHECK(json_is_object(b) || json_is_array(b));
    json_decref(b);
    if (out->status == 405)
        CHECK(out->allow && !strcmp(out->allow, "POST"));
    if (out->step_up_scope[0])
        CHECK(out->status == 403);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!srv)
        setup();
    if (size > MAX_INPUT)
        return 0;
    struct req r = {0};
    req_parse(&r, data, size);
    const char *method = req_header(&r, ":method");
    const char *subject = req_header(&r, ":subject");
    r.no_stream = req_header(&r, ":no-stream") != NULL;
    r.disconnect = req_header(&r, ":disconnect") != NULL;

    struct tn_mcp_http_in in = {
        .method = method ? method : "POST",
        .header = req_header,
        .open_stream = req_stream,
        .ud = &r,
        .body = {r.body, r.body_len},
        .principal = req_header(&r, ":anonymous") ? NULL : PRINCIPAL,
        .subject = subject ? subject : "user-1",
        .request_id = "fuzz",
    };
    struct tn_mcp_http_out out = {0};
    tn_buf_init(&out.body, 1 << 22);
    capturing = true;
    tn_mcp_handle(srv, &in, &out);
    capturing = false;
    if (trace)
        fprintf(stderr, "  status %d%s: %.*s\n", out.status, out.streamed ? " (streamed)" : "",
                (int)out.body.len, out.body.data ? out.body.data : "");
    check_answer(&r, &out);

    /* Let the streamed call finish, play server-side events on open listen streams,
     * then end the response as the HTTP layer would. */
    join_threads();
    if (req_header(&r, ":notify")) {
        CHECK(tn_mcp_tool_enable(srv, "broken", false) == TN_OK);
        CHECK(tn_mcp_tool_enable(srv, "broken", true) == TN_OK);
        CHECK(tn_mcp_prompt_enable(srv, "interview", false) == TN_OK);
        CHECK(tn_mcp_prompt_enable(srv, "interview", true) == TN_OK);
        tn_mcp_notify_resources_changed(srv, in.subject);
        tn_mcp_notify_resource_updated(srv, "notes://readme", NULL);
        tn_mcp_notify_resource_updated(srv, "notes://mine/1", "someone-else");
    }
    if (req_header(&r, ":recheck"))
        tn_mcp_recheck(srv);
    if (req_header(&r, ":shutdown"))
        tn_mcp_close_listens(srv);
    if (r.sink) {
        pthread_mutex_lock(&r.sink->mu);
        bool subscribed = r.sink->gone_fn != NULL, closed = r.sink->closed || r.sink->gone;
        pthread_mutex_unlock(&r.sink->mu);
        CHECK(closed || subscribed); /* else the client would wait forever */
        ms_gone(r.sink);
        CHECK(r.sink->refs == 1);
    }
    CHECK(srv->n_listeners == 0 && srv->listeners == NULL);
    CHECK(atomic_load(&srv->n_streaming) == 0);
    CHECK(srv->pending == NULL);
    CHECK(atomic_load(&principal_refs) == 0);

    tn_buf_deinit(&out.body);
    req_free(&r);
    return 0;
}
