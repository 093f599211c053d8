package inference_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/carepath/carepath/inference"
	"github.com/carepath/carepath/inference/onnxgraph"
)

// No retinopathy model ships: no retinal images could be had. These tests
// fill the image slot with a tiny CNN built here, to show that any ONNX image
// classifier whose metadata declares its preprocessing runs end to end.

const side = 8 // the test CNN's input is 3 x 8 x 8

type cnnWeights struct {
	convW [2][3][3][3]float32 // out, in, ky, kx
	convB [2]float32
	fcW   [2][2]float32 // class, feature
	fcB   [2]float32
}

func imageSpec(name string, classes []string) map[string]any {
	return map[string]any{
		"name": name, "version": "0.0.1-test", "kind": inference.KindImage,
		"description": "Test CNN for the image diagnostics slot",
		"onnx":        map[string]string{"input": "image", "output": "logits"},
		"image": map[string]any{"width": side, "height": side, "channels": 3, "layout": "NCHW", "resize": "bilinear",
			"scale": 1.0 / 255, "mean": []float64{0.5, 0.5, 0.5}, "std": []float64{0.25, 0.25, 0.25}, "output": "logits"},
		"classes":     classes,
		"postprocess": map[string]string{"type": inference.PostClasses},
		"card": map[string]any{"data": "none: weights set by the test", "licence": "test only", "target": "colour",
			"split": "none", "calibration": "none", "intended_use": "tests", "limits": "not a clinical model"},
		"source":     "inference/image_test.go",
		"disclaimer": "Test model; CarePath's models support clinicians and do not replace them.",
	}
}

// buildCNN writes Conv(3x3, pad 1) -> Relu -> GlobalAveragePool -> Flatten ->
// Gemm as an ONNX model, with spec as its metadata (nil for none).
func buildCNN(t testing.TB, w cnnWeights, spec map[string]any) []byte {
	t.Helper()
	var convW, fcW []float32
	for o := range w.convW {
		for c := range w.convW[o] {
			for y := range w.convW[o][c] {
				convW = append(convW, w.convW[o][c][y][:]...)
			}
		}
	}
	for k := range w.fcW {
		fcW = append(fcW, w.fcW[k][:]...)
	}
	m := onnxgraph.Model{
		Opsets:   map[string]int64{"": 13},
		Producer: "carepath-inference-test",
		Graph: onnxgraph.Graph{
			Name: "tiny-cnn",
			Nodes: []onnxgraph.Node{
				{OpType: "Conv", Inputs: []string{"image", "conv_w", "conv_b"}, Outputs: []string{"conv"},
					Attrs: []onnxgraph.Attr{onnxgraph.IntsAttr("kernel_shape", 3, 3), onnxgraph.IntsAttr("pads", 1, 1, 1, 1)}},
				{OpType: "Relu", Inputs: []string{"conv"}, Outputs: []string{"relu"}},
				{OpType: "GlobalAveragePool", Inputs: []string{"relu"}, Outputs: []string{"pool"}},
				{OpType: "Flatten", Inputs: []string{"pool"}, Outputs: []string{"flat"}, Attrs: []onnxgraph.Attr{onnxgraph.IntAttr("axis", 1)}},
				{OpType: "Gemm", Inputs: []string{"flat", "fc_w", "fc_b"}, Outputs: []string{"logits"}, Attrs: []onnxgraph.Attr{onnxgraph.IntAttr("transB", 1)}},
			},
			Initializers: []onnxgraph.Tensor{
				{Name: "conv_w", Dims: []int64{2, 3, 3, 3}, Floats: convW},
				{Name: "conv_b", Dims: []int64{2}, Floats: w.convB[:]},
				{Name: "fc_w", Dims: []int64{2, 2}, Floats: fcW},
				{Name: "fc_b", Dims: []int64{2}, Floats: w.fcB[:]},
			},
			Inputs:  []onnxgraph.ValueInfo{onnxgraph.FloatTensor("image", -1, 3, side, side)},
			Outputs: []onnxgraph.ValueInfo{onnxgraph.FloatTensor("logits", -1, 2)},
		},
	}
	if spec != nil {
		raw, err := json.Marshal(spec)
		if err != nil {
			t.Fatal(err)
		}
		m.Metadata = map[string]string{inference.SpecMetadataKey: string(raw)}
	}
	return m.Marshal()
}

// colourWeights make a CNN whose first feature is the mean normalised red
// value and whose second is the mean normalised green value.
func colourWeights() cnnWeights {
	var w cnnWeights
	w.convW[0][0][1][1] = 1 // red, centre tap
	w.convW[1][1][1][1] = 1 // green, centre tap
	w.fcW = [2][2]float32{{1, 0}, {0, 1}}
	return w
}

func randomWeights(rng *rand.Rand) cnnWeights {
	var w cnnWeights
	r := func() float32 { return float32(rng.NormFloat64() * 0.5) }
	for o := range w.convW {
		for c := range w.convW[o] {
			for y := range w.convW[o][c] {
				for x := range w.convW[o][c][y] {
					w.convW[o][c][y][x] = r()
				}
			}
		}
		w.convB[o] = r()
	}
	w.fcW = [2][2]float32{{r(), r()}, {r(), r()}}
	w.fcB = [2]float32{r(), r()}
	return w
}

func pngOf(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func uniform(w, h int, c color.NRGBA) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

// referenceCNN is the same network in plain Go, on an 8x8 image (no resize).
func referenceCNN(w cnnWeights, img *image.NRGBA) [2]float64 {
	var in [3][side][side]float64
	for y := range side {
		for x := range side {
			p := img.NRGBAAt(x, y)
			for c, v := range []uint8{p.R, p.G, p.B} {
				in[c][y][x] = (float64(v)/255 - 0.5) / 0.25
			}
		}
	}
	var pooled [2]float64
	for o := range 2 {
		for y := range side {
			for x := range side {
				sum := float64(w.convB[o])
				for c := range 3 {
					for ky := range 3 {
						for kx := range 3 {
							yy, xx := y+ky-1, x+kx-1
							if yy >= 0 && yy < side && xx >= 0 && xx < side {
								sum += float64(w.convW[o][c][ky][kx]) * in[c][yy][xx]
							}
						}
					}
				}
				pooled[o] += max(sum, 0) / (side * side)
			}
		}
	}
	var logits [2]float64
	for k := range 2 {
		logits[k] = float64(w.fcB[k]) + float64(w.fcW[k][0])*pooled[0] + float64(w.fcW[k][1])*pooled[1]
	}
	peak := max(logits[0], logits[1])
	e0, e1 := math.Exp(logits[0]-peak), math.Exp(logits[1]-peak)
	return [2]float64{e0 / (e0 + e1), e1 / (e0 + e1)}
}

func TestImageSlotRunsARegisteredCNN(t *testing.T) {
	r := registry(t)
	m, err := r.Register(buildCNN(t, colourWeights(), imageSpec("colour-test", []string{"red", "green"})))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := r.Model("colour-test"); err != nil || got != m {
		t.Fatalf("registry does not hold the registered model: %v", err)
	}
	ctx := context.Background()
	preds, err := m.Predict(ctx, []inference.Input{
		{Image: pngOf(t, uniform(8, 8, color.NRGBA{R: 230, G: 20, B: 20, A: 255}))},
		// A larger image is resized to 8x8 as the spec declares.
		{Image: pngOf(t, uniform(37, 23, color.NRGBA{R: 10, G: 200, B: 30, A: 255}))},
	})
	if err != nil {
		t.Fatal(err)
	}
	if preds[0].Label != "red" || preds[1].Label != "green" {
		t.Errorf("labels %s, %s; want red, green", preds[0].Label, preds[1].Label)
	}
	if s := preds[0].Probabilities.Of("red") + preds[0].Probabilities.Of("green"); math.Abs(s-1) > 1e-6 {
		t.Errorf("softmax of the logits sums to %v", s)
	}
}

// Preprocessing plus ONNX Runtime equal a plain-Go forward pass of the same
// random network on random images.
func TestImageSlotMatchesReferenceForwardPass(t *testing.T) {
	r := registry(t)
	rng := rand.New(rand.NewPCG(6, 6))
	w := randomWeights(rng)
	m, err := r.Register(buildCNN(t, w, imageSpec("random-test", []string{"a", "b"})))
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		img := image.NewNRGBA(image.Rect(0, 0, side, side))
		for i := range img.Pix {
			img.Pix[i] = uint8(rng.IntN(256))
		}
		for i := 3; i < len(img.Pix); i += 4 {
			img.Pix[i] = 255
		}
		preds, err := m.Predict(context.Background(), []inference.Input{{Image: pngOf(t, img)}})
		if err != nil {
			t.Fatal(err)
		}
		want := referenceCNN(w, img)
		for k, class := range []string{"a", "b"} {
			if d := math.Abs(preds[0].Probabilities.Of(class) - want[k]); d > parityTolerance {
				t.Errorf("class %s: ONNX Runtime %.7f, reference %.7f", class, preds[0].Probabilities.Of(class), want[k])
			}
		}
	}
}

func TestImageSlotRefusesBadImages(t *testing.T) {
	m, err := registry(t).Register(buildCNN(t, colourWeights(), imageSpec("colour-test", []string{"red", "green"})))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, field, detail string
		in                  inference.Input
	}{
		{"no image", "image", "is required", inference.Input{}},
		{"not an image", "image", "not a PNG or JPEG", inference.Input{Image: []byte("GIF89a not really")}},
		{"truncated PNG", "image", "cannot be decoded", inference.Input{Image: pngOf(t, uniform(8, 8, color.NRGBA{A: 255}))[:60]}},
		{"features instead", "", "image only", inference.Input{Image: pngOf(t, uniform(8, 8, color.NRGBA{A: 255})), Features: baseRisk()}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			preds, err := m.Predict(context.Background(), []inference.Input{c.in})
			wantInputError(t, preds, err, c.field, c.detail)
		})
	}
}

// A model must declare a spec that matches its graph, or it is refused.
func TestRegisterRefusesModelsWithoutAValidSpec(t *testing.T) {
	r := registry(t)
	bad := func(mutate func(map[string]any)) map[string]any {
		s := imageSpec("bad-test", []string{"red", "green"})
		mutate(s)
		return s
	}
	cases := []struct {
		name, want string
		spec       map[string]any
	}{
		{"no metadata", "no \"carepath.spec\" metadata", nil},
		{"more classes than outputs", "3 classes", bad(func(s map[string]any) { s["classes"] = []string{"a", "b", "c"} })},
		{"wrong input size", "the spec implies", bad(func(s map[string]any) { s["image"].(map[string]any)["width"] = 16 })},
		{"zero std", "std values must be positive", bad(func(s map[string]any) { s["image"].(map[string]any)["std"] = []float64{0.25, 0, 0.25} })},
		{"unknown field", "unknown field", bad(func(s map[string]any) { s["thresholds"] = 0.5 })},
		{"no disclaimer", "source and disclaimer are required", bad(func(s map[string]any) { s["disclaimer"] = "" })},
		{"wrong output name", "no output", bad(func(s map[string]any) { s["onnx"] = map[string]string{"input": "image", "output": "probs"} })},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := r.Register(buildCNN(t, colourWeights(), c.spec))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Register = %v, want an error containing %q", err, c.want)
			}
		})
	}
	if _, err := r.Model("bad-test"); err == nil {
		t.Error("a refused model was registered")
	}
}
