-- 0006_invitations: invitations to create an account (#18).
-- hash is SHA-256 of the token in the invitation link; the token itself is never stored,
-- so a copy of the database accepts no invitation. email is lower-case; org_id '' when
-- none; invited_by the inviting account's id ('' from the command line). Single use:
-- accepting is one conditional UPDATE of used_at (0 while pending).
CREATE TABLE invitations (
    hash        bytea PRIMARY KEY CHECK (length(hash) = 32),
    email       text NOT NULL CHECK (email <> ''),
    role        text NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
    org_id      text COLLATE "C" NOT NULL,
    invited_by  text COLLATE "C" NOT NULL,
    created_at  bigint NOT NULL,
    expires_at  bigint NOT NULL,
    used_at     bigint NOT NULL DEFAULT 0
);
CREATE INDEX invitations_email ON invitations (email, used_at);
