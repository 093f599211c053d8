-- The first stages of a journey: bookable slots and appointments (with the
-- doctor's response and the closed encounter), payments and refunds, Stripe's
-- webhook events, and SMS (the patient's preferences and every message).
-- Table names follow FHIR R4: Slot, Appointment, AppointmentResponse,
-- Encounter, Communication. Every row an activity writes is keyed by the
-- journey (the Temporal workflow ID) and the step, so a retried activity
-- finds its earlier work instead of doing it twice.

-- Slot is one bookable interval cut from a schedule. A slot is free, held
-- for a journey until held_until (waiting for payment), or booked.
-- "start" and "end" keep FHIR's names; "end" is a reserved word, so quote it.
CREATE TABLE slot (
    id              uuid PRIMARY KEY,
    schedule_id     uuid NOT NULL REFERENCES schedule (id),
    practitioner_id uuid NOT NULL REFERENCES practitioner (id),
    start           timestamptz NOT NULL,
    "end"           timestamptz NOT NULL,
    status          text NOT NULL DEFAULT 'free' CHECK (status IN ('free', 'held', 'booked')),
    appointment_id  uuid,        -- the appointment holding or booking it; set with status
    held_until      timestamptz, -- a hold lapses at this time; only while held
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ("end" > start),
    CHECK ((status = 'free') = (appointment_id IS NULL)),
    CHECK ((status = 'held') = (held_until IS NOT NULL)),
    -- A practitioner cannot have two slots starting at once (the generator
    -- relies on it to stay idempotent).
    UNIQUE (practitioner_id, start)
);
CREATE INDEX slot_free_by_practitioner ON slot (practitioner_id, start) WHERE status = 'free';

-- Appointment is the patient's booking of a slot. Status uses FHIR's
-- Appointment.status values: pending (held, waiting for payment and the
-- doctor), booked, fulfilled (consult closed), cancelled, noshow. Start and
-- end come from the slot, which a reschedule changes.
CREATE TABLE appointment (
    id                  uuid PRIMARY KEY,
    journey_id          text NOT NULL,
    step                text NOT NULL, -- the booking step that created it
    patient_id          uuid NOT NULL REFERENCES patient (id),
    practitioner_id     uuid NOT NULL REFERENCES practitioner (id),
    slot_id             uuid NOT NULL REFERENCES slot (id),
    status              text NOT NULL CHECK (status IN ('pending', 'booked', 'fulfilled', 'cancelled', 'noshow')),
    -- The doctor's answer, as FHIR AppointmentResponse.participantStatus.
    doctor_response     text NOT NULL DEFAULT 'needs-action' CHECK (doctor_response IN ('needs-action', 'accepted', 'declined')),
    fee_minor           bigint NOT NULL CHECK (fee_minor >= 0), -- the doctor's fee when the slot was held
    currency            text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    cancellation_reason text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (journey_id, step)
);
CREATE INDEX appointment_patient ON appointment (patient_id);
CREATE INDEX appointment_practitioner ON appointment (practitioner_id, status);
ALTER TABLE slot ADD CONSTRAINT slot_appointment_fk FOREIGN KEY (appointment_id) REFERENCES appointment (id);

-- AppointmentResponse records who answered for the practitioner, and when.
CREATE TABLE appointment_response (
    id                 uuid PRIMARY KEY,
    appointment_id     uuid NOT NULL REFERENCES appointment (id),
    journey_id         text NOT NULL,
    step               text NOT NULL,
    actor_id           uuid NOT NULL REFERENCES practitioner (id),
    participant_status text NOT NULL CHECK (participant_status IN ('accepted', 'declined')),
    responded_at       timestamptz NOT NULL, -- when the doctor answered
    recorded_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (journey_id, step)
);

-- Encounter is the consult as it happened, closed by the doctor with
-- ICD-10 diagnosis codes and notes. The notes are clinical free text: they
-- live here and nowhere else (not in logs, SMS or workflow results).
CREATE TABLE encounter (
    id              uuid PRIMARY KEY,
    appointment_id  uuid NOT NULL UNIQUE REFERENCES appointment (id),
    journey_id      text NOT NULL,
    patient_id      uuid NOT NULL REFERENCES patient (id),
    practitioner_id uuid NOT NULL REFERENCES practitioner (id),
    status          text NOT NULL CHECK (status IN ('finished')),
    diagnosis_codes text[] NOT NULL DEFAULT '{}', -- ICD-10
    note            text NOT NULL DEFAULT '',
    period_start    timestamptz NOT NULL,
    period_end      timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Orders the doctor placed when closing the encounter; they decide the
-- journey's next steps (FHIR MedicationRequest, ServiceRequest,
-- NutritionOrder drafts; a follow-up request).
CREATE TABLE encounter_order (
    id           uuid PRIMARY KEY,
    encounter_id uuid NOT NULL REFERENCES encounter (id),
    position     integer NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('prescription', 'lab_test', 'diet_referral', 'follow_up')),
    code         text NOT NULL DEFAULT '',   -- LOINC for lab tests, a product SKU for a prescription
    display      text NOT NULL DEFAULT '',
    after_days   integer CHECK (after_days > 0), -- follow-up interval
    detail       jsonb NOT NULL DEFAULT '{}',
    UNIQUE (encounter_id, position)
);

-- Appointment operations already done, one row per journey and step, with
-- the result they returned. A retried activity returns the recorded result;
-- request_hash catches a step ID reused for a different request.
CREATE TABLE appointment_operation (
    journey_id     text NOT NULL,
    step           text NOT NULL,
    operation      text NOT NULL,
    request_hash   text NOT NULL,
    appointment_id uuid REFERENCES appointment (id),
    result         jsonb,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (journey_id, step)
);

-- Payment is one Stripe PaymentIntent for a journey step. Keyed by journey
-- and step, not by the provider's ID: a retry or a crashed worker finds the
-- row and reuses its idempotency key, and stripe-mock hands every caller the
-- same fixture IDs. status is 'creating' until Stripe has answered, then the
-- PaymentIntent's own status.
CREATE TABLE payment (
    id                  uuid PRIMARY KEY,
    journey_id          text NOT NULL,
    step                text NOT NULL,
    appointment_id      uuid REFERENCES appointment (id),
    provider            text NOT NULL DEFAULT 'stripe',
    provider_payment_id text,
    idempotency_key     text NOT NULL UNIQUE,
    amount_minor        bigint NOT NULL CHECK (amount_minor > 0),
    currency            text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status              text NOT NULL,
    client_secret       text, -- handed to the patient's app to confirm; never logged
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (journey_id, step)
);
CREATE INDEX payment_provider_id ON payment (provider_payment_id);

CREATE TABLE refund (
    id                 uuid PRIMARY KEY,
    journey_id         text NOT NULL,
    step               text NOT NULL,
    payment_id         uuid NOT NULL REFERENCES payment (id),
    provider_refund_id text,
    idempotency_key    text NOT NULL UNIQUE,
    amount_minor       bigint NOT NULL CHECK (amount_minor > 0),
    currency           text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    reason             text NOT NULL,
    status             text NOT NULL, -- 'creating', then the Refund's status
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (journey_id, step)
);

-- Stripe webhook events seen, for deduplication: Stripe delivers at least
-- once. processed_at stays NULL until the journey has been signalled, so a
-- delivery that failed half-way is processed again when Stripe retries.
CREATE TABLE stripe_event (
    id           text PRIMARY KEY,
    type         text NOT NULL,
    journey_id   text,
    outcome      text,
    received_at  timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz
);

-- A patient's SMS preferences. Opt-out follows the patient's STOP/START
-- replies; quiet hours are local times in the patient's time zone (a window
-- may span midnight, e.g. 22:00 to 07:00).
CREATE TABLE sms_preference (
    patient_id        uuid PRIMARY KEY REFERENCES patient (id),
    sms_opt_out       boolean NOT NULL DEFAULT false,
    opt_out_changed_at timestamptz,
    opt_out_source    text, -- the inbound message SID that changed it
    quiet_hours_start time,
    quiet_hours_end   time,
    CHECK ((quiet_hours_start IS NULL) = (quiet_hours_end IS NULL))
);

-- Communication is one outbound message for a journey step (FHIR
-- Communication). The body is rendered from a template that carries no
-- clinical free text. status: sending (handed to Twilio, no answer yet),
-- sent, skipped (opt-out), deferred (quiet hours; next_allowed_at says when).
CREATE TABLE communication (
    id                  uuid PRIMARY KEY,
    journey_id          text NOT NULL,
    step                text NOT NULL,
    patient_id          uuid NOT NULL REFERENCES patient (id),
    channel             text NOT NULL DEFAULT 'sms',
    kind                text NOT NULL,
    template_id         text NOT NULL,
    body                text NOT NULL DEFAULT '',
    status              text NOT NULL CHECK (status IN ('sending', 'sent', 'skipped', 'deferred')),
    skip_reason         text,
    next_allowed_at     timestamptz,
    provider_message_id text,
    provider_status     text,
    attempts            integer NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    sent_at             timestamptz,
    UNIQUE (journey_id, step)
);
CREATE INDEX communication_patient ON communication (patient_id);
