/* The modern era's per-request checks (mcp/internal.h): the Mcp-* headers against the
 * body they repeat, the request's _meta, and its log level. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "mcp/internal.h"

/* True when the header value, read as tn_mcp_header_decode reads it, equals `want`. A
 * plain value (the common case) is compared where it is, without a decoded copy. */
static bool header_matches(const char *raw, const char *want)
{
    static const char pre[] = "=?base64?", post[] = "?=";
    struct tn_span v = tn_span_trim((struct tn_span){raw, strlen(raw)});
    bool encoded = v.len >= sizeof pre - 1 + sizeof post - 1 &&
                   memcmp(v.ptr, pre, sizeof pre - 1) == 0 &&
                   memcmp(v.ptr + v.len - (sizeof post - 1), post, sizeof post - 1) == 0;
    if (encoded) {
        char *dec = tn_mcp_header_decode(raw);
        bool ok = dec && strcmp(dec, want) == 0;
        free(dec);
        return ok;
    }
    for (size_t i = 0; i < v.len; i++) /* what decoding refuses matches nothing */
        if ((unsigned char)v.ptr[i] < 0x20 || (unsigned char)v.ptr[i] > 0x7e)
            return false;
    return tn_span_eq(v, want);
}

/* The `data` of a Header mismatch error. */
static json_t *mismatch(const char *header, const char *hv, const char *body)
{
    return json_pack("{s:{s:s, s:s?, s:s?}}", "mismatch", "header", header, "headerValue", hv,
                     "body", body);
}

/* A header that must be present and equal the body's value; false after answering a
 * Header mismatch; missing_suffix ends the message when the header is absent. */
static bool header_agrees(const struct tn_mcp_http_in *in, struct tn_mcp_http_out *out, json_t *id,
                          const char *header, const char *body_value, const char *missing_suffix)
{
    const char *hv = in->header(in->ud, header);
    if (!hv) {
        tn_mcp_out_error(out, id, 400, TN_ERR_HEADER_MISMATCH, mismatch(header, NULL, body_value),
                         "Header mismatch: the %s header is required%s", header, missing_suffix);
        return false;
    }
    if (header_matches(hv, body_value))
        return true;
    if (!strcmp(header, TN_HDR_METHOD))
        tn_mcp_out_error(out, id, 400, TN_ERR_HEADER_MISMATCH, mismatch(header, hv, body_value),
                         "Header mismatch: the body names method %s but the %s header names %s",
                         body_value, header, hv);
    else
        tn_mcp_out_error(out, id, 400, TN_ERR_HEADER_MISMATCH, mismatch(header, hv, body_value),
                         "Header mismatch: %s header value '%s' does not match body value '%s'",
                         header, hv, body_value);
    return false;
}

/* The 2026-07-28 request's _meta: a protocol version (string) and the client's
 * capabilities (object). False after answering. */
bool tn_mcp_modern_meta_ok(struct tn_mcp_http_out *out, json_t *id, json_t *meta)
{
    if (!json_is_string(json_object_get(meta, TN_META_PROTOCOL_VERSION))) {
        tn_mcp_out_error(out, id, 400, TN_ERR_INVALID_PARAMS, NULL,
                         "Invalid params: _meta[\"%s\"] must be a string",
                         TN_META_PROTOCOL_VERSION);
        return false;
    }
    if (!json_is_object(json_object_get(meta, TN_META_CLIENT_CAPS))) {
        tn_mcp_out_error(out, id, 400, TN_ERR_INVALID_PARAMS, NULL,
                         "Invalid params: _meta[\"%s\"] is required and must be an object",
                         TN_META_CLIENT_CAPS);
        return false;
    }
    return true;
}

/* The Mcp-* headers repeat the body: version, method, and the name a call is about. */
bool tn_mcp_modern_headers_ok(const struct tn_mcp_http_in *in, struct tn_mcp_http_out *out,
                              json_t *id, const char *version, const char *method, json_t *params)
{
    if (!header_agrees(in, out, id, TN_HDR_PROTOCOL_VERSION, version, ""))
        return false;
    if (!method) /* a response: no method to repeat (accepted, 202) */
        return true;
    if (!header_agrees(in, out, id, TN_HDR_METHOD, method, ""))
        return false;
    const char *name_key = !strcmp(method, "tools/call") || !strcmp(method, "prompts/get") ? "name"
                           : !strcmp(method, "resources/read")                             ? "uri"
                                                                                           : NULL;
    json_t *bv = name_key ? json_object_get(params, name_key) : NULL;
    if (!json_is_string(bv))
        return true;
    char suffix[160];
    snprintf(suffix, sizeof suffix, " for %s", method);
    return header_agrees(in, out, id, TN_HDR_NAME, json_string_value(bv), suffix);
}

/* _meta's log level: -1 when absent; false after answering when it is not a level. */
bool tn_mcp_modern_log_level(struct tn_mcp_http_out *out, json_t *id, json_t *meta, int *level)
{
    *level = -1;
    json_t *ll = json_object_get(meta, TN_META_LOG_LEVEL);
    if (!ll)
        return true;
    for (int i = 0; i < 8 && json_is_string(ll); i++)
        if (!strcmp(json_string_value(ll), tn_mcp_log_levels[i]))
            *level = i;
    if (*level < 0) {
        tn_mcp_out_error(out, id, 400, TN_ERR_INVALID_PARAMS, NULL,
                         "Invalid params: unknown log level in _meta");
        return false;
    }
    return true;
}
