/* `serve`: wires configuration, the HTTP server and an MCP server together and runs
 * until SIGTERM or SIGINT. Shared by `teamnotes` and the conformance test server. */
#ifndef TN_CLI_SERVE_H
#define TN_CLI_SERVE_H

#include "core/config.h"
#include "mcp/mcp.h"

struct tn_store;
/* Called once the MCP server and the store exist, to register tools, resources and
 * prompts (the store outlives the MCP server). */
typedef enum tn_err (*tn_serve_setup_fn)(struct tn_mcp_server *mcp, struct tn_store *store,
                                         void *ud);

struct tn_serve_opts {
    const char *name; /* serverInfo.name */
    const char *title;
    const char *version;
    const char *instructions;
    tn_serve_setup_fn setup;
    void *ud;
};

/* The server secret as the server derives it (SECRET_KEY, else DATA_DIR/secret.key,
 * created when missing), for commands that seal with it (`teamnotes org sso set`). */
enum tn_err tn_serve_secret(const struct tn_config *cfg, uint8_t key[32], size_t *len);

/* Runs the server; returns the process exit status. */
int tn_serve(const struct tn_config *cfg, const struct tn_serve_opts *opts);

#endif
