package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/carepath/carepath/api"
	"github.com/carepath/carepath/internal/testenv"
)

// directoryServer is the real router over the seeded test database; every
// request goes as a signed-in doctor.
func directoryServer(t *testing.T) *httptest.Server {
	t.Helper()
	s := testenv.Store(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s.Seed(ctx); err != nil {
		t.Fatalf("seed: %v", err)
	}
	srv := httptest.NewServer(authedRouter(t, api.Options{Logger: testenv.Logger(t), Store: s}))
	t.Cleanup(srv.Close)
	return srv
}

var (
	openAPISchemas     *jsonschema.Compiler
	openAPISchemasOnce sync.Once
)

// conformsTo checks body against a response schema of openapi.json, so the
// document and the handlers cannot drift apart.
func conformsTo(t *testing.T, schema string, body any) {
	t.Helper()
	openAPISchemasOnce.Do(func() {
		raw, err := os.ReadFile("openapi.json")
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		c := jsonschema.NewCompiler()
		if err := c.AddResource("openapi.json", doc); err != nil {
			t.Fatal(err)
		}
		openAPISchemas = c
	})
	sch, err := openAPISchemas.Compile("openapi.json#/components/schemas/" + schema)
	if err != nil {
		t.Fatalf("compile %s: %v", schema, err)
	}
	if err := sch.Validate(body); err != nil {
		t.Errorf("response does not match schema %s: %v", schema, err)
	}
}

// getJSON calls path and decodes the JSON body, checking that its media
// type fits the status (problem+json for errors).
func getJSON(t *testing.T, srv *httptest.Server, path string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("GET %s: body is not a JSON object: %v", path, err)
	}
	wantType := "application/json"
	if resp.StatusCode >= 400 {
		wantType = "application/problem+json"
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, wantType) {
		t.Errorf("GET %s: %d with Content-Type %q, want %s", path, resp.StatusCode, ct, wantType)
	}
	if resp.StatusCode >= 400 {
		conformsTo(t, "Problem", body)
	}
	return resp.StatusCode, body
}

// wantGetProblem GETs path and checks a problem+json answer with this status and, for a
// 422, the field it names.
func wantGetProblem(t *testing.T, srv *httptest.Server, path string, status int, pointer string) {
	t.Helper()
	got, body := getJSON(t, srv, path)
	wantProblem(t, "GET "+path, got, body, status, pointer)
}

// object checks that v is a JSON object with exactly these keys, and
// returns it.
func object(t *testing.T, what string, v any, keys ...string) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s = %v, want an object", what, v)
	}
	var got []string
	for k := range m {
		got = append(got, k)
	}
	sort.Strings(got)
	want := slices.Clone(keys)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s has fields %v, want exactly %v", what, got, want)
	}
	return m
}

func array(t *testing.T, what string, v any) []any {
	t.Helper()
	a, ok := v.([]any)
	if !ok {
		t.Fatalf("%s = %v, want an array", what, v)
	}
	return a
}

func wantString(t *testing.T, what string, v any) string {
	t.Helper()
	s, ok := v.(string)
	if !ok || s == "" {
		t.Errorf("%s = %#v, want a non-empty string", what, v)
	}
	return s
}

func wantInt(t *testing.T, what string, v any) int {
	t.Helper()
	f, ok := v.(float64)
	if !ok || f != math.Trunc(f) || f < 0 {
		t.Errorf("%s = %#v, want a whole number ≥ 0", what, v)
	}
	return int(f)
}

var weekdays = []string{"MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"}

func wantDays(t *testing.T, what string, v any) {
	t.Helper()
	days := array(t, what, v)
	if len(days) == 0 {
		t.Errorf("%s is empty", what)
	}
	last := -1
	for _, d := range days {
		i := slices.Index(weekdays, d.(string))
		if i <= last {
			t.Errorf("%s = %v, want weekday names, Monday first", what, days)
		}
		last = i
	}
}

var healthLinkDoctorFields = []string{"id", "profile_photo_url", "doctor_name", "specialization", "experience_years",
	"city", "available_days", "consultation_fees", "wait_time", "reviews_count"}

// checkHealthLinkDoctor checks the fields both doctor shapes share.
func checkHealthLinkDoctor(t *testing.T, what string, d map[string]any) {
	t.Helper()
	wantString(t, what+".id", d["id"])
	if p, ok := d["profile_photo_url"].(string); d["profile_photo_url"] != nil && (!ok || !strings.HasPrefix(p, "https://")) {
		t.Errorf("%s.profile_photo_url = %#v, want a URL or null", what, d["profile_photo_url"])
	}
	wantString(t, what+".doctor_name", d["doctor_name"])
	wantString(t, what+".specialization", d["specialization"])
	wantInt(t, what+".experience_years", d["experience_years"])
	wantString(t, what+".city", d["city"])
	wantDays(t, what+".available_days", d["available_days"])
	if fee, ok := d["consultation_fees"].(float64); !ok || fee <= 0 {
		t.Errorf("%s.consultation_fees = %#v, want a positive number", what, d["consultation_fees"])
	}
	wantInt(t, what+".wait_time", d["wait_time"])
	wantInt(t, what+".reviews_count", d["reviews_count"])
}

func TestHealthLinkSuggestionContract(t *testing.T) {
	srv := directoryServer(t)
	status, body := getJSON(t, srv, "/api/top/suggestion.json?city=Bengaluru")
	if status != http.StatusOK {
		t.Fatalf("status %d: %v", status, body)
	}
	conformsTo(t, "HealthLinkSuggestions", body)
	results := object(t, "body", body, "results")
	matches := array(t, "results.matches", object(t, "results", results["results"], "matches")["matches"])
	if len(matches) == 0 {
		t.Fatal("no top suggestions in Bengaluru")
	}
	for i, m := range matches {
		mm := object(t, "match", m, "suggestion", "original", "display_name", "category", "type")
		wantString(t, "suggestion", mm["suggestion"])
		wantString(t, "original", mm["original"])
		if mm["display_name"] != "SPECIALITY" || mm["category"] != "subspeciality" || mm["type"] != "doctor" {
			t.Errorf("match %d = %v", i, mm)
		}
	}
	for _, q := range []string{"teeth", "tooth pain", "dentist", "tooth p"} {
		_, body := getJSON(t, srv, "/api/top/suggestion.json?city=Bengaluru&q="+url.QueryEscape(q))
		matches := body["results"].(map[string]any)["matches"].([]any)
		if len(matches) == 0 || matches[0].(map[string]any)["suggestion"] != "Dentist" {
			t.Errorf("q=%q: %v, want Dentist first", q, matches)
		}
	}
	_, body = getJSON(t, srv, "/api/top/suggestion.json?q=teeth")
	if first := body["results"].(map[string]any)["matches"].([]any)[0].(map[string]any); first["original"] != "teeth" {
		t.Errorf("q=teeth: original %v, want the synonym that matched", first["original"])
	}
	_, body = getJSON(t, srv, "/api/top/suggestion.json?city=Atlantis&q=teeth")
	if m := body["results"].(map[string]any)["matches"].([]any); len(m) != 0 {
		t.Errorf("a city without doctors: %v", m)
	}
	wantGetProblem(t, srv, "/api/top/suggestion.json?q="+strings.Repeat("a", 101), http.StatusUnprocessableEntity, "/q")
	wantGetProblem(t, srv, "/api/top/suggestion.json?city="+strings.Repeat("a", 101), http.StatusUnprocessableEntity, "/city")
}

func TestHealthLinkSearchDoctorsContract(t *testing.T) {
	srv := directoryServer(t)
	status, body := getJSON(t, srv, "/api/search/doctors/?city=Bengaluru&q=teeth&page=1")
	if status != http.StatusOK {
		t.Fatalf("status %d: %v", status, body)
	}
	conformsTo(t, "HealthLinkDoctorList", body)
	doctors := array(t, "doctors", object(t, "body", body, "doctors")["doctors"])
	if len(doctors) == 0 {
		t.Fatal("no dentist in Bengaluru")
	}
	for i, d := range doctors {
		checkHealthLinkDoctor(t, "doctors["+string(rune('0'+i))+"]", object(t, "doctor", d, healthLinkDoctorFields...))
		if d.(map[string]any)["city"] != "Bengaluru" {
			t.Errorf("doctor in %v, want Bengaluru", d.(map[string]any)["city"])
		}
	}
	if first := doctors[0].(map[string]any); first["specialization"] != "Dentist" {
		t.Errorf("teeth: first doctor is a %v", first["specialization"])
	}

	// Pages of ten, in order, without repeats; past the last page, nothing.
	_, p1 := getJSON(t, srv, "/api/search/doctors/?q=pain")
	_, p2 := getJSON(t, srv, "/api/search/doctors/?q=pain&page=2")
	first, second := array(t, "page 1", p1["doctors"]), array(t, "page 2", p2["doctors"])
	if len(first) != 10 || len(second) == 0 {
		t.Fatalf("q=pain: %d doctors on page 1, %d on page 2", len(first), len(second))
	}
	for _, d := range second {
		if slices.ContainsFunc(first, func(f any) bool { return f.(map[string]any)["id"] == d.(map[string]any)["id"] }) {
			t.Errorf("doctor %v on pages 1 and 2", d.(map[string]any)["id"])
		}
	}
	if status, body := getJSON(t, srv, "/api/search/doctors/?q=pain&page=1000"); status != http.StatusOK || len(array(t, "page 1000", body["doctors"])) != 0 {
		t.Errorf("page 1000: %d %v, want 200 and no doctors", status, body)
	}
	for _, page := range []string{"0", "-1", "two", "1.5", "1001"} {
		wantGetProblem(t, srv, "/api/search/doctors/?q=pain&page="+page, http.StatusUnprocessableEntity, "/page")
	}
	wantGetProblem(t, srv, "/api/search/doctors/?q="+strings.Repeat("x", 101), http.StatusUnprocessableEntity, "/q")
}

func TestHealthLinkViewDoctorContract(t *testing.T) {
	srv := directoryServer(t)
	_, found := getJSON(t, srv, "/api/search/doctors/?city=Delhi&q=dentist")
	listed := found["doctors"].([]any)[0].(map[string]any)
	id := listed["id"].(string)

	status, body := getJSON(t, srv, "/api/view/doctor/?id="+id)
	if status != http.StatusOK {
		t.Fatalf("status %d: %v", status, body)
	}
	conformsTo(t, "HealthLinkDoctorProfile", body)
	d := object(t, "doctor", object(t, "body", body, "doctor")["doctor"], "id", "profile_photo_url", "doctor_name",
		"specialization", "qualifications", "experience_years", "city", "available_timings", "available_days",
		"consultation_fees", "summary", "wait_time", "recommendation_percent", "patients_count", "reviews_count")
	checkHealthLinkDoctor(t, "doctor", d)
	for _, k := range healthLinkDoctorFields {
		if k != "available_days" && d[k] != listed[k] {
			t.Errorf("%s: profile says %v, search said %v", k, d[k], listed[k])
		}
	}
	wantString(t, "qualifications", d["qualifications"])
	wantString(t, "summary", d["summary"])
	if r := wantInt(t, "recommendation_percent", d["recommendation_percent"]); r > 100 {
		t.Errorf("recommendation_percent = %d", r)
	}
	wantInt(t, "patients_count", d["patients_count"])
	timings := array(t, "available_timings", d["available_timings"])
	if len(timings) < len(d["available_days"].([]any)) {
		t.Errorf("%d timings for days %v", len(timings), d["available_days"])
	}
	for _, tm := range timings {
		tt := object(t, "timing", tm, "day", "from", "to")
		from, to := wantString(t, "from", tt["from"]), wantString(t, "to", tt["to"])
		if !slices.Contains(weekdays, tt["day"].(string)) || len(from) != 8 || len(to) != 8 ||
			!(strings.HasSuffix(from, " AM") || strings.HasSuffix(from, " PM")) {
			t.Errorf("timing %v", tt)
		}
	}

	wantGetProblem(t, srv, "/api/view/doctor/", http.StatusUnprocessableEntity, "/id")
	wantGetProblem(t, srv, "/api/view/doctor/?id=00000000-0000-0000-0000-000000000000", http.StatusNotFound, "")
	wantGetProblem(t, srv, "/api/view/doctor/?id=not-a-doctor", http.StatusNotFound, "")
}

func TestDirectoryNeedsSignIn(t *testing.T) {
	s := testenv.Store(t)
	srv := httptest.NewServer(api.NewRouter(api.Options{Logger: testenv.Logger(t), Store: s, Auth: testenv.Auth(t, s)}))
	t.Cleanup(srv.Close)
	for _, path := range []string{"/api/top/suggestion.json?city=Pune", "/api/search/doctors/?q=teeth", "/api/view/doctor/?id=x", "/api/v1/doctors"} {
		wantGetProblem(t, srv, path, http.StatusUnauthorized, "")
	}
}

func TestV1DoctorsSearch(t *testing.T) {
	srv := directoryServer(t)
	status, body := getJSON(t, srv, "/api/v1/doctors?q=tooth+pain&city=bengaluru&day=monday&language=English&limit=5")
	if status != http.StatusOK {
		t.Fatalf("status %d: %v", status, body)
	}
	conformsTo(t, "DoctorList", body)
	items := array(t, "items", object(t, "body", body, "items", "next_cursor")["items"])
	if len(items) == 0 {
		t.Fatal("no doctors")
	}
	first := object(t, "item", items[0], "id", "name", "specialty", "qualification", "years_experience", "languages", "city",
		"organization_id", "consult_fee", "recommendation_percent", "reviews_count", "patients_count", "wait_time_minutes",
		"summary", "profile_photo_url", "available_days", "relevance")
	if first["specialty"].(map[string]any)["name"] != "Dentist" || first["relevance"] != float64(100) {
		t.Errorf("first item %v", first)
	}

	// Cursor pages walk the whole result in the order of one page.
	_, all := getJSON(t, srv, "/api/v1/doctors?q=pain&sort=-experience&limit=100")
	want := array(t, "all", all["items"])
	if all["next_cursor"] != nil || len(want) < 10 {
		t.Fatalf("one page: %d items, next_cursor %v", len(want), all["next_cursor"])
	}
	var got []any
	path := "/api/v1/doctors?q=pain&sort=-experience&limit=4"
	for range 50 {
		_, page := getJSON(t, srv, path)
		got = append(got, page["items"].([]any)...)
		next, _ := page["next_cursor"].(string)
		if next == "" {
			break
		}
		path = "/api/v1/doctors?q=pain&sort=-experience&limit=4&cursor=" + url.QueryEscape(next)
	}
	if len(got) != len(want) {
		t.Errorf("cursor pages gave %d doctors, one page %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if got[i].(map[string]any)["id"] != want[i].(map[string]any)["id"] {
			t.Errorf("item %d differs between cursor pages and one page", i)
			break
		}
	}

	_, firstPage := getJSON(t, srv, "/api/v1/doctors?q=pain&limit=2")
	cursor := url.QueryEscape(firstPage["next_cursor"].(string))
	for path, pointer := range map[string]string{
		"/api/v1/doctors?sort=name":                        "/sort",
		"/api/v1/doctors?limit=0":                          "/limit",
		"/api/v1/doctors?limit=101":                        "/limit",
		"/api/v1/doctors?day=someday":                      "/day",
		"/api/v1/doctors?time=25:00":                       "/time",
		"/api/v1/doctors?fee_min=900&fee_max=100":          "/fee_max",
		"/api/v1/doctors?fee_min=cheap":                    "/fee_min",
		"/api/v1/doctors?cursor=garbage":                   "/cursor",
		"/api/v1/doctors?q=pain&sort=fee&cursor=" + cursor: "/cursor",
	} {
		wantGetProblem(t, srv, path, http.StatusUnprocessableEntity, pointer)
	}

	status, body = getJSON(t, srv, "/api/v1/doctors/suggest?q=teeth")
	if status != http.StatusOK {
		t.Fatalf("suggest: %d %v", status, body)
	}
	conformsTo(t, "SpecialtySuggestions", body)
	sug := array(t, "items", object(t, "body", body, "items")["items"])
	if len(sug) == 0 {
		t.Fatal("no suggestion for teeth")
	}
	s0 := object(t, "suggestion", sug[0], "specialty_code", "specialty", "matched_term", "match_kind", "score")
	if s0["specialty"] != "Dentist" || s0["matched_term"] != "teeth" || s0["match_kind"] != "synonym" || s0["score"] != float64(100) {
		t.Errorf("suggest teeth: %v", s0)
	}
}
