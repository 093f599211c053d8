package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/stripe/stripe-go/v81"
	"github.com/stripe/stripe-go/v81/client"
	"go.temporal.io/sdk/temporal"

	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/store"
)

// Payments charges and refunds through Stripe, recording each PaymentIntent
// and Refund in PostgreSQL by journey and step.
type Payments struct {
	Store  *store.Store
	Stripe *client.API
}

// PaymentDescription is every PaymentIntent's description: it names no
// pathway, condition, doctor or specialty.
const PaymentDescription = "CarePath appointment"

// PaymentIdempotencyKey is the Stripe idempotency key of a journey step's
// PaymentIntent: "<journey ID>:s<digest of the step>:payment_intent". The
// journey ID is opaque (workflows.NewJourneyWorkflowID) and the step, whose
// name the pathway chooses ("care_not_at_goal"), is sent as a digest, so
// the key tells Stripe nothing clinical. Journeys started under legacy IDs
// keep the keys they had ("<journey ID>:<step>:payment_intent"): a payment
// reserved before must be retried with the key it was reserved with.
func PaymentIdempotencyKey(journeyID, step string) string {
	return stepKey(journeyID, step) + ":payment_intent"
}

// RefundIdempotencyKey is the Stripe idempotency key of a journey step's
// refund, made as PaymentIdempotencyKey's.
func RefundIdempotencyKey(journeyID, step string) string {
	return stepKey(journeyID, step) + ":refund"
}

// legacyJourneyID is the shape of workflows.LegacyJourneyWorkflowID
// (activities cannot import workflows).
var legacyJourneyID = regexp.MustCompile(`^journey:[0-9a-f-]{36}:[a-z0-9][a-z0-9-]{0,62}:[1-9][0-9]*$`)

func stepKey(journeyID, step string) string {
	if legacyJourneyID.MatchString(journeyID) {
		return journeyID + ":" + step
	}
	sum := sha256.Sum256([]byte(step))
	return journeyID + ":s" + hex.EncodeToString(sum[:8])
}

// CreatePaymentIntent creates the step's PaymentIntent, once. The row is
// reserved in PostgreSQL first (unique on journey and step), then Stripe is
// called with the step's idempotency key, then the answer is recorded. A
// retry after any of these finds the row: if Stripe answered, nothing is sent
// again; if not, the same key makes Stripe return the PaymentIntent it may
// already have created. Metadata journey_id routes the webhook to the journey.
func (a *Payments) CreatePaymentIntent(ctx context.Context, in contract.CreatePaymentIntentInput) (contract.PaymentResult, error) {
	const op = "create payment intent"
	if err := a.configured(); err != nil {
		return contract.PaymentResult{}, err
	}
	in.Currency = strings.ToUpper(in.Currency)
	p, err := a.Store.ReservePayment(ctx, store.Payment{
		JourneyID: in.JourneyID, Step: in.Step, AppointmentID: in.AppointmentID,
		AmountMinor: in.AmountMinor, Currency: in.Currency, IdempotencyKey: PaymentIdempotencyKey(in.JourneyID, in.Step),
	})
	if err != nil {
		return contract.PaymentResult{}, paymentError(op, err)
	}
	if p.ProviderPaymentID != "" {
		return paymentResult(p), nil
	}
	params := &stripe.PaymentIntentParams{
		Amount:   stripe.Int64(p.AmountMinor),
		Currency: stripe.String(strings.ToLower(p.Currency)),
		AutomaticPaymentMethods: &stripe.PaymentIntentAutomaticPaymentMethodsParams{
			Enabled: stripe.Bool(true),
		},
	}
	params.Context = ctx
	params.SetIdempotencyKey(p.IdempotencyKey)
	// Stripe must learn nothing clinical about the patient: the metadata is
	// the opaque journey ID (it routes the webhook) and the appointment's,
	// and the description is the same for every payment. Not the step,
	// whose name comes from the pathway.
	params.Description = stripe.String(PaymentDescription)
	params.AddMetadata("journey_id", in.JourneyID)
	if in.AppointmentID != "" {
		params.AddMetadata("appointment_id", in.AppointmentID)
	}
	pi, err := a.Stripe.PaymentIntents.New(params)
	if err != nil {
		return contract.PaymentResult{}, stripeError(op, err)
	}
	p, err = a.Store.RecordPaymentIntent(ctx, p.ID, pi.ID, string(pi.Status), pi.ClientSecret)
	if err != nil {
		return contract.PaymentResult{}, paymentError(op, err)
	}
	return paymentResult(p), nil
}

// GetPaymentIntentStatus asks Stripe for the step's PaymentIntent and
// records its status: the journey's fallback when no webhook arrives.
func (a *Payments) GetPaymentIntentStatus(ctx context.Context, in contract.PaymentStatusInput) (contract.PaymentResult, error) {
	const op = "get payment intent status"
	if err := a.configured(); err != nil {
		return contract.PaymentResult{}, err
	}
	p, err := a.Store.PaymentByStep(ctx, in.JourneyID, in.Step)
	if err != nil {
		return contract.PaymentResult{}, paymentError(op, err)
	}
	if p.ProviderPaymentID == "" {
		return contract.PaymentResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s: the PaymentIntent of %s/%s was never created", op, in.JourneyID, in.Step), contract.ErrTypePaymentNotFound, nil)
	}
	params := &stripe.PaymentIntentParams{}
	params.Context = ctx
	pi, err := a.Stripe.PaymentIntents.Get(p.ProviderPaymentID, params)
	if err != nil {
		return contract.PaymentResult{}, stripeError(op, err)
	}
	if _, err := a.Store.SetPaymentStatus(ctx, in.JourneyID, p.ProviderPaymentID, string(pi.Status)); err != nil {
		return contract.PaymentResult{}, paymentError(op, err)
	}
	p.Status = string(pi.Status)
	return paymentResult(p), nil
}

// Refund refunds the payment once per journey step, in the same three steps
// as CreatePaymentIntent (reserve the row, call Stripe with the step's key,
// record the answer). Refunds of one payment never add up to more than it.
func (a *Payments) Refund(ctx context.Context, in contract.RefundInput) (contract.RefundResult, error) {
	const op = "refund"
	if err := a.configured(); err != nil {
		return contract.RefundResult{}, err
	}
	var p store.Payment
	var err error
	switch {
	case in.PaymentStep != "":
		p, err = a.Store.PaymentByStep(ctx, in.JourneyID, in.PaymentStep)
		if err == nil && in.PaymentIntentID != "" && p.ProviderPaymentID != in.PaymentIntentID {
			err = fmt.Errorf("payment step %s is not PaymentIntent %s: %w", in.PaymentStep, in.PaymentIntentID, store.ErrPaymentNotFound)
		}
	case in.PaymentIntentID != "":
		p, err = a.Store.PaymentByIntent(ctx, in.JourneyID, in.PaymentIntentID)
	default:
		err = fmt.Errorf("name the payment by payment_intent_id or payment_step: %w", store.ErrInvalid)
	}
	if err != nil {
		return contract.RefundResult{}, paymentError(op, err)
	}
	if p.ProviderPaymentID == "" {
		return contract.RefundResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s: payment %s has no PaymentIntent", op, p.ID), contract.ErrTypePaymentNotFound, nil)
	}
	r, err := a.Store.ReserveRefund(ctx, store.Refund{
		JourneyID: in.JourneyID, Step: in.Step, PaymentID: p.ID, AmountMinor: in.AmountMinor,
		Reason: in.Reason, IdempotencyKey: RefundIdempotencyKey(in.JourneyID, in.Step),
	})
	if err != nil {
		return contract.RefundResult{}, paymentError(op, err)
	}
	if r.ProviderRefundID == "" {
		params := &stripe.RefundParams{
			PaymentIntent: stripe.String(p.ProviderPaymentID),
			Amount:        stripe.Int64(r.AmountMinor),
			Reason:        stripe.String(stripeRefundReason(in.Reason)),
		}
		params.Context = ctx
		params.SetIdempotencyKey(r.IdempotencyKey)
		// As for the PaymentIntent: opaque IDs only.
		params.AddMetadata("journey_id", in.JourneyID)
		params.AddMetadata("refund_id", r.ID)
		re, err := a.Stripe.Refunds.New(params)
		if err != nil {
			return contract.RefundResult{}, stripeError(op, err)
		}
		if r, err = a.Store.RecordRefundResult(ctx, r.ID, re.ID, string(re.Status)); err != nil {
			return contract.RefundResult{}, paymentError(op, err)
		}
	}
	return contract.RefundResult{
		RefundID: r.ID, ProviderRefundID: r.ProviderRefundID, PaymentIntentID: p.ProviderPaymentID,
		AmountMinor: r.AmountMinor, Currency: r.Currency, Status: r.Status,
	}, nil
}

// configured fails an attempt on a worker started without a Stripe client.
// Retryable on purpose: a correctly configured worker can pick it up.
func (a *Payments) configured() error {
	if a.Stripe == nil || a.Store == nil {
		return errors.New("payments: this worker has no Stripe client or store (workers.Deps)")
	}
	return nil
}

// stripeRefundReason maps CarePath's reason codes to the few Stripe accepts.
func stripeRefundReason(reason string) string {
	switch reason {
	case string(stripe.RefundReasonDuplicate), string(stripe.RefundReasonFraudulent):
		return reason
	default:
		return string(stripe.RefundReasonRequestedByCustomer)
	}
}

func paymentResult(p store.Payment) contract.PaymentResult {
	return contract.PaymentResult{
		PaymentID: p.ID, PaymentIntentID: p.ProviderPaymentID, Status: p.Status,
		AmountMinor: p.AmountMinor, Currency: p.Currency, ClientSecret: p.ClientSecret,
	}
}

// paymentError maps the store's payment errors to application error types;
// anything else is retried.
func paymentError(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrPaymentNotFound):
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %v", op, err), contract.ErrTypePaymentNotFound, err)
	case errors.Is(err, store.ErrPaymentMismatch):
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %v", op, err), contract.ErrTypeStepReused, err)
	case errors.Is(err, store.ErrRefundExceedsPayment):
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %v", op, err), contract.ErrTypeRefundExceedsPayment, err)
	case errors.Is(err, store.ErrAppointmentNotFound):
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %v", op, err), contract.ErrTypeAppointmentNotFound, err)
	case errors.Is(err, store.ErrInvalid):
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %v", op, err), contract.ErrTypeInvalidInput, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// stripeError decides whether a Stripe failure is worth retrying: rate
// limits, Stripe's own errors, a key still in use by a concurrent request
// and network failures are; any other refusal is not.
func stripeError(op string, err error) error {
	var se *stripe.Error
	if !errors.As(err, &se) {
		return fmt.Errorf("%s: stripe: %w", op, err)
	}
	msg := fmt.Sprintf("%s: stripe %d %s (%s): %s", op, se.HTTPStatusCode, se.Type, se.Code, se.Msg)
	switch {
	case se.Type == stripe.ErrorTypeIdempotency:
		return temporal.NewNonRetryableApplicationError(msg, contract.ErrTypeStepReused, err)
	case se.HTTPStatusCode == 409, se.HTTPStatusCode == 429, se.HTTPStatusCode >= 500, se.HTTPStatusCode == 0:
		return fmt.Errorf("%s: %w", msg, err)
	default:
		return temporal.NewNonRetryableApplicationError(msg, contract.ErrTypePaymentRejected, err)
	}
}
