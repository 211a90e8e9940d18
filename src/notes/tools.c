/* The application's tools. For now `whoami`; the notes tools arrive with storage. */
#include <string.h>

#include "core/principal.h"
#include "notes/notes.h"

static const char whoami_output[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"userId\":{\"type\":\"string\"},\"issuer\":{\"type\":\"string\"},"
    "\"organizationId\":{\"type\":[\"string\",\"null\"]},"
    "\"scopes\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
    "\"roles\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
    "\"permissions\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
    "\"clientId\":{\"type\":\"string\"},\"expiresAt\":{\"type\":\"integer\"}},"
    "\"required\":[\"userId\",\"issuer\",\"organizationId\",\"scopes\",\"roles\",\"permissions\","
    "\"clientId\",\"expiresAt\"]}";

/* Who the server thinks the caller is: the curated identity from the verified token,
 * never the raw token or its other claims. */
static json_t *whoami(struct tn_mcp_ctx *ctx, json_t *args, void *ud)
{
    const struct tn_principal *p = tn_mcp_ctx_principal(ctx);
    if (!p)
        return tn_mcp_result_error("No signed-in user: this server runs without authentication "
                                   "(AUTH_MODE=none).");
    return tn_mcp_result_structured(tn_principal_json(p));
}

static const struct tn_mcp_tool tools[] = {
    {.name = "whoami",
     .title = "Who am I",
     .description = "Returns the signed-in user as this server sees them: user id (the token's "
                    "sub), organization, scopes, roles, permissions, client id and token expiry.",
     .output_schema = whoami_output,
     .annotations = {.read_only = 1, .destructive = -1, .idempotent = 1, .open_world = -1},
     .call = whoami},
};

enum tn_err tn_notes_register(struct tn_mcp_server *s, struct tn_store *store)
{
    (void)store;
    for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++) {
        enum tn_err rc = tn_mcp_tool_add(s, &tools[i]);
        if (rc != TN_OK)
            return rc;
    }
    return TN_OK;
}
