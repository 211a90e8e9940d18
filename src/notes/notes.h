/* The team-notes application: its tools and resources, registered through the public
 * MCP registry API, over the store interface. It sees the caller only as the principal
 * of the request context, and every store call carries that caller as the owner. */
#ifndef TN_NOTES_H
#define TN_NOTES_H

#include "mcp/mcp.h"
#include "store/store.h"

/* Registers every tool and the note:// resources. `store` must outlive the server. */
enum tn_err tn_notes_register(struct tn_mcp_server *s, struct tn_store *store);

#endif
