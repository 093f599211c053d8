package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Doctor search: free text resolved through specialty_term (names, fields and
// the words patients use) and matched against doctors' names with full-text
// and trigram indexes, filters on city, availability, fee and language, four
// sorts, and keyset (cursor) pagination. The v1 API and the HealthLink
// endpoints both call these functions.

// ErrInvalidCursor is returned for a cursor this search did not issue.
var ErrInvalidCursor = errors.New("invalid cursor")

// Scores of a text match, highest first. A specialty matched through one of
// its terms scores by how the term matched; a doctor by how their name (or
// qualification) matched. The same scale serves both.
const (
	scoreExactTerm     = 100 // the whole term or name word: "teeth", "dentist", "Sharma"
	scoreAllWords      = 90  // every word, stemmed: "pain" in "tooth pain"
	scorePrefix        = 80  // partial text: "denti", "tooth p", "Shar"
	scoreFuzzyMax      = 60  // a misspelling: "dentst", "Shrama"
	scoreQualification = 50  // a word of the qualification: "MBBS"
)

// MaxSearchText bounds the free text of a search or suggestion.
const MaxSearchText = 100

// SpecialtyMatch is a specialty that a text leads to, with the term that
// matched and how well.
type SpecialtyMatch struct {
	Code  string
	Name  string
	Term  string // the specialty's name, field or synonym that matched
	Kind  string // "name", "field" or "synonym"
	Score int
}

// NormalizeSearchText lower-cases text and collapses its white space.
func NormalizeSearchText(text string) string {
	return strings.Join(strings.Fields(strings.ToLower(text)), " ")
}

// escapeLike makes text a literal inside a LIKE pattern.
func escapeLike(text string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(text)
}

// matchSpecialtiesSQL scores every term that matches $1 and keeps each
// specialty's best term. $2 is the LIKE prefix pattern of $1.
var matchSpecialtiesSQL = fmt.Sprintf(`
	SELECT DISTINCT ON (t.specialty_code) t.specialty_code, sp.name, t.term, t.kind, m.score
	FROM specialty_term t
	JOIN specialty sp ON sp.code = t.specialty_code
	CROSS JOIN LATERAL (SELECT CASE
		WHEN lower(t.term) = $1 THEN %d
		WHEN t.term_doc @@ websearch_to_tsquery('english', $1) THEN %d
		WHEN lower(t.term) LIKE $2 THEN %d
		ELSE round(%d * greatest(similarity($1, t.term), word_similarity($1, t.term)))::int END AS score) m
	WHERE lower(t.term) = $1 OR t.term_doc @@ websearch_to_tsquery('english', $1)
		OR lower(t.term) LIKE $2 OR $1 %% t.term OR $1 <%% t.term
	ORDER BY t.specialty_code, m.score DESC, length(t.term), t.term`,
	scoreExactTerm, scoreAllWords, scorePrefix, scoreFuzzyMax)

// MatchSpecialties returns the specialties text leads to, best first:
// "teeth", "tooth pain" and "dentist" all lead to Dentist.
func (s *Store) MatchSpecialties(ctx context.Context, text string) ([]SpecialtyMatch, error) {
	text = NormalizeSearchText(text)
	if text == "" {
		return nil, nil
	}
	rows, err := s.Pool.Query(ctx, matchSpecialtiesSQL, text, escapeLike(text)+"%")
	if err != nil {
		return nil, fmt.Errorf("store: match specialties: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SpecialtyMatch, error) {
		var m SpecialtyMatch
		err := r.Scan(&m.Code, &m.Name, &m.Term, &m.Kind, &m.Score)
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: match specialties: %w", err)
	}
	slices.SortStableFunc(out, func(a, b SpecialtyMatch) int {
		if a.Score != b.Score {
			return b.Score - a.Score
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

// SuggestSpecialties suggests specialties for partial text, or, with no
// text, the specialties with the most doctors. With a city, only
// specialties that have an active doctor there are suggested.
func (s *Store) SuggestSpecialties(ctx context.Context, text, city string, limit int) ([]SpecialtyMatch, error) {
	if NormalizeSearchText(text) == "" {
		return s.topSpecialties(ctx, city, limit)
	}
	matches, err := s.MatchSpecialties(ctx, text)
	if err != nil || len(matches) == 0 {
		return matches, err
	}
	if city != "" {
		codes := make([]string, len(matches))
		for i, m := range matches {
			codes[i] = m.Code
		}
		// One index probe per suggested specialty.
		var inCity []string
		rows, err := s.Pool.Query(ctx, `SELECT code FROM unnest($2::text[]) AS code WHERE EXISTS (SELECT 1 FROM practitioner p
			WHERE lower(p.city) = lower($1) AND p.specialty_code = code AND p.active)`, city, codes)
		if err != nil {
			return nil, fmt.Errorf("store: suggest specialties: %w", err)
		}
		if inCity, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return nil, fmt.Errorf("store: suggest specialties: %w", err)
		}
		matches = slices.DeleteFunc(matches, func(m SpecialtyMatch) bool { return !slices.Contains(inCity, m.Code) })
	}
	return matches[:min(limit, len(matches))], nil
}

func (s *Store) topSpecialties(ctx context.Context, city string, limit int) ([]SpecialtyMatch, error) {
	rows, err := s.Pool.Query(ctx, `
		SELECT sp.code, sp.name
		FROM practitioner p JOIN specialty sp ON sp.code = p.specialty_code
		WHERE p.active AND ($1 = '' OR lower(p.city) = lower($1))
		GROUP BY sp.code, sp.name
		ORDER BY count(*) DESC, sp.name
		LIMIT $2`, city, limit)
	if err != nil {
		return nil, fmt.Errorf("store: top specialties: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SpecialtyMatch, error) {
		m := SpecialtyMatch{Kind: "name"}
		err := r.Scan(&m.Code, &m.Name)
		m.Term = m.Name
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: top specialties: %w", err)
	}
	return out, nil
}

// Doctor is one practitioner as the directory shows them.
type Doctor struct {
	ID                    string
	Name                  string
	SpecialtyCode         string
	SpecialtyName         string
	Qualification         string
	YearsExperience       int
	Languages             []string
	City                  string
	OrganizationID        string
	ConsultFeeMinor       int
	Currency              string
	RecommendationPercent int
	ReviewsCount          int
	PatientsCount         int
	WaitTimeMinutes       int
	Summary               string
	ProfilePhotoURL       *string
	// AvailableDays are the weekdays (0 = Sunday) the doctor consults on,
	// Monday first.
	AvailableDays []int
	// Relevance is how well the doctor matched the search text (0 to 100;
	// 0 without text).
	Relevance int
}

// Session is one weekly consulting session; times are "HH:MM" in Timezone.
type Session struct {
	Weekday  int // 0 = Sunday
	Start    string
	End      string
	Timezone string
}

// DoctorProfile is a doctor with their weekly sessions, Monday first.
type DoctorProfile struct {
	Doctor
	Sessions []Session
}

// DoctorSort is the order of a search: Key is one of DoctorSortKeys.
type DoctorSort struct {
	Key  string
	Desc bool
}

func (s DoctorSort) String() string {
	if s.Desc {
		return "-" + s.Key
	}
	return s.Key
}

// sortColumns are the columns each sort orders by, before the ID that makes
// the order total. All of them, the ID too, follow the sort's direction, so
// a B-tree index scanned either way serves both directions.
var sortColumns = map[string][]string{
	"relevance":      {"relevance", "recommendation_percent", "reviews_count"},
	"experience":     {"years_experience"},
	"fee":            {"consult_fee_minor"},
	"recommendation": {"recommendation_percent", "reviews_count"},
}

// DoctorSortKeys are the sorts a search accepts.
var DoctorSortKeys = []string{"relevance", "experience", "fee", "recommendation"}

// DefaultDoctorSort puts the best match first, the most recommended among
// equals.
var DefaultDoctorSort = DoctorSort{Key: "relevance", Desc: true}

// ParseDoctorSort reads "fee" or "-experience" ('-' for descending); the
// empty string is DefaultDoctorSort.
func ParseDoctorSort(v string) (DoctorSort, bool) {
	if v == "" {
		return DefaultDoctorSort, true
	}
	key, desc := strings.CutPrefix(v, "-")
	if _, ok := sortColumns[key]; !ok {
		return DoctorSort{}, false
	}
	return DoctorSort{Key: key, Desc: desc}, true
}

// DoctorQuery is a doctor search. Zero fields do not filter.
type DoctorQuery struct {
	Text      string // a specialty word, a doctor's name or a qualification
	Specialty string // a specialty code
	City      string
	Weekday   *int   // 0 = Sunday: consults that day (at Time, if set)
	Time      string // "HH:MM": consults at that time (on Weekday, if set)
	FeeMin    *int   // minor currency unit
	FeeMax    *int
	Language  string
	Sort      DoctorSort
	Limit     int
	// Cursor continues a search from the page that returned it. Offset
	// skips doctors instead (for page-numbered callers); not with a cursor.
	Cursor string
	Offset int
}

// DoctorPage is one page of a search; NextCursor is empty on the last.
type DoctorPage struct {
	Doctors    []Doctor
	NextCursor string
}

// sqlArgs collects query arguments and names their placeholders.
type sqlArgs []any

func (a *sqlArgs) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// doctorColumns are the columns scanDoctor reads, from the inner query.
const doctorColumns = `p.id, p.name, p.specialty_code, sp.name AS specialty_name, p.qualification,
	p.years_experience, p.languages, p.city, p.organization_id::text, p.consult_fee_minor, p.currency,
	p.recommendation_percent, p.reviews_count, p.patients_count, p.wait_time_minutes, p.summary, p.profile_photo_url`

func scanDoctor(row pgx.Row, d *Doctor, extra ...any) error {
	return row.Scan(append([]any{&d.ID, &d.Name, &d.SpecialtyCode, &d.SpecialtyName, &d.Qualification,
		&d.YearsExperience, &d.Languages, &d.City, &d.OrganizationID, &d.ConsultFeeMinor, &d.Currency,
		&d.RecommendationPercent, &d.ReviewsCount, &d.PatientsCount, &d.WaitTimeMinutes, &d.Summary,
		&d.ProfilePhotoURL}, extra...)...)
}

// SearchDoctors runs a search and returns one page of doctors.
func (s *Store) SearchDoctors(ctx context.Context, q DoctorQuery) (DoctorPage, error) {
	if q.Sort.Key == "" {
		q.Sort = DefaultDoctorSort
	}
	cols, ok := sortColumns[q.Sort.Key]
	if !ok {
		return DoctorPage{}, fmt.Errorf("store: search doctors: unknown sort %q", q.Sort.Key)
	}
	var after *doctorCursor
	if q.Cursor != "" {
		c, err := decodeDoctorCursor(q.Cursor, q.Sort, len(cols))
		if err != nil {
			return DoctorPage{}, err
		}
		after = &c
	}
	var matches []SpecialtyMatch
	if text := NormalizeSearchText(q.Text); text != "" {
		var err error
		if matches, err = s.MatchSpecialties(ctx, text); err != nil {
			return DoctorPage{}, err
		}
		q.Text = text
	}
	sql, args := doctorSearchSQL(q, matches, cols, after)
	rows, err := s.Pool.Query(ctx, sql, args...)
	if err != nil {
		return DoctorPage{}, fmt.Errorf("store: search doctors: %w", err)
	}
	doctors, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Doctor, error) {
		var d Doctor
		err := scanDoctor(r, &d, &d.Relevance, &d.AvailableDays)
		slices.SortFunc(d.AvailableDays, mondayFirst)
		return d, err
	})
	if err != nil {
		return DoctorPage{}, fmt.Errorf("store: search doctors: %w", err)
	}
	page := DoctorPage{Doctors: doctors}
	if len(doctors) > q.Limit {
		page.Doctors = doctors[:q.Limit]
		page.NextCursor = encodeDoctorCursor(q.Sort, page.Doctors[q.Limit-1])
	}
	return page, nil
}

// doctorSearchSQL builds the search. Without text it is one query over the
// practitioner table. With text, doctors come from two disjoint streams: the
// doctors whose name or qualification matches, and the others of each
// specialty the text leads to. Within a specialty every doctor of the second
// stream has the same relevance, so the stream reads them in the sort's order
// from an index and stops after the page: a search for "dentist" among
// 100,000 doctors never reads all 7,000 dentists.
func doctorSearchSQL(q DoctorQuery, matches []SpecialtyMatch, cols []string, after *doctorCursor) (string, []any) {
	var args sqlArgs
	filters := doctorFilters(&args, q)
	dir := "ASC"
	if q.Sort.Desc {
		dir = "DESC"
	}
	orderBy := func(alias string, skipRelevance bool) string {
		var order []string
		for _, c := range append(slices.Clone(cols), "id") {
			if !(skipRelevance && c == "relevance") {
				order = append(order, alias+c+" "+dir)
			}
		}
		return strings.Join(order, ", ")
	}
	keyset := func(prefix string, relevance string) string { return "true" }
	if after != nil {
		keyset = keysetCondition(&args, cols, q.Sort.Desc, *after)
	}
	// The streams carry only what orders them; the page's doctors are read
	// in full at the end.
	const keys = "p.id, p.recommendation_percent, p.reviews_count, p.years_experience, p.consult_fee_minor"
	const base = "FROM practitioner p"
	var source string
	if q.Text == "" {
		source = fmt.Sprintf("SELECT %s, 0 AS relevance %s WHERE %s", keys, base, strings.Join(filters, " AND "))
	} else {
		codes, scores := make([]string, len(matches)), make([]int32, len(matches))
		for i, m := range matches {
			codes[i], scores[i] = m.Code, int32(m.Score)
		}
		textMatch, textScore := textCondition(&args, q.Text, matches)
		codesArg, scoresArg := args.add(codes), args.add(scores)
		pageEnd := args.add(q.Offset + q.Limit + 1)
		bySpecialty := fmt.Sprintf(`SELECT b.* FROM unnest(%[1]s::text[], %[2]s::int[]) AS m(code, score)
			CROSS JOIN LATERAL (SELECT %[3]s, m.score AS relevance %[4]s
				WHERE p.specialty_code = m.code AND NOT %[9]s AND %[5]s AND %[6]s ORDER BY %[7]s LIMIT %[8]s) b`,
			codesArg, scoresArg, keys, base, strings.Join(filters, " AND "), keyset("p.", "m.score"),
			orderBy("p.", true), pageEnd, textMatch)
		byText := fmt.Sprintf(`SELECT %s, greatest(coalesce(m.score, 0), %s) AS relevance %s
			LEFT JOIN unnest(%s::text[], %s::int[]) AS m(code, score) ON m.code = p.specialty_code
			WHERE %s AND %s`,
			keys, textScore, base, codesArg, scoresArg, textMatch, strings.Join(filters, " AND "))
		source = bySpecialty + " UNION ALL " + byText
	}
	sql := fmt.Sprintf(`SELECT %[1]s, d.relevance,
			ARRAY(SELECT DISTINCT s.weekday::int FROM schedule s WHERE s.practitioner_id = p.id) FROM (
			SELECT d.* FROM (%[2]s) d WHERE %[3]s ORDER BY %[4]s LIMIT %[5]s OFFSET %[6]s) d
		JOIN practitioner p ON p.id = d.id JOIN specialty sp ON sp.code = p.specialty_code
		ORDER BY %[4]s`,
		doctorColumns, source, keyset("d.", "d.relevance"), orderBy("d.", false), args.add(q.Limit+1), args.add(q.Offset))
	return sql, args
}

// doctorFilters are the search's conditions on p, the practitioner.
func doctorFilters(args *sqlArgs, q DoctorQuery) []string {
	where := []string{"p.active"}
	if q.Specialty != "" {
		where = append(where, "p.specialty_code = "+args.add(q.Specialty))
	}
	if q.City != "" {
		where = append(where, "lower(p.city) = lower("+args.add(q.City)+")")
	}
	if q.Weekday != nil || q.Time != "" {
		cond := "s.practitioner_id = p.id"
		if q.Weekday != nil {
			cond += " AND s.weekday = " + args.add(*q.Weekday)
		}
		if q.Time != "" {
			t := args.add(q.Time)
			cond += fmt.Sprintf(" AND s.start_time <= %[1]s::time AND s.end_time > %[1]s::time", t)
		}
		where = append(where, "EXISTS (SELECT 1 FROM schedule s WHERE "+cond+")")
	}
	if q.FeeMin != nil {
		where = append(where, "p.consult_fee_minor >= "+args.add(*q.FeeMin))
	}
	if q.FeeMax != nil {
		where = append(where, "p.consult_fee_minor <= "+args.add(*q.FeeMax))
	}
	if q.Language != "" {
		where = append(where, "p.languages @> ARRAY["+args.add(languageName(q.Language))+"::text]")
	}
	return where
}

// textCondition matches text against doctors' names and qualifications
// through the full-text index: every word, each also as a prefix ("Shar"
// finds Sharma). Only when the text leads to no specialty does it fall back
// to trigram similarity, for a misspelt name: a trigram test on every
// doctor of a matched specialty would cost more than the rest of the search.
// It returns the condition and the doctor's text score.
func textCondition(args *sqlArgs, text string, matches []SpecialtyMatch) (cond, score string) {
	words := tsWords(text)
	if len(words) == 0 {
		return "false", "0"
	}
	query := func(suffix string) string {
		parts := make([]string, len(words))
		for i, w := range words {
			parts[i] = w + suffix
		}
		return "(" + args.add(strings.Join(parts, " & ")) + "::tsquery)"
	}
	// Weight A is the name (see search_doc in 0010_doctor_search.sql).
	exactName, prefixName, anyPrefix := query(":A"), query(":*A"), query(":*")
	cond = "p.search_doc @@ " + anyPrefix
	score = fmt.Sprintf(`CASE WHEN p.search_doc @@ %s THEN %d WHEN p.search_doc @@ %s THEN %d
		WHEN p.search_doc @@ %s THEN %d ELSE 0 END`,
		exactName, scoreExactTerm, prefixName, scorePrefix, anyPrefix, scoreQualification)
	if len(matches) == 0 {
		t := args.add(text)
		cond = fmt.Sprintf("(%s OR %s <%% p.name)", cond, t)
		score = fmt.Sprintf("greatest(%s, CASE WHEN %s <%% p.name THEN round(%d * word_similarity(%s, p.name))::int ELSE 0 END)",
			score, t, scoreFuzzyMax, t)
	}
	return cond, score
}

// tsWords are text's words with everything but letters and digits removed,
// safe to join into a to_tsquery expression.
func tsWords(text string) []string {
	var words []string
	for _, f := range strings.Fields(text) {
		w := strings.Map(func(r rune) rune {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				return unicode.ToLower(r)
			}
			return -1
		}, f)
		if w != "" {
			words = append(words, w)
		}
	}
	return words
}

// keysetCondition returns "the row comes after the cursor" for a column
// prefix ("p." or "d.") and the expression relevance has there. Every
// column of a sort, the ID included, runs in the sort's direction, so the
// condition is one row comparison, which a B-tree index can serve.
func keysetCondition(args *sqlArgs, cols []string, desc bool, after doctorCursor) func(prefix, relevance string) string {
	past := ">"
	if desc {
		past = "<"
	}
	values := make([]string, 0, len(cols)+1)
	for i := range cols {
		values = append(values, args.add(after.Keys[i]))
	}
	values = append(values, args.add(after.ID)+"::uuid")
	return func(prefix, relevance string) string {
		exprs := make([]string, 0, len(cols)+1)
		for _, c := range append(slices.Clone(cols), "id") {
			if c == "relevance" {
				exprs = append(exprs, relevance)
			} else {
				exprs = append(exprs, prefix+c)
			}
		}
		return "(" + strings.Join(exprs, ", ") + ") " + past + " (" + strings.Join(values, ", ") + ")"
	}
}

// sortValues are a doctor's values of a sort's columns.
func sortValues(key string, d Doctor) []int {
	switch key {
	case "relevance":
		return []int{d.Relevance, d.RecommendationPercent, d.ReviewsCount}
	case "experience":
		return []int{d.YearsExperience}
	case "fee":
		return []int{d.ConsultFeeMinor}
	default: // recommendation
		return []int{d.RecommendationPercent, d.ReviewsCount}
	}
}

// doctorCursor is the position after the last doctor of a page: the sort it
// belongs to, that doctor's sort values and ID. It travels as base64url JSON.
type doctorCursor struct {
	Sort string `json:"s"`
	Keys []int  `json:"k"`
	ID   string `json:"id"`
}

func encodeDoctorCursor(sort DoctorSort, last Doctor) string {
	raw, _ := json.Marshal(doctorCursor{Sort: sort.String(), Keys: sortValues(sort.Key, last), ID: last.ID})
	return base64.RawURLEncoding.EncodeToString(raw)
}

func decodeDoctorCursor(v string, sort DoctorSort, nKeys int) (doctorCursor, error) {
	var c doctorCursor
	raw, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || json.Unmarshal(raw, &c) != nil {
		return c, fmt.Errorf("%w: not a cursor this search issued", ErrInvalidCursor)
	}
	if c.Sort != sort.String() {
		return c, fmt.Errorf("%w: the cursor belongs to sort %q, not %q", ErrInvalidCursor, c.Sort, sort.String())
	}
	if len(c.Keys) != nKeys || !validUUID(c.ID) {
		return c, fmt.Errorf("%w: not a cursor this search issued", ErrInvalidCursor)
	}
	return c, nil
}

// languageName writes a language as the directory stores it: "hindi" → "Hindi".
func languageName(v string) string {
	v = strings.ToLower(strings.TrimSpace(v))
	r, size := utf8.DecodeRuneInString(v)
	if size == 0 {
		return v
	}
	return string(unicode.ToUpper(r)) + v[size:]
}

// mondayFirst orders weekdays (0 = Sunday) Monday to Sunday.
func mondayFirst(a, b int) int { return (a+6)%7 - (b+6)%7 }

// GetDoctor returns an active doctor's profile and weekly sessions, or
// ErrNotFound (also for an ID that is not a UUID).
func (s *Store) GetDoctor(ctx context.Context, id string) (DoctorProfile, error) {
	var p DoctorProfile
	if !validUUID(id) {
		return p, fmt.Errorf("store: doctor %q: %w", id, ErrNotFound)
	}
	row := s.Pool.QueryRow(ctx, `SELECT `+doctorColumns+`
		FROM practitioner p JOIN specialty sp ON sp.code = p.specialty_code
		WHERE p.id = $1::uuid AND p.active`, id)
	if err := scanDoctor(row, &p.Doctor); errors.Is(err, pgx.ErrNoRows) {
		return p, fmt.Errorf("store: doctor %s: %w", id, ErrNotFound)
	} else if err != nil {
		return p, fmt.Errorf("store: get doctor %s: %w", id, err)
	}
	rows, err := s.Pool.Query(ctx, `
		SELECT weekday, to_char(start_time, 'HH24:MI'), to_char(end_time, 'HH24:MI'), timezone
		FROM schedule WHERE practitioner_id = $1::uuid ORDER BY (weekday + 6) % 7, start_time`, id)
	if err != nil {
		return p, fmt.Errorf("store: doctor %s sessions: %w", id, err)
	}
	p.Sessions, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Session, error) {
		var ss Session
		err := r.Scan(&ss.Weekday, &ss.Start, &ss.End, &ss.Timezone)
		return ss, err
	})
	if err != nil {
		return p, fmt.Errorf("store: doctor %s sessions: %w", id, err)
	}
	p.AvailableDays = []int{}
	for _, ss := range p.Sessions {
		if !slices.Contains(p.AvailableDays, ss.Weekday) {
			p.AvailableDays = append(p.AvailableDays, ss.Weekday)
		}
	}
	return p, nil
}
