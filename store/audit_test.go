package store_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

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

// checkpointWorld is a chain of the test's own with a signing key, a
// checkpoint file and a clock that moves a second per export. app is the
// store the API uses and verifies with; owner is the database owner's
// connection, the rights an attacker who took the database has, used only
// to tamper (testenv.AuditSchema hands out the application role, which
// may not).
type checkpointWorld struct {
	app   *store.Store
	owner *pgxpool.Pool
	file  store.FileCheckpoints
	key   ed25519.PrivateKey
	clock time.Time
}

func newCheckpointWorld(t *testing.T) *checkpointWorld {
	t.Helper()
	s := testenv.AuditSchema(t)
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &checkpointWorld{app: s, owner: testenv.Owner(t, s).Pool, key: key, clock: time.Now().Add(-time.Minute),
		file: store.FileCheckpoints{Path: filepath.Join(t.TempDir(), "checkpoints.jsonl")}}
}

func (w *checkpointWorld) export(t *testing.T) store.Checkpoint {
	t.Helper()
	w.clock = w.clock.Add(time.Second)
	cp, err := store.Checkpointer{Store: w.app, Out: w.file, Key: w.key, Now: func() time.Time { return w.clock }}.Export(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

func (w *checkpointWorld) verify(t *testing.T) store.AuditReport {
	t.Helper()
	r, err := w.app.VerifyAuditCheckpoints(context.Background(), w.file,
		store.CheckpointPolicy{Key: w.key.Public().(ed25519.PublicKey), MaxAge: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (w *checkpointWorld) tamper(t *testing.T, queries ...string) {
	t.Helper()
	for _, q := range queries {
		if _, err := w.owner.Exec(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// rewrite empties the table and the head as the owner and appends n
// forged events afresh: a chain consistent inside the database.
func (w *checkpointWorld) rewrite(t *testing.T, n int) {
	t.Helper()
	w.tamper(t, `ALTER TABLE audit_event DISABLE TRIGGER USER`, `ALTER TABLE audit_head DISABLE TRIGGER USER`,
		`DELETE FROM audit_event`, `UPDATE audit_head SET seq = 0, hash = '\x0000000000000000000000000000000000000000000000000000000000000000'`,
		`ALTER TABLE audit_head ENABLE TRIGGER USER`)
	appendN(t, w.app, n)
	if r, err := w.app.VerifyAudit(context.Background(), nil); err != nil || !r.Valid {
		t.Fatalf("the forged chain should be consistent by itself: %v %+v", err, r.FirstBroken)
	}
}

func (w *checkpointWorld) rewriteFile(t *testing.T, edit func([]string) []string) {
	t.Helper()
	raw, err := os.ReadFile(w.file.Path)
	if err != nil {
		t.Fatal(err)
	}
	lines := edit(strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n"))
	if err := os.WriteFile(w.file.Path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func wantCheckpointProblem(t *testing.T, r store.AuditReport, problem string) {
	t.Helper()
	if r.Valid || !strings.Contains(r.CheckpointProblem, problem) {
		t.Fatalf("report = valid %v, checkpoint problem %q, first broken %+v; want the checkpoint problem %q",
			r.Valid, r.CheckpointProblem, r.FirstBroken, problem)
	}
}

func TestCheckpointsVouchForASoundChain(t *testing.T) {
	w := newCheckpointWorld(t)
	// An empty chain needs no checkpoint.
	if r := w.verify(t); !r.Valid || r.Checkpoints != 0 {
		t.Fatalf("empty chain: %+v", r)
	}
	appendN(t, w.app, 3)
	wantCheckpointProblem(t, w.verify(t), "no checkpoint")
	first := w.export(t)
	appendN(t, w.app, 2)
	last := w.export(t)
	// The head did not move: a checkpoint is written all the same, since
	// its time is what shows the chain was sound until now.
	again := w.export(t)
	if first.Seq != 3 || last.Seq != 5 || again.Seq != 5 || !again.ExportedAt.After(last.ExportedAt) {
		t.Fatalf("checkpoints at seq %d, %d, %d", first.Seq, last.Seq, again.Seq)
	}
	if !store.VerifyCheckpoint(w.key.Public().(ed25519.PublicKey), first) {
		t.Fatal("a checkpoint does not verify with its own key")
	}
	r := w.verify(t)
	if !r.Valid || r.Checkpoints != 3 || r.Rows != 5 || r.LatestCheckpoint == nil || !r.LatestCheckpoint.Equal(again.ExportedAt) {
		t.Fatalf("report = %+v, want valid with 3 checkpoints", r)
	}
}

// The checkpointer never vouches for a chain rewritten since its last
// checkpoint: it refuses to sign, so the rewrite is not laundered into a
// fresh, valid-looking checkpoint.
func TestCheckpointerRefusesToSignARewrittenChain(t *testing.T) {
	w := newCheckpointWorld(t)
	ctx := context.Background()
	appendN(t, w.app, 4)
	prev := w.export(t)
	appendN(t, w.app, 1)
	next, err := store.Checkpointer{Store: w.app, Out: w.file, Key: w.key, Now: func() time.Time { return w.clock.Add(time.Second) }}.ExportAfter(ctx, &prev)
	if err != nil || next.Seq != 5 {
		t.Fatalf("export after a sound checkpoint: %+v %v", next, err)
	}
	w.rewrite(t, 6)
	_, err = store.Checkpointer{Store: w.app, Out: w.file, Key: w.key}.ExportAfter(ctx, &next)
	if !errors.Is(err, store.ErrChainRewritten) {
		t.Fatalf("export after a rewrite: err = %v, want ErrChainRewritten", err)
	}
	// Run starts from the newest checkpoint in the store and refuses too.
	runCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	store.Checkpointer{Store: w.app, Out: w.file, Key: w.key}.Run(runCtx, 100*time.Millisecond, testenv.Logger(t))
	list, err := w.file.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("%d checkpoints, want the 2 from before the rewrite and none after", len(list))
	}
	r := w.verify(t)
	if r.Valid || r.FirstBroken == nil || !strings.Contains(r.FirstBroken.Problem, "differs from the exported head") {
		t.Fatalf("report = %+v", r)
	}
}

// Every kind of tampering an attacker with the owner's rights can do is
// caught: in the rows (through the chain), in the whole table (through the
// signed checkpoints) and in the checkpoints (through their signatures and
// their age).
func TestCheckpointsCatchEveryTamperKind(t *testing.T) {
	disable := `ALTER TABLE audit_event DISABLE TRIGGER USER`
	for name, tc := range map[string]struct {
		tamper func(t *testing.T, w *checkpointWorld)
		// Either the first broken row and its problem, or a checkpoint problem.
		seq        int64
		problem    string
		checkpoint string
	}{
		"row edited": {func(t *testing.T, w *checkpointWorld) {
			w.tamper(t, disable, `UPDATE audit_event SET actor_id = 'someone-else' WHERE seq = 3`)
		}, 3, "row 3's fields do not match its hash", ""},
		"row deleted": {func(t *testing.T, w *checkpointWorld) {
			w.tamper(t, disable, `DELETE FROM audit_event WHERE seq = 4`)
		}, 4, "row 4 is missing", ""},
		"newest rows deleted": {func(t *testing.T, w *checkpointWorld) {
			w.tamper(t, disable, `DELETE FROM audit_event WHERE seq >= 5`)
		}, 5, "rows 5 to 6 are missing", ""},
		"row inserted at the end": {func(t *testing.T, w *checkpointWorld) {
			w.tamper(t, `INSERT INTO audit_event SELECT seq + 1, occurred_at, 'forger', actor_role, action, route, path, patient_id,
				outcome, status, purpose, reason, hash, sha256(hash) FROM audit_event WHERE seq = 6`)
		}, 7, "row 7's fields do not match its hash", ""},
		"row inserted in the middle": {func(t *testing.T, w *checkpointWorld) {
			w.tamper(t, disable, `UPDATE audit_event SET seq = seq + 100 WHERE seq > 3`,
				`UPDATE audit_event SET seq = seq - 99 WHERE seq > 100`,
				`INSERT INTO audit_event SELECT 4, occurred_at, 'forger', actor_role, action, route, path, patient_id,
				outcome, status, purpose, reason, hash, sha256(hash) FROM audit_event WHERE seq = 3`)
		}, 4, "row 4's fields do not match its hash", ""},
		"whole table rewritten with a recomputed chain": {func(t *testing.T, w *checkpointWorld) {
			w.rewrite(t, 6)
		}, 3, "differs from the exported head", ""},
		"whole table rewritten and the checkpoints removed": {func(t *testing.T, w *checkpointWorld) {
			w.rewrite(t, 6)
			if err := os.Remove(w.file.Path); err != nil {
				t.Fatal(err)
			}
		}, 0, "", "no checkpoint"},
		"checkpoint edited to name the forged head": {func(t *testing.T, w *checkpointWorld) {
			w.rewrite(t, 6)
			head, err := w.app.AuditHeadNow(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			w.rewriteFile(t, func(lines []string) []string {
				for i, l := range lines {
					var c store.Checkpoint
					if err := json.Unmarshal([]byte(l), &c); err != nil {
						t.Fatal(err)
					}
					c.AuditHead = head
					b, _ := json.Marshal(c)
					lines[i] = string(b)
				}
				return lines
			})
		}, 0, "", "signature does not verify"},
		"unsigned checkpoint appended": {func(t *testing.T, w *checkpointWorld) {
			head, err := w.app.AuditHeadNow(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(store.Checkpoint{AuditHead: head, ExportedAt: time.Now()})
			w.rewriteFile(t, func(lines []string) []string { return append(lines, string(b)) })
		}, 0, "", "unsigned or its signature does not verify"},
		"checkpoint signed with another key": {func(t *testing.T, w *checkpointWorld) {
			_, other, _ := ed25519.GenerateKey(rand.Reader)
			head, err := w.app.AuditHeadNow(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(store.SignCheckpoint(other, head, time.Now()))
			w.rewriteFile(t, func(lines []string) []string { return append(lines, string(b)) })
		}, 0, "", "signature does not verify"},
		"checkpoint file garbled": {func(t *testing.T, w *checkpointWorld) {
			w.rewriteFile(t, func(lines []string) []string { return append(lines, `{"seq": 6, "hash"`) })
		}, 0, "", "does not parse"},
		"checkpoints reordered": {func(t *testing.T, w *checkpointWorld) {
			w.rewriteFile(t, func(lines []string) []string { return []string{lines[1], lines[0]} })
		}, 0, "", "goes back"},
		"stale checkpoint": {func(t *testing.T, w *checkpointWorld) {
			// The exporter stopped: the newest checkpoint is 3 minutes old,
			// over twice the 1-minute interval.
			w.clock = time.Now().Add(-4 * time.Minute)
			if err := os.Remove(w.file.Path); err != nil {
				t.Fatal(err)
			}
			w.export(t)
			w.export(t)
		}, 0, "", "more than twice the export interval"},
	} {
		t.Run(name, func(t *testing.T) {
			w := newCheckpointWorld(t)
			appendN(t, w.app, 3)
			w.export(t)
			appendN(t, w.app, 3)
			w.export(t)
			if r := w.verify(t); !r.Valid || r.Checkpoints != 2 {
				t.Fatalf("before tampering: %+v", r)
			}
			tc.tamper(t, w)
			r := w.verify(t)
			if tc.checkpoint != "" {
				wantCheckpointProblem(t, r, tc.checkpoint)
				return
			}
			wantBroken(t, r, tc.seq, tc.problem)
		})
	}
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
	// The baseline's sequence is the owner's to make (the application role
	// creates nothing); the plain inserts run as the owner too.
	owner := testenv.Owner(b, s)
	if _, err := owner.Pool.Exec(ctx, `CREATE SEQUENCE plain_seq START 1000000000`); err != nil {
		b.Fatal(err)
	}
	const workers = 16
	n := b.N
	if n < 200 {
		n = 200
	}
	plain := func(i int) error {
		e := auditEvent(i)
		_, err := owner.Pool.Exec(ctx, `INSERT INTO audit_event (seq, occurred_at, actor_id, actor_role, action, route, path,
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
