-- Prescriptions and pharmacy fulfilment. What the prescription check reads
-- about the patient (conditions, allergies, medicines taken, renal
-- function), the prescription drafted from the consult's orders with the
-- knowledge graph's findings (FHIR MedicationRequest and DetectedIssue), the
-- doctor's review, the signed record, and the orders sent to partner
-- pharmacies with the statuses their webhooks reported.

-- Condition, AllergyIntolerance and MedicationStatement: the patient's
-- clinical facts the prescription check uses. Codes are ICD-10 or SNOMED CT.
CREATE TABLE condition (
    id              uuid PRIMARY KEY,
    patient_id      uuid NOT NULL REFERENCES patient (id),
    code            text NOT NULL,
    clinical_status text NOT NULL DEFAULT 'active' CHECK (clinical_status IN ('active', 'resolved')),
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (patient_id, code)
);

CREATE TABLE allergy_intolerance (
    id              uuid PRIMARY KEY,
    patient_id      uuid NOT NULL REFERENCES patient (id),
    substance       text NOT NULL, -- an allergy class ("penicillin") or a drug name
    clinical_status text NOT NULL DEFAULT 'active' CHECK (clinical_status IN ('active', 'resolved')),
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (patient_id, substance)
);

CREATE TABLE medication_statement (
    id          uuid PRIMARY KEY,
    patient_id  uuid NOT NULL REFERENCES patient (id),
    drug        text NOT NULL,
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'stopped')),
    recorded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (patient_id, drug)
);

-- Renal function results (eGFR, LOINC 62238-1 or 33914-3); the check reads
-- the latest one.
CREATE TABLE renal_function (
    id           uuid PRIMARY KEY,
    patient_id   uuid NOT NULL REFERENCES patient (id),
    loinc_code   text NOT NULL,
    egfr         double precision NOT NULL CHECK (egfr >= 0), -- mL/min/1.73m2
    effective_at timestamptz NOT NULL
);
CREATE INDEX renal_function_latest ON renal_function (patient_id, effective_at DESC);

-- The patient's chosen pharmacy, tried before the nearest ones.
CREATE TABLE pharmacy_preference (
    patient_id      uuid PRIMARY KEY REFERENCES patient (id),
    organization_id uuid NOT NULL REFERENCES organization (id)
);

-- A prescription is one version of the journey step's draft: an amendment
-- writes a new version and supersedes the old one.
CREATE TABLE prescription (
    id               uuid PRIMARY KEY,
    journey_id       text NOT NULL,
    step             text NOT NULL,
    version          integer NOT NULL CHECK (version >= 1),
    patient_id       uuid NOT NULL REFERENCES patient (id),
    practitioner_id  uuid NOT NULL REFERENCES practitioner (id),
    status           text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'superseded', 'signed')),
    check_complete   boolean, -- NULL until the knowledge graph has checked it
    highest_severity text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (journey_id, step, version)
);

-- MedicationRequest: one medicine of a prescription.
CREATE TABLE medication_request (
    prescription_id uuid NOT NULL REFERENCES prescription (id),
    position        integer NOT NULL,
    drug            text NOT NULL,
    dose            text NOT NULL,
    route           text NOT NULL,
    frequency       text NOT NULL,
    duration_days   integer NOT NULL CHECK (duration_days > 0),
    quantity        integer NOT NULL CHECK (quantity > 0),
    refills         integer NOT NULL DEFAULT 0 CHECK (refills >= 0),
    PRIMARY KEY (prescription_id, position)
);

-- DetectedIssue: a finding of the check, with the FHIR resource as stored.
CREATE TABLE detected_issue (
    prescription_id uuid NOT NULL REFERENCES prescription (id),
    position        integer NOT NULL,
    severity        text NOT NULL, -- contraindicated, major, moderate, minor
    kind            text NOT NULL,
    resource        jsonb NOT NULL,
    PRIMARY KEY (prescription_id, position)
);

-- The doctor's review of a prescription. An override of a major or
-- contraindicated finding carries the written reason.
CREATE TABLE prescription_review (
    prescription_id uuid PRIMARY KEY REFERENCES prescription (id),
    actor_id        uuid NOT NULL REFERENCES practitioner (id),
    action          text NOT NULL CHECK (action IN ('approve', 'override')),
    reason          text NOT NULL DEFAULT '',
    reviewed_at     timestamptz NOT NULL,
    CHECK (action <> 'override' OR length(btrim(reason)) > 0)
);

-- The signed prescription: its canonical JSON, the SHA-256 of it and the
-- service's Ed25519 signature over that hash. Rows are written once; the
-- trigger below refuses every UPDATE and DELETE.
CREATE TABLE signed_prescription (
    prescription_id uuid PRIMARY KEY REFERENCES prescription (id),
    canonical       text NOT NULL,
    sha256          text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    signature       bytea NOT NULL,
    key_id          text NOT NULL,
    signed_at       timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are immutable', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER signed_prescription_immutable BEFORE UPDATE OR DELETE ON signed_prescription
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER prescription_review_immutable BEFORE UPDATE OR DELETE ON prescription_review
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER medication_request_immutable BEFORE UPDATE OR DELETE ON medication_request
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- An order sent to a partner pharmacy: one per attempt, so an out-of-stock
-- answer moves to the next pharmacy with a new order.
CREATE TABLE pharmacy_order (
    id               uuid PRIMARY KEY,
    journey_id       text NOT NULL,
    step             text NOT NULL,
    attempt          integer NOT NULL CHECK (attempt >= 1),
    prescription_id  uuid NOT NULL REFERENCES prescription (id),
    pharmacy_id      uuid NOT NULL REFERENCES organization (id),
    partner_order_id text,
    status           text NOT NULL DEFAULT 'sending',
    last_sequence    integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (journey_id, step, attempt)
);

-- Every partner webhook event accepted, so a redelivery is recognised.
CREATE TABLE pharmacy_event (
    event_id    text PRIMARY KEY,
    order_id    uuid NOT NULL REFERENCES pharmacy_order (id),
    status      text NOT NULL,
    sequence    integer NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
