/* Delivery (mail/mail.h): SMTP with libcurl, or the outbox directory. */
#include "mail/mail.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <sodium.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

/* The sender of outbox mail when SMTP_FROM is not set: .invalid (RFC 2606) can never be
 * a real domain, so nobody's address is borrowed. */
#define OUTBOX_FROM "teamnotes@localhost.invalid"

struct tn_mailer {
    enum tn_mail_kind kind;
    char *url;     /* SMTP_URL as configured */
    bool tls_none; /* SMTP_TLS=none: plaintext to a loopback relay */
    char *user, *pass, *ca_file;
    char *from, *from_name;
    char *outbox; /* DATA_DIR/outbox */
    char *data_dir;
    long timeout_ms;
    char describe[640];
};

/* ---- SMTP_URL ---- */

struct smtp_url {
    bool smtps;
    const char *host; /* brackets of an IPv6 literal included */
    size_t host_len;
};

static bool dns_chars(const char *p, size_t n)
{
    if (n == 0 || p[0] == '.' || p[n - 1] == '.' || memmem(p, n, "..", 2))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.'))
            return false;
    }
    return true;
}

/* smtp[s]://HOST[:PORT][/EHLO-NAME]: a DNS name, IPv4 or [IPv6] host; no userinfo (the
 * credentials have their own, secret, settings), no query or fragment. */
static enum tn_err parse_url(const char *u, struct smtp_url *o, struct tn_buf *err)
{
    memset(o, 0, sizeof o[0]);
    const char *rest;
    if (strlen(u) > 400) {
        tn_buf_puts(err, "SMTP_URL is longer than 400 characters");
        return TN_ERR_CONFIG;
    }
    if (strncasecmp(u, "smtps://", 8) == 0) {
        o->smtps = true;
        rest = u + 8;
    } else if (strncasecmp(u, "smtp://", 7) == 0) {
        rest = u + 7;
    } else {
        tn_buf_printf(
            err, "SMTP_URL must start with smtp:// (STARTTLS) or smtps:// (implicit TLS): '%s'", u);
        return TN_ERR_CONFIG;
    }
    size_t al = strcspn(rest, "/?#");
    if (memchr(rest, '@', al)) {
        tn_buf_puts(err, "SMTP_URL must not carry credentials: set SMTP_USERNAME and SMTP_PASSWORD "
                         "(the password is kept secret there)");
        return TN_ERR_CONFIG;
    }
    const char *port = NULL;
    if (rest[0] == '[') {
        const char *close = memchr(rest, ']', al);
        char v6[64];
        size_t vl = close ? (size_t)(close - rest - 1) : 0;
        struct in6_addr a;
        if (!close || vl == 0 || vl >= sizeof v6 ||
            (memcpy(v6, rest + 1, vl), v6[vl] = '\0', inet_pton(AF_INET6, v6, &a) != 1)) {
            tn_buf_printf(err, "SMTP_URL has a malformed IPv6 host: '%s'", u);
            return TN_ERR_CONFIG;
        }
        o->host = rest;
        o->host_len = vl + 2;
        if (rest + o->host_len < rest + al) {
            if (rest[o->host_len] != ':') {
                tn_buf_printf(err, "SMTP_URL has a malformed host: '%s'", u);
                return TN_ERR_CONFIG;
            }
            port = rest + o->host_len + 1;
        }
    } else {
        const char *colon = memchr(rest, ':', al);
        o->host = rest;
        o->host_len = colon ? (size_t)(colon - rest) : al;
        if (!dns_chars(o->host, o->host_len)) {
            tn_buf_printf(err, "SMTP_URL needs a host name or address: '%s'", u);
            return TN_ERR_CONFIG;
        }
        port = colon ? colon + 1 : NULL;
    }
    if (port) {
        size_t pl = (size_t)(rest + al - port);
        long v = 0;
        for (size_t i = 0; i < pl && v <= 65535; i++)
            v = port[i] >= '0' && port[i] <= '9' ? v * 10 + (port[i] - '0') : 100000;
        if (pl == 0 || pl > 5 || v < 1 || v > 65535) {
            tn_buf_printf(err, "SMTP_URL has a bad port (1 to 65535): '%s'", u);
            return TN_ERR_CONFIG;
        }
    }
    const char *tail = rest + al;
    if (*tail == '/' && tail[1] && !dns_chars(tail + 1, strlen(tail + 1))) {
        tn_buf_printf(err,
                      "SMTP_URL's path is the name we greet with (EHLO) and must be a host "
                      "name: '%s'",
                      u);
        return TN_ERR_CONFIG;
    }
    if (*tail == '?' || *tail == '#') {
        tn_buf_printf(err, "SMTP_URL must have no query or fragment: '%s'", u);
        return TN_ERR_CONFIG;
    }
    return TN_OK;
}

/* SMTP_TLS resolved against the scheme: "starttls", "implicit" or "none". */
static enum tn_err tls_mode(const struct tn_config *c, const struct smtp_url *u, const char **mode,
                            struct tn_buf *err)
{
    const char *t = tn_config_str(c, TN_CFG_SMTP_TLS);
    if (!t[0])
        t = u->smtps ? "implicit" : "starttls";
    *mode = t;
    if (u->smtps ? strcmp(t, "implicit") != 0 : (strcmp(t, "starttls") && strcmp(t, "none"))) {
        tn_buf_printf(err,
                      "SMTP_TLS=%s does not fit SMTP_URL: smtp:// takes starttls (the default) "
                      "or none, smtps:// takes implicit",
                      t);
        return TN_ERR_CONFIG;
    }
    if (!strcmp(t, "none") && !tn_host_is_loopback(u->host, u->host_len)) {
        tn_buf_puts(err,
                    "SMTP_TLS=none sends mail (sign-in codes, and SMTP passwords) unencrypted: "
                    "it is allowed only to a relay on a loopback SMTP_URL host (127.0.0.1, ::1, "
                    "localhost)");
        return TN_ERR_CONFIG;
    }
    return TN_OK;
}

enum tn_err tn_mail_config_check(const struct tn_config *c, struct tn_buf *err)
{
    const char *url = tn_config_str(c, TN_CFG_SMTP_URL);
    const char *from = tn_config_str(c, TN_CFG_SMTP_FROM);
    const char *name = tn_config_str(c, TN_CFG_SMTP_FROM_NAME);
    const char *user = tn_config_str(c, TN_CFG_SMTP_USERNAME);
    const char *pass = tn_config_str(c, TN_CFG_SMTP_PASSWORD);
    const char *ca = tn_config_str(c, TN_CFG_SMTP_CA_FILE);
    if (url[0]) {
        struct smtp_url u;
        const char *mode;
        if (parse_url(url, &u, err) != TN_OK || tls_mode(c, &u, &mode, err) != TN_OK)
            return TN_ERR_CONFIG;
        if (!from[0]) {
            tn_buf_puts(err, "SMTP_URL is set but SMTP_FROM is not: give the sender address mail "
                             "goes out as (e.g. notes@example.com)");
            return TN_ERR_CONFIG;
        }
    }
    if (from[0] && tn_mail_addr_check(from, strlen(from)) != TN_OK) {
        tn_buf_printf(err,
                      "SMTP_FROM must be one plain address such as notes@example.com (no "
                      "name, brackets or spaces; the name goes in SMTP_FROM_NAME): '%s'",
                      from);
        return TN_ERR_CONFIG;
    }
    if (tn_mail_text_check(name, strlen(name), TN_MAIL_NAME_MAX) != TN_OK) {
        tn_buf_printf(err,
                      "SMTP_FROM_NAME must be UTF-8 text of at most %d bytes without control "
                      "characters",
                      TN_MAIL_NAME_MAX);
        return TN_ERR_CONFIG;
    }
    for (const char *p = user; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            tn_buf_puts(err, "SMTP_USERNAME must not contain control characters");
            return TN_ERR_CONFIG;
        }
    }
    if (pass[0] && !user[0]) {
        tn_buf_puts(err, "SMTP_PASSWORD is set but SMTP_USERNAME is not");
        return TN_ERR_CONFIG;
    }
    if (ca[0]) {
        int fd = open(ca, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            tn_buf_printf(err, "SMTP_CA_FILE '%s' cannot be read: %s", ca, strerror(errno));
            return TN_ERR_CONFIG;
        }
        close(fd);
    }
    return TN_OK;
}

/* ---- the mailer ---- */

static char *dup_or_null(const char *s)
{
    if (!s || !s[0])
        return NULL;
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

enum tn_err tn_mailer_new(const struct tn_config *c, struct tn_mailer **out, struct tn_buf *err)
{
    *out = NULL;
    if (tn_mail_config_check(c, err) != TN_OK)
        return TN_ERR_CONFIG;
    struct tn_mailer *m = calloc(1, sizeof *m);
    if (!m)
        abort();
    const char *url = tn_config_str(c, TN_CFG_SMTP_URL);
    const char *from = tn_config_str(c, TN_CFG_SMTP_FROM);
    m->from = strdup(from[0] ? from : OUTBOX_FROM);
    m->from_name = strdup(tn_config_str(c, TN_CFG_SMTP_FROM_NAME));
    m->timeout_ms = (long)tn_config_int(c, TN_CFG_SMTP_TIMEOUT_MS);
    if (!m->from || !m->from_name)
        abort();
    if (url[0]) {
        struct smtp_url u;
        const char *mode = "";
        parse_url(url, &u, err);
        tls_mode(c, &u, &mode, err);
        m->kind = TN_MAIL_SMTP;
        m->url = dup_or_null(url);
        m->tls_none = !strcmp(mode, "none");
        m->user = dup_or_null(tn_config_str(c, TN_CFG_SMTP_USERNAME));
        m->pass = dup_or_null(tn_config_str(c, TN_CFG_SMTP_PASSWORD));
        m->ca_file = dup_or_null(tn_config_str(c, TN_CFG_SMTP_CA_FILE));
        snprintf(m->describe, sizeof m->describe, "%s (%s%s)", url,
                 !strcmp(mode, "none")       ? "no TLS, loopback"
                 : !strcmp(mode, "implicit") ? "implicit TLS"
                                             : "STARTTLS required",
                 m->user ? ", AUTH" : "");
    } else if (tn_config_str(c, TN_CFG_DATABASE_URL)[0] &&
               !strcmp(c->source[TN_CFG_DATA_DIR], "default")) {
        /* Instances sharing PostgreSQL are usually many and their disks throwaway: a code
         * written to one instance's ./data/outbox is a code nobody finds. The operator
         * opts in by naming DATA_DIR. */
        m->kind = TN_MAIL_NONE;
        snprintf(
            m->describe, sizeof m->describe,
            "nowhere (DATABASE_URL without SMTP_URL: set SMTP_URL, or DATA_DIR for an outbox)");
    } else {
        const char *dir = tn_config_str(c, TN_CFG_DATA_DIR);
        size_t n = strlen(dir) + sizeof "/outbox";
        m->kind = TN_MAIL_OUTBOX;
        m->data_dir = strdup(dir);
        m->outbox = malloc(n);
        if (!m->data_dir || !m->outbox)
            abort();
        snprintf(m->outbox, n, "%s/outbox", dir);
        snprintf(m->describe, sizeof m->describe, "the outbox %s/ (no SMTP_URL)", m->outbox);
    }
    *out = m;
    return TN_OK;
}

void tn_mailer_free(struct tn_mailer *m)
{
    if (!m)
        return;
    free(m->url);
    free(m->user);
    if (m->pass) {
        sodium_memzero(m->pass, strlen(m->pass));
        free(m->pass);
    }
    free(m->ca_file);
    free(m->from);
    free(m->from_name);
    free(m->outbox);
    free(m->data_dir);
    free(m);
}

enum tn_mail_kind tn_mailer_kind(const struct tn_mailer *m) { return m->kind; }

const char *tn_mailer_describe(const struct tn_mailer *m) { return m->describe; }

/* ---- SMTP ---- */

struct upload {
    const char *p;
    size_t left;
};

static size_t on_read(char *buf, size_t size, size_t nitems, void *ud)
{
    struct upload *u = ud;
    size_t n = size * nitems;
    if (n > u->left)
        n = u->left;
    memcpy(buf, u->p, n);
    u->p += n;
    u->left -= n;
    return n;
}

/* With SMTP_TLS=none the connection must stay on this machine, whatever the name in
 * SMTP_URL resolves to. */
static curl_socket_t open_loopback(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    const struct sockaddr *sa = &a->addr;
    bool ok = (sa->sa_family == AF_INET &&
               (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127) ||
              (sa->sa_family == AF_INET6 &&
               IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr));
    return ok ? socket(a->family, a->socktype, a->protocol) : CURL_SOCKET_BAD;
}

static enum tn_err smtp_send(struct tn_mailer *m, struct tn_span to, const struct tn_buf *msg,
                             struct tn_buf *err)
{
    enum tn_err rc = TN_ERR_IO;
    char errbuf[CURL_ERROR_SIZE] = "";
    char from[TN_MAIL_ADDR_MAX + 3], rcpt[TN_MAIL_ADDR_MAX + 3];
    snprintf(from, sizeof from, "<%s>", m->from);
    snprintf(rcpt, sizeof rcpt, "<%.*s>", (int)to.len, to.ptr);
    struct curl_slist *rcpts = NULL;
    CURL *h = curl_easy_init();
    if (!h || !(rcpts = curl_slist_append(NULL, rcpt))) {
        rc = TN_ERR_NOMEM;
        goto done;
    }
    struct upload up = {msg->data, msg->len};
    curl_easy_setopt(h, CURLOPT_URL, m->url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(h, CURLOPT_USE_SSL,
                     m->tls_none ? (long)CURLUSESSL_NONE : (long)CURLUSESSL_ALL);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (m->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, m->ca_file);
    if (m->user) {
        curl_easy_setopt(h, CURLOPT_USERNAME, m->user);
        curl_easy_setopt(h, CURLOPT_PASSWORD, m->pass ? m->pass : "");
    }
    if (m->tls_none)
        curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_loopback);
    curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpts);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(h, CURLOPT_READDATA, &up);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, m->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, m->timeout_ms);
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode cc = curl_easy_perform(h);
    if (cc == CURLE_OK) {
        rc = TN_OK;
        goto done;
    }
    long reply = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply);
    /* curl's messages name the step ("STARTTLS not supported.", "Login denied",
     * "RCPT failed: 550"); they never hold the password or the message */
    tn_buf_printf(err, "%s%s%s", curl_easy_strerror(cc), errbuf[0] ? ": " : "", errbuf);
    if (reply)
        tn_buf_printf(err, " (last SMTP reply %ld)", reply);
    rc = cc == CURLE_LOGIN_DENIED ? TN_ERR_FORBIDDEN : TN_ERR_IO;
done:
    curl_slist_free_all(rcpts);
    if (h)
        curl_easy_cleanup(h);
    return rc;
}

/* ---- outbox ---- */

static enum tn_err write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return TN_ERR_IO;
        p += w;
        n -= (size_t)w;
    }
    return TN_OK;
}

/* DATA_DIR/outbox/<UTC time>-<random>.eml, 0600, complete or absent: written under a
 * temporary name, flushed, then renamed into place. */
static enum tn_err outbox_write(struct tn_mailer *m, int64_t now_ms, const struct tn_buf *msg,
                                char *path, size_t path_cap, struct tn_buf *err)
{
    enum tn_err rc = TN_ERR_IO;
    int fd = -1;
    char name[64], id[24], tmp[4200];
    tmp[0] = '\0';
    if ((mkdir(m->data_dir, 0700) != 0 && errno != EEXIST) ||
        (mkdir(m->outbox, 0700) != 0 && errno != EEXIST)) {
        tn_buf_printf(err, "cannot create %s: %s", m->outbox, strerror(errno));
        goto done;
    }
    uint8_t r[9];
    tn_random(r, sizeof r);
    tn_b64url_encode(id, sizeof id, r, sizeof r);
    time_t t = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t nl = strftime(name, sizeof name, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(name + nl, sizeof name - nl, "-%s.eml", id);
    if ((size_t)snprintf(path, path_cap, "%s/%s", m->outbox, name) >= path_cap ||
        (size_t)snprintf(tmp, sizeof tmp, "%s/.%s.tmp", m->outbox, name) >= sizeof tmp) {
        tn_buf_puts(err, "DATA_DIR is too long a path");
        tmp[0] = '\0';
        goto done;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 || write_all(fd, msg->data, msg->len) != TN_OK || fsync(fd) != 0) {
        tn_buf_printf(err, "cannot write %s: %s", tmp, strerror(errno));
        goto done;
    }
    if (close(fd) != 0) {
        fd = -1;
        tn_buf_printf(err, "cannot write %s: %s", tmp, strerror(errno));
        goto done;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        tn_buf_printf(err, "cannot rename %s into place: %s", tmp, strerror(errno));
        goto done;
    }
    tmp[0] = '\0';
    /* the directory entry too, so a crash right after cannot lose a sign-in code */
    int dfd = open(m->outbox, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    rc = TN_OK;
done:
    if (fd >= 0)
        close(fd);
    if (tmp[0])
        unlink(tmp);
    return rc;
}

/* ---- sending ---- */

/* A printable copy of a span for the log (which escapes control characters itself). */
static void log_copy(char *dst, size_t cap, struct tn_span s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    memcpy(dst, s.ptr ? s.ptr : "", n);
    dst[n] = '\0';
}

enum tn_err tn_mailer_send(struct tn_mailer *m, struct tn_span to, struct tn_span subject,
                           struct tn_span text, struct tn_span html, struct tn_buf *where,
                           struct tn_buf *err)
{
    enum tn_err rc;
    struct tn_buf msg, detail;
    tn_buf_init(&msg, TN_MAIL_MSG_MAX);
    tn_buf_init(&detail, 1024);
    char to_s[TN_MAIL_ADDR_MAX + 1], subj_s[TN_MAIL_SUBJECT_MAX + 1], path[4200] = "";
    log_copy(to_s, sizeof to_s, to);
    log_copy(subj_s, sizeof subj_s, subject);
    if (m->kind == TN_MAIL_NONE) {
        rc = TN_ERR_CONFIG;
        tn_buf_printf(&detail, "no mail delivery: %s", m->describe);
        goto done;
    }
    struct tn_mail_msg mm = {
        .from_name = tn_mail_span(m->from_name),
        .from = tn_mail_span(m->from),
        .to = to,
        .subject = subject,
        .text = text,
        .html = html,
    };
    int64_t now = tn_time_now_ms();
    if ((rc = tn_mail_build(&mm, now, &msg)) != TN_OK) {
        tn_buf_puts(&detail, rc == TN_ERR_LIMIT
                                 ? "a part of the message is too large"
                                 : "the address, subject or sender name was refused");
        goto done;
    }
    if (m->kind == TN_MAIL_SMTP) {
        rc = smtp_send(m, to, &msg, &detail);
        if (rc == TN_OK && where)
            tn_buf_puts(where, m->url);
    } else {
        rc = outbox_write(m, now, &msg, path, sizeof path, &detail);
        if (rc == TN_OK && where)
            tn_buf_puts(where, path);
    }
done:
    if (rc == TN_OK && m->kind == TN_MAIL_SMTP)
        tn_log(TN_LOG_INFO, "mail sent", "to", to_s, "subject", subj_s, "via", m->url, NULL);
    else if (rc == TN_OK)
        tn_log(TN_LOG_INFO, "mail written to the outbox (no SMTP_URL configured)", "to", to_s,
               "subject", subj_s, "path", path, NULL);
    else
        tn_log(TN_LOG_WARN, "mail not delivered", "to", to_s, "subject", subj_s, "error",
               detail.data ? detail.data : tn_err_message(rc), NULL);
    if (rc != TN_OK && err && detail.data)
        tn_buf_puts(err, detail.data);
    /* the message holds sign-in codes and links */
    if (msg.data)
        sodium_memzero(msg.data, msg.len);
    tn_buf_deinit(&msg);
    tn_buf_deinit(&detail);
    return rc;
}
