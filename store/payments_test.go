package store_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/carepath/carepath/store"
)

func TestReservePaymentOnceUnderConcurrentRetries(t *testing.T) {
	ctx, s, _ := setup(t)
	j := newJourneyID(t)
	p := store.Payment{JourneyID: j, Step: "pay", AmountMinor: 50000, Currency: "INR", IdempotencyKey: j + ":pay"}
	var wg sync.WaitGroup
	ids := make([]string, 10)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := s.ReservePayment(ctx, p)
			if err != nil {
				t.Errorf("reserve: %v", err)
				return
			}
			ids[i] = got.ID
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("reservations returned different rows: %v", ids)
		}
	}
	var n int
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM payment WHERE journey_id = $1`, j).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("payment rows = %d, want 1", n)
	}
	other := p
	other.AmountMinor = 1
	if _, err := s.ReservePayment(ctx, other); !errors.Is(err, store.ErrPaymentMismatch) {
		t.Errorf("same step, other amount: err = %v, want ErrPaymentMismatch", err)
	}
}

func TestRefundsNeverAddUpToMoreThanThePayment(t *testing.T) {
	ctx, s, _ := setup(t)
	j := newJourneyID(t)
	p, err := s.ReservePayment(ctx, store.Payment{JourneyID: j, Step: "pay", AmountMinor: 1000, Currency: "INR", IdempotencyKey: j + ":pay"})
	if err != nil {
		t.Fatal(err)
	}
	var ok atomic.Int32
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			step := fmt.Sprintf("refund:%d", i)
			_, err := s.ReserveRefund(ctx, store.Refund{JourneyID: j, Step: step, PaymentID: p.ID, AmountMinor: 300,
				Reason: "test", IdempotencyKey: j + ":" + step})
			switch {
			case err == nil:
				ok.Add(1)
			case !errors.Is(err, store.ErrRefundExceedsPayment):
				t.Errorf("refund %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 3 {
		t.Errorf("%d refunds of 300 out of 1000 accepted, want 3", ok.Load())
	}
	// "Whatever remains" is the last 100.
	r, err := s.ReserveRefund(ctx, store.Refund{JourneyID: j, Step: "refund:rest", PaymentID: p.ID, Reason: "test", IdempotencyKey: j + ":rest"})
	if err != nil || r.AmountMinor != 100 {
		t.Errorf("refund the rest: %+v, %v; want 100", r, err)
	}
	if _, err := s.ReserveRefund(ctx, store.Refund{JourneyID: j, Step: "refund:more", PaymentID: p.ID, Reason: "test", IdempotencyKey: j + ":more"}); !errors.Is(err, store.ErrRefundExceedsPayment) {
		t.Errorf("refund of a fully refunded payment: err = %v", err)
	}
}

func TestStripeEventsAreProcessedOnce(t *testing.T) {
	ctx, s, _ := setup(t)
	id := "evt_" + newJourneyID(t)
	processed, err := s.BeginStripeEvent(ctx, id, "payment_intent.succeeded", "journey:x")
	if err != nil || processed {
		t.Fatalf("first delivery: processed=%v err=%v", processed, err)
	}
	// A delivery that failed half-way is processed again on the next one.
	if processed, err = s.BeginStripeEvent(ctx, id, "payment_intent.succeeded", "journey:x"); err != nil || processed {
		t.Fatalf("redelivery of an unfinished event: processed=%v err=%v", processed, err)
	}
	if err := s.FinishStripeEvent(ctx, id, "signalled"); err != nil {
		t.Fatal(err)
	}
	if processed, err = s.BeginStripeEvent(ctx, id, "payment_intent.succeeded", "journey:x"); err != nil || !processed {
		t.Fatalf("redelivery of a finished event: processed=%v err=%v", processed, err)
	}
	if outcome, _ := s.StripeEventOutcome(ctx, id); outcome != "signalled" {
		t.Errorf("outcome = %q", outcome)
	}
}
