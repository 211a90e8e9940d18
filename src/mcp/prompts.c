/* prompts/list and prompts/get. */
#include <string.h>

#include "mcp/internal.h"

json_t *tn_mcp_prompts_list(struct tn_mcp_ctx *c, json_t *params, struct tn_rpc_err *e)
{
    uint32_t off;
    if (!tn_mcp_page_start(c, params, 'P', &off, e))
        return NULL;
    struct tn_mcp_server *s = c->srv;
    json_t *arr = json_array();
    uint32_t seen = 0;
    bool more = false;
    pthread_rwlock_rdlock(&s->lock);
    for (size_t i = 0; i < s->n_prompts; i++) {
        if (!s->prompts[i].enabled || seen++ < off)
            continue;
        if (json_array_size(arr) == s->info.page_size) {
            more = true;
            break;
        }
        json_array_append(arr, s->prompts[i].listing);
    }
    pthread_rwlock_unlock(&s->lock);
    json_t *r = json_pack("{s:o}", "prompts", arr);
    tn_mcp_page_end(c, r, 'P', off + s->info.page_size, more);
    return r;
}

json_t *tn_mcp_prompts_get(struct tn_mcp_ctx *c, json_t *params, struct tn_rpc_err *e)
{
    struct tn_mcp_server *s = c->srv;
    json_t *nm = params ? json_object_get(params, "name") : NULL;
    if (!json_is_string(nm)) {
        tn_rpc_fail(e, TN_ERR_INVALID_PARAMS, NULL, "Invalid params: \"name\" must be a string");
        return NULL;
    }
    const char *name = json_string_value(nm);
    const struct prompt_entry *p = NULL;
    pthread_rwlock_rdlock(&s->lock);
    for (size_t i = 0; i < s->n_prompts; i++)
        if (s->prompts[i].enabled && !strcmp(s->prompts[i].def->name, name))
            p = &s->prompts[i];
    pthread_rwlock_unlock(&s->lock);
    if (!p) {
        tn_rpc_fail(e, TN_ERR_INVALID_PARAMS, NULL, "Unknown prompt: %s", name);
        return NULL;
    }
    json_t *args = json_object_get(params, "arguments");
    if (args && !json_is_object(args) && !json_is_null(args)) {
        tn_rpc_fail(e, TN_ERR_INVALID_PARAMS, NULL,
                    "Invalid params: \"arguments\" must be an object");
        return NULL;
    }
    const char *k;
    json_t *v;
    json_object_foreach(args, k, v) {
        if (!json_is_string(v)) {
            tn_rpc_fail(e, TN_ERR_INVALID_PARAMS, NULL,
                        "Invalid params: prompt argument '%s' must be a string", k);
            return NULL;
        }
    }
    for (const struct tn_mcp_prompt_arg *a = p->def->args; a && a->name; a++) {
        if (a->required && !json_is_string(json_object_get(args, a->name))) {
            tn_rpc_fail(e, TN_ERR_INVALID_PARAMS, NULL,
                        "Invalid params: missing required argument '%s'", a->name);
            return NULL;
        }
    }
    char bind[400];
    tn_mcp_state_binding(bind, sizeof bind, "prompt", name, args);
    if (c->era == TN_MCP_MODERN && !tn_mcp_open_inputs(c, bind, params, e))
        return NULL;
    json_t *own = NULL;
    if (!args || json_is_null(args))
        args = own = json_object();
    json_t *r = p->def->get(c, args, p->def->ud);
    json_decref(own);
    if (!r) {
        tn_rpc_fail_in_band(e, TN_ERR_INTERNAL, NULL, "Internal error");
        return NULL;
    }
    const char *rt = json_string_value(json_object_get(r, "resultType"));
    if (rt && !strcmp(rt, "input_required")) {
        if (c->era != TN_MCP_MODERN) {
            json_decref(r);
            tn_rpc_fail_in_band(e, TN_ERR_INTERNAL, NULL,
                                "Prompt %s needs input from the client, which this server requests "
                                "only over MCP 2026-07-28",
                                name);
            return NULL;
        }
        if (!tn_mcp_finish_input_required(c, bind, r, e)) {
            json_decref(r);
            return NULL;
        }
    }
    return r;
}
