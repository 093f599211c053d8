// Package workers wires CarePath's Temporal workers: which task queue each
// polls, which workflows and activities it registers, and how it is tuned.
package workers

import (
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/carepath/carepath/activities"
	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/workflows"
)

// Deps are the clients the activities need.
type Deps struct {
	Store *store.Store
}

// NewJourneyWorker returns a worker for the journey task queue with every
// journey workflow and activity registered. The caller runs and stops it.
func NewJourneyWorker(c client.Client, taskQueue string, deps Deps) worker.Worker {
	w := worker.New(c, taskQueue, worker.Options{
		// On shutdown, running activities get this long to finish before
		// they are cancelled; Temporal retries whatever did not finish.
		WorkerStopTimeout: 20 * time.Second,
	})
	Register(w, deps)
	return w
}

// Register adds the journey workflows and activities to any registry (a
// worker, or a test environment).
func Register(r worker.Registry, deps Deps) {
	r.RegisterWorkflowWithOptions(workflows.Journey, workflow.RegisterOptions{Name: workflows.JourneyWorkflowName})
	r.RegisterActivity(&activities.Journeys{Store: deps.Store})
}
