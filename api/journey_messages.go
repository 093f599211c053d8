package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	commonpb "go.temporal.io/api/common/v1"
	workflowpb "go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

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
	s.sendUpdate(c, workflows.UpdateDecide, workflows.DecideRequest{Actor: actor, StepID: body.StepID, Outcome: body.Outcome, Reason: body.Reason})
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
	return callUpdate[workflows.JourneyState](ctx, s.temporal, id, name, arg)
}

// callUpdate sends the update name with arg to the workflow id, waits for
// it to complete and decodes its answer as T. A refusal is the validator's
// application error, which writeError maps to a problem.
func callUpdate[T any](ctx context.Context, tc client.Client, id, name string, arg any) (T, error) {
	var answer T
	handle, err := tc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: id, UpdateName: name, Args: []any{arg}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = handle.Get(ctx, &answer)
	}
	if err != nil {
		return answer, fmt.Errorf("%s on %s: %w", name, id, notAtThatStep(name, err))
	}
	return answer, nil
}

// notAtThatStep turns the SDK's refusal of an update the workflow has no
// handler for now (a step's updates exist only while the step runs: a
// prescription review after the prescription is signed, a diet review on a
// journey with no diet step) into a conflict; other errors pass unchanged.
func notAtThatStep(name string, err error) error {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && strings.HasPrefix(appErr.Message(), "unknown update ") {
		return &conflictError{detail: "the journey is not at a step that takes this request (" + name + ")"}
	}
	return err
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
	query, err := journeyQuery(c, patientID)
	if err != nil {
		s.writeError(c, err)
		return
	}
	out, err := s.patientJourneys(c, query)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, paginate(out, params, journeySorts, func(j journeySummary) string { return j.ID }))
}

// journeyQuery is the visibility query for the patient's journeys with the
// request's filters. Every value is checked against a strict pattern first,
// so nothing from the request can change the query's meaning.
func journeyQuery(c *gin.Context, patientID string) (string, error) {
	query := fmt.Sprintf("WorkflowType = '%s' AND %s = '%s'", workflows.JourneyWorkflowName, workflows.PatientIDKey.GetName(), patientID)
	running, err := filterParam(c, "running", func(v string) bool { return v == "true" || v == "false" }, "true or false")
	if err != nil {
		return "", err
	}
	switch running {
	case "true":
		query += " AND ExecutionStatus = 'Running'"
	case "false":
		query += " AND ExecutionStatus != 'Running'"
	}
	pathway, err := filterParam(c, "pathway_id", workflows.ValidPathwayID, "a pathway ID (lowercase letters, digits and hyphens)")
	if err != nil {
		return "", err
	}
	if pathway != "" {
		query += fmt.Sprintf(" AND %s = '%s'", workflows.PathwayIDKey.GetName(), pathway)
	}
	stage, err := filterParam(c, "stage", journeyStage.MatchString, "a stage name (lowercase letters, digits, _ and -)")
	if err != nil {
		return "", err
	}
	if stage != "" {
		query += fmt.Sprintf(" AND %s = '%s'", workflows.JourneyStageKey.GetName(), stage)
	}
	return query, nil
}

// patientJourneys reads every journey the query matches, up to
// maxListedJourneys.
func (s *Server) patientJourneys(c *gin.Context, query string) ([]journeySummary, error) {
	out := []journeySummary{}
	var token []byte
	for {
		resp, err := s.temporal.ListWorkflow(c.Request.Context(), &workflowpb.ListWorkflowExecutionsRequest{
			Query: query, PageSize: 100, NextPageToken: token})
		if err != nil {
			return nil, fmt.Errorf("list journeys: %w", err)
		}
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
				return nil, fmt.Errorf("list journeys: %s: %w", sum.ID, err)
			}
			out = append(out, sum)
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 || len(out) >= maxListedJourneys {
			return out, nil
		}
	}
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
	var body rescheduleBody
	actor, ok := s.actorAndBody(c, &body)
	if !ok {
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
	var body struct{}
	actor, ok := s.actorAndBody(c, &body)
	if !ok {
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
	var body closeConsultBody
	actor, ok := s.actorAndBody(c, &body)
	if !ok {
		return
	}
	s.sendUpdate(c, workflows.UpdateCloseConsult, workflows.CloseConsultRequest{
		Actor: actor, Diagnoses: body.Diagnoses, Notes: body.Notes, Orders: body.Orders, Outcome: body.Outcome,
		Measurements: body.Measurements, Prescriptions: body.Prescriptions, LabTests: body.LabTests, FollowUpDays: body.FollowUpDays,
	})
}
