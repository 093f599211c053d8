// Package vault keeps health record documents encrypted at rest.
//
// Envelope encryption: every record gets its own random AES-256 data key;
// the document is sealed with AES-256-GCM under that key, and the data key
// is sealed (wrapped) under a master key, whose ID is stored with the
// record. Rotating the master key re-wraps the small data keys only; the
// documents' ciphertext never changes (Keyring.Rewrap).
//
// The sealed documents live in an ObjectStore: the local filesystem by
// default (FileStore), or any S3-compatible service behind the same three
// methods (see README, "Health records").
package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/carepath/carepath/codec"
)

// Keyring holds the master keys by ID and the one new data keys are
// wrapped with.
type Keyring struct {
	keys   map[string][]byte
	active string
}

// NewKeyring takes master keys in the codec package's form (ID and a
// 32-byte secret; CAREPATH_RECORDS_KEYS is parsed with codec.ParseKeys) and
// the ID of the active one.
func NewKeyring(keys []codec.Key, active string) (*Keyring, error) {
	r := &Keyring{keys: map[string][]byte{}, active: active}
	for _, k := range keys {
		_, b64, _ := strings.Cut(k.Export(), ":")
		secret, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("vault: key %s: %w", k.ID(), err)
		}
		r.keys[k.ID()] = secret
	}
	if _, ok := r.keys[active]; !ok {
		return nil, fmt.Errorf("vault: active master key %q is not in the key ring", active)
	}
	return r, nil
}

// Active is the ID of the master key new data keys are wrapped with.
func (r *Keyring) Active() string { return r.active }

// ErrUnknownKey means a record names a master key the ring does not hold.
var ErrUnknownKey = errors.New("vault: master key not in the key ring")

// Sealed is what a record stores beside its object: the wrapped data key
// and the ID of the master key that wrapped it.
type Sealed struct {
	WrappedKey  []byte
	MasterKeyID string
}

// Seal encrypts a document of record recordID under a fresh data key and
// returns the ciphertext with the wrapped key. The record ID is bound in as
// associated data, so a ciphertext moved to another record does not open.
func (r *Keyring) Seal(recordID string, plaintext []byte) ([]byte, Sealed, error) {
	dataKey := make([]byte, 32)
	if _, err := rand.Read(dataKey); err != nil {
		return nil, Sealed{}, fmt.Errorf("vault: data key: %w", err)
	}
	ciphertext, err := gcmSeal(dataKey, plaintext, []byte("document:"+recordID))
	if err != nil {
		return nil, Sealed{}, err
	}
	wrapped, err := gcmSeal(r.keys[r.active], dataKey, wrapAAD(recordID, r.active))
	if err != nil {
		return nil, Sealed{}, err
	}
	return ciphertext, Sealed{WrappedKey: wrapped, MasterKeyID: r.active}, nil
}

// Open decrypts a document sealed by Seal.
func (r *Keyring) Open(recordID string, ciphertext []byte, s Sealed) ([]byte, error) {
	dataKey, err := r.unwrap(recordID, s)
	if err != nil {
		return nil, err
	}
	plain, err := gcmOpen(dataKey, ciphertext, []byte("document:"+recordID))
	if err != nil {
		return nil, fmt.Errorf("vault: open document %s: %w", recordID, err)
	}
	return plain, nil
}

// Rewrap unwraps the data key and wraps it again under the active master
// key. The document's ciphertext is untouched.
func (r *Keyring) Rewrap(recordID string, s Sealed) (Sealed, error) {
	dataKey, err := r.unwrap(recordID, s)
	if err != nil {
		return Sealed{}, err
	}
	wrapped, err := gcmSeal(r.keys[r.active], dataKey, wrapAAD(recordID, r.active))
	if err != nil {
		return Sealed{}, err
	}
	return Sealed{WrappedKey: wrapped, MasterKeyID: r.active}, nil
}

func (r *Keyring) unwrap(recordID string, s Sealed) ([]byte, error) {
	master, ok := r.keys[s.MasterKeyID]
	if !ok {
		return nil, fmt.Errorf("%w: %q (record %s)", ErrUnknownKey, s.MasterKeyID, recordID)
	}
	dataKey, err := gcmOpen(master, s.WrappedKey, wrapAAD(recordID, s.MasterKeyID))
	if err != nil {
		return nil, fmt.Errorf("vault: unwrap data key of record %s: %w", recordID, err)
	}
	return dataKey, nil
}

func wrapAAD(recordID, keyID string) []byte { return []byte("data-key:" + recordID + ":" + keyID) }

// gcmSeal returns nonce || AES-256-GCM(key, plaintext, aad).
func gcmSeal(key, plaintext, aad []byte) ([]byte, error) {
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("vault: nonce: %w", err)
	}
	return aead.Seal(nonce, nonce, plaintext, aad), nil
}

func gcmOpen(key, sealed, aad []byte) ([]byte, error) {
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize() {
		return nil, errors.New("vault: ciphertext too short")
	}
	return aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], aad)
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	return aead, nil
}
