-- 0006_grant_revocations: what a person took back from one app on /account (#19).
-- Access tokens are JWTs the resource server verifies alone; a token of client_id for
-- user_id issued (iat) before revoked_at is refused (src/auth/accounts.c reads the rows
-- of the last day: no access token lives longer). client_id has no foreign key: the
-- revocation outlives a deleted registration.
CREATE TABLE grant_revocations (
    user_id     text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id   text COLLATE "C" NOT NULL CHECK (client_id <> ''),
    revoked_at  bigint NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
CREATE INDEX grant_revocations_user ON grant_revocations (user_id, revoked_at);
