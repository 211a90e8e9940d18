/* The team-notes application: its tools and resources, registered through the public
 * MCP registry API, over the store interface. It sees the caller only as the principal
 * of the request context, and every store call carries that caller as the owner. */
#ifndef TN_NOTES_H
#define TN_NOTES_H

#include "mcp/mcp.h"
#include "store/store.h"

/* The application: the store and server its handlers use (each handler receives it as
 * its `ud`), and its copies of the tool and resource tables. */
struct tn_notes;

/* An application over `store` (borrowed; it must outlive the application). NULL only
 * when out of memory. */
struct tn_notes *tn_notes_new(struct tn_store *store);
/* Registers every tool, the note:// resources and the listen requirement with `s`, the
 * application's scope hierarchy (notes:write implies notes:read, see
 * tn_principal_scope_implies), and subscribes to the store's change feed when it has
 * one. The server and the feed keep pointers to `app`, also after a failure: free it
 * only once the server is freed and the store closed. */
enum tn_err tn_notes_register(struct tn_notes *app, struct tn_mcp_server *s);
/* Frees the application; NULL is a no-op. */
void tn_notes_free(struct tn_notes *app);

#endif
