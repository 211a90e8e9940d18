/* Internals of the MCP core shared by its files; not part of the public API. */
#ifndef TN_MCP_INTERNAL_H
#define TN_MCP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "mcp/mcp.h"
#include "mcp/schema.h"

#define TN_META_PROTOCOL_VERSION "io.modelcontextprotocol/protocolVersion"
#define TN_META_CLIENT_CAPS "io.modelcontextprotocol/clientCapabilities"
#define TN_META_CLIENT_INFO "io.modelcontextprotocol/clientInfo"
#define TN_META_LOG_LEVEL "io.modelcontextprotocol/logLevel"
#define TN_META_SERVER_INFO "io.modelcontextprotocol/serverInfo"
#define TN_META_SUBSCRIPTION_ID "io.modelcontextprotocol/subscriptionId"

#define TN_HDR_PROTOCOL_VERSION "MCP-Protocol-Version"
#define TN_HDR_METHOD "Mcp-Method"
#define TN_HDR_NAME "Mcp-Name"
#define TN_HDR_PARAM_PREFIX "Mcp-Param-"

#define TN_LEGACY_DEFAULT_VERSION "2025-03-26"
#define TN_MCP_MAX_BATCH 32
#define TN_LEGACY_LATEST "2025-11-25"

/* A protocol error: HTTP status, JSON-RPC code, message, optional data (owned). */
struct tn_rpc_err {
    int http;
    int code;
    char msg[512];
    json_t *data;
};

struct header_param {
    char *header;  /* the {Name} of Mcp-Param-{Name} */
    char *path[8]; /* property chain from the arguments object */
    unsigned depth;
    char type; /* 's'tring, 'i'nteger, 'b'oolean */
};

struct tool_entry {
    const struct tn_mcp_tool *def;
    struct tn_schema *input;
    struct tn_schema *output;
    json_t *listing; /* the Tool object of tools/list */
    struct header_param params[8];
    unsigned n_params;
    bool enabled;
    unsigned mslot; /* its slot in ops/metrics */
};

struct prompt_entry {
    const struct tn_mcp_prompt *def;
    json_t *listing;
    bool enabled;
};

struct listener;
struct job;
struct method; /* a row of server.c's method table */

/* server.c: runs method m of a parsed call; the HTTP status of the answer in *http. */
/* context.c: hands a response the client POSTed to the call waiting for it; only the
 * same caller may answer. False when nothing of this caller waits for that id. */
bool tn_mcp_deliver_response(struct tn_mcp_server *s, json_t *msg, const char *subject);
json_t *tn_mcp_dispatch(struct tn_mcp_ctx *c, const struct method *m, json_t *id, json_t *params,
                        const struct tn_mcp_http_in *in, int *http);
/* context.c: writes one JSON-RPC message as an SSE event into `sink`. */
enum tn_err tn_mcp_send_json(struct tn_sink *sink, json_t *msg);

/* jobs.c: streamed calls. A job for the streamed call c of `msg`, not started (NULL when
 * out of memory); started with tn_mcp_job_run (false: not started, release it). */
struct job *tn_mcp_job_new(struct tn_mcp_server *s, struct tn_mcp_ctx *c, const struct method *m,
                           json_t *msg);
bool tn_mcp_job_run(struct job *j, struct tn_mcp_ctx *c, struct tn_sink *sink);
void tn_mcp_job_release(struct job *j);
/* jobs.c: enters a job into the server's list (TN_ERR_TOO_MANY_STREAMS past the caller's
 * share) and takes it out again. */
enum tn_err tn_mcp_job_link(struct tn_mcp_server *s, struct job *j);
void tn_mcp_job_unlink(struct tn_mcp_server *s, struct job *j);
/* server.c: points a context's borrowed values (client capabilities, progress token)
 * into `msg`, for a copy of the request that outlives it. */
void tn_mcp_ctx_point_into(struct tn_mcp_ctx *c, json_t *msg);
/* server.c: a JSON-RPC error answer with the given HTTP status and the table's code. */
void tn_mcp_out_error(struct tn_mcp_http_out *out, json_t *id, int http, enum tn_err err,
                      json_t *data, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* headers.c: the answers an Accept header allows, JSON and/or an SSE stream. */
struct tn_mcp_accept {
    bool json, sse;
};
struct tn_mcp_accept tn_mcp_parse_accept(const char *h);
/* headers.c: a media type (before any parameters) equals `type`, case-insensitively. */
bool tn_mcp_media_is(const char *v, const char *type);
/* server.c: the RFC 5424 levels of logging/setLevel, in order. */
extern const char *const tn_mcp_log_levels[8];
/* modern.c: the modern era's checks; false when `out` holds the refusal (method NULL:
 * a client's response, which repeats only the version). */
bool tn_mcp_modern_meta_ok(struct tn_mcp_http_out *out, json_t *id, json_t *meta);
bool tn_mcp_modern_headers_ok(const struct tn_mcp_http_in *in, struct tn_mcp_http_out *out,
                              json_t *id, const char *version, const char *method, json_t *params);
bool tn_mcp_modern_log_level(struct tn_mcp_http_out *out, json_t *id, json_t *meta, int *level);

/* A server-to-client request (2025 path) waiting for the client's response POST. */
struct pending {
    char id[40];
    const char *subject; /* only the caller who started the call may answer */
    json_t *response;    /* the whole response message, once it came */
    pthread_cond_t cv;
    struct pending *next;
};

struct tn_mcp_server {
    struct tn_mcp_info info;
    uint8_t secret[64];
    size_t secret_len;
    uint8_t state_key[32];   /* derived: requestState */
    uint8_t cursor_key[32];  /* derived: list cursors */
    json_t *server_info;     /* {name, version, title?, description?} */
    json_t *server_info_raw; /* the same, written once (tn_json_raw): every modern answer
                                carries it in _meta */
    /* The modern capabilities object written once per shape (tools, resources, prompts,
     * completions: 4 bits), made by the first server/discover that needs it. */
    _Atomic(json_t *) caps_raw[16];
    json_t *versions_raw;  /* the supported versions, written once */
    json_t *instructions;  /* info.instructions as a JSON string (made once), or NULL */
    pthread_rwlock_t lock; /* guards `enabled` flags */
    struct tool_entry *tools;
    size_t n_tools, cap_tools;
    const struct tn_mcp_resource **resources;
    size_t n_resources, cap_resources;
    const struct tn_mcp_resource_template **templates;
    size_t n_templates, cap_templates;
    const struct tn_mcp_resource_provider **providers;
    size_t n_providers, cap_providers;
    struct prompt_entry *prompts;
    size_t n_prompts, cap_prompts;
    tn_mcp_complete_fn complete;
    void *complete_ud;
    tn_mcp_gate_fn gate;
    void *gate_ud;
    struct tn_mcp_access completion_access;
    struct tn_mcp_access listen_access;
    pthread_mutex_t listen_mu;
    struct listener *listeners;
    unsigned n_listeners;
    atomic_uint n_streaming;
    pthread_mutex_t jobs_mu; /* guards the list of streamed calls */
    struct job *jobs;
    pthread_mutex_t pending_mu;
    struct pending *pending;
    atomic_ulong next_request_id;
};

struct tn_mcp_ctx {
    struct tn_mcp_server *srv;
    const struct tn_principal *principal;
    const char *subject;
    enum tn_mcp_era era;
    const char *version;
    json_t *client_caps;     /* borrowed */
    json_t *progress_token;  /* borrowed */
    int log_level;           /* -1: no log messages */
    struct tn_sink *sink;    /* NULL unless streaming */
    json_t *input_responses; /* borrowed */
    json_t *state;           /* owned, verified */
    double last_progress;
    bool cancelled;
    char step_up[512]; /* scopes a refused call needs (insufficient_scope) */
};

/* rpc.c */
void tn_rpc_sanitize(char *msg);
/* Sets e (replacing its data; `data` is stolen) to the error `err` as the table in
 * core/err.h maps it: its JSON-RPC code and HTTP status. The message is formatted and
 * made printable ASCII. */
void tn_rpc_fail(struct tn_rpc_err *e, enum tn_err err, json_t *data, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The same, answered with HTTP 200: the request was served and the error is the
 * method's own (a handler that failed, a refusal the user must read), which the
 * transport must not turn into an HTTP failure. */
void tn_rpc_fail_in_band(struct tn_rpc_err *e, enum tn_err err, json_t *data, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Sets e from an explicit HTTP status and JSON-RPC code; prefer tn_rpc_fail, which
 * takes both from the error table. */
void tn_rpc_err_set(struct tn_rpc_err *e, int http, int code, json_t *data, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
json_t *tn_rpc_error_body(json_t *id, const struct tn_rpc_err *e);
json_t *tn_rpc_result_body(json_t *id, json_t *result);
/* Parses `body` with limits (duplicate keys refused, depth and string length capped). */
json_t *tn_rpc_parse(struct tn_span body, unsigned max_depth, size_t max_string,
                     struct tn_rpc_err *e);
/* Checks the JSON-RPC 2.0 envelope of one message. Sets *is_request / *is_notification. */
bool tn_rpc_envelope_ok(json_t *msg, struct tn_rpc_err *e, bool *is_request, bool *is_notification);

/* headers.c */
/* Decodes an Mcp-* header value: trims spaces, and decodes `=?base64?…?=`. Returns a
 * malloc'd string, or NULL when the value is malformed. */
char *tn_mcp_header_decode(const char *raw);

/* state.c: MRTR requestState sealing */
char *tn_mcp_state_seal(const struct tn_mcp_server *s, const char *subject, const char *name,
                        json_t *state);
json_t *tn_mcp_state_open(const struct tn_mcp_server *s, const char *subject, const char *name,
                          const char *sealed, const char **why);

/* state.c: list cursors */
char *tn_mcp_cursor_make(const struct tn_mcp_server *s, char kind, uint32_t a, uint32_t b,
                         const char *inner);
bool tn_mcp_cursor_read(const struct tn_mcp_server *s, const char *cursor, char kind, uint32_t *a,
                        uint32_t *b, char **inner);

/* registry.c: pagination. tn_mcp_page_start reads params.cursor, a cursor of `kind`,
 * into *off (0 without one); false with e set (TN_ERR_INVALID_PARAMS) for an invalid
 * one. tn_mcp_page_end adds nextCursor (offset `next`) to result when `more`. */
bool tn_mcp_page_start(struct tn_mcp_ctx *c, json_t *params, char kind, uint32_t *off,
                       struct tn_rpc_err *e);
void tn_mcp_page_end(struct tn_mcp_ctx *c, json_t *result, char kind, uint32_t next, bool more);

/* registry.c: the gate. Asks it about `a` for this request; false with e set when it
 * refuses: insufficient scope → HTTP 403 and c->step_up; anything else → HTTP 200 and
 * TN_ERR_FORBIDDEN's JSON-RPC code with the gate's reason. */
bool tn_mcp_access_check(struct tn_mcp_ctx *c, const struct tn_mcp_access *a, struct tn_rpc_err *e);
/* The gate's verdict on an open stream (ongoing); `why` gets the reason of a refusal. */
bool tn_mcp_access_still(struct tn_mcp_ctx *c, const struct tn_mcp_access *a, struct tn_buf *why);
/* The gate's verdict for a listing, which only filters (no reason, no audit). */
bool tn_mcp_listed(struct tn_mcp_ctx *c, const struct tn_mcp_access *a);

json_t *tn_mcp_capabilities(struct tn_mcp_server *s, enum tn_mcp_era era);
/* The modern capabilities as a tn_json_raw value (new reference), NULL without memory. */
json_t *tn_mcp_capabilities_raw(struct tn_mcp_server *s);
bool tn_mcp_has_tools(struct tn_mcp_server *s);
bool tn_mcp_has_resources(struct tn_mcp_server *s);
bool tn_mcp_has_prompts(struct tn_mcp_server *s);
/* The registered tool `name` (enabled or not), or NULL. */
const struct tool_entry *tn_mcp_tool_find(struct tn_mcp_server *s, const char *name);

/* Method implementations (tools.c, resources.c, prompts.c). Each returns a result (new
 * ref) or NULL with e set. */
json_t *tn_mcp_tools_list(struct tn_mcp_ctx *c, json_t *params, struct tn_rpc_err *e);
json_t *tn_mcp_tools_call(struct tn_mcp_ctx *c, json_t *params, const struct tn_mcp_http_in *in,
                          struct tn_rpc_err *e);
/* The checks of tools/call that need the HTTP request (Mcp-Param-* headers), for calls
 * that then run on another thread. */
bool tn_mcp_tools_precheck(struct tn_mcp_ctx *c, json_t *params, const struct tn_mcp_http_in *in,
                           struct tn_rpc_err *e);
json_t *tn_mcp_resources_list(struct tn_mcp_ctx *c, json_t *params, struct tn_rpc_err *e);
json_t *tn_mcp_templates_list(struct tn_mcp_ctx *c, json_t *params, struct tn_rpc_err *e);
json_t *tn_mcp_resources_read(struct tn_mcp_ctx *c, json_t *params, struct tn_rpc_err *e);
json_t *tn_mcp_complete(struct tn_mcp_ctx *c, json_t *params, struct tn_rpc_err *e);
json_t *tn_mcp_prompts_list(struct tn_mcp_ctx *c, json_t *params, struct tn_rpc_err *e);
json_t *tn_mcp_prompts_get(struct tn_mcp_ctx *c, json_t *params, struct tn_rpc_err *e);

/* mrtr.c: multi round-trip requests. */
/* The client capabilities of `list` (comma-separated paths, e.g. "elicitation.form")
 * the client did not declare, as a requiredCapabilities object (new ref); NULL when it
 * declared them all. */
json_t *tn_mcp_missing_caps(struct tn_mcp_ctx *c, const char *list);
/* Writes to out what a requestState binds to: the kind of request, its name and a MAC
 * of its arguments. */
void tn_mcp_state_binding(char *out, size_t cap, const char *kind, const char *name, json_t *args);
/* Post-processes a handler's input_required result: checks the requested client
 * capabilities, seals the state. Returns false with e set (TN_ERR_MISSING_CAPABILITY). */
bool tn_mcp_finish_input_required(struct tn_mcp_ctx *c, const char *name, json_t *result,
                                  struct tn_rpc_err *e);
/* Opens MRTR inputs of a retried request into the context. */
bool tn_mcp_open_inputs(struct tn_mcp_ctx *c, const char *name, json_t *params,
                        struct tn_rpc_err *e);

/* listen.c */
void tn_mcp_listen_start(struct tn_mcp_server *s, struct tn_mcp_ctx *c, json_t *id, json_t *params,
                         struct tn_sink *sink);
void tn_mcp_listen_init(struct tn_mcp_server *s);
void tn_mcp_listen_deinit(struct tn_mcp_server *s);
/* Ends the listen streams the gate no longer allows; returns how many. */
unsigned tn_mcp_listen_recheck(struct tn_mcp_server *s);

#endif
