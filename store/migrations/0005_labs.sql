-- Lab orders and their results. A lab_order is one test booked for a
-- patient (FHIR ServiceRequest), by a journey's lab_order step or through
-- the HealthLink booking endpoint; a lab_observation is its numeric result
-- (FHIR Observation) with the reference range the laboratory reported and
-- CarePath's interpretation of it. staff_notification records the
-- messages sent to the ordering doctor (abnormal results), once per step.

CREATE TABLE lab_order (
    id              uuid PRIMARY KEY,
    idempotency_key text NOT NULL UNIQUE, -- journey:step:loinc, or the caller's key
    request_hash    text NOT NULL,        -- catches a key reused for another request
    origin          text NOT NULL CHECK (origin IN ('journey', 'healthlink')),
    journey_id      text,
    patient_id      uuid NOT NULL REFERENCES patient (id),
    practitioner_id uuid REFERENCES practitioner (id), -- the ordering doctor, when known
    loinc_code      text NOT NULL REFERENCES lab_test (loinc_code),
    scheduled_for   date NOT NULL,
    status          text NOT NULL CHECK (status IN ('scheduled', 'resulted', 'cancelled')),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lab_order_patient ON lab_order (patient_id);
CREATE INDEX lab_order_journey ON lab_order (journey_id) WHERE journey_id IS NOT NULL;

CREATE TABLE lab_observation (
    id             uuid PRIMARY KEY,
    lab_order_id   uuid NOT NULL UNIQUE REFERENCES lab_order (id),
    patient_id     uuid NOT NULL REFERENCES patient (id),
    loinc_code     text NOT NULL REFERENCES lab_test (loinc_code),
    value          double precision NOT NULL,
    unit           text NOT NULL, -- UCUM
    reference_low  double precision,
    reference_high double precision,
    critical_low   double precision,
    critical_high  double precision,
    interpretation text NOT NULL CHECK (interpretation IN ('N', 'L', 'H', 'LL', 'HH')), -- HL7 v3 ObservationInterpretation
    reported_by    text NOT NULL, -- the user or client ID that reported it
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (reference_low IS NOT NULL OR reference_high IS NOT NULL)
);
CREATE INDEX lab_observation_patient ON lab_observation (patient_id, loinc_code);

CREATE TABLE staff_notification (
    id                  uuid PRIMARY KEY,
    journey_id          text NOT NULL,
    step                text NOT NULL,
    practitioner_id     uuid NOT NULL REFERENCES practitioner (id),
    template_id         text NOT NULL,
    status              text NOT NULL CHECK (status IN ('sending', 'sent', 'skipped')),
    skip_reason         text,
    provider_message_id text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (journey_id, step)
);
