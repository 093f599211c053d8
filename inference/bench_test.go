package inference_test

import (
	"context"
	"testing"

	"github.com/carepath/carepath/inference"
)

// `make bench-models` compares these paths with Python; these benchmarks
// are for profiling the Go side alone (go test -bench . ./inference/).

func benchModel(b *testing.B, name string, batch int) {
	r := registry(b)
	m := model(b, r, name)
	var inputs []inference.Input
	if name == inference.RiskModel {
		var fx riskFixture
		readFixture(b, name, &fx)
		inputs = riskInputs(fx)
	} else {
		var fx anomalyFixture
		readFixture(b, name, &fx)
		inputs = anomalyInputs(fx)
	}
	in := make([]inference.Input, batch)
	for i := range in {
		in[i] = inputs[i%len(inputs)]
	}
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, err := m.Predict(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkRiskSingle(b *testing.B)       { benchModel(b, inference.RiskModel, 1) }
func BenchmarkRiskBatch1024(b *testing.B)    { benchModel(b, inference.RiskModel, 1024) }
func BenchmarkAnomalySingle(b *testing.B)    { benchModel(b, inference.AnomalyModel, 1) }
func BenchmarkAnomalyBatch1024(b *testing.B) { benchModel(b, inference.AnomalyModel, 1024) }
