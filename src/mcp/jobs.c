/* Streamed calls (mcp/internal.h): a tools/call answered over SSE runs on its own thread,
 * in the server's list of calls under way, so that tn_mcp_recheck can stop one whose
 * caller lost the right to make it. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "mcp/internal.h"
#include "ops/reqid.h"

/* A streamed call runs here, on its own thread, writing into the SSE sink. Every call
 * under way is in the server's list, so that tn_mcp_recheck can stop one whose caller
 * lost the right to make it, and so that one caller's calls can be counted. */
struct job {
    struct tn_mcp_server *srv;
    struct tn_mcp_ctx ctx;
    const struct method *m;
    const struct tool_entry *tool;
    json_t *msg; /* the request (owned) */
    char *subject;
    char request_id[TN_REQID_MAX + 1]; /* of the request that started it, for its logs */
    struct job *prev, *next;
    bool linked;
    atomic_bool running;  /* its thread started: the sink is set */
    atomic_bool answered; /* the final message is sent (or the call was stopped) */
    atomic_int refs;      /* the thread's, and one per re-check under way */
};

void tn_mcp_job_release(struct job *j)
{
    if (atomic_fetch_sub(&j->refs, 1) != 1)
        return;
    tn_sink_release(j->ctx.sink);
    if (j->ctx.principal && j->srv->info.principal_release)
        j->srv->info.principal_release(j->ctx.principal);
    json_decref(j->ctx.state);
    json_decref(j->msg);
    free(j->subject);
    free(j);
}

/* Links j into the server's list unless its caller already has as many calls under way
 * as allowed (TN_ERR_TOO_MANY_STREAMS; anonymous callers are not counted). */
enum tn_err tn_mcp_job_link(struct tn_mcp_server *s, struct job *j)
{
    unsigned cap = s->info.max_streams_per_subject, mine = 0;
    pthread_mutex_lock(&s->jobs_mu);
    if (cap && j->subject[0])
        for (struct job *o = s->jobs; o && mine < cap; o = o->next)
            mine += !strcmp(o->subject, j->subject);
    bool ok = !(cap && j->subject[0] && mine >= cap);
    if (ok) {
        j->next = s->jobs;
        if (j->next)
            j->next->prev = j;
        s->jobs = j;
        j->linked = true;
    }
    pthread_mutex_unlock(&s->jobs_mu);
    return ok ? TN_OK : TN_ERR_TOO_MANY_STREAMS;
}

void tn_mcp_job_unlink(struct tn_mcp_server *s, struct job *j)
{
    pthread_mutex_lock(&s->jobs_mu);
    if (j->linked) {
        if (j->prev)
            j->prev->next = j->next;
        else
            s->jobs = j->next;
        if (j->next)
            j->next->prev = j->prev;
        j->linked = false;
    }
    pthread_mutex_unlock(&s->jobs_mu);
}

static void *job_main(void *arg)
{
    struct job *j = arg;
    tn_log_set_request_id(j->request_id[0] ? j->request_id : NULL);
    int http;
    json_t *id = json_object_get(j->msg, "id");
    json_t *resp =
        tn_mcp_dispatch(&j->ctx, j->m, id, json_object_get(j->msg, "params"), NULL, &http);
    /* unless a re-check stopped the call and answered it already */
    if (!atomic_exchange(&j->answered, true) && !tn_sink_closed(j->ctx.sink))
        tn_mcp_send_json(j->ctx.sink, resp);
    else
        json_decref(resp);
    tn_sink_close(j->ctx.sink);
    tn_mcp_job_unlink(j->srv, j);
    struct tn_mcp_server *s = j->srv;
    tn_mcp_job_release(j);
    atomic_fetch_sub(&s->n_streaming, 1);
    return NULL;
}

/* A job for the streamed call c of `msg`, not started; NULL when out of memory. */
struct job *tn_mcp_job_new(struct tn_mcp_server *s, struct tn_mcp_ctx *c, const struct method *m,
                           json_t *msg)
{
    struct job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->subject = strdup(c->subject ? c->subject : "");
    if (!j->subject) {
        free(j);
        return NULL;
    }
    j->srv = s;
    const char *rid = tn_log_request_id();
    if (rid)
        snprintf(j->request_id, sizeof j->request_id, "%s", rid);
    j->ctx = *c;
    j->m = m;
    json_t *nm = json_object_get(json_object_get(msg, "params"), "name");
    j->tool = json_is_string(nm) ? tn_mcp_tool_find(s, json_string_value(nm)) : NULL;
    /* the call outlives the request (and its arena): it keeps a copy on the heap */
    j->msg = json_deep_copy(msg);
    if (!j->msg) {
        free(j->subject);
        free(j);
        return NULL;
    }
    tn_mcp_ctx_point_into(&j->ctx, j->msg);
    j->ctx.subject = j->subject;
    j->ctx.sink = NULL;
    j->ctx.state = NULL; /* moved once the job runs */
    atomic_init(&j->running, false);
    atomic_init(&j->answered, false);
    atomic_init(&j->refs, 1);
    /* client_caps and progress_token point into the job's copy of msg */
    if (j->ctx.principal && s->info.principal_retain)
        s->info.principal_retain(j->ctx.principal);
    return j;
}

/* Runs j on its own thread, writing into `sink`; false when no thread could start. */
bool tn_mcp_job_run(struct job *j, struct tn_mcp_ctx *c, struct tn_sink *sink)
{
    j->ctx.sink = sink;
    tn_sink_retain(sink);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_t t;
    j->ctx.state = c->state;
    atomic_store(&j->running, true); /* after the sink is set: what a re-check reads */
    int rc = pthread_create(&t, &attr, job_main, j);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        atomic_store(&j->running, false);
        j->ctx.state = NULL;
        return false;
    }
    c->state = NULL; /* moved to the job */
    return true;
}

/* Stops the streamed calls the gate no longer allows; returns how many. */
static unsigned jobs_recheck(struct tn_mcp_server *s)
{
    pthread_mutex_lock(&s->jobs_mu);
    size_t n = 0, cap = 0;
    for (struct job *j = s->jobs; j; j = j->next)
        cap++;
    struct job **all = cap ? malloc(cap * sizeof *all) : NULL;
    for (struct job *j = s->jobs; j && all; j = j->next) {
        if (!atomic_load(&j->running))
            continue; /* not started yet: its request was authorized just now */
        atomic_fetch_add(&j->refs, 1);
        all[n++] = j;
    }
    pthread_mutex_unlock(&s->jobs_mu);
    unsigned stopped = 0;
    struct tn_buf why;
    tn_buf_init(&why, 1024);
    for (size_t i = 0; i < n; i++) {
        struct job *j = all[i];
        tn_buf_reset(&why);
        /* only the principal and the subject: the rest of the context is the thread's */
        struct tn_mcp_ctx c = {.srv = s,
                               .principal = j->ctx.principal,
                               .subject = j->subject,
                               .era = j->ctx.era,
                               .version = j->ctx.version,
                               .log_level = -1,
                               .last_progress = -1};
        struct tn_mcp_access a = {TN_MCP_ACCESS_TOOL, "tools/call", NULL, NULL, false};
        if (j->tool)
            a = (struct tn_mcp_access){TN_MCP_ACCESS_TOOL, j->tool->def->name,
                                       j->tool->def->required_scope,
                                       j->tool->def->required_permission, false};
        if (!tn_mcp_access_still(&c, &a, &why) && !atomic_exchange(&j->answered, true)) {
            struct tn_rpc_err e = {0};
            tn_rpc_err_set(&e, 200, tn_err_jsonrpc(TN_ERR_FORBIDDEN), NULL,
                           "The call was stopped before it finished: %s. Whatever it changed "
                           "until then may have been saved.",
                           why.len ? why.data : "the caller is no longer allowed to make it");
            tn_mcp_send_json(j->ctx.sink, tn_rpc_error_body(json_object_get(j->msg, "id"), &e));
            tn_sink_close(j->ctx.sink); /* the handler sees tn_mcp_ctx_cancelled */
            tn_log(TN_LOG_INFO, "streamed call stopped", "user", j->subject, "tool", a.name,
                   "reason", why.len ? why.data : "refused by the gate", NULL);
            stopped++;
        }
        tn_mcp_job_release(j);
    }
    tn_buf_deinit(&why);
    free(all);
    return stopped;
}

unsigned tn_mcp_recheck(struct tn_mcp_server *s)
{
    if (!s->gate)
        return 0;
    return tn_mcp_listen_recheck(s) + jobs_recheck(s);
}
