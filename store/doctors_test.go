package store_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/store"
)

func seededStore(t *testing.T) (context.Context, *store.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	s := testenv.Store(t)
	seed(ctx, t, s)
	return ctx, s
}

func TestMatchSpecialtiesLeadsToDentist(t *testing.T) {
	ctx, s := seededStore(t)
	for _, text := range []string{"teeth", "tooth pain", "dentist", "  Tooth   PAIN ", "Dentist", "denti", "dentst", "dental"} {
		matches, err := s.MatchSpecialties(ctx, text)
		if err != nil {
			t.Fatal(err)
		}
		if len(matches) == 0 || matches[0].Name != "Dentist" || matches[0].Code != "dentistry" {
			t.Errorf("MatchSpecialties(%q) = %+v, want Dentist first", text, matches)
		}
	}
	matches, err := s.MatchSpecialties(ctx, "teeth")
	if err != nil {
		t.Fatal(err)
	}
	if m := matches[0]; m.Term != "teeth" || m.Kind != "synonym" || m.Score != 100 {
		t.Errorf("teeth matched %+v, want the exact synonym with score 100", m)
	}
	if matches, err := s.MatchSpecialties(ctx, "zzqx"); err != nil || len(matches) != 0 {
		t.Errorf("MatchSpecialties(zzqx) = %+v, %v; want nothing", matches, err)
	}
	// "pain" is a word of several specialties' synonyms: each is suggested.
	matches, err = s.MatchSpecialties(ctx, "pain")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range matches {
		names = append(names, m.Name)
	}
	for _, want := range []string{"Dentist", "Cardiologist", "Orthopaedic Surgeon", "Ophthalmologist"} {
		if !slices.Contains(names, want) {
			t.Errorf("pain suggests %v, lacking %s", names, want)
		}
	}
}

// Every seeded specialty's name and synonyms are in the term table, and
// each synonym leads back to its specialty.
func TestEverySpecialtyHasItsTerms(t *testing.T) {
	ctx, s := seededStore(t)
	rows, err := s.Pool.Query(ctx, `SELECT code, name, synonyms FROM specialty ORDER BY code`)
	if err != nil {
		t.Fatal(err)
	}
	type spec struct {
		code, name string
		synonyms   []string
	}
	var specs []spec
	for rows.Next() {
		var sp spec
		if err := rows.Scan(&sp.code, &sp.name, &sp.synonyms); err != nil {
			t.Fatal(err)
		}
		specs = append(specs, sp)
	}
	if rows.Err() != nil || len(specs) < 15 {
		t.Fatalf("%d specialties: %v", len(specs), rows.Err())
	}
	for _, sp := range specs {
		if len(sp.synonyms) == 0 {
			t.Errorf("%s has no synonyms", sp.code)
		}
		for _, term := range append([]string{sp.name}, sp.synonyms...) {
			var n int
			if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM specialty_term WHERE specialty_code = $1 AND lower(term) = lower($2)`,
				sp.code, term).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Errorf("%s: term %q is in specialty_term %d times, want once", sp.code, term, n)
				continue
			}
			matches, err := s.MatchSpecialties(ctx, term)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(matches, func(m store.SpecialtyMatch) bool { return m.Code == sp.code && m.Score == 100 }) {
				t.Errorf("%q does not lead to %s exactly: %+v", term, sp.code, matches)
			}
		}
	}
}

func TestSuggestSpecialties(t *testing.T) {
	ctx, s := seededStore(t)
	top, err := s.SuggestSpecialties(ctx, "", "bengaluru", 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(top) != 5 {
		t.Errorf("top specialties in Bengaluru: %+v, want 5", top)
	}
	if none, err := s.SuggestSpecialties(ctx, "", "Atlantis", 5); err != nil || len(none) != 0 {
		t.Errorf("suggestions in a city with no doctors: %+v, %v", none, err)
	}
	got, err := s.SuggestSpecialties(ctx, "tooth p", "Bengaluru", 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || got[0].Name != "Dentist" || got[0].Term != "tooth pain" {
		t.Errorf("suggestions for partial 'tooth p': %+v, want Dentist from 'tooth pain'", got)
	}
	if none, err := s.SuggestSpecialties(ctx, "teeth", "Atlantis", 5); err != nil || len(none) != 0 {
		t.Errorf("teeth in a city with no dentist: %+v, %v", none, err)
	}
}

func search(ctx context.Context, t *testing.T, s *store.Store, q store.DoctorQuery) store.DoctorPage {
	t.Helper()
	if q.Limit == 0 {
		q.Limit = 100
	}
	page, err := s.SearchDoctors(ctx, q)
	if err != nil {
		t.Fatalf("SearchDoctors(%+v): %v", q, err)
	}
	return page
}

func TestSearchDoctorsBySynonymAndCity(t *testing.T) {
	ctx, s := seededStore(t)
	for _, text := range []string{"teeth", "tooth pain", "dentist"} {
		page := search(ctx, t, s, store.DoctorQuery{Text: text, City: "bengaluru"})
		if len(page.Doctors) == 0 {
			t.Fatalf("%q in Bengaluru: no doctors", text)
		}
		first := page.Doctors[0]
		if first.SpecialtyName != "Dentist" || first.City != "Bengaluru" || first.Relevance != 100 {
			t.Errorf("%q in Bengaluru: first %+v, want a Bengaluru Dentist with relevance 100", text, first)
		}
		if len(first.AvailableDays) < 3 || first.ProfilePhotoURL == nil || first.Summary == "" || first.RecommendationPercent == 0 {
			t.Errorf("profile figures missing: %+v", first)
		}
		for _, d := range page.Doctors {
			if d.City != "Bengaluru" {
				t.Errorf("%q in Bengaluru returned %s in %s", text, d.Name, d.City)
			}
		}
	}
	all := search(ctx, t, s, store.DoctorQuery{Text: "dentist"})
	dentists := 0
	for _, d := range all.Doctors {
		if d.SpecialtyCode == "dentistry" {
			dentists++
		}
	}
	if dentists < 6 {
		t.Errorf("dentist across cities: %d dentists, want one per seeded city", dentists)
	}
}

func TestSearchDoctorsByName(t *testing.T) {
	ctx, s := seededStore(t)
	var name string
	// A seeded doctor's: other packages' tests add practitioners with names
	// of their own ("Access Other Dietitian") at any time.
	if err := s.Pool.QueryRow(ctx, `SELECT name FROM practitioner
		WHERE length(split_part(name, ' ', 3)) >= 6 AND id = ANY($1::uuid[]) ORDER BY id LIMIT 1`, store.SeedPractitionerIDs()).Scan(&name); err != nil {
		t.Fatal(err)
	}
	last := name[strings.LastIndex(name, " ")+1:]
	page := search(ctx, t, s, store.DoctorQuery{Text: last})
	if len(page.Doctors) == 0 {
		t.Fatalf("name %q found nobody", last)
	}
	for _, d := range page.Doctors[:1] {
		if !strings.Contains(d.Name, last) || d.Relevance != 100 {
			t.Errorf("search %q: first %s (relevance %d)", last, d.Name, d.Relevance)
		}
	}
	// Part of the name (full-text prefix), and a misspelling (trigrams).
	misspelt := last[:len(last)-2] + last[len(last)-1:] // "Agarwal" → "Agarwl"
	for text, relevance := range map[string]int{last[:4]: 80, misspelt: 0} {
		page := search(ctx, t, s, store.DoctorQuery{Text: text})
		if len(page.Doctors) == 0 || !strings.Contains(page.Doctors[0].Name, last) {
			t.Errorf("search %q: %d doctors, want %s first", text, len(page.Doctors), last)
			continue
		}
		if got := page.Doctors[0].Relevance; (relevance != 0 && got != relevance) || got == 0 {
			t.Errorf("search %q: relevance %d, want %d", text, got, relevance)
		}
	}
}

func TestSearchDoctorsFilters(t *testing.T) {
	ctx, s := seededStore(t)
	monday := 1
	feeMin, feeMax := 60000, 90000
	page := search(ctx, t, s, store.DoctorQuery{City: "Bengaluru", Weekday: &monday, Time: "10:30",
		FeeMin: &feeMin, FeeMax: &feeMax, Language: "kannada"})
	if len(page.Doctors) == 0 {
		t.Fatal("no doctor in Bengaluru on Monday at 10:30 for 600 to 900 rupees speaking Kannada")
	}
	for _, d := range page.Doctors {
		if d.City != "Bengaluru" || d.ConsultFeeMinor < feeMin || d.ConsultFeeMinor > feeMax || !slices.Contains(d.Languages, "Kannada") {
			t.Errorf("filtered search returned %+v", d)
		}
		var ok bool
		if err := s.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schedule WHERE practitioner_id = $1
			AND weekday = 1 AND start_time <= '10:30' AND end_time > '10:30')`, d.ID).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		if !ok {
			t.Errorf("%s does not consult on Monday at 10:30", d.Name)
		}
		if !slices.Contains(d.AvailableDays, 1) {
			t.Errorf("%s: available days %v lack Monday", d.Name, d.AvailableDays)
		}
	}
	// The filters really filter: without them there are more doctors.
	wider := search(ctx, t, s, store.DoctorQuery{City: "Bengaluru"})
	if len(wider.Doctors) <= len(page.Doctors) {
		t.Errorf("filters removed nobody: %d with, %d without", len(page.Doctors), len(wider.Doctors))
	}
	sunday := 0
	if none := search(ctx, t, s, store.DoctorQuery{City: "Bengaluru", Weekday: &sunday}); len(none.Doctors) != 0 {
		t.Errorf("seeded doctors do not consult on Sunday, found %d", len(none.Doctors))
	}
	if none := search(ctx, t, s, store.DoctorQuery{Language: "Klingon"}); len(none.Doctors) != 0 {
		t.Errorf("Klingon speakers: %d", len(none.Doctors))
	}
}

func TestSearchDoctorsSorts(t *testing.T) {
	ctx, s := seededStore(t)
	check := func(sortV string, value func(store.Doctor) int) {
		t.Helper()
		sort, ok := store.ParseDoctorSort(sortV)
		if !ok {
			t.Fatalf("ParseDoctorSort(%q) refused", sortV)
		}
		page := search(ctx, t, s, store.DoctorQuery{City: "Mumbai", Sort: sort})
		if len(page.Doctors) < 10 {
			t.Fatalf("%s: %d doctors", sortV, len(page.Doctors))
		}
		for i := 1; i < len(page.Doctors); i++ {
			a, b := value(page.Doctors[i-1]), value(page.Doctors[i])
			if (sort.Desc && a < b) || (!sort.Desc && a > b) {
				t.Errorf("sort %s: %d before %d", sortV, a, b)
			}
		}
	}
	check("fee", func(d store.Doctor) int { return d.ConsultFeeMinor })
	check("-fee", func(d store.Doctor) int { return d.ConsultFeeMinor })
	check("-experience", func(d store.Doctor) int { return d.YearsExperience })
	check("-recommendation", func(d store.Doctor) int { return d.RecommendationPercent })
	page := search(ctx, t, s, store.DoctorQuery{Text: "pain", City: "Mumbai"})
	for i := 1; i < len(page.Doctors); i++ {
		if page.Doctors[i-1].Relevance < page.Doctors[i].Relevance {
			t.Errorf("relevance order: %d before %d", page.Doctors[i-1].Relevance, page.Doctors[i].Relevance)
		}
	}
	if _, ok := store.ParseDoctorSort("-name"); ok {
		t.Error("ParseDoctorSort accepted an unknown sort")
	}
}

// checkPages walks a search page by page with its cursors and checks that
// it yields every doctor once, in the order of one big page. It searches
// Mumbai: other packages' tests add practitioners (copies of a Bengaluru
// doctor, see testenv.NewPractitioner) while it walks.
func checkPages(ctx context.Context, t *testing.T, s *store.Store, text, sortV string) {
	t.Helper()
	sort, _ := store.ParseDoctorSort(sortV)
	want := search(ctx, t, s, store.DoctorQuery{Text: text, City: "Mumbai", Sort: sort, Limit: 1000})
	const pageSize = 3
	if len(want.Doctors) < 2*pageSize+1 || want.NextCursor != "" {
		t.Fatalf("%q %s: %d doctors in one page, next %q", text, sortV, len(want.Doctors), want.NextCursor)
	}
	var got []string
	q := store.DoctorQuery{Text: text, City: "Mumbai", Sort: sort, Limit: pageSize}
	for range 1000 {
		page := search(ctx, t, s, q)
		for _, d := range page.Doctors {
			got = append(got, d.ID)
		}
		if page.NextCursor == "" {
			break
		}
		q.Cursor = page.NextCursor
	}
	var wantIDs []string
	for _, d := range want.Doctors {
		wantIDs = append(wantIDs, d.ID)
	}
	if !slices.Equal(got, wantIDs) {
		t.Errorf("%q %s: pages give %d doctors, one page %d, or in another order", text, sortV, len(got), len(wantIDs))
	}
	// Offset paging (HealthLink's page numbers) agrees too.
	second := search(ctx, t, s, store.DoctorQuery{Text: text, City: "Mumbai", Sort: sort, Limit: pageSize, Offset: pageSize})
	if len(second.Doctors) == 0 || second.Doctors[0].ID != wantIDs[pageSize] {
		t.Errorf("%q %s: offset %d starts elsewhere", text, sortV, pageSize)
	}
}

func TestSearchDoctorsCursorPagination(t *testing.T) {
	ctx, s := seededStore(t)
	// "pain" reads doctors by specialty, "dr" by name (every name has "Dr."
	// but a dietitian's), "" with no text at all.
	for _, text := range []string{"pain", "dr", ""} {
		for _, sortV := range []string{"-relevance", "fee", "-experience", "recommendation"} {
			checkPages(ctx, t, s, text, sortV)
		}
	}
	first := search(ctx, t, s, store.DoctorQuery{Text: "pain", Limit: 2})
	fee, _ := store.ParseDoctorSort("fee")
	for _, bad := range []store.DoctorQuery{
		{Text: "pain", Limit: 2, Sort: fee, Cursor: first.NextCursor}, // another sort's cursor
		{Text: "pain", Limit: 2, Cursor: "not-a-cursor"},
		{Text: "pain", Limit: 2, Cursor: "eyJzIjoiLXJlbGV2YW5jZSJ9"}, // {"s":"-relevance"}
	} {
		if _, err := s.SearchDoctors(ctx, bad); !errors.Is(err, store.ErrInvalidCursor) {
			t.Errorf("cursor %q with sort %v: %v, want ErrInvalidCursor", bad.Cursor, bad.Sort, err)
		}
	}
}

func TestGetDoctor(t *testing.T) {
	ctx, s := seededStore(t)
	page := search(ctx, t, s, store.DoctorQuery{Text: "teeth", City: "Delhi", Limit: 1})
	if len(page.Doctors) != 1 {
		t.Fatal("no Delhi dentist")
	}
	p, err := s.GetDoctor(ctx, page.Doctors[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != page.Doctors[0].Name || p.SpecialtyName != "Dentist" || len(p.Sessions) < 3 ||
		!slices.Equal(p.AvailableDays, page.Doctors[0].AvailableDays) {
		t.Errorf("GetDoctor = %+v, search gave %+v", p, page.Doctors[0])
	}
	for _, ss := range p.Sessions {
		if len(ss.Start) != 5 || ss.End <= ss.Start || ss.Timezone != "Asia/Kolkata" {
			t.Errorf("session %+v", ss)
		}
	}
	for _, id := range []string{"00000000-0000-0000-0000-000000000000", "not-a-uuid", ""} {
		if _, err := s.GetDoctor(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetDoctor(%q): %v, want ErrNotFound", id, err)
		}
	}
}
