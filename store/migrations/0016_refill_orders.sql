-- Refill orders: a refill of one medication request goes to a pharmacy as
-- an order of its own, sent and followed by the adherence course's refill
-- workflow rather than by the journey.
--   item_position: the one medication request the order carries (NULL: the
--                  whole prescription, as the journey's fulfil step sends it);
--   workflow_id:   the workflow the partner's webhooks are signalled to (NULL:
--                  the journey).
ALTER TABLE pharmacy_order
    ADD COLUMN item_position integer CHECK (item_position >= 0),
    ADD COLUMN workflow_id   text;
