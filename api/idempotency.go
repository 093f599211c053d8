package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/carepath/carepath/store"
)

const idempotencyHeader = "Idempotency-Key"

// idempotentRoutes are the POST routes that create something (a journey, a
// booking, a doctor's decision, consult notes, a signed prescription, a
// cancellation with its refund), so that a retried request must not create
// it twice. They honour an Idempotency-Key header. Not listed, on purpose:
// sign-in and token routes (a replay would store bearer tokens), the SMS
// code route (rate limited instead), webhooks (deduplicated by the
// provider's event ID), and routes that only compute an answer (predict,
// interactions:check, the codec).
var idempotentRoutes = map[string]bool{
	"POST /api/v1/journeys":                   true,
	"POST /api/v1/journeys/:id/decisions":     true,
	"POST /api/v1/journeys/:id/cancel":        true,
	"POST /api/v1/journeys/:id/reschedule":    true,
	"POST /api/v1/journeys/:id/consult/close": true,
	"POST " + prescriptionReviewRoute:         true,
	"POST " + labResultsRoute:                 true,
	"POST " + journeyReadingsRt:               true,
	"POST " + dietReviewRoute:                 true,
	"POST " + dietMealsRoute:                  true,
	"POST " + adherenceDosesRoute:             true,
	"POST " + adherenceRefillRoute:            true,
	"POST " + recordsRoute:                    true,
	"POST " + documentsRoute:                  true,
	"POST " + keysRoute:                       true,
	"POST " + consentsRoute:                   true,
	"POST " + breakGlassRoute:                 true,
	// HealthLink
	"POST " + hlBookPath:       true,
	"POST " + hlCancelPath:     true,
	"POST " + hlAcceptPath:     true,
	"POST " + hlRejectPath:     true,
	"POST " + hlWithdrawPath:   true,
	"POST " + hlPurchasePath:   true,
	"POST " + bookLabTestRoute: true,
}

// How long a first request holds its key (longer than the server's write
// timeout; a claim left by a crashed API lapses after it), and how long a
// response is replayed.
const (
	idempotencyLock = 2 * time.Minute
	idempotencyKeep = 24 * time.Hour
	maxKeyLength    = 255
)

// idempotency makes the routes in idempotentRoutes safe to retry. The first
// request with a key claims it in PostgreSQL with a hash of the method,
// route, path, caller and body, and its response (status, content type,
// Location, body) is stored; a retry gets that response again, marked with
// Idempotent-Replayed: true. The same key with another request gets 422; a
// retry while the first is still running gets 409. Keys are scoped to the
// caller (role and subject), so two callers never see each other's. A
// response of 5xx is not kept: the client may retry with the same key.
func (s *Server) idempotency(c *gin.Context) {
	key := c.GetHeader(idempotencyHeader)
	if key == "" || s.store == nil || !idempotentRoutes[c.Request.Method+" "+c.FullPath()] {
		c.Next()
		return
	}
	if err := checkIdempotencyKey(key); err != nil {
		s.writeError(c, err)
		return
	}
	p, _ := principalFrom(c)
	scope := p.Role + ":" + p.Subject
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		s.writeError(c, bodyReadError(err))
		return
	}
	c.Request.Body = io.NopCloser(bytes.NewReader(body))
	hash := requestHash(c, scope, body)
	ctx := c.Request.Context()
	rec, claimed, err := s.store.ClaimIdempotencyKey(ctx, scope, key, hash, idempotencyLock, idempotencyKeep)
	switch {
	case err != nil:
		s.writeError(c, err)
		return
	case !claimed && !bytes.Equal(rec.RequestHash, hash):
		s.writeError(c, &keyReusedError{})
		return
	case !claimed && rec.InFlight():
		s.writeError(c, &keyInFlightError{})
		return
	case !claimed:
		replay(c, rec)
		return
	}
	w := &recordingWriter{ResponseWriter: c.Writer}
	c.Writer = w
	c.Next()
	// The request is over; storing its outcome must not depend on the
	// client still waiting.
	done := context.WithoutCancel(ctx)
	if w.Status() >= http.StatusInternalServerError {
		err = s.store.ReleaseIdempotencyKey(done, scope, key)
	} else {
		err = s.store.CompleteIdempotencyKey(done, scope, key, store.IdempotencyRecord{Status: w.Status(),
			ContentType: w.Header().Get("Content-Type"), Location: w.Header().Get("Location"), Body: w.body.Bytes()})
	}
	if err != nil {
		s.logger.ErrorContext(ctx, "Idempotency key not recorded", "route", c.FullPath(), "error", err)
	}
}

func checkIdempotencyKey(key string) error {
	if len(key) > maxKeyLength {
		return &parameterError{name: idempotencyHeader, detail: fmt.Sprintf("must be at most %d characters", maxKeyLength)}
	}
	for _, r := range key {
		if r < 0x21 || r > 0x7e {
			return &parameterError{name: idempotencyHeader, detail: "must be printable ASCII without spaces (a UUID is a good key)"}
		}
	}
	return nil
}

// requestHash is what makes two requests "the same" for a key.
func requestHash(c *gin.Context, scope string, body []byte) []byte {
	h := sha256.New()
	for _, part := range []string{c.Request.Method, c.FullPath(), c.Request.URL.Path, scope} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	h.Write(body)
	return h.Sum(nil)
}

// replay answers with the stored first response.
func replay(c *gin.Context, rec store.IdempotencyRecord) {
	if rec.Location != "" {
		c.Header("Location", rec.Location)
	}
	c.Header("Idempotent-Replayed", "true")
	c.Data(rec.Status, rec.ContentType, rec.Body)
	c.Abort()
}

// bodyReadError is the problem for a body that cannot be read.
func bodyReadError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &malformedError{detail: fmt.Sprintf("the body is larger than %d bytes", tooBig.Limit)}
	}
	return &malformedError{detail: "the body could not be read"}
}

// recordingWriter keeps a copy of the response body.
type recordingWriter struct {
	gin.ResponseWriter
	body bytes.Buffer
}

func (w *recordingWriter) Write(b []byte) (int, error) {
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}

func (w *recordingWriter) WriteString(s string) (int, error) {
	w.body.WriteString(s)
	return w.ResponseWriter.WriteString(s)
}
