package store

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Payments and refunds, one row per journey step. A row is reserved (status
// "creating") before the provider is called and completed with the
// provider's answer after, so a worker that crashes in between finds the row
// on its retry and calls the provider again with the same idempotency key.

var (
	ErrPaymentNotFound = errors.New("payment not found")
	// ErrPaymentMismatch: the step already has a payment with other terms.
	ErrPaymentMismatch = errors.New("step already has a payment with different terms")
	// ErrRefundExceedsPayment: the refunds would exceed what was paid.
	ErrRefundExceedsPayment = errors.New("refund exceeds what remains of the payment")
)

var currencyCode = regexp.MustCompile(`^[A-Z]{3}$`)

// PaymentCreating is the status of a payment row before the provider answered.
const PaymentCreating = "creating"

// Payment is one PaymentIntent of a journey step.
type Payment struct {
	ID                string    `json:"id"`
	JourneyID         string    `json:"journey_id"`
	Step              string    `json:"step"`
	AppointmentID     string    `json:"appointment_id,omitempty"`
	Provider          string    `json:"provider"`
	ProviderPaymentID string    `json:"provider_payment_id,omitempty"`
	IdempotencyKey    string    `json:"idempotency_key"`
	AmountMinor       int64     `json:"amount_minor"`
	Currency          string    `json:"currency"`
	Status            string    `json:"status"`
	ClientSecret      string    `json:"-"` // never serialised by accident
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
}

const paymentColumns = `id::text, journey_id, step, coalesce(appointment_id::text, ''), provider,
	coalesce(provider_payment_id, ''), idempotency_key, amount_minor, currency, status, coalesce(client_secret, ''),
	created_at, updated_at`

func scanPayment(row pgx.Row) (Payment, error) {
	var p Payment
	err := row.Scan(&p.ID, &p.JourneyID, &p.Step, &p.AppointmentID, &p.Provider, &p.ProviderPaymentID,
		&p.IdempotencyKey, &p.AmountMinor, &p.Currency, &p.Status, &p.ClientSecret, &p.CreatedAt, &p.UpdatedAt)
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p, err
}

// ReservePayment returns the payment of the journey step, inserting it in
// status "creating" if there is none. An existing row with another amount,
// currency or appointment is ErrPaymentMismatch: a step charges once.
func (s *Store) ReservePayment(ctx context.Context, p Payment) (Payment, error) {
	if err := needIDs(p.JourneyID, p.Step, p.IdempotencyKey); err != nil {
		return Payment{}, fmt.Errorf("store: reserve payment: %w", err)
	}
	if p.AmountMinor <= 0 || !currencyCode.MatchString(p.Currency) {
		return Payment{}, fmt.Errorf("store: reserve payment: amount must be positive and currency ISO 4217: %w", ErrInvalid)
	}
	var apptID *string
	if p.AppointmentID != "" {
		apptID = &p.AppointmentID
	}
	if _, err := s.Pool.Exec(ctx, `
		INSERT INTO payment (id, journey_id, step, appointment_id, provider, idempotency_key, amount_minor, currency, status)
		VALUES ($1, $2, $3, $4, 'stripe', $5, $6, $7, 'creating')
		ON CONFLICT (journey_id, step) DO NOTHING`,
		uuid.NewString(), p.JourneyID, p.Step, apptID, p.IdempotencyKey, p.AmountMinor, p.Currency); err != nil {
		if IsForeignKeyViolation(err) {
			return Payment{}, fmt.Errorf("store: reserve payment: appointment %s: %w", p.AppointmentID, ErrAppointmentNotFound)
		}
		return Payment{}, fmt.Errorf("store: reserve payment %s/%s: %w", p.JourneyID, p.Step, err)
	}
	got, err := s.PaymentByStep(ctx, p.JourneyID, p.Step)
	if err != nil {
		return Payment{}, err
	}
	if got.AmountMinor != p.AmountMinor || got.Currency != p.Currency || got.AppointmentID != p.AppointmentID ||
		got.IdempotencyKey != p.IdempotencyKey {
		return Payment{}, fmt.Errorf("store: reserve payment %s/%s: %w", p.JourneyID, p.Step, ErrPaymentMismatch)
	}
	return got, nil
}

// RecordPaymentIntent stores the provider's answer on a reserved payment. A
// payment that already succeeded is posted to the earnings ledger in the
// same transaction.
func (s *Store) RecordPaymentIntent(ctx context.Context, id, providerPaymentID, status, clientSecret string) (Payment, error) {
	var p Payment
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var err error
		p, err = scanPayment(tx.QueryRow(ctx, `
			UPDATE payment SET provider_payment_id = $2, status = $3, client_secret = nullif($4, ''), updated_at = now()
			WHERE id = $1 RETURNING `+paymentColumns, id, providerPaymentID, status, clientSecret))
		if err != nil {
			return err
		}
		return postPayment(ctx, tx, p.ID)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Payment{}, fmt.Errorf("store: record payment intent: payment %s: %w", id, ErrPaymentNotFound)
	}
	if err != nil {
		return Payment{}, fmt.Errorf("store: record payment intent %s: %w", id, err)
	}
	return p, nil
}

// PaymentByStep returns the payment of a journey step.
func (s *Store) PaymentByStep(ctx context.Context, journeyID, step string) (Payment, error) {
	p, err := scanPayment(s.Pool.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payment WHERE journey_id = $1 AND step = $2`, journeyID, step))
	if errors.Is(err, pgx.ErrNoRows) {
		return Payment{}, fmt.Errorf("store: payment %s/%s: %w", journeyID, step, ErrPaymentNotFound)
	}
	if err != nil {
		return Payment{}, fmt.Errorf("store: payment %s/%s: %w", journeyID, step, err)
	}
	return p, nil
}

// PaymentByIntent returns the journey's payment with this provider ID (the
// newest, should a provider reuse IDs as stripe-mock does).
func (s *Store) PaymentByIntent(ctx context.Context, journeyID, providerPaymentID string) (Payment, error) {
	p, err := scanPayment(s.Pool.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payment
		WHERE journey_id = $1 AND provider_payment_id = $2 ORDER BY created_at DESC, id LIMIT 1`, journeyID, providerPaymentID))
	if errors.Is(err, pgx.ErrNoRows) {
		return Payment{}, fmt.Errorf("store: payment %s of %s: %w", providerPaymentID, journeyID, ErrPaymentNotFound)
	}
	if err != nil {
		return Payment{}, fmt.Errorf("store: payment %s of %s: %w", providerPaymentID, journeyID, err)
	}
	return p, nil
}

// SetPaymentStatus records a status the provider reported (a poll or a
// webhook) on the journey's payments with this provider ID, and returns how
// many rows changed. Always scoped to the journey: provider IDs alone are
// not trusted to be unique. A payment that succeeded is posted to the
// earnings ledger in the same transaction (once, however often the
// provider reports it).
func (s *Store) SetPaymentStatus(ctx context.Context, journeyID, providerPaymentID, status string) (int64, error) {
	var changed int64
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE payment SET status = $3, updated_at = now()
			WHERE journey_id = $1 AND provider_payment_id = $2 AND status IS DISTINCT FROM $3`, journeyID, providerPaymentID, status)
		if err != nil {
			return err
		}
		changed = tag.RowsAffected()
		if status != "succeeded" {
			return nil
		}
		rows, err := tx.Query(ctx, `SELECT id::text FROM payment WHERE journey_id = $1 AND provider_payment_id = $2`, journeyID, providerPaymentID)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := postPayment(ctx, tx, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: set payment status %s: %w", providerPaymentID, err)
	}
	return changed, nil
}

// Refund is one refund of a payment, for a journey step.
type Refund struct {
	ID               string    `json:"id"`
	JourneyID        string    `json:"journey_id"`
	Step             string    `json:"step"`
	PaymentID        string    `json:"payment_id"`
	ProviderRefundID string    `json:"provider_refund_id,omitempty"`
	IdempotencyKey   string    `json:"idempotency_key"`
	AmountMinor      int64     `json:"amount_minor"`
	Currency         string    `json:"currency"`
	Reason           string    `json:"reason"`
	Status           string    `json:"status"`
	CreatedAt        time.Time `json:"created_at"`
}

const refundColumns = `id::text, journey_id, step, payment_id::text, coalesce(provider_refund_id, ''), idempotency_key,
	amount_minor, currency, reason, status, created_at`

func scanRefund(row pgx.Row) (Refund, error) {
	var r Refund
	err := row.Scan(&r.ID, &r.JourneyID, &r.Step, &r.PaymentID, &r.ProviderRefundID, &r.IdempotencyKey,
		&r.AmountMinor, &r.Currency, &r.Reason, &r.Status, &r.CreatedAt)
	r.CreatedAt = r.CreatedAt.UTC()
	return r, err
}

// ReserveRefund returns the refund of the journey step, inserting it in
// status "creating" if there is none. AmountMinor 0 refunds whatever remains
// of the payment. The payment row is locked while the refunds are summed, so
// concurrent refunds of one payment never add up to more than was paid
// (ErrRefundExceedsPayment).
func (s *Store) ReserveRefund(ctx context.Context, r Refund) (Refund, error) {
	if err := needIDs(r.JourneyID, r.Step, r.PaymentID, r.IdempotencyKey, r.Reason); err != nil {
		return Refund{}, fmt.Errorf("store: reserve refund: %w", err)
	}
	if r.AmountMinor < 0 {
		return Refund{}, fmt.Errorf("store: reserve refund: negative amount: %w", ErrInvalid)
	}
	var out Refund
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var paid int64
		var currency string
		err := tx.QueryRow(ctx, `SELECT amount_minor, currency FROM payment WHERE id = $1 AND journey_id = $2 FOR UPDATE`,
			r.PaymentID, r.JourneyID).Scan(&paid, &currency)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("payment %s: %w", r.PaymentID, ErrPaymentNotFound)
		}
		if err != nil {
			return fmt.Errorf("lock payment: %w", err)
		}
		existing, err := scanRefund(tx.QueryRow(ctx, `SELECT `+refundColumns+` FROM refund WHERE journey_id = $1 AND step = $2`, r.JourneyID, r.Step))
		if err == nil {
			if existing.PaymentID != r.PaymentID || (r.AmountMinor != 0 && existing.AmountMinor != r.AmountMinor) {
				return fmt.Errorf("step %s already refunded %d of payment %s: %w", r.Step, existing.AmountMinor, existing.PaymentID, ErrPaymentMismatch)
			}
			out = existing
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("find refund: %w", err)
		}
		var refunded int64
		if err := tx.QueryRow(ctx, `SELECT coalesce(sum(amount_minor), 0) FROM refund
			WHERE payment_id = $1 AND status NOT IN ('failed', 'canceled')`, r.PaymentID).Scan(&refunded); err != nil {
			return fmt.Errorf("sum refunds: %w", err)
		}
		remaining := paid - refunded
		amount := r.AmountMinor
		if amount == 0 {
			amount = remaining
		}
		if amount <= 0 || amount > remaining {
			return fmt.Errorf("refund %d of %d paid, %d already refunded: %w", r.AmountMinor, paid, refunded, ErrRefundExceedsPayment)
		}
		out, err = scanRefund(tx.QueryRow(ctx, `
			INSERT INTO refund (id, journey_id, step, payment_id, idempotency_key, amount_minor, currency, reason, status)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'creating') RETURNING `+refundColumns,
			uuid.NewString(), r.JourneyID, r.Step, r.PaymentID, r.IdempotencyKey, amount, currency, r.Reason))
		if err != nil {
			return fmt.Errorf("insert refund: %w", err)
		}
		return nil
	})
	if err != nil {
		return Refund{}, fmt.Errorf("store: reserve refund %s/%s: %w", r.JourneyID, r.Step, err)
	}
	return out, nil
}

// RecordRefundResult stores the provider's answer on a reserved refund. A
// refund the provider accepted (succeeded, or pending its bank) is posted to
// the earnings ledger in the same transaction.
func (s *Store) RecordRefundResult(ctx context.Context, id, providerRefundID, status string) (Refund, error) {
	var r Refund
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var err error
		r, err = scanRefund(tx.QueryRow(ctx, `
			UPDATE refund SET provider_refund_id = $2, status = $3, updated_at = now() WHERE id = $1 RETURNING `+refundColumns,
			id, providerRefundID, status))
		if err != nil {
			return err
		}
		return postRefund(ctx, tx, r.ID)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Refund{}, fmt.Errorf("store: record refund: refund %s not found", id)
	}
	if err != nil {
		return Refund{}, fmt.Errorf("store: record refund %s: %w", id, err)
	}
	return r, nil
}

// BeginStripeEvent records a webhook event by its ID and reports whether it
// was already processed. An event seen before but never finished (the
// earlier delivery failed half-way) reports false, so it is processed again.
func (s *Store) BeginStripeEvent(ctx context.Context, id, eventType, journeyID string) (processed bool, err error) {
	var j *string
	if journeyID != "" {
		j = &journeyID
	}
	if _, err := s.Pool.Exec(ctx, `INSERT INTO stripe_event (id, type, journey_id) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`,
		id, eventType, j); err != nil {
		return false, fmt.Errorf("store: record stripe event %s: %w", id, err)
	}
	if err := s.Pool.QueryRow(ctx, `SELECT processed_at IS NOT NULL FROM stripe_event WHERE id = $1`, id).Scan(&processed); err != nil {
		return false, fmt.Errorf("store: read stripe event %s: %w", id, err)
	}
	return processed, nil
}

// FinishStripeEvent marks an event processed, with what became of it.
func (s *Store) FinishStripeEvent(ctx context.Context, id, outcome string) error {
	if _, err := s.Pool.Exec(ctx, `UPDATE stripe_event SET processed_at = now(), outcome = $2 WHERE id = $1 AND processed_at IS NULL`,
		id, outcome); err != nil {
		return fmt.Errorf("store: finish stripe event %s: %w", id, err)
	}
	return nil
}

// StripeEventOutcome returns what became of a processed event ("" if it is
// unknown or unfinished).
func (s *Store) StripeEventOutcome(ctx context.Context, id string) (string, error) {
	var outcome *string
	err := s.Pool.QueryRow(ctx, `SELECT outcome FROM stripe_event WHERE id = $1`, id).Scan(&outcome)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: stripe event %s: %w", id, err)
	}
	if outcome == nil {
		return "", nil
	}
	return *outcome, nil
}
