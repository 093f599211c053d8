package pathways

import (
	"errors"
	"strings"
	"testing"
)

// base is a small valid pathway; each case breaks it in one way.
const base = `id: demo
version: 1
title: Demo
sources:
  - {id: ops, citation: Operating policy}
parameters:
  hold: {type: duration, value: 15m, source: ops}
  limit: {type: number, value: 130, source: ops}
steps:
  - id: book
    type: book
    time_limit: $hold
    on_timeout: cancel
    next: review
  - id: review
    type: decide
    role: doctor
    time_limit: 4h
    on_timeout: {action: escalate, role: coordinator, then: {time_limit: 20h, action: cancel}}
    outcomes: {accepted: check, rejected: end}
  - id: check
    type: notify
    branches:
      - when: "risk.level == 'high'"
        next: wait_a_bit
    otherwise: end
  - id: wait_a_bit
    type: wait
    time_limit: 1d
    on_timeout: continue
    next: end
`

func TestBaseIsValid(t *testing.T) {
	plan, err := Load("demo.yaml", []byte(base))
	if err != nil {
		t.Fatalf("base pathway should load: %v", err)
	}
	if plan.Key() != "demo@1" || plan.Start != "book" || len(plan.Steps) != 4 {
		t.Errorf("plan = %+v", plan)
	}
}

func TestValidationReportsPositionAndPlainMessage(t *testing.T) {
	cases := []struct {
		name, old, new string
		want           string // "line:col: message fragment"
	}{
		{"unknown step type", "    type: notify\n", "    type: teleport\n", `22:11: step "check" has unknown type "teleport"`},
		{"missing time limit", "    time_limit: 1d\n    on_timeout: continue\n", "", `27:5: step "wait_a_bit" (wait) waits, so it needs a time_limit`},
		{"unknown parameter in a limit", "time_limit: $hold", "time_limit: $hodl", `12:17: unknown parameter "hodl"`},
		{"unknown parameter in an expression", `when: "risk.level == 'high'"`, `when: "params.limitt > 1"`, `24:15: unknown parameter "limitt"`},
		{"unknown name in an expression", `when: "risk.level == 'high'"`, `when: "riskk.level == 'high'"`, `24:15: expression does not compile`},
		{"expression that does not compile", `when: "risk.level == 'high'"`, `when: "risk.level == "`, `24:15: expression does not compile`},
		{"expression that is not boolean", `when: "risk.level == 'high'"`, `when: "risk.level"`, `24:15: expression must be true or false`},
		{"unknown field", "    role: doctor\n", "    role: doctor\n    colour: blue\n", `18:5: unknown field "colour" in a step`},
		{"unreachable step", "outcomes: {accepted: check, rejected: end}", "outcomes: {accepted: end, rejected: end}", `21:9: step "check" is unreachable`},
		{"unknown next step", "next: review", "next: reveiw", `14:11: unknown step "reveiw"`},
		{"escalation without then", "{action: escalate, role: coordinator, then: {time_limit: 20h, action: cancel}}", "{action: escalate, role: coordinator}", `escalate needs then`},
		{"parameter without a source", "limit: {type: number, value: 130, source: ops}", "limit: {type: number, value: 130}", `parameter "limit" must name its source`},
		{"time limit without on_timeout", "    time_limit: 1d\n    on_timeout: continue\n", "    time_limit: 1d\n", `29:17: step "wait_a_bit" has a time limit but no on_timeout`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(base, tc.old, tc.new, 1)
			if src == base {
				t.Fatalf("test case did not change the pathway")
			}
			_, err := Load("demo.yaml", []byte(src))
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("want Problems, got %v", err)
			}
			if !strings.Contains(err.Error(), "demo.yaml:"+tc.want) && !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want %q in:\n%v", tc.want, err)
			}
			for _, p := range ps {
				if p.Pos.Line < 1 || p.Pos.Column < 1 {
					t.Errorf("problem without a position: %v", p)
				}
			}
		})
	}
}

func TestLoopWithoutWaitIsRejected(t *testing.T) {
	src := strings.Replace(base, "    otherwise: end\n", "    otherwise: ping\n  - id: ping\n    type: notify\n    next: check\n", 1)
	_, err := Load("demo.yaml", []byte(src))
	if err == nil || !strings.Contains(err.Error(), "loop with no wait in it: ") || !strings.Contains(err.Error(), "check -> ping -> check") && !strings.Contains(err.Error(), "ping -> check -> ping") {
		t.Fatalf("want a loop error, got %v", err)
	}
	// The same loop through a waiting step is a legitimate repeat.
	src = strings.Replace(base, "    otherwise: end\n", "    otherwise: ping\n  - id: ping\n    type: wait\n    time_limit: 30d\n    on_timeout: continue\n    next: check\n", 1)
	if _, err := Load("demo.yaml", []byte(src)); err != nil {
		t.Fatalf("a loop through a wait is fine: %v", err)
	}
}

func TestEveryProblemIsReported(t *testing.T) {
	src := strings.Replace(strings.Replace(base, "type: notify", "type: teleport", 1), "time_limit: $hold", "time_limit: $nope", 1)
	_, err := Load("demo.yaml", []byte(src))
	var ps Problems
	if !errors.As(err, &ps) || len(ps) < 2 {
		t.Fatalf("want at least two problems, got %v", err)
	}
	if ps[0].Pos.Line > ps[1].Pos.Line {
		t.Errorf("problems are not in file order: %v", ps)
	}
}

func TestEvalIsDeterministicAndStrict(t *testing.T) {
	v := Vars{Risk: map[string]any{"level": "high"}, Vitals: map[string]map[string]float64{"glucose": {"mean": 150}}}
	for i := 0; i < 3; i++ {
		ok, err := Eval("risk.level == 'high' || vitals.glucose.mean > 180.0", v)
		if err != nil || !ok {
			t.Fatalf("Eval = %v, %v", ok, err)
		}
	}
	if _, err := Eval("risk.level == 'high'", Vars{}); err == nil {
		t.Fatal("a missing risk assessment must be an error, not false")
	}
}

func TestCatalogPicksNewestUnlessNamed(t *testing.T) {
	v1, err := Load("a.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	v2, err := Load("b.yaml", []byte(strings.Replace(base, "version: 1", "version: 2", 1)))
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCatalog([]Plan{v2, v1})
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := c.Get("demo", 0); p.Version != 2 {
		t.Errorf("newest = %d", p.Version)
	}
	if p, _ := c.Get("demo", 1); p.Version != 1 {
		t.Errorf("named = %d", p.Version)
	}
	var unknown *ErrUnknownPathway
	if _, err := c.Get("demo", 3); !errors.As(err, &unknown) {
		t.Errorf("unknown version: %v", err)
	}
	if _, err := NewCatalog([]Plan{v1, v1}); err == nil {
		t.Error("the same version twice must be an error")
	}
}
