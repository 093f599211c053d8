package api

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/workflows"
)

// routePolicy says who may call a route. Object-level rules live in
// auth.CanSeePatient; patient names, for routes about one patient's data,
// where the request names that patient.
type routePolicy struct {
	public bool
	roles  []string
	// scope an integrator's token must hold (integrators must be in roles too).
	scope string
	// patient is where the request names the patient whose data it
	// touches. A request that names none, or names one in a form no
	// parser agrees on, is refused: the rule never falls through to "the
	// role may call this route".
	patient *patientRef
	// object names the patient and the practitioner a request is about,
	// for routes that name their object by a lookup (an appointment, an
	// email) rather than by the patient's ID. It refuses the request when
	// the object does not exist.
	object func(s *Server, c *gin.Context, p auth.Principal) (objectOwner, error)
	// onBehalf lets an integrator holding the route's scope act for the
	// patient the request names (integrators see no patient otherwise).
	onBehalf bool
	// category is the part of the record the route touches, for consents
	// given per category (auth.CanSeePatientData); nil: the whole record.
	category func(s *Server, c *gin.Context) string
	// emergency marks the break-glass request itself: the caller needs no
	// relation to the patient; the request is audited as such.
	emergency bool
	// touches marks routes whose handler reads several patients' data
	// (a doctor's list of requests): the handler names them
	// (touchedPatients) and each gets an audit row.
	touches bool
}

// objectOwner is whose object a request touches. auditPatientID is the
// patient whose data a practitioner's own business touches (accepting an
// appointment request): audited, but decided by the practitioner's rights.
type objectOwner struct {
	patientID, practitionerID, auditPatientID string
}

// ownerCtxKey holds the objectOwner the access layer resolved, for the handler.
const ownerCtxKey = "carepath.owner"

var (
	everyone      = auth.Roles
	careRoles     = []string{auth.RolePatient, auth.RoleDoctor, auth.RoleDietitian, auth.RoleCoordinator, auth.RoleAdmin}
	patientActors = []string{auth.RolePatient, auth.RoleCoordinator, auth.RoleAdmin}
	clinicians    = []string{auth.RoleDoctor, auth.RoleDietitian, auth.RoleAdmin, auth.RoleIntegrator}
	labReporters  = []string{auth.RoleDoctor, auth.RoleCoordinator, auth.RoleAdmin, auth.RoleIntegrator}
	// recordAuthors write health records: the patient, and a doctor after a
	// consult (the handler checks the encounter).
	recordAuthors = []string{auth.RolePatient, auth.RoleDoctor}
	// patientOwners manage who sees a record: the patient (and an admin).
	patientOwners = []string{auth.RolePatient, auth.RoleAdmin}
)

// Where routes name their patient.
var (
	// journeyPatient: the journey the path names; its ID carries the
	// patient (workflows.JourneyWorkflowID).
	journeyPatient = &patientRef{in: inPath, name: "id", kind: journeyIDKind}
	// adherencePatient: the medication course the path names.
	adherencePatient = &patientRef{in: inPath, name: "id", kind: courseIDKind}
	// pathPatient: the patient ID in the path.
	pathPatient = &patientRef{in: inPath, name: "id", kind: patientIDKind}
	// queryPatient: ?patient_id= (HealthLink record routes).
	queryPatient = &patientRef{in: inQuery, name: "patient_id", kind: patientIDKind}
	// bodyPatient: patient_id in the JSON body or form.
	bodyPatient = &patientRef{in: inBody, name: "patient_id", kind: patientIDKind}
)

// routePolicies is the access rule of every route, keyed "METHOD path" as
// the router registers it. A route without an entry is refused to everyone
// (and TestEveryRouteAsEveryRole fails), so a new route is closed until
// someone decides who may call it.
var routePolicies = map[string]routePolicy{
	"GET /api/system/health/check": {public: true},
	"GET /livez":                   {public: true},
	"GET /readyz":                  {public: true},
	"GET /openapi.json":            {public: true},
	"GET /docs":                    {public: true},
	"GET " + jwksPath:              {public: true},
	"GET " + shortLinkRoute:        {public: true},
	"POST " + oauthTokenPath:       {public: true},
	"POST " + signInPath:           {public: true},
	"POST " + smsCodePath:          {public: true},
	"POST " + smsCodeVerify:        {public: true},
	// Webhooks verify their provider's signature. The codec endpoints
	// verify the access token the Temporal UI forwards (coordinators and
	// admins only) and audit each decode themselves (codec.go), since they
	// also answer CORS preflights and, on the local stack only, loopback.
	"POST " + stripeWebhookPath:             {public: true},
	"POST " + twilioWebhookPath:             {public: true},
	"POST " + pharmacyWebhookPath:           {public: true},
	"POST " + codecPathPrefix + "encode":    {public: true},
	"POST " + codecPathPrefix + "decode":    {public: true},
	"OPTIONS " + codecPathPrefix + "encode": {public: true},
	"OPTIONS " + codecPathPrefix + "decode": {public: true},

	"POST /api/v1/journeys":                   {roles: patientActors, patient: bodyPatient},
	"GET /api/v1/journeys/:id":                {roles: careRoles, patient: journeyPatient},
	"POST /api/v1/journeys/:id/decisions":     {roles: careRoles, patient: journeyPatient},
	"POST /api/v1/journeys/:id/cancel":        {roles: patientActors, patient: journeyPatient},
	"POST /api/v1/journeys/:id/reschedule":    {roles: patientActors, patient: journeyPatient},
	"POST /api/v1/journeys/:id/consult/start": {roles: []string{auth.RoleDoctor}, patient: journeyPatient},
	"POST /api/v1/journeys/:id/consult/close": {roles: []string{auth.RoleDoctor}, patient: journeyPatient},
	"GET " + prescriptionRoute:                {roles: careRoles, patient: journeyPatient},
	"POST " + prescriptionReviewRoute:         {roles: []string{auth.RoleDoctor}, patient: journeyPatient},
	"GET " + dietRoute:                        {roles: careRoles, patient: journeyPatient},
	"POST " + dietReviewRoute:                 {roles: []string{auth.RoleDietitian}, patient: journeyPatient},
	"POST " + dietMealsRoute:                  {roles: patientActors, patient: journeyPatient},
	"GET " + dietIntakeRoute:                  {roles: careRoles, patient: journeyPatient},
	"POST " + journeyReadingsRt:               {roles: careRoles, patient: journeyPatient},
	"GET /api/v1/patients/:id/journeys":       {roles: careRoles, patient: pathPatient},
	"GET " + adherenceRoute:                   {roles: careRoles, patient: adherencePatient},
	"POST " + adherenceDosesRoute:             {roles: patientActors, patient: adherencePatient},
	"POST " + adherenceRefillRoute:            {roles: patientActors, patient: adherencePatient},
	// Lab partners hold labs:write; the journey's doctor and the care team
	// may enter a result by hand.
	"POST " + labResultsRoute:                           {roles: labReporters, scope: auth.ScopeLabsWrite, patient: journeyPatient},
	"POST " + bookLabTestRoute:                          {roles: append(slices.Clone(patientActors), auth.RoleIntegrator), scope: auth.ScopeLabsWrite, patient: bodyPatient},
	"GET /api/v1/models":                                {roles: everyone, scope: auth.ScopeModelsPredict},
	"POST " + modelCallRoute:                            {roles: clinicians, scope: auth.ScopeModelsPredict},
	"POST " + interactionsCheckRoute:                    {roles: append([]string{auth.RolePharmacist}, clinicians...), scope: auth.ScopeKnowledgeRead},
	"GET /api/v1/knowledge/drugs":                       {roles: everyone, scope: auth.ScopeKnowledgeRead},
	"GET /api/v1/knowledge/conditions/:code/treatments": {roles: everyone, scope: auth.ScopeKnowledgeRead},

	// HealthLink (healthlink.go): objects are named by parameters.
	"POST " + hlBookPath: {roles: append([]string{auth.RoleIntegrator}, patientActors...), scope: auth.ScopeJourneysWrite,
		object: bookingPatient, onBehalf: true},
	"POST " + hlCancelPath:   {roles: []string{auth.RolePatient, auth.RoleCoordinator}, object: appointmentOwner("appointment_id", false)},
	"GET " + hlEarningsPath:  {roles: []string{auth.RoleDoctor, auth.RoleAdmin}, object: paramPractitioner},
	"POST " + hlWithdrawPath: {roles: []string{auth.RoleDoctor}, object: paramPractitioner},
	"GET " + hlRequestsPath:  {roles: []string{auth.RoleDoctor, auth.RoleCoordinator, auth.RoleAdmin}, object: paramPractitioner, touches: true},
	"POST " + hlAcceptPath:   {roles: []string{auth.RoleDoctor}, object: appointmentOwner("request_id", true)},
	"POST " + hlRejectPath:   {roles: []string{auth.RoleDoctor}, object: appointmentOwner("request_id", true)},
	"POST " + hlPurchasePath: {roles: patientActors, patient: bodyPatient},
	// The doctor directory holds practitioners' public profiles and no
	// patient's data: every signed-in role may search it (integrators with
	// directory:read). It is not anonymous, so scraping it is tied to an
	// account (and to its rate limit).
	"GET /api/v1/doctors":          directoryPolicy,
	"GET /api/v1/doctors/suggest":  directoryPolicy,
	"GET " + healthLinkSuggestPath: directoryPolicy,
	"GET " + healthLinkSearchPath:  directoryPolicy,
	"GET " + healthLinkViewPath:    directoryPolicy,
	"GET " + accessLogRoute:        {roles: patientOwners, patient: pathPatient},
	"GET " + auditVerifyRoute:      {roles: []string{auth.RoleAdmin}},

	"GET " + recordsRoute:         {roles: careRoles, patient: pathPatient, category: listCategory},
	"POST " + recordsRoute:        {roles: recordAuthors, patient: pathPatient},
	"GET " + recordRoute:          {roles: careRoles, patient: pathPatient, category: recordCategory},
	"PUT " + recordRoute:          {roles: recordAuthors, patient: pathPatient, category: recordCategory},
	"DELETE " + recordRoute:       {roles: recordAuthors, patient: pathPatient, category: recordCategory},
	"POST " + documentsRoute:      {roles: recordAuthors, patient: pathPatient, category: documentCategory},
	"GET " + documentContentRoute: {roles: careRoles, patient: pathPatient, category: recordCategory},
	"GET " + fhirExportRoute:      {roles: careRoles, patient: pathPatient},
	"POST " + keysRoute:           {roles: recordAuthors},
	"DELETE " + keyRoute:          {roles: recordAuthors},
	"GET " + recordVerifyRoute:    {roles: careRoles, patient: pathPatient, category: recordCategory},

	"GET " + consentsRoute:      {roles: patientOwners, patient: pathPatient},
	"POST " + consentsRoute:     {roles: patientOwners, patient: pathPatient},
	"DELETE " + consentRoute:    {roles: patientOwners, patient: pathPatient},
	"GET " + notificationsRoute: {roles: patientOwners, patient: pathPatient},
	"POST " + breakGlassRoute:   {roles: []string{auth.RoleDoctor}, patient: pathPatient, emergency: true},

	"GET " + healthLinkRecordsRoute:  {roles: careRoles, patient: queryPatient},
	"GET " + healthLinkClinicalRoute: {roles: careRoles, patient: queryPatient},
}

// bookingPatient is who a booking is for: a patient books for themselves;
// the other roles name the patient by patient_email, which must name one.
func bookingPatient(s *Server, c *gin.Context, p auth.Principal) (objectOwner, error) {
	if p.Role == auth.RolePatient {
		return objectOwner{patientID: p.PatientID}, nil
	}
	email, present, err := parsedFrom(c).bodyString("patient_email")
	email = strings.TrimSpace(email)
	switch {
	case err != nil:
		return objectOwner{}, err
	case !present || email == "":
		return objectOwner{}, &invalidError{fields: []FieldError{{Pointer: "/patient_email", Detail: "is required"}}}
	}
	patient, err := s.store.PatientByEmail(c.Request.Context(), email)
	if errors.Is(err, store.ErrNoPatientWithEmail) {
		return objectOwner{}, &invalidError{fields: []FieldError{{Pointer: "/patient_email", Detail: "names no patient"}}}
	}
	return objectOwner{patientID: patient.ID}, err
}

// appointmentOwner names the patient of the appointment the parameter
// names, or, for the doctor's own business (byPractitioner), its doctor,
// with the patient recorded in the audit trail.
func appointmentOwner(param string, byPractitioner bool) func(*Server, *gin.Context, auth.Principal) (objectOwner, error) {
	return func(s *Server, c *gin.Context, _ auth.Principal) (objectOwner, error) {
		id, present, err := parsedFrom(c).bodyString(param)
		switch {
		case err != nil:
			return objectOwner{}, err
		case !present || id == "":
			return objectOwner{}, &invalidError{fields: []FieldError{{Pointer: "/" + param, Detail: "is required"}}}
		case !workflows.ValidPatientID(id): // appointment IDs are UUIDs too
			return objectOwner{}, &invalidError{fields: []FieldError{{Pointer: "/" + param, Detail: "must be an appointment ID (a UUID in lower case)"}}}
		}
		appt, err := s.store.AppointmentByID(c.Request.Context(), id)
		if errors.Is(err, store.ErrAppointmentNotFound) {
			return objectOwner{}, &notFoundError{detail: "no appointment has this " + param}
		}
		if err != nil {
			return objectOwner{}, err
		}
		if byPractitioner {
			return objectOwner{practitionerID: appt.PractitionerID, auditPatientID: appt.PatientID}, nil
		}
		return objectOwner{patientID: appt.PatientID}, nil
	}
}

// paramPractitioner is the practitioner ?doctor_id= (or the body's
// doctor_id) names: the route is about that practitioner's own business.
func paramPractitioner(_ *Server, c *gin.Context, _ auth.Principal) (objectOwner, error) {
	req := parsedFrom(c)
	id, present := req.query["doctor_id"]
	if !present {
		var err error
		if id, present, err = req.bodyString("doctor_id"); err != nil {
			return objectOwner{}, err
		}
	}
	if !present || id == "" {
		return objectOwner{}, &invalidError{fields: []FieldError{{Pointer: "/doctor_id", Detail: "is required"}}}
	}
	if !workflows.ValidPatientID(id) { // practitioner IDs are UUIDs
		return objectOwner{}, &invalidError{fields: []FieldError{{Pointer: "/doctor_id", Detail: "must be a practitioner ID (a UUID in lower case)"}}}
	}
	return objectOwner{practitionerID: id}, nil
}

var directoryPolicy = routePolicy{roles: everyone, scope: auth.ScopeDirectoryRead}

// policies is routePolicies keyed as gin's FullPath reports a route: a
// literal colon is escaped when registered (interactions\:check) and
// unescaped in FullPath.
var policies = func() map[string]routePolicy {
	out := make(map[string]routePolicy, len(routePolicies))
	for k, v := range routePolicies {
		out[strings.ReplaceAll(k, `\:`, ":")] = v
	}
	return out
}()

// authorize is the one place every request's access is decided: it
// verifies the bearer token, checks the route's roles and scope, and, for a
// route about a patient's data, asks auth.CanSeePatient and records the
// decision and its outcome in the audit trail (audit.go). Each decision is
// logged with the route and the subject's ID, never with health data.
func (s *Server) authorize(c *gin.Context) {
	route := c.FullPath()
	if route == "" {
		c.Next() // no such route: NoRoute answers 404
		return
	}
	ctx := c.Request.Context()
	policy, ok := policies[c.Request.Method+" "+route]
	if !ok {
		s.logger.ErrorContext(ctx, "Access denied: route has no access policy", "method", c.Request.Method, "route", route)
		s.writeError(c, &forbiddenError{detail: "this route has no access policy yet"})
		return
	}
	if policy.public {
		c.Next()
		return
	}
	if s.auth == nil {
		s.writeError(c, &unavailableError{detail: "sign-in is not configured on this server"})
		return
	}
	token, found := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	if !found || token == "" {
		s.logAccess(c, "deny", "", "", "no bearer token")
		s.writeError(c, &unauthorizedError{detail: "sign in and send the access token as Authorization: Bearer <token>"})
		return
	}
	p, err := s.auth.Verify(ctx, token)
	if err != nil {
		s.logAccess(c, "deny", "", "", "invalid token")
		s.writeError(c, &unauthorizedError{detail: "the access token is invalid or has expired"})
		return
	}
	deny := func(reason string) {
		s.logAccess(c, "deny", p.Subject, p.Role, reason)
		s.writeError(c, &forbiddenError{detail: "your role or relation to this patient does not allow this"})
	}
	if !slices.Contains(policy.roles, p.Role) {
		s.auditRefusedRole(c, policy, p, "role not allowed on route")
		deny("role not allowed on route")
		return
	}
	if p.Role == auth.RoleIntegrator && (policy.scope == "" || !p.HasScope(policy.scope)) {
		s.auditRefusedRole(c, policy, p, "missing scope")
		deny("missing scope")
		return
	}
	var owner objectOwner
	switch {
	case policy.patient != nil:
		owner.patientID, err = policy.patient.resolve(c)
	case policy.object != nil:
		owner, err = policy.object(s, c, p)
	}
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.Set(ownerCtxKey, owner)
	if owner.patientID == "" {
		// The route names no patient (policy.patient is nil): it is about
		// no one's record, or about a practitioner's own business.
		allowed, reason, err := s.mayTouch(ctx, p, policy, owner, auth.ConsentAll)
		if err != nil {
			s.writeError(c, err)
			return
		}
		if !allowed {
			deny(reason)
			return
		}
		s.logAccess(c, "allow", p.Subject, p.Role, reason)
		c.Set(principalCtxKey, p)
		switch {
		case owner.auditPatientID != "" || policy.touches:
			purpose, err := purposeOf(c, p.Role, false)
			if err != nil {
				s.writeError(c, err)
				return
			}
			s.serveAudited(c, p, owner.auditPatientID, purpose, reason)
		default:
			c.Next()
		}
		return
	}
	// A patient's data: decide, and record the decision in the audit trail.
	purpose, err := purposeOf(c, p.Role, policy.emergency)
	if err != nil {
		s.writeError(c, err)
		return
	}
	category := auth.ConsentAll
	if policy.category != nil {
		category = policy.category(s, c)
	}
	allowed, why, err := s.mayTouch(ctx, p, policy, owner, category)
	if policy.emergency && err == nil && !allowed {
		allowed, why = true, "break-glass request"
	}
	if err != nil {
		s.writeError(c, err)
		return
	}
	if why == "break-glass" && c.GetHeader(purposeHeader) == "" {
		purpose = "ETREAT" // emergency access is emergency treatment unless stated otherwise
	}
	if !allowed {
		s.auditDenied(c, p, owner.patientID, purpose, why)
		deny(why)
		return
	}
	s.logAccess(c, "allow", p.Subject, p.Role, why)
	c.Set(principalCtxKey, p)
	s.serveAudited(c, p, owner.patientID, purpose, why)
}

// mayTouch applies the object-level rules to whose object the request
// names: the patient's data (in the consented category) and the
// practitioner's own business.
func (s *Server) mayTouch(ctx context.Context, p auth.Principal, policy routePolicy, o objectOwner, category string) (bool, string, error) {
	reason := "role allowed"
	if o.patientID != "" {
		if policy.onBehalf && p.Role == auth.RoleIntegrator {
			allowed, why, err := s.auth.IntegratorMayActFor(ctx, p.Subject, o.patientID)
			if err != nil || !allowed {
				return false, why, err
			}
			reason = why
		} else {
			allowed, why, err := s.auth.CanSeePatientData(ctx, p, o.patientID, category)
			if err != nil || !allowed {
				return false, why, err
			}
			reason = why
		}
	}
	if o.practitionerID != "" {
		allowed, why, err := s.auth.CanActForPractitioner(ctx, p, o.practitionerID)
		if err != nil || !allowed {
			return false, why, err
		}
		reason = why
	}
	return true, reason, nil
}

func (s *Server) logAccess(c *gin.Context, decision, subject, role, reason string) {
	level := "Access allowed"
	if decision == "deny" {
		level = "Access denied"
	}
	s.logger.InfoContext(c.Request.Context(), level, "decision", decision, "method", c.Request.Method,
		"route", c.FullPath(), "subject", subject, "role", role, "reason", reason)
}

// paramSource is where a request carries a parameter.
type paramSource int

const (
	inPath paramSource = iota
	inQuery
	inBody // a JSON body's top-level member, or a form field
)

// idKind is what an ID parameter names, and so how the patient is read from it.
type idKind int

const (
	patientIDKind idKind = iota // the patient's own ID
	journeyIDKind               // a journey workflow ID (it names the patient)
	courseIDKind                // a medication course's workflow ID (it names the patient)
)

// patientRef says where a route's request names its patient.
type patientRef struct {
	in   paramSource
	name string
	kind idKind
}

// resolve reads the patient the request names from the values
// parseRequest kept (the handler reads the same). A missing parameter or
// one that names no patient refuses the request: 404 for a path, 400 or
// 422 naming the parameter otherwise.
func (r *patientRef) resolve(c *gin.Context) (string, error) {
	var value string
	present := false
	switch r.in {
	case inPath:
		value, present = c.Params.Get(r.name)
	case inQuery:
		value, present = parsedFrom(c).query[r.name]
	case inBody:
		req := parsedFrom(c)
		if req.members == nil && req.form == nil {
			return "", &malformedError{detail: "send a JSON object (or form fields) naming " + r.name}
		}
		var err error
		if value, present, err = req.bodyString(r.name); err != nil {
			return "", err
		}
	}
	if !present || value == "" {
		if r.in == inPath {
			return "", &notFoundError{detail: "no object has this ID"}
		}
		return "", r.invalid("is required")
	}
	var patientID string
	var what string
	switch r.kind {
	case patientIDKind:
		patientID, what = value, "patient"
	case journeyIDKind:
		patientID, _, _, _ = workflows.ParseJourneyWorkflowID(value)
		what = "journey"
	case courseIDKind:
		patientID, _, _, _ = workflows.ParseAdherenceWorkflowID(value)
		what = "medication course"
	}
	if !workflows.ValidPatientID(patientID) {
		if r.in == inPath {
			return "", &notFoundError{detail: "no " + what + " has this ID"}
		}
		return "", r.invalid("must be a " + what + " ID, in lower case")
	}
	return patientID, nil
}

func (r *patientRef) invalid(detail string) error {
	return &invalidError{fields: []FieldError{{Pointer: "/" + r.name, Detail: detail}}}
}
