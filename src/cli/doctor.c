/* teamnotes doctor (cli/doctor.h).
 *
 * Reading order: the report (one line per check), a small HTTP client (the outside
 * checks need methods, request bodies and response headers that tn_fetch does not
 * give), the outside checks (challenge → PRM → AS metadata → registration → JWKS →
 * clock), the local checks (configuration, storage, secret, signing keys, external
 * issuer, mail, isolation self-test), then main.
 *
 * Nothing here changes live data: the store is only probed (store/probe.h) and read
 * when it is already at this binary's schema, the isolation self-test runs in a scratch
 * SQLite store that is deleted afterwards, and the one thing left on a remote server is
 * a trial client registration when the server offers no RFC 7592 deletion (said so;
 * --no-register skips it). */
#include "cli/doctor.h"
#include "cli/doctor_internal.h"

#include <curl/curl.h>
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/as/keys.h"
#include "auth/issuer.h"
#include "auth/rs/jose.h"
#include "core/config.h"
#include "core/fetch.h"
#include "core/log.h"
#include "core/principal.h"
#include "core/util.h"
#include "mcp/mcp.h"
#include "notes/notes.h"
#include "store/probe.h"
#include "store/store.h"

static const char usage[] =
    "Usage:\n"
    "  teamnotes doctor [--local] [--no-register] [--plain|--json] [serve options ...]\n"
    "      checks this configuration (read as `serve` reads it), then the running\n"
    "      deployment it describes (BASE_URL + MCP_PATH); --local: the configuration only\n"
    "  teamnotes doctor --url https://notes.example.com/mcp [--no-register] [--plain|--json]\n"
    "      the outside checks only, against any MCP server\n"
    "Options:\n"
    "  --no-register   skip the trial client registration (DCR)\n"
    "  --leeway S      clock difference tolerated, seconds (default AUTH_LEEWAY_S, 30)\n"
    "  --plain         ASCII lines (ok/WARN/FAIL/skip), also when stdout is not a terminal\n"
    "  --json          one JSON document: {\"checks\":[{id,status,message,fix}],...}\n"
    "Exit status: 0 no check failed, 1 a check failed, 2 usage error.\n";

/* ---------- the report ---------- */

static const char *const st_name[] = {"ok", "warn", "fail", "skip"};
static const char *const st_plain[] = {"ok  ", "WARN", "FAIL", "skip"};
static const char *const st_glyph[] = {"\xe2\x9c\x94", "\xe2\x9a\xa0", "\xe2\x9c\x96",
                                       "\xe2\x80\x93"};

/* One check's line: `id` a stable name for scripts, `fix` NULL for ok and skip. */
void tn_doc_say(struct doctor *d, enum st s, const char *id, const char *fix, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    d->counts[s]++;
    if (d->json) {
        json_t *o = json_pack("{s:s, s:s, s:s}", "id", id, "status", st_name[s], "message", msg);
        if (o && fix)
            json_object_set_new(o, "fix", json_string(fix));
        json_array_append_new(d->checks, o);
        return;
    }
    if (d->plain)
        printf("%s %s%s%s\n", st_plain[s], msg, fix ? " -- fix: " : "", fix ? fix : "");
    else
        printf("%s %s%s%s\n", st_glyph[s], msg, fix ? " \xe2\x80\x94 fix: " : "", fix ? fix : "");
    fflush(stdout);
}

static void run_local(struct doctor *d, const struct tn_config *cfg, bool live)
{
    const char *base = tn_config_str(cfg, TN_CFG_BASE_URL);
    char resource[1200];
    snprintf(resource, sizeof resource, "%s%s", base, tn_config_str(cfg, TN_CFG_MCP_PATH));
    struct url bu;
    tn_doc_url_parse(base, &bu);
    if (bu.https)
        tn_doc_say(d, ST_OK, "base_url", NULL, "BASE_URL %s uses https", base);
    else
        tn_doc_say(d, ST_OK, "base_url", NULL,
                   "BASE_URL %s is plain http on loopback (development only)", base);

    const char *mode = tn_config_str(cfg, TN_CFG_AUTH_MODE);
    bool builtin = !strcmp(mode, "builtin");
    struct tn_issuer_urls u;
    memset(&u, 0, sizeof u);
    const char *expect_issuer = NULL;
    if (!strcmp(mode, "none")) {
        tn_doc_say(
            d, ST_WARN, "auth",
            "unset AUTH_MODE (builtin) or set AUTH_ISSUER before anyone else can reach it",
            "AUTH_MODE=none: the MCP endpoint runs without authentication (loopback development only)");
    } else {
        struct tn_issuer_settings in = {
            .mode = mode,
            .base_url = base,
            .resource = resource,
            .auth_issuer = tn_config_str(cfg, TN_CFG_AUTH_ISSUER),
            .scalekit_env = tn_config_str(cfg, TN_CFG_SCALEKIT_ENVIRONMENT_URL),
            .scalekit_resource_id = tn_config_str(cfg, TN_CFG_SCALEKIT_RESOURCE_ID),
            .jwks_uri = tn_config_str(cfg, TN_CFG_AUTH_JWKS_URI),
            .audience = tn_config_str(cfg, TN_CFG_AUTH_AUDIENCE),
        };
        enum tn_err e = tn_issuer_urls(&in, &u);
        if (e != TN_OK) {
            tn_doc_say(d, ST_FAIL, "auth", "check AUTH_ISSUER and the SCALEKIT_* settings",
                       "the issuer settings give no usable URL (%s)", tn_err_message(e));
        } else {
            expect_issuer = u.issuers[0];
            bool aud_ok = false;
            for (size_t i = 0; i < u.n_audiences; i++)
                aud_ok |= !strcmp(u.audiences[i], resource);
            if (builtin)
                tn_doc_say(d, ST_OK, "auth", NULL,
                           "built-in authorization server: issuer %s, audience and PRM resource %s",
                           u.issuers[0], resource);
            else if (aud_ok || tn_config_str(cfg, TN_CFG_SCALEKIT_RESOURCE_ID)[0])
                tn_doc_say(d, ST_OK, "auth", NULL,
                           "external issuer %s%s%s%s; tokens must carry aud %s; PRM resource %s",
                           u.issuers[0], u.n_issuers > 1 ? " (also " : "",
                           u.n_issuers > 1 ? u.issuers[1] : "", u.n_issuers > 1 ? ")" : "",
                           u.audiences[0], resource);
            else
                tn_doc_say(
                    d, ST_WARN, "auth",
                    "make sure the provider puts AUTH_AUDIENCE in aud for tokens requested for the PRM resource (or leave AUTH_AUDIENCE unset)",
                    "AUTH_AUDIENCE %s differs from the PRM resource %s that clients ask tokens for",
                    u.audiences[0], resource);
        }
    }
    tn_doc_check_storage(d, cfg, builtin);
    tn_doc_check_secret(d, cfg);
    if (!builtin && strcmp(mode, "none") && u.n_issuers)
        tn_doc_check_issuer(d, cfg, &u);
    tn_doc_check_mail(d, cfg);
    if (builtin)
        tn_doc_check_oidc_providers(d, cfg);
    tn_doc_check_isolation(d);
    if (live)
        tn_doc_run_outside(d, resource, strcmp(mode, "none") ? expect_issuer : NULL);
    else
        tn_doc_say(d, ST_SKIP, "live", NULL, "the running deployment not checked (--local)");
}

/* ---------- main ---------- */

int tn_doctor_main(int argc, char **argv)
{
    struct doctor d = {.do_register = true, .leeway_s = -1};
    const char *url = NULL;
    bool local = false;
    char *rest[256];
    int n = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "--url") && i + 1 < argc) {
            url = argv[++i];
        } else if (!strncmp(a, "--url=", 6)) {
            url = a + 6;
        } else if (!strcmp(a, "--leeway") && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 0 || v > 3600) {
                fprintf(stderr, "teamnotes: --leeway takes 0..3600 seconds\n");
                return 2;
            }
            d.leeway_s = v;
        } else if (!strcmp(a, "--local")) {
            local = true;
        } else if (!strcmp(a, "--no-register")) {
            d.do_register = false;
        } else if (!strcmp(a, "--plain")) {
            d.plain = true;
        } else if (!strcmp(a, "--json")) {
            d.json = true;
        } else if (n < 255) {
            rest[n++] = argv[i];
        }
    }
    if (url && (n || local)) {
        fprintf(stderr,
                "teamnotes: doctor --url checks a deployment from outside; it takes no serve "
                "options and no --local\n%s",
                usage);
        return 2;
    }
    if (!isatty(STDOUT_FILENO))
        d.plain = true;
    if (d.json && !(d.checks = json_array()))
        return 1;
    /* the checks' own lines are the output; the store's and fetch's log lines would
     * only repeat them */
    tn_log_setup(TN_LOG_ERROR, false);
    if (tn_fetch_global_init() != TN_OK) {
        fprintf(stderr, "teamnotes: cannot initialise libcurl\n");
        json_decref(d.checks);
        return 1;
    }
    if (url) {
        if (d.leeway_s < 0)
            d.leeway_s = 30;
        tn_doc_run_outside(&d, url, NULL);
    } else {
        struct tn_config cfg;
        struct tn_buf err;
        tn_buf_init(&err, 4096);
        if (tn_config_load(&cfg, n, rest, ".env", &err) != TN_OK) {
            tn_doc_say(
                &d, ST_FAIL, "config",
                "correct the setting (teamnotes --help lists them); serve refuses to start with it",
                "configuration: %s", err.data ? err.data : "invalid");
        } else {
            if (d.leeway_s < 0)
                d.leeway_s = tn_config_int(&cfg, TN_CFG_AUTH_LEEWAY_S);
            tn_doc_say(&d, ST_OK, "config", NULL, "configuration loads as serve reads it");
            run_local(&d, &cfg, !local);
            tn_config_deinit(&cfg);
        }
        tn_buf_deinit(&err);
    }
    int rc = d.counts[ST_FAIL] ? 1 : 0;
    if (d.json) {
        json_t *o = json_pack("{s:o, s:i, s:i, s:i, s:i}", "checks", d.checks, "ok",
                              (int)d.counts[ST_OK], "warnings", (int)d.counts[ST_WARN], "failed",
                              (int)d.counts[ST_FAIL], "skipped", (int)d.counts[ST_SKIP]);
        char *s = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
        if (s)
            puts(s);
        free(s);
        json_decref(o);
    } else {
        printf("%u ok, %u warnings, %u failed, %u skipped\n", d.counts[ST_OK], d.counts[ST_WARN],
               d.counts[ST_FAIL], d.counts[ST_SKIP]);
    }
    return rc;
}
