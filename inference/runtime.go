// Package inference serves CarePath's clinical models from Go through ONNX
// Runtime (github.com/yalue/onnxruntime_go, which needs the 1.24 C API).
//
// A Registry holds models by name. Each model is one ONNX file whose
// metadata carries its serving spec (see Spec): the input schema with units
// and plausible ranges, the preprocessing, the output classes, the
// thresholds that turn probabilities into decisions, and the model card's
// key facts. The registry validates every input against the spec before any
// inference: an invalid input gets an *InputError naming the field at fault
// and never a score. Sessions are created once per model and shared by all
// callers; Predict takes a batch. Each model has two sessions: one with one
// intra-op thread for single inputs and small batches, which arrive
// concurrently, and one with GOMAXPROCS threads for batches of
// WideBatchRows or more.
//
// Three kinds of model are served: tabular classifiers (the risk model),
// window classifiers over vitals time series (the anomaly model) and image
// classifiers (the diagnostics slot, which ships empty: any ONNX image
// classifier whose metadata declares its preprocessing can be registered).
//
// The models support clinicians; they do not replace clinical judgement.
package inference

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// ONNX Runtime keeps one environment per process, so the library is loaded
// once and every registry shares it.
var (
	runtimeMu   sync.Mutex
	runtimePath string
)

// Init loads the ONNX Runtime shared library at libPath and starts the
// process-wide ONNX Runtime environment. Calling it again with the same path
// does nothing; a different path is an error, because the first library
// stays loaded for the life of the process.
func Init(libPath string) error {
	runtimeMu.Lock()
	defer runtimeMu.Unlock()
	info, err := os.Stat(libPath)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("inference: init: ONNX Runtime library not found at %s: run `make tools` to fetch it, or set ONNXRUNTIME_LIB to its path", libPath)
	}
	if err != nil {
		return fmt.Errorf("inference: init: ONNX Runtime library %s: %w", libPath, err)
	}
	if info.IsDir() {
		return fmt.Errorf("inference: init: ONNX Runtime library path %s is a directory; ONNXRUNTIME_LIB must name libonnxruntime.so.1 itself", libPath)
	}
	if runtimePath != "" {
		if runtimePath != libPath {
			return fmt.Errorf("inference: init: ONNX Runtime already loaded from %s, cannot load %s", runtimePath, libPath)
		}
		return nil
	}
	ort.SetSharedLibraryPath(libPath)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return fmt.Errorf("inference: init: load ONNX Runtime from %s: %w", libPath, err)
	}
	// Telemetry is off by default on Linux; disabling it explicitly keeps it
	// off on every platform, since requests may carry health data.
	if err := ort.DisableTelemetry(); err != nil {
		return fmt.Errorf("inference: init: disable ONNX Runtime telemetry: %w", err)
	}
	runtimePath = libPath
	return nil
}

// RuntimeVersion is the loaded ONNX Runtime's version ("1.24.3" for the
// library `make tools` fetches); empty before Init.
func RuntimeVersion() string {
	runtimeMu.Lock()
	defer runtimeMu.Unlock()
	if runtimePath == "" {
		return ""
	}
	return ort.GetVersion()
}
