-- Audit trail (FHIR AuditEvent, minimal): every read and write of health
-- data through the API appends one row. The table is append-only and hash
-- chained: each row holds the SHA-256 of the row before (prev_hash) and its
-- own hash over prev_hash and its fields (store/audit.go computes both), so
-- a changed or deleted row breaks the chain at that row. seq is assigned by
-- the appender under an advisory lock, so it has no gaps.
CREATE TABLE audit_event (
    seq         bigint PRIMARY KEY CHECK (seq > 0),
    occurred_at timestamptz NOT NULL,
    actor_id    text NOT NULL,  -- user, patient, practitioner or client ID
    actor_role  text NOT NULL,
    action      text NOT NULL CHECK (action IN ('read', 'create', 'update', 'delete', 'execute')),
    route       text NOT NULL,  -- "METHOD /route/:template"
    path        text NOT NULL,  -- the request path: IDs only, never a query string
    patient_id  uuid,           -- whose data; NULL for events about no patient
    outcome     text NOT NULL CHECK (outcome IN ('success', 'denied', 'failure')),
    status      integer NOT NULL,
    purpose     text NOT NULL,  -- HL7 PurposeOfUse code (TREAT, ETREAT, PATRQT, HOPERAT, ...)
    reason      text NOT NULL,  -- why access was allowed or refused (own data, appointment, consent, ...)
    prev_hash   bytea NOT NULL,
    hash        bytea NOT NULL UNIQUE
);
CREATE INDEX audit_event_patient ON audit_event (patient_id, seq DESC) WHERE patient_id IS NOT NULL;

CREATE FUNCTION audit_event_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_event_no_update_delete BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION audit_event_refuse_change();
CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_refuse_change();

-- The chain head: the newest row's seq and hash. Appenders lock this one row
-- (SELECT ... FOR UPDATE), which serialises appends, and move it forward one
-- step at a time. Because the head is kept apart from the rows, deleting the
-- newest rows is detected too (the head points past the table's end). The
-- API also exports the head to a file at intervals (CAREPATH_AUDIT_HEAD_FILE),
-- so a rewrite of the whole table and the head together is detectable from
-- outside the database.
CREATE TABLE audit_head (
    id   boolean PRIMARY KEY DEFAULT true CHECK (id),
    seq  bigint NOT NULL CHECK (seq >= 0),
    hash bytea NOT NULL
);
INSERT INTO audit_head (seq, hash) VALUES (0, '\x0000000000000000000000000000000000000000000000000000000000000000');

CREATE FUNCTION audit_head_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' OR NEW.seq <> OLD.seq + 1 THEN
        RAISE EXCEPTION 'audit_head only moves forward one row at a time' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER audit_head_forward BEFORE UPDATE OR DELETE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION audit_head_forward_only();
