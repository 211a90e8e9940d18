/* Fuzz target: the client address behind proxies (tn_proxy_client, over X-Forwarded-For
 * and Forwarded), the TRUSTED_PROXIES parser (tn_proxies_parse) and tn_ip_parse.
 *
 * Input: header lines separated by '\n' (each copied to its own heap block, so reading
 * past a line is caught), walked as both header kinds from a trusted and an untrusted
 * peer; the whole input is also parsed as a TRUSTED_PROXIES list and as one address.
 * Besides "no crash, no leak", the documented contract is checked:
 *  - an untrusted peer is the answer, TN_OK, whatever the header says;
 *  - on failure the answer is the peer, and the code is one of the documented three;
 *  - an answer that is not one of our proxies does not change when the client adds an
 *    element at the left, even an unparsable one ("what is left of the client is never
 *    read");
 *  - an accepted list has at most TN_PROXIES_MAX blocks, none with host bits, each
 *    containing its own network address; a refused one is empty, with a message;
 *  - an accepted address formats to text that parses back to the same bytes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/proxy.h"

#define CHECK(cond)                                                                           \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "fuzz_forwarded: check failed at line %d: %s\n", __LINE__, #cond); \
            abort();                                                                          \
        }                                                                                     \
    } while (0)

#define MAX_LINES 64

static struct tn_proxies trusted;

static struct tn_ip ip_of(const char *s)
{
    struct tn_ip ip;
    CHECK(tn_ip_parse(s, strlen(s), &ip) == TN_OK);
    return ip;
}

static void walk(enum tn_fwd_kind kind, struct tn_span *lines, size_t n)
{
    struct tn_ip out;
    struct tn_ip outsider = ip_of("203.0.113.250");
    CHECK(tn_proxy_client(&trusted, kind, lines, n, &outsider, &out) == TN_OK);
    CHECK(memcmp(&out, &outsider, sizeof out) == 0);

    struct tn_ip peers[2] = {ip_of("10.0.0.2"), ip_of("::1")};
    for (int k = 0; k < 2; k++) {
        struct tn_ip *peer = &peers[k];
        enum tn_err rc = tn_proxy_client(&trusted, kind, lines, n, peer, &out);
        CHECK(rc == TN_OK || rc == TN_ERR_BAD_INPUT || rc == TN_ERR_NOT_FOUND ||
              rc == TN_ERR_LIMIT);
        if (rc != TN_OK) {
            CHECK(memcmp(&out, peer, sizeof out) == 0);
            continue;
        }
        if (tn_proxies_match(&trusted, &out) || n == 0)
            continue;
        /* The client prepends an element of its choosing, even one that does not
         * parse: nothing changes. */
        static const char *const xff_spoof[] = {"198.51.100.66, ", "\"x;, "};
        static const char *const fwd_spoof[] = {"for=198.51.100.66, ", "for=\"x, "};
        for (int j = 0; j < 2; j++) {
            const char *sp = kind == TN_FWD_XFF ? xff_spoof[j] : fwd_spoof[j];
            size_t sl = strlen(sp);
            char *first = malloc(sl + lines[0].len + 1);
            CHECK(first);
            memcpy(first, sp, sl);
            memcpy(first + sl, lines[0].ptr, lines[0].len);
            struct tn_span saved = lines[0];
            lines[0] = (struct tn_span){first, sl + lines[0].len};
            struct tn_ip again;
            CHECK(tn_proxy_client(&trusted, kind, lines, n, peer, &again) == TN_OK);
            CHECK(memcmp(&again, &out, sizeof out) == 0);
            lines[0] = saved;
            free(first);
        }
    }
}

static void check_list(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1);
    CHECK(text);
    memcpy(text, data, size);
    struct tn_proxies p;
    struct tn_buf err;
    tn_buf_init(&err, 4096);
    enum tn_err rc = tn_proxies_parse(text, size, &p, &err);
    if (rc == TN_OK) {
        CHECK(p.n <= TN_PROXIES_MAX);
        for (unsigned i = 0; i < p.n; i++) {
            CHECK(p.v[i].bits <= 128);
            struct tn_proxies one = {.n = 1};
            one.v[0] = p.v[i];
            CHECK(tn_proxies_match(&one, &p.v[i].net));
            unsigned full = p.v[i].bits / 8, rest = p.v[i].bits % 8;
            for (unsigned b = full + (rest ? 1 : 0); b < 16; b++)
                CHECK(p.v[i].net.b[b] == 0);
            if (rest)
                CHECK((p.v[i].net.b[full] & (0xff >> rest)) == 0);
        }
    } else {
        CHECK(rc == TN_ERR_CONFIG);
        CHECK(p.n == 0);
        CHECK(err.data && strstr(err.data, "TRUSTED_PROXIES"));
    }
    tn_buf_deinit(&err);
    free(text);
}

static void check_ip(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1);
    CHECK(text);
    memcpy(text, data, size);
    struct tn_ip ip;
    if (tn_ip_parse(text, size, &ip) == TN_OK) {
        char out[TN_IP_TEXT_MAX];
        tn_ip_format(&ip, out);
        struct tn_ip back;
        CHECK(tn_ip_parse(out, strlen(out), &back) == TN_OK);
        CHECK(memcmp(&ip, &back, sizeof ip) == 0);
    } else {
        static const struct tn_ip zero;
        CHECK(memcmp(&ip, &zero, sizeof ip) == 0);
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    if (!trusted.n) {
        static const char list[] = "10.0.0.0/8, 192.168.0.0/16 ::1 fd00::/8";
        struct tn_buf err;
        tn_buf_init(&err, 1024);
        CHECK(tn_proxies_parse(list, sizeof list - 1, &trusted, &err) == TN_OK);
        tn_buf_deinit(&err);
    }
    struct tn_span lines[MAX_LINES];
    char *copies[MAX_LINES];
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= size && n < MAX_LINES; i++) {
        if (i == size || data[i] == '\n') {
            size_t len = i - start;
            copies[n] = malloc(len ? len : 1);
            CHECK(copies[n]);
            memcpy(copies[n], data + start, len);
            lines[n] = (struct tn_span){copies[n], len};
            n++;
            start = i + 1;
        }
    }
    walk(TN_FWD_XFF, lines, n);
    walk(TN_FWD_FORWARDED, lines, n);
    for (size_t i = 0; i < n; i++)
        free(copies[i]);
    check_list(data, size);
    check_ip(data, size);
    return 0;
}
