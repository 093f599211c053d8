package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"go.temporal.io/api/serviceerror"

	"github.com/carepath/carepath/pharmacy"
	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/workflows"
)

const pharmacyWebhookPath = "/api/v1/webhooks/pharmacy"

// pharmacyWebhookTolerance bounds the age of a signed call, so that a
// captured request cannot be replayed later.
const pharmacyWebhookTolerance = 5 * time.Minute

type pharmacyWebhookResponse struct {
	Received  bool   `json:"received"`
	Duplicate bool   `json:"duplicate,omitempty"`
	Outcome   string `json:"outcome,omitempty"`
}

// pharmacyWebhook turns a partner pharmacy's status callback into the
// journey's pharmacy_status signal. The journey is the one that created
// the order named by order_id (CarePath's order ID, the FHIR bundle's
// identifier).
//
// Answers: 400 when the X-Pharmacy-Signature does not verify or the body is
// not an event; 200 for a verified event, also when its order is unknown or
// its journey has ended (a retry could not deliver it); 5xx only when
// PostgreSQL or Temporal failed, so that the partner's retry can succeed.
// An event is recorded after its signal was sent; one already recorded is
// answered as a duplicate without a signal, and the journey ignores an
// event ID it has seen, so redelivery changes nothing.
func (s *Server) pharmacyWebhook(c *gin.Context) {
	ctx := c.Request.Context()
	payload, err := io.ReadAll(c.Request.Body)
	if err != nil {
		s.writeError(c, &malformedError{detail: "the request body cannot be read"})
		return
	}
	if err := pharmacy.VerifyWebhook(s.webhooks.PharmacySecret, c.GetHeader(pharmacy.SignatureHeader), payload, time.Now(), pharmacyWebhookTolerance); err != nil {
		s.writeError(c, &signatureError{detail: pharmacy.SignatureHeader + " does not verify for this payload: " + err.Error()})
		return
	}
	var ev pharmacy.Event
	if err := json.Unmarshal(payload, &ev); err != nil || ev.EventID == "" || ev.Sequence < 1 || pharmacy.StatusRank(ev.Status) == 0 {
		s.writeError(c, &malformedError{detail: "the body is not a pharmacy event (event_id, order_id, status, sequence)"})
		return
	}
	if _, err := uuid.Parse(ev.OrderID); err != nil {
		s.logger.WarnContext(ctx, "Pharmacy event for an order CarePath did not make", "event_id", ev.EventID)
		c.JSON(http.StatusOK, pharmacyWebhookResponse{Received: true, Outcome: outcomeNoJourney})
		return
	}
	order, err := s.store.GetPharmacyOrder(ctx, ev.OrderID)
	if errors.Is(err, store.ErrNotFound) {
		s.logger.WarnContext(ctx, "Pharmacy event for an unknown order", "event_id", ev.EventID, "order_id", ev.OrderID)
		c.JSON(http.StatusOK, pharmacyWebhookResponse{Received: true, Outcome: outcomeNoJourney})
		return
	}
	if err != nil {
		s.writeError(c, err)
		return
	}
	seen, err := s.store.PharmacyEventRecorded(ctx, ev.EventID)
	if err != nil {
		s.writeError(c, err)
		return
	}
	if seen {
		c.JSON(http.StatusOK, pharmacyWebhookResponse{Received: true, Duplicate: true})
		return
	}
	outcome := outcomeSignalled
	// The journey follows the orders of its fulfil step; a refill's own
	// workflow follows a refill order.
	err = s.journeys.PharmacyStatus(ctx, order.FollowedBy(), workflows.PharmacyStatusEvent{
		EventID: ev.EventID, OrderID: order.ID, Status: ev.Status, Sequence: ev.Sequence,
	})
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		s.logger.WarnContext(ctx, "Pharmacy event for a workflow that does not exist or has ended", "event_id", ev.EventID, "workflow_id", order.FollowedBy())
		outcome = outcomeJourneyNotFound
	case err != nil:
		s.writeError(c, err)
		return
	}
	fresh, err := s.store.RecordPharmacyEvent(ctx, ev.EventID, order.ID, ev.Status, ev.Sequence)
	if err != nil {
		s.writeError(c, err)
		return
	}
	s.logger.InfoContext(ctx, "Pharmacy event", "event_id", ev.EventID, "order_id", order.ID, "status", ev.Status, "outcome", outcome)
	c.JSON(http.StatusOK, pharmacyWebhookResponse{Received: true, Duplicate: !fresh, Outcome: outcome})
}
