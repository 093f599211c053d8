package api

import (
	"slices"

	"github.com/gin-gonic/gin"
)

// Some requests touch patients' data without naming a patient: a doctor
// accepts an appointment request (the access rule is the doctor's own
// business; the appointment is a patient's), or lists the requests waiting
// for them (many patients). They are audited too, one AuditEvent per
// patient, through serveAudited (routePolicy.touches, objectOwner.auditPatientID).

// touchedCtxKey holds the patients a handler says it touched.
const touchedCtxKey = "carepath.touched"

// touchedPatients records that the handler is about to return data of
// these patients; serveAudited audits each.
func touchedPatients(c *gin.Context, patientIDs ...string) {
	prev, _ := c.Get(touchedCtxKey)
	ids, _ := prev.([]string)
	c.Set(touchedCtxKey, append(ids, patientIDs...))
}

// auditedPatients is patientID (when set) and the patients the handler
// touched, each once.
func auditedPatients(c *gin.Context, patientID string) []string {
	var out []string
	if patientID != "" {
		out = append(out, patientID)
	}
	if v, ok := c.Get(touchedCtxKey); ok {
		ids, _ := v.([]string)
		for _, id := range ids {
			if !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	return out
}
