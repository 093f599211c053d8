package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/carepath/carepath/auth"
)

// Some requests touch patients' data without naming a patient: a doctor
// accepts an appointment request (the access rule is the doctor's own
// business, the appointment is a patient's), or lists the requests waiting
// for them (many patients). They are audited too: one AuditEvent per
// patient, appended before the response leaves, as serveAudited does.

// touchedCtxKey holds the patients a handler says it touched.
const touchedCtxKey = "carepath.touched"

// touchedPatients records that the handler is about to return data of
// these patients; the access layer audits each (routePolicy.touches).
func touchedPatients(c *gin.Context, patientIDs ...string) {
	prev, _ := c.Get(touchedCtxKey)
	ids, _ := prev.([]string)
	c.Set(touchedCtxKey, append(ids, patientIDs...))
}

// serveAuditedTouches runs the handler with its response held back, then
// appends one AuditEvent for patientID (when set) and one for each patient
// the handler named, and only then sends the response. If an event cannot
// be appended the caller gets 503 and no data.
func (s *Server) serveAuditedTouches(c *gin.Context, p auth.Principal, patientID, purpose, reason string) {
	if s.store == nil {
		s.writeError(c, &unavailableError{detail: "the audit trail is not configured on this server"})
		return
	}
	orig := c.Writer
	held := &heldResponse{ResponseWriter: orig, status: http.StatusOK}
	c.Writer = held
	c.Next()
	c.Writer = orig
	var patients []string
	if patientID != "" {
		patients = append(patients, patientID)
	}
	if v, ok := c.Get(touchedCtxKey); ok {
		ids, _ := v.([]string)
		patients = append(patients, ids...)
	}
	seen := map[string]bool{}
	for _, id := range patients {
		if seen[id] {
			continue
		}
		seen[id] = true
		if _, err := s.store.AppendAudit(c.Request.Context(), s.auditEvent(c, p, id, purpose, reason, held.status)); err != nil {
			s.logger.ErrorContext(c.Request.Context(), "Audit append failed: response withheld", "route", c.FullPath(), "error", err)
			s.writeError(c, &unavailableError{detail: "the access could not be recorded in the audit trail, so nothing was returned; " +
				"if this was a change, read the record before retrying"})
			return
		}
	}
	held.release()
}
