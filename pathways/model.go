package pathways

import (
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Pos is a place in a pathway file.
type Pos struct {
	Line, Column int
}

// Pathway is a pathway definition as written in YAML.
type Pathway struct {
	Pos         Pos
	ID          string               `yaml:"id"`
	Version     int                  `yaml:"version"`
	Title       string               `yaml:"title"`
	Description string               `yaml:"description"`
	Sources     []Source             `yaml:"sources"`
	Eligibility Eligibility          `yaml:"eligibility"`
	Parameters  map[string]Parameter `yaml:"parameters"`
	Start       string               `yaml:"start"`
	Steps       []Step               `yaml:"steps"`

	keys map[string]Pos
}

// Source is a guideline or reference the pathway's content comes from.
type Source struct {
	Pos      Pos
	ID       string `yaml:"id"`
	Citation string `yaml:"citation"`
	URL      string `yaml:"url"`
	keys     map[string]Pos
}

// Eligibility says who the pathway is for (ICD-10 codes; empty: anyone).
type Eligibility struct {
	Conditions []string `yaml:"conditions"`
}

// Parameter is a named value used by time limits and expressions, with the
// source it comes from.
type Parameter struct {
	Pos         Pos
	Type        string `yaml:"type"` // duration, number, string, bool, list
	Value       any    `yaml:"value"`
	Unit        string `yaml:"unit"`
	Source      string `yaml:"source"`
	Description string `yaml:"description"`
	keys        map[string]Pos
}

// Step is one stage of the journey.
type Step struct {
	Pos       Pos
	ID        string            `yaml:"id"`
	Type      string            `yaml:"type"`
	Title     string            `yaml:"title"`
	TimeLimit string            `yaml:"time_limit"`
	OnTimeout *Timeout          `yaml:"on_timeout"`
	Role      string            `yaml:"role"`
	Approval  *Approval         `yaml:"approval"`
	Outcomes  map[string]string `yaml:"outcomes"`
	Next      string            `yaml:"next"`
	Branches  []Branch          `yaml:"branches"`
	Otherwise string            `yaml:"otherwise"`
	Tracks    []Track           `yaml:"tracks"`
	With      map[string]any    `yaml:"with"`

	keys map[string]Pos
}

// Timeout says what happens when a step's time limit runs out.
type Timeout struct {
	Pos       Pos
	Action    string   `yaml:"action"` // escalate, cancel, continue
	Role      string   `yaml:"role"`   // who is alerted on escalate
	Next      string   `yaml:"next"`   // where continue goes (default: the step's next)
	Then      *Timeout `yaml:"then"`   // after an escalation: a further limit and action
	TimeLimit string   `yaml:"time_limit"`
	keys      map[string]Pos
}

// Approval is a decision a role must make before the step completes.
type Approval struct {
	Pos       Pos
	Role      string   `yaml:"role"`
	TimeLimit string   `yaml:"time_limit"`
	OnTimeout *Timeout `yaml:"on_timeout"`
	keys      map[string]Pos
}

// Branch goes to Next when When holds.
type Branch struct {
	Pos  Pos
	When string `yaml:"when"`
	Next string `yaml:"next"`
	keys map[string]Pos
}

// Track is one line of steps that runs beside the others of its step.
type Track struct {
	Pos   Pos
	Name  string `yaml:"name"`
	Start string `yaml:"start"`
	keys  map[string]Pos
}

// decodeStrict decodes a mapping node into out (a pointer to a plain struct
// type without its own UnmarshalYAML), rejecting keys not in allowed and
// recording where each key is.
func decodeStrict(node *yaml.Node, what string, allowed []string, out any) (Pos, map[string]Pos, error) {
	pos := Pos{node.Line, node.Column}
	if node.Kind != yaml.MappingNode {
		return pos, nil, &yamlError{pos, fmt.Sprintf("%s must be a mapping", what)}
	}
	keys := map[string]Pos{}
	for i := 0; i+1 < len(node.Content); i += 2 {
		k := node.Content[i]
		if !contains(allowed, k.Value) {
			return pos, nil, &yamlError{Pos{k.Line, k.Column}, fmt.Sprintf("unknown field %q in %s (allowed: %s)", k.Value, what, strings.Join(allowed, ", "))}
		}
		keys[k.Value] = Pos{node.Content[i+1].Line, node.Content[i+1].Column}
	}
	if err := node.Decode(out); err != nil {
		var inner *yamlError
		if errors.As(err, &inner) { // a nested node already said where
			return pos, nil, inner
		}
		return pos, nil, &yamlError{pos, fmt.Sprintf("%s: %v", what, cleanYAMLError(err))}
	}
	return pos, keys, nil
}

// yamlError carries the position of a structural problem out of decoding.
type yamlError struct {
	pos Pos
	msg string
}

func (e *yamlError) Error() string { return e.msg }

func cleanYAMLError(err error) string {
	return strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n  ")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// The UnmarshalYAML methods below decode through an alias type (which has no
// UnmarshalYAML of its own) so that unknown fields are errors with positions.

func (p *Pathway) UnmarshalYAML(n *yaml.Node) error {
	type plain Pathway
	var v plain
	pos, keys, err := decodeStrict(n, "the pathway", []string{"id", "version", "title", "description", "sources", "eligibility", "parameters", "start", "steps"}, &v)
	if err != nil {
		return err
	}
	*p = Pathway(v)
	p.Pos, p.keys = pos, keys
	return nil
}

func (s *Source) UnmarshalYAML(n *yaml.Node) error {
	type plain Source
	var v plain
	pos, keys, err := decodeStrict(n, "a source", []string{"id", "citation", "url"}, &v)
	if err != nil {
		return err
	}
	*s = Source(v)
	s.Pos, s.keys = pos, keys
	return nil
}

func (p *Parameter) UnmarshalYAML(n *yaml.Node) error {
	type plain Parameter
	var v plain
	pos, keys, err := decodeStrict(n, "a parameter", []string{"type", "value", "unit", "source", "description"}, &v)
	if err != nil {
		return err
	}
	*p = Parameter(v)
	p.Pos, p.keys = pos, keys
	return nil
}

func (s *Step) UnmarshalYAML(n *yaml.Node) error {
	type plain Step
	var v plain
	pos, keys, err := decodeStrict(n, "a step", []string{"id", "type", "title", "time_limit", "on_timeout", "role", "approval", "outcomes", "next", "branches", "otherwise", "tracks", "with"}, &v)
	if err != nil {
		return err
	}
	*s = Step(v)
	s.Pos, s.keys = pos, keys
	return nil
}

func (t *Timeout) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode { // shorthand: `on_timeout: cancel`
		*t = Timeout{Pos: Pos{n.Line, n.Column}, Action: n.Value, keys: map[string]Pos{"action": {n.Line, n.Column}}}
		return nil
	}
	type plain Timeout
	var v plain
	pos, keys, err := decodeStrict(n, "on_timeout", []string{"action", "role", "next", "then", "time_limit"}, &v)
	if err != nil {
		return err
	}
	*t = Timeout(v)
	t.Pos, t.keys = pos, keys
	return nil
}

func (a *Approval) UnmarshalYAML(n *yaml.Node) error {
	type plain Approval
	var v plain
	pos, keys, err := decodeStrict(n, "approval", []string{"role", "time_limit", "on_timeout"}, &v)
	if err != nil {
		return err
	}
	*a = Approval(v)
	a.Pos, a.keys = pos, keys
	return nil
}

func (b *Branch) UnmarshalYAML(n *yaml.Node) error {
	type plain Branch
	var v plain
	pos, keys, err := decodeStrict(n, "a branch", []string{"when", "next"}, &v)
	if err != nil {
		return err
	}
	*b = Branch(v)
	b.Pos, b.keys = pos, keys
	return nil
}

func (t *Track) UnmarshalYAML(n *yaml.Node) error {
	type plain Track
	var v plain
	pos, keys, err := decodeStrict(n, "a track", []string{"name", "start"}, &v)
	if err != nil {
		return err
	}
	*t = Track(v)
	t.Pos, t.keys = pos, keys
	return nil
}

// at returns where key was written, or the fallback position.
func at(keys map[string]Pos, key string, fallback Pos) Pos {
	if p, ok := keys[key]; ok {
		return p
	}
	return fallback
}
