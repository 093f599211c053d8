package journeys

import (
	"context"
	"errors"
	"fmt"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	workflowpb "go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/carepath/carepath/workflows"
)

// Summary is one journey as Temporal's visibility store lists it.
type Summary struct {
	ID             string    `json:"id"`
	PathwayID      string    `json:"pathway_id"`
	PathwayVersion string    `json:"pathway_version"`
	Stage          string    `json:"stage"`
	NeedsAttention bool      `json:"needs_attention"`
	Running        bool      `json:"running"`
	StartedAt      time.Time `json:"started_at"`
}

// Filter narrows a patient's journeys. The caller checks every value
// against a strict pattern first (workflows.ValidPatientID and the like):
// the values go into a visibility query.
type Filter struct {
	PatientID string
	Running   *bool  // nil: running or not
	PathwayID string // "": any
	Stage     string // "": any
}

// Query is the visibility query for f.
func (f Filter) Query() string {
	q := fmt.Sprintf("WorkflowType = '%s' AND %s = '%s'", workflows.JourneyWorkflowName, workflows.PatientIDKey.GetName(), f.PatientID)
	if f.Running != nil {
		if *f.Running {
			q += " AND ExecutionStatus = 'Running'"
		} else {
			q += " AND ExecutionStatus != 'Running'"
		}
	}
	if f.PathwayID != "" {
		q += fmt.Sprintf(" AND %s = '%s'", workflows.PathwayIDKey.GetName(), f.PathwayID)
	}
	if f.Stage != "" {
		q += fmt.Sprintf(" AND %s = '%s'", workflows.JourneyStageKey.GetName(), f.Stage)
	}
	return q
}

// List reads the journeys f matches, up to limit, from the visibility
// store. Visibility is eventually consistent: a journey started a moment
// ago may take a second to appear.
func (c *Client) List(ctx context.Context, f Filter, limit int) ([]Summary, error) {
	out := []Summary{}
	var token []byte
	for {
		resp, err := c.temporal.ListWorkflow(ctx, &workflowpb.ListWorkflowExecutionsRequest{
			Query: f.Query(), PageSize: 100, NextPageToken: token})
		if err != nil {
			return nil, fmt.Errorf("list journeys: %w", err)
		}
		for _, e := range resp.GetExecutions() {
			sa := e.GetSearchAttributes().GetIndexedFields()
			sum := Summary{ID: e.GetExecution().GetWorkflowId(), Running: e.GetCloseTime() == nil, StartedAt: e.GetStartTime().AsTime()}
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
		if len(token) == 0 || len(out) >= limit {
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
