package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"go.temporal.io/sdk/client"

	"github.com/carepath/carepath/api"
	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/pathways"
	"github.com/carepath/carepath/platform"
	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/workflows"
)

// withToken sends every request with this bearer token unless it has one,
// so tests of a handler's behaviour stay about the handler.
func withToken(h http.Handler, token string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		h.ServeHTTP(w, r)
	})
}

// authedRouter builds the router with a token service over the test
// database and sends every request as a doctor (subject: a random
// practitioner ID) holding the integrator scopes too, which doctors ignore.
func authedRouter(t *testing.T, o api.Options) http.Handler {
	t.Helper()
	o.Auth = testenv.Auth(t, testenv.Store(t))
	return withToken(api.NewRouter(o), testenv.Token(t, o.Auth, auth.RoleDoctor, uuid.NewString()))
}

// accessDenied is the detail of the access layer's 403.
const accessDenied = "your role or relation to this patient does not allow this"

type healthyDeps struct{}

func (healthyDeps) Check(context.Context, time.Duration) ([]platform.ComponentHealth, bool) {
	return nil, true
}

// Callers the access test acts as. "patient", "doctor", "dietitian" and
// "coordinator" are related to the target patient (own data, a consent, a
// consent, a care team city); the "other" ones are not.
var callers = []string{"anonymous", "patient", "other-patient", "doctor", "other-doctor", "dietitian", "other-dietitian",
	"pharmacist", "coordinator", "other-coordinator", "admin", "integrator", "integrator-no-scope"}

// allowedCallers is who may call each route; "*" is everyone, anonymous
// included. A route missing here fails the test: decide who may call it.
var allowedCallers = map[string][]string{
	"GET /api/system/health/check":                      {"*"},
	"GET /livez":                                        {"*"},
	"GET /readyz":                                       {"*"},
	"GET /openapi.json":                                 {"*"},
	"GET /docs":                                         {"*"},
	"GET /.well-known/jwks.json":                        {"*"},
	"GET /l/:token":                                     {"*"},
	"POST /oauth/token":                                 {"*"},
	"POST /api/v1/auth/sign-in":                         {"*"},
	"POST /api/v1/auth/sms-code":                        {"*"},
	"POST /api/v1/auth/sms-code/verify":                 {"*"},
	"POST /api/v1/webhooks/stripe":                      {"*"},
	"POST /api/v1/webhooks/twilio":                      {"*"},
	"POST /api/v1/webhooks/pharmacy":                    {"*"},
	"POST /api/codec/encode":                            {"*"},
	"POST /api/codec/decode":                            {"*"},
	"OPTIONS /api/codec/encode":                         {"*"},
	"OPTIONS /api/codec/decode":                         {"*"},
	"POST /api/v1/journeys":                             {"patient", "coordinator", "admin"},
	"GET /api/v1/journeys/:id":                          {"patient", "doctor", "dietitian", "coordinator", "admin"},
	"POST /api/v1/journeys/:id/decisions":               {"patient", "doctor", "dietitian", "coordinator", "admin"},
	"POST /api/v1/journeys/:id/cancel":                  {"patient", "coordinator", "admin"},
	"POST /api/v1/journeys/:id/reschedule":              {"patient", "coordinator", "admin"},
	"POST /api/v1/journeys/:id/consult/start":           {"doctor"},
	"POST /api/v1/journeys/:id/consult/close":           {"doctor"},
	"GET /api/v1/journeys/:id/prescription":             {"patient", "doctor", "dietitian", "coordinator", "admin"},
	"POST /api/v1/journeys/:id/prescription/review":     {"doctor"},
	"GET /api/v1/journeys/:id/diet":                     {"patient", "doctor", "dietitian", "coordinator", "admin"},
	"POST /api/v1/journeys/:id/diet/review":             {"dietitian"},
	"POST /api/v1/journeys/:id/diet/meals":              {"patient", "coordinator", "admin"},
	"GET /api/v1/journeys/:id/diet/intake":              {"patient", "doctor", "dietitian", "coordinator", "admin"},
	"POST /api/v1/journeys/:id/readings":                {"patient", "doctor", "dietitian", "coordinator", "admin"},
	"GET /api/v1/patients/:id/journeys":                 {"patient", "doctor", "dietitian", "coordinator", "admin"},
	"POST /api/v1/journeys/:id/lab-results":             {"doctor", "coordinator", "admin", "integrator"},
	"POST /api/book/labtest/":                           {"patient", "coordinator", "admin", "integrator"},
	"GET /api/v1/adherence/:id":                         {"patient", "doctor", "dietitian", "coordinator", "admin"},
	"POST /api/v1/adherence/:id/doses":                  {"patient", "coordinator", "admin"},
	"POST /api/v1/adherence/:id/refills":                {"patient", "coordinator", "admin"},
	"GET /api/v1/models":                                {"patient", "other-patient", "doctor", "other-doctor", "dietitian", "other-dietitian", "pharmacist", "coordinator", "other-coordinator", "admin", "integrator"},
	"POST /api/v1/models/:call":                         {"doctor", "other-doctor", "dietitian", "other-dietitian", "admin", "integrator"},
	`POST /api/v1/knowledge/interactions\:check`:        {"doctor", "other-doctor", "dietitian", "other-dietitian", "pharmacist", "admin", "integrator"},
	"GET /api/v1/knowledge/drugs":                       {"patient", "other-patient", "doctor", "other-doctor", "dietitian", "other-dietitian", "pharmacist", "coordinator", "other-coordinator", "admin", "integrator"},
	"GET /api/v1/knowledge/conditions/:code/treatments": {"patient", "other-patient", "doctor", "other-doctor", "dietitian", "other-dietitian", "pharmacist", "coordinator", "other-coordinator", "admin", "integrator"},
	// HealthLink: the probe names no object (an empty body), so every
	// caller of an allowed role passes; the handlers' tests check relations.
	"POST /api/book/appointment/":                   {"patient", "other-patient", "coordinator", "other-coordinator", "admin"},
	"POST /api/cancel/appointment/":                 {"patient", "other-patient", "coordinator", "other-coordinator"},
	"GET /api/doctor/earnings/":                     {"doctor", "other-doctor", "admin"},
	"POST /api/withdraw/earnings/":                  {"doctor", "other-doctor"},
	"GET /api/doctor/appointment/requests/":         {"doctor", "other-doctor", "coordinator", "other-coordinator", "admin"},
	"POST /api/accept/appointment/request/":         {"doctor", "other-doctor"},
	"POST /api/reject/appointment/request/":         {"doctor", "other-doctor"},
	"POST /api/purchase/medicine/":                  {"patient", "other-patient", "coordinator", "other-coordinator", "admin"},
	"GET /api/v1/doctors":                           directoryCallers,
	"GET /api/v1/doctors/suggest":                   directoryCallers,
	"GET /api/top/suggestion.json":                  directoryCallers,
	"GET /api/search/doctors/":                      directoryCallers,
	"GET /api/view/doctor/":                         directoryCallers,
	"GET /api/v1/patients/:id/access-log":           {"patient", "admin"},
	"GET /api/v1/admin/audit/verify":                {"admin"},
	"GET /api/v1/patients/:id/records":              {"patient", "doctor", "dietitian", "coordinator", "admin"},
	"POST /api/v1/patients/:id/records":             {"patient", "doctor"},
	"GET /api/v1/patients/:id/records/:rid":         {"patient", "doctor", "dietitian", "coordinator", "admin"},
	"PUT /api/v1/patients/:id/records/:rid":         {"patient", "doctor"},
	"DELETE /api/v1/patients/:id/records/:rid":      {"patient", "doctor"},
	"POST /api/v1/patients/:id/documents":           {"patient", "doctor"},
	"GET /api/v1/patients/:id/records/:rid/content": {"patient", "doctor", "dietitian", "coordinator", "admin"},
	"GET /api/v1/patients/:id/export/fhir":          {"patient", "doctor", "dietitian", "coordinator", "admin"},
	"POST /api/v1/keys":                             {"patient", "other-patient", "doctor", "other-doctor"},
	"DELETE /api/v1/keys/:kid":                      {"patient", "other-patient", "doctor", "other-doctor"},
	"GET /api/v1/patients/:id/records/:rid/verify":  {"patient", "doctor", "dietitian", "coordinator", "admin"},
	"GET /api/v1/patients/:id/consents":             {"patient", "admin"},
	"POST /api/v1/patients/:id/consents":            {"patient", "admin"},
	"DELETE /api/v1/patients/:id/consents/:cid":     {"patient", "admin"},
	"GET /api/v1/patients/:id/notifications":        {"patient", "admin"},
	"POST /api/v1/patients/:id/break-glass":         {"doctor", "other-doctor"},
	"GET /api/patient/records/":                     {"patient", "doctor", "dietitian", "coordinator", "admin"},
	"GET /api/patient/clinical/records/":            {"patient", "doctor", "dietitian", "coordinator", "admin"},
}

// directoryCallers may search the doctor directory: every signed-in caller
// (integrators with directory:read).
var directoryCallers = []string{"patient", "other-patient", "doctor", "other-doctor", "dietitian", "other-dietitian",
	"pharmacist", "coordinator", "other-coordinator", "admin", "integrator"}

// TestEveryRouteAsEveryRole calls every route of the router as every kind
// of caller and checks the access decision: denied is 401 for anonymous
// callers and 403 for the others; allowed is anything else (the handler then
// answers for a journey that does not exist, an empty body, and so on).
func TestEveryRouteAsEveryRole(t *testing.T) {
	ctx := context.Background()
	s := testenv.Store(t)
	if _, err := s.Seed(ctx); err != nil {
		t.Fatalf("seed: %v", err)
	}
	a := testenv.Auth(t, s)
	cfg := testenv.Config(t)
	tc, err := client.Dial(client.Options{HostPort: cfg.TemporalAddress, Namespace: cfg.TemporalNamespace, Logger: nil})
	if err != nil {
		testenv.Fail(t, "Temporal", cfg.TemporalAddress, err)
	}
	t.Cleanup(tc.Close)
	catalog, err := pathways.LoadCatalog("")
	if err != nil {
		t.Fatal(err)
	}
	router := api.NewRouter(api.Options{Temporal: tc, Store: s, Health: healthyDeps{}, HealthTimeout: time.Second,
		TaskQueue: fmt.Sprintf("access-test-%d", time.Now().UnixNano()), Logger: testenv.Logger(t), Pathways: catalog, Auth: a})

	target, other := store.SeedPatientID(1), store.SeedPatientID(2)
	var city string
	if err := s.Pool.QueryRow(ctx, `SELECT city FROM patient WHERE id = $1`, target).Scan(&city); err != nil {
		t.Fatal(err)
	}
	// Practitioners of the test's own, with no appointment with the target
	// patient, so that only the consent below relates the "doctor" and
	// "dietitian" to them (other tests sharing the database book the target
	// patient with seeded practitioners at any time).
	var practitioners []string
	for _, name := range []string{"Access Doctor", "Access Other Doctor", "Access Dietitian", "Access Other Dietitian"} {
		id, _ := testenv.NewPractitioner(t, s, name)
		practitioners = append(practitioners, id)
	}
	doctor, otherDoctor, dietitian, otherDietitian := practitioners[0], practitioners[1], practitioners[2], practitioners[3]
	for _, p := range []string{doctor, dietitian} {
		id := uuid.New()
		if _, err := s.Pool.Exec(ctx, `INSERT INTO consent (id, patient_id, practitioner_id, status) VALUES ($1, $2, $3, 'active')`,
			id, target, p); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = s.Pool.Exec(context.Background(), `DELETE FROM consent WHERE id = $1`, id) })
	}
	enrolIntegrator(t, a, "acme-labs", target) // integrators act for their enrolled patients only
	coordinator := newCoordinator(t, a, s, city)
	otherCoordinator := newCoordinator(t, a, s, "Nowhere-"+uuid.NewString())

	tokens := map[string]string{
		"patient":             testenv.Token(t, a, auth.RolePatient, target),
		"other-patient":       testenv.Token(t, a, auth.RolePatient, other),
		"doctor":              testenv.Token(t, a, auth.RoleDoctor, doctor),
		"other-doctor":        testenv.Token(t, a, auth.RoleDoctor, otherDoctor),
		"dietitian":           testenv.Token(t, a, auth.RoleDietitian, dietitian),
		"other-dietitian":     testenv.Token(t, a, auth.RoleDietitian, otherDietitian),
		"pharmacist":          testenv.Token(t, a, auth.RolePharmacist, uuid.NewString()),
		"coordinator":         testenv.Token(t, a, auth.RoleCoordinator, coordinator),
		"other-coordinator":   testenv.Token(t, a, auth.RoleCoordinator, otherCoordinator),
		"admin":               testenv.Token(t, a, auth.RoleAdmin, uuid.NewString()),
		"integrator":          testenv.Token(t, a, auth.RoleIntegrator, "acme-labs", auth.ScopeModelsPredict, auth.ScopeKnowledgeRead, auth.ScopeLabsWrite, auth.ScopeDirectoryRead),
		"integrator-no-scope": testenv.Token(t, a, auth.RoleIntegrator, "acme-labs"),
	}
	// A journey of the target patient that never exists: an allowed update
	// reaches Temporal and gets 404, changing nothing.
	journey := workflows.NewJourneyWorkflowID(target)
	course := workflows.AdherenceWorkflowID(target, uuid.NewString(), 0)
	// The "dietitian" is the probe journey's assigned dietitian: only that
	// one may review its diet plans (the diet review handler checks).
	if _, err := s.Pool.Exec(ctx, `INSERT INTO care_assignment (id, journey_id, step, patient_id, practitioner_id, role, ends_at)
		VALUES (gen_random_uuid(), $1, 'diet', $2, $3, 'dietitian', now() + interval '1 hour')
		ON CONFLICT (journey_id, step) DO UPDATE SET practitioner_id = EXCLUDED.practitioner_id, ends_at = EXCLUDED.ends_at, ended_at = NULL`,
		journey, target, dietitian); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = s.Pool.Exec(context.Background(), `DELETE FROM care_assignment WHERE journey_id = $1`, journey)
	})

	headBefore, err := s.AuditHeadNow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	routes := router.Routes()
	if len(routes) == 0 {
		t.Fatal("router has no routes")
	}
	for _, r := range routes {
		key := r.Method + " " + r.Path
		allowed, ok := allowedCallers[key]
		if !ok {
			t.Errorf("%s has no entry in allowedCallers: decide who may call it", key)
			continue
		}
		path := strings.ReplaceAll(r.Path, `\:`, ":")
		if strings.HasPrefix(path, "/api/v1/journeys/:id") {
			path = strings.Replace(path, ":id", journey, 1)
		}
		if strings.HasPrefix(path, "/api/v1/adherence/:id") {
			path = strings.Replace(path, ":id", course, 1)
		}
		path = strings.NewReplacer(":id", target, ":code", "I10", ":call", "no-such-model:predict").Replace(path)
		if strings.HasPrefix(path, "/api/patient/") {
			path += "?patient_id=" + target // HealthLink routes name the patient in the query
		}
		body := `{}`
		if key == "POST /api/v1/journeys" || key == "POST /api/book/labtest/" {
			body = fmt.Sprintf(`{"patient_id":%q,"pathway_id":"access-probe"}`, target)
		}
		for _, caller := range callers {
			want := slices.Contains(allowed, "*") || slices.Contains(allowed, caller)
			req := httptest.NewRequest(r.Method, path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if caller != "anonymous" {
				req.Header.Set("Authorization", "Bearer "+tokens[caller])
			}
			rec := httptest.NewRecorder()
			router.ServeHTTP(rec, req)
			got := rec.Code
			// A handler may refuse too (the codec's CORS check answers 403
			// to a foreign origin); only the access layer's refusals count.
			deniedByAccess := got == http.StatusUnauthorized ||
				(got == http.StatusForbidden && (strings.Contains(rec.Body.String(), accessDenied) ||
					strings.Contains(rec.Body.String(), "no access policy")))
			switch {
			case want && (deniedByAccess || got == http.StatusInternalServerError):
				t.Errorf("%s as %s: %d, want allowed: %s", key, caller, got, rec.Body)
			case !want && caller == "anonymous" && got != http.StatusUnauthorized:
				t.Errorf("%s as %s: %d, want 401", key, caller, got)
			case !want && caller != "anonymous" && (got != http.StatusForbidden || !deniedByAccess):
				t.Errorf("%s as %s: %d, want 403", key, caller, got)
			}
		}
	}
	checkEveryPatientRouteAudited(t, s, routes, target, headBefore.Seq)
	for key := range allowedCallers {
		if !slices.ContainsFunc(routes, func(r gin.RouteInfo) bool { return r.Method+" "+r.Path == key }) {
			t.Errorf("allowedCallers names %s, which the router does not serve", key)
		}
	}
}

func newCoordinator(t *testing.T, a *auth.Service, s *store.Store, city string) string {
	t.Helper()
	ctx := context.Background()
	id, err := a.UpsertUser(ctx, auth.NewUser{Email: "coordinator-" + uuid.NewString() + "@test.invalid", Role: auth.RoleCoordinator})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool.Exec(ctx, `INSERT INTO care_team (id, coordinator_id, city) VALUES ($1, $2, $3)`, uuid.New(), id, city); err != nil {
		t.Fatal(err)
	}
	return id
}

// checkEveryPatientRouteAudited asserts that each route about one patient's
// data left audit events for the target patient, allowed and denied (by
// relation or by role): the audit hook misses no route.
func checkEveryPatientRouteAudited(t *testing.T, s *store.Store, routes gin.RoutesInfo, patientID string, after int64) {
	t.Helper()
	rows, err := s.Pool.Query(context.Background(), `SELECT route, array_agg(DISTINCT outcome) FROM audit_event
		WHERE patient_id = $1 AND seq > $2 GROUP BY route`, patientID, after)
	if err != nil {
		t.Fatal(err)
	}
	audited := map[string][]string{}
	for rows.Next() {
		var route string
		var outcomes []string
		if err := rows.Scan(&route, &outcomes); err != nil {
			t.Fatal(err)
		}
		audited[route] = outcomes
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		path := strings.ReplaceAll(r.Path, `\:`, ":")
		aboutPatient := strings.HasPrefix(path, "/api/v1/patients/:id") || strings.HasPrefix(path, "/api/v1/journeys/:id") ||
			strings.HasPrefix(path, "/api/patient/") || r.Method+" "+path == "POST /api/v1/journeys"
		if !aboutPatient {
			continue
		}
		outcomes := audited[r.Method+" "+path]
		allowedSeen := slices.ContainsFunc(outcomes, func(o string) bool { return o != "denied" })
		if !allowedSeen || !slices.Contains(outcomes, "denied") {
			t.Errorf("%s %s: audit outcomes %v, want the relation denials and the allowed calls recorded", r.Method, path, outcomes)
		}
	}
}
