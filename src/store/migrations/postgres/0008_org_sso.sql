-- 0006_org_sso: enterprise single sign-on per organization (#18).
-- org_domains: the email domains an organization owns (lower-case DNS names, each of one
-- organization); an administrator adding a domain is its verification. org_sso: the
-- organization's own OpenID Connect provider. client_secret is sealed with the server
-- secret ("tnk1:", like the signing keys); role_map is a JSON object group -> role, read in
-- its order (kept as text: jsonb would reorder it).
CREATE TABLE org_domains (
    domain      text COLLATE "C" PRIMARY KEY CHECK (domain <> '' AND domain = lower(domain)),
    org_id      text COLLATE "C" NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    created_at  bigint NOT NULL
);
CREATE INDEX org_domains_org ON org_domains (org_id);

CREATE TABLE org_sso (
    org_id         text COLLATE "C" PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
    issuer         text NOT NULL CHECK (issuer <> ''),
    client_id      text NOT NULL CHECK (client_id <> ''),
    client_secret  text NOT NULL,
    scopes         text NOT NULL,
    groups_claim   text NOT NULL,
    role_map       text NOT NULL,
    default_role   text NOT NULL CHECK (default_role IN ('viewer', 'editor', 'admin')),
    require_sso    boolean NOT NULL,
    allow_signup   boolean NOT NULL,
    updated_at     bigint NOT NULL
);
