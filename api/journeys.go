package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/carepath/carepath/pathways"
	"github.com/carepath/carepath/store"
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
	id, run, err := s.launchJourney(c.Request.Context(), in)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.Header("Location", journeyPath(id))
	c.JSON(http.StatusAccepted, journeyResponse{
		ID: id, RunID: run.GetRunID(), PatientID: in.PatientID, PathwayID: in.PathwayID, PathwayVersion: in.Plan.Version, Episode: in.Episode,
		Links: links{Self: journeyPath(id)},
	})
}

// launchJourney starts the journey workflow for in and returns its ID.
// The ID is opaque (workflows.NewJourneyWorkflowID) and recorded in
// journey_ref for the patient's episode on the pathway before the workflow
// starts; an episode recorded already keeps its ID. So a start retried
// after a crash starts the workflow the first attempt chose, and starting a
// journey that exists is serviceerror.WorkflowExecutionAlreadyStarted
// (409), as it was when the ID named the episode.
func (s *Server) launchJourney(ctx context.Context, in workflows.JourneyInput) (string, client.WorkflowRun, error) {
	ref, _, err := s.store.ReserveJourneyRef(ctx, store.JourneyRef{
		PatientID: in.PatientID, PathwayID: in.PathwayID, Episode: in.Episode,
		WorkflowID: workflows.NewJourneyWorkflowID(in.PatientID),
	})
	if err != nil {
		return "", nil, fmt.Errorf("start journey: %w", err)
	}
	id := ref.WorkflowID
	run, err := s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        id,
		TaskQueue: s.taskQueue,
		// Without this the SDK hands back the existing run as if it were new.
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		// A journey ID names one journey for ever: never run it twice.
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.PatientIDKey.ValueSet(in.PatientID),
			workflows.PathwayIDKey.ValueSet(in.PathwayID),
			workflows.PathwayVersionKey.ValueSet(strconv.Itoa(in.Plan.Version)),
			workflows.JourneyStageKey.ValueSet("enrolling"),
		),
	}, workflows.JourneyWorkflowName, in)
	if err != nil {
		return "", nil, fmt.Errorf("start journey %s: %w", id, err)
	}
	return id, run, nil
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
	if _, _, _, err := workflows.ParseJourneyWorkflowID(id); err != nil {
		s.writeError(c, &notFoundError{detail: "no journey has this ID"})
		return
	}
	resp, err := s.temporal.QueryWorkflow(c.Request.Context(), id, "", workflows.QueryJourneyState)
	if err != nil {
		s.writeError(c, fmt.Errorf("query journey %s: %w", id, err))
		return
	}
	var state workflows.JourneyState
	if err := resp.Get(&state); err != nil {
		s.writeError(c, fmt.Errorf("decode journey %s state: %w", id, err))
		return
	}
	c.JSON(http.StatusOK, state)
}
