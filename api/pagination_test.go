package api_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
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

type journeyPage struct {
	Items []struct {
		ID        string    `json:"id"`
		PathwayID string    `json:"pathway_id"`
		Running   bool      `json:"running"`
		StartedAt time.Time `json:"started_at"`
	} `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

func (cv *conventions) journeys(t *testing.T, token, patient, query string) (int, journeyPage, string) {
	t.Helper()
	a, err := cv.send(t, t.Context(), http.MethodGet, "/api/v1/patients/"+patient+"/journeys?"+query, token, "", "")
	if err != nil {
		t.Fatal(err)
	}
	var page journeyPage
	if a.status == http.StatusOK {
		if err := json.Unmarshal([]byte(a.body), &page); err != nil {
			t.Fatalf("page: %v: %s", err, a.body)
		}
	}
	return a.status, page, a.body
}

func TestJourneyListPagesSortsAndFilters(t *testing.T) {
	cv := newConventions(t, api.RateLimitOptions{})
	admin := testenv.Token(t, cv.auth, auth.RoleAdmin, uuid.NewString())
	patient := cv.newPatient(t)
	var started []string
	for episode := 1; episode <= 3; episode++ {
		if a := cv.post(t, "/api/v1/journeys", admin, "", startBody(patient, episode)); a.status != http.StatusAccepted {
			t.Fatalf("start %d: %d %s", episode, a.status, a.body)
		}
		started = append(started, testenv.JourneyID(t, cv.store, patient, "enrol-check", episode))
	}
	// Visibility is eventually consistent: wait until all three are listed.
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, page, _ := cv.journeys(t, admin, patient, "limit=100"); len(page.Items) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the three journeys were never listed")
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Two pages of two, newest first by default; the cursor leads on.
	status, first, body := cv.journeys(t, admin, patient, "limit=2")
	if status != http.StatusOK || len(first.Items) != 2 || first.NextCursor == nil {
		t.Fatalf("first page: %d %s", status, body)
	}
	_, second, body := cv.journeys(t, admin, patient, "limit=2&cursor="+url.QueryEscape(*first.NextCursor))
	if len(second.Items) != 1 || second.NextCursor != nil {
		t.Fatalf("second page: %s", body)
	}
	newestFirst := []string{first.Items[0].ID, first.Items[1].ID, second.Items[0].ID}
	if !slices.Equal(newestFirst, []string{started[2], started[1], started[0]}) {
		t.Errorf("default order %v, want newest first %v", newestFirst, started)
	}
	// Ascending by start time is the reverse.
	_, asc, _ := cv.journeys(t, admin, patient, "sort=started_at")
	if len(asc.Items) != 3 || asc.Items[0].ID != started[0] || asc.Items[2].ID != started[2] {
		t.Errorf("sort=started_at: %+v", asc.Items)
	}
	// Filters go into the visibility query.
	if _, page, body := cv.journeys(t, admin, patient, "pathway_id=general-consult"); len(page.Items) != 0 {
		t.Errorf("pathway_id filter: %s", body)
	}
	if _, page, body := cv.journeys(t, admin, patient, "running=true&pathway_id=enrol-check"); len(page.Items) != 3 {
		t.Errorf("running filter: %s", body)
	}

	// Bad paging parameters are 400 problems naming the parameter.
	for query, param := range map[string]string{
		"limit=0": "limit", "limit=101": "limit", "limit=ten": "limit",
		"sort=name": "sort", "sort=--started_at": "sort",
		"cursor=not-a-cursor": "cursor", "sort=started_at&cursor=" + url.QueryEscape(*first.NextCursor): "cursor",
		"running=maybe": "running", "pathway_id=General%20Consult": "pathway_id", "stage=a'b": "stage",
	} {
		status, _, body := cv.journeys(t, admin, patient, query)
		if status != http.StatusBadRequest || !strings.Contains(body, `"parameter":"`+param+`"`) {
			t.Errorf("%s: %d %s, want 400 naming %s", query, status, body, param)
		}
	}
}

// Every JSON body CarePath defines refuses fields it does not know, and the
// problem names the field.
func TestUnknownFieldsAreRefusedNamingTheField(t *testing.T) {
	cv := newConventions(t, api.RateLimitOptions{})
	admin := testenv.Token(t, cv.auth, auth.RoleAdmin, uuid.NewString())
	journey := "/api/v1/journeys/" + workflows.NewJourneyWorkflowID(store.SeedPatientID(1))
	cases := []struct{ path, token, body, field string }{
		{"/api/v1/auth/sign-in", "", `{"email":"a@b.example","password":"x","remember_me":true}`, "/remember_me"},
		{"/api/v1/auth/sms-code/verify", "", `{"phone":"+15005550100","code":"123456","device":"x"}`, "/device"},
		{"/api/v1/journeys", admin, `{"patient_id":"` + store.SeedPatientID(1) + `","pathway_id":"enrol-check","priority":"high"}`, "/priority"},
		{journey + "/decisions", admin, `{"step_id":"doctor_review","outcome":"accepted","urgent":true}`, "/urgent"},
		{journey + "/cancel", admin, `{"reason":"moved","refund":"all"}`, "/refund"},
		{journey + "/reschedule", admin, `{"new_slot_id":"` + uuid.NewString() + `","note":"x"}`, "/note"},
	}
	for _, tc := range cases {
		a := cv.post(t, tc.path, tc.token, "", tc.body)
		var p api.Problem
		_ = json.Unmarshal([]byte(a.body), &p)
		if a.status != http.StatusUnprocessableEntity || len(p.Errors) != 1 || p.Errors[0].Pointer != tc.field {
			t.Errorf("%s: %d %s, want 422 naming %s", tc.path, a.status, a.body, tc.field)
		}
	}
}
