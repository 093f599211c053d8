package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/carepath/carepath/api"
	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/workflows"
)

// A started journey's ID names the patient and nothing else; the episode
// it is lives in journey_ref. Starting it again is a conflict, and a start
// that died after choosing the ID (before Temporal heard of it) is
// finished by the retry under that same ID.
func TestStartedJourneyIDIsOpaqueAndUniquePerEpisode(t *testing.T) {
	ctx := context.Background()
	cv := newConventions(t, api.RateLimitOptions{})
	admin := testenv.Token(t, cv.auth, auth.RoleAdmin, uuid.NewString())
	patient := cv.newPatient(t)

	first := cv.post(t, "/api/v1/journeys", admin, "", startBody(patient, 1))
	if first.status != http.StatusAccepted {
		t.Fatalf("start: %d %s", first.status, first.body)
	}
	var started struct {
		ID      string `json:"id"`
		Episode int    `json:"episode"`
		Pathway string `json:"pathway_id"`
	}
	if err := json.Unmarshal([]byte(first.body), &started); err != nil {
		t.Fatal(err)
	}
	p, pathway, episode, err := workflows.ParseJourneyWorkflowID(started.ID)
	if err != nil || p != patient || pathway != "" || episode != 0 || strings.Contains(started.ID, "enrol-check") {
		t.Fatalf("journey ID %q is not opaque: %q %q %d %v", started.ID, p, pathway, episode, err)
	}
	if started.Episode != 1 || started.Pathway != "enrol-check" || first.header.Get("Location") != "/api/v1/journeys/"+started.ID {
		t.Errorf("start answered %s (Location %q)", first.body, first.header.Get("Location"))
	}
	ref, err := cv.store.JourneyRefByWorkflowID(ctx, started.ID)
	if err != nil || ref.PatientID != patient || ref.PathwayID != "enrol-check" || ref.Episode != 1 {
		t.Fatalf("journey_ref = %+v, %v", ref, err)
	}
	desc, err := cv.temporal.DescribeWorkflow(ctx, started.ID, "")
	if err != nil {
		t.Fatalf("the workflow under the returned ID: %v", err)
	}

	// The same journey again: a conflict, and no second workflow.
	if dup := cv.post(t, "/api/v1/journeys", admin, "", startBody(patient, 1)); dup.status != http.StatusConflict {
		t.Errorf("second start: %d %s, want 409", dup.status, dup.body)
	}
	if again, err := cv.temporal.DescribeWorkflow(ctx, started.ID, ""); err != nil || again.WorkflowExecution.RunID != desc.WorkflowExecution.RunID {
		t.Errorf("a second run was started: %v", err)
	}

	// Another episode: another opaque ID.
	second := cv.post(t, "/api/v1/journeys", admin, "", startBody(patient, 2))
	if second.status != http.StatusAccepted || strings.Contains(second.body, started.ID) {
		t.Fatalf("episode 2: %d %s", second.status, second.body)
	}

	// A start that crashed after recording its ID: the retry starts that ID.
	chosen := workflows.NewJourneyWorkflowID(patient)
	if _, created, err := cv.store.ReserveJourneyRef(ctx, store.JourneyRef{PatientID: patient, PathwayID: "enrol-check", Episode: 3,
		WorkflowID: chosen}); err != nil || !created {
		t.Fatalf("reserve: %v %v", created, err)
	}
	retry := cv.post(t, "/api/v1/journeys", admin, "", startBody(patient, 3))
	if retry.status != http.StatusAccepted || !strings.Contains(retry.body, `"id":"`+chosen+`"`) {
		t.Fatalf("retried start: %d %s, want the recorded ID %s", retry.status, retry.body, chosen)
	}
	if _, err := cv.temporal.DescribeWorkflow(ctx, chosen, ""); err != nil {
		t.Errorf("the recorded ID has no workflow: %v", err)
	}
}

// A short link redirects to its path while it is valid and is a 404 once
// it expires, or if it never existed. It needs no sign-in.
func TestShortLinkRedirectsUntilItExpires(t *testing.T) {
	ctx := context.Background()
	cv := newConventions(t, api.RateLimitOptions{})
	target := "/journeys/" + workflows.NewJourneyWorkflowID(uuid.NewString())
	l, err := cv.store.CreateShortLink(ctx, "sms", uuid.NewString()+"/remind", target, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) *http.Response {
		t.Helper()
		resp, err := noFollow.Get(cv.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := get("/l/" + l.Token)
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != target || resp.Header.Get("Cache-Control") != "no-store" ||
		resp.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("valid link: %d Location %q Cache-Control %q", resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get("Cache-Control"))
	}
	for _, bad := range []string{"/l/" + strings.Repeat("a", 26), "/l/" + strings.ToUpper(l.Token), "/l/x", "/l/" + l.Token + "a"} {
		if resp := get(bad); resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("GET %s: %d %s, want a 404 problem", bad, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	time.Sleep(time.Until(l.ExpiresAt) + 200*time.Millisecond)
	if resp := get("/l/" + l.Token); resp.StatusCode != http.StatusNotFound || resp.Header.Get("Location") != "" {
		t.Errorf("expired link: %d Location %q, want 404", resp.StatusCode, resp.Header.Get("Location"))
	}
}
