package main

import (
	"fmt"
	"log/slog"

	"github.com/carepath/carepath/config"
	"github.com/carepath/carepath/inference"
)

// openModels loads ONNX Runtime from ONNXRUNTIME_LIB and the models CarePath
// ships. The API and the worker call it first: without the library they
// refuse to start, naming the path they looked at. close logs, rather than
// returns, its error: it runs on the way out.
func openModels(cfg config.Config, logger *slog.Logger, program string) (*inference.Registry, func(), error) {
	reg, err := inference.Open(cfg.ONNXRuntimeLib)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: models: %w", program, err)
	}
	names := []string{}
	for _, m := range reg.Models() {
		names = append(names, m.Name()+"@"+m.Version())
	}
	logger.Info("Models loaded", "onnxruntime", inference.RuntimeVersion(), "library", cfg.ONNXRuntimeLib, "models", names)
	return reg, func() {
		if err := reg.Close(); err != nil {
			logger.Warn("Releasing the models failed", "error", err)
		}
	}, nil
}
