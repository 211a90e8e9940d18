/* Multi round-trip requests (2026-07-28): what the client declared it can do, the
 * input requests a handler returns, and the inputs and requestState a retried request
 * brings back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "mcp/internal.h"

bool tn_mcp_ctx_client_has(const struct tn_mcp_ctx *c, const char *path)
{
    json_t *v = c->client_caps;
    char part[64];
    const char *p = path;
    while (v && *p) {
        size_t n = strcspn(p, ".");
        if (n >= sizeof part)
            return false;
        memcpy(part, p, n);
        part[n] = '\0';
        json_t *next = json_is_object(v) ? json_object_get(v, part) : NULL;
        /* `elicitation: {}` means form mode (the 2025-06-18 shape). */
        if (!next && !strcmp(part, "form") && json_is_object(v) && json_object_size(v) == 0)
            return true;
        v = next;
        p += n;
        if (*p == '.')
            p++;
    }
    return v != NULL && !json_is_null(v) && !json_is_false(v);
}

json_t *tn_mcp_missing_caps(struct tn_mcp_ctx *c, const char *list)
{
    json_t *req = NULL;
    const char *p = list;
    while (p && *p) {
        size_t n = strcspn(p, ",");
        char cap[64];
        if (n && n < sizeof cap) {
            memcpy(cap, p, n);
            cap[n] = '\0';
            if (!tn_mcp_ctx_client_has(c, cap)) {
                if (!req)
                    req = json_object();
                char *dot = strchr(cap, '.');
                if (dot) {
                    *dot = '\0';
                    json_object_set_new(req, cap, json_pack("{s:{}}", dot + 1));
                } else {
                    json_object_set_new(req, cap, json_object());
                }
            }
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return req;
}

/* What a requestState is bound to: the kind of request, its name and its arguments,
 * so that it cannot be replayed with other arguments or against another primitive. */
void tn_mcp_state_binding(char *out, size_t cap, const char *kind, const char *name, json_t *args)
{
    char *text = args ? json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    uint8_t h[32];
    tn_hmac_sha256(h, (const uint8_t *)"args", 4, text ? text : "", text ? strlen(text) : 0);
    free(text);
    char enc[48];
    tn_b64url_encode(enc, sizeof enc, h, sizeof h);
    snprintf(out, cap, "%s:%s:%s", kind, name, enc);
}

bool tn_mcp_finish_input_required(struct tn_mcp_ctx *c, const char *name, json_t *result,
                                  struct tn_rpc_err *e)
{
    json_t *reqs = json_object_get(result, "inputRequests");
    const char *k;
    json_t *r;
    json_t *needed = NULL;
    json_object_foreach(reqs, k, r) {
        const char *m = json_string_value(json_object_get(r, "method"));
        const char *cap = NULL;
        if (m && !strcmp(m, "elicitation/create")) {
            const char *mode =
                json_string_value(json_object_get(json_object_get(r, "params"), "mode"));
            cap = mode && !strcmp(mode, "url") ? "elicitation.url" : "elicitation.form";
        } else if (m && !strcmp(m, "sampling/createMessage")) {
            cap = "sampling";
        } else if (m && !strcmp(m, "roots/list")) {
            cap = "roots";
        }
        if (cap) {
            json_t *miss = tn_mcp_missing_caps(c, cap);
            if (miss) {
                if (!needed)
                    needed = json_object();
                json_object_update(needed, miss);
                json_decref(miss);
            }
        }
    }
    if (needed) {
        tn_rpc_fail(e, TN_ERR_MISSING_CAPABILITY,
                    json_pack("{s:o}", "requiredCapabilities", needed),
                    "Missing required client capability");
        return false;
    }
    json_t *st = json_object_get(result, "_tn_state");
    if (st) {
        json_incref(st);
        json_object_del(result, "_tn_state");
        char *sealed = tn_mcp_state_seal(c->srv, c->subject, name, st);
        json_decref(st);
        if (!sealed) {
            tn_rpc_fail_in_band(e, TN_ERR_INTERNAL, NULL, "Internal error");
            return false;
        }
        json_object_set_new(result, "requestState", json_string(sealed));
        free(sealed);
    }
    return true;
}

bool tn_mcp_open_inputs(struct tn_mcp_ctx *c, const char *name, json_t *params,
                        struct tn_rpc_err *e)
{
    json_t *ir = json_object_get(params, "inputResponses");
    if (ir && !json_is_object(ir)) {
        tn_rpc_fail(e, TN_ERR_INVALID_PARAMS, NULL,
                    "Invalid params: inputResponses must be an object");
        return false;
    }
    c->input_responses = ir;
    json_t *rs = json_object_get(params, "requestState");
    if (!rs)
        return true;
    const char *why = "requestState must be a string";
    json_t *st = json_is_string(rs)
                     ? tn_mcp_state_open(c->srv, c->subject, name, json_string_value(rs), &why)
                     : NULL;
    if (!st) {
        tn_rpc_fail(e, TN_ERR_INVALID_PARAMS, NULL, "Invalid params: %s", why);
        return false;
    }
    c->state = st;
    return true;
}
