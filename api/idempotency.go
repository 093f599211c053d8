package api

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/carepath/carepath/codec"
	"github.com/carepath/carepath/config"
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
// Location, body) is stored, sealed (replySealer); a retry gets that
// response again, marked with Idempotent-Replayed: true. The same key with
// another request gets 422; a retry while the first is still running gets
// 409. Keys are scoped to the caller (role and subject), so two callers
// never see each other's. A response of 5xx is not kept: the client may
// retry with the same key. A stored response that does not open (altered,
// moved to another key, or sealed under a key the ring no longer holds) is
// never replayed, and the request is not run again either: 409.
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
		reply, err := s.replies.open(c, scope, key, rec)
		if err != nil {
			s.logger.WarnContext(ctx, "Idempotency reply refused", "route", c.FullPath(), "error", err)
			s.writeError(c, &conflictError{detail: "the first request with this Idempotency-Key finished, but its stored " +
				"response cannot be replayed; check whether it took effect before retrying with a new key"})
			return
		}
		replay(c, rec.Status, reply)
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
		rec = store.IdempotencyRecord{RequestHash: hash, Status: w.Status()}
		rec.Reply, rec.ReplyKeyID, err = s.replies.seal(c, scope, key, rec, storedReply{
			ContentType: w.Header().Get("Content-Type"), Location: w.Header().Get("Location"), Body: w.body.Bytes()})
		if err == nil {
			err = s.store.CompleteIdempotencyKey(done, scope, key, rec)
		}
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
func replay(c *gin.Context, status int, r storedReply) {
	if r.Location != "" {
		c.Header("Location", r.Location)
	}
	c.Header("Idempotent-Replayed", "true")
	c.Data(status, r.ContentType, r.Body)
	c.Abort()
}

// IdempotencyOptions holds the keys stored responses are sealed with.
type IdempotencyOptions struct {
	// Keys is the payload codec's key ring (CAREPATH_CODEC_KEYS) and
	// ActiveKey the one new responses are sealed under. Each key is used
	// only through a key derived from it (replySealer), never as it is.
	// Without keys the router seals under a random key of its own process:
	// replies then do not survive a restart and are not shared between API
	// processes (a retry that reaches another process gets 409). `carepath
	// api` always passes the ring, which it cannot start without.
	Keys      []codec.Key
	ActiveKey string
}

// IdempotencyOptionsFromConfig seals replies under the codec key ring.
func IdempotencyOptionsFromConfig(cfg config.Config) IdempotencyOptions {
	return IdempotencyOptions{Keys: cfg.CodecKeys, ActiveKey: cfg.CodecActiveKey}
}

// storedReply is the part of a first response that is sealed: everything
// but its status. Location is sealed too, since it names the object made.
type storedReply struct {
	ContentType string `json:"content_type"`
	Location    string `json:"location,omitempty"`
	Body        []byte `json:"body"`
}

// replySealer keeps stored responses (which may hold health data) out of
// the database in the clear. Each response is sealed with AES-256-GCM under
// a key derived by HKDF-SHA256 from a codec key, so that the key lives only
// in the API's configuration and a Temporal payload key is never used as it
// is for a second purpose. The caller's scope, the Idempotency-Key, the
// route, the status, the request hash and the key's ID are the associated
// data: a sealed response copied to another key, caller or route, or given
// another status, does not open.
type replySealer struct {
	aeads  map[string]cipher.AEAD
	active string
}

// replyKeyInfo separates the derived keys from any other use of the ring.
const replyKeyInfo = "carepath idempotency replies v1"

func newReplySealer(o IdempotencyOptions, logger *slog.Logger) *replySealer {
	keys, active := o.Keys, o.ActiveKey
	if len(keys) == 0 {
		k, err := codec.GenerateKey("process-local")
		if err != nil {
			panic(fmt.Sprintf("api: idempotency reply key: %v", err)) // crypto/rand never fails on Linux
		}
		keys, active = []codec.Key{k}, k.ID()
		if logger != nil {
			logger.Warn("Idempotency replies sealed under a process-local key: a retry after a restart gets 409")
		}
	}
	r := &replySealer{aeads: map[string]cipher.AEAD{}, active: active}
	for _, k := range keys {
		aead, err := replyAEAD(k)
		if err != nil {
			panic(fmt.Sprintf("api: idempotency reply key %s: %v", k.ID(), err)) // codec.Key holds 32 bytes by construction
		}
		r.aeads[k.ID()] = aead
	}
	return r
}

func replyAEAD(k codec.Key) (cipher.AEAD, error) {
	_, b64, _ := strings.Cut(k.Export(), ":")
	secret, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, err
	}
	derived, err := hkdf.Key(sha256.New, secret, nil, replyKeyInfo, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(derived)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal returns nonce || AES-256-GCM(reply) and the ID of the key used.
func (r *replySealer) seal(c *gin.Context, scope, key string, rec store.IdempotencyRecord, reply storedReply) ([]byte, string, error) {
	aead, ok := r.aeads[r.active]
	if !ok {
		return nil, "", fmt.Errorf("seal idempotency reply: active key %q is not in the ring", r.active)
	}
	plain, err := json.Marshal(reply)
	if err != nil {
		return nil, "", fmt.Errorf("seal idempotency reply: %w", err)
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, "", fmt.Errorf("seal idempotency reply: nonce: %w", err)
	}
	return aead.Seal(nonce, nonce, plain, replyAAD(c, scope, key, rec.Status, r.active, rec.RequestHash)), r.active, nil
}

// open checks and decrypts a reply sealed by seal.
func (r *replySealer) open(c *gin.Context, scope, key string, rec store.IdempotencyRecord) (storedReply, error) {
	aead, ok := r.aeads[rec.ReplyKeyID]
	if !ok {
		return storedReply{}, fmt.Errorf("open idempotency reply: sealed under key %q, which the ring does not hold", rec.ReplyKeyID)
	}
	if len(rec.Reply) < aead.NonceSize() {
		return storedReply{}, errors.New("open idempotency reply: too short")
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, rec.Reply[:n], rec.Reply[n:], replyAAD(c, scope, key, rec.Status, rec.ReplyKeyID, rec.RequestHash))
	if err != nil {
		return storedReply{}, fmt.Errorf("open idempotency reply: %w", err)
	}
	var reply storedReply
	if err := json.Unmarshal(plain, &reply); err != nil {
		return storedReply{}, fmt.Errorf("open idempotency reply: %w", err)
	}
	return reply, nil
}

// replyAAD binds a sealed reply to where it belongs; each part is length
// prefixed, so no two different lists of parts give the same bytes.
func replyAAD(c *gin.Context, scope, key string, status int, keyID string, requestHash []byte) []byte {
	aad := []byte(replyKeyInfo)
	for _, part := range []string{scope, key, c.Request.Method + " " + c.FullPath(), strconv.Itoa(status), keyID, string(requestHash)} {
		aad = binary.AppendUvarint(aad, uint64(len(part)))
		aad = append(aad, part...)
	}
	return aad
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
