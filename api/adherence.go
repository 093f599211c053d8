package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/carepath/carepath/workflows"
)

// Adherence routes: a medication course's state (with its adherence
// percentage), the patient's answer to a dose, and a refill request. The
// path's ID is the adherence workflow ID, which names the patient.
const (
	adherenceRoute       = "/api/v1/adherence/:id"
	adherenceDosesRoute  = "/api/v1/adherence/:id/doses"
	adherenceRefillRoute = "/api/v1/adherence/:id/refills"
)

func (s *Server) adherenceRoutes(r *gin.Engine) {
	r.GET(adherenceRoute, s.getAdherence)
	r.POST(adherenceDosesRoute, s.reportDose)
	r.POST(adherenceRefillRoute, s.requestRefill)
}

// getAdherence answers the course's state: doses taken, skipped and
// missed, the adherence percentage, the open dose, the supply, and each
// refill's progress at the pharmacy.
func (s *Server) getAdherence(c *gin.Context) {
	id := c.Param("id")
	st, err := s.journeys.Adherence(c.Request.Context(), id)
	if err != nil {
		s.writeError(c, err)
		return
	}
	view := adherenceView{AdherenceState: st, Refills: []refillStatus{}}
	for _, wid := range st.RefillOrders {
		view.Refills = append(view.Refills, s.refillStatus(c.Request.Context(), wid))
	}
	c.JSON(http.StatusOK, view)
}

// adherenceView is a course's state with where each refill has got to.
type adherenceView struct {
	workflows.AdherenceState
	Refills []refillStatus `json:"refills"`
}

// refillStatus is one refill order's progress, from its workflow's
// fulfilment query: choosing, sent, accepted, ready, dispensed, delivered,
// out_of_stock, no_pharmacy, or unknown when the workflow cannot answer.
type refillStatus struct {
	Number     int    `json:"number"`
	WorkflowID string `json:"workflow_id"`
	Status     string `json:"status"`
	PharmacyID string `json:"pharmacy_id,omitempty"`
}

func (s *Server) refillStatus(ctx context.Context, workflowID string) refillStatus {
	r := refillStatus{WorkflowID: workflowID, Status: "unknown"}
	_, _ = fmt.Sscanf(workflowID[strings.LastIndex(workflowID, "/refill-")+len("/refill-"):], "%d", &r.Number)
	info, err := s.journeys.Fulfilment(ctx, workflowID)
	if err != nil {
		s.logger.WarnContext(ctx, "Refill order did not answer its fulfilment query", "workflow_id", workflowID, "error", err)
		return r
	}
	r.Status, r.PharmacyID = info.Status, info.PharmacyID
	return r
}

type doseBody struct {
	Dose   int    `json:"dose"`
	Action string `json:"action"`
}

// reportDose sends the patient's answer (taken or skipped) to a dose. It
// answers 202: the course applies it to the dose open when it arrives, and
// the GET shows the result.
func (s *Server) reportDose(c *gin.Context) {
	var body doseBody
	actor, ok := s.actorAndBody(c, &body)
	if !ok {
		return
	}
	var fields []FieldError
	if body.Action != workflows.DoseTaken && body.Action != workflows.DoseSkipped {
		fields = append(fields, FieldError{Pointer: "/action", Detail: "must be taken or skipped"})
	}
	if body.Dose < 0 {
		fields = append(fields, FieldError{Pointer: "/dose", Detail: "must be a dose number, or 0 (or absent) for the dose open now"})
	}
	if len(fields) > 0 {
		s.writeError(c, &invalidError{fields: fields})
		return
	}
	id := c.Param("id")
	report := workflows.DoseReport{Actor: actor, Dose: body.Dose, Action: body.Action}
	if err := s.journeys.ReportDose(c.Request.Context(), id, report); err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"accepted": true})
}

// requestRefill asks for the next refill. The course's validator refuses
// when the prescription has no refill left or one is already pending (409).
func (s *Server) requestRefill(c *gin.Context) {
	var body struct{}
	actor, ok := s.actorAndBody(c, &body)
	if !ok {
		return
	}
	id := c.Param("id")
	st, err := s.journeys.RequestRefill(c.Request.Context(), id, workflows.RefillRequest{Actor: actor})
	if err != nil {
		s.writeError(c, notAtThatStep(err))
		return
	}
	c.JSON(http.StatusOK, st)
}
