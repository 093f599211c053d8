package api

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
	commonpb "go.temporal.io/api/common/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/codec"
	"github.com/carepath/carepath/config"
)

// The codec server: Temporal's remote codec protocol (POST .../encode and
// .../decode, a Payloads message in protobuf's JSON form both ways), so
// that a coordinator's Temporal UI, or `temporal workflow show
// --codec-endpoint`, shows journeys in the clear while the Temporal server
// stores only ciphertext. The UI calls it from the browser, so it answers
// CORS for the UI's origin.
//
// Who may decode: a signed-in coordinator or admin, as Temporal documents
// it for codec servers. The Temporal UI, signed in through CarePath
// (the UI server's auth provider set to CarePath's issuer), forwards the
// user's access token ("codec.passAccessToken: true" in the UI server's
// config, or TEMPORAL_CODEC_PASS_ACCESS_TOKEN=true; the UI sends it only to
// an https endpoint) as "Authorization: Bearer <token>" together with
// X-Namespace. The CLI sends one with --codec-auth "Bearer <token>". The
// token is verified with the same auth.Service as every other route, and
// every decode is written to the audit trail with who asked.

// CodecOptions configure the codec endpoints.
type CodecOptions struct {
	// Codec encrypts and decrypts; nil makes the endpoints answer 503.
	Codec *codec.Codec
	// OpenOnLoopback lets loopback callers without a token in, on the
	// local stack only: the dev server's Temporal UI has no sign-in, so
	// it has no token to pass. Their decodes are audited as the actor
	// "local-loopback". A request that carries a token is always checked.
	OpenOnLoopback bool
	// UIOrigins are the browser origins allowed to call (CORS).
	UIOrigins []string
	// Namespace is the Temporal namespace the keys serve; a request naming
	// another one in X-Namespace is refused.
	Namespace string
}

// CodecOptionsFromConfig wires the codec endpoints from the configuration:
// the Temporal UI's origin (TEMPORAL_UI_URL) and the namespace. Only
// CAREPATH_ENV=local opens them to loopback callers without a token.
// CAREPATH_CODEC_TOKEN, the shared token that used to open them, is no
// longer read: a shared token says nothing about who decoded.
func CodecOptionsFromConfig(cfg config.Config, c *codec.Codec) CodecOptions {
	return CodecOptions{
		Codec: c, OpenOnLoopback: cfg.Env == "local",
		UIOrigins: uiOrigins(cfg.TemporalUIURL), Namespace: cfg.TemporalNamespace,
	}
}

// codecRoles may use the codec: the people who run journeys.
var codecRoles = []string{auth.RoleCoordinator, auth.RoleAdmin}

// localLoopbackActor is the audit trail's name for a token-less loopback
// caller on the local stack (OpenOnLoopback).
var localLoopbackActor = auth.Principal{Subject: "local-loopback", Role: "local"}

// workflowIDHeader optionally names the workflow whose payloads a decode
// request carries. The Temporal UI sends only X-Namespace (its codec
// client knows no workflow), so a UI decode is audited with the namespace
// and the payload count; the CLI can name the workflow with
// --codec-header X-Workflow-Id=<id>. Either way the row says which.
const workflowIDHeader = "X-Workflow-Id"

// uiOrigins is the origin of the UI's URL; on loopback also its other
// spelling, since a browser may open the UI as localhost or as 127.0.0.1.
func uiOrigins(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil
	}
	origins := []string{u.Scheme + "://" + u.Host}
	port := ""
	if u.Port() != "" {
		port = ":" + u.Port()
	}
	switch u.Hostname() {
	case "127.0.0.1":
		origins = append(origins, u.Scheme+"://localhost"+port)
	case "localhost":
		origins = append(origins, u.Scheme+"://127.0.0.1"+port)
	}
	return origins
}

// maxCodecBodyBytes bounds a codec request. Temporal refuses payloads over
// 2 MiB by default, and the UI sends one event's payloads per request.
const maxCodecBodyBytes = 4 << 20

const codecPathPrefix = "/api/codec/"

// bodyLimit is the request body limit for a path: codec requests carry
// whole workflow payloads, every other request is small.
func bodyLimit(path string) int64 {
	if strings.HasPrefix(path, codecPathPrefix) {
		return maxCodecBodyBytes
	}
	if strings.HasPrefix(path, "/api/v1/patients/") && strings.HasSuffix(path, "/documents") {
		return maxDocumentBytes + 64<<10 // the document and its multipart framing
	}
	return maxBodyBytes
}

func (s *Server) codecRoutes(r gin.IRoutes) {
	r.POST(codecPathPrefix+"encode", s.codecEncode)
	r.POST(codecPathPrefix+"decode", s.codecDecode)
	r.OPTIONS(codecPathPrefix+"encode", s.codecPreflight)
	r.OPTIONS(codecPathPrefix+"decode", s.codecPreflight)
}

// codecEncode encrypts payloads with the active key (the UI uses it when a
// coordinator sends a signal or starts a workflow from the UI). It reveals
// nothing, so it is not audited.
func (s *Server) codecEncode(c *gin.Context) {
	s.serveCodec(c, false, func(p []*commonpb.Payload) ([]*commonpb.Payload, error) {
		out, err := s.codec.Codec.Encode(p)
		if err != nil {
			return nil, fmt.Errorf("codec encode: %w", err)
		}
		return out, nil
	})
}

// codecDecode decrypts payloads with the key each one names. The answer is
// sent only once the decode is in the audit trail.
func (s *Server) codecDecode(c *gin.Context) {
	s.serveCodec(c, true, func(p []*commonpb.Payload) ([]*commonpb.Payload, error) {
		out, err := s.codec.Codec.Decode(p)
		if err != nil {
			// The protocol answers a payload that does not decode with 400.
			// Codec errors name the payload's index and key ID, never content.
			return nil, &malformedError{detail: err.Error()}
		}
		return out, nil
	})
}

// serveCodec answers one codec request; audited (decode) means the
// answer leaves only once the decode is in the audit trail.
func (s *Server) serveCodec(c *gin.Context, audited bool, convert func([]*commonpb.Payload) ([]*commonpb.Payload, error)) {
	s.codecCORS(c)
	// Payloads in the clear must never sit in a cache.
	c.Header("Cache-Control", "no-store")
	p, err := s.codecCaller(c, audited)
	if err != nil {
		s.writeError(c, err)
		return
	}
	if err := s.checkCodecRequest(c.Request); err != nil {
		s.writeError(c, err)
		return
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.writeError(c, &malformedError{detail: fmt.Sprintf("the body is larger than %d bytes", tooBig.Limit)})
			return
		}
		s.writeError(c, fmt.Errorf("codec: read body: %w", err))
		return
	}
	var in commonpb.Payloads
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, &in); err != nil {
		s.writeError(c, &malformedError{detail: "the body is not a Payloads message in protobuf JSON form"})
		return
	}
	out, err := convert(in.GetPayloads())
	if err != nil {
		if audited {
			// The request fails either way and returns no plaintext, so a
			// failure to record the attempt is only logged.
			if aerr := s.appendCodecAudit(c, p, len(in.GetPayloads()), http.StatusBadRequest, ""); aerr != nil {
				s.logger.ErrorContext(c.Request.Context(), "Audit append failed for a failed decode", "error", aerr)
			}
		}
		s.writeError(c, err)
		return
	}
	resp, err := protojson.Marshal(&commonpb.Payloads{Payloads: out})
	if err != nil {
		s.writeError(c, fmt.Errorf("codec: marshal payloads: %w", err))
		return
	}
	if audited {
		if err := s.appendCodecAudit(c, p, len(out), http.StatusOK, ""); err != nil {
			s.logger.ErrorContext(c.Request.Context(), "Audit append failed: decoded payloads withheld", "error", err)
			s.writeError(c, &unavailableError{detail: "the decode could not be recorded in the audit trail, so nothing was returned"})
			return
		}
	}
	c.Data(http.StatusOK, "application/json", resp)
}

// codecCaller is who is calling, refused unless a coordinator or admin
// (or, on the local stack, a token-less loopback caller). A refused
// decode by a signed-in user is audited. If the access layer already
// verified the token (principalFrom), its principal is used.
func (s *Server) codecCaller(c *gin.Context, audited bool) (auth.Principal, error) {
	if s.codec.Codec == nil {
		return auth.Principal{}, &unavailableError{detail: "payload encryption is not configured on this server"}
	}
	if audited && s.store == nil {
		return auth.Principal{}, &unavailableError{detail: "the audit trail is not configured on this server, so nothing is decoded"}
	}
	p, ok := principalFrom(c)
	header := c.GetHeader("Authorization")
	switch {
	case ok:
	case header == "" && s.codec.OpenOnLoopback && isLoopback(c.Request.RemoteAddr):
		return localLoopbackActor, nil
	case header == "":
		return auth.Principal{}, &unauthorizedError{detail: "the codec needs a coordinator's or admin's access token as Authorization: Bearer <token> " +
			"(the Temporal UI sends it with codec.passAccessToken; the CLI with --codec-auth)"}
	case s.auth == nil:
		return auth.Principal{}, &unavailableError{detail: "sign-in is not configured on this server"}
	default:
		scheme, token, found := strings.Cut(header, " ")
		if !found || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			return auth.Principal{}, &unauthorizedError{detail: "send the access token as Authorization: Bearer <token>"}
		}
		var err error
		if p, err = s.auth.Verify(c.Request.Context(), strings.TrimSpace(token)); err != nil {
			s.logAccess(c, "deny", "", "", "invalid token")
			return auth.Principal{}, &unauthorizedError{detail: "the access token is invalid or has expired"}
		}
	}
	if !slices.Contains(codecRoles, p.Role) {
		s.logAccess(c, "deny", p.Subject, p.Role, "role not allowed on the codec")
		if audited {
			if err := s.appendCodecAudit(c, p, 0, http.StatusForbidden, "role not allowed on the codec"); err != nil {
				s.logger.ErrorContext(c.Request.Context(), "Audit append failed for a refused decode", "error", err)
			}
		}
		return auth.Principal{}, &forbiddenError{detail: "only a coordinator or an admin may use the codec"}
	}
	s.logAccess(c, "allow", p.Subject, p.Role, "codec role")
	return p, nil
}

// appendCodecAudit writes one audit row for a decode. The payloads are
// ciphertext to everyone but the codec, so the row names no patient; it
// names the caller, the namespace, the payload count and the workflow when
// the request names one (workflowIDHeader), or says it did not.
func (s *Server) appendCodecAudit(c *gin.Context, p auth.Principal, payloads, status int, refused string) error {
	purpose := c.GetHeader(purposeHeader)
	if !slices.Contains(purposes, purpose) {
		purpose = defaultPurpose(p.Role)
	}
	reason := refused
	if reason == "" {
		ns := cmp.Or(c.GetHeader("X-Namespace"), s.codec.Namespace)
		workflow := "workflow not named by the caller"
		if id := c.GetHeader(workflowIDHeader); id != "" {
			workflow = fmt.Sprintf("workflow %q", truncate(id, 200))
		}
		reason = fmt.Sprintf("codec decode: namespace %q, %d payloads, %s", truncate(ns, 100), payloads, workflow)
	}
	e := s.auditEvent(c, p, "", purpose, reason, status)
	e.Action = "read" // a POST, but it reads workflow data
	_, err := s.store.AppendAudit(c.Request.Context(), e)
	return err
}

// truncate cuts a caller-supplied header to n bytes of valid UTF-8, so a
// long one cannot bloat the audit trail.
func truncate(v string, n int) string {
	if len(v) <= n {
		return v
	}
	return strings.ToValidUTF8(v[:n], "") + "..."
}

// checkCodecRequest checks the request's shape once the caller may use
// the codec.
func (s *Server) checkCodecRequest(r *http.Request) error {
	o := s.codec
	if ns := r.Header.Get("X-Namespace"); ns != "" && o.Namespace != "" && ns != o.Namespace {
		return &forbiddenError{detail: fmt.Sprintf("this codec serves namespace %q", o.Namespace)}
	}
	// Requiring JSON also means a browser must send a CORS preflight, which
	// only the UI's origin passes: another site cannot post a form here.
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return &malformedError{detail: "Content-Type must be application/json"}
	}
	return nil
}

// isLoopback looks at the connection's own address, never at forwarding
// headers, which any caller can write.
func isLoopback(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// codecCORS lets the Temporal UI's origin (and no other) read the answers.
func (s *Server) codecCORS(c *gin.Context) bool {
	c.Header("Vary", "Origin")
	origin := c.GetHeader("Origin")
	for _, allowed := range s.codec.UIOrigins {
		if origin == allowed {
			h := c.Writer.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			// The UI can be set to send credentials (cookies) to its codec.
			h.Set("Access-Control-Allow-Credentials", "true")
			return true
		}
	}
	return false
}

// codecPreflight answers the browser's CORS preflight. Browsers send no
// credentials on a preflight, so it is not authorized; the request that
// follows is.
func (s *Server) codecPreflight(c *gin.Context) {
	if !s.codecCORS(c) {
		s.writeError(c, &forbiddenError{detail: "this origin may not call the codec; it answers the Temporal UI (TEMPORAL_UI_URL)"})
		return
	}
	h := c.Writer.Header()
	h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Namespace")
	h.Set("Access-Control-Max-Age", "600")
	c.Status(http.StatusNoContent)
}
