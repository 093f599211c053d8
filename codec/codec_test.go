package codec_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/carepath/carepath/codec"
)

// patientCard stands for the health data a journey carries.
type patientCard struct {
	Name  string `json:"name"`
	State string `json:"state"`
}

const marker = "Asha Ramanathan, HbA1c 9.1%"

func mustKey(t *testing.T, id string) codec.Key {
	t.Helper()
	k, err := codec.GenerateKey(id)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustCodec(t *testing.T, active string, keys ...codec.Key) *codec.Codec {
	t.Helper()
	c, err := codec.New(keys, active)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func plainPayload(t *testing.T, v any) *commonpb.Payload {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayload(v)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRoundTripThroughTheDataConverter(t *testing.T) {
	c := mustCodec(t, "k1", mustKey(t, "k1"))
	dc := c.DataConverter()
	in := patientCard{Name: marker, State: "awaiting payment"}
	p, err := dc.ToPayload(in)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(p.Data, []byte("Asha")) {
		t.Fatal("the encrypted payload carries the plaintext")
	}
	var out patientCard
	if err := dc.FromPayload(p, &out); err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Fatalf("round trip: got %+v, want %+v", out, in)
	}
}

func TestMetadataNamesEncodingCipherAndKey(t *testing.T) {
	c := mustCodec(t, "2026-11", mustKey(t, "2026-11"))
	out, err := c.Encode([]*commonpb.Payload{plainPayload(t, patientCard{Name: marker})})
	if err != nil {
		t.Fatal(err)
	}
	md := out[0].Metadata
	for key, want := range map[string]string{
		converter.MetadataEncoding: "binary/encrypted",
		codec.MetadataKeyID:        "2026-11",
		codec.MetadataCipher:       "AES-256-GCM",
	} {
		if got := string(md[key]); got != want {
			t.Errorf("metadata %s = %q, want %q", key, got, want)
		}
	}
	if len(md) != 3 {
		// The original metadata (json/plain, a type name) is inside the
		// ciphertext; nothing else may sit beside it in the clear.
		t.Errorf("metadata has %d entries, want 3: %v", len(md), md)
	}
}

func TestEachEncryptionIsFresh(t *testing.T) {
	c := mustCodec(t, "k1", mustKey(t, "k1"))
	p := plainPayload(t, marker)
	a, err := c.Encode([]*commonpb.Payload{p})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Encode([]*commonpb.Payload{p})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a[0].Data, b[0].Data) {
		t.Fatal("two encryptions of one payload are identical: the nonce is not random")
	}
}

func TestWrongKeyFails(t *testing.T) {
	// Same key ID, different secret: what a misconfigured service holds.
	enc := mustCodec(t, "k1", mustKey(t, "k1"))
	dec := mustCodec(t, "k1", mustKey(t, "k1"))
	out, err := enc.Encode([]*commonpb.Payload{plainPayload(t, marker)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = dec.Decode(out)
	if !errors.Is(err, codec.ErrDecrypt) {
		t.Fatalf("decode with the wrong key: err = %v, want ErrDecrypt", err)
	}
	if strings.Contains(err.Error(), "Asha") {
		t.Fatalf("the error quotes the payload: %v", err)
	}
}

func TestTamperingFails(t *testing.T) {
	c := mustCodec(t, "k1", mustKey(t, "k1"), mustKey(t, "k2"))
	good, err := c.Encode([]*commonpb.Payload{plainPayload(t, marker)})
	if err != nil {
		t.Fatal(err)
	}
	for name, tamper := range map[string]func(p *commonpb.Payload){
		"flip a ciphertext bit": func(p *commonpb.Payload) { p.Data[len(p.Data)/2] ^= 0x01 },
		"flip a nonce bit":      func(p *commonpb.Payload) { p.Data[0] ^= 0x80 },
		"flip a tag bit":        func(p *commonpb.Payload) { p.Data[len(p.Data)-1] ^= 0x01 },
		"truncate":              func(p *commonpb.Payload) { p.Data = p.Data[:len(p.Data)-1] },
		// The key ID is authenticated data: relabelling is caught even
		// when the other key is in the ring.
		"relabel the key": func(p *commonpb.Payload) { p.Metadata[codec.MetadataKeyID] = []byte("k2") },
	} {
		t.Run(name, func(t *testing.T) {
			p := &commonpb.Payload{Metadata: map[string][]byte{}, Data: bytes.Clone(good[0].Data)}
			for k, v := range good[0].Metadata {
				p.Metadata[k] = bytes.Clone(v)
			}
			tamper(p)
			if _, err := c.Decode([]*commonpb.Payload{p}); !errors.Is(err, codec.ErrDecrypt) {
				t.Fatalf("err = %v, want ErrDecrypt", err)
			}
		})
	}
	if _, err := c.Decode(good); err != nil {
		t.Fatalf("the untouched payload must still decode: %v", err)
	}
}

func TestUnknownKeyIDFailsClearly(t *testing.T) {
	enc := mustCodec(t, "retired-2025", mustKey(t, "retired-2025"))
	dec := mustCodec(t, "k2", mustKey(t, "k2"), mustKey(t, "k3"))
	out, err := enc.Encode([]*commonpb.Payload{plainPayload(t, marker)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = dec.Decode(out)
	if !errors.Is(err, codec.ErrUnknownKey) {
		t.Fatalf("err = %v, want ErrUnknownKey", err)
	}
	for _, want := range []string{`"retired-2025"`, "k2, k3"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestMalformedEncryptedPayloads(t *testing.T) {
	c := mustCodec(t, "k1", mustKey(t, "k1"))
	enc := []byte(codec.EncodingEncrypted)
	for name, p := range map[string]*commonpb.Payload{
		"no key id":    {Metadata: map[string][]byte{converter.MetadataEncoding: enc}, Data: make([]byte, 64)},
		"short data":   {Metadata: map[string][]byte{converter.MetadataEncoding: enc, codec.MetadataKeyID: []byte("k1")}, Data: []byte{1, 2, 3}},
		"other cipher": {Metadata: map[string][]byte{converter.MetadataEncoding: enc, codec.MetadataKeyID: []byte("k1"), codec.MetadataCipher: []byte("ChaCha20")}, Data: make([]byte, 64)},
	} {
		if _, err := c.Decode([]*commonpb.Payload{p}); !errors.Is(err, codec.ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestRotation(t *testing.T) {
	old, next := mustKey(t, "2026-01"), mustKey(t, "2026-07")
	before := mustCodec(t, "2026-01", old)
	stored, err := before.DataConverter().ToPayload(patientCard{Name: marker, State: "consult booked"})
	if err != nil {
		t.Fatal(err)
	}
	// Rotate: the new key is active, the old one stays in the ring.
	after := mustCodec(t, "2026-07", old, next)
	var got patientCard
	if err := after.DataConverter().FromPayload(stored, &got); err != nil {
		t.Fatalf("a payload from before the rotation must still decode: %v", err)
	}
	if got.Name != marker {
		t.Fatalf("got %+v", got)
	}
	fresh, err := after.DataConverter().ToPayload(got)
	if err != nil {
		t.Fatal(err)
	}
	if id := string(fresh.Metadata[codec.MetadataKeyID]); id != "2026-07" {
		t.Fatalf("new payloads use key %q, want the active 2026-07", id)
	}
	// Once the old key is dropped, its payloads fail with a clear error.
	retired := mustCodec(t, "2026-07", next)
	if err := retired.DataConverter().FromPayload(stored, &got); !errors.Is(err, codec.ErrUnknownKey) {
		t.Fatalf("after retiring the old key: err = %v, want ErrUnknownKey", err)
	}
}

func TestPlainPayloadsPassThroughDecodeAndCiphertextIsNotReEncrypted(t *testing.T) {
	c := mustCodec(t, "k1", mustKey(t, "k1"))
	plain := plainPayload(t, "not secret")
	out, err := c.Decode([]*commonpb.Payload{plain})
	if err != nil || out[0] != plain {
		t.Fatalf("a plain payload must pass through decode unchanged: %v", err)
	}
	once, err := c.Encode([]*commonpb.Payload{plain})
	if err != nil {
		t.Fatal(err)
	}
	twice, err := c.Encode(once)
	if err != nil {
		t.Fatal(err)
	}
	if twice[0] != once[0] {
		t.Fatal("encoding an encrypted payload again must leave it as it is")
	}
}

func TestWithoutTheCodecThePayloadCannotBeRead(t *testing.T) {
	c := mustCodec(t, "k1", mustKey(t, "k1"))
	p, err := c.DataConverter().ToPayload(patientCard{Name: marker})
	if err != nil {
		t.Fatal(err)
	}
	var out patientCard
	if err := converter.GetDefaultDataConverter().FromPayload(p, &out); err == nil {
		t.Fatalf("the default converter read an encrypted payload: %+v", out)
	}
}

func TestFailureMessagesAreEncrypted(t *testing.T) {
	c := mustCodec(t, "k1", mustKey(t, "k1"))
	f := c.FailureConverter().ErrorToFailure(temporal.NewApplicationError("patient "+marker+" refused", "ConsentRefused"))
	if strings.Contains(f.String(), "Asha") {
		t.Fatalf("the failure carries the message in the clear: %v", f)
	}
	if f.GetApplicationFailureInfo().GetType() != "ConsentRefused" {
		t.Fatalf("the error type must stay readable for the API: %v", f)
	}
	back := c.FailureConverter().FailureToError(f)
	if !strings.Contains(back.Error(), marker) {
		t.Fatalf("decoded failure = %q, want the original message", back)
	}
}

func TestNewRejectsBadRings(t *testing.T) {
	k := mustKey(t, "k1")
	if _, err := codec.New(nil, "k1"); err == nil {
		t.Error("no keys: want an error")
	}
	if _, err := codec.New([]codec.Key{k}, "k9"); err == nil || !strings.Contains(err.Error(), `"k9"`) {
		t.Errorf("active key not in the ring: err = %v", err)
	}
	if _, err := codec.New([]codec.Key{k, k}, "k1"); err == nil {
		t.Error("duplicate key: want an error")
	}
	if _, err := codec.New([]codec.Key{{}}, ""); err == nil {
		t.Error("zero Key: want an error")
	}
}

func TestParseKeys(t *testing.T) {
	a, b := mustKey(t, "a"), mustKey(t, "b.2")
	for name, text := range map[string]string{
		"comma":         a.Export() + "," + b.Export(),
		"lines":         a.Export() + "\n" + b.Export() + "\n",
		"spaces+commas": " " + a.Export() + " ,\t" + b.Export(),
	} {
		keys, err := codec.ParseKeys(text)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(keys) != 2 || keys[0].ID() != "a" || keys[1].ID() != "b.2" {
			t.Fatalf("%s: got %v", name, keys)
		}
		if codec.FormatKeys(keys) != a.Export()+","+b.Export() {
			t.Fatalf("%s: FormatKeys does not round-trip", name)
		}
	}
	secret := strings.TrimPrefix(a.Export(), "a:")
	for name, text := range map[string]string{
		"empty":        " , ",
		"no id":        secret,
		"bad base64":   "a:!!!",
		"short key":    "a:AAAA",
		"bad id":       "a/b:" + secret,
		"duplicate id": a.Export() + "," + a.Export(),
	} {
		_, err := codec.ParseKeys(text)
		if err == nil {
			t.Errorf("%s: want an error", name)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the error leaks the secret: %v", name, err)
		}
	}
}

func TestKeysNeverPrintTheirSecret(t *testing.T) {
	k := mustKey(t, "k1")
	secret := strings.TrimPrefix(k.Export(), "k1:")
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "key", k)
	type holder struct{ Keys []codec.Key }
	for _, s := range []string{
		fmt.Sprint(k), fmt.Sprintf("%+v", holder{[]codec.Key{k}}), fmt.Sprintf("%#v", k), fmt.Sprintf("%x", k), logged.String(),
	} {
		if strings.Contains(s, secret) || !strings.Contains(s, "k1") {
			t.Errorf("printed key %q: want the ID and not the secret", s)
		}
	}
}

// BenchmarkRoundTrip measures what the codec adds to each payload of a
// journey: encrypt and decrypt one journey-state-sized payload (~1 KiB).
func BenchmarkRoundTrip(b *testing.B) {
	k, err := codec.GenerateKey("bench")
	if err != nil {
		b.Fatal(err)
	}
	c, err := codec.New([]codec.Key{k}, "bench")
	if err != nil {
		b.Fatal(err)
	}
	p, err := converter.GetDefaultDataConverter().ToPayload(patientCard{Name: marker, State: strings.Repeat("s", 1000)})
	if err != nil {
		b.Fatal(err)
	}
	in := []*commonpb.Payload{p}
	b.SetBytes(int64(len(p.Data)))
	b.ReportAllocs()
	for b.Loop() {
		enc, err := c.Encode(in)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Decode(enc); err != nil {
			b.Fatal(err)
		}
	}
}
