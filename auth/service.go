package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

// Roles a principal can have.
const (
	RolePatient     = "patient"
	RoleDoctor      = "doctor"
	RoleDietitian   = "dietitian"
	RolePharmacist  = "pharmacist"
	RoleCoordinator = "coordinator"
	RoleAdmin       = "admin"
	RoleIntegrator  = "integrator"
)

// Roles lists every role.
var Roles = []string{RolePatient, RoleDoctor, RoleDietitian, RolePharmacist, RoleCoordinator, RoleAdmin, RoleIntegrator}

// Scopes an integrator can be granted.
const (
	ScopeModelsPredict = "models:predict"
	ScopeKnowledgeRead = "knowledge:read"
	ScopeJourneysRead  = "journeys:read"
	ScopeJourneysWrite = "journeys:write"
	// ScopeLabsWrite lets a laboratory partner book tests and report results
	// for the patients enrolled with it (IntegratorMayActFor), and results
	// only for the orders sent to it.
	ScopeLabsWrite = "labs:write"
	// ScopeDirectoryRead: search doctors and read their profiles.
	ScopeDirectoryRead = "directory:read"
)

// Errors callers map to statuses.
var (
	// ErrInvalidCredentials: wrong email, password, code or client secret.
	ErrInvalidCredentials = errors.New("invalid credentials")
	// ErrInvalidToken: a token that does not verify, has expired or was revoked.
	ErrInvalidToken = errors.New("invalid token")
	// ErrRefreshReused: a used refresh token came back; its family is revoked.
	ErrRefreshReused = errors.New("refresh token reused; every session of this sign-in is revoked")
	// ErrTooManyAttempts: the SMS code's attempts are used up.
	ErrTooManyAttempts = errors.New("too many attempts; request a new code")
	// ErrInvalidScope: a client asked for a scope it was not granted.
	ErrInvalidScope = errors.New("scope not granted to this client")
)

// Principal is who a verified access token speaks for.
type Principal struct {
	// Subject is the user's ID, or the OAuth client's ID for an integrator.
	Subject        string
	Role           string
	PatientID      string // set for patients
	PractitionerID string // set for doctors and dietitians
	Scopes         []string
}

// ActorID is the ID journeys know the principal by: the patient or
// practitioner row for those roles, the user otherwise.
func (p Principal) ActorID() string {
	switch {
	case p.PatientID != "":
		return p.PatientID
	case p.PractitionerID != "":
		return p.PractitionerID
	}
	return p.Subject
}

// HasScope reports whether the principal holds scope.
func (p Principal) HasScope(scope string) bool { return slices.Contains(p.Scopes, scope) }

// Options configures a Service.
type Options struct {
	Pool  *pgxpool.Pool
	Redis *redis.Client // one-time SMS codes; nil disables SMS sign-in
	// MasterKey (32 bytes) seals the signing keys' private halves.
	MasterKey []byte
	// Issuer is the tokens' iss and aud (PUBLIC_BASE_URL).
	Issuer     string
	AccessTTL  time.Duration // default 15 minutes
	RefreshTTL time.Duration // default 30 days
	// SessionMaxAge bounds a sign-in's refresh family, however often it
	// rotates (default 30 days; CAREPATH_AUTH_SESSION_MAX_AGE).
	SessionMaxAge time.Duration
	// ActiveCheckTTL is how long Verify trusts that an account is still
	// active before reading it again (default and most 30 s): a
	// deactivated user's access tokens stop working within it.
	ActiveCheckTTL time.Duration
	// SMS sends sign-in codes; nil disables SMS sign-in.
	SMS    CodeSender
	Logger *slog.Logger
}

// Service issues and verifies CarePath's tokens.
type Service struct {
	pool       *pgxpool.Pool
	redis      *redis.Client
	keys       *keyRing
	issuer     string
	accessTTL  time.Duration
	refreshTTL time.Duration
	sessionAge time.Duration
	sms        CodeSender
	logger     *slog.Logger
	active     *activeCache
}

// New builds a Service. Keys are read (or the first one created) on first use.
func New(o Options) (*Service, error) {
	if o.Pool == nil {
		return nil, errors.New("auth: new: no database pool")
	}
	if o.AccessTTL == 0 {
		o.AccessTTL = 15 * time.Minute
	}
	if o.RefreshTTL == 0 {
		o.RefreshTTL = 30 * 24 * time.Hour
	}
	if o.SessionMaxAge == 0 {
		o.SessionMaxAge = 30 * 24 * time.Hour
	}
	if o.ActiveCheckTTL <= 0 || o.ActiveCheckTTL > maxActiveCheckTTL {
		o.ActiveCheckTTL = maxActiveCheckTTL
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	ring, err := newKeyRing(o.Pool, o.MasterKey, o.AccessTTL)
	if err != nil {
		return nil, err
	}
	return &Service{pool: o.Pool, redis: o.Redis, keys: ring, issuer: o.Issuer, accessTTL: o.AccessTTL,
		refreshTTL: o.RefreshTTL, sessionAge: o.SessionMaxAge, sms: o.SMS, logger: o.Logger,
		active: newActiveCache(o.ActiveCheckTTL)}, nil
}

// Tokens is an OAuth 2.0 token response (RFC 6749 section 5.1).
type Tokens struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

type claims struct {
	jwt.RegisteredClaims
	Role           string `json:"role"`
	PatientID      string `json:"patient_id,omitempty"`
	PractitionerID string `json:"practitioner_id,omitempty"`
	Scope          string `json:"scope,omitempty"`
}

// Mint signs an access token for p. Sign-in paths call it after checking
// credentials; tests call it to act as a role.
func (s *Service) Mint(ctx context.Context, p Principal) (string, error) {
	if !slices.Contains(Roles, p.Role) || p.Subject == "" {
		return "", fmt.Errorf("mint token: bad principal role %q", p.Role)
	}
	key, err := s.keys.signer(ctx)
	if err != nil {
		return "", fmt.Errorf("mint token: %w", err)
	}
	now := time.Now()
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: s.issuer, Subject: p.Subject, Audience: jwt.ClaimStrings{s.issuer},
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(s.accessTTL)), ID: uuid.NewString(),
		},
		Role: p.Role, PatientID: p.PatientID, PractitionerID: p.PractitionerID, Scope: strings.Join(p.Scopes, " "),
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	t.Header["kid"] = key.kid
	signed, err := t.SignedString(key.private)
	if err != nil {
		return "", fmt.Errorf("mint token: %w", err)
	}
	return signed, nil
}

// Verify checks an access token's signature, issuer, audience and times.
func (s *Service) Verify(ctx context.Context, token string) (Principal, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		return s.keys.publicKey(ctx, kid)
	}, jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}), jwt.WithIssuer(s.issuer),
		jwt.WithAudience(s.issuer), jwt.WithExpirationRequired(), jwt.WithLeeway(30*time.Second))
	if err != nil {
		return Principal{}, fmt.Errorf("verify token: %w: %w", ErrInvalidToken, err)
	}
	if !slices.Contains(Roles, c.Role) {
		return Principal{}, fmt.Errorf("verify token: %w: unknown role", ErrInvalidToken)
	}
	p := Principal{Subject: c.Subject, Role: c.Role, PatientID: c.PatientID, PractitionerID: c.PractitionerID}
	if c.Scope != "" {
		p.Scopes = strings.Fields(c.Scope)
	}
	active, err := s.stillActive(ctx, p)
	if err != nil {
		return Principal{}, fmt.Errorf("verify token: %w", err)
	}
	if !active {
		return Principal{}, fmt.Errorf("verify token: %w: account deactivated", ErrInvalidToken)
	}
	return p, nil
}

// JWKS returns the public keys tokens may be signed with.
func (s *Service) JWKS(ctx context.Context) (JWKS, error) { return s.keys.jwks(ctx) }

// RotateKeys makes a new signing key; see the package comment.
func (s *Service) RotateKeys(ctx context.Context) (string, error) { return s.keys.rotate(ctx) }

// user is an app_user row.
type user struct {
	id, role, passwordHash    string
	patientID, practitionerID *string
}

func (u user) principal() Principal {
	p := Principal{Subject: u.id, Role: u.role}
	if u.patientID != nil {
		p.PatientID = *u.patientID
	}
	if u.practitionerID != nil {
		p.PractitionerID = *u.practitionerID
	}
	return p
}

const selectUser = `SELECT id::text, role, coalesce(password_hash, ''), patient_id::text, practitioner_id::text FROM app_user WHERE active AND `

func (s *Service) findUser(ctx context.Context, where string, arg any) (user, error) {
	var u user
	err := s.pool.QueryRow(ctx, selectUser+where, arg).Scan(&u.id, &u.role, &u.passwordHash, &u.patientID, &u.practitionerID)
	return u, err
}

// SignInPassword checks an email and password and issues tokens.
func (s *Service) SignInPassword(ctx context.Context, email, password string) (Tokens, error) {
	u, err := s.findUser(ctx, `email = $1`, strings.ToLower(strings.TrimSpace(email)))
	if errors.Is(err, pgx.ErrNoRows) {
		u.passwordHash = dummyHash()
	} else if err != nil {
		return Tokens{}, fmt.Errorf("sign in: %w", err)
	}
	hash := u.passwordHash
	if hash == "" {
		hash = dummyHash()
	}
	ok, err := VerifyPassword(hash, password)
	if err != nil {
		return Tokens{}, fmt.Errorf("sign in: %w", err)
	}
	if !ok || u.id == "" || u.passwordHash == "" {
		return Tokens{}, fmt.Errorf("sign in: %w", ErrInvalidCredentials)
	}
	return s.issuePair(ctx, u, uuid.New())
}

// issuePair issues an access token and a refresh token in family.
func (s *Service) issuePair(ctx context.Context, u user, family uuid.UUID) (Tokens, error) {
	access, err := s.Mint(ctx, u.principal())
	if err != nil {
		return Tokens{}, err
	}
	refresh, err := s.insertRefresh(ctx, s.pool, u.id, family, time.Now())
	if err != nil {
		return Tokens{}, err
	}
	return Tokens{AccessToken: access, TokenType: "Bearer", ExpiresIn: int(s.accessTTL.Seconds()), RefreshToken: refresh}, nil
}

// dbExec is a pool or a transaction.
type dbExec interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// insertRefresh stores a new refresh token of the family, which began at
// sessionStart (the sign-in): it expires after RefreshTTL of disuse, and
// never later than SessionMaxAge after the sign-in.
func (s *Service) insertRefresh(ctx context.Context, db dbExec, userID string, family uuid.UUID, sessionStart time.Time) (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("issue refresh token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	sum := sha256.Sum256([]byte(token))
	expires := time.Now().Add(s.refreshTTL)
	if limit := sessionStart.Add(s.sessionAge); limit.Before(expires) {
		expires = limit
	}
	if _, err := db.Exec(ctx, `INSERT INTO refresh_token (id, family_id, user_id, token_hash, expires_at, session_started_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, uuid.New(), family, userID, sum[:], expires, sessionStart); err != nil {
		return "", fmt.Errorf("issue refresh token: %w", err)
	}
	return token, nil
}
