package main_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/carepath/carepath/codec"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/vault"
)

// `carepath records rotate-master-key` re-wraps every document's data key
// under the new master key; the sealed documents stay byte for byte the
// same and open with the new key alone.
func TestRotateMasterKeyLeavesDocumentsUntouched(t *testing.T) {
	bin := buildBinary(t)
	ctx := context.Background()
	s, dbURL := testenv.IsolatedTables(t, "health_record")
	oldKey, err := codec.GenerateKey("old-1")
	if err != nil {
		t.Fatal(err)
	}
	newKey, err := codec.GenerateKey("new-2")
	if err != nil {
		t.Fatal(err)
	}
	oldRing, err := vault.NewKeyring([]codec.Key{oldKey}, "old-1")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	objects, err := vault.NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string][]byte{}
	for i := 0; i < 3; i++ {
		id, plain := uuid.NewString(), []byte("%PDF-1.4 report "+uuid.NewString())
		ct, sealed, err := oldRing.Seal(id, plain)
		if err != nil {
			t.Fatal(err)
		}
		key, ctype, size := "patients/p/records/"+id, "application/pdf", int64(len(plain))
		if err := objects.Put(ctx, key, ct); err != nil {
			t.Fatal(err)
		}
		if _, err := s.InsertRecord(ctx, store.HealthRecord{ID: id, PatientID: uuid.NewString(), Kind: "document", EffectiveDate: time.Now(),
			Display: "report", AuthorID: "p", AuthorRole: "patient", ContentType: &ctype, SizeBytes: &size, ObjectKey: &key,
			ContentSHA256: []byte{1}, WrappedKey: sealed.WrappedKey, MasterKeyID: &sealed.MasterKeyID}); err != nil {
			t.Fatal(err)
		}
		docs[id] = plain
	}
	before := map[string][]byte{}
	for id := range docs {
		if before[id], err = os.ReadFile(filepath.Join(dir, "patients", "p", "records", id)); err != nil {
			t.Fatal(err)
		}
	}
	rotate := func() string {
		cmd := exec.Command(bin, "records", "rotate-master-key")
		cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL, "CAREPATH_RECORDS_DIR="+dir,
			"CAREPATH_RECORDS_KEYS="+oldKey.Export()+","+newKey.Export(), "CAREPATH_RECORDS_ACTIVE_KEY=new-2")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("rotate: %v\n%s", err, out)
		}
		return string(out)
	}
	if out := rotate(); !strings.Contains(out, "re-wrapped 3 document keys under new-2") {
		t.Fatalf("rotate said %q", out)
	}
	if out := rotate(); !strings.Contains(out, "re-wrapped 0 document keys") {
		t.Fatalf("second rotation said %q", out)
	}
	newOnly, err := vault.NewKeyring([]codec.Key{newKey}, "new-2")
	if err != nil {
		t.Fatal(err)
	}
	for id, plain := range docs {
		after, err := os.ReadFile(filepath.Join(dir, "patients", "p", "records", id))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(after, before[id]) {
			t.Errorf("document %s: ciphertext changed by the rotation", id)
		}
		var wrapped []byte
		var keyID string
		if err := s.Pool.QueryRow(ctx, `SELECT wrapped_key, master_key_id FROM health_record WHERE id = $1`, id).Scan(&wrapped, &keyID); err != nil {
			t.Fatal(err)
		}
		got, err := newOnly.Open(id, after, vault.Sealed{WrappedKey: wrapped, MasterKeyID: keyID})
		if keyID != "new-2" || err != nil || !bytes.Equal(got, plain) {
			t.Errorf("document %s: key %s, open with the new key only: %v", id, keyID, err)
		}
	}
}
