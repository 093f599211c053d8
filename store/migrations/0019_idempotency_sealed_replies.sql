-- Idempotency replies are sealed (api/idempotency.go): the reply's content
-- type, Location and body are one AES-256-GCM ciphertext in body, under a
-- key derived from the payload codec's key ring (CAREPATH_CODEC_KEYS), which
-- never reaches the database. reply_key_id names the codec key it was
-- derived from, so that a rotated ring still opens older replies. A reply
-- may hold health data (a record, a prescription), and Location held
-- journey IDs, so neither may sit here in the clear.
--
-- Replies stored before this migration are in the clear and cannot be
-- sealed from SQL (the key is not here): they are deleted, which answers a
-- retry with their key as if the key had expired (the request runs again).
-- They were kept for at most a day.
DELETE FROM idempotency_key WHERE status IS NOT NULL;

ALTER TABLE idempotency_key
    DROP COLUMN content_type,
    DROP COLUMN location,
    ADD COLUMN reply_key_id text,
    -- A finished request always has a sealed reply: nothing can store one
    -- in the clear again.
    ADD CONSTRAINT idempotency_key_reply_sealed
        CHECK ((status IS NULL) = (reply_key_id IS NULL) AND (status IS NULL) = (body IS NULL));

COMMENT ON COLUMN idempotency_key.body IS 'nonce || AES-256-GCM(reply) under the key derived from codec key reply_key_id';
