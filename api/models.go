package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/carepath/carepath/inference"
)

// Gin cannot route a literal ":predict" after a path parameter, so the
// predict route takes the whole last segment ("NAME:predict") and
// modelCall splits it. documentedPaths tells the OpenAPI test which
// documented path such a route serves.
const modelCallRoute = "/api/v1/models/:call"

var documentedPaths = map[string]string{
	"POST " + modelCallRoute: "POST /api/v1/models/{name}:predict",
}

// maxPredictInputs bounds one predict request (the body limit bounds it
// too); batches larger than this belong in several requests.
const maxPredictInputs = 256

const modelsDisclaimer = "CarePath's models support clinicians; they do not replace clinical judgement. " +
	"Each model's card gives its data, its limits and its intended use."

// retinopathySlot is said plainly in the model list: the slot exists, and
// nothing in it was trained on retinal images.
const retinopathyNote = "No diabetic retinopathy model ships with CarePath: no retinal images were available " +
	"to train or validate one. The slot runs any registered ONNX image classifier whose metadata declares " +
	"its preprocessing (size, channels, layout, normalisation) and classes."

type modelView struct {
	Name          string                `json:"name"`
	Version       string                `json:"version"`
	Kind          string                `json:"kind"`
	Description   string                `json:"description"`
	Features      []inference.Feature   `json:"features,omitempty"`
	Window        *inference.WindowSpec `json:"window,omitempty"`
	Image         *inference.ImageSpec  `json:"image,omitempty"`
	Preprocessing string                `json:"preprocessing"`
	Classes       []string              `json:"classes"`
	Postprocess   inference.Postprocess `json:"postprocess"`
	Card          inference.Card        `json:"card"`
	Source        string                `json:"source"`
	Disclaimer    string                `json:"disclaimer"`
	SHA256        string                `json:"sha256"`
	Links         modelLinks            `json:"links"`
}

type modelLinks struct {
	Predict string `json:"predict"`
}

type modelSlot struct {
	Kind    string   `json:"kind"`
	Purpose string   `json:"purpose"`
	Models  []string `json:"models"`
	Note    string   `json:"note"`
}

type modelsResponse struct {
	Models     []modelView `json:"models"`
	Slots      []modelSlot `json:"slots"`
	Runtime    string      `json:"runtime"`
	Disclaimer string      `json:"disclaimer"`
}

// listModels lists every registered model with its input schema,
// preprocessing, thresholds and card.
func (s *Server) listModels(c *gin.Context) {
	resp := modelsResponse{Models: []modelView{}, Runtime: "onnxruntime " + inference.RuntimeVersion(), Disclaimer: modelsDisclaimer}
	slot := modelSlot{Kind: inference.KindImage, Purpose: "diabetic retinopathy grading", Models: []string{}, Note: retinopathyNote}
	if s.models != nil {
		for _, m := range s.models.Models() {
			spec := m.Spec()
			resp.Models = append(resp.Models, modelView{
				Name: spec.Name, Version: spec.Version, Kind: spec.Kind, Description: spec.Description,
				Features: spec.Features, Window: spec.Window, Image: spec.Image, Preprocessing: m.Preprocessing(),
				Classes: spec.Classes, Postprocess: spec.Postprocess, Card: spec.Card, Source: spec.Source,
				Disclaimer: spec.Disclaimer, SHA256: m.SHA256(),
				Links: modelLinks{Predict: "/api/v1/models/" + spec.Name + ":predict"},
			})
			if spec.Kind == inference.KindImage {
				slot.Models = append(slot.Models, spec.Name)
			}
		}
	}
	resp.Slots = []modelSlot{slot}
	c.JSON(http.StatusOK, resp)
}

type predictRequest struct {
	Inputs []inference.Input `json:"inputs"`
}

type predictResponse struct {
	Model       string                 `json:"model"`
	Version     string                 `json:"version"`
	Predictions []inference.Prediction `json:"predictions"`
	Disclaimer  string                 `json:"disclaimer"`
}

// modelCall serves POST /api/v1/models/{name}:predict.
func (s *Server) modelCall(c *gin.Context) {
	name, action, ok := strings.Cut(c.Param("call"), ":")
	if !ok || action != "predict" {
		s.writeError(c, &notFoundError{detail: "no route " + c.Request.Method + " " + c.Request.URL.Path + "; models answer POST /api/v1/models/{name}:predict"})
		return
	}
	if !inference.ValidName(name) || s.models == nil {
		s.writeError(c, &notFoundError{detail: "no model has this name; GET /api/v1/models lists them"})
		return
	}
	m, err := s.models.Model(name)
	if err != nil {
		s.writeError(c, modelErr(err))
		return
	}
	var req predictRequest
	if err := decodeStrict(c.Request.Body, &req); err != nil {
		s.writeError(c, err)
		return
	}
	if len(req.Inputs) == 0 || len(req.Inputs) > maxPredictInputs {
		s.writeError(c, &invalidError{fields: []FieldError{{Pointer: "/inputs",
			Detail: fmt.Sprintf("must hold 1 to %d inputs", maxPredictInputs)}}})
		return
	}
	preds, err := m.Predict(c.Request.Context(), req.Inputs)
	if err != nil {
		s.writeError(c, modelErr(err))
		return
	}
	c.JSON(http.StatusOK, predictResponse{Model: m.Name(), Version: m.Version(), Predictions: preds, Disclaimer: m.Spec().Disclaimer})
}

// modelErr turns inference errors into the API's error kinds, which
// writeError maps to statuses.
func modelErr(err error) error {
	var ie *inference.InputError
	switch {
	case errors.As(err, &ie):
		fields := make([]FieldError, len(ie.Problems))
		for i, p := range ie.Problems {
			ptr := "/inputs/" + strconv.Itoa(p.Input)
			if p.Field != "" {
				ptr += "/" + p.Field
			}
			fields[i] = FieldError{Pointer: ptr, Detail: p.Detail}
		}
		return &invalidError{fields: fields}
	case errors.Is(err, inference.ErrUnknownModel):
		return &notFoundError{detail: "no model has this name; GET /api/v1/models lists them"}
	default:
		return err
	}
}
