-- Medication adherence: the refills patients request through their
-- adherence workflow. A request is numbered per medication request (1 for
-- the first refill) and can never exceed the refills the prescriber allowed
-- (medication_request.refills); store.RecordRefillRequest enforces that.
CREATE TABLE refill_request (
    prescription_id uuid NOT NULL,
    position        integer NOT NULL,
    number          integer NOT NULL CHECK (number >= 1),
    patient_id      uuid NOT NULL REFERENCES patient (id),
    requested_by    text NOT NULL, -- the actor's ID (patient, coordinator or admin)
    requested_role  text NOT NULL,
    requested_at    timestamptz NOT NULL,
    status          text NOT NULL DEFAULT 'requested' CHECK (status IN ('requested', 'sent', 'dispensed', 'cancelled')),
    PRIMARY KEY (prescription_id, position, number),
    FOREIGN KEY (prescription_id, position) REFERENCES medication_request (prescription_id, position)
);
CREATE INDEX refill_request_patient ON refill_request (patient_id);
