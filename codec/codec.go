// Package codec encrypts the payloads CarePath hands to Temporal, so that
// health data in workflow inputs, results, signals, updates, queries, memos
// and failure messages is stored by the Temporal server only as ciphertext.
//
// Each payload is serialized whole (its metadata and data) and sealed with
// AES-256-GCM under the active key of a key ring. The result is a new
// payload whose metadata says "encoding: binary/encrypted" and names the key
// ("encryption-key-id"), so decoding picks the key by ID: rotating in a new
// active key leaves every older payload readable for as long as the old key
// stays in the ring. Keys come from configuration (CAREPATH_CODEC_KEYS, see
// package config); this package never reads the environment.
//
// The same Codec serves the Temporal SDK (DataConverter, FailureConverter)
// and the codec server endpoints the Temporal UI calls (package api).
//
// Search attributes are not payloads the codec sees: they stay readable for
// the server's visibility queries, which is why they hold opaque IDs and
// statuses only.
package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"
)

// Metadata the codec writes on every payload it encrypts.
const (
	// EncodingEncrypted is the value of the standard "encoding" metadata
	// key on an encrypted payload.
	EncodingEncrypted = "binary/encrypted"
	// MetadataKeyID names the key that sealed the payload.
	MetadataKeyID = "encryption-key-id"
	// MetadataCipher names the cipher, so a future change of cipher can be
	// told apart from a change of key.
	MetadataCipher = "encryption-cipher"
	// CipherAES256GCM is the only cipher this version writes and reads.
	CipherAES256GCM = "AES-256-GCM"
)

// aadPrefix is authenticated with every payload together with the key ID:
// moving ciphertext under another key's ID, or into another system that
// happens to share a key, fails authentication instead of decrypting.
const aadPrefix = "carepath/temporal-payload/v1\x00"

// Errors callers can tell apart with errors.Is.
var (
	// ErrUnknownKey: the payload names a key the ring does not hold.
	ErrUnknownKey = errors.New("payload encrypted with a key this key ring does not hold")
	// ErrDecrypt: the payload does not authenticate under the named key
	// (a different secret under the same ID, or tampered data).
	ErrDecrypt = errors.New("payload does not decrypt: wrong key or tampered data")
	// ErrMalformed: the payload claims to be encrypted but is not in the
	// shape this codec writes.
	ErrMalformed = errors.New("malformed encrypted payload")
)

// Codec is a PayloadCodec over a key ring. It is safe for concurrent use.
type Codec struct {
	activeID string
	aeads    map[string]cipher.AEAD
	ids      []string // sorted, for messages
}

var _ converter.PayloadCodec = (*Codec)(nil)

// New builds a codec that encrypts with the key named activeID and decrypts
// with any key in keys.
func New(keys []Key, activeID string) (*Codec, error) {
	if len(keys) == 0 {
		return nil, errors.New("codec: no keys")
	}
	c := &Codec{activeID: activeID, aeads: make(map[string]cipher.AEAD, len(keys))}
	for _, k := range keys {
		if k.id == "" || len(k.secret) != KeySize {
			return nil, errors.New("codec: a key was not made by NewKey, GenerateKey or ParseKeys")
		}
		if _, dup := c.aeads[k.id]; dup {
			return nil, fmt.Errorf("codec: key %q is listed twice", k.id)
		}
		block, err := aes.NewCipher(k.secret)
		if err != nil {
			return nil, fmt.Errorf("codec: key %q: %w", k.id, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("codec: key %q: %w", k.id, err)
		}
		c.aeads[k.id] = aead
		c.ids = append(c.ids, k.id)
	}
	slices.Sort(c.ids)
	if _, ok := c.aeads[activeID]; !ok {
		return nil, fmt.Errorf("codec: active key %q is not in the key ring (%s)", activeID, strings.Join(c.ids, ", "))
	}
	return c, nil
}

// ActiveKeyID names the key new payloads are encrypted with.
func (c *Codec) ActiveKeyID() string { return c.activeID }

// KeyIDs lists every key the codec can decrypt with, sorted.
func (c *Codec) KeyIDs() []string { return slices.Clone(c.ids) }

// Encode encrypts each payload with the active key. A payload that is
// already encrypted passes through unchanged, so encoding twice (a client
// re-sending what it read) never wraps ciphertext in ciphertext.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	aead := c.aeads[c.activeID]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if isEncrypted(p) {
			out[i] = p
			continue
		}
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("codec: encode payload %d: marshal: %w", i, err)
		}
		// A random 96-bit nonce per payload. NIST SP 800-38D bounds random
		// nonces to 2^32 messages per key; rotation keeps each key far below.
		sealed := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
		if _, err := rand.Read(sealed); err != nil {
			return nil, fmt.Errorf("codec: encode payload %d: nonce: %w", i, err)
		}
		sealed = aead.Seal(sealed, sealed[:aead.NonceSize()], plain, aad(c.activeID))
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(EncodingEncrypted),
				MetadataKeyID:              []byte(c.activeID),
				MetadataCipher:             []byte(CipherAES256GCM),
			},
			Data: sealed,
		}
	}
	return out, nil
}

// Decode decrypts each encrypted payload with the key its metadata names.
// Payloads that are not encrypted pass through unchanged, as Temporal asks
// of codecs: they may predate encryption, or be written by another codec in
// the chain. Errors name the payload's index and key ID, never its content.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if !isEncrypted(p) {
			out[i] = p
			continue
		}
		plain, err := c.open(p)
		if err != nil {
			return nil, fmt.Errorf("codec: decode payload %d: %w", i, err)
		}
		out[i] = plain
	}
	return out, nil
}

func (c *Codec) open(p *commonpb.Payload) (*commonpb.Payload, error) {
	id := string(p.GetMetadata()[MetadataKeyID])
	if id == "" {
		return nil, fmt.Errorf("%w: no %s in its metadata", ErrMalformed, MetadataKeyID)
	}
	if name, ok := p.GetMetadata()[MetadataCipher]; ok && string(name) != CipherAES256GCM {
		return nil, fmt.Errorf("%w: cipher %q is not %s", ErrMalformed, name, CipherAES256GCM)
	}
	aead, ok := c.aeads[id]
	if !ok {
		return nil, fmt.Errorf("%w: key id %q (this ring holds %s)", ErrUnknownKey, id, strings.Join(c.ids, ", "))
	}
	data := p.GetData()
	if len(data) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("%w: %d bytes is shorter than a nonce and a tag", ErrMalformed, len(data))
	}
	nonce, sealed := data[:aead.NonceSize()], data[aead.NonceSize():]
	plain, err := aead.Open(nil, nonce, sealed, aad(id))
	if err != nil {
		return nil, fmt.Errorf("%w (key id %q)", ErrDecrypt, id)
	}
	var out commonpb.Payload
	if err := proto.Unmarshal(plain, &out); err != nil {
		return nil, fmt.Errorf("%w: decrypted bytes are not a payload: %v", ErrMalformed, err)
	}
	return &out, nil
}

func isEncrypted(p *commonpb.Payload) bool {
	return string(p.GetMetadata()[converter.MetadataEncoding]) == EncodingEncrypted
}

func aad(keyID string) []byte { return []byte(aadPrefix + keyID) }

// DataConverter is Temporal's default data converter with this codec
// applied to every payload it produces and consumes.
func (c *Codec) DataConverter() converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
}

// FailureConverter moves failure messages and stack traces into the
// failure's encoded attributes, where the codec encrypts them: an error
// message can quote health data as easily as a payload can. Error types
// (which the API maps to statuses) stay readable.
func (c *Codec) FailureConverter() converter.FailureConverter {
	return temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{
		DataConverter:          c.DataConverter(),
		EncodeCommonAttributes: true,
	})
}
