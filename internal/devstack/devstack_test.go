package devstack

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/carepath/carepath/internal/testenv"
)

// With the stack already up (make test brings it up), Up must find every
// service at its address and start nothing: that is what makes a second
// `make run` safe.
func TestUpReusesRunningServices(t *testing.T) {
	var out bytes.Buffer
	s, err := New(testenv.Config(t), Options{DataDir: t.TempDir(), Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.Up(ctx, nil); err != nil {
		t.Fatalf("Up: %v\n%s", err, out.String())
	}
	defer s.Down()
	if s.StartedAny() {
		t.Fatalf("Up started processes although every service was running:\n%s", out.String())
	}
	for _, name := range ServiceNames {
		if !strings.Contains(out.String(), name) || !strings.Contains(out.String(), "reusing") {
			t.Errorf("no progress line for %s:\n%s", name, out.String())
		}
	}
}

func TestUpRejectsUnknownService(t *testing.T) {
	s, err := New(testenv.Config(t), Options{DataDir: t.TempDir(), Out: &bytes.Buffer{}})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Up(context.Background(), []string{"mongodb"})
	if err == nil || !strings.Contains(err.Error(), "unknown service") {
		t.Fatalf("want an unknown service error, got %v", err)
	}
}

func TestHostPortAndQuoting(t *testing.T) {
	for raw, want := range map[string]string{
		"postgres://u:p@127.0.0.1:5432/db": "127.0.0.1:5432",
		"redis://127.0.0.1/0":              "127.0.0.1:DEF",
		"bolt://[::1]:7687":                "[::1]:7687",
	} {
		got, err := hostPort(raw, "DEF")
		if err != nil || got != want {
			t.Errorf("hostPort(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
	if got := quoteLiteral(`it's`); got != `'it''s'` {
		t.Errorf("quoteLiteral = %s", got)
	}
}
