// Package models holds CarePath's trained model artifacts for the Go side:
// the ONNX files that models/train.py exports, embedded so that the API and
// the worker serve exactly the committed models with no path to configure.
// The Python training code, the model cards and the parity fixtures live in
// this folder too; see README.md.
package models

import "embed"

// Artifacts holds every committed model as artifacts/NAME.onnx. Each file
// carries its serving spec (schema, preprocessing, thresholds, card facts)
// in its ONNX metadata under the key "carepath.spec".
//
//go:embed artifacts/*.onnx
var Artifacts embed.FS
