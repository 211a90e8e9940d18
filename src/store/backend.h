/* Internal to src/store/: the table of operations a backend implements, and the common
 * head of every store handle.
 *
 * store.c owns the public API. It checks arguments (NULL pointers, strings that overrun
 * their fixed-size fields, empty ids), lower-cases emails, resets output parameters and
 * then forwards to the backend through `ops`. A backend may therefore assume its
 * arguments are well formed; it owns transactions, SQL and the mapping of database
 * errors to enum tn_err:
 *   unique or primary key violation   -> TN_ERR_CONFLICT
 *   reference to an unknown row       -> TN_ERR_NOT_FOUND
 *   CHECK / NOT NULL violation        -> TN_ERR_BAD_INPUT
 *   lock not obtained in time         -> TN_ERR_BUSY
 *   anything else                     -> TN_ERR_IO (logged with the database's message)
 *
 * Adding a backend: write `tn_store_<name>_open` filling a struct that starts with
 * struct tn_store, declare it below, and dispatch to it from tn_store_open. */
#ifndef TN_STORE_BACKEND_H
#define TN_STORE_BACKEND_H

#include "store/store.h"

struct tn_store_ops {
    const char *name; /* "sqlite", "postgres" */
    /* Frees everything; every connection must have been returned (no call in flight). */
    void (*close)(struct tn_store *s);
    /* Cross-instance change feed of notes; NULL when the backend has none (SQLite). */
    enum tn_err (*watch_notes)(struct tn_store *s, void (*fn)(const char *owner, void *ud),
                               void *ud);

    enum tn_err (*org_insert)(struct tn_store *s, const struct tn_org *o);
    enum tn_err (*org_get)(struct tn_store *s, const char *id, struct tn_org *out);
    enum tn_err (*org_by_name)(struct tn_store *s, const char *name, struct tn_org *out);
    enum tn_err (*org_list)(struct tn_store *s, tn_store_org_cb cb, void *ud);

    enum tn_err (*user_insert)(struct tn_store *s, const struct tn_user *u);
    enum tn_err (*user_get)(struct tn_store *s, const char *id, struct tn_user *out);
    /* `email` is already lower-case. */
    enum tn_err (*user_by_email)(struct tn_store *s, const char *email, struct tn_user *out);
    enum tn_err (*user_update)(struct tn_store *s, const struct tn_user *u, unsigned fields);
    /* TN_ERR_NOT_FOUND when no row has that id and hash */
    enum tn_err (*user_swap_password)(struct tn_store *s, const char *id, const char *was,
                                      const char *hash);
    enum tn_err (*user_count)(struct tn_store *s, int64_t *n);
    enum tn_err (*user_list)(struct tn_store *s, tn_store_user_cb cb, void *ud);

    enum tn_err (*client_insert)(struct tn_store *s, const struct tn_client *c);
    enum tn_err (*client_get)(struct tn_store *s, const char *id, struct tn_client *out);
    enum tn_err (*client_touch)(struct tn_store *s, const char *id, int64_t now);
    enum tn_err (*client_delete)(struct tn_store *s, const char *id);
    enum tn_err (*client_list)(struct tn_store *s, tn_store_client_cb cb, void *ud);
    enum tn_err (*client_delete_unused)(struct tn_store *s, int64_t created_before, int64_t *n);

    enum tn_err (*identity_get)(struct tn_store *s, const char *issuer, const char *subject,
                                struct tn_identity *out);
    enum tn_err (*identity_link)(struct tn_store *s, const struct tn_identity *id);
    enum tn_err (*identity_touch)(struct tn_store *s, const char *issuer, const char *subject,
                                  int64_t now);
    enum tn_err (*identity_list)(struct tn_store *s, const char *user_id, tn_store_identity_cb cb,
                                 void *ud);
    enum tn_err (*identity_delete_user)(struct tn_store *s, const char *user_id, int64_t *n);

    /* invitations (invitation.c); `email` is already lower-case, outputs zeroed on entry */
    enum tn_err (*invitation_insert)(struct tn_store *s, const struct tn_invitation *inv);
    enum tn_err (*invitation_get)(struct tn_store *s, const uint8_t hash[32],
                                  struct tn_invitation *out);
    enum tn_err (*invitation_take)(struct tn_store *s, const uint8_t hash[32], int64_t now,
                                   struct tn_user *user, struct tn_invitation *out);
    enum tn_err (*invitation_pending)(struct tn_store *s, const char *email, int64_t now,
                                      struct tn_invitation *out);
    enum tn_err (*invitation_list)(struct tn_store *s, int64_t now, tn_store_invitation_cb cb,
                                   void *ud);
    enum tn_err (*invitation_revoke)(struct tn_store *s, const char *email, int64_t *n);
    enum tn_err (*org_domain_add)(struct tn_store *s, const struct tn_org_domain *d);
    enum tn_err (*org_domain_get)(struct tn_store *s, const char *domain,
                                  struct tn_org_domain *out);
    enum tn_err (*org_domain_remove)(struct tn_store *s, const char *org_id, const char *domain);
    enum tn_err (*org_domain_list)(struct tn_store *s, const char *org_id,
                                   tn_store_org_domain_cb cb, void *ud);
    enum tn_err (*org_sso_put)(struct tn_store *s, const struct tn_org_sso *c);
    enum tn_err (*org_sso_get)(struct tn_store *s, const char *org_id, struct tn_org_sso *out);
    enum tn_err (*org_sso_delete)(struct tn_store *s, const char *org_id);
    enum tn_err (*org_sso_count)(struct tn_store *s, int64_t *n);

    enum tn_err (*consent_get)(struct tn_store *s, const char *user_id, const char *client_id,
                               char scope[256]);
    enum tn_err (*consent_put)(struct tn_store *s, const char *user_id, const char *client_id,
                               const char *scope, int64_t now);
    enum tn_err (*consent_revoke)(struct tn_store *s, const char *user_id, const char *client_id);

    /* grants (store/grants.c checks the arguments; limit is 1..500 / 1..1000) */
    enum tn_err (*grant_list)(struct tn_store *s, const char *user_id, int64_t now, unsigned limit,
                              tn_store_grant_cb cb, void *ud);
    enum tn_err (*grant_revoke)(struct tn_store *s, const char *user_id, const char *client_id,
                                int64_t revoked_at);
    /* TN_ERR_NOT_FOUND: never revoked */
    enum tn_err (*grant_revoked_at)(struct tn_store *s, const char *user_id, const char *client_id,
                                    int64_t *at);
    enum tn_err (*grant_revocations)(struct tn_store *s, const char *user_id, int64_t since,
                                     unsigned limit, tn_store_grant_revocation_cb cb, void *ud);
    enum tn_err (*user_sign_out)(struct tn_store *s, const char *user_id, int64_t valid_after);

    enum tn_err (*code_insert)(struct tn_store *s, const struct tn_code *c);
    enum tn_err (*code_take)(struct tn_store *s, const uint8_t hash[32], struct tn_code *out);

    enum tn_err (*email_code_insert)(struct tn_store *s, const struct tn_email_code *c);
    enum tn_err (*email_code_get)(struct tn_store *s, const char *id, struct tn_email_code *out);
    /* `out` is never NULL and zeroed on entry. */
    enum tn_err (*email_code_use)(struct tn_store *s, const char *id, const uint8_t browser[32],
                                  const uint8_t hash[32], bool link, int64_t now,
                                  struct tn_email_code *out);
    enum tn_err (*email_code_cleanup)(struct tn_store *s, int64_t now, int64_t *n);

    enum tn_err (*refresh_insert)(struct tn_store *s, const struct tn_refresh *r);
    /* `old_out` is never NULL here (store.c passes a scratch struct when the caller's is). */
    enum tn_err (*refresh_rotate)(struct tn_store *s, const uint8_t old_hash[32],
                                  const struct tn_refresh *next, int64_t now,
                                  struct tn_refresh *old_out);
    enum tn_err (*refresh_get)(struct tn_store *s, const uint8_t hash[32], struct tn_refresh *out);
    enum tn_err (*refresh_spend_grace)(struct tn_store *s, const uint8_t hash[32], int64_t now,
                                       int64_t grace_s);
    enum tn_err (*family_revoke)(struct tn_store *s, const char *family);
    enum tn_err (*user_revoke_all)(struct tn_store *s, const char *user_id);

    enum tn_err (*key_insert)(struct tn_store *s, const struct tn_signing_key *k);
    enum tn_err (*key_list)(struct tn_store *s, tn_store_key_cb cb, void *ud);
    enum tn_err (*key_delete)(struct tn_store *s, const char *kid);
    /* No row changed: TN_ERR_NOT_FOUND. */
    enum tn_err (*key_replace)(struct tn_store *s, const char *kid, const char *expected,
                               const char *pem);

    /* Notes. store.c has checked the owner and every field (UTF-8, sizes, the tags'
     * JSON, visibility against the owner's org), assigned id, owner, org, version and
     * timestamps on insert, and normalised pages: the first page arrives as
     * after_updated = INT64_MAX with after_id "". A backend must scope every statement
     * to the owner: (user, org) for the owner's own notes, org plus visibility 'org'
     * for shared ones. `out` is never NULL; it is zeroed on entry. */
    enum tn_err (*note_insert)(struct tn_store *s, const struct tn_owner *o,
                               const struct tn_note *n);
    enum tn_err (*note_get)(struct tn_store *s, const struct tn_owner *o, const char *id,
                            struct tn_note *out);
    enum tn_err (*note_update)(struct tn_store *s, const struct tn_owner *o, const char *id,
                               int64_t expected_version, const char *title, const char *content,
                               const char *tags, const char *visibility, int64_t now,
                               struct tn_note *out);
    /* expected_version 0: any version. */
    enum tn_err (*note_delete)(struct tn_store *s, const struct tn_owner *o, const char *id,
                               int64_t expected_version);
    enum tn_err (*note_list)(struct tn_store *s, const struct tn_owner *o,
                             const struct tn_note_page *p, tn_store_note_cb cb, void *ud);
    /* Only called when o->org is not empty. */
    enum tn_err (*note_list_team)(struct tn_store *s, const struct tn_owner *o,
                                  const struct tn_note_page *p, tn_store_note_cb cb, void *ud);
    /* `query` is valid UTF-8 with at least one word for which tn_store_word_searchable()
     * holds and at most TN_STORE_QUERY_MAX_WORDS words; the backend turns its words
     * into plain terms, so no query syntax reaches the engine. */
    enum tn_err (*note_search)(struct tn_store *s, const struct tn_owner *o, const char *query,
                               unsigned limit, tn_store_note_cb cb, void *ud);

    /* Inserts the n notes (each complete, with its owner and org in n->owner, n->org)
     * in one transaction, skipping each whose id is already taken; *added counts the
     * others. */
    enum tn_err (*note_import)(struct tn_store *s, const struct tn_note *v, size_t n,
                               size_t *added);

    /* Writes n ≥ 1 records in one transaction: all or none. With `sync` false the commit
     * need not reach the disk before returning (it does with the next synced commit of
     * the database: SQLite's synchronous=NORMAL in WAL mode, PostgreSQL's
     * synchronous_commit=off); the records are visible to readers either way. */
    enum tn_err (*audit_insert)(struct tn_store *s, const struct tn_audit *a, size_t n, bool sync);
    /* Makes every audit batch committed without `sync` durable; NULL when the database
     * does that on its own within a moment (PostgreSQL's WAL writer). */
    enum tn_err (*audit_sync)(struct tn_store *s);
    enum tn_err (*audit_list)(struct tn_store *s, unsigned limit, tn_store_audit_cb cb, void *ud);

    /* The admin console (#19; in each backend's auth and notes files). q->text is lower-case
     * ASCII or NULL; f's empty strings are NULL and its open bounds 0 and INT64_MAX. */
    enum tn_err (*user_signed_in)(struct tn_store *s, const char *id, int64_t now);
    enum tn_err (*user_search)(struct tn_store *s, const struct tn_user_query *q,
                               tn_store_user_cb cb, void *ud, int64_t *total);
    enum tn_err (*client_grants)(struct tn_store *s, const char *client_id, int64_t now,
                                 tn_store_client_grant_cb cb, void *ud);
    enum tn_err (*client_usage)(struct tn_store *s, int64_t now, tn_store_usage_cb cb, void *ud);
    enum tn_err (*key_schedule)(struct tn_store *s, const char *kid, int64_t signs_from,
                                int64_t retire_at);
    enum tn_err (*audit_query)(struct tn_store *s, const struct tn_audit_filter *f,
                               tn_store_audit_cb cb, void *ud);
};

/* Limits of a search query, the same for every backend. */
enum {
    TN_STORE_QUERY_MAX_BYTES = 1024,
    TN_STORE_QUERY_MAX_WORDS = 32,
};

/* Words of a search query are separated by ASCII whitespace. */
static inline bool tn_store_query_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* A word is searched for only when it has an ASCII letter or digit or a non-ASCII
 * character: a word of ASCII punctuation alone ("*", "--", "(") has no token a
 * full-text index could match, and as an empty phrase it would make every search fail. */
static inline bool tn_store_word_searchable(const char *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)w[i];
        if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c >= 0x80)
            return true;
    }
    return false;
}

/* The head of every backend's handle; a backend's struct starts with it. */
struct tn_audit_queue;

struct tn_store {
    const struct tn_store_ops *ops;
    int schema_version;           /* set by the backend's open once migrations are applied */
    struct tn_audit_queue *audit; /* set by tn_store_open; NULL: records written one by one */
};

/* SQLite at `data_dir`/teamnotes.db (src/store/sqlite.c). On failure `err` (may be NULL)
 * says what to fix and *out stays NULL. */
enum tn_err tn_store_sqlite_open(const char *data_dir, struct tn_store **out, struct tn_buf *err);

/* Why row `c` could not be consumed by a request from `browser` at `now` (store.c): the
 * error tn_store_email_code_use documents, TN_ERR_FORBIDDEN when only the hash differed. */
enum tn_err tn_store_email_code_why(const struct tn_email_code *c, const uint8_t browser[32],
                                    int64_t now);

#endif
