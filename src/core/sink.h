/* A stream of server-sent events, as seen by the code that produces them.
 *
 * The HTTP layer implements it over an SSE response; the MCP layer writes JSON-RPC
 * messages into it without knowing about sockets. A sink is reference-counted: whoever
 * keeps a pointer past the call that handed it over takes a reference. */
#ifndef TN_CORE_SINK_H
#define TN_CORE_SINK_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

struct tn_sink;

struct tn_sink_ops {
    /* Queues one `event: message` frame carrying `data` (one JSON text, no newlines).
     * Fails with TN_ERR_CANCELLED once the client has gone or the sink was closed. */
    enum tn_err (*send)(struct tn_sink *s, const char *data, size_t len);
    /* Ends the stream after everything queued has been written. */
    void (*close)(struct tn_sink *s);
    /* True once the client has disconnected (or the stream was closed). */
    bool (*closed)(struct tn_sink *s);
    /* Calls fn(ud) once, when the client disconnects or the stream ends; at once if that
     * already happened. Only one callback per sink. */
    void (*on_gone)(struct tn_sink *s, void (*fn)(void *ud), void *ud);
    void (*retain)(struct tn_sink *s);
    void (*release)(struct tn_sink *s);
};

struct tn_sink {
    const struct tn_sink_ops *ops;
};

static inline enum tn_err tn_sink_send(struct tn_sink *s, const char *d, size_t n)
{
    return s->ops->send(s, d, n);
}
static inline void tn_sink_close(struct tn_sink *s) { s->ops->close(s); }
static inline bool tn_sink_closed(struct tn_sink *s) { return s->ops->closed(s); }
static inline void tn_sink_on_gone(struct tn_sink *s, void (*fn)(void *), void *ud)
{
    s->ops->on_gone(s, fn, ud);
}
static inline void tn_sink_retain(struct tn_sink *s) { s->ops->retain(s); }
static inline void tn_sink_release(struct tn_sink *s)
{
    if (s)
        s->ops->release(s);
}

#endif
