package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// The earnings ledger (migration 0006_ledger.sql): double-entry postings of
// consultation payments, refunds, platform fees and withdrawals. The
// payment code paths post in the same transaction that records the
// provider's answer, so the journey's real payment flow writes the ledger:
//
//   - a consultation payment that succeeded: debit platform_cash with the
//     amount, credit the doctor's doctor_payable with the amount less the
//     platform fee, credit platform_fees with the fee;
//   - a refund the provider accepted (succeeded or pending): the reverse, in
//     the proportions of the payment it refunds;
//   - a withdrawal: debit doctor_payable, credit platform_cash.
//
// The platform fee is the platform_fee_rate row in force when the payment
// succeeded (basis points; 10% by default). Earnings become withdrawable
// once the appointment can no longer be refunded by the journey: fulfilled,
// no-show, or cancelled (the journey refunds before it cancels, so the
// refund is already posted by then).

// Ledger account kinds.
const (
	AccountPlatformCash  = "platform_cash"
	AccountPlatformFees  = "platform_fees"
	AccountDoctorPayable = "doctor_payable"
)

// ErrInsufficientEarnings: a withdrawal larger than the withdrawable amount.
var ErrInsufficientEarnings = errors.New("amount exceeds the withdrawable earnings")

// settledStatuses are the appointment statuses whose earnings a doctor may
// withdraw: the journey will not refund them any more.
const settledStatuses = `('fulfilled', 'noshow', 'cancelled')`

// Earnings is a doctor's position in the ledger, in minor units.
type Earnings struct {
	PractitionerID    string `json:"practitioner_id"`
	Currency          string `json:"currency"`
	TotalMinor        int64  `json:"total_minor"`        // net of fees and refunds, before withdrawals
	WithdrawnMinor    int64  `json:"withdrawn_minor"`    // paid out so far
	WithdrawableMinor int64  `json:"withdrawable_minor"` // settled earnings not yet withdrawn
	BalanceMinor      int64  `json:"balance_minor"`      // owed to the doctor: total less withdrawn
}

// Withdrawal is one payout of a doctor's earnings.
type Withdrawal struct {
	EntryID     string `json:"entry_id"`
	AmountMinor int64  `json:"amount_minor"`
	Currency    string `json:"currency"`
}

// ledgerAccount returns the account's ID, creating it on first use.
func ledgerAccount(ctx context.Context, tx pgx.Tx, kind, practitionerID, currency string) (string, error) {
	var pract *string
	if practitionerID != "" {
		pract = &practitionerID
	}
	if _, err := tx.Exec(ctx, `INSERT INTO ledger_account (id, kind, practitioner_id, currency) VALUES ($1, $2, $3, $4)
		ON CONFLICT (kind, practitioner_id, currency) DO NOTHING`, uuid.NewString(), kind, pract, currency); err != nil {
		return "", fmt.Errorf("create %s account: %w", kind, err)
	}
	var id string
	err := tx.QueryRow(ctx, `SELECT id::text FROM ledger_account
		WHERE kind = $1 AND practitioner_id IS NOT DISTINCT FROM $2 AND currency = $3`, kind, pract, currency).Scan(&id)
	if err != nil {
		return "", fmt.Errorf("find %s account: %w", kind, err)
	}
	return id, nil
}

// ledgerLockClass is the first key of the payable accounts' advisory locks
// ("Ledg").
const ledgerLockClass int32 = 0x4c656467

// lockPayable returns the doctor's payable account, locked until the
// transaction ends. Every posting that touches a doctor's balance takes this
// lock first, so a withdrawal sees every committed posting and two
// withdrawals never both spend the same earnings.
//
// The lock is a transaction-scoped advisory lock on the account's ID, not a
// row lock: SELECT ... FOR UPDATE needs an UPDATE right, and the application
// role has only INSERT and SELECT on the ledger (migration 0017). The
// two-key form keeps these locks apart from the single-key ones (the
// migration lock); two accounts whose IDs hash alike only wait for each
// other.
func lockPayable(ctx context.Context, tx pgx.Tx, practitionerID, currency string) (string, error) {
	id, err := ledgerAccount(ctx, tx, AccountDoctorPayable, practitionerID, currency)
	if err != nil {
		return "", err
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, ledgerLockClass, id); err != nil {
		return "", fmt.Errorf("lock payable account: %w", err)
	}
	return id, nil
}

// ledgerLine is one line of an entry: an account kind and a signed amount
// (debit > 0, credit < 0). Zero amounts are left out.
type ledgerLine struct {
	kind   string
	amount int64
}

type ledgerEntry struct {
	kind, practitionerID, appointmentID, paymentID, refundID, currency string
	feeBPS                                                             *int
	lines                                                              []ledgerLine
}

// post writes an entry and its lines. It returns "" when the entry's source
// (the payment or refund) was posted before. The constraint trigger checks
// the balance at commit.
func post(ctx context.Context, tx pgx.Tx, e ledgerEntry) (string, error) {
	payable, err := lockPayable(ctx, tx, e.practitionerID, e.currency)
	if err != nil {
		return "", err
	}
	id := uuid.NewString()
	tag, err := tx.Exec(ctx, `
		INSERT INTO journal_entry (id, kind, practitioner_id, appointment_id, payment_id, refund_id, currency, fee_bps)
		VALUES ($1, $2, $3, nullif($4, '')::uuid, nullif($5, '')::uuid, nullif($6, '')::uuid, $7, $8)
		ON CONFLICT DO NOTHING`,
		id, e.kind, e.practitionerID, e.appointmentID, e.paymentID, e.refundID, e.currency, e.feeBPS)
	if err != nil {
		return "", fmt.Errorf("insert %s entry: %w", e.kind, err)
	}
	if tag.RowsAffected() == 0 {
		return "", nil // posted before: the hook ran again
	}
	for _, l := range e.lines {
		if l.amount == 0 {
			continue
		}
		account := payable
		if l.kind != AccountDoctorPayable {
			if account, err = ledgerAccount(ctx, tx, l.kind, "", e.currency); err != nil {
				return "", err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO journal_line (entry_id, account_id, amount_minor) VALUES ($1, $2, $3)`,
			id, account, l.amount); err != nil {
			return "", fmt.Errorf("insert %s line: %w", l.kind, err)
		}
	}
	return id, nil
}

// postPayment posts a succeeded consultation payment. Payments not tied to
// an appointment are not consultation fees and stay out of the ledger.
func postPayment(ctx context.Context, tx pgx.Tx, paymentID string) error {
	var amount int64
	var currency, status, appointmentID, practitionerID string
	err := tx.QueryRow(ctx, `
		SELECT p.amount_minor, p.currency, p.status, a.id::text, a.practitioner_id::text
		FROM payment p JOIN appointment a ON a.id = p.appointment_id WHERE p.id = $1`, paymentID).
		Scan(&amount, &currency, &status, &appointmentID, &practitionerID)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && status != "succeeded") {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read payment %s: %w", paymentID, err)
	}
	var bps int
	err = tx.QueryRow(ctx, `SELECT fee_bps FROM platform_fee_rate WHERE effective_from <= now()
		ORDER BY effective_from DESC LIMIT 1`).Scan(&bps)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("read platform fee rate: %w", err)
	}
	fee := PlatformFee(amount, bps)
	_, err = post(ctx, tx, ledgerEntry{kind: "consultation_payment", practitionerID: practitionerID, appointmentID: appointmentID,
		paymentID: paymentID, currency: currency, feeBPS: &bps, lines: []ledgerLine{
			{AccountPlatformCash, amount}, {AccountDoctorPayable, -(amount - fee)}, {AccountPlatformFees, -fee},
		}})
	return err
}

// PlatformFee is the fee on amount at bps basis points, rounded half up.
func PlatformFee(amount int64, bps int) int64 { return (amount*int64(bps) + 5000) / 10000 }

// postRefund posts a refund the provider accepted, reversing the refunded
// share of its payment's entry (fee and doctor's part alike). A refund of a
// payment that was never posted has nothing to reverse.
func postRefund(ctx context.Context, tx pgx.Tx, refundID string) error {
	var refunded, paid, fee int64
	var status, paymentID, practitionerID, appointmentID, currency string
	var bps int
	err := tx.QueryRow(ctx, `
		SELECT r.amount_minor, r.status, r.payment_id::text, p.amount_minor, e.practitioner_id::text, e.appointment_id::text,
			e.currency, e.fee_bps, coalesce((SELECT -l.amount_minor FROM journal_line l JOIN ledger_account a ON a.id = l.account_id
				WHERE l.entry_id = e.id AND a.kind = 'platform_fees'), 0)
		FROM refund r JOIN payment p ON p.id = r.payment_id
		JOIN journal_entry e ON e.payment_id = p.id AND e.kind = 'consultation_payment'
		WHERE r.id = $1`, refundID).
		Scan(&refunded, &status, &paymentID, &paid, &practitionerID, &appointmentID, &currency, &bps, &fee)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && status != "succeeded" && status != "pending") {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read refund %s: %w", refundID, err)
	}
	feeBack := refunded * fee / paid // floor: partial refunds never return more fee than was taken
	_, err = post(ctx, tx, ledgerEntry{kind: "refund", practitionerID: practitionerID, appointmentID: appointmentID,
		paymentID: paymentID, refundID: refundID, currency: currency, feeBPS: &bps, lines: []ledgerLine{
			{AccountPlatformCash, -refunded}, {AccountDoctorPayable, refunded - feeBack}, {AccountPlatformFees, feeBack},
		}})
	return err
}

// practitionerCurrency is the currency a doctor's fees and earnings are in.
func practitionerCurrency(ctx context.Context, q querier, practitionerID string) (string, error) {
	if !validUUID(practitionerID) {
		return "", fmt.Errorf("practitioner %s: %w", practitionerID, ErrNotFound)
	}
	var currency string
	err := q.QueryRow(ctx, `SELECT currency FROM practitioner WHERE id = $1`, practitionerID).Scan(&currency)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("practitioner %s: %w", practitionerID, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("practitioner %s: %w", practitionerID, err)
	}
	return currency, nil
}

func earnings(ctx context.Context, q querier, practitionerID string) (Earnings, error) {
	currency, err := practitionerCurrency(ctx, q, practitionerID)
	if err != nil {
		return Earnings{}, err
	}
	e := Earnings{PractitionerID: practitionerID, Currency: currency}
	var settled int64
	err = q.QueryRow(ctx, `
		SELECT coalesce(-sum(l.amount_minor) FILTER (WHERE e.kind <> 'withdrawal'), 0),
			coalesce(-sum(l.amount_minor) FILTER (WHERE e.kind <> 'withdrawal' AND ap.status IN `+settledStatuses+`), 0),
			coalesce(sum(l.amount_minor) FILTER (WHERE e.kind = 'withdrawal'), 0)
		FROM journal_line l JOIN ledger_account a ON a.id = l.account_id
		JOIN journal_entry e ON e.id = l.entry_id
		LEFT JOIN appointment ap ON ap.id = e.appointment_id
		WHERE a.kind = 'doctor_payable' AND a.practitioner_id = $1 AND a.currency = $2`, practitionerID, currency).
		Scan(&e.TotalMinor, &settled, &e.WithdrawnMinor)
	if err != nil {
		return Earnings{}, fmt.Errorf("earnings of %s: %w", practitionerID, err)
	}
	e.BalanceMinor = e.TotalMinor - e.WithdrawnMinor
	e.WithdrawableMinor = max(0, settled-e.WithdrawnMinor)
	return e, nil
}

// DoctorEarnings reads a doctor's earnings from the ledger.
func (s *Store) DoctorEarnings(ctx context.Context, practitionerID string) (Earnings, error) {
	e, err := earnings(ctx, s.Pool, practitionerID)
	if err != nil {
		return Earnings{}, fmt.Errorf("store: %w", err)
	}
	return e, nil
}

// Withdraw pays out amountMinor of a doctor's withdrawable earnings. The
// doctor's payable account is locked while the amount is checked and
// posted, so concurrent withdrawals never add up to more than was
// withdrawable (ErrInsufficientEarnings).
func (s *Store) Withdraw(ctx context.Context, practitionerID string, amountMinor int64) (Withdrawal, error) {
	if amountMinor <= 0 {
		return Withdrawal{}, fmt.Errorf("store: withdraw: amount must be positive: %w", ErrInvalid)
	}
	var out Withdrawal
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		currency, err := practitionerCurrency(ctx, tx, practitionerID)
		if err != nil {
			return err
		}
		if _, err := lockPayable(ctx, tx, practitionerID, currency); err != nil {
			return err
		}
		// Read after the lock: READ COMMITTED gives this statement a
		// snapshot with every withdrawal committed before we got the lock.
		e, err := earnings(ctx, tx, practitionerID)
		if err != nil {
			return err
		}
		if amountMinor > e.WithdrawableMinor {
			return fmt.Errorf("withdraw %d of %d withdrawable: %w", amountMinor, e.WithdrawableMinor, ErrInsufficientEarnings)
		}
		id, err := post(ctx, tx, ledgerEntry{kind: "withdrawal", practitionerID: practitionerID, currency: currency,
			lines: []ledgerLine{{AccountDoctorPayable, amountMinor}, {AccountPlatformCash, -amountMinor}}})
		out = Withdrawal{EntryID: id, AmountMinor: amountMinor, Currency: currency}
		return err
	})
	if err != nil {
		return Withdrawal{}, fmt.Errorf("store: withdraw for %s: %w", practitionerID, err)
	}
	return out, nil
}
