/* The MCP endpoint without sockets: era detection, header checks, JSON-RPC errors,
 * pagination, MRTR state, listen and streamed progress, each asserting exact codes. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <cmocka.h>

#include "core/util.h"
#include "mcp/mcp.h"

/* ---------- a sink that records frames ---------- */

struct rec_sink {
    struct tn_sink base;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    json_t *frames;
    bool closed;
    int refs;
    void (*gone)(void *);
    void *gone_ud;
};

static enum tn_err rs_send(struct tn_sink *s, const char *d, size_t n)
{
    struct rec_sink *r = (struct rec_sink *)s;
    pthread_mutex_lock(&r->mu);
    enum tn_err rc = r->closed ? TN_ERR_CANCELLED : TN_OK;
    if (!r->closed)
        json_array_append_new(r->frames, json_loadb(d, n, 0, NULL));
    pthread_mutex_unlock(&r->mu);
    return rc;
}
static void rs_close(struct tn_sink *s)
{
    struct rec_sink *r = (struct rec_sink *)s;
    pthread_mutex_lock(&r->mu);
    r->closed = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}
static bool rs_closed(struct tn_sink *s) { return ((struct rec_sink *)s)->closed; }
static void rs_on_gone(struct tn_sink *s, void (*fn)(void *), void *ud)
{
    ((struct rec_sink *)s)->gone = fn;
    ((struct rec_sink *)s)->gone_ud = ud;
}
static void rs_retain(struct tn_sink *s)
{
    struct rec_sink *r = (struct rec_sink *)s;
    pthread_mutex_lock(&r->mu);
    r->refs++;
    pthread_mutex_unlock(&r->mu);
}
static void rs_release(struct tn_sink *s)
{
    struct rec_sink *r = (struct rec_sink *)s;
    pthread_mutex_lock(&r->mu);
    r->refs--;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}
static const struct tn_sink_ops rs_ops = {rs_send,    rs_close,  rs_closed,
                                          rs_on_gone, rs_retain, rs_release};

/* ---------- a fake request ---------- */

struct fake {
    const char *method;
    const char *headers[16][2];
    const char *body;
    struct rec_sink *sink;
};

static const char *fake_header(void *ud, const char *name)
{
    struct fake *f = ud;
    for (int i = 0; i < 16 && f->headers[i][0]; i++)
        if (!strcasecmp(f->headers[i][0], name))
            return f->headers[i][1];
    return NULL;
}

static struct tn_sink *fake_stream(void *ud)
{
    struct fake *f = ud;
    struct rec_sink *r = calloc(1, sizeof *r);
    r->base.ops = &rs_ops;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->frames = json_array();
    r->refs = 1;
    f->sink = r;
    return &r->base;
}

static void sink_wait_closed(struct rec_sink *r)
{
    pthread_mutex_lock(&r->mu);
    while (!r->closed || r->refs > 1)
        pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
}

static void sink_free(struct rec_sink *r)
{
    if (!r)
        return;
    json_decref(r->frames);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}

struct answer {
    int status;
    json_t *body;
    const char *allow;
    bool streamed;
};

static struct tn_mcp_server *srv;

static struct answer call(struct fake *f)
{
    struct tn_mcp_http_in in = {
        .method = f->method ? f->method : "POST",
        .header = fake_header,
        .open_stream = fake_stream,
        .ud = f,
        .body = {f->body, strlen(f->body)},
        .subject = "user-1",
    };
    struct tn_mcp_http_out out = {0};
    tn_buf_init(&out.body, 1 << 20);
    tn_mcp_handle(srv, &in, &out);
    struct answer a = {out.status, NULL, out.allow, out.streamed};
    if (out.body.len)
        a.body = json_loadb(out.body.data, out.body.len, 0, NULL);
    tn_buf_deinit(&out.body);
    return a;
}

#define P1 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},"
#define P8 P1 P1 P1 P1 P1 P1 P1 P1
#define BATCH33 P8 P8 P8 P8 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}"
#define JSON_HDRS \
    {"Content-Type", "application/json"}, { "Accept", "application/json, text/event-stream" }
#define META                                                                 \
    "\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\"," \
    "\"io.modelcontextprotocol/clientCapabilities\":{}}"
#define META_ELICIT                                                          \
    "\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\"," \
    "\"io.modelcontextprotocol/clientCapabilities\":{\"elicitation\":{\"form\":{}}}}"

static int err_code(const struct answer *a)
{
    return (int)json_integer_value(json_object_get(json_object_get(a->body, "error"), "code"));
}

static const char *err_msg(const struct answer *a)
{
    return json_string_value(json_object_get(json_object_get(a->body, "error"), "message"));
}

static json_t *result(const struct answer *a) { return json_object_get(a->body, "result"); }

/* ---------- fixtures ---------- */

static json_t *t_echo(struct tn_mcp_ctx *c, json_t *args, void *ud)
{
    return tn_mcp_result_text(json_string_value(json_object_get(args, "text")));
}

static json_t *t_confirm(struct tn_mcp_ctx *c, json_t *args, void *ud)
{
    json_t *answer = tn_mcp_ctx_input_response(c, "confirm");
    json_t *st = tn_mcp_ctx_request_state(c);
    if (!answer)
        return tn_mcp_result_input_required(json_pack("{s:{s:s, s:{s:s, s:s}}}", "confirm",
                                                      "method", "elicitation/create", "params",
                                                      "mode", "form", "message", "Sure?"),
                                            json_pack("{s:i}", "round", 1));
    return tn_mcp_result_text(st && json_integer_value(json_object_get(st, "round")) == 1
                                  ? "confirmed with state"
                                  : "confirmed without state");
}

static json_t *t_progress(struct tn_mcp_ctx *c, json_t *args, void *ud)
{
    tn_mcp_ctx_progress(c, 0, 2, NULL);
    tn_mcp_ctx_log(c, TN_MCP_LOG_INFO, "t", json_string("step"));
    tn_mcp_ctx_progress(c, 2, 2, "done");
    return tn_mcp_result_structured(json_pack("{s:i}", "n", 2));
}

static json_t *t_bad_output(struct tn_mcp_ctx *c, json_t *args, void *ud)
{
    return tn_mcp_result_structured(json_pack("{s:s}", "n", "not a number"));
}

static const struct tn_mcp_tool fixture_tools[] = {
    {.name = "echo",
     .description = "Echo text back",
     .input_schema =
         "{\"type\":\"object\",\"properties\":{\"text\":{\"type\":\"string\",\"maxLength\":10}},"
         "\"required\":[\"text\"],\"additionalProperties\":false}",
     .call = t_echo},
    {.name = "confirm", .description = "Asks for confirmation", .call = t_confirm},
    {.name = "count",
     .description = "Counts with progress",
     .streams = true,
     .output_schema =
         "{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\"}},\"required\":[\"n\"]}",
     .call = t_progress},
    {.name = "bad_output",
     .description = "Breaks its output schema",
     .output_schema = "{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\"}}}",
     .call = t_bad_output},
    {.name = "region",
     .description = "Header-mirrored argument",
     .input_schema =
         "{\"type\":\"object\",\"properties\":{\"region\":{\"type\":\"string\",\"x-mcp-header\":\"Region\"}}}",
     .call = t_echo},
};

static char many_names[120][16];
static struct tn_mcp_tool many[120];

static int setup(void **state)
{
    static const uint8_t key[32] = {1, 2, 3};
    struct tn_mcp_info info = {.name = "test",
                               .version = "1.0",
                               .secret = key,
                               .secret_len = sizeof key,
                               .page_size = 50,
                               .max_listen = 2};
    srv = tn_mcp_server_new(&info);
    for (size_t i = 0; i < sizeof fixture_tools / sizeof fixture_tools[0]; i++)
        assert_int_equal(tn_mcp_tool_add(srv, &fixture_tools[i]), TN_OK);
    for (int i = 0; i < 115; i++) {
        snprintf(many_names[i], sizeof many_names[i], "tool_%03d", i);
        many[i] = (struct tn_mcp_tool){.name = many_names[i], .description = "x", .call = t_echo};
        assert_int_equal(tn_mcp_tool_add(srv, &many[i]), TN_OK);
    }
    return 0;
}

static int teardown(void **state)
{
    /* streamed calls run on their own threads: the server outlives them (as tn_serve's
     * shut_down drains before it frees), or a late one writes into freed memory */
    unsigned left = tn_mcp_drain(srv, 5000);
    tn_mcp_server_free(srv);
    return left == 0 ? 0 : -1;
}

/* ---------- table of status/code cases ---------- */

struct status_case {
    const char *name;
    struct fake req;
    int status;
    int code; /* 0: a result is expected */
    const char *msg_has;
};

static const struct status_case cases[] = {
    {"GET is 405",
     {.method = "GET", .headers = {JSON_HDRS}, .body = ""},
     405,
     -32000,
     "Method not allowed."},
    {"DELETE is 405", {.method = "DELETE", .headers = {JSON_HDRS}, .body = ""}, 405, -32000, NULL},
    {"text/plain is 415",
     {.headers = {{"Content-Type", "text/plain"}}, .body = "{}"},
     415,
     -32000,
     "Content-Type"},
    {"missing content type is 415",
     {.headers = {{"Accept", "application/json"}}, .body = "{}"},
     415,
     -32000,
     NULL},
    {"Accept text/html is 406",
     {.headers = {{"Content-Type", "application/json"}, {"Accept", "text/html"}}, .body = "{}"},
     406,
     -32000,
     NULL},
    {"parse error", {.headers = {JSON_HDRS}, .body = "{"}, 400, -32700, "Parse error"},
    {"trailing data", {.headers = {JSON_HDRS}, .body = "{} x"}, 400, -32700, NULL},
    {"duplicate keys",
     {.headers = {JSON_HDRS},
      .body = "{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"ping\"}"},
     400,
     -32700,
     NULL},
    {"scalar body", {.headers = {JSON_HDRS}, .body = "5"}, 400, -32600, NULL},
    {"empty batch", {.headers = {JSON_HDRS}, .body = "[]"}, 400, -32600, "empty batch"},
    {"wrong jsonrpc",
     {.headers = {JSON_HDRS}, .body = "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}"},
     400,
     -32600,
     "\"jsonrpc\""},
    {"float id",
     {.headers = {JSON_HDRS}, .body = "{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}"},
     400,
     -32600,
     "\"id\""},
    {"null id",
     {.headers = {JSON_HDRS}, .body = "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}"},
     400,
     -32600,
     "\"id\""},
    {"array params",
     {.headers = {JSON_HDRS},
      .body = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":[]}"},
     400,
     -32600,
     "\"params\""},
    {"too deep",
     {.headers = {JSON_HDRS},
      .body =
          "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}"},
     400,
     -32600,
     "nested deeper"},
    {"legacy ping",
     {.headers = {JSON_HDRS}, .body = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}"},
     200,
     0,
     NULL},
    {"legacy notification",
     {.headers = {JSON_HDRS},
      .body = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}"},
     202,
     0,
     NULL},
    {"stray client response",
     {.headers = {JSON_HDRS}, .body = "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}"},
     400,
     -32600,
     "no request of yours"},
    {"stray client response, modern",
     {.headers = {JSON_HDRS, {"MCP-Protocol-Version", "2026-07-28"}},
      .body = "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{},\"params\":{" META "}}"},
     400,
     -32600,
     "no request of yours"},
    {"batch too long",
     {.headers = {JSON_HDRS}, .body = "[" BATCH33 "]"},
     400,
     -32600,
     "at most 32"},
    {"non-ASCII method echoed safely",
     {.headers = {JSON_HDRS},
      .body = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\u00e9t\u00e9\"}"},
     200,
     -32601,
     "Method not found: ??t??"},
    {"legacy bad version header",
     {.headers = {JSON_HDRS, {"MCP-Protocol-Version", "2099-01-01"}},
      .body = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}"},
     400,
     -32000,
     "Unsupported protocol version: 2099-01-01"},
    {"legacy unknown method is 200",
     {.headers = {JSON_HDRS, {"MCP-Protocol-Version", "2025-11-25"}},
      .body = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"foo/bar\"}"},
     200,
     -32601,
     NULL},
    {"legacy server/discover is -32601",
     {.headers = {JSON_HDRS},
      .body = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"server/discover\"}"},
     200,
     -32601,
     NULL},
    {"undeclared capability",
     {.headers = {JSON_HDRS}, .body = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"prompts/list\"}"},
     200,
     -32601,
     NULL},
    {"initialize with modern header",
     {.headers = {JSON_HDRS, {"MCP-Protocol-Version", "2026-07-28"}},
      .body =
          "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{}}}"},
     400,
     -32020,
     NULL},
    {"modern header without _meta",
     {.headers = {JSON_HDRS, {"MCP-Protocol-Version", "2026-07-28"}, {"Mcp-Method", "tools/list"}},
      .body = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{}}"},
     400,
     -32602,
     "_meta"},
    {"modern without clientCapabilities",
     {.headers = {JSON_HDRS, {"MCP-Protocol-Version", "2026-07-28"}, {"Mcp-Method", "tools/list"}},
      .body =
          "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\"}}}"},
     400,
     -32602,
     "clientCapabilities"},
    {"modern without version header",
     {.headers = {JSON_HDRS, {"Mcp-Method", "tools/list"}},
      .body = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{" META "}}"},
     400,
     -32020,
     "MCP-Protocol-Version"},
    {"modern version header mismatch",
     {.headers = {JSON_HDRS, {"MCP-Protocol-Version", "2025-11-25"}, {"Mcp-Method", "tools/list"}},
      .body = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{" META "}}"},
     400,
     -32020,
     NULL},
    {"modern without Mcp-Method",
     {.headers = {JSON_HDRS, {"MCP-Protocol-Version", "2026-07-28"}},
      .body = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{" META "}}"},
     400,
     -32020,
     "Mcp-Method"},
    {"modern Mcp-Method mismatch",
     {.headers = {JSON_HDRS,
                  {"MCP-Protocol-Version", "2026-07-28"},
                  {"Mcp-Method", "prompts/list"}},
      .body = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{" META "}}"},
     400,
     -32020,
     "the Mcp-Method header names prompts/list"},
    {"modern Mcp-Method case",
     {.headers = {JSON_HDRS, {"MCP-Protocol-Version", "2026-07-28"}, {"Mcp-Method", "TOOLS/LIST"}},
      .body = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{" META "}}"},
     400,
     -32020,
     NULL},
    {"modern Mcp-Name missing",
     {.headers = {JSON_HDRS, {"MCP-Protocol-Version", "2026-07-28"}, {"Mcp-Method", "tools/call"}},
      .body =
          "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"text\":\"x\"}," META
          "}}"},
     400,
     -32020,
     "Mcp-Name"},
    {"modern Mcp-Name mismatch",
     {.headers = {JSON_HDRS,
                  {"MCP-Protocol-Version", "2026-07-28"},
                  {"Mcp-Method", "tools/call"},
                  {"Mcp-Name", "foo"}},
      .body =
          "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"text\":\"x\"}," META
          "}}"},
     400,
     -32020,
     NULL},
    {"modern Mcp-Name base64",
     {.headers = {JSON_HDRS,
                  {"MCP-Protocol-Version", "2026-07-28"},
                  {"Mcp-Method", "tools/call"},
                  {"Mcp-Name", "=?base64?ZWNobw==?="}},
      .body =
          "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"text\":\"x\"}," META
          "}}"},
     200,
     0,
     NULL},
    {"modern Mcp-Name bad base64",
     {.headers = {JSON_HDRS,
                  {"MCP-Protocol-Version", "2026-07-28"},
                  {"Mcp-Method", "tools/call"},
                  {"Mcp-Name", "=?base64?!!!?="}},
      .body =
          "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"text\":\"x\"}," META
          "}}"},
     400,
     -32020,
     NULL},
    {"modern Mcp-Name padded",
     {.headers = {JSON_HDRS,
                  {"MCP-Protocol-Version", "2026-07-28"},
                  {"Mcp-Method", " tools/call "},
                  {"Mcp-Name", "  echo "}},
      .body =
          "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"text\":\"x\"}," META
          "}}"},
     200,
     0,
     NULL},
    {"modern unsupported version",
     {.headers = {JSON_HDRS, {"MCP-Protocol-Version", "v999.0.0"}, {"Mcp-Method", "tools/list"}},
      .body =
          "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"v999.0.0\",\"io.modelcontextprotocol/clientCapabilities\":{}}}}"},
     400,
     -32022,
     "v999.0.0"},
    {"modern claim of a legacy version",
     {.headers = {JSON_HDRS, {"MCP-Protocol-Version", "2025-11-25"}, {"Mcp-Method", "tools/list"}},
      .body =
          "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2025-11-25\",\"io.modelcontextprotocol/clientCapabilities\":{}}}}"},
     400,
     -32022,
     NULL},
    {"modern ping is 404",
     {.headers = {JSON_HDRS, {"MCP-Protocol-Version", "2026-07-28"}, {"Mcp-Method", "ping"}},
      .body = "{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"ping\",\"params\":{" META "}}"},
     404,
     -32601,
     "Method not found"},
    {"modern initialize is 404",
     {.headers = {JSON_HDRS, {"MCP-Protocol-Version", "2026-07-28"}, {"Mcp-Method", "initialize"}},
      .body = "{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"initialize\",\"params\":{" META "}}"},
     404,
     -32601,
     NULL},
    {"modern bad log level",
     {.headers = {JSON_HDRS, {"MCP-Protocol-Version", "2026-07-28"}, {"Mcp-Method", "tools/list"}},
      .body =
          "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\",\"io.modelcontextprotocol/clientCapabilities\":{},\"io.modelcontextprotocol/logLevel\":\"loud\"}}}"},
     400,
     -32602,
     "log level"},
    {"modern notification",
     {.headers = {JSON_HDRS,
                  {"MCP-Protocol-Version", "2026-07-28"},
                  {"Mcp-Method", "notifications/x"}},
      .body = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\",\"params\":{" META "}}"},
     202,
     0,
     NULL},
    {"modern unknown tool is 200/-32602",
     {.headers = {JSON_HDRS,
                  {"MCP-Protocol-Version", "2026-07-28"},
                  {"Mcp-Method", "tools/call"},
                  {"Mcp-Name", "nope"}},
      .body =
          "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"nope\"," META
          "}}"},
     200,
     -32602,
     "Unknown tool: nope"},
    {"modern MRTR without capability",
     {.headers = {JSON_HDRS,
                  {"MCP-Protocol-Version", "2026-07-28"},
                  {"Mcp-Method", "tools/call"},
                  {"Mcp-Name", "confirm"}},
      .body =
          "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"confirm\"," META
          "}}"},
     400,
     -32021,
     NULL},
    {"modern x-mcp-header missing",
     {.headers = {JSON_HDRS,
                  {"MCP-Protocol-Version", "2026-07-28"},
                  {"Mcp-Method", "tools/call"},
                  {"Mcp-Name", "region"}},
      .body =
          "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"region\",\"arguments\":{\"region\":\"eu\"}," META
          "}}"},
     400,
     -32020,
     "Mcp-Param-Region"},
    {"modern x-mcp-header mismatch",
     {.headers = {JSON_HDRS,
                  {"MCP-Protocol-Version", "2026-07-28"},
                  {"Mcp-Method", "tools/call"},
                  {"Mcp-Name", "region"},
                  {"Mcp-Param-Region", "us"}},
      .body =
          "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"region\",\"arguments\":{\"region\":\"eu\"}," META
          "}}"},
     400,
     -32020,
     NULL},
    {"modern x-mcp-header match",
     {.headers = {JSON_HDRS,
                  {"MCP-Protocol-Version", "2026-07-28"},
                  {"Mcp-Method", "tools/call"},
                  {"Mcp-Name", "region"},
                  {"Mcp-Param-Region", "=?base64?ZXU=?="}},
      .body =
          "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"region\",\"arguments\":{\"region\":\"eu\",\"text\":\"x\"}," META
          "}}"},
     200,
     0,
     NULL},
    {"modern x-mcp-header without argument",
     {.headers = {JSON_HDRS,
                  {"MCP-Protocol-Version", "2026-07-28"},
                  {"Mcp-Method", "tools/call"},
                  {"Mcp-Name", "region"},
                  {"Mcp-Param-Region", "eu"}},
      .body =
          "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"region\",\"arguments\":{}," META
          "}}"},
     400,
     -32020,
     NULL},
    {"batch on 2025-06-18",
     {.headers = {JSON_HDRS, {"MCP-Protocol-Version", "2025-06-18"}},
      .body = "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]"},
     400,
     -32600,
     "batches are not supported"},
    {"batch with a modern element",
     {.headers = {JSON_HDRS},
      .body = "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{" META "}}]"},
     400,
     -32600,
     NULL},
    {"invalid cursor",
     {.headers = {JSON_HDRS},
      .body =
          "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{\"cursor\":\"AAAA\"}}"},
     200,
     -32602,
     "invalid cursor"},
    {"output schema violation is an internal error",
     {.headers = {JSON_HDRS},
      .body =
          "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"bad_output\"}}"},
     200,
     -32603,
     "Internal error"},
};

static void test_status_table(void **state)
{
    int failures = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fake f = cases[i].req;
        struct answer a = call(&f);
        if (a.status != cases[i].status || (cases[i].code && err_code(&a) != cases[i].code) ||
            (!cases[i].code && a.body && json_object_get(a.body, "error")) ||
            (cases[i].msg_has && (!err_msg(&a) || !strstr(err_msg(&a), cases[i].msg_has)))) {
            char *dump = a.body ? json_dumps(a.body, 0) : NULL;
            print_error("case '%s': status %d body %s\n", cases[i].name, a.status,
                        dump ? dump : "(none)");
            free(dump);
            failures++;
        }
        json_decref(a.body);
        sink_free(f.sink);
    }
    assert_int_equal(failures, 0);
}

static void test_error_echoes_id(void **state)
{
    struct fake f = {
        .headers = {JSON_HDRS, {"MCP-Protocol-Version", "2026-07-28"}, {"Mcp-Method", "ping"}},
        .body = "{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"method\":\"ping\",\"params\":{" META "}}"};
    struct answer a = call(&f);
    assert_string_equal(json_string_value(json_object_get(a.body, "id")), "abc");
    json_decref(a.body);
    struct fake g = {.method = "GET", .headers = {JSON_HDRS}, .body = ""};
    a = call(&g);
    assert_string_equal(a.allow, "POST");
    assert_true(json_is_null(json_object_get(a.body, "id")));
    json_decref(a.body);
}

static void test_initialize_negotiation(void **state)
{
    const char *asks[][2] = {{"2025-11-25", "2025-11-25"}, {"2025-06-18", "2025-06-18"},
                             {"2025-03-26", "2025-03-26"}, {"2024-11-05", "2024-11-05"},
                             {"1999-01-01", "2025-11-25"}, {"2026-07-28", "2025-11-25"}};
    for (size_t i = 0; i < 6; i++) {
        char body[256];
        snprintf(
            body, sizeof body,
            "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"%s\","
            "\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}",
            asks[i][0]);
        struct fake f = {.headers = {JSON_HDRS}, .body = body};
        struct answer a = call(&f);
        assert_int_equal(a.status, 200);
        json_t *r = result(&a);
        assert_string_equal(json_string_value(json_object_get(r, "protocolVersion")), asks[i][1]);
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(r, "serverInfo"), "name")), "test");
        assert_false(json_is_true(json_object_get(
            json_object_get(json_object_get(r, "capabilities"), "tools"), "listChanged")));
        assert_null(json_object_get(r, "resultType"));
        json_decref(a.body);
    }
}

static void test_discover(void **state)
{
    struct fake f = {
        .headers = {JSON_HDRS,
                    {"MCP-Protocol-Version", "2026-07-28"},
                    {"Mcp-Method", "server/discover"}},
        .body =
            "{\"jsonrpc\":\"2.0\",\"id\":\"server-discover-probe-1\",\"method\":\"server/discover\",\"params\":{" META
            "}}"};
    struct answer a = call(&f);
    assert_int_equal(a.status, 200);
    json_t *r = result(&a);
    json_t *v = json_object_get(r, "supportedVersions");
    assert_int_equal(json_array_size(v), 5);
    assert_string_equal(json_string_value(json_array_get(v, 0)), "2026-07-28");
    assert_string_equal(json_string_value(json_array_get(v, 1)), "2025-11-25");
    assert_string_equal(json_string_value(json_object_get(r, "resultType")), "complete");
    assert_int_equal(json_integer_value(json_object_get(r, "ttlMs")), 0);
    assert_string_equal(json_string_value(json_object_get(r, "cacheScope")), "private");
    assert_true(json_is_true(json_object_get(
        json_object_get(json_object_get(r, "capabilities"), "tools"), "listChanged")));
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(r, "_meta"), "io.modelcontextprotocol/serverInfo"),
            "name")),
        "test");
    assert_null(json_object_get(r, "protocolVersion"));
    json_decref(a.body);

    /* -32022 lists the same versions */
    struct fake g = {
        .headers = {JSON_HDRS,
                    {"MCP-Protocol-Version", "2099-01-01"},
                    {"Mcp-Method", "server/discover"}},
        .body =
            "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"server/discover\",\"params\":{\"_meta\":{"
            "\"io.modelcontextprotocol/protocolVersion\":\"2099-01-01\",\"io.modelcontextprotocol/clientCapabilities\":{}}}}"};
    a = call(&g);
    json_t *data = json_object_get(json_object_get(a.body, "error"), "data");
    assert_int_equal(json_array_size(json_object_get(data, "supported")), 5);
    assert_string_equal(json_string_value(json_object_get(data, "requested")), "2099-01-01");
    json_decref(a.body);
}

static void test_invalid_arguments_are_tool_errors(void **state)
{
    const char *bodies[][2] = {
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{}}}",
         "Invalid arguments for tool echo: missing required property 'text'"},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"text\":5}}}",
         "Invalid arguments for tool echo: text: "},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"text\":\"a\",\"x\":1}}}",
         "Invalid arguments for tool echo: unexpected property 'x'"},
    };
    for (int i = 0; i < 3; i++) {
        struct fake f = {.headers = {JSON_HDRS}, .body = bodies[i][0]};
        struct answer a = call(&f);
        assert_int_equal(a.status, 200);
        json_t *r = result(&a);
        assert_true(json_is_true(json_object_get(r, "isError")));
        const char *text = json_string_value(
            json_object_get(json_array_get(json_object_get(r, "content"), 0), "text"));
        if (strncmp(text, bodies[i][1], strlen(bodies[i][1])) != 0) {
            print_error("got '%s', want prefix '%s'\n", text, bodies[i][1]);
            fail();
        }
        json_decref(a.body);
    }
}

static void test_pagination(void **state)
{
    char body[1024];
    const char *cursor = NULL;
    json_t *seen = json_array();
    char *cur = NULL;
    for (int page = 0; page < 5; page++) {
        if (cur)
            snprintf(
                body, sizeof body,
                "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{\"cursor\":\"%s\"}}",
                cur);
        else
            snprintf(body, sizeof body, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}");
        struct fake f = {.headers = {JSON_HDRS}, .body = body};
        struct answer a = call(&f);
        assert_int_equal(a.status, 200);
        json_t *tools = json_object_get(result(&a), "tools");
        size_t i;
        json_t *t;
        json_array_foreach(tools, i, t)
            json_array_append(seen, json_object_get(t, "name"));
        free(cur);
        cursor = json_string_value(json_object_get(result(&a), "nextCursor"));
        cur = cursor ? strdup(cursor) : NULL;
        json_decref(a.body);
        if (!cur)
            break;
    }
    assert_null(cur);
    assert_int_equal(json_array_size(seen), 120);
    assert_string_equal(json_string_value(json_array_get(seen, 0)), "echo");
    assert_string_equal(json_string_value(json_array_get(seen, 119)), "tool_114");
    json_decref(seen);
}

static char *mrtr_round(const char *extra, int *status, json_t **res)
{
    char body[4096];
    snprintf(
        body, sizeof body,
        "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{\"name\":\"confirm\"%s," META_ELICIT
        "}}",
        extra);
    struct fake f = {.headers = {JSON_HDRS,
                                 {"MCP-Protocol-Version", "2026-07-28"},
                                 {"Mcp-Method", "tools/call"},
                                 {"Mcp-Name", "confirm"}},
                     .body = body};
    struct answer a = call(&f);
    *status = a.status;
    *res = a.body;
    json_t *r = result(&a);
    const char *st = json_string_value(json_object_get(r, "requestState"));
    return st ? strdup(st) : NULL;
}

static void test_mrtr(void **state)
{
    int status;
    json_t *body;
    char *st = mrtr_round("", &status, &body);
    assert_int_equal(status, 200);
    json_t *r = json_object_get(body, "result");
    assert_string_equal(json_string_value(json_object_get(r, "resultType")), "input_required");
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(r, "inputRequests"), "confirm"), "method")),
        "elicitation/create");
    assert_null(json_object_get(r, "_tn_state"));
    assert_null(json_object_get(r, "ttlMs"));
    assert_non_null(st);
    json_decref(body);

    char extra[2048];
    snprintf(
        extra, sizeof extra,
        ",\"inputResponses\":{\"confirm\":{\"action\":\"accept\",\"content\":{\"ok\":true}}},\"requestState\":\"%s\"",
        st);
    char *st2 = mrtr_round(extra, &status, &body);
    assert_null(st2);
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(json_object_get(body, "result"), "content"), 0),
            "text")),
        "confirmed with state");
    json_decref(body);

    /* flip one character of the state: refused */
    st[3] = st[3] == 'A' ? 'B' : 'A';
    snprintf(extra, sizeof extra,
             ",\"inputResponses\":{\"confirm\":{\"action\":\"accept\"}},\"requestState\":\"%s\"",
             st);
    mrtr_round(extra, &status, &body);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(body, "error"), "code")),
                     -32602);
    json_decref(body);
    free(st);

    /* legacy: no MRTR, an isError result instead */
    struct fake f = {
        .headers = {JSON_HDRS},
        .body =
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"confirm\"}}"};
    struct answer a = call(&f);
    assert_true(json_is_true(json_object_get(result(&a), "isError")));
    json_decref(a.body);
}

static void test_missing_capability_data(void **state)
{
    struct fake f = {
        .headers = {JSON_HDRS,
                    {"MCP-Protocol-Version", "2026-07-28"},
                    {"Mcp-Method", "tools/call"},
                    {"Mcp-Name", "confirm"}},
        .body =
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"confirm\"," META
            "}}"};
    struct answer a = call(&f);
    assert_int_equal(a.status, 400);
    json_t *data = json_object_get(json_object_get(a.body, "error"), "data");
    assert_true(json_is_object(json_object_get(
        json_object_get(json_object_get(data, "requiredCapabilities"), "elicitation"), "form")));
    json_decref(a.body);
}

static void test_streamed_progress(void **state)
{
    struct fake f = {
        .headers = {JSON_HDRS,
                    {"MCP-Protocol-Version", "2026-07-28"},
                    {"Mcp-Method", "tools/call"},
                    {"Mcp-Name", "count"}},
        .body =
            "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"count\",\"_meta\":{"
            "\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\",\"io.modelcontextprotocol/clientCapabilities\":{},"
            "\"progressToken\":3}}}"};
    struct answer a = call(&f);
    assert_true(a.streamed);
    assert_non_null(f.sink);
    sink_wait_closed(f.sink);
    json_t *fr = f.sink->frames;
    /* progress 0/2, progress 2/2, result: no log without logLevel */
    assert_int_equal(json_array_size(fr), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(fr, 0), "method")),
                        "notifications/progress");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_array_get(fr, 1), "params"), "progress")),
                     2);
    json_t *res = json_object_get(json_array_get(fr, 2), "result");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(res, "structuredContent"), "n")), 2);
    assert_string_equal(json_string_value(json_object_get(res, "resultType")), "complete");
    json_decref(a.body);
    sink_free(f.sink);

    /* without progressToken or logLevel: plain JSON */
    struct fake g = {
        .headers = {JSON_HDRS,
                    {"MCP-Protocol-Version", "2026-07-28"},
                    {"Mcp-Method", "tools/call"},
                    {"Mcp-Name", "count"}},
        .body =
            "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"count\"," META
            "}}"};
    a = call(&g);
    assert_false(a.streamed);
    assert_int_equal(a.status, 200);
    json_decref(a.body);

    /* legacy: logs are sent on the stream */
    struct fake h = {
        .headers = {JSON_HDRS},
        .body =
            "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"count\"}}"};
    a = call(&h);
    assert_true(a.streamed);
    sink_wait_closed(h.sink);
    assert_int_equal(json_array_size(h.sink->frames), 2);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(h.sink->frames, 0), "method")),
        "notifications/message");
    assert_null(json_object_get(json_object_get(json_array_get(h.sink->frames, 1), "result"),
                                "resultType"));
    sink_free(h.sink);
}

/* A client that accepts only text/event-stream gets a finished answer as one SSE event,
 * sent whole: not through the stream, with its own content type, exactly one frame. */
static void test_sse_only_answer(void **state)
{
    static const char *const bodies[] = {
        "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"text\":\"a\\nb\"}," META
        "}}",
        "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"tools/call\",\"params\":{\"name\":\"nope\"," META
        "}}",
    };
    for (int i = 0; i < 2; i++) {
        struct fake f = {.headers = {{"Content-Type", "application/json"},
                                     {"Accept", "text/event-stream"},
                                     {"MCP-Protocol-Version", "2026-07-28"},
                                     {"Mcp-Method", "tools/call"},
                                     {"Mcp-Name", i == 0 ? "echo" : "nope"}},
                         .body = bodies[i]};
        struct tn_mcp_http_in in = {.method = "POST",
                                    .header = fake_header,
                                    .open_stream = fake_stream,
                                    .ud = &f,
                                    .body = {f.body, strlen(f.body)},
                                    .subject = "user-1"};
        struct tn_mcp_http_out out = {0};
        tn_buf_init(&out.body, 1 << 20);
        tn_mcp_handle(srv, &in, &out);
        assert_false(out.streamed);
        assert_null(f.sink);
        assert_int_equal(out.status, 200);
        assert_string_equal(out.content_type, "text/event-stream");
        static const char head[] = "event: message\ndata: ";
        assert_true(out.body.len > sizeof head + 2);
        assert_memory_equal(out.body.data, head, sizeof head - 1);
        assert_memory_equal(out.body.data + out.body.len - 2, "\n\n", 2);
        /* one data line: the JSON text has no raw newline (the echoed one is escaped) */
        const char *json = out.body.data + sizeof head - 1;
        size_t jn = out.body.len - (sizeof head - 1) - 2;
        assert_null(memchr(json, '\n', jn));
        json_t *msg = json_loadb(json, jn, 0, NULL);
        assert_non_null(msg);
        if (i == 0) {
            assert_int_equal(json_integer_value(json_object_get(msg, "id")), 7);
            json_t *c0 =
                json_array_get(json_object_get(json_object_get(msg, "result"), "content"), 0);
            assert_string_equal(json_string_value(json_object_get(c0, "text")), "a\nb");
        } else {
            assert_int_equal(json_integer_value(json_object_get(msg, "id")), 8);
            assert_int_equal(
                json_integer_value(json_object_get(json_object_get(msg, "error"), "code")), -32602);
        }
        json_decref(msg);
        tn_buf_deinit(&out.body);
    }

    /* a refusal with an HTTP status other than 200 stays a JSON answer */
    struct fake g = {
        .headers = {{"Content-Type", "application/json"},
                    {"Accept", "text/event-stream"},
                    {"MCP-Protocol-Version", "2026-07-28"},
                    {"Mcp-Method", "tools/list"}},
        .body =
            "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\"," META
            "}}"};
    struct answer a = call(&g);
    assert_int_equal(a.status, 400);
    assert_false(a.streamed);
    assert_non_null(a.body);
    assert_int_equal(json_integer_value(json_object_get(a.body, "id")), 9);
    json_decref(a.body);
}

static void test_listen(void **state)
{
    struct fake f = {
        .headers = {JSON_HDRS,
                    {"MCP-Protocol-Version", "2026-07-28"},
                    {"Mcp-Method", "subscriptions/listen"}},
        .body =
            "{\"jsonrpc\":\"2.0\",\"id\":\"sub-1\",\"method\":\"subscriptions/listen\",\"params\":{" META
            ","
            "\"notifications\":{\"toolsListChanged\":true,\"promptsListChanged\":true}}}"};
    struct answer a = call(&f);
    assert_true(a.streamed);
    json_t *ack = json_array_get(f.sink->frames, 0);
    assert_string_equal(json_string_value(json_object_get(ack, "method")),
                        "notifications/subscriptions/acknowledged");
    json_t *n = json_object_get(json_object_get(ack, "params"), "notifications");
    assert_true(json_is_true(json_object_get(n, "toolsListChanged")));
    assert_null(json_object_get(n, "promptsListChanged")); /* no prompts here: not honoured */
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json_object_get(ack, "params"), "_meta"),
                                          "io.modelcontextprotocol/subscriptionId")),
        "sub-1");
    assert_int_equal(tn_mcp_tool_enable(srv, "echo", false), TN_OK);
    assert_int_equal(json_array_size(f.sink->frames), 2);
    json_t *chg = json_array_get(f.sink->frames, 1);
    assert_string_equal(json_string_value(json_object_get(chg, "method")),
                        "notifications/tools/list_changed");
    assert_int_equal(tn_mcp_tool_enable(srv, "echo", true), TN_OK);
    assert_int_equal(json_array_size(f.sink->frames), 3);
    /* shutdown: final result, then the stream closes */
    tn_mcp_close_listens(srv);
    json_t *fin = json_array_get(f.sink->frames, 3);
    assert_string_equal(json_string_value(json_object_get(fin, "id")), "sub-1");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(fin, "result"), "resultType")),
        "complete");
    assert_true(f.sink->closed);
    /* the transport then reports the stream gone */
    f.sink->gone(f.sink->gone_ud);
    sink_free(f.sink);
}

static void test_batch(void **state)
{
    struct fake f = {
        .headers = {JSON_HDRS, {"MCP-Protocol-Version", "2025-03-26"}},
        .body =
            "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},{\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\"},"
            "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"nope\"},{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"initialize\",\"params\":{}}]"};
    struct answer a = call(&f);
    assert_int_equal(a.status, 200);
    assert_int_equal(json_array_size(a.body), 3);
    assert_true(json_is_object(json_object_get(json_array_get(a.body, 0), "result")));
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_array_get(a.body, 1), "error"), "code")),
                     -32601);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_array_get(a.body, 2), "error"), "code")),
                     -32600);
    json_decref(a.body);
    struct fake g = {.headers = {JSON_HDRS},
                     .body = "[{\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\"}]"};
    a = call(&g);
    assert_int_equal(a.status, 202);
    json_decref(a.body);
}

static void test_header_decode(void **state)
{
    /* the spec's examples */
    struct fake f = {
        .headers = {JSON_HDRS,
                    {"MCP-Protocol-Version", "2026-07-28"},
                    {"Mcp-Method", "tools/call"},
                    {"Mcp-Name", "=?base64?SGVsbG8sIOS4lueVjA==?="}},
        .body =
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"Hello, \xe4\xb8\x96\xe7\x95\x8c\"," META
            "}}"};
    struct answer a = call(&f);
    /* header matched; the tool itself is unknown */
    assert_int_equal(a.status, 200);
    assert_int_equal(err_code(&a), -32602);
    json_decref(a.body);
}

int main(void)
{
    tn_util_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_table),
        cmocka_unit_test(test_error_echoes_id),
        cmocka_unit_test(test_initialize_negotiation),
        cmocka_unit_test(test_discover),
        cmocka_unit_test(test_invalid_arguments_are_tool_errors),
        cmocka_unit_test(test_pagination),
        cmocka_unit_test(test_mrtr),
        cmocka_unit_test(test_missing_capability_data),
        cmocka_unit_test(test_streamed_progress),
        cmocka_unit_test(test_sse_only_answer),
        cmocka_unit_test(test_listen),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_header_decode),
    };
    return cmocka_run_group_tests_name("rpc", tests, setup, teardown);
}
