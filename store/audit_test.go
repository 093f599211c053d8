package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/store"
)

func appendN(t testing.TB, s *store.Store, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := s.AppendAudit(context.Background(), auditEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
}

func auditEvent(i int) store.AuditEvent {
	return store.AuditEvent{ActorID: fmt.Sprintf("actor-%d", i), ActorRole: "doctor", Action: "read",
		Route: "GET /api/v1/patients/:id/records", Path: "/api/v1/patients/x/records", PatientID: uuid.NewString(),
		Outcome: "success", Status: 200, Purpose: "TREAT", Reason: "appointment"}
}

func verify(t *testing.T, s *store.Store, heads []store.AuditHead) store.AuditReport {
	t.Helper()
	r, err := s.VerifyAudit(context.Background(), heads)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func wantBroken(t *testing.T, r store.AuditReport, seq int64, problem string) {
	t.Helper()
	if r.Valid || r.FirstBroken == nil {
		t.Fatalf("chain reported valid, want broken at row %d", seq)
	}
	if r.FirstBroken.Seq != seq || !strings.Contains(r.FirstBroken.Problem, problem) {
		t.Fatalf("first broken = %+v, want row %d with %q", *r.FirstBroken, seq, problem)
	}
}

func TestAuditChainIsValidAndRefusesUpdateAndDelete(t *testing.T) {
	s := testenv.AuditSchema(t)
	appendN(t, s, 5)
	r := verify(t, s, nil)
	if !r.Valid || r.Rows != 5 || r.Head.Seq != 5 {
		t.Fatalf("report = %+v, want a valid chain of 5", r)
	}
	ctx := context.Background()
	for _, q := range []string{`UPDATE audit_event SET purpose = 'HMARKT' WHERE seq = 2`, `DELETE FROM audit_event WHERE seq = 2`,
		`TRUNCATE audit_event`, `UPDATE audit_head SET seq = 1`, `DELETE FROM audit_head`} {
		if _, err := s.Pool.Exec(ctx, q); err == nil || !strings.Contains(err.Error(), "audit_") {
			t.Errorf("%s: err = %v, want refused by a trigger", q, err)
		}
	}
}

func TestAuditDetectsARowChangedWithTriggersDisabled(t *testing.T) {
	s := testenv.AuditSchema(t)
	appendN(t, s, 10)
	ctx := context.Background()
	owner := testenv.Owner(t, s) // tampering needs the owner's rights
	if _, err := owner.Pool.Exec(ctx, `ALTER TABLE audit_event DISABLE TRIGGER USER`); err != nil {
		t.Fatal(err)
	}
	if _, err := owner.Pool.Exec(ctx, `UPDATE audit_event SET actor_id = 'someone-else' WHERE seq = 7`); err != nil {
		t.Fatal(err)
	}
	wantBroken(t, verify(t, s, nil), 7, "row 7's fields do not match its hash")
}

func TestAuditDetectsARowChangedWithItsHashRecomputed(t *testing.T) {
	s := testenv.AuditSchema(t)
	appendN(t, s, 10)
	ctx := context.Background()
	owner := testenv.Owner(t, s) // tampering needs the owner's rights
	if _, err := owner.Pool.Exec(ctx, `ALTER TABLE audit_event DISABLE TRIGGER USER`); err != nil {
		t.Fatal(err)
	}
	// A forger who rewrites row 4's hash too breaks the link from row 5.
	if _, err := owner.Pool.Exec(ctx, `UPDATE audit_event SET hash = sha256(hash) WHERE seq = 4`); err != nil {
		t.Fatal(err)
	}
	r := verify(t, s, nil)
	if r.FirstBroken == nil || r.FirstBroken.Seq != 4 && r.FirstBroken.Seq != 5 {
		t.Fatalf("first broken = %+v, want row 4 or 5", r.FirstBroken)
	}
}

func TestAuditDetectsADeletedRow(t *testing.T) {
	s := testenv.AuditSchema(t)
	appendN(t, s, 10)
	ctx := context.Background()
	owner := testenv.Owner(t, s) // tampering needs the owner's rights
	if _, err := owner.Pool.Exec(ctx, `ALTER TABLE audit_event DISABLE TRIGGER USER`); err != nil {
		t.Fatal(err)
	}
	if _, err := owner.Pool.Exec(ctx, `DELETE FROM audit_event WHERE seq = 6`); err != nil {
		t.Fatal(err)
	}
	wantBroken(t, verify(t, s, nil), 6, "row 6 is missing: the sequence jumps from 5 to 7")
}

func TestAuditDetectsDeletedNewestRows(t *testing.T) {
	s := testenv.AuditSchema(t)
	appendN(t, s, 10)
	ctx := context.Background()
	owner := testenv.Owner(t, s) // tampering needs the owner's rights
	if _, err := owner.Pool.Exec(ctx, `ALTER TABLE audit_event DISABLE TRIGGER USER`); err != nil {
		t.Fatal(err)
	}
	if _, err := owner.Pool.Exec(ctx, `DELETE FROM audit_event WHERE seq >= 9`); err != nil {
		t.Fatal(err)
	}
	wantBroken(t, verify(t, s, nil), 9, "rows 9 to 10 are missing")
	// An append after the deletion links to the head, not to row 8.
	appendN(t, s, 1)
	wantBroken(t, verify(t, s, nil), 9, "row 9 is missing: the sequence jumps from 8 to 11")
}

// A rewrite of the whole table and head (triggers off, every hash
// recomputed) is consistent inside the database; the exported heads
// catch it.
func TestAuditExportedHeadsCatchAWholeRewrite(t *testing.T) {
	s := testenv.AuditSchema(t)
	ctx := context.Background()
	owner := testenv.Owner(t, s) // tampering needs the owner's rights
	file := filepath.Join(t.TempDir(), "heads.jsonl")
	appendN(t, s, 3)
	last, err := s.ExportAuditHead(ctx, file, store.AuditHead{})
	if err != nil {
		t.Fatal(err)
	}
	if again, err := s.ExportAuditHead(ctx, file, last); err != nil || again != last {
		t.Fatalf("second export of the same head: %v %v", again, err)
	}
	appendN(t, s, 2)
	if _, err := s.ExportAuditHead(ctx, file, last); err != nil {
		t.Fatal(err)
	}
	heads, err := store.ReadAuditHeads(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(heads) != 2 || heads[0].Seq != 3 || heads[1].Seq != 5 {
		t.Fatalf("heads = %+v, want seq 3 and 5", heads)
	}
	if r := verify(t, s, heads); !r.Valid || r.Checkpoints != 2 {
		t.Fatalf("report = %+v, want valid with 2 checkpoints", r)
	}
	// Rewrite: empty both tables, then append 5 forged events afresh.
	for _, q := range []string{`ALTER TABLE audit_event DISABLE TRIGGER USER`, `ALTER TABLE audit_head DISABLE TRIGGER USER`,
		`DELETE FROM audit_event`, `UPDATE audit_head SET seq = 0, hash = '\x0000000000000000000000000000000000000000000000000000000000000000'`,
		`ALTER TABLE audit_head ENABLE TRIGGER USER`} {
		if _, err := owner.Pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	appendN(t, s, 5)
	if r := verify(t, s, nil); !r.Valid {
		t.Fatalf("the forged chain is consistent by itself, got %+v", r.FirstBroken)
	}
	wantBroken(t, verify(t, s, heads), 3, "differs from the exported head")
}

// Appends from many goroutines at once leave one unbroken chain with no
// gaps: the head row lock serialises them.
func TestAuditConcurrentAppendsLeaveAValidChain(t *testing.T) {
	s := testenv.AuditSchema(t)
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if _, err := s.AppendAudit(context.Background(), auditEvent(i)); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if r := verify(t, s, nil); !r.Valid || r.Rows != 200 || r.Head.Seq != 200 {
		t.Fatalf("report = %+v, want a valid chain of 200", r)
	}
}

// BenchmarkAuditAppend measures chained appends per second from 16
// goroutines beside plain inserts of the same rows into the same table (a
// sequence for seq, no head lock, no hashing), and reports the ratio.
//
//	go test -run '^$' -bench AuditAppend ./store/
func BenchmarkAuditAppend(b *testing.B) {
	s := testenv.AuditSchema(b)
	ctx := context.Background()
	if _, err := s.Pool.Exec(ctx, `CREATE SEQUENCE plain_seq START 1000000000`); err != nil {
		b.Fatal(err)
	}
	const workers = 16
	n := b.N
	if n < 200 {
		n = 200
	}
	plain := func(i int) error {
		e := auditEvent(i)
		_, err := s.Pool.Exec(ctx, `INSERT INTO audit_event (seq, occurred_at, actor_id, actor_role, action, route, path,
			patient_id, outcome, status, purpose, reason, prev_hash, hash)
			VALUES (nextval('plain_seq'), now(), $1, $2, $3, $4, $5, $6::uuid, $7, $8, $9, $10, '\x00', gen_random_uuid()::text::bytea)`,
			e.ActorID, e.ActorRole, e.Action, e.Route, e.Path, e.PatientID, e.Outcome, e.Status, e.Purpose, e.Reason)
		return err
	}
	chained := func(i int) error { _, err := s.AppendAudit(ctx, auditEvent(i)); return err }
	b.ResetTimer()
	plainRate := run(b, n, workers, plain)
	chainedRate := run(b, n, workers, chained)
	b.StopTimer()
	b.ReportMetric(chainedRate, "chained/s")
	b.ReportMetric(plainRate, "plain/s")
	b.ReportMetric(chainedRate/plainRate, "chained/plain")
}

// run calls op n times from workers goroutines and returns calls per second.
func run(b *testing.B, n, workers int, op func(int) error) float64 {
	var wg sync.WaitGroup
	next := make(chan int)
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := op(i); err != nil {
					b.Error(err) // keep draining, so the sender never blocks
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}
