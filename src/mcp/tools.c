/* tools/list and tools/call: the gate, the Mcp-Param-* headers checked against the
 * arguments, the schemas on the way in and out; and the results a tool handler builds. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "mcp/internal.h"
#include "ops/metrics.h"

static struct tn_mcp_access tool_access(const struct tn_mcp_tool *t)
{
    return (struct tn_mcp_access){TN_MCP_ACCESS_TOOL, t->name, t->required_scope,
                                  t->required_permission, false};
}

static bool tool_allowed(struct tn_mcp_ctx *c, const struct tool_entry *t)
{
    struct tn_mcp_access a = tool_access(t->def);
    return tn_mcp_listed(c, &a);
}

/* Applies the gate to a call. Returns false when the call must not run: *result is an
 * isError result (missing permission) or e is set (insufficient scope, HTTP 403). */
static bool gate_call(struct tn_mcp_ctx *c, const struct tool_entry *t, struct tn_buf *why,
                      json_t **result, struct tn_rpc_err *e)
{
    if (!c->srv->gate)
        return true;
    struct tn_mcp_access a = tool_access(t->def);
    enum tn_err g = c->srv->gate(c, &a, why, c->srv->gate_ud);
    if (g == TN_OK)
        return true;
    if (g == TN_ERR_INSUFFICIENT_SCOPE) {
        snprintf(c->step_up, sizeof c->step_up, "%s", why->data ? why->data : "");
        tn_rpc_fail(e, TN_ERR_INSUFFICIENT_SCOPE, NULL, "Insufficient scope: this tool needs %s",
                    why->data ? why->data : "more scope");
        return false;
    }
    *result =
        tn_mcp_result_error("%s", why->len ? why->data : "You are not allowed to use this tool.");
    return false;
}

json_t *tn_mcp_tools_list(struct tn_mcp_ctx *c, json_t *params, struct tn_rpc_err *e)
{
    uint32_t off;
    if (!tn_mcp_page_start(c, params, 'T', &off, e))
        return NULL;
    struct tn_mcp_server *s = c->srv;
    json_t *arr = json_array();
    uint32_t seen = 0, size = s->info.page_size;
    bool more = false;
    pthread_rwlock_rdlock(&s->lock);
    for (size_t i = 0; i < s->n_tools; i++) {
        const struct tool_entry *t = &s->tools[i];
        if (!t->enabled || !tool_allowed(c, t))
            continue;
        if (seen++ < off)
            continue;
        if (json_array_size(arr) == size) {
            more = true;
            break;
        }
        json_array_append(arr, t->listing);
    }
    pthread_rwlock_unlock(&s->lock);
    json_t *r = json_pack("{s:o}", "tools", arr);
    tn_mcp_page_end(c, r, 'T', off + size, more);
    return r;
}

static bool json_equal_header(json_t *v, const char *h, char type)
{
    if (type == 's')
        return json_is_string(v) && strcmp(json_string_value(v), h) == 0;
    if (type == 'b')
        return json_is_boolean(v) && strcmp(h, json_is_true(v) ? "true" : "false") == 0;
    if (!json_is_integer(v))
        return false;
    errno = 0;
    char *end = NULL;
    long long n = strtoll(h, &end, 10);
    return !errno && end != h && *end == '\0' && n == json_integer_value(v);
}

static bool check_header_params(const struct tool_entry *t, json_t *args,
                                const struct tn_mcp_http_in *in, struct tn_rpc_err *e)
{
    for (unsigned i = 0; i < t->n_params; i++) {
        const struct header_param *p = &t->params[i];
        json_t *v = args;
        for (unsigned d = 0; d < p->depth && v; d++)
            v = json_is_object(v) ? json_object_get(v, p->path[d]) : NULL;
        char name[96];
        snprintf(name, sizeof name, "%s%s", TN_HDR_PARAM_PREFIX, p->header);
        const char *raw = in->header(in->ud, name);
        if (!v || json_is_null(v)) {
            if (raw) {
                tn_rpc_fail(e, TN_ERR_HEADER_MISMATCH, NULL,
                            "Header mismatch: %s is present but the argument is absent", name);
                return false;
            }
            continue;
        }
        if (!raw) {
            tn_rpc_fail(e, TN_ERR_HEADER_MISMATCH, NULL, "Header mismatch: %s header is required",
                        name);
            return false;
        }
        char *dec = tn_mcp_header_decode(raw);
        bool ok = dec && json_equal_header(v, dec, p->type);
        free(dec);
        if (!ok) {
            tn_rpc_fail(e, TN_ERR_HEADER_MISMATCH, NULL,
                        "Header mismatch: %s header value does not match the argument", name);
            return false;
        }
    }
    return true;
}

/* The tool that params names, registered and enabled, and its arguments (NULL when
 * absent or null). False with e set when either is not usable. */
static bool call_target(struct tn_mcp_ctx *c, json_t *params, const struct tool_entry **tool,
                        json_t **args, struct tn_rpc_err *e)
{
    struct tn_mcp_server *s = c->srv;
    *tool = NULL;
    *args = NULL;
    json_t *nm = params ? json_object_get(params, "name") : NULL;
    if (!json_is_string(nm)) {
        tn_rpc_fail(e, TN_ERR_INVALID_PARAMS, NULL, "Invalid params: \"name\" must be a string");
        return false;
    }
    const char *name = json_string_value(nm);
    const struct tool_entry *t = tn_mcp_tool_find(s, name);
    pthread_rwlock_rdlock(&s->lock);
    bool enabled = t && t->enabled;
    pthread_rwlock_unlock(&s->lock);
    if (!enabled) {
        tn_rpc_fail(e, TN_ERR_INVALID_PARAMS, NULL, "Unknown tool: %s", name);
        return false;
    }
    json_t *a = json_object_get(params, "arguments");
    if (a && !json_is_object(a) && !json_is_null(a)) {
        tn_rpc_fail(e, TN_ERR_INVALID_PARAMS, NULL,
                    "Invalid params: \"arguments\" must be an object");
        return false;
    }
    *tool = t;
    *args = json_is_object(a) ? a : NULL;
    return true;
}

/* What 2026-07-28 checks before a call runs: the Mcp-Param-* headers against the
 * arguments (when the HTTP request is at hand), the client capabilities the tool needs,
 * and the inputs and requestState of a retried call, bound to `bind`. */
static bool modern_checks(struct tn_mcp_ctx *c, const struct tool_entry *t, json_t *params,
                          json_t *args, const struct tn_mcp_http_in *in, const char *bind,
                          struct tn_rpc_err *e)
{
    if (in && !check_header_params(t, args, in, e))
        return false;
    if (t->def->requires_client_caps) {
        json_t *miss = tn_mcp_missing_caps(c, t->def->requires_client_caps);
        if (miss) {
            tn_rpc_fail(e, TN_ERR_MISSING_CAPABILITY,
                        json_pack("{s:o}", "requiredCapabilities", miss),
                        "Missing required client capability");
            return false;
        }
    }
    return tn_mcp_open_inputs(c, bind, params, e);
}

/* A result that asks the client for input (`result`, stolen): sealed for the retry on
 * 2026-07-28, bound to `bind` (computed here when the call brought no requestState);
 * an isError result on the 2025 revisions, which this server never asks. Returns what
 * to answer, or NULL with e set. */
static json_t *answer_input_required(struct tn_mcp_ctx *c, const char *name, json_t *args,
                                     char *bind, size_t bind_cap, json_t *result,
                                     struct tn_rpc_err *e)
{
    if (c->era != TN_MCP_MODERN) {
        json_decref(result);
        return tn_mcp_result_error(
            "Tool %s needs input from the client (elicitation, sampling or roots), which "
            "this server requests only over MCP 2026-07-28.",
            name);
    }
    if (!bind[0])
        tn_mcp_state_binding(bind, bind_cap, "tool", name, args);
    if (!tn_mcp_finish_input_required(c, bind, result, e)) {
        json_decref(result);
        return NULL;
    }
    return result;
}

#ifdef TN_CHECK_RESULTS
/* A result written as text carries its text block raw too: that block, parsed, is the
 * structured content's text byte for byte (debug builds). */
static bool text_block_matches(const json_t *result, const char *raw, size_t raw_len,
                               struct tn_buf *why)
{
    json_t *block = json_array_get(json_object_get(result, "content"), 0);
    json_t *text = json_object_get(block, "text");
    size_t tlen;
    const char *t = tn_json_raw_text(text, &tlen);
    json_t *s = t ? json_loadb(t, tlen, JSON_DECODE_ANY, NULL) : NULL;
    bool ok = t ? json_is_string(s) && json_string_length(s) == raw_len &&
                      memcmp(json_string_value(s), raw, raw_len) == 0
                : json_is_string(text) && json_string_length(text) == raw_len &&
                      memcmp(json_string_value(text), raw, raw_len) == 0;
    json_decref(s);
    if (!ok)
        tn_buf_puts(why, "the text block is not the structured content's text");
    return ok;
}
#endif

/* Checks a result (stolen) against the tool's output schema; one written as text only
 * in debug builds (see mcp.h). Returns it, or NULL with e set (TN_ERR_INTERNAL, the
 * mismatch logged) when it does not match. */
static json_t *check_output(const struct tool_entry *t, const char *name, json_t *result,
                            struct tn_buf *why, struct tn_rpc_err *e)
{
    json_t *sc = json_object_get(result, "structuredContent");
    size_t raw_len;
    const char *raw = tn_json_raw_text(sc, &raw_len);
    json_t *parsed = NULL;
    bool bad = false;
    if (raw) {
#ifdef TN_CHECK_RESULTS
        /* a result written as text: checked in debug builds only (see mcp.h), its text
         * block too, which must be that same text as a JSON string */
        parsed = json_loadb(raw, raw_len, 0, NULL);
        bad = !parsed || tn_schema_validate(t->output, parsed, why) != TN_OK ||
              !text_block_matches(result, raw, raw_len, why);
#endif
    } else {
        bad = !sc || tn_schema_validate(t->output, sc, why) != TN_OK;
    }
    json_decref(parsed);
    if (!bad)
        return result;
    tn_log(TN_LOG_ERROR, "tool result does not match its output schema", "tool", name, "reason",
           why->data ? why->data : "structuredContent missing", NULL);
    json_decref(result);
    tn_rpc_fail_in_band(e, TN_ERR_INTERNAL, NULL, "Internal error");
    return NULL;
}

json_t *tn_mcp_tools_call(struct tn_mcp_ctx *c, json_t *params, const struct tn_mcp_http_in *in,
                          struct tn_rpc_err *e)
{
    json_t *result = NULL, *own_args = NULL;
    struct tn_buf why;
    tn_buf_init(&why, 1024);
    /* what a requestState binds to; computed only when one is opened or sealed */
    char bind[400] = "";
    const struct tool_entry *t = NULL;
    json_t *args;
    if (!call_target(c, params, &t, &args, e))
        goto done;
    if (!args)
        args = own_args = json_object();
    const char *name = t->def->name;
    if (c->era == TN_MCP_MODERN) {
        if (json_object_get(params, "requestState"))
            tn_mcp_state_binding(bind, sizeof bind, "tool", name, args);
        if (!modern_checks(c, t, params, args, in, bind, e))
            goto done;
    }
    if (!gate_call(c, t, &why, &result, e))
        goto done;
    if (tn_schema_validate(t->input, args, &why) != TN_OK) {
        /* 2025-11-25: input errors are tool results, so the model can correct itself. */
        result = tn_mcp_result_error("Invalid arguments for tool %s: %s", name,
                                     why.data ? why.data : "invalid");
        goto done;
    }
    tn_buf_reset(&why);
    result = t->def->call(c, args, t->def->ud);
    if (!result) {
        tn_rpc_fail_in_band(e, TN_ERR_INTERNAL, NULL, "Internal error");
        goto done;
    }
    const char *rt = json_string_value(json_object_get(result, "resultType"));
    if (rt && !strcmp(rt, "input_required"))
        result = answer_input_required(c, name, args, bind, sizeof bind, result, e);
    else if (t->output && !json_is_true(json_object_get(result, "isError")))
        result = check_output(t, name, result, &why, e);
done:
    tn_metrics_tool(t ? t->mslot : 0, !result ? TN_METRICS_REJECTED
                                      : json_is_true(json_object_get(result, "isError"))
                                          ? TN_METRICS_ERROR
                                          : TN_METRICS_OK);
    tn_buf_deinit(&why);
    json_decref(own_args);
    return result;
}

/* ---------- result helpers ---------- */

json_t *tn_mcp_result_text(const char *text)
{
    return json_pack("{s:[{s:s, s:s}]}", "content", "type", "text", "text", text);
}

json_t *tn_mcp_result_error(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return json_pack("{s:[{s:s, s:s}], s:b}", "content", "type", "text", "text", msg, "isError", 1);
}

json_t *tn_mcp_result_structured(json_t *structured)
{
    if (!structured)
        return NULL;
    /* the text is the structured result as JSON (for clients that read only content) */
    struct tn_buf text;
    tn_buf_init(&text, SIZE_MAX / 2);
    json_t *r = NULL;
    if (tn_json_dump(structured, &text) == TN_OK)
        r = json_pack("{s:[{s:s, s:o}], s:o}", "content", "type", "text", "text",
                      json_stringn_nocheck(text.data, text.len), "structuredContent", structured);
    else
        json_decref(structured);
    tn_buf_deinit(&text);
    return r;
}

json_t *tn_mcp_result_structured_text(const char *json, size_t len, const char *text, size_t tlen)
{
    /* built by hand: json_pack would check the text's UTF-8 again. The *_new calls
     * take their value even when they fail, so one check at the end suffices. The text
     * block's string is written as it is (raw, in its quotes): escaping the page again
     * for every answer was a fifth of a list's instructions. */
    json_t *r = json_object(), *content = json_array(), *block = json_object();
    if (!r || !content || !block || tlen < 2 || text[0] != '"' || text[tlen - 1] != '"') {
        json_decref(r);
        json_decref(content);
        json_decref(block);
        return NULL;
    }
    json_array_append_new(content, block);
    json_object_set_new_nocheck(r, "content", content);
    json_object_set_new_nocheck(block, "type", json_string_nocheck("text"));
    json_object_set_new_nocheck(block, "text", tn_json_raw(text, tlen));
    json_object_set_new_nocheck(r, "structuredContent", tn_json_raw(json, len));
    if (json_array_size(content) != 1 || json_object_size(block) != 2 || json_object_size(r) != 2) {
        json_decref(r);
        return NULL;
    }
    return r;
}

json_t *tn_mcp_result_input_required(json_t *requests, json_t *state)
{
    json_t *r = json_pack("{s:s}", "resultType", "input_required");
    if (requests)
        json_object_set_new(r, "inputRequests", requests);
    /* "_tn_state" is replaced by the sealed requestState before the result leaves. */
    json_object_set_new(r, "_tn_state", state ? state : json_object());
    return r;
}

bool tn_mcp_tools_precheck(struct tn_mcp_ctx *c, json_t *params, const struct tn_mcp_http_in *in,
                           struct tn_rpc_err *e)
{
    json_t *nm = params ? json_object_get(params, "name") : NULL;
    const struct tool_entry *t =
        json_is_string(nm) ? tn_mcp_tool_find(c->srv, json_string_value(nm)) : NULL;
    json_t *args = params ? json_object_get(params, "arguments") : NULL;
    if (!t || (args && !json_is_object(args)))
        return true; /* tools/call itself reports these */
    if (c->srv->gate) {
        /* A refused scope must be a 403 before the response turns into a stream. */
        struct tn_buf why;
        tn_buf_init(&why, 1024);
        struct tn_mcp_access a = tool_access(t->def);
        enum tn_err g = c->srv->gate(c, &a, &why, c->srv->gate_ud);
        if (g == TN_ERR_INSUFFICIENT_SCOPE) {
            snprintf(c->step_up, sizeof c->step_up, "%s", why.data ? why.data : "");
            tn_rpc_fail(e, TN_ERR_INSUFFICIENT_SCOPE, NULL,
                        "Insufficient scope: this tool needs %s",
                        why.data ? why.data : "more scope");
        }
        tn_buf_deinit(&why);
        if (g == TN_ERR_INSUFFICIENT_SCOPE)
            return false;
    }
    if (c->era != TN_MCP_MODERN)
        return true;
    json_t *own = args ? NULL : json_object();
    bool ok = check_header_params(t, args ? args : own, in, e);
    json_decref(own);
    return ok;
}
