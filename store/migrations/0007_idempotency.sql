-- Idempotency keys (api/idempotency.go): the first response to a POST that
-- creates something, kept so that a client retrying with the same
-- Idempotency-Key gets that response again instead of a second journey,
-- decision or prescription. Kept in PostgreSQL, not Redis, so that a
-- restart of the API or of Redis (or an eviction) never turns a retry into
-- a duplicate. Keys are scoped per caller ("role:subject").
CREATE TABLE idempotency_key (
    scope          text        NOT NULL,
    key            text        NOT NULL,
    request_hash   bytea       NOT NULL, -- SHA-256 of method, path, caller and body
    -- NULL while the first request is in flight; its claim lapses at
    -- locked_until (a crashed API must not block the key for ever).
    status         int,
    content_type   text,
    location       text,
    body           bytea,
    locked_until   timestamptz NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    PRIMARY KEY (scope, key)
);

CREATE INDEX idempotency_key_expires_at ON idempotency_key (expires_at);
