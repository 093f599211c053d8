package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j"

	"github.com/carepath/carepath/knowledge"
)

// interactionsCheckRoute serves POST /api/v1/knowledge/interactions:check;
// the colon is escaped so Gin reads it as a literal, not a parameter.
const interactionsCheckRoute = `/api/v1/knowledge/interactions\:check`

func init() {
	documentedPaths["POST "+interactionsCheckRoute] = "POST /api/v1/knowledge/interactions:check"
}

// Limits on one knowledge request: a regimen longer than this is not a
// prescription, and the limits keep a request's cost bounded.
const (
	maxRegimenDrugs  = 50
	maxProfileItems  = 50
	maxKnowledgeText = 200
)

type interactionsCheckRequest struct {
	Drugs      []string `json:"drugs"`
	Conditions []string `json:"conditions"`
	Allergies  []string `json:"allergies"`
	Age        *int     `json:"age"`
	EGFR       *float64 `json:"egfr"`
	Pregnant   bool     `json:"pregnant"`
	// IncludeDiet adds the foods and herbs to avoid or keep steady.
	IncludeDiet bool `json:"include_diet"`
}

type interactionsCheckResponse struct {
	*knowledge.CheckResult
	// DetectedIssues are the findings as FHIR R4 DetectedIssue resources,
	// in the same order.
	DetectedIssues []knowledge.DetectedIssue `json:"detected_issues"`
}

// checkInteractions checks a regimen against itself and the patient's
// conditions, allergies, age and eGFR.
func (s *Server) checkInteractions(c *gin.Context) {
	if s.knowledge == nil {
		s.writeError(c, errKnowledgeMissing)
		return
	}
	var req interactionsCheckRequest
	if err := decodeStrict(c.Request.Body, &req); err != nil {
		s.writeError(c, err)
		return
	}
	var fields []FieldError
	if len(req.Drugs) == 0 || len(req.Drugs) > maxRegimenDrugs {
		fields = append(fields, FieldError{Pointer: "/drugs", Detail: fmt.Sprintf("must list 1 to %d drug names", maxRegimenDrugs)})
	}
	fields = append(fields, checkTexts("/drugs", req.Drugs, maxRegimenDrugs)...)
	fields = append(fields, checkTexts("/conditions", req.Conditions, maxProfileItems)...)
	fields = append(fields, checkTexts("/allergies", req.Allergies, maxProfileItems)...)
	fields = append(fields, checkAgeEGFR(req.Age, req.EGFR, "/age", "/egfr")...)
	if len(fields) > 0 {
		s.writeError(c, &invalidError{fields: fields})
		return
	}
	check := s.knowledge.CheckRegimen
	if req.IncludeDiet {
		check = s.knowledge.CheckRegimenWithDiet
	}
	res, err := check(c.Request.Context(), req.Drugs, knowledge.Profile{
		Conditions: req.Conditions, Allergies: req.Allergies, Age: req.Age, EGFR: req.EGFR, Pregnant: req.Pregnant})
	if err != nil {
		s.writeError(c, knowledgeError("check interactions", err))
		return
	}
	c.JSON(http.StatusOK, interactionsCheckResponse{CheckResult: res, DetectedIssues: res.DetectedIssues()})
}

// drugSearchResponse is how the name was read, and the drugs it names (when
// resolved) or may name (the candidates, otherwise) as a list page.
type drugSearchResponse struct {
	Input     string `json:"input"`
	Status    string `json:"status"`
	Match     string `json:"match,omitempty"`
	MatchedAs string `json:"matched_as,omitempty"`
	Message   string `json:"message"`
	Notice    string `json:"notice"`
	listPage[knowledge.DrugRef]
}

// searchDrugs resolves a typed name (generic, synonym, brand, misspelt) to
// drugs, reporting ambiguous and unknown names as such. The drugs come as a
// list (pagination.go), by relevance unless sorted by name.
func (s *Server) searchDrugs(c *gin.Context) {
	if s.knowledge == nil {
		s.writeError(c, errKnowledgeMissing)
		return
	}
	rank := map[string]int{}
	sorts := sortKeys[knowledge.DrugRef]{
		"relevance": func(d knowledge.DrugRef) string { return fmt.Sprintf("%06d", rank[d.ID]) },
		"name":      func(d knowledge.DrugRef) string { return strings.ToLower(d.Name) },
	}
	params, err := parseList(c, sorts, "relevance")
	if err != nil {
		s.writeError(c, err)
		return
	}
	q := strings.TrimSpace(c.Query("q"))
	if q == "" || len(q) > maxKnowledgeText {
		s.writeError(c, &invalidError{fields: []FieldError{{Parameter: "q", Detail: fmt.Sprintf("must be a drug name of 1 to %d characters", maxKnowledgeText)}}})
		return
	}
	res, err := s.knowledge.ResolveName(c.Request.Context(), q)
	if err != nil {
		s.writeError(c, knowledgeError("search drugs", err))
		return
	}
	drugs := res.Candidates
	if res.Status == knowledge.Resolved {
		drugs = res.Drugs
	}
	for i, d := range drugs {
		rank[d.ID] = i
	}
	c.JSON(http.StatusOK, drugSearchResponse{Input: res.Input, Status: res.Status, Match: res.Match, MatchedAs: res.MatchedAs,
		Message: res.Message, Notice: knowledge.Notice,
		listPage: paginate(append([]knowledge.DrugRef{}, drugs...), params, sorts, func(d knowledge.DrugRef) string { return d.ID })})
}

// conditionTreatments lists guideline options for a condition, without the
// ones contraindicated for the patient described by the query string.
func (s *Server) conditionTreatments(c *gin.Context) {
	if s.knowledge == nil {
		s.writeError(c, errKnowledgeMissing)
		return
	}
	var fields []FieldError
	code := strings.TrimSpace(c.Param("code"))
	if code == "" || len(code) > maxKnowledgeText {
		fields = append(fields, FieldError{Pointer: "/code", Detail: "must be a condition id, ICD-10 or SNOMED CT code"})
	}
	p := knowledge.Profile{
		Conditions: listParam(c, "conditions"),
		Allergies:  listParam(c, "allergies"),
	}
	current := listParam(c, "drugs")
	if v := c.Query("age"); v != "" {
		age, err := strconv.Atoi(v)
		if err != nil {
			fields = append(fields, FieldError{Pointer: "/age", Detail: "must be a whole number of years"})
		} else {
			p.Age = &age
		}
	}
	if v := c.Query("egfr"); v != "" {
		egfr, err := strconv.ParseFloat(v, 64)
		if err != nil {
			fields = append(fields, FieldError{Pointer: "/egfr", Detail: "must be a number (mL/min/1.73m2)"})
		} else {
			p.EGFR = &egfr
		}
	}
	if v := c.Query("pregnant"); v != "" {
		preg, err := strconv.ParseBool(v)
		if err != nil {
			fields = append(fields, FieldError{Pointer: "/pregnant", Detail: "must be true or false"})
		}
		p.Pregnant = preg
	}
	fields = append(fields, checkTexts("/conditions", p.Conditions, maxProfileItems)...)
	fields = append(fields, checkTexts("/allergies", p.Allergies, maxProfileItems)...)
	fields = append(fields, checkTexts("/drugs", current, maxRegimenDrugs)...)
	fields = append(fields, checkAgeEGFR(p.Age, p.EGFR, "/age", "/egfr")...)
	if len(fields) > 0 {
		s.writeError(c, &invalidError{fields: fields})
		return
	}
	plan, err := s.knowledge.Treatments(c.Request.Context(), code, p, current)
	if err != nil {
		s.writeError(c, knowledgeError("condition treatments", err))
		return
	}
	c.JSON(http.StatusOK, plan)
}

var errKnowledgeMissing = &unavailableError{detail: "this server has no knowledge graph configured"}

// knowledgeError turns the knowledge package's errors into the API's error
// kinds; writeError maps those to statuses. The operation name, never the
// request's drug names or codes, goes into the message that may be logged.
func knowledgeError(op string, err error) error {
	switch {
	case errors.Is(err, knowledge.ErrUnknownCondition):
		return &notFoundError{detail: "no condition in the knowledge graph has this id, ICD-10 or SNOMED CT code"}
	case errors.Is(err, knowledge.ErrNotLoaded):
		return &unavailableError{detail: "the knowledge graph is not loaded; run `carepath knowledge load`"}
	case errors.Is(err, knowledge.ErrInvalidInput):
		return &invalidError{fields: []FieldError{{Pointer: "/drugs", Detail: "must list at least one drug"}}}
	case neo4j.IsConnectivityError(err):
		return &unavailableError{detail: "the knowledge graph (Neo4j) is not reachable; try again later"}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// listParam reads a list from repeated parameters or comma-separated values.
func listParam(c *gin.Context, name string) []string {
	var out []string
	for _, v := range c.QueryArray(name) {
		for _, part := range strings.Split(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

func checkTexts(pointer string, items []string, max int) []FieldError {
	var fields []FieldError
	if len(items) > max {
		fields = append(fields, FieldError{Pointer: pointer, Detail: fmt.Sprintf("must have at most %d entries", max)})
	}
	for i, v := range items {
		if strings.TrimSpace(v) == "" || len(v) > maxKnowledgeText {
			fields = append(fields, FieldError{Pointer: fmt.Sprintf("%s/%d", pointer, i), Detail: fmt.Sprintf("must be 1 to %d characters", maxKnowledgeText)})
		}
	}
	return fields
}

func checkAgeEGFR(age *int, egfr *float64, agePtr, egfrPtr string) []FieldError {
	var fields []FieldError
	if age != nil && (*age < 0 || *age > 130) {
		fields = append(fields, FieldError{Pointer: agePtr, Detail: "must be between 0 and 130 years"})
	}
	if egfr != nil && (*egfr < 0 || *egfr > 250) {
		fields = append(fields, FieldError{Pointer: egfrPtr, Detail: "must be between 0 and 250 mL/min/1.73m2"})
	}
	return fields
}
