package workflows

// Signals, updates and queries the journey answers, with their payloads.
// The API sends them; the workflow handles them. Names are snake_case.
const (
	// SignalPaymentConfirmed is sent by the Stripe webhook handler (or a
	// payment poll) when the journey's PaymentIntent has succeeded.
	SignalPaymentConfirmed = "payment_confirmed"
	// SignalPaymentFailed is sent when the PaymentIntent failed or was cancelled.
	SignalPaymentFailed = "payment_failed"
)

// PaymentEvent is the payload of SignalPaymentConfirmed and SignalPaymentFailed.
// EventID is the provider's event ID; the journey ignores an event it has seen.
type PaymentEvent struct {
	EventID         string `json:"event_id"`
	PaymentIntentID string `json:"payment_intent_id"`
	AmountMinor     int64  `json:"amount_minor"`
	Currency        string `json:"currency"`
}
