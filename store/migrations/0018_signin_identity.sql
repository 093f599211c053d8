-- Sign-in and identity (issue 12).
--
-- Refresh sessions get an absolute lifetime: every token of a family
-- carries the moment its sign-in happened, and auth.Service.Refresh refuses
-- the family once CAREPATH_AUTH_SESSION_MAX_AGE has passed since then, however
-- often it rotated. Rows from before this migration count from their own
-- creation.
ALTER TABLE refresh_token ADD COLUMN session_started_at timestamptz;
UPDATE refresh_token SET session_started_at = created_at;
ALTER TABLE refresh_token ALTER COLUMN session_started_at SET NOT NULL;
ALTER TABLE refresh_token ALTER COLUMN session_started_at SET DEFAULT now();
CREATE INDEX refresh_token_user ON refresh_token (user_id) WHERE revoked_at IS NULL;

-- When an account was deactivated (app_user.active false), for the record.
ALTER TABLE app_user ADD COLUMN deactivated_at timestamptz;

-- Integrator enrolment: the patients, or the organisations' patients, an
-- OAuth client may act for (auth.Service.IntegratorMayActFor). A patient of
-- an organisation is one with an appointment, not cancelled, with one of its
-- practitioners. An enrolment ends when revoked.
CREATE TABLE integrator_enrolment (
    id              uuid PRIMARY KEY,
    client_id       text NOT NULL REFERENCES oauth_client (id) ON DELETE CASCADE,
    patient_id      uuid REFERENCES patient (id),
    organization_id uuid REFERENCES organization (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz,
    CHECK ((patient_id IS NULL) <> (organization_id IS NULL))
);
CREATE UNIQUE INDEX integrator_enrolment_patient ON integrator_enrolment (client_id, patient_id)
    WHERE patient_id IS NOT NULL AND revoked_at IS NULL;
CREATE UNIQUE INDEX integrator_enrolment_organization ON integrator_enrolment (client_id, organization_id)
    WHERE organization_id IS NOT NULL AND revoked_at IS NULL;
CREATE INDEX integrator_enrolment_by_patient ON integrator_enrolment (patient_id) WHERE revoked_at IS NULL;

-- The lab client (an OAuth client holding labs:write) an order was sent to.
-- Only that client may report the order's result. A booking made by a lab
-- client is sent to it; other orders go to the lab client the patient is
-- enrolled with (store.BookLabTests). NULL: sent to no partner lab; only
-- staff may enter its result by hand.
ALTER TABLE lab_order ADD COLUMN lab_client_id text REFERENCES oauth_client (id);
