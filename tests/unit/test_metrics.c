/* The Prometheus text format writer (src/ops/prom.c), the metrics and their bounded labels
 * (src/ops/metrics.c), request ids (src/ops/reqid.c) and METRICS_LISTEN's form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/config.h"
#include "ops/metrics.h"
#include "ops/prom.h"
#include "ops/reqid.h"

static void test_label_escaping(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"", ""},
        {"plain", "plain"},
        {"a\"b", "a\\\"b"},
        {"back\\slash", "back\\\\slash"},
        {"line\nbreak", "line\\nbreak"},
        {"\\\"\n", "\\\\\\\"\\n"},
        {"tab\there", "tab\there"}, /* only the three characters the format names */
        {"caf\xc3\xa9", "caf\xc3\xa9"},
        {"\"", "\\\""},
        {"end\\", "end\\\\"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct tn_buf b;
        tn_buf_init(&b, 1024);
        assert_int_equal(tn_prom_escape_label(&b, cases[i].in), TN_OK);
        assert_string_equal(b.data ? b.data : "", cases[i].out);
        tn_buf_deinit(&b);
    }
}

static void test_sample_and_family(void **state)
{
    (void)state;
    struct tn_buf b;
    tn_buf_init(&b, 4096);
    struct tn_prom_label l[] = {{"tool", "a\"b\\c\nd"}, {"outcome", "ok"}};
    assert_int_equal(tn_prom_family(&b, "x_calls_total", "Calls.\nSecond \\ line", TN_PROM_COUNTER),
                     TN_OK);
    assert_int_equal(tn_prom_sample(&b, "x_calls_total", l, 2, 42), TN_OK);
    assert_int_equal(tn_prom_sample(&b, "x_up", NULL, 0, 1), TN_OK);
    assert_string_equal(b.data, "# HELP x_calls_total Calls.\\nSecond \\\\ line\n"
                                "# TYPE x_calls_total counter\n"
                                "x_calls_total{tool=\"a\\\"b\\\\c\\nd\",outcome=\"ok\"} 42\n"
                                "x_up 1\n");
    size_t before = b.len;
    /* refused, and nothing of the refused line is left */
    assert_int_equal(tn_prom_family(&b, "x_calls", "h", TN_PROM_COUNTER), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_prom_family(&b, "9x", "h", TN_PROM_GAUGE), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_prom_family(&b, "x-y", "h", TN_PROM_GAUGE), TN_ERR_BAD_INPUT);
    assert_int_equal(tn_prom_family(&b, "x", "h", (enum tn_prom_type)7), TN_ERR_BAD_INPUT);
    struct tn_prom_label bad[][1] = {{{"9a", "v"}}, {{"__name", "v"}}, {{"a-b", "v"}}, {{"", "v"}}};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(tn_prom_sample(&b, "x_up", bad[i], 1, 1), TN_ERR_BAD_INPUT);
    assert_int_equal(b.len, before);
    assert_int_equal(b.data[before], '\0');
    tn_buf_deinit(&b);

    /* a full buffer: TN_ERR_LIMIT, the buffer as it was */
    tn_buf_init(&b, 16);
    assert_int_equal(tn_prom_sample(&b, "x_up", NULL, 0, 1), TN_OK);
    assert_int_equal(tn_prom_sample(&b, "x_up", l, 2, 1), TN_ERR_LIMIT);
    assert_string_equal(b.data, "x_up 1\n");
    tn_buf_deinit(&b);
}

static void test_names(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int metric, label;
    } cases[] = {
        {"a", 1, 1},          {"_a", 1, 1}, {"a_b:c", 1, 0}, {":a", 1, 0},
        {"a9", 1, 1},         {"9a", 0, 0}, {"", 0, 0},      {"a b", 0, 0},
        {"__reserved", 1, 0}, {"le", 1, 1}, {"a.b", 0, 0},   {"\xc3\xa9", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(tn_prom_metric_name_ok(cases[i].name), cases[i].metric);
        assert_int_equal(tn_prom_label_name_ok(cases[i].name), cases[i].label);
    }
    assert_int_equal(tn_prom_metric_name_ok(NULL), 0);
}

static void test_histogram(void **state)
{
    (void)state;
    static const char *const le[] = {"0.1", "1"};
    uint64_t counts[] = {2, 0, 3}; /* per bucket: cumulative on output */
    struct tn_prom_label l[] = {{"route", "/mcp"}};
    struct tn_buf b;
    tn_buf_init(&b, 4096);
    assert_int_equal(tn_prom_histogram(&b, "h_seconds", l, 1, le, counts, 2, 12.5), TN_OK);
    assert_string_equal(b.data, "h_seconds_bucket{route=\"/mcp\",le=\"0.1\"} 2\n"
                                "h_seconds_bucket{route=\"/mcp\",le=\"1\"} 2\n"
                                "h_seconds_bucket{route=\"/mcp\",le=\"+Inf\"} 5\n"
                                "h_seconds_sum{route=\"/mcp\"} 12.500000000\n"
                                "h_seconds_count{route=\"/mcp\"} 5\n");
    tn_buf_reset(&b);
    assert_int_equal(tn_prom_histogram(&b, "h_seconds", NULL, 0, le, counts, 2, 0), TN_OK);
    assert_string_equal(b.data, "h_seconds_bucket{le=\"0.1\"} 2\n"
                                "h_seconds_bucket{le=\"1\"} 2\n"
                                "h_seconds_bucket{le=\"+Inf\"} 5\n"
                                "h_seconds_sum 0.000000000\n"
                                "h_seconds_count 5\n");
    struct tn_prom_label lel[] = {{"le", "x"}};
    size_t n = b.len;
    assert_int_equal(tn_prom_histogram(&b, "h_seconds", lel, 1, le, counts, 2, 0),
                     TN_ERR_BAD_INPUT);
    assert_int_equal(b.len, n);
    tn_buf_deinit(&b);
}

/* Prometheus buckets are "less than or equal": an observation on a bound is in it. */
static void test_bucket_boundaries(void **state)
{
    (void)state;
    static const struct {
        uint64_t ns;
        unsigned bucket;
    } cases[] = {
        {0, 0},           {499999, 0},      {500000, 0},       {500001, 1},       {1000000, 1},
        {1000001, 2},     {2500000, 2},     {9999999, 4},      {10000000, 4},     {10000001, 5},
        {1000000000, 10}, {1000000001, 11}, {10000000000, 13}, {10000000001, 14}, {UINT64_MAX, 14},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(tn_metrics_bucket(cases[i].ns), cases[i].bucket);
    for (unsigned i = 1; i < TN_METRICS_BUCKETS; i++) /* increasing, le matching ns */
        assert_true(tn_metrics_bucket_ns[i] > tn_metrics_bucket_ns[i - 1]);
    assert_string_equal(tn_metrics_bucket_le[1], "0.001");
    assert_int_equal(tn_metrics_bucket_ns[1], 1000000);
    assert_string_equal(tn_metrics_bucket_le[TN_METRICS_BUCKETS - 1], "10");
}

static const char *line_of(const char *text, const char *prefix)
{
    const char *p = strstr(text, prefix);
    return p && (p == text || p[-1] == '\n') ? p : NULL;
}

/* The exact count of a series, or -1 when it is not in the text. */
static long long value_of(const char *text, const char *series)
{
    char key[512];
    snprintf(key, sizeof key, "%s ", series);
    for (const char *p = text; (p = strstr(p, key)); p++)
        if (p == text || p[-1] == '\n')
            return atoll(p + strlen(key));
    return -1;
}

static void test_render_counts_and_bounds(void **state)
{
    (void)state;
    tn_metrics_reset();
    unsigned save = tn_metrics_tool_slot("save_note");
    assert_int_equal(tn_metrics_tool_slot("save_note"), save); /* the same slot again */
    assert_true(save > 0);
    for (int i = 0; i < 3; i++)
        tn_metrics_tool(save, TN_METRICS_OK);
    tn_metrics_tool(save, TN_METRICS_ERROR);
    tn_metrics_tool(0, TN_METRICS_REJECTED);
    tn_metrics_tool(9999, TN_METRICS_REJECTED); /* out of range: other */
    tn_metrics_mcp("tools/call", true);
    tn_metrics_mcp("tools/call", false);
    tn_metrics_mcp("evil\"method\n", false); /* a client's method name never becomes a label */
    tn_metrics_mcp(NULL, false);
    unsigned mcp = tn_metrics_route_slot("/mcp");
    tn_metrics_http(mcp, 200, 1000000);
    tn_metrics_http(mcp, 401, 2000000);
    tn_metrics_http(mcp, 999, 3000000); /* not a status: 5xx */
    tn_metrics_signin("password", "ok");
    tn_metrics_signin("password", "failed");
    tn_metrics_signin("password", "failed");
    tn_metrics_signin("carrier-pigeon", "ok");
    tn_metrics_signin("email", "<script>");
    tn_metrics_registration("dcr", "ok");
    tn_metrics_registration("cimd", "throttled");
    tn_metrics_store(TN_METRICS_STORE_NOTE_INSERT, 500000);
    tn_metrics_store(TN_METRICS_STORE__COUNT, 1); /* ignored */
    tn_metrics_streams(2);
    tn_metrics_streams(-1);

    /* a label longer than a slot holds: other */
    char longname[200];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(tn_metrics_tool_slot(longname), 0);
    assert_int_equal(tn_metrics_tool_slot(NULL), 0);

    struct tn_buf b;
    tn_buf_init(&b, 1 << 20);
    struct tn_metrics_extra x = {.version = "1.2.3",
                                 .backend = "sqlite",
                                 .have_token_cache = true,
                                 .token_cache_hits = 7,
                                 .token_cache_misses = 2};
    assert_int_equal(tn_metrics_render(&b, &x), TN_OK);
    const char *t = b.data;
    assert_int_equal(value_of(t, "teamnotes_build_info{version=\"1.2.3\",backend=\"sqlite\"}"), 1);
    assert_int_equal(
        value_of(t, "teamnotes_mcp_tool_calls_total{tool=\"save_note\",outcome=\"ok\"}"), 3);
    assert_int_equal(
        value_of(t, "teamnotes_mcp_tool_calls_total{tool=\"save_note\",outcome=\"error\"}"), 1);
    assert_int_equal(
        value_of(t, "teamnotes_mcp_tool_calls_total{tool=\"other\",outcome=\"rejected\"}"), 2);
    assert_int_equal(
        value_of(t, "teamnotes_mcp_requests_total{method=\"tools/call\",outcome=\"ok\"}"), 1);
    assert_int_equal(
        value_of(t, "teamnotes_mcp_requests_total{method=\"other\",outcome=\"error\"}"), 2);
    assert_null(strstr(t, "evil"));
    assert_int_equal(value_of(t, "teamnotes_http_requests_total{route=\"/mcp\",code=\"2xx\"}"), 1);
    assert_int_equal(value_of(t, "teamnotes_http_requests_total{route=\"/mcp\",code=\"4xx\"}"), 1);
    assert_int_equal(value_of(t, "teamnotes_http_requests_total{route=\"/mcp\",code=\"5xx\"}"), 1);
    assert_int_equal(
        value_of(t, "teamnotes_http_request_duration_seconds_bucket{route=\"/mcp\",le=\"0.001\"}"),
        1);
    assert_int_equal(
        value_of(t, "teamnotes_http_request_duration_seconds_bucket{route=\"/mcp\",le=\"0.0025\"}"),
        2);
    assert_int_equal(
        value_of(t, "teamnotes_http_request_duration_seconds_bucket{route=\"/mcp\",le=\"+Inf\"}"),
        3);
    assert_non_null(line_of(t, "teamnotes_http_request_duration_seconds_sum{route=\"/mcp\"} "
                               "0.006000000\n"));
    assert_int_equal(value_of(t, "teamnotes_signins_total{method=\"password\",outcome=\"failed\"}"),
                     2);
    assert_int_equal(value_of(t, "teamnotes_signins_total{method=\"other\",outcome=\"ok\"}"), 1);
    assert_int_equal(value_of(t, "teamnotes_signins_total{method=\"email\",outcome=\"other\"}"), 1);
    assert_null(strstr(t, "pigeon"));
    assert_null(strstr(t, "script"));
    assert_int_equal(
        value_of(t, "teamnotes_client_registrations_total{kind=\"cimd\",outcome=\"throttled\"}"),
        1);
    assert_int_equal(value_of(t, "teamnotes_store_call_duration_seconds_count{op=\"note_insert\"}"),
                     1);
    assert_int_equal(
        value_of(t,
                 "teamnotes_store_call_duration_seconds_bucket{op=\"note_insert\",le=\"0.0005\"}"),
        1);
    assert_int_equal(value_of(t, "teamnotes_sse_streams_open"), 1);
    assert_int_equal(value_of(t, "teamnotes_token_cache_hits_total"), 7);
    assert_int_equal(value_of(t, "teamnotes_token_cache_misses_total"), 2);
    /* every family once */
    const char *first = strstr(t, "# TYPE teamnotes_signins_total counter\n");
    assert_non_null(first);
    assert_null(strstr(first + 1, "# TYPE teamnotes_signins_total"));
    tn_buf_deinit(&b);

    /* no token verification: no cache series */
    tn_buf_init(&b, 1 << 20);
    struct tn_metrics_extra none = {.version = "v", .backend = "postgres"};
    assert_int_equal(tn_metrics_render(&b, &none), TN_OK);
    assert_null(strstr(b.data, "token_cache"));
    tn_buf_deinit(&b);
    tn_metrics_reset();
}

/* The tool table is bounded: past it every new name is "other". */
static void test_tool_table_full(void **state)
{
    (void)state;
    tn_metrics_reset();
    unsigned last = 0;
    char name[32];
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof name, "tool_%d", i);
        unsigned s = tn_metrics_tool_slot(name);
        if (s)
            last = s;
        else
            break;
    }
    assert_int_equal(last, 63);
    assert_int_equal(tn_metrics_tool_slot("one_too_many"), 0);
    assert_int_equal(tn_metrics_tool_slot("tool_5"), 6); /* known ones keep their slot */
    tn_metrics_reset();
    assert_int_equal(tn_metrics_tool_slot("fresh"), 1);
    tn_metrics_reset();
}

static void test_reqid(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        bool ok;
    } cases[] = {
        {"a", true},
        {"0123-abcd_EF.gh:ij", true},
        {"f47ac10b-58cc-4372-a567-0e02b2c3d479", true},
        {"", false},
        {"a b", false},
        {"a\"b", false},
        {"a\nb", false},
        {"a\rb", false},
        {"a/b", false},
        {"a=b", false},
        {"a+b", false},
        {"caf\xc3\xa9", false},
        {"a\\b", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(tn_reqid_valid(cases[i].in, strlen(cases[i].in)), cases[i].ok);
    char s128[129], s129[130];
    memset(s128, 'x', 128);
    s128[128] = '\0';
    memset(s129, 'x', 129);
    s129[129] = '\0';
    assert_true(tn_reqid_valid(s128, 128));
    assert_false(tn_reqid_valid(s129, 129));
    assert_false(tn_reqid_valid(NULL, 0));
    assert_false(tn_reqid_valid("ab\0cd", 5)); /* a NUL inside the span */

    /* made ids: 22 characters of base64url, valid, all different */
    char ids[64][TN_REQID_MADE_LEN + 1];
    for (int i = 0; i < 64; i++) {
        tn_reqid_make(ids[i]);
        assert_int_equal(strlen(ids[i]), TN_REQID_MADE_LEN);
        assert_true(tn_reqid_valid(ids[i], strlen(ids[i])));
        assert_int_equal(
            strspn(ids[i], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
            TN_REQID_MADE_LEN);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(ids[i], ids[j]);
    }
}

static void test_metrics_listen(void **state)
{
    (void)state;
    static const struct {
        const char *in, *host;
        int port; /* -1: refused */
    } cases[] = {
        {"127.0.0.1:9090", "127.0.0.1", 9090},
        {"[::1]:9090", "::1", 9090},
        {"0.0.0.0:0", "0.0.0.0", 0},
        {"10.0.0.5:65535", "10.0.0.5", 65535},
        {"127.0.0.1", NULL, -1},
        {"127.0.0.1:", NULL, -1},
        {":9090", NULL, -1},
        {"127.0.0.1:65536", NULL, -1},
        {"127.0.0.1:-1", NULL, -1},
        {"127.0.0.1:+80", NULL, -1},
        {"127.0.0.1:80x", NULL, -1},
        {"::1:9090", "::1", 9090}, /* unbracketed: the last colon; getaddrinfo judges the host */
        {"[::1]9090", NULL, -1},
        {"[]:9090", NULL, -1},
        {"a]:9090", NULL, -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char host[64] = "unchanged";
        uint16_t port = 1;
        enum tn_err rc = tn_config_metrics_listen(cases[i].in, host, sizeof host, &port);
        if (cases[i].port < 0) {
            assert_int_equal(rc, TN_ERR_CONFIG);
        } else {
            assert_int_equal(rc, TN_OK);
            assert_string_equal(host, cases[i].host);
            assert_int_equal(port, cases[i].port);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_escaping),
        cmocka_unit_test(test_sample_and_family),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_bucket_boundaries),
        cmocka_unit_test(test_render_counts_and_bounds),
        cmocka_unit_test(test_tool_table_full),
        cmocka_unit_test(test_reqid),
        cmocka_unit_test(test_metrics_listen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
