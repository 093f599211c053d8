package api

import (
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/workflows"
)

// Public identity routes.
const (
	jwksPath        = "/.well-known/jwks.json"
	oauthTokenPath  = "/oauth/token"
	signInPath      = "/api/v1/auth/sign-in"
	smsCodePath     = "/api/v1/auth/sms-code"
	smsCodeVerify   = "/api/v1/auth/sms-code/verify"
	principalCtxKey = "carepath.principal"
)

func (s *Server) authRoutes(r gin.IRoutes) {
	r.GET(jwksPath, s.jwks)
	r.POST(oauthTokenPath, s.oauthToken)
	r.POST(signInPath, s.signIn)
	r.POST(smsCodePath, s.requestSMSCode)
	r.POST(smsCodeVerify, s.verifySMSCode)
}

// actorFrom is who is acting, from the access token the authorize
// middleware verified.
// actorAndBody reads who is acting and the request's JSON body (unknown
// fields refused) into body. On failure it has written the problem and
// answers false.
func (s *Server) actorAndBody(c *gin.Context, body any) (workflows.Actor, bool) {
	actor, err := actorFrom(c)
	if err == nil {
		err = decodeStrict(c.Request.Body, body)
	}
	if err != nil {
		s.writeError(c, err)
		return actor, false
	}
	return actor, true
}

func actorFrom(c *gin.Context) (workflows.Actor, error) {
	p, ok := principalFrom(c)
	if !ok {
		return workflows.Actor{}, &unauthorizedError{detail: "sign in and send the access token as Authorization: Bearer <token>"}
	}
	return workflows.Actor{ID: p.ActorID(), Role: p.Role}, nil
}

func principalFrom(c *gin.Context) (auth.Principal, bool) {
	v, ok := c.Get(principalCtxKey)
	if !ok {
		return auth.Principal{}, false
	}
	p, ok := v.(auth.Principal)
	return p, ok
}

func (s *Server) jwks(c *gin.Context) {
	if s.auth == nil {
		s.writeError(c, &unavailableError{detail: "sign-in is not configured on this server"})
		return
	}
	set, err := s.auth.JWKS(c.Request.Context())
	if err != nil {
		s.writeError(c, err)
		return
	}
	// Verifiers may cache the set briefly; a rotated-in key is published
	// before it signs anything only after this age, so keep it short.
	c.Header("Cache-Control", "public, max-age=300")
	c.JSON(http.StatusOK, set)
}

// oauthError carries an OAuth 2.0 token endpoint error (RFC 6749 section
// 5.2), which writeError renders in that RFC's format rather than as a
// problem document, since OAuth clients parse it.
type oauthError struct {
	code   string // invalid_request, invalid_client, invalid_grant, unsupported_grant_type, invalid_scope
	detail string
	err    error
}

func (e *oauthError) Error() string { return e.code + ": " + e.detail }
func (e *oauthError) Unwrap() error { return e.err }

// oauthToken is the token endpoint: client_credentials for integrators and
// refresh_token for everyone who signed in. Form-encoded, as RFC 6749 says.
func (s *Server) oauthToken(c *gin.Context) {
	if s.auth == nil {
		s.writeError(c, &unavailableError{detail: "sign-in is not configured on this server"})
		return
	}
	if err := c.Request.ParseForm(); err != nil {
		s.writeError(c, &oauthError{code: "invalid_request", detail: "the body must be application/x-www-form-urlencoded", err: err})
		return
	}
	form := c.Request.PostForm
	ctx := c.Request.Context()
	var (
		tokens auth.Tokens
		err    error
		// Failed client secrets count against the client and the address,
		// failed refresh tokens (which name no account) against the address.
		sub    = signInSubject{address: c.ClientIP()}
		failed bool
	)
	switch form.Get("grant_type") {
	case "client_credentials":
		id, secret, basic := c.Request.BasicAuth()
		if !basic {
			id, secret = form.Get("client_id"), form.Get("client_secret")
		}
		if id == "" || secret == "" {
			s.writeError(c, &oauthError{code: "invalid_client", detail: "send client_id and client_secret (HTTP Basic or form)"})
			return
		}
		sub.account = clientAccount(id)
		if !s.signInAllowed(c, sub) {
			return
		}
		tokens, err = s.auth.ClientCredentials(ctx, id, secret, strings.Fields(form.Get("scope")))
		switch {
		case errors.Is(err, auth.ErrInvalidCredentials):
			failed = true
			err = &oauthError{code: "invalid_client", detail: "unknown client or wrong secret", err: err}
		case errors.Is(err, auth.ErrInvalidScope):
			err = &oauthError{code: "invalid_scope", detail: "a scope asked for is not granted to this client", err: err}
		}
		s.logger.InfoContext(ctx, "Token request", "grant", "client_credentials", "subject", id, "granted", err == nil)
	case "refresh_token":
		if !s.signInAllowed(c, sub) {
			return
		}
		tokens, err = s.auth.Refresh(ctx, form.Get("refresh_token"))
		if errors.Is(err, auth.ErrInvalidToken) || errors.Is(err, auth.ErrRefreshReused) {
			failed = true
			err = &oauthError{code: "invalid_grant", detail: "the refresh token is invalid, expired, revoked or already used", err: err}
		}
	default:
		err = &oauthError{code: "unsupported_grant_type", detail: "grant_type must be client_credentials or refresh_token"}
	}
	if failed {
		s.signInFailed(c, sub)
	}
	if err != nil {
		s.writeError(c, err)
		return
	}
	s.signInSucceeded(c, sub)
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, tokens)
}

type signInBody struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// signIn exchanges an email and password for tokens. Failures back off
// per account and per address (ratelimit.go): past the threshold every
// attempt is refused 429 for a lock that doubles with each failure.
func (s *Server) signIn(c *gin.Context) {
	if s.auth == nil {
		s.writeError(c, &unavailableError{detail: "sign-in is not configured on this server"})
		return
	}
	var body signInBody
	if err := decodeStrict(c.Request.Body, &body); err != nil {
		s.writeError(c, err)
		return
	}
	if body.Email == "" || body.Password == "" {
		s.writeError(c, &invalidError{fields: requiredFields(map[string]string{"/email": body.Email, "/password": body.Password})})
		return
	}
	sub := signInSubject{account: emailAccount(body.Email), address: c.ClientIP()}
	if !s.signInAllowed(c, sub) {
		return
	}
	tokens, err := s.auth.SignInPassword(c.Request.Context(), body.Email, body.Password)
	if errors.Is(err, auth.ErrInvalidCredentials) {
		s.signInFailed(c, sub)
	}
	if err != nil {
		s.writeError(c, err)
		return
	}
	s.signInSucceeded(c, sub)
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, tokens)
}

type smsCodeBody struct {
	Phone string `json:"phone"`
	Code  string `json:"code,omitempty"`
}

// requestSMSCode texts a one-time code to a registered phone. It answers
// 202 whether or not the number is registered.
func (s *Server) requestSMSCode(c *gin.Context) {
	if s.auth == nil {
		s.writeError(c, &unavailableError{detail: "sign-in is not configured on this server"})
		return
	}
	var body struct {
		Phone string `json:"phone"`
	}
	if err := decodeStrict(c.Request.Body, &body); err != nil {
		s.writeError(c, err)
		return
	}
	if body.Phone == "" {
		s.writeError(c, &invalidError{fields: []FieldError{{Pointer: "/phone", Detail: "is required"}}})
		return
	}
	if !s.limitPhone(c, body.Phone) {
		return
	}
	if err := s.auth.RequestCode(c.Request.Context(), body.Phone); err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"status": "sent", "expires_in": int(auth.CodeTTL.Seconds())})
}

// verifySMSCode exchanges a phone and its code for tokens.
func (s *Server) verifySMSCode(c *gin.Context) {
	if s.auth == nil {
		s.writeError(c, &unavailableError{detail: "sign-in is not configured on this server"})
		return
	}
	var body smsCodeBody
	if err := decodeStrict(c.Request.Body, &body); err != nil {
		s.writeError(c, err)
		return
	}
	if body.Phone == "" || body.Code == "" {
		s.writeError(c, &invalidError{fields: requiredFields(map[string]string{"/phone": body.Phone, "/code": body.Code})})
		return
	}
	tokens, err := s.auth.VerifyCode(c.Request.Context(), body.Phone, body.Code)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, tokens)
}

// requiredFields lists the empty ones, in pointer order.
func requiredFields(values map[string]string) []FieldError {
	var out []FieldError
	for _, ptr := range slices.Sorted(maps.Keys(values)) {
		if values[ptr] == "" {
			out = append(out, FieldError{Pointer: ptr, Detail: "is required"})
		}
	}
	return out
}
