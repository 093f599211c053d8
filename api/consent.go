package api

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/store"
)

// Consent and break glass. The rules themselves live in
// auth.CanSeePatientData, which authorize (access.go) asks on every
// request with the category the route touches (recordCategory and
// friends below).

const (
	consentsRoute      = "/api/v1/patients/:id/consents"
	consentRoute       = "/api/v1/patients/:id/consents/:cid"
	breakGlassRoute    = "/api/v1/patients/:id/break-glass"
	notificationsRoute = "/api/v1/patients/:id/notifications"
	// breakGlassFor is how long an emergency access lasts.
	breakGlassFor = 4 * time.Hour
)

var consentCategories = []string{auth.ConsentAll, "condition", "allergy", "immunization", "observation", "document"}

// listCategory is the category a records listing touches: ?kind=, or the
// whole record.
func listCategory(_ *Server, c *gin.Context) string {
	if k := c.Query("kind"); slices.Contains(consentCategories, k) {
		return k
	}
	return auth.ConsentAll
}

// recordCategory is the kind of the record the path names ("" when there
// is none: the handler answers 404 to whoever may see the whole record).
func recordCategory(s *Server, c *gin.Context) string {
	if s.store == nil || uuid.Validate(c.Param("rid")) != nil || uuid.Validate(c.Param("id")) != nil {
		return auth.ConsentAll
	}
	kind, err := s.store.RecordKind(c.Request.Context(), c.Param("id"), c.Param("rid"))
	if err != nil || kind == "" {
		return auth.ConsentAll
	}
	return kind
}

func documentCategory(*Server, *gin.Context) string { return "document" }

type grantRequest struct {
	PractitionerID string `json:"practitioner_id"`
	OrganizationID string `json:"organization_id"`
	Category       string `json:"category"`
	ExpiresAt      string `json:"expires_at"`
}

func (s *Server) grantConsent(c *gin.Context) {
	var req grantRequest
	if err := decodeStrict(c.Request.Body, &req); err != nil {
		s.writeError(c, err)
		return
	}
	consent := store.Consent{ID: uuid.NewString(), PatientID: c.Param("id"), Category: req.Category}
	var errs []FieldError
	switch {
	case (req.PractitionerID == "") == (req.OrganizationID == ""):
		errs = append(errs, FieldError{Pointer: "/practitioner_id", Detail: "name either a practitioner_id or an organization_id"})
	case req.PractitionerID != "" && uuid.Validate(req.PractitionerID) != nil:
		errs = append(errs, FieldError{Pointer: "/practitioner_id", Detail: "must be a practitioner ID"})
	case req.OrganizationID != "" && uuid.Validate(req.OrganizationID) != nil:
		errs = append(errs, FieldError{Pointer: "/organization_id", Detail: "must be an organization ID"})
	case req.PractitionerID != "":
		consent.PractitionerID = &req.PractitionerID
	default:
		consent.OrganizationID = &req.OrganizationID
	}
	if consent.Category == "" {
		consent.Category = auth.ConsentAll
	}
	if !slices.Contains(consentCategories, consent.Category) {
		errs = append(errs, FieldError{Pointer: "/category", Detail: "must be one of " + strings.Join(consentCategories, ", ")})
	}
	if req.ExpiresAt != "" {
		at, err := time.Parse(time.RFC3339, req.ExpiresAt)
		if err != nil || !at.After(time.Now()) {
			errs = append(errs, FieldError{Pointer: "/expires_at", Detail: "must be an RFC 3339 time in the future"})
		}
		consent.ExpiresAt = &at
	}
	if len(errs) > 0 {
		s.writeError(c, &invalidError{fields: errs})
		return
	}
	saved, err := s.store.GrantConsent(c.Request.Context(), consent)
	if store.IsForeignKeyViolation(err) {
		s.writeError(c, &invalidError{fields: []FieldError{{Pointer: "/practitioner_id", Detail: "no such practitioner or organization"}}})
		return
	}
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusCreated, saved)
}

func (s *Server) listConsents(c *gin.Context) {
	params, err := parseList(c, consentSorts, "-created_at")
	if err != nil {
		s.writeError(c, err)
		return
	}
	items, err := s.store.ListConsents(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, paginate(items, params, consentSorts, func(x store.Consent) string { return x.ID }))
}

var consentSorts = sortKeys[store.Consent]{
	"created_at": func(x store.Consent) string { return x.CreatedAt.UTC().Format(sortableTime) },
}

// revokeConsent ends a consent; the next request of the grantee is
// decided without it.
func (s *Server) revokeConsent(c *gin.Context) {
	if uuid.Validate(c.Param("cid")) != nil {
		s.writeError(c, &notFoundError{detail: "no consent has this ID"})
		return
	}
	saved, err := s.store.RevokeConsent(c.Request.Context(), c.Param("id"), c.Param("cid"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, saved)
}

// breakGlass opens emergency access for breakGlassFor: the doctor states
// why; the access is flagged in the audit trail and the patient notified.
func (s *Server) breakGlass(c *gin.Context) {
	var req struct {
		Reason string `json:"reason"`
	}
	if err := decodeStrict(c.Request.Body, &req); err != nil {
		s.writeError(c, err)
		return
	}
	if len(strings.TrimSpace(req.Reason)) < 20 || len(req.Reason) > 2000 {
		s.writeError(c, &invalidError{fields: []FieldError{{Pointer: "/reason", Detail: "write why emergency access is needed (20 to 2000 characters)"}}})
		return
	}
	p, _ := principalFrom(c)
	exists, err := s.store.PatientExists(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	if !exists {
		s.writeError(c, &notFoundError{detail: "no patient has this ID"})
		return
	}
	b, err := s.store.StartBreakGlass(c.Request.Context(), store.BreakGlass{ID: uuid.NewString(), PatientID: c.Param("id"),
		PractitionerID: p.PractitionerID}, req.Reason, breakGlassFor)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"break_glass": b, "flagged": true, "patient_notified": true})
}

func (s *Server) listNotifications(c *gin.Context) {
	params, err := parseList(c, notificationSorts, "-created_at")
	if err != nil {
		s.writeError(c, err)
		return
	}
	items, err := s.store.PatientNotifications(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, paginate(items, params, notificationSorts, func(x store.Notification) string { return x.ID }))
}

var notificationSorts = sortKeys[store.Notification]{
	"created_at": func(x store.Notification) string { return x.CreatedAt.UTC().Format(sortableTime) },
}
