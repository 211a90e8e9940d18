/* The team-notes application: its tools and resources, registered through the public
 * MCP registry API. It sees the caller only as the principal of the request context. */
#ifndef TN_NOTES_H
#define TN_NOTES_H

#include "mcp/mcp.h"
#include "store/store.h"

/* Registers every tool of the application. `store` must outlive the server. */
enum tn_err tn_notes_register(struct tn_mcp_server *s, struct tn_store *store);

#endif
