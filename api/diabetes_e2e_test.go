package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/config"
	"github.com/carepath/carepath/diet"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/internal/twiliofake"
	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/workflows"
)

// quickDoseInterval puts the test diabetes pathway's medication doses this
// far apart: a week of twice-daily doses (14) in about 40 seconds.
const quickDoseInterval = 3 * time.Second

// baselineResults are a laboratory's results for the tests the diabetes
// journey orders, by LOINC code: an A1C above the pathway's goal, the rest
// within their reference ranges.
var baselineResults = map[string]struct {
	value, low, high float64
	unit             string
}{
	"4548-4":  {8.1, 4.0, 5.6, "%"},
	"1558-6":  {162, 70, 99, "mg/dL"},
	"2093-3":  {180, 0, 200, "mg/dL"},
	"13457-7": {95, 0, 100, "mg/dL"},
	"2085-9":  {48, 40, 60, "mg/dL"},
	"2571-8":  {140, 0, 150, "mg/dL"},
	"2160-0":  {0.9, 0.6, 1.2, "mg/dL"},
	"33914-3": {92, 60, 120, "mL/min/{1.73_m2}"},
	"9318-7":  {12, 0, 30, "mg/g"},
}

// A type 2 diabetes journey end to end on the dev server, through the API:
// booking, payment (a signed Stripe webhook), the doctor's acceptance, the
// consult (closed with metformin and an extra lab test), the baseline lab
// results, the doctor's approval of the checked prescription, fulfilment by
// the pharmacy simulator's signed webhooks to delivery, then ongoing care:
// a week of dose reminders at short intervals, answered through the API
// and texted through the Twilio fake, and the diet plan approved by the
// dietitian the diet step assigned, revised once when the week's glucose
// runs high, and approved again. Demo patient 9 is this test's.
func TestType2DiabetesJourneyEndToEnd(t *testing.T) {
	var cfg config.Config
	twilio := twiliofake.New(testenv.Config(t).TwilioAccountSID, testenv.Config(t).TwilioAuthToken)
	twilioSrv := httptest.NewServer(twilio)
	defer twilioSrv.Close()
	h, sim := newHarnessWithPharmacy(t, func(c *config.Config) {
		c.TwilioAPIBase = twilioSrv.URL
		cfg = *c
	})
	ctx := context.Background()
	patient := store.SeedPatientID(9)
	prepareDiabetesPatient(t, h)

	// Booking, payment and the doctor's acceptance.
	const nth = 29 // a schedule the other end-to-end tests do not use
	slot := testenv.SlotSoon(t, h.store, nth, 30*time.Second)
	doctor := slot.PractitionerID
	episode := testenv.FreshEpisode(t, h.store, patient, "type-2-diabetes")
	resp, raw := h.do(t, http.MethodPost, "/api/v1/journeys",
		fmt.Sprintf(`{"patient_id":%q,"pathway_id":"type-2-diabetes","pathway_version":900,"episode":%d,"slot_id":%q}`, patient, episode, slot.ID))
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start: %d %s", resp.StatusCode, raw)
	}
	id := testenv.JourneyID(t, h.store, patient, "type-2-diabetes", episode)
	base := "/api/v1/journeys/" + id
	st := h.waitFor(t, id, "the PaymentIntent", func(s workflows.JourneyState) bool { return s.Stage == "pay" && s.Payment != nil })
	event := stripeEvent(fmt.Sprintf("evt_t2d_e2e_%d", episode), "payment_intent.succeeded", id, st.Payment.PaymentIntentID, st.Payment.AmountMinor)
	if code, body, _ := h.postStripe(t, event, signStripe(event, testStripeSecret, time.Now())); code != http.StatusOK {
		t.Fatalf("stripe webhook: %d %v", code, body)
	}
	h.waitFor(t, id, "the doctor's review", func(s workflows.JourneyState) bool { return s.Stage == "doctor_review" })
	if resp, raw := h.act(t, "/decisions", doctor, auth.RoleDoctor, `{"step_id":"doctor_review","outcome":"accepted"}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("decide: %d %s", resp.StatusCode, raw)
	}

	// The consult: metformin and a fasting glucose beside the pathway's baseline labs.
	h.waitFor(t, id, "the consult to open", func(s workflows.JourneyState) bool { return s.Stage == "consult" })
	if resp, raw := h.act(t, "/consult/start", doctor, auth.RoleDoctor, `{}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("start consult: %d %s", resp.StatusCode, raw)
	}
	closeBody := `{"diagnoses":["E11.9"],"notes":"New type 2 diabetes.","orders":["prescription","lab_tests"],"lab_tests":["1558-6"],
		"prescriptions":[{"drug":"metformin","dose":"500 mg","route":"oral","frequency":"twice daily","duration_days":7,"quantity":14,"refills":2}]}`
	if resp, raw := h.act(t, "/consult/close", doctor, auth.RoleDoctor, closeBody); resp.StatusCode != http.StatusOK {
		t.Fatalf("close consult: %d %s", resp.StatusCode, raw)
	}

	// The laboratory reports each ordered test; the journey moves on to prescribing.
	st = h.waitFor(t, id, "the lab orders", func(s workflows.JourneyState) bool { return s.Stage == "baseline_labs" && len(s.Labs) > 0 })
	postLabResults(t, h, base, doctor, st.Labs)
	st = h.waitFor(t, id, "the prescribe step", func(s workflows.JourneyState) bool { return s.Stage == "prescribe" })
	for _, l := range st.Labs {
		if l.Status != "resulted" || l.Value == nil || *l.Value != baselineResults[l.LOINC].value {
			t.Errorf("lab %s: %+v", l.LOINC, l)
		}
	}

	// The doctor approves the checked draft; the pharmacy fills it.
	rx := approvePrescription(t, h, base, doctor)
	st = h.waitFor(t, id, "ongoing care", func(s workflows.JourneyState) bool {
		return s.Tracks["adherence"] == "adherence" && s.Tracks["diet"] == "diet"
	})
	if r := stepResult(st, "fulfil"); r != "done" {
		t.Fatalf("fulfil ended %q", r)
	}
	// The A1C above goal takes the branch with the quarterly review.
	if !slices.ContainsFunc(st.Steps, func(s workflows.StepRecord) bool { return s.StepID == "care_not_at_goal" }) {
		t.Errorf("steps %+v: want care_not_at_goal after an A1C of %.1f", st.Steps, baselineResults["4548-4"].value)
	}
	var orderStatus string
	if err := h.store.Pool.QueryRow(ctx, `SELECT status FROM pharmacy_order WHERE journey_id = $1 AND step = 'fulfil' ORDER BY attempt DESC LIMIT 1`, id).
		Scan(&orderStatus); err != nil || orderStatus != "delivered" || len(sim.Orders()) != 1 {
		t.Errorf("pharmacy order %q (%v), the partner got %d orders", orderStatus, err, len(sim.Orders()))
	}

	// A week of reminders, answered as they come: every fifth dose skipped.
	course := "/api/v1/adherence/" + workflows.AdherenceWorkflowID(patient, rx.ID, 0)
	skip := func(n int) bool { return n%5 == 0 }
	doses := answerDoses(h.srv.URL+course, testenv.Token(t, h.auth, auth.RolePatient, patient), skip)

	// Meanwhile the diet: the assigned dietitian approves the first plan.
	plan := waitDiet(t, h, base, func(d dietView) bool { return d.State.Status == store.DietAwaitingReview })
	dietitian := plan.State.DietitianID
	checkDietitianAssigned(t, h, id, patient, dietitian)
	other := otherDietitian(t, h, dietitian)
	review := func(planID string) string { return fmt.Sprintf(`{"plan_id":%q,"action":"approve"}`, planID) }
	if resp, raw := h.doAs(t, http.MethodPost, base+"/diet/review", review(plan.State.PlanID), other, auth.RoleDietitian); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a dietitian with no relation to the patient reviewed: %d %s", resp.StatusCode, raw)
	}
	if resp, raw := h.doAs(t, http.MethodPost, base+"/diet/review", review(plan.State.PlanID), dietitian, auth.RoleDietitian); resp.StatusCode != http.StatusOK {
		t.Fatalf("the assigned dietitian's approval: %d %s", resp.StatusCode, raw)
	}

	// A week of glucose readings above the target: one revision, approved again.
	target := readingTarget(t)
	readings := []float64{target + 20, target + 35, target + 28, target + 41}
	for i, v := range readings {
		body := fmt.Sprintf(`{"reading_id":"g%d","kind":"glucose","value":%g,"unit":"mg/dL","at":%q}`, i, v, time.Now().UTC().Format(time.RFC3339Nano))
		if resp, raw := h.doAs(t, http.MethodPost, base+"/readings", body, patient, auth.RolePatient); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("reading %d: %d %s", i, resp.StatusCode, raw)
		}
	}
	revised := waitDiet(t, h, base, func(d dietView) bool { return d.State.Revision == 2 && d.State.Status == store.DietAwaitingReview })
	if revised.State.Trigger != diet.TriggerGlucose || revised.State.DietitianID != dietitian {
		t.Errorf("revision 2: trigger %q, dietitian %q (want %q)", revised.State.Trigger, revised.State.DietitianID, dietitian)
	}
	resp, raw = h.doAs(t, http.MethodPost, base+"/diet/review", review(revised.State.PlanID), dietitian, auth.RoleDietitian)
	var reviewed workflows.DietPlanInfo
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &reviewed) != nil || reviewed.InForce != 2 || reviewed.ReviewedBy != dietitian {
		t.Fatalf("approving revision 2: %d %s", resp.StatusCode, raw)
	}
	checkOneGlucoseRevision(t, h, id, dietitian, readings, target)

	// The week of doses: every reminder texted, every answer counted.
	log := <-doses
	if log.err != nil {
		t.Fatalf("answering doses: %v", log.err)
	}
	checkAdherence(t, h, cfg, twilio, course, id, patient, log)

	// Ending the journey ends the diet stage, and with it the dietitian's access.
	if err := h.deps.Temporal.CancelWorkflow(ctx, id, ""); err != nil {
		t.Fatal(err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_ = h.deps.Temporal.GetWorkflow(waitCtx, id, "").Get(waitCtx, nil) // cancelled: an error by design
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, raw := h.doAs(t, http.MethodGet, base+"/diet", "", dietitian, auth.RoleDietitian)
		if resp.StatusCode == http.StatusForbidden {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dietitian still sees the patient after the journey ended: %d %s", resp.StatusCode, raw)
		}
		time.Sleep(300 * time.Millisecond)
	}
	var ended bool
	if err := h.store.Pool.QueryRow(ctx, `SELECT ended_at IS NOT NULL FROM care_assignment WHERE journey_id = $1 AND step = 'diet'`, id).Scan(&ended); err != nil || !ended {
		t.Errorf("the diet step's care assignment was not ended: %v", err)
	}
}

// prepareDiabetesPatient gives the test's patient the diagnosis and no
// quiet hours, so that reminders go at whatever hour the test runs, and
// loads the knowledge graph and the food table the stages read.
func prepareDiabetesPatient(t *testing.T, h *harness) {
	t.Helper()
	ctx := context.Background()
	loadDietData(t, h)
	patient := store.SeedPatientID(9)
	for _, q := range []string{
		`DELETE FROM condition WHERE patient_id = $1`, `DELETE FROM medication_statement WHERE patient_id = $1`,
		`INSERT INTO condition (id, patient_id, code) VALUES (gen_random_uuid(), $1, 'E11')`,
		`UPDATE sms_preference SET quiet_hours_start = NULL, quiet_hours_end = NULL, sms_opt_out = false WHERE patient_id = $1`,
	} {
		if _, err := h.store.Pool.Exec(ctx, q, patient); err != nil {
			t.Fatal(err)
		}
	}
}

// postLabResults reports a result for each of the journey's lab orders, as
// the doctor (one of the roles that may enter them).
func postLabResults(t *testing.T, h *harness, base, doctor string, orders []workflows.LabOrderInfo) {
	t.Helper()
	for _, o := range orders {
		r, ok := baselineResults[o.LOINC]
		if !ok {
			t.Fatalf("the journey ordered %s, which the test has no result for", o.LOINC)
		}
		body := fmt.Sprintf(`{"loinc_code":%q,"value":%g,"unit":%q,"reference_low":%g,"reference_high":%g}`, o.LOINC, r.value, r.unit, r.low, r.high)
		if resp, raw := h.doAs(t, http.MethodPost, base+"/lab-results", body, doctor, auth.RoleDoctor); resp.StatusCode != http.StatusOK {
			t.Fatalf("lab result %s: %d %s", o.LOINC, resp.StatusCode, raw)
		}
	}
}

// approvePrescription waits for the checked draft and approves it as the
// prescribing doctor.
func approvePrescription(t *testing.T, h *harness, base, doctor string) workflows.PrescriptionInfo {
	t.Helper()
	var info workflows.PrescriptionInfo
	deadline := time.Now().Add(60 * time.Second)
	for info.Status != "awaiting_review" {
		if time.Now().After(deadline) {
			t.Fatalf("the draft never reached review: %+v", info)
		}
		time.Sleep(250 * time.Millisecond)
		resp, raw := h.doAs(t, http.MethodGet, base+"/prescription", "", doctor, auth.RoleDoctor)
		if resp.StatusCode == http.StatusOK {
			if err := json.Unmarshal(raw, &info); err != nil {
				t.Fatal(err)
			}
		}
	}
	if info.PrescriberID != doctor || !info.CheckComplete || info.NeedsOverride {
		t.Fatalf("draft = %+v", info)
	}
	resp, raw := h.doAs(t, http.MethodPost, base+"/prescription/review", fmt.Sprintf(`{"prescription_id":%q,"action":"approve"}`, info.ID), doctor, auth.RoleDoctor)
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &info) != nil || info.Status != "signed" {
		t.Fatalf("approve: %d %s", resp.StatusCode, raw)
	}
	return info
}

func stepResult(st workflows.JourneyState, stepID string) string {
	for _, s := range st.Steps {
		if s.StepID == stepID {
			return s.Result
		}
	}
	return ""
}

// checkDietitianAssigned: the dietitian the journey shows is the open care
// assignment of the diet step, a nutrition practitioner.
func checkDietitianAssigned(t *testing.T, h *harness, id, patient, dietitian string) {
	t.Helper()
	var assigned, specialty string
	var open bool
	if err := h.store.Pool.QueryRow(context.Background(), `SELECT c.practitioner_id::text, p.specialty_code, c.ended_at IS NULL AND c.ends_at > now()
		FROM care_assignment c JOIN practitioner p ON p.id = c.practitioner_id
		WHERE c.journey_id = $1 AND c.step = 'diet' AND c.patient_id = $2`, id, patient).Scan(&assigned, &specialty, &open); err != nil {
		t.Fatalf("care assignment: %v", err)
	}
	if dietitian == "" || assigned != dietitian || specialty != "nutrition" || !open {
		t.Fatalf("the diet step shows dietitian %q; assignment %q (%s, open %v)", dietitian, assigned, specialty, open)
	}
}

// otherDietitian is a nutrition practitioner other than the assigned one,
// with no appointment, consent or assignment linking them to the test's
// patient.
func otherDietitian(t *testing.T, h *harness, assigned string) string {
	t.Helper()
	var other string
	if err := h.store.Pool.QueryRow(context.Background(), `SELECT id::text FROM practitioner p WHERE specialty_code = 'nutrition' AND id <> $1
		AND NOT EXISTS (SELECT 1 FROM appointment a WHERE a.practitioner_id = p.id AND a.patient_id = $2)
		AND NOT EXISTS (SELECT 1 FROM consent c WHERE c.practitioner_id = p.id AND c.patient_id = $2)
		AND NOT EXISTS (SELECT 1 FROM care_assignment c WHERE c.practitioner_id = p.id AND c.patient_id = $2)
		ORDER BY id LIMIT 1`, assigned, store.SeedPatientID(9)).Scan(&other); err != nil {
		t.Fatalf("another dietitian: %v", err)
	}
	return other
}

// readingTarget is the diet step's glucose target as the test version of
// the pathway sets it (diet_glucose_mean_target, as shipped).
func readingTarget(t *testing.T) float64 {
	t.Helper()
	p, err := testCatalog(t).Get("type-2-diabetes", 900)
	if err != nil {
		t.Fatal(err)
	}
	switch v := p.Steps["diet"].With["glucose_mean_target"].(type) {
	case float64:
		return v
	case int:
		return float64(v)
	}
	t.Fatalf("diet glucose target %v", p.Steps["diet"].With["glucose_mean_target"])
	return 0
}

// checkOneGlucoseRevision: PostgreSQL holds exactly two revisions of the
// plan, the initial and one for glucose, both approved by the assigned
// dietitian, and the journey's 7-day mean matches the readings.
func checkOneGlucoseRevision(t *testing.T, h *harness, id, dietitian string, readings []float64, target float64) {
	t.Helper()
	rows, err := h.store.Pool.Query(context.Background(), `SELECT revision, trigger, status, reviewed_by::text FROM diet_plan
		WHERE journey_id = $1 AND step = 'diet' ORDER BY revision`, id)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var rev int
		var trigger, status, by string
		if err := rows.Scan(&rev, &trigger, &status, &by); err != nil {
			t.Fatal(err)
		}
		if by != dietitian {
			t.Errorf("revision %d reviewed by %s, want the assigned %s", rev, by, dietitian)
		}
		got = append(got, fmt.Sprintf("%d:%s:%s", rev, trigger, status))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"1:initial:superseded", "2:glucose:approved"}; !slices.Equal(got, want) {
		t.Errorf("diet revisions %v, want %v", got, want)
	}
	d := waitDiet(t, h, "/api/v1/journeys/"+id, func(d dietView) bool { return d.State.InForce == 2 })
	if len(d.State.Revisions) != 2 {
		t.Errorf("the journey shows %d revisions: %+v", len(d.State.Revisions), d.State.Revisions)
	}
	// The readings that triggered the revision were above the target on average.
	sum := 0.0
	for _, v := range readings[:3] {
		sum += v
	}
	if sum/3 <= target {
		t.Errorf("the first three readings average %.1f, not above %.1f", sum/3, target)
	}
}

// doseLog is what answerDoses did.
type doseLog struct {
	taken, skipped []int
	err            error
}

// answerDoses answers each dose of the course as it opens, taken or (when
// skip says so) skipped, until the course ends. It runs beside the test and
// reports once, on the channel.
func answerDoses(courseURL, token string, skip func(int) bool) <-chan doseLog {
	out := make(chan doseLog, 1)
	go func() {
		var log doseLog
		answered := map[int]bool{}
		deadline := time.Now().Add(3 * time.Minute)
		for time.Now().Before(deadline) {
			var st workflows.AdherenceState
			if code, err := callJSON(http.MethodGet, courseURL, token, "", &st); err != nil || (code != http.StatusOK && code != http.StatusNotFound) {
				log.err = fmt.Errorf("read the course: %d %v", code, err)
				out <- log
				return
			}
			if st.Status == workflows.AdherenceCompleted {
				out <- log
				return
			}
			if o := st.Open; o != nil && o.Answer == "" && !answered[o.Number] {
				action := "taken"
				if skip(o.Number) {
					action = "skipped"
				}
				body := fmt.Sprintf(`{"dose":%d,"action":%q}`, o.Number, action)
				if code, err := callJSON(http.MethodPost, courseURL+"/doses", token, body, nil); err != nil || code != http.StatusAccepted {
					log.err = fmt.Errorf("answer dose %d: %d %v", o.Number, code, err)
					out <- log
					return
				}
				answered[o.Number] = true
				if action == "taken" {
					log.taken = append(log.taken, o.Number)
				} else {
					log.skipped = append(log.skipped, o.Number)
				}
			}
			time.Sleep(150 * time.Millisecond)
		}
		log.err = fmt.Errorf("the course did not end in time (answered %d)", len(answered))
		out <- log
	}()
	return out
}

// callJSON is a request with a bearer token that decodes a 200 answer into
// v; it calls no testing function, so it may run beside the test.
func callJSON(method, url, token, body string, v any) (int, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if v != nil && resp.StatusCode == http.StatusOK {
		return resp.StatusCode, json.Unmarshal(raw, v)
	}
	return resp.StatusCode, nil
}

// checkAdherence compares the course's counts and percentage (from the API)
// with the answers given, and every dose reminder in PostgreSQL with a
// message the Twilio fake accepted for the patient's number.
func checkAdherence(t *testing.T, h *harness, cfg config.Config, twilio *twiliofake.Server, course, id, patient string, log doseLog) {
	t.Helper()
	var st workflows.AdherenceState
	resp, raw := h.doAs(t, http.MethodGet, course, "", patient, auth.RolePatient)
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &st) != nil {
		t.Fatalf("the course: %d %s", resp.StatusCode, raw)
	}
	answered := len(log.taken) + len(log.skipped)
	if st.Status != workflows.AdherenceCompleted || st.TotalDoses != answered+st.Missed || st.Taken != len(log.taken) || st.Skipped != len(log.skipped) {
		t.Errorf("course %s: %d doses, taken %d, skipped %d, missed %d; answered taken %v, skipped %v",
			st.Status, st.TotalDoses, st.Taken, st.Skipped, st.Missed, log.taken, log.skipped)
	}
	if st.DosesPerDay != 2 || st.TotalDoses != 7*st.DosesPerDay {
		t.Errorf("course of %d doses at %d a day, want a week of twice-daily doses", st.TotalDoses, st.DosesPerDay)
	}
	// The API reports the percentage to a tenth.
	if want := 100 * float64(st.Taken) / float64(st.TotalDoses); math.Abs(st.Percent-want) >= 0.1 || len(log.skipped) == 0 {
		t.Errorf("adherence %.2f%%, want %.2f%% (taken %d of %d)", st.Percent, want, st.Taken, st.TotalDoses)
	}
	rows, err := h.store.Pool.Query(context.Background(), `SELECT provider_message_id FROM communication
		WHERE journey_id = $1 AND patient_id = $2 AND template_id = 'medication_reminder' AND status = 'sent'`, id, patient)
	if err != nil {
		t.Fatal(err)
	}
	var sids []string
	for rows.Next() {
		var sid string
		if err := rows.Scan(&sid); err != nil {
			t.Fatal(err)
		}
		sids = append(sids, sid)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var phone string
	if err := h.store.Pool.QueryRow(context.Background(), `SELECT phone FROM patient WHERE id = $1`, patient).Scan(&phone); err != nil {
		t.Fatal(err)
	}
	// The patient's number as stored ("+91-90000-00009"), in E.164 as sent.
	phone = strings.NewReplacer("-", "", " ", "").Replace(phone)
	courseID := course[strings.LastIndex(course, "/")+1:]
	texted := 0
	for _, m := range twilio.Messages() {
		if !slices.Contains(sids, m.SID) || m.To != phone || m.From != cfg.TwilioFromNumber {
			continue
		}
		// The text links to the course through a short link, and names
		// neither the course, the journey nor the pathway.
		if strings.Contains(m.Body, courseID) || strings.Contains(m.Body, id) || strings.Contains(m.Body, "diabetes") {
			t.Errorf("reminder %q names the course, the journey or the pathway", m.Body)
			continue
		}
		token := m.Body[strings.Index(m.Body, "/l/")+len("/l/"):]
		token = token[:min(len(token), 26)]
		if l, err := h.store.ResolveShortLink(context.Background(), token); err == nil && l.Target == "/adherence/"+courseID {
			texted++
		}
	}
	if len(sids) != st.TotalDoses || st.RemindersSent != st.TotalDoses || texted != st.TotalDoses {
		t.Errorf("%d reminders recorded as sent, %d by the course, %d at the Twilio fake to %s; want %d each",
			len(sids), st.RemindersSent, texted, phone, st.TotalDoses)
	}
}
