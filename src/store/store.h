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
    char email[256]; /* unique, stored lower-case */
    char name[128];
    char org_id[48];         /* "" when none */
    char role[16];           /* viewer | editor | admin */
    char password_hash[160]; /* argon2id encoded string; "" when no password is set */
    bool disabled;
    int64_t created_at;
    int64_t tokens_valid_after; /* tokens issued before this instant are revoked */
    int64_t last_signin_at;     /* last sign-in at the issuer (seconds); 0 never. Read only:
                                   insert and update leave it, tn_store_user_signed_in sets it */
};
/* TN_ERR_CONFLICT when the email is taken. */
enum tn_err tn_store_user_insert(struct tn_store *s, const struct tn_user *u);
enum tn_err tn_store_user_get(struct tn_store *s, const char *id, struct tn_user *out);
enum tn_err tn_store_user_by_email(struct tn_store *s, const char *email, struct tn_user *out);
/* The fields of a user that tn_store_user_update_fields writes. */
enum tn_user_field {
    TN_USER_NAME = 1u << 0,
    TN_USER_ORG = 1u << 1,
    TN_USER_ROLE = 1u << 2,
    TN_USER_PASSWORD = 1u << 3,
    TN_USER_DISABLED = 1u << 4,
    TN_USER_ALL = (1u << 5) - 1,
    /* not a field: refuse the write (TN_ERR_CONFLICT) when it would leave no enabled
     * administrator, decided atomically with every other write that asks the same */
    TN_USER_KEEP_ADMIN = 1u << 5,
};
/* Writes the `fields` of user u->id from u and leaves the others as stored; moves
 * tokens_valid_after forward to u's when u's is later, never back. A writer names only
 * what it changed, so that one working from a copy read earlier (a password change
 * after its argon2 runs) does not undo what another wrote meanwhile (an admin's
 * disable, a sign out everywhere). TN_ERR_NOT_FOUND when there is no such user. */
enum tn_err tn_store_user_update_fields(struct tn_store *s, const struct tn_user *u,
                                        unsigned fields);
/* tn_store_user_update_fields with TN_USER_ALL: for setting an account up (tests, a
 * restore); a change to a live account names its fields. */
enum tn_err tn_store_user_update(struct tn_store *s, const struct tn_user *u);
/* Sets user id's password hash to `hash` if it is still `was` (the hash a password change
 * or a sign-in's rehash verified against); TN_ERR_CONFLICT when it changed meanwhile or
 * there is no such user. A rehash of the old password then cannot undo a password change
 * made during its argon2 runs, nor two changes overwrite each other unseen. */
enum tn_err tn_store_user_swap_password(struct tn_store *s, const char *id, const char *was,
                                        const char *hash);
enum tn_err tn_store_user_count(struct tn_store *s, int64_t *n);
typedef void (*tn_store_user_cb)(const struct tn_user *u, void *ud);
enum tn_err tn_store_user_list(struct tn_store *s, tn_store_user_cb cb, void *ud);

/* ---------- OAuth clients (registered through DCR or by an admin) ---------- */

struct tn_client {
    char id[512]; /* a random id, or the URL of a metadata document */
    char name[128];
    char redirect_uris[4096]; /* JSON array of strings */
    char secret_hash[65];     /* hex SHA-256 of the secret; "" for public clients */
    char auth_method[24];     /* none | client_secret_basic | client_secret_post */
    char grant_types[96];     /* space-separated */
    char scope[256];          /* requested at registration (a hint) */
    char application_type[8]; /* native | web */
    char metadata[8192];      /* the registered metadata as echoed (JSON object) */
    int64_t created_at;
    int64_t last_used_at; /* 0 when never used */
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

/* ---------- upstream identities (OpenID Connect sign-in, #18) ---------- */

/* An identity an upstream OpenID provider asserts, (issuer, subject), linked to a user. */
struct tn_identity {
    char issuer[256];
    char subject[256];
    char user_id[48];
    char email[256]; /* the address asserted when linked, lower-case; may be "" */
    int64_t created_at;
    int64_t last_used_at;
};
/* TN_ERR_NOT_FOUND when no user has the identity. */
enum tn_err tn_store_identity_get(struct tn_store *s, const char *issuer, const char *subject,
                                  struct tn_identity *out);
/* Links id->(issuer, subject) to id->user_id. TN_ERR_CONFLICT when the identity is already
 * linked (to anyone), TN_ERR_NOT_FOUND when the user does not exist. */
enum tn_err tn_store_identity_link(struct tn_store *s, const struct tn_identity *id);
/* Sets last_used_at. TN_ERR_NOT_FOUND when the identity is not linked. */
enum tn_err tn_store_identity_touch(struct tn_store *s, const char *issuer, const char *subject,
                                    int64_t now);
typedef void (*tn_store_identity_cb)(const struct tn_identity *id, void *ud);
/* The user's identities, oldest first. */
enum tn_err tn_store_identity_list(struct tn_store *s, const char *user_id, tn_store_identity_cb cb,
                                   void *ud);
/* Unlinks every identity of the user; *n (may be NULL) = how many. */
enum tn_err tn_store_identity_delete_user(struct tn_store *s, const char *user_id, int64_t *n);

/* ---------- enterprise SSO per organization (#18; store/org_sso.c) ---------- */

/* An email domain of an organization: a lower-case DNS name, of one organization. */
struct tn_org_domain {
    char domain[254];
    char org_id[48];
    int64_t created_at;
};
/* TN_ERR_CONFLICT when the domain is already an organization's (this one's or another's),
 * TN_ERR_NOT_FOUND when the organization does not exist, TN_ERR_BAD_INPUT when the domain
 * is empty or not lower-case (the caller validates it: auth/signin/sso.h). */
enum tn_err tn_store_org_domain_add(struct tn_store *s, const struct tn_org_domain *d);
/* The organization of `domain` (exact, lower-case); TN_ERR_NOT_FOUND when none. */
enum tn_err tn_store_org_domain_get(struct tn_store *s, const char *domain,
                                    struct tn_org_domain *out);
/* TN_ERR_NOT_FOUND when `domain` is not an organization's `org_id`. */
enum tn_err tn_store_org_domain_remove(struct tn_store *s, const char *org_id, const char *domain);
typedef void (*tn_store_org_domain_cb)(const struct tn_org_domain *d, void *ud);
/* The organization's domains in byte order. */
enum tn_err tn_store_org_domain_list(struct tn_store *s, const char *org_id,
                                     tn_store_org_domain_cb cb, void *ud);

/* An organization's own OpenID Connect connection. */
struct tn_org_sso {
    char org_id[48];
    char issuer[512];
    char client_id[256];
    char client_secret[1024]; /* sealed ("tnk1:"), never in clear */
    char scopes[256];         /* "" : the default scopes */
    char groups_claim[64];    /* "" : groups are not read */
    char role_map[2048];      /* JSON object group -> role, in order; "{}" when none */
    char default_role[16];
    bool require_sso;
    bool allow_signup;
    int64_t updated_at;
};
/* Creates or replaces the organization's connection. TN_ERR_NOT_FOUND when the
 * organization does not exist, TN_ERR_BAD_INPUT for an invalid role or empty issuer. */
enum tn_err tn_store_org_sso_put(struct tn_store *s, const struct tn_org_sso *c);
/* TN_ERR_NOT_FOUND when the organization has none. */
enum tn_err tn_store_org_sso_get(struct tn_store *s, const char *org_id, struct tn_org_sso *out);
/* TN_ERR_NOT_FOUND when the organization has none. */
enum tn_err tn_store_org_sso_delete(struct tn_store *s, const char *org_id);
/* How many organizations have a connection. */
enum tn_err tn_store_org_sso_count(struct tn_store *s, int64_t *n);

/* ---------- consent, remembered per (user, client) ---------- */

enum tn_err tn_store_consent_get(struct tn_store *s, const char *user_id, const char *client_id,
                                 char scope[256]);
enum tn_err tn_store_consent_put(struct tn_store *s, const char *user_id, const char *client_id,
                                 const char *scope, int64_t now);
/* client_id NULL: every consent of the user. */
enum tn_err tn_store_consent_revoke(struct tn_store *s, const char *user_id, const char *client_id);

/* ---------- what a person granted apps, and taking it back (/account, #19) ---------- */

/* One app holding a grant of a user: a remembered consent, or a live refresh token. */
struct tn_grant {
    char client_id[512];
    char client_name[128];
    char redirect_uris[4096]; /* JSON array of strings, as registered */
    char application_type[8]; /* native | web */
    char scope[256];          /* the consent's; without one, the newest live token's */
    int64_t first_at;         /* consent given or first token issued, the earlier */
    int64_t last_at;          /* consent renewed or a token issued, the later */
    bool consented;           /* a consent is remembered */
    bool live;                /* a current refresh token that is neither revoked nor expired */
};
typedef void (*tn_store_grant_cb)(const struct tn_grant *g, void *ud);
/* The clients `user_id` has a consent for or a live refresh token of (as of `now`), most
 * recently used first, at most `limit` (1..500). TN_ERR_BAD_INPUT for other limits. */
enum tn_err tn_store_grant_list(struct tn_store *s, const char *user_id, int64_t now,
                                unsigned limit, tn_store_grant_cb cb, void *ud);
/* Takes back, in one transaction, everything `user_id` gave `client_id`: the consent, every
 * refresh token (their families stay revoked, so a code exchange racing with this is born
 * revoked), the codes not yet exchanged; and records `revoked_at` (a later one already
 * recorded is kept), so that the resource server refuses that client's access tokens of
 * the user issued before it (tn_store_grant_revocations). TN_OK also when nothing was
 * granted; TN_ERR_NOT_FOUND when the user does not exist. */
enum tn_err tn_store_grant_revoke(struct tn_store *s, const char *user_id, const char *client_id,
                                  int64_t revoked_at);
struct tn_grant_revocation {
    char client_id[512];
    int64_t revoked_at;
};
typedef void (*tn_store_grant_revocation_cb)(const struct tn_grant_revocation *r, void *ud);
/* The user's revocations recorded after `since`, newest first, at most `limit` (1..1000). */
enum tn_err tn_store_grant_revocations(struct tn_store *s, const char *user_id, int64_t since,
                                       unsigned limit, tn_store_grant_revocation_cb cb, void *ud);
/* When `user_id` last revoked `client_id` (*at, 0 never): the token endpoint refuses a
 * code or refresh token of that app issued before it, as the resource server refuses
 * its access tokens. */
enum tn_err tn_store_grant_revoked_at(struct tn_store *s, const char *user_id,
                                      const char *client_id, int64_t *at);
/* "Sign out everywhere", in one transaction: the user's tokens_valid_after becomes
 * `valid_after` (unless later already), every refresh token is revoked (families
 * remembered), the codes not yet exchanged are deleted. Consents stay. TN_ERR_NOT_FOUND
 * when the user does not exist. */
enum tn_err tn_store_user_sign_out(struct tn_store *s, const char *user_id, int64_t valid_after);

/* ---------- authorization codes (hashed, single use) ---------- */

struct tn_code {
    uint8_t hash[32];
    char client_id[512];
    char user_id[48];
    char redirect_uri[1024];
    char scope[256];
    char resource[512];
    char challenge[64]; /* PKCE S256 code_challenge */
    char family[48];    /* the grant: every token issued from this code shares it */
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
    char client_id[512];
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
enum tn_err tn_store_refresh_get(struct tn_store *s, const uint8_t hash[32],
                                 struct tn_refresh *out);
/* A rotated token may be presented once more within `grace_s` of its rotation (a
 * client's concurrent refresh). Atomically spends that one chance: TN_OK when this call
 * spent it (the token's expires_at becomes its rotated_at, so it is never honoured
 * again); TN_ERR_NOT_FOUND when the token is unknown, current, revoked, expired, past
 * the window, or its chance was already spent. */
enum tn_err tn_store_refresh_spend_grace(struct tn_store *s, const uint8_t hash[32], int64_t now,
                                         int64_t grace_s);
/* Revokes every refresh token of a family / of a user (all clients) / of a client. */
enum tn_err tn_store_family_revoke(struct tn_store *s, const char *family);
enum tn_err tn_store_user_revoke_all(struct tn_store *s, const char *user_id);

/* ---------- signing keys of the built-in authorization server ---------- */

struct tn_signing_key {
    char kid[48];
    char alg[8];
    char pem[2048]; /* the private key as stored: sealed by src/auth/as/keys.c */
    int64_t created_at;
    int64_t signs_from; /* published from created_at, signs from here */
    int64_t retire_at;  /* stops signing; stays published until retire_at + token TTL */
};
enum tn_err tn_store_key_insert(struct tn_store *s, const struct tn_signing_key *k);
typedef void (*tn_store_key_cb)(const struct tn_signing_key *k, void *ud);
/* Keys in creation order. */
enum tn_err tn_store_key_list(struct tn_store *s, tn_store_key_cb cb, void *ud);
enum tn_err tn_store_key_delete(struct tn_store *s, const char *kid);
/* Replaces the stored text of key `kid` with `pem` only while it still is `expected`
 * (compare and set: of instances rewriting one row at once, exactly one succeeds).
 * TN_ERR_NOT_FOUND when no row `kid` holds `expected` (gone, or rewritten meanwhile). */
enum tn_err tn_store_key_replace(struct tn_store *s, const char *kid, const char *expected,
                                 const char *pem);

/* ---------- notes: every function takes the owner; there is no other way in ---------- */

/* Who is asking: the caller's stable user key (issuer|subject) and organization ("" when
 * none). Built from the principal only. */
struct tn_owner {
    const char *user; /* at most 511 bytes */
    const char *org;  /* at most 127 bytes */
};

#define TN_NOTE_MAX_CONTENT (64 * 1024)
#define TN_NOTE_MAX_TITLE 200
#define TN_NOTE_MAX_TAGS 16
#define TN_NOTE_MAX_TAG 32
/* Lists and searches carry at most this many characters (code points) of each note's
 * text: the whole of most notes, a prefix of long ones (n->length tells). */
#define TN_NOTE_LIST_TEXT 2000

struct tn_note {
    char id[32];     /* "n_" + random, assigned by the store */
    char owner[512]; /* user key of the author */
    char org[128];
    char title[TN_NOTE_MAX_TITLE * 4 + 1]; /* UTF-8 */
    char *content;  /* heap, NUL-terminated; free with tn_note_deinit. In lists
                             and searches: at most TN_NOTE_LIST_TEXT characters */
    int64_t length; /* characters (code points) of the whole content; when
                             content is shorter, it was cut (lists, searches) */
    char tags[TN_NOTE_MAX_TAGS * (TN_NOTE_MAX_TAG * 4 + 3) + 3]; /* JSON array of strings */
    char visibility[8];                                          /* "private" or "org" */
    int64_t version;                                             /* starts at 1, +1 per update */
    int64_t created_at;                                          /* milliseconds */
    int64_t updated_at;
    char snippet[512]; /* search results only: an excerpt around the match */
    double rank;       /* search results only: higher is better */
};
void tn_note_deinit(struct tn_note *n);

/* The title a note without one shows: its first line that has something but spaces,
 * trimmed, without leading Markdown heading marks ("# "), cut to TN_NOTE_DERIVED_TITLE
 * characters at a character boundary (a cut ends in "…"). Titles are derived when
 * read, never stored: a title the user gave always wins, and an update of the text
 * changes the derived title with it. Reads at most content[0..len); writes a
 * NUL-terminated string into out[0..cap) (cap >= TN_NOTE_DERIVED_TITLE_SIZE for the
 * whole title) and returns its length; "" when the text has no such line. */
#define TN_NOTE_DERIVED_TITLE 80
#define TN_NOTE_DERIVED_TITLE_SIZE (TN_NOTE_DERIVED_TITLE * 4 + 4)
size_t tn_note_title_derive(const char *content, size_t len, char *out, size_t cap);

/* Stores a new note of `o` from n->title, n->content, n->tags, n->visibility; fills in
 * id, owner, org, version (1) and timestamps. The write is durable when this returns. */
enum tn_err tn_store_note_insert(struct tn_store *s, const struct tn_owner *o, struct tn_note *n);
/* A note `o` may read: their own, or one shared ("org") within their organization.
 * TN_ERR_NOT_FOUND otherwise (never "forbidden": existence is not revealed). */
enum tn_err tn_store_note_get(struct tn_store *s, const struct tn_owner *o, const char *id,
                              struct tn_note *out);
/* Changes the given fields (NULL: unchanged) of a note OWNED by `o` if its version is
 * still `expected_version`: TN_ERR_CONFLICT when it is not (out holds the current note),
 * TN_ERR_NOT_FOUND when o does not own it. On TN_OK out holds the new version. */
enum tn_err tn_store_note_update(struct tn_store *s, const struct tn_owner *o, const char *id,
                                 int64_t expected_version, const char *title, const char *content,
                                 const char *tags, const char *visibility, struct tn_note *out);
/* Deletes a note OWNED by `o`; expected_version 0 means any version. */
enum tn_err tn_store_note_delete(struct tn_store *s, const struct tn_owner *o, const char *id,
                                 int64_t expected_version);

typedef void (*tn_store_note_cb)(const struct tn_note *n, void *ud);
/* Pages are ordered newest first by (updated_at, id). `after_*` is the last note of the
 * previous page (after_id "" for the first page). At most `limit` notes (1..100).
 * Listed notes carry the first TN_NOTE_LIST_TEXT characters of their text (content,
 * cut at a character boundary) and its whole length; tn_store_note_get reads it all. */
struct tn_note_page {
    int64_t after_updated;
    const char *after_id;
    unsigned limit;
    const char *tag; /* only notes with this tag; NULL: all */
};
/* o's own notes. */
enum tn_err tn_store_note_list(struct tn_store *s, const struct tn_owner *o,
                               const struct tn_note_page *p, tn_store_note_cb cb, void *ud);
/* Notes shared with o's organization by any member (o's own shared notes included). An
 * owner without an organization has none. */
enum tn_err tn_store_note_list_team(struct tn_store *s, const struct tn_owner *o,
                                    const struct tn_note_page *p, tn_store_note_cb cb, void *ud);
/* Full-text search over o's notes and the notes shared with o's organization, best
 * first, with snippets; content as in lists (a prefix of long notes). `query` is plain
 * words (no query syntax reaches the engine). */
enum tn_err tn_store_note_search(struct tn_store *s, const struct tn_owner *o, const char *query,
                                 unsigned limit, tn_store_note_cb cb, void *ud);

/* A note brought in from another system (teamnotes import). */
struct tn_note_import {
    struct tn_owner owner; /* whose note it becomes */
    const char *source_id; /* its id in the other system: 1..256 bytes of UTF-8 */
    const char *content;   /* as for tn_store_note_insert */
    int64_t created_at;    /* milliseconds, 0 .. 2^48 - 1; also its updated_at */
};
/* Adds `n` notes (1..100000) in one transaction: all or none. Each gets the id
 * "n_" + base64url(created_at as 48 bits, then 80 bits of HMAC-SHA-256 over owner,
 * org and source id): the same note imported again has the same id and is left alone,
 * so re-running an import adds nothing twice. Imported notes are private, untagged,
 * at version 1, with no title (they show a derived one). *added: the notes added.
 * TN_ERR_BAD_INPUT when a note is invalid (*bad = its index; nothing is added). */
enum tn_err tn_store_note_import(struct tn_store *s, const struct tn_note_import *v, size_t n,
                                 size_t *added, size_t *bad);

/* Calls fn(owner_user, ud), on a thread of the store, whenever another instance sharing
 * this store's database (another store handle, in this process or another) changes a
 * note of that owner (PostgreSQL: LISTEN/NOTIFY, resumed after the database restarts).
 * This handle's own note writes are not passed to fn (the caller knows of them); from
 * now on they are announced to the others by the store's thread, many writes in one
 * announcement under load, the last ones before tn_store_close returns. TN_ERR_CONFIG
 * when the backend serves a single instance (SQLite). */
enum tn_err tn_store_watch_notes(struct tn_store *s, void (*fn)(const char *owner, void *ud),
                                 void *ud);

/* ---------- audit: who did what to which note; never note text ---------- */

struct tn_audit {
    int64_t at; /* milliseconds */
    char user[512];
    char org[128];
    char client_id[512];
    char tool[64];
    char note_id[32]; /* "" when none */
    char outcome[32]; /* ok | denied | not_found | conflict | invalid | error */
    char detail[256]; /* an administrative action: what it acted on ("" otherwise); never
                         note text */
};
/* Queues the record; it is written, in a batch with others, within 50 ms, before
 * tn_store_audit_list reads and before the store closes. TN_ERR_BUSY when the queue
 * stayed full for 2 s (the database is failing). */
enum tn_err tn_store_audit_insert(struct tn_store *s, const struct tn_audit *a);
/* Waits until every record queued so far is written (TN_ERR_BUSY after 30 s). */
enum tn_err tn_store_audit_flush(struct tn_store *s);
typedef void (*tn_store_audit_cb)(const struct tn_audit *a, void *ud);
/* The newest `limit` records, newest first. */
enum tn_err tn_store_audit_list(struct tn_store *s, unsigned limit, tn_store_audit_cb cb, void *ud);

/* ---------- the admin console (#19): searches and changes an administrator makes ---------- */

/* Records that user `id` signed in at `now` (seconds). TN_ERR_NOT_FOUND: no such user. */
enum tn_err tn_store_user_signed_in(struct tn_store *s, const char *id, int64_t now);

#define TN_USER_QUERY_MAX 200 /* bytes of a member search */
struct tn_user_query {
    const char *text; /* members whose email or name contains it (ASCII letters in either
                         case); NULL or "" for everyone; at most TN_USER_QUERY_MAX bytes */
    unsigned offset;  /* members to skip, in email order */
    unsigned limit;   /* 1..500 */
};
/* One page of the members matching q, by email; *total (may be NULL) = how many match in
 * all. TN_ERR_BAD_INPUT for a limit out of range or a text too long. */
enum tn_err tn_store_user_search(struct tn_store *s, const struct tn_user_query *q,
                                 tn_store_user_cb cb, void *ud, int64_t *total);

/* Who holds a grant of a client: a remembered consent, or a refresh token that is current
 * (not rotated, not revoked, unexpired at `now`). */
struct tn_client_grant {
    char user_id[48];
    char email[256];
    char scope[256];        /* the consent's ("" when only tokens remain) */
    int64_t consented_at;   /* 0 without a consent */
    int64_t families;       /* current refresh token families */
    int64_t last_issued_at; /* newest current refresh token (0 none) */
};
typedef void (*tn_store_client_grant_cb)(const struct tn_client_grant *g, void *ud);
/* The people holding a grant of `client_id`, by email. */
enum tn_err tn_store_client_grants(struct tn_store *s, const char *client_id, int64_t now,
                                   tn_store_client_grant_cb cb, void *ud);
/* For every client with at least one such person: cb(client_id, people, ud). */
typedef void (*tn_store_usage_cb)(const char *client_id, int64_t people, void *ud);
enum tn_err tn_store_client_usage(struct tn_store *s, int64_t now, tn_store_usage_cb cb, void *ud);

/* Moves the signing window of key `kid`. TN_ERR_NOT_FOUND: no such key. TN_ERR_BAD_INPUT
 * when retire_at < signs_from. */
enum tn_err tn_store_key_schedule(struct tn_store *s, const char *kid, int64_t signs_from,
                                  int64_t retire_at);

#define TN_AUDIT_QUERY_MAX 10000
struct tn_audit_filter {
    const char *user;    /* the user key exactly, or a user id (what follows the key's last
                            '|'); NULL or "": anyone */
    const char *tool;    /* exactly; NULL or "": any */
    const char *outcome; /* exactly; NULL or "": any */
    int64_t since_ms;    /* at >= since_ms (0: no bound) */
    int64_t until_ms;    /* at < until_ms (0: no bound) */
    unsigned limit;      /* 1..TN_AUDIT_QUERY_MAX */
};
/* The newest records matching f, newest first. TN_ERR_BAD_INPUT for a limit out of
 * range or a filter string longer than its field. */
enum tn_err tn_store_audit_query(struct tn_store *s, const struct tn_audit_filter *f,
                                 tn_store_audit_cb cb, void *ud);

/* ---------- backup and restore of the SQLite store (src/store/backup.c) ----------
 * Whole-file operations on DATA_DIR/teamnotes.db, outside any open tn_store. PostgreSQL
 * has its own tools (pg_dump, pg_restore: docs/OPERATIONS.md). */

/* What a database file holds, as checked by PRAGMA integrity_check. */
struct tn_store_file_info {
    int schema_version; /* highest version in its schema_version table */
    int64_t notes;
    int64_t users;
    int64_t signing_keys;
    int64_t bytes; /* size of the file */
};

/* Copies `data_dir`/teamnotes.db to `dest` while servers may be writing to it: SQLite's
 * online backup API over one read snapshot (so the copy holds exactly the transactions
 * committed before it began, and writers, in WAL mode, are never blocked), in steps
 * with pauses between them; BUSY and LOCKED are retried. Written to `dest`.tmp (mode
 * 0600), switched to rollback-journal mode (one self-contained file), checked with
 * integrity_check, fsynced and renamed onto `dest`, its directory fsynced. On failure
 * `dest` is untouched, the temporary file removed, and `err` says why:
 * TN_ERR_NOT_FOUND without a database, TN_ERR_BUSY when it stayed locked, TN_ERR_IO. */
enum tn_err tn_store_backup(const char *data_dir, const char *dest, struct tn_store_file_info *info,
                            struct tn_buf *err);

/* A restore in progress: the live database locked, the candidate copied and checked. */
struct tn_store_restore;

/* Starts restoring `src` into `data_dir` (created 0700 when missing): copies `src` next
 * to the live database and checks the copy: TN_ERR_NOT_FOUND when `src` cannot be read,
 * TN_ERR_BAD_INPUT when it is not an SQLite database, fails integrity_check or is not a
 * teamnotes database, TN_ERR_CONFIG when its schema is newer than this binary's. The
 * live database is not opened. On failure the copy is removed. info->bytes is the size
 * of `src`. */
enum tn_err tn_store_restore_begin(const char *data_dir, const char *src,
                                   struct tn_store_restore **out, struct tn_store_file_info *info,
                                   struct tn_buf *err);
/* Calls fn for every signing key row of the candidate; stops at and returns the first
 * error fn returns. */
typedef enum tn_err (*tn_store_restore_key_cb)(const char *kid, const char *pem, void *ud);
enum tn_err tn_store_restore_keys(struct tn_store_restore *r, tn_store_restore_key_cb fn, void *ud);
/* Takes an exclusive lock on the live database (when there is one), held until
 * tn_store_restore_free: TN_ERR_BUSY while a server or another command has it open.
 * Nothing is written. */
enum tn_err tn_store_restore_lock(struct tn_store_restore *r, struct tn_buf *err);
/* Replaces the live database with the candidate (after tn_store_restore_lock): the live one (its WAL folded in) is kept
 * as `data_dir`/teamnotes.db.before-restore-<UTC time> (its name into kept[0..cap), ""
 * when there was none), its -wal, -shm and -journal files removed so that nothing of it
 * is replayed onto the new file, the candidate renamed into place and the directory
 * fsynced. */
enum tn_err tn_store_restore_commit(struct tn_store_restore *r, char *kept, size_t cap,
                                    struct tn_buf *err);
/* Ends a restore: without a commit the candidate is removed and the live database left
 * as it was. NULL is a no-op. */
void tn_store_restore_free(struct tn_store_restore *r);

/* ---------- email sign-in codes and links (auth/signin/email.h) ---------- */

#define TN_EMAIL_CODE_ATTEMPTS 5 /* wrong codes before a code is locked */

struct tn_email_code {
    char id[48];
    char email[256];          /* lower-case; the address the code was sent to */
    uint8_t code_hash[32];    /* keyed hash of the 6-digit code */
    uint8_t link_hash[32];    /* keyed hash of the link's token */
    uint8_t browser_hash[32]; /* keyed hash of the secret in the asking browser's cookie */
    char req[8192];           /* the sealed authorization request it continues */
    int64_t attempts;         /* wrong codes so far */
    int64_t expires_at;
    int64_t used_at; /* 0 until consumed */
    int64_t created_at;
};
/* TN_ERR_CONFLICT when the id is taken. */
enum tn_err tn_store_email_code_insert(struct tn_store *s, const struct tn_email_code *c);
/* Reads row `id` without changing it (the link's confirm page). TN_ERR_NOT_FOUND. */
enum tn_err tn_store_email_code_get(struct tn_store *s, const char *id, struct tn_email_code *out);
/* Consumes row `id` in one conditional UPDATE: it must be unused, unexpired at `now`,
 * have fewer than TN_EMAIL_CODE_ATTEMPTS wrong codes, be bound to `browser`, and `hash`
 * must equal its code_hash (link false) or link_hash (link true). On TN_OK *out is the row,
 * now used. Otherwise, the first reason that holds:
 *   TN_ERR_NOT_FOUND      no such row, or another browser's
 *   TN_ERR_CONFLICT       used before
 *   TN_ERR_INVALID_GRANT  expired
 *   TN_ERR_LIMIT          no attempts left
 *   TN_ERR_FORBIDDEN      a wrong code (its attempt counted atomically; *out holds the row
 *                         with the new count) or a wrong link token (not counted)
 * *out is zeroed unless TN_OK or TN_ERR_FORBIDDEN. */
enum tn_err tn_store_email_code_use(struct tn_store *s, const char *id, const uint8_t browser[32],
                                    const uint8_t hash[32], bool link, int64_t now,
                                    struct tn_email_code *out);
/* Deletes the rows that expired before `now`; *n (optional) counts them. */
enum tn_err tn_store_email_code_cleanup(struct tn_store *s, int64_t now, int64_t *n);

/* ---------- invitations (#18; auth/signin/invite.h) ---------- */

struct tn_invitation {
    uint8_t hash[32];    /* SHA-256 of the link's token; the token is never stored */
    char email[256];     /* lower-case */
    char role[16];       /* viewer | editor | admin */
    char org_id[48];     /* "" when none */
    char invited_by[48]; /* the inviting account's id; "" from the command line */
    int64_t created_at;
    int64_t expires_at;
    int64_t used_at; /* 0 while pending */
};
/* TN_ERR_CONFLICT when the hash is taken, TN_ERR_BAD_INPUT for an empty email or an
 * unknown role. The email is stored lower-case. */
enum tn_err tn_store_invitation_insert(struct tn_store *s, const struct tn_invitation *inv);
/* Reads the invitation without changing it. TN_ERR_NOT_FOUND. */
enum tn_err tn_store_invitation_get(struct tn_store *s, const uint8_t hash[32],
                                    struct tn_invitation *out);
/* Accepts the invitation: one conditional UPDATE (unused and unexpired at `now`) marks it
 * used, and when `user` is not NULL the same transaction creates that account with the
 * invitation's email, role and organization (written into *user first; the caller fills
 * id, name, password hash and created_at). Of concurrent takes exactly one succeeds.
 *   TN_OK                  taken (*out is the row, now used)
 *   TN_ERR_NOT_FOUND       no such invitation
 *   TN_ERR_INVALID_GRANT   used before, expired, or its inviter's account is disabled
 *                          (*out is the row: used_at and expires_at tell the first two)
 *   TN_ERR_CONFLICT        the email has an account meanwhile: nothing changed
 * *out is zeroed unless TN_OK or TN_ERR_INVALID_GRANT. */
enum tn_err tn_store_invitation_take(struct tn_store *s, const uint8_t hash[32], int64_t now,
                                     struct tn_user *user, struct tn_invitation *out);
/* The newest pending (unused, unexpired at `now`, its inviter not disabled) invitation of
 * `email` (any case).
 * TN_ERR_NOT_FOUND when there is none. */
enum tn_err tn_store_invitation_pending(struct tn_store *s, const char *email, int64_t now,
                                        struct tn_invitation *out);
typedef void (*tn_store_invitation_cb)(const struct tn_invitation *inv, void *ud);
/* Every pending invitation at `now`, oldest first. */
enum tn_err tn_store_invitation_list(struct tn_store *s, int64_t now, tn_store_invitation_cb cb,
                                     void *ud);
/* Deletes the unused invitations of `email` (pending or expired); *n (may be NULL) counts
 * them. Used ones stay as the record of who joined how. */
enum tn_err tn_store_invitation_revoke(struct tn_store *s, const char *email, int64_t *n);

#endif
