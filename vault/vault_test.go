package vault_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/carepath/carepath/codec"
	"github.com/carepath/carepath/vault"
)

func ring(t *testing.T, active string, ids ...string) (*vault.Keyring, []codec.Key) {
	t.Helper()
	var keys []codec.Key
	for _, id := range ids {
		k, err := codec.GenerateKey(id)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	r, err := vault.NewKeyring(keys, active)
	if err != nil {
		t.Fatal(err)
	}
	return r, keys
}

func TestSealOpenAndRewrap(t *testing.T) {
	old, keys := ring(t, "m1", "m1")
	doc := []byte("%PDF-1.4 a lab report")
	ct, sealed, err := old.Seal("rec-1", doc)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, doc) || sealed.MasterKeyID != "m1" {
		t.Fatalf("ciphertext holds the document or wrong key id %q", sealed.MasterKeyID)
	}
	if got, err := old.Open("rec-1", ct, sealed); err != nil || !bytes.Equal(got, doc) {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := old.Open("rec-2", ct, sealed); err == nil {
		t.Error("a ciphertext opened as another record's")
	}
	flipped := append([]byte(nil), ct...)
	flipped[len(flipped)-1] ^= 1
	if _, err := old.Open("rec-1", flipped, sealed); err == nil {
		t.Error("a changed ciphertext opened")
	}

	m2, err := codec.GenerateKey("m2")
	if err != nil {
		t.Fatal(err)
	}
	both, err := vault.NewKeyring(append(keys, m2), "m2")
	if err != nil {
		t.Fatal(err)
	}
	rewrapped, err := both.Rewrap("rec-1", sealed)
	if err != nil || rewrapped.MasterKeyID != "m2" {
		t.Fatalf("rewrap: %+v %v", rewrapped, err)
	}
	onlyNew, err := vault.NewKeyring([]codec.Key{m2}, "m2")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := onlyNew.Open("rec-1", ct, rewrapped); err != nil || !bytes.Equal(got, doc) {
		t.Fatalf("open after rewrap with the new key only: %v", err)
	}
	if _, err := onlyNew.Open("rec-1", ct, sealed); !errors.Is(err, vault.ErrUnknownKey) {
		t.Errorf("old wrapping without the old key: %v, want ErrUnknownKey", err)
	}
}

func TestFileStore(t *testing.T) {
	ctx := context.Background()
	fs, err := vault.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := fs.Put(ctx, "patients/p1/rec-1", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if b, err := fs.Get(ctx, "patients/p1/rec-1"); err != nil || string(b) != "x" {
		t.Fatalf("get: %q %v", b, err)
	}
	if err := fs.Delete(ctx, "patients/p1/rec-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Get(ctx, "patients/p1/rec-1"); !errors.Is(err, vault.ErrNoObject) {
		t.Errorf("get after delete: %v", err)
	}
	for _, bad := range []string{"../escape", "/abs", "a/../../b", ""} {
		if err := fs.Put(ctx, bad, nil); err == nil {
			t.Errorf("key %q accepted", bad)
		}
	}
}
