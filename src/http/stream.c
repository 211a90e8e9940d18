/* SSE streams: a queue per stream that producers on any thread fill and MHD's content
 * reader drains, suspending the connection when it is empty; and the heartbeat that
 * writes a comment to every idle stream, which is how a dead peer on a suspended
 * connection is found. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/internal.h"
#include "ops/metrics.h"

void tn_http_stream_release(struct tn_sink *sink);

static enum tn_err stream_send(struct tn_sink *sink, const char *data, size_t len)
{
    struct tn_http_stream *st = (struct tn_http_stream *)sink;
    enum tn_err rc = TN_OK;
    pthread_mutex_lock(&st->mu);
    if (st->gone || st->closed) {
        rc = TN_ERR_CANCELLED;
        goto done;
    }
    size_t before = st->q.len;
    if (tn_buf_puts(&st->q, "event: message\ndata: ") != TN_OK ||
        tn_buf_append(&st->q, data, len) != TN_OK || tn_buf_puts(&st->q, "\n\n") != TN_OK) {
        /* A peer that reads nothing while 8 MiB pile up is dropped, not buffered forever. */
        st->q.len = before;
        st->closed = true;
        rc = TN_ERR_LIMIT;
    }
    if (st->suspended) {
        st->suspended = false;
        MHD_resume_connection(st->conn);
    }
done:
    pthread_mutex_unlock(&st->mu);
    return rc;
}

static void stream_close(struct tn_sink *sink)
{
    struct tn_http_stream *st = (struct tn_http_stream *)sink;
    pthread_mutex_lock(&st->mu);
    st->closed = true;
    if (st->suspended) {
        st->suspended = false;
        MHD_resume_connection(st->conn);
    }
    pthread_mutex_unlock(&st->mu);
}

static bool stream_closed(struct tn_sink *sink)
{
    struct tn_http_stream *st = (struct tn_http_stream *)sink;
    pthread_mutex_lock(&st->mu);
    bool r = st->gone || st->closed;
    pthread_mutex_unlock(&st->mu);
    return r;
}

static void stream_on_gone(struct tn_sink *sink, void (*fn)(void *), void *ud)
{
    struct tn_http_stream *st = (struct tn_http_stream *)sink;
    pthread_mutex_lock(&st->mu);
    bool now = st->gone;
    if (!now) {
        st->gone_fn = fn;
        st->gone_ud = ud;
    }
    pthread_mutex_unlock(&st->mu);
    if (now)
        fn(ud);
}

static void stream_retain(struct tn_sink *sink)
{
    atomic_fetch_add(&((struct tn_http_stream *)sink)->refs, 1);
}

static const struct tn_sink_ops stream_ops = {
    .send = stream_send,
    .close = stream_close,
    .closed = stream_closed,
    .on_gone = stream_on_gone,
    .retain = stream_retain,
    .release = tn_http_stream_release,
};

void tn_http_stream_release(struct tn_sink *sink)
{
    struct tn_http_stream *st = (struct tn_http_stream *)sink;
    if (atomic_fetch_sub(&st->refs, 1) != 1)
        return;
    pthread_mutex_destroy(&st->mu);
    tn_buf_deinit(&st->q);
    free(st);
}

/* Marks the stream gone (client left or response finished) and fires its callback. */
void tn_http_stream_gone(struct tn_http_stream *st)
{
    struct tn_http_server *s = st->srv;
    pthread_mutex_lock(&s->streams_mu);
    if (st->attached) {
        if (st->prev)
            st->prev->next = st->next;
        else
            s->streams = st->next;
        if (st->next)
            st->next->prev = st->prev;
        st->attached = false;
        tn_metrics_streams(-1);
    }
    pthread_mutex_unlock(&s->streams_mu);
    pthread_mutex_lock(&st->mu);
    void (*fn)(void *) = st->gone ? NULL : st->gone_fn;
    void *ud = st->gone_ud;
    st->gone = true;
    st->gone_fn = NULL;
    pthread_mutex_unlock(&st->mu);
    if (fn)
        fn(ud);
}

ssize_t tn_http_stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct tn_http_stream *st = cls;
    ssize_t n;
    pthread_mutex_lock(&st->mu);
    size_t avail = st->q.len - st->q_off;
    if (avail) {
        n = (ssize_t)(avail < max ? avail : max);
        memcpy(buf, st->q.data + st->q_off, (size_t)n);
        st->q_off += (size_t)n;
        if (st->q_off == st->q.len) {
            st->q_off = 0;
            tn_buf_reset(&st->q);
        }
    } else if (st->closed || st->gone) {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        st->suspended = true;
        MHD_suspend_connection(st->conn);
        n = 0;
    }
    pthread_mutex_unlock(&st->mu);
    return n;
}

void tn_http_stream_reader_free(void *cls)
{
    tn_http_stream_release(&((struct tn_http_stream *)cls)->sink);
}

struct tn_sink *tn_http_resp_stream(struct tn_http_resp *resp)
{
    struct tn_http_stream *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->sink.ops = &stream_ops;
    pthread_mutex_init(&st->mu, NULL);
    atomic_init(&st->refs, 1); /* the response's reference */
    tn_buf_init(&st->q, STREAM_QUEUE_LIMIT);
    resp->stream = st;
    resp->status = 200;
    resp->content_type = "text/event-stream";
    return &st->sink;
}

void *tn_http_heartbeat_main(void *arg)
{
    struct tn_http_server *s = arg;
    pthread_mutex_lock(&s->stop_mu);
    while (!s->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += s->cfg.limits.heartbeat_s;
        pthread_cond_timedwait(&s->stop_cv, &s->stop_mu, &until);
        if (s->stopping)
            break;
        pthread_mutex_unlock(&s->stop_mu);
        pthread_mutex_lock(&s->streams_mu);
        for (struct tn_http_stream *st = s->streams; st; st = st->next) {
            pthread_mutex_lock(&st->mu);
            /* An SSE comment line: ignored by clients, but it makes a write happen, which
             * is how a dead peer on a suspended connection is found. */
            if (!st->closed && !st->gone && st->q.len == 0)
                tn_buf_puts(&st->q, ":\n\n");
            if (st->suspended) {
                st->suspended = false;
                MHD_resume_connection(st->conn);
            }
            pthread_mutex_unlock(&st->mu);
        }
        pthread_mutex_unlock(&s->streams_mu);
        pthread_mutex_lock(&s->stop_mu);
    }
    pthread_mutex_unlock(&s->stop_mu);
    return NULL;
}

void tn_http_streams_close_all(struct tn_http_server *s)
{
    pthread_mutex_lock(&s->streams_mu);
    s->streams_closing = true;
    for (struct tn_http_stream *st = s->streams; st; st = st->next)
        stream_close(&st->sink);
    pthread_mutex_unlock(&s->streams_mu);
}

unsigned tn_http_streams_open(struct tn_http_server *s)
{
    unsigned n = 0;
    pthread_mutex_lock(&s->streams_mu);
    for (struct tn_http_stream *st = s->streams; st; st = st->next)
        n++;
    pthread_mutex_unlock(&s->streams_mu);
    return n;
}
