package pathways

import (
	"strings"
	"testing"
	"time"
)

func TestShippedPathwaysLoad(t *testing.T) {
	c, err := Shipped()
	if err != nil {
		t.Fatalf("shipped pathways are invalid:\n%v", err)
	}
	for _, id := range []string{"general-consult", "type-2-diabetes", "hypertension", "asthma"} {
		p, err := c.Get(id, 0)
		if err != nil {
			t.Fatal(err)
		}
		if p.Version < 1 || p.Start == "" || len(p.Sources) == 0 {
			t.Errorf("%s: incomplete plan %+v", id, p)
		}
	}
	gc, _ := c.Get("general-consult", 1)
	if gc.Steps["pay"].TimeLimit != 30*time.Minute {
		t.Errorf("pay time limit = %v, want the payment_window parameter (30m)", gc.Steps["pay"].TimeLimit)
	}
	dr := gc.Steps["doctor_review"]
	if dr.OnTimeout == nil || dr.OnTimeout.Action != "escalate" || dr.OnTimeout.Then == nil || dr.OnTimeout.Then.TimeLimit != 20*time.Hour {
		t.Errorf("doctor_review escalation not compiled: %+v", dr.OnTimeout)
	}
	if got := gc.Steps["reminders"].With["offsets"]; len(got.([]any)) != 2 {
		t.Errorf("reminder offsets not resolved from the parameter: %v", got)
	}
}

// Every clinical setting of a lab_order or follow_up step comes from a
// parameter that names its source, and the long-term pathways use them.
func TestShippedStagesCiteTheirParameters(t *testing.T) {
	c, err := Shipped()
	if err != nil {
		t.Fatal(err)
	}
	sources := func(p Plan) map[string]bool {
		out := map[string]bool{}
		for _, s := range p.Sources {
			out[s.ID] = true
		}
		return out
	}
	for _, id := range []string{"type-2-diabetes", "hypertension", "asthma"} {
		p, _ := c.Get(id, 0)
		kinds := map[string]int{}
		for _, s := range p.Steps {
			kinds[s.Type]++
		}
		for _, want := range []string{"book", "pay", "decide", "remind", "consult", "prescribe", "fulfil", "adhere", "follow_up"} {
			if kinds[want] == 0 {
				t.Errorf("%s has no %s step", id, want)
			}
		}
		if id != "asthma" && kinds["lab_order"] == 0 {
			t.Errorf("%s has no lab_order step", id)
		}
		if id != "asthma" && kinds["diet"] == 0 {
			t.Errorf("%s has no diet step", id)
		}
		if len(sources(p)) < 2 {
			t.Errorf("%s cites %d sources", id, len(sources(p)))
		}
	}
	t2d, _ := c.Get("type-2-diabetes", 0)
	review := t2d.Steps["review_not_at_goal"]
	if review.With["interval"] != "90d" || review.With["risk_factors"].(map[string]any)["high"] != 0.5 {
		t.Errorf("review settings not resolved from parameters: %v", review.With)
	}
}

func TestStageSettingsMustBeCitedParameters(t *testing.T) {
	const p = `id: stages
version: 1
title: Stages
sources: [{id: ops, citation: Policy}]
parameters:
  tests: {type: list, value: ["4548-4"], source: ops}
  panel: {type: list, value: ["57698-3"], source: ops}
  review: {type: duration, value: 90d, source: ops}
  factor: {type: number, value: 0.5, source: ops}
  big: {type: number, value: 9, source: ops}
steps:
  - {id: book, type: book, time_limit: 15m, on_timeout: cancel, next: labs}
  - id: labs
    type: lab_order
    time_limit: 14d
    on_timeout: continue
    with: {tests: $tests}
    branches:
      - {when: "labs.hba1c >= 7.0", next: again}
    otherwise: end
  - {id: again, type: follow_up, time_limit: 14d, on_timeout: continue, with: {interval: $review, risk_factors: {high: $factor}}, next: end}
`
	if _, err := Load("stages.yaml", []byte(p)); err != nil {
		t.Fatalf("valid stages refused: %v", err)
	}
	for _, tc := range []struct{ old, new, want string }{
		{"{tests: $tests}", "{tests: $panel}", "57698-3 is not a LOINC code"},
		{"{tests: $tests}", `{tests: ["4548-4"]}`, "with.tests must be a $parameter"},
		{"interval: $review, ", "", "needs with.interval"},
		{"interval: $review", "interval: 90d", "with.interval must be a $parameter"},
		{"interval: $review", "interval: $factor", `parameter "factor" is a number, not a duration`},
		{"{high: $factor}", "{severe: $factor}", `"severe" is not a risk level`},
		{"{high: $factor}", "{high: $big}", "at most 4"},
		{"labs.hba1c", "labs.hbaic", `unknown lab "hbaic"`},
		{"risk_factors: {high: $factor}}", "risk_factors: {high: $factor}, rebook: labs}", "with.rebook must name a book step"},
	} {
		_, err := Load("stages.yaml", []byte(strings.Replace(p, tc.old, tc.new, 1)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s -> %s: got %v, want %q", tc.old, tc.new, err, tc.want)
		}
	}
}
