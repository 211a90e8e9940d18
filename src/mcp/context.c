/* A call's context: what a handler may ask of its request (the caller, the era, the
 * client's capabilities, a requestState), and what it may send while it runs (progress,
 * log messages, a request to the client whose answer arrives as another POST). Split
 * from server.c, which dispatches and answers. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "mcp/internal.h"

/* ---------- context ---------- */

const struct tn_principal *tn_mcp_ctx_principal(const struct tn_mcp_ctx *c) { return c->principal; }
const char *tn_mcp_ctx_subject(const struct tn_mcp_ctx *c) { return c->subject ? c->subject : ""; }
enum tn_mcp_era tn_mcp_ctx_era(const struct tn_mcp_ctx *c) { return c->era; }
const char *tn_mcp_ctx_protocol_version(const struct tn_mcp_ctx *c) { return c->version; }
json_t *tn_mcp_ctx_client_capabilities(const struct tn_mcp_ctx *c) { return c->client_caps; }
json_t *tn_mcp_ctx_request_state(const struct tn_mcp_ctx *c) { return c->state; }

json_t *tn_mcp_ctx_input_response(const struct tn_mcp_ctx *c, const char *key)
{
    return c->input_responses ? json_object_get(c->input_responses, key) : NULL;
}

bool tn_mcp_ctx_cancelled(const struct tn_mcp_ctx *c)
{
    return c->cancelled || (c->sink && tn_sink_closed(c->sink));
}

enum tn_err tn_mcp_send_json(struct tn_sink *sink, json_t *msg)
{
    struct tn_buf text;
    tn_buf_init(&text, SIZE_MAX / 2);
    enum tn_err rc = msg ? tn_json_dump(msg, &text) : TN_ERR_NOMEM;
    json_decref(msg);
    if (rc == TN_OK)
        rc = tn_sink_send(sink, text.data, text.len);
    tn_buf_deinit(&text);
    return rc;
}

enum tn_err tn_mcp_ctx_progress(struct tn_mcp_ctx *c, double progress, double total,
                                const char *message)
{
    if (!c->progress_token || !c->sink)
        return TN_OK;
    if (tn_sink_closed(c->sink))
        return TN_ERR_CANCELLED;
    if (progress <= c->last_progress)
        return TN_ERR_BAD_INPUT; /* progress must increase strictly */
    c->last_progress = progress;
    json_t *p = json_pack("{s:O, s:f}", "progressToken", c->progress_token, "progress", progress);
    if (total >= 0)
        json_object_set_new(p, "total", json_real(total));
    if (message)
        json_object_set_new(p, "message", json_string(message));
    /* integral values are sent as integers (0/100, 50/100, as clients print them) */
    if (progress == (double)(json_int_t)progress)
        json_object_set_new(p, "progress", json_integer((json_int_t)progress));
    if (total >= 0 && total == (double)(json_int_t)total)
        json_object_set_new(p, "total", json_integer((json_int_t)total));
    return tn_mcp_send_json(c->sink, json_pack("{s:s, s:s, s:o}", "jsonrpc", "2.0", "method",
                                               "notifications/progress", "params", p));
}

enum tn_err tn_mcp_ctx_log(struct tn_mcp_ctx *c, enum tn_mcp_log_level lvl, const char *logger,
                           json_t *data)
{
    if (!c->sink || c->log_level < 0 || (int)lvl < c->log_level) {
        json_decref(data);
        return TN_OK;
    }
    json_t *p =
        json_pack("{s:s, s:o}", "level", tn_mcp_log_levels[lvl], "data", data ? data : json_null());
    if (logger)
        json_object_set_new(p, "logger", json_string(logger));
    return tn_mcp_send_json(c->sink, json_pack("{s:s, s:s, s:o}", "jsonrpc", "2.0", "method",
                                               "notifications/message", "params", p));
}

json_t *tn_mcp_ctx_client_request(struct tn_mcp_ctx *c, const char *method, json_t *params,
                                  unsigned timeout_ms, struct tn_buf *why)
{
    struct tn_mcp_server *s = c->srv;
    json_t *result = NULL;
    if (c->era != TN_MCP_LEGACY || !c->sink) {
        tn_buf_puts(why, "server-to-client requests need a streamed call on the 2025 path");
        json_decref(params);
        return NULL;
    }
    struct pending p = {.response = NULL, .next = NULL, .subject = tn_mcp_ctx_subject(c)};
    /* Unguessable ids, prefixed so they never collide with the client's own. */
    uint8_t rnd[16];
    tn_random(rnd, sizeof rnd);
    memcpy(p.id, "tn-", 3);
    tn_b64url_encode(p.id + 3, sizeof p.id - 3, rnd, sizeof rnd);
    pthread_cond_init(&p.cv, NULL);
    pthread_mutex_lock(&s->pending_mu);
    p.next = s->pending;
    s->pending = &p;
    pthread_mutex_unlock(&s->pending_mu);

    json_t *req = json_pack("{s:s, s:s, s:s, s:o}", "jsonrpc", "2.0", "id", p.id, "method", method,
                            "params", params ? params : json_object());
    enum tn_err rc = tn_mcp_send_json(c->sink, req);
    uint64_t deadline = tn_time_mono_ns() + (uint64_t)timeout_ms * 1000000u;
    pthread_mutex_lock(&s->pending_mu);
    while (rc == TN_OK && !p.response) {
        if (tn_sink_closed(c->sink)) {
            rc = TN_ERR_CANCELLED;
            break;
        }
        uint64_t now = tn_time_mono_ns();
        if (now >= deadline) {
            rc = TN_ERR_BUSY;
            break;
        }
        /* wake at least every 200 ms to notice a client that went away */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t step = deadline - now < 200000000u ? deadline - now : 200000000u;
        ts.tv_nsec += (long)(step % 1000000000u);
        ts.tv_sec += (time_t)(step / 1000000000u) + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&p.cv, &s->pending_mu, &ts);
    }
    for (struct pending **pp = &s->pending; *pp; pp = &(*pp)->next) {
        if (*pp == &p) {
            *pp = p.next;
            break;
        }
    }
    pthread_mutex_unlock(&s->pending_mu);
    pthread_cond_destroy(&p.cv);
    if (p.response) {
        json_t *r = json_object_get(p.response, "result");
        if (json_is_object(r)) {
            result = json_incref(r);
        } else {
            const char *m =
                json_string_value(json_object_get(json_object_get(p.response, "error"), "message"));
            tn_buf_printf(why, "the client answered %s with an error: %s", method,
                          m ? m : "(no message)");
        }
        json_decref(p.response);
    } else if (rc == TN_ERR_BUSY) {
        tn_buf_printf(why, "the client did not answer %s in time", method);
    } else {
        tn_buf_printf(why, "the client went away before answering %s", method);
    }
    return result;
}

/* Delivers a response POSTed by the client to the call waiting for it; only the same
 * caller may answer. False when nothing of this caller waits for that id. */
bool tn_mcp_deliver_response(struct tn_mcp_server *s, json_t *msg, const char *subject)
{
    const char *id = json_string_value(json_object_get(msg, "id"));
    bool found = false;
    if (!id)
        return false;
    pthread_mutex_lock(&s->pending_mu);
    for (struct pending *p = s->pending; p; p = p->next) {
        if (!strcmp(p->id, id) && !p->response && !strcmp(p->subject, subject ? subject : "")) {
            p->response = json_deep_copy(msg); /* read on the waiting call's thread, after
                                                  this request (and its arena) ended */
            pthread_cond_signal(&p->cv);
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&s->pending_mu);
    return found;
}
