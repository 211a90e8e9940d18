-- 0007_identities: upstream OpenID Connect identities linked to accounts (#18).
-- (issuer, subject) is the identity an OpenID provider asserts; email is the address it
-- asserted when the identity was linked (informational: sign-in goes by issuer and subject).
CREATE TABLE identities (
    issuer        TEXT NOT NULL CHECK (issuer <> ''),
    subject       TEXT NOT NULL CHECK (subject <> ''),
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email         TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX identities_user ON identities (user_id);
