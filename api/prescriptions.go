package api

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/serviceerror"

	"github.com/carepath/carepath/journeys"
	"github.com/carepath/carepath/workflows"
)

const (
	prescriptionRoute       = "/api/v1/journeys/:id/prescription"
	prescriptionReviewRoute = "/api/v1/journeys/:id/prescription/review"
)

// getPrescription answers the journey's prescription: its ID and version,
// the knowledge graph's findings, and whether approving it takes an
// override. 409 when the journey has not reached its prescribe step.
func (s *Server) getPrescription(c *gin.Context) {
	id := c.Param("id")
	if !journeys.ValidID(id) {
		s.writeError(c, &notFoundError{detail: "no journey has this ID"})
		return
	}
	info, err := s.journeys.Prescription(c.Request.Context(), id)
	var failed *serviceerror.QueryFailed
	if errors.As(err, &failed) {
		s.writeError(c, &conflictError{detail: "the journey has not reached its prescription step"})
		return
	}
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, info)
}

type reviewPrescriptionBody struct {
	PrescriptionID string                       `json:"prescription_id"`
	Action         string                       `json:"action"`
	Items          []workflows.PrescriptionItem `json:"items"`
	Reason         string                       `json:"reason"`
}

// reviewPrescription sends the prescribing doctor's review to the journey
// and answers with the prescription's state. The journey's validator
// decides who may review and what a review needs; its refusals map to
// problems in writeError.
func (s *Server) reviewPrescription(c *gin.Context) {
	var body reviewPrescriptionBody
	actor, ok := s.actorAndBody(c, &body)
	if !ok {
		return
	}
	id := c.Param("id")
	if !journeys.ValidID(id) {
		s.writeError(c, &notFoundError{detail: "no journey has this ID"})
		return
	}
	info, err := s.journeys.ReviewPrescription(c.Request.Context(), id,
		workflows.ReviewPrescriptionRequest{Actor: actor, PrescriptionID: body.PrescriptionID, Action: body.Action,
			Items: body.Items, Reason: body.Reason})
	if err != nil {
		s.writeError(c, notAtThatStep(err))
		return
	}
	c.JSON(http.StatusOK, info)
}
