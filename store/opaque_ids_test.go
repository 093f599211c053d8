package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/workflows"
)

// The same (patient, pathway, episode) names one workflow however often and
// however concurrently it is reserved; another episode gets another ID.
func TestReserveJourneyRefKeepsTheFirstID(t *testing.T) {
	ctx := context.Background()
	s := testenv.Store(t)
	patient := testenv.NewPatient(t, s, "Pune")

	var wg sync.WaitGroup
	ids := make([]string, 8)
	created := make([]bool, 8)
	errs := make([]error, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ref, c, err := s.ReserveJourneyRef(ctx, store.JourneyRef{PatientID: patient, PathwayID: "type-2-diabetes", Episode: 1,
				WorkflowID: workflows.NewJourneyWorkflowID(patient)})
			ids[i], created[i], errs[i] = ref.WorkflowID, c, err
		}()
	}
	wg.Wait()
	winners := 0
	for i := range ids {
		if errs[i] != nil {
			t.Fatalf("reserve %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Fatalf("reserve %d got %s, reserve 0 got %s", i, ids[i], ids[0])
		}
		if created[i] {
			winners++
		}
	}
	if winners != 1 {
		t.Errorf("%d reserves say they created the row, want 1", winners)
	}
	ref, err := s.JourneyRefByWorkflowID(ctx, ids[0])
	if err != nil || ref.PatientID != patient || ref.PathwayID != "type-2-diabetes" || ref.Episode != 1 {
		t.Fatalf("by workflow ID: %+v %v", ref, err)
	}
	if byEp, err := s.JourneyRefByEpisode(ctx, patient, "type-2-diabetes", 1); err != nil || byEp.WorkflowID != ids[0] {
		t.Fatalf("by episode: %+v %v", byEp, err)
	}
	next, c, err := s.ReserveJourneyRef(ctx, store.JourneyRef{PatientID: patient, PathwayID: "type-2-diabetes", Episode: 2,
		WorkflowID: workflows.NewJourneyWorkflowID(patient)})
	if err != nil || !c || next.WorkflowID == ids[0] {
		t.Fatalf("episode 2: %+v created=%v %v", next, c, err)
	}
	if n, err := s.NextJourneyEpisode(ctx, patient, "type-2-diabetes"); err != nil || n != 3 {
		t.Errorf("next episode = %d, %v; want 3", n, err)
	}

	// Another episode offered a taken workflow ID is refused, not merged.
	if _, _, err := s.ReserveJourneyRef(ctx, store.JourneyRef{PatientID: patient, PathwayID: "asthma", Episode: 1,
		WorkflowID: ids[0]}); !errors.Is(err, store.ErrJourneyIDTaken) {
		t.Errorf("taken ID: err = %v", err)
	}
	if _, _, err := s.ReserveJourneyRef(ctx, store.JourneyRef{PatientID: uuid.NewString(), PathwayID: "asthma", Episode: 1,
		WorkflowID: workflows.NewJourneyWorkflowID(patient)}); !errors.Is(err, store.ErrPatientNotFound) {
		t.Errorf("unknown patient: err = %v", err)
	}
	if _, err := s.JourneyRefByWorkflowID(ctx, workflows.NewJourneyWorkflowID(patient)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown workflow: err = %v", err)
	}
}

// A short link resolves to its target until it expires, and the same
// (scope, key) always gives the same token.
func TestShortLinkIsIdempotentAndExpires(t *testing.T) {
	ctx := context.Background()
	s := testenv.Store(t)
	key := uuid.NewString() + "/reminder-1"
	l, err := s.CreateShortLink(ctx, "sms", key, "/journeys/x", time.Hour)
	if err != nil || !store.ValidLinkToken(l.Token) || l.Target != "/journeys/x" || time.Until(l.ExpiresAt) < 59*time.Minute {
		t.Fatalf("create: %+v %v", l, err)
	}
	again, err := s.CreateShortLink(ctx, "sms", key, "/journeys/x", time.Hour)
	if err != nil || again.Token != l.Token || !again.ExpiresAt.Equal(l.ExpiresAt) {
		t.Fatalf("again: %+v %v, want token %s", again, err, l.Token)
	}
	if other, err := s.CreateShortLink(ctx, "staff", key, "/journeys/x", time.Hour); err != nil || other.Token == l.Token {
		t.Fatalf("another scope: %+v %v", other, err)
	}
	if _, err := s.CreateShortLink(ctx, "sms", key, "/journeys/y", time.Hour); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("same key, other target: err = %v", err)
	}
	got, err := s.ResolveShortLink(ctx, l.Token)
	if err != nil || got.Target != "/journeys/x" {
		t.Fatalf("resolve: %+v %v", got, err)
	}
	for _, bad := range []string{"", "nope", l.Token + "a", "AAAAAAAAAAAAAAAAAAAAAAAAAA", "aaaaaaaaaaaaaaaaaaaaaaaaaa"} {
		if _, err := s.ResolveShortLink(ctx, bad); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("resolve %q: err = %v", bad, err)
		}
	}

	short, err := s.CreateShortLink(ctx, "sms", uuid.NewString(), "/adherence/z", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ResolveShortLink(ctx, short.Token); err != nil {
		t.Fatalf("resolve before expiry: %v", err)
	}
	time.Sleep(1100 * time.Millisecond)
	if _, err := s.ResolveShortLink(ctx, short.Token); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("resolve after expiry: err = %v", err)
	}
}
