-- Care assignments: a practitioner assigned to a patient by a journey step
-- (the diet step assigns a dietitian to review its plans). An assignment is
-- a treatment relation, so auth.CanSeePatientData lets the practitioner see
-- the patient while it lasts: until the step ends (ended_at) and never past
-- ends_at, the step's own horizon, even if the end is never recorded.
CREATE TABLE care_assignment (
    id              uuid PRIMARY KEY,
    journey_id      text NOT NULL,
    step            text NOT NULL,
    patient_id      uuid NOT NULL REFERENCES patient (id),
    practitioner_id uuid NOT NULL REFERENCES practitioner (id),
    role            text NOT NULL CHECK (role IN ('dietitian')),
    started_at      timestamptz NOT NULL DEFAULT now(),
    ends_at         timestamptz NOT NULL,
    ended_at        timestamptz,
    UNIQUE (journey_id, step)
);
CREATE INDEX care_assignment_access ON care_assignment (patient_id, practitioner_id) WHERE ended_at IS NULL;
