package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/store"
)

// appendOnly are the tables migration 0017 leaves the application role only
// INSERT and SELECT on, with a column to try to change in each.
var appendOnly = map[string]string{
	"audit_event":         "reason",
	"ledger_account":      "currency",
	"journal_entry":       "currency",
	"journal_line":        "amount_minor",
	"platform_fee_rate":   "fee_bps",
	"signed_prescription": "key_id",
	"prescription_review": "reason",
	"medication_request":  "quantity",
	"record_signature":    "device_id",
}

// refusedByPrivilege runs q as s's role in a transaction that is always
// rolled back (so a grant gone wrong never changes the shared test
// database) and fails the test unless PostgreSQL refused it for want of a
// privilege: "permission denied" or "must be owner", not a trigger (the
// triggers raise the same SQLSTATE, 42501, with other words).
func refusedByPrivilege(t *testing.T, s *store.Store, q string) {
	t.Helper()
	ctx := context.Background()
	tx, err := s.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, q)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42501" ||
		!strings.Contains(pgErr.Message, "permission denied") && !strings.Contains(pgErr.Message, "must be owner") {
		t.Errorf("%s as the application role: err = %v, want permission denied", q, err)
	}
}

// The tests connect as the application role, as the API and the worker do;
// it owns no table of the schema.
func TestApplicationRoleOwnsNothing(t *testing.T) {
	s := testenv.Store(t)
	ctx := context.Background()
	var who string
	var owned int
	if err := s.Pool.QueryRow(ctx, `SELECT current_user, (SELECT count(*) FROM pg_tables
		WHERE schemaname = 'public' AND pg_has_role(current_user, tableowner, 'USAGE'))`).Scan(&who, &owned); err != nil {
		t.Fatal(err)
	}
	if who != testenv.Config(t).AppRole() || owned != 0 {
		t.Fatalf("tests connect as %s, which owns %d tables; want the application role %s owning none", who, owned, testenv.Config(t).AppRole())
	}
	refusedByPrivilege(t, s, `CREATE TABLE public.app_role_made_this (id int)`)
	refusedByPrivilege(t, s, `ALTER TABLE patient ADD COLUMN smuggled text`)
	refusedByPrivilege(t, s, `DROP TABLE idempotency_key`)
}

// On the audit trail, the ledger and signed prescriptions and uploads the
// application role may read and append, and nothing else: no UPDATE,
// DELETE or TRUNCATE, and, since it owns none of them, no ALTER TABLE ...
// DISABLE TRIGGER that would let it rewrite rows unseen.
func TestApplicationRoleCannotRewriteAppendOnlyTables(t *testing.T) {
	s := testenv.Store(t)
	ctx := context.Background()
	for table, column := range appendOnly {
		t.Run(table, func(t *testing.T) {
			var n int64
			if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
				t.Fatalf("SELECT: %v", err)
			}
			refusedByPrivilege(t, s, `UPDATE `+table+` SET `+column+` = `+column)
			refusedByPrivilege(t, s, `DELETE FROM `+table)
			refusedByPrivilege(t, s, `TRUNCATE `+table)
			refusedByPrivilege(t, s, `ALTER TABLE `+table+` DISABLE TRIGGER USER`)
			refusedByPrivilege(t, s, `ALTER TABLE `+table+` DISABLE TRIGGER ALL`)
			refusedByPrivilege(t, s, `ALTER TABLE `+table+` OWNER TO `+testenv.Config(t).AppRole())
		})
	}
	// The audit head moves forward (seq and hash) and nothing else.
	refusedByPrivilege(t, s, `DELETE FROM audit_head`)
	refusedByPrivilege(t, s, `INSERT INTO audit_head (id, seq, hash) VALUES (false, 0, '\x00')`)
	refusedByPrivilege(t, s, `UPDATE audit_head SET id = true`)
	refusedByPrivilege(t, s, `TRUNCATE audit_head`)
	refusedByPrivilege(t, s, `ALTER TABLE audit_head DISABLE TRIGGER USER`)
	// A prescription changes status, never whose or whose prescriber it is.
	refusedByPrivilege(t, s, `UPDATE prescription SET patient_id = patient_id`)
	refusedByPrivilege(t, s, `UPDATE prescription SET practitioner_id = practitioner_id`)
	refusedByPrivilege(t, s, `DELETE FROM prescription`)
	// A signing key is revoked, never re-pointed at another key.
	refusedByPrivilege(t, s, `UPDATE user_public_key SET spki = spki`)
	refusedByPrivilege(t, s, `UPDATE user_public_key SET owner_id = owner_id`)
	refusedByPrivilege(t, s, `DELETE FROM user_public_key`)
}

// The application role appends to and reads its own audit chain, and
// every way of rewriting it is refused by a privilege (the trigger is
// never reached), so the chain still verifies afterwards.
func TestApplicationRoleAppendsToTheAuditChainAndCannotTamper(t *testing.T) {
	s := testenv.AuditSchema(t)
	appendN(t, s, 5)
	ctx := context.Background()
	var who string
	if err := s.Pool.QueryRow(ctx, `SELECT current_user`).Scan(&who); err != nil || who != testenv.Config(t).AppRole() {
		t.Fatalf("AuditSchema connects as %q (%v), want the application role", who, err)
	}
	for _, q := range []string{
		`UPDATE audit_event SET actor_id = 'someone-else' WHERE seq = 3`,
		`UPDATE audit_event SET hash = sha256(hash) WHERE seq = 4`,
		`DELETE FROM audit_event WHERE seq = 5`,
		`DELETE FROM audit_event`,
		`TRUNCATE audit_event`,
		`ALTER TABLE audit_event DISABLE TRIGGER USER`,
		`ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_update_delete`,
		`ALTER TABLE audit_head DISABLE TRIGGER USER`,
		`DROP TRIGGER audit_event_no_update_delete ON audit_event`,
		`DELETE FROM audit_head`,
	} {
		refusedByPrivilege(t, s, q)
	}
	// The head still refuses to move anywhere but one step forward.
	if _, err := s.Pool.Exec(ctx, `UPDATE audit_head SET seq = 1`); err == nil || !strings.Contains(err.Error(), "only moves forward") {
		t.Errorf("moving the head back as the application role: %v, want refused by the trigger", err)
	}
	r := verify(t, s, nil)
	if !r.Valid || r.Rows != 5 || r.Head.Seq != 5 {
		t.Fatalf("after the refused tampering: %+v, want a valid chain of 5", r)
	}
	appendN(t, s, 1)
	var rows int
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_event`).Scan(&rows); err != nil || rows != 6 {
		t.Fatalf("rows = %d (%v), want 6 after one more append", rows, err)
	}
}

// A ledger entry posts as the application role (INSERT on the entry, its
// lines and the accounts, and the payable account's lock) and then cannot
// be changed or removed.
func TestApplicationRolePostsToTheLedgerAndCannotRewriteIt(t *testing.T) {
	ctx, s := seededStore(t)
	ps := newPractitioner(ctx, t, s)
	_, p := paidAppointment(ctx, t, s, ps, 80000)
	var entry string
	if err := s.Pool.QueryRow(ctx, `SELECT id::text FROM journal_entry WHERE payment_id = $1`, p.ID).Scan(&entry); err != nil {
		t.Fatalf("the payment's journal entry: %v", err)
	}
	refusedByPrivilege(t, s, `UPDATE journal_line SET amount_minor = amount_minor * 2 WHERE entry_id = '`+entry+`'`)
	refusedByPrivilege(t, s, `DELETE FROM journal_line WHERE entry_id = '`+entry+`'`)
	refusedByPrivilege(t, s, `DELETE FROM journal_entry WHERE id = '`+entry+`'`)
	refusedByPrivilege(t, s, `UPDATE ledger_account SET practitioner_id = NULL WHERE practitioner_id = '`+ps.practitionerID+`'`)
	var lines int
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM journal_line WHERE entry_id = $1`, entry).Scan(&lines); err != nil || lines < 2 {
		t.Fatalf("entry %s has %d lines (%v) after the refused changes, want its lines intact", entry, lines, err)
	}
}

// Migrating as the application role is refused, and the error says which
// role migrations need.
func TestMigrateAsTheApplicationRoleNamesTheOwner(t *testing.T) {
	ctx := context.Background()
	testenv.Store(t) // the shared schema is migrated
	// A throwaway schema the application role may use but not create in,
	// so that nothing is ever migrated in public by this test.
	owner := testenv.OwnerStore(t)
	schema := "app_migrate_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16]
	if _, err := owner.Pool.Exec(ctx, `CREATE SCHEMA `+schema+`; GRANT USAGE ON SCHEMA `+schema+` TO `+
		pgx.Identifier{testenv.Config(t).AppRole()}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = owner.Pool.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`) })
	s, err := store.Open(ctx, testenv.Config(t).DatabaseURL+"&search_path="+schema)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err == nil || !strings.Contains(err.Error(), "DATABASE_OWNER_URL") {
		t.Fatalf("Migrate as the application role: %v, want a permission error naming DATABASE_OWNER_URL", err)
	}
}
