-- 0001_auth: organizations, users and the state of the built-in authorization server.
-- Compiled into teamnotes by the build (scripts/gen-migrations.py): this file is what runs.
-- Timestamps are bigint (seconds or milliseconds as the store's callers give them); ids
-- compare bytewise (COLLATE "C") so that ordering does not depend on the server's locale.

CREATE TABLE orgs (
    id          text COLLATE "C" PRIMARY KEY CHECK (id <> ''),
    name        text NOT NULL UNIQUE,
    created_at  bigint NOT NULL
);

-- email is stored lower-case by the store; org_id is NULL when the user has none.
CREATE TABLE users (
    id                  text COLLATE "C" PRIMARY KEY CHECK (id <> ''),
    email               text NOT NULL UNIQUE,
    name                text NOT NULL,
    org_id              text COLLATE "C" REFERENCES orgs (id),
    role                text NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
    password_hash       text NOT NULL,
    disabled            boolean NOT NULL,
    created_at          bigint NOT NULL,
    tokens_valid_after  bigint NOT NULL
);
CREATE INDEX users_org ON users (org_id);
CREATE INDEX users_created ON users (created_at, id);

-- last_used_at is 0 until the client is first used.
CREATE TABLE clients (
    id                text COLLATE "C" PRIMARY KEY CHECK (id <> ''),
    name              text NOT NULL,
    redirect_uris     text NOT NULL,
    secret_hash       text NOT NULL,
    auth_method       text NOT NULL,
    grant_types       text NOT NULL,
    scope             text NOT NULL,
    application_type  text NOT NULL,
    metadata          text NOT NULL,
    created_at        bigint NOT NULL,
    last_used_at      bigint NOT NULL
);
CREATE INDEX clients_unused ON clients (last_used_at, created_at);

CREATE TABLE consents (
    user_id     text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id   text COLLATE "C" NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scope       text NOT NULL,
    created_at  bigint NOT NULL,
    updated_at  bigint NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
CREATE INDEX consents_client ON consents (client_id);

-- hash is the SHA-256 of the code; used flips to true exactly once.
CREATE TABLE codes (
    hash          bytea PRIMARY KEY CHECK (octet_length(hash) = 32),
    client_id     text COLLATE "C" NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id       text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri  text NOT NULL,
    scope         text NOT NULL,
    resource      text NOT NULL,
    challenge     text NOT NULL,
    family        text NOT NULL,
    expires_at    bigint NOT NULL,
    used          boolean NOT NULL DEFAULT false
);
CREATE INDEX codes_client ON codes (client_id);
CREATE INDEX codes_user ON codes (user_id);

-- hash is the SHA-256 of the token; rotated_at is 0 while it is the family's current one.
CREATE TABLE refresh_tokens (
    hash        bytea PRIMARY KEY CHECK (octet_length(hash) = 32),
    family      text NOT NULL,
    client_id   text COLLATE "C" NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id     text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope       text NOT NULL,
    resource    text NOT NULL,
    issued_at   bigint NOT NULL,
    expires_at  bigint NOT NULL,
    rotated_at  bigint NOT NULL DEFAULT 0,
    revoked     boolean NOT NULL DEFAULT false
);
CREATE INDEX refresh_family ON refresh_tokens (family);
CREATE INDEX refresh_user ON refresh_tokens (user_id);
CREATE INDEX refresh_client ON refresh_tokens (client_id);

-- A revoked family stays revoked: a token inserted into it later (a code exchange that
-- raced with the replay that revoked the grant) is born revoked.
CREATE TABLE revoked_families (
    family  text PRIMARY KEY
);

-- seq keeps insertion order among keys created in the same instant.
CREATE TABLE signing_keys (
    kid         text PRIMARY KEY CHECK (kid <> ''),
    alg         text NOT NULL,
    pem         text NOT NULL,
    created_at  bigint NOT NULL,
    signs_from  bigint NOT NULL,
    retire_at   bigint NOT NULL,
    seq         bigint GENERATED ALWAYS AS IDENTITY UNIQUE
);
CREATE INDEX signing_keys_created ON signing_keys (created_at, seq);
