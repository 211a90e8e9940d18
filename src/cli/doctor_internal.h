/* Private to teamnotes doctor (cli/doctor.c, doctor_remote.c, doctor_local.c): the report
 * every check writes a line to, and the steps each file gives the others. */
#ifndef TN_CLI_DOCTOR_INTERNAL_H
#define TN_CLI_DOCTOR_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "auth/issuer.h"
#include "core/config.h"

#define DOC_MAX_BODY (1u << 20)
#define DOC_TIMEOUT_MS 10000u
#define PRM_WELL_KNOWN "/.well-known/oauth-protected-resource"

enum st { ST_OK, ST_WARN, ST_FAIL, ST_SKIP };

struct doctor {
    bool plain, json, do_register;
    int64_t leeway_s;
    unsigned counts[4];
    json_t *checks;
};

/* One check's line: `id` a stable name for scripts, `fix` NULL for ok and skip. */
__attribute__((format(printf, 5, 6))) void tn_doc_say(struct doctor *d, enum st s, const char *id,
                                                      const char *fix, const char *fmt, ...);

struct url {
    bool https;
    char origin[520]; /* scheme://authority */
    char host[300];   /* without port or brackets' content checks */
    char path[1024];  /* "" when none; no query */
};

bool tn_doc_url_parse(const char *u, struct url *out);

/* doctor_remote.c: the outside checks against a running MCP server */
void tn_doc_run_outside(struct doctor *d, const char *mcp_url, const char *expect_issuer);

/* doctor_local.c: the checks of this configuration and its storage */
void tn_doc_check_secret(struct doctor *d, const struct tn_config *cfg);
void tn_doc_check_storage(struct doctor *d, const struct tn_config *cfg, bool builtin);
void tn_doc_check_issuer(struct doctor *d, const struct tn_config *cfg,
                         const struct tn_issuer_urls *u);
void tn_doc_check_mail(struct doctor *d, const struct tn_config *cfg);
void tn_doc_check_oidc_providers(struct doctor *d, const struct tn_config *cfg);
void tn_doc_check_isolation(struct doctor *d);

#endif
