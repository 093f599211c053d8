package api_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carepath/carepath/api"
	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/internal/testenv"
)

// The canonical payload is byte for byte what JSON.stringify makes of
// {metadata: {device_id, signed_at, uploader}, sha256} (the expected text
// was printed by node for these inputs).
func TestSignedPayloadMatchesJSONStringify(t *testing.T) {
	got := api.SignedPayload("ab", "u", "d\u0001\t\"\\ é\u2028<>&", "2024-01-01T00:00:00Z")
	want := "{\"metadata\":{\"device_id\":\"d\\u0001\\t\\\"\\\\ é\u2028<>&\",\"signed_at\":\"2024-01-01T00:00:00Z\",\"uploader\":\"u\"},\"sha256\":\"ab\"}"
	if got != want {
		t.Errorf("payload\n got %s\nwant %s", got, want)
	}
}

// webCryptoSign signs like crypto.subtle.sign({name: "ECDSA", hash:
// "SHA-256"}): SHA-256 of the message, the signature as r || s, 32 bytes each.
func webCryptoSign(t *testing.T, key *ecdsa.PrivateKey, msg string) string {
	t.Helper()
	digest := sha256.Sum256([]byte(msg))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return base64.StdEncoding.EncodeToString(sig)
}

func jwkOf(key *ecdsa.PrivateKey) string {
	raw, err := key.PublicKey.Bytes() // 0x04 || x || y
	if err != nil {
		panic(err)
	}
	enc := base64.RawURLEncoding
	return fmt.Sprintf(`{"jwk":{"kty":"EC","crv":"P-256","x":%q,"y":%q,"ext":true,"key_ops":["verify"]}}`,
		enc.EncodeToString(raw[1:33]), enc.EncodeToString(raw[33:]))
}

type signedUpload struct {
	keyID, uploader, device, at string
	key                         *ecdsa.PrivateKey
}

// meta builds the upload metadata with a signature over doc; tweak may
// change the signature object before it is encoded.
func (u signedUpload) meta(t *testing.T, doc []byte, tweak func(sum, payload *string)) string {
	t.Helper()
	sum := sha256.Sum256(doc)
	hexSum := hex.EncodeToString(sum[:])
	payload := api.SignedPayload(hexSum, u.uploader, u.device, u.at)
	if tweak != nil {
		tweak(&hexSum, &payload)
	}
	return fmt.Sprintf(`{"title":"Signed lab report","date":"2024-01-20","signature":{"key_id":%q,"sha256":%q,"uploader":%q,"device_id":%q,"signed_at":%q,"signature":%q}}`,
		u.keyID, hexSum, u.uploader, u.device, u.at, webCryptoSign(t, u.key, payload))
}

type verifyOut struct {
	Signed bool     `json:"signed"`
	Valid  bool     `json:"valid"`
	Failed []string `json:"failed"`
	Checks []struct {
		Check  string `json:"check"`
		OK     bool   `json:"ok"`
		Detail string `json:"detail"`
	} `json:"checks"`
}

func TestSignedUploadsDetectEveryChange(t *testing.T) {
	h, dir, _ := recordsAPI(t)
	patient := testenv.NewPatient(t, h.store, "Testville")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	reg := decodeAs[struct {
		KeyID string `json:"key_id"`
	}](t, h.mustCall(t, http.StatusCreated, http.MethodPost, "/api/v1/keys", jwkOf(key), auth.RolePatient, patient))
	u := signedUpload{keyID: reg.KeyID, uploader: patient, device: "pixel-8 browser", at: time.Now().UTC().Format(time.RFC3339), key: key}

	// Refused before anything is stored: a signature over another payload,
	// a hash of another file, someone else's ID as uploader.
	for name, tc := range map[string]struct {
		meta    string
		pointer string
	}{
		"forged":   {u.meta(t, pdfBytes, func(_, p *string) { *p += " " }), "/metadata/signature/signature"},
		"hash":     {u.meta(t, append([]byte("x"), pdfBytes...), nil), "/metadata/signature/sha256"},
		"uploader": {signedUpload{keyID: u.keyID, uploader: testenv.NewPatient(t, h.store, "Testville"), device: u.device, at: u.at, key: key}.meta(t, pdfBytes, nil), "/metadata/signature/uploader"},
	} {
		code, out := h.upload(t, patient, auth.RolePatient, patient, tc.meta, pdfBytes)
		if code != http.StatusUnprocessableEntity || !strings.Contains(string(out), tc.pointer) {
			t.Errorf("%s: %d %s, want 422 naming %s", name, code, out, tc.pointer)
		}
	}

	upload := func() recordOut {
		code, out := h.upload(t, patient, auth.RolePatient, patient, u.meta(t, pdfBytes, nil), pdfBytes)
		if code != http.StatusCreated {
			t.Fatalf("signed upload: %d %s", code, out)
		}
		return decodeAs[recordOut](t, out)
	}
	verify := func(id string) verifyOut {
		return decodeAs[verifyOut](t, h.mustCall(t, http.StatusOK, http.MethodGet,
			"/api/v1/patients/"+patient+"/records/"+id+"/verify", "", auth.RolePatient, patient))
	}
	wantFailed := func(v verifyOut, failed, detail string) {
		t.Helper()
		if v.Valid || !slices.Equal(v.Failed, []string{failed}) {
			t.Fatalf("failed = %v (valid %v), want exactly %s: %+v", v.Failed, v.Valid, failed, v.Checks)
		}
		for _, c := range v.Checks {
			if c.Check == failed && !strings.Contains(c.Detail, detail) {
				t.Errorf("%s detail = %q, want %q", failed, c.Detail, detail)
			}
		}
	}

	// One byte of the stored document.
	doc := upload()
	if v := verify(doc.ID); !v.Signed || !v.Valid || len(v.Checks) != 3 {
		t.Fatalf("fresh upload: %+v", v)
	}
	objectPath := filepath.Join(dir, "patients", patient, "records", doc.ID)
	object, err := os.ReadFile(objectPath)
	if err != nil {
		t.Fatal(err)
	}
	object[len(object)/2] ^= 0x01
	if err := os.WriteFile(objectPath, object, 0o600); err != nil {
		t.Fatal(err)
	}
	wantFailed(verify(doc.ID), "document", "bytes were changed")

	// One metadata field. record_signature is append-only for the
	// application role, so the forger here has the owner's rights.
	ctx := context.Background()
	owner := testenv.OwnerStore(t)
	doc = upload()
	if _, err := owner.Pool.Exec(ctx, `UPDATE record_signature SET device_id = 'attacker-laptop' WHERE record_id = $1`, doc.ID); err != nil {
		t.Fatal(err)
	}
	wantFailed(verify(doc.ID), "metadata", "device_id")

	// The record's own hash column.
	doc = upload()
	if _, err := h.store.Pool.Exec(ctx, `UPDATE health_record SET content_sha256 = sha256('x') WHERE id = $1`, doc.ID); err != nil {
		t.Fatal(err)
	}
	wantFailed(verify(doc.ID), "metadata", "content_sha256")

	// The signature bytes.
	doc = upload()
	if _, err := owner.Pool.Exec(ctx, `UPDATE record_signature SET signature = overlay(signature placing '\x00' from 10 for 1) WHERE record_id = $1`, doc.ID); err != nil {
		t.Fatal(err)
	}
	wantFailed(verify(doc.ID), "signature", "does not verify")

	// A revoked key signs no new upload; what it signed still verifies.
	doc = upload()
	if code, _ := h.call(t, http.MethodDelete, "/api/v1/keys/"+reg.KeyID, "", auth.RolePatient, testenv.NewPatient(t, h.store, "Testville")); code != http.StatusNotFound {
		t.Errorf("another user revoked the key: %d", code)
	}
	h.mustCall(t, http.StatusOK, http.MethodDelete, "/api/v1/keys/"+reg.KeyID, "", auth.RolePatient, patient)
	if code, out := h.upload(t, patient, auth.RolePatient, patient, u.meta(t, pdfBytes, nil), pdfBytes); code != http.StatusUnprocessableEntity ||
		!strings.Contains(string(out), "/metadata/signature/key_id") {
		t.Errorf("upload with a revoked key: %d %s", code, out)
	}
	if v := verify(doc.ID); !v.Valid {
		t.Errorf("a document signed before the revocation: %+v", v)
	}

	// An unsigned document reports signed: false.
	code, out := h.upload(t, patient, auth.RolePatient, patient, `{"title":"Unsigned","date":"2024-01-20"}`, pdfBytes)
	if code != http.StatusCreated {
		t.Fatalf("unsigned upload: %d %s", code, out)
	}
	if v := verify(decodeAs[recordOut](t, out).ID); v.Signed || v.Valid {
		t.Errorf("unsigned document verified as %+v", v)
	}
}

func TestRegisterKeyAsSPKI(t *testing.T) {
	h, _, _ := recordsAPI(t)
	patient := testenv.NewPatient(t, h.store, "Testville")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`{"spki":%q}`, base64.StdEncoding.EncodeToString(der))
	first := h.mustCall(t, http.StatusCreated, http.MethodPost, "/api/v1/keys", body, auth.RolePatient, patient)
	again := h.mustCall(t, http.StatusCreated, http.MethodPost, "/api/v1/keys", body, auth.RolePatient, patient)
	if decodeAs[map[string]any](t, first)["key_id"] != decodeAs[map[string]any](t, again)["key_id"] {
		t.Error("registering the same key twice made two keys")
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der384, err := x509.MarshalPKIXPublicKey(&p384.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	code, out := h.call(t, http.MethodPost, "/api/v1/keys", fmt.Sprintf(`{"spki":%q}`, base64.StdEncoding.EncodeToString(der384)), auth.RolePatient, patient)
	if code != http.StatusUnprocessableEntity || !strings.Contains(string(out), "P-256") {
		t.Errorf("P-384 key: %d %s", code, out)
	}
	code, out = h.call(t, http.MethodPost, "/api/v1/keys", `{"jwk":{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}}`, auth.RolePatient, patient)
	if code != http.StatusUnprocessableEntity || !strings.Contains(string(out), "/jwk/x") {
		t.Errorf("bad JWK: %d %s", code, out)
	}
}
