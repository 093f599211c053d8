package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/carepath/carepath/store"
)

// targetP99 is the speed target for a warm search.
const targetP99 = 20 * time.Millisecond

// search is one representative search, as the API would run it.
type search struct {
	name string
	run  func(ctx context.Context, s *store.Store) (int, error) // returns how many doctors it found
}

func doctorSearch(name string, q store.DoctorQuery) search {
	if q.Limit == 0 {
		q.Limit = 20
	}
	return search{name: name, run: func(ctx context.Context, s *store.Store) (int, error) {
		page, err := s.SearchDoctors(ctx, q)
		return len(page.Doctors), err
	}}
}

func intp(v int) *int { return &v }

func (b bench) searches(ctx context.Context, s *store.Store) ([]search, error) {
	fee, _ := store.ParseDoctorSort("fee")
	experience, _ := store.ParseDoctorSort("-experience")
	first, err := s.SearchDoctors(ctx, store.DoctorQuery{Text: "teeth", City: "Pune", Limit: 20})
	if err != nil {
		return nil, err
	}
	if first.NextCursor == "" {
		return nil, fmt.Errorf("teeth in Pune has a single page: the generated directory is too small")
	}
	return []search{
		doctorSearch(`synonym, every city: q="tooth pain"`, store.DoctorQuery{Text: "tooth pain"}),
		doctorSearch(`synonym + city: q="teeth" city=Pune`, store.DoctorQuery{Text: "teeth", City: "Pune"}),
		doctorSearch(`next page by cursor`, store.DoctorQuery{Text: "teeth", City: "Pune", Cursor: first.NextCursor}),
		doctorSearch(`all filters, sort=fee: q="heart" city, Monday 10:30, fee, language`, store.DoctorQuery{
			Text: "heart", City: "Mumbai", Weekday: intp(1), Time: "10:30", FeeMin: intp(50000), FeeMax: intp(120000),
			Language: "marathi", Sort: fee}),
		doctorSearch(`doctor's name: q="sharma"`, store.DoctorQuery{Text: "sharma"}),
		doctorSearch(`misspelt: q="dermatolgist" city=Delhi`, store.DoctorQuery{Text: "dermatolgist", City: "Delhi"}),
		doctorSearch(`browse city, sort=-experience`, store.DoctorQuery{City: "Delhi", Sort: experience}),
		{name: `suggest: q="tooth p" city=Pune`, run: func(ctx context.Context, s *store.Store) (int, error) {
			m, err := s.SuggestSpecialties(ctx, "tooth p", "Pune", 10)
			return len(m), err
		}},
	}, nil
}

// timings runs f n times and returns the sorted durations.
func timings(ctx context.Context, n int, f func(context.Context) error) ([]time.Duration, error) {
	out := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if err := f(ctx); err != nil {
			return nil, err
		}
		out = append(out, time.Since(start))
	}
	slices.Sort(out)
	return out, nil
}

// percentile of sorted durations, nearest rank.
func percentile(sorted []time.Duration, p int) time.Duration {
	rank := (len(sorted)*p + 99) / 100
	return sorted[max(rank, 1)-1]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d.Microseconds())/1000) }

type stats struct{ p50, p99 time.Duration }

// measureOne warms f up, then times it.
func (b bench) measureOne(ctx context.Context, n int, f func(context.Context) error) (stats, error) {
	if _, err := timings(ctx, max(n/4, 5), f); err != nil {
		return stats{}, err
	}
	t, err := timings(ctx, n, f)
	if err != nil {
		return stats{}, err
	}
	return stats{p50: percentile(t, 50), p99: percentile(t, 99)}, nil
}

func (b bench) measure(ctx context.Context, s, seqScan *store.Store) error {
	loadBefore := loadAverage()
	var total int
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM practitioner`).Scan(&total); err != nil {
		return err
	}
	var pkID string
	if err := s.Pool.QueryRow(ctx, `SELECT md5('bench-doctor/' || ($1::int / 2))::uuid::text`, b.doctors).Scan(&pkID); err != nil {
		return err
	}
	pk, err := b.measureOne(ctx, b.iterations, func(ctx context.Context) error {
		_, err := s.GetDoctor(ctx, pkID)
		return err
	})
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	searches, err := b.searches(ctx, s)
	if err != nil {
		return err
	}
	fmt.Printf("\n%d doctors (%d generated); %d timed runs per search after warm-up, %d with index scans off\n",
		total, b.doctors, b.iterations, b.noIndexIterations)
	fmt.Printf("baseline: primary-key lookup (store.GetDoctor)  p50 %s ms  p99 %s ms\n\n", ms(pk.p50), ms(pk.p99))
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "search\tfound\tp50 ms\tp99 ms\tp50/pk\tp99/pk\tno-index p50 ms\tno-index/indexed p50\t")
	worst := time.Duration(0)
	for _, sr := range searches {
		var found int
		run := func(st *store.Store) func(context.Context) error {
			return func(ctx context.Context) error {
				n, err := sr.run(ctx, st)
				found = n
				return err
			}
		}
		indexed, err := b.measureOne(ctx, b.iterations, run(s))
		if err != nil {
			return fmt.Errorf("%s: %w", sr.name, err)
		}
		noIndex, err := b.measureOne(ctx, b.noIndexIterations, run(seqScan))
		if err != nil {
			return fmt.Errorf("%s without indexes: %w", sr.name, err)
		}
		worst = max(worst, indexed.p99)
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%.1f\t%.1f\t%s\t%.1f\t\n", sr.name, found, ms(indexed.p50), ms(indexed.p99),
			ratio(indexed.p50, pk.p50), ratio(indexed.p99, pk.p99), ms(noIndex.p50), ratio(noIndex.p50, indexed.p50))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	verdict := "meets"
	if worst >= targetP99 {
		verdict = "MISSES"
	}
	fmt.Printf("\nworst p99 %s ms: %s the target of p99 < %s ms warm\n", ms(worst), verdict, ms(targetP99))
	fmt.Printf("load average before and after (1, 5, 15 min): %s → %s\n", loadBefore, loadAverage())
	return nil
}

// loadAverage reads the machine's load average, which explains a noisy p99
// on a shared machine.
func loadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(max(b, time.Microsecond)) }
