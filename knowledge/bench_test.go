package knowledge_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/carepath/carepath/knowledge"
)

// regimens of 2, 5, 10 and 20 drugs, typed as prescribers type them
// (generic names and brands).
var benchRegimens = map[int][]string{
	2:  {"simvastatin", "clarithromycin"},
	5:  {"metformin", "lisinopril", "amlodipine", "Lipitor", "aspirin"},
	10: {"metformin", "lisinopril", "amlodipine", "Lipitor", "aspirin", "Januvia", "omeprazole", "sertraline", "levothyroxine", "paracetamol"},
	20: twentyDrugs,
}

// roundTripP50 is the bare Cypher round trip measured first in the same
// run, so each check can report how many round trips it costs.
var roundTripP50 time.Duration

// BenchmarkKnowledge measures, against the local Neo4j, a bare one-row
// Cypher round trip and the regimen check for 2, 5, 10 and 20 drugs with a
// patient profile, and reports p50 and p99 latency (ms) of each, and for
// the checks their p50 as a multiple of the round trip. Run it with a fixed
// count to keep it short, for example:
//
//	go test -run '^$' -bench Knowledge -benchtime 300x ./knowledge/
func BenchmarkKnowledge(b *testing.B) {
	g, _ := graph(b)
	ctx := context.Background()
	egfr, age := 52.0, 67
	profile := knowledge.Profile{Age: &age, EGFR: &egfr, Conditions: []string{"E11.9", "I10"}, Allergies: []string{"penicillin"}}

	b.Run("cypher-round-trip", func(b *testing.B) {
		p50, _ := measure(b, func() error { return g.Ping(ctx) })
		roundTripP50 = p50
	})
	for _, n := range []int{2, 5, 10, 20} {
		drugs := benchRegimens[n]
		b.Run(fmt.Sprintf("check-%d-drugs", n), func(b *testing.B) {
			p50, _ := measure(b, func() error {
				res, err := g.CheckRegimen(ctx, drugs, profile)
				if err == nil && !res.Complete {
					err = fmt.Errorf("incomplete check: %v", res.Warnings)
				}
				return err
			})
			if roundTripP50 > 0 {
				b.ReportMetric(float64(p50)/float64(roundTripP50), "x-round-trip-p50")
			}
		})
	}
}

// measure warms up, times each of b.N calls and reports p50 and p99.
func measure(b *testing.B, call func() error) (p50, p99 time.Duration) {
	b.Helper()
	for i := 0; i < 20; i++ { // warm the driver pool, the plan cache and the catalog
		if err := call(); err != nil {
			b.Fatal(err)
		}
	}
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if err := call(); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	p50 = samples[len(samples)*50/100]
	p99 = samples[min(len(samples)-1, len(samples)*99/100)]
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	return p50, p99
}
