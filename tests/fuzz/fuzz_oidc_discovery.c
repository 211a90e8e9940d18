/* Fuzz target: the upstream OpenID Connect discovery document check
 * (src/auth/upstream/discovery.c), fed what a provider, or anyone who can answer for it,
 * sends back: tn_oidc_discovery_parse and the URL rule tn_oidc_url_ok.
 *
 * Input: the first line is the configured issuer (cut at 300 bytes), the rest the
 * document; the last byte's low bit sets allow_loopback ("}" does, "}\n" does not).
 * Besides "no crash, no leak", the contract is checked:
 *  - TN_OK only with every field set, the issuer equal to the configured one (or, with
 *    tenant_template, holding "{tenantid}" exactly once), and every endpoint passing
 *    tn_oidc_url_ok under the same loopback rule; never for a document over the limit;
 *  - a failure leaves every field NULL and a reason other than TN_OIDC_OK, within the
 *    table, with TN_ERR_BAD_INPUT, TN_ERR_CONFIG (issuer not a URL) or TN_ERR_NOMEM;
 *  - tn_oidc_url_ok accepts only https:// (or http:// when allowed) without '@' before
 *    the path, '#', '\\', spaces or control characters. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/upstream/oidc.h"

#define CHECK(cond)                                                                               \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "fuzz_oidc_discovery: check failed at line %d: %s\n", __LINE__, #cond); \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

static void check_url(const char *u, bool loopback)
{
    if (!tn_oidc_url_ok(u, loopback))
        return;
    bool https = strncmp(u, "https://", 8) == 0;
    CHECK(https || (loopback && strncmp(u, "http://", 7) == 0));
    const char *a = u + (https ? 8 : 7);
    size_t al = strcspn(a, "/?");
    CHECK(al > 0 && !memchr(a, '@', al));
    for (const char *p = u; *p; p++)
        CHECK((unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f && *p != '#' && *p != '\\');
    CHECK(strlen(u) <= TN_OIDC_URL_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *nl = memchr(data, '\n', size < 300 ? size : 300);
    size_t il = nl ? (size_t)(nl - (const char *)data) : (size < 300 ? size : 300);
    char iss[301];
    memcpy(iss, data, il);
    iss[il] = '\0';
    const char *doc = (const char *)data + il + (nl ? 1 : 0);
    size_t dl = size - il - (nl ? 1 : 0);
    bool loopback = size > 0 && (data[size - 1] & 1);

    check_url(iss, loopback);

    struct tn_oidc_discovery d;
    enum tn_oidc_reason why = TN_OIDC__COUNT;
    enum tn_err rc = tn_oidc_discovery_parse(iss, doc, dl, loopback, &d, &why);
    CHECK((unsigned)why < TN_OIDC__COUNT);
    if (rc == TN_OK) {
        CHECK(why == TN_OIDC_OK);
        CHECK(dl <= TN_OIDC_DISCOVERY_MAX_BYTES);
        CHECK(d.issuer && d.authorization_endpoint && d.token_endpoint && d.jwks_uri);
        if (d.tenant_template) {
            const char *t = strstr(d.issuer, TN_OIDC_TENANT_TEMPLATE);
            CHECK(t && !strstr(t + 1, TN_OIDC_TENANT_TEMPLATE));
            CHECK(strcmp(d.issuer, iss) != 0);
        } else {
            CHECK(strcmp(d.issuer, iss) == 0);
        }
        CHECK(tn_oidc_url_ok(d.authorization_endpoint, loopback));
        CHECK(tn_oidc_url_ok(d.token_endpoint, loopback));
        CHECK(tn_oidc_url_ok(d.jwks_uri, loopback));
        check_url(d.authorization_endpoint, loopback);
    } else {
        CHECK(why != TN_OIDC_OK);
        CHECK(rc == TN_ERR_BAD_INPUT || rc == TN_ERR_CONFIG || rc == TN_ERR_NOMEM);
        CHECK(!d.issuer && !d.authorization_endpoint && !d.token_endpoint && !d.jwks_uri);
    }
    tn_oidc_discovery_deinit(&d);

    /* the document itself as one URL (cut at a NUL) */
    if (dl < 4096) {
        char *u = malloc(dl + 1);
        if (u) {
            memcpy(u, doc, dl);
            u[dl] = '\0';
            check_url(u, loopback);
            free(u);
        }
    }
    return 0;
}
