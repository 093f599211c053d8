package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"
	commonpb "go.temporal.io/api/common/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/carepath/carepath/codec"
	"github.com/carepath/carepath/config"
)

// The codec server: Temporal's remote codec protocol (POST .../encode and
// .../decode, a Payloads message in protobuf's JSON form both ways), so
// that a coordinator's Temporal UI, or `temporal workflow show
// --codec-endpoint`, shows journeys in the clear while the Temporal server
// stores only ciphertext. The UI calls it from the browser, so it answers
// CORS for the UI's origin.

// CodecOptions configure the codec endpoints.
type CodecOptions struct {
	// Codec encrypts and decrypts; nil makes the endpoints answer 503.
	Codec *codec.Codec
	// Token, when set, must come as "Authorization: Bearer <token>".
	Token string
	// OpenOnLoopback lets loopback callers in without a token when Token is
	// empty: the local stack, where the dev UI has no way to send one.
	OpenOnLoopback bool
	// UIOrigins are the browser origins allowed to call (CORS).
	UIOrigins []string
	// Namespace is the Temporal namespace the keys serve; a request naming
	// another one in X-Namespace is refused.
	Namespace string
}

// CodecOptionsFromConfig wires the codec endpoints from the configuration:
// CAREPATH_CODEC_TOKEN, the Temporal UI's origin (TEMPORAL_UI_URL) and the
// namespace. Only CAREPATH_ENV=local opens them to loopback callers without
// a token. The auth issue replaces the token with a coordinator role.
func CodecOptionsFromConfig(cfg config.Config, c *codec.Codec) CodecOptions {
	return CodecOptions{
		Codec: c, Token: cfg.CodecToken, OpenOnLoopback: cfg.Env == "local",
		UIOrigins: uiOrigins(cfg.TemporalUIURL), Namespace: cfg.TemporalNamespace,
	}
}

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
// coordinator sends a signal or starts a workflow from the UI).
func (s *Server) codecEncode(c *gin.Context) {
	s.serveCodec(c, func(p []*commonpb.Payload) ([]*commonpb.Payload, error) {
		out, err := s.codec.Codec.Encode(p)
		if err != nil {
			return nil, fmt.Errorf("codec encode: %w", err)
		}
		return out, nil
	})
}

// codecDecode decrypts payloads with the key each one names.
func (s *Server) codecDecode(c *gin.Context) {
	s.serveCodec(c, func(p []*commonpb.Payload) ([]*commonpb.Payload, error) {
		out, err := s.codec.Codec.Decode(p)
		if err != nil {
			// The protocol answers a payload that does not decode with 400.
			// Codec errors name the payload's index and key ID, never content.
			return nil, &malformedError{detail: err.Error()}
		}
		return out, nil
	})
}

func (s *Server) serveCodec(c *gin.Context, convert func([]*commonpb.Payload) ([]*commonpb.Payload, error)) {
	s.codecCORS(c)
	// Payloads in the clear must never sit in a cache.
	c.Header("Cache-Control", "no-store")
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
		s.writeError(c, err)
		return
	}
	resp, err := protojson.Marshal(&commonpb.Payloads{Payloads: out})
	if err != nil {
		s.writeError(c, fmt.Errorf("codec: marshal payloads: %w", err))
		return
	}
	c.Data(http.StatusOK, "application/json", resp)
}

// checkCodecRequest says whether the caller may use the codec, in the
// order that reveals least: configured at all, authorized, then the shape.
func (s *Server) checkCodecRequest(r *http.Request) error {
	o := s.codec
	if o.Codec == nil {
		return &unavailableError{detail: "payload encryption is not configured on this server"}
	}
	switch {
	case o.Token != "":
		if !bearerMatches(r.Header.Get("Authorization"), o.Token) {
			return &unauthorizedError{detail: "the codec needs an Authorization: Bearer token (CAREPATH_CODEC_TOKEN)"}
		}
	case o.OpenOnLoopback && isLoopback(r.RemoteAddr):
	case o.OpenOnLoopback:
		return &forbiddenError{detail: "without CAREPATH_CODEC_TOKEN the codec answers loopback callers only"}
	default:
		return &forbiddenError{detail: "the codec is closed: set CAREPATH_CODEC_TOKEN to open it to holders of the token"}
	}
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

// bearerMatches compares in constant time; hashing first makes the time
// independent of the lengths too.
func bearerMatches(header, token string) bool {
	scheme, got, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	a, b := sha256.Sum256([]byte(strings.TrimSpace(got))), sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
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
