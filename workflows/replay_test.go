package workflows_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/carepath/carepath/codec"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/workflows"
)

// Histories recorded from real runs on the dev server (testdata/README.md
// says how) must replay against the current code: a change that would break
// running journeys fails here, and needs workflow.GetVersion instead.
func TestRecordedHistoriesReplay(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("want at least two recorded histories in testdata, found %v", files)
	}
	keys, err := codec.ParseKeys(testenv.CodecKeys)
	if err != nil {
		t.Fatal(err)
	}
	c, err := codec.New(keys, testenv.CodecActiveKey)
	if err != nil {
		t.Fatal(err)
	}
	replayer, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{
		DataConverter: c.DataConverter(), FailureConverter: c.FailureConverter(),
	})
	if err != nil {
		t.Fatal(err)
	}
	replayer.RegisterWorkflowWithOptions(workflows.Journey, workflow.RegisterOptions{Name: workflows.JourneyWorkflowName})
	replayer.RegisterWorkflowWithOptions(workflows.Adherence, workflow.RegisterOptions{Name: workflows.AdherenceWorkflowName})
	replayer.RegisterWorkflowWithOptions(workflows.RefillOrder, workflow.RegisterOptions{Name: workflows.RefillOrderWorkflowName})
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			// The journey and the adherence workflow check their workflow ID
			// against their input, so the replay runs under the recorded ID
			// (kept beside the events).
			var meta struct {
				WorkflowID string `json:"workflowId"`
			}
			if err := json.Unmarshal(raw, &meta); err != nil || meta.WorkflowID == "" {
				t.Fatalf("%s: no workflowId beside the events: %v", f, err)
			}
			history, err := client.HistoryFromJSON(bytes.NewReader(raw), client.HistoryJSONOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := replayer.ReplayWorkflowHistoryWithOptions(nil, history, worker.ReplayWorkflowHistoryOptions{
				OriginalExecution: workflow.Execution{ID: meta.WorkflowID},
			}); err != nil {
				t.Fatalf("replaying %s: %v", f, err)
			}
		})
	}
}
