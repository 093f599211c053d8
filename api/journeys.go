package api

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/carepath/carepath/journeys"
	"github.com/carepath/carepath/pathways"
	"github.com/carepath/carepath/workflows"
)

type startJourneyRequest struct {
	PatientID      string `json:"patient_id"`
	PathwayID      string `json:"pathway_id"`
	PathwayVersion *int   `json:"pathway_version"`
	Episode        *int   `json:"episode"`
	SlotID         string `json:"slot_id"`
}

type journeyResponse struct {
	ID             string `json:"id"`
	RunID          string `json:"run_id"`
	PatientID      string `json:"patient_id"`
	PathwayID      string `json:"pathway_id"`
	PathwayVersion int    `json:"pathway_version"`
	Episode        int    `json:"episode"`
	Links          links  `json:"links"`
	// State is the journey's state once its booking has settled, for a
	// pathway that starts by booking; absent otherwise.
	State *workflows.JourneyState `json:"state,omitempty"`
}

type links struct {
	Self string `json:"self"`
}

func journeyPath(id string) string { return "/api/v1/journeys/" + id }

// startJourney starts a journey workflow for a registered patient.
func (s *Server) startJourney(c *gin.Context) {
	var req startJourneyRequest
	if err := decodeStrict(c.Request.Body, &req); err != nil {
		s.writeError(c, err)
		return
	}
	in, err := s.validateStart(c, req)
	if err != nil {
		s.writeError(c, err)
		return
	}
	started, err := s.launchJourney(c.Request.Context(), in, journeys.BookingWait)
	if err != nil {
		s.writeError(c, err)
		return
	}
	resp := journeyResponse{
		ID: started.ID, RunID: started.RunID, PatientID: in.PatientID, PathwayID: in.PathwayID, PathwayVersion: in.Plan.Version, Episode: in.Episode,
		Links: links{Self: journeyPath(started.ID)},
	}
	if started.Booking != nil {
		resp.State = &started.Booking.Journey
	}
	c.Header("Location", journeyPath(started.ID))
	c.JSON(http.StatusAccepted, resp)
}

// launchJourney starts the journey workflow for in (journeys.Client.Start
// says how its ID is kept idempotent). A pathway that starts by booking is
// started with its booking_status update, so the answer comes once the
// slot is held and the payment is ready, or the slot was refused (a 409,
// the update's SlotUnavailable error), with no polling. A booking not
// settled within wait answers as any start does (202, no state).
func (s *Server) launchJourney(ctx context.Context, in workflows.JourneyInput, wait time.Duration) (journeys.Started, error) {
	if journeys.Books(in) {
		return s.journeys.StartBooking(ctx, in, wait)
	}
	return s.journeys.Start(ctx, in)
}

func (s *Server) validateStart(c *gin.Context, req startJourneyRequest) (workflows.JourneyInput, error) {
	var fields []FieldError
	if !workflows.ValidPatientID(req.PatientID) {
		fields = append(fields, FieldError{Pointer: "/patient_id", Detail: "must be a patient ID (a lowercase UUID)"})
	}
	if !workflows.ValidPathwayID(req.PathwayID) {
		fields = append(fields, FieldError{Pointer: "/pathway_id", Detail: "must be a pathway ID (lowercase letters, digits and hyphens)"})
	}
	episode := 1
	if req.Episode != nil {
		episode = *req.Episode
		if episode < 1 || episode > 10000 {
			fields = append(fields, FieldError{Pointer: "/episode", Detail: "must be between 1 and 10000"})
		}
	}
	var plan pathways.Plan
	if len(fields) == 0 {
		version := 0
		if req.PathwayVersion != nil {
			version = *req.PathwayVersion
		}
		var err error
		plan, err = s.pathways.Get(req.PathwayID, version)
		if err != nil {
			pointer := "/pathway_id"
			if req.PathwayVersion != nil && len(s.pathways.Versions(req.PathwayID)) > 0 {
				pointer = "/pathway_version"
			}
			fields = append(fields, FieldError{Pointer: pointer, Detail: err.Error()})
		}
	}
	if req.SlotID != "" && !workflows.ValidPatientID(req.SlotID) {
		fields = append(fields, FieldError{Pointer: "/slot_id", Detail: "must be a slot ID (a lowercase UUID)"})
	}
	if len(fields) == 0 && plan.Start != "" && plan.Steps[plan.Start].Type == "book" && req.SlotID == "" {
		fields = append(fields, FieldError{Pointer: "/slot_id", Detail: "this pathway starts by booking: choose a free slot"})
	}
	if len(fields) > 0 {
		return workflows.JourneyInput{}, &invalidError{fields: fields}
	}
	exists, err := s.store.PatientExists(c.Request.Context(), req.PatientID)
	if err != nil {
		return workflows.JourneyInput{}, err
	}
	if !exists {
		return workflows.JourneyInput{}, &invalidError{fields: []FieldError{{Pointer: "/patient_id", Detail: "no patient has this ID"}}}
	}
	return workflows.JourneyInput{PatientID: req.PatientID, PathwayID: req.PathwayID, Episode: episode, Plan: plan, SlotID: req.SlotID}, nil
}

// getJourney answers from the journey workflow's state query.
func (s *Server) getJourney(c *gin.Context) {
	id := c.Param("id")
	if !journeys.ValidID(id) {
		s.writeError(c, &notFoundError{detail: "no journey has this ID"})
		return
	}
	state, err := s.journeys.State(c.Request.Context(), id)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, state)
}
