package codec

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
)

// KeySize is the length of an AES-256 key in bytes.
const KeySize = 32

// validKeyID keeps key IDs printable and free of the separators the key
// list uses (":" between ID and secret, "," or whitespace between keys).
var validKeyID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Key is one named AES-256 key of the key ring. Its secret never leaves the
// package in printed form: String, GoString and LogValue show only the ID,
// so a Config printed in a test failure or a log line does not leak it.
type Key struct {
	id     string
	secret []byte
}

// NewKey checks the ID and the secret's length and copies the secret.
func NewKey(id string, secret []byte) (Key, error) {
	if !validKeyID.MatchString(id) {
		return Key{}, fmt.Errorf("codec: key id %q: want 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", id)
	}
	if len(secret) != KeySize {
		return Key{}, fmt.Errorf("codec: key %q: want %d bytes for AES-256, got %d", id, KeySize, len(secret))
	}
	return Key{id: id, secret: append([]byte(nil), secret...)}, nil
}

// GenerateKey makes a new random key with the given ID.
func GenerateKey(id string) (Key, error) {
	secret := make([]byte, KeySize)
	if _, err := rand.Read(secret); err != nil {
		return Key{}, fmt.Errorf("codec: generate key %q: %w", id, err)
	}
	return NewKey(id, secret)
}

// ID names the key; it travels in each encrypted payload's metadata.
func (k Key) ID() string { return k.id }

// Export is the key in the form ParseKeys reads: "ID:base64(secret)". It is
// the one way to get the secret out, for writing a key file.
func (k Key) Export() string { return k.id + ":" + base64.StdEncoding.EncodeToString(k.secret) }

func (k Key) String() string             { return "codec key " + k.id + " (secret redacted)" }
func (k Key) GoString() string           { return k.String() }
func (k Key) LogValue() slog.Value       { return slog.StringValue(k.String()) }
func (k Key) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// ParseKeys reads a key list: entries "ID:base64(32 bytes)" separated by
// commas or whitespace (so the same text works in one environment variable
// and in a file with a key per line). Standard and URL-safe base64, padded
// or not, are accepted. IDs must be unique.
func ParseKeys(s string) ([]Key, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t'
	})
	if len(fields) == 0 {
		return nil, errors.New("codec: no keys in the key list")
	}
	keys := make([]Key, 0, len(fields))
	seen := map[string]bool{}
	for i, f := range fields {
		id, b64, ok := strings.Cut(f, ":")
		if !ok {
			// Never echo the entry: it may be a secret without its ID.
			return nil, fmt.Errorf("codec: key list entry %d: want ID:base64-key", i+1)
		}
		secret, err := decodeBase64(b64)
		if err != nil {
			return nil, fmt.Errorf("codec: key %q: the secret is not base64", id)
		}
		k, err := NewKey(id, secret)
		if err != nil {
			return nil, err
		}
		if seen[id] {
			return nil, fmt.Errorf("codec: key %q is listed twice", id)
		}
		seen[id] = true
		keys = append(keys, k)
	}
	return keys, nil
}

// FormatKeys is the inverse of ParseKeys, comma-separated.
func FormatKeys(keys []Key) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k.Export()
	}
	return strings.Join(parts, ",")
}

func decodeBase64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}
