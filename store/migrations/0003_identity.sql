-- Identity and access: users and their roles, OAuth clients for integrators,
-- the keys access tokens are signed with, refresh token families, and the
-- relations object-level authorization reads (consent, care team).

-- A user signs in with an email and password or an SMS code. A patient user
-- links to a patient row, a doctor or dietitian to a practitioner row.
CREATE TABLE app_user (
    id              uuid PRIMARY KEY,
    email           text NOT NULL UNIQUE CHECK (email = lower(email)),
    phone           text UNIQUE, -- E.164 or the seed's display form; SMS codes go here
    password_hash   text, -- PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash); NULL: SMS sign-in only
    role            text NOT NULL CHECK (role IN ('patient', 'doctor', 'dietitian', 'pharmacist', 'coordinator', 'admin')),
    patient_id      uuid UNIQUE REFERENCES patient (id),
    practitioner_id uuid UNIQUE REFERENCES practitioner (id),
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((role = 'patient') = (patient_id IS NOT NULL)),
    CHECK (role NOT IN ('doctor', 'dietitian') OR practitioner_id IS NOT NULL)
);

-- Integrators authenticate with the OAuth 2.0 client-credentials grant and
-- get only the scopes granted here.
CREATE TABLE oauth_client (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    secret_hash text NOT NULL, -- PHC argon2id string, like passwords
    scopes      text[] NOT NULL,
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Ed25519 keys that sign access tokens. The newest key that is not retired
-- signs; a retired key stays published in the JWKS until every token it
-- signed has expired, so rotation logs nobody out. The private key is
-- sealed with AES-256-GCM under the master key (CAREPATH_AUTH_MASTER_KEY),
-- with the key ID as associated data.
CREATE TABLE signing_key (
    kid                text PRIMARY KEY,
    algorithm          text NOT NULL CHECK (algorithm = 'EdDSA'),
    public_key         bytea NOT NULL,
    sealed_private_key bytea NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    retired_at         timestamptz
);
CREATE UNIQUE INDEX signing_key_one_active ON signing_key ((true)) WHERE retired_at IS NULL;

-- Refresh tokens rotate: each use marks the token used and issues the next
-- in the same family. Presenting a used token again means it leaked, so the
-- whole family is revoked. Only a SHA-256 of the token is stored.
CREATE TABLE refresh_token (
    id         uuid PRIMARY KEY,
    family_id  uuid NOT NULL,
    user_id    uuid NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    token_hash bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    revoked_at timestamptz
);
CREATE INDEX refresh_token_family ON refresh_token (family_id);

-- Consent (FHIR Consent, minimal): a patient lets a practitioner see their
-- data outside an appointment, until revoked or expired.
CREATE TABLE consent (
    id              uuid PRIMARY KEY,
    patient_id      uuid NOT NULL REFERENCES patient (id),
    practitioner_id uuid NOT NULL REFERENCES practitioner (id),
    status          text NOT NULL CHECK (status IN ('active', 'inactive')),
    expires_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX consent_patient_practitioner ON consent (patient_id, practitioner_id) WHERE status = 'active';

-- Care team (minimal): a coordinator looks after the patients of some
-- practitioners, or every patient of a city. Each row names one or the other.
CREATE TABLE care_team (
    id              uuid PRIMARY KEY,
    coordinator_id  uuid NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    practitioner_id uuid REFERENCES practitioner (id),
    city            text,
    CHECK ((practitioner_id IS NULL) <> (city IS NULL))
);
CREATE INDEX care_team_coordinator ON care_team (coordinator_id);
