/* One parse per request: a call of a tool that waits is parsed and checked in the first
 * tn_mcp_handle, parked (out->parked), and only dispatched in the second, which gets the
 * parked call back and never looks at the body again; and the arena behind it
 * (core/arena.h), with its poisoning under AddressSanitizer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cmocka.h>

#include "core/arena.h"
#include "mcp/mcp.h"

#if defined(__SANITIZE_ADDRESS__)
#define ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN 1
#endif
#endif
#ifdef ASAN
#include <sanitizer/asan_interface.h>
#endif

/* ---------- the arena ---------- */

static void test_arena_blocks(void **state)
{
    (void)state;
    _Alignas(16) char first[256];
    struct tn_arena a;
    tn_arena_init(&a, first, sizeof first);
    void *p[64];
    for (int i = 0; i < 64; i++) { /* past the first block: heap blocks follow */
        p[i] = tn_arena_alloc(&a, (size_t)(i * 7 + 1));
        assert_non_null(p[i]);
        assert_int_equal((uintptr_t)p[i] % 16, 0);
        memset(p[i], i, (size_t)(i * 7 + 1));
        assert_true(tn_arena_owns(&a, p[i]));
    }
    assert_true(tn_arena_owns(&a, first + 8));
    for (int i = 0; i < 64; i++) /* nothing overlaps */
        for (int k = 0; k < i * 7 + 1; k++)
            assert_int_equal(((unsigned char *)p[i])[k], i);
    char *d = tn_arena_strndup(&a, "abcdef", 3);
    assert_string_equal(d, "abc");
    int local;
    assert_false(tn_arena_owns(&a, &local));
    void *big = tn_arena_alloc(&a, 100000); /* larger than any block so far */
    assert_non_null(big);
    assert_true(tn_arena_owns(&a, (char *)big + 99999));
    assert_null(tn_arena_alloc(&a, SIZE_MAX - 8)); /* refused, not wrapped */
    tn_arena_deinit(&a);
    memset(first, 0, sizeof first); /* the caller's block is usable again */
}

/* Released blocks and the gaps between blocks are poisoned under AddressSanitizer: a use
 * after release or an overflow is reported, not hidden by the arena. */
static void test_arena_poison(void **state)
{
    (void)state;
#ifdef ASAN
    struct tn_arena a;
    tn_arena_init(&a, NULL, 0);
    char *x = tn_arena_alloc(&a, 24);
    char *y = tn_arena_alloc(&a, 24);
    assert_false(__asan_address_is_poisoned(x));
    assert_false(__asan_address_is_poisoned(x + 23));
    assert_true(__asan_address_is_poisoned(x + 24)); /* the gap after x */
    tn_arena_release(&a, x);
    assert_true(__asan_address_is_poisoned(x));
    assert_false(__asan_address_is_poisoned(y));
    tn_arena_deinit(&a);
#else
    skip();
#endif
}

/* jansson values made in a scope come from its arena; frees of them there are no-ops;
 * values made outside (or before) are malloc's, and freed as such. */
static void test_arena_json_scope(void **state)
{
    (void)state;
    tn_arena_json_install();
    json_t *heap = json_string("made on the heap");
    struct tn_arena a;
    tn_arena_init(&a, NULL, 0);
    struct tn_arena_scope outer = tn_arena_json_enter(&a, true);
    json_t *v = json_pack("{s:s, s:[i,i]}", "k", "value", "a", 1, 2);
    assert_true(tn_arena_owns(&a, v));
    json_object_set(v, "heap", heap); /* a reference to a heap value */
    struct tn_arena_scope inner = tn_arena_json_enter(&a, false);
    json_t *w = json_string("not in the arena");
    assert_false(tn_arena_owns(&a, w));
    json_t *copy = json_deep_copy(v); /* how a value leaves the arena */
    assert_false(tn_arena_owns(&a, copy));
    tn_arena_json_leave(inner);
    assert_ptr_equal(tn_arena_json_current(), &a);
    json_decref(w);
    json_decref(v);
    tn_arena_json_leave(outer);
    assert_null(tn_arena_json_current());
    tn_arena_deinit(&a);
    assert_string_equal(json_string_value(json_object_get(copy, "k")), "value");
    assert_int_equal(json_integer_value(json_array_get(json_object_get(copy, "a"), 1)), 2);
    assert_int_equal(heap->refcount, 1); /* v's reference went back with v (copy has its own) */
    json_decref(copy);
    json_decref(heap);
}

/* ---------- the parked call ---------- */

static int calls; /* runs of the tool */
static char last_text[64];

static json_t *t_write(struct tn_mcp_ctx *ctx, json_t *args, void *ud)
{
    (void)ctx, (void)ud;
    calls++;
    snprintf(last_text, sizeof last_text, "%s", json_string_value(json_object_get(args, "text")));
    return tn_mcp_result_text(last_text);
}

static const struct tn_mcp_tool tools[] = {
    {.name = "write",
     .description = "a write that waits",
     .input_schema = "{\"type\":\"object\",\"properties\":{\"text\":{\"type\":\"string\"}}}",
     .waits = true,
     .call = t_write},
};

static struct tn_mcp_server *server(void)
{
    static const uint8_t key[32] = {9, 9, 9};
    struct tn_mcp_info info = {.name = "offload",
                               .version = "1.0",
                               .secret = key,
                               .secret_len = sizeof key,
                               .max_listen = 4};
    struct tn_mcp_server *s = tn_mcp_server_new(&info);
    assert_non_null(s);
    assert_int_equal(tn_mcp_tool_add(s, &tools[0]), TN_OK);
    return s;
}

struct hdrs {
    const char *h[8][2];
};

static const char *hdr(void *ud, const char *name)
{
    struct hdrs *f = ud;
    for (int i = 0; i < 8 && f->h[i][0]; i++)
        if (!strcasecmp(f->h[i][0], name))
            return f->h[i][1];
    return NULL;
}

#define META                                                                 \
    "\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\"," \
    "\"io.modelcontextprotocol/clientCapabilities\":{}}"

struct era {
    const char *body;
    struct hdrs h;
};

static const struct era eras[] = {
    {"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":\"write\","
     "\"arguments\":{\"text\":\"legacy\"}}}",
     {{{"Content-Type", "application/json"},
       {"Accept", "application/json, text/event-stream"},
       {"MCP-Protocol-Version", "2025-11-25"}}}},
    {"{\"jsonrpc\":\"2.0\",\"id\":\"m-8\",\"method\":\"tools/call\",\"params\":{\"name\":\"write\","
     "\"arguments\":{\"text\":\"modern\"}," META "}}",
     {{{"Content-Type", "application/json"},
       {"Accept", "application/json, text/event-stream"},
       {"MCP-Protocol-Version", "2026-07-28"},
       {"Mcp-Method", "tools/call"},
       {"Mcp-Name", "write"}}}},
};

/* The first call parks and runs nothing; the second serves the parked call with a body
 * that is not even JSON: had it parsed the body again, the answer would be -32700. The
 * wire answer equals the one of a call that is not offloaded. For both eras, with the
 * transport's arena and without one (then the parked call is a heap copy). */
static void test_parsed_once(void **state)
{
    (void)state;
    struct tn_mcp_server *s = server();
    for (size_t e = 0; e < sizeof eras / sizeof eras[0]; e++) {
        for (int with_arena = 0; with_arena < 2; with_arena++) {
            struct hdrs h = eras[e].h;
            struct tn_arena req_arena;
            tn_arena_init(&req_arena, NULL, 0);
            struct tn_mcp_http_in in = {.method = "POST",
                                        .header = hdr,
                                        .ud = &h,
                                        .body = {eras[e].body, strlen(eras[e].body)},
                                        .subject = "u",
                                        .can_offload = true,
                                        .arena = with_arena ? &req_arena : NULL};
            struct tn_mcp_http_out first = {0};
            tn_buf_init(&first.body, 1 << 20);
            calls = 0;
            tn_mcp_handle(s, &in, &first);
            assert_true(first.offload);
            assert_non_null(first.parked);
            assert_int_equal(first.body.len, 0);
            assert_int_equal(calls, 0);

            static const char garbage[] = "\x01 not JSON";
            in.body = (struct tn_span){garbage, sizeof garbage - 1};
            in.can_offload = false;
            in.parked = first.parked;
            struct tn_mcp_http_out second = {0};
            tn_buf_init(&second.body, 1 << 20);
            tn_mcp_handle(s, &in, &second);
            assert_int_equal(calls, 1);
            assert_false(second.offload);
            assert_int_equal(second.status, 200);

            /* the same request served in one call, for the expected bytes */
            in.body = (struct tn_span){eras[e].body, strlen(eras[e].body)};
            in.parked = NULL;
            struct tn_mcp_http_out direct = {0};
            tn_buf_init(&direct.body, 1 << 20);
            tn_mcp_handle(s, &in, &direct);
            assert_int_equal(calls, 2);
            assert_string_equal(second.body.data, direct.body.data);
            assert_non_null(strstr(second.body.data, e ? "\"id\":\"m-8\"" : "\"id\":7"));
            assert_string_equal(last_text, e ? "modern" : "legacy");

            tn_mcp_parked_free(first.parked);
            tn_arena_deinit(&req_arena);
            tn_buf_deinit(&first.body);
            tn_buf_deinit(&second.body);
            tn_buf_deinit(&direct.body);
        }
    }
    tn_mcp_parked_free(NULL);
    tn_mcp_server_free(s);
}

/* A parked call that is never served (the transport gave up) is freed whole. */
static void test_parked_unserved(void **state)
{
    (void)state;
    struct tn_mcp_server *s = server();
    struct hdrs h = eras[1].h;
    struct tn_arena req_arena;
    tn_arena_init(&req_arena, NULL, 0);
    struct tn_mcp_http_in in = {.method = "POST",
                                .header = hdr,
                                .ud = &h,
                                .body = {eras[1].body, strlen(eras[1].body)},
                                .can_offload = true,
                                .arena = &req_arena};
    struct tn_mcp_http_out out = {0};
    tn_buf_init(&out.body, 1 << 20);
    calls = 0;
    tn_mcp_handle(s, &in, &out);
    assert_non_null(out.parked);
    tn_mcp_parked_free(out.parked);
    tn_arena_deinit(&req_arena);
    tn_buf_deinit(&out.body);
    assert_int_equal(calls, 0);
    tn_mcp_server_free(s);
}

/* A legacy batch holding a call that waits leaves the event loop whole: the first call
 * runs nothing and asks to be served again, with nothing parked (the pool parses the
 * batch again); the second answers every message. A batch without such a call is
 * answered at once. */
static void test_batch_offloaded(void **state)
{
    (void)state;
    struct tn_mcp_server *s = server();
    struct hdrs h = {{{"Content-Type", "application/json"},
                      {"Accept", "application/json, text/event-stream"},
                      {"MCP-Protocol-Version", "2025-03-26"}}};
    static const char batch[] =
        "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},"
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":"
        "\"write\",\"arguments\":{\"text\":\"in a batch\"}}}]";
    static const char quick[] = "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},"
                                "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}]";
    struct tn_mcp_http_in in = {.method = "POST",
                                .header = hdr,
                                .ud = &h,
                                .body = {batch, sizeof batch - 1},
                                .subject = "u",
                                .can_offload = true};
    struct tn_mcp_http_out out[3] = {0};
    for (int i = 0; i < 3; i++)
        tn_buf_init(&out[i].body, 1 << 20);
    calls = 0;
    tn_mcp_handle(s, &in, &out[0]);
    assert_true(out[0].offload);
    assert_null(out[0].parked);
    assert_int_equal(out[0].body.len, 0);
    assert_int_equal(calls, 0);

    in.can_offload = false; /* on the pool */
    tn_mcp_handle(s, &in, &out[1]);
    assert_false(out[1].offload);
    assert_int_equal(out[1].status, 200);
    assert_int_equal(calls, 1);
    assert_string_equal(last_text, "in a batch");
    json_t *r = json_loads(out[1].body.data, 0, NULL);
    assert_int_equal(json_array_size(r), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(r, 0), "id")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(r, 1), "id")), 2);
    assert_non_null(json_object_get(json_array_get(r, 1), "result"));
    json_decref(r);

    in.can_offload = true;
    in.body = (struct tn_span){quick, sizeof quick - 1};
    tn_mcp_handle(s, &in, &out[2]);
    assert_false(out[2].offload);
    assert_int_equal(out[2].status, 200);
    assert_int_equal(calls, 1);
    for (int i = 0; i < 3; i++)
        tn_buf_deinit(&out[i].body);
    tn_mcp_server_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_blocks),     cmocka_unit_test(test_arena_poison),
        cmocka_unit_test(test_arena_json_scope), cmocka_unit_test(test_parsed_once),
        cmocka_unit_test(test_parked_unserved),  cmocka_unit_test(test_batch_offloaded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
