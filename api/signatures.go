package api

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/vault"
)

// Signed uploads. A user registers an ECDSA P-256 public key (JWK or
// SPKI); their client signs each document before upload, as WebCrypto's
// crypto.subtle.sign({name: "ECDSA", hash: "SHA-256"}, key, payload) does:
// a 64-byte IEEE P1363 signature (r || s) over the UTF-8 bytes of
//
//	{"metadata":{"device_id":"…","signed_at":"…","uploader":"…"},"sha256":"…"}
//
// that is, JSON with keys in this order, no spaces, sha256 the lowercase
// hex SHA-256 of the document, signed_at an RFC 3339 time and uploader the
// signer's own ID (the patient or practitioner ID their token carries).
// JSON.stringify produces exactly these bytes when the object is built in
// this key order.

const (
	keysRoute         = "/api/v1/keys"
	keyRoute          = "/api/v1/keys/:kid"
	recordVerifyRoute = "/api/v1/patients/:id/records/:rid/verify"
)

// uploadSignature is the "signature" member of an upload's metadata.
type uploadSignature struct {
	KeyID     string `json:"key_id"`
	SHA256    string `json:"sha256"`
	Uploader  string `json:"uploader"`
	DeviceID  string `json:"device_id"`
	SignedAt  string `json:"signed_at"`
	Signature string `json:"signature"` // base64 (standard or URL-safe) of r || s
}

// SignedPayload is the canonical JSON an upload signature covers.
func SignedPayload(sha256Hex, uploader, deviceID, signedAt string) string {
	return `{"metadata":{"device_id":` + jsonString(deviceID) + `,"signed_at":` + jsonString(signedAt) +
		`,"uploader":` + jsonString(uploader) + `},"sha256":` + jsonString(sha256Hex) + `}`
}

// jsonString quotes s exactly as JSON.stringify does (ECMA-262
// QuoteJSONString): the quote, the backslash and control characters are
// escaped, everything else (HTML characters, U+2028, non-ASCII) is
// written as is. Go's encoding/json escapes more, so it is not used here.
func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 {
				fmt.Fprintf(&b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

type registerKeyRequest struct {
	JWK  *jwk   `json:"jwk"`
	SPKI string `json:"spki"`
}

type jwk struct {
	Kty    string   `json:"kty"`
	Crv    string   `json:"crv"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
	Ext    *bool    `json:"ext"`
	KeyOps []string `json:"key_ops"`
	Alg    string   `json:"alg"`
	Use    string   `json:"use"`
	Kid    string   `json:"kid"`
}

// parsePublicKey reads a P-256 public key from a JWK or base64 SPKI and
// returns it with its DER SPKI form.
func parsePublicKey(req registerKeyRequest) (*ecdsa.PublicKey, []byte, error) {
	keyErr := func(field, detail string) error {
		return &invalidError{fields: []FieldError{{Pointer: field, Detail: detail}}}
	}
	switch {
	case req.JWK != nil && req.SPKI != "":
		return nil, nil, keyErr("/spki", "send either jwk or spki, not both")
	case req.JWK != nil:
		k := req.JWK
		if k.Kty != "EC" || k.Crv != "P-256" {
			return nil, nil, keyErr("/jwk/crv", "must be an EC key on P-256")
		}
		x, errX := base64.RawURLEncoding.DecodeString(k.X)
		y, errY := base64.RawURLEncoding.DecodeString(k.Y)
		if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
			return nil, nil, keyErr("/jwk/x", "x and y must be base64url of 32 bytes each")
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, nil, keyErr("/jwk/x", "is not a point on P-256")
		}
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return nil, nil, fmt.Errorf("marshal key: %w", err)
		}
		return pub, der, nil
	case req.SPKI != "":
		der, err := decodeB64(req.SPKI)
		if err != nil {
			return nil, nil, keyErr("/spki", "must be base64 of a DER SubjectPublicKeyInfo")
		}
		pub, err := spkiKey(der)
		if err != nil {
			return nil, nil, keyErr("/spki", err.Error())
		}
		return pub, der, nil
	default:
		return nil, nil, keyErr("/jwk", "send the public key as jwk or spki")
	}
}

func spkiKey(der []byte) (*ecdsa.PublicKey, error) {
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, errors.New("must be a DER SubjectPublicKeyInfo")
	}
	pub, ok := k.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, errors.New("must be an ECDSA P-256 key")
	}
	return pub, nil
}

func decodeB64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

// registerKey stores the caller's public key.
func (s *Server) registerKey(c *gin.Context) {
	var req registerKeyRequest
	if err := decodeStrict(c.Request.Body, &req); err != nil {
		s.writeError(c, err)
		return
	}
	_, der, err := parsePublicKey(req)
	if err != nil {
		s.writeError(c, err)
		return
	}
	p, _ := principalFrom(c)
	k, err := s.store.RegisterPublicKey(c.Request.Context(), store.PublicKey{ID: uuid.NewString(), OwnerID: p.ActorID(), OwnerRole: p.Role, SPKI: der})
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"key_id": k.ID, "owner_id": k.OwnerID, "created_at": k.CreatedAt})
}

// revokeKey revokes one of the caller's keys: it signs no new upload, and
// what it signed before still verifies.
func (s *Server) revokeKey(c *gin.Context) {
	if uuid.Validate(c.Param("kid")) != nil {
		s.writeError(c, &notFoundError{detail: "you have no key with this ID"})
		return
	}
	p, _ := principalFrom(c)
	k, err := s.store.RevokePublicKey(c.Request.Context(), p.ActorID(), c.Param("kid"))
	if errors.Is(err, store.ErrNotFound) {
		s.writeError(c, &notFoundError{detail: "you have no key with this ID"})
		return
	}
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"key_id": k.ID, "revoked_at": k.RevokedAt})
}

// verifyP1363 checks a 64-byte r || s signature over payload.
func verifyP1363(pub *ecdsa.PublicKey, payload string, sig []byte) bool {
	if len(sig) != 64 {
		return false
	}
	digest := sha256.Sum256([]byte(payload))
	r, sv := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	return ecdsa.Verify(pub, digest[:], r, sv)
}

// checkUploadSignature verifies a signed upload before it is stored: the
// document's hash, the uploader, the time and the signature under the
// uploader's registered key. It returns the row to store.
func (s *Server) checkUploadSignature(c *gin.Context, u *uploadSignature, data []byte, uploader string) (store.RecordSignature, error) {
	bad := func(field, detail string) error {
		return &invalidError{fields: []FieldError{{Pointer: "/metadata/signature/" + field, Detail: detail}}}
	}
	sum := sha256.Sum256(data)
	switch {
	case u.SHA256 != hex.EncodeToString(sum[:]):
		return store.RecordSignature{}, bad("sha256", "is not the SHA-256 of the uploaded file (lowercase hex)")
	case u.Uploader != uploader:
		return store.RecordSignature{}, bad("uploader", "must be your own ID, as your access token carries it")
	case strings.TrimSpace(u.DeviceID) == "" || len(u.DeviceID) > 200:
		return store.RecordSignature{}, bad("device_id", "must name the signing device (1 to 200 characters)")
	}
	at, err := time.Parse(time.RFC3339Nano, u.SignedAt)
	if err != nil || at.After(time.Now().Add(5*time.Minute)) {
		return store.RecordSignature{}, bad("signed_at", "must be an RFC 3339 time, not in the future")
	}
	sig, err := decodeB64(u.Signature)
	if err != nil || len(sig) != 64 {
		return store.RecordSignature{}, bad("signature", "must be base64 of the 64-byte P1363 signature (r || s) WebCrypto returns")
	}
	if uuid.Validate(u.KeyID) != nil {
		return store.RecordSignature{}, bad("key_id", "must be the ID of a key you registered")
	}
	key, err := s.store.GetPublicKey(c.Request.Context(), u.KeyID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (key.OwnerID != uploader || key.RevokedAt != nil)) {
		return store.RecordSignature{}, bad("key_id", "must be the ID of a key you registered")
	}
	if err != nil {
		return store.RecordSignature{}, err
	}
	pub, err := spkiKey(key.SPKI)
	if err != nil {
		return store.RecordSignature{}, fmt.Errorf("stored key %s: %w", key.ID, err)
	}
	payload := SignedPayload(u.SHA256, u.Uploader, u.DeviceID, u.SignedAt)
	if !verifyP1363(pub, payload, sig) {
		return store.RecordSignature{}, bad("signature", "does not verify under the key over the canonical JSON of sha256 and metadata")
	}
	return store.RecordSignature{KeyID: key.ID, SHA256: u.SHA256, Uploader: u.Uploader, DeviceID: u.DeviceID, SignedAt: u.SignedAt,
		SignedPayload: payload, Signature: sig}, nil
}

// verifyCheck is one check of the verify report.
type verifyCheck struct {
	Check  string `json:"check"` // document, metadata, signature
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

type verifyReport struct {
	RecordID string        `json:"record_id"`
	Signed   bool          `json:"signed"`
	Valid    bool          `json:"valid"`
	Failed   []string      `json:"failed"`
	Checks   []verifyCheck `json:"checks"`
}

// verifyRecord re-checks a signed document as stored now: its bytes
// against the signed hash, the stored metadata against the signed
// payload, and the signature against the registered key. Each check is
// reported, so a failure names exactly what changed.
func (s *Server) verifyRecord(c *gin.Context) {
	r, err := s.visibleRecord(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	report := verifyReport{RecordID: r.ID, Failed: []string{}, Checks: []verifyCheck{}}
	sig, err := s.store.GetRecordSignature(c.Request.Context(), r.ID)
	if errors.Is(err, store.ErrNotFound) {
		c.JSON(http.StatusOK, report) // unsigned: nothing to verify
		return
	}
	if err != nil {
		s.writeError(c, err)
		return
	}
	report.Signed = true
	doc, err := s.documentCheck(c, r, sig)
	if err != nil {
		s.writeError(c, err)
		return
	}
	sigCheck, err := s.signatureCheck(c, sig)
	if err != nil {
		s.writeError(c, err)
		return
	}
	report.Checks = []verifyCheck{doc, metadataCheck(r, sig), sigCheck}
	for _, ch := range report.Checks {
		if !ch.OK {
			report.Failed = append(report.Failed, ch.Check)
		}
	}
	report.Valid = len(report.Failed) == 0
	c.JSON(http.StatusOK, report)
}

func (s *Server) documentCheck(c *gin.Context, r store.HealthRecord, sig store.RecordSignature) (verifyCheck, error) {
	ch := verifyCheck{Check: "document"}
	data, err := s.openDocument(c, r)
	var unavailable *unavailableError
	switch {
	case errors.As(err, &unavailable), errors.Is(err, vault.ErrUnknownKey):
		return ch, err
	case errors.Is(err, vault.ErrNoObject):
		ch.Detail = "the stored document is missing"
		return ch, nil
	case err != nil:
		ch.Detail = "the stored document no longer decrypts under its data key: its bytes were changed"
		return ch, nil
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != sig.SHA256 {
		ch.Detail = "the document's SHA-256 is " + got + ", the signed hash is " + sig.SHA256
		return ch, nil
	}
	ch.OK, ch.Detail = true, "the document's SHA-256 matches the signed hash"
	return ch, nil
}

// metadataCheck compares the stored metadata, and the record's own hash
// and author, with the payload the signature covers, field by field.
func metadataCheck(r store.HealthRecord, sig store.RecordSignature) verifyCheck {
	ch := verifyCheck{Check: "metadata"}
	var signed struct {
		Metadata struct {
			DeviceID string `json:"device_id"`
			SignedAt string `json:"signed_at"`
			Uploader string `json:"uploader"`
		} `json:"metadata"`
		SHA256 string `json:"sha256"`
	}
	if err := json.Unmarshal([]byte(sig.SignedPayload), &signed); err != nil {
		ch.Detail = "the signed payload is not the canonical JSON"
		return ch
	}
	for _, f := range []struct{ name, stored, signed string }{
		{"sha256", sig.SHA256, signed.SHA256},
		{"record content_sha256", hex.EncodeToString(r.ContentSHA256), signed.SHA256},
		{"uploader", sig.Uploader, signed.Metadata.Uploader},
		{"record author", r.AuthorID, signed.Metadata.Uploader},
		{"device_id", sig.DeviceID, signed.Metadata.DeviceID},
		{"signed_at", sig.SignedAt, signed.Metadata.SignedAt},
	} {
		if f.stored != f.signed {
			ch.Detail = "the stored " + f.name + " differs from the signed metadata"
			return ch
		}
	}
	if SignedPayload(sig.SHA256, sig.Uploader, sig.DeviceID, sig.SignedAt) != sig.SignedPayload {
		ch.Detail = "the signed payload is not in canonical form"
		return ch
	}
	ch.OK, ch.Detail = true, "the stored metadata matches what was signed"
	return ch
}

func (s *Server) signatureCheck(c *gin.Context, sig store.RecordSignature) (verifyCheck, error) {
	ch := verifyCheck{Check: "signature"}
	key, err := s.store.GetPublicKey(c.Request.Context(), sig.KeyID)
	if err != nil {
		return ch, err
	}
	pub, err := spkiKey(key.SPKI)
	if err != nil {
		ch.Detail = "the registered key is not a P-256 key"
		return ch, nil
	}
	if key.OwnerID != sig.Uploader {
		ch.Detail = "the signing key does not belong to the uploader"
		return ch, nil
	}
	if !verifyP1363(pub, sig.SignedPayload, sig.Signature) {
		ch.Detail = "the signature does not verify over the signed payload under the uploader's key"
		return ch, nil
	}
	ch.OK, ch.Detail = true, "the signature verifies under the uploader's registered key "+key.ID
	return ch, nil
}
