-- Health records: what patients and their doctors keep in the patient's
-- record. A row is either a structured entry (FHIR Condition,
-- AllergyIntolerance, Immunization, or an Observation such as a lab result
-- with its LOINC code, value, unit and reference range) or a document (FHIR
-- DocumentReference: a PDF report or an image), whose bytes live sealed in
-- the object store (package vault): AES-256-GCM under a data key of its
-- own, the data key wrapped by the master key named in master_key_id.
--
-- Deletion follows the retention policy (api/records.go): an entry a
-- doctor made after a consult is hidden (hidden_at, retain_until,
-- retention_basis) until the law lets it go; anything else is destroyed.
CREATE TABLE health_record (
    id              uuid PRIMARY KEY,
    patient_id      uuid NOT NULL REFERENCES patient (id),
    kind            text NOT NULL CHECK (kind IN ('condition', 'allergy', 'immunization', 'observation', 'document')),
    effective_date  date NOT NULL,          -- onset, vaccination, sample or report date
    code_system     text NOT NULL DEFAULT '', -- http://hl7.org/fhir/sid/icd-10, http://loinc.org, http://hl7.org/fhir/sid/cvx, ...
    code            text NOT NULL DEFAULT '',
    display         text NOT NULL,          -- diagnosis, substance, vaccine, test name or document title
    status          text NOT NULL DEFAULT '', -- clinical status (active, resolved) for conditions and allergies
    value           numeric,                -- observations
    unit            text,                   -- UCUM
    ref_low         numeric,
    ref_high        numeric,
    note            text NOT NULL DEFAULT '',
    encounter_id    uuid REFERENCES encounter (id), -- the consult a doctor's entry comes from
    author_id       text NOT NULL,
    author_role     text NOT NULL CHECK (author_role IN ('patient', 'doctor')),
    content_type    text,                   -- documents: application/pdf, image/png, image/jpeg
    size_bytes      bigint,
    object_key      text UNIQUE,
    content_sha256  bytea,                  -- of the plaintext document
    wrapped_key     bytea,
    master_key_id   text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    hidden_at       timestamptz,
    retain_until    date,
    retention_basis text,
    CHECK (kind <> 'observation' OR (code_system = 'http://loinc.org' AND code <> '' AND value IS NOT NULL AND unit IS NOT NULL)),
    CHECK (kind <> 'document' OR (object_key IS NOT NULL AND wrapped_key IS NOT NULL AND master_key_id IS NOT NULL
        AND content_sha256 IS NOT NULL AND content_type IS NOT NULL)),
    CHECK (author_role <> 'doctor' OR encounter_id IS NOT NULL),
    CHECK ((hidden_at IS NULL) = (retain_until IS NULL))
);
CREATE INDEX health_record_patient ON health_record (patient_id, effective_date DESC);
CREATE INDEX health_record_master_key ON health_record (master_key_id) WHERE master_key_id IS NOT NULL;
