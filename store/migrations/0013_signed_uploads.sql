-- Signed uploads. Users register ECDSA P-256 public keys (the server keeps
-- no private key of theirs). A signed document upload stores what the
-- client signed: the canonical JSON of the document's SHA-256 and its
-- metadata (uploader, device, time), and the 64-byte IEEE P1363 signature
-- (r || s, as WebCrypto produces it). api/signatures.go verifies it at
-- upload and again on demand, check by check.
CREATE TABLE user_public_key (
    id         uuid PRIMARY KEY,
    owner_id   text NOT NULL,  -- the user's actor ID (patient or practitioner ID)
    owner_role text NOT NULL,
    spki       bytea NOT NULL, -- DER SubjectPublicKeyInfo
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    UNIQUE (owner_id, spki)
);

CREATE TABLE record_signature (
    record_id      uuid PRIMARY KEY REFERENCES health_record (id) ON DELETE CASCADE,
    key_id         uuid NOT NULL REFERENCES user_public_key (id),
    sha256         text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    uploader       text NOT NULL,
    device_id      text NOT NULL,
    signed_at      text NOT NULL, -- RFC 3339, exactly as signed
    signed_payload text NOT NULL, -- the canonical JSON the signature covers
    signature      bytea NOT NULL CHECK (length(signature) = 64),
    verified_at    timestamptz NOT NULL DEFAULT now()
);
