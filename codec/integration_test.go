package codec_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/carepath/carepath/api"
	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/codec"
	"github.com/carepath/carepath/config"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/platform"
)

// These tests run against the real Temporal dev server, on task queues of
// their own, and look at what the server stores through a client that has
// no codec: exactly what anyone with access to Temporal's database sees.

const (
	cardWorkflowName    = "codec-test-card"
	refusalWorkflowName = "codec-test-refusal"
	noteSignal          = "consult-note"
)

// cardWorkflow carries health data the way a journey does: in its input,
// a signal, a memo upserted along the way, and its result.
func cardWorkflow(ctx workflow.Context, in patientCard) (patientCard, error) {
	var note string
	workflow.GetSignalChannel(ctx, noteSignal).Receive(ctx, &note)
	if err := workflow.UpsertMemo(ctx, map[string]any{"last_note": note}); err != nil {
		return patientCard{}, err
	}
	in.State = "consulted: " + note
	return in, nil
}

// refusalWorkflow fails with health data in the error message.
func refusalWorkflow(ctx workflow.Context, in patientCard) error {
	return temporal.NewNonRetryableApplicationError(in.Name+" refused consent", "ConsentRefused", nil)
}

type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}

// temporalClients returns the application's client (platform.DialTemporal,
// codec on) with a worker on a fresh task queue, and a plain client.
func temporalClients(t *testing.T, cfg config.Config) (enc, plain client.Client, queue string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	plain, err := client.DialContext(ctx, client.Options{HostPort: cfg.TemporalAddress, Namespace: cfg.TemporalNamespace, Logger: quietLogger{}})
	if err != nil {
		testenv.Fail(t, "Temporal", cfg.TemporalAddress, err)
	}
	t.Cleanup(plain.Close)
	enc, err = platform.DialTemporal(cfg, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(enc.Close)
	queue = fmt.Sprintf("codec-test-%d", time.Now().UnixNano())
	w := worker.New(enc, queue, worker.Options{})
	w.RegisterWorkflowWithOptions(cardWorkflow, workflow.RegisterOptions{Name: cardWorkflowName})
	w.RegisterWorkflowWithOptions(refusalWorkflow, workflow.RegisterOptions{Name: refusalWorkflowName})
	if err := w.Start(); err != nil {
		t.Fatalf("worker: %v", err)
	}
	t.Cleanup(w.Stop)
	return enc, plain, queue
}

func history(t *testing.T, ctx context.Context, c client.Client, id, runID string) *historypb.History {
	t.Helper()
	h := &historypb.History{}
	iter := c.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		e, err := iter.Next()
		if err != nil {
			t.Fatalf("history of %s: %v", id, err)
		}
		h.Events = append(h.Events, e)
	}
	return h
}

func TestTemporalStoresOnlyCiphertext(t *testing.T) {
	cfg := testenv.Config(t)
	enc, plain, queue := temporalClients(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	name := fmt.Sprintf("Asha Ramanathan %d", time.Now().UnixNano())
	note := "HbA1c 9.1%, started metformin for " + name
	id := "codec-test-card-" + strings.ReplaceAll(time.Now().Format("150405.000000"), ".", "")
	run, err := enc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: queue, Memo: map[string]any{"patient_name": name},
	}, cardWorkflowName, patientCard{Name: name, State: "awaiting payment"})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if err := enc.SignalWorkflow(ctx, id, run.GetRunID(), noteSignal, note); err != nil {
		t.Fatalf("signal: %v", err)
	}
	var out patientCard
	if err := run.Get(ctx, &out); err != nil {
		t.Fatalf("result: %v", err)
	}
	if out.Name != name || out.State != "consulted: "+note {
		t.Fatalf("the application's own client must read its data in the clear; got %+v", out)
	}

	// What the server holds, read without the codec.
	h := history(t, ctx, plain, id, run.GetRunID())
	raw, err := proto.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{name, "HbA1c", "metformin", "awaiting payment"} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("the stored history contains %q in the clear", secret)
		}
	}
	var stored []*commonpb.Payload
	var what []string
	add := func(label string, ps ...*commonpb.Payload) {
		for _, p := range ps {
			stored, what = append(stored, p), append(what, label)
		}
	}
	for _, e := range h.Events {
		if a := e.GetWorkflowExecutionStartedEventAttributes(); a != nil {
			add("input", a.GetInput().GetPayloads()...)
			add("start memo", a.GetMemo().GetFields()["patient_name"])
		}
		if a := e.GetWorkflowExecutionSignaledEventAttributes(); a != nil {
			add("signal", a.GetInput().GetPayloads()...)
		}
		if a := e.GetWorkflowPropertiesModifiedEventAttributes(); a != nil {
			add("upserted memo", a.GetUpsertedMemo().GetFields()["last_note"])
		}
		if a := e.GetWorkflowExecutionCompletedEventAttributes(); a != nil {
			add("result", a.GetResult().GetPayloads()...)
		}
	}
	for _, label := range []string{"input", "start memo", "signal", "upserted memo", "result"} {
		found := false
		for _, w := range what {
			found = found || w == label
		}
		if !found {
			t.Fatalf("no %s payload in the history; what was found: %v", label, what)
		}
	}
	for i, p := range stored {
		if p == nil {
			t.Fatalf("%s: missing", what[i])
		}
		if got := string(p.Metadata[converter.MetadataEncoding]); got != codec.EncodingEncrypted {
			t.Errorf("%s: stored with encoding %q, want %s", what[i], got, codec.EncodingEncrypted)
		}
		if got := string(p.Metadata[codec.MetadataKeyID]); got != cfg.CodecActiveKey {
			t.Errorf("%s: key id %q, want %q", what[i], got, cfg.CodecActiveKey)
		}
	}

	// Without the key: the plain client cannot read the result, the default
	// converter cannot read the input, and a wrong key under the same ID
	// does not authenticate.
	var leaked patientCard
	if err := plain.GetWorkflow(ctx, id, run.GetRunID()).Get(ctx, &leaked); err == nil {
		t.Errorf("a client without the codec read the result: %+v", leaked)
	}
	if err := converter.GetDefaultDataConverter().FromPayload(stored[0], &leaked); err == nil {
		t.Errorf("the default converter read the stored input: %+v", leaked)
	}
	wrongKey, err := codec.GenerateKey(cfg.CodecActiveKey)
	if err != nil {
		t.Fatal(err)
	}
	impostor, err := codec.New([]codec.Key{wrongKey}, cfg.CodecActiveKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := impostor.Decode(stored); !errors.Is(err, codec.ErrDecrypt) {
		t.Errorf("decode with a wrong key: err = %v, want ErrDecrypt", err)
	}
	// With the key, the same stored bytes read back (the control that makes
	// the failures above mean something).
	right, err := platform.NewCodec(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var input patientCard
	if err := right.DataConverter().FromPayload(stored[0], &input); err != nil || input.Name != name {
		t.Fatalf("decode the stored input with the key: %v %q", err, input.Name)
	}

	// The coordinator's path: the UI posts the stored payload to the codec
	// endpoint and gets the patient's name and state back.
	t.Run("codec endpoint decodes what the server stored", func(t *testing.T) {
		// A coordinator's access token, as the UI forwards it; the decode
		// is audited, in a chain of the test's own.
		a := testenv.Auth(t, testenv.Store(t))
		token := testenv.Token(t, a, auth.RoleCoordinator, uuid.NewString())
		router := api.NewRouter(api.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Codec: api.CodecOptions{
			Codec: right, UIOrigins: []string{"http://127.0.0.1:8233"}, Namespace: cfg.TemporalNamespace,
		}, Auth: a, Store: testenv.AuditSchema(t)})
		body, err := protojson.Marshal(&commonpb.Payloads{Payloads: stored[:1]})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, "/api/codec/decode", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("X-Namespace", cfg.TemporalNamespace)
		rec := httptest.NewRecorder()
		router.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("decode: %d %s", rec.Code, rec.Body)
		}
		var ps commonpb.Payloads
		if err := protojson.Unmarshal(rec.Body.Bytes(), &ps); err != nil {
			t.Fatal(err)
		}
		var card patientCard
		if err := converter.GetDefaultDataConverter().FromPayload(ps.Payloads[0], &card); err != nil || card.Name != name || card.State != "awaiting payment" {
			t.Fatalf("the UI would see %+v (%v)", card, err)
		}
	})

	// Rotation: a client whose ring has a new active key and still holds the
	// old one reads the journey written under the old key, and writes new
	// payloads under the new one.
	t.Run("rotation keeps old journeys readable", func(t *testing.T) {
		next, err := codec.GenerateKey("rotated-2")
		if err != nil {
			t.Fatal(err)
		}
		rotated := cfg
		rotated.CodecKeys = append([]codec.Key{next}, cfg.CodecKeys...)
		rotated.CodecActiveKey = "rotated-2"
		c2, err := platform.DialTemporal(rotated, testenv.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		var again patientCard
		if err := c2.GetWorkflow(ctx, id, run.GetRunID()).Get(ctx, &again); err != nil || again.Name != name {
			t.Fatalf("read the pre-rotation result: %v %+v", err, again)
		}
		id2 := id + "-rotated"
		run2, err := c2.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id2, TaskQueue: queue}, cardWorkflowName, patientCard{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		// Terminate rather than finish: the worker holds only the old ring
		// and must not be asked to read this run.
		defer func() { _ = c2.TerminateWorkflow(context.WithoutCancel(ctx), id2, run2.GetRunID(), "test done") }()
		for _, e := range history(t, ctx, plain, id2, run2.GetRunID()).Events {
			if a := e.GetWorkflowExecutionStartedEventAttributes(); a != nil {
				if got := string(a.GetInput().GetPayloads()[0].Metadata[codec.MetadataKeyID]); got != "rotated-2" {
					t.Fatalf("new input stored under key %q, want rotated-2", got)
				}
			}
		}
	})
}

func TestFailureMessagesReachTheServerEncrypted(t *testing.T) {
	cfg := testenv.Config(t)
	enc, plain, queue := temporalClients(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	name := fmt.Sprintf("Ravi Shankar %d", time.Now().UnixNano())
	run, err := enc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: queue}, refusalWorkflowName, patientCard{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	err = run.Get(ctx, nil)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != "ConsentRefused" || !strings.Contains(appErr.Error(), name) {
		t.Fatalf("the application's client must see the decoded failure; got %v", err)
	}
	raw, err := proto.Marshal(history(t, ctx, plain, run.GetID(), run.GetRunID()))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(name)) {
		t.Fatal("the stored failure message contains the patient's name")
	}
	if !bytes.Contains(raw, []byte("ConsentRefused")) {
		t.Fatal("the error type must stay readable in the stored failure")
	}
}
