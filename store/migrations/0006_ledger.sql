-- The earnings ledger: double-entry bookkeeping of consultation payments,
-- refunds, platform fees and doctors' withdrawals, in minor units.
--
-- Every journal entry has lines on accounts; a line's amount is positive for
-- a debit and negative for a credit, and the lines of one entry sum to zero
-- (a deferred constraint trigger checks it at commit). Accounts:
--   platform_cash   (asset)     money CarePath holds at its payment provider
--   platform_fees   (revenue)   CarePath's share of each consultation fee
--   doctor_payable  (liability) what CarePath owes one doctor
-- A doctor's balance is minus the sum of their doctor_payable lines.
-- Rows are written once: corrections are new entries, never edits.

CREATE TABLE ledger_account (
    id              uuid PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('platform_cash', 'platform_fees', 'doctor_payable')),
    practitioner_id uuid REFERENCES practitioner (id),
    currency        text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'doctor_payable') = (practitioner_id IS NOT NULL)),
    UNIQUE NULLS NOT DISTINCT (kind, practitioner_id, currency)
);

-- The platform's fee on consultation payments, in basis points (1000 =
-- 10%), effective from a time. A payment is split with the rate in force
-- when it succeeded; the entry records the rate it used, and its refunds
-- reverse the same split. Change the rate by inserting a new row.
CREATE TABLE platform_fee_rate (
    effective_from timestamptz PRIMARY KEY,
    fee_bps        integer NOT NULL CHECK (fee_bps BETWEEN 0 AND 10000),
    source         text NOT NULL -- who decided it, and where
);
INSERT INTO platform_fee_rate (effective_from, fee_bps, source)
VALUES ('2020-01-01T00:00:00Z', 1000, 'CarePath commercial terms: 10% platform fee on consultation fees (default; change with a new row)');

-- One balanced posting. kind says what caused it; exactly one of payment,
-- refund or withdrawal sources it, so a retried hook never posts twice.
CREATE TABLE journal_entry (
    id              uuid PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('consultation_payment', 'refund', 'withdrawal')),
    practitioner_id uuid NOT NULL REFERENCES practitioner (id),
    appointment_id  uuid REFERENCES appointment (id),
    payment_id      uuid REFERENCES payment (id),
    refund_id       uuid UNIQUE REFERENCES refund (id),
    currency        text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    fee_bps         integer CHECK (fee_bps BETWEEN 0 AND 10000),
    posted_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'withdrawal') = (payment_id IS NULL)),
    CHECK ((kind = 'refund') = (refund_id IS NOT NULL)),
    CHECK ((kind = 'withdrawal') = (fee_bps IS NULL))
);
CREATE UNIQUE INDEX journal_entry_one_per_payment ON journal_entry (payment_id) WHERE kind = 'consultation_payment';
CREATE INDEX journal_entry_practitioner ON journal_entry (practitioner_id, kind);

CREATE TABLE journal_line (
    entry_id     uuid NOT NULL REFERENCES journal_entry (id),
    account_id   uuid NOT NULL REFERENCES ledger_account (id),
    amount_minor bigint NOT NULL CHECK (amount_minor <> 0), -- debit > 0, credit < 0
    PRIMARY KEY (entry_id, account_id)
);
CREATE INDEX journal_line_account ON journal_line (account_id);

-- An entry must have at least two lines, all in its currency, summing to
-- zero. Deferred to commit, so the entry and its lines go in one
-- transaction in any order.
CREATE FUNCTION journal_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    entry uuid;
    total numeric;
    lines integer;
    foreign_lines integer;
BEGIN
    IF TG_TABLE_NAME = 'journal_entry' THEN
        entry := NEW.id;
    ELSE
        entry := NEW.entry_id;
    END IF;
    SELECT coalesce(sum(l.amount_minor), 0), count(*), count(*) FILTER (WHERE a.currency <> e.currency)
      INTO total, lines, foreign_lines
      FROM journal_entry e
      LEFT JOIN journal_line l ON l.entry_id = e.id
      LEFT JOIN ledger_account a ON a.id = l.account_id
     WHERE e.id = entry;
    IF lines < 2 OR total <> 0 OR foreign_lines > 0 THEN
        RAISE EXCEPTION 'journal entry % is unbalanced: % lines summing to %, % in another currency', entry, lines, total, foreign_lines
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER journal_entry_balanced AFTER INSERT ON journal_entry
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION journal_entry_balanced();
CREATE CONSTRAINT TRIGGER journal_line_balanced AFTER INSERT ON journal_line
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION journal_entry_balanced();

CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are immutable; post a new entry instead', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER journal_entry_immutable BEFORE UPDATE OR DELETE ON journal_entry
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER journal_line_immutable BEFORE UPDATE OR DELETE ON journal_line
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

-- A medicine bought through the HealthLink purchase endpoint: a product, a
-- quantity and the price when bought; prescription-only products name the
-- signed prescription that covered them.
CREATE TABLE medicine_purchase (
    id               uuid PRIMARY KEY,
    patient_id       uuid NOT NULL REFERENCES patient (id),
    sku              text NOT NULL REFERENCES product (sku),
    quantity         integer NOT NULL CHECK (quantity BETWEEN 1 AND 100),
    unit_price_minor integer NOT NULL CHECK (unit_price_minor >= 0),
    total_minor      bigint NOT NULL CHECK (total_minor = unit_price_minor::bigint * quantity),
    currency         text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    prescription_id  uuid REFERENCES prescription (id),
    delivery_status  text NOT NULL DEFAULT 'pending' CHECK (delivery_status IN ('pending', 'dispatched', 'delivered', 'cancelled')),
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX medicine_purchase_patient ON medicine_purchase (patient_id);
