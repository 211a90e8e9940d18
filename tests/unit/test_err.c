/* The error table (src/core/err.h) walked row by row: every row named and worded, every
 * wire code one the references document (shared/reference/mcp-transport-and-lifecycle.md
 * §3.5, mcp-authorization.md; the OAuth registries of RFC 6749, 6750, 7591 and 8707), no
 * two rows that look the same on the wire, and the JSON-RPC errors of the MCP core built
 * from the table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/err.h"
#include "mcp/internal.h"

/* Every row, as the X-macro gives it: the name as written in the table. */
static const struct {
    enum tn_err e;
    const char *name;
} all[] = {
#define ROW(name, msg, http, oauth, rpc) {name, #name},
    TN_ERR_TABLE(ROW)
#undef ROW
};
#define N_ROWS (sizeof all / sizeof all[0])

static bool streq(const char *a, const char *b) { return a == b || (a && b && strcmp(a, b) == 0); }

static void test_every_row_named_and_worded(void **state)
{
    assert_int_equal(N_ROWS, TN_ERR__COUNT);
    assert_int_equal(TN_OK, 0);
    for (size_t i = 0; i < N_ROWS; i++) {
        assert_int_equal(all[i].e, i);
        assert_string_equal(tn_err_name(all[i].e), all[i].name);
        assert_true(strncmp(all[i].name, "TN_", 3) == 0);
        const char *m = tn_err_message(all[i].e);
        assert_non_null(m);
        assert_true(m[0] != '\0');
        /* printable ASCII: messages go out in JSON-RPC errors and logs as they are */
        for (const char *p = m; *p; p++)
            assert_true(*p >= 0x20 && *p < 0x7f);
    }
    /* an out-of-range value reads as an internal error, never past the table */
    assert_string_equal(tn_err_name(TN_ERR__COUNT), "TN_ERR_INTERNAL");
    assert_string_equal(tn_err_name((enum tn_err) - 1), "TN_ERR_INTERNAL");
    assert_int_equal(tn_err_jsonrpc(TN_ERR__COUNT), tn_err_jsonrpc(TN_ERR_INTERNAL));
}

/* JSON-RPC codes the references document (mcp-transport-and-lifecycle.md §3.5): the
 * JSON-RPC 2.0 codes, the implementation-defined -32000 of the SDK's transport errors,
 * the 2025 revisions' -32002, and the 2026-07-28 codes -32020..-32022. */
static const int documented_rpc[] = {-32700, -32600, -32601, -32602, -32603,
                                     -32000, -32002, -32020, -32021, -32022};

static void test_jsonrpc_codes_documented(void **state)
{
    for (size_t i = 0; i < N_ROWS; i++) {
        int rpc = tn_err_jsonrpc(all[i].e);
        if (all[i].e == TN_OK) {
            assert_int_equal(rpc, 0);
            continue;
        }
        bool known = false;
        for (size_t k = 0; k < sizeof documented_rpc / sizeof *documented_rpc; k++)
            known = known || rpc == documented_rpc[k];
        if (!known)
            fail_msg("%s: JSON-RPC code %d is not a documented one", all[i].name, rpc);
    }
    /* the rows the reference names, with the standard messages of JSON-RPC 2.0 and MCP */
    static const struct {
        enum tn_err e;
        int rpc;
        const char *msg;
    } want[] = {
        {TN_ERR_PARSE, -32700, "Parse error"},
        {TN_ERR_INVALID_REQUEST, -32600, "Invalid Request"},
        {TN_ERR_METHOD_NOT_FOUND, -32601, "Method not found"},
        {TN_ERR_INVALID_PARAMS, -32602, "Invalid params"},
        {TN_ERR_INTERNAL, -32603, NULL},
        {TN_ERR_NOMEM, -32603, NULL},
        {TN_ERR_HEADER_MISMATCH, -32020, NULL},
        {TN_ERR_MISSING_CAPABILITY, -32021, NULL},
        {TN_ERR_UNSUPPORTED_VERSION, -32022, "Unsupported protocol version"},
        {TN_ERR_RESOURCE_NOT_FOUND, -32002, "Resource not found"},
        {TN_ERR_BUSY, -32603, NULL}, /* listen cap: refused in-band with -32603 */
        {TN_ERR_FORBIDDEN, -32000, NULL},
        {TN_ERR_INSUFFICIENT_SCOPE, -32000, NULL},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        if (tn_err_jsonrpc(want[i].e) != want[i].rpc)
            fail_msg("%s: JSON-RPC code %d, want %d", tn_err_name(want[i].e),
                     tn_err_jsonrpc(want[i].e), want[i].rpc);
        if (want[i].msg)
            assert_string_equal(tn_err_message(want[i].e), want[i].msg);
    }
}

/* HTTP statuses the references use (mcp-transport-and-lifecycle.md §3.4,
 * mcp-authorization.md), RFC 9110's 408, 409 and 500, RFC 6585's 429 and 431, RFC 9110's
 * 503, and 499 for a client that left (nginx's convention; never sent: nobody is listening). */
static const int documented_http[] = {200, 400, 401, 403, 404, 405, 406, 408,
                                      409, 413, 415, 429, 431, 499, 500, 503};

static void test_http_statuses_documented(void **state)
{
    for (size_t i = 0; i < N_ROWS; i++) {
        int st = tn_err_http_status(all[i].e);
        bool known = false;
        for (size_t k = 0; k < sizeof documented_http / sizeof *documented_http; k++)
            known = known || st == documented_http[k];
        if (!known)
            fail_msg("%s: HTTP status %d is not a documented one", all[i].name, st);
        /* only TN_OK is a success without a JSON-RPC error to carry */
        if (st == 200 && all[i].e != TN_OK)
            assert_int_not_equal(tn_err_jsonrpc(all[i].e), 0);
    }
    static const struct {
        enum tn_err e;
        int http;
    } want[] = {
        {TN_OK, 200},
        {TN_ERR_PARSE, 400},               /* §3.5: -32700 on 400 */
        {TN_ERR_INVALID_REQUEST, 400},     /* -32600 on 400 */
        {TN_ERR_METHOD_NOT_FOUND, 404},    /* modern unknown method: 404 */
        {TN_ERR_INVALID_PARAMS, 200},      /* unknown tool, invalid cursor: 200 */
        {TN_ERR_HEADER_MISMATCH, 400},     /* -32020 on 400 */
        {TN_ERR_MISSING_CAPABILITY, 400},  /* -32021 on 400 */
        {TN_ERR_UNSUPPORTED_VERSION, 400}, /* -32022 on 400 */
        {TN_ERR_RESOURCE_NOT_FOUND, 200},  /* -32002 on 200 (2025) */
        {TN_ERR_LIMIT, 413},               /* body over our limit */
        {TN_ERR_INSUFFICIENT_SCOPE, 403},  /* step-up challenge */
        {TN_ERR_FORBIDDEN, 403},
        {TN_ERR_INTERNAL, 500},
        {TN_ERR_BUSY, 503},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (tn_err_http_status(want[i].e) != want[i].http)
            fail_msg("%s: HTTP %d, want %d", tn_err_name(want[i].e), tn_err_http_status(want[i].e),
                     want[i].http);
}

/* The `error` values of the OAuth registries: RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3.1,
 * RFC 7591 §3.2.2, RFC 8707 §2, and those OpenID Connect Core §3.1.2.6 entered in IANA's
 * OAuth Extensions Error Registry (answers to prompt=none). */
static const char *const registered_oauth[] = {
    "invalid_request",
    "unauthorized_client",
    "access_denied",
    "unsupported_response_type",
    "invalid_scope",
    "server_error",
    "temporarily_unavailable",
    "invalid_client",
    "invalid_grant",
    "unsupported_grant_type",
    "invalid_token",
    "insufficient_scope",
    "invalid_redirect_uri",
    "invalid_client_metadata",
    "invalid_software_statement",
    "unapproved_software_statement",
    "invalid_target",
    "interaction_required",
    "login_required",
    "account_selection_required",
    "consent_required",
    "invalid_request_uri",
    "invalid_request_object",
    "request_not_supported",
    "request_uri_not_supported",
    "registration_not_supported",
};

static void test_oauth_codes_registered(void **state)
{
    for (size_t i = 0; i < N_ROWS; i++) {
        const char *o = tn_err_oauth(all[i].e);
        if (!o)
            continue;
        bool known = false;
        for (size_t k = 0; k < sizeof registered_oauth / sizeof *registered_oauth; k++)
            known = known || strcmp(o, registered_oauth[k]) == 0;
        if (!known)
            fail_msg("%s: OAuth error \"%s\" is not in the registries", all[i].name, o);
    }
    assert_null(tn_err_oauth(TN_OK));
    assert_string_equal(tn_err_oauth(TN_ERR_INSUFFICIENT_SCOPE), "insufficient_scope");
    assert_string_equal(tn_err_oauth(TN_ERR_INTERNAL), "server_error");
    assert_string_equal(tn_err_oauth(TN_ERR_BUSY), "temporarily_unavailable");
}

/* Two rows that read the same on every wire would be one error under two names. */
static void test_no_two_rows_alike(void **state)
{
    for (size_t i = 0; i < N_ROWS; i++)
        for (size_t j = i + 1; j < N_ROWS; j++) {
            enum tn_err a = all[i].e, b = all[j].e;
            if (tn_err_http_status(a) == tn_err_http_status(b) &&
                tn_err_jsonrpc(a) == tn_err_jsonrpc(b) && streq(tn_err_oauth(a), tn_err_oauth(b)) &&
                streq(tn_err_message(a), tn_err_message(b)))
                fail_msg("%s and %s are the same on the wire", all[i].name, all[j].name);
        }
}

/* The MCP core's errors come from the table: code and status, or code and HTTP 200. */
static void test_rpc_fail_takes_the_table(void **state)
{
    struct tn_rpc_err e = {0};
    tn_rpc_fail(&e, TN_ERR_HEADER_MISMATCH, NULL, "Header mismatch: %s", "Mcp-Name\n");
    assert_int_equal(e.http, 400);
    assert_int_equal(e.code, -32020);
    assert_string_equal(e.msg, "Header mismatch: Mcp-Name?"); /* made printable */
    assert_null(e.data);

    tn_rpc_fail(&e, TN_ERR_RESOURCE_NOT_FOUND, json_pack("{s:s}", "uri", "x:/y"),
                "Resource not found: %s", "x:/y");
    assert_int_equal(e.http, 200);
    assert_int_equal(e.code, -32002);
    assert_string_equal(json_string_value(json_object_get(e.data, "uri")), "x:/y");

    /* in band: the table's code, HTTP 200, and the data replaced (freed: ASan checks) */
    tn_rpc_fail_in_band(&e, TN_ERR_INTERNAL, NULL, "Internal error");
    assert_int_equal(e.http, 200);
    assert_int_equal(e.code, -32603);
    assert_null(e.data);
    assert_string_equal(e.msg, "Internal error");

    tn_rpc_fail(&e, TN_ERR_INSUFFICIENT_SCOPE, NULL, "Insufficient scope: %s", "notes:write");
    assert_int_equal(e.http, 403);
    assert_int_equal(e.code, tn_err_jsonrpc(TN_ERR_INSUFFICIENT_SCOPE));

    /* a message longer than the buffer is cut, not overrun */
    char big[2000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    tn_rpc_fail(&e, TN_ERR_INVALID_PARAMS, NULL, "%s", big);
    assert_int_equal(strlen(e.msg), sizeof e.msg - 1);
    assert_int_equal(e.code, -32602);
    assert_int_equal(e.http, 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_row_named_and_worded),
        cmocka_unit_test(test_jsonrpc_codes_documented),
        cmocka_unit_test(test_http_statuses_documented),
        cmocka_unit_test(test_oauth_codes_registered),
        cmocka_unit_test(test_no_two_rows_alike),
        cmocka_unit_test(test_rpc_fail_takes_the_table),
    };
    return cmocka_run_group_tests_name("err", tests, NULL, NULL);
}
