#include "ops/metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "ops/prom.h"

#define R memory_order_relaxed
#define MAX_ROUTES 128
#define MAX_TOOLS 64
#define LABEL_MAX 96

const uint64_t tn_metrics_bucket_ns[TN_METRICS_BUCKETS] = {
    500000,    1000000,   2500000,   5000000,    10000000,   25000000,   50000000,
    100000000, 250000000, 500000000, 1000000000, 2500000000, 5000000000, 10000000000};
const char *const tn_metrics_bucket_le[TN_METRICS_BUCKETS] = {
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
    "0.1",    "0.25",  "0.5",    "1",     "2.5",  "5",     "10"};

unsigned tn_metrics_bucket(uint64_t ns)
{
    unsigned i = 0;
    while (i < TN_METRICS_BUCKETS && ns > tn_metrics_bucket_ns[i])
        i++;
    return i;
}

struct hist {
    _Atomic uint64_t b[TN_METRICS_BUCKETS + 1];
    _Atomic uint64_t sum_ns;
};

static void observe(struct hist *h, uint64_t ns)
{
    atomic_fetch_add_explicit(&h->b[tn_metrics_bucket(ns)], 1, R);
    atomic_fetch_add_explicit(&h->sum_ns, ns, R);
}

static const char *const mcp_methods[] = {"other",
                                          "initialize",
                                          "ping",
                                          "logging/setLevel",
                                          "server/discover",
                                          "tools/list",
                                          "tools/call",
                                          "resources/list",
                                          "resources/templates/list",
                                          "resources/read",
                                          "prompts/list",
                                          "prompts/get",
                                          "completion/complete",
                                          "subscriptions/listen"};
#define N_METHODS (sizeof mcp_methods / sizeof mcp_methods[0])

static const char *const signin_methods[] = {"other", "password", "email",  "email_link",
                                             "oidc",  "sso",      "invite", "passkey"};
#define N_SMETHODS (sizeof signin_methods / sizeof signin_methods[0])
static const char *const signin_outcomes[] = {"other",     "ok",      "failed",
                                              "throttled", "expired", "error"};
#define N_SOUTCOMES (sizeof signin_outcomes / sizeof signin_outcomes[0])
static const char *const reg_kinds[] = {"other", "dcr", "cimd"};
#define N_RKINDS (sizeof reg_kinds / sizeof reg_kinds[0])
static const char *const reg_outcomes[] = {"other", "ok", "refused", "throttled", "error"};
#define N_ROUTCOMES (sizeof reg_outcomes / sizeof reg_outcomes[0])
static const char *const tool_outcomes[] = {"ok", "error", "rejected"};
static const char *const classes[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
static const char *const store_ops[TN_METRICS_STORE__COUNT] = {
    "note_insert", "note_get", "note_update", "note_delete", "note_list", "note_search"};

static struct {
    pthread_mutex_t mu; /* label registration only */
    atomic_uint n_routes;
    char route[MAX_ROUTES][LABEL_MAX];
    _Atomic uint64_t http[MAX_ROUTES][5];
    struct hist http_lat[MAX_ROUTES];
    _Atomic int64_t streams;
    _Atomic uint64_t mcp[N_METHODS][2];
    atomic_uint n_tools;
    char tool[MAX_TOOLS][LABEL_MAX];
    _Atomic uint64_t tools[MAX_TOOLS][3];
    struct hist store[TN_METRICS_STORE__COUNT];
    _Atomic uint64_t signin[N_SMETHODS][N_SOUTCOMES];
    _Atomic uint64_t reg[N_RKINDS][N_ROUTCOMES];
} m = {.mu = PTHREAD_MUTEX_INITIALIZER,
       .n_routes = 1,
       .route = {"other"},
       .n_tools = 1,
       .tool = {"other"}};

/* The slot of `label` in a table of labels, added when missing. */
static unsigned slot_of(char (*labels)[LABEL_MAX], atomic_uint *n, unsigned max, const char *label)
{
    if (!label || strlen(label) >= LABEL_MAX)
        return 0;
    unsigned slot = 0;
    pthread_mutex_lock(&m.mu);
    unsigned k = atomic_load(n);
    for (unsigned i = 1; i < k; i++)
        if (!strcmp(labels[i], label))
            slot = i;
    if (!slot && k < max) {
        snprintf(labels[k], LABEL_MAX, "%s", label);
        atomic_store(n, k + 1); /* published after the label is written */
        slot = k;
    }
    pthread_mutex_unlock(&m.mu);
    return slot;
}

unsigned tn_metrics_route_slot(const char *path)
{
    return slot_of(m.route, &m.n_routes, MAX_ROUTES, path);
}

void tn_metrics_http(unsigned slot, int status, uint64_t ns)
{
    if (slot >= MAX_ROUTES)
        slot = 0;
    unsigned c = status >= 100 && status < 600 ? (unsigned)status / 100 - 1 : 4;
    atomic_fetch_add_explicit(&m.http[slot][c], 1, R);
    observe(&m.http_lat[slot], ns);
}

void tn_metrics_streams(int delta) { atomic_fetch_add_explicit(&m.streams, delta, R); }

static unsigned index_of(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 1; name && i < n; i++)
        if (!strcmp(names[i], name))
            return (unsigned)i;
    return 0;
}

void tn_metrics_mcp(const char *method, bool ok)
{
    atomic_fetch_add_explicit(&m.mcp[index_of(mcp_methods, N_METHODS, method)][ok ? 0 : 1], 1, R);
}

unsigned tn_metrics_tool_slot(const char *name)
{
    return slot_of(m.tool, &m.n_tools, MAX_TOOLS, name);
}

void tn_metrics_tool(unsigned slot, enum tn_metrics_outcome outcome)
{
    if (slot >= MAX_TOOLS)
        slot = 0;
    if ((unsigned)outcome > TN_METRICS_REJECTED)
        outcome = TN_METRICS_REJECTED;
    atomic_fetch_add_explicit(&m.tools[slot][outcome], 1, R);
}

void tn_metrics_store(enum tn_metrics_store_op op, uint64_t ns)
{
    if ((unsigned)op < TN_METRICS_STORE__COUNT)
        observe(&m.store[op], ns);
}

void tn_metrics_signin(const char *method, const char *outcome)
{
    atomic_fetch_add_explicit(&m.signin[index_of(signin_methods, N_SMETHODS, method)]
                                       [index_of(signin_outcomes, N_SOUTCOMES, outcome)],
                              1, R);
}

void tn_metrics_registration(const char *kind, const char *outcome)
{
    atomic_fetch_add_explicit(
        &m.reg[index_of(reg_kinds, N_RKINDS, kind)][index_of(reg_outcomes, N_ROUTCOMES, outcome)],
        1, R);
}

/* ---------- rendering ---------- */

static enum tn_err hist_out(struct tn_buf *b, const char *name, const struct tn_prom_label *l,
                            size_t nl, struct hist *h, bool skip_empty)
{
    uint64_t counts[TN_METRICS_BUCKETS + 1], total = 0;
    for (unsigned i = 0; i <= TN_METRICS_BUCKETS; i++)
        total += counts[i] = atomic_load_explicit(&h->b[i], R);
    if (skip_empty && !total)
        return TN_OK;
    double sum = (double)atomic_load_explicit(&h->sum_ns, R) / 1e9;
    return tn_prom_histogram(b, name, l, nl, tn_metrics_bucket_le, counts, TN_METRICS_BUCKETS, sum);
}

#define TRY(x)                   \
    do {                         \
        if ((rc = (x)) != TN_OK) \
            goto done;           \
    } while (0)

enum tn_err tn_metrics_render(struct tn_buf *b, const struct tn_metrics_extra *x)
{
    enum tn_err rc = TN_OK;
    unsigned nr = atomic_load(&m.n_routes), nt = atomic_load(&m.n_tools);

    TRY(tn_prom_family(b, "teamnotes_build_info", "Version and store backend of this server.",
                       TN_PROM_GAUGE));
    struct tn_prom_label bl[] = {{"version", x && x->version ? x->version : ""},
                                 {"backend", x && x->backend ? x->backend : ""}};
    TRY(tn_prom_sample(b, "teamnotes_build_info", bl, 2, 1));

    TRY(tn_prom_family(b, "teamnotes_http_requests_total",
                       "HTTP requests answered, by route (registered path) and status class.",
                       TN_PROM_COUNTER));
    for (unsigned r = 0; r < nr; r++)
        for (unsigned c = 0; c < 5; c++) {
            uint64_t v = atomic_load_explicit(&m.http[r][c], R);
            struct tn_prom_label l[] = {{"route", m.route[r]}, {"code", classes[c]}};
            if (v)
                TRY(tn_prom_sample(b, "teamnotes_http_requests_total", l, 2, v));
        }
    TRY(tn_prom_family(b, "teamnotes_http_request_duration_seconds",
                       "Time from a request's first byte to its answer being queued, by route.",
                       TN_PROM_HISTOGRAM));
    for (unsigned r = 0; r < nr; r++) {
        struct tn_prom_label l[] = {{"route", m.route[r]}};
        TRY(hist_out(b, "teamnotes_http_request_duration_seconds", l, 1, &m.http_lat[r], true));
    }
    TRY(tn_prom_family(b, "teamnotes_sse_streams_open", "Server-sent event streams open now.",
                       TN_PROM_GAUGE));
    int64_t st = atomic_load_explicit(&m.streams, R);
    TRY(tn_prom_sample(b, "teamnotes_sse_streams_open", NULL, 0, st > 0 ? (uint64_t)st : 0));

    TRY(tn_prom_family(b, "teamnotes_mcp_requests_total",
                       "MCP JSON-RPC requests by method and outcome (ok: a result, error: a "
                       "JSON-RPC error); unknown methods count as other.",
                       TN_PROM_COUNTER));
    for (unsigned i = 0; i < N_METHODS; i++)
        for (unsigned o = 0; o < 2; o++) {
            uint64_t v = atomic_load_explicit(&m.mcp[i][o], R);
            struct tn_prom_label l[] = {{"method", mcp_methods[i]},
                                        {"outcome", o ? "error" : "ok"}};
            if (v)
                TRY(tn_prom_sample(b, "teamnotes_mcp_requests_total", l, 2, v));
        }
    TRY(tn_prom_family(b, "teamnotes_mcp_tool_calls_total",
                       "tools/call by tool and outcome (ok, error: an isError result, rejected: "
                       "a JSON-RPC error); tools this server does not have count as other.",
                       TN_PROM_COUNTER));
    for (unsigned t = 0; t < nt; t++)
        for (unsigned o = 0; o < 3; o++) {
            struct tn_prom_label l[] = {{"tool", m.tool[t]}, {"outcome", tool_outcomes[o]}};
            TRY(tn_prom_sample(b, "teamnotes_mcp_tool_calls_total", l, 2,
                               atomic_load_explicit(&m.tools[t][o], R)));
        }

    TRY(tn_prom_family(b, "teamnotes_store_call_duration_seconds",
                       "Time of the notes store's calls, by operation.", TN_PROM_HISTOGRAM));
    for (unsigned i = 0; i < TN_METRICS_STORE__COUNT; i++) {
        struct tn_prom_label l[] = {{"op", store_ops[i]}};
        TRY(hist_out(b, "teamnotes_store_call_duration_seconds", l, 1, &m.store[i], false));
    }

    if (x && x->have_token_cache) {
        TRY(tn_prom_family(b, "teamnotes_token_cache_hits_total",
                           "Bearer tokens found in the verified-token cache.", TN_PROM_COUNTER));
        TRY(tn_prom_sample(b, "teamnotes_token_cache_hits_total", NULL, 0, x->token_cache_hits));
        TRY(tn_prom_family(b, "teamnotes_token_cache_misses_total",
                           "Bearer tokens not in the cache, verified in full.", TN_PROM_COUNTER));
        TRY(tn_prom_sample(b, "teamnotes_token_cache_misses_total", NULL, 0,
                           x->token_cache_misses));
    }

    TRY(tn_prom_family(b, "teamnotes_signins_total",
                       "Sign-in attempts at the built-in authorization server, by method and "
                       "outcome.",
                       TN_PROM_COUNTER));
    for (unsigned i = 0; i < N_SMETHODS; i++)
        for (unsigned o = 0; o < N_SOUTCOMES; o++) {
            uint64_t v = atomic_load_explicit(&m.signin[i][o], R);
            struct tn_prom_label l[] = {{"method", signin_methods[i]},
                                        {"outcome", signin_outcomes[o]}};
            if (v)
                TRY(tn_prom_sample(b, "teamnotes_signins_total", l, 2, v));
        }
    TRY(tn_prom_family(b, "teamnotes_client_registrations_total",
                       "Client registrations: dynamic (dcr) and metadata documents (cimd), by "
                       "outcome.",
                       TN_PROM_COUNTER));
    for (unsigned i = 0; i < N_RKINDS; i++)
        for (unsigned o = 0; o < N_ROUTCOMES; o++) {
            uint64_t v = atomic_load_explicit(&m.reg[i][o], R);
            struct tn_prom_label l[] = {{"kind", reg_kinds[i]}, {"outcome", reg_outcomes[o]}};
            if (v)
                TRY(tn_prom_sample(b, "teamnotes_client_registrations_total", l, 2, v));
        }
done:
    return rc;
}

void tn_metrics_reset(void)
{
    pthread_mutex_lock(&m.mu);
    atomic_store(&m.n_routes, 1);
    atomic_store(&m.n_tools, 1);
    for (unsigned r = 0; r < MAX_ROUTES; r++) {
        for (unsigned c = 0; c < 5; c++)
            atomic_store(&m.http[r][c], 0);
        for (unsigned i = 0; i <= TN_METRICS_BUCKETS; i++)
            atomic_store(&m.http_lat[r].b[i], 0);
        atomic_store(&m.http_lat[r].sum_ns, 0);
    }
    atomic_store(&m.streams, 0);
    for (unsigned i = 0; i < N_METHODS; i++)
        atomic_store(&m.mcp[i][0], 0), atomic_store(&m.mcp[i][1], 0);
    for (unsigned t = 0; t < MAX_TOOLS; t++)
        for (unsigned o = 0; o < 3; o++)
            atomic_store(&m.tools[t][o], 0);
    for (unsigned s = 0; s < TN_METRICS_STORE__COUNT; s++) {
        for (unsigned i = 0; i <= TN_METRICS_BUCKETS; i++)
            atomic_store(&m.store[s].b[i], 0);
        atomic_store(&m.store[s].sum_ns, 0);
    }
    for (unsigned i = 0; i < N_SMETHODS; i++)
        for (unsigned o = 0; o < N_SOUTCOMES; o++)
            atomic_store(&m.signin[i][o], 0);
    for (unsigned i = 0; i < N_RKINDS; i++)
        for (unsigned o = 0; o < N_ROUTCOMES; o++)
            atomic_store(&m.reg[i][o], 0);
    pthread_mutex_unlock(&m.mu);
}
