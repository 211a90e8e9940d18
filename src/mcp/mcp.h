/* The MCP server core: a registry of tools, resources, prompts and completions, served
 * over Streamable HTTP to both protocol eras (2026-07-28 stateless, and the 2025
 * revisions through `initialize`).
 *
 * This is the public API that the notes application (and anyone embedding the core)
 * uses. It knows nothing of OAuth beyond the opaque principal pointer it is handed and
 * passes on in the request context. Register everything before serving; schemas are
 * compiled at registration. */
#ifndef TN_MCP_H
#define TN_MCP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/sink.h"

struct tn_principal; /* defined by the authentication layer; opaque here */
struct tn_mcp_server;
struct tn_mcp_ctx;

/* ---------- protocol versions ---------- */

#define TN_MCP_VERSION_MODERN "2026-07-28"
/* Every version served, newest first: used by server/discover, initialize and
 * TN_ERR_UNSUPPORTED_VERSION. */
extern const char *const tn_mcp_versions[];
extern const size_t tn_mcp_versions_count;

enum tn_mcp_era { TN_MCP_LEGACY, TN_MCP_MODERN };

/* ---------- the request context ---------- */

/* The authenticated caller, or NULL when the endpoint runs without authentication. */
const struct tn_principal *tn_mcp_ctx_principal(const struct tn_mcp_ctx *ctx);
/* A stable key of the caller (e.g. issuer + subject), used to scope notifications;
 * "" when anonymous. */
const char *tn_mcp_ctx_subject(const struct tn_mcp_ctx *ctx);
enum tn_mcp_era tn_mcp_ctx_era(const struct tn_mcp_ctx *ctx);
const char *tn_mcp_ctx_protocol_version(const struct tn_mcp_ctx *ctx);
/* The client's capabilities as sent (modern: this request's _meta; legacy: initialize
 * params when this is initialize, else NULL). Borrowed. */
json_t *tn_mcp_ctx_client_capabilities(const struct tn_mcp_ctx *ctx);
/* True once the client has gone (modern: the response stream was closed). */
bool tn_mcp_ctx_cancelled(const struct tn_mcp_ctx *ctx);
/* Sends notifications/progress when the request carried a progressToken; a no-op
 * otherwise. `total` < 0 means unknown. Fails with TN_ERR_CANCELLED when the client left. */
enum tn_err tn_mcp_ctx_progress(struct tn_mcp_ctx *ctx, double progress, double total,
                                const char *message);

enum tn_mcp_log_level {
    TN_MCP_LOG_DEBUG,
    TN_MCP_LOG_INFO,
    TN_MCP_LOG_NOTICE,
    TN_MCP_LOG_WARNING,
    TN_MCP_LOG_ERROR,
    TN_MCP_LOG_CRITICAL,
    TN_MCP_LOG_ALERT,
    TN_MCP_LOG_EMERGENCY
};
/* Sends notifications/message on this request's stream when the client asked for logs
 * at this level (modern: _meta logLevel; legacy: always, on a streamed response).
 * `data` is stolen. */
enum tn_err tn_mcp_ctx_log(struct tn_mcp_ctx *ctx, enum tn_mcp_log_level lvl, const char *logger,
                           json_t *data);
/* 2025 revisions only: sends a server-to-client request (`sampling/createMessage`,
 * `elicitation/create`, `roots/list`) on this call's SSE stream and waits up to
 * timeout_ms for the client to POST its response. Returns the response's `result` (new
 * reference), or NULL with a reason in `why` (client error, timeout, client gone, not a
 * streamed legacy call). `params` is stolen. Responses are matched in this process only:
 * behind a load balancer this works only with sticky routing, which is why 2026-07-28
 * uses MRTR instead. */
json_t *tn_mcp_ctx_client_request(struct tn_mcp_ctx *ctx, const char *method, json_t *params,
                                  unsigned timeout_ms, struct tn_buf *why);
/* MRTR: the client's answer to an earlier input request `key`, or NULL. Borrowed. */
json_t *tn_mcp_ctx_input_response(const struct tn_mcp_ctx *ctx, const char *key);
/* MRTR: the state the handler attached to its last input_required result, verified
 * (integrity, expiry, same caller, same tool), or NULL on a first round. Borrowed. */
json_t *tn_mcp_ctx_request_state(const struct tn_mcp_ctx *ctx);
/* True when the client declared capability `path` (e.g. "elicitation", "sampling",
 * "roots", "elicitation.form"). */
bool tn_mcp_ctx_client_has(const struct tn_mcp_ctx *ctx, const char *path);

/* ---------- results ---------- */

/* CallToolResult with one text block. */
json_t *tn_mcp_result_text(const char *text);
/* CallToolResult with isError:true and the formatted message as text. */
json_t *tn_mcp_result_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* CallToolResult carrying `structured` (stolen) as structuredContent and as JSON text. */
json_t *tn_mcp_result_structured(json_t *structured);
/* The same result from the structured content already written as JSON text (`len`
 * bytes, one object) and that text as a JSON string, quotes included (`text`, `tlen`
 * bytes: a tn_json_twin's two halves, the text written between two quotes): for hot paths that build their answer as text.
 * Both go out verbatim; in debug builds (the test suite) the structured content is
 * checked against the tool's output schema and the text block against the structured
 * content, so the tool must produce them correctly by construction. */
json_t *tn_mcp_result_structured_text(const char *json, size_t len, const char *text, size_t tlen);
/* InputRequiredResult: `requests` (stolen) maps keys to {method, params}; `state`
 * (stolen, may be NULL) is sealed by the core into an integrity-protected requestState
 * and handed back through tn_mcp_ctx_request_state on the next round. Modern only: on
 * the legacy path the core turns it into an isError result. */
json_t *tn_mcp_result_input_required(json_t *requests, json_t *state);

/* ---------- tools ---------- */

/* Tri-state hints: 0 = not stated, 1 = true, -1 = false. */
struct tn_mcp_annotations {
    const char *title;
    signed char read_only, destructive, idempotent, open_world;
};

/* Returns a new reference to a result built with the helpers above, or NULL for an
 * internal failure (answered as TN_ERR_INTERNAL without details). `args` is borrowed
 * and has already been validated against the input schema. */
typedef json_t *(*tn_mcp_tool_fn)(struct tn_mcp_ctx *ctx, json_t *args, void *ud);

struct tn_mcp_tool {
    const char *name;          /* [A-Za-z0-9_.-]{1,128} */
    const char *title;         /* optional */
    const char *description;   /* required */
    const char *input_schema;  /* JSON text; NULL: no arguments */
    const char *output_schema; /* JSON text or NULL */
    struct tn_mcp_annotations annotations;
    const char *required_scope;      /* OAuth scope needed, or NULL */
    const char *required_permission; /* permission needed, or NULL */
    /* Needs these client capabilities (comma-separated, e.g. "sampling") on the modern
     * path; missing ones give TN_ERR_MISSING_CAPABILITY. */
    const char *requires_client_caps;
    /* The handler sends progress or log notifications: the call is answered over SSE
     * (on a worker thread) when the client asked for them and accepts event streams. */
    bool streams;
    /* The handler waits (a durable write) or may run long (a search of a large store):
     * when the transport can, it runs the call on a thread where that holds up nothing
     * else (see tn_mcp_http_in.can_offload), so that concurrent writers share one commit
     * and no connection waits behind the call on its event loop. */
    bool waits;
    tn_mcp_tool_fn call;
    void *ud;
};

/* ---------- resources ---------- */

/* Returns a ReadResourceResult ({"contents":[…]}) or NULL when `uri` does not exist
 * (answered "Resource not found": TN_ERR_INVALID_PARAMS on 2026-07-28,
 * TN_ERR_RESOURCE_NOT_FOUND on the 2025 revisions). */
typedef json_t *(*tn_mcp_read_fn)(struct tn_mcp_ctx *ctx, const char *uri, json_t *vars, void *ud);

/* Every resource, template and provider names what reading it needs, like a tool: the
 * OAuth scope and the permission (NULL: none), checked by the gate (tn_mcp_gate_set). */
struct tn_mcp_resource {
    const char *uri;
    const char *name;
    const char *title;
    const char *description;
    const char *mime_type;
    tn_mcp_read_fn read; /* vars is NULL */
    void *ud;
    const char *required_scope;
    const char *required_permission;
};

struct tn_mcp_resource_template {
    const char *uri_template; /* RFC 6570 level 1: {var} segments */
    const char *name;
    const char *title;
    const char *description;
    const char *mime_type;
    tn_mcp_read_fn read; /* vars = {"var": "value", …} */
    void *ud;
    const char *required_scope;
    const char *required_permission;
};

/* A source of per-caller resources (the notes of the caller, say). `list` appends
 * Resource objects to `out` starting after `cursor` (NULL: from the start), at most
 * `limit`, and sets *next (malloc'd, opaque) when more remain. `read` answers URIs it
 * owns (NULL otherwise). Its listing is the caller's data: resources/list is refused as
 * a whole (not filtered) when the gate refuses a provider. */
struct tn_mcp_resource_provider {
    const char *uri_prefix;
    enum tn_err (*list)(struct tn_mcp_ctx *ctx, const char *cursor, size_t limit, json_t *out,
                        char **next, void *ud);
    tn_mcp_read_fn read;
    void *ud;
    const char *required_scope;
    const char *required_permission;
};

/* ---------- prompts and completions ---------- */

struct tn_mcp_prompt_arg {
    const char *name;
    const char *description;
    bool required;
};

/* Returns a GetPromptResult, an input_required result, or NULL on internal failure. */
typedef json_t *(*tn_mcp_prompt_fn)(struct tn_mcp_ctx *ctx, json_t *args, void *ud);

struct tn_mcp_prompt {
    const char *name;
    const char *title;
    const char *description;
    const struct tn_mcp_prompt_arg *args; /* terminated by {NULL} ; may be NULL */
    tn_mcp_prompt_fn get;
    void *ud;
};

/* Returns a JSON array of completion strings (new reference) for argument `arg` with
 * partial `value`, for `ref` ({type:"ref/prompt",name} or {type:"ref/resource",uri}). */
typedef json_t *(*tn_mcp_complete_fn)(struct tn_mcp_ctx *ctx, json_t *ref, const char *arg,
                                      const char *value, json_t *context_args, void *ud);

/* ---------- the server ---------- */

struct tn_mcp_info {
    const char *name;
    const char *title;
    const char *version;
    const char *description;
    const char *instructions;
    const uint8_t *secret; /* key for requestState integrity; at least 32 bytes */
    size_t secret_len;
    unsigned page_size;  /* list page size (default 50) */
    unsigned max_listen; /* concurrent subscriptions/listen streams */
    unsigned json_max_depth;
    size_t json_max_string;
    unsigned max_streaming; /* concurrent streamed (SSE) calls */
    /* Per caller (subject), each: open listen streams, and streamed calls; 0: no limit.
     * Anonymous callers (subject "") share only the global limits. */
    unsigned max_streams_per_subject;
    /* How a call that outlives its HTTP request (a streamed call on a worker thread)
     * keeps its principal alive. NULL when principals are not reference-counted. */
    void (*principal_retain)(const struct tn_principal *p);
    void (*principal_release)(const struct tn_principal *p);
};

struct tn_mcp_server *tn_mcp_server_new(const struct tn_mcp_info *info);
void tn_mcp_server_free(struct tn_mcp_server *s);

/* Registration copies nothing but the schema texts it compiles: the structs and strings
 * must outlive the server (static data, typically). Fails with TN_ERR_BAD_INPUT for an
 * invalid name or schema, naming the problem in the log. */
enum tn_err tn_mcp_tool_add(struct tn_mcp_server *s, const struct tn_mcp_tool *t);
enum tn_err tn_mcp_resource_add(struct tn_mcp_server *s, const struct tn_mcp_resource *r);
enum tn_err tn_mcp_resource_template_add(struct tn_mcp_server *s,
                                         const struct tn_mcp_resource_template *t);
enum tn_err tn_mcp_resource_provider_add(struct tn_mcp_server *s,
                                         const struct tn_mcp_resource_provider *p);
enum tn_err tn_mcp_prompt_add(struct tn_mcp_server *s, const struct tn_mcp_prompt *p);
void tn_mcp_completion_set(struct tn_mcp_server *s, tn_mcp_complete_fn fn, void *ud);
/* Enables/disables a registered tool or prompt at run time (list_changed is sent). */
enum tn_err tn_mcp_tool_enable(struct tn_mcp_server *s, const char *name, bool on);
enum tn_err tn_mcp_prompt_enable(struct tn_mcp_server *s, const char *name, bool on);

/* Completions need this scope and permission (NULL: none) besides those of the template
 * a ref/resource names. */
void tn_mcp_completion_require(struct tn_mcp_server *s, const char *scope, const char *permission);
/* subscriptions/listen needs this scope and permission (NULL: none), when the stream
 * opens and for as long as it stays open (tn_mcp_recheck). */
void tn_mcp_listen_require(struct tn_mcp_server *s, const char *scope, const char *permission);

/* ---------- authorization ---------- */

/* What the gate is asked about. */
enum tn_mcp_access_kind {
    TN_MCP_ACCESS_TOOL,       /* tools/list (filtered), tools/call */
    TN_MCP_ACCESS_RESOURCE,   /* a static resource: resources/list (filtered), resources/read */
    TN_MCP_ACCESS_TEMPLATE,   /* a template: resources/templates/list (filtered), resources/read,
                                 completion/complete of its variables */
    TN_MCP_ACCESS_PROVIDER,   /* a resource provider: resources/list, resources/read */
    TN_MCP_ACCESS_COMPLETION, /* completion/complete */
    TN_MCP_ACCESS_LISTEN,     /* subscriptions/listen */
};

struct tn_mcp_access {
    enum tn_mcp_access_kind kind;
    const char *name;                /* the tool's name, else the MCP method */
    const char *required_scope;      /* NULL: none */
    const char *required_permission; /* NULL: none */
    /* A stream that is already open is checked again (tn_mcp_recheck): what the request
     * was authenticated with may have changed since (the token expired, the account was
     * disabled or lost a permission). */
    bool ongoing;
};

/* The authorization gate, called for every use of a tool, resource, template, provider,
 * completion or listen stream (`why` = NULL when it only filters a listing; no audit
 * then). Returns TN_OK to allow; TN_ERR_INSUFFICIENT_SCOPE when the token lacks a scope
 * that re-authorization could add (answered HTTP 403 with a step-up challenge: `why`
 * names every scope needed, space-separated); any other error for a refusal that
 * re-authorizing cannot cure, `why` saying what is missing (tools/call: an isError
 * result; other methods: a JSON-RPC error with TN_ERR_FORBIDDEN's code; an open stream:
 * it ends). Default: allow everything. */
typedef enum tn_err (*tn_mcp_gate_fn)(const struct tn_mcp_ctx *ctx, const struct tn_mcp_access *a,
                                      struct tn_buf *why, void *ud);
void tn_mcp_gate_set(struct tn_mcp_server *s, tn_mcp_gate_fn fn, void *ud);

/* Asks the gate again about every open listen stream and streamed call (ongoing = true).
 * A refused listen stream gets its final result and is closed; a refused streamed call
 * is answered with a JSON-RPC error saying why and its stream closed (the handler sees
 * tn_mcp_ctx_cancelled). Call it from a timer (the gate decides how fresh its view of
 * the caller is). Returns how many streams it ended. */
unsigned tn_mcp_recheck(struct tn_mcp_server *s);

/* Notifications to subscriptions/listen streams. `subject` limits delivery to one
 * caller's streams (NULL: everyone). */
void tn_mcp_notify_tools_changed(struct tn_mcp_server *s);
void tn_mcp_notify_prompts_changed(struct tn_mcp_server *s);
void tn_mcp_notify_resources_changed(struct tn_mcp_server *s, const char *subject);
void tn_mcp_notify_resource_updated(struct tn_mcp_server *s, const char *uri, const char *subject);
/* Ends every listen stream with its final result (graceful shutdown). */
void tn_mcp_close_listens(struct tn_mcp_server *s);
/* Waits up to timeout_ms for streamed calls still running on worker threads; returns
 * how many are left. Call before freeing the server. */
unsigned tn_mcp_drain(struct tn_mcp_server *s, unsigned timeout_ms);

/* ---------- serving one HTTP request ---------- */

struct tn_mcp_http_in {
    const char *method; /* HTTP method */
    const char *(*header)(void *ud, const char *name);
    struct tn_sink *(*open_stream)(void *ud); /* turns the response into SSE */
    void *ud;
    struct tn_span body;
    const struct tn_principal *principal; /* NULL when unauthenticated */
    const char *subject;                  /* NULL or "" when unauthenticated */
    const char *request_id;
    /* The transport can run this request again on a thread meant for waiting: a call
     * of a tool that waits is then not served here but answered with out->offload. */
    bool can_offload;
    /* Request-scoped memory (core/arena.h) that outlives this call until the answer is
     * sent, or NULL: the parsed request, and some answers, are built there. */
    struct tn_arena *arena;
    /* In the second call of an offloaded request: what the first parked (out->parked),
     * served without parsing or checking the request again. Borrowed. */
    struct tn_mcp_parked *parked;
};

struct tn_mcp_http_out {
    int status;
    const char *content_type;     /* static */
    struct tn_buf body;           /* initialised by the caller */
    const char *allow;            /* static, for 405 */
    bool streamed;                /* the answer goes through the sink */
    bool offload;                 /* nothing done: serve the request again where waiting is
                                 fine, with can_offload false */
    struct tn_mcp_parked *parked; /* with offload (may be NULL): the parsed, checked call,
                                     for the second call's in->parked; the caller owns it
                                     (tn_mcp_parked_free, after the second call) */
    char step_up_scope[512];      /* set with status 403: the scopes the call needs */
};

/* Serves one POST/GET/DELETE on the MCP endpoint. Never fails: every problem becomes an
 * HTTP status and a JSON-RPC error body in `out`. */
void tn_mcp_handle(struct tn_mcp_server *s, const struct tn_mcp_http_in *in,
                   struct tn_mcp_http_out *out);
/* Frees what out->parked holds (a void * for transports' free callbacks); NULL is a
 * no-op. Call it before in->arena goes. */
void tn_mcp_parked_free(void *parked);

#endif
