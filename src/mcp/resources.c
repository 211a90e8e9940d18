/* resources/list, resources/templates/list, resources/read, and completion/complete
 * (whose refs name a prompt or a resource template). */
#include <stdlib.h>
#include <string.h>

#include "mcp/internal.h"

#define MAX_COMPLETIONS 100

static struct tn_mcp_access resource_access(const struct tn_mcp_resource *r, const char *method)
{
    return (struct tn_mcp_access){TN_MCP_ACCESS_RESOURCE, method, r->required_scope,
                                  r->required_permission, false};
}

static struct tn_mcp_access template_access(const struct tn_mcp_resource_template *t,
                                            const char *method)
{
    return (struct tn_mcp_access){TN_MCP_ACCESS_TEMPLATE, method, t->required_scope,
                                  t->required_permission, false};
}

static struct tn_mcp_access provider_access(const struct tn_mcp_resource_provider *p,
                                            const char *method)
{
    return (struct tn_mcp_access){TN_MCP_ACCESS_PROVIDER, method, p->required_scope,
                                  p->required_permission, false};
}

static json_t *resource_listing(const struct tn_mcp_resource *r)
{
    json_t *o = json_pack("{s:s, s:s}", "uri", r->uri, "name", r->name);
    if (r->title)
        json_object_set_new(o, "title", json_string(r->title));
    if (r->description)
        json_object_set_new(o, "description", json_string(r->description));
    if (r->mime_type)
        json_object_set_new(o, "mimeType", json_string(r->mime_type));
    return o;
}

json_t *tn_mcp_resources_list(struct tn_mcp_ctx *c, json_t *params, struct tn_rpc_err *e)
{
    struct tn_mcp_server *s = c->srv;
    uint32_t part = 0, off = 0;
    char *inner = NULL;
    json_t *cur = params ? json_object_get(params, "cursor") : NULL;
    if (cur && !json_is_null(cur) &&
        (!json_is_string(cur) ||
         !tn_mcp_cursor_read(s, json_string_value(cur), 'R', &part, &off, &inner))) {
        tn_rpc_fail(e, TN_ERR_INVALID_PARAMS, NULL, "Invalid params: invalid cursor");
        return NULL;
    }
    /* A provider lists the caller's own data: listing it is reading it, so a refusal
     * refuses the request (static resources the caller may not read are only left out,
     * like tools). */
    for (size_t p = 0; p < s->n_providers; p++) {
        struct tn_mcp_access a = provider_access(s->providers[p], "resources/list");
        if (!tn_mcp_access_check(c, &a, e)) {
            free(inner);
            return NULL;
        }
    }
    json_t *arr = json_array();
    json_t *r = json_pack("{s:o}", "resources", arr);
    size_t size = s->info.page_size;
    /* part 0: static resources (off = index); part 1+i: provider i (inner = its cursor) */
    if (part == 0) {
        for (size_t i = off; i < s->n_resources; i++) {
            if (json_array_size(arr) == size) {
                char *nc = tn_mcp_cursor_make(s, 'R', 0, (uint32_t)i, NULL);
                json_object_set_new(r, "nextCursor", json_string(nc));
                free(nc);
                goto done;
            }
            struct tn_mcp_access a = resource_access(s->resources[i], "resources/list");
            if (tn_mcp_listed(c, &a))
                json_array_append_new(arr, resource_listing(s->resources[i]));
        }
        part = 1;
        free(inner);
        inner = NULL;
    }
    for (size_t p = part - 1; p < s->n_providers; p++) {
        size_t room = size - json_array_size(arr);
        if (room == 0) {
            char *nc = tn_mcp_cursor_make(s, 'R', (uint32_t)(p + 1), 0, NULL);
            json_object_set_new(r, "nextCursor", json_string(nc));
            free(nc);
            goto done;
        }
        char *next = NULL;
        const struct tn_mcp_resource_provider *pv = s->providers[p];
        if (pv->list(c, inner, room, arr, &next, pv->ud) != TN_OK) {
            free(next);
            json_decref(r);
            r = NULL;
            tn_rpc_fail_in_band(e, TN_ERR_INTERNAL, NULL, "Internal error");
            goto done;
        }
        free(inner);
        inner = NULL;
        if (next) {
            char *nc = tn_mcp_cursor_make(s, 'R', (uint32_t)(p + 1), 0, next);
            free(next);
            json_object_set_new(r, "nextCursor", json_string(nc));
            free(nc);
            goto done;
        }
    }
done:
    free(inner);
    return r;
}

json_t *tn_mcp_templates_list(struct tn_mcp_ctx *c, json_t *params, struct tn_rpc_err *e)
{
    uint32_t off;
    if (!tn_mcp_page_start(c, params, 'M', &off, e))
        return NULL;
    struct tn_mcp_server *s = c->srv;
    json_t *arr = json_array();
    size_t i = off;
    for (; i < s->n_templates && json_array_size(arr) < s->info.page_size; i++) {
        const struct tn_mcp_resource_template *t = s->templates[i];
        struct tn_mcp_access a = template_access(t, "resources/templates/list");
        if (!tn_mcp_listed(c, &a))
            continue;
        json_t *o = json_pack("{s:s, s:s}", "uriTemplate", t->uri_template, "name", t->name);
        if (t->title)
            json_object_set_new(o, "title", json_string(t->title));
        if (t->description)
            json_object_set_new(o, "description", json_string(t->description));
        if (t->mime_type)
            json_object_set_new(o, "mimeType", json_string(t->mime_type));
        json_array_append_new(arr, o);
    }
    json_t *r = json_pack("{s:o}", "resourceTemplates", arr);
    tn_mcp_page_end(c, r, 'M', (uint32_t)i, i < s->n_templates);
    return r;
}

/* RFC 6570 level 1 matching: literal text and {var} expressions, a variable matching
 * one or more characters other than '/'. */
static json_t *template_match(const char *tpl, const char *uri)
{
    json_t *vars = json_object();
    const char *t = tpl, *u = uri;
    while (*t) {
        if (*t == '{') {
            const char *close = strchr(t, '}');
            if (!close)
                goto fail;
            char name[64];
            size_t nl = (size_t)(close - t - 1);
            if (nl == 0 || nl >= sizeof name)
                goto fail;
            memcpy(name, t + 1, nl);
            name[nl] = '\0';
            t = close + 1;
            size_t vl = strcspn(u, "/");
            if (*t && *t != '/') { /* literal follows within the segment */
                const char *lit_end = strpbrk(t, "{/");
                size_t ll = lit_end ? (size_t)(lit_end - t) : strlen(t);
                const char *hit = NULL;
                for (const char *x = u; x < u + vl; x++)
                    if (strncmp(x, t, ll) == 0)
                        hit = x;
                if (!hit)
                    goto fail;
                vl = (size_t)(hit - u);
            }
            if (vl == 0)
                goto fail;
            json_object_set_new(vars, name, json_stringn(u, vl));
            u += vl;
        } else {
            if (*t != *u)
                goto fail;
            t++;
            u++;
        }
    }
    if (*u)
        goto fail;
    return vars;
fail:
    json_decref(vars);
    return NULL;
}

json_t *tn_mcp_resources_read(struct tn_mcp_ctx *c, json_t *params, struct tn_rpc_err *e)
{
    struct tn_mcp_server *s = c->srv;
    json_t *u = params ? json_object_get(params, "uri") : NULL;
    if (!json_is_string(u)) {
        tn_rpc_fail(e, TN_ERR_INVALID_PARAMS, NULL, "Invalid params: \"uri\" must be a string");
        return NULL;
    }
    const char *uri = json_string_value(u);
    json_t *r = NULL;
    bool handled = false;
    /* The gate is asked before the handler runs, so a refusal says nothing about
     * whether the resource exists. */
    for (size_t i = 0; i < s->n_resources && !handled; i++) {
        if (strcmp(s->resources[i]->uri, uri) == 0) {
            handled = true;
            struct tn_mcp_access a = resource_access(s->resources[i], "resources/read");
            if (!tn_mcp_access_check(c, &a, e))
                return NULL;
            r = s->resources[i]->read(c, uri, NULL, s->resources[i]->ud);
        }
    }
    for (size_t i = 0; i < s->n_providers && !handled; i++) {
        const struct tn_mcp_resource_provider *p = s->providers[i];
        if (strncmp(uri, p->uri_prefix, strlen(p->uri_prefix)) == 0) {
            handled = true;
            struct tn_mcp_access a = provider_access(p, "resources/read");
            if (!tn_mcp_access_check(c, &a, e))
                return NULL;
            r = p->read(c, uri, NULL, p->ud);
        }
    }
    for (size_t i = 0; i < s->n_templates && !handled; i++) {
        json_t *vars = template_match(s->templates[i]->uri_template, uri);
        if (vars) {
            handled = true;
            struct tn_mcp_access a = template_access(s->templates[i], "resources/read");
            if (!tn_mcp_access_check(c, &a, e)) {
                json_decref(vars);
                return NULL;
            }
            r = s->templates[i]->read(c, uri, vars, s->templates[i]->ud);
            json_decref(vars);
        }
    }
    if (!r) {
        /* 2026-07-28 answers Invalid params with data.uri; the 2025 revisions had a code
         * of their own. */
        tn_rpc_fail(e, c->era == TN_MCP_MODERN ? TN_ERR_INVALID_PARAMS : TN_ERR_RESOURCE_NOT_FOUND,
                    json_pack("{s:s}", "uri", uri), "Resource not found: %s", uri);
        return NULL;
    }
    return r;
}

json_t *tn_mcp_complete(struct tn_mcp_ctx *c, json_t *params, struct tn_rpc_err *e)
{
    struct tn_mcp_server *s = c->srv;
    json_t *ref = NULL, *arg = NULL, *ctxargs = NULL;
    const char *aname = NULL, *value = NULL;
    if (!params ||
        json_unpack(params, "{s:o, s:{s:s, s:s}, s?{s?o}}", "ref", &ref, "argument", "name", &aname,
                    "value", &value, "context", "arguments", &ctxargs) != 0 ||
        !json_is_object(ref)) {
        tn_rpc_fail(e, TN_ERR_INVALID_PARAMS, NULL,
                    "Invalid params: expected {ref, argument:{name, value}}");
        return NULL;
    }
    (void)arg;
    const char *type = json_string_value(json_object_get(ref, "type"));
    if (!type || (strcmp(type, "ref/prompt") && strcmp(type, "ref/resource"))) {
        tn_rpc_fail(e, TN_ERR_INVALID_PARAMS, NULL,
                    "Invalid params: ref.type must be ref/prompt or ref/resource");
        return NULL;
    }
    struct tn_mcp_access ca = s->completion_access;
    ca.kind = TN_MCP_ACCESS_COMPLETION;
    ca.name = "completion/complete";
    if (!tn_mcp_access_check(c, &ca, e))
        return NULL;
    /* the values of a template's variables are what reading it would show */
    const char *ref_uri = json_string_value(json_object_get(ref, "uri"));
    for (size_t i = 0; ref_uri && !strcmp(type, "ref/resource") && i < s->n_templates; i++) {
        if (strcmp(s->templates[i]->uri_template, ref_uri) != 0)
            continue;
        struct tn_mcp_access ta = template_access(s->templates[i], "completion/complete");
        if (!tn_mcp_access_check(c, &ta, e))
            return NULL;
    }
    json_t *vals = s->complete(c, ref, aname, value, ctxargs, s->complete_ud);
    if (!vals)
        vals = json_array();
    size_t total = json_array_size(vals);
    while (json_array_size(vals) > MAX_COMPLETIONS)
        json_array_remove(vals, json_array_size(vals) - 1);
    return json_pack("{s:{s:o, s:I, s:b}}", "completion", "values", vals, "total",
                     (json_int_t)total, "hasMore", total > MAX_COMPLETIONS);
}
