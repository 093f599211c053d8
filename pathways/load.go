package pathways

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong with a pathway file.
type Problem struct {
	File    string
	Pos     Pos
	Message string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Pos.Line, p.Pos.Column, p.Message)
}

// Problems is every problem found in one or more files, in file order.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// LoadFile reads, validates and compiles one pathway file.
func LoadFile(path string) (Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Plan{}, fmt.Errorf("pathways: read %s: %w", path, err)
	}
	return Load(path, data)
}

// Load validates and compiles a pathway from its YAML text. name is the file
// name used in problems. Any problem at all means no plan.
func Load(name string, data []byte) (Plan, error) {
	var p Pathway
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&p); err != nil {
		var ye *yamlError
		if errors.As(err, &ye) {
			return Plan{}, Problems{{File: name, Pos: ye.pos, Message: ye.msg}}
		}
		return Plan{}, Problems{{File: name, Pos: yamlErrorPos(err), Message: cleanYAMLError(err)}}
	}
	v := &validator{file: name, p: &p}
	plan := v.validate()
	if len(v.problems) > 0 {
		sort.SliceStable(v.problems, func(i, j int) bool {
			a, b := v.problems[i].Pos, v.problems[j].Pos
			return a.Line < b.Line || (a.Line == b.Line && a.Column < b.Column)
		})
		return Plan{}, v.problems
	}
	return plan, nil
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

func yamlErrorPos(err error) Pos {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return Pos{n, 1}
	}
	return Pos{1, 1}
}

type validator struct {
	file     string
	p        *Pathway
	problems Problems
	steps    map[string]*Step
}

func (v *validator) add(pos Pos, format string, args ...any) {
	v.problems = append(v.problems, Problem{File: v.file, Pos: pos, Message: fmt.Sprintf(format, args...)})
}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
var stepIDPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

func (v *validator) validate() Plan {
	p := v.p
	if !idPattern.MatchString(p.ID) {
		v.add(at(p.keys, "id", p.Pos), "id must be a lowercase slug such as type-2-diabetes, got %q", p.ID)
	}
	if p.Version < 1 {
		v.add(at(p.keys, "version", p.Pos), "version must be a whole number of 1 or more")
	}
	if strings.TrimSpace(p.Title) == "" {
		v.add(at(p.keys, "title", p.Pos), "title is missing")
	}
	sources := map[string]bool{}
	if len(p.Sources) == 0 {
		v.add(at(p.keys, "sources", p.Pos), "a pathway must cite at least one source (a guideline)")
	}
	for _, s := range p.Sources {
		if s.ID == "" || s.Citation == "" {
			v.add(s.Pos, "a source needs an id and a citation")
		}
		sources[s.ID] = true
	}
	for _, name := range sortedKeys(p.Parameters) {
		v.checkParameter(name, p.Parameters[name], sources)
	}
	if len(p.Steps) == 0 {
		v.add(at(p.keys, "steps", p.Pos), "a pathway needs at least one step")
		return Plan{}
	}
	v.steps = map[string]*Step{}
	for i := range p.Steps {
		s := &p.Steps[i]
		if !stepIDPattern.MatchString(s.ID) || s.ID == End {
			v.add(at(s.keys, "id", s.Pos), "step id must be lowercase letters, digits and underscores (and not %q), got %q", End, s.ID)
			continue
		}
		if _, dup := v.steps[s.ID]; dup {
			v.add(at(s.keys, "id", s.Pos), "step id %q is used twice", s.ID)
			continue
		}
		v.steps[s.ID] = s
	}
	start := p.Start
	if start == "" {
		start = p.Steps[0].ID
	} else if _, ok := v.steps[start]; !ok {
		v.add(at(p.keys, "start", p.Pos), "start names an unknown step %q", start)
	}
	for i := range p.Steps {
		v.checkStep(&p.Steps[i])
	}
	if len(v.problems) == 0 {
		v.checkReachable(start)
		v.checkLoops()
	}
	if len(v.problems) > 0 {
		return Plan{}
	}
	return compile(p, start)
}

func (v *validator) checkParameter(name string, prm Parameter, sources map[string]bool) {
	if !stepIDPattern.MatchString(name) {
		v.add(prm.Pos, "parameter name %q must be lowercase letters, digits and underscores", name)
	}
	if prm.Source == "" {
		v.add(prm.Pos, "parameter %q must name its source", name)
	} else if !sources[prm.Source] {
		v.add(at(prm.keys, "source", prm.Pos), "parameter %q cites unknown source %q", name, prm.Source)
	}
	switch prm.Type {
	case "duration":
		s, ok := prm.Value.(string)
		if _, err := ParseDuration(s); !ok || err != nil {
			v.add(at(prm.keys, "value", prm.Pos), "parameter %q: %v is not a duration such as 30m, 48h or 14d", name, prm.Value)
		}
	case "number":
		switch prm.Value.(type) {
		case int, float64:
		default:
			v.add(at(prm.keys, "value", prm.Pos), "parameter %q: %v is not a number", name, prm.Value)
		}
	case "string":
		if _, ok := prm.Value.(string); !ok {
			v.add(at(prm.keys, "value", prm.Pos), "parameter %q: %v is not a string", name, prm.Value)
		}
	case "bool":
		if _, ok := prm.Value.(bool); !ok {
			v.add(at(prm.keys, "value", prm.Pos), "parameter %q: %v is not true or false", name, prm.Value)
		}
	case "list":
		if _, ok := prm.Value.([]any); !ok {
			v.add(at(prm.keys, "value", prm.Pos), "parameter %q: %v is not a list", name, prm.Value)
		}
	default:
		v.add(at(prm.keys, "type", prm.Pos), "parameter %q has unknown type %q (duration, number, string, bool, list)", name, prm.Type)
	}
}

func (v *validator) checkStep(s *Step) {
	t, known := StepTypes[s.Type]
	if !known {
		v.add(at(s.keys, "type", s.Pos), "step %q has unknown type %q (known: %s)", s.ID, s.Type, strings.Join(sortedKeys(StepTypes), ", "))
		return
	}
	if t.Waits && s.TimeLimit == "" {
		v.add(s.Pos, "step %q (%s) waits, so it needs a time_limit", s.ID, s.Type)
	}
	if s.TimeLimit != "" {
		v.checkLimit(s.TimeLimit, at(s.keys, "time_limit", s.Pos))
	}
	if s.TimeLimit != "" && s.OnTimeout == nil {
		v.add(at(s.keys, "time_limit", s.Pos), "step %q has a time limit but no on_timeout: say what happens when it runs out", s.ID)
	}
	if s.OnTimeout != nil {
		v.checkTimeout(s, s.OnTimeout, false)
	}
	if t.NeedsRole || s.Role != "" {
		if !contains(Roles, s.Role) {
			v.add(at(s.keys, "role", s.Pos), "step %q needs a role, one of %s", s.ID, strings.Join(Roles, ", "))
		}
	}
	if s.Approval != nil {
		a := s.Approval
		if !contains(Roles, a.Role) {
			v.add(at(a.keys, "role", a.Pos), "approval needs a role, one of %s", strings.Join(Roles, ", "))
		}
		if a.TimeLimit == "" || a.OnTimeout == nil {
			v.add(a.Pos, "approval needs a time_limit and an on_timeout")
		} else {
			v.checkLimit(a.TimeLimit, at(a.keys, "time_limit", a.Pos))
			v.checkTimeout(s, a.OnTimeout, false)
		}
	}
	if t.NeedsOutcomes {
		if len(s.Outcomes) == 0 {
			v.add(s.Pos, "step %q (%s) needs outcomes: each possible decision and the step it leads to", s.ID, s.Type)
		}
		for _, outcome := range sortedKeys(s.Outcomes) {
			v.checkTarget(s.Outcomes[outcome], at(s.keys, "outcomes", s.Pos))
		}
	} else if len(s.Outcomes) > 0 {
		v.add(at(s.keys, "outcomes", s.Pos), "only decide steps have outcomes")
	}
	if t.NeedsTracks {
		if len(s.Tracks) < 2 {
			v.add(s.Pos, "step %q (parallel) needs at least two tracks", s.ID)
		}
		for _, tr := range s.Tracks {
			if tr.Name == "" {
				v.add(tr.Pos, "a track needs a name")
			}
			if _, ok := v.steps[tr.Start]; !ok {
				v.add(at(tr.keys, "start", tr.Pos), "track %q starts at unknown step %q", tr.Name, tr.Start)
			}
		}
	} else if len(s.Tracks) > 0 {
		v.add(at(s.keys, "tracks", s.Pos), "only parallel steps have tracks")
	}
	// Where the step goes next: outcomes (decide), or branches with an
	// otherwise, or next. Exactly one way out.
	ways := 0
	if len(s.Outcomes) > 0 {
		ways++
	}
	if len(s.Branches) > 0 {
		ways++
		if s.Otherwise == "" {
			v.add(at(s.keys, "branches", s.Pos), "step %q has branches but no otherwise: say where to go when no branch holds", s.ID)
		} else {
			v.checkTarget(s.Otherwise, at(s.keys, "otherwise", s.Pos))
		}
		for _, b := range s.Branches {
			for _, msg := range checkExpr(b.When, v.p.Parameters) {
				v.add(at(b.keys, "when", b.Pos), "%s", msg)
			}
			v.checkTarget(b.Next, at(b.keys, "next", b.Pos))
		}
	}
	if s.Next != "" {
		ways++
		v.checkTarget(s.Next, at(s.keys, "next", s.Pos))
	}
	if ways == 0 {
		v.add(s.Pos, "step %q has no way out: give it next (use %q to finish), branches or outcomes", s.ID, End)
	}
	if ways > 1 {
		v.add(s.Pos, "step %q has more than one of next, branches and outcomes", s.ID)
	}
	v.checkWith(s)
	v.checkStageSettings(s)
}

func (v *validator) checkTimeout(s *Step, t *Timeout, nested bool) {
	if !contains(TimeoutActions, t.Action) {
		v.add(at(t.keys, "action", t.Pos), "on_timeout action must be one of %s, got %q", strings.Join(TimeoutActions, ", "), t.Action)
		return
	}
	if t.Action == "escalate" {
		if !contains(Roles, t.Role) {
			v.add(at(t.keys, "role", t.Pos), "escalate needs a role to alert, one of %s", strings.Join(Roles, ", "))
		}
		if t.Then == nil {
			v.add(t.Pos, "escalate needs then: a further time_limit and what happens when it runs out too")
		} else {
			if t.Then.TimeLimit == "" {
				v.add(t.Then.Pos, "then needs a time_limit")
			} else {
				v.checkLimit(t.Then.TimeLimit, at(t.Then.keys, "time_limit", t.Then.Pos))
			}
			v.checkTimeout(s, t.Then, true)
		}
	} else if t.Then != nil {
		v.add(at(t.keys, "then", t.Pos), "only escalate has then")
	}
	if t.TimeLimit != "" && !nested {
		v.add(at(t.keys, "time_limit", t.Pos), "time_limit belongs to the step, or to then after an escalation")
	}
	if t.Next != "" {
		if t.Action != "continue" {
			v.add(at(t.keys, "next", t.Pos), "only continue has next")
		}
		v.checkTarget(t.Next, at(t.keys, "next", t.Pos))
	}
}

func (v *validator) checkLimit(limit string, pos Pos) {
	if name, ok := strings.CutPrefix(limit, "$"); ok {
		prm, found := v.p.Parameters[name]
		if !found {
			v.add(pos, "unknown parameter %q (declared: %s)", name, strings.Join(sortedKeys(v.p.Parameters), ", "))
		} else if prm.Type != "duration" {
			v.add(pos, "parameter %q is a %s, not a duration", name, prm.Type)
		}
		return
	}
	if _, err := ParseDuration(limit); err != nil {
		v.add(pos, "time limit %q is not a duration such as 30m, 48h or 14d, nor a $parameter", limit)
	}
}

func (v *validator) checkTarget(target string, pos Pos) {
	if target == End {
		return
	}
	if _, ok := v.steps[target]; !ok {
		v.add(pos, "unknown step %q", target)
	}
}

// checkWith checks $parameter references among a step's settings.
func (v *validator) checkWith(s *Step) {
	for _, key := range sortedKeys(s.With) {
		walkStrings(s.With[key], func(str string) {
			if name, ok := strings.CutPrefix(str, "$"); ok {
				if _, found := v.p.Parameters[name]; !found {
					v.add(at(s.keys, "with", s.Pos), "with.%s: unknown parameter %q", key, name)
				}
			}
		})
	}
}

func walkStrings(v any, fn func(string)) {
	switch x := v.(type) {
	case string:
		fn(x)
	case []any:
		for _, e := range x {
			walkStrings(e, fn)
		}
	case map[string]any:
		for _, e := range x {
			walkStrings(e, fn)
		}
	}
}

// successors lists the steps a step can lead to, including escalation and
// timeout paths and the starts of its tracks.
func successors(s *Step) []string {
	var out []string
	add := func(id string) {
		if id != "" && id != End {
			out = append(out, id)
		}
	}
	add(s.Next)
	add(s.Otherwise)
	for _, b := range s.Branches {
		add(b.Next)
	}
	for _, k := range sortedKeys(s.Outcomes) {
		add(s.Outcomes[k])
	}
	for _, t := range s.Tracks {
		add(t.Start)
	}
	for t := s.OnTimeout; t != nil; t = t.Then {
		add(t.Next)
	}
	if s.Type == "follow_up" { // the next episode starts at the booking step
		rebook, _ := s.With["rebook"].(string)
		if rebook == "" {
			rebook = "book"
		}
		add(rebook)
	}
	return out
}

func (v *validator) checkReachable(start string) {
	seen := map[string]bool{start: true}
	queue := []string{start}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		for _, next := range successors(v.steps[id]) {
			if !seen[next] {
				seen[next] = true
				queue = append(queue, next)
			}
		}
	}
	for _, s := range v.p.Steps {
		if !seen[s.ID] {
			v.add(at(s.keys, "id", s.Pos), "step %q is unreachable from the start step %q", s.ID, start)
		}
	}
}

// checkLoops finds cycles made only of steps that do not wait: a journey
// caught in one would spin without end. Cycles through a waiting step are
// fine (a monthly review loop, say).
func (v *validator) checkLoops() {
	const (
		unvisited = iota
		onPath
		done
	)
	state := map[string]int{}
	var path []string
	var visit func(id string)
	visit = func(id string) {
		state[id] = onPath
		path = append(path, id)
		s := v.steps[id]
		if !StepTypes[s.Type].Waits {
			for _, next := range successors(s) {
				if StepTypes[v.steps[next].Type].Waits {
					continue
				}
				switch state[next] {
				case onPath:
					i := indexOf(path, next)
					cycle := append(append([]string{}, path[i:]...), next)
					v.add(at(v.steps[next].keys, "id", v.steps[next].Pos), "loop with no wait in it: %s", strings.Join(cycle, " -> "))
				case unvisited:
					visit(next)
				}
			}
		}
		path = path[:len(path)-1]
		state[id] = done
	}
	for _, s := range v.p.Steps {
		if state[s.ID] == unvisited && !StepTypes[s.Type].Waits {
			visit(s.ID)
		}
	}
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// ParseDuration reads Go durations plus whole days ("14d").
func ParseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("bad duration %q", s)
	}
	return d, nil
}

// LoadFS loads every *.yaml file under dir of fsys, reporting every problem
// in every file.
func LoadFS(fsys fs.FS, dir string) ([]Plan, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("pathways: read %s: %w", dir, err)
	}
	var plans []Plan
	var problems Problems
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		name := e.Name()
		if dir != "." {
			name = dir + "/" + e.Name()
		}
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		plan, err := Load(name, data)
		var ps Problems
		if errors.As(err, &ps) {
			problems = append(problems, ps...)
			continue
		}
		if err != nil {
			return nil, err
		}
		plans = append(plans, plan)
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return plans, nil
}
