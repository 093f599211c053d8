package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/journeys"
	"github.com/carepath/carepath/pathways"
	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/workflows"
)

// Lab routes: results of a journey's lab orders (v1), and the HealthLink
// lab test booking. Both write the lab_order store the lab_order step uses.

const (
	labResultsRoute  = "/api/v1/journeys/:id/lab-results"
	bookLabTestRoute = "/api/book/labtest/"
)

type labResultBody struct {
	LOINC         string   `json:"loinc_code"`
	Value         *float64 `json:"value"`
	Unit          string   `json:"unit"`
	ReferenceLow  *float64 `json:"reference_low"`
	ReferenceHigh *float64 `json:"reference_high"`
	CriticalLow   *float64 `json:"critical_low"`
	CriticalHigh  *float64 `json:"critical_high"`
}

// recordLabResult reports the result of one of the journey's lab orders.
// The fields are checked here, each problem naming its field; the journey
// then stores the result and alerts the doctor if it is out of range.
func (s *Server) recordLabResult(c *gin.Context) {
	var body labResultBody
	actor, ok := s.actorAndBody(c, &body)
	if !ok {
		return
	}
	if body.Value == nil {
		s.writeError(c, &invalidError{fields: []FieldError{{Pointer: "/value", Detail: "is required: the numeric result"}}})
		return
	}
	res := pathways.LabResult{LOINC: body.LOINC, Value: *body.Value, Unit: body.Unit, ReferenceLow: body.ReferenceLow,
		ReferenceHigh: body.ReferenceHigh, CriticalLow: body.CriticalLow, CriticalHigh: body.CriticalHigh}
	var fields []FieldError
	for _, p := range res.Check() {
		fields = append(fields, FieldError{Pointer: "/" + p.Field, Detail: p.Detail})
	}
	if len(fields) == 0 {
		open, err := s.openLabTests(c)
		if err != nil {
			s.writeError(c, err)
			return
		}
		if !slices.Contains(open, res.LOINC) {
			fields = append(fields, FieldError{Pointer: "/loinc_code", Detail: fmt.Sprintf("the journey has no open order for this test (open: %s)", strings.Join(open, ", "))})
		}
	}
	if len(fields) > 0 {
		s.writeError(c, &invalidError{fields: fields})
		return
	}
	if !s.sentToThisLab(c, res.LOINC) {
		return
	}
	s.sendUpdate(c, func(ctx context.Context, id string) (workflows.JourneyState, error) {
		return s.journeys.RecordLabResult(ctx, id, workflows.RecordLabResultRequest{Actor: actor, Result: res})
	})
}

// sentToThisLab refuses (403) a lab partner's result for an order that was
// sent to another lab, or to none. Staff who may enter results by hand
// (the route's other roles) are not held to it.
func (s *Server) sentToThisLab(c *gin.Context, loinc string) bool {
	p, ok := principalFrom(c)
	if !ok || p.Role != auth.RoleIntegrator {
		return true
	}
	lab, err := s.store.LabOrderClient(c.Request.Context(), c.Param("id"), loinc)
	if err != nil {
		s.writeError(c, err)
		return false
	}
	if lab != p.Subject {
		s.logger.InfoContext(c.Request.Context(), "Lab result refused: order sent to another lab", "subject", p.Subject)
		s.writeError(c, &forbiddenError{detail: "this order was not sent to your laboratory"})
		return false
	}
	return true
}

// openLabTests are the LOINC codes of the journey's unresulted orders.
func (s *Server) openLabTests(c *gin.Context) ([]string, error) {
	id := c.Param("id")
	if !journeys.ValidID(id) {
		return nil, &notFoundError{detail: "no journey has this ID"}
	}
	state, err := s.journeys.State(c.Request.Context(), id)
	if err != nil {
		return nil, err
	}
	open := []string{}
	for _, o := range state.Labs {
		if o.Status != store.LabOrderResulted {
			open = append(open, o.LOINC)
		}
	}
	return open, nil
}

// labTestBooking is the HealthLink booking as the contract names its fields.
type labTestBooking struct {
	BookingID       string `json:"booking_id"`
	PatientID       string `json:"patient_id"`
	TestName        string `json:"test_name"`
	AppointmentDate string `json:"appointment_date"`
	Status          string `json:"status"`
}

// bookLabTest is HealthLink's POST /api/book/labtest/: patient_id,
// test_name (a catalogue name, a unique part of one, or a LOINC code) and
// appointment_date (YYYY-MM-DD, today or later), as JSON or form fields.
// An Idempotency-Key header makes a retry return the first booking (the
// idempotency middleware).
func (s *Server) bookLabTest(c *gin.Context) {
	p, ok := principalFrom(c)
	if !ok {
		s.writeError(c, &unauthorizedError{detail: "sign in and send the access token as Authorization: Bearer <token>"})
		return
	}
	form, err := bindParams(c, "patient_id", "test_name", "appointment_date")
	if err != nil {
		s.writeError(c, err)
		return
	}
	patientID, testName, date := form["patient_id"], strings.TrimSpace(form["test_name"]), form["appointment_date"]
	var fields []FieldError
	if !workflows.ValidPatientID(patientID) {
		fields = append(fields, FieldError{Pointer: "/patient_id", Detail: "must be a patient ID (a lowercase UUID)"})
	}
	if testName == "" {
		fields = append(fields, FieldError{Pointer: "/test_name", Detail: "is required"})
	}
	day, err := time.Parse(time.DateOnly, date)
	if err != nil {
		fields = append(fields, FieldError{Pointer: "/appointment_date", Detail: "must be a date as YYYY-MM-DD"})
	} else if day.Before(time.Now().UTC().Truncate(24 * time.Hour)) {
		fields = append(fields, FieldError{Pointer: "/appointment_date", Detail: "must be today or later"})
	}
	if len(fields) > 0 {
		s.writeError(c, &invalidError{fields: fields})
		return
	}
	ctx := c.Request.Context()
	code, err := s.store.LabTestByName(ctx, testName)
	if errors.Is(err, store.ErrUnknownLabTest) {
		s.writeError(c, &invalidError{fields: []FieldError{{Pointer: "/test_name", Detail: strings.TrimPrefix(err.Error(), "store: ")}}})
		return
	}
	if err != nil {
		s.writeError(c, err)
		return
	}
	// A retried request with an Idempotency-Key is answered by the
	// idempotency middleware; each request that reaches here books anew.
	req := store.BookLabTestsRequest{
		KeyPrefix: "healthlink:" + p.Subject + ":" + uuid.NewString(), Origin: store.LabOriginLink, PatientID: patientID,
		Tests: []string{code}, ScheduledFor: day,
	}
	if p.Role == auth.RoleIntegrator {
		req.LabClientID = p.Subject // a lab books for itself
	}
	orders, err := s.store.BookLabTests(ctx, req)
	switch {
	case errors.Is(err, store.ErrPatientNotFound):
		s.writeError(c, &invalidError{fields: []FieldError{{Pointer: "/patient_id", Detail: "no patient has this ID"}}})
		return
	case err != nil:
		s.writeError(c, err)
		return
	}
	o := orders[0]
	c.JSON(http.StatusCreated, gin.H{"lab_test_booking": labTestBooking{
		BookingID: o.ID, PatientID: o.PatientID, TestName: o.TestName, AppointmentDate: o.ScheduledFor, Status: o.Status,
	}})
}
