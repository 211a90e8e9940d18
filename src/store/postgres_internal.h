/* Internal to the PostgreSQL backend: what its files share. The backend is
 *   postgres.c         connections and the pool, running statements, open, migrate, close
 *   postgres_auth.c    organizations, users, clients, consent, codes, refresh tokens, keys
 *   postgres_notes.c   notes, search and the audit log
 *   postgres_listen.c  the cross-instance change feed of notes (LISTEN/NOTIFY)
 * and postgres.c's top comment says how it works. Here: the limits and locks, the
 * statements (each connection prepares them on first use), the store and connection
 * structs, the helpers a call runs its statements with, and the operations the table in
 * postgres.c points to. */
#ifndef TN_STORE_POSTGRES_INTERNAL_H
#define TN_STORE_POSTGRES_INTERNAL_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "store/backend.h"

enum {
    POOL_SIZE = 8,
    MAX_PARAMS = 12,
};

/* Seconds libpq waits for a connection; the lock timeout turns a long wait for a row or
 * advisory lock into TN_ERR_BUSY, like SQLite's busy timeout. */
#define CONNECT_TIMEOUT_S "10"
#define LOCK_TIMEOUT "5s"

/* Advisory locks use the two-key form: the first key says what kind of lock it is (an
 * arbitrary constant, "tn" in its high bytes), the second which object. */
#define LOCK_MIGRATE "1953366017, 0" /* 0x746e0001 */
#define LOCK_FAMILY "1953366018"     /* 0x746e0002, hashtext(family) */
#define LOCK_ADMINS "1953366019, 0"  /* 0x746e0003: a write that keeps an administrator */

/* Type OIDs of the parameters (fixed by PostgreSQL's catalog, pg_type.dat). */
enum {
    OID_BOOL = 16,
    OID_BYTEA = 17,
    OID_INT8 = 20,
    OID_TEXT = 25,
};

/* ---------- statements ---------- */

#define ORG_COLS "id, name, created_at"
#define USER_COLS                                                                        \
    "id, email, name, COALESCE(org_id, ''), role, password_hash, disabled, created_at, " \
    "tokens_valid_after, last_signin_at"
#define CLIENT_COLS                                                           \
    "id, name, redirect_uris, secret_hash, auth_method, grant_types, scope, " \
    "application_type, metadata, created_at, last_used_at"
#define CODE_COLS                                                                              \
    "hash, client_id, user_id, redirect_uri, scope, resource, challenge, family, expires_at, " \
    "used"
#define REFRESH_COLS                                                                         \
    "hash, family, client_id, user_id, scope, resource, issued_at, expires_at, rotated_at, " \
    "revoked"
#define KEY_COLS "kid, alg, pem, created_at, signs_from, retire_at"
#define EMAIL_CODE_COLS \
    "id, email, code_hash, link_hash, browser_hash, req, attempts, expires_at, used_at, created_at"
#define IDENTITY_COLS "issuer, subject, user_id, email, created_at, last_used_at"
#define INVITATION_COLS "hash, email, role, org_id, invited_by, created_at, expires_at, used_at"
#define ORG_DOMAIN_COLS "domain, org_id, created_at"
#define ORG_SSO_COLS                                                                           \
    "org_id, issuer, client_id, client_secret, scopes, groups_claim, role_map, default_role, " \
    "require_sso, allow_signup, updated_at"
#define NOTE_COLS \
    "id, owner, org, title, content, tags, visibility, version, created_at, updated_at"
/* A note as read: the columns and the text's length in characters. */
#define NOTE_READ_COLS NOTE_COLS ", char_length(content)"
/* Pages and searches read only the first TN_NOTE_LIST_TEXT characters of the text
 * (substr counts characters, so the cut is on a character boundary). */
#define STR_(x) #x
#define STR(x) STR_(x)
#define NOTE_LIST_COLS                                \
    "id, owner, org, title, substr(content, 1, " STR( \
        TN_NOTE_LIST_TEXT) "), tags, "                \
                           "visibility, version, created_at, updated_at, char_length(content)"
#define AUDIT_COLS "at, user_key, org, client_id, tool, note_id, outcome, detail"

/* Snippets: up to two fragments of at most 16 words around the matches, unmarked, as
 * the SQLite backend's; read_hit cuts them to the field at a character boundary. */
#define HEADLINE_OPTS                                                                      \
    "'StartSel=\"\", StopSel=\"\", MinWords=8, MaxWords=16, ShortWord=0, MaxFragments=2, " \
    "FragmentDelimiter=\" … \"'"

/* The admin console's statements (#19; postgres_auth.c, postgres_notes.c). A member
 * search matches $1, a lower-case ASCII text or NULL, inside the email or the name
 * (strpos: no LIKE wildcards to escape). A user filter of the audit is the key itself
 * or a user id after its '|'. */
#define USER_MATCH "($1::text IS NULL OR strpos(email, $1) > 0 OR strpos(lower(name), $1) > 0)"
#define GRANT_CURRENT "NOT r.revoked AND r.rotated_at = 0 AND r.expires_at > "
// clang-format off
#define ADMIN_STMTS(X)                                                                       \
    X(USER_SIGNED_IN, "ti",                                                                  \
      "UPDATE users SET last_signin_at = GREATEST(last_signin_at, $2) WHERE id = $1")        \
    X(USER_SEARCH, "tii",                                                                    \
      "SELECT " USER_COLS " FROM users WHERE " USER_MATCH " "                                \
      "ORDER BY email COLLATE \"C\" LIMIT $3 OFFSET $2")                                     \
    X(USER_SEARCH_COUNT, "t", "SELECT count(*) FROM users WHERE " USER_MATCH)                \
    X(CLIENT_GRANTS, "ti",                                                                   \
      "SELECT u.id, u.email, COALESCE(c.scope, ''), COALESCE(c.updated_at, 0), "             \
      "(SELECT count(DISTINCT r.family) FROM refresh_tokens AS r WHERE r.client_id = $1 "    \
      " AND r.user_id = u.id AND " GRANT_CURRENT "$2), "                                    \
      "(SELECT COALESCE(max(r.issued_at), 0) FROM refresh_tokens AS r WHERE r.client_id = $1 " \
      " AND r.user_id = u.id AND " GRANT_CURRENT "$2) "                                     \
      "FROM users AS u LEFT JOIN consents AS c ON c.user_id = u.id AND c.client_id = $1 "    \
      "WHERE c.user_id IS NOT NULL OR EXISTS (SELECT 1 FROM refresh_tokens AS r "            \
      " WHERE r.client_id = $1 AND r.user_id = u.id AND " GRANT_CURRENT "$2) "              \
      "ORDER BY u.email COLLATE \"C\"")                                                      \
    X(CLIENT_USAGE, "i",                                                                     \
      "SELECT client_id, count(DISTINCT user_id) FROM ("                                     \
      "SELECT client_id, user_id FROM consents UNION "                                       \
      "SELECT r.client_id, r.user_id FROM refresh_tokens AS r WHERE " GRANT_CURRENT "$1) "   \
      "AS g GROUP BY client_id")                                                             \
    X(KEY_SCHEDULE, "tii",                                                                   \
      "UPDATE signing_keys SET signs_from = $2, retire_at = $3 WHERE kid = $1")              \
    X(AUDIT_QUERY, "tttiii",                                                                 \
      "SELECT " AUDIT_COLS " FROM audit "                                                    \
      "WHERE ($1::text IS NULL OR user_key = $1 "                                            \
      "       OR right(user_key, length($1) + 1) = '|' || $1) "                              \
      "AND ($2::text IS NULL OR tool = $2) AND ($3::text IS NULL OR outcome = $3) "          \
      "AND at >= $4 AND at < $5 ORDER BY at DESC, seq DESC LIMIT $6")
// clang-format on

/* Every statement the backend runs: its name, the types of its parameters ($1, $2, ...
 * in order: t text (NULL allowed), i int64, b bool, h 32-byte hash) and its SQL.
 * Prepared once per connection, with those types. */
// clang-format off
#define STMTS(X)                                                                             \
    X(ORG_INSERT, "tti", "INSERT INTO orgs (" ORG_COLS ") VALUES ($1, $2, $3)")              \
    X(ORG_GET, "t", "SELECT " ORG_COLS " FROM orgs WHERE id = $1")                           \
    X(ORG_BY_NAME, "t", "SELECT " ORG_COLS " FROM orgs WHERE name = $1")                     \
    X(ORG_LIST, "", "SELECT " ORG_COLS " FROM orgs ORDER BY created_at, id")                 \
    X(USER_INSERT, "ttttttbii",                                                              \
      "INSERT INTO users (id, email, name, org_id, role, password_hash, disabled, "          \
      "created_at, tokens_valid_after) VALUES ($1, $2, $3, NULLIF($4, ''), $5, $6, $7, $8, $9)") \
    X(USER_GET, "t", "SELECT " USER_COLS " FROM users WHERE id = $1")                        \
    X(USER_BY_EMAIL, "t", "SELECT " USER_COLS " FROM users WHERE email = $1")                \
    /* $8: the fields written (enum tn_user_field); the cutoff only moves forward */        \
    X(USER_UPDATE, "tttttbii",                                                               \
      "UPDATE users SET name = CASE WHEN $8 & 1 <> 0 THEN $2 ELSE name END, "                \
      "org_id = CASE WHEN $8 & 2 <> 0 THEN NULLIF($3, '') ELSE org_id END, "                 \
      "role = CASE WHEN $8 & 4 <> 0 THEN $4 ELSE role END, "                                 \
      "password_hash = CASE WHEN $8 & 8 <> 0 THEN $5 ELSE password_hash END, "               \
      "disabled = CASE WHEN $8 & 16 <> 0 THEN $6 ELSE disabled END, "                        \
      "tokens_valid_after = GREATEST(tokens_valid_after, $7) WHERE id = $1 "                 \
      /* TN_USER_KEEP_ADMIN (under ADMINS_LOCK): not an enabled admin before, or still */    \
      /* one after, or another is */                                                         \
      "AND ($8 & 32 = 0 OR role <> 'admin' OR disabled OR "                                  \
      "((CASE WHEN $8 & 4 <> 0 THEN $4 ELSE role END) = 'admin' AND "                        \
      "NOT (CASE WHEN $8 & 16 <> 0 THEN $6 ELSE disabled END)) OR EXISTS (SELECT 1 FROM "    \
      "users AS o WHERE o.id <> $1 AND o.role = 'admin' AND NOT o.disabled))")               \
    X(ADMINS_LOCK, "", "SELECT pg_advisory_xact_lock(" LOCK_ADMINS ")")                     \
    X(USER_SWAP_PASSWORD, "ttt",                                                             \
      "UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2")            \
    X(USER_COUNT, "", "SELECT count(*) FROM users")                                          \
    X(USER_LIST, "", "SELECT " USER_COLS " FROM users ORDER BY created_at, id")              \
    X(CLIENT_INSERT, "tttttttttii",                                                          \
      "INSERT INTO clients (" CLIENT_COLS ") "                                               \
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")                               \
    X(CLIENT_GET, "t", "SELECT " CLIENT_COLS " FROM clients WHERE id = $1")                  \
    X(CLIENT_TOUCH, "ti",                                                                    \
      "UPDATE clients SET last_used_at = GREATEST(last_used_at, $2) WHERE id = $1")          \
    X(CLIENT_DELETE, "t", "DELETE FROM clients WHERE id = $1")                               \
    X(CLIENT_LIST, "", "SELECT " CLIENT_COLS " FROM clients ORDER BY created_at, id")        \
    /* Never used: not touched, and nothing was ever granted to it. */                       \
    X(CLIENT_DELETE_UNUSED, "i",                                                             \
      "DELETE FROM clients WHERE created_at < $1 AND last_used_at = 0 "                      \
      "AND NOT EXISTS (SELECT 1 FROM consents WHERE client_id = clients.id) "                \
      "AND NOT EXISTS (SELECT 1 FROM codes WHERE client_id = clients.id) "                   \
      "AND NOT EXISTS (SELECT 1 FROM refresh_tokens WHERE client_id = clients.id)")          \
    X(CONSENT_GET, "tt", "SELECT scope FROM consents WHERE user_id = $1 AND client_id = $2") \
    X(CONSENT_PUT, "ttti",                                                                   \
      "INSERT INTO consents (user_id, client_id, scope, created_at, updated_at) "            \
      "VALUES ($1, $2, $3, $4, $4) ON CONFLICT (user_id, client_id) DO UPDATE "              \
      "SET scope = excluded.scope, updated_at = excluded.updated_at")                        \
    X(CONSENT_REVOKE, "tt", "DELETE FROM consents WHERE user_id = $1 AND client_id = $2")    \
    X(CONSENT_REVOKE_ALL, "t", "DELETE FROM consents WHERE user_id = $1")                    \
    X(CODE_INSERT, "httttttti",                                                              \
      "INSERT INTO codes (hash, client_id, user_id, redirect_uri, scope, resource, "         \
      "challenge, family, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")          \
    /* Of concurrent takers, one updates the row; the others wait for it, re-check       */  \
    /* `NOT used` against the committed row and update nothing. */                           \
    X(CODE_USE, "h",                                                                         \
      "UPDATE codes SET used = true WHERE hash = $1 AND NOT used RETURNING " CODE_COLS)      \
    X(CODE_GET, "h", "SELECT " CODE_COLS " FROM codes WHERE hash = $1")                      \
    X(EMAIL_CODE_INSERT, "tthhhtiiii",                                                       \
      "INSERT INTO email_codes (" EMAIL_CODE_COLS ") "                                       \
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")                                    \
    X(EMAIL_CODE_GET, "t", "SELECT " EMAIL_CODE_COLS " FROM email_codes WHERE id = $1")      \
    /* The one UPDATE that consumes; concurrent ones wait for the row and re-check. */      \
    X(EMAIL_CODE_USE_CODE, "thhii",                                                          \
      "UPDATE email_codes SET used_at = $4 WHERE id = $1 AND browser_hash = $2 "             \
      "AND code_hash = $3 AND used_at = 0 AND expires_at > $4 AND attempts < $5 "            \
      "RETURNING " EMAIL_CODE_COLS)                                                          \
    X(EMAIL_CODE_USE_LINK, "thhii",                                                          \
      "UPDATE email_codes SET used_at = $4 WHERE id = $1 AND browser_hash = $2 "             \
      "AND link_hash = $3 AND used_at = 0 AND expires_at > $4 AND attempts < $5 "            \
      "RETURNING " EMAIL_CODE_COLS)                                                          \
    X(EMAIL_CODE_MISS, "thii",                                                               \
      "UPDATE email_codes SET attempts = attempts + 1 WHERE id = $1 AND browser_hash = $2 "  \
      "AND used_at = 0 AND expires_at > $3 AND attempts < $4 RETURNING " EMAIL_CODE_COLS)   \
    X(EMAIL_CODE_CLEANUP, "i", "DELETE FROM email_codes WHERE expires_at <= $1")             \
    X(FAMILY_LOCK, "t", "SELECT pg_advisory_xact_lock(" LOCK_FAMILY ", hashtext($1))")       \
    /* A token born into a revoked family is revoked. */                                     \
    X(REFRESH_INSERT, "htttttiiib",                                                          \
      "INSERT INTO refresh_tokens (" REFRESH_COLS ") "                                       \
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10 OR EXISTS "                           \
      "(SELECT 1 FROM revoked_families WHERE family = $2))")                                 \
    X(REFRESH_GET, "h", "SELECT " REFRESH_COLS " FROM refresh_tokens WHERE hash = $1")       \
    X(REFRESH_LOCK, "h",                                                                     \
      "SELECT " REFRESH_COLS " FROM refresh_tokens WHERE hash = $1 FOR UPDATE")              \
    X(REFRESH_MARK, "hi",                                                                    \
      "UPDATE refresh_tokens SET rotated_at = $2 "                                           \
      "WHERE hash = $1 AND rotated_at = 0 AND NOT revoked")                                  \
    X(REFRESH_SPEND_GRACE, "hii",                                                            \
      "UPDATE refresh_tokens SET expires_at = rotated_at "                                   \
      "WHERE hash = $1 AND rotated_at > 0 AND NOT revoked "                                  \
      "AND expires_at > $2 AND rotated_at >= $2 - $3")                                       \
    X(FAMILY_REVOKE, "t", "UPDATE refresh_tokens SET revoked = true WHERE family = $1")      \
    X(FAMILY_REMEMBER, "t",                                                                  \
      "INSERT INTO revoked_families (family) VALUES ($1) ON CONFLICT DO NOTHING")            \
    X(USER_REVOKE_ALL, "t", "UPDATE refresh_tokens SET revoked = true WHERE user_id = $1")   \
    X(KEY_INSERT, "tttiii",                                                                  \
      "INSERT INTO signing_keys (" KEY_COLS ") VALUES ($1, $2, $3, $4, $5, $6)")             \
    X(KEY_LIST, "", "SELECT " KEY_COLS " FROM signing_keys ORDER BY created_at, seq")        \
    X(KEY_DELETE, "t", "DELETE FROM signing_keys WHERE kid = $1")                            \
    /* A concurrent replacer waits for the row, re-checks `pem = $2` against the         */  \
    /* committed row and changes nothing. */                                                 \
    X(KEY_REPLACE, "ttt", "UPDATE signing_keys SET pem = $3 WHERE kid = $1 AND pem = $2")    \
    X(IDENTITY_GET, "tt",                                                                    \
      "SELECT " IDENTITY_COLS " FROM identities WHERE issuer = $1 AND subject = $2")         \
    X(IDENTITY_LINK, "ttttii",                                                               \
      "INSERT INTO identities (" IDENTITY_COLS ") VALUES ($1, $2, $3, $4, $5, $6)")          \
    X(IDENTITY_TOUCH, "tti",                                                                 \
      "UPDATE identities SET last_used_at = $3 WHERE issuer = $1 AND subject = $2")          \
    X(IDENTITY_LIST, "t",                                                                    \
      "SELECT " IDENTITY_COLS " FROM identities WHERE user_id = $1 "                         \
      "ORDER BY created_at, issuer, subject")                                                \
    X(IDENTITY_DELETE_USER, "t", "DELETE FROM identities WHERE user_id = $1")                \
    /* grants (postgres_grants.c): $1 user, $2 now, $3 limit */                            \
    X(GRANT_LIST, "tii",                                                                     \
      "SELECT c.id, c.name, c.redirect_uris, c.application_type, "                          \
      "COALESCE(cs.scope, (SELECT r.scope FROM refresh_tokens AS r "                        \
      "WHERE r.user_id = $1 AND r.client_id = c.id AND NOT r.revoked "                      \
      "ORDER BY r.issued_at DESC LIMIT 1), ''), "                                           \
      "COALESCE(cs.created_at, 0), COALESCE(cs.updated_at, 0), "                            \
      "COALESCE(t.first_at, 0), COALESCE(t.last_at, 0), COALESCE(t.live, false), "          \
      "cs.user_id IS NOT NULL "                                                             \
      "FROM (SELECT client_id FROM consents WHERE user_id = $1 UNION "                      \
      "SELECT client_id FROM refresh_tokens WHERE user_id = $1 AND NOT revoked "            \
      "AND rotated_at = 0 AND expires_at > $2) AS g "                                       \
      "JOIN clients AS c ON c.id = g.client_id "                                            \
      "LEFT JOIN consents AS cs ON cs.user_id = $1 AND cs.client_id = c.id "                \
      "LEFT JOIN (SELECT client_id, MIN(issued_at) AS first_at, MAX(issued_at) AS last_at, " \
      "bool_or(rotated_at = 0 AND expires_at > $2) AS live "                                \
      "FROM refresh_tokens WHERE user_id = $1 AND NOT revoked "                             \
      "GROUP BY client_id) AS t ON t.client_id = c.id "                                     \
      "ORDER BY GREATEST(COALESCE(cs.updated_at, 0), COALESCE(t.last_at, 0)) DESC, "        \
      "c.id LIMIT $3")                                                                      \
    X(GRANT_REMEMBER_FAMILIES, "tt",                                                         \
      "INSERT INTO revoked_families (family) SELECT family FROM refresh_tokens "            \
      "WHERE user_id = $1 AND client_id = $2 UNION SELECT family FROM codes "               \
      "WHERE user_id = $1 AND client_id = $2 ON CONFLICT DO NOTHING")                       \
    X(GRANT_REVOKE_TOKENS, "tt",                                                             \
      "UPDATE refresh_tokens SET revoked = true WHERE user_id = $1 AND client_id = $2")     \
    X(GRANT_DROP_CODES, "tt",                                                                \
      "DELETE FROM codes WHERE user_id = $1 AND client_id = $2 AND NOT used")               \
    X(GRANT_DROP_CONSENT, "tt", "DELETE FROM consents WHERE user_id = $1 AND client_id = $2") \
    X(GRANT_RECORD, "tti",                                                                   \
      "INSERT INTO grant_revocations (user_id, client_id, revoked_at) VALUES ($1, $2, $3) " \
      "ON CONFLICT (user_id, client_id) DO UPDATE "                                         \
      "SET revoked_at = GREATEST(grant_revocations.revoked_at, excluded.revoked_at)")       \
    X(GRANT_REVOKED_AT, "tt",                                                                \
      "SELECT revoked_at FROM grant_revocations WHERE user_id = $1 AND client_id = $2")     \
    X(GRANT_REVOCATIONS, "tii",                                                              \
      "SELECT client_id, revoked_at FROM grant_revocations WHERE user_id = $1 "             \
      "AND revoked_at > $2 ORDER BY revoked_at DESC, client_id LIMIT $3")                   \
    X(USER_SIGN_OUT, "ti",                                                                   \
      "UPDATE users SET tokens_valid_after = GREATEST(tokens_valid_after, $2) WHERE id = $1") \
    X(USER_REMEMBER_FAMILIES, "t",                                                           \
      "INSERT INTO revoked_families (family) SELECT family FROM refresh_tokens "            \
      "WHERE user_id = $1 AND NOT revoked UNION SELECT family FROM codes WHERE user_id = $1 " \
      "ON CONFLICT DO NOTHING")                                                             \
    X(USER_DROP_CODES, "t", "DELETE FROM codes WHERE user_id = $1 AND NOT used")            \
    X(INVITATION_INSERT, "httttiii",                                                         \
      "INSERT INTO invitations (" INVITATION_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)") \
    X(INVITATION_GET, "h", "SELECT " INVITATION_COLS " FROM invitations WHERE hash = $1")    \
    /* The one UPDATE that accepts; a concurrent one waits for the row and re-checks. */     \
    /* an invitation dies with its inviter's account (disabled) */                          \
    X(INVITATION_TAKE, "hi",                                                                 \
      "UPDATE invitations SET used_at = $2 WHERE hash = $1 AND used_at = 0 "                 \
      "AND expires_at > $2 AND NOT EXISTS (SELECT 1 FROM users "                             \
      "WHERE id = invitations.invited_by AND disabled) RETURNING " INVITATION_COLS)          \
    X(INVITATION_PENDING, "ti",                                                              \
      "SELECT " INVITATION_COLS " FROM invitations WHERE email = $1 AND used_at = 0 "        \
      "AND expires_at > $2 AND NOT EXISTS (SELECT 1 FROM users "                             \
      "WHERE id = invitations.invited_by AND disabled) ORDER BY created_at DESC, hash LIMIT 1") \
    X(INVITATION_LIST, "i",                                                                  \
      "SELECT " INVITATION_COLS " FROM invitations WHERE used_at = 0 AND expires_at > $1 "   \
      "ORDER BY created_at, email, hash")                                                    \
    X(INVITATION_REVOKE, "t", "DELETE FROM invitations WHERE email = $1 AND used_at = 0")    \
    X(ORG_DOMAIN_ADD, "tti",                                                                 \
      "INSERT INTO org_domains (" ORG_DOMAIN_COLS ") VALUES ($1, $2, $3)")                   \
    X(ORG_DOMAIN_GET, "t", "SELECT " ORG_DOMAIN_COLS " FROM org_domains WHERE domain = $1")  \
    X(ORG_DOMAIN_REMOVE, "tt", "DELETE FROM org_domains WHERE org_id = $1 AND domain = $2")  \
    X(ORG_DOMAIN_LIST, "t",                                                                  \
      "SELECT " ORG_DOMAIN_COLS " FROM org_domains WHERE org_id = $1 ORDER BY domain")       \
    X(ORG_SSO_PUT, "ttttttttbbi",                                                            \
      "INSERT INTO org_sso (" ORG_SSO_COLS ") "                                              \
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "                               \
      "ON CONFLICT (org_id) DO UPDATE SET issuer = $2, client_id = $3, client_secret = $4, " \
      "scopes = $5, groups_claim = $6, role_map = $7, default_role = $8, require_sso = $9, " \
      "allow_signup = $10, updated_at = $11")                                                \
    X(ORG_SSO_GET, "t", "SELECT " ORG_SSO_COLS " FROM org_sso WHERE org_id = $1")            \
    X(ORG_SSO_DELETE, "t", "DELETE FROM org_sso WHERE org_id = $1")                          \
    X(ORG_SSO_COUNT, "", "SELECT count(*) FROM org_sso")                                     \
    /* The caller of this notes transaction, for the row-level security policies; */         \
    /* is_local = true: the settings end with the transaction. */                            \
    X(NOTE_AS, "tt",                                                                         \
      "SELECT set_config('teamnotes.user', $1, true), set_config('teamnotes.org', $2, true)") \
    /* The same before a page of notes, which then reads its index in order and stops  */   \
    /* after the page. With the policy's OR (own notes, or shared ones) the planner     */  \
    /* guessed one row for each branch, read every note of the owner with a bitmap scan */  \
    /* of both indexes and sorted them (docs/PERFORMANCE.md, P1), or on a small table   */  \
    /* read it all and sorted. Without sorting, reading the index in order is the plan. */  \
    /* Also the generic one: a page statement runs only after this, in its transaction. */  \
    X(NOTE_AS_PAGE, "tt",                                                                    \
      "SELECT set_config('teamnotes.user', $1, true), set_config('teamnotes.org', $2, true), " \
      "set_config('enable_sort', 'off', true)")                                              \
    /* A note write, announced to every instance (postgres_listen.c) after its commit, */ \
    /* as a transaction of its own that does not wait for the disk (postgres.c).        */ \
    X(NOTE_ANNOUNCE, "t",                                                                    \
      "SELECT set_config('synchronous_commit', 'off', true), "                               \
      "pg_notify('teamnotes_notes', $1)")                                                    \
    /* The same inside an import's transaction. */                                           \
    X(NOTE_ANNOUNCE_TX, "t", "SELECT pg_notify('teamnotes_notes', $1)")                     \
    X(NOTE_INSERT, "tttttttiii",                                                             \
      "INSERT INTO notes (" NOTE_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")  \
    /* An imported note: its id is derived from its source, so a second import of it   */    \
    /* changes nothing.                                                                */    \
    X(NOTE_IMPORT, "tttttttiii",                                                             \
      "INSERT INTO notes (" NOTE_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "  \
      "ON CONFLICT (id) DO NOTHING")                                                         \
    X(NOTE_GET, "ttt",                                                                       \
      "SELECT " NOTE_READ_COLS " FROM notes WHERE id = $1 AND org = $3 "                     \
      "AND (owner = $2 OR (visibility = 'org' AND org <> ''))")                              \
    X(NOTE_GET_OWN, "ttt",                                                                   \
      "SELECT " NOTE_READ_COLS " FROM notes WHERE id = $1 AND owner = $2 AND org = $3")      \
    /* NULL: unchanged. */                                                                   \
    X(NOTE_UPDATE, "tttitttti",                                                              \
      "UPDATE notes SET title = COALESCE($5, title), content = COALESCE($6, content), "      \
      "tags = COALESCE($7, tags), visibility = COALESCE($8, visibility), "                   \
      "version = version + 1, updated_at = GREATEST($9, updated_at) "                        \
      "WHERE id = $1 AND owner = $2 AND org = $3 AND version = $4 RETURNING " NOTE_READ_COLS) \
    /* expected version 0: any. */                                                           \
    X(NOTE_DELETE, "ttti",                                                                   \
      "DELETE FROM notes WHERE id = $1 AND owner = $2 AND org = $3 "                         \
      "AND ($4 = 0 OR version = $4)")                                                        \
    /* The first page arrives as after (INT64_MAX, ""), so every page is this range.   */   \
    /* Without and with a tag, two statements: with "($5 IS NULL OR tag_set @> ...)"  */   \
    /* the server's generic plan (used after five executions) guessed one row and     */   \
    /* read every note of the owner through a bitmap scan and sorted them (4.8 ms for */   \
    /* 2,151 notes against 0.06 for the index in order); each now reads in order.     */   \
    X(NOTE_LIST, "ttiti",                                                                    \
      "SELECT " NOTE_LIST_COLS " FROM notes WHERE owner = $1 AND org = $2 "                  \
      "AND (updated_at, id) < ($3, $4) "                                                     \
      "ORDER BY updated_at DESC, id DESC LIMIT $5")                                          \
    X(NOTE_LIST_TAG, "ttitti",                                                               \
      "SELECT " NOTE_LIST_COLS " FROM notes WHERE owner = $1 AND org = $2 "                  \
      "AND (updated_at, id) < ($3, $4) AND tag_set @> jsonb_build_array($5::text) "          \
      "ORDER BY updated_at DESC, id DESC LIMIT $6")                                          \
    X(NOTE_LIST_TEAM, "titi",                                                                \
      "SELECT " NOTE_LIST_COLS " FROM notes WHERE org = $1 AND visibility = 'org' AND org <> '' " \
      "AND (updated_at, id) < ($2, $3) "                                                     \
      "ORDER BY updated_at DESC, id DESC LIMIT $4")                                          \
    X(NOTE_LIST_TEAM_TAG, "titti",                                                           \
      "SELECT " NOTE_LIST_COLS " FROM notes WHERE org = $1 AND visibility = 'org' AND org <> '' " \
      "AND (updated_at, id) < ($2, $3) AND tag_set @> jsonb_build_array($4::text) "          \
      "ORDER BY updated_at DESC, id DESC LIMIT $5")                                          \
    /* Each word of the query is a phrase of plain terms (phraseto_tsquery: "e-mail",   */   \
    /* "NEAR(a" match only their tokens side by side, as on SQLite), all words must     */   \
    /* match, and no query syntax of the user's reaches the parser. A word without     */    \
    /* terms ("*", "--") is skipped. Snippets are made for the rows returned only.      */   \
    X(NOTE_SEARCH, "ttti",                                                                   \
      "WITH q AS (SELECT notes_all_words(w.q) AS q FROM "                                    \
      "(SELECT phraseto_tsquery('simple', notes_fold(word)) AS q "                           \
      "FROM regexp_split_to_table($3, '[ \\t\\n\\r\\v\\f]+') AS word) AS w "                 \
      "WHERE numnode(w.q) > 0), "                                                            \
      "hits AS (SELECT " NOTE_COLS ", ts_rank(search, q.q) AS rank FROM notes, q "           \
      "WHERE search @@ q.q AND org = $2 "                                                    \
      "AND (owner = $1 OR (visibility = 'org' AND org <> '')) "                              \
      "ORDER BY rank DESC, updated_at DESC, id DESC LIMIT $4) "                              \
      "SELECT " NOTE_LIST_COLS ", ts_headline('simple', content, q.q, " HEADLINE_OPTS "), rank " \
      "FROM hits, q ORDER BY rank DESC, updated_at DESC, id DESC")                           \
    X(AUDIT_INSERT, "ittttttt",                                                              \
      "INSERT INTO audit (" AUDIT_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")          \
    X(AUDIT_LIST, "i", "SELECT " AUDIT_COLS " FROM audit ORDER BY at DESC, seq DESC LIMIT $1") \
    ADMIN_STMTS(X)
// clang-format on

// clang-format off
enum stmt_id {
#define STMT_ENUM(name, types, sql) S_##name,
    STMTS(STMT_ENUM)
#undef STMT_ENUM
    S__COUNT
};
// clang-format on

/* ---------- connections and calls ---------- */

struct conn {
    PGconn *pg;
    bool prepared[S__COUNT]; /* on this server session; a reset forgets them */
    struct conn *next;       /* in the idle list */
};

struct pg_store {
    struct tn_store base;
    char *url;
    pthread_mutex_t mu; /* guards idle and nopen */
    pthread_cond_t cv;  /* a connection was returned */
    struct conn *idle;
    int nopen;
    /* the notes change feed (postgres_listen.c): LISTEN teamnotes_notes on a connection
     * of its own, which also announces this store's note writes */
    pthread_t watcher;
    atomic_bool watching;
    atomic_bool stop_watch;
    void (*watch_fn)(const char *owner, void *ud);
    void *watch_ud;
    pthread_mutex_t feed_mu; /* guards the owners to announce */
    char **feed_q;           /* owners whose notes changed, not announced yet (distinct) */
    char **feed_spare;       /* the feed thread's: the queue's next place, while it sends */
    size_t feed_n;
    int64_t feed_first;  /* when the first of them was queued (monotonic milliseconds) */
    size_t feed_dropped; /* owners not queued since the last announcement: the queue was full */
    int feed_wake;       /* eventfd: the feed thread has owners to announce, or must stop */
};

/* One attempt of one store call. */
struct call {
    struct conn *c;
    bool lost;                 /* the connection broke during this attempt */
    bool pending;              /* BEGIN not sent yet: it goes with the first statement */
    const struct tn_owner *as; /* with BEGIN, the caller (NOTE_AS) of a notes call */
    const char *announce;      /* the owner whose notes this call changed: announced */
};

/* Values bound to $1, $2, ...: text format except hashes (bytea, binary). */
struct params {
    int n;
    const char *v[MAX_PARAMS];
    int len[MAX_PARAMS];
    int fmt[MAX_PARAMS];
    char num[MAX_PARAMS][24];
};

/* The work of one call, run by with_conn; it may run twice (a retry after a lost
 * connection), so it must reset its outputs at the start. */
typedef enum tn_err (*body_fn)(struct call *k, void *arg);

/* ---------- running statements (postgres.c, documented there) ---------- */

enum tn_err pg_run(struct call *k, enum stmt_id id, PGresult **res, ...);
enum tn_err pg_simple(struct call *k, const char *sql);
enum tn_err pg_copy_in(struct call *k, const char *sql, const char *data, size_t len);
int64_t pg_changes(const PGresult *r);
enum tn_err pg_with_conn(struct tn_store *base, bool tx, const struct tn_owner *as, body_fn body,
                         void *arg);
enum tn_err pg_one(struct tn_store *s, const struct tn_owner *as, bool tx, enum stmt_id id,
                   PGresult **res, ...);
enum tn_err pg_one_read_as(struct tn_store *s, const struct tn_owner *as, enum stmt_id id,
                           PGresult **res, ...);
bool pg_col_text(const PGresult *r, int row, int col, char *dst, size_t cap);
int64_t pg_col_int(const PGresult *r, int row, int col);
bool pg_col_bool(const PGresult *r, int row, int col);
bool pg_col_hash(const PGresult *r, int row, int col, uint8_t dst[32]);
enum tn_err pg_row_result(bool ok, const char *table);

#define TEXT(c, field) pg_col_text(r, i, (c), (field), sizeof(field))

/* ---------- generic shapes of a call ---------- */

/* One write statement in its own transaction; *n_ = rows changed. */
#define WRITE1(base, n_, id, ...)                                            \
    do {                                                                     \
        PGresult *r_;                                                        \
        enum tn_err e_ = pg_one((base), NULL, true, (id), &r_, __VA_ARGS__); \
        *(n_) = e_ == TN_OK ? pg_changes(r_) : 0;                            \
        PQclear(r_);                                                         \
        return e_;                                                           \
    } while (0)

/* A write that must change a row: none changed is TN_ERR_NOT_FOUND. */
#define WRITE_ONE(base, id, ...)                                             \
    do {                                                                     \
        PGresult *r_;                                                        \
        enum tn_err e_ = pg_one((base), NULL, true, (id), &r_, __VA_ARGS__); \
        if (e_ == TN_OK && pg_changes(r_) == 0)                              \
            e_ = TN_ERR_NOT_FOUND;                                           \
        PQclear(r_);                                                         \
        return e_;                                                           \
    } while (0)

/* A write whose row count does not matter. */
#define WRITE(base, id, ...)                                                 \
    do {                                                                     \
        PGresult *r_;                                                        \
        enum tn_err e_ = pg_one((base), NULL, true, (id), &r_, __VA_ARGS__); \
        PQclear(r_);                                                         \
        return e_;                                                           \
    } while (0)

/* One row read into *out with reader `rd`; *out is zeroed again unless TN_OK. */
#define READ1(base, out, rd, id, ...)                                           \
    do {                                                                        \
        PGresult *r_;                                                           \
        enum tn_err e_ = pg_one((base), NULL, false, (id), &r_, ##__VA_ARGS__); \
        if (e_ == TN_OK)                                                        \
            e_ = PQntuples(r_) > 0 ? rd(r_, 0, (out)) : TN_ERR_NOT_FOUND;       \
        PQclear(r_);                                                            \
        if (e_ != TN_OK)                                                        \
            memset((out), 0, sizeof *(out));                                    \
        return e_;                                                              \
    } while (0)

/* Every row of `id`, read into `type` with `rd` and handed to `cb` after the
 * connection is back in the pool. The rows are one statement's consistent snapshot. */
#define LIST(base, type, rd, cb, ud, id, ...)                                   \
    do {                                                                        \
        PGresult *r_;                                                           \
        enum tn_err e_ = pg_one((base), NULL, false, (id), &r_, ##__VA_ARGS__); \
        for (int i_ = 0; e_ == TN_OK && i_ < PQntuples(r_); i_++) {             \
            type item_;                                                         \
            memset(&item_, 0, sizeof item_);                                    \
            if ((e_ = rd(r_, i_, &item_)) == TN_OK)                             \
                cb(&item_, (ud));                                               \
        }                                                                       \
        PQclear(r_);                                                            \
        return e_;                                                              \
    } while (0)

/* ---------- operations (postgres_auth.c, postgres_notes.c, postgres_listen.c) ---------- */

enum tn_err pg_org_insert(struct tn_store *s, const struct tn_org *o);
enum tn_err pg_org_get(struct tn_store *s, const char *id, struct tn_org *out);
enum tn_err pg_org_by_name(struct tn_store *s, const char *name, struct tn_org *out);
enum tn_err pg_org_list(struct tn_store *s, tn_store_org_cb cb, void *ud);
enum tn_err pg_user_insert(struct tn_store *s, const struct tn_user *u);
enum tn_err pg_user_get(struct tn_store *s, const char *id, struct tn_user *out);
enum tn_err pg_user_by_email(struct tn_store *s, const char *email, struct tn_user *out);
enum tn_err pg_user_update(struct tn_store *s, const struct tn_user *u, unsigned fields);
enum tn_err pg_user_swap_password(struct tn_store *s, const char *id, const char *was,
                                  const char *hash);
enum tn_err pg_user_count(struct tn_store *s, int64_t *n);
enum tn_err pg_user_list(struct tn_store *s, tn_store_user_cb cb, void *ud);
enum tn_err pg_client_insert(struct tn_store *s, const struct tn_client *c);
enum tn_err pg_client_get(struct tn_store *s, const char *id, struct tn_client *out);
enum tn_err pg_client_touch(struct tn_store *s, const char *id, int64_t now);
enum tn_err pg_client_delete(struct tn_store *s, const char *id);
enum tn_err pg_client_list(struct tn_store *s, tn_store_client_cb cb, void *ud);
enum tn_err pg_client_delete_unused(struct tn_store *s, int64_t created_before, int64_t *n);
/* identities (postgres_identity.c) */
enum tn_err pg_identity_get(struct tn_store *s, const char *issuer, const char *subject,
                            struct tn_identity *out);
enum tn_err pg_identity_link(struct tn_store *s, const struct tn_identity *id);
enum tn_err pg_identity_touch(struct tn_store *s, const char *issuer, const char *subject,
                              int64_t now);
enum tn_err pg_identity_list(struct tn_store *s, const char *user_id, tn_store_identity_cb cb,
                             void *ud);
enum tn_err pg_identity_delete_user(struct tn_store *s, const char *user_id, int64_t *n);
/* grants (postgres_grants.c) */
enum tn_err pg_grant_list(struct tn_store *s, const char *user_id, int64_t now, unsigned limit,
                          tn_store_grant_cb cb, void *ud);
enum tn_err pg_grant_revoke(struct tn_store *s, const char *user_id, const char *client_id,
                            int64_t revoked_at);
enum tn_err pg_grant_revoked_at(struct tn_store *s, const char *user_id, const char *client_id,
                                int64_t *at);
enum tn_err pg_grant_revocations(struct tn_store *s, const char *user_id, int64_t since,
                                 unsigned limit, tn_store_grant_revocation_cb cb, void *ud);
enum tn_err pg_user_sign_out(struct tn_store *s, const char *user_id, int64_t valid_after);
/* invitations (postgres_invitation.c) */
enum tn_err pg_invitation_insert(struct tn_store *s, const struct tn_invitation *inv);
enum tn_err pg_invitation_get(struct tn_store *s, const uint8_t hash[32],
                              struct tn_invitation *out);
enum tn_err pg_invitation_take(struct tn_store *s, const uint8_t hash[32], int64_t now,
                               struct tn_user *user, struct tn_invitation *out);
enum tn_err pg_invitation_pending(struct tn_store *s, const char *email, int64_t now,
                                  struct tn_invitation *out);
enum tn_err pg_invitation_list(struct tn_store *s, int64_t now, tn_store_invitation_cb cb,
                               void *ud);
enum tn_err pg_invitation_revoke(struct tn_store *s, const char *email, int64_t *n);
enum tn_err pg_org_domain_add(struct tn_store *s, const struct tn_org_domain *d);
enum tn_err pg_org_domain_get(struct tn_store *s, const char *domain, struct tn_org_domain *out);
enum tn_err pg_org_domain_remove(struct tn_store *s, const char *org_id, const char *domain);
enum tn_err pg_org_domain_list(struct tn_store *s, const char *org_id, tn_store_org_domain_cb cb,
                               void *ud);
enum tn_err pg_org_sso_put(struct tn_store *s, const struct tn_org_sso *c);
enum tn_err pg_org_sso_get(struct tn_store *s, const char *org_id, struct tn_org_sso *out);
enum tn_err pg_org_sso_delete(struct tn_store *s, const char *org_id);
enum tn_err pg_org_sso_count(struct tn_store *s, int64_t *n);
enum tn_err pg_consent_get(struct tn_store *s, const char *user_id, const char *client_id,
                           char scope[256]);
enum tn_err pg_consent_put(struct tn_store *s, const char *user_id, const char *client_id,
                           const char *scope, int64_t now);
enum tn_err pg_consent_revoke(struct tn_store *s, const char *user_id, const char *client_id);
enum tn_err pg_code_insert(struct tn_store *s, const struct tn_code *c);
enum tn_err pg_email_code_insert(struct tn_store *s, const struct tn_email_code *c);
enum tn_err pg_email_code_get(struct tn_store *s, const char *id, struct tn_email_code *out);
enum tn_err pg_email_code_use(struct tn_store *s, const char *id, const uint8_t browser[32],
                              const uint8_t hash[32], bool link, int64_t now,
                              struct tn_email_code *out);
enum tn_err pg_email_code_cleanup(struct tn_store *s, int64_t now, int64_t *n);
enum tn_err pg_code_take(struct tn_store *s, const uint8_t hash[32], struct tn_code *out);
enum tn_err pg_refresh_insert(struct tn_store *s, const struct tn_refresh *t);
enum tn_err pg_refresh_rotate(struct tn_store *s, const uint8_t old_hash[32],
                              const struct tn_refresh *next, int64_t now, struct tn_refresh *old);
enum tn_err pg_refresh_get(struct tn_store *s, const uint8_t hash[32], struct tn_refresh *out);
enum tn_err pg_refresh_spend_grace(struct tn_store *s, const uint8_t hash[32], int64_t now,
                                   int64_t grace_s);
enum tn_err pg_family_revoke(struct tn_store *s, const char *family);
enum tn_err pg_user_revoke_all(struct tn_store *s, const char *user_id);
enum tn_err pg_key_insert(struct tn_store *s, const struct tn_signing_key *k);
enum tn_err pg_key_list(struct tn_store *s, tn_store_key_cb cb, void *ud);
enum tn_err pg_key_delete(struct tn_store *s, const char *kid);
enum tn_err pg_key_replace(struct tn_store *s, const char *kid, const char *expected,
                           const char *pem);

enum tn_err pg_note_insert(struct tn_store *s, const struct tn_owner *o, const struct tn_note *n);
enum tn_err pg_note_import(struct tn_store *s, const struct tn_note *v, size_t n, size_t *added);
enum tn_err pg_note_get(struct tn_store *s, const struct tn_owner *o, const char *id,
                        struct tn_note *out);
enum tn_err pg_note_update(struct tn_store *s, const struct tn_owner *o, const char *id,
                           int64_t expected_version, const char *title, const char *content,
                           const char *tags, const char *visibility, int64_t now,
                           struct tn_note *out);
enum tn_err pg_note_delete(struct tn_store *s, const struct tn_owner *o, const char *id,
                           int64_t expected_version);
enum tn_err pg_note_list(struct tn_store *s, const struct tn_owner *o, const struct tn_note_page *p,
                         tn_store_note_cb cb, void *ud);
enum tn_err pg_note_list_team(struct tn_store *s, const struct tn_owner *o,
                              const struct tn_note_page *p, tn_store_note_cb cb, void *ud);
enum tn_err pg_note_search(struct tn_store *s, const struct tn_owner *o, const char *query,
                           unsigned limit, tn_store_note_cb cb, void *ud);
enum tn_err pg_audit_insert(struct tn_store *s, const struct tn_audit *a, size_t n, bool sync);
enum tn_err pg_audit_list(struct tn_store *s, unsigned limit, tn_store_audit_cb cb, void *ud);
/* the admin console (postgres_auth.c; audit_query in postgres_notes.c) */
enum tn_err pg_user_signed_in(struct tn_store *s, const char *id, int64_t now);
enum tn_err pg_user_search(struct tn_store *s, const struct tn_user_query *q, tn_store_user_cb cb,
                           void *ud, int64_t *total);
enum tn_err pg_client_grants(struct tn_store *s, const char *client_id, int64_t now,
                             tn_store_client_grant_cb cb, void *ud);
enum tn_err pg_client_usage(struct tn_store *s, int64_t now, tn_store_usage_cb cb, void *ud);
enum tn_err pg_key_schedule(struct tn_store *s, const char *kid, int64_t signs_from,
                            int64_t retire_at);
enum tn_err pg_audit_query(struct tn_store *s, const struct tn_audit_filter *f,
                           tn_store_audit_cb cb, void *ud);

enum tn_err pg_watch_notes(struct tn_store *base, void (*fn)(const char *owner, void *ud),
                           void *ud);
/* postgres_listen.c: queues `owner` for the feed thread to announce; false when this
 * store does not watch the feed (the caller announces it itself). */
bool pg_feed_announce(struct pg_store *s, const char *owner);
/* postgres_listen.c: announces what is queued and stops the feed thread (pg_close). */
void pg_feed_stop(struct pg_store *s);
/* postgres.c: a new connection to `url` (not yet checked: PQstatus), with our defaults;
 * the URL's own parameters win over them, except the client encoding: every string the
 * store handles is UTF-8. The server's notices are not written to stderr. */
PGconn *pg_connect(const char *url);
/* The same, started without waiting (PQconnectStartParams: the caller polls it). */
PGconn *pg_connect_start(const char *url);

/* postgres.c: a formatted message appended to err (if not NULL); libpq's messages end
 * in a newline and may span lines: one line of it in buf, for logs and errors. */
void pg_errf(struct tn_buf *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *pg_one_line(const char *msg, char *buf, size_t cap);
/* postgres_migrate.c: brings the database to this binary's schema (under a session
 * advisory lock), and refuses one whose notes table has row-level security off. */
enum tn_err pg_migrate(PGconn *pg, int *version, struct tn_buf *err);
enum tn_err pg_check_rls(PGconn *pg, struct tn_buf *err);

#endif
