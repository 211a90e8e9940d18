/* The store: everything teamnotes keeps, behind one interface with a backend per
 * database (SQLite by default; PostgreSQL when DATABASE_URL says so). SQL lives only
 * under src/store/. Every function is safe to call from any thread; each call is one
 * transaction. Output structs are filled only on TN_OK.
 *
 * Secrets never reach the store in clear: authorization codes and refresh tokens are
 * stored as SHA-256 hashes, client secrets as hashes, passwords as argon2id strings. */
#ifndef TN_STORE_H
#define TN_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

struct tn_store;

/* Opens the store: PostgreSQL when `database_url` starts with postgres:// or
 * postgresql://, otherwise SQLite at `data_dir`/teamnotes.db. Applies pending migrations
 * (numbered, one set per backend). On failure `err` says what to fix. */
enum tn_err tn_store_open(const char *data_dir, const char *database_url, struct tn_store **out,
                          struct tn_buf *err);
void tn_store_close(struct tn_store *s);
/* Name of the backend ("sqlite" or "postgres") and the schema version reached. */
const char *tn_store_backend(const struct tn_store *s);
int tn_store_schema_version(const struct tn_store *s);

/* ---------- organizations ---------- */

struct tn_org {
    char id[48];
    char name[128];
    int64_t created_at;
};
/* TN_ERR_CONFLICT when the name is taken. */
enum tn_err tn_store_org_insert(struct tn_store *s, const struct tn_org *o);
enum tn_err tn_store_org_get(struct tn_store *s, const char *id, struct tn_org *out);
enum tn_err tn_store_org_by_name(struct tn_store *s, const char *name, struct tn_org *out);
typedef void (*tn_store_org_cb)(const struct tn_org *o, void *ud);
enum tn_err tn_store_org_list(struct tn_store *s, tn_store_org_cb cb, void *ud);

/* ---------- users ---------- */

struct tn_user {
    char id[48];
    char email[256];        /* unique, stored lower-case */
    char name[128];
    char org_id[48];        /* "" when none */
    char role[16];          /* viewer | editor | admin */
    char password_hash[160]; /* argon2id encoded string; "" when no password is set */
    bool disabled;
    int64_t created_at;
    int64_t tokens_valid_after; /* tokens issued before this instant are revoked */
};
/* TN_ERR_CONFLICT when the email is taken. */
enum tn_err tn_store_user_insert(struct tn_store *s, const struct tn_user *u);
enum tn_err tn_store_user_get(struct tn_store *s, const char *id, struct tn_user *out);
enum tn_err tn_store_user_by_email(struct tn_store *s, const char *email, struct tn_user *out);
/* Replaces name, org, role, password hash, disabled and tokens_valid_after of user u->id. */
enum tn_err tn_store_user_update(struct tn_store *s, const struct tn_user *u);
enum tn_err tn_store_user_count(struct tn_store *s, int64_t *n);
typedef void (*tn_store_user_cb)(const struct tn_user *u, void *ud);
enum tn_err tn_store_user_list(struct tn_store *s, tn_store_user_cb cb, void *ud);

/* ---------- OAuth clients (registered through DCR or by an admin) ---------- */

struct tn_client {
    char id[96];
    char name[128];
    char redirect_uris[4096];  /* JSON array of strings */
    char secret_hash[65];      /* hex SHA-256 of the secret; "" for public clients */
    char auth_method[24];      /* none | client_secret_basic | client_secret_post */
    char grant_types[96];      /* space-separated */
    char scope[256];           /* requested at registration (a hint) */
    char application_type[8];  /* native | web */
    char metadata[8192];       /* the registered metadata as echoed (JSON object) */
    int64_t created_at;
    int64_t last_used_at;      /* 0 when never used */
};
enum tn_err tn_store_client_insert(struct tn_store *s, const struct tn_client *c);
enum tn_err tn_store_client_get(struct tn_store *s, const char *id, struct tn_client *out);
enum tn_err tn_store_client_touch(struct tn_store *s, const char *id, int64_t now);
/* Deletes the client with its consents, codes and refresh tokens. */
enum tn_err tn_store_client_delete(struct tn_store *s, const char *id);
typedef void (*tn_store_client_cb)(const struct tn_client *c, void *ud);
enum tn_err tn_store_client_list(struct tn_store *s, tn_store_client_cb cb, void *ud);
/* Deletes clients created before `created_before` that were never used; *n = count. */
enum tn_err tn_store_client_delete_unused(struct tn_store *s, int64_t created_before, int64_t *n);

/* ---------- consent, remembered per (user, client) ---------- */

enum tn_err tn_store_consent_get(struct tn_store *s, const char *user_id, const char *client_id,
                                 char scope[256]);
enum tn_err tn_store_consent_put(struct tn_store *s, const char *user_id, const char *client_id,
                                 const char *scope, int64_t now);
/* client_id NULL: every consent of the user. */
enum tn_err tn_store_consent_revoke(struct tn_store *s, const char *user_id, const char *client_id);

/* ---------- authorization codes (hashed, single use) ---------- */

struct tn_code {
    uint8_t hash[32];
    char client_id[96];
    char user_id[48];
    char redirect_uri[1024];
    char scope[256];
    char resource[512];
    char challenge[64];   /* PKCE S256 code_challenge */
    char family[48];      /* the grant: every token issued from this code shares it */
    int64_t expires_at;
};
enum tn_err tn_store_code_insert(struct tn_store *s, const struct tn_code *c);
/* Consumes the code atomically. TN_OK: it was unused and is now used (*out filled).
 * TN_ERR_CONFLICT: it had been used before (*out filled, so the caller can revoke the
 * family). TN_ERR_NOT_FOUND: unknown. Expiry is the caller's check. */
enum tn_err tn_store_code_take(struct tn_store *s, const uint8_t hash[32], struct tn_code *out);

/* ---------- refresh tokens (hashed, rotated, grouped in families) ---------- */

struct tn_refresh {
    uint8_t hash[32];
    char family[48];
    char client_id[96];
    char user_id[48];
    char scope[256];
    char resource[512];
    int64_t issued_at;
    int64_t expires_at;
    int64_t rotated_at; /* 0 while it is the family's current token */
    bool revoked;       /* the family was revoked */
};
enum tn_err tn_store_refresh_insert(struct tn_store *s, const struct tn_refresh *r);
/* Looks up `old_hash` and, in the same transaction, when it is current (not rotated,
 * not revoked, not expired at `now`), marks it rotated and inserts `next`. Returns
 * TN_OK when rotated; TN_ERR_CONFLICT when it was not current (*old_out tells why:
 * rotated_at, revoked, expires_at); TN_ERR_NOT_FOUND when unknown. */
enum tn_err tn_store_refresh_rotate(struct tn_store *s, const uint8_t old_hash[32],
                                    const struct tn_refresh *next, int64_t now,
                                    struct tn_refresh *old_out);
enum tn_err tn_store_refresh_get(struct tn_store *s, const uint8_t hash[32], struct tn_refresh *out);
/* Revokes every refresh token of a family / of a user (all clients) / of a client. */
enum tn_err tn_store_family_revoke(struct tn_store *s, const char *family);
enum tn_err tn_store_user_revoke_all(struct tn_store *s, const char *user_id);

/* ---------- signing keys of the built-in authorization server ---------- */

struct tn_signing_key {
    char kid[48];
    char alg[8];
    char pem[2048];      /* PKCS#8 private key */
    int64_t created_at;
    int64_t signs_from;  /* published from created_at, signs from here */
    int64_t retire_at;   /* stops signing; stays published until retire_at + token TTL */
};
enum tn_err tn_store_key_insert(struct tn_store *s, const struct tn_signing_key *k);
typedef void (*tn_store_key_cb)(const struct tn_signing_key *k, void *ud);
/* Keys in creation order. */
enum tn_err tn_store_key_list(struct tn_store *s, tn_store_key_cb cb, void *ud);
enum tn_err tn_store_key_delete(struct tn_store *s, const char *kid);

#endif
