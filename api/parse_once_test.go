package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/pathways"
	"github.com/carepath/carepath/platform"
	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/workflows"
)

// TestNoRouteReadsAnotherPatientsID is generated from the router and the
// policy table: for every route whose policy names a patient, patient A
// calls it with patient B's ID written every way two parsers might read
// differently. Each call must be refused (4xx), write no row of B's and
// start no journey of B's. A route added later is covered by its policy.
func TestNoRouteReadsAnotherPatientsID(t *testing.T) {
	ctx := context.Background()
	s := testenv.Store(t)
	if _, err := s.Seed(ctx); err != nil { // the schedules a slot is made for
		t.Fatalf("seed: %v", err)
	}
	a := testenv.Auth(t, s)
	cfg := testenv.Config(t)
	tc, err := client.Dial(client.Options{HostPort: cfg.TemporalAddress, Namespace: cfg.TemporalNamespace})
	if err != nil {
		testenv.Fail(t, "Temporal", cfg.TemporalAddress, err)
	}
	t.Cleanup(tc.Close)
	catalog, err := pathways.LoadCatalog("")
	if err != nil {
		t.Fatal(err)
	}
	router := NewRouter(Options{Temporal: tc, Store: s, Health: parseTestDeps{}, HealthTimeout: time.Second,
		TaskQueue: fmt.Sprintf("parse-once-test-%d", time.Now().UnixNano()), Logger: testenv.Logger(t), Pathways: catalog, Auth: a})

	patientA := testenv.NewPatient(t, s, "Pune")
	patientB := testenv.NewPatient(t, s, "Pune")
	tokenA := testenv.Token(t, a, auth.RolePatient, patientA)
	slot := testenv.SlotSoon(t, s, 7, 72*time.Hour)

	// Extra members that make a body one the route would accept, so that a
	// parser that let B's ID through would act on it. Optional: a route
	// without an entry is probed with the ID alone.
	exampleBody := map[string]map[string]any{
		"POST /api/v1/journeys": {"pathway_id": "general-consult", "slot_id": slot.ID},
	}
	// The probes would be worthless if A's own request failed for another
	// reason: A starts their own journey with the same body first.
	own := probeRequest{method: http.MethodPost, path: "/api/v1/journeys",
		body: mustJSON(t, merge(exampleBody["POST /api/v1/journeys"], map[string]any{"patient_id": patientA}))}
	if rec := own.send(router, tokenA); rec.Code != http.StatusAccepted {
		t.Fatalf("control: A starting their own journey: %d %s", rec.Code, rec.Body)
	}

	before := patientRows(t, s, patientB)
	covered := 0
	for _, r := range router.Routes() {
		key := r.Method + " " + strings.ReplaceAll(r.Path, `\:`, ":")
		policy := policies[key]
		if policy.patient == nil {
			continue
		}
		covered++
		probes := patientProbes(r.Method, strings.ReplaceAll(r.Path, `\:`, ":"), policy.patient, patientA, patientB, exampleBody[key])
		for _, p := range probes {
			rec := p.send(router, tokenA)
			if rec.Code < 400 || rec.Code >= 500 {
				t.Errorf("%s, %s: %d, want a 4xx refusal: %s", key, p.name, rec.Code, rec.Body)
				continue
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
				t.Errorf("%s, %s: %d with Content-Type %q, want a problem", key, p.name, rec.Code, ct)
			}
		}
	}
	if covered < 20 {
		t.Fatalf("only %d routes name a patient in their policy; the generator lost routes", covered)
	}
	after := patientRows(t, s, patientB)
	for table, n := range after {
		if n != before[table] {
			t.Errorf("table %s: %d rows of patient B before the probes, %d after", table, before[table], n)
		}
	}
	// Visibility lags a start by a moment on the dev server.
	time.Sleep(time.Second)
	count, err := tc.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: fmt.Sprintf("PatientId = %q", patientB)})
	if err != nil {
		t.Fatal(err)
	}
	if count.GetCount() != 0 {
		t.Errorf("%d workflows of patient B were started by A's probes", count.GetCount())
	}
	ownCount, err := tc.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: fmt.Sprintf("PatientId = %q", patientA)})
	if err != nil {
		t.Fatal(err)
	}
	if ownCount.GetCount() == 0 {
		t.Errorf("A's own journey is not visible either: the visibility check above proves nothing")
	}
	t.Logf("%d patient routes probed", covered)
}

type parseTestDeps struct{}

func (parseTestDeps) Check(context.Context, time.Duration) ([]platform.ComponentHealth, bool) {
	return nil, true
}

// probeRequest is one crafted request.
type probeRequest struct {
	name, method, path, rawQuery, body, contentType string
}

func (p probeRequest) send(h http.Handler, token string) *httptest.ResponseRecorder {
	target := p.path
	if p.rawQuery != "" {
		target += "?" + p.rawQuery
	}
	req := httptest.NewRequest(p.method, target, strings.NewReader(p.body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	if p.contentType != "" {
		req.Header.Set("Content-Type", p.contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// patientProbes are the requests that name B through ref, each a way a
// second parser could read B where the first read A or no one.
func patientProbes(method, route string, ref *patientRef, patientA, patientB string, extra map[string]any) []probeRequest {
	idOf := func(patient string) string {
		switch ref.kind {
		case journeyIDKind:
			// The access layer reads the patient from the ID; whether the
			// journey exists is the handler's business, after the rule.
			return workflows.NewJourneyWorkflowID(patient)
		case courseIDKind:
			return workflows.AdherenceWorkflowID(patient, "5f1a8c1e-2d0b-4a8e-9a35-9d7f1c1e0b01", 0)
		}
		return patient
	}
	idA, idB := idOf(patientA), idOf(patientB)
	// Every spelling of B's ID that is not the canonical one.
	spellings := map[string]string{
		"B canonical (denied by relation)": idB,
		"upper case":                       strings.Replace(idB, patientB, strings.ToUpper(patientB), 1),
		"braces":                           strings.Replace(idB, patientB, "{"+patientB+"}", 1),
		"urn:uuid: prefix":                 strings.Replace(idB, patientB, "urn:uuid:"+patientB, 1),
		"no hyphens":                       strings.Replace(idB, patientB, strings.ReplaceAll(patientB, "-", ""), 1),
		"surrounding spaces":               " " + idB + " ",
		"trailing newline":                 idB + "\n",
		"leading tab":                      "\t" + idB,
		"trailing NUL":                     idB + "\x00",
		"trailing carriage return":         idB + "\r",
	}
	pathWith := func(id string) string {
		return strings.Replace(route, ":"+ref.name, url.PathEscape(id), 1)
	}
	// Other path parameters (a record ID) get a canonical random value.
	fill := func(path string) string {
		for _, name := range []string{":rid", ":cid", ":kid", ":id"} {
			path = strings.ReplaceAll(path, name, uuid.NewString())
		}
		return path
	}
	body := func(members ...any) string {
		var b strings.Builder
		b.WriteString("{")
		n := 0
		for k, v := range extra {
			if n > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, "%q:%s", k, mustJSONValue(v))
			n++
		}
		for i := 0; i+1 < len(members); i += 2 {
			if n > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, "%q:%s", members[i], mustJSONValue(members[i+1]))
			n++
		}
		b.WriteString("}")
		return b.String()
	}
	var out []probeRequest
	switch ref.in {
	case inPath:
		for name, id := range spellings {
			out = append(out, probeRequest{name: "path " + name, method: method, path: fill(pathWith(id)), body: body()})
		}
	case inQuery:
		path := fill(route)
		q := func(pairs ...string) string {
			var parts []string
			for i := 0; i+1 < len(pairs); i += 2 {
				parts = append(parts, url.QueryEscape(pairs[i])+"="+url.QueryEscape(pairs[i+1]))
			}
			return strings.Join(parts, "&")
		}
		for name, id := range spellings {
			out = append(out, probeRequest{name: "query " + name, method: method, path: path, rawQuery: q(ref.name, id)})
		}
		upper := strings.ToUpper(ref.name)
		out = append(out,
			probeRequest{name: "query key twice, A first", method: method, path: path, rawQuery: q(ref.name, idA, ref.name, idB)},
			probeRequest{name: "query key twice, B first", method: method, path: path, rawQuery: q(ref.name, idB, ref.name, idA)},
			probeRequest{name: "query key in upper case", method: method, path: path, rawQuery: q(upper, idB)},
			probeRequest{name: "query key in both cases", method: method, path: path, rawQuery: q(ref.name, idA, upper, idB)},
			probeRequest{name: "query and body", method: method, path: path, rawQuery: q(ref.name, idA), body: body(ref.name, idB)},
		)
	case inBody:
		path := fill(route)
		for name, id := range spellings {
			out = append(out, probeRequest{name: "body " + name, method: method, path: path, body: body(ref.name, id)})
			out = append(out, probeRequest{name: "form " + name, method: method, path: path,
				body: url.Values{ref.name: {id}}.Encode(), contentType: "application/x-www-form-urlencoded"})
		}
		title := strings.ToUpper(ref.name[:1]) + ref.name[1:]
		out = append(out,
			probeRequest{name: "body key twice, A first", method: method, path: path, body: body(ref.name, idA, ref.name, idB)},
			probeRequest{name: "body key twice, B first", method: method, path: path, body: body(ref.name, idB, ref.name, idA)},
			probeRequest{name: "body key in another case", method: method, path: path, body: body(title, idB)},
			probeRequest{name: "body key in two cases", method: method, path: path, body: body(ref.name, idA, strings.ToUpper(ref.name), idB)},
			probeRequest{name: "body then a stray brace", method: method, path: path, body: body(ref.name, idB) + "}"},
			probeRequest{name: "body then a second value", method: method, path: path, body: body(ref.name, idA) + " " + body(ref.name, idB)},
			probeRequest{name: "form key twice", method: method, path: path,
				body: url.Values{ref.name: {idA, idB}}.Encode(), contentType: "application/x-www-form-urlencoded"},
			probeRequest{name: "body and query", method: method, path: path, rawQuery: ref.name + "=" + url.QueryEscape(idB), body: body(ref.name, idA)},
		)
	}
	return out
}

// patientRows counts the rows of every table that has a patient_id column
// and belongs to patient; audit_event is left out (refusals are audited).
func patientRows(t *testing.T, s *store.Store, patient string) map[string]int {
	t.Helper()
	ctx := context.Background()
	rows, err := s.Pool.Query(ctx, `SELECT table_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND column_name = 'patient_id' AND table_name <> 'audit_event'`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) < 5 {
		t.Fatalf("only %d tables have a patient_id column: the row check would prove little", len(tables))
	}
	out := map[string]int{}
	for _, table := range tables {
		var n int
		if err := s.Pool.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %s WHERE patient_id::text = $1`, pgx.Identifier{table}.Sanitize()), patient).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[table] = n
	}
	return out
}

func merge(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustJSONValue(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
