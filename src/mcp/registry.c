/* The registry: tools, resources, templates, providers, prompts and completions, and the
 * MCP methods that read it. Definitions are registered once at start; their schemas are
 * compiled then, and their tools/list entries are built then. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "mcp/internal.h"

#define MAX_COMPLETIONS 100

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
    json_object_foreach(props, k, p)
    {
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
    struct tool_entry e = {.def = t, .enabled = true};
    if (!valid_name(t->name) || !t->description || !t->call) {
        tn_buf_puts(&err, "needs a valid name ([A-Za-z0-9_.-]{1,128}), a description and a handler");
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

/* ---------- pagination ---------- */

static bool page_start(struct tn_mcp_ctx *c, json_t *params, char kind, uint32_t *off,
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

static void page_end(struct tn_mcp_ctx *c, json_t *result, char kind, uint32_t next, bool more)
{
    if (!more)
        return;
    char *cur = tn_mcp_cursor_make(c->srv, kind, next, 0, NULL);
    if (cur)
        json_object_set_new(result, "nextCursor", json_string(cur));
    free(cur);
}

/* ---------- the gate ---------- */

static struct tn_mcp_access tool_access(const struct tn_mcp_tool *t)
{
    return (struct tn_mcp_access){TN_MCP_ACCESS_TOOL, t->name, t->required_scope,
                                  t->required_permission, false};
}

/* The gate's verdict for a listing, which only filters (no reason, no audit). */
static bool listed(struct tn_mcp_ctx *c, const struct tn_mcp_access *a)
{
    return !c->srv->gate || c->srv->gate(c, a, NULL, c->srv->gate_ud) == TN_OK;
}

bool tn_mcp_access_check(struct tn_mcp_ctx *c, const struct tn_mcp_access *a,
                         struct tn_rpc_err *e)
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

static bool tool_allowed(struct tn_mcp_ctx *c, const struct tool_entry *t)
{
    struct tn_mcp_access a = tool_access(t->def);
    return listed(c, &a);
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
    *result = tn_mcp_result_error("%s", why->len ? why->data : "You are not allowed to use this tool.");
    return false;
}

json_t *tn_mcp_tools_list(struct tn_mcp_ctx *c, json_t *params, struct tn_rpc_err *e)
{
    uint32_t off;
    if (!page_start(c, params, 'T', &off, e))
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
    page_end(c, r, 'T', off + size, more);
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
            tn_rpc_fail(e, TN_ERR_HEADER_MISMATCH, NULL, "Header mismatch: %s header is required", name);
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

static json_t *missing_caps(struct tn_mcp_ctx *c, const char *list)
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
static void state_binding(char *out, size_t cap, const char *kind, const char *name, json_t *args)
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
    json_object_foreach(reqs, k, r)
    {
        const char *m = json_string_value(json_object_get(r, "method"));
        const char *cap = NULL;
        if (m && !strcmp(m, "elicitation/create")) {
            const char *mode = json_string_value(json_object_get(json_object_get(r, "params"), "mode"));
            cap = mode && !strcmp(mode, "url") ? "elicitation.url" : "elicitation.form";
        } else if (m && !strcmp(m, "sampling/createMessage")) {
            cap = "sampling";
        } else if (m && !strcmp(m, "roots/list")) {
            cap = "roots";
        }
        if (cap) {
            json_t *miss = missing_caps(c, cap);
            if (miss) {
                if (!needed)
                    needed = json_object();
                json_object_update(needed, miss);
                json_decref(miss);
            }
        }
    }
    if (needed) {
        tn_rpc_fail(e, TN_ERR_MISSING_CAPABILITY, json_pack("{s:o}", "requiredCapabilities", needed),
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
        tn_rpc_fail(e, TN_ERR_INVALID_PARAMS, NULL, "Invalid params: inputResponses must be an object");
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

json_t *tn_mcp_tools_call(struct tn_mcp_ctx *c, json_t *params, const struct tn_mcp_http_in *in,
                          struct tn_rpc_err *e)
{
    struct tn_mcp_server *s = c->srv;
    json_t *nm = params ? json_object_get(params, "name") : NULL;
    if (!json_is_string(nm)) {
        tn_rpc_fail(e, TN_ERR_INVALID_PARAMS, NULL, "Invalid params: \"name\" must be a string");
        return NULL;
    }
    const char *name = json_string_value(nm);
    const struct tool_entry *t = tn_mcp_tool_find(s, name);
    pthread_rwlock_rdlock(&s->lock);
    bool enabled = t && t->enabled;
    pthread_rwlock_unlock(&s->lock);
    if (!enabled) {
        tn_rpc_fail(e, TN_ERR_INVALID_PARAMS, NULL, "Unknown tool: %s", name);
        return NULL;
    }
    json_t *args = json_object_get(params, "arguments");
    if (args && !json_is_object(args) && !json_is_null(args)) {
        tn_rpc_fail(e, TN_ERR_INVALID_PARAMS, NULL, "Invalid params: \"arguments\" must be an object");
        return NULL;
    }
    json_t *own_args = NULL;
    if (!args || json_is_null(args))
        args = own_args = json_object();
    json_t *result = NULL;
    /* what a requestState binds to; computed only when one is opened or sealed */
    char bind[400] = "";
    if (c->era == TN_MCP_MODERN && json_object_get(params, "requestState"))
        state_binding(bind, sizeof bind, "tool", name, args);
    if (c->era == TN_MCP_MODERN) {
        if (in && !check_header_params(t, args, in, e))
            goto done;
        if (t->def->requires_client_caps) {
            json_t *miss = missing_caps(c, t->def->requires_client_caps);
            if (miss) {
                tn_rpc_fail(e, TN_ERR_MISSING_CAPABILITY, json_pack("{s:o}", "requiredCapabilities", miss),
                            "Missing required client capability");
                goto done;
            }
        }
        if (!tn_mcp_open_inputs(c, bind, params, e))
            goto done;
    }
    struct tn_buf why;
    tn_buf_init(&why, 1024);
    if (!gate_call(c, t, &why, &result, e)) {
        tn_buf_deinit(&why);
        goto done;
    }
    if (tn_schema_validate(t->input, args, &why) != TN_OK) {
        /* 2025-11-25: input errors are tool results, so the model can correct itself. */
        result = tn_mcp_result_error("Invalid arguments for tool %s: %s", name,
                                     why.data ? why.data : "invalid");
        tn_buf_deinit(&why);
        goto done;
    }
    tn_buf_reset(&why);
    result = t->def->call(c, args, t->def->ud);
    if (!result) {
        tn_rpc_fail_in_band(e, TN_ERR_INTERNAL, NULL, "Internal error");
        tn_buf_deinit(&why);
        goto done;
    }
    const char *rt = json_string_value(json_object_get(result, "resultType"));
    if (rt && !strcmp(rt, "input_required")) {
        if (c->era != TN_MCP_MODERN) {
            json_decref(result);
            result = tn_mcp_result_error(
                "Tool %s needs input from the client (elicitation, sampling or roots), which "
                "this server requests only over MCP 2026-07-28.",
                name);
        } else {
            if (!bind[0])
                state_binding(bind, sizeof bind, "tool", name, args);
            if (!tn_mcp_finish_input_required(c, bind, result, e)) {
                json_decref(result);
                result = NULL;
            }
        }
    } else if (t->output && !json_is_true(json_object_get(result, "isError"))) {
        json_t *sc = json_object_get(result, "structuredContent");
        size_t raw_len;
        const char *raw = tn_json_raw_text(sc, &raw_len);
        json_t *parsed = NULL;
        bool bad = false;
        if (raw) {
#ifdef TN_CHECK_RESULTS
            /* a result written as text: checked in debug builds only (see mcp.h) */
            parsed = json_loadb(raw, raw_len, 0, NULL);
            bad = !parsed || tn_schema_validate(t->output, parsed, &why) != TN_OK;
#endif
        } else {
            bad = !sc || tn_schema_validate(t->output, sc, &why) != TN_OK;
        }
        json_decref(parsed);
        if (bad) {
            tn_log(TN_LOG_ERROR, "tool result does not match its output schema", "tool", name,
                   "reason", why.data ? why.data : "structuredContent missing", NULL);
            json_decref(result);
            result = NULL;
            tn_rpc_fail_in_band(e, TN_ERR_INTERNAL, NULL, "Internal error");
        }
    }
    tn_buf_deinit(&why);
done:
    json_decref(own_args);
    return result;
}

/* ---------- resources ---------- */

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
            if (listed(c, &a))
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
    if (!page_start(c, params, 'M', &off, e))
        return NULL;
    struct tn_mcp_server *s = c->srv;
    json_t *arr = json_array();
    size_t i = off;
    for (; i < s->n_templates && json_array_size(arr) < s->info.page_size; i++) {
        const struct tn_mcp_resource_template *t = s->templates[i];
        struct tn_mcp_access a = template_access(t, "resources/templates/list");
        if (!listed(c, &a))
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
    page_end(c, r, 'M', (uint32_t)i, i < s->n_templates);
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

/* ---------- prompts ---------- */

json_t *tn_mcp_prompts_list(struct tn_mcp_ctx *c, json_t *params, struct tn_rpc_err *e)
{
    uint32_t off;
    if (!page_start(c, params, 'P', &off, e))
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
    page_end(c, r, 'P', off + s->info.page_size, more);
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
        tn_rpc_fail(e, TN_ERR_INVALID_PARAMS, NULL, "Invalid params: \"arguments\" must be an object");
        return NULL;
    }
    const char *k;
    json_t *v;
    json_object_foreach(args, k, v)
    {
        if (!json_is_string(v)) {
            tn_rpc_fail(e, TN_ERR_INVALID_PARAMS, NULL,
                        "Invalid params: prompt argument '%s' must be a string", k);
            return NULL;
        }
    }
    for (const struct tn_mcp_prompt_arg *a = p->def->args; a && a->name; a++) {
        if (a->required && !json_is_string(json_object_get(args, a->name))) {
            tn_rpc_fail(e, TN_ERR_INVALID_PARAMS, NULL, "Invalid params: missing required argument '%s'",
                        a->name);
            return NULL;
        }
    }
    char bind[400];
    state_binding(bind, sizeof bind, "prompt", name, args);
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
                                "only over MCP 2026-07-28", name);
            return NULL;
        }
        if (!tn_mcp_finish_input_required(c, bind, r, e)) {
            json_decref(r);
            return NULL;
        }
    }
    return r;
}

json_t *tn_mcp_complete(struct tn_mcp_ctx *c, json_t *params, struct tn_rpc_err *e)
{
    struct tn_mcp_server *s = c->srv;
    json_t *ref = NULL, *arg = NULL, *ctxargs = NULL;
    const char *aname = NULL, *value = NULL;
    if (!params || json_unpack(params, "{s:o, s:{s:s, s:s}, s?{s?o}}", "ref", &ref, "argument", "name",
                               &aname, "value", &value, "context", "arguments", &ctxargs) != 0 ||
        !json_is_object(ref)) {
        tn_rpc_fail(e, TN_ERR_INVALID_PARAMS, NULL,
                    "Invalid params: expected {ref, argument:{name, value}}");
        return NULL;
    }
    (void)arg;
    const char *type = json_string_value(json_object_get(ref, "type"));
    if (!type || (strcmp(type, "ref/prompt") && strcmp(type, "ref/resource"))) {
        tn_rpc_fail(e, TN_ERR_INVALID_PARAMS, NULL, "Invalid params: ref.type must be ref/prompt or ref/resource");
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

json_t *tn_mcp_result_structured_text(const char *json, size_t len)
{
    /* built by hand: json_pack would check the text's UTF-8 again. The *_new calls
     * take their value even when they fail, so one check at the end suffices. */
    json_t *r = json_object(), *content = json_array(), *block = json_object();
    if (!r || !content || !block) {
        json_decref(r);
        json_decref(content);
        json_decref(block);
        return NULL;
    }
    json_array_append_new(content, block);
    json_object_set_new_nocheck(r, "content", content);
    json_object_set_new_nocheck(block, "type", json_string_nocheck("text"));
    json_object_set_new_nocheck(block, "text", json_stringn_nocheck(json, len));
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
    const struct tool_entry *t = json_is_string(nm) ? tn_mcp_tool_find(c->srv, json_string_value(nm)) : NULL;
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
            tn_rpc_fail(e, TN_ERR_INSUFFICIENT_SCOPE, NULL, "Insufficient scope: this tool needs %s",
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
