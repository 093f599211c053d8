package pathways

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
)

// Expressions are CEL (github.com/google/cel-go). They see these names:
//
//	params.NAME                      the pathway's parameters
//	risk.level, risk.probability     the latest risk assessment ("low", "medium", "high")
//	vitals.METRIC.AGG                aggregates of recent readings, e.g. vitals.systolic_bp.mean
//	consult.outcome, consult.orders, consult.diagnoses
//	decision                         the outcome of the latest decide step
//	patient.age, patient.conditions
//	labs.NAME                        the latest result of a lab test (labs.hba1c; names in LabAnalytes)
//
// CEL is side-effect free and evaluates the same way every time, which is
// what a workflow needs to replay deterministically.
var (
	exprFields = map[string][]string{
		"risk":    {"level", "probability"},
		"consult": {"outcome", "orders", "diagnoses"},
		"patient": {"age", "conditions"},
	}
	vitalMetrics    = []string{"systolic_bp", "diastolic_bp", "heart_rate", "spo2", "glucose", "weight"}
	vitalAggregates = []string{"mean", "min", "max", "last", "count"}
)

func newEnv() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("params", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("risk", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("vitals", cel.MapType(cel.StringType, cel.MapType(cel.StringType, cel.DoubleType))),
		cel.Variable("consult", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("decision", cel.StringType),
		cel.Variable("patient", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("labs", cel.MapType(cel.StringType, cel.DoubleType)),
	)
}

var (
	envOnce   sync.Once
	sharedEnv *cel.Env
	envErr    error
	programs  sync.Map // expression source -> cel.Program
)

func env() (*cel.Env, error) {
	envOnce.Do(func() { sharedEnv, envErr = newEnv() })
	return sharedEnv, envErr
}

// checkExpr compiles src and checks every name it uses against the names
// above and the pathway's parameters. It returns plain-language problems.
func checkExpr(src string, params map[string]Parameter) []string {
	e, err := env()
	if err != nil {
		return []string{err.Error()}
	}
	checked, iss := e.Compile(src)
	if iss.Err() != nil {
		return []string{"expression does not compile: " + strings.ReplaceAll(iss.Err().Error(), "\n", " ")}
	}
	if checked.OutputType() != cel.BoolType {
		return []string{fmt.Sprintf("expression must be true or false, not %s", checked.OutputType())}
	}
	var problems []string
	nav := ast.NavigateAST(checked.NativeRep())
	for _, sel := range ast.MatchDescendants(nav, ast.KindMatcher(ast.SelectKind)) {
		operand := sel.AsSelect().Operand()
		field := sel.AsSelect().FieldName()
		if operand.Kind() == ast.IdentKind {
			root := operand.AsIdent()
			switch {
			case root == "params":
				if _, ok := params[field]; !ok {
					problems = append(problems, fmt.Sprintf("unknown parameter %q (declared: %s)", field, strings.Join(sortedKeys(params), ", ")))
				}
			case root == "labs":
				if !contains(LabKeys(), field) {
					problems = append(problems, fmt.Sprintf("unknown lab %q (known: %s)", field, strings.Join(LabKeys(), ", ")))
				}
			case root == "vitals":
				if !contains(vitalMetrics, field) {
					problems = append(problems, fmt.Sprintf("unknown vital %q (known: %s)", field, strings.Join(vitalMetrics, ", ")))
				}
			case exprFields[root] != nil:
				if !contains(exprFields[root], field) {
					problems = append(problems, fmt.Sprintf("unknown name %s.%s (known: %s)", root, field, strings.Join(exprFields[root], ", ")))
				}
			}
		}
		if operand.Kind() == ast.SelectKind && operand.AsSelect().Operand().Kind() == ast.IdentKind &&
			operand.AsSelect().Operand().AsIdent() == "vitals" && !contains(vitalAggregates, field) {
			problems = append(problems, fmt.Sprintf("unknown aggregate %q (known: %s)", field, strings.Join(vitalAggregates, ", ")))
		}
	}
	return problems
}

// Vars are the values expressions see when a journey evaluates them.
type Vars struct {
	Params   map[string]any                `json:"params"`
	Risk     map[string]any                `json:"risk"`
	Vitals   map[string]map[string]float64 `json:"vitals"`
	Consult  map[string]any                `json:"consult"`
	Decision string                        `json:"decision"`
	Patient  map[string]any                `json:"patient"`
	// Labs holds the latest value of each resulted test, by LabAnalyte key.
	Labs map[string]float64 `json:"labs,omitempty"`
}

// Eval evaluates a boolean expression. The expression was checked when the
// pathway loaded; a missing value (no risk assessment yet, say) is an error
// the caller reports, never a silent false.
func Eval(src string, v Vars) (bool, error) {
	prg, err := program(src)
	if err != nil {
		return false, err
	}
	out, _, err := prg.Eval(map[string]any{
		"params": orEmpty(v.Params), "risk": orEmpty(v.Risk), "vitals": orEmptyVitals(v.Vitals),
		"consult": orEmpty(v.Consult), "decision": v.Decision, "patient": orEmpty(v.Patient), "labs": orEmptyLabs(v.Labs),
	})
	if err != nil {
		return false, fmt.Errorf("evaluate %q: %w", src, err)
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("evaluate %q: result is %T, not bool", src, out.Value())
	}
	return b, nil
}

func program(src string) (cel.Program, error) {
	if p, ok := programs.Load(src); ok {
		return p.(cel.Program), nil
	}
	e, err := env()
	if err != nil {
		return nil, err
	}
	checked, iss := e.Compile(src)
	if iss.Err() != nil {
		return nil, fmt.Errorf("compile %q: %w", src, iss.Err())
	}
	prg, err := e.Program(checked)
	if err != nil {
		return nil, fmt.Errorf("program %q: %w", src, err)
	}
	programs.Store(src, prg)
	return prg, nil
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func orEmptyLabs(m map[string]float64) map[string]float64 {
	if m == nil {
		return map[string]float64{}
	}
	return m
}

func orEmptyVitals(m map[string]map[string]float64) map[string]map[string]float64 {
	if m == nil {
		return map[string]map[string]float64{}
	}
	return m
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
