package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/carepath/carepath/store"
)

// The HealthLink directory endpoints: the paths, parameters and response
// fields integrators already use, served from the same store functions as
// /api/v1/doctors. Errors are the API's usual problem+json.

const (
	healthLinkSuggestPath = "/api/top/suggestion.json"
	healthLinkSearchPath  = "/api/search/doctors/"
	healthLinkViewPath    = "/api/view/doctor/"
	// healthLinkPageSize is how many doctors one search page holds.
	healthLinkPageSize = 10
	// healthLinkMaxPage bounds the offset a page number asks the database
	// to skip.
	healthLinkMaxPage = 1000
)

func (s *Server) healthLinkSearchRoutes(r *gin.Engine) {
	r.GET(healthLinkSuggestPath, s.healthLinkSuggest)
	r.GET(healthLinkSearchPath, s.healthLinkSearch)
	r.GET(healthLinkViewPath, s.healthLinkView)
}

type healthLinkMatch struct {
	Suggestion  string `json:"suggestion"`
	Original    string `json:"original"`
	DisplayName string `json:"display_name"`
	Category    string `json:"category"`
	Type        string `json:"type"`
}

// healthLinkSuggest serves GET /api/top/suggestion.json?city=&q=: the top
// specialties in the city, or those the partial text q leads to.
// suggestion is the specialty to search for; original is the specialty's
// name, field or synonym that matched ("teeth" for q=tee).
func (s *Server) healthLinkSuggest(c *gin.Context) {
	matches, ok := s.suggestions(c)
	if !ok {
		return
	}
	out := make([]healthLinkMatch, len(matches))
	for i, m := range matches {
		out[i] = healthLinkMatch{Suggestion: m.Name, Original: m.Term, DisplayName: "SPECIALITY", Category: "subspeciality", Type: "doctor"}
	}
	c.JSON(http.StatusOK, gin.H{"results": gin.H{"matches": out}})
}

type healthLinkDoctor struct {
	ID               string   `json:"id"`
	ProfilePhotoURL  *string  `json:"profile_photo_url"`
	DoctorName       string   `json:"doctor_name"`
	Specialization   string   `json:"specialization"`
	ExperienceYears  int      `json:"experience_years"`
	City             string   `json:"city"`
	AvailableDays    []string `json:"available_days"`
	ConsultationFees float64  `json:"consultation_fees"` // in the currency's major unit (rupees)
	WaitTime         int      `json:"wait_time"`         // minutes
	ReviewsCount     int      `json:"reviews_count"`
}

func newHealthLinkDoctor(d store.Doctor) healthLinkDoctor {
	return healthLinkDoctor{
		ID: d.ID, ProfilePhotoURL: d.ProfilePhotoURL, DoctorName: d.Name, Specialization: d.SpecialtyName,
		ExperienceYears: d.YearsExperience, City: d.City, AvailableDays: dayNames(d.AvailableDays),
		ConsultationFees: float64(d.ConsultFeeMinor) / 100, WaitTime: d.WaitTimeMinutes, ReviewsCount: d.ReviewsCount,
	}
}

// healthLinkSearch serves GET /api/search/doctors/?city=&q=&page=: pages of
// ten doctors, best match first; a page past the last is empty.
func (s *Server) healthLinkSearch(c *gin.Context) {
	p := &queryParams{c: c}
	q := store.DoctorQuery{Text: p.text("q", store.MaxSearchText), City: p.text("city", maxCityLength),
		Sort: store.DefaultDoctorSort, Limit: healthLinkPageSize}
	if page := p.integer("page", 1, healthLinkMaxPage); page != nil {
		q.Offset = (*page - 1) * healthLinkPageSize
	}
	if err := p.err(); err != nil {
		s.writeError(c, err)
		return
	}
	page, ok := s.searchDoctorsPage(c, q)
	if !ok {
		return
	}
	out := make([]healthLinkDoctor, len(page.Doctors))
	for i, d := range page.Doctors {
		out[i] = newHealthLinkDoctor(d)
	}
	c.JSON(http.StatusOK, gin.H{"doctors": out})
}

type healthLinkTiming struct {
	Day  string `json:"day"`
	From string `json:"from"` // "09:00 AM"
	To   string `json:"to"`
}

type healthLinkDoctorProfile struct {
	healthLinkDoctor
	Qualifications        string             `json:"qualifications"`
	AvailableTimings      []healthLinkTiming `json:"available_timings"`
	Summary               string             `json:"summary"`
	RecommendationPercent int                `json:"recommendation_percent"`
	PatientsCount         int                `json:"patients_count"`
}

// healthLinkView serves GET /api/view/doctor/?id=.
func (s *Server) healthLinkView(c *gin.Context) {
	id := strings.TrimSpace(c.Query("id"))
	if id == "" {
		s.writeError(c, &invalidError{fields: []FieldError{{Pointer: "/id", Detail: "is required: the doctor's ID"}}})
		return
	}
	p, err := s.store.GetDoctor(c.Request.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		err = &notFoundError{detail: "no doctor has this id"}
	}
	if err != nil {
		s.writeError(c, err)
		return
	}
	timings := make([]healthLinkTiming, len(p.Sessions))
	for i, ss := range p.Sessions {
		timings[i] = healthLinkTiming{Day: weekdayName(ss.Weekday), From: twelveHour(ss.Start), To: twelveHour(ss.End)}
	}
	c.JSON(http.StatusOK, gin.H{"doctor": healthLinkDoctorProfile{
		healthLinkDoctor: newHealthLinkDoctor(p.Doctor), Qualifications: p.Qualification, AvailableTimings: timings,
		Summary: p.Summary, RecommendationPercent: p.RecommendationPercent, PatientsCount: p.PatientsCount,
	}})
}

// twelveHour writes "17:30" as HealthLink writes times: "05:30 PM".
func twelveHour(hhmm string) string {
	h := int(hhmm[0]-'0')*10 + int(hhmm[1]-'0')
	suffix := "AM"
	if h >= 12 {
		suffix = "PM"
	}
	if h = h % 12; h == 0 {
		h = 12
	}
	return string([]byte{byte('0' + h/10), byte('0' + h%10)}) + hhmm[2:] + " " + suffix
}
