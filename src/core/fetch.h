/* Outbound HTTP GET with libcurl, for discovery documents, JWKS and client metadata.
 *
 * Bounded in time and size, no redirects, HTTPS only except to loopback when allowed,
 * and never to private or link-local addresses unless loopback is allowed (SSRF guard;
 * loopback is for development and tests). */
#ifndef TN_CORE_FETCH_H
#define TN_CORE_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

struct tn_fetch_opts {
    unsigned timeout_ms; /* whole transfer */
    size_t max_bytes;    /* larger bodies fail with TN_ERR_LIMIT */
    bool allow_loopback; /* permit http:// and 127.0.0.0/8, ::1, localhost */
};

struct tn_fetch_result {
    long status;        /* HTTP status, 0 when no response */
    int64_t max_age_s;  /* from Cache-Control max-age (or s-maxage), -1 when absent */
    bool no_store;      /* Cache-Control: no-store / no-cache */
    struct tn_buf body; /* initialised by tn_fetch */
};

/* Fetches `url`. TN_OK means a response arrived (any status); TN_ERR_IO a network failure
 * or timeout; TN_ERR_FORBIDDEN a URL refused by policy; TN_ERR_LIMIT an oversized body.
 * The caller deinitialises res->body in every case. */
enum tn_err tn_fetch(const char *url, const struct tn_fetch_opts *o, struct tn_fetch_result *res);
/* POSTs `form_len` bytes of application/x-www-form-urlencoded `form` to `url` (a token
 * endpoint) under the same policy as tn_fetch: scheme and address checks, no redirects,
 * no proxy, o->timeout_ms and o->max_bytes. `authorization`, when not NULL, is sent as
 * the Authorization header value (e.g. "Basic ..."); it is never logged, and the copy
 * made to build the header is wiped. Same results as tn_fetch; the caller deinitialises
 * res->body in every case. */
enum tn_err tn_fetch_form(const char *url, const struct tn_fetch_opts *o, const char *authorization,
                          const char *form, size_t form_len, struct tn_fetch_result *res);
/* Process-wide libcurl set-up; call once at start. */
enum tn_err tn_fetch_global_init(void);

#endif
