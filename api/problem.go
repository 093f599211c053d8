package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/workflows"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgconn"
	"go.temporal.io/api/serviceerror"

	"github.com/carepath/carepath/store"
)

// Problem is an RFC 9457 problem details document.
type Problem struct {
	Type     string       `json:"type"`
	Title    string       `json:"title"`
	Status   int          `json:"status"`
	Detail   string       `json:"detail,omitempty"`
	Instance string       `json:"instance,omitempty"`
	Errors   []FieldError `json:"errors,omitempty"`
}

// FieldError names the request field at fault: Pointer is a JSON Pointer
// (RFC 6901) into the request body, or Parameter names the query parameter
// or header.
type FieldError struct {
	Pointer   string `json:"pointer,omitempty"`
	Parameter string `json:"parameter,omitempty"`
	Detail    string `json:"detail"`
}

const problemBase = "https://carepath.dev/problems/"

// Errors the handlers return; writeError maps each kind to its status.
type (
	// invalidError: the request is well-formed but its fields are wrong (422).
	invalidError struct{ fields []FieldError }
	// malformedError: the body is not the JSON we accept (400).
	malformedError struct{ detail string }
	// conflictError: the request collides with existing state (409).
	conflictError struct{ detail string }
	// notFoundError: the addressed object does not exist (404).
	notFoundError struct{ detail string }
	// unauthorizedError: the request carries no valid credentials (401).
	unauthorizedError struct{ detail string }
	// forbiddenError: the caller may not do this (403).
	forbiddenError struct{ detail string }
	// unavailableError: this server is not set up to do this (503).
	unavailableError struct{ detail string }
	// signatureError: a webhook whose provider signature does not verify (400).
	signatureError struct{ detail string }
	// parameterError: a query parameter or header is wrong (400).
	parameterError struct{ name, detail string }
	// keyReusedError: an Idempotency-Key sent again with another request (422).
	keyReusedError struct{}
	// keyInFlightError: the first request with this Idempotency-Key is still running (409).
	keyInFlightError struct{}
	// rateLimitedError: the caller sent too many requests (429).
	rateLimitedError struct{ retryAfter int }
)

func (e *invalidError) Error() string      { return "invalid request" }
func (e *malformedError) Error() string    { return e.detail }
func (e *conflictError) Error() string     { return e.detail }
func (e *notFoundError) Error() string     { return e.detail }
func (e *unauthorizedError) Error() string { return e.detail }
func (e *forbiddenError) Error() string    { return e.detail }
func (e *unavailableError) Error() string  { return e.detail }
func (e *signatureError) Error() string    { return e.detail }
func (e *parameterError) Error() string    { return e.name + ": " + e.detail }
func (e *keyReusedError) Error() string    { return "idempotency key reused" }
func (e *keyInFlightError) Error() string  { return "idempotency key in flight" }
func (e *rateLimitedError) Error() string  { return "rate limited" }

// journeyErrorStatus maps the journey workflow's stable error types.
var journeyErrorStatus = map[string]int{
	workflows.ErrTypeNotAllowed:       http.StatusForbidden,
	workflows.ErrTypeNotAwaitingThat:  http.StatusConflict,
	workflows.ErrTypeJourneyNotActive: http.StatusConflict,
	workflows.ErrTypeInvalidMessage:   http.StatusUnprocessableEntity,
	// Raised by the activities an update runs.
	contract.ErrTypeSlotUnavailable:            http.StatusConflict,
	contract.ErrTypeSlotNotFound:               http.StatusUnprocessableEntity,
	contract.ErrTypeRescheduleOutOfPolicy:      http.StatusUnprocessableEntity,
	contract.ErrTypeNotAppointmentPractitioner: http.StatusForbidden,
}

// writeError is the one place where an error becomes an HTTP status.
func (s *Server) writeError(c *gin.Context, err error) {
	var (
		invalid   *invalidError
		malformed *malformedError
		conflict  *conflictError
		notFound  *notFoundError
		unauth    *unauthorizedError
		forbidden *forbiddenError
		unavail   *unavailableError
		badSig    *signatureError
		started   *serviceerror.WorkflowExecutionAlreadyStarted
		tNotFound *serviceerror.NotFound
		appErr    *temporal.ApplicationError
		oauthErr  *oauthError
		param     *parameterError
		limited   *rateLimitedError
		pgErr     *pgconn.PgError
	)
	if errors.As(err, &oauthErr) {
		s.writeOAuthError(c, oauthErr)
		return
	}
	p := Problem{Instance: c.Request.URL.Path}
	switch {
	case errors.As(err, &appErr) && journeyErrorStatus[appErr.Type()] != 0:
		// A journey refused a message: the validator's words are the detail.
		p.Status, p.Type, p.Title, p.Detail = journeyErrorStatus[appErr.Type()], "journey-"+strings.ToLower(appErr.Type()), "The journey refused this request", appErr.Message()
	case errors.As(err, &invalid):
		p.Status, p.Type, p.Title = http.StatusUnprocessableEntity, "validation", "The request has invalid fields"
		p.Errors = invalid.fields
		p.Detail = cmp.Or(invalid.fields[0].Pointer, invalid.fields[0].Parameter) + ": " + invalid.fields[0].Detail
	case errors.As(err, &param):
		p.Status, p.Type, p.Title, p.Detail = http.StatusBadRequest, "invalid-parameter", "A parameter is invalid", param.name+": "+param.detail
		p.Errors = []FieldError{{Parameter: param.name, Detail: param.detail}}
	case errors.As(err, new(*keyReusedError)):
		p.Status, p.Type, p.Title = http.StatusUnprocessableEntity, "idempotency-key-reused", "This Idempotency-Key was used for another request"
		p.Detail = "the key was first sent with another method, path or body; use a new key for a new request"
		p.Errors = []FieldError{{Parameter: idempotencyHeader, Detail: "was used for another request"}}
	case errors.As(err, new(*keyInFlightError)):
		p.Status, p.Type, p.Title = http.StatusConflict, "idempotency-key-in-flight", "The first request with this Idempotency-Key is still running"
		p.Detail = "retry after it finishes to get its response"
		c.Header("Retry-After", "1")
	case errors.As(err, &limited):
		p.Status, p.Type, p.Title = http.StatusTooManyRequests, "rate-limited", "Too many requests"
		p.Detail = fmt.Sprintf("retry after %d seconds", limited.retryAfter)
		c.Header("Retry-After", strconv.Itoa(limited.retryAfter))
	case errors.As(err, &malformed):
		p.Status, p.Type, p.Title, p.Detail = http.StatusBadRequest, "malformed-request", "The request body cannot be read", malformed.detail
	case errors.As(err, &conflict):
		p.Status, p.Type, p.Title, p.Detail = http.StatusConflict, "conflict", "The request conflicts with existing state", conflict.detail
	case errors.As(err, &started):
		p.Status, p.Type, p.Title, p.Detail = http.StatusConflict, "journey-exists", "This journey has already been started", "a journey with this patient, pathway and episode exists; use another episode for a new journey"
	case errors.As(err, &notFound):
		p.Status, p.Type, p.Title, p.Detail = http.StatusNotFound, "not-found", "Not found", notFound.detail
	case errors.As(err, &unauth):
		p.Status, p.Type, p.Title, p.Detail = http.StatusUnauthorized, "unauthorized", "Credentials are missing or wrong", unauth.detail
		c.Header("WWW-Authenticate", `Bearer realm="carepath"`)
	case errors.Is(err, auth.ErrInvalidCredentials):
		p.Status, p.Type, p.Title, p.Detail = http.StatusUnauthorized, "invalid-credentials", "Credentials are missing or wrong", "the email and password, or the phone and code, do not match"
	case errors.Is(err, auth.ErrTooManyAttempts):
		p.Status, p.Type, p.Title, p.Detail = http.StatusTooManyRequests, "too-many-attempts", "Too many attempts", "request a new code"
	case errors.Is(err, auth.ErrSMSUnavailable):
		p.Status, p.Type, p.Title, p.Detail = http.StatusServiceUnavailable, "unavailable", "Not available on this server", "sign-in by SMS code is not configured"
	case errors.As(err, &forbidden):
		p.Status, p.Type, p.Title, p.Detail = http.StatusForbidden, "forbidden", "Not allowed", forbidden.detail
	case errors.As(err, &badSig):
		p.Status, p.Type, p.Title, p.Detail = http.StatusBadRequest, "bad-signature", "The request signature does not verify", badSig.detail
		s.logger.WarnContext(c.Request.Context(), "Webhook signature refused", "route", c.FullPath())
	case errors.As(err, &unavail):
		p.Status, p.Type, p.Title, p.Detail = http.StatusServiceUnavailable, "unavailable", "Not available on this server", unavail.detail
	case errors.As(err, &pgErr) && strings.HasPrefix(pgErr.Code, "22"):
		// A data exception: a value the database cannot take (a NUL byte,
		// text that is not UTF-8, a number out of range). The handler's own
		// checks name fields; this net keeps what slips past them a 422.
		p.Status, p.Type, p.Title = http.StatusUnprocessableEntity, "validation", "The request has invalid fields"
		p.Detail = "a value in the request cannot be stored (text with a NUL byte or not UTF-8, or a number out of range)"
	case errors.As(err, &pgErr) && pgErr.Code == "23503":
		p.Status, p.Type, p.Title = http.StatusUnprocessableEntity, "validation", "The request has invalid fields"
		p.Detail = "the request refers to an object that does not exist"
	case errors.Is(err, store.ErrNotFound), errors.As(err, &tNotFound):
		p.Status, p.Type, p.Title, p.Detail = http.StatusNotFound, "not-found", "Not found", "no such object"
	case errors.Is(err, context.DeadlineExceeded):
		p.Status, p.Type, p.Title, p.Detail = http.StatusGatewayTimeout, "timeout", "A dependency did not answer in time", "try again later"
		s.logger.WarnContext(c.Request.Context(), "Request timed out", "route", c.FullPath(), "error", err)
	case temporalBusy(err):
		// Temporal's frontend, or a worker answering a query or an update,
		// did not answer in time or shed load: nothing was decided, and the
		// caller may try again.
		c.Header("Retry-After", "5")
		p.Status, p.Type, p.Title, p.Detail = http.StatusServiceUnavailable, "unavailable", "Not available right now",
			"the journey engine did not answer in time; try again shortly"
		s.logger.WarnContext(c.Request.Context(), "Temporal did not answer in time", "route", c.FullPath(), "error", err)
	default:
		p.Status, p.Type, p.Title, p.Detail = http.StatusInternalServerError, "internal", "Internal error", "the error has been logged"
		s.logger.ErrorContext(c.Request.Context(), "Request failed", "route", c.FullPath(), "error", err)
	}
	p.Type = problemBase + p.Type
	writeProblem(c, p)
}

// writeOAuthError answers a token endpoint error in RFC 6749's format
// (section 5.2): 401 for a client that fails to authenticate, 400 otherwise.
func (s *Server) writeOAuthError(c *gin.Context, e *oauthError) {
	status := http.StatusBadRequest
	if e.code == "invalid_client" {
		status = http.StatusUnauthorized
		c.Header("WWW-Authenticate", `Basic realm="carepath"`)
	}
	if e.err != nil && !errors.Is(e.err, auth.ErrInvalidCredentials) && !errors.Is(e.err, auth.ErrInvalidScope) &&
		!errors.Is(e.err, auth.ErrInvalidToken) && !errors.Is(e.err, auth.ErrRefreshReused) {
		s.logger.WarnContext(c.Request.Context(), "Token request refused", "error", e.err)
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(status, gin.H{"error": e.code, "error_description": e.detail})
	c.Abort()
}

func writeProblem(c *gin.Context, p Problem) {
	c.Header("Content-Type", "application/problem+json")
	c.Render(p.Status, problemRender{p})
	c.Abort()
}

// temporalBusy reports whether err is Temporal saying it could not answer
// now: a deadline, an unavailable frontend, or load shedding.
func temporalBusy(err error) bool {
	var (
		deadline  *serviceerror.DeadlineExceeded
		unavail   *serviceerror.Unavailable
		exhausted *serviceerror.ResourceExhausted
	)
	if errors.As(err, &deadline) || errors.As(err, &unavail) || errors.As(err, &exhausted) {
		return true
	}
	switch status.Code(err) { // FromError unwraps to the gRPC status
	case codes.DeadlineExceeded, codes.Unavailable:
		return true
	}
	return false
}
