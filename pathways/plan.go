package pathways

import (
	"embed"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
)

// Plan is a compiled pathway: everything the journey workflow needs, as
// plain data. It travels in the workflow's input, so a journey runs the
// version it started with however many versions follow.
type Plan struct {
	PathwayID string              `json:"pathway_id"`
	Version   int                 `json:"version"`
	Title     string              `json:"title"`
	Sources   []PlanSource        `json:"sources"`
	Params    map[string]any      `json:"params"`
	Start     string              `json:"start"`
	Steps     map[string]PlanStep `json:"steps"`
}

// PlanSource is a cited guideline.
type PlanSource struct {
	ID       string `json:"id"`
	Citation string `json:"citation"`
	URL      string `json:"url,omitempty"`
}

// PlanStep is a step with its time limits resolved.
type PlanStep struct {
	ID        string            `json:"id"`
	Type      string            `json:"type"`
	Title     string            `json:"title,omitempty"`
	TimeLimit time.Duration     `json:"time_limit,omitempty"`
	OnTimeout *PlanTimeout      `json:"on_timeout,omitempty"`
	Role      string            `json:"role,omitempty"`
	Approval  *PlanApproval     `json:"approval,omitempty"`
	Outcomes  map[string]string `json:"outcomes,omitempty"`
	Next      string            `json:"next,omitempty"`
	Branches  []PlanBranch      `json:"branches,omitempty"`
	Otherwise string            `json:"otherwise,omitempty"`
	Tracks    []PlanTrack       `json:"tracks,omitempty"`
	With      map[string]any    `json:"with,omitempty"`
}

// PlanTimeout is what happens when a limit runs out.
type PlanTimeout struct {
	Action    string        `json:"action"`
	Role      string        `json:"role,omitempty"`
	Next      string        `json:"next,omitempty"`
	TimeLimit time.Duration `json:"time_limit,omitempty"` // of Then, after an escalation
	Then      *PlanTimeout  `json:"then,omitempty"`
}

// PlanApproval is a decision a role must make.
type PlanApproval struct {
	Role      string        `json:"role"`
	TimeLimit time.Duration `json:"time_limit"`
	OnTimeout *PlanTimeout  `json:"on_timeout"`
}

// PlanBranch is a compiled branch; When is CEL source, checked at load.
type PlanBranch struct {
	When string `json:"when"`
	Next string `json:"next"`
}

// PlanTrack is a track of a parallel step.
type PlanTrack struct {
	Name  string `json:"name"`
	Start string `json:"start"`
}

// Key is "pathway@version", the name a coordinator sees.
func (p Plan) Key() string { return fmt.Sprintf("%s@%d", p.PathwayID, p.Version) }

// compile turns a validated pathway into a plan. Only called without problems.
func compile(p *Pathway, start string) Plan {
	params := map[string]any{}
	durations := map[string]time.Duration{}
	for name, prm := range p.Parameters {
		params[name] = prm.Value
		if prm.Type == "duration" {
			durations[name], _ = ParseDuration(prm.Value.(string))
		}
	}
	limit := func(s string) time.Duration {
		if s == "" {
			return 0
		}
		if name, ok := strings.CutPrefix(s, "$"); ok {
			return durations[name]
		}
		d, _ := ParseDuration(s)
		return d
	}
	var timeout func(t *Timeout) *PlanTimeout
	timeout = func(t *Timeout) *PlanTimeout {
		if t == nil {
			return nil
		}
		return &PlanTimeout{Action: t.Action, Role: t.Role, Next: t.Next, TimeLimit: limit(t.TimeLimit), Then: timeout(t.Then)}
	}
	plan := Plan{PathwayID: p.ID, Version: p.Version, Title: p.Title, Params: params, Start: start, Steps: map[string]PlanStep{}}
	for _, s := range p.Sources {
		plan.Sources = append(plan.Sources, PlanSource{ID: s.ID, Citation: s.Citation, URL: s.URL})
	}
	for _, s := range p.Steps {
		ps := PlanStep{
			ID: s.ID, Type: s.Type, Title: s.Title, TimeLimit: limit(s.TimeLimit), OnTimeout: timeout(s.OnTimeout),
			Role: s.Role, Outcomes: s.Outcomes, Next: s.Next, Otherwise: s.Otherwise, With: resolveWith(s.With, params),
		}
		if s.Approval != nil {
			ps.Approval = &PlanApproval{Role: s.Approval.Role, TimeLimit: limit(s.Approval.TimeLimit), OnTimeout: timeout(s.Approval.OnTimeout)}
		}
		for _, b := range s.Branches {
			ps.Branches = append(ps.Branches, PlanBranch{When: b.When, Next: b.Next})
		}
		for _, t := range s.Tracks {
			ps.Tracks = append(ps.Tracks, PlanTrack{Name: t.Name, Start: t.Start})
		}
		plan.Steps[s.ID] = ps
	}
	return plan
}

// resolveWith replaces "$param" strings in step settings with the values.
func resolveWith(with map[string]any, params map[string]any) map[string]any {
	if len(with) == 0 {
		return nil
	}
	var resolve func(v any) any
	resolve = func(v any) any {
		switch x := v.(type) {
		case string:
			if name, ok := strings.CutPrefix(x, "$"); ok {
				return params[name]
			}
			return x
		case []any:
			out := make([]any, len(x))
			for i, e := range x {
				out[i] = resolve(e)
			}
			return out
		case map[string]any:
			out := map[string]any{}
			for k, e := range x {
				out[k] = resolve(e)
			}
			return out
		}
		return v
	}
	out := map[string]any{}
	for k, v := range with {
		out[k] = resolve(v)
	}
	return out
}

//go:embed definitions/*.yaml
var definitions embed.FS

// Catalog holds every version of every shipped pathway.
type Catalog struct {
	byID map[string][]Plan // versions in ascending order
}

// Shipped loads the pathways shipped in definitions/. They are checked by
// the tests, so an error here means a broken build.
func Shipped() (*Catalog, error) {
	plans, err := LoadFS(definitions, "definitions")
	if err != nil {
		return nil, err
	}
	return NewCatalog(plans)
}

// NewCatalog indexes plans; two plans with the same pathway and version are an error.
func NewCatalog(plans []Plan) (*Catalog, error) {
	c := &Catalog{byID: map[string][]Plan{}}
	for _, p := range plans {
		for _, have := range c.byID[p.PathwayID] {
			if have.Version == p.Version {
				return nil, fmt.Errorf("pathways: %s is defined twice", p.Key())
			}
		}
		c.byID[p.PathwayID] = append(c.byID[p.PathwayID], p)
	}
	for _, versions := range c.byID {
		sort.Slice(versions, func(i, j int) bool { return versions[i].Version < versions[j].Version })
	}
	return c, nil
}

// ErrUnknownPathway is returned for a pathway or version not in the catalog.
type ErrUnknownPathway struct{ Detail string }

func (e *ErrUnknownPathway) Error() string { return e.Detail }

// Get returns the named version, or the newest when version is 0.
func (c *Catalog) Get(id string, version int) (Plan, error) {
	versions := c.byID[id]
	if len(versions) == 0 {
		return Plan{}, &ErrUnknownPathway{fmt.Sprintf("no pathway %q (available: %s)", id, strings.Join(c.IDs(), ", "))}
	}
	if version == 0 {
		return versions[len(versions)-1], nil
	}
	for _, p := range versions {
		if p.Version == version {
			return p, nil
		}
	}
	return Plan{}, &ErrUnknownPathway{fmt.Sprintf("pathway %q has no version %d", id, version)}
}

// IDs lists the pathways in the catalog.
func (c *Catalog) IDs() []string { return sortedKeys(c.byID) }

// Versions lists a pathway's versions, oldest first.
func (c *Catalog) Versions(id string) []Plan { return c.byID[id] }

// LoadCatalog returns the shipped pathways plus those in extraDir, when it is
// set (PATHWAYS_DIR): a deployment's own pathways, or new versions of the
// shipped ones. A version defined in both places is an error, so a shipped
// pathway is never silently replaced.
func LoadCatalog(extraDir string) (*Catalog, error) {
	plans, err := LoadFS(definitions, "definitions")
	if err != nil {
		return nil, err
	}
	if extraDir != "" {
		extra, err := LoadFS(os.DirFS(extraDir), ".")
		if err != nil {
			return nil, err
		}
		plans = append(plans, extra...)
	}
	return NewCatalog(plans)
}
