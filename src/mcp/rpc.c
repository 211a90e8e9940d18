/* JSON-RPC 2.0: parsing with limits, envelope rules, response bodies. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "mcp/internal.h"

void tn_rpc_sanitize(char *msg)
{
    /* Messages may quote client input (a method name, a header): keep them printable
     * ASCII so that they always encode, and never cut inside a UTF-8 sequence. */
    for (unsigned char *p = (unsigned char *)msg; *p; p++)
        if (*p < 0x20 || *p >= 0x7f)
            *p = '?';
}

static void err_vset(struct tn_rpc_err *e, int http, int code, json_t *data, const char *fmt,
                     va_list ap)
{
    e->http = http;
    e->code = code;
    if (e->data)
        json_decref(e->data);
    e->data = data;
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    tn_rpc_sanitize(e->msg);
}

void tn_rpc_err_set(struct tn_rpc_err *e, int http, int code, json_t *data, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(e, http, code, data, fmt, ap);
    va_end(ap);
}

void tn_rpc_fail(struct tn_rpc_err *e, enum tn_err err, json_t *data, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(e, tn_err_http_status(err), tn_err_jsonrpc(err), data, fmt, ap);
    va_end(ap);
}

void tn_rpc_fail_in_band(struct tn_rpc_err *e, enum tn_err err, json_t *data, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(e, 200, tn_err_jsonrpc(err), data, fmt, ap);
    va_end(ap);
}

json_t *tn_rpc_error_body(json_t *id, const struct tn_rpc_err *e)
{
    json_t *err = json_pack("{s:i, s:s}", "code", e->code, "message", e->msg);
    if (!err)
        return NULL;
    if (e->data)
        json_object_set(err, "data", e->data);
    return json_pack("{s:s, s:o, s:O}", "jsonrpc", "2.0", "error", err, "id",
                     id ? id : json_null());
}

json_t *tn_rpc_result_body(json_t *id, json_t *result)
{
    return json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id, "result", result);
}

/* Walks the parsed document once to enforce depth and string-length limits that
 * jansson does not offer. */
static bool within_limits(json_t *v, unsigned depth, unsigned max_depth, size_t max_string)
{
    if (depth > max_depth)
        return false;
    if (json_is_string(v))
        return json_string_length(v) <= max_string;
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) {
            if (strlen(k) > max_string || !within_limits(x, depth + 1, max_depth, max_string))
                return false;
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            if (!within_limits(x, depth + 1, max_depth, max_string))
                return false;
        }
    }
    return true;
}

json_t *tn_rpc_parse(struct tn_span body, unsigned max_depth, size_t max_string,
                     struct tn_rpc_err *e)
{
    json_error_t je;
    json_t *v = tn_json_parse(body.ptr, body.len, &je);
    if (!v) {
        tn_rpc_fail(e, TN_ERR_PARSE, NULL, "Parse error: %s (at byte %d)", je.text, je.position);
        return NULL;
    }
    if (!within_limits(v, 1, max_depth, max_string)) {
        json_decref(v);
        tn_rpc_fail(e, TN_ERR_INVALID_REQUEST, NULL,
                    "Invalid Request: JSON nested deeper than %u levels or a string longer "
                    "than %zu bytes",
                    max_depth, max_string);
        return NULL;
    }
    return v;
}

bool tn_rpc_envelope_ok(json_t *msg, struct tn_rpc_err *e, bool *is_request, bool *is_notification)
{
    *is_request = false;
    *is_notification = false;
    if (!json_is_object(msg)) {
        tn_rpc_fail(e, TN_ERR_INVALID_REQUEST, NULL,
                    "Invalid Request: a JSON-RPC message must be an object");
        return false;
    }
    json_t *ver = json_object_get(msg, "jsonrpc");
    if (!json_is_string(ver) || strcmp(json_string_value(ver), "2.0") != 0) {
        tn_rpc_fail(e, TN_ERR_INVALID_REQUEST, NULL,
                    "Invalid Request: \"jsonrpc\" must be \"2.0\"");
        return false;
    }
    json_t *id = json_object_get(msg, "id");
    json_t *method = json_object_get(msg, "method");
    if (id && !json_is_string(id) && !json_is_integer(id)) {
        tn_rpc_fail(e, TN_ERR_INVALID_REQUEST, NULL,
                    "Invalid Request: \"id\" must be a string or an integer");
        return false;
    }
    if (!method) {
        /* A response from the client (to a request we never send on stateless paths). */
        bool has_result = json_object_get(msg, "result") != NULL;
        bool has_error = json_object_get(msg, "error") != NULL;
        if (!id || has_result == has_error) {
            tn_rpc_fail(e, TN_ERR_INVALID_REQUEST, NULL, "Invalid Request: \"method\" is missing");
            return false;
        }
        return true;
    }
    if (!json_is_string(method) || json_string_length(method) == 0) {
        tn_rpc_fail(e, TN_ERR_INVALID_REQUEST, NULL,
                    "Invalid Request: \"method\" must be a non-empty string");
        return false;
    }
    json_t *params = json_object_get(msg, "params");
    if (params && !json_is_object(params)) {
        tn_rpc_fail(e, TN_ERR_INVALID_REQUEST, NULL,
                    "Invalid Request: \"params\" must be an object");
        return false;
    }
    *is_request = id != NULL;
    *is_notification = id == NULL;
    return true;
}
