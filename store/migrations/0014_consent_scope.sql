-- Consent with a scope, and emergency access. A patient grants a
-- practitioner or a whole organisation access to all of their record or
-- to one category of it, until an expiry; a revocation marks the row and
-- takes effect on the next request (auth.CanSeePatientData reads these rows
-- on every request). Break glass lets a doctor with no relation to the
-- patient in for a short time with a written reason; it is flagged in the
-- audit trail and the patient is notified.
ALTER TABLE consent ALTER COLUMN practitioner_id DROP NOT NULL;
ALTER TABLE consent ADD COLUMN organization_id uuid REFERENCES organization (id);
ALTER TABLE consent ADD COLUMN category text NOT NULL DEFAULT 'all'
    CHECK (category IN ('all', 'condition', 'allergy', 'immunization', 'observation', 'document'));
ALTER TABLE consent ADD COLUMN revoked_at timestamptz;
ALTER TABLE consent ADD CONSTRAINT consent_one_grantee CHECK ((practitioner_id IS NULL) <> (organization_id IS NULL));
ALTER TABLE consent ADD CONSTRAINT consent_revoked_inactive CHECK (revoked_at IS NULL OR status = 'inactive');
CREATE INDEX consent_patient_organization ON consent (patient_id, organization_id) WHERE status = 'active';

CREATE TABLE break_glass (
    id              uuid PRIMARY KEY,
    patient_id      uuid NOT NULL REFERENCES patient (id),
    practitioner_id uuid NOT NULL REFERENCES practitioner (id),
    reason          text NOT NULL CHECK (length(btrim(reason)) >= 20),
    started_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    CHECK (expires_at > started_at)
);
CREATE INDEX break_glass_active ON break_glass (patient_id, practitioner_id, expires_at);

-- Notices to a patient about their record (a break-glass access). SMS
-- delivery is not wired yet: delivered_at stays NULL until it is.
CREATE TABLE patient_notification (
    id           uuid PRIMARY KEY,
    patient_id   uuid NOT NULL REFERENCES patient (id),
    kind         text NOT NULL CHECK (kind IN ('break_glass')),
    subject_id   uuid NOT NULL, -- the break_glass row
    message      text NOT NULL, -- names the practitioner and the time; never clinical content
    created_at   timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz
);
CREATE INDEX patient_notification_patient ON patient_notification (patient_id, created_at DESC);
