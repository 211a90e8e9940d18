-- 0008_org_sso: enterprise single sign-on per organization (#18).
-- org_domains: the email domains an organization owns (lower-case DNS names, each of one
-- organization); an administrator adding a domain is its verification. org_sso: the
-- organization's own OpenID Connect provider. client_secret is sealed with the server
-- secret ("tnk1:", like the signing keys); role_map is a JSON object group -> role, read in
-- its order; require_sso and allow_signup are 0 or 1.
CREATE TABLE org_domains (
    domain      TEXT PRIMARY KEY NOT NULL CHECK (domain <> '' AND domain = lower(domain)),
    org_id      TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL
);
CREATE INDEX org_domains_org ON org_domains (org_id);

CREATE TABLE org_sso (
    org_id         TEXT PRIMARY KEY NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    issuer         TEXT NOT NULL CHECK (issuer <> ''),
    client_id      TEXT NOT NULL CHECK (client_id <> ''),
    client_secret  TEXT NOT NULL,
    scopes         TEXT NOT NULL,
    groups_claim   TEXT NOT NULL,
    role_map       TEXT NOT NULL,
    default_role   TEXT NOT NULL CHECK (default_role IN ('viewer', 'editor', 'admin')),
    require_sso    INTEGER NOT NULL CHECK (require_sso IN (0, 1)),
    allow_signup   INTEGER NOT NULL CHECK (allow_signup IN (0, 1)),
    updated_at     INTEGER NOT NULL
);
