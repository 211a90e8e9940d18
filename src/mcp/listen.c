/* subscriptions/listen (2026-07-28): long-lived SSE streams that receive list-changed
 * and resource-updated notifications. Every frame carries the subscription id (the id of
 * the listen request). A stream ends when the client closes it, or with a final result
 * when the server shuts down or the gate no longer allows it (tn_mcp_recheck: the token
 * expired, the account was disabled or lost the permission). */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "mcp/internal.h"

enum { F_TOOLS = 1, F_PROMPTS = 2, F_RESOURCES = 4 };

struct listener {
    struct tn_mcp_server *srv;
    struct tn_sink *sink;
    json_t *id;
    char *subject;
    const struct tn_principal *principal; /* retained: the gate asks about it again */
    unsigned flags;
    json_t *uris; /* resourceSubscriptions honoured, or NULL */
    struct listener *prev, *next;
    bool linked;
    /* one for the list, one for the sink's gone callback, one per re-check under way */
    atomic_int refs;
};

void tn_mcp_listen_init(struct tn_mcp_server *s) { pthread_mutex_init(&s->listen_mu, NULL); }

static void listener_free(struct listener *l)
{
    if (atomic_fetch_sub(&l->refs, 1) != 1)
        return;
    if (l->principal && l->srv->info.principal_release)
        l->srv->info.principal_release(l->principal);
    tn_sink_release(l->sink);
    json_decref(l->id);
    json_decref(l->uris);
    free(l->subject);
    free(l);
}

/* Unlinks under the lock; the caller frees. */
static bool unlink_locked(struct tn_mcp_server *s, struct listener *l)
{
    if (!l->linked)
        return false;
    if (l->prev)
        l->prev->next = l->next;
    else
        s->listeners = l->next;
    if (l->next)
        l->next->prev = l->prev;
    l->linked = false;
    s->n_listeners--;
    return true;
}

static void on_gone(void *ud)
{
    struct listener *l = ud;
    struct tn_mcp_server *s = l->srv;
    pthread_mutex_lock(&s->listen_mu);
    bool mine = unlink_locked(s, l);
    pthread_mutex_unlock(&s->listen_mu);
    if (mine)
        listener_free(l); /* the list's reference */
    listener_free(l);     /* the callback's */
}

void tn_mcp_listen_deinit(struct tn_mcp_server *s)
{
    tn_mcp_close_listens(s);
    pthread_mutex_destroy(&s->listen_mu);
}

static void send_frame(struct listener *l, const char *method, json_t *params)
{
    if (!params)
        params = json_object();
    json_t *meta = json_object_get(params, "_meta");
    if (!meta) {
        meta = json_object();
        json_object_set_new(params, "_meta", meta);
    }
    json_object_set(meta, TN_META_SUBSCRIPTION_ID, l->id);
    json_t *msg =
        json_pack("{s:s, s:s, s:o}", "jsonrpc", "2.0", "method", method, "params", params);
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (text)
        tn_sink_send(l->sink, text, strlen(text));
    free(text);
}

/* The in-band refusal of a listen request (the stream is already open). */
static void refuse(struct tn_sink *sink, json_t *id, enum tn_err why, const char *msg)
{
    json_t *err = json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", id, "error", "code",
                            tn_err_jsonrpc(why), "message", msg);
    char *text = json_dumps(err, JSON_COMPACT);
    json_decref(err);
    if (text)
        tn_sink_send(sink, text, strlen(text));
    free(text);
    tn_sink_close(sink);
}

/* The acknowledgement of a listen request: exactly the subset of `want` it will be
 * sent, as *flags and *uris (the resources whose updates it gets, or NULL). */
static json_t *acknowledge(struct tn_mcp_server *s, json_t *want, unsigned *flags, json_t **uris)
{
    json_t *ack = json_object();
    *flags = 0;
    *uris = NULL;
    if (json_is_true(json_object_get(want, "toolsListChanged")) && tn_mcp_has_tools(s)) {
        *flags |= F_TOOLS;
        json_object_set_new(ack, "toolsListChanged", json_true());
    }
    if (json_is_true(json_object_get(want, "promptsListChanged")) && tn_mcp_has_prompts(s)) {
        *flags |= F_PROMPTS;
        json_object_set_new(ack, "promptsListChanged", json_true());
    }
    if (json_is_true(json_object_get(want, "resourcesListChanged")) && tn_mcp_has_resources(s)) {
        *flags |= F_RESOURCES;
        json_object_set_new(ack, "resourcesListChanged", json_true());
    }
    json_t *rs = json_object_get(want, "resourceSubscriptions");
    if (json_is_array(rs) && json_array_size(rs) && tn_mcp_has_resources(s)) {
        *uris = json_array();
        size_t i;
        json_t *u;
        json_array_foreach(rs, i, u) {
            if (json_is_string(u) && json_array_size(*uris) < 256)
                json_array_append(*uris, u);
        }
        json_object_set(ack, "resourceSubscriptions", *uris);
    }
    return ack;
}

/* Links l into the list unless the server is full or its caller holds as many streams
 * as one may; false then, *per_subject telling which. */
static bool admit(struct tn_mcp_server *s, struct listener *l, bool *per_subject)
{
    pthread_mutex_lock(&s->listen_mu);
    bool full = s->n_listeners >= s->info.max_listen;
    /* One caller cannot take every stream: a cap per subject (anonymous callers have only
     * the global one). */
    unsigned mine = 0, cap = s->info.max_streams_per_subject;
    if (!full && cap && l->subject[0])
        for (struct listener *o = s->listeners; o && mine < cap; o = o->next)
            mine += !strcmp(o->subject, l->subject);
    *per_subject = !full && cap && l->subject[0] && mine >= cap;
    full = full || *per_subject;
    if (!full) {
        l->next = s->listeners;
        if (l->next)
            l->next->prev = l;
        s->listeners = l;
        l->linked = true;
        s->n_listeners++;
    }
    pthread_mutex_unlock(&s->listen_mu);
    return !full;
}

void tn_mcp_listen_start(struct tn_mcp_server *s, struct tn_mcp_ctx *c, json_t *id, json_t *params,
                         struct tn_sink *sink)
{
    unsigned flags;
    json_t *uris;
    /* Acknowledge exactly the subset we will honour. */
    json_t *ack = acknowledge(s, json_object_get(params, "notifications"), &flags, &uris);
    struct listener *l = calloc(1, sizeof *l);
    if (!l) {
        json_decref(uris);
        tn_sink_close(sink);
        goto done;
    }
    l->srv = s;
    atomic_init(&l->refs, 2); /* the list's and the callback's */
    l->sink = sink;
    tn_sink_retain(sink);
    l->id = json_incref(id);
    l->subject = strdup(tn_mcp_ctx_subject(c));
    l->principal = c->principal;
    if (l->principal && s->info.principal_retain)
        s->info.principal_retain(l->principal);
    l->flags = flags;
    l->uris = uris;
    if (!l->subject) {
        tn_sink_close(sink);
        goto refused;
    }
    bool per_subject;
    if (!admit(s, l, &per_subject)) {
        /* Refused in-band, as the reference SDK does. */
        char msg[160];
        if (per_subject)
            snprintf(msg, sizeof msg,
                     "Too many open subscriptions: at most %u per user; close one "
                     "first",
                     s->info.max_streams_per_subject);
        refuse(sink, id, per_subject ? TN_ERR_TOO_MANY_STREAMS : TN_ERR_BUSY,
               per_subject ? msg : "Too many open subscriptions");
        goto refused;
    }
    send_frame(l, "notifications/subscriptions/acknowledged",
               json_pack("{s:o}", "notifications", ack));
    ack = NULL; /* sent */
    tn_sink_on_gone(sink, on_gone, l);
    goto done;
refused:
    listener_free(l); /* both references: it was never linked nor watched */
    listener_free(l);
done:
    json_decref(ack);
}

static void broadcast(struct tn_mcp_server *s, unsigned flag, const char *method, const char *uri,
                      const char *subject)
{
    pthread_mutex_lock(&s->listen_mu);
    for (struct listener *l = s->listeners; l; l = l->next) {
        if (subject && strcmp(subject, l->subject) != 0)
            continue;
        if (flag) {
            if (l->flags & flag)
                send_frame(l, method, NULL);
            continue;
        }
        size_t i;
        json_t *u;
        json_array_foreach(l->uris, i, u) {
            if (!strcmp(json_string_value(u), uri)) {
                send_frame(l, method, json_pack("{s:s}", "uri", uri));
                break;
            }
        }
    }
    pthread_mutex_unlock(&s->listen_mu);
}

void tn_mcp_notify_tools_changed(struct tn_mcp_server *s)
{
    broadcast(s, F_TOOLS, "notifications/tools/list_changed", NULL, NULL);
}

void tn_mcp_notify_prompts_changed(struct tn_mcp_server *s)
{
    broadcast(s, F_PROMPTS, "notifications/prompts/list_changed", NULL, NULL);
}

void tn_mcp_notify_resources_changed(struct tn_mcp_server *s, const char *subject)
{
    broadcast(s, F_RESOURCES, "notifications/resources/list_changed", NULL, subject);
}

void tn_mcp_notify_resource_updated(struct tn_mcp_server *s, const char *uri, const char *subject)
{
    broadcast(s, 0, "notifications/resources/updated", uri, subject);
}

/* The protocol's end of a subscription: its final result, then the end of the stream.
 * The caller has unlinked l and holds the list's reference, which this drops. */
static void finish(struct listener *l)
{
    json_t *fin = json_pack("{s:s, s:O, s:{s:s, s:{s:O}}}", "jsonrpc", "2.0", "id", l->id, "result",
                            "resultType", "complete", "_meta", TN_META_SUBSCRIPTION_ID, l->id);
    char *text = json_dumps(fin, JSON_COMPACT);
    json_decref(fin);
    if (text)
        tn_sink_send(l->sink, text, strlen(text));
    free(text);
    tn_sink_close(l->sink);
    listener_free(l);
}

void tn_mcp_close_listens(struct tn_mcp_server *s)
{
    for (;;) {
        pthread_mutex_lock(&s->listen_mu);
        struct listener *l = s->listeners;
        if (l)
            unlink_locked(s, l);
        pthread_mutex_unlock(&s->listen_mu);
        if (!l)
            break;
        finish(l);
    }
}

unsigned tn_mcp_listen_recheck(struct tn_mcp_server *s)
{
    if (!s->gate)
        return 0;
    /* The gate may read the store: it is asked with no lock held, about a snapshot of
     * the streams, each kept alive by a reference of its own. */
    pthread_mutex_lock(&s->listen_mu);
    size_t n = 0;
    struct listener **all = s->n_listeners ? malloc(s->n_listeners * sizeof *all) : NULL;
    for (struct listener *l = s->listeners; l && all; l = l->next) {
        atomic_fetch_add(&l->refs, 1);
        all[n++] = l;
    }
    pthread_mutex_unlock(&s->listen_mu);
    unsigned ended = 0;
    struct tn_buf why;
    tn_buf_init(&why, 1024);
    for (size_t i = 0; i < n; i++) {
        struct listener *l = all[i];
        struct tn_mcp_ctx c = {.srv = s,
                               .principal = l->principal,
                               .subject = l->subject,
                               .era = TN_MCP_MODERN,
                               .version = TN_MCP_VERSION_MODERN,
                               .log_level = -1,
                               .last_progress = -1};
        struct tn_mcp_access a = s->listen_access;
        a.kind = TN_MCP_ACCESS_LISTEN;
        a.name = "subscriptions/listen";
        tn_buf_reset(&why);
        if (!tn_mcp_access_still(&c, &a, &why)) {
            pthread_mutex_lock(&s->listen_mu);
            bool mine = unlink_locked(s, l);
            pthread_mutex_unlock(&s->listen_mu);
            if (mine) {
                tn_log(TN_LOG_INFO, "listen stream ended", "user", l->subject, "reason",
                       why.len ? why.data : "refused by the gate", NULL);
                finish(l);
                ended++;
            }
        }
        listener_free(l); /* this re-check's reference */
    }
    tn_buf_deinit(&why);
    free(all);
    return ended;
}
