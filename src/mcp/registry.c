/* The registry: tools, resources, templates, providers, prompts and completions,
 * registered once at start (schemas are compiled then, and the tools/list entries built
 * then); the pagination of the lists, and the gate every method asks. The methods that
 * read the registry are in tools.c, resources.c and prompts.c. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/json.h"
#include "core/log.h"
#include "mcp/internal.h"
#include "ops/metrics.h"

static bool grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return true;
    size_t nc = *cap ? *cap * 2 : 8;
    void *p = realloc(*arr, nc * elem);
    if (!p)
        return false;
    *arr = p;
    *cap = nc;
    return true;
}

static bool valid_name(const char *n)
{
    size_t len = n ? strlen(n) : 0;
    if (len == 0 || len > 128)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!(isalnum((unsigned char)n[i]) || n[i] == '_' || n[i] == '-' || n[i] == '.'))
            return false;
    return true;
}

static json_t *annotations_json(const struct tn_mcp_annotations *a)
{
    json_t *o = json_object();
    if (a->title)
        json_object_set_new(o, "title", json_string(a->title));
    if (a->read_only)
        json_object_set_new(o, "readOnlyHint", json_boolean(a->read_only > 0));
    if (a->destructive)
        json_object_set_new(o, "destructiveHint", json_boolean(a->destructive > 0));
    if (a->idempotent)
        json_object_set_new(o, "idempotentHint", json_boolean(a->idempotent > 0));
    if (a->open_world)
        json_object_set_new(o, "openWorldHint", json_boolean(a->open_world > 0));
    if (json_object_size(o) == 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Finds properties annotated with x-mcp-header (modern clients copy those arguments
 * into Mcp-Param-{Name} headers, which the server must check against the body). */
static enum tn_err scan_header_params(struct tool_entry *t, json_t *schema, char **path,
                                      unsigned depth)
{
    json_t *props = json_object_get(schema, "properties");
    if (!json_is_object(props) || depth >= 8)
        return TN_OK;
    const char *k;
    json_t *p;
    json_object_foreach(props, k, p) {
        path[depth] = (char *)k;
        json_t *h = json_object_get(p, "x-mcp-header");
        const char *type = json_string_value(json_object_get(p, "type"));
        if (h) {
            const char *hn = json_string_value(h);
            if (!hn || !hn[0] || strlen(hn) > 64 || t->n_params >= 8)
                return TN_ERR_BAD_INPUT;
            for (const char *c = hn; *c; c++)
                if (!(isalnum((unsigned char)*c) || *c == '-'))
                    return TN_ERR_BAD_INPUT;
            char ty = type && !strcmp(type, "string")    ? 's'
                      : type && !strcmp(type, "integer") ? 'i'
                      : type && !strcmp(type, "boolean") ? 'b'
                                                         : 0;
            if (!ty)
                return TN_ERR_BAD_INPUT;
            struct header_param *hp = &t->params[t->n_params++];
            hp->header = strdup(hn);
            hp->type = ty;
            hp->depth = depth + 1;
            for (unsigned i = 0; i <= depth; i++)
                hp->path[i] = strdup(path[i]);
        } else if (type && !strcmp(type, "object")) {
            enum tn_err rc = scan_header_params(t, p, path, depth + 1);
            if (rc != TN_OK)
                return rc;
        }
    }
    return TN_OK;
}

enum tn_err tn_mcp_tool_add(struct tn_mcp_server *s, const struct tn_mcp_tool *t)
{
    enum tn_err rc = TN_ERR_BAD_INPUT;
    struct tn_buf err;
    tn_buf_init(&err, 1024);
    struct tool_entry e = {.def = t, .enabled = true, .mslot = tn_metrics_tool_slot(t->name)};
    if (!valid_name(t->name) || !t->description || !t->call) {
        tn_buf_puts(&err,
                    "needs a valid name ([A-Za-z0-9_.-]{1,128}), a description and a handler");
        goto done;
    }
    if (tn_mcp_tool_find(s, t->name)) {
        tn_buf_puts(&err, "a tool with this name is already registered");
        goto done;
    }
    const char *in = t->input_schema ? t->input_schema
                                     : "{\"type\":\"object\",\"additionalProperties\":false}";
    if (tn_schema_compile(in, &e.input, &err) != TN_OK)
        goto done;
    json_t *ij = tn_schema_json(e.input);
    if (!json_is_object(ij) || !json_is_string(json_object_get(ij, "type")) ||
        strcmp(json_string_value(json_object_get(ij, "type")), "object") != 0) {
        tn_buf_puts(&err, "inputSchema must be an object schema with \"type\": \"object\"");
        goto done;
    }
    if (t->output_schema && tn_schema_compile(t->output_schema, &e.output, &err) != TN_OK)
        goto done;
    char *path[8];
    if (scan_header_params(&e, ij, path, 0) != TN_OK) {
        tn_buf_puts(&err, "invalid x-mcp-header annotation (string, integer or boolean "
                          "properties only, names of letters, digits and '-')");
        goto done;
    }
    e.listing = json_pack("{s:s, s:s, s:O}", "name", t->name, "description", t->description,
                          "inputSchema", ij);
    if (t->title)
        json_object_set_new(e.listing, "title", json_string(t->title));
    if (e.output)
        json_object_set(e.listing, "outputSchema", tn_schema_json(e.output));
    json_t *ann = annotations_json(&t->annotations);
    if (ann)
        json_object_set_new(e.listing, "annotations", ann);
    if (!grow((void **)&s->tools, &s->cap_tools, s->n_tools, sizeof e)) {
        rc = TN_ERR_NOMEM;
        goto done;
    }
    s->tools[s->n_tools++] = e;
    memset(&e, 0, sizeof e);
    rc = TN_OK;
done:
    if (rc != TN_OK) {
        tn_log(TN_LOG_ERROR, "tool registration refused", "tool", t->name ? t->name : "(null)",
               "reason", err.data ? err.data : tn_err_message(rc), NULL);
        tn_schema_free(e.input);
        tn_schema_free(e.output);
        json_decref(e.listing);
        for (unsigned i = 0; i < e.n_params; i++) {
            free(e.params[i].header);
            for (unsigned j = 0; j < e.params[i].depth; j++)
                free(e.params[i].path[j]);
        }
    }
    tn_buf_deinit(&err);
    return rc;
}

const struct tool_entry *tn_mcp_tool_find(struct tn_mcp_server *s, const char *name)
{
    for (size_t i = 0; i < s->n_tools; i++)
        if (strcmp(s->tools[i].def->name, name) == 0)
            return &s->tools[i];
    return NULL;
}

enum tn_err tn_mcp_resource_add(struct tn_mcp_server *s, const struct tn_mcp_resource *r)
{
    if (!r->uri || !r->name || !r->read)
        return TN_ERR_BAD_INPUT;
    if (!grow((void **)&s->resources, &s->cap_resources, s->n_resources, sizeof r))
        return TN_ERR_NOMEM;
    s->resources[s->n_resources++] = r;
    return TN_OK;
}

enum tn_err tn_mcp_resource_template_add(struct tn_mcp_server *s,
                                         const struct tn_mcp_resource_template *t)
{
    if (!t->uri_template || !t->name || !t->read)
        return TN_ERR_BAD_INPUT;
    if (!grow((void **)&s->templates, &s->cap_templates, s->n_templates, sizeof t))
        return TN_ERR_NOMEM;
    s->templates[s->n_templates++] = t;
    return TN_OK;
}

enum tn_err tn_mcp_resource_provider_add(struct tn_mcp_server *s,
                                         const struct tn_mcp_resource_provider *p)
{
    if (!p->uri_prefix || !p->list || !p->read)
        return TN_ERR_BAD_INPUT;
    if (!grow((void **)&s->providers, &s->cap_providers, s->n_providers, sizeof p))
        return TN_ERR_NOMEM;
    s->providers[s->n_providers++] = p;
    return TN_OK;
}

enum tn_err tn_mcp_prompt_add(struct tn_mcp_server *s, const struct tn_mcp_prompt *p)
{
    if (!valid_name(p->name) || !p->get)
        return TN_ERR_BAD_INPUT;
    json_t *l = json_pack("{s:s}", "name", p->name);
    if (p->title)
        json_object_set_new(l, "title", json_string(p->title));
    if (p->description)
        json_object_set_new(l, "description", json_string(p->description));
    if (p->args) {
        json_t *args = json_array();
        for (const struct tn_mcp_prompt_arg *a = p->args; a->name; a++) {
            json_t *aj = json_pack("{s:s, s:b}", "name", a->name, "required", a->required);
            if (a->description)
                json_object_set_new(aj, "description", json_string(a->description));
            json_array_append_new(args, aj);
        }
        json_object_set_new(l, "arguments", args);
    }
    if (!grow((void **)&s->prompts, &s->cap_prompts, s->n_prompts, sizeof *s->prompts)) {
        json_decref(l);
        return TN_ERR_NOMEM;
    }
    s->prompts[s->n_prompts++] = (struct prompt_entry){.def = p, .listing = l, .enabled = true};
    return TN_OK;
}

void tn_mcp_completion_set(struct tn_mcp_server *s, tn_mcp_complete_fn fn, void *ud)
{
    s->complete = fn;
    s->complete_ud = ud;
}

void tn_mcp_gate_set(struct tn_mcp_server *s, tn_mcp_gate_fn fn, void *ud)
{
    s->gate = fn;
    s->gate_ud = ud;
}

void tn_mcp_completion_require(struct tn_mcp_server *s, const char *scope, const char *permission)
{
    s->completion_access.required_scope = scope;
    s->completion_access.required_permission = permission;
}

void tn_mcp_listen_require(struct tn_mcp_server *s, const char *scope, const char *permission)
{
    s->listen_access.required_scope = scope;
    s->listen_access.required_permission = permission;
}

enum tn_err tn_mcp_tool_enable(struct tn_mcp_server *s, const char *name, bool on)
{
    struct tool_entry *t = (struct tool_entry *)tn_mcp_tool_find(s, name);
    if (!t)
        return TN_ERR_NOT_FOUND;
    pthread_rwlock_wrlock(&s->lock);
    bool changed = t->enabled != on;
    t->enabled = on;
    pthread_rwlock_unlock(&s->lock);
    if (changed)
        tn_mcp_notify_tools_changed(s);
    return TN_OK;
}

enum tn_err tn_mcp_prompt_enable(struct tn_mcp_server *s, const char *name, bool on)
{
    for (size_t i = 0; i < s->n_prompts; i++) {
        if (strcmp(s->prompts[i].def->name, name) != 0)
            continue;
        pthread_rwlock_wrlock(&s->lock);
        bool changed = s->prompts[i].enabled != on;
        s->prompts[i].enabled = on;
        pthread_rwlock_unlock(&s->lock);
        if (changed)
            tn_mcp_notify_prompts_changed(s);
        return TN_OK;
    }
    return TN_ERR_NOT_FOUND;
}

bool tn_mcp_has_tools(struct tn_mcp_server *s) { return s->n_tools > 0; }
bool tn_mcp_has_resources(struct tn_mcp_server *s)
{
    return s->n_resources + s->n_templates + s->n_providers > 0;
}
bool tn_mcp_has_prompts(struct tn_mcp_server *s) { return s->n_prompts > 0; }

json_t *tn_mcp_capabilities(struct tn_mcp_server *s, enum tn_mcp_era era)
{
    /* The legacy path is stateless: it has no stream on which a list_changed could ever
     * be delivered, so it does not claim listChanged. Modern clients get them through
     * subscriptions/listen. */
    bool lc = era == TN_MCP_MODERN;
    json_t *c = json_pack("{s:{}}", "logging");
    if (tn_mcp_has_tools(s))
        json_object_set_new(c, "tools", json_pack("{s:b}", "listChanged", lc));
    if (tn_mcp_has_resources(s))
        json_object_set_new(c, "resources", json_pack("{s:b}", "listChanged", lc));
    if (tn_mcp_has_prompts(s))
        json_object_set_new(c, "prompts", json_pack("{s:b}", "listChanged", lc));
    if (s->complete)
        json_object_set_new(c, "completions", json_object());
    return c;
}

json_t *tn_mcp_capabilities_raw(struct tn_mcp_server *s)
{
    unsigned shape = (unsigned)tn_mcp_has_tools(s) | (unsigned)tn_mcp_has_resources(s) << 1 |
                     (unsigned)tn_mcp_has_prompts(s) << 2 | (unsigned)(s->complete != NULL) << 3;
    json_t *r = atomic_load_explicit(&s->caps_raw[shape], memory_order_acquire);
    if (!r) {
        /* the first to need this shape writes it, on the heap (it outlives the request
         * and its arena); a racing writer's copy is dropped */
        struct tn_arena_scope outer = tn_arena_json_enter(NULL, false);
        json_t *c = tn_mcp_capabilities(s, TN_MCP_MODERN);
        struct tn_buf b;
        tn_buf_init(&b, SIZE_MAX / 2);
        json_t *mine = c && tn_json_dump(c, &b) == TN_OK ? tn_json_raw(b.data, b.len) : NULL;
        json_decref(c);
        tn_buf_deinit(&b);
        tn_arena_json_leave(outer);
        if (!mine)
            return NULL;
        json_t *expected = NULL;
        if (atomic_compare_exchange_strong_explicit(&s->caps_raw[shape], &expected, mine,
                                                    memory_order_acq_rel, memory_order_acquire)) {
            r = mine;
        } else {
            json_decref(mine);
            r = expected;
        }
    }
    return json_incref(r);
}

/* ---------- pagination ---------- */

bool tn_mcp_page_start(struct tn_mcp_ctx *c, json_t *params, char kind, uint32_t *off,
                       struct tn_rpc_err *e)
{
    *off = 0;
    json_t *cur = params ? json_object_get(params, "cursor") : NULL;
    if (!cur || json_is_null(cur))
        return true;
    uint32_t b;
    if (!json_is_string(cur) ||
        !tn_mcp_cursor_read(c->srv, json_string_value(cur), kind, off, &b, NULL)) {
        tn_rpc_fail(e, TN_ERR_INVALID_PARAMS, NULL, "Invalid params: invalid cursor");
        return false;
    }
    return true;
}

void tn_mcp_page_end(struct tn_mcp_ctx *c, json_t *result, char kind, uint32_t next, bool more)
{
    if (!more)
        return;
    char *cur = tn_mcp_cursor_make(c->srv, kind, next, 0, NULL);
    if (cur)
        json_object_set_new(result, "nextCursor", json_string(cur));
    free(cur);
}

/* ---------- the gate ---------- */

/* The gate's verdict for a listing, which only filters (no reason, no audit). */
bool tn_mcp_listed(struct tn_mcp_ctx *c, const struct tn_mcp_access *a)
{
    return !c->srv->gate || c->srv->gate(c, a, NULL, c->srv->gate_ud) == TN_OK;
}

bool tn_mcp_access_check(struct tn_mcp_ctx *c, const struct tn_mcp_access *a, struct tn_rpc_err *e)
{
    if (!c->srv->gate)
        return true;
    struct tn_buf why;
    tn_buf_init(&why, 1024);
    enum tn_err g = c->srv->gate(c, a, &why, c->srv->gate_ud);
    const char *w = why.len ? why.data : NULL;
    if (g == TN_ERR_INSUFFICIENT_SCOPE) {
        snprintf(c->step_up, sizeof c->step_up, "%s", w ? w : "");
        tn_rpc_fail(e, TN_ERR_INSUFFICIENT_SCOPE, NULL, "Insufficient scope: %s needs %s", a->name,
                    w ? w : "more scope");
    } else if (g != TN_OK) {
        /* Not the table's 403: re-authorizing cannot cure it, and a client treats any 403
         * as an authorization failure; the JSON-RPC error reaches the user instead. */
        tn_rpc_fail_in_band(e, TN_ERR_FORBIDDEN, NULL, "%s",
                            w ? w : "You are not allowed to do this.");
    }
    tn_buf_deinit(&why);
    return g == TN_OK;
}

bool tn_mcp_access_still(struct tn_mcp_ctx *c, const struct tn_mcp_access *a, struct tn_buf *why)
{
    if (!c->srv->gate)
        return true;
    struct tn_mcp_access again = *a;
    again.ongoing = true;
    enum tn_err g = c->srv->gate(c, &again, why, c->srv->gate_ud);
    if (g == TN_ERR_INSUFFICIENT_SCOPE && why) {
        /* the reason of a scope refusal is the list of scopes: say it in words */
        char *scopes = why->len ? strdup(why->data) : NULL;
        tn_buf_reset(why);
        tn_buf_printf(why, "%s needs the scope %s, which the access token lacks", a->name,
                      scopes ? scopes : "(unknown)");
        free(scopes);
    }
    return g == TN_OK;
}
