/* Internal to src/store/: the migrations the backends apply, generated at build time from
 * src/store/migrations/<backend>/NNNN_name.sql by scripts/gen-migrations.py (meson.build),
 * so that the .sql files are the only copy of the schema.
 *
 * Element i has version i + 1: append a file, never edit a released one (a database
 * records which versions it has applied, not what they said). */
#ifndef TN_STORE_MIGRATIONS_H
#define TN_STORE_MIGRATIONS_H

#include <stddef.h>

struct tn_migration {
    int version;      /* the file's number: 1, 2, ... */
    const char *name; /* the file's name without .sql: "0001_auth" */
    const char *sql;  /* the file's bytes, NUL-terminated (a file never holds a NUL) */
    size_t len;       /* strlen(sql): the file's size */
};

/* src/store/migrations/sqlite/, in order. */
extern const struct tn_migration tn_store_sqlite_migrations[];
extern const int tn_store_sqlite_migrations_count;

/* src/store/migrations/postgres/, in order. */
extern const struct tn_migration tn_store_postgres_migrations[];
extern const int tn_store_postgres_migrations_count;

#endif
