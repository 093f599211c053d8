package api

import (
	"context"
	"errors"
	"net/http"
	"regexp"

	"github.com/gin-gonic/gin"

	"github.com/carepath/carepath/inference"
	"github.com/carepath/carepath/journeys"
	"github.com/carepath/carepath/workflows"
)

type decideBody struct {
	StepID  string `json:"step_id"`
	Outcome string `json:"outcome"`
	Reason  string `json:"reason"`
}

// decide sends a decision (the doctor accepts or rejects, say) to the
// journey; the journey's validator says whether this actor may make it now.
func (s *Server) decide(c *gin.Context) {
	var body decideBody
	actor, ok := s.actorAndBody(c, &body)
	if !ok {
		return
	}
	var fields []FieldError
	if body.StepID == "" {
		fields = append(fields, FieldError{Pointer: "/step_id", Detail: "is required"})
	}
	if body.Outcome == "" {
		fields = append(fields, FieldError{Pointer: "/outcome", Detail: "is required"})
	}
	if len(fields) > 0 {
		s.writeError(c, &invalidError{fields: fields})
		return
	}
	s.sendUpdate(c, func(ctx context.Context, id string) (workflows.JourneyState, error) {
		return s.journeys.Decide(ctx, id, workflows.DecideRequest{Actor: actor, StepID: body.StepID, Outcome: body.Outcome, Reason: body.Reason})
	})
}

type cancelBody struct {
	Reason string `json:"reason"`
}

// cancelJourney cancels a journey; the pathway's policy decides any refund.
func (s *Server) cancelJourney(c *gin.Context) {
	var body cancelBody
	actor, ok := s.actorAndBody(c, &body)
	if !ok {
		return
	}
	s.sendUpdate(c, func(ctx context.Context, id string) (workflows.JourneyState, error) {
		return s.journeys.Cancel(ctx, id, workflows.CancelRequest{Actor: actor, Reason: body.Reason})
	})
}

// sendUpdate sends an update to the journey in the path through send and
// answers with the journey's new state.
func (s *Server) sendUpdate(c *gin.Context, send func(ctx context.Context, id string) (workflows.JourneyState, error)) {
	id := c.Param("id")
	if !journeys.ValidID(id) {
		s.writeError(c, &notFoundError{detail: "no journey has this ID"})
		return
	}
	state, err := send(c.Request.Context(), id)
	if err != nil {
		s.writeError(c, notAtThatStep(err))
		return
	}
	c.JSON(http.StatusOK, state)
}

// notAtThatStep turns the client's word that the workflow has no handler
// for an update now (a step's updates exist only while the step runs: a
// prescription review after the prescription is signed, a diet review on a
// journey with no diet step) into a conflict; other errors pass unchanged.
func notAtThatStep(err error) error {
	var notAt *journeys.NotAtStepError
	if errors.As(err, &notAt) {
		return &conflictError{detail: notAt.Error()}
	}
	return err
}

type journeySummary = journeys.Summary

// journeySorts are the fields a patient's journeys sort by.
var journeySorts = sortKeys[journeySummary]{
	"started_at": func(j journeySummary) string { return j.StartedAt.UTC().Format(sortableTime) },
	"pathway_id": func(j journeySummary) string { return j.PathwayID },
	"stage":      func(j journeySummary) string { return j.Stage },
}

// sortableTime orders as the time does when compared as a string.
const sortableTime = "2006-01-02T15:04:05.000000000Z"

// maxListedJourneys bounds what one patient's list reads from visibility;
// a patient has a handful of journeys, not thousands.
const maxListedJourneys = 1000

var journeyStage = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)

// listPatientJourneys lists a patient's journeys from Temporal's visibility
// store (newest first unless sort says otherwise), filtered by running,
// pathway_id and stage, a page at a time (see pagination.go). Visibility is
// eventually consistent: a journey started a moment ago may take a second
// to appear.
func (s *Server) listPatientJourneys(c *gin.Context) {
	patientID := c.Param("id")
	if !workflows.ValidPatientID(patientID) {
		s.writeError(c, &notFoundError{detail: "no patient has this ID"})
		return
	}
	params, err := parseList(c, journeySorts, "-started_at")
	if err != nil {
		s.writeError(c, err)
		return
	}
	filter, err := journeyFilter(c, patientID)
	if err != nil {
		s.writeError(c, err)
		return
	}
	out, err := s.journeys.List(c.Request.Context(), filter, maxListedJourneys)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, paginate(out, params, journeySorts, func(j journeySummary) string { return j.ID }))
}

// journeyFilter is the visibility filter for the patient's journeys with
// the request's filters. Every value is checked against a strict pattern
// first, so nothing from the request can change the query's meaning.
func journeyFilter(c *gin.Context, patientID string) (journeys.Filter, error) {
	f := journeys.Filter{PatientID: patientID}
	running, err := filterParam(c, "running", func(v string) bool { return v == "true" || v == "false" }, "true or false")
	if err != nil {
		return f, err
	}
	if running != "" {
		r := running == "true"
		f.Running = &r
	}
	if f.PathwayID, err = filterParam(c, "pathway_id", workflows.ValidPathwayID, "a pathway ID (lowercase letters, digits and hyphens)"); err != nil {
		return f, err
	}
	if f.Stage, err = filterParam(c, "stage", journeyStage.MatchString, "a stage name (lowercase letters, digits, _ and -)"); err != nil {
		return f, err
	}
	return f, nil
}

type rescheduleBody struct {
	NewSlotID string `json:"new_slot_id"`
}

// rescheduleJourney moves the journey's appointment to another free slot.
func (s *Server) rescheduleJourney(c *gin.Context) {
	var body rescheduleBody
	actor, ok := s.actorAndBody(c, &body)
	if !ok {
		return
	}
	if !workflows.ValidPatientID(body.NewSlotID) {
		s.writeError(c, &invalidError{fields: []FieldError{{Pointer: "/new_slot_id", Detail: "must be a slot ID (a lowercase UUID)"}}})
		return
	}
	s.sendUpdate(c, func(ctx context.Context, id string) (workflows.JourneyState, error) {
		return s.journeys.Reschedule(ctx, id, workflows.RescheduleRequest{Actor: actor, NewSlotID: body.NewSlotID})
	})
}

// startConsult marks the video consult as started (the doctor joined).
func (s *Server) startConsult(c *gin.Context) {
	var body struct{}
	actor, ok := s.actorAndBody(c, &body)
	if !ok {
		return
	}
	s.sendUpdate(c, func(ctx context.Context, id string) (workflows.JourneyState, error) {
		return s.journeys.StartConsult(ctx, id, workflows.StartConsultRequest{Actor: actor})
	})
}

type closeConsultBody struct {
	Diagnoses []string `json:"diagnoses"`
	Notes     string   `json:"notes"`
	Orders    []string `json:"orders"`
	Outcome   string   `json:"outcome"`
	// Measurements for the risk model, each a number or {value, unit}.
	Measurements map[string]inference.Quantity `json:"measurements"`
	// Prescriptions are the medicines of the prescription order.
	Prescriptions []workflows.PrescriptionItem `json:"prescriptions"`
	// LabTests are the LOINC codes of the lab_tests order.
	LabTests []string `json:"lab_tests"`
	// FollowUpDays is the interval of the follow_up order, in days.
	FollowUpDays int `json:"follow_up_days"`
}

// closeConsult closes the consult with the doctor's notes and orders.
func (s *Server) closeConsult(c *gin.Context) {
	var body closeConsultBody
	actor, ok := s.actorAndBody(c, &body)
	if !ok {
		return
	}
	s.sendUpdate(c, func(ctx context.Context, id string) (workflows.JourneyState, error) {
		return s.journeys.CloseConsult(ctx, id, workflows.CloseConsultRequest{
			Actor: actor, Diagnoses: body.Diagnoses, Notes: body.Notes, Orders: body.Orders, Outcome: body.Outcome,
			Measurements: body.Measurements, Prescriptions: body.Prescriptions, LabTests: body.LabTests, FollowUpDays: body.FollowUpDays,
		})
	})
}
