/* A read-only look at a store, for `teamnotes doctor`: where it is, whether it exists,
 * the schema version it records against this binary's, and whether it can be written.
 * Unlike tn_store_open it never creates, migrates or writes anything: a doctor run with
 * a newer binary must not upgrade a database an older server still uses. */
#ifndef TN_STORE_PROBE_H
#define TN_STORE_PROBE_H

#include <stdbool.h>

#include "core/buf.h"
#include "core/err.h"

struct tn_store_probe {
    char backend[16]; /* "sqlite" or "postgres" */
    char where[600];  /* the SQLite file, or PostgreSQL's host/database (never a password) */
    bool exists;      /* SQLite: the file exists; PostgreSQL: connected */
    int version;      /* highest recorded migration, 0 when none */
    int latest;       /* the highest migration this binary knows */
    bool writable;    /* SQLite: file and directory writable (or creatable);
                         PostgreSQL: not a standby, and INSERT allowed on the notes */
};

/* Fills `out` (reset first) for the store tn_store_open would open with the same
 * arguments. TN_OK when the store was looked at (a missing SQLite file is TN_OK with
 * exists false); TN_ERR_CONFIG for a DATABASE_URL of another scheme or no data
 * directory; TN_ERR_IO when the database cannot be opened or read (`err` says why,
 * never echoing the URL, which may carry a password). */
enum tn_err tn_store_probe(const char *data_dir, const char *database_url,
                           struct tn_store_probe *out, struct tn_buf *err);

#endif
