/* Internal to the SQLite backend: what its files share. The backend is
 *   sqlite.c         connections and the pool, running statements, open, migrate, close
 *   sqlite_auth.c    organizations, users, clients, consent, codes, refresh tokens, keys
 *   sqlite_notes.c   notes, search and the audit log
 *   sqlite_commit.c  the group commit of note writes
 * and sqlite.c's top comment says how it works. Here: the statements (each connection
 * prepares them on first use), the store and connection structs, the helpers a call runs
 * its statements with, and the operations the table in sqlite.c points to. */
#ifndef TN_STORE_SQLITE_INTERNAL_H
#define TN_STORE_SQLITE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "store/backend.h"

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
#define STR_(x) #x
#define STR(x) STR_(x)
#define LIST_TEXT STR(TN_NOTE_LIST_TEXT)
#define NOTE_COLS                                                                 \
    "n.id, n.owner, n.org, n.title, n.content, n.tags, n.visibility, n.version, " \
    "n.created_at, n.updated_at, length(n.content)"
/* Pages and searches carry only the first TN_NOTE_LIST_TEXT characters of the text
 * (substr counts characters of TEXT values, so the cut is on a character boundary), and
 * its length in characters. A text of at most TN_NOTE_LIST_TEXT bytes (so characters)
 * is handed over as it is: its byte length is known without reading it, where substr
 * would copy it and length() count it. Every column is in the index notes_owner (0005),
 * so a page reads no table row. bench_store_ops 3000 5, list of 20, p50 CPU, three runs
 * each: 11-12 us when lists left the text out; 26-41 us with substr on every row read
 * from the table; 20 us from the index; 17 us from the index with this test. */
#define NOTE_LIST_COLS                                                                           \
    "n.id, n.owner, n.org, n.title, CASE WHEN length(CAST(n.content AS BLOB)) <= " LIST_TEXT " " \
    "THEN n.content ELSE substr(n.content, 1, " LIST_TEXT ") END, "                              \
    "n.tags, n.visibility, n.version, n.created_at, n.updated_at, length(n.content)"
#define AUDIT_COLS "at, user_key, org, client_id, tool, note_id, outcome, detail"
#define AUDIT_ROW "(?, ?, ?, ?, ?, ?, ?, ?)"
#define AUDIT_VALUES_4 AUDIT_ROW ", " AUDIT_ROW ", " AUDIT_ROW ", " AUDIT_ROW
#define AUDIT_VALUES_16 AUDIT_VALUES_4 ", " AUDIT_VALUES_4 ", " AUDIT_VALUES_4 ", " AUDIT_VALUES_4
enum { AUDIT_ROWS = 16 };
/* The owner's own note ?1 (user ?2, org ?3). */
#define NOTE_OWN_WHERE "n.id = ?1 AND n.owner = ?2 AND n.org = ?3"
/* Own notes, or notes shared with the (non-empty) org ?3. */
#define NOTE_VISIBLE_WHERE "n.org = ?3 AND (n.owner = ?2 OR (n.visibility = 'org' AND n.org <> ''))"
#define NOTE_TAG_FILTER(p)                                                                       \
    "(" p " IS NULL OR EXISTS (SELECT 1 FROM note_tags AS t WHERE t.note = n.seq AND t.tag = " p \
    "))"

/* The admin console's statements (#19; sqlite_auth.c, sqlite_notes.c). A member search matches ?1, a
 * lower-case ASCII text or NULL, inside the email or the name (instr: no LIKE wildcards
 * to escape). A user filter of the audit is the key itself or a user id after its '|'. */
#define USER_MATCH "(?1 IS NULL OR instr(email, ?1) > 0 OR instr(lower(name), ?1) > 0)"
#define GRANT_CURRENT "r.revoked = 0 AND r.rotated_at = 0 AND r.expires_at > "
// clang-format off
#define ADMIN_STMTS(X)                                                                       \
    X(BEGIN_READ, "BEGIN")                                                                   \
    X(USER_SIGNED_IN, "UPDATE users SET last_signin_at = MAX(last_signin_at, ?2) WHERE id = ?1") \
    X(USER_SEARCH, "SELECT " USER_COLS " FROM users WHERE " USER_MATCH " "                   \
                   "ORDER BY email LIMIT ?3 OFFSET ?2")                                      \
    X(USER_SEARCH_COUNT, "SELECT COUNT(*) FROM users WHERE " USER_MATCH)                     \
    X(CLIENT_GRANTS,                                                                         \
      "SELECT u.id, u.email, COALESCE(c.scope, ''), COALESCE(c.updated_at, 0), "             \
      "(SELECT COUNT(DISTINCT r.family) FROM refresh_tokens AS r WHERE r.client_id = ?1 "    \
      " AND r.user_id = u.id AND " GRANT_CURRENT "?2), "                                    \
      "(SELECT COALESCE(MAX(r.issued_at), 0) FROM refresh_tokens AS r WHERE r.client_id = ?1 " \
      " AND r.user_id = u.id AND " GRANT_CURRENT "?2) "                                     \
      "FROM users AS u LEFT JOIN consents AS c ON c.user_id = u.id AND c.client_id = ?1 "    \
      "WHERE c.user_id IS NOT NULL OR EXISTS (SELECT 1 FROM refresh_tokens AS r "            \
      " WHERE r.client_id = ?1 AND r.user_id = u.id AND " GRANT_CURRENT "?2) "              \
      "ORDER BY u.email")                                                                    \
    X(CLIENT_USAGE,                                                                          \
      "SELECT client_id, COUNT(DISTINCT user_id) FROM ("                                     \
      "SELECT client_id, user_id FROM consents UNION "                                       \
      "SELECT r.client_id, r.user_id FROM refresh_tokens AS r WHERE " GRANT_CURRENT "?1) "   \
      "GROUP BY client_id")                                                                  \
    X(KEY_SCHEDULE, "UPDATE signing_keys SET signs_from = ?2, retire_at = ?3 WHERE kid = ?1") \
    X(AUDIT_QUERY, "SELECT " AUDIT_COLS " FROM audit "                                       \
                   "WHERE (?1 IS NULL OR user_key = ?1 "                                     \
                   "       OR substr(user_key, -length(?1) - 1) = '|' || ?1) "               \
                   "AND (?2 IS NULL OR tool = ?2) AND (?3 IS NULL OR outcome = ?3) "         \
                   "AND at >= ?4 AND at < ?5 ORDER BY at DESC, seq DESC LIMIT ?6")
// clang-format on

/* Every statement the backend runs, prepared once per connection. Parameters are
 * numbered in the order sq_run() binds them. */
// clang-format off
#define STMTS(X)                                                                             \
    X(BEGIN, "BEGIN IMMEDIATE")                                                              \
    X(COMMIT, "COMMIT")                                                                      \
    X(ROLLBACK, "ROLLBACK")                                                                  \
    X(ORG_INSERT, "INSERT INTO orgs (" ORG_COLS ") VALUES (?1, ?2, ?3)")                     \
    X(ORG_GET, "SELECT " ORG_COLS " FROM orgs WHERE id = ?1")                                \
    X(ORG_BY_NAME, "SELECT " ORG_COLS " FROM orgs WHERE name = ?1")                          \
    X(ORG_LIST, "SELECT " ORG_COLS " FROM orgs ORDER BY created_at, id")                     \
    X(USER_INSERT, "INSERT INTO users (id, email, name, org_id, role, password_hash, "       \
                   "disabled, created_at, tokens_valid_after) "                              \
                   "VALUES (?1, ?2, ?3, NULLIF(?4, ''), ?5, ?6, ?7, ?8, ?9)")                \
    X(USER_GET, "SELECT " USER_COLS " FROM users WHERE id = ?1")                             \
    X(USER_BY_EMAIL, "SELECT " USER_COLS " FROM users WHERE email = ?1")                     \
    /* ?8: the fields written (enum tn_user_field); the cutoff only moves forward */         \
    X(USER_UPDATE, "UPDATE users SET name = CASE WHEN ?8 & 1 THEN ?2 ELSE name END, "       \
                   "org_id = CASE WHEN ?8 & 2 THEN NULLIF(?3, '') ELSE org_id END, "        \
                   "role = CASE WHEN ?8 & 4 THEN ?4 ELSE role END, "                        \
                   "password_hash = CASE WHEN ?8 & 8 THEN ?5 ELSE password_hash END, "      \
                   "disabled = CASE WHEN ?8 & 16 THEN ?6 ELSE disabled END, "               \
                   "tokens_valid_after = MAX(tokens_valid_after, ?7) WHERE id = ?1 "        \
                   /* TN_USER_KEEP_ADMIN: not an enabled admin before, or still one after, */ \
                   /* or another is */                                                      \
                   "AND ((?8 & 32) = 0 OR role <> 'admin' OR disabled <> 0 OR "             \
                   "((CASE WHEN ?8 & 4 THEN ?4 ELSE role END) = "                           \
                   "'admin' AND (CASE WHEN ?8 & 16 THEN ?6 ELSE disabled END) = 0) OR "     \
                   "EXISTS (SELECT 1 FROM users AS o WHERE o.id <> ?1 AND "                 \
                   "o.role = 'admin' AND o.disabled = 0))")                                 \
    X(USER_SWAP_PASSWORD, "UPDATE users SET password_hash = ?3 "                             \
                          "WHERE id = ?1 AND password_hash = ?2")                            \
    X(USER_COUNT, "SELECT COUNT(*) FROM users")                                              \
    X(USER_LIST, "SELECT " USER_COLS " FROM users ORDER BY created_at, id")                  \
    X(CLIENT_INSERT, "INSERT INTO clients (" CLIENT_COLS ") "                                \
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)")                \
    X(CLIENT_GET, "SELECT " CLIENT_COLS " FROM clients WHERE id = ?1")                       \
    X(CLIENT_TOUCH, "UPDATE clients SET last_used_at = MAX(last_used_at, ?2) WHERE id = ?1") \
    X(CLIENT_DELETE, "DELETE FROM clients WHERE id = ?1")                                    \
    X(CLIENT_LIST, "SELECT " CLIENT_COLS " FROM clients ORDER BY created_at, id")            \
    /* Never used: not touched, and nothing was ever granted to it. */                       \
    X(CLIENT_DELETE_UNUSED,                                                                  \
      "DELETE FROM clients WHERE created_at < ?1 AND last_used_at = 0 "                      \
      "AND NOT EXISTS (SELECT 1 FROM consents WHERE client_id = clients.id) "                \
      "AND NOT EXISTS (SELECT 1 FROM codes WHERE client_id = clients.id) "                   \
      "AND NOT EXISTS (SELECT 1 FROM refresh_tokens WHERE client_id = clients.id)")          \
    X(CONSENT_GET, "SELECT scope FROM consents WHERE user_id = ?1 AND client_id = ?2")       \
    X(CONSENT_PUT, "INSERT INTO consents (user_id, client_id, scope, created_at, updated_at) " \
                   "VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (user_id, client_id) DO UPDATE " \
                   "SET scope = excluded.scope, updated_at = excluded.updated_at")           \
    X(CONSENT_REVOKE, "DELETE FROM consents WHERE user_id = ?1 AND client_id = ?2")          \
    X(CONSENT_REVOKE_ALL, "DELETE FROM consents WHERE user_id = ?1")                         \
    X(CODE_INSERT, "INSERT INTO codes (hash, client_id, user_id, redirect_uri, scope, "      \
                   "resource, challenge, family, expires_at) "                               \
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")                            \
    X(CODE_GET, "SELECT " CODE_COLS " FROM codes WHERE hash = ?1")                           \
    X(CODE_USE, "UPDATE codes SET used = 1 WHERE hash = ?1 AND used = 0")                    \
    /* A token born into a revoked family is revoked. */                                     \
    X(REFRESH_INSERT, "INSERT INTO refresh_tokens (" REFRESH_COLS ") "                       \
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10 OR EXISTS "           \
                      "(SELECT 1 FROM revoked_families WHERE family = ?2))")                 \
    X(REFRESH_GET, "SELECT " REFRESH_COLS " FROM refresh_tokens WHERE hash = ?1")            \
    X(REFRESH_MARK, "UPDATE refresh_tokens SET rotated_at = ?2 "                             \
                    "WHERE hash = ?1 AND rotated_at = 0 AND revoked = 0")                    \
    X(REFRESH_SPEND_GRACE, "UPDATE refresh_tokens SET expires_at = rotated_at "              \
                           "WHERE hash = ?1 AND rotated_at > 0 AND revoked = 0 "             \
                           "AND expires_at > ?2 AND rotated_at >= ?2 - ?3")                  \
    X(FAMILY_REVOKE, "UPDATE refresh_tokens SET revoked = 1 WHERE family = ?1")              \
    X(FAMILY_REMEMBER, "INSERT OR IGNORE INTO revoked_families (family) VALUES (?1)")        \
    X(USER_REVOKE_ALL, "UPDATE refresh_tokens SET revoked = 1 WHERE user_id = ?1")           \
    X(EMAIL_CODE_INSERT, "INSERT INTO email_codes (" EMAIL_CODE_COLS ") "                    \
                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")                 \
    X(EMAIL_CODE_GET, "SELECT " EMAIL_CODE_COLS " FROM email_codes WHERE id = ?1")           \
    /* ?3 the hash of the code or the link: the one UPDATE that consumes */                  \
    X(EMAIL_CODE_USE_CODE, "UPDATE email_codes SET used_at = ?4 WHERE id = ?1 "              \
                           "AND browser_hash = ?2 AND code_hash = ?3 AND used_at = 0 "       \
                           "AND expires_at > ?4 AND attempts < ?5")                          \
    X(EMAIL_CODE_USE_LINK, "UPDATE email_codes SET used_at = ?4 WHERE id = ?1 "              \
                           "AND browser_hash = ?2 AND link_hash = ?3 AND used_at = 0 "       \
                           "AND expires_at > ?4 AND attempts < ?5")                          \
    X(EMAIL_CODE_MISS, "UPDATE email_codes SET attempts = attempts + 1 WHERE id = ?1 "       \
                       "AND browser_hash = ?2 AND used_at = 0 AND expires_at > ?3 "          \
                       "AND attempts < ?4")                                                  \
    X(EMAIL_CODE_CLEANUP, "DELETE FROM email_codes WHERE expires_at <= ?1")                  \
    X(KEY_INSERT, "INSERT INTO signing_keys (" KEY_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)") \
    X(KEY_LIST, "SELECT " KEY_COLS " FROM signing_keys ORDER BY created_at, rowid")          \
    X(KEY_DELETE, "DELETE FROM signing_keys WHERE kid = ?1")                                 \
    X(KEY_REPLACE, "UPDATE signing_keys SET pem = ?3 WHERE kid = ?1 AND pem = ?2")           \
    X(IDENTITY_GET, "SELECT " IDENTITY_COLS " FROM identities WHERE issuer = ?1 AND subject = ?2") \
    X(IDENTITY_LINK, "INSERT INTO identities (" IDENTITY_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)") \
    X(IDENTITY_TOUCH, "UPDATE identities SET last_used_at = ?3 WHERE issuer = ?1 AND subject = ?2") \
    X(IDENTITY_LIST, "SELECT " IDENTITY_COLS " FROM identities WHERE user_id = ?1 "           \
                     "ORDER BY created_at, issuer, subject")                                 \
    X(IDENTITY_DELETE_USER, "DELETE FROM identities WHERE user_id = ?1")                     \
    /* grants (sqlite_grants.c): ?1 user, ?2 now, ?3 limit */                            \
    X(GRANT_LIST, "SELECT c.id, c.name, c.redirect_uris, c.application_type, "              \
                  "COALESCE(cs.scope, (SELECT r.scope FROM refresh_tokens AS r "            \
                  "WHERE r.user_id = ?1 AND r.client_id = c.id AND r.revoked = 0 "          \
                  "ORDER BY r.issued_at DESC LIMIT 1), ''), "                               \
                  "COALESCE(cs.created_at, 0), COALESCE(cs.updated_at, 0), "                \
                  "COALESCE(t.first_at, 0), COALESCE(t.last_at, 0), COALESCE(t.live, 0), "  \
                  "cs.user_id IS NOT NULL "                                                 \
                  "FROM (SELECT client_id FROM consents WHERE user_id = ?1 UNION "          \
                  "SELECT client_id FROM refresh_tokens WHERE user_id = ?1 AND revoked = 0 " \
                  "AND rotated_at = 0 AND expires_at > ?2) AS g "                           \
                  "JOIN clients AS c ON c.id = g.client_id "                                \
                  "LEFT JOIN consents AS cs ON cs.user_id = ?1 AND cs.client_id = c.id "    \
                  "LEFT JOIN (SELECT client_id, MIN(issued_at) AS first_at, "               \
                  "MAX(issued_at) AS last_at, MAX(rotated_at = 0 AND expires_at > ?2) AS live " \
                  "FROM refresh_tokens WHERE user_id = ?1 AND revoked = 0 "                 \
                  "GROUP BY client_id) AS t ON t.client_id = c.id "                         \
                  "ORDER BY MAX(COALESCE(cs.updated_at, 0), COALESCE(t.last_at, 0)) DESC, " \
                  "c.id LIMIT ?3")                                                          \
    X(GRANT_REMEMBER_FAMILIES, "INSERT OR IGNORE INTO revoked_families (family) "           \
                               "SELECT family FROM refresh_tokens "                         \
                               "WHERE user_id = ?1 AND client_id = ?2 UNION "               \
                               "SELECT family FROM codes WHERE user_id = ?1 AND client_id = ?2") \
    X(GRANT_REVOKE_TOKENS, "UPDATE refresh_tokens SET revoked = 1 "                         \
                           "WHERE user_id = ?1 AND client_id = ?2")                         \
    X(GRANT_DROP_CODES, "DELETE FROM codes WHERE user_id = ?1 AND client_id = ?2 AND used = 0") \
    X(GRANT_RECORD, "INSERT INTO grant_revocations (user_id, client_id, revoked_at) "        \
                    "VALUES (?1, ?2, ?3) ON CONFLICT (user_id, client_id) DO UPDATE "       \
                    "SET revoked_at = MAX(revoked_at, excluded.revoked_at)")                \
    X(GRANT_REVOKED_AT, "SELECT revoked_at FROM grant_revocations "                         \
                        "WHERE user_id = ?1 AND client_id = ?2")                            \
    X(GRANT_REVOCATIONS, "SELECT client_id, revoked_at FROM grant_revocations "              \
                         "WHERE user_id = ?1 AND revoked_at > ?2 "                          \
                         "ORDER BY revoked_at DESC, client_id LIMIT ?3")                    \
    X(USER_SIGN_OUT, "UPDATE users SET tokens_valid_after = MAX(tokens_valid_after, ?2) "    \
                     "WHERE id = ?1")                                                       \
    X(USER_REMEMBER_FAMILIES, "INSERT OR IGNORE INTO revoked_families (family) "            \
                              "SELECT family FROM refresh_tokens WHERE user_id = ?1 "       \
                              "AND revoked = 0 UNION SELECT family FROM codes "             \
                              "WHERE user_id = ?1")                                         \
    X(USER_DROP_CODES, "DELETE FROM codes WHERE user_id = ?1 AND used = 0")                 \
    X(INVITATION_INSERT, "INSERT INTO invitations (" INVITATION_COLS ") "                    \
                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")                          \
    X(INVITATION_GET, "SELECT " INVITATION_COLS " FROM invitations WHERE hash = ?1")         \
    /* the one UPDATE that accepts: single use */                                            \
    /* an invitation dies with its inviter's account (disabled) */                           \
    X(INVITATION_TAKE, "UPDATE invitations SET used_at = ?2 WHERE hash = ?1 "                \
                       "AND used_at = 0 AND expires_at > ?2 AND NOT EXISTS (SELECT 1 "       \
                       "FROM users WHERE id = invitations.invited_by AND disabled <> 0)")    \
    X(INVITATION_PENDING, "SELECT " INVITATION_COLS " FROM invitations WHERE email = ?1 "    \
                          "AND used_at = 0 AND expires_at > ?2 AND NOT EXISTS (SELECT 1 "    \
                          "FROM users WHERE id = invitations.invited_by AND disabled <> 0) " \
                          "ORDER BY created_at DESC, hash LIMIT 1")                          \
    X(INVITATION_LIST, "SELECT " INVITATION_COLS " FROM invitations WHERE used_at = 0 "      \
                       "AND expires_at > ?1 ORDER BY created_at, email, hash")               \
    X(INVITATION_REVOKE, "DELETE FROM invitations WHERE email = ?1 AND used_at = 0")         \
    X(ORG_DOMAIN_ADD, "INSERT INTO org_domains (" ORG_DOMAIN_COLS ") VALUES (?1, ?2, ?3)")  \
    X(ORG_DOMAIN_GET, "SELECT " ORG_DOMAIN_COLS " FROM org_domains WHERE domain = ?1")       \
    X(ORG_DOMAIN_REMOVE, "DELETE FROM org_domains WHERE org_id = ?1 AND domain = ?2")        \
    X(ORG_DOMAIN_LIST, "SELECT " ORG_DOMAIN_COLS " FROM org_domains WHERE org_id = ?1 "      \
                       "ORDER BY domain")                                                    \
    X(ORG_SSO_PUT, "INSERT INTO org_sso (" ORG_SSO_COLS ") "                                 \
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "                  \
                   "ON CONFLICT (org_id) DO UPDATE SET issuer = ?2, client_id = ?3, "        \
                   "client_secret = ?4, scopes = ?5, groups_claim = ?6, role_map = ?7, "     \
                   "default_role = ?8, require_sso = ?9, allow_signup = ?10, updated_at = ?11") \
    X(ORG_SSO_GET, "SELECT " ORG_SSO_COLS " FROM org_sso WHERE org_id = ?1")                 \
    X(ORG_SSO_DELETE, "DELETE FROM org_sso WHERE org_id = ?1")                               \
    X(ORG_SSO_COUNT, "SELECT COUNT(*) FROM org_sso")                                         \
    X(NOTE_INSERT, "INSERT INTO notes (id, owner, org, title, content, tags, visibility, "   \
                   "version, created_at, updated_at) "                                       \
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")                       \
    /* An imported note: its id is derived from its source, so a second import of it   */    \
    /* changes nothing.                                                                */    \
    X(NOTE_IMPORT, "INSERT INTO notes (id, owner, org, title, content, tags, visibility, "   \
                   "version, created_at, updated_at) "                                       \
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (id) DO NOTHING") \
    /* The full-text index follows the note's current text: added after an insert or   */    \
    /* update, removed (with the values it was added with) before an update or delete. */    \
    X(NOTE_INDEX, "INSERT INTO notes_fts (rowid, title, content, tags, scope_own, scope_org) " \
                  "SELECT n.seq, n.title, n.content, n.tags, n.scope_own, n.scope_org "      \
                  "FROM notes AS n "                                                         \
                  "WHERE " NOTE_OWN_WHERE)                                                   \
    /* The same for a new note, from the bound values. Inserts write one row per          */ \
    /* statement: a multi-row statement runs under a statement savepoint, and FTS5      */   \
    /* writes out its pending index data at every savepoint of the transaction, so one  */   \
    /* INSERT ... SELECT per note would cost a segment per note (see note_insert_body). */   \
    X(NOTE_INDEX_NEW, "INSERT INTO notes_fts (rowid, title, content, tags, scope_own, "      \
                      "scope_org) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")                          \
    X(NOTE_TAG_ADD, "INSERT OR IGNORE INTO note_tags (note, tag) VALUES (?1, ?2)")           \
    X(NOTE_UNINDEX, "INSERT INTO notes_fts (notes_fts, rowid, title, content, tags, "        \
                    "scope_own, scope_org) SELECT 'delete', n.seq, n.title, n.content, "     \
                    "n.tags, n.scope_own, n.scope_org FROM notes AS n "                      \
                    "WHERE " NOTE_OWN_WHERE " AND (?4 = 0 OR n.version = ?4)")               \
    X(NOTE_TAGS_CLEAR, "DELETE FROM note_tags WHERE note IN "                                \
                       "(SELECT n.seq FROM notes AS n WHERE " NOTE_OWN_WHERE ")")            \
    X(NOTE_TAGS_SET, "INSERT INTO note_tags (note, tag) SELECT DISTINCT n.seq, j.value "     \
                     "FROM notes AS n, json_each(n.tags) AS j WHERE " NOTE_OWN_WHERE)        \
    X(NOTE_OWN, "SELECT " NOTE_COLS " FROM notes AS n WHERE " NOTE_OWN_WHERE)                \
    X(NOTE_GET, "SELECT " NOTE_COLS " FROM notes AS n WHERE n.id = ?1 AND "                  \
                NOTE_VISIBLE_WHERE)                                                          \
    /* NULL: unchanged. The version check is what makes concurrent updates safe. */          \
    X(NOTE_UPDATE, "UPDATE notes SET title = COALESCE(?5, title), "                          \
                   "content = COALESCE(?6, content), tags = COALESCE(?7, tags), "            \
                   "visibility = COALESCE(?8, visibility), version = version + 1, "          \
                   "updated_at = MAX(?9, updated_at) "                                       \
                   "WHERE id = ?1 AND owner = ?2 AND org = ?3 AND version = ?4")             \
    X(NOTE_DELETE, "DELETE FROM notes WHERE id = ?1 AND owner = ?2 AND org = ?3 "            \
                   "AND (?4 = 0 OR version = ?4)")                                           \
    /* Pages: newest first, strictly after the cursor; the index notes_owner (or          */ \
    /* notes_shared) gives the order, so a page reads only its own rows.                  */ \
    X(NOTE_LIST, "SELECT " NOTE_LIST_COLS " FROM notes AS n "                                \
                 "WHERE n.owner = ?1 AND n.org = ?2 AND (n.updated_at, n.id) < (?3, ?4) "    \
                 "AND " NOTE_TAG_FILTER("?5") " "                                            \
                 "ORDER BY n.updated_at DESC, n.id DESC LIMIT ?6")                           \
    X(NOTE_LIST_TEAM, "SELECT " NOTE_LIST_COLS " FROM notes AS n "                           \
                      "WHERE n.org = ?1 AND n.org <> '' AND n.visibility = 'org' "           \
                      "AND (n.updated_at, n.id) < (?2, ?3) AND " NOTE_TAG_FILTER("?4") " "   \
                      "ORDER BY n.updated_at DESC, n.id DESC LIMIT ?5")                      \
    /* ?1 is built by search_match(): the caller's scope tokens AND the words, quoted    */  \
    /* strings only, so the index does the owner filtering (NOTE_VISIBLE_WHERE checks  */    \
    /* again). The scope columns weigh nothing in tn_rank, which is lower-is-better.   */    \
    X(NOTE_SEARCH, "SELECT " NOTE_LIST_COLS ", snippet(notes_fts, -1, '', '', '…', 16), "    \
                   "tn_rank(notes_fts, 5.0, 1.0, 3.0, 0.0, 0.0) AS score "                   \
                   "FROM notes_fts JOIN notes AS n ON n.seq = notes_fts.rowid "              \
                   "WHERE notes_fts MATCH ?1 AND " NOTE_VISIBLE_WHERE " "                    \
                   "ORDER BY score, n.updated_at DESC, n.id DESC LIMIT ?4")                  \
    X(AUDIT_INSERT, "INSERT INTO audit (" AUDIT_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)") \
    /* AUDIT_ROWS records per statement (the audit thread writes batches) */                 \
    X(AUDIT_INSERT_ROWS, "INSERT INTO audit (" AUDIT_COLS ") VALUES " AUDIT_VALUES_16)       \
    X(AUDIT_LIST, "SELECT " AUDIT_COLS " FROM audit ORDER BY at DESC, seq DESC LIMIT ?1")     \
    ADMIN_STMTS(X)
// clang-format on

// clang-format off
enum stmt_id {
#define STMT_ENUM(name, sql) S_##name,
    STMTS(STMT_ENUM)
#undef STMT_ENUM
    S__COUNT
};
// clang-format on
/* The SQL of each statement, by enum stmt_id (sqlite.c). */
extern const char *const sq_stmt_sql[];

/* ---------- connections and calls ---------- */

struct conn {
    sqlite3 *db;
    sqlite3_stmt *st[S__COUNT];
    bool lax;          /* synchronous is not FULL (an audit batch in progress) */
    bool limited;      /* taken by a thread that may wait (counted in nlimited) */
    bool extra;        /* a pool thread's writer's beyond their share (nextra) */
    struct conn *next; /* in the idle list */
};

struct sqlite_store {
    struct tn_store base;
    char *path;
    pthread_mutex_t mu;                /* guards the members up to wmu */
    pthread_cond_t cv;                 /* a connection was returned (for wait_other) */
    pthread_cond_t cv_limited;         /* the same, for threads that may wait */
    unsigned wait_other, wait_limited; /* threads waiting on each */
    struct conn *idle;
    int nopen;
    int nlimited;        /* connections held by threads that may wait (pool_get) */
    int nextra;          /* open outside nopen (a pool writer's past the share: pool_get) */
    pthread_mutex_t wmu; /* one writer at a time in this process */
    /* group commit of note writes (see sq_grouped()) */
    pthread_mutex_t gmu;
    struct gop *gq_head, *gq_tail;
    bool leading;
    uint32_t gnext;            /* the number of the next group (under gmu) */
    _Atomic uint32_t gdone[2]; /* the last finished group of each parity */
};

/* One store call: the connection it runs on and whether it holds the write mutex. */
struct call {
    struct sqlite_store *s;
    struct conn *c;
    bool writer;
};

/* ---------- running statements (sqlite.c, documented there) ---------- */

enum tn_err sq_call_begin(struct tn_store *base, struct call *k, bool writer);
void sq_call_end(struct call *k);
enum tn_err sq_fail(struct call *k, int rc, enum stmt_id id);
void sq_finish(sqlite3_stmt *st);
enum tn_err sq_run(struct call *k, enum stmt_id id, sqlite3_stmt **row, const char *fmt, ...);
enum tn_err sq_step(struct call *k, sqlite3_stmt *st, enum stmt_id id);
int sq_changes(struct call *k);
bool sq_col_text(sqlite3_stmt *st, int i, char *dst, size_t cap);
bool sq_col_hash(sqlite3_stmt *st, int i, uint8_t dst[32]);
enum tn_err sq_row_result(bool ok, const char *table);

#define TEXT(i, field) sq_col_text(st, (i), (field), sizeof(field))

/* ---------- generic shapes of a call ---------- */

/* One write statement in its own (implicit) transaction. With `must_change`, no row
 * changed means TN_ERR_NOT_FOUND. */
#define WRITE1(base, must_change, id, ...)                        \
    do {                                                          \
        struct call k_;                                           \
        enum tn_err e_ = sq_call_begin((base), &k_, true);        \
        if (e_ != TN_OK)                                          \
            return e_;                                            \
        e_ = sq_run(&k_, (id), NULL, __VA_ARGS__);                \
        if (e_ == TN_OK && (must_change) && sq_changes(&k_) == 0) \
            e_ = TN_ERR_NOT_FOUND;                                \
        sq_call_end(&k_);                                         \
        return e_;                                                \
    } while (0)

/* One row read into *out with reader `rd`; *out is zeroed again unless TN_OK. */
#define READ1(base, out, rd, id, ...)                       \
    do {                                                    \
        struct call k_;                                     \
        sqlite3_stmt *st_;                                  \
        enum tn_err e_ = sq_call_begin((base), &k_, false); \
        if (e_ != TN_OK)                                    \
            return e_;                                      \
        e_ = sq_run(&k_, (id), &st_, __VA_ARGS__);          \
        if (e_ == TN_OK)                                    \
            e_ = rd(st_, (out));                            \
        sq_finish(st_);                                     \
        sq_call_end(&k_);                                   \
        if (e_ != TN_OK)                                    \
            memset((out), 0, sizeof *(out));                \
        return e_;                                          \
    } while (0)

/* Every row of `id`, read into `type` with `rd` and handed to `cb`. The statement
 * is one read transaction: callbacks see a consistent snapshot. */
#define LIST(base, type, rd, id, cb, ud)                                                    \
    do {                                                                                    \
        struct call k_;                                                                     \
        sqlite3_stmt *st_;                                                                  \
        enum tn_err e_ = sq_call_begin((base), &k_, false);                                 \
        if (e_ != TN_OK)                                                                    \
            return e_;                                                                      \
        for (e_ = sq_run(&k_, (id), &st_, ""); e_ == TN_OK; e_ = sq_step(&k_, st_, (id))) { \
            type item_;                                                                     \
            memset(&item_, 0, sizeof item_);                                                \
            if ((e_ = rd(st_, &item_)) != TN_OK)                                            \
                break;                                                                      \
            cb(&item_, (ud));                                                               \
        }                                                                                   \
        sq_finish(st_);                                                                     \
        sq_call_end(&k_);                                                                   \
        return e_ == TN_ERR_NOT_FOUND ? TN_OK : e_;                                         \
    } while (0)

/* ---------- group commit (sqlite_commit.c) ---------- */

/* The work of one write. It may run more than once (see run_group), so it must reset
 * its outputs at the start. */
typedef enum tn_err (*body_fn)(struct call *k, void *arg);

/* Runs `body` in a transaction shared with the note writes queued at the same moment
 * and committed once; returns its result, or the commit's error. */
enum tn_err sq_grouped(struct tn_store *base, body_fn body, void *arg);

/* ---------- operations (sqlite_auth.c, sqlite_notes.c) ---------- */

enum tn_err sq_org_insert(struct tn_store *s, const struct tn_org *o);
enum tn_err sq_org_get(struct tn_store *s, const char *id, struct tn_org *out);
enum tn_err sq_org_by_name(struct tn_store *s, const char *name, struct tn_org *out);
enum tn_err sq_org_list(struct tn_store *s, tn_store_org_cb cb, void *ud);
enum tn_err sq_user_insert(struct tn_store *s, const struct tn_user *u);
enum tn_err sq_user_get(struct tn_store *s, const char *id, struct tn_user *out);
enum tn_err sq_user_by_email(struct tn_store *s, const char *email, struct tn_user *out);
enum tn_err sq_user_update(struct tn_store *s, const struct tn_user *u, unsigned fields);
enum tn_err sq_user_swap_password(struct tn_store *s, const char *id, const char *was,
                                  const char *hash);
enum tn_err sq_user_count(struct tn_store *s, int64_t *n);
enum tn_err sq_user_list(struct tn_store *s, tn_store_user_cb cb, void *ud);
enum tn_err sq_client_insert(struct tn_store *s, const struct tn_client *c);
enum tn_err sq_client_get(struct tn_store *s, const char *id, struct tn_client *out);
enum tn_err sq_client_touch(struct tn_store *s, const char *id, int64_t now);
enum tn_err sq_client_delete(struct tn_store *s, const char *id);
enum tn_err sq_client_list(struct tn_store *s, tn_store_client_cb cb, void *ud);
enum tn_err sq_client_delete_unused(struct tn_store *s, int64_t created_before, int64_t *n);
/* identities (sqlite_identity.c) */
enum tn_err sq_identity_get(struct tn_store *s, const char *issuer, const char *subject,
                            struct tn_identity *out);
enum tn_err sq_identity_link(struct tn_store *s, const struct tn_identity *id);
enum tn_err sq_identity_touch(struct tn_store *s, const char *issuer, const char *subject,
                              int64_t now);
enum tn_err sq_identity_list(struct tn_store *s, const char *user_id, tn_store_identity_cb cb,
                             void *ud);
enum tn_err sq_identity_delete_user(struct tn_store *s, const char *user_id, int64_t *n);
/* grants (sqlite_grants.c) */
enum tn_err sq_grant_list(struct tn_store *s, const char *user_id, int64_t now, unsigned limit,
                          tn_store_grant_cb cb, void *ud);
enum tn_err sq_grant_revoke(struct tn_store *s, const char *user_id, const char *client_id,
                            int64_t revoked_at);
enum tn_err sq_grant_revoked_at(struct tn_store *s, const char *user_id, const char *client_id,
                                int64_t *at);
enum tn_err sq_grant_revocations(struct tn_store *s, const char *user_id, int64_t since,
                                 unsigned limit, tn_store_grant_revocation_cb cb, void *ud);
enum tn_err sq_user_sign_out(struct tn_store *s, const char *user_id, int64_t valid_after);
/* invitations (sqlite_invitation.c) */
enum tn_err sq_invitation_insert(struct tn_store *s, const struct tn_invitation *inv);
enum tn_err sq_invitation_get(struct tn_store *s, const uint8_t hash[32],
                              struct tn_invitation *out);
enum tn_err sq_invitation_take(struct tn_store *s, const uint8_t hash[32], int64_t now,
                               struct tn_user *user, struct tn_invitation *out);
enum tn_err sq_invitation_pending(struct tn_store *s, const char *email, int64_t now,
                                  struct tn_invitation *out);
enum tn_err sq_invitation_list(struct tn_store *s, int64_t now, tn_store_invitation_cb cb,
                               void *ud);
enum tn_err sq_invitation_revoke(struct tn_store *s, const char *email, int64_t *n);
enum tn_err sq_org_domain_add(struct tn_store *s, const struct tn_org_domain *d);
enum tn_err sq_org_domain_get(struct tn_store *s, const char *domain, struct tn_org_domain *out);
enum tn_err sq_org_domain_remove(struct tn_store *s, const char *org_id, const char *domain);
enum tn_err sq_org_domain_list(struct tn_store *s, const char *org_id, tn_store_org_domain_cb cb,
                               void *ud);
enum tn_err sq_org_sso_put(struct tn_store *s, const struct tn_org_sso *c);
enum tn_err sq_org_sso_get(struct tn_store *s, const char *org_id, struct tn_org_sso *out);
enum tn_err sq_org_sso_delete(struct tn_store *s, const char *org_id);
enum tn_err sq_org_sso_count(struct tn_store *s, int64_t *n);
enum tn_err sq_consent_get(struct tn_store *s, const char *user_id, const char *client_id,
                           char scope[256]);
enum tn_err sq_consent_put(struct tn_store *s, const char *user_id, const char *client_id,
                           const char *scope, int64_t now);
enum tn_err sq_consent_revoke(struct tn_store *s, const char *user_id, const char *client_id);
enum tn_err sq_code_insert(struct tn_store *s, const struct tn_code *c);
enum tn_err sq_code_take(struct tn_store *s, const uint8_t hash[32], struct tn_code *out);
enum tn_err sq_email_code_insert(struct tn_store *s, const struct tn_email_code *c);
enum tn_err sq_email_code_get(struct tn_store *s, const char *id, struct tn_email_code *out);
enum tn_err sq_email_code_use(struct tn_store *s, const char *id, const uint8_t browser[32],
                              const uint8_t hash[32], bool link, int64_t now,
                              struct tn_email_code *out);
enum tn_err sq_email_code_cleanup(struct tn_store *s, int64_t now, int64_t *n);
enum tn_err sq_refresh_insert(struct tn_store *s, const struct tn_refresh *r);
enum tn_err sq_refresh_rotate(struct tn_store *s, const uint8_t old_hash[32],
                              const struct tn_refresh *next, int64_t now, struct tn_refresh *old);
enum tn_err sq_refresh_get(struct tn_store *s, const uint8_t hash[32], struct tn_refresh *out);
enum tn_err sq_refresh_spend_grace(struct tn_store *s, const uint8_t hash[32], int64_t now,
                                   int64_t grace_s);
enum tn_err sq_family_revoke(struct tn_store *s, const char *family);
enum tn_err sq_user_revoke_all(struct tn_store *s, const char *user_id);
enum tn_err sq_key_insert(struct tn_store *s, const struct tn_signing_key *k);
enum tn_err sq_key_list(struct tn_store *s, tn_store_key_cb cb, void *ud);
enum tn_err sq_key_delete(struct tn_store *s, const char *kid);
enum tn_err sq_key_replace(struct tn_store *s, const char *kid, const char *expected,
                           const char *pem);

enum tn_err sq_note_insert(struct tn_store *s, const struct tn_owner *o, const struct tn_note *n);
enum tn_err sq_note_import(struct tn_store *s, const struct tn_note *v, size_t n, size_t *added);
enum tn_err sq_note_get(struct tn_store *s, const struct tn_owner *o, const char *id,
                        struct tn_note *out);
enum tn_err sq_note_update(struct tn_store *s, const struct tn_owner *o, const char *id,
                           int64_t expected_version, const char *title, const char *content,
                           const char *tags, const char *visibility, int64_t now,
                           struct tn_note *out);
enum tn_err sq_note_delete(struct tn_store *s, const struct tn_owner *o, const char *id,
                           int64_t expected_version);
enum tn_err sq_note_list(struct tn_store *s, const struct tn_owner *o, const struct tn_note_page *p,
                         tn_store_note_cb cb, void *ud);
enum tn_err sq_note_list_team(struct tn_store *s, const struct tn_owner *o,
                              const struct tn_note_page *p, tn_store_note_cb cb, void *ud);
enum tn_err sq_note_search(struct tn_store *s, const struct tn_owner *o, const char *query,
                           unsigned limit, tn_store_note_cb cb, void *ud);
enum tn_err sq_audit_insert(struct tn_store *s, const struct tn_audit *a, size_t n, bool sync);
enum tn_err sq_audit_sync(struct tn_store *base);
enum tn_err sq_audit_list(struct tn_store *s, unsigned limit, tn_store_audit_cb cb, void *ud);
/* the admin console (sqlite_auth.c; audit_query in sqlite_notes.c) */
enum tn_err sq_user_signed_in(struct tn_store *s, const char *id, int64_t now);
enum tn_err sq_user_search(struct tn_store *s, const struct tn_user_query *q, tn_store_user_cb cb,
                           void *ud, int64_t *total);
enum tn_err sq_client_grants(struct tn_store *s, const char *client_id, int64_t now,
                             tn_store_client_grant_cb cb, void *ud);
enum tn_err sq_client_usage(struct tn_store *s, int64_t now, tn_store_usage_cb cb, void *ud);
enum tn_err sq_key_schedule(struct tn_store *s, const char *kid, int64_t signs_from,
                            int64_t retire_at);
enum tn_err sq_audit_query(struct tn_store *s, const struct tn_audit_filter *f,
                           tn_store_audit_cb cb, void *ud);

#endif
