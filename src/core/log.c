#include "core/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"

static enum tn_log_level min_level = TN_LOG_INFO;
static bool as_json;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static const char *names[] = {"debug", "info", "warn", "error"};
static __thread const char *request_id;

void tn_log_set_request_id(const char *id) { request_id = id; }
const char *tn_log_request_id(void) { return request_id; }

bool tn_log_enabled(enum tn_log_level lvl) { return lvl >= min_level; }

void tn_log_setup(enum tn_log_level min, bool json)
{
    min_level = min;
    as_json = json;
}

static void put_escaped(struct tn_buf *b, const char *s, bool json)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f || (json && (*p == '"' || *p == '\\')))
            tn_buf_printf(b, json ? "\\u%04x" : "\\x%02x", *p);
        else
            tn_buf_append(b, p, 1);
    }
}

void tn_log(enum tn_log_level lvl, const char *msg, ...)
{
    if (lvl < min_level)
        return;
    struct tn_buf b;
    tn_buf_init(&b, 8192);
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (as_json) {
        tn_buf_printf(&b, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts, names[lvl]);
        put_escaped(&b, msg, true);
        tn_buf_puts(&b, "\"");
    } else {
        tn_buf_printf(&b, "%s %-5s ", ts, names[lvl]);
        put_escaped(&b, msg, false);
    }
    va_list ap;
    va_start(ap, msg);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (!k)
            break;
        const char *v = va_arg(ap, const char *);
        if (!v)
            v = "-";
        if (as_json) {
            tn_buf_puts(&b, ",\"");
            put_escaped(&b, k, true);
            tn_buf_puts(&b, "\":\"");
            put_escaped(&b, v, true);
            tn_buf_puts(&b, "\"");
        } else {
            tn_buf_printf(&b, " %s=", k);
            put_escaped(&b, v, false);
        }
    }
    va_end(ap);
    if (request_id) {
        if (as_json) {
            tn_buf_puts(&b, ",\"request_id\":\"");
            put_escaped(&b, request_id, true);
            tn_buf_puts(&b, "\"");
        } else {
            tn_buf_puts(&b, " request_id=");
            put_escaped(&b, request_id, false);
        }
    }
    tn_buf_puts(&b, as_json ? "}\n" : "\n");
    pthread_mutex_lock(&lock);
    if (b.data)
        fwrite(b.data, 1, b.len, stderr);
    pthread_mutex_unlock(&lock);
    tn_buf_deinit(&b);
}
