/* Micro benchmark: one MCP request through the real core without HTTP — tn_mcp_handle
 * parses the JSON-RPC body, checks the era (headers, _meta), validates the arguments
 * against the tool's input schema, dispatches, and serialises the answer into the
 * output buffer. Measured in thread CPU time per request, so that other load on a
 * shared machine does not count.
 *
 * Build and run (release build, no sanitizers):
 *   scripts/build && build/bench/bench_rpc_dispatch [iterations]   (default 50000 per case)
 *
 * Cases, each against one registered tool `echo` ({"text": string}, with a schema):
 *   legacy_call   tools/call, MCP-Protocol-Version: 2025-11-25, no session
 *   modern_call   tools/call, 2026-07-28 (_meta version and capabilities, Mcp-Method,
 *                 Mcp-Name headers)
 *   tools_list    tools/list (legacy era; one tool in the list)
 *   parse_error   a body that is not JSON: 400 with -32700
 * No authentication: the principal is NULL, as with AUTH_MODE=none.
 *
 * Output, one line per case: case=<name> n=<N> mean_us=<x> p50_us=<x> p99_us=<x>
 * Each request is timed on its own; a CLOCK_THREAD_CPUTIME_ID read costs about a
 * microsecond on a VM (a system call), so its median cost, measured back to back and
 * printed as timer_us in the header line, is subtracted from every sample. The first
 * answer of each case is checked in full, and the HTTP status of every one: a wrong
 * answer stops the run with exit status 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/util.h"
#include "mcp/mcp.h"

static double thread_cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted samples. */
static double pct(const double *sorted, long n, double p)
{
    long k = (long)(p * (double)n + 0.999999) - 1;
    return sorted[k < 0 ? 0 : k >= n ? n - 1 : k];
}

/* Prints one case from per-request samples, each less the cost of the clock read that
 * ended it (never below zero). */
static void report(const char *name, double *samples, long n, double timer)
{
    double sum = 0;
    for (long i = 0; i < n; i++) {
        samples[i] = samples[i] > timer ? samples[i] - timer : 0;
        sum += samples[i];
    }
    qsort(samples, (size_t)n, sizeof *samples, cmp_double);
    printf("case=%s n=%ld mean_us=%.2f p50_us=%.2f p99_us=%.2f\n", name, n, sum / (double)n,
           pct(samples, n, 0.50), pct(samples, n, 0.99));
}

/* The median cost of one clock read, as it shows in a sample (back-to-back reads). */
static double timer_cost(double *samples, long n)
{
    double t0 = thread_cpu_us();
    for (long i = 0; i < n; i++) {
        double t1 = thread_cpu_us();
        samples[i] = t1 - t0;
        t0 = t1;
    }
    qsort(samples, (size_t)n, sizeof *samples, cmp_double);
    return pct(samples, n, 0.50);
}

/* ---------- the tool ---------- */

static json_t *echo(struct tn_mcp_ctx *ctx, json_t *args, void *ud)
{
    return tn_mcp_result_text(json_string_value(json_object_get(args, "text")));
}

static const struct tn_mcp_tool echo_tool = {
    .name = "echo",
    .description = "Returns the text it was given.",
    .input_schema = "{\"type\":\"object\",\"properties\":{\"text\":{\"type\":\"string\","
                    "\"maxLength\":1000}},\"required\":[\"text\"],\"additionalProperties\":false}",
    .annotations = {.read_only = 1, .open_world = -1},
    .call = echo,
};

/* ---------- a request as the HTTP layer would hand it over ---------- */

struct request {
    const char *name;
    const char *headers[8][2];
    const char *body;
    int status; /* expected HTTP status */
    int code;   /* expected JSON-RPC error code; 0: a result */
};

static const char *req_header(void *ud, const char *name)
{
    const struct request *r = ud;
    for (size_t i = 0; i < 8 && r->headers[i][0]; i++)
        if (!strcasecmp(r->headers[i][0], name))
            return r->headers[i][1];
    return NULL;
}

/* No case streams; a NULL sink would make the core answer 503 rather than crash. */
static struct tn_sink *req_stream(void *ud)
{
    return NULL;
}

#define JSON_HDRS                                                                           \
    {"Content-Type", "application/json"}, {"Accept", "application/json, text/event-stream"}
#define META "\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\"," \
             "\"io.modelcontextprotocol/clientCapabilities\":{}}"
#define ECHO_ARGS "\"name\":\"echo\",\"arguments\":{\"text\":\"hello, benchmark\"}"

static const struct request cases[] = {
    {"legacy_call", {JSON_HDRS, {"MCP-Protocol-Version", "2025-11-25"}},
     "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{" ECHO_ARGS "}}", 200, 0},
    {"modern_call",
     {JSON_HDRS, {"MCP-Protocol-Version", "2026-07-28"}, {"Mcp-Method", "tools/call"},
      {"Mcp-Name", "echo"}},
     "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{" ECHO_ARGS "," META "}}",
     200, 0},
    {"tools_list", {JSON_HDRS, {"MCP-Protocol-Version", "2025-11-25"}},
     "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}", 200, 0},
    {"parse_error", {JSON_HDRS, {"MCP-Protocol-Version", "2025-11-25"}},
     "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":", 400, -32700},
};
enum { N_CASES = sizeof cases / sizeof cases[0] };

/* One request, as serve.c does it: a fresh output buffer, handled, then freed. Returns
 * the HTTP status; when `answer` is given, the body parsed as JSON goes there. */
static int serve_one(struct tn_mcp_server *s, const struct request *r, json_t **answer)
{
    struct tn_mcp_http_in in = {
        .method = "POST",
        .header = req_header,
        .open_stream = req_stream,
        .ud = (void *)r,
        .body = {r->body, strlen(r->body)},
        .principal = NULL,
        .subject = "",
        .request_id = "bench",
    };
    struct tn_mcp_http_out out = {0};
    tn_buf_init(&out.body, 16u << 20);
    tn_mcp_handle(s, &in, &out);
    if (answer)
        *answer = out.body.len ? json_loadb(out.body.data, out.body.len, 0, NULL) : NULL;
    tn_buf_deinit(&out.body);
    return out.streamed ? -1 : out.status;
}

static bool str_is(json_t *v, const char *want)
{
    const char *got = json_string_value(v);
    return got && !strcmp(got, want);
}

/* Checks a whole answer: the status, the id, and the result or the exact error code. */
static bool answer_ok(const struct request *r, int status, json_t *a)
{
    if (status != r->status || !json_is_object(a)) {
        fprintf(stderr, "%s: HTTP %d (want %d)\n", r->name, status, r->status);
        return false;
    }
    json_t *err = json_object_get(a, "error");
    if (r->code)
        return json_integer_value(json_object_get(err, "code")) == r->code;
    json_t *res = json_object_get(a, "result");
    if (err || !res || json_integer_value(json_object_get(a, "id")) != 1)
        return false;
    if (!strcmp(r->name, "tools_list")) {
        json_t *tools = json_object_get(res, "tools");
        return json_array_size(tools) == 1 &&
               str_is(json_object_get(json_array_get(tools, 0), "name"), "echo");
    }
    json_t *block = json_array_get(json_object_get(res, "content"), 0);
    /* 2026-07-28 says how the call ended; the 2025 revisions do not */
    json_t *kind = json_object_get(res, "resultType");
    bool modern = !strcmp(r->name, "modern_call");
    return !json_is_true(json_object_get(res, "isError")) &&
           str_is(json_object_get(block, "text"), "hello, benchmark") &&
           (modern ? str_is(kind, "complete") : kind == NULL);
}

/* Checks the first answer in full, warms up, then times `iterations` requests and
 * prints the case. False on any wrong answer. */
static bool run_case(struct tn_mcp_server *s, const struct request *r, double *samples,
                     long iterations, double timer)
{
    json_t *first = NULL;
    int status = serve_one(s, r, &first);
    bool ok = answer_ok(r, status, first);
    if (!ok) {
        char *dump = first ? json_dumps(first, JSON_COMPACT) : NULL;
        fprintf(stderr, "%s: unexpected answer: %s\n", r->name, dump ? dump : "(none)");
        free(dump);
        goto done;
    }
    for (int w = 0; w < 500 && ok; w++) /* warm caches and the allocator */
        ok = (status = serve_one(s, r, NULL)) == r->status;
    double t0 = thread_cpu_us();
    for (long n = 0; n < iterations && ok; n++) {
        status = serve_one(s, r, NULL);
        double t1 = thread_cpu_us();
        samples[n] = t1 - t0;
        t0 = t1;
        ok = status == r->status;
    }
    if (!ok) {
        fprintf(stderr, "%s: HTTP %d during the run (want %d)\n", r->name, status, r->status);
        goto done;
    }
    report(r->name, samples, iterations, timer);
done:
    json_decref(first);
    return ok;
}

int main(int argc, char **argv)
{
    long iterations = argc > 1 ? strtol(argv[1], NULL, 10) : 50000;
    if (iterations <= 0 || tn_util_init() != TN_OK) {
        fprintf(stderr, "usage: %s [iterations > 0]\n", argv[0]);
        return 2;
    }
    static const uint8_t secret[32] = {0x62, 0x65, 0x6e, 0x63, 0x68};
    struct tn_mcp_info info = {.name = "bench", .version = "1", .secret = secret,
                               .secret_len = sizeof secret};
    struct tn_mcp_server *s = tn_mcp_server_new(&info);
    double *samples = malloc((size_t)iterations * sizeof *samples);
    int rc = 1;
    if (!s || !samples || tn_mcp_tool_add(s, &echo_tool) != TN_OK)
        goto done;

    double timer = timer_cost(samples, iterations < 1000 ? iterations : 1000);
    printf("rpc_dispatch: %ld requests per case, thread CPU time per request, "
           "timer_us=%.3f (subtracted)\n", iterations, timer);
    for (size_t c = 0; c < N_CASES; c++)
        if (!run_case(s, &cases[c], samples, iterations, timer))
            goto done;
    rc = 0;
done:
    if (rc)
        fprintf(stderr, "rpc_dispatch: setup failed or a wrong answer\n");
    free(samples);
    tn_mcp_server_free(s);
    return rc;
}
