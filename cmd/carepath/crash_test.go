package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v81"
	"github.com/stripe/stripe-go/v81/webhook"

	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/workflows"
)

// The worker is killed (SIGKILL, no goodbye) after the PaymentIntent exists
// and before the payment is confirmed. A new worker takes over; the journey
// completes, and Stripe was asked for exactly one PaymentIntent, which
// PostgreSQL holds exactly once.
func TestWorkerCrashDuringPaymentChargesOnce(t *testing.T) {
	s := testenv.Store(t)
	ctx := context.Background()
	if _, err := s.Seed(ctx); err != nil {
		t.Fatal(err)
	}
	bin := buildBinary(t)

	// Count what reaches Stripe: a proxy in front of stripe-mock.
	var intentsCreated atomic.Int32
	target, err := url.Parse(testenv.Config(t).StripeAPIBase)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	stripeProxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/payment_intents" {
			intentsCreated.Add(1)
		}
		proxy.ServeHTTP(w, r)
	}))
	defer stripeProxy.Close()

	pathwaysDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(pathwaysDir, "general-consult.v900.yaml"), []byte(testenv.QuickConsultPathway(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	const webhookSecret = "whsec_crash_test"
	apiAddr := freeAddr(t)
	env := append(testEnv(t, apiAddr, fmt.Sprintf("crash-test-%d", time.Now().UnixNano())),
		"PATHWAYS_DIR="+pathwaysDir, "STRIPE_API_BASE="+stripeProxy.URL, "STRIPE_WEBHOOK_SECRET="+webhookSecret)
	start := func(name string) (*exec.Cmd, *syncBuffer) {
		var out syncBuffer
		cmd := exec.Command(bin, name)
		cmd.Env, cmd.Stdout, cmd.Stderr = env, &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd, &out
	}
	worker1, _ := start("worker")
	_, apiOut := start("api")
	base := "http://" + apiAddr
	waitUntil(t, 30*time.Second, func() bool { return get(base+"/api/system/health/check") == http.StatusOK },
		func() string { return "API never healthy:\n" + apiOut.String() })

	// A slot of the test's own, 40 s ahead.
	slot := testenv.SlotSoon(t, s, 2, 40*time.Second)
	practitioner := slot.PractitionerID
	patient := store.SeedPatientID(12)
	episode := testenv.FreshEpisode(t, s, patient, "general-consult")
	if code := post(t, base+"/api/v1/journeys", "", "", fmt.Sprintf(`{"patient_id":%q,"pathway_id":"general-consult","pathway_version":900,"episode":%d,"slot_id":%q}`, patient, episode, slot.ID)); code != http.StatusAccepted {
		t.Fatalf("start journey: %d", code)
	}
	id := testenv.JourneyID(t, s, patient, "general-consult", episode)
	admin := "Bearer " + testenv.Token(t, testenv.Auth(t, s), auth.RoleAdmin, crashTestAdmin)
	st := waitState(t, base, admin, id, func(s workflows.JourneyState) bool { return s.Stage == "pay" && s.Payment != nil })

	// Crash the worker mid-journey and start another.
	if err := worker1.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = worker1.Wait()
	start("worker")

	event, err := json.Marshal(map[string]any{
		"id": fmt.Sprintf("evt_crash_%d", episode), "object": "event", "api_version": stripe.APIVersion, "created": time.Now().Unix(),
		"type": "payment_intent.succeeded", "livemode": false, "pending_webhooks": 1,
		"data": map[string]any{"object": map[string]any{"id": st.Payment.PaymentIntentID, "object": "payment_intent",
			"amount": st.Payment.AmountMinor, "currency": "inr", "status": "succeeded", "metadata": map[string]string{"journey_id": id}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	sig := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: event, Secret: webhookSecret, Timestamp: time.Now()}).Header
	if code := postStripe(t, base, event, sig); code != http.StatusOK {
		t.Fatalf("webhook: %d", code)
	}
	waitState(t, base, admin, id, func(s workflows.JourneyState) bool { return s.Stage == "doctor_review" })
	if code := post(t, base+"/api/v1/journeys/"+id+"/decisions", practitioner, "doctor", `{"step_id":"doctor_review","outcome":"accepted"}`); code != http.StatusOK {
		t.Fatalf("decide: %d", code)
	}
	waitState(t, base, admin, id, func(s workflows.JourneyState) bool { return s.Stage == "consult" })
	if code := post(t, base+"/api/v1/journeys/"+id+"/consult/start", practitioner, "doctor", `{}`); code != http.StatusOK {
		t.Fatalf("start consult: %d", code)
	}
	if code := post(t, base+"/api/v1/journeys/"+id+"/consult/close", practitioner, "doctor", `{"diagnoses":["R51"],"orders":[]}`); code != http.StatusOK {
		t.Fatalf("close consult: %d", code)
	}
	final := waitState(t, base, admin, id, func(s workflows.JourneyState) bool { return s.Status != workflows.StatusActive })
	if final.Status != workflows.StatusCompleted {
		t.Fatalf("journey ended %s: %s", final.Status, final.Outcome)
	}
	var payments int
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM payment WHERE journey_id = $1`, id).Scan(&payments); err != nil {
		t.Fatal(err)
	}
	if n := intentsCreated.Load(); n != 1 || payments != 1 {
		t.Errorf("after the crash: Stripe was asked for %d PaymentIntents and PostgreSQL holds %d payments; want 1 and 1", n, payments)
	}
}

func get(u string) int {
	resp, err := http.Get(u)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

const crashTestAdmin = "00000000-0000-4000-8000-00000000ad02"

func post(t *testing.T, u, actorID, role, body string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if actorID == "" {
		// No actor given (starting a journey): act as an admin, who may start any patient's journey.
		actorID, role = crashTestAdmin, auth.RoleAdmin
	}
	req.Header.Set("Authorization", "Bearer "+testenv.Token(t, testenv.Auth(t, testenv.Store(t)), role, actorID))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func postStripe(t *testing.T, base string, payload []byte, signature string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/api/v1/webhooks/stripe", strings.NewReader(string(payload)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", signature)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitState polls the journey's state as the bearer until ok holds.
func waitState(t *testing.T, base, bearer, id string, ok func(workflows.JourneyState) bool) workflows.JourneyState {
	t.Helper()
	var st workflows.JourneyState
	waitUntil(t, 90*time.Second, func() bool {
		req, err := http.NewRequest(http.MethodGet, base+"/api/v1/journeys/"+id, nil)
		if err != nil {
			return false
		}
		req.Header.Set("Authorization", bearer)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&st) == nil && ok(st)
	}, func() string {
		return fmt.Sprintf("journey state never matched; last: %s %s (%s)", st.Status, st.Stage, st.Outcome)
	})
	return st
}
