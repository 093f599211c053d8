package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	commonpb "go.temporal.io/api/common/v1"
	workflowpb "go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/carepath/carepath/inference"
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
	actor, err := actorFrom(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	var body decideBody
	if err := decodeStrict(c.Request.Body, &body); err != nil {
		s.writeError(c, err)
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
	s.sendUpdate(c, workflows.UpdateDecide, workflows.DecideRequest{Actor: actor, StepID: body.StepID, Outcome: body.Outcome, Reason: body.Reason})
}

type cancelBody struct {
	Reason string `json:"reason"`
}

// cancelJourney cancels a journey; the pathway's policy decides any refund.
func (s *Server) cancelJourney(c *gin.Context) {
	actor, err := actorFrom(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	var body cancelBody
	if err := decodeStrict(c.Request.Body, &body); err != nil {
		s.writeError(c, err)
		return
	}
	s.sendUpdate(c, workflows.UpdateCancel, workflows.CancelRequest{Actor: actor, Reason: body.Reason})
}

// sendUpdate sends an update to the journey in the path and answers with
// the journey's new state.
func (s *Server) sendUpdate(c *gin.Context, name string, arg any) {
	id := c.Param("id")
	if _, _, _, err := workflows.ParseJourneyWorkflowID(id); err != nil {
		s.writeError(c, &notFoundError{detail: "no journey has this ID"})
		return
	}
	state, err := s.updateJourney(c.Request.Context(), id, name, arg)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, state)
}

// updateJourney sends an update to a journey and waits for its answer, the
// journey's new state. A refusal is the validator's application error.
func (s *Server) updateJourney(ctx context.Context, id, name string, arg any) (workflows.JourneyState, error) {
	handle, err := s.temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: id, UpdateName: name, Args: []any{arg}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return workflows.JourneyState{}, fmt.Errorf("%s on %s: %w", name, id, err)
	}
	var state workflows.JourneyState
	if err := handle.Get(ctx, &state); err != nil {
		return workflows.JourneyState{}, fmt.Errorf("%s on %s: %w", name, id, err)
	}
	return state, nil
}

type journeySummary struct {
	ID             string    `json:"id"`
	PathwayID      string    `json:"pathway_id"`
	PathwayVersion string    `json:"pathway_version"`
	Stage          string    `json:"stage"`
	NeedsAttention bool      `json:"needs_attention"`
	Running        bool      `json:"running"`
	StartedAt      time.Time `json:"started_at"`
}

// listPatientJourneys lists a patient's journeys from Temporal's visibility
// store, newest first. Visibility is eventually consistent: a journey
// started a moment ago may take a second to appear.
func (s *Server) listPatientJourneys(c *gin.Context) {
	patientID := c.Param("id")
	if !workflows.ValidPatientID(patientID) {
		s.writeError(c, &notFoundError{detail: "no patient has this ID"})
		return
	}
	query := fmt.Sprintf("WorkflowType = '%s' AND %s = '%s'", workflows.JourneyWorkflowName, workflows.PatientIDKey.GetName(), patientID)
	resp, err := s.temporal.ListWorkflow(c.Request.Context(), &workflowpb.ListWorkflowExecutionsRequest{Query: query, PageSize: 100})
	if err != nil {
		s.writeError(c, fmt.Errorf("list journeys: %w", err))
		return
	}
	out := []journeySummary{}
	for _, e := range resp.GetExecutions() {
		sa := e.GetSearchAttributes().GetIndexedFields()
		sum := journeySummary{ID: e.GetExecution().GetWorkflowId(), Running: e.GetCloseTime() == nil, StartedAt: e.GetStartTime().AsTime()}
		err := errors.Join(
			decodeAttribute(sa, workflows.PathwayIDKey.GetName(), &sum.PathwayID),
			decodeAttribute(sa, workflows.PathwayVersionKey.GetName(), &sum.PathwayVersion),
			decodeAttribute(sa, workflows.JourneyStageKey.GetName(), &sum.Stage),
			decodeAttribute(sa, workflows.NeedsAttentionKey.GetName(), &sum.NeedsAttention),
		)
		if err != nil {
			s.writeError(c, fmt.Errorf("list journeys: %s: %w", sum.ID, err))
			return
		}
		out = append(out, sum)
	}
	c.JSON(http.StatusOK, gin.H{"items": out})
}

// decodeAttribute reads one search attribute, if the journey has it.
func decodeAttribute(fields map[string]*commonpb.Payload, name string, dst any) error {
	p, ok := fields[name]
	if !ok {
		return nil
	}
	if err := converter.GetDefaultDataConverter().FromPayload(p, dst); err != nil {
		return fmt.Errorf("search attribute %s: %w", name, err)
	}
	return nil
}

type rescheduleBody struct {
	NewSlotID string `json:"new_slot_id"`
}

// rescheduleJourney moves the journey's appointment to another free slot.
func (s *Server) rescheduleJourney(c *gin.Context) {
	actor, err := actorFrom(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	var body rescheduleBody
	if err := decodeStrict(c.Request.Body, &body); err != nil {
		s.writeError(c, err)
		return
	}
	if !workflows.ValidPatientID(body.NewSlotID) {
		s.writeError(c, &invalidError{fields: []FieldError{{Pointer: "/new_slot_id", Detail: "must be a slot ID (a lowercase UUID)"}}})
		return
	}
	s.sendUpdate(c, workflows.UpdateReschedule, workflows.RescheduleRequest{Actor: actor, NewSlotID: body.NewSlotID})
}

// startConsult marks the video consult as started (the doctor joined).
func (s *Server) startConsult(c *gin.Context) {
	actor, err := actorFrom(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	var body struct{}
	if err := decodeStrict(c.Request.Body, &body); err != nil {
		s.writeError(c, err)
		return
	}
	s.sendUpdate(c, workflows.UpdateStartConsult, workflows.StartConsultRequest{Actor: actor})
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
	actor, err := actorFrom(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	var body closeConsultBody
	if err := decodeStrict(c.Request.Body, &body); err != nil {
		s.writeError(c, err)
		return
	}
	s.sendUpdate(c, workflows.UpdateCloseConsult, workflows.CloseConsultRequest{
		Actor: actor, Diagnoses: body.Diagnoses, Notes: body.Notes, Orders: body.Orders, Outcome: body.Outcome,
		Measurements: body.Measurements, Prescriptions: body.Prescriptions, LabTests: body.LabTests, FollowUpDays: body.FollowUpDays,
	})
}
