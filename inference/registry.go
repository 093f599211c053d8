package inference

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/carepath/carepath/models"
)

// Model names of the models CarePath ships (models/artifacts).
const (
	RiskModel    = "diabetes-progression-risk"
	AnomalyModel = "vitals-anomaly"
)

// Registry holds models by name. It is safe for concurrent use.
type Registry struct {
	mu     sync.RWMutex
	models map[string]*Model
}

// NewRegistry returns an empty registry. Init must have loaded ONNX Runtime
// before models are registered.
func NewRegistry() *Registry { return &Registry{models: map[string]*Model{}} }

// Open loads ONNX Runtime from libPath and returns a registry holding every
// model CarePath ships. It fails, naming the path, when the library is
// missing: the worker and the API refuse to start without their models.
func Open(libPath string) (*Registry, error) {
	if err := Init(libPath); err != nil {
		return nil, err
	}
	r := NewRegistry()
	if err := r.LoadBuiltin(); err != nil {
		return nil, errors.Join(err, r.Close())
	}
	return r, nil
}

// LoadBuiltin registers every model embedded from models/artifacts.
func (r *Registry) LoadBuiltin() error {
	files, err := fs.Glob(models.Artifacts, "artifacts/*.onnx")
	if err != nil {
		return fmt.Errorf("inference: load built-in models: %w", err)
	}
	if len(files) == 0 {
		return errors.New("inference: load built-in models: no ONNX files are embedded from models/artifacts")
	}
	for _, f := range files {
		data, err := fs.ReadFile(models.Artifacts, f)
		if err != nil {
			return fmt.Errorf("inference: load built-in model %s: %w", f, err)
		}
		m, err := r.Register(data)
		if err != nil {
			return fmt.Errorf("inference: load built-in model %s: %w", f, err)
		}
		if want := strings.TrimSuffix(path.Base(f), ".onnx"); m.Name() != want {
			return fmt.Errorf("inference: load built-in model %s: its spec names it %q", f, m.Name())
		}
	}
	return nil
}

// Register reads the spec from the ONNX model's metadata, checks it against
// the graph, opens a session and adds the model. Registering a name again
// replaces the older model once its running calls finish.
func (r *Registry) Register(onnxData []byte) (*Model, error) {
	spec, err := ReadSpec(onnxData)
	if err != nil {
		return nil, fmt.Errorf("inference: register: %w", err)
	}
	m, err := newModel(onnxData, spec)
	if err != nil {
		return nil, fmt.Errorf("inference: register %s %s: %w", spec.Name, spec.Version, err)
	}
	r.mu.Lock()
	old := r.models[spec.Name]
	r.models[spec.Name] = m
	r.mu.Unlock()
	if old != nil {
		if err := old.close(); err != nil {
			return m, fmt.Errorf("inference: register %s: release the replaced model: %w", spec.Name, err)
		}
	}
	return m, nil
}

// ReadSpec reads and checks the spec in an ONNX model's metadata.
func ReadSpec(onnxData []byte) (Spec, error) {
	meta, err := ort.GetModelMetadataWithONNXData(onnxData)
	if err != nil {
		return Spec{}, fmt.Errorf("read ONNX metadata: %w", err)
	}
	defer meta.Destroy()
	raw, ok, err := meta.LookupCustomMetadataMap(SpecMetadataKey)
	if err != nil {
		return Spec{}, fmt.Errorf("read ONNX metadata %s: %w", SpecMetadataKey, err)
	}
	if !ok {
		return Spec{}, fmt.Errorf("the model has no %q metadata: its spec (schema, preprocessing, classes) is required", SpecMetadataKey)
	}
	var spec Spec
	dec := json.NewDecoder(bytes.NewReader([]byte(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		return Spec{}, fmt.Errorf("parse %s metadata: %w", SpecMetadataKey, err)
	}
	if err := spec.check(); err != nil {
		return Spec{}, fmt.Errorf("model %q: invalid spec: %w", spec.Name, err)
	}
	return spec, nil
}

// Model returns the model with this name, or ErrUnknownModel.
func (r *Registry) Model(name string) (*Model, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	m, ok := r.models[name]
	if !ok {
		return nil, fmt.Errorf("inference: model %q: %w", name, ErrUnknownModel)
	}
	return m, nil
}

// Models lists the registered models by name.
func (r *Registry) Models() []*Model {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*Model, 0, len(r.models))
	for _, m := range r.models {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b *Model) int { return strings.Compare(a.Name(), b.Name()) })
	return out
}

// Close releases every session. The registry is empty afterwards.
func (r *Registry) Close() error {
	r.mu.Lock()
	ms := r.models
	r.models = map[string]*Model{}
	r.mu.Unlock()
	var errs []error
	for _, m := range ms {
		if err := m.close(); err != nil {
			errs = append(errs, fmt.Errorf("inference: close %s: %w", m.Name(), err))
		}
	}
	return errors.Join(errs...)
}
