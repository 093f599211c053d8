package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/store"
)

// newPractitioner copies a seeded practitioner and one of its schedules
// under new IDs (three weekday sessions, as the seed checks want), so a
// test's earnings start from nothing.
func newPractitioner(ctx context.Context, t *testing.T, s *store.Store) practitionerSchedule {
	t.Helper()
	var ps practitionerSchedule
	ps.practitionerID, ps.scheduleID = testenv.NewPractitioner(t, s, "Ledger Test")
	return ps
}

// paidAppointment books an appointment with the practitioner and takes a
// payment of amount through the store's real payment path: reserve, record
// the PaymentIntent, then the provider reports success (twice, as webhooks
// and polls may).
func paidAppointment(ctx context.Context, t *testing.T, s *store.Store, ps practitionerSchedule, amount int64) (store.Appointment, store.Payment) {
	t.Helper()
	j := newJourneyID(t)
	a := book(ctx, t, s, j, newSlot(ctx, t, s, ps, farAhead), 5)
	p, err := s.ReservePayment(ctx, store.Payment{JourneyID: j, Step: "pay", AppointmentID: a.ID, AmountMinor: amount,
		Currency: a.Currency, IdempotencyKey: j + ":pay"})
	if err != nil {
		t.Fatal(err)
	}
	intent := "pi_" + uuid.NewString()
	if _, err := s.RecordPaymentIntent(ctx, p.ID, intent, "requires_payment_method", "secret"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := s.SetPaymentStatus(ctx, j, intent, "succeeded"); err != nil {
			t.Fatal(err)
		}
	}
	return a, p
}

// fulfil closes the appointment's consult, which settles its earnings.
func fulfil(ctx context.Context, t *testing.T, s *store.Store, a store.Appointment) {
	t.Helper()
	if _, err := s.CloseEncounter(ctx, store.CloseEncounterRequest{JourneyID: a.JourneyID, Step: "consult", AppointmentID: a.ID,
		PractitionerID: a.PractitionerID, Diagnoses: []string{"J06.9"}}); err != nil {
		t.Fatal(err)
	}
}

// assertBalanced checks the ledger's invariants: every entry of the
// practitioner balances, all lines of the ledger sum to zero, and what is
// owed to the doctor is never negative.
func assertBalanced(ctx context.Context, t *testing.T, s *store.Store, practitionerID string) {
	t.Helper()
	var unbalanced, total, owed int64
	if err := s.Pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM (SELECT e.id FROM journal_entry e JOIN journal_line l ON l.entry_id = e.id
			WHERE e.practitioner_id = $1 GROUP BY e.id HAVING sum(l.amount_minor) <> 0 OR count(*) < 2) x),
		(SELECT coalesce(sum(amount_minor), 0) FROM journal_line),
		(SELECT coalesce(-sum(l.amount_minor), 0) FROM journal_line l JOIN ledger_account a ON a.id = l.account_id
			WHERE a.kind = 'doctor_payable' AND a.practitioner_id = $1)`, practitionerID).Scan(&unbalanced, &total, &owed); err != nil {
		t.Fatal(err)
	}
	if unbalanced != 0 || total != 0 || owed < 0 {
		t.Errorf("ledger: %d unbalanced entries, all lines sum to %d, owed to the doctor %d", unbalanced, total, owed)
	}
}

func earningsOf(ctx context.Context, t *testing.T, s *store.Store, practitionerID string) store.Earnings {
	t.Helper()
	e, err := s.DoctorEarnings(ctx, practitionerID)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestLedgerPostsPaymentsFeesAndRefundsOnce(t *testing.T) {
	ctx, s, _ := setup(t)
	ps := newPractitioner(ctx, t, s)
	a, p := paidAppointment(ctx, t, s, ps, 50000)

	// Default fee: 10%. Reported twice, posted once.
	e := earningsOf(ctx, t, s, ps.practitionerID)
	if e.TotalMinor != 45000 || e.WithdrawableMinor != 0 || e.BalanceMinor != 45000 {
		t.Fatalf("after payment: %+v; want total 45000, nothing withdrawable before the consult", e)
	}
	var fees int64
	if err := s.Pool.QueryRow(ctx, `SELECT -sum(l.amount_minor) FROM journal_line l JOIN ledger_account a ON a.id = l.account_id
		JOIN journal_entry e ON e.id = l.entry_id WHERE e.payment_id = $1 AND a.kind = 'platform_fees'`, p.ID).Scan(&fees); err != nil {
		t.Fatal(err)
	}
	if fees != 5000 {
		t.Errorf("platform fee = %d, want 5000", fees)
	}

	// A partial refund reverses its share of the fee and of the doctor's part.
	r, err := s.ReserveRefund(ctx, store.Refund{JourneyID: a.JourneyID, Step: "cancel-refund", PaymentID: p.ID,
		AmountMinor: 20000, Reason: "late_cancellation", IdempotencyKey: a.JourneyID + ":refund"})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := s.RecordRefundResult(ctx, r.ID, "re_"+uuid.NewString(), "succeeded"); err != nil {
			t.Fatal(err)
		}
	}
	if e = earningsOf(ctx, t, s, ps.practitionerID); e.TotalMinor != 27000 || e.WithdrawableMinor != 0 {
		t.Fatalf("after refund: %+v; want total 45000 - 18000 = 27000", e)
	}
	// Once the journey cancels the appointment nothing more is refunded:
	// what the doctor kept becomes withdrawable.
	if _, err := s.CancelAppointment(ctx, store.AppointmentRequest{JourneyID: a.JourneyID, Step: "cancel", AppointmentID: a.ID,
		Reason: "journey-cancelled"}); err != nil {
		t.Fatal(err)
	}
	if e = earningsOf(ctx, t, s, ps.practitionerID); e.WithdrawableMinor != 27000 {
		t.Fatalf("after cancellation: %+v; want 27000 withdrawable", e)
	}
	var entries int
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM journal_entry WHERE practitioner_id = $1`, ps.practitionerID).Scan(&entries); err != nil {
		t.Fatal(err)
	}
	if entries != 2 {
		t.Errorf("%d entries, want 2 (one payment, one refund)", entries)
	}
	assertBalanced(ctx, t, s, ps.practitionerID)
}

func TestPaymentWithoutAppointmentOrSuccessIsNotPosted(t *testing.T) {
	ctx, s, _ := setup(t)
	j := newJourneyID(t)
	p, err := s.ReservePayment(ctx, store.Payment{JourneyID: j, Step: "pay", AmountMinor: 1000, Currency: "INR", IdempotencyKey: j + ":pay"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordPaymentIntent(ctx, p.ID, "pi_"+uuid.NewString(), "succeeded", ""); err != nil {
		t.Fatal(err)
	}
	ps := newPractitioner(ctx, t, s)
	j2 := newJourneyID(t)
	a := book(ctx, t, s, j2, newSlot(ctx, t, s, ps, farAhead), 6)
	p2, err := s.ReservePayment(ctx, store.Payment{JourneyID: j2, Step: "pay", AppointmentID: a.ID, AmountMinor: 1000, Currency: a.Currency, IdempotencyKey: j2 + ":pay"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordPaymentIntent(ctx, p2.ID, "pi_"+uuid.NewString(), "requires_payment_method", ""); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM journal_entry WHERE payment_id IN ($1, $2)`, p.ID, p2.ID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d entries for a payment with no appointment and one not yet paid, want 0", n)
	}
}

func TestUnbalancedOrEditedEntriesAreRefused(t *testing.T) {
	ctx, s, _ := setup(t)
	ps := newPractitioner(ctx, t, s)
	_, _ = paidAppointment(ctx, t, s, ps, 10000)
	var cash, payable string
	if err := s.Pool.QueryRow(ctx, `SELECT
		(SELECT id::text FROM ledger_account WHERE kind = 'platform_cash' AND currency = 'INR'),
		(SELECT id::text FROM ledger_account WHERE kind = 'doctor_payable' AND practitioner_id = $1)`, ps.practitionerID).
		Scan(&cash, &payable); err != nil {
		t.Fatal(err)
	}
	cases := map[string][]int64{"one line": {100}, "lines not summing to zero": {100, -99}, "no lines": {}}
	for name, amounts := range cases {
		err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
			id := uuid.NewString()
			if _, err := tx.Exec(ctx, `INSERT INTO journal_entry (id, kind, practitioner_id, currency) VALUES ($1, 'withdrawal', $2, 'INR')`,
				id, ps.practitionerID); err != nil {
				return err
			}
			for i, amount := range amounts {
				if _, err := tx.Exec(ctx, `INSERT INTO journal_line (entry_id, account_id, amount_minor) VALUES ($1, $2, $3)`,
					id, []string{cash, payable}[i], amount); err != nil {
					return err
				}
			}
			return nil
		})
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "23514" {
			t.Errorf("%s: commit err = %v, want check_violation from the constraint trigger", name, err)
		}
	}
	if _, err := s.Pool.Exec(ctx, `UPDATE journal_line SET amount_minor = amount_minor * 2 WHERE account_id = $1`, payable); err == nil {
		t.Error("a posted line was edited")
	}
	assertBalanced(ctx, t, s, ps.practitionerID)
}

func TestConcurrentWithdrawalsNeverExceedTheWithdrawableAmount(t *testing.T) {
	ctx, s, _ := setup(t)
	ps := newPractitioner(ctx, t, s)
	for range 2 {
		a, _ := paidAppointment(ctx, t, s, ps, 50000)
		fulfil(ctx, t, s, a)
	}
	pending, _ := paidAppointment(ctx, t, s, ps, 50000) // booked, not yet consulted: not withdrawable
	_ = pending
	before := earningsOf(ctx, t, s, ps.practitionerID)
	if before.WithdrawableMinor != 90000 || before.TotalMinor != 135000 {
		t.Fatalf("before: %+v; want 90000 withdrawable of 135000", before)
	}

	const workers, amount = 40, 7000 // 40 x 7000 asked, 90000 available: 12 fit
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ok, refused int
	var withdrawn int64
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, err := s.Withdraw(ctx, ps.practitionerID, amount)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
				withdrawn += w.AmountMinor
			case errors.Is(err, store.ErrInsufficientEarnings):
				refused++
			default:
				t.Errorf("withdraw: %v", err)
			}
		}()
	}
	wg.Wait()
	if withdrawn > before.WithdrawableMinor || ok != 12 || refused != workers-12 {
		t.Errorf("%d withdrawals of %d succeeded (%d in all), %d refused; want 12 within %d", ok, amount, withdrawn, refused, before.WithdrawableMinor)
	}
	after := earningsOf(ctx, t, s, ps.practitionerID)
	if after.WithdrawableMinor != before.WithdrawableMinor-withdrawn || after.WithdrawnMinor != withdrawn || after.BalanceMinor != 135000-withdrawn {
		t.Errorf("after: %+v, withdrawn %d", after, withdrawn)
	}
	if _, err := s.Withdraw(ctx, ps.practitionerID, after.WithdrawableMinor+1); !errors.Is(err, store.ErrInsufficientEarnings) {
		t.Errorf("withdrawing one more than withdrawable: err = %v", err)
	}
	if _, err := s.Withdraw(ctx, ps.practitionerID, 0); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("withdrawing nothing: err = %v", err)
	}
	assertBalanced(ctx, t, s, ps.practitionerID)
}

func TestPlatformFeeRoundsHalfUp(t *testing.T) {
	for _, c := range []struct {
		amount int64
		bps    int
		want   int64
	}{{50000, 1000, 5000}, {12345, 1000, 1235}, {12344, 1000, 1234}, {100, 0, 0}, {100, 10000, 100}} {
		if got := store.PlatformFee(c.amount, c.bps); got != c.want {
			t.Errorf("PlatformFee(%d, %d) = %d, want %d", c.amount, c.bps, got, c.want)
		}
	}
}
