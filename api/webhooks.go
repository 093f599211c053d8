package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/stripe/stripe-go/v81"
	"github.com/stripe/stripe-go/v81/webhook"
	twclient "github.com/twilio/twilio-go/client"
	"go.temporal.io/api/serviceerror"

	"github.com/carepath/carepath/config"
	"github.com/carepath/carepath/journeys"
	"github.com/carepath/carepath/workflows"
)

// Webhooks: Stripe reports payments, Twilio relays the SMS patients send us.
// Each verifies the provider's signature over the request before reading
// anything from it; a request that does not verify is a 400 problem.

// WebhookOptions are the secrets the webhook endpoints verify with.
type WebhookOptions struct {
	// StripeSecret is the endpoint's signing secret (whsec_...).
	StripeSecret string
	// TwilioAuthToken signs Twilio's requests (HMAC-SHA1).
	TwilioAuthToken string
	// PublicBaseURL is this API's URL as Twilio calls it; Twilio signs the
	// full URL, so behind a proxy it must be the outside one.
	PublicBaseURL string
	// PharmacySecret signs the pharmacy partner's status webhooks (HMAC-SHA256).
	PharmacySecret string
}

// WebhookOptionsFromConfig reads the webhook secrets from the configuration.
func WebhookOptionsFromConfig(cfg config.Config) WebhookOptions {
	return WebhookOptions{StripeSecret: cfg.StripeWebhookSecret, TwilioAuthToken: cfg.TwilioAuthToken, PublicBaseURL: cfg.PublicBaseURL,
		PharmacySecret: cfg.PharmacyWebhookSecret}
}

const (
	stripeWebhookPath = "/api/v1/webhooks/stripe"
	twilioWebhookPath = "/api/v1/webhooks/twilio"
)

func (s *Server) webhookRoutes(r gin.IRoutes) {
	r.POST(stripeWebhookPath, s.stripeWebhook)
	r.POST(twilioWebhookPath, s.twilioWebhook)
}

// What became of a Stripe event, as recorded and answered.
const (
	outcomeSignalled       = "signalled"
	outcomeIgnoredType     = "ignored-type"
	outcomeNoJourney       = "no-journey"
	outcomeJourneyNotFound = "journey-not-found"
)

type stripeWebhookResponse struct {
	Received  bool   `json:"received"`
	Duplicate bool   `json:"duplicate,omitempty"`
	Outcome   string `json:"outcome,omitempty"`
}

// stripeWebhook turns payment_intent.succeeded into the journey's
// payment_confirmed signal, and payment_intent.payment_failed or .canceled
// into payment_failed. The journey is the one named in the PaymentIntent's
// metadata.journey_id, which CreatePaymentIntent sets.
//
// Answers: 400 when the signature does not verify. 200 for a verified event,
// also when it names no journey or one that does not exist (or has ended):
// Stripe retries anything else for days, and no retry would make such an
// event deliverable, so it is recorded and logged instead. 5xx only when
// PostgreSQL or Temporal failed, so that Stripe's retry can succeed.
//
// Events are deduplicated by ID in PostgreSQL. An event is marked processed
// only after its signal was sent; a delivery that failed half-way is
// processed again, and the journey ignores a payment event ID it has seen.
func (s *Server) stripeWebhook(c *gin.Context) {
	ctx := c.Request.Context()
	payload, err := io.ReadAll(c.Request.Body)
	if err != nil {
		s.writeError(c, &malformedError{detail: "the request body cannot be read"})
		return
	}
	// The version check is off: CarePath reads only the event's id, type and
	// the PaymentIntent's id, amount, currency and metadata, which every API
	// version has, and a mismatch refused here would make Stripe retry forever.
	event, err := webhook.ConstructEventWithOptions(payload, c.GetHeader("Stripe-Signature"), s.webhooks.StripeSecret,
		webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true})
	if err != nil {
		s.writeError(c, &signatureError{detail: "Stripe-Signature does not verify for this payload: " + err.Error()})
		return
	}
	var signal string
	switch event.Type {
	case stripe.EventTypePaymentIntentSucceeded:
		signal = workflows.SignalPaymentConfirmed
	case stripe.EventTypePaymentIntentPaymentFailed, stripe.EventTypePaymentIntentCanceled:
		signal = workflows.SignalPaymentFailed
	default:
		s.logger.InfoContext(ctx, "Stripe event ignored", "event_id", event.ID, "type", event.Type)
		c.JSON(http.StatusOK, stripeWebhookResponse{Received: true, Outcome: outcomeIgnoredType})
		return
	}
	var pi stripe.PaymentIntent
	if event.Data == nil || json.Unmarshal(event.Data.Raw, &pi) != nil || pi.ID == "" {
		s.writeError(c, &malformedError{detail: "the event's data.object is not a PaymentIntent"})
		return
	}
	journeyID := pi.Metadata["journey_id"]
	processed, err := s.store.BeginStripeEvent(ctx, event.ID, string(event.Type), journeyID)
	if err != nil {
		s.writeError(c, err)
		return
	}
	if processed {
		c.JSON(http.StatusOK, stripeWebhookResponse{Received: true, Duplicate: true})
		return
	}
	finish := func(outcome string) {
		if err := s.store.FinishStripeEvent(ctx, event.ID, outcome); err != nil {
			s.writeError(c, err)
			return
		}
		c.JSON(http.StatusOK, stripeWebhookResponse{Received: true, Outcome: outcome})
	}
	if !journeys.ValidID(journeyID) {
		s.logger.WarnContext(ctx, "Stripe event names no journey", "event_id", event.ID, "type", event.Type, "payment_intent", pi.ID)
		finish(outcomeNoJourney)
		return
	}
	if _, err := s.store.SetPaymentStatus(ctx, journeyID, pi.ID, string(pi.Status)); err != nil {
		s.writeError(c, err)
		return
	}
	amount := pi.AmountReceived
	if amount == 0 {
		amount = pi.Amount
	}
	ev := workflows.PaymentEvent{
		EventID: event.ID, PaymentIntentID: pi.ID, AmountMinor: amount, Currency: strings.ToUpper(string(pi.Currency)),
	}
	if signal == workflows.SignalPaymentConfirmed {
		err = s.journeys.PaymentConfirmed(ctx, journeyID, ev)
	} else {
		err = s.journeys.PaymentFailed(ctx, journeyID, ev)
	}
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		s.logger.WarnContext(ctx, "Stripe event for a journey that does not exist or has ended",
			"event_id", event.ID, "type", event.Type, "journey_id", journeyID)
		finish(outcomeJourneyNotFound)
	case err != nil:
		s.writeError(c, err)
	default:
		s.logger.InfoContext(ctx, "Journey signalled from Stripe", "event_id", event.ID, "type", event.Type, "journey_id", journeyID, "signal", signal)
		finish(outcomeSignalled)
	}
}

// SMS keywords, matched against the whole message. Opt-out covers Twilio's
// standard words and the newer OPTOUT and REVOKE: honouring an extra word
// that means stop costs nothing, missing one breaks the patient's wish.
var (
	optOutKeywords = map[string]bool{"STOP": true, "STOPALL": true, "UNSUBSCRIBE": true, "CANCEL": true,
		"END": true, "QUIT": true, "OPTOUT": true, "REVOKE": true}
	optInKeywords = map[string]bool{"START": true, "UNSTOP": true}
)

// emptyTwiML tells Twilio to send no reply; Twilio answers STOP and START
// itself, with the account's compliance text.
const emptyTwiML = `<?xml version="1.0" encoding="UTF-8"?><Response></Response>`

// twilioWebhook handles an inbound SMS: STOP and its synonyms opt the
// patients registered with the sender's number out of non-essential SMS,
// START and UNSTOP opt them back in, anything else is ignored. The message
// is never logged: it is the patient's free text.
func (s *Server) twilioWebhook(c *gin.Context) {
	ctx := c.Request.Context()
	if err := c.Request.ParseForm(); err != nil {
		s.writeError(c, &malformedError{detail: "the body is not a form"})
		return
	}
	params := make(map[string]string, len(c.Request.PostForm))
	for k, v := range c.Request.PostForm {
		params[k] = v[0]
	}
	validator := twclient.NewRequestValidator(s.webhooks.TwilioAuthToken)
	url := strings.TrimRight(s.webhooks.PublicBaseURL, "/") + c.Request.URL.RequestURI()
	if !validator.Validate(url, params, c.GetHeader("X-Twilio-Signature")) {
		s.writeError(c, &signatureError{detail: "X-Twilio-Signature does not verify for " + twilioWebhookPath + " at PUBLIC_BASE_URL"})
		return
	}
	word := strings.ToUpper(strings.Trim(strings.TrimSpace(params["Body"]), ".!"))
	keyword, optOut := "none", false
	switch {
	case optOutKeywords[word]:
		keyword, optOut = "opt-out", true
	case optInKeywords[word]:
		keyword = "opt-in"
	}
	var patients int64
	if keyword != "none" {
		var err error
		if patients, err = s.store.SetSMSOptOut(ctx, params["From"], optOut, params["MessageSid"]); err != nil {
			s.writeError(c, err)
			return
		}
	}
	s.logger.InfoContext(ctx, "Inbound SMS", "message_sid", params["MessageSid"], "keyword", keyword, "patients", patients)
	c.Data(http.StatusOK, "text/xml; charset=utf-8", []byte(emptyTwiML))
}
