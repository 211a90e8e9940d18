-- 0001_auth: organizations, users and the state of the built-in authorization server.
-- Compiled into teamnotes by the build (scripts/gen-migrations.py): this file is what runs.

CREATE TABLE orgs (
    id          TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),
    name        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

-- email is stored lower-case by the store; org_id is NULL when the user has none.
CREATE TABLE users (
    id                  TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),
    email               TEXT NOT NULL UNIQUE,
    name                TEXT NOT NULL,
    org_id              TEXT REFERENCES orgs (id),
    role                TEXT NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
    password_hash       TEXT NOT NULL,
    disabled            INTEGER NOT NULL CHECK (disabled IN (0, 1)),
    created_at          INTEGER NOT NULL,
    tokens_valid_after  INTEGER NOT NULL
);
CREATE INDEX users_org ON users (org_id);

-- last_used_at is 0 until the client is first used.
CREATE TABLE clients (
    id                TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),
    name              TEXT NOT NULL,
    redirect_uris     TEXT NOT NULL,
    secret_hash       TEXT NOT NULL,
    auth_method       TEXT NOT NULL,
    grant_types       TEXT NOT NULL,
    scope             TEXT NOT NULL,
    application_type  TEXT NOT NULL,
    metadata          TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    last_used_at      INTEGER NOT NULL
);
CREATE INDEX clients_unused ON clients (last_used_at, created_at);

CREATE TABLE consents (
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scope       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
CREATE INDEX consents_client ON consents (client_id);

-- hash is the SHA-256 of the code; used flips to 1 exactly once.
CREATE TABLE codes (
    hash          BLOB PRIMARY KEY NOT NULL CHECK (length(hash) = 32),
    client_id     TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri  TEXT NOT NULL,
    scope         TEXT NOT NULL,
    resource      TEXT NOT NULL,
    challenge     TEXT NOT NULL,
    family        TEXT NOT NULL,
    expires_at    INTEGER NOT NULL,
    used          INTEGER NOT NULL DEFAULT 0 CHECK (used IN (0, 1))
);
CREATE INDEX codes_client ON codes (client_id);
CREATE INDEX codes_user ON codes (user_id);

-- hash is the SHA-256 of the token; rotated_at is 0 while it is the family's current one.
CREATE TABLE refresh_tokens (
    hash        BLOB PRIMARY KEY NOT NULL CHECK (length(hash) = 32),
    family      TEXT NOT NULL,
    client_id   TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope       TEXT NOT NULL,
    resource    TEXT NOT NULL,
    issued_at   INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    rotated_at  INTEGER NOT NULL DEFAULT 0,
    revoked     INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
);
CREATE INDEX refresh_family ON refresh_tokens (family);
CREATE INDEX refresh_user ON refresh_tokens (user_id);
CREATE INDEX refresh_client ON refresh_tokens (client_id);

-- A revoked family stays revoked: a token inserted into it later (a code exchange that
-- raced with the replay that revoked the grant) is born revoked.
CREATE TABLE revoked_families (
    family  TEXT PRIMARY KEY NOT NULL
) WITHOUT ROWID;

CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY NOT NULL CHECK (kid <> ''),
    alg         TEXT NOT NULL,
    pem         TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    signs_from  INTEGER NOT NULL,
    retire_at   INTEGER NOT NULL
);
CREATE INDEX signing_keys_created ON signing_keys (created_at);
