package auth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// MasterKeyLen is the length of the master key that seals private keys.
const MasterKeyLen = 32

// signingKey is one Ed25519 key pair.
type signingKey struct {
	kid       string
	public    ed25519.PublicKey
	private   ed25519.PrivateKey // nil when only published
	createdAt time.Time
	retiredAt *time.Time
}

// keyRing reads the signing keys from PostgreSQL and caches them; the cache
// is refreshed when a token names a key it does not hold, at most once per
// keyRefreshEvery, so a flood of forged kids cannot hammer the database.
type keyRing struct {
	pool      *pgxpool.Pool
	aead      cipher.AEAD
	accessTTL time.Duration

	mu          sync.Mutex
	keys        map[string]*signingKey
	active      *signingKey
	lastRefresh time.Time
}

const keyRefreshEvery = 5 * time.Second

func newKeyRing(pool *pgxpool.Pool, masterKey []byte, accessTTL time.Duration) (*keyRing, error) {
	if len(masterKey) != MasterKeyLen {
		return nil, fmt.Errorf("auth: master key: want %d bytes, got %d", MasterKeyLen, len(masterKey))
	}
	block, err := aes.NewCipher(masterKey)
	if err != nil {
		return nil, fmt.Errorf("auth: master key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("auth: master key: %w", err)
	}
	return &keyRing{pool: pool, aead: aead, accessTTL: accessTTL, keys: map[string]*signingKey{}}, nil
}

func (r *keyRing) seal(kid string, private ed25519.PrivateKey) ([]byte, error) {
	nonce := make([]byte, r.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal key %s: %w", kid, err)
	}
	return r.aead.Seal(nonce, nonce, private.Seed(), []byte(kid)), nil
}

func (r *keyRing) open(kid string, sealed []byte) (ed25519.PrivateKey, error) {
	n := r.aead.NonceSize()
	if len(sealed) < n {
		return nil, fmt.Errorf("open key %s: sealed key too short", kid)
	}
	seed, err := r.aead.Open(nil, sealed[:n], sealed[n:], []byte(kid))
	if err != nil {
		return nil, fmt.Errorf("open key %s: wrong master key or tampered row: %w", kid, err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// load reads every key still worth publishing: the active one and those
// retired less than an access-token lifetime ago (plus a minute of clock
// skew).
func (r *keyRing) load(ctx context.Context) error {
	rows, err := r.pool.Query(ctx, `SELECT kid, public_key, sealed_private_key, created_at, retired_at FROM signing_key
		WHERE retired_at IS NULL OR retired_at > now() - $1::interval ORDER BY created_at`, (r.accessTTL + time.Minute).String())
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	defer rows.Close()
	keys := map[string]*signingKey{}
	var active *signingKey
	for rows.Next() {
		var k signingKey
		var pub, sealed []byte
		if err := rows.Scan(&k.kid, &pub, &sealed, &k.createdAt, &k.retiredAt); err != nil {
			return fmt.Errorf("load signing keys: %w", err)
		}
		k.public = ed25519.PublicKey(pub)
		if k.retiredAt == nil {
			if k.private, err = r.open(k.kid, sealed); err != nil {
				return fmt.Errorf("load signing keys: %w", err)
			}
			active = &k
		}
		keys[k.kid] = &k
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	r.mu.Lock()
	r.keys, r.active, r.lastRefresh = keys, active, time.Now()
	r.mu.Unlock()
	return nil
}

// Rotate makes a new key the signer and retires the current one. Tokens the
// old key signed stay valid until they expire.
func (r *keyRing) rotate(ctx context.Context) (string, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", fmt.Errorf("rotate signing key: %w", err)
	}
	kidBytes := make([]byte, 12)
	if _, err := rand.Read(kidBytes); err != nil {
		return "", fmt.Errorf("rotate signing key: %w", err)
	}
	kid := base64.RawURLEncoding.EncodeToString(kidBytes)
	sealed, err := r.seal(kid, priv)
	if err != nil {
		return "", fmt.Errorf("rotate signing key: %w", err)
	}
	err = pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE signing_key SET retired_at = now() WHERE retired_at IS NULL`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO signing_key (kid, algorithm, public_key, sealed_private_key) VALUES ($1, 'EdDSA', $2, $3)`,
			kid, []byte(pub), sealed)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("rotate signing key: %w", err)
	}
	if err := r.load(ctx); err != nil {
		return "", fmt.Errorf("rotate signing key: %w", err)
	}
	return kid, nil
}

// signer returns the active key, creating the first key on a fresh
// database. Two servers starting together may race to create it; the
// unique index lets one win and the other reloads.
func (r *keyRing) signer(ctx context.Context) (*signingKey, error) {
	r.mu.Lock()
	active, stale := r.active, time.Since(r.lastRefresh) > time.Minute
	r.mu.Unlock()
	if active != nil && !stale {
		return active, nil
	}
	if err := r.load(ctx); err != nil {
		return nil, err
	}
	r.mu.Lock()
	active = r.active
	r.mu.Unlock()
	if active != nil {
		return active, nil
	}
	if _, err := r.rotate(ctx); err != nil {
		if lerr := r.load(ctx); lerr != nil {
			return nil, errors.Join(err, lerr)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.active == nil {
		return nil, errors.New("auth: no active signing key")
	}
	return r.active, nil
}

// publicKey finds the key a token names.
func (r *keyRing) publicKey(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	r.mu.Lock()
	k, ok := r.keys[kid]
	recent := time.Since(r.lastRefresh) < keyRefreshEvery
	r.mu.Unlock()
	if ok {
		return k.public, nil
	}
	if recent {
		return nil, fmt.Errorf("unknown key %q", kid)
	}
	if err := r.load(ctx); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if k, ok := r.keys[kid]; ok {
		return k.public, nil
	}
	return nil, fmt.Errorf("unknown key %q", kid)
}

// JWK is one public key in a JWKS (RFC 8037 for Ed25519).
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// JWKS is the document served at /.well-known/jwks.json.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

func (r *keyRing) jwks(ctx context.Context) (JWKS, error) {
	if _, err := r.signer(ctx); err != nil {
		return JWKS{}, fmt.Errorf("jwks: %w", err)
	}
	if err := r.load(ctx); err != nil {
		return JWKS{}, fmt.Errorf("jwks: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := JWKS{Keys: []JWK{}}
	for _, k := range r.keys {
		out.Keys = append(out.Keys, JWK{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(k.public),
			Kid: k.kid, Alg: "EdDSA", Use: "sig"})
	}
	// A stable order keeps the document cacheable byte for byte.
	slices.SortFunc(out.Keys, func(a, b JWK) int { return strings.Compare(a.Kid, b.Kid) })
	return out, nil
}
