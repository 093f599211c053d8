package api

import (
	"bytes"
	"crypto/ed25519"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/store"
)

// The audit trail. authorize (access.go) hands every request on a route
// about a patient's data, allowed or denied, to this file: an allowed one
// runs with its response held back until its AuditEvent is in the chain
// (store.AppendAudit), so no health data leaves without a row saying who
// saw it and why. Routes about patients are exactly the routes whose
// routePolicy names a patient, so a new route is audited as soon as it
// gets its policy.

const (
	accessLogRoute   = "/api/v1/patients/:id/access-log"
	auditVerifyRoute = "/api/v1/admin/audit/verify"
	// purposeHeader carries the HL7 PurposeOfUse code of a request
	// (v3-PurposeOfUse). Without it the role's usual purpose is recorded.
	purposeHeader = "X-Purpose-Of-Use"
)

// purposes are the PurposeOfUse codes a caller may state.
var purposes = []string{"TREAT", "ETREAT", "CAREMGT", "PATRQT", "HPAYMT", "HOPERAT", "PUBHLTH", "HRESCH"}

func defaultPurpose(role string) string {
	switch role {
	case auth.RolePatient:
		return "PATRQT" // the patient's own request
	case auth.RoleDoctor, auth.RoleDietitian:
		return "TREAT"
	case auth.RoleCoordinator:
		return "CAREMGT"
	default:
		return "HOPERAT"
	}
}

// purposeOf is the request's stated purpose, or the role's default
// (emergency treatment for a break-glass request).
func purposeOf(c *gin.Context, role string, emergency bool) (string, error) {
	v := c.GetHeader(purposeHeader)
	if v == "" && emergency {
		return "ETREAT", nil
	}
	if v == "" {
		return defaultPurpose(role), nil
	}
	if !slices.Contains(purposes, v) {
		return "", &parameterError{name: purposeHeader,
			detail: "must be an HL7 PurposeOfUse code: one of TREAT, ETREAT, CAREMGT, PATRQT, HPAYMT, HOPERAT, PUBHLTH, HRESCH"}
	}
	return v, nil
}

func actionOf(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead:
		return "read"
	case http.MethodPut, http.MethodPatch:
		return "update"
	case http.MethodDelete:
		return "delete"
	default:
		return "create"
	}
}

func outcomeOf(status int) string {
	switch {
	case status < 400:
		return "success"
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return "denied"
	default:
		return "failure"
	}
}

func (s *Server) auditEvent(c *gin.Context, p auth.Principal, patientID, purpose, reason string, status int) store.AuditEvent {
	return store.AuditEvent{ActorID: p.ActorID(), ActorRole: p.Role, Action: actionOf(c.Request.Method),
		Route: c.Request.Method + " " + c.FullPath(), Path: c.Request.URL.Path, PatientID: patientID,
		Outcome: outcomeOf(status), Status: status, Purpose: purpose, Reason: reason}
}

// auditDenied records a refused attempt on a patient's data. The request is
// refused either way; a failure to record it is logged.
func (s *Server) auditDenied(c *gin.Context, p auth.Principal, patientID, purpose, reason string) {
	if s.store == nil {
		return
	}
	if _, err := s.store.AppendAudit(c.Request.Context(), s.auditEvent(c, p, patientID, purpose, reason, http.StatusForbidden)); err != nil {
		s.logger.ErrorContext(c.Request.Context(), "Audit append failed for a denied request", "route", c.FullPath(), "error", err)
	}
}

// auditRefusedRole records a refusal by role or scope on a route about a
// patient, so the patient sees attempts by roles that may never see their
// data too. A request naming no valid patient records nothing.
func (s *Server) auditRefusedRole(c *gin.Context, policy routePolicy, p auth.Principal, reason string) {
	if policy.patient == nil {
		return
	}
	patientID, err := policy.patient.resolve(c)
	if err != nil {
		return
	}
	purpose := c.GetHeader(purposeHeader)
	if !slices.Contains(purposes, purpose) {
		purpose = defaultPurpose(p.Role)
	}
	s.auditDenied(c, p, patientID, purpose, reason)
}

// serveAudited runs the handler with its response held back, appends an
// AuditEvent for patientID (when set) and one for each patient the handler
// said it touched (touchedPatients), and only then sends the response. If
// an event cannot be appended the caller gets 503 and no data. (A write
// the handler committed stays committed; the caller is told to check
// before retrying.)
func (s *Server) serveAudited(c *gin.Context, p auth.Principal, patientID, purpose, reason string) {
	if s.store == nil {
		s.writeError(c, &unavailableError{detail: "the audit trail is not configured on this server"})
		return
	}
	orig := c.Writer
	held := &heldResponse{ResponseWriter: orig, status: http.StatusOK}
	c.Writer = held
	c.Next()
	c.Writer = orig
	for _, id := range auditedPatients(c, patientID) {
		if _, err := s.store.AppendAudit(c.Request.Context(), s.auditEvent(c, p, id, purpose, reason, held.status)); err != nil {
			s.logger.ErrorContext(c.Request.Context(), "Audit append failed: response withheld", "route", c.FullPath(), "error", err)
			s.writeError(c, &unavailableError{detail: "the access could not be recorded in the audit trail, so nothing was returned; " +
				"if this was a change, read the record before retrying"})
			return
		}
	}
	held.release()
}

// heldResponse buffers a handler's response until release.
type heldResponse struct {
	gin.ResponseWriter
	status  int
	written bool
	body    bytes.Buffer
}

func (w *heldResponse) WriteHeader(code int) {
	if code > 0 && !w.written {
		w.status = code
	}
}
func (w *heldResponse) WriteHeaderNow()             { w.written = true }
func (w *heldResponse) Write(b []byte) (int, error) { w.written = true; return w.body.Write(b) }
func (w *heldResponse) WriteString(s string) (int, error) {
	w.written = true
	return w.body.WriteString(s)
}
func (w *heldResponse) Status() int   { return w.status }
func (w *heldResponse) Size() int     { return w.body.Len() }
func (w *heldResponse) Written() bool { return w.written }
func (w *heldResponse) Flush()        {}
func (w *heldResponse) release()      { w.ResponseWriter.WriteHeader(w.status); w.flushBody() }
func (w *heldResponse) flushBody() {
	w.ResponseWriter.WriteHeaderNow()
	_, _ = w.ResponseWriter.Write(w.body.Bytes())
}

// accessLogEntry is one line of a patient's access log.
type accessLogEntry struct {
	At      string `json:"at"`
	Actor   string `json:"actor_id"`
	Role    string `json:"actor_role"`
	Action  string `json:"action"`
	Route   string `json:"route"`
	Outcome string `json:"outcome"`
	Purpose string `json:"purpose"`
	Reason  string `json:"reason"`
}

// patientAccessLog lists who read or changed the patient's data, when and
// why, newest first: ?limit= (1 to 100, default 50) and ?cursor= (the
// next_cursor of the page before).
func (s *Server) patientAccessLog(c *gin.Context) {
	limit, before, err := pageParams(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	events, err := s.store.PatientAccessLog(c.Request.Context(), c.Param("id"), before, limit)
	if err != nil {
		s.writeError(c, err)
		return
	}
	out := struct {
		Items      []accessLogEntry `json:"items"`
		NextCursor string           `json:"next_cursor,omitempty"`
	}{Items: make([]accessLogEntry, 0, len(events))}
	for _, e := range events {
		out.Items = append(out.Items, accessLogEntry{At: e.OccurredAt.Format("2006-01-02T15:04:05.000000Z07:00"),
			Actor: e.ActorID, Role: e.ActorRole, Action: e.Action, Route: e.Route, Outcome: e.Outcome, Purpose: e.Purpose, Reason: e.Reason})
	}
	if len(events) == limit {
		out.NextCursor = strconv.FormatInt(events[len(events)-1].Seq, 10)
	}
	c.JSON(http.StatusOK, out)
}

// pageParams reads ?limit= and ?cursor= (a seq: rows older than it).
func pageParams(c *gin.Context) (int, int64, error) {
	limit := 50
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return 0, 0, &invalidError{fields: []FieldError{{Pointer: "query:limit", Detail: "must be a whole number from 1 to 100"}}}
		}
		limit = n
	}
	var before int64
	if v := c.Query("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return 0, 0, &invalidError{fields: []FieldError{{Pointer: "query:cursor", Detail: "must be the next_cursor of an earlier page"}}}
		}
		before = n
	}
	return limit, before, nil
}

// AuditOptions configure the audit verify endpoint: where the signed
// checkpoints are and how to judge them (store.VerifyAuditCheckpoints).
type AuditOptions struct {
	// Checkpoints is the second store the API exports signed heads to;
	// nil makes the verify endpoint answer 503.
	Checkpoints store.CheckpointStore
	// VerifyKey is the checkpoint signing key's public half.
	VerifyKey ed25519.PublicKey
	// MaxAge is twice the export interval: a non-empty chain with no
	// newer checkpoint fails verification.
	MaxAge time.Duration
}

// verifyAudit checks the whole chain against the signed checkpoints and
// names the first broken row, or what is wrong with the checkpoints.
func (s *Server) verifyAudit(c *gin.Context) {
	if s.store == nil || s.audit.Checkpoints == nil {
		s.writeError(c, &unavailableError{detail: "the audit trail or its checkpoint store is not configured on this server"})
		return
	}
	report, err := s.store.VerifyAuditCheckpoints(c.Request.Context(), s.audit.Checkpoints,
		store.CheckpointPolicy{Key: s.audit.VerifyKey, MaxAge: s.audit.MaxAge})
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, report)
}
