/* Connections: each one tracked from MHD's connection notifications (struct conn), its
 * peer counted against MAX_CONNECTIONS_PER_IP unless it is a trusted proxy; the reaper
 * that closes a connection whose request has not fully arrived within REQUEST_TIMEOUT_S;
 * and the client address behind a trusted proxy. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"
#include "http/internal.h"

/* ---------- connections ---------- */

static size_t bucket_of(const struct tn_http_server *s, const struct tn_ip *ip)
{
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, ip->b, sizeof ip->b, s->bucket_key);
    size_t v;
    memcpy(&v, h, sizeof v);
    return v % CONN_BUCKETS;
}

/* MHD_OPTION_NOTIFY_CONNECTION, on the connection's worker. A connection over its
 * address's limit is shut down here (MHD then reads end-of-file and closes it): the
 * count and the decision are under one lock, so the limit is exact. */
void tn_http_on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
                           enum MHD_ConnectionNotificationCode code)
{
    struct tn_http_server *s = cls;
    struct conn *c = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        if (!c)
            return;
        if (!c->refused) {
            pthread_mutex_lock(&s->conns_mu);
            if (c->prev)
                c->prev->next = c->next;
            else
                s->conns = c->next;
            if (c->next)
                c->next->prev = c->prev;
            if (c->counted) {
                struct conn **pp = &s->buckets[bucket_of(s, &c->party)];
                while (*pp && *pp != c)
                    pp = &(*pp)->bnext;
                if (*pp)
                    *pp = c->bnext;
            }
            pthread_mutex_unlock(&s->conns_mu);
        }
        free(c);
        *socket_context = NULL;
        return;
    }
    const union MHD_ConnectionInfo *fdi =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
    c = calloc(1, sizeof *c);
    if (!c) { /* untracked means unlimited: refuse instead */
        if (fdi)
            shutdown(fdi->connect_fd, SHUT_RDWR);
        return;
    }
    const union MHD_ConnectionInfo *ai =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    tn_ip_from_sockaddr(ai ? ai->client_addr : NULL, &c->peer);
    tn_ip_party(&c->peer, &c->party);
    c->fd = fdi ? fdi->connect_fd : -1;
    c->trusted = tn_proxies_match(&s->proxies, &c->peer);
    atomic_init(&c->since_ns, tn_time_mono_ns());
    atomic_init(&c->receiving, true);
    atomic_init(&c->idle, false);
    atomic_init(&c->quiet_ns, 0);
    unsigned limit = s->cfg.limits.max_per_ip;
    pthread_mutex_lock(&s->conns_mu);
    /* A trusted proxy carries every user's connections: it is not capped (limits per
     * user belong in the proxy, which sees them). */
    if (limit && !c->trusted) {
        size_t b = bucket_of(s, &c->party);
        unsigned n = 0;
        for (struct conn *o = s->buckets[b]; o && n < limit; o = o->bnext)
            n += memcmp(&o->party, &c->party, sizeof c->party) == 0;
        if (n >= limit) {
            c->refused = true;
        } else {
            c->counted = true;
            c->bnext = s->buckets[b];
            s->buckets[b] = c;
        }
    }
    if (!c->refused) {
        c->next = s->conns;
        if (c->next)
            c->next->prev = c;
        s->conns = c;
    }
    pthread_mutex_unlock(&s->conns_mu);
    if (c->refused) {
        if (c->fd >= 0)
            shutdown(c->fd, SHUT_RDWR);
        atomic_fetch_add(&s->refused, 1);
    }
    *socket_context = c;
}

unsigned tn_http_conns_open(struct tn_http_server *s)
{
    unsigned n = 0;
    pthread_mutex_lock(&s->conns_mu);
    for (const struct conn *c = s->conns; c; c = c->next)
        n++;
    pthread_mutex_unlock(&s->conns_mu);
    return n;
}

/* A trusted proxy is not timed: it buffers each request before passing it on and times
 * its own clients, and it keeps idle upstream connections open for as long as it likes
 * (nginx: 60 s), so closing one under it would turn its next request into a 502. */
bool tn_http_past_deadline(const struct tn_http_server *s, const struct conn *c, uint64_t now)
{
    uint64_t limit = (uint64_t)s->cfg.limits.request_timeout_s * 1000000000u;
    if (!limit || !c || c->trusted || !atomic_load(&c->receiving))
        return false;
    /* The reaper reads its clock before it walks the list, and a worker may mark a request
     * it just answered later than that: a start after `now` has not begun to be late (an
     * unsigned difference would make it 584 years late and cut a healthy connection). */
    uint64_t since = atomic_load(&c->since_ns);
    return now > since && now - since > limit;
}

/* Between two requests: while no byte has arrived since `quiet_ns`, the connection is
 * idle and both marks move up to now, less IDLE_MARGIN_NS for the kernel's clock ticks
 * (the deadline's start, since_ns, a margin further back); once a byte has, the next
 * request has begun and since_ns, at most a tick and two margins before its first byte,
 * stays. Anything unclear (no TCP_INFO) counts as begun: the old, stricter rule. */
static void follow_idle(struct conn *c, uint64_t now)
{
    if (c->trusted || !atomic_load(&c->idle))
        return;
    uint64_t quiet = atomic_load(&c->quiet_ns);
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    memset(&ti, 0, sizeof ti);
    bool begun = true;
    if (getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
        len >= offsetof(struct tcp_info, tcpi_last_data_recv) + sizeof ti.tcpi_last_data_recv) {
        uint64_t ago = (uint64_t)ti.tcpi_last_data_recv * 1000000u;
        begun = ago >= now || now - ago > quiet;
    }
    if (begun) {
        atomic_store(&c->idle, false);
        return;
    }
    if (now - IDLE_MARGIN_NS > quiet) {
        atomic_store(&c->quiet_ns, now - IDLE_MARGIN_NS);
        atomic_store(&c->since_ns, now - 2 * IDLE_MARGIN_NS);
    }
}

/* Closes, once a second, every connection whose request has been arriving for longer
 * than REQUEST_TIMEOUT_S (shutdown() wakes its worker, which reads end-of-file and
 * closes it; the descriptor stays valid meanwhile, since MHD tells us a connection is
 * closed before closing its descriptor, and that waits for conns_mu). Refusals and
 * closings are logged as counts, one line per second at most, whatever the attack. */
void *tn_http_reaper_main(void *arg)
{
    struct tn_http_server *s = arg;
    pthread_mutex_lock(&s->stop_mu);
    while (!s->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&s->stop_cv, &s->stop_mu, &until);
        if (s->stopping)
            break;
        pthread_mutex_unlock(&s->stop_mu);
        uint64_t now = tn_time_mono_ns();
        unsigned long closed = 0;
        char first[TN_IP_TEXT_MAX] = "";
        pthread_mutex_lock(&s->conns_mu);
        for (struct conn *c = s->conns; c; c = c->next) {
            if (c->reaped || c->fd < 0)
                continue;
            follow_idle(c, now);
            if (!tn_http_past_deadline(s, c, now))
                continue;
            shutdown(c->fd, SHUT_RDWR);
            c->reaped = true;
            if (!closed++)
                tn_ip_format(&c->peer, first);
        }
        pthread_mutex_unlock(&s->conns_mu);
        unsigned long refused = atomic_exchange(&s->refused, 0);
        if (closed) {
            char n[24];
            snprintf(n, sizeof n, "%lu", closed);
            tn_log(TN_LOG_WARN,
                   "closed connections whose request did not arrive within "
                   "REQUEST_TIMEOUT_S",
                   "count", n, "first_peer", first, NULL);
        }
        if (refused) {
            char n[24];
            snprintf(n, sizeof n, "%lu", refused);
            tn_log(TN_LOG_WARN, "refused connections over MAX_CONNECTIONS_PER_IP", "count", n,
                   NULL);
        }
        pthread_mutex_lock(&s->stop_mu);
    }
    pthread_mutex_unlock(&s->stop_mu);
    return NULL;
}

/* The last MAX_FWD_LINES lines of the forwarding header, in a ring: a proxy that adds a
 * line of its own (HAProxy's option forwardfor) puts the hops we read at the end, and
 * whatever the client sent before them is not needed, however many lines it is. */
struct fwd_lines {
    const char *name;
    struct tn_span ring[MAX_FWD_LINES];
    size_t total;
};

static enum MHD_Result collect_fwd(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    struct fwd_lines *f = cls;
    if (strcasecmp(key, f->name) == 0)
        f->ring[f->total++ % MAX_FWD_LINES] =
            (struct tn_span){value ? value : "", value ? strlen(value) : 0};
    return MHD_YES;
}

/* The client behind the peer: the peer itself unless it is a trusted proxy. */
static void resolve_client(const struct tn_http_req *r, struct tn_ip *out)
{
    struct tn_http_server *s = r->srv;
    if (!r->c) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        tn_ip_from_sockaddr(ci ? ci->client_addr : NULL, out);
        return;
    }
    *out = r->c->peer;
    if (!r->c->trusted)
        return;
    struct fwd_lines f = {.name = s->fwd_header};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, collect_fwd, &f);
    struct tn_span lines[MAX_FWD_LINES];
    size_t n = f.total < MAX_FWD_LINES ? f.total : MAX_FWD_LINES;
    for (size_t i = 0; i < n; i++) /* oldest kept first */
        lines[i] = f.ring[(f.total - n + i) % MAX_FWD_LINES];
    enum tn_err rc = tn_proxy_client(&s->proxies,
                                     s->cfg.proxy_forwarded ? TN_FWD_FORWARDED : TN_FWD_XFF, lines,
                                     n, &r->c->peer, out);
    /* Every kept hop a proxy of ours, and lines left out: the client is in what was not
     * kept, too far to look (as past TN_FWD_MAX_HOPS). */
    if (rc == TN_OK && f.total > n && tn_proxies_match(&s->proxies, out))
        rc = TN_ERR_LIMIT;
    if (rc == TN_ERR_NOT_FOUND) /* the proxy says it does not know: the proxy it is */
        return;
    if (rc != TN_OK) {
        *out = r->c->peer;
        /* A proxy of ours sending garbage is misconfigured (or lets clients write where
         * it should): said once, not on every request. */
        if (atomic_fetch_add(&s->bad_forwarded, 1) == 0)
            tn_log(TN_LOG_WARN,
                   "a trusted proxy sent an unusable client address header; the "
                   "proxy's own address is used (logged once)",
                   "id", r->id, "header", s->fwd_header, "error", tn_err_message(rc), NULL);
    }
}

const char *tn_http_req_client_addr(const struct tn_http_req *r)
{
    if (!r->addr[0]) {
        struct tn_ip ip;
        resolve_client(r, &ip);
        char *a = (char *)r->addr; /* computed once, on first use */
        static const struct tn_ip none;
        if (memcmp(&ip, &none, sizeof ip) != 0)
            tn_ip_format(&ip, a);
    }
    return r->addr;
}

/* A forwarding header from a peer that may not name the client is ignored, rightly; but
 * when it comes from a reverse proxy the operator forgot in TRUSTED_PROXIES, every client
 * behind it shares one address for the throttles. Said once per process: any client can
 * send the header, so it must not fill the log. */
static atomic_bool fwd_ignored_said;

void tn_http_warn_ignored_forwarding(const struct tn_http_req *r)
{
    if (!r->c || r->c->trusted || atomic_load(&fwd_ignored_said))
        return;
    if (!MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Forwarded-For") &&
        !MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Forwarded"))
        return;
    if (atomic_exchange(&fwd_ignored_said, true))
        return;
    char peer[TN_IP_TEXT_MAX], msg[256];
    tn_ip_format(&r->c->peer, peer);
    snprintf(msg, sizeof msg,
             "a forwarding header from %s was ignored: if a reverse proxy is in front, set "
             "TRUSTED_PROXIES, or every client shares its address for throttling",
             peer[0] ? peer : "?");
    tn_log(TN_LOG_WARN, msg, "id", r->id, "logged", "once", NULL);
}
