-- 0005_identities: upstream OpenID Connect identities linked to accounts (#18).
-- (issuer, subject) is the identity an OpenID provider asserts; email is the address it
-- asserted when the identity was linked (informational: sign-in goes by issuer and subject).
CREATE TABLE identities (
    issuer        text COLLATE "C" NOT NULL CHECK (issuer <> ''),
    subject       text COLLATE "C" NOT NULL CHECK (subject <> ''),
    user_id       text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email         text NOT NULL,
    created_at    bigint NOT NULL,
    last_used_at  bigint NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX identities_user ON identities (user_id);
