/* Fuzz target: the client metadata document cache (src/auth/as/cimd.c) on client_id
 * URLs anyone can send: tn_cimd_host and a script of cache operations.
 *
 * Input: lines; the first byte of each is an operation, the rest a URL (cut at a NUL):
 *   g look up   r reserve   d end with a document   f end with a failure
 *   h end with a host fault   x end, forgetting   t the clock moves on 31 s
 * A small cache (8 entries, 3 fetches in flight, 2 per host) so that the limits and
 * the eviction are reached. Besides "no crash, no leak", the contract is checked:
 *  - tn_cimd_host: TN_OK with a non-empty lower-case host without '/', '?', '#', '@'
 *    that fits, else TN_ERR_BAD_INPUT with an empty output;
 *  - a lookup answers TN_OK, BAD_INPUT, BUSY or NOT_FOUND, with a reason unless TN_OK
 *    or NOT_FOUND; a hit copies the document stored for that very URL;
 *  - a reservation makes the next lookup of that URL BUSY; a document ended at time t
 *    is a hit at t, a failure is BAD_INPUT with its reason;
 *  - reservations in flight never exceed the global limit nor, per host, the host's. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/as/cimd.h"

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "fuzz_cimd: check failed at line %d: %s\n", __LINE__, #cond); \
            abort();                                                                     \
        }                                                                                \
    } while (0)

#define MAX_RES 16

static const struct tn_cimd_limits lim = {
    .entries = 8, .fetches = 3, .host_fetches = 2, .host_faults = 2, .host_failures = 3, .fail_ttl_s = 60,
};

/* The same operations on a cache that serves stale documents and limits fetches per
 * address ('a' for g/r, 'b' for G/R): a document served is always the URL's own, and
 * no address has more than one fetch reserved. */
static const struct tn_cimd_limits lim_stale = {
    .entries = 8, .fetches = 3, .host_fetches = 2, .host_faults = 2, .host_failures = 3, .fail_ttl_s = 60,
    .addr_fetches = 1, .stale_s = 600,
};

struct res {
    char url[600], host[300];
    char who;
};

static void check_host(const char *url)
{
    char h[64];
    memset(h, 'x', sizeof h);
    enum tn_err rc = tn_cimd_host(url, h, sizeof h);
    CHECK(rc == TN_OK || rc == TN_ERR_BAD_INPUT);
    size_t n = strnlen(h, sizeof h);
    CHECK(n < sizeof h);
    if (rc != TN_OK) {
        CHECK(n == 0);
        return;
    }
    CHECK(n > 0 && h[n - 1] != '.');
    for (size_t i = 0; i < n; i++)
        CHECK(!isupper((unsigned char)h[i]) && !strchr("/?#@", h[i]));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tn_cimd_cache *c = tn_cimd_cache_new(&lim), *st = tn_cimd_cache_new(&lim_stale);
    CHECK(c && st);
    struct res *sres = calloc(MAX_RES, sizeof *sres);
    CHECK(sres);
    size_t n_sres = 0;
    struct res *res = calloc(MAX_RES, sizeof *res);
    CHECK(res);
    size_t n_res = 0;
    int64_t now = 1000;
    struct tn_client out, doc;
    const char *why;
    for (size_t at = 0; at < size;) {
        const uint8_t *nl = memchr(data + at, '\n', size - at);
        size_t len = nl ? (size_t)(nl - (data + at)) : size - at;
        char line[600];
        size_t ul = len > 0 ? len - 1 : 0;
        if (ul >= sizeof line)
            ul = sizeof line - 1;
        char op = len ? (char)data[at] : 't';
        memcpy(line, data + at + (len ? 1 : 0), ul);
        line[ul] = '\0'; /* cut at a NUL, as a C string would be */
        at += len + 1;
        check_host(line);
        char host[300];
        bool has_host = tn_cimd_host(line, host, sizeof host) == TN_OK;
        size_t mine = n_res;
        for (size_t i = 0; i < n_res; i++)
            if (!strcmp(res[i].url, line))
                mine = i;
        size_t smine = n_sres;
        for (size_t i = 0; i < n_sres; i++)
            if (!strcmp(sres[i].url, line))
                smine = i;
        if (op == 'g' || op == 'r' || op == 'G' || op == 'R') {
            char who = op == 'g' || op == 'r' ? 'a' : 'b';
            const char whos[2] = {who, '\0'};
            memset(&out, 0, sizeof out);
            enum tn_err rc = tn_cimd_cache_get_for(st, line, whos, now, op == 'r' || op == 'R', &out, &why);
            CHECK(rc == TN_OK || rc == TN_ERR_BAD_INPUT || rc == TN_ERR_BUSY || rc == TN_ERR_NOT_FOUND);
            if (rc == TN_OK)
                CHECK(!strcmp(out.id, line));
            if ((op == 'r' || op == 'R') && rc == TN_ERR_NOT_FOUND) {
                CHECK(smine == n_sres && n_sres < MAX_RES);
                for (size_t i = 0; i < n_sres; i++)
                    CHECK(sres[i].who != who);
                snprintf(sres[n_sres].url, sizeof sres[n_sres].url, "%s", line);
                sres[n_sres].who = who;
                n_sres++;
            }
        } else if (op == 'd' || op == 'f' || op == 'h' || op == 'x') {
            memset(&doc, 0, sizeof doc);
            snprintf(doc.id, sizeof doc.id, "%s", line);
            tn_cimd_cache_end(st, line, now, op == 'd' ? &doc : NULL, 300, op == 'f' || op == 'h' ? "failed" : NULL,
                              op == 'h');
            memset(&out, 0, sizeof out);
            if (tn_cimd_cache_stale(st, line, now, &out) == TN_OK) /* a reserved fetch answered: not stale */
                CHECK(!strcmp(out.id, line) && !(op == 'f' && smine < n_sres));
            if (smine < n_sres)
                sres[smine] = sres[--n_sres];
        }
        if (op == 'G' || op == 'R')
            continue;
        switch (op) {
        case 'g':
        case 'r': {
            enum tn_err rc = tn_cimd_cache_get(c, line, now, op == 'r', &out, &why);
            CHECK(rc == TN_OK || rc == TN_ERR_BAD_INPUT || rc == TN_ERR_BUSY || rc == TN_ERR_NOT_FOUND);
            CHECK(rc == TN_OK || rc == TN_ERR_NOT_FOUND || why);
            if (rc == TN_OK)
                CHECK(!strcmp(out.id, line));
            if (mine < n_res)
                CHECK(rc == TN_ERR_BUSY); /* in flight */
            if (!has_host || strlen(line) >= 512)
                CHECK(rc == TN_ERR_BAD_INPUT);
            if (op == 'r' && rc == TN_ERR_NOT_FOUND) {
                CHECK(mine == n_res && n_res < MAX_RES);
                snprintf(res[n_res].url, sizeof res[n_res].url, "%s", line);
                snprintf(res[n_res].host, sizeof res[n_res].host, "%s", host);
                n_res++;
                CHECK(tn_cimd_cache_get(c, line, now, false, &out, &why) == TN_ERR_BUSY);
                size_t same = 0;
                for (size_t i = 0; i < n_res; i++)
                    same += !strcmp(res[i].host, host);
                CHECK(n_res <= lim.fetches && same <= lim.host_fetches);
            }
            break;
        }
        case 'd':
        case 'f':
        case 'h':
        case 'x':
            memset(&doc, 0, sizeof doc);
            snprintf(doc.id, sizeof doc.id, "%s", line);
            tn_cimd_cache_end(c, line, now, op == 'd' ? &doc : NULL, 300, op == 'f' || op == 'h' ? "failed" : NULL,
                              op == 'h');
            if (mine < n_res) {
                enum tn_err rc = tn_cimd_cache_get(c, line, now, false, &out, &why);
                if (op == 'd')
                    CHECK(rc == TN_OK && !strcmp(out.id, line));
                else if (op != 'x')
                    CHECK(rc == TN_ERR_BAD_INPUT && !strcmp(why, "failed"));
                res[mine] = res[--n_res];
            }
            break;
        default:
            now += 31;
            break;
        }
    }
    /* what is still reserved is freed with the cache */
    tn_cimd_cache_free(c);
    tn_cimd_cache_free(st);
    free(res);
    free(sres);
    return 0;
}
