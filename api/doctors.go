package api

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/carepath/carepath/store"
)

// The doctor directory, v1: GET /api/v1/doctors searches (cursor pages)
// and GET /api/v1/doctors/suggest suggests specialties for partial text.
// The HealthLink endpoints (healthlink_search.go) call the same store
// functions.

// Limits on a directory request.
const (
	defaultDoctorLimit = 20
	maxDoctorLimit     = 100
	maxSuggestions     = 10
	maxCityLength      = 100
	maxFeeMinor        = 100_000_000
)

// weekdayNames are the day names the directory reads and writes, by
// weekday number (0 = Sunday).
var weekdayNames = []string{"SUNDAY", "MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY"}

func weekdayName(d int) string { return weekdayNames[d] }

func dayNames(days []int) []string {
	out := make([]string, len(days))
	for i, d := range days {
		out[i] = weekdayName(d)
	}
	return out
}

var clockTime = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)

// queryParams reads and checks query parameters, collecting one FieldError
// per bad parameter (pointers are "/name", as for body fields).
type queryParams struct {
	c      *gin.Context
	fields []FieldError
}

func (p *queryParams) fail(name, detail string) {
	p.fields = append(p.fields, FieldError{Pointer: "/" + name, Detail: detail})
}

// text returns the trimmed parameter, refusing one longer than maxLen.
func (p *queryParams) text(name string, maxLen int) string {
	v := strings.TrimSpace(p.c.Query(name))
	if len(v) > maxLen {
		p.fail(name, fmt.Sprintf("must be at most %d characters", maxLen))
		return ""
	}
	return v
}

// integer returns the parameter as an integer in [lo, hi], or nil if absent.
func (p *queryParams) integer(name string, lo, hi int) *int {
	v := strings.TrimSpace(p.c.Query(name))
	if v == "" {
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		p.fail(name, fmt.Sprintf("must be a whole number from %d to %d", lo, hi))
		return nil
	}
	return &n
}

func (p *queryParams) err() error {
	if len(p.fields) == 0 {
		return nil
	}
	return &invalidError{fields: p.fields}
}

// doctorQuery reads the v1 search parameters.
func doctorQuery(c *gin.Context) (store.DoctorQuery, error) {
	p := &queryParams{c: c}
	q := store.DoctorQuery{
		Text:      p.text("q", store.MaxSearchText),
		Specialty: p.text("specialty", 100),
		City:      p.text("city", maxCityLength),
		Language:  p.text("language", 50),
		FeeMin:    p.integer("fee_min", 0, maxFeeMinor),
		FeeMax:    p.integer("fee_max", 0, maxFeeMinor),
		Cursor:    p.text("cursor", 1000),
		Limit:     defaultDoctorLimit,
	}
	if day := strings.ToUpper(p.text("day", 20)); day != "" {
		if d := weekdayNumber(day); d >= 0 {
			q.Weekday = &d
		} else {
			p.fail("day", "must be a day of the week: monday to sunday")
		}
	}
	if q.Time = p.text("time", 5); q.Time != "" && !clockTime.MatchString(q.Time) {
		p.fail("time", "must be a time of day as HH:MM (24-hour), e.g. 10:30")
	}
	if q.FeeMin != nil && q.FeeMax != nil && *q.FeeMin > *q.FeeMax {
		p.fail("fee_max", "must not be less than fee_min")
	}
	if limit := p.integer("limit", 1, maxDoctorLimit); limit != nil {
		q.Limit = *limit
	}
	sort, ok := store.ParseDoctorSort(strings.TrimSpace(c.Query("sort")))
	if !ok {
		p.fail("sort", "must be one of "+strings.Join(store.DoctorSortKeys, ", ")+", each with an optional '-' for descending")
	}
	q.Sort = sort
	return q, p.err()
}

func weekdayNumber(name string) int {
	for i, n := range weekdayNames {
		if n == name {
			return i
		}
	}
	return -1
}

// searchDoctorsPage runs a search, reporting a bad cursor as the cursor
// parameter's fault.
func (s *Server) searchDoctorsPage(c *gin.Context, q store.DoctorQuery) (store.DoctorPage, bool) {
	page, err := s.store.SearchDoctors(c.Request.Context(), q)
	if errors.Is(err, store.ErrInvalidCursor) {
		s.writeError(c, &invalidError{fields: []FieldError{{Pointer: "/cursor", Detail: err.Error()}}})
		return page, false
	}
	if err != nil {
		s.writeError(c, err)
		return page, false
	}
	return page, true
}

type specialtyRef struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

type feeAmount struct {
	AmountMinor int    `json:"amount_minor"`
	Currency    string `json:"currency"`
}

type doctorItem struct {
	ID                    string       `json:"id"`
	Name                  string       `json:"name"`
	Specialty             specialtyRef `json:"specialty"`
	Qualification         string       `json:"qualification"`
	YearsExperience       int          `json:"years_experience"`
	Languages             []string     `json:"languages"`
	City                  string       `json:"city"`
	OrganizationID        string       `json:"organization_id"`
	ConsultFee            feeAmount    `json:"consult_fee"`
	RecommendationPercent int          `json:"recommendation_percent"`
	ReviewsCount          int          `json:"reviews_count"`
	PatientsCount         int          `json:"patients_count"`
	WaitTimeMinutes       int          `json:"wait_time_minutes"`
	Summary               string       `json:"summary"`
	ProfilePhotoURL       *string      `json:"profile_photo_url"`
	AvailableDays         []string     `json:"available_days"`
	Relevance             int          `json:"relevance"`
}

type doctorList struct {
	Items      []doctorItem `json:"items"`
	NextCursor *string      `json:"next_cursor"`
}

func newDoctorItem(d store.Doctor) doctorItem {
	return doctorItem{
		ID: d.ID, Name: d.Name, Specialty: specialtyRef{Code: d.SpecialtyCode, Name: d.SpecialtyName},
		Qualification: d.Qualification, YearsExperience: d.YearsExperience, Languages: d.Languages, City: d.City,
		OrganizationID: d.OrganizationID, ConsultFee: feeAmount{AmountMinor: d.ConsultFeeMinor, Currency: d.Currency},
		RecommendationPercent: d.RecommendationPercent, ReviewsCount: d.ReviewsCount, PatientsCount: d.PatientsCount,
		WaitTimeMinutes: d.WaitTimeMinutes, Summary: d.Summary, ProfilePhotoURL: d.ProfilePhotoURL,
		AvailableDays: dayNames(d.AvailableDays), Relevance: d.Relevance,
	}
}

// listDoctors serves GET /api/v1/doctors.
func (s *Server) listDoctors(c *gin.Context) {
	q, err := doctorQuery(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	page, ok := s.searchDoctorsPage(c, q)
	if !ok {
		return
	}
	out := doctorList{Items: make([]doctorItem, len(page.Doctors))}
	for i, d := range page.Doctors {
		out.Items[i] = newDoctorItem(d)
	}
	if page.NextCursor != "" {
		out.NextCursor = &page.NextCursor
	}
	c.JSON(http.StatusOK, out)
}

type suggestionItem struct {
	SpecialtyCode string `json:"specialty_code"`
	Specialty     string `json:"specialty"`
	MatchedTerm   string `json:"matched_term"`
	MatchKind     string `json:"match_kind"`
	Score         int    `json:"score"`
}

// suggestions reads the text (q) and city a suggestion is for and answers
// the specialties they lead to; on a fault it has written the error and
// reports false. Both the v1 and the HealthLink suggestion routes use it.
func (s *Server) suggestions(c *gin.Context) ([]store.SpecialtyMatch, bool) {
	p := &queryParams{c: c}
	text, city := p.text("q", store.MaxSearchText), p.text("city", maxCityLength)
	if err := p.err(); err != nil {
		s.writeError(c, err)
		return nil, false
	}
	matches, err := s.store.SuggestSpecialties(c.Request.Context(), text, city, maxSuggestions)
	if err != nil {
		s.writeError(c, err)
		return nil, false
	}
	return matches, true
}

// suggestDoctors serves GET /api/v1/doctors/suggest.
func (s *Server) suggestDoctors(c *gin.Context) {
	matches, ok := s.suggestions(c)
	if !ok {
		return
	}
	items := make([]suggestionItem, len(matches))
	for i, m := range matches {
		items[i] = suggestionItem{SpecialtyCode: m.Code, Specialty: m.Name, MatchedTerm: m.Term, MatchKind: m.Kind, Score: m.Score}
	}
	c.JSON(http.StatusOK, gin.H{"items": items})
}
