/* The authorization gate across the whole MCP surface, without sockets: resources,
 * templates, providers, completions and listen streams pass the gate that tools pass
 * (scope → 403 step-up, permission → a JSON-RPC error), in both eras; open streams are
 * authorized again by tn_mcp_recheck and end when refused; one caller's streams are
 * capped. The gate is the server's own (src/auth/gate.c, wired as cli/serve.c wires it,
 * over a real store's accounts and audit), and its decisions are also checked alone:
 * scopes as whole words, the step-up's scopes, refusals audited. Plus the principal's
 * helpers the gate relies on. Exact codes and texts. */
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <cmocka.h>

#include "auth/accounts.h"
#include "auth/gate.h"
#include "core/principal.h"
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
    pthread_cond_broadcast(&r->cv);
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
static bool rs_closed(struct tn_sink *s)
{
    struct rec_sink *r = (struct rec_sink *)s;
    pthread_mutex_lock(&r->mu);
    bool c = r->closed;
    pthread_mutex_unlock(&r->mu);
    return c;
}
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

static size_t frames_n(struct rec_sink *r)
{
    pthread_mutex_lock(&r->mu);
    size_t n = json_array_size(r->frames);
    pthread_mutex_unlock(&r->mu);
    return n;
}

/* Waits until the sink has at least n frames (up to 5 s). */
static void wait_frames(struct rec_sink *r, size_t n)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    pthread_mutex_lock(&r->mu);
    while (json_array_size(r->frames) < n)
        if (pthread_cond_timedwait(&r->cv, &r->mu, &until) != 0)
            break;
    pthread_mutex_unlock(&r->mu);
    assert_true(frames_n(r) >= n);
}

/* Waits until the stream is closed and only the test holds it: the job thread ended. */
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

/* The transport's end of a listen stream: the client went away. */
static void client_leaves(struct rec_sink *r)
{
    rs_close(&r->base);
    if (r->gone)
        r->gone(r->gone_ud);
}

/* ---------- a fake request ---------- */

struct fake {
    const char *headers[16][2];
    const char *body;
    const struct tn_principal *principal;
    const char *subject;
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

struct answer {
    int status;
    json_t *body;
    bool streamed;
    char step_up[512];
};

static struct answer call_on(struct tn_mcp_server *s, struct fake *f)
{
    struct tn_mcp_http_in in = {
        .method = "POST",
        .header = fake_header,
        .open_stream = fake_stream,
        .ud = f,
        .body = {f->body, strlen(f->body)},
        .principal = f->principal,
        .subject = f->subject ? f->subject : (f->principal ? f->principal->key : ""),
    };
    struct tn_mcp_http_out out = {0};
    tn_buf_init(&out.body, 1 << 20);
    tn_mcp_handle(s, &in, &out);
    struct answer a = {out.status, NULL, out.streamed, ""};
    memcpy(a.step_up, out.step_up_scope, sizeof a.step_up);
    if (out.body.len)
        a.body = json_loadb(out.body.data, out.body.len, 0, NULL);
    tn_buf_deinit(&out.body);
    return a;
}

#define JSON_HDRS \
    {"Content-Type", "application/json"}, { "Accept", "application/json, text/event-stream" }
#define MODERN(method) \
    JSON_HDRS, {"MCP-Protocol-Version", "2026-07-28"}, { "Mcp-Method", method }
#define META                                                                 \
    "\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\"," \
    "\"io.modelcontextprotocol/clientCapabilities\":{}}"

static int err_code(json_t *msg)
{
    return (int)json_integer_value(json_object_get(json_object_get(msg, "error"), "code"));
}

static const char *err_msg(json_t *msg)
{
    return json_string_value(json_object_get(json_object_get(msg, "error"), "message"));
}

/* ---------- callers, and the server's gate ---------- */

enum who { OPENID, NOPERM, FULL };
static struct tn_principal *callers[3];

/* The gate over a store holding the callers' accounts, read on every check (max age 0)
 * so that a change shows at once. */
static char store_dir[64];
static struct tn_store *store;
static struct tn_accounts *accounts;
static struct tn_gate the_gate;

/* The adapter cli/serve.c has: the MCP core's question, put to the gate. */
static enum tn_err gate(const struct tn_mcp_ctx *c, const struct tn_mcp_access *a,
                        struct tn_buf *why, void *ud)
{
    struct tn_gate_request r = {.name = a->name,
                                .scope = a->required_scope,
                                .permission = a->required_permission,
                                .ongoing = a->ongoing};
    return tn_gate_check(ud, tn_mcp_ctx_principal(c), &r, why);
}

static void add_account(const char *id, const char *role)
{
    struct tn_user u = {.created_at = 1};
    snprintf(u.id, sizeof u.id, "%s", id);
    snprintf(u.email, sizeof u.email, "%s@example.com", id);
    snprintf(u.name, sizeof u.name, "%s", id);
    snprintf(u.role, sizeof u.role, "%s", role);
    assert_int_equal(tn_store_user_insert(store, &u), TN_OK);
}

/* The FULL caller's account disabled (true) or enabled again. */
static void revoke(bool disabled)
{
    struct tn_user u;
    assert_int_equal(tn_store_user_get(store, "u-full", &u), TN_OK);
    u.disabled = disabled;
    assert_int_equal(tn_store_user_update(store, &u), TN_OK);
}

/* ---------- the server ---------- */

static json_t *contents(const char *uri, const char *text)
{
    return json_pack("{s:[{s:s, s:s}]}", "contents", "uri", uri, "text", text);
}

static json_t *r_static(struct tn_mcp_ctx *c, const char *uri, json_t *vars, void *ud)
{
    return contents(uri, "static");
}

static json_t *r_template(struct tn_mcp_ctx *c, const char *uri, json_t *vars, void *ud)
{
    return contents(uri, json_string_value(json_object_get(vars, "id")));
}

static enum tn_err p_list(struct tn_mcp_ctx *c, const char *cursor, size_t limit, json_t *out,
                          char **next, void *ud)
{
    *next = NULL;
    json_array_append_new(out, json_pack("{s:s, s:s}", "uri", "mine://1", "name", "one"));
    return TN_OK;
}

static json_t *p_read(struct tn_mcp_ctx *c, const char *uri, json_t *vars, void *ud)
{
    return strcmp(uri, "mine://1") ? NULL : contents(uri, "mine");
}

static json_t *complete(struct tn_mcp_ctx *c, json_t *ref, const char *arg, const char *value,
                        json_t *ctx_args, void *ud)
{
    return json_pack("[s]", "n_1");
}

static int slow_ended; /* how the last slow call ended: 1 cancelled, 2 ran out */

/* A streamed call that runs until its stream is gone (at most 5 s). */
static json_t *t_slow(struct tn_mcp_ctx *c, json_t *args, void *ud)
{
    for (int i = 0; i < 500; i++) {
        if (tn_mcp_ctx_cancelled(c)) {
            __atomic_store_n(&slow_ended, 1, __ATOMIC_SEQ_CST);
            return tn_mcp_result_text("cancelled");
        }
        tn_mcp_ctx_progress(c, i + 1, -1, NULL);
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    __atomic_store_n(&slow_ended, 2, __ATOMIC_SEQ_CST);
    return tn_mcp_result_text("done");
}

static const struct tn_mcp_tool tools[] = {
    {.name = "slow",
     .description = "Runs until cancelled",
     .call = t_slow,
     .required_scope = "notes:read",
     .required_permission = "notes:read"},
};
static const struct tn_mcp_resource res_public = {
    .uri = "res://public", .name = "public", .read = r_static};
static const struct tn_mcp_resource res_secret = {.uri = "res://secret",
                                                  .name = "secret",
                                                  .read = r_static,
                                                  .required_scope = "notes:read",
                                                  .required_permission = "notes:read"};
static const struct tn_mcp_resource_template tpl = {.uri_template = "tpl://{id}",
                                                    .name = "tpl",
                                                    .read = r_template,
                                                    .required_scope = "notes:read",
                                                    .required_permission = "notes:read"};
static const struct tn_mcp_resource_provider mine = {.uri_prefix = "mine://",
                                                     .list = p_list,
                                                     .read = p_read,
                                                     .required_scope = "notes:read",
                                                     .required_permission = "notes:read"};

static void p_retain(const struct tn_principal *p)
{
    tn_principal_retain((struct tn_principal *)p);
}
static void p_release(const struct tn_principal *p)
{
    tn_principal_release((struct tn_principal *)p);
}

/* srv: every kind gated; flat: static resources and a template only (listings filter) */
static struct tn_mcp_server *srv, *flat;

static struct tn_mcp_server *server(bool with_provider)
{
    static const uint8_t key[32] = {7, 7, 7};
    struct tn_mcp_info info = {.name = "gate",
                               .version = "1.0",
                               .secret = key,
                               .secret_len = sizeof key,
                               .max_listen = 10,
                               .max_streams_per_subject = 2,
                               .principal_retain = p_retain,
                               .principal_release = p_release};
    struct tn_mcp_server *s = tn_mcp_server_new(&info);
    assert_non_null(s);
    assert_int_equal(tn_mcp_tool_add(s, &tools[0]), TN_OK);
    assert_int_equal(tn_mcp_resource_add(s, &res_public), TN_OK);
    assert_int_equal(tn_mcp_resource_add(s, &res_secret), TN_OK);
    assert_int_equal(tn_mcp_resource_template_add(s, &tpl), TN_OK);
    if (with_provider)
        assert_int_equal(tn_mcp_resource_provider_add(s, &mine), TN_OK);
    tn_mcp_completion_set(s, complete, NULL);
    tn_mcp_completion_require(s, "notes:read", "notes:read");
    tn_mcp_listen_require(s, "notes:read", "notes:read");
    tn_mcp_gate_set(s, gate, &the_gate);
    return s;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static int setup(void **state)
{
    /* the notes app's scope hierarchy, which FULL's notes:write relies on */
    assert_int_equal(tn_principal_scope_implies("notes:write", "notes:read"), TN_OK);
    snprintf(store_dir, sizeof store_dir, "/tmp/tn_gate_XXXXXX");
    assert_non_null(mkdtemp(store_dir));
    char data[96];
    snprintf(data, sizeof data, "%s/data", store_dir);
    assert_int_equal(tn_store_open(data, NULL, &store, NULL), TN_OK);
    accounts = tn_accounts_new(store, 0);
    assert_non_null(accounts);
    add_account("u-openid", "editor");
    add_account("u-noperm", "editor");
    add_account("u-full", "editor");
    the_gate = (struct tn_gate){
        .auth = true, .scopes = "notes:read notes:write", .accounts = accounts, .audit = store};
    callers[OPENID] = tn_principal_new("https://idp", "u-openid", "org", "c", "", INT64_MAX / 2);
    assert_int_equal(tn_principal_add_words(callers[OPENID], TN_PRINCIPAL_SCOPES, "openid"), TN_OK);
    callers[NOPERM] = tn_principal_new("https://idp", "u-noperm", "org", "c", "", INT64_MAX / 2);
    assert_int_equal(
        tn_principal_add_words(callers[NOPERM], TN_PRINCIPAL_SCOPES, "notes:read notes:write"),
        TN_OK);
    callers[FULL] = tn_principal_new("https://idp", "u-full", "org", "c", "", INT64_MAX / 2);
    assert_int_equal(tn_principal_add_words(callers[FULL], TN_PRINCIPAL_SCOPES, "notes:write"),
                     TN_OK);
    assert_int_equal(tn_principal_add_words(callers[FULL], TN_PRINCIPAL_PERMISSIONS, "notes:read"),
                     TN_OK);
    srv = server(true);
    flat = server(false);
    return 0;
}

static int teardown(void **state)
{
    assert_int_equal(tn_mcp_drain(srv, 5000), 0);
    tn_mcp_server_free(srv);
    tn_mcp_server_free(flat);
    for (int i = 0; i < 3; i++)
        tn_principal_release(callers[i]);
    tn_accounts_free(accounts);
    tn_store_close(store);
    nftw(store_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* ---------- every method that reads, for each caller, in both eras ---------- */

struct access_case {
    const char *name;
    enum who who;
    const char *headers[6][2];
    const char *body;
    int status;
    int code;            /* 0: a result */
    const char *step_up; /* the challenge's scopes with a 403 */
    const char *msg;     /* the exact message of an error */
};

#define L_LIST "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/list\"}"
#define L_READ(u) \
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/read\",\"params\":{\"uri\":\"" u "\"}}"
#define L_TPL "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/templates/list\"}"
#define L_COMPLETE \
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"completion/complete\",\"params\":{\"ref\":{\"type\":\"ref/resource\",\"uri\":\"x://{y}\"},\"argument\":{\"name\":\"y\",\"value\":\"\"}}}"
#define M_LIST "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/list\",\"params\":{" META "}}"
#define M_READ(u)                                                                          \
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/read\",\"params\":{\"uri\":\"" u \
    "\"," META "}}"
#define M_TPL \
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/templates/list\",\"params\":{" META "}}"
#define M_COMPLETE                                                                                                                                                                                \
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"completion/complete\",\"params\":{\"ref\":{\"type\":\"ref/resource\",\"uri\":\"tpl://{id}\"},\"argument\":{\"name\":\"id\",\"value\":\"\"}," META \
    "}}"
#define M_LISTEN                                                                                \
    "{\"jsonrpc\":\"2.0\",\"id\":\"sub\",\"method\":\"subscriptions/listen\",\"params\":{" META \
    ",\"notifications\":{\"resourcesListChanged\":true}}}"
#define PERM(m)                                                                     \
    "Permission denied: " m " needs the notes:read permission, which your account " \
    "does not have. Ask an administrator for a role that includes it (signing in "  \
    "again will not help)."

static const struct access_case cases[] = {
    {"legacy list, no scope",
     OPENID,
     {JSON_HDRS},
     L_LIST,
     403,
     -32000,
     "notes:read",
     "Insufficient scope: resources/list needs notes:read"},
    {"legacy list, no permission",
     NOPERM,
     {JSON_HDRS},
     L_LIST,
     200,
     -32000,
     "",
     PERM("resources/list")},
    {"legacy list, allowed", FULL, {JSON_HDRS}, L_LIST, 200, 0, "", NULL},
    {"legacy read provider, no scope",
     OPENID,
     {JSON_HDRS},
     L_READ("mine://1"),
     403,
     -32000,
     "notes:read",
     "Insufficient scope: resources/read needs notes:read"},
    {"legacy read provider, no permission",
     NOPERM,
     {JSON_HDRS},
     L_READ("mine://1"),
     200,
     -32000,
     "",
     PERM("resources/read")},
    {"legacy read provider, allowed", FULL, {JSON_HDRS}, L_READ("mine://1"), 200, 0, "", NULL},
    /* refused before the provider runs: a refusal does not tell whether it exists */
    {"legacy read missing, no permission",
     NOPERM,
     {JSON_HDRS},
     L_READ("mine://404"),
     200,
     -32000,
     "",
     PERM("resources/read")},
    {"legacy read missing, allowed: not found",
     FULL,
     {JSON_HDRS},
     L_READ("mine://404"),
     200,
     -32002,
     "",
     "Resource not found: mine://404"},
    {"legacy read template, no scope",
     OPENID,
     {JSON_HDRS},
     L_READ("tpl://7"),
     403,
     -32000,
     "notes:read",
     "Insufficient scope: resources/read needs notes:read"},
    {"legacy read template, no permission",
     NOPERM,
     {JSON_HDRS},
     L_READ("tpl://7"),
     200,
     -32000,
     "",
     PERM("resources/read")},
    {"legacy read template, allowed", FULL, {JSON_HDRS}, L_READ("tpl://7"), 200, 0, "", NULL},
    {"legacy read static secret, no permission",
     NOPERM,
     {JSON_HDRS},
     L_READ("res://secret"),
     200,
     -32000,
     "",
     PERM("resources/read")},
    {"legacy read static public, no scope",
     OPENID,
     {JSON_HDRS},
     L_READ("res://public"),
     200,
     0,
     "",
     NULL},
    {"legacy templates, no scope: filtered", OPENID, {JSON_HDRS}, L_TPL, 200, 0, "", NULL},
    {"legacy complete, no scope",
     OPENID,
     {JSON_HDRS},
     L_COMPLETE,
     403,
     -32000,
     "notes:read",
     "Insufficient scope: completion/complete needs notes:read"},
    {"legacy complete, no permission",
     NOPERM,
     {JSON_HDRS},
     L_COMPLETE,
     200,
     -32000,
     "",
     PERM("completion/complete")},
    {"legacy complete, allowed", FULL, {JSON_HDRS}, L_COMPLETE, 200, 0, "", NULL},
    {"modern list, no scope",
     OPENID,
     {MODERN("resources/list")},
     M_LIST,
     403,
     -32000,
     "notes:read",
     "Insufficient scope: resources/list needs notes:read"},
    {"modern list, no permission",
     NOPERM,
     {MODERN("resources/list")},
     M_LIST,
     200,
     -32000,
     "",
     PERM("resources/list")},
    {"modern list, allowed", FULL, {MODERN("resources/list")}, M_LIST, 200, 0, "", NULL},
    {"modern read, no scope",
     OPENID,
     {MODERN("resources/read"), {"Mcp-Name", "mine://1"}},
     M_READ("mine://1"),
     403,
     -32000,
     "notes:read",
     "Insufficient scope: resources/read needs notes:read"},
    {"modern read, no permission",
     NOPERM,
     {MODERN("resources/read"), {"Mcp-Name", "mine://1"}},
     M_READ("mine://1"),
     200,
     -32000,
     "",
     PERM("resources/read")},
    {"modern read, allowed",
     FULL,
     {MODERN("resources/read"), {"Mcp-Name", "mine://1"}},
     M_READ("mine://1"),
     200,
     0,
     "",
     NULL},
    {"modern read template, no permission",
     NOPERM,
     {MODERN("resources/read"), {"Mcp-Name", "tpl://7"}},
     M_READ("tpl://7"),
     200,
     -32000,
     "",
     PERM("resources/read")},
    /* the template's own requirement applies to completing its variables */
    {"modern complete template, no scope",
     OPENID,
     {MODERN("completion/complete")},
     M_COMPLETE,
     403,
     -32000,
     "notes:read",
     "Insufficient scope: completion/complete needs notes:read"},
    {"modern complete template, no permission",
     NOPERM,
     {MODERN("completion/complete")},
     M_COMPLETE,
     200,
     -32000,
     "",
     PERM("completion/complete")},
    {"modern complete template, allowed",
     FULL,
     {MODERN("completion/complete")},
     M_COMPLETE,
     200,
     0,
     "",
     NULL},
    {"modern templates, allowed",
     FULL,
     {MODERN("resources/templates/list")},
     M_TPL,
     200,
     0,
     "",
     NULL},
    {"modern listen, no scope: 403 before any stream",
     OPENID,
     {MODERN("subscriptions/listen")},
     M_LISTEN,
     403,
     -32000,
     "notes:read",
     "Insufficient scope: subscriptions/listen needs notes:read"},
    {"modern listen, no permission: an error, no stream",
     NOPERM,
     {MODERN("subscriptions/listen")},
     M_LISTEN,
     200,
     -32000,
     "",
     PERM("subscriptions/listen")},
};

static void test_access_table(void **state)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct access_case *k = &cases[i];
        struct fake f = {.body = k->body, .principal = callers[k->who]};
        memcpy(f.headers, k->headers, sizeof k->headers);
        struct answer a = call_on(srv, &f);
        print_message("# %s\n", k->name);
        assert_false(a.streamed);
        assert_null(f.sink);
        assert_int_equal(a.status, k->status);
        assert_string_equal(a.step_up, k->step_up);
        assert_non_null(a.body);
        if (k->code) {
            assert_int_equal(err_code(a.body), k->code);
            assert_string_equal(err_msg(a.body), k->msg);
            assert_null(json_object_get(a.body, "result"));
        } else {
            assert_non_null(json_object_get(a.body, "result"));
        }
        json_decref(a.body);
    }
}

/* What a refused caller gets when the request goes through: the allowed parts only. */
static void test_listings(void **state)
{
    /* templates/list: the template is left out for a caller without its scope */
    struct fake f = {.headers = {JSON_HDRS}, .body = L_TPL, .principal = callers[OPENID]};
    struct answer a = call_on(srv, &f);
    assert_int_equal(
        json_array_size(json_object_get(json_object_get(a.body, "result"), "resourceTemplates")),
        0);
    json_decref(a.body);
    f.principal = callers[FULL];
    a = call_on(srv, &f);
    json_t *t = json_object_get(json_object_get(a.body, "result"), "resourceTemplates");
    assert_int_equal(json_array_size(t), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(t, 0), "uriTemplate")),
                        "tpl://{id}");
    json_decref(a.body);
    /* resources/list without a provider: static resources filtered, not refused */
    struct fake g = {.headers = {JSON_HDRS}, .body = L_LIST, .principal = callers[NOPERM]};
    a = call_on(flat, &g);
    assert_int_equal(a.status, 200);
    json_t *r = json_object_get(json_object_get(a.body, "result"), "resources");
    assert_int_equal(json_array_size(r), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(r, 0), "uri")),
                        "res://public");
    json_decref(a.body);
    g.principal = callers[FULL];
    a = call_on(flat, &g);
    r = json_object_get(json_object_get(a.body, "result"), "resources");
    assert_int_equal(json_array_size(r), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(r, 1), "uri")),
                        "res://secret");
    json_decref(a.body);
    /* with the provider, the allowed caller sees both kinds */
    g.principal = callers[FULL];
    a = call_on(srv, &g);
    r = json_object_get(json_object_get(a.body, "result"), "resources");
    assert_int_equal(json_array_size(r), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(r, 2), "uri")),
                        "mine://1");
    json_decref(a.body);
}

/* ---------- open streams, authorized again ---------- */

static struct rec_sink *listen_as(struct tn_mcp_server *s, const struct tn_principal *p,
                                  const char *subject)
{
    struct fake f = {.headers = {MODERN("subscriptions/listen")},
                     .body = M_LISTEN,
                     .principal = p,
                     .subject = subject};
    struct answer a = call_on(s, &f);
    assert_true(a.streamed);
    assert_non_null(f.sink);
    json_decref(a.body);
    return f.sink;
}

static const char *frame_method(struct rec_sink *r, size_t i)
{
    return json_string_value(json_object_get(json_array_get(r->frames, i), "method"));
}

static void test_recheck_listen(void **state)
{
    struct rec_sink *a = listen_as(srv, callers[FULL], "a");
    struct rec_sink *b = listen_as(srv, callers[FULL], "b");
    assert_string_equal(frame_method(a, 0), "notifications/subscriptions/acknowledged");
    revoke(false);
    assert_int_equal(tn_mcp_recheck(srv), 0); /* still allowed: nothing happens */
    assert_int_equal(frames_n(a), 1);
    assert_false(a->closed);
    /* the caller lost the right: the stream ends with the protocol's final result */
    revoke(true);
    assert_int_equal(tn_mcp_recheck(srv), 2);
    revoke(false);
    for (int i = 0; i < 2; i++) {
        struct rec_sink *r = i ? b : a;
        assert_int_equal(frames_n(r), 2);
        json_t *fin = json_array_get(r->frames, 1);
        assert_string_equal(json_string_value(json_object_get(fin, "id")), "sub");
        json_t *res = json_object_get(fin, "result");
        assert_string_equal(json_string_value(json_object_get(res, "resultType")), "complete");
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(res, "_meta"),
                                              "io.modelcontextprotocol/subscriptionId")),
            "sub");
        assert_true(r->closed);
    }
    /* ended streams are gone from the server: a second pass ends nothing */
    assert_int_equal(tn_mcp_recheck(srv), 0);
    client_leaves(a);
    client_leaves(b);
    sink_free(a);
    sink_free(b);
    /* a server without a gate re-checks nothing */
    static const uint8_t key[32] = {1};
    struct tn_mcp_info info = {
        .name = "x", .version = "1", .secret = key, .secret_len = 32, .max_listen = 4};
    struct tn_mcp_server *open = tn_mcp_server_new(&info);
    assert_int_equal(tn_mcp_resource_add(open, &res_public), TN_OK);
    struct rec_sink *c = listen_as(open, NULL, "");
    revoke(true);
    assert_int_equal(tn_mcp_recheck(open), 0);
    revoke(false);
    assert_false(c->closed);
    client_leaves(c);
    sink_free(c);
    tn_mcp_server_free(open);
}

#define SLOW(id)                                                                                   \
    "{\"jsonrpc\":\"2.0\",\"id\":" #id ",\"method\":\"tools/call\",\"params\":{\"name\":\"slow\"," \
    "\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\","                       \
    "\"io.modelcontextprotocol/clientCapabilities\":{},\"progressToken\":1}}}"

static struct rec_sink *slow_as(const char *subject, int *status)
{
    struct fake f = {.headers = {MODERN("tools/call"), {"Mcp-Name", "slow"}},
                     .body = SLOW(9),
                     .principal = callers[FULL],
                     .subject = subject};
    struct answer a = call_on(srv, &f);
    *status = a.status;
    if (!a.streamed) {
        assert_null(f.sink);
        assert_int_equal(err_code(a.body), -32000);
        assert_string_equal(err_msg(a.body),
                            "Too many streamed calls under way: at most 2 per user; "
                            "wait for one to finish");
    }
    json_decref(a.body);
    return f.sink;
}

static void test_recheck_call(void **state)
{
    int st;
    __atomic_store_n(&slow_ended, 0, __ATOMIC_SEQ_CST);
    struct rec_sink *s = slow_as("a", &st);
    assert_non_null(s);
    wait_frames(s, 1); /* under way: its first progress */
    assert_int_equal(tn_mcp_recheck(srv), 0);
    revoke(true);
    assert_int_equal(tn_mcp_recheck(srv), 1);
    revoke(false);
    sink_wait_closed(s); /* the handler saw the stream closed and returned */
    assert_int_equal(__atomic_load_n(&slow_ended, __ATOMIC_SEQ_CST), 1);
    /* progress, then exactly one final message: the error, not the handler's result */
    size_t n = json_array_size(s->frames);
    json_t *last = json_array_get(s->frames, n - 1);
    assert_int_equal(json_integer_value(json_object_get(last, "id")), 9);
    assert_int_equal(err_code(last), -32000);
    assert_string_equal(err_msg(last), "The call was stopped before it finished: the account was "
                                       "disabled or its tokens revoked. Whatever it changed until "
                                       "then may have been saved.");
    for (size_t i = 0; i + 1 < n; i++)
        assert_string_equal(frame_method(s, i), "notifications/progress");
    sink_free(s);
    assert_int_equal(tn_mcp_drain(srv, 5000), 0);
}

/* ---------- one caller's streams ---------- */

static void test_per_subject_caps(void **state)
{
    /* listen: two per subject, refused in-band after that with a clear error */
    struct rec_sink *l1 = listen_as(srv, callers[FULL], "a");
    struct rec_sink *l2 = listen_as(srv, callers[FULL], "a");
    struct rec_sink *l3 = listen_as(srv, callers[FULL], "a");
    assert_true(l3->closed);
    assert_int_equal(json_array_size(l3->frames), 1);
    json_t *e = json_array_get(l3->frames, 0);
    assert_string_equal(json_string_value(json_object_get(e, "id")), "sub");
    assert_int_equal(err_code(e), -32000);
    assert_string_equal(err_msg(e),
                        "Too many open subscriptions: at most 2 per user; close one first");
    struct rec_sink *other = listen_as(srv, callers[FULL], "b"); /* another caller: fine */
    assert_false(other->closed);
    assert_string_equal(frame_method(other, 0), "notifications/subscriptions/acknowledged");
    /* anonymous callers share only the global limit */
    struct rec_sink *anon[3];
    for (int i = 0; i < 3; i++) {
        anon[i] = listen_as(srv, callers[FULL], "");
        assert_false(anon[i]->closed);
    }
    /* one of a's streams ends: a may open another */
    client_leaves(l1);
    struct rec_sink *l4 = listen_as(srv, callers[FULL], "a");
    assert_false(l4->closed);
    struct rec_sink *all[] = {l1, l2, l3, other, anon[0], anon[1], anon[2], l4};
    for (size_t i = 1; i < sizeof all / sizeof all[0]; i++)
        client_leaves(all[i]);
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        sink_free(all[i]);

    /* streamed calls: two per subject under way, then HTTP 429 before any stream */
    int st;
    struct rec_sink *c1 = slow_as("a", &st), *c2 = slow_as("a", &st);
    assert_non_null(c1);
    assert_non_null(c2);
    assert_null(slow_as("a", &st));
    assert_int_equal(st, 429);
    struct rec_sink *c3 = slow_as("b", &st);
    assert_non_null(c3);
    /* the client leaves one call: a may start another */
    rs_close(&c1->base);
    sink_wait_closed(c1);
    struct rec_sink *c4 = slow_as("a", &st);
    assert_non_null(c4);
    struct rec_sink *calls[] = {c2, c3, c4};
    for (size_t i = 0; i < 3; i++) {
        rs_close(&calls[i]->base);
        sink_wait_closed(calls[i]);
        sink_free(calls[i]);
    }
    sink_free(c1);
    assert_int_equal(tn_mcp_drain(srv, 5000), 0);
}

/* ---------- the principal's helpers ---------- */

static void test_word_in(void **state)
{
    static const struct {
        const char *words, *word;
        bool in;
    } t[] = {
        {"notes:read notes:write", "notes:read", true},
        {"notes:read notes:write", "notes:write", true},
        {"notes:read.all notes:read", "notes:read", true}, /* a prefix first, the word later */
        {"notes:read.all", "notes:read", false},
        {"xnotes:read", "notes:read", false},
        {"notes:readx", "notes:read", false},
        {"  notes:read  ", "notes:read", true},
        {"notes:read", "notes", false},
        {"notes:read", "", false},
        {"", "notes:read", false},
        {NULL, "notes:read", false},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        assert_int_equal(tn_principal_word_in(t[i].words, t[i].word), t[i].in);
}

static void test_restrict(void **state)
{
    struct tn_principal *p = tn_principal_new("https://iss", "usr_1", "org_1", "cli", "jti", 1234);
    p->issued_at = 1000;
    assert_int_equal(tn_principal_add_words(p, TN_PRINCIPAL_SCOPES, "notes:read notes:write"),
                     TN_OK);
    assert_int_equal(tn_principal_add_words(p, TN_PRINCIPAL_ROLES, "editor"), TN_OK);
    assert_int_equal(tn_principal_add_words(p, TN_PRINCIPAL_PERMISSIONS, "notes:read notes:write"),
                     TN_OK);
    struct tn_principal *q = tn_principal_restrict(p, "notes:read");
    assert_string_equal(q->key, "https://iss|usr_1");
    assert_string_equal(q->org, "org_1");
    assert_int_equal(q->expires_at, 1234);
    assert_int_equal(q->issued_at, 1000);
    assert_int_equal(q->scopes.n, 2);
    assert_int_equal(q->roles.n, 1);
    assert_int_equal(q->permissions.n, 1);
    assert_true(tn_principal_has_permission(q, "notes:read"));
    assert_false(tn_principal_has_permission(q, "notes:write"));
    struct tn_principal *none = tn_principal_restrict(p, NULL);
    assert_int_equal(none->permissions.n, 0);
    /* never wider than the token: a role's extra permission is not added */
    struct tn_principal *w = tn_principal_restrict(q, "notes:read notes:write teamnotes:admin");
    assert_int_equal(w->permissions.n, 1);
    tn_principal_release(w);
    tn_principal_release(none);
    tn_principal_release(q);
    tn_principal_release(p);
}

/* ---------- the gate's decisions, alone ---------- */

struct audit_count {
    const char *user;
    int denied;
    char last_tool[64];
};

static void count_denied(const struct tn_audit *a, void *ud)
{
    struct audit_count *c = ud;
    if (!strcmp(a->user, c->user) && !strcmp(a->outcome, "denied")) {
        if (!c->denied++) /* newest first */
            snprintf(c->last_tool, sizeof c->last_tool, "%s", a->tool);
    }
}

static int denied_of(const char *user, char tool[64])
{
    struct audit_count c = {.user = user};
    assert_int_equal(tn_store_audit_list(store, 1000, count_denied, &c), TN_OK);
    if (tool)
        memcpy(tool, c.last_tool, 64);
    return c.denied;
}

static void test_gate_check(void **state)
{
    static const struct {
        const char *scopes, *perms; /* the caller's */
        const char *scope, *perm;   /* the operation's */
        bool ongoing;
        enum tn_err rc;
        const char *why;
    } t[] = {
        /* scopes are whole words: neither a longer word, a prefix nor a suffix grants */
        {"notes:readx xnotes:read notes:read.all notes:rea", "notes:read", "notes:read",
         "notes:read", false, TN_ERR_INSUFFICIENT_SCOPE, "notes:read"},
        {"notes:read", "notes:read", "notes:read", "notes:read", false, TN_OK, ""},
        /* the registered hierarchy: write grants read, never the other way */
        {"notes:write", "notes:read", "notes:read", "notes:read", false, TN_OK, ""},
        {"notes:read", "notes:write", "notes:write", "notes:write", false,
         TN_ERR_INSUFFICIENT_SCOPE, "notes:write notes:read"},
        /* the step-up keeps what was granted and this server supports, drops the rest */
        {"openid notes:read profile", "", "notes:write", NULL, false, TN_ERR_INSUFFICIENT_SCOPE,
         "notes:write notes:read"},
        /* permissions are whole words too */
        {"notes:write", "notes:readx notes:rea", "notes:read", "notes:read", false,
         TN_ERR_FORBIDDEN,
         "Permission denied: get_note needs the notes:read permission, which your account does not "
         "have. Ask an administrator for a role that includes it (signing in again will not help)."},
        /* nothing required: anyone signed in */
        {"", "", NULL, NULL, false, TN_OK, ""},
        /* an open stream: its account (u-full, editor) still has notes:read */
        {"notes:read", "notes:read", "notes:read", "notes:read", true, TN_OK, ""},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        struct tn_principal *p =
            tn_principal_new("https://idp", "u-full", "org_1", "cli_1", "", INT64_MAX / 2);
        assert_int_equal(tn_principal_add_words(p, TN_PRINCIPAL_SCOPES, t[i].scopes), TN_OK);
        assert_int_equal(tn_principal_add_words(p, TN_PRINCIPAL_PERMISSIONS, t[i].perms), TN_OK);
        struct tn_gate_request r = {.name = "get_note",
                                    .scope = t[i].scope,
                                    .permission = t[i].perm,
                                    .ongoing = t[i].ongoing};
        struct tn_buf why;
        tn_buf_init(&why, 4096);
        int before = denied_of(p->key, NULL);
        print_message("# case %zu\n", i);
        assert_int_equal(tn_gate_check(&the_gate, p, &r, &why), t[i].rc);
        assert_string_equal(why.data ? why.data : "", t[i].why);
        /* a refusal is audited once, naming the operation; an allowed use is not */
        char tool[64];
        assert_int_equal(denied_of(p->key, tool), before + (t[i].rc != TN_OK));
        if (t[i].rc != TN_OK)
            assert_string_equal(tool, "get_note");
        /* only filtering a listing (why NULL): the same answer, nothing written */
        assert_int_equal(tn_gate_check(&the_gate, p, &r, NULL), t[i].rc);
        assert_int_equal(denied_of(p->key, NULL), before + (t[i].rc != TN_OK));
        tn_buf_deinit(&why);
        tn_principal_release(p);
    }
}

/* Open streams: the token's expiry, the account's status and its role now. */
static void test_gate_ongoing(void **state)
{
    struct tn_gate_request r = {.name = "subscriptions/listen",
                                .scope = "notes:read",
                                .permission = "notes:read",
                                .ongoing = true};
    struct tn_buf why;
    tn_buf_init(&why, 4096);
    /* expired: refused even with an external issuer (no accounts) */
    struct tn_principal *p =
        tn_principal_new("https://idp", "u-full", "", "", "", tn_time_now_ms() / 1000);
    assert_int_equal(tn_principal_add_words(p, TN_PRINCIPAL_SCOPES, "notes:read"), TN_OK);
    assert_int_equal(tn_principal_add_words(p, TN_PRINCIPAL_PERMISSIONS, "notes:read"), TN_OK);
    struct tn_gate external = {.auth = true, .scopes = "notes:read"};
    assert_int_equal(tn_gate_check(&external, p, &r, &why), TN_ERR_FORBIDDEN);
    assert_string_equal(why.data, "the access token expired");
    tn_principal_release(p);
    p = tn_principal_new("https://idp", "u-noperm", "", "", "", INT64_MAX / 2);
    assert_int_equal(tn_principal_add_words(p, TN_PRINCIPAL_SCOPES, "notes:read"), TN_OK);
    assert_int_equal(tn_principal_add_words(p, TN_PRINCIPAL_PERMISSIONS, "notes:read"), TN_OK);
    assert_int_equal(tn_gate_check(&external, p, &r, NULL), TN_OK); /* nothing else changes */
    /* the account's role lost the permission */
    struct tn_user u;
    assert_int_equal(tn_store_user_get(store, "u-noperm", &u), TN_OK);
    snprintf(u.role, sizeof u.role, "viewer");
    assert_int_equal(tn_store_user_update(store, &u), TN_OK);
    r.permission = "notes:read";
    assert_int_equal(tn_gate_check(&the_gate, p, &r, NULL), TN_OK); /* viewer reads */
    tn_principal_release(p);
    p = tn_principal_new("https://idp", "u-noperm", "", "", "", INT64_MAX / 2);
    assert_int_equal(tn_principal_add_words(p, TN_PRINCIPAL_SCOPES, "notes:write"), TN_OK);
    assert_int_equal(tn_principal_add_words(p, TN_PRINCIPAL_PERMISSIONS, "notes:write"), TN_OK);
    r.scope = r.permission = "notes:write";
    tn_buf_reset(&why);
    assert_int_equal(tn_gate_check(&the_gate, p, &r, &why), TN_ERR_FORBIDDEN);
    assert_string_equal(why.data,
                        "the account's role (viewer) no longer has the notes:write permission");
    /* a missing account: refused */
    tn_principal_release(p);
    p = tn_principal_new("https://idp", "u-gone", "", "", "", INT64_MAX / 2);
    tn_buf_reset(&why);
    r.scope = r.permission = NULL;
    assert_int_equal(tn_gate_check(&the_gate, p, &r, &why), TN_ERR_FORBIDDEN);
    assert_string_equal(why.data, "the account was disabled or its tokens revoked");
    tn_principal_release(p);
    /* no principal: refused with authentication on, allowed with AUTH_MODE=none */
    assert_int_equal(tn_gate_check(&the_gate, NULL, &r, NULL), TN_ERR_FORBIDDEN);
    struct tn_gate none = {.auth = false};
    assert_int_equal(tn_gate_check(&none, NULL, &r, NULL), TN_OK);
    tn_buf_deinit(&why);
}

/* The application's scope hierarchy: what may be registered. */
static void test_scope_implies(void **state)
{
    char long_scope[65];
    memset(long_scope, 's', 64);
    long_scope[64] = '\0';
    static const struct {
        const char *scope, *implied;
        enum tn_err rc;
    } t[] = {
        {"notes:write", "notes:read", TN_OK}, /* again: no error, no second entry */
        {"", "notes:read", TN_ERR_BAD_INPUT},
        {"notes:write", "", TN_ERR_BAD_INPUT},
        {NULL, "notes:read", TN_ERR_BAD_INPUT},
        {"notes:write notes:admin", "notes:read", TN_ERR_BAD_INPUT},
        {"notes:read", "notes:read", TN_ERR_BAD_INPUT},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        assert_int_equal(tn_principal_scope_implies(t[i].scope, t[i].implied), t[i].rc);
    assert_int_equal(tn_principal_scope_implies(long_scope, "notes:read"), TN_ERR_BAD_INPUT);
    long_scope[63] = '\0'; /* 63 bytes fit */
    assert_int_equal(tn_principal_scope_implies(long_scope, "x:y"), TN_OK);
    /* one level, not transitive: x:y implies nothing further */
    struct tn_principal *p = tn_principal_new("i", "s", "", "", "", 1);
    assert_int_equal(tn_principal_add_words(p, TN_PRINCIPAL_SCOPES, long_scope), TN_OK);
    assert_true(tn_principal_has_scope(p, "x:y"));
    assert_false(tn_principal_has_scope(p, "notes:read"));
    assert_false(tn_principal_has_scope(p, "x"));
    tn_principal_release(p);
    /* 16 pairs at most (two registered above) */
    char a[16], b[16];
    for (int i = 0; i < 14; i++) {
        snprintf(a, sizeof a, "a:%d", i);
        snprintf(b, sizeof b, "b:%d", i);
        assert_int_equal(tn_principal_scope_implies(a, b), TN_OK);
    }
    assert_int_equal(tn_principal_scope_implies("a:full", "b:full"), TN_ERR_LIMIT);
}

int main(void)
{
    tn_util_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_access_table),
        cmocka_unit_test(test_listings),
        cmocka_unit_test(test_recheck_listen),
        cmocka_unit_test(test_recheck_call),
        cmocka_unit_test(test_per_subject_caps),
        cmocka_unit_test(test_word_in),
        cmocka_unit_test(test_restrict),
        cmocka_unit_test(test_gate_check),
        cmocka_unit_test(test_gate_ongoing),
        cmocka_unit_test(test_scope_implies), /* last: it fills the hierarchy */
    };
    return cmocka_run_group_tests_name("gate", tests, setup, teardown);
}
